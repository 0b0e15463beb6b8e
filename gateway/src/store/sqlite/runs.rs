//! The run book in SQLite: each run's row is kept in step with its events by
//! the writer, in the same transaction as the event; reads go through the pool.

use super::SqliteStore;
use crate::store::{
    Asked, NewEvent, RunBook, RunMeta, RunQuery, RunRecord, StoreError, UsageRow, run_duration,
    run_status_after, status_named, summary_bytes,
};
use async_trait::async_trait;
use protocol::{EventKind, Question, RunSummary};
use r2d2_sqlite::rusqlite::{self, Connection, OptionalExtension, Row, params, params_from_iter};
use std::collections::HashSet;
use std::sync::Arc;

/// Keeps the run's row in step with its events, in the same transaction.
pub(super) fn record_progress(
    conn: &Connection,
    run_id: &str,
    id: u64,
    event: &NewEvent,
    now: i64,
) -> Result<(), rusqlite::Error> {
    let status = run_status_after(event.kind).as_str();
    match event.kind {
        EventKind::Started => {
            let meta = event.run.clone().unwrap_or_default();
            let agent = if meta.agent.is_empty() {
                event.npc.clone()
            } else {
                meta.agent.clone()
            };
            conn.prepare_cached(
                "INSERT INTO runs (run_id, agent, npc, status, started_at, started_ms, callback_digest,
                                   started_by, owner, deadline_ms, last_ms)
                 VALUES (?1, ?2, ?3, 'running', ?4, ?5, ?6, ?7, ?8, ?9, ?5)",
            )?
            .execute(params![
                run_id,
                agent,
                event.npc,
                event.ts,
                now,
                meta.callback_digest.map(hex::encode),
                meta.by,
                meta.owner,
                meta.deadline_ms as i64,
            ])?;
        }
        EventKind::Done | EventKind::Error => {
            let result = event.fields.get("result").map(|v| v.to_string());
            let error = event.fields.get("error").map(|v| match v.as_str() {
                Some(s) => s.to_owned(),
                None => v.to_string(),
            });
            conn.prepare_cached(
                "UPDATE runs SET status = ?2, ended_at = ?3, ended_ms = ?4, result = ?5, error = ?6,
                                 last_ms = ?4, question_id = NULL, asked = NULL
                 WHERE run_id = ?1",
            )?
            .execute(params![run_id, status, event.ts, now, result, error])?;
        }
        EventKind::Awaiting => {
            let asked = event.facts.question.as_ref().map(|question| Asked {
                event_id: id,
                since: event.ts.clone(),
                question: question.clone(),
            });
            conn.prepare_cached(
                "UPDATE runs SET status = ?2, last_ms = ?3, question_id = ?4, asked = ?5 WHERE run_id = ?1",
            )?
            .execute(params![
                run_id,
                status,
                now,
                id as i64,
                asked.map(|a| serde_json::to_string(&a).expect("a question serialises"))
            ])?;
        }
        EventKind::Step | EventKind::Response => {
            if let Some(usage) = &event.facts.usage {
                return record_step_with_usage(conn, run_id, status, now, usage);
            }
            conn.prepare_cached(
                "UPDATE runs SET status = ?2, last_ms = ?3, question_id = NULL, asked = NULL WHERE run_id = ?1",
            )?
            .execute(params![run_id, status, now])?;
        }
        EventKind::Roster => {}
    }
    if let Some(usage) = &event.facts.usage {
        conn.prepare_cached(
            "UPDATE runs SET has_usage = 1, input_tokens = input_tokens + ?2,
                             output_tokens = output_tokens + ?3, cost_usd = cost_usd + ?4,
                             model = COALESCE(?5, model)
             WHERE run_id = ?1",
        )?
        .execute(params![
            run_id,
            usage.input_tokens as i64,
            usage.output_tokens as i64,
            usage.cost_usd,
            usage.model
        ])?;
    }
    Ok(())
}

