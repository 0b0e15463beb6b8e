//! How much and how long each client may take: bodies, heads, writes,
//! connections, streams' pacing.

use super::{ConfigError, seconds};
use std::time::Duration;

#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Connections and streams")]
pub struct ConnectionArgs {
    /// Largest accepted request body in bytes.
    #[arg(long, env = "BODY_LIMIT", default_value_t = 64 * 1024)]
    pub body_limit: u64,

    /// Seconds a client has to send a request's head (idle keep-alive connections too).
    #[arg(long, env = "HEADER_TIMEOUT_SECS", default_value_t = 10.0)]
    pub header_timeout_secs: f64,

    /// Seconds a client has to send a request's body.
    #[arg(long, env = "BODY_TIMEOUT_SECS", default_value_t = 30.0)]
    pub body_timeout_secs: f64,

    /// Seconds a client may refuse what it is sent (a stalled stream) before it is dropped.
    #[arg(long, env = "WRITE_TIMEOUT_SECS", default_value_t = 30.0)]
    pub write_timeout_secs: f64,

    /// Most connections open at once; more are refused.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 20_000)]
    pub max_connections: usize,

    /// Most connections open at once from one client address (TRUSTED_PROXIES
    /// excepted); more are refused.
    #[arg(long, env = "CONNECTIONS_PER_CLIENT", default_value_t = 256)]
    pub connections_per_client: usize,

    /// Bytes of buffer per connection (request heads must fit).
    #[arg(long, env = "CONNECTION_BUFFER_BYTES", default_value_t = 16 * 1024)]
    pub connection_buffer_bytes: usize,

    /// Seconds a shutdown waits for open requests before closing them.
    #[arg(long, env = "SHUTDOWN_GRACE_SECS", default_value_t = 10.0)]
    pub shutdown_grace_secs: f64,

    /// Events a subscriber may fall behind before it is cut off (it resumes from the store).
    #[arg(long, env = "SUBSCRIBER_QUEUE", default_value_t = 1024)]
    pub subscriber_queue: usize,

    /// Milliseconds a stream waits after an event for the ones right behind
    /// it, to send them in one write, when events come fast (0: never wait).
    #[arg(long, env = "STREAM_LINGER_MS", default_value_t = 20)]
    pub stream_linger_ms: u64,

    /// Streams wait for the events behind one (up to the linger) only while
    /// the gateway delivers more than this many events a second over all its
    /// streams: below it a write per event costs little, and waiting would
    /// only delay them (0: whenever events come faster than the linger).
    #[arg(long, env = "STREAM_GATHER_ABOVE", default_value_t = 100_000)]
    pub stream_gather_above: u64,

    /// How many steps of OS priority (nice) below the rest of the gateway the
    /// threads that write streams run (Linux): on a saturated machine
    /// publishers are acknowledged first and streams catch up with fewer,
    /// larger writes. 0: the same priority.
    #[arg(long, env = "STREAM_NICE", default_value_t = 2, value_parser = clap::value_parser!(u8).range(0..=19))]
    pub stream_nice: u8,

    /// Seconds between SSE keep-alive comments.
    #[arg(long, env = "KEEPALIVE_SECS", default_value_t = 15)]
    pub keepalive_secs: u64,
}

/// When a stream gathers events into one write: it waits up to `linger`
/// after an event for the ones behind it while the gateway delivers more than
/// `above_per_second` events a second in all.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gathering {
    pub linger: Duration,
    pub above_per_second: f64,
}

impl Gathering {
    /// Every event written as it comes.
    pub const NEVER: Gathering = Gathering {
        linger: Duration::ZERO,
        above_per_second: 0.0,
    };
}

/// How long and how much each client may take.
#[derive(Debug, Clone)]
pub struct Limits {
    pub body_timeout: Duration,
    pub server: crate::server::ServerLimits,
}

impl ConnectionArgs {
    /// The server's limits; `proxies` are exempt from the per-address cap.
    pub fn limits(&self, proxies: Vec<ipnet::IpNet>) -> Result<Limits, ConfigError> {
        if self.subscriber_queue == 0 {
            return Err(ConfigError::NotPositive("--subscriber-queue"));
        }
        Ok(Limits {
            body_timeout: seconds(self.body_timeout_secs, "--body-timeout-secs")?,
            server: crate::server::ServerLimits {
                header_read_timeout: seconds(self.header_timeout_secs, "--header-timeout-secs")?,
                write_timeout: seconds(self.write_timeout_secs, "--write-timeout-secs")?,
                max_buf_size: self.connection_buffer_bytes.max(8192),
                max_connections: self.max_connections.max(1),
                max_connections_per_client: self.connections_per_client.max(1),
                proxies,
                shutdown_grace: seconds(self.shutdown_grace_secs, "--shutdown-grace-secs")?,
            },
        })
    }

    pub fn keepalive(&self) -> Duration {
        Duration::from_secs(self.keepalive_secs.max(1))
    }

    pub fn gathering(&self) -> Gathering {
        Gathering {
            linger: Duration::from_millis(self.stream_linger_ms.min(1000)),
            above_per_second: self.stream_gather_above as f64,
        }
    }
}
