//! SQLite (WAL) event store with group commit.
//!
//! One writer thread owns the write connection: it drains every append that is
//! waiting, commits them in one transaction (one fsync for the lot, each append
//! in its own savepoint so one broken run rule refuses only that append), tells
//! the listener in id order, then acknowledges. Reads go through a small pool.

use super::open_runs::{Closed, OpenRun, OpenRuns};
use super::{
    CommitListener, EventStore, NewEvent, NpcFilter, RetentionPolicy, RunMeta, RunRecord,
    RunRuleError, SessionRecord, StoreError, StoredEvent, run_status_after,
};
use crate::config::StoreSync;
use async_trait::async_trait;
use protocol::{AgentStatus, EventEnvelope, EventKind, RunSummary};
use r2d2_sqlite::SqliteConnectionManager;
use r2d2_sqlite::rusqlite::{
    self, Connection, ErrorCode, OptionalExtension, Row, params, params_from_iter,
};
use std::collections::HashSet;
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
CREATE INDEX IF NOT EXISTS runs_started ON runs(started_ms);
CREATE INDEX IF NOT EXISTS runs_open ON runs(ended_ms) WHERE ended_ms IS NULL;
CREATE TABLE IF NOT EXISTS probe (id INTEGER PRIMARY KEY, at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    role TEXT NOT NULL,
    agents TEXT,
    source TEXT NOT NULL,
    via_jwt INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL
);
";

/// Columns added after the first release, with how to add them to an older file.
const RUN_COLUMNS_ADDED: [(&str, &str); 5] = [
    ("started_by", "TEXT"),
    ("owner", "TEXT"),
    ("deadline_ms", "INTEGER NOT NULL DEFAULT 0"),
    ("last_ms", "INTEGER NOT NULL DEFAULT 0"),
    ("question_id", "INTEGER"),
];

type AppendReply = oneshot::Sender<Result<Vec<Arc<StoredEvent>>, StoreError>>;

/// A small write outside the event log (sessions), run on the writer's connection.
type Write = Box<dyn FnOnce(&Connection) + Send>;

enum Job {
    Append(Vec<NewEvent>, AppendReply),
    Prune(RetentionPolicy, oneshot::Sender<Result<u64, StoreError>>),
    Probe(oneshot::Sender<Result<(), StoreError>>),
    Write(Write),
}

pub struct SqliteStore {
    jobs: std::sync::Mutex<Option<mpsc::Sender<Job>>>,
    writer: std::sync::Mutex<Option<JoinHandle<()>>>,
    readers: r2d2::Pool<SqliteConnectionManager>,
    path: PathBuf,
    /// This process: the only instance that can own in-process runs in one file.
    instance: String,
}

impl SqliteStore {
    /// Opens (creating) `<data_dir>/events.sqlite3`.
    pub fn open(
        data_dir: &Path,
        sync: StoreSync,
        instance: String,
        listener: Arc<dyn CommitListener>,
    ) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.display().to_string(),
            source,
        })?;
        let path = data_dir.join("events.sqlite3");
        let mut conn = Connection::open(&path).map_err(classify)?;
        let sync_pragma = match sync {
            StoreSync::Full => "FULL",
            StoreSync::Normal => "NORMAL",
        };
        conn.execute_batch(&format!(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous={sync_pragma}; PRAGMA busy_timeout=5000;"
        ))
        .map_err(classify)?;
        conn.execute_batch(SCHEMA).map_err(classify)?;
        migrate(&conn).map_err(classify)?;
        let next_id = next_event_id(&mut conn)?;
        let open = load_open_runs(&conn).map_err(classify)?;

        let manager = SqliteConnectionManager::file(&path)
            .with_init(|c| c.execute_batch("PRAGMA busy_timeout=5000; PRAGMA query_only=ON;"));
        let readers = r2d2::Pool::builder()
            .max_size(4)
            .build(manager)
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;

        let (tx, rx) = mpsc::channel();
        let writer = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || {
                Writer {
                    conn,
                    next_id,
                    listener,
                    open,
                }
                .run(rx)
            })
            .map_err(|e| StoreError::Unavailable(format!("cannot start the writer thread: {e}")))?;
        Ok(SqliteStore {
            jobs: std::sync::Mutex::new(Some(tx)),
            writer: std::sync::Mutex::new(Some(writer)),
            readers,
            path,
            instance,
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

    /// Runs a small write on the writer's connection, in order with the appends.
    async fn write(
        &self,
        write: impl FnOnce(&Connection) -> Result<(), rusqlite::Error> + Send + 'static,
    ) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.send(Job::Write(Box::new(move |conn| {
            let _ = tx.send(write(conn).map_err(classify));
        })))?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn read<T: Send + 'static>(
        &self,
        query: impl FnOnce(&Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    ) -> Result<T, StoreError> {
        let pool = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            let conn = pool
                .get()
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            query(&conn).map_err(classify)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("reader stopped: {e}")))?
    }
}

