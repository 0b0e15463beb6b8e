//! SQLite (WAL) event store with group commit.
//!
//! One writer thread owns the write connection: it drains every append that is
//! waiting, commits them in one transaction (one fsync for the lot), tells the
//! listener in id order, then acknowledges. Reads go through a small pool.

use super::{
    CommitListener, EventStore, NewEvent, NpcFilter, RetentionPolicy, RunRecord, StoreError,
    StoredEvent,
};
use crate::config::StoreSync;
use async_trait::async_trait;
use protocol::{AgentStatus, EventEnvelope, EventKind, RunSummary};
use r2d2_sqlite::SqliteConnectionManager;
use r2d2_sqlite::rusqlite::{
    Connection, OptionalExtension, Row, Transaction, params, params_from_iter,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Instant;
use tokio::sync::oneshot;

/// Appends waiting beyond this many events are left for the next transaction.
const MAX_BATCH_EVENTS: usize = 8192;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    npc TEXT NOT NULL,
    kind TEXT NOT NULL,
    run_id TEXT,
    ts TEXT NOT NULL,
    stored_ms INTEGER NOT NULL,
    message TEXT,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_npc_id ON events(npc, id);
CREATE INDEX IF NOT EXISTS events_run ON events(run_id, id) WHERE run_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    agent TEXT NOT NULL,
    npc TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    started_ms INTEGER NOT NULL,
    ended_at TEXT,
    ended_ms INTEGER,
    result TEXT,
    error TEXT,
    callback_digest TEXT
);
CREATE INDEX IF NOT EXISTS runs_agent ON runs(agent, started_ms);
CREATE INDEX IF NOT EXISTS runs_open ON runs(ended_ms) WHERE ended_ms IS NULL;
";

type AppendReply = oneshot::Sender<Result<Vec<Arc<StoredEvent>>, StoreError>>;

enum Job {
    Append(Vec<NewEvent>, AppendReply),
    Prune(RetentionPolicy, oneshot::Sender<Result<u64, StoreError>>),
    Probe(oneshot::Sender<Result<(), StoreError>>),
}

pub struct SqliteStore {
    jobs: std::sync::Mutex<Option<mpsc::Sender<Job>>>,
    writer: std::sync::Mutex<Option<JoinHandle<()>>>,
    readers: r2d2::Pool<SqliteConnectionManager>,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating) `<data_dir>/events.sqlite3`.
    pub fn open(
        data_dir: &Path,
        sync: StoreSync,
        listener: Arc<dyn CommitListener>,
    ) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.display().to_string(),
            source,
        })?;
        let path = data_dir.join("events.sqlite3");
        let mut conn = Connection::open(&path)?;
        let sync_pragma = match sync {
            StoreSync::Full => "FULL",
            StoreSync::Normal => "NORMAL",
        };
        conn.execute_batch(&format!(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous={sync_pragma}; PRAGMA busy_timeout=5000;"
        ))?;
        conn.execute_batch(SCHEMA)?;
        let next_id = next_event_id(&mut conn)?;

        let manager = SqliteConnectionManager::file(&path)
            .with_init(|c| c.execute_batch("PRAGMA busy_timeout=5000; PRAGMA query_only=ON;"));
        let readers = r2d2::Pool::builder().max_size(4).build(manager)?;

        let (tx, rx) = mpsc::channel();
        let writer = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || {
                Writer {
                    conn,
                    next_id,
                    listener,
                }
                .run(rx)
            })
            .map_err(|e| StoreError::Corrupt(format!("cannot start the writer thread: {e}")))?;
        Ok(SqliteStore {
            jobs: std::sync::Mutex::new(Some(tx)),
            writer: std::sync::Mutex::new(Some(writer)),
            readers,
            path,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn send(&self, job: Job) -> Result<(), StoreError> {
        let jobs = self.jobs.lock().expect("store job lock");
        jobs.as_ref()
            .ok_or(StoreError::Closed)?
            .send(job)
            .map_err(|_| StoreError::Closed)
    }

    async fn read<T: Send + 'static>(
        &self,
        query: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let pool = self.readers.clone();
        tokio::task::spawn_blocking(move || query(&*pool.get()?))
            .await
            .map_err(|e| StoreError::Corrupt(format!("reader panicked: {e}")))?
    }
}

