//! Redis Streams store, for several gateways sharing one log: the event log
//! (`log.rs`), the run book (`runs.rs`) and the sessions (`sessions.rs`),
//! with each gateway's reader of the shared log in `tail.rs` and the stream
//! entries' fields in `entry.rs`.
//!
//! - Every event is appended by one Lua script (`append.lua`): the run rules
//!   are checked and the batch written atomically; ids come from one counter
//!   (stream ids `0-<id>`), so they are global and increase in commit order.
//!   The script answers once Redis has the batch (with `appendfsync always`,
//!   once it is on disk).
//! - Each event goes to the shared log and to its npc's stream (filtered
//!   replay and history read only what they need).
//! - Each gateway tails the shared log once, on its own connection, and tells
//!   its listener (status board, run tokens, backends, hub) in id order:
//!   subscribers never poll Redis.
//! - Runs, open runs, callback tokens, sessions and live gateways are hashes,
//!   sorted sets and keys beside the log.

mod entry;
mod log;
mod runs;
mod sessions;
mod state;
mod tail;

use super::{CommitListener, StoreError, now_ms};
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::watch;

/// Entries read per query for a page (history, runs): a page of large
/// entries is read a slice at a time and stops at its byte budget.
const READ_SLICE: usize = 32;

/// Where the store is and what it may assume.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    pub url: String,
    /// Prefix of every key (several deployments may share one Redis).
    pub prefix: String,
    /// This gateway.
    pub instance: String,
    /// A gateway that has not said it is alive for this long is gone.
    pub instance_ttl: Duration,
}

pub struct RedisStore {
    conn: ConnectionManager,
    keys: Keys,
    settings: RedisSettings,
    script: redis::Script,
    /// The tailer reads; when it cannot, this gateway is not ready.
    tailing: Arc<AtomicBool>,
    /// The newest id the tailer has delivered.
    tailed: Arc<AtomicU64>,
    stop: watch::Sender<bool>,
    /// What the reader needs, until `start_feed` starts it.
    feed: std::sync::Mutex<Option<(redis::Client, Arc<dyn CommitListener>)>>,
}

/// The store's key names.
#[derive(Clone, Debug)]
struct Keys {
    prefix: String,
}

impl Keys {
    fn log(&self) -> String {
        format!("{}:log", self.prefix)
    }
    fn npc(&self, npc: &str) -> String {
        format!("{}:npc:{npc}", self.prefix)
    }
    fn npcs(&self) -> String {
        format!("{}:npcs", self.prefix)
    }
    fn seq(&self) -> String {
        format!("{}:seq", self.prefix)
    }
    fn run(&self, run_id: &str) -> String {
        format!("{}:run:{run_id}", self.prefix)
    }
    fn open(&self) -> String {
        format!("{}:open", self.prefix)
    }
    fn runs(&self, agent: Option<&str>) -> String {
        match agent {
            Some(agent) => format!("{}:runs:{agent}", self.prefix),
            None => format!("{}:runs", self.prefix),
        }
    }
    fn tokens(&self) -> String {
        format!("{}:tokens", self.prefix)
    }
    fn session(&self, id: &[u8; 32]) -> String {
        format!("{}:session:{}", self.prefix, hex::encode(id))
    }
    fn instances(&self) -> String {
        format!("{}:instances", self.prefix)
    }
    fn probe(&self, instance: &str) -> String {
        format!("{}:probe:{instance}", self.prefix)
    }
    fn prune_lock(&self) -> String {
        format!("{}:prune-lock", self.prefix)
    }
    fn state(&self, key: &str) -> String {
        format!("{}:state:{key}", self.prefix)
    }
    fn lease(&self, name: &str) -> String {
        format!("{}:lease:{name}", self.prefix)
    }
    fn usage_minute(&self, minute: i64) -> String {
        format!("{}:usage:m:{minute}", self.prefix)
    }
    fn usage_hour(&self, hour: i64) -> String {
        format!("{}:usage:h:{hour}", self.prefix)
    }
}

fn unavailable(error: redis::RedisError) -> StoreError {
    StoreError::Unavailable(format!("redis: {error}"))
}

impl RedisStore {
    /// Connects, checks Redis answers and starts the heartbeat; the reader of
    /// the shared log starts with [`EventStore::start_feed`].
    pub async fn open(
        settings: RedisSettings,
        listener: Arc<dyn CommitListener>,
    ) -> Result<RedisStore, StoreError> {
        let client = redis::Client::open(settings.url.as_str())
            .map_err(|e| StoreError::Unavailable(format!("STORE_URL: {e}")))?;
        // Fail fast while Redis is away (a publisher gets its 503 at once);
        // the next command tries to connect again.
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let conn = client
            .get_connection_manager_with_config(config)
            .await
            .map_err(unavailable)?;
        let keys = Keys {
            prefix: settings.prefix.clone(),
        };
        let (stop, stopped) = watch::channel(false);
        let store = RedisStore {
            conn,
            keys,
            script: redis::Script::new(log::APPEND),
            tailing: Arc::new(AtomicBool::new(false)),
            tailed: Arc::new(AtomicU64::new(0)),
            stop,
            settings,
            feed: std::sync::Mutex::new(Some((client, listener))),
        };
        store.beat().await?;
        store.spawn_heartbeat(stopped);
        Ok(store)
    }

    /// Says this gateway is alive (it owns its in-process runs).
    async fn beat(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let now = now_ms();
        let stale = now - self.settings.instance_ttl.as_millis() as i64 * 10;
        redis::pipe()
            .zadd(self.keys.instances(), &self.settings.instance, now)
            .ignore()
            .cmd("ZREMRANGEBYSCORE")
            .arg(self.keys.instances())
            .arg("-inf")
            .arg(stale)
            .ignore()
            .query_async::<()>(&mut conn)
            .await
            .map_err(unavailable)
    }

    fn spawn_heartbeat(&self, mut stopped: watch::Receiver<bool>) {
        let (conn, keys, settings) = (self.conn.clone(), self.keys.clone(), self.settings.clone());
        let every = (settings.instance_ttl / 3).max(Duration::from_millis(100));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stopped.changed() => break,
                }
                let mut conn = conn.clone();
                let beat: Result<(), _> = conn
                    .zadd(keys.instances(), &settings.instance, now_ms())
                    .await;
                if let Err(e) = beat {
                    tracing::warn!(error = %e, "redis: heartbeat failed");
                }
            }
        });
    }

    /// The one reader of the shared log in this gateway.
    /// The event id this gateway's tailer has delivered up to.
    pub fn tailed(&self) -> u64 {
        self.tailed.load(Ordering::Relaxed)
    }

    fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }
}