/// Names SQLite's failures by what an operator should do about them.
fn classify(error: rusqlite::Error) -> StoreError {
    match error.sqlite_error_code() {
        Some(ErrorCode::DiskFull) => StoreError::DiskFull(error.to_string()),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            StoreError::Busy(error.to_string())
        }
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
            StoreError::Corrupt(error.to_string())
        }
        _ => StoreError::Unavailable(error.to_string()),
    }
}

fn migrate(conn: &Connection) -> Result<(), rusqlite::Error> {
    let existing: HashSet<String> = conn
        .prepare("SELECT name FROM pragma_table_info('runs')")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for (column, definition) in RUN_COLUMNS_ADDED {
        if !existing.contains(column) {
            conn.execute_batch(&format!(
                "ALTER TABLE runs ADD COLUMN {column} {definition}"
            ))?;
        }
    }
    conn.execute_batch(
        "CREATE INDEX IF NOT EXISTS runs_open_npc ON runs(npc) WHERE ended_ms IS NULL;",
    )
}

fn next_event_id(conn: &mut Connection) -> Result<u64, StoreError> {
    let seq: Option<i64> = conn
        .query_row(
            "SELECT seq FROM sqlite_sequence WHERE name = 'events'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(classify)?;
    let max: Option<i64> = conn
        .query_row("SELECT MAX(id) FROM events", [], |r| r.get(0))
        .map_err(classify)?;
    Ok(seq.unwrap_or(0).max(max.unwrap_or(0)) as u64 + 1)
}

struct Writer {
    conn: Connection,
    next_id: u64,
    listener: Arc<dyn CommitListener>,
    /// The open runs: the writer is their only author, so the rules are
    /// checked in memory and the database is asked only about other runs.
    open: OpenRuns,
}

/// The open runs in the database (at start).
fn load_open_runs(conn: &Connection) -> Result<OpenRuns, rusqlite::Error> {
    let mut open = OpenRuns::default();
    let mut statement =
        conn.prepare("SELECT run_id, npc, status FROM runs WHERE ended_ms IS NULL")?;
    let rows = statement.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?;
    for row in rows {
        let (run_id, npc, status) = row?;
        open.insert(
            run_id,
            OpenRun {
                npc,
                awaiting: status == AgentStatus::Awaiting.as_str(),
            },
        );
    }
    Ok(open)
}

/// A run that is not open: ended, or unknown.
fn closed_run(conn: &Connection, run_id: &str) -> Result<Closed, rusqlite::Error> {
    let npc: Option<String> = conn
        .prepare_cached("SELECT npc FROM runs WHERE run_id = ?1")?
        .query_row(params![run_id], |r| r.get(0))
        .optional()?;
    Ok(npc.map_or(Closed::Unknown, |npc| Closed::Ended { npc }))
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
        let before = self.open.clone();
        let result = self.insert_group(&appends);
        crate::metrics::STORE_COMMIT_SECONDS.observe(started.elapsed().as_secs_f64());
        match result {
            Ok(outcomes) => {
                let all: Vec<Arc<StoredEvent>> = outcomes
                    .iter()
                    .filter_map(|o| o.as_ref().ok())
                    .flatten()
                    .cloned()
                    .collect();
                if !all.is_empty() {
                    notify(&*self.listener, &all);
                }
                for ((_, reply), outcome) in appends.into_iter().zip(outcomes) {
                    let _ = reply.send(outcome.map_err(StoreError::Rule));
                }
            }
            Err(error) => {
                // Nothing of the group is stored: neither are its runs.
                self.open = before;
                let total: usize = appends.iter().map(|(events, _)| events.len()).sum();
                tracing::error!(%error, events = total, "store commit failed");
                for (_, reply) in appends {
                    let _ = reply.send(Err(copy_error(&error)));
                }
            }
        }
    }

    /// One transaction for the group; an append that breaks a rule is left out whole.
    fn insert_group(
        &mut self,
        appends: &[(Vec<NewEvent>, AppendReply)],
    ) -> Result<Vec<Result<Vec<Arc<StoredEvent>>, RunRuleError>>, StoreError> {
        let tx = self.conn.transaction().map_err(classify)?;
        let mut next_id = self.next_id;
        let mut outcomes = Vec::with_capacity(appends.len());
        for (events, _) in appends {
            let runs = self
                .open
                .apply(events, |run_id| closed_run(&tx, run_id))
                .map_err(classify)?;
            let runs = match runs {
                Ok(runs) => runs,
                Err(rule) => {
                    outcomes.push(Err(rule));
                    continue;
                }
            };
            let mut group = Vec::with_capacity(events.len());
            for (event, run_id) in events.iter().zip(runs) {
                group.push(Arc::new(insert_event(&tx, next_id, event, run_id)?));
                next_id += 1;
            }
            outcomes.push(Ok(group));
        }
        tx.commit().map_err(classify)?;
        self.next_id = next_id;
        Ok(outcomes)
    }

    fn run_other(&mut self, job: Job) {
        match job {
            Job::Append(..) => unreachable!("appends are committed in batches"),
            Job::Probe(reply) => {
                // A real write, synced like an event: a full disk or a lost lock shows here.
                let result = self
                    .conn
                    .execute(
                        "INSERT INTO probe (id, at) VALUES (1, ?1) ON CONFLICT(id) DO UPDATE SET at = ?1",
                        params![now_ms()],
                    )
                    .map(|_| ())
                    .map_err(classify);
                let _ = reply.send(result);
            }
            Job::Prune(policy, reply) => {
                let _ = reply.send(prune(&mut self.conn, policy).map_err(classify));
            }
            Job::Write(write) => write(&self.conn),
        }
    }
}