fn next_event_id(conn: &mut Connection) -> Result<u64, StoreError> {
    let seq: Option<i64> = conn
        .query_row(
            "SELECT seq FROM sqlite_sequence WHERE name = 'events'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let max: Option<i64> = conn.query_row("SELECT MAX(id) FROM events", [], |r| r.get(0))?;
    Ok(seq.unwrap_or(0).max(max.unwrap_or(0)) as u64 + 1)
}

struct Writer {
    conn: Connection,
    next_id: u64,
    listener: Arc<dyn CommitListener>,
}

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Job>) {
        let mut deferred: Vec<Job> = Vec::new();
        while let Ok(first) = rx.recv() {
            let mut appends = Vec::new();
            let mut queued_events = 0;
            let mut next = Some(first);
            // Group commit: take everything already waiting, up to a bound.
            while let Some(job) = next.take() {
                match job {
                    Job::Append(events, reply) => {
                        queued_events += events.len();
                        appends.push((events, reply));
                    }
                    other => deferred.push(other),
                }
                if queued_events < MAX_BATCH_EVENTS {
                    next = rx.try_recv().ok();
                }
            }
            if !appends.is_empty() {
                self.commit(appends);
            }
            for job in deferred.drain(..) {
                self.run_other(job);
            }
        }
        tracing::debug!("store writer stopped");
    }

    fn commit(&mut self, appends: Vec<(Vec<NewEvent>, AppendReply)>) {
        let started = Instant::now();
        let first_id = self.next_id;
        let total: usize = appends.iter().map(|(events, _)| events.len()).sum();
        let result = (|| -> Result<Vec<Vec<Arc<StoredEvent>>>, StoreError> {
            let tx = self.conn.transaction()?;
            let mut next_id = first_id;
            let mut stored = Vec::with_capacity(appends.len());
            for (events, _) in &appends {
                let mut group = Vec::with_capacity(events.len());
                for event in events {
                    group.push(Arc::new(insert_event(&tx, next_id, event)?));
                    next_id += 1;
                }
                stored.push(group);
            }
            tx.commit()?;
            Ok(stored)
        })();
        crate::metrics::STORE_COMMIT_SECONDS.observe(started.elapsed().as_secs_f64());
        match result {
            Ok(groups) => {
                self.next_id = first_id + total as u64;
                let all: Vec<Arc<StoredEvent>> = groups.iter().flatten().cloned().collect();
                self.listener.committed(&all);
                for ((_, reply), group) in appends.into_iter().zip(groups) {
                    let _ = reply.send(Ok(group));
                }
            }
            Err(error) => {
                tracing::error!(%error, events = total, "store commit failed");
                let message = error.to_string();
                for (_, reply) in appends {
                    let _ = reply.send(Err(StoreError::Corrupt(message.clone())));
                }
            }
        }
    }

    fn run_other(&mut self, job: Job) {
        match job {
            Job::Append(..) => unreachable!("appends are committed in batches"),
            Job::Probe(reply) => {
                let result = self
                    .conn
                    .execute_batch("BEGIN IMMEDIATE; COMMIT;")
                    .map_err(StoreError::from);
                let _ = reply.send(result);
            }
            Job::Prune(policy, reply) => {
                let _ = reply.send(prune(&mut self.conn, policy));
            }
        }
    }
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

fn insert_event(tx: &Transaction, id: u64, event: &NewEvent) -> Result<StoredEvent, StoreError> {
    let envelope = EventEnvelope {
        id,
        kind: event.kind,
        ts: event.ts.clone(),
        npc: event.npc.clone(),
        run_id: event.run_id.clone(),
        fields: event.fields.clone(),
    };
    let message = envelope.message().map(str::to_owned);
    let json = serde_json::to_string(&envelope).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let stored_ms = now_ms();
    tx.prepare_cached(
        "INSERT INTO events (id, npc, kind, run_id, ts, stored_ms, message, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        id as i64,
        event.npc,
        event.kind.as_str(),
        event.run_id,
        event.ts,
        stored_ms,
        message,
        json
    ])?;
    if let Some(run_id) = &event.run_id {
        record_run_progress(tx, run_id, event, stored_ms)?;
    }
    Ok(StoredEvent {
        id,
        kind: event.kind,
        npc: event.npc.clone(),
        run_id: event.run_id.clone(),
        ts: event.ts.clone(),
        message,
        json: json.into(),
    })
}

