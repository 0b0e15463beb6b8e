//! Where events live, how durably, and for how long.

use super::{ConfigError, seconds};
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "The event store")]
pub struct StoreArgs {
    /// Directory for the event database.
    #[arg(long, env = "DATA_DIR", default_value = "data/db")]
    pub data_dir: PathBuf,

    /// Where events live: unset for the embedded SQLite file in DATA_DIR, or
    /// `redis://host:6379/0` for a log shared by several gateways.
    #[arg(long, env = "STORE_URL")]
    pub store_url: Option<String>,

    /// Prefix of the gateway's keys in Redis.
    #[arg(long, env = "STORE_PREFIX", default_value = "esprit")]
    pub store_prefix: String,

    /// This gateway's name among those sharing a store (default: made up at start).
    #[arg(long, env = "GATEWAY_ID")]
    pub gateway_id: Option<String>,

    /// Seconds after which a gateway that stopped saying it is alive is gone
    /// (its in-process runs end).
    #[arg(long, env = "INSTANCE_TTL_SECS", default_value_t = 15.0)]
    pub instance_ttl_secs: f64,

    /// `full` fsyncs every commit (survives power loss); `normal` survives process crashes.
    #[arg(long, env = "STORE_SYNC", default_value = "full")]
    pub store_sync: StoreSync,

    /// Events kept per npc (older ones are pruned).
    #[arg(long, env = "RETENTION_EVENTS", default_value_t = 50_000)]
    pub retention_events: u64,

    /// Days events are kept.
    #[arg(long, env = "RETENTION_DAYS", default_value_t = 30)]
    pub retention_days: u64,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreSync {
    Full,
    Normal,
}

/// Which store holds the events.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreKind {
    /// The embedded SQLite file in `data_dir`.
    Sqlite,
    Redis {
        url: String,
        prefix: String,
        instance_ttl: Duration,
    },
}

#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub events_per_npc: u64,
    pub max_age: Duration,
}

impl StoreArgs {
    pub fn kind(&self) -> Result<StoreKind, ConfigError> {
        match self
            .store_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
        {
            None | Some("sqlite") => Ok(StoreKind::Sqlite),
            Some(url) if url.starts_with("redis://") || url.starts_with("rediss://") => {
                Ok(StoreKind::Redis {
                    url: url.to_owned(),
                    prefix: self.store_prefix.clone(),
                    instance_ttl: seconds(self.instance_ttl_secs, "--instance-ttl-secs")?,
                })
            }
            Some(other) => Err(ConfigError::BadStoreUrl(super::auth::redact(other))),
        }
    }

    pub fn retention(&self) -> Retention {
        Retention {
            events_per_npc: self.retention_events.max(1),
            max_age: Duration::from_secs(self.retention_days.max(1) * 86_400),
        }
    }

    pub fn gateway_id(&self) -> Option<String> {
        self.gateway_id
            .clone()
            .filter(|id| protocol::is_valid_id(id))
    }
}
