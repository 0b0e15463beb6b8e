//! Configuration: one struct, from the command line and the environment, with
//! defaults that run out of the box.

use crate::auth::{Role, TokenTable};
use clap::Parser;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "gateway",
    version,
    about = "Esprit-Hub gateway: SSE hub, agent registry and webhook routing"
)]
pub struct Cli {
    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "PORT", default_value_t = 3001)]
    pub port: u16,

    /// Address to bind. Non-loopback addresses need tokens or --insecure-open.
    #[arg(long, env = "BIND", default_value = "127.0.0.1")]
    pub bind: IpAddr,

    /// The agent registry (`[{agent, npc, webhookUrl, ...}]`), reloaded on change.
    #[arg(long, env = "AGENT_MAP_FILE", default_value = "data/agents.json")]
    pub agent_map_file: PathBuf,

    /// Directory for the event database.
    #[arg(long, env = "DATA_DIR", default_value = "data/db")]
    pub data_dir: PathBuf,

    /// The built browser office.
    #[arg(long, env = "WEB_DIST", default_value = "web/dist")]
    pub web_dist: PathBuf,

    /// Directory of embedded flows (`<name>.ron`).
    #[arg(long, env = "FLOWS_DIR", default_value = "data/flows")]
    pub flows_dir: PathBuf,

    /// Log filter, e.g. `info`, `debug` or `gateway=debug`.
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    pub log_level: String,

    /// URL at which webhooks reach this gateway (used for `callback_url`).
    /// Defaults to `http://<bind>:<port>`.
    #[arg(long, env = "PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Access tokens, `role:token` comma-separated (roles: viewer, operator, publisher).
    #[arg(long = "token", env = "ESPRIT_TOKENS", value_delimiter = ',')]
    pub tokens: Vec<String>,

    /// Ask the gateway running on --port whether it is healthy, then exit
    /// (0 healthy, 1 not): the container health check, with no curl needed.
    #[arg(long)]
    pub healthcheck: bool,

    /// Allow binding a non-loopback address with no tokens (anyone can run agents).
    #[arg(long, env = "INSECURE_OPEN")]
    pub insecure_open: bool,

    /// Seconds before an outbound webhook attempt times out.
    #[arg(long, env = "WEBHOOK_TIMEOUT_SECS", default_value_t = 15.0)]
    pub webhook_timeout_secs: f64,

    /// Attempts per webhook (first try included).
    #[arg(long, env = "WEBHOOK_ATTEMPTS", default_value_t = 4)]
    pub webhook_attempts: u32,

    /// First retry delay in milliseconds; doubles each attempt.
    #[arg(long, env = "WEBHOOK_BACKOFF_MS", default_value_t = 500)]
    pub webhook_backoff_ms: u64,

    /// Largest accepted request body in bytes.
    #[arg(long, env = "BODY_LIMIT", default_value_t = 64 * 1024)]
    pub body_limit: u64,

    /// Events kept per npc (older ones are pruned).
    #[arg(long, env = "RETENTION_EVENTS", default_value_t = 50_000)]
    pub retention_events: u64,

    /// Days events are kept.
    #[arg(long, env = "RETENTION_DAYS", default_value_t = 30)]
    pub retention_days: u64,

    /// `full` fsyncs every commit (survives power loss); `normal` survives process crashes.
    #[arg(long, env = "STORE_SYNC", default_value = "full")]
    pub store_sync: StoreSync,

    /// Events a subscriber may fall behind before it is cut off (it resumes from the store).
    #[arg(long, env = "SUBSCRIBER_QUEUE", default_value_t = 1024)]
    pub subscriber_queue: usize,

    /// Seconds between SSE keep-alive comments.
    #[arg(long, env = "KEEPALIVE_SECS", default_value_t = 15)]
    pub keepalive_secs: u64,

    /// Start random demo runs every few seconds so the office never stands still.
    #[arg(long, env = "DEMO")]
    pub demo: bool,

    /// Sim base URL for API mode (`AP_BASE`), e.g. http://sim:3000.
    #[arg(long, env = "AP_BASE")]
    pub ap_base: Option<String>,

    /// Sim API key for API mode (`AP_TOKEN`).
    #[arg(long, env = "AP_TOKEN", hide_env_values = true)]
    pub ap_token: Option<String>,

    /// Sim workspace id, used to build Studio links (`AP_PROJECT`).
    #[arg(long, env = "AP_PROJECT")]
    pub ap_project: Option<String>,

    /// Sim's public URL as a browser reaches it; `/studio/` redirects here.
    #[arg(long, env = "SIM_PUBLIC_URL")]
    pub sim_public_url: Option<String>,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreSync {
    Full,
    Normal,
}

/// Everything the gateway needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub addr: SocketAddr,
    pub agent_map_file: PathBuf,
    pub data_dir: PathBuf,
    pub web_dist: PathBuf,
    pub flows_dir: PathBuf,
    pub public_url: Option<String>,
    pub tokens: TokenTable,
    pub webhook: WebhookSettings,
    pub body_limit: u64,
    pub retention: Retention,
    pub store_sync: StoreSync,
    pub subscriber_queue: usize,
    pub keepalive: Duration,
    pub demo: bool,
    pub sim: SimSettings,
}