/// Keeps the run's row in step with its events, in the same transaction.
fn record_run_progress(
    tx: &Transaction,
    run_id: &str,
    event: &NewEvent,
    now: i64,
) -> Result<(), StoreError> {
    let status = AgentStatus::Idle.after(event.kind).as_str();
    match event.kind {
        EventKind::Started => {
            let agent = event.agent.as_deref().unwrap_or(&event.npc);
            tx.prepare_cached(
                "INSERT INTO runs (run_id, agent, npc, status, started_at, started_ms, callback_digest)
                 VALUES (?1, ?2, ?3, 'running', ?4, ?5, ?6) ON CONFLICT(run_id) DO NOTHING",
            )?
            .execute(params![run_id, agent, event.npc, event.ts, now, event.callback_digest])?;
        }
        EventKind::Done | EventKind::Error => {
            let result = event.fields.get("result").map(|v| v.to_string());
            let error = event.fields.get("error").map(|v| match v.as_str() {
                Some(s) => s.to_owned(),
                None => v.to_string(),
            });
            tx.prepare_cached(
                "UPDATE runs SET status = ?2, ended_at = ?3, ended_ms = ?4, result = ?5, error = ?6
                 WHERE run_id = ?1 AND ended_ms IS NULL",
            )?
            .execute(params![run_id, status, event.ts, now, result, error])?;
        }
        EventKind::Step | EventKind::Awaiting | EventKind::Response => {
            tx.prepare_cached(
                "UPDATE runs SET status = ?2 WHERE run_id = ?1 AND ended_ms IS NULL",
            )?
            .execute(params![run_id, status])?;
        }
        EventKind::Roster => {}
    }
    Ok(())
}

fn prune(conn: &mut Connection, policy: RetentionPolicy) -> Result<u64, StoreError> {
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
    tx.commit()?;
    Ok(removed)
}

fn event_from_row(row: &Row) -> Result<Arc<StoredEvent>, r2d2_sqlite::rusqlite::Error> {
    let kind: String = row.get(2)?;
    let kind = kind.parse::<EventKind>().map_err(|e| {
        r2d2_sqlite::rusqlite::Error::FromSqlConversionFailure(
            2,
            r2d2_sqlite::rusqlite::types::Type::Text,
            Box::new(e),
        )
    })?;
    let body: String = row.get(7)?;
    Ok(Arc::new(StoredEvent {
        id: row.get::<_, i64>(0)? as u64,
        npc: row.get(1)?,
        kind,
        run_id: row.get(3)?,
        ts: row.get(4)?,
        message: row.get(6)?,
        json: body.into(),
    }))
}

const EVENT_COLUMNS: &str = "id, npc, kind, run_id, ts, stored_ms, message, body";
const RUN_COLUMNS: &str = "run_id, agent, npc, status, started_at, started_ms, ended_at, ended_ms, result, error, callback_digest";

fn run_from_row(row: &Row) -> Result<RunRecord, r2d2_sqlite::rusqlite::Error> {
    let status: String = row.get(3)?;
    let status = match status.as_str() {
        "running" => AgentStatus::Running,
        "awaiting" => AgentStatus::Awaiting,
        "done" => AgentStatus::Done,
        "error" => AgentStatus::Error,
        _ => AgentStatus::Idle,
    };
    let started_ms: i64 = row.get(5)?;
    let ended_ms: Option<i64> = row.get(7)?;
    let result: Option<String> = row.get(8)?;
    Ok(RunRecord {
        summary: RunSummary {
            run_id: row.get(0)?,
            agent: row.get(1)?,
            npc: row.get(2)?,
            status,
            started_at: row.get(4)?,
            ended_at: row.get(6)?,
            duration_ms: ended_ms.map(|end| (end - started_ms).max(0) as u64),
            result: result.and_then(|r| serde_json::from_str(&r).ok()),
            error: row.get(9)?,
        },
        callback_digest: row.get(10)?,
    })
}

