//! The event log in SQLite: events are written by the writer thread (one
//! transaction per group of appends) and read through the reader pool, a
//! page at a time and never past its byte budget.

use super::{Job, SqliteStore, classify, now_ms, runs, usage};
use crate::store::{
    EventLog, NewEvent, NpcFilter, RetentionPolicy, StoreError, StoredEvent, envelope_json,
    envelope_rest, human_line,
};
use async_trait::async_trait;
use protocol::EventKind;
use r2d2_sqlite::rusqlite::{self, Connection, OptionalExtension, Row, params, params_from_iter};
use std::sync::Arc;
use tokio::sync::oneshot;

const EVENT_COLUMNS: &str = "id, npc, kind, run_id, ts, stored_ms, message, body, question";

/// Inserts one event of `run_id` (the rules already checked) and keeps its run's row in step.
pub(super) fn insert_event(
    conn: &Connection,
    id: u64,
    event: &NewEvent,
    run_id: Option<String>,
    tally: &mut usage::Tally,
) -> Result<StoredEvent, StoreError> {
    let message = human_line(&event.fields);
    let json = envelope_json(id, run_id.as_deref(), &envelope_rest(event));
    let stored_ms = now_ms();
    conn.prepare_cached(
        "INSERT INTO events (id, npc, kind, run_id, ts, stored_ms, message, body, client_key, question)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )
    .map_err(classify)?
    .execute(params![
        id as i64,
        event.npc,
        event.kind.as_str(),
        run_id,
        event.ts,
        stored_ms,
        message,
        json,
        event.key,
        event
            .facts
            .question
            .as_ref()
            .map(|q| serde_json::to_string(q.as_ref()).expect("a question serializes"))
    ])
    .map_err(classify)?;
    if let Some(run_id) = &run_id {
        runs::record_progress(conn, run_id, id, event, stored_ms).map_err(classify)?;
    }
    tally.add(event, stored_ms);
    let mut stored = StoredEvent::new(
        id,
        event.kind,
        event.npc.clone(),
        run_id,
        event.ts.clone(),
        message,
        json.into(),
    );
    stored.facts = event.facts.clone();
    Ok(stored)
}

/// Files written before events kept their question typed: each `awaiting`
/// event's question is read once from its fields.
pub(super) fn type_old_event_questions(conn: &Connection) -> Result<(), rusqlite::Error> {
    let asked: Vec<(i64, String)> = conn
        .prepare("SELECT id, body FROM events WHERE kind = 'awaiting' AND question IS NULL")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (id, body) in asked {
        let fields: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&body).unwrap_or_default();
        let question = protocol::Question::from_fields(&fields);
        conn.execute(
            "UPDATE events SET question = ?2 WHERE id = ?1",
            params![
                id,
                serde_json::to_string(&question).expect("a question serializes")
            ],
        )?;
    }
    Ok(())
}

/// For each event, the one its npc stored under its key already (a replay),
/// if any; a key repeated within the batch counts as its first.
pub(super) fn known_keys(
    conn: &Connection,
    events: &[NewEvent],
) -> Result<Vec<Option<Arc<StoredEvent>>>, rusqlite::Error> {
    let mut known = Vec::with_capacity(events.len());
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for event in events {
        let Some(key) = event.key.as_deref() else {
            known.push(None);
            continue;
        };
        let stored = conn
            .prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE npc = ?1 AND client_key = ?2"
            ))?
            .query_row(params![event.npc, key], event_from_row)
            .optional()?;
        // The edge refuses a key twice in one batch; were one to come, its
        // second insert would fail the unique index and the batch with it.
        debug_assert!(stored.is_some() || !seen.contains(&(event.npc.as_str(), key)));
        seen.push((event.npc.as_str(), key));
        known.push(stored);
    }
    Ok(known)
}

/// Deletes events (and ended runs, expired sessions) the policy no longer keeps.
pub(super) fn prune(
    conn: &mut Connection,
    policy: RetentionPolicy,
) -> Result<u64, rusqlite::Error> {
    let tx = conn.transaction()?;
    let cutoff = now_ms() - (policy.max_age_secs as i64) * 1000;
    let mut removed =
        tx.execute("DELETE FROM events WHERE stored_ms < ?1", params![cutoff])? as u64;
    let npcs: Vec<String> = tx
        .prepare("SELECT DISTINCT npc FROM events")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for npc in npcs {
        removed += tx.execute(
            "DELETE FROM events WHERE npc = ?1 AND id < (
                SELECT id FROM events WHERE npc = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
            params![npc, policy.events_per_npc as i64 - 1],
        )? as u64;
    }
    tx.execute(
        "DELETE FROM runs WHERE ended_ms IS NOT NULL AND ended_ms < ?1",
        params![cutoff],
    )?;
    tx.execute(
        "DELETE FROM sessions WHERE expires_ms < ?1",
        params![now_ms()],
    )?;
    tx.commit()?;
    Ok(removed)
}

/// Rows until `max_bytes` of JSON are read (at least one): a page never holds more.
fn read_within(
    rows: impl Iterator<Item = Result<Arc<StoredEvent>, rusqlite::Error>>,
    max_bytes: usize,
) -> Result<Vec<Arc<StoredEvent>>, rusqlite::Error> {
    let mut page = Vec::new();
    let mut bytes = 0;
    for event in rows {
        let event = event?;
        bytes += event.json.len();
        page.push(event);
        if bytes >= max_bytes {
            break;
        }
    }
    Ok(page)
}