/// Tells the listener; a listener that panics is a bug, but it must not stop the writer.
fn notify(listener: &dyn CommitListener, events: &[Arc<StoredEvent>]) {
    let told =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| listener.committed(events)));
    if told.is_err() {
        tracing::error!(
            first = events[0].id,
            "a commit listener panicked; the events are stored"
        );
    }
}

/// The same failure for every append of a failed group.
fn copy_error(error: &StoreError) -> StoreError {
    match error {
        StoreError::DiskFull(m) => StoreError::DiskFull(m.clone()),
        StoreError::Busy(m) => StoreError::Busy(m.clone()),
        StoreError::Corrupt(m) => StoreError::Corrupt(m.clone()),
        StoreError::Rule(rule) => StoreError::Rule(rule.clone()),
        other => StoreError::Unavailable(other.to_string()),
    }
}

use super::now_ms;

/// Inserts one event of `run_id` (the rules already checked) and keeps its run's row in step.
fn insert_event(
    conn: &Connection,
    id: u64,
    event: &NewEvent,
    run_id: Option<String>,
) -> Result<StoredEvent, StoreError> {
    let envelope = EventEnvelope {
        id,
        kind: event.kind,
        ts: event.ts.clone(),
        npc: event.npc.clone(),
        run_id: run_id.clone(),
        fields: event.fields.clone(),
    };
    let message = envelope.message().map(str::to_owned);
    let json = serde_json::to_string(&envelope).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let stored_ms = now_ms();
    conn.prepare_cached(
        "INSERT INTO events (id, npc, kind, run_id, ts, stored_ms, message, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
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
        json
    ])
    .map_err(classify)?;
    if let Some(run_id) = &run_id {
        record_run_progress(conn, run_id, id, event, stored_ms).map_err(classify)?;
    }
    let mut stored = StoredEvent::new(
        id,
        event.kind,
        event.npc.clone(),
        run_id,
        event.ts.clone(),
        message,
        json.into(),
    );
    if event.kind == EventKind::Started {
        stored.callback_digest = event.run.as_ref().and_then(|m| m.callback_digest);
    }
    Ok(stored)
}

