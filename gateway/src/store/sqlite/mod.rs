//! SQLite (WAL) store with group commit, for one machine: the event log
//! (`log.rs`), the run book (`runs.rs`) and the sessions (`sessions.rs`) in
//! one file.
//!
//! One writer thread owns the write connection: it drains every append that is
//! waiting, commits them in one transaction (one fsync for the lot, each append
//! in its own savepoint so one broken run rule refuses only that append), tells
//! the listener in id order, then acknowledges. Reads go through a small pool.

mod log;
mod runs;
mod sessions;
mod state;
mod usage;

use super::open_runs::{Closed, OpenRun, OpenRuns};
use super::{
    CommitListener, NewEvent, RetentionPolicy, RunRuleError, StoreError, StoredEvent, now_ms,
};
use crate::config::StoreSync;
use protocol::AgentStatus;
use r2d2_sqlite::SqliteConnectionManager;
use r2d2_sqlite::rusqlite::{self, Connection, ErrorCode, OptionalExtension, params};
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Instant;
use tokio::sync::oneshot;

/// Read connections (and reads running at once).
const READERS: usize = 4;
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
CREATE TABLE IF NOT EXISTS follower_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS usage_minutes (
    npc TEXT NOT NULL, bucket INTEGER NOT NULL, runs INTEGER NOT NULL, input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL, cost_usd REAL NOT NULL, PRIMARY KEY (npc, bucket)
);
CREATE INDEX IF NOT EXISTS usage_minutes_bucket ON usage_minutes(bucket);
CREATE TABLE IF NOT EXISTS usage_hours (
    npc TEXT NOT NULL, bucket INTEGER NOT NULL, runs INTEGER NOT NULL, input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL, cost_usd REAL NOT NULL, PRIMARY KEY (npc, bucket)
);
CREATE INDEX IF NOT EXISTS usage_hours_bucket ON usage_hours(bucket);
CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_ms INTEGER NOT NULL);
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
const RUN_COLUMNS_ADDED: [(&str, &str); 11] = [
    ("started_by", "TEXT"),
    ("owner", "TEXT"),
    ("deadline_ms", "INTEGER NOT NULL DEFAULT 0"),
    ("last_ms", "INTEGER NOT NULL DEFAULT 0"),
    ("question_id", "INTEGER"),
    // The question the run waits on, typed (`Asked` as JSON).
    ("asked", "TEXT"),
    // What its events said it used, added up.
    ("has_usage", "INTEGER NOT NULL DEFAULT 0"),
    ("input_tokens", "INTEGER NOT NULL DEFAULT 0"),
    ("output_tokens", "INTEGER NOT NULL DEFAULT 0"),
    ("cost_usd", "REAL NOT NULL DEFAULT 0"),
    ("model", "TEXT"),
];

type AppendReply = oneshot::Sender<Result<Vec<Arc<StoredEvent>>, StoreError>>;

/// An appended event: stored by this commit, or stored before under its key.
enum Stored {
    New(Arc<StoredEvent>),
    Known(Arc<StoredEvent>),
}

impl Stored {
    fn event(self) -> Arc<StoredEvent> {
        match self {
            Stored::New(event) | Stored::Known(event) => event,
        }
    }
}

/// The oldest SQLite the store's SQL runs on: upserts (`ON CONFLICT … DO
/// UPDATE`) came in 3.24. The gateway links the system's SQLite when the
/// build finds one (.cargo/config.toml), so an old one must be refused here.
const OLDEST_SQLITE: i32 = 3_024_000;