#[derive(Debug, Clone)]
pub struct WebhookSettings {
    pub timeout: Duration,
    pub attempts: u32,
    pub backoff: Duration,
}

#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub events_per_npc: u64,
    pub max_age: Duration,
}

#[derive(Debug, Clone, Default)]
pub struct SimSettings {
    pub api_base: Option<String>,
    pub api_key: Option<String>,
    pub workspace_id: Option<String>,
    pub public_url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("token `{0}` is not `role:token` with role viewer, operator or publisher")]
    BadToken(String),
    #[error(
        "refusing to listen on {0} with no access tokens: anyone on the network could run agents. \
         Set ESPRIT_TOKENS (e.g. operator:<secret>) or pass --insecure-open"
    )]
    OpenOnNetwork(IpAddr),
    #[error("{0} must be a positive number")]
    NotPositive(&'static str),
}

impl Cli {
    pub fn into_config(self) -> Result<Config, ConfigError> {
        let mut tokens = TokenTable::default();
        for entry in self.tokens.iter().filter(|t| !t.trim().is_empty()) {
            let (role, token) = entry
                .split_once(':')
                .ok_or_else(|| ConfigError::BadToken(redact(entry)))?;
            let role: Role = role
                .trim()
                .parse()
                .map_err(|_| ConfigError::BadToken(redact(entry)))?;
            if token.trim().is_empty() {
                return Err(ConfigError::BadToken(redact(entry)));
            }
            tokens.insert(token.trim(), role);
        }
        if !self.bind.is_loopback() && tokens.is_empty() && !self.insecure_open {
            return Err(ConfigError::OpenOnNetwork(self.bind));
        }
        if self.webhook_timeout_secs.is_nan() || self.webhook_timeout_secs <= 0.0 {
            return Err(ConfigError::NotPositive("--webhook-timeout-secs"));
        }
        if self.webhook_attempts == 0 {
            return Err(ConfigError::NotPositive("--webhook-attempts"));
        }
        if self.subscriber_queue == 0 {
            return Err(ConfigError::NotPositive("--subscriber-queue"));
        }
        Ok(Config {
            addr: SocketAddr::new(self.bind, self.port),
            agent_map_file: self.agent_map_file,
            data_dir: self.data_dir,
            web_dist: self.web_dist,
            flows_dir: self.flows_dir,
            public_url: self.public_url.map(|u| u.trim_end_matches('/').to_owned()),
            tokens,
            webhook: WebhookSettings {
                timeout: Duration::from_secs_f64(self.webhook_timeout_secs),
                attempts: self.webhook_attempts,
                backoff: Duration::from_millis(self.webhook_backoff_ms),
            },
            body_limit: self.body_limit,
            retention: Retention {
                events_per_npc: self.retention_events.max(1),
                max_age: Duration::from_secs(self.retention_days.max(1) * 86_400),
            },
            store_sync: self.store_sync,
            subscriber_queue: self.subscriber_queue,
            keepalive: Duration::from_secs(self.keepalive_secs.max(1)),
            demo: self.demo,
            sim: SimSettings {
                api_base: self.ap_base.map(|u| u.trim_end_matches('/').to_owned()),
                api_key: self.ap_token.filter(|t| !t.is_empty()),
                workspace_id: self.ap_project.filter(|p| !p.is_empty()),
                public_url: self
                    .sim_public_url
                    .map(|u| u.trim_end_matches('/').to_owned()),
            },
        })
    }
}

impl Config {
    /// Defaults for a given data dir and registry, as tests and embedders want them.
    pub fn for_paths(agent_map_file: PathBuf, data_dir: PathBuf) -> Config {
        let mut cli = Cli::parse_from(["gateway", "--port", "0"]);
        cli.agent_map_file = agent_map_file;
        cli.data_dir = data_dir;
        cli.into_config().expect("defaults are valid")
    }
}

fn redact(entry: &str) -> String {
    match entry.split_once(':') {
        Some((role, _)) => format!("{role}:…"),
        None => "…".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, ConfigError> {
        let mut all = vec!["gateway"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).unwrap().into_config()
    }

    #[test]
    fn defaults_listen_on_loopback_3001() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.addr.to_string(), "127.0.0.1:3001");
        assert!(config.tokens.is_empty());
    }

    #[test]
    fn network_bind_without_tokens_is_refused() {
        assert!(matches!(
            parse(&["--bind", "0.0.0.0"]),
            Err(ConfigError::OpenOnNetwork(_))
        ));
        assert!(parse(&["--bind", "0.0.0.0", "--insecure-open"]).is_ok());
        assert!(parse(&["--bind", "0.0.0.0", "--token", "operator:s3cret"]).is_ok());
    }

    #[test]
    fn bad_tokens_are_named_without_leaking_the_secret() {
        let err = parse(&["--token", "wizard:s3cret"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("wizard:…") && !err.contains("s3cret"), "{err}");
    }
}
