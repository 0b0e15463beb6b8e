//! Durable storage in parts, each a small trait: the event log
//! ([`EventLog`]: append, replay, history), the run book ([`RunBook`]: runs
//! and who may report for them), the sessions ([`SessionStore`]) and the
//! followers' state ([`FollowerState`]: their place, their leases). The
//! embedded SQLite store serves one machine, Redis Streams several gateways;
//! each implements every part, one file per part. Routes, the hub and the
//! core never know which one they have.
//!
//! The log keeps the run records and enforces the run rules atomically with
//! the append (see [`RunRuleError`]), so two gateways sharing one store agree
//! on which run an agent is in; the run book reads what it wrote.

mod event;
mod open_runs;
mod redis;
mod run;
mod sqlite;

pub use event::{
    BROADCAST_NPC, EventFacts, NewEvent, NpcFilter, StoredEvent, envelope_json, envelope_rest,
    human_line,
};
pub use redis::{RedisSettings, RedisStore};
pub use run::{
    Asked, RunCursor, RunMeta, RunQuery, RunRecord, run_duration, run_status_after, status_named,
    summary_bytes,
};
pub use sqlite::SqliteStore;

use async_trait::async_trait;
use std::collections::HashSet;
use std::sync::Arc;

/// A signed-in browser's session, kept by its id's digest.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    pub subject: String,
    pub role: String,
    pub agents: Option<Vec<String>>,
    /// SHA-256 of the credential it was opened with.
    pub source: [u8; 32],
    /// Opened with a JWT (else a configured token).
    pub via_jwt: bool,
    pub expires_ms: i64,
}

/// Told of every commit, in commit (= id) order.
pub trait CommitListener: Send + Sync + 'static {
    fn committed(&self, events: &[Arc<StoredEvent>]);
    /// The store cannot tell of commits for now (a shared log out of reach):
    /// live followers should reconnect and replay once it is back.
    fn interrupted(&self) {}
}

#[derive(Debug, Clone, Copy)]
pub struct RetentionPolicy {
    pub events_per_npc: u64,
    pub max_age_secs: u64,
}

/// The event log: every event in id order, appended under the run rules.
#[async_trait]
pub trait EventLog: Send + Sync + 'static {
    /// Stores the events atomically, applying the run rules; returns them with
    /// their ids once durable. One broken rule refuses the whole batch.
    async fn append(&self, events: Vec<NewEvent>) -> Result<Vec<Arc<StoredEvent>>, StoreError>;
    /// Events with id > `after`, oldest first: at most `limit` of them, and
    /// no more once `max_bytes` of JSON are read (but always at least one).
    async fn read_since(
        &self,
        filter: &NpcFilter,
        after: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<Arc<StoredEvent>>, StoreError>;
    /// Events with id < `before`, the newest `limit` of them, oldest first:
    /// read newest first, and no more once `max_bytes` of JSON are read
    /// (but always at least one).
    async fn history(
        &self,
        npc: Option<&str>,
        before: Option<u64>,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<Arc<StoredEvent>>, StoreError>;
    /// The newest event of each npc, for the status board after a restart.
    async fn latest_per_npc(&self) -> Result<Vec<Arc<StoredEvent>>, StoreError>;
    /// The newest event id.
    async fn last_id(&self) -> Result<u64, StoreError>;
    /// The first event with id >= `id`: its id and when it was stored (Unix
    /// ms); how a moment is found in the log (ids grow with the time).
    async fn first_from(&self, id: u64) -> Result<Option<(u64, i64)>, StoreError>;
    /// Proves the store can take a write (for `/readyz`).
    async fn check_writable(&self) -> Result<(), StoreError>;
    /// Deletes what the policy no longer keeps; returns how many events went.
    async fn prune(&self, policy: RetentionPolicy) -> Result<u64, StoreError>;
    /// Starts telling the listener of commits after `after` (a shared log's
    /// reader); a store that tells as it commits does nothing here.
    fn start_feed(&self, _after: u64) {}
    /// Finishes pending writes; later appends fail.
    async fn close(&self);
}

/// What one npc's events reported over a span of time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UsageRow {
    pub npc: String,
    /// Runs started.
    pub runs: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
}

impl UsageRow {
    pub fn add(&mut self, other: &UsageRow) {
        self.runs += other.runs;
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cost_usd += other.cost_usd;
    }
}

