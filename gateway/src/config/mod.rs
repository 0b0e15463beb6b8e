//! Configuration: one struct, from the command line and the environment, with
//! defaults that run out of the box. The command line is a few groups, each
//! in its own file with its conversion (`auth.rs`, `edge.rs`,
//! `connection.rs`, `store.rs`, `runs.rs`, `sim.rs`); [`Cli::into_config`]
//! checks them and puts the parts together.

mod auth;
mod connection;
mod edge;
mod runs;
mod sim;
mod store;
mod telemetry;

pub use auth::{AuthSettings, JwtKey, JwtSettings, MIN_JWT_SECRET_BYTES, MIN_TOKEN_CHARS};
pub use connection::{Gathering, Limits};
pub use edge::EdgeSettings;
pub use runs::OutboundSettings;
pub use sim::SimSettings;
pub use store::{Retention, StoreKind, StoreSync};
pub use telemetry::TelemetrySettings;

use clap::Parser;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;
use tracing_subscriber::filter::Targets;

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

    /// The built browser office.
    #[arg(long, env = "WEB_DIST", default_value = "web/dist")]
    pub web_dist: PathBuf,

    /// The office map (`office.tmj`, from Tiled) and its tileset, served at
    /// `/office/`: edit the map in Tiled, save, and reload the page.
    #[arg(long, env = "OFFICE_DIR", default_value = "assets/office")]
    pub office_dir: PathBuf,

    /// Log filter: a level (`info`, `debug`) and/or `target=level` pairs,
    /// comma-separated, e.g. `info,gateway::store=debug`. warp logs only its
    /// errors unless named here: the gateway's own logs say what matters.
    #[arg(long, env = "LOG_LEVEL", default_value = "info", value_parser = log_filter)]
    pub log_level: Targets,

    /// URL at which webhooks reach this gateway (used for `callback_url`).
    /// Defaults to `http://<bind>:<port>`.
    #[arg(long, env = "PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Ask the gateway running on --port whether it is healthy, then exit
    /// (0 healthy, 1 not): the container health check, with no curl needed.
    #[arg(long)]
    pub healthcheck: bool,

    /// Allow binding a non-loopback address with no tokens (anyone can run agents).
    #[arg(long, env = "INSECURE_OPEN")]
    pub insecure_open: bool,

    #[command(flatten)]
    pub auth: auth::AuthArgs,

    #[command(flatten)]
    pub edge: edge::EdgeArgs,

    #[command(flatten)]
    pub connection: connection::ConnectionArgs,

    #[command(flatten)]
    pub store: store::StoreArgs,

    #[command(flatten)]
    pub runs: runs::RunArgs,

    #[command(flatten)]
    pub sim: sim::SimArgs,

    #[command(flatten)]
    pub telemetry: telemetry::TelemetryArgs,
}