/// A step and what it used, in one write (the common case for model calls).
fn record_step_with_usage(
    conn: &Connection,
    run_id: &str,
    status: &str,
    now: i64,
    usage: &protocol::Usage,
) -> Result<(), rusqlite::Error> {
    conn.prepare_cached(
        "UPDATE runs SET status = ?2, last_ms = ?3, question_id = NULL, asked = NULL,
                         has_usage = 1, input_tokens = input_tokens + ?4,
                         output_tokens = output_tokens + ?5, cost_usd = cost_usd + ?6,
                         model = COALESCE(?7, model)
         WHERE run_id = ?1",
    )?
    .execute(params![
        run_id,
        status,
        now,
        usage.input_tokens as i64,
        usage.output_tokens as i64,
        usage.cost_usd,
        usage.model
    ])?;
    Ok(())
}

/// Files written before questions were kept typed: each open question is
/// read once from the event that asked it.
pub(super) fn type_old_questions(conn: &Connection) -> Result<(), rusqlite::Error> {
    let old: Vec<(String, i64, String, String)> = conn
        .prepare(
            "SELECT r.run_id, q.id, q.ts, q.body FROM runs r JOIN events q ON q.id = r.question_id
             WHERE r.asked IS NULL AND r.question_id IS NOT NULL",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<Result<_, _>>()?;
    for (run_id, event_id, since, body) in old {
        let fields: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&body).unwrap_or_default();
        let asked = Asked {
            event_id: event_id as u64,
            since,
            question: Arc::new(Question::from_fields(&fields)),
        };
        conn.execute(
            "UPDATE runs SET asked = ?2 WHERE run_id = ?1",
            params![
                run_id,
                serde_json::to_string(&asked).expect("a question serialises")
            ],
        )?;
    }
    Ok(())
}

const RUN_SELECT: &str = "SELECT r.run_id, r.agent, r.npc, r.status, r.started_at, r.started_ms, r.ended_at,
    r.ended_ms, r.result, r.error, r.callback_digest, r.started_by, r.owner, r.deadline_ms, r.last_ms,
    r.asked, r.has_usage, r.input_tokens, r.output_tokens, r.cost_usd, r.model FROM runs r";

fn run_from_row(row: &Row) -> Result<RunRecord, rusqlite::Error> {
    let status: String = row.get(3)?;
    let started_ms: i64 = row.get(5)?;
    let ended_ms: Option<i64> = row.get(7)?;
    let result: Option<String> = row.get(8)?;
    let digest: Option<String> = row.get(10)?;
    let started_by: Option<String> = row.get(11)?;
    let asked: Option<String> = row.get(15)?;
    let started_at: String = row.get(4)?;
    let ended_at: Option<String> = row.get(6)?;
    Ok(RunRecord {
        summary: RunSummary {
            run_id: row.get(0)?,
            agent: row.get(1)?,
            npc: row.get(2)?,
            status: status_named(&status),
            started_by: started_by.clone(),
            duration_ms: run_duration(&started_at, ended_at.as_deref(), started_ms, ended_ms),
            started_at,
            ended_at,
            result: result.and_then(|r| serde_json::from_str(&r).ok()),
            error: row.get(9)?,
            usage: if row.get::<_, i64>(16)? != 0 {
                Some(protocol::Usage {
                    input_tokens: row.get::<_, i64>(17)?.max(0) as u64,
                    output_tokens: row.get::<_, i64>(18)?.max(0) as u64,
                    cost_usd: row.get(19)?,
                    model: row.get(20)?,
                })
            } else {
                None
            },
        },
        meta: RunMeta {
            agent: row.get(1)?,
            by: started_by,
            callback_digest: digest
                .and_then(|d| hex::decode(d).ok())
                .and_then(|d| <[u8; 32]>::try_from(d).ok()),
            owner: row.get(12)?,
            deadline_ms: row.get::<_, i64>(13)?.max(0) as u64,
        },
        last_event_ms: row.get(14)?,
        started_ms,
        question: asked.and_then(|a| serde_json::from_str(&a).ok()),
    })
}