/// The run book: the runs the log's events opened, asked and ended.
#[async_trait]
pub trait RunBook: Send + Sync + 'static {
    /// The newest runs first (see [`RunQuery`]).
    async fn runs(&self, query: RunQuery<'_>) -> Result<Vec<RunRecord>, StoreError>;
    /// How many runs started at or after `since_ms` (Unix milliseconds).
    async fn runs_started_since(&self, since_ms: i64) -> Result<u64, StoreError>;
    async fn run(&self, run_id: &str) -> Result<Option<RunRecord>, StoreError>;
    /// Runs that have not ended.
    async fn open_runs(&self) -> Result<Vec<RunRecord>, StoreError>;
    /// The open run a callback token belongs to (a token another gateway
    /// issued may arrive before this gateway has seen its run start).
    async fn run_for_token(&self, digest: [u8; 32])
    -> Result<Option<(String, String)>, StoreError>;
    /// Gateway instances that are alive (own their in-process runs).
    async fn live_instances(&self) -> Result<HashSet<String>, StoreError>;
    /// Runs started and usage reported per npc, for events whose own time
    /// is in `since_ms..until_ms` (to the minute); kept at append, so as
    /// quick with millions of events as with ten.
    async fn usage(&self, since_ms: i64, until_ms: i64) -> Result<Vec<UsageRow>, StoreError>;
    /// What the runs `by` started at or after `since_ms` cost.
    async fn spent_by(&self, by: &str, since_ms: i64) -> Result<f64, StoreError>;
}

/// What background followers keep (a Sim workspace's place in its log, its
/// workflow list) and which gateway follows what: one lease per follower,
/// so N gateways on a shared store follow a source once.
#[async_trait]
pub trait FollowerState: Send + Sync + 'static {
    async fn state(&self, key: &str) -> Result<Option<String>, StoreError>;
    async fn put_state(&self, key: &str, value: &str) -> Result<(), StoreError>;
    /// Takes lease `name` for `holder` for `ttl`, or renews it when `holder`
    /// has it; true when `holder` holds it now.
    async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<bool, StoreError>;
}

/// Browser sessions, shared by every gateway on the store.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Keeps a session until it expires.
    async fn put_session(&self, id: [u8; 32], session: SessionRecord) -> Result<(), StoreError>;
    /// A session that has not expired.
    async fn session(&self, id: [u8; 32]) -> Result<Option<SessionRecord>, StoreError>;
    async fn drop_session(&self, id: [u8; 32]) -> Result<(), StoreError>;
}

/// One store's parts, as the core holds them.
#[derive(Clone)]
pub struct Stores {
    pub log: Arc<dyn EventLog>,
    pub runs: Arc<dyn RunBook>,
    pub sessions: Arc<dyn SessionStore>,
    pub followers: Arc<dyn FollowerState>,
}

impl Stores {
    pub fn of<S: EventLog + RunBook + SessionStore + FollowerState>(store: Arc<S>) -> Stores {
        Stores {
            log: store.clone(),
            runs: store.clone(),
            sessions: store.clone(),
            followers: store,
        }
    }
}

/// A run rule an append broke. Checked inside the store's transaction, so
/// concurrent appends (from any gateway) cannot both pass.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunRuleError {
    #[error("no run `{0}`")]
    UnknownRun(String),
    #[error("run `{0}` has already ended")]
    RunEnded(String),
    #[error("run `{run_id}` belongs to npc `{owner}`, not `{npc}`")]
    WrongNpc {
        run_id: String,
        npc: String,
        owner: String,
    },
    #[error("npc `{npc}` is already in run `{run_id}`")]
    Busy { npc: String, run_id: String },
    #[error("run `{0}` already exists")]
    RunExists(String),
    #[error("run `{0}` is not waiting for an answer")]
    NotAwaiting(String),
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Rule(#[from] RunRuleError),
    #[error("the disk is full: {0}")]
    DiskFull(String),
    #[error("the database is busy (locked by another writer): {0}")]
    Busy(String),
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the store is closed")]
    Closed,
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
}

impl StoreError {
    /// Whether retrying later may work (the store's trouble, not the request's).
    pub fn is_unavailable(&self) -> bool {
        !matches!(self, StoreError::Rule(_))
    }
}

/// An RFC 3339 time as Unix milliseconds.
pub fn ts_ms(ts: &str) -> Option<i64> {
    time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
}

pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// The store contract as a test suite, for each store's tests.
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
