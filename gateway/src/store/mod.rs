//! Durable event storage behind one small trait: the embedded SQLite store for
//! one machine, Redis Streams for several gateways. Routes and the hub never
//! know which one they have.
//!
//! A store also keeps the run records and enforces the run rules atomically
//! with the append (see [`RunRuleError`]), so two gateways sharing one store
//! agree on which run an agent is in.

mod open_runs;
mod redis;
mod sqlite;

pub use redis::{RedisSettings, RedisStore};
pub use sqlite::SqliteStore;

use async_trait::async_trait;
use protocol::{EventKind, RunSummary};
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

/// An event validated at the edge, not yet stored.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub kind: EventKind,
    pub npc: String,
    /// `None` for an npc-level event; the store attaches the npc's open run, if any.
    pub run_id: Option<String>,
    pub ts: String,
    pub fields: Map<String, Value>,
    /// Set on `started`: what the run's record keeps.
    pub run: Option<RunMeta>,
}

/// What a run's record keeps beyond its events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunMeta {
    pub agent: String,
    /// Who started it.
    pub by: Option<String>,
    /// SHA-256 of the run's callback token, so it survives restarts and other gateways accept it.
    pub callback_digest: Option<[u8; 32]>,
    /// The gateway instance the run lives in, for runs that die with their process (embedded flows).
    pub owner: Option<String>,
    /// A run with no event for this long is ended by the gateway.
    pub deadline_ms: u64,
}

/// A stored event, serialised once and shared by every subscriber.
#[derive(Debug)]
pub struct StoredEvent {
    pub id: u64,
    pub kind: EventKind,
    pub npc: String,
    pub run_id: Option<String>,
    pub ts: String,
    /// The human line (`message`, `error` or `question`), for the roster.
    pub message: Option<String>,
    /// The whole envelope as JSON: the SSE `data:` field and history's entries.
    pub json: Arc<str>,
    /// On `started`: the run's callback token digest (never sent to clients).
    pub callback_digest: Option<[u8; 32]>,
    /// The event's wire frame, encoded once by whoever sends it first.
    pub frame: OnceLock<bytes::Bytes>,
}

impl StoredEvent {
    pub fn new(
        id: u64,
        kind: EventKind,
        npc: String,
        run_id: Option<String>,
        ts: String,
        message: Option<String>,
        json: Arc<str>,
    ) -> StoredEvent {
        StoredEvent {
            id,
            kind,
            npc,
            run_id,
            ts,
            message,
            json,
            callback_digest: None,
            frame: OnceLock::new(),
        }
    }

    pub fn envelope(&self) -> Result<protocol::EventEnvelope, StoreError> {
        serde_json::from_str(&self.json).map_err(|e| StoreError::Corrupt(e.to_string()))
    }
}

/// The npc every subscriber receives, whatever its filter (roster changes).
pub const BROADCAST_NPC: &str = "*";

/// Which npcs a reader wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NpcFilter {
    All,
    Only(HashSet<String>),
}

impl NpcFilter {
    pub fn matches(&self, npc: &str) -> bool {
        match self {
            NpcFilter::All => true,
            NpcFilter::Only(set) => npc == BROADCAST_NPC || set.contains(npc),
        }
    }
}

/// A run as stored.
#[derive(Debug, Clone)]
pub struct RunRecord {
    pub summary: RunSummary,
    pub meta: RunMeta,
    /// Milliseconds since the epoch of the run's latest event.
    pub last_event_ms: i64,
    /// The `awaiting` event the run waits on, if it does.
    pub question: Option<Arc<StoredEvent>>,
}

impl RunRecord {
    pub fn is_open(&self) -> bool {
        self.summary.ended_at.is_none()
    }
}

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

#[async_trait]
pub trait EventStore: Send + Sync + 'static {
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
    /// Events with id < `before`, the newest `limit` of them, oldest first.
    async fn history(
        &self,
        npc: Option<&str>,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Arc<StoredEvent>>, StoreError>;
    /// The newest runs first.
    async fn runs(&self, agent: Option<&str>, limit: usize) -> Result<Vec<RunSummary>, StoreError>;
    /// How many runs started at or after `since_ms` (Unix milliseconds).
    async fn runs_started_since(&self, since_ms: i64) -> Result<u64, StoreError>;
    async fn run(&self, run_id: &str) -> Result<Option<RunRecord>, StoreError>;
    /// Runs that have not ended.
    async fn open_runs(&self) -> Result<Vec<RunRecord>, StoreError>;
    /// The newest event of each npc, for the status board after a restart.
    async fn latest_per_npc(&self) -> Result<Vec<Arc<StoredEvent>>, StoreError>;
    /// The newest event id.
    async fn last_id(&self) -> Result<u64, StoreError>;
    /// Gateway instances that are alive (own their in-process runs).
    async fn live_instances(&self) -> Result<HashSet<String>, StoreError>;
    /// The open run a callback token belongs to (a token another gateway
    /// issued may arrive before this gateway has seen its run start).
    async fn run_for_token(&self, digest: [u8; 32])
    -> Result<Option<(String, String)>, StoreError>;
    /// Keeps a session until it expires.
    async fn put_session(&self, id: [u8; 32], session: SessionRecord) -> Result<(), StoreError>;
    /// A session that has not expired.
    async fn session(&self, id: [u8; 32]) -> Result<Option<SessionRecord>, StoreError>;
    async fn drop_session(&self, id: [u8; 32]) -> Result<(), StoreError>;
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

pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// The status a run's record shows after an event of `kind`.
pub fn run_status_after(kind: EventKind) -> protocol::AgentStatus {
    protocol::AgentStatus::Idle.after(kind)
}

/// The store contract as a test suite, for each store's tests.
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
