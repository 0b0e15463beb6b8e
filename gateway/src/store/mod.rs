//! Durable event storage behind one small trait, so the embedded SQLite store
//! and a distributed log can be swapped without touching routes or the hub.

mod sqlite;

pub use sqlite::SqliteStore;

use async_trait::async_trait;
use protocol::{EventKind, RunSummary};
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::sync::Arc;

/// An event validated at the edge, not yet stored.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub kind: EventKind,
    pub npc: String,
    pub run_id: Option<String>,
    pub ts: String,
    pub fields: Map<String, Value>,
    /// For `started`: the agent the run belongs to (recorded in the run's row).
    pub agent: Option<String>,
    /// For `started`: SHA-256 (hex) of the run's callback token, so it survives restarts.
    pub callback_digest: Option<String>,
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
    /// The SSE `data:` field: the whole envelope as JSON.
    pub json: Arc<str>,
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

/// A run as stored, with what answering or cancelling it needs.
#[derive(Debug, Clone)]
pub struct RunRecord {
    pub summary: RunSummary,
    pub callback_digest: Option<String>,
}

/// Told of every commit, in commit (= id) order, before the writer acknowledges it.
pub trait CommitListener: Send + Sync + 'static {
    fn committed(&self, events: &[Arc<StoredEvent>]);
}

#[derive(Debug, Clone, Copy)]
pub struct RetentionPolicy {
    pub events_per_npc: u64,
    pub max_age_secs: u64,
}

#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Stores the events atomically; returns them with their ids once durable.
    async fn append(&self, events: Vec<NewEvent>) -> Result<Vec<Arc<StoredEvent>>, StoreError>;
    /// Events with id > `after`, oldest first.
    async fn read_since(
        &self,
        filter: &NpcFilter,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Arc<StoredEvent>>, StoreError>;
    /// Events with id < `before` (newest first in the store, returned oldest first).
    async fn history(
        &self,
        npc: Option<&str>,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Arc<StoredEvent>>, StoreError>;
    async fn runs(&self, agent: Option<&str>, limit: usize) -> Result<Vec<RunSummary>, StoreError>;
    async fn run(&self, run_id: &str) -> Result<Option<RunRecord>, StoreError>;
    /// The newest event of `kind` in a run (e.g. the question a run waits on).
    async fn last_of_run(
        &self,
        run_id: &str,
        kind: EventKind,
    ) -> Result<Option<Arc<StoredEvent>>, StoreError>;
    /// Runs that have not ended, for restoring callback tokens after a restart.
    async fn open_runs(&self) -> Result<Vec<RunRecord>, StoreError>;
    /// The newest event of each npc, for the roster after a restart.
    async fn latest_per_npc(&self) -> Result<Vec<Arc<StoredEvent>>, StoreError>;
    async fn last_id(&self) -> Result<u64, StoreError>;
    /// Proves the store can take a write (for `/readyz`).
    async fn check_writable(&self) -> Result<(), StoreError>;
    /// Deletes what the policy no longer keeps; returns how many events went.
    async fn prune(&self, policy: RetentionPolicy) -> Result<u64, StoreError>;
    /// Finishes pending writes; later appends fail.
    async fn close(&self);
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Sqlite(#[from] r2d2_sqlite::rusqlite::Error),
    #[error("database pool: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("stored event is corrupt: {0}")]
    Corrupt(String),
    #[error("the store is closed")]
    Closed,
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
}