#[async_trait]
impl EventStore for SqliteStore {
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
    ) -> Result<Vec<Arc<StoredEvent>>, StoreError> {
        let filter = filter.clone();
        self.read(move |conn| {
            let limit = limit as i64;
            let rows = match &filter {
                NpcFilter::All => conn
                    .prepare_cached(&format!("SELECT {EVENT_COLUMNS} FROM events WHERE id > ?1 ORDER BY id LIMIT ?2"))?
                    .query_map(params![after as i64, limit], event_from_row)?
                    .collect::<Result<Vec<_>, _>>()?,
                NpcFilter::Only(npcs) => {
                    let placeholders = vec!["?"; npcs.len() + 1].join(",");
                    let sql = format!(
                        "SELECT {EVENT_COLUMNS} FROM events WHERE npc IN ({placeholders}) AND id > ? ORDER BY id LIMIT ?"
                    );
                    let mut values: Vec<r2d2_sqlite::rusqlite::types::Value> =
                        npcs.iter().map(|n| n.clone().into()).collect();
                    values.push(super::BROADCAST_NPC.to_owned().into());
                    values.push((after as i64).into());
                    values.push(limit.into());
                    conn.prepare_cached(&sql)?
                        .query_map(params_from_iter(values), event_from_row)?
                        .collect::<Result<Vec<_>, _>>()?
                }
            };
            Ok(rows)
        })
        .await
    }

    async fn history(
        &self,
        npc: Option<&str>,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Arc<StoredEvent>>, StoreError> {
        let npc = npc.map(str::to_owned);
        self.read(move |conn| {
            let before = before.map(|b| b as i64).unwrap_or(i64::MAX);
            let mut rows = match &npc {
                Some(npc) => conn
                    .prepare_cached(&format!(
                        "SELECT {EVENT_COLUMNS} FROM events WHERE npc = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3"
                    ))?
                    .query_map(params![npc, before, limit as i64], event_from_row)?
                    .collect::<Result<Vec<_>, _>>()?,
                None => conn
                    .prepare_cached(&format!(
                        "SELECT {EVENT_COLUMNS} FROM events WHERE id < ?1 ORDER BY id DESC LIMIT ?2"
                    ))?
                    .query_map(params![before, limit as i64], event_from_row)?
                    .collect::<Result<Vec<_>, _>>()?,
            };
            rows.reverse();
            Ok(rows)
        })
        .await
    }

    async fn runs(&self, agent: Option<&str>, limit: usize) -> Result<Vec<RunSummary>, StoreError> {
        let agent = agent.map(str::to_owned);
        self.read(move |conn| {
            let rows = match &agent {
                Some(agent) => conn
                    .prepare_cached(&format!(
                        "SELECT {RUN_COLUMNS} FROM runs WHERE agent = ?1 ORDER BY started_ms DESC, rowid DESC LIMIT ?2"
                    ))?
                    .query_map(params![agent, limit as i64], run_from_row)?
                    .collect::<Result<Vec<_>, _>>()?,
                None => conn
                    .prepare_cached(&format!(
                        "SELECT {RUN_COLUMNS} FROM runs ORDER BY started_ms DESC, rowid DESC LIMIT ?1"
                    ))?
                    .query_map(params![limit as i64], run_from_row)?
                    .collect::<Result<Vec<_>, _>>()?,
            };
            Ok(rows.into_iter().map(|r| r.summary).collect())
        })
        .await
    }

    async fn run(&self, run_id: &str) -> Result<Option<RunRecord>, StoreError> {
        let run_id = run_id.to_owned();
        self.read(move |conn| {
            Ok(conn
                .prepare_cached(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE run_id = ?1"))?
                .query_row(params![run_id], run_from_row)
                .optional()?)
        })
        .await
    }

    async fn last_of_run(
        &self,
        run_id: &str,
        kind: EventKind,
    ) -> Result<Option<Arc<StoredEvent>>, StoreError> {
        let run_id = run_id.to_owned();
        self.read(move |conn| {
            Ok(conn
                .prepare_cached(&format!(
                    "SELECT {EVENT_COLUMNS} FROM events WHERE run_id = ?1 AND kind = ?2 ORDER BY id DESC LIMIT 1"
                ))?
                .query_row(params![run_id, kind.as_str()], event_from_row)
                .optional()?)
        })
        .await
    }

    async fn open_runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        self.read(|conn| {
            Ok(conn
                .prepare_cached(&format!(
                    "SELECT {RUN_COLUMNS} FROM runs WHERE ended_ms IS NULL"
                ))?
                .query_map([], run_from_row)?
                .collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn latest_per_npc(&self) -> Result<Vec<Arc<StoredEvent>>, StoreError> {
        self.read(|conn| {
            Ok(conn
                .prepare_cached(&format!(
                    "SELECT {EVENT_COLUMNS} FROM events WHERE id IN (SELECT MAX(id) FROM events GROUP BY npc) ORDER BY id"
                ))?
                .query_map([], event_from_row)?
                .collect::<Result<Vec<_>, _>>()?)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<u64>>);
    impl CommitListener for Recorder {
        fn committed(&self, events: &[Arc<StoredEvent>]) {
            self.0.lock().unwrap().extend(events.iter().map(|e| e.id));
        }
    }

    fn event(npc: &str, kind: EventKind, run_id: Option<&str>) -> NewEvent {
        let mut fields = serde_json::Map::new();
        fields.insert("message".into(), format!("{npc} {kind}").into());
        NewEvent {
            kind,
            npc: npc.into(),
            run_id: run_id.map(Into::into),
            ts: "2025-11-07T12:00:00Z".into(),
            fields,
            agent: None,
            callback_digest: None,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_appends_get_dense_ordered_ids_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let recorder = Arc::new(Recorder::default());
        let store =
            Arc::new(SqliteStore::open(dir.path(), StoreSync::Normal, recorder.clone()).unwrap());
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .append(vec![event(&format!("npc{}", i % 3), EventKind::Step, None)])
                        .await
                        .unwrap()
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let ids = recorder.0.lock().unwrap().clone();
        assert_eq!(
            ids,
            (1..=20).collect::<Vec<_>>(),
            "listener sees ids in order"
        );
        let only = NpcFilter::Only(["npc1".to_owned()].into());
        let npc1 = store.read_since(&only, 0, 100).await.unwrap();
        assert!(npc1.iter().all(|e| e.npc == "npc1") && npc1.len() == 7);
        store.close().await;

        let reopened = SqliteStore::open(dir.path(), StoreSync::Normal, recorder).unwrap();
        assert_eq!(reopened.last_id().await.unwrap(), 20);
        let next = reopened
            .append(vec![event("npc0", EventKind::Done, None)])
            .await
            .unwrap();
        assert_eq!(next[0].id, 21);
    }

    #[tokio::test]
    async fn runs_follow_their_events_and_retention_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path(), StoreSync::Normal, Arc::new(Recorder::default()))
            .unwrap();
        let mut started = event("a", EventKind::Started, Some("r1"));
        started.agent = Some("agent-a".into());
        let mut done = event("a", EventKind::Done, Some("r1"));
        done.fields
            .insert("result".into(), serde_json::json!({"ok": true}));
        store
            .append(vec![started, event("a", EventKind::Step, Some("r1"))])
            .await
            .unwrap();
        assert_eq!(store.open_runs().await.unwrap().len(), 1);
        store.append(vec![done]).await.unwrap();
        let runs = store.runs(Some("agent-a"), 10).await.unwrap();
        assert_eq!(runs[0].status, AgentStatus::Done);
        assert_eq!(runs[0].result, Some(serde_json::json!({"ok": true})));
        assert!(store.open_runs().await.unwrap().is_empty());

        for _ in 0..10 {
            store
                .append(vec![event("a", EventKind::Step, None)])
                .await
                .unwrap();
        }
        let removed = store
            .prune(RetentionPolicy {
                events_per_npc: 4,
                max_age_secs: 3600,
            })
            .await
            .unwrap();
        assert_eq!(removed, 9);
        let left = store.history(Some("a"), None, 100).await.unwrap();
        assert_eq!(
            left.iter().map(|e| e.id).collect::<Vec<_>>(),
            [10, 11, 12, 13]
        );
        store.check_writable().await.unwrap();
    }
}