/// Everything the gateway needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub addr: SocketAddr,
    pub agent_map_file: PathBuf,
    pub data_dir: PathBuf,
    pub store: StoreKind,
    pub gateway_id: Option<String>,
    pub web_dist: PathBuf,
    pub office_dir: PathBuf,
    pub flows_dir: PathBuf,
    pub public_url: Option<String>,
    pub auth: AuthSettings,
    pub edge: EdgeSettings,
    pub outbound: OutboundSettings,
    pub run_deadline: Duration,
    pub run_sweep: Duration,
    pub flow_seed: Option<u64>,
    pub body_limit: u64,
    pub retention: Retention,
    pub store_sync: StoreSync,
    pub subscriber_queue: usize,
    pub keepalive: Duration,
    pub stream_gathering: Gathering,
    pub stream_nice: u8,
    pub office_gateways: Vec<String>,
    pub metrics_token: Option<String>,
    pub demo: bool,
    pub sim: SimSettings,
    pub limits: Limits,
    pub telemetry: TelemetrySettings,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "token `{0}` is not `role:name:token` (or `role:token`) with role viewer, operator or publisher"
    )]
    BadToken(String),
    #[error("AP_BASE `{0}` must be an http(s) URL")]
    BadApBase(String),
    #[error("{0} `{1}` must be a number of seconds from 0.1 to 3600")]
    BadSeconds(&'static str, f64),
    #[error("STORE_URL `{0}` must be `redis://host:port/db` (or unset for the embedded store)")]
    BadStoreUrl(String),
    #[error(
        "refusing to listen on {0} with no access tokens: anyone on the network could run agents. \
         Set ESPRIT_TOKENS (e.g. operator:<secret>) or pass --insecure-open"
    )]
    OpenOnNetwork(IpAddr),
    #[error("set either ESPRIT_JWT_SECRET or ESPRIT_JWT_PUBLIC_KEY_FILE, not both")]
    TwoJwtKeys,
    #[error(
        "the token for `{name}` is {chars} characters; use at least {MIN_TOKEN_CHARS} (e.g. `openssl rand -hex 16`)"
    )]
    ShortToken { name: String, chars: usize },
    #[error(
        "ESPRIT_JWT_SECRET is {0} bytes; an HS256 secret needs at least {MIN_JWT_SECRET_BYTES} (e.g. `openssl rand -hex 32`)"
    )]
    ShortJwtSecret(usize),
    #[error(
        "with a JWT key set, ESPRIT_JWT_AUDIENCE must name this gateway's audience (the `aud` its tokens carry)"
    )]
    NoJwtAudience,
    #[error("{0} must be a positive number")]
    NotPositive(&'static str),
    #[error(
        "{name}: `{value}` is not an origin such as https://gw.example or http://127.0.0.1:3001"
    )]
    BadOrigin { name: &'static str, value: String },
}

/// A number of seconds from the command line: positive and finite.
fn seconds(value: f64, name: &'static str) -> Result<Duration, ConfigError> {
    if value.is_finite() && value > 0.0 && value < 1e9 {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(ConfigError::NotPositive(name))
    }
}

impl Cli {
    pub fn into_config(self) -> Result<Config, ConfigError> {
        let public_url = self
            .public_url
            .as_deref()
            .map(|u| u.trim_end_matches('/').to_owned());
        let https = public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"));
        let metrics_token = self.auth.metrics_token.clone().filter(|t| !t.is_empty());
        let auth = self.auth.settings(https)?;
        if !self.bind.is_loopback() && !auth.is_configured() && !self.insecure_open {
            return Err(ConfigError::OpenOnNetwork(self.bind));
        }
        let edge = self.edge.settings(edge::Reached {
            bind: self.bind,
            public_url: public_url.as_deref(),
            asks_who: auth.is_configured(),
        });
        let run_deadline = self.runs.deadline()?;
        Ok(Config {
            addr: SocketAddr::new(self.bind, self.port),
            agent_map_file: self.agent_map_file,
            data_dir: self.store.data_dir.clone(),
            store: self.store.kind()?,
            gateway_id: self.store.gateway_id(),
            web_dist: self.web_dist,
            office_dir: self.office_dir,
            flows_dir: self.runs.flows_dir.clone(),
            public_url,
            auth,
            limits: self.connection.limits(edge.trusted_proxies.clone())?,
            office_gateways: self.edge.office_gateways()?,
            edge,
            outbound: self.runs.outbound()?,
            run_deadline,
            run_sweep: self.runs.sweep()?,
            flow_seed: self.runs.flow_seed,
            body_limit: self.connection.body_limit,
            retention: self.store.retention(),
            store_sync: self.store.store_sync,
            subscriber_queue: self.connection.subscriber_queue,
            keepalive: self.connection.keepalive(),
            stream_gathering: self.connection.gathering(),
            stream_nice: self.connection.stream_nice,
            metrics_token,
            demo: self.runs.demo,
            sim: self.sim.settings(run_deadline)?,
            telemetry: self.telemetry.settings()?,
        })
    }
}