#[async_trait]
impl RunBook for SqliteStore {
    async fn runs(&self, query: RunQuery<'_>) -> Result<Vec<RunRecord>, StoreError> {
        let agent = query.agent.map(str::to_owned);
        let before = query.before.cloned();
        let (limit, max_bytes) = (query.limit as i64, query.max_bytes);
        self.read(move |conn| {
            let mut sql = format!("{RUN_SELECT} WHERE 1");
            let mut values: Vec<rusqlite::types::Value> = Vec::new();
            if let Some(agent) = agent {
                values.push(agent.into());
                sql.push_str(&format!(" AND r.agent = ?{}", values.len()));
            }
            if let Some(cursor) = before {
                values.push(cursor.started_ms.into());
                values.push(cursor.run_id.into());
                let (ms, id) = (values.len() - 1, values.len());
                sql.push_str(&format!(
                    " AND (r.started_ms < ?{ms} OR (r.started_ms = ?{ms} AND r.run_id < ?{id}))"
                ));
            }
            values.push(limit.into());
            sql.push_str(&format!(
                " ORDER BY r.started_ms DESC, r.run_id DESC LIMIT ?{}",
                values.len()
            ));
            let mut statement = conn.prepare_cached(&sql)?;
            let mut rows = statement.query_map(params_from_iter(values), run_from_row)?;
            let mut page = Vec::new();
            let mut bytes = 0;
            while bytes < max_bytes
                && let Some(run) = rows.next()
            {
                let run = run?;
                bytes += summary_bytes(&run.summary);
                page.push(run);
            }
            Ok(page)
        })
        .await
    }

    async fn runs_started_since(&self, since_ms: i64) -> Result<u64, StoreError> {
        self.read(move |conn| {
            conn.prepare_cached("SELECT COUNT(*) FROM runs WHERE started_ms >= ?1")?
                .query_row(params![since_ms], |row| row.get::<_, i64>(0))
                .map(|n| n as u64)
        })
        .await
    }

    async fn run(&self, run_id: &str) -> Result<Option<RunRecord>, StoreError> {
        let run_id = run_id.to_owned();
        self.read(move |conn| {
            conn.prepare_cached(&format!("{RUN_SELECT} WHERE r.run_id = ?1"))?
                .query_row(params![run_id], run_from_row)
                .optional()
        })
        .await
    }

    async fn open_runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        self.read(|conn| {
            conn.prepare_cached(&format!("{RUN_SELECT} WHERE r.ended_ms IS NULL"))?
                .query_map([], run_from_row)?
                .collect::<Result<Vec<_>, _>>()
        })
        .await
    }

    async fn run_for_token(
        &self,
        digest: [u8; 32],
    ) -> Result<Option<(String, String)>, StoreError> {
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT run_id, npc FROM runs WHERE callback_digest = ?1 AND ended_ms IS NULL",
            )?
            .query_row(params![hex::encode(digest)], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
        })
        .await
    }

    async fn live_instances(&self) -> Result<HashSet<String>, StoreError> {
        Ok(HashSet::from([self.instance.clone()]))
    }

    async fn usage(&self, since_ms: i64, until_ms: i64) -> Result<Vec<UsageRow>, StoreError> {
        self.read(move |conn| super::usage::totals(conn, since_ms, until_ms))
            .await
    }

    async fn spent_by(&self, by: &str, since_ms: i64) -> Result<f64, StoreError> {
        let by = by.to_owned();
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT COALESCE(SUM(cost_usd), 0) FROM runs WHERE started_by = ?1 AND started_ms >= ?2",
            )?
            .query_row(params![by, since_ms], |r| r.get(0))
        })
        .await
    }
}