fn check_sqlite_version(number: i32, text: &str) -> Result<(), StoreError> {
    if number < OLDEST_SQLITE {
        return Err(StoreError::Unavailable(format!(
            "SQLite {text} is too old (the store needs {}.{} or newer); install a newer libsqlite3 \
             or build with LIBSQLITE3_SYS_USE_PKG_CONFIG=0 to compile SQLite in",
            OLDEST_SQLITE / 1_000_000,
            OLDEST_SQLITE / 1_000 % 1_000,
        )));
    }
    Ok(())
}

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
    /// One read per pooled connection at a time: more would only park
    /// blocking threads (each with its stack) waiting for a connection.
    reading: Arc<tokio::sync::Semaphore>,
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
        check_sqlite_version(rusqlite::version_number(), rusqlite::version())?;
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
        tracing::info!(path = %path.display(), sqlite = rusqlite::version(), "event store open");

        let manager = SqliteConnectionManager::file(&path)
            .with_init(|c| c.execute_batch("PRAGMA busy_timeout=5000; PRAGMA query_only=ON;"));
        let readers = r2d2::Pool::builder()
            .max_size(READERS as u32)
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
            reading: Arc::new(tokio::sync::Semaphore::new(READERS)),
            instance,
        })
    }

    fn send(&self, job: Job) -> Result<(), StoreError> {
        let jobs = self.jobs.lock().expect("store job lock");
        jobs.as_ref()
            .ok_or(StoreError::Closed)?
            .send(job)
            .map_err(|_| StoreError::Closed)
    }

    /// Runs a small write on the writer's connection, in order with the appends.
    async fn write<T: Send + 'static>(
        &self,
        write: impl FnOnce(&Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    ) -> Result<T, StoreError> {
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
        let _turn = self
            .reading
            .acquire()
            .await
            .map_err(|_| StoreError::Closed)?;
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
    )?;
    let event_columns: HashSet<String> = conn
        .prepare("SELECT name FROM pragma_table_info('events')")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if !event_columns.contains("client_key") {
        conn.execute_batch("ALTER TABLE events ADD COLUMN client_key TEXT")?;
    }
    if !event_columns.contains("question") {
        // What each `awaiting` asked, typed, so a past moment folds it.
        conn.execute_batch("ALTER TABLE events ADD COLUMN question TEXT")?;
        log::type_old_event_questions(conn)?;
    }
    conn.execute_batch(
        "CREATE UNIQUE INDEX IF NOT EXISTS events_client_key ON events(npc, client_key) WHERE client_key IS NOT NULL;",
    )?;
    usage::count_older_runs(conn)?;
    runs::type_old_questions(conn)
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
                // Only what this commit stored is news.
                let all: Vec<Arc<StoredEvent>> = outcomes
                    .iter()
                    .filter_map(|o| o.as_ref().ok())
                    .flatten()
                    .filter_map(|stored| match stored {
                        Stored::New(event) => Some(event.clone()),
                        Stored::Known(_) => None,
                    })
                    .collect();
                if !all.is_empty() {
                    notify(&*self.listener, &all);
                }
                for ((_, reply), outcome) in appends.into_iter().zip(outcomes) {
                    let outcome = outcome
                        .map(|group| group.into_iter().map(Stored::event).collect())
                        .map_err(StoreError::Rule);
                    let _ = reply.send(outcome);
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
    ) -> Result<Vec<Result<Vec<Stored>, RunRuleError>>, StoreError> {
        let tx = self.conn.transaction().map_err(classify)?;
        let mut next_id = self.next_id;
        let mut outcomes = Vec::with_capacity(appends.len());
        let mut tally = usage::Tally::default();
        for (events, _) in appends {
            // Events whose key their npc stored already: answered, not stored again.
            let known = log::known_keys(&tx, events).map_err(classify)?;
            let fresh: Vec<NewEvent> = events
                .iter()
                .zip(&known)
                .filter(|(_, known)| known.is_none())
                .map(|(event, _)| event.clone())
                .collect();
            let runs = self
                .open
                .apply(&fresh, |run_id| closed_run(&tx, run_id))
                .map_err(classify)?;
            let runs = match runs {
                Ok(runs) => runs,
                Err(rule) => {
                    outcomes.push(Err(rule));
                    continue;
                }
            };
            let mut runs = runs.into_iter();
            let mut group = Vec::with_capacity(events.len());
            for (event, known) in events.iter().zip(known) {
                match known {
                    Some(stored) => group.push(Stored::Known(stored)),
                    None => {
                        let run_id = runs.next().expect("a run for every fresh event");
                        group.push(Stored::New(Arc::new(log::insert_event(
                            &tx, next_id, event, run_id, &mut tally,
                        )?)));
                        next_id += 1;
                    }
                }
            }
            outcomes.push(Ok(group));
        }
        tally.write(&tx).map_err(classify)?;
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
                let _ = reply.send(log::prune(&mut self.conn, policy).map_err(classify));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance::{self, Recorder};
    use crate::store::{EventLog, RunBook, Stores};
    use protocol::EventKind;

    fn open(dir: &Path, listener: Arc<dyn CommitListener>) -> SqliteStore {
        SqliteStore::open(dir, StoreSync::Normal, "test".into(), listener).unwrap()
    }

    #[test]
    fn refuses_a_sqlite_older_than_its_sql() {
        let error = check_sqlite_version(3_023_001, "3.23.1").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("SQLite 3.23.1 is too old (the store needs 3.24 or newer)"),
            "{error}"
        );
        assert!(check_sqlite_version(3_024_000, "3.24.0").is_ok());
        // The one this build linked passes.
        assert!(check_sqlite_version(rusqlite::version_number(), rusqlite::version()).is_ok());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn follows_the_store_contract() {
        let dir = tempfile::tempdir().unwrap();
        let recorder = Arc::new(Recorder::default());
        let store = Stores::of(Arc::new(open(dir.path(), recorder.clone())));
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
        for _ in 0..3 {
            store
                .append(vec![conformance::event("a", EventKind::Step, None)])
                .await
                .unwrap();
        }
        store
            .append(vec![conformance::asked("a", "Ship?")])
            .await
            .unwrap();
        store.close().await;
        let reopened = open(dir.path(), recorder);
        assert_eq!(reopened.last_id().await.unwrap(), 5);
        let run = reopened.run("r1").await.unwrap().unwrap();
        let asked = run.question.expect("the question outlived the restart");
        assert_eq!(
            (asked.event_id, asked.question.question.as_str()),
            (5, "Ship?")
        );
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
    async fn an_older_file_gains_the_new_run_columns_and_typed_questions() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("events.sqlite3")).unwrap();
        conn.execute_batch(
            r#"CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, npc TEXT NOT NULL,
               kind TEXT NOT NULL, run_id TEXT, ts TEXT NOT NULL, stored_ms INTEGER NOT NULL,
               message TEXT, body TEXT NOT NULL);
             CREATE TABLE runs (run_id TEXT PRIMARY KEY, agent TEXT NOT NULL, npc TEXT NOT NULL,
               status TEXT NOT NULL, started_at TEXT NOT NULL, started_ms INTEGER NOT NULL,
               ended_at TEXT, ended_ms INTEGER, result TEXT, error TEXT, callback_digest TEXT,
               question_id INTEGER);
             INSERT INTO runs VALUES ('old', 'a', 'a', 'done', '2025-01-01T00:00:00Z', 0,
               '2025-01-01T00:00:01Z', 1000, NULL, NULL, NULL, NULL);
             INSERT INTO events VALUES (7, 'b', 'awaiting', 'asking', '2025-01-01T00:00:02Z', 2000,
               'Ship?', '{"id":7,"type":"awaiting","ts":"2025-01-01T00:00:02Z","npc":"b","run_id":"asking","question":"Ship?","options":["yes","no"]}');
             INSERT INTO runs VALUES ('asking', 'b', 'b', 'awaiting', '2025-01-01T00:00:01Z', 1000,
               NULL, NULL, NULL, NULL, NULL, 7);"#,
        )
        .unwrap();
        drop(conn);
        let store = open(dir.path(), Arc::new(Recorder::default()));
        let old = store.run("old").await.unwrap().unwrap();
        assert_eq!(old.summary.duration_ms, Some(1000));
        assert_eq!(old.meta.owner, None);
        let asking = store.run("asking").await.unwrap().unwrap();
        let asked = asking
            .question
            .expect("an older file's open question is kept");
        assert_eq!(asked.question.options, ["yes", "no"]);
        assert_eq!(asked.event_id, 7);
    }
}