fn event_from_row(row: &Row) -> Result<Arc<StoredEvent>, rusqlite::Error> {
    let kind: String = row.get(2)?;
    let kind = kind.parse::<EventKind>().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, Box::new(e))
    })?;
    let body: String = row.get(7)?;
    let mut event = StoredEvent::new(
        row.get::<_, i64>(0)? as u64,
        kind,
        row.get(1)?,
        row.get(3)?,
        row.get(4)?,
        row.get(6)?,
        body.into(),
    );
    // The fact the status fold needs from a past event: what it asked.
    let question: Option<String> = row.get(8)?;
    event.facts.question = question
        .and_then(|q| serde_json::from_str::<protocol::Question>(&q).ok())
        .map(Arc::new);
    Ok(Arc::new(event))
}

#[async_trait]
impl EventLog for SqliteStore {
    async fn append(&self, events: Vec<NewEvent>) -> Result<Vec<Arc<StoredEvent>>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let (tx, rx) = oneshot::channel();
        self.send(Job::Append(events, tx))?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn read_since(
        &self,
        filter: &NpcFilter,
        after: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<Arc<StoredEvent>>, StoreError> {
        let filter = filter.clone();
        self.read(move |conn| {
            let limit = limit as i64;
            let (sql, values): (String, Vec<rusqlite::types::Value>) = match &filter {
                NpcFilter::All => (
                    format!("SELECT {EVENT_COLUMNS} FROM events WHERE id > ?1 ORDER BY id LIMIT ?2"),
                    vec![(after as i64).into(), limit.into()],
                ),
                NpcFilter::Only(npcs) => {
                    let placeholders = vec!["?"; npcs.len() + 1].join(",");
                    let mut values: Vec<rusqlite::types::Value> =
                        npcs.iter().map(|n| n.clone().into()).collect();
                    values.push(crate::store::BROADCAST_NPC.to_owned().into());
                    values.push((after as i64).into());
                    values.push(limit.into());
                    (
                        format!(
                            "SELECT {EVENT_COLUMNS} FROM events WHERE npc IN ({placeholders}) AND id > ? ORDER BY id LIMIT ?"
                        ),
                        values,
                    )
                }
            };
            let mut statement = conn.prepare_cached(&sql)?;
            let rows = statement.query_map(params_from_iter(values), event_from_row)?;
            read_within(rows, max_bytes)
        })
        .await
    }

    async fn history(
        &self,
        npc: Option<&str>,
        before: Option<u64>,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<Arc<StoredEvent>>, StoreError> {
        let npc = npc.map(str::to_owned);
        self.read(move |conn| {
            let before = before.map(|b| b.min(i64::MAX as u64) as i64).unwrap_or(i64::MAX);
            let (sql, values): (String, Vec<rusqlite::types::Value>) = match &npc {
                Some(npc) => (
                    format!("SELECT {EVENT_COLUMNS} FROM events WHERE npc = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3"),
                    vec![npc.clone().into(), before.into(), (limit as i64).into()],
                ),
                None => (
                    format!("SELECT {EVENT_COLUMNS} FROM events WHERE id < ?1 ORDER BY id DESC LIMIT ?2"),
                    vec![before.into(), (limit as i64).into()],
                ),
            };
            let mut statement = conn.prepare_cached(&sql)?;
            let rows = statement.query_map(params_from_iter(values), event_from_row)?;
            let mut page = read_within(rows, max_bytes)?;
            page.reverse();
            Ok(page)
        })
        .await
    }

    async fn latest_per_npc(&self) -> Result<Vec<Arc<StoredEvent>>, StoreError> {
        self.read(|conn| {
            conn.prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE id IN (SELECT MAX(id) FROM events GROUP BY npc) ORDER BY id"
            ))?
            .query_map([], event_from_row)?
            .collect::<Result<Vec<_>, _>>()
        })
        .await
    }

    async fn last_id(&self) -> Result<u64, StoreError> {
        self.read(|conn| {
            let max: Option<i64> =
                conn.query_row("SELECT MAX(id) FROM events", [], |r| r.get(0))?;
            Ok(max.unwrap_or(0) as u64)
        })
        .await
    }

    async fn first_from(&self, id: u64) -> Result<Option<(u64, i64)>, StoreError> {
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT id, stored_ms FROM events WHERE id >= ?1 ORDER BY id LIMIT 1",
            )?
            .query_row(params![id as i64], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)?))
            })
            .optional()
        })
        .await
    }

    async fn check_writable(&self) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.send(Job::Probe(tx))?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn prune(&self, policy: RetentionPolicy) -> Result<u64, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.send(Job::Prune(policy, tx))?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn close(&self) {
        // Dropping the sender lets the writer finish what is queued, then stop.
        self.jobs.lock().expect("store job lock").take();
        let writer = self.writer.lock().expect("store writer lock").take();
        if let Some(writer) = writer {
            let _ = tokio::task::spawn_blocking(move || writer.join()).await;
        }
    }
}