/// Keeps the run's row in step with its events, in the same transaction.
fn record_run_progress(
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
                                 last_ms = ?4, question_id = NULL
                 WHERE run_id = ?1",
            )?
            .execute(params![run_id, status, event.ts, now, result, error])?;
        }
        EventKind::Awaiting => {
            conn.prepare_cached(
                "UPDATE runs SET status = ?2, last_ms = ?3, question_id = ?4 WHERE run_id = ?1",
            )?
            .execute(params![run_id, status, now, id as i64])?;
        }
        EventKind::Step | EventKind::Response => {
            conn.prepare_cached(
                "UPDATE runs SET status = ?2, last_ms = ?3, question_id = NULL WHERE run_id = ?1",
            )?
            .execute(params![run_id, status, now])?;
        }
        EventKind::Roster => {}
    }
    Ok(())
}

fn prune(conn: &mut Connection, policy: RetentionPolicy) -> Result<u64, rusqlite::Error> {
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

const EVENT_COLUMNS: &str = "id, npc, kind, run_id, ts, stored_ms, message, body";

fn event_from_row(row: &Row) -> Result<Arc<StoredEvent>, rusqlite::Error> {
    event_at(row, 0)
}

/// An event whose columns start at `first` (runs join their question).
fn event_at(row: &Row, first: usize) -> Result<Arc<StoredEvent>, rusqlite::Error> {
    let kind: String = row.get(first + 2)?;
    let kind = kind.parse::<EventKind>().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(
            first + 2,
            rusqlite::types::Type::Text,
            Box::new(e),
        )
    })?;
    let body: String = row.get(first + 7)?;
    Ok(Arc::new(StoredEvent::new(
        row.get::<_, i64>(first)? as u64,
        kind,
        row.get(first + 1)?,
        row.get(first + 3)?,
        row.get(first + 4)?,
        row.get(first + 6)?,
        body.into(),
    )))
}

const RUN_SELECT: &str = "SELECT r.run_id, r.agent, r.npc, r.status, r.started_at, r.started_ms, r.ended_at,
    r.ended_ms, r.result, r.error, r.callback_digest, r.started_by, r.owner, r.deadline_ms, r.last_ms,
    q.id, q.npc, q.kind, q.run_id, q.ts, q.stored_ms, q.message, q.body
    FROM runs r LEFT JOIN events q ON q.id = r.question_id";