impl Config {
    /// Defaults for a given data dir and registry, as tests and embedders want them.
    pub fn for_paths(agent_map_file: PathBuf, data_dir: PathBuf) -> Config {
        let mut cli = Cli::parse_from(["gateway", "--port", "0"]);
        cli.agent_map_file = agent_map_file;
        cli.store.data_dir = data_dir;
        cli.into_config().expect("defaults are valid")
    }
}

/// `LOG_LEVEL` as a per-target filter, warp at `error` unless the value names it.
fn log_filter(value: &str) -> Result<Targets, tracing_subscriber::filter::ParseError> {
    format!("warp=error,{value}").parse()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;

    fn parse(args: &[&str]) -> Result<Config, ConfigError> {
        parse_cli(args).into_config()
    }

    #[test]
    fn defaults_listen_on_loopback_3001() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.addr.to_string(), "127.0.0.1:3001");
        assert!(!config.auth.is_configured());
    }

    #[test]
    fn network_bind_without_tokens_is_refused() {
        assert!(matches!(
            parse(&["--bind", "0.0.0.0"]),
            Err(ConfigError::OpenOnNetwork(_))
        ));
        assert!(parse(&["--bind", "0.0.0.0", "--insecure-open"]).is_ok());
        assert!(
            parse(&[
                "--bind",
                "0.0.0.0",
                "--token",
                "operator:s3cret-s3cret-s3cret"
            ])
            .is_ok()
        );
    }

    #[test]
    fn tokens_carry_a_name() {
        let config = parse(&[
            "--token",
            "operator:alice:s3cret-alice-0123,viewer:v13w-v13w-v13w-v13w",
        ])
        .unwrap();
        let alice = config.auth.tokens.get("s3cret-alice-0123").unwrap();
        assert_eq!(
            (alice.subject.as_str(), alice.role),
            ("alice", Role::Operator)
        );
        let viewer = config.auth.tokens.get("v13w-v13w-v13w-v13w").unwrap();
        assert_eq!(viewer.subject, "viewer");
    }

    #[test]
    fn bad_tokens_are_named_without_leaking_the_secret() {
        let err = parse(&["--token", "wizard:s3cret"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("wizard:…") && !err.contains("s3cret"), "{err}");
    }

    #[test]
    fn guessable_credentials_are_refused_at_start() {
        let short = parse(&["--token", "operator:alice:s3cret"]).unwrap_err();
        assert_eq!(
            short.to_string(),
            "the token for `alice` is 6 characters; use at least 16 (e.g. `openssl rand -hex 16`)"
        );
        let secret = "k".repeat(MIN_JWT_SECRET_BYTES - 1);
        let weak = parse(&["--jwt-secret", &secret, "--jwt-audience", "office"]).unwrap_err();
        assert!(matches!(weak, ConfigError::ShortJwtSecret(31)), "{weak}");
        let secret = "k".repeat(32);
        let unaimed = parse(&["--jwt-secret", &secret]).unwrap_err();
        assert!(
            unaimed.to_string().contains("ESPRIT_JWT_AUDIENCE"),
            "{unaimed}"
        );
        assert!(parse(&["--jwt-secret", &secret, "--jwt-audience", "office"]).is_ok());
    }

    #[test]
    fn log_filter_quiets_warp_unless_named_and_refuses_unknown_levels() {
        use tracing::Level;
        let quiet = parse_cli(&["--log-level", "debug"]).log_level;
        assert!(quiet.would_enable("gateway::store", &Level::DEBUG));
        assert!(!quiet.would_enable("warp::filters", &Level::WARN));
        assert!(quiet.would_enable("warp::filters", &Level::ERROR));

        let named = parse_cli(&["--log-level", "info,warp=debug"]).log_level;
        assert!(named.would_enable("warp::filters", &Level::DEBUG));
        assert!(!named.would_enable("gateway::store", &Level::DEBUG));

        let err = Cli::try_parse_from(["gateway", "--log-level", "gateway=loud"]).unwrap_err();
        assert!(err.to_string().contains("--log-level"), "{err}");
    }

    fn parse_cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once(&"gateway").chain(args)).unwrap()
    }
}