fn run_from_row(row: &Row) -> Result<RunRecord, rusqlite::Error> {
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
    let digest: Option<String> = row.get(10)?;
    let started_by: Option<String> = row.get(11)?;
    let question = match row.get::<_, Option<i64>>(15)? {
        Some(_) => Some(event_at(row, 15)?),
        None => None,
    };
    Ok(RunRecord {
        summary: RunSummary {
            run_id: row.get(0)?,
            agent: row.get(1)?,
            npc: row.get(2)?,
            status,
            started_at: row.get(4)?,
            started_by: started_by.clone(),
            ended_at: row.get(6)?,
            duration_ms: ended_ms.map(|end| (end - started_ms).max(0) as u64),
            result: result.and_then(|r| serde_json::from_str(&r).ok()),
            error: row.get(9)?,
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
        question,
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
                    values.push(super::BROADCAST_NPC.to_owned().into());
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
            let mut rows = statement.query_map(params_from_iter(values), event_from_row)?;
            let mut page = Vec::new();
            let mut bytes = 0;
            while bytes < max_bytes
                && let Some(event) = rows.next()
            {
                let event = event?;
                bytes += event.json.len();
                page.push(event);
            }
            Ok(page)
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
            let before = before.map(|b| b.min(i64::MAX as u64) as i64).unwrap_or(i64::MAX);
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
                        "{RUN_SELECT} WHERE r.agent = ?1 ORDER BY r.started_ms DESC, r.rowid DESC LIMIT ?2"
                    ))?
                    .query_map(params![agent, limit as i64], run_from_row)?
                    .collect::<Result<Vec<_>, _>>()?,
                None => conn
                    .prepare_cached(&format!(
                        "{RUN_SELECT} ORDER BY r.started_ms DESC, r.rowid DESC LIMIT ?1"
                    ))?
                    .query_map(params![limit as i64], run_from_row)?
                    .collect::<Result<Vec<_>, _>>()?,
            };
            Ok(rows.into_iter().map(|r| r.summary).collect())
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

    async fn live_instances(&self) -> Result<HashSet<String>, StoreError> {
        Ok(HashSet::from([self.instance.clone()]))
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

    async fn put_session(&self, id: [u8; 32], session: SessionRecord) -> Result<(), StoreError> {
        self.write(move |conn| {
            conn.execute(
                "INSERT OR REPLACE INTO sessions (id, subject, role, agents, source, via_jwt, expires_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    hex::encode(id),
                    session.subject,
                    session.role,
                    session.agents.map(|a| serde_json::Value::from(a).to_string()),
                    hex::encode(session.source),
                    session.via_jwt,
                    session.expires_ms
                ],
            )
            .map(|_| ())
        })
        .await
    }

    async fn session(&self, id: [u8; 32]) -> Result<Option<SessionRecord>, StoreError> {
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT subject, role, agents, source, via_jwt, expires_ms FROM sessions
                 WHERE id = ?1 AND expires_ms > ?2",
            )?
            .query_row(params![hex::encode(id), now_ms()], |row| {
                let agents: Option<String> = row.get(2)?;
                let source: String = row.get(3)?;
                Ok(SessionRecord {
                    subject: row.get(0)?,
                    role: row.get(1)?,
                    agents: agents.and_then(|a| serde_json::from_str(&a).ok()),
                    source: hex::decode(source)
                        .ok()
                        .and_then(|d| <[u8; 32]>::try_from(d).ok())
                        .unwrap_or_default(),
                    via_jwt: row.get(4)?,
                    expires_ms: row.get(5)?,
                })
            })
            .optional()
        })
        .await
    }

    async fn drop_session(&self, id: [u8; 32]) -> Result<(), StoreError> {
        self.write(move |conn| {
            conn.execute(
                "DELETE FROM sessions WHERE id = ?1",
                params![hex::encode(id)],
            )
            .map(|_| ())
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
    use crate::store::conformance::{self, Recorder};

    fn open(dir: &Path, listener: Arc<dyn CommitListener>) -> SqliteStore {
        SqliteStore::open(dir, StoreSync::Normal, "test".into(), listener).unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn follows_the_store_contract() {
        let dir = tempfile::tempdir().unwrap();
        let recorder = Arc::new(Recorder::default());
        let store: Arc<dyn EventStore> = Arc::new(open(dir.path(), recorder.clone()));
        conformance::run_all(store, recorder).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ids_and_runs_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let recorder = Arc::new(Recorder::default());
        let store = open(dir.path(), recorder.clone());
        store
            .append(vec![conformance::started("a", "r1")])
            .await
            .unwrap();
        for _ in 0..4 {
            store
                .append(vec![conformance::event("a", EventKind::Step, None)])
                .await
                .unwrap();
        }
        store.close().await;
        let reopened = open(dir.path(), recorder);
        assert_eq!(reopened.last_id().await.unwrap(), 5);
        let next = reopened
            .append(vec![conformance::event("a", EventKind::Done, None)])
            .await
            .unwrap();
        assert_eq!(next[0].id, 6);
        assert_eq!(
            next[0].run_id.as_deref(),
            Some("r1"),
            "the open run outlived the restart"
        );
    }

    #[tokio::test]
    async fn an_older_file_gains_the_new_run_columns() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("events.sqlite3")).unwrap();
        conn.execute_batch(
            "CREATE TABLE runs (run_id TEXT PRIMARY KEY, agent TEXT NOT NULL, npc TEXT NOT NULL,
               status TEXT NOT NULL, started_at TEXT NOT NULL, started_ms INTEGER NOT NULL,
               ended_at TEXT, ended_ms INTEGER, result TEXT, error TEXT, callback_digest TEXT);
             INSERT INTO runs VALUES ('old', 'a', 'a', 'done', '2025-01-01T00:00:00Z', 0,
               '2025-01-01T00:00:01Z', 1000, NULL, NULL, NULL);",
        )
        .unwrap();
        drop(conn);
        let store = open(dir.path(), Arc::new(Recorder::default()));
        let old = store.run("old").await.unwrap().unwrap();
        assert_eq!(old.summary.duration_ms, Some(1000));
        assert_eq!(old.meta.owner, None);
    }
}
