//! Configuration: one struct, from the command line and the environment, with
//! defaults that run out of the box.

use crate::auth::{AgentScope, Identity, Role, TokenTable};
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

    /// The built browser office.
    #[arg(long, env = "WEB_DIST", default_value = "web/dist")]
    pub web_dist: PathBuf,

    /// The office map (`office.tmj`, from Tiled) and its tileset, served at
    /// `/office/`: edit the map in Tiled, save, and reload the page.
    #[arg(long, env = "OFFICE_DIR", default_value = "assets/office")]
    pub office_dir: PathBuf,

    /// Directory of embedded flows (`<name>.ron`).
    #[arg(long, env = "FLOWS_DIR", default_value = "data/flows")]
    pub flows_dir: PathBuf,

    /// Log filter: a level (`info`, `debug`) and/or `target=level` pairs,
    /// comma-separated, e.g. `info,gateway::store=debug`. warp logs only its
    /// errors unless named here: the gateway's own logs say what matters.
    #[arg(long, env = "LOG_LEVEL", default_value = "info", value_parser = log_filter)]
    pub log_level: Targets,

    /// URL at which webhooks reach this gateway (used for `callback_url`).
    /// Defaults to `http://<bind>:<port>`.
    #[arg(long, env = "PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Access tokens, comma-separated `role:name:token` (or `role:token`, named
    /// after the role); roles: viewer, operator, publisher.
    #[arg(
        long = "token",
        env = "ESPRIT_TOKENS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub tokens: Vec<String>,

    /// A users file: `[{"name", "role", "tokenSha256", "agents"}]`, reloaded on change.
    #[arg(long, env = "ESPRIT_USERS_FILE")]
    pub users_file: Option<PathBuf>,

    /// Verify JWTs signed with this shared secret (HS256).
    #[arg(long, env = "ESPRIT_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Verify JWTs signed with this PEM public key (RS256, ES256 or EdDSA).
    #[arg(long, env = "ESPRIT_JWT_PUBLIC_KEY_FILE")]
    pub jwt_public_key_file: Option<PathBuf>,

    /// The `iss` JWTs must carry.
    #[arg(long, env = "ESPRIT_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,

    /// The `aud` JWTs must carry.
    #[arg(long, env = "ESPRIT_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,

    /// Hours a browser session lasts after signing in.
    #[arg(long, env = "SESSION_HOURS", default_value_t = 12.0)]
    pub session_hours: f64,

    /// Mark the session cookie `Secure` (set it when the office is served over HTTPS;
    /// on by default when PUBLIC_URL is https).
    #[arg(long, env = "SECURE_COOKIES")]
    pub secure_cookies: bool,

    /// Host names the gateway answers to, comma-separated (defaults to loopback
    /// names and PUBLIC_URL's host when no tokens are set; anything when tokens are set).
    #[arg(long, env = "ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,

    /// Other gateways the browser office may be pointed at with `?gateway=`
    /// (origins such as `https://gw2.example`, comma-separated): the page's
    /// Content-Security-Policy lets it connect there and nowhere else.
    #[arg(long, env = "OFFICE_GATEWAYS", value_delimiter = ',')]
    pub office_gateways: Vec<String>,

    /// Other origins whose pages may send changes (`https://ops.example`), comma-separated.
    #[arg(long, env = "ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// Your own reverse proxies, whose `X-Forwarded-For` names the client:
    /// their exact addresses (`172.28.0.10/32`), never a client range, since a
    /// client in the list could name any address it likes. None by default.
    #[arg(long, env = "TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// Runs, cancels and answers per minute, per person and per client address (0: no limit).
    #[arg(long, env = "RUNS_PER_MINUTE", default_value_t = 120)]
    pub runs_per_minute: u32,

    /// Publish requests per second, per token and per client address (0: no limit).
    #[arg(long, env = "PUBLISHES_PER_SECOND", default_value_t = 2000)]
    pub publishes_per_second: u32,

    /// Sign-in attempts per minute per client address (0: no limit).
    #[arg(long, env = "SIGN_INS_PER_MINUTE", default_value_t = 10)]
    pub sign_ins_per_minute: u32,

    /// Wrong tokens per minute per client address, on any route; past it the
    /// address gets 429 until the minute's budget refills (0: no limit).
    #[arg(long, env = "AUTH_FAILURES_PER_MINUTE", default_value_t = 20)]
    pub auth_failures_per_minute: u32,

    /// Open streams per client address.
    #[arg(long, env = "STREAMS_PER_CLIENT", default_value_t = 64)]
    pub streams_per_client: usize,

    /// Open streams in all.
    #[arg(long, env = "MAX_STREAMS", default_value_t = 20_000)]
    pub max_streams: usize,

    /// Ask the gateway running on --port whether it is healthy, then exit
    /// (0 healthy, 1 not): the container health check, with no curl needed.
    #[arg(long)]
    pub healthcheck: bool,

    /// Allow binding a non-loopback address with no tokens (anyone can run agents).
    #[arg(long, env = "INSECURE_OPEN")]
    pub insecure_open: bool,

    /// Seconds before one outbound request (a webhook attempt, a poll) times out.
    #[arg(long, env = "WEBHOOK_TIMEOUT_SECS", default_value_t = 15.0)]
    pub webhook_timeout_secs: f64,

    /// Seconds to wait for an outbound connection.
    #[arg(long, env = "CONNECT_TIMEOUT_SECS", default_value_t = 5.0)]
    pub connect_timeout_secs: f64,

    /// A run with no event for this long ends as `error` (an agent's
    /// `deadlineSecs` overrides it); also how long Sim's stream may stay silent.
    #[arg(long, env = "RUN_DEADLINE_SECS", default_value_t = 600.0)]
    pub run_deadline_secs: f64,

    /// Seconds between checks for runs past their deadline.
    #[arg(long, env = "RUN_SWEEP_SECS", default_value_t = 5.0, hide = true)]
    pub run_sweep_secs: f64,

    /// Seed for embedded flows' randomness (repeatable demos and tests).
    #[arg(long, env = "FLOW_SEED", hide = true)]
    pub flow_seed: Option<u64>,

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

    /// Milliseconds a stream waits after an event for the ones right behind
    /// it, to send them in one write, when events come fast (0: never wait).
    #[arg(long, env = "STREAM_LINGER_MS", default_value_t = 20)]
    pub stream_linger_ms: u64,

    /// Seconds between SSE keep-alive comments.
    #[arg(long, env = "KEEPALIVE_SECS", default_value_t = 15)]
    pub keepalive_secs: u64,

    /// When set, `/metrics` answers only requests bearing this token.
    #[arg(long, env = "METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,

    /// Start random demo runs every few seconds so the office never stands still.
    #[arg(long, env = "DEMO")]
    pub demo: bool,

    /// Sim base URL for API mode (`AP_BASE`), e.g. http://sim:3000.
    #[arg(long, env = "AP_BASE")]
    pub ap_base: Option<url::Url>,

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
    pub stream_linger: Duration,
    pub office_gateways: Vec<String>,
    pub metrics_token: Option<String>,
    pub demo: bool,
    pub sim: SimSettings,
    pub limits: Limits,
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

/// Who can sign in, and how.
#[derive(Debug, Clone, Default)]
pub struct AuthSettings {
    pub tokens: TokenTable,
    pub users_file: Option<PathBuf>,
    pub jwt: Option<JwtSettings>,
    pub session_lifetime: Duration,
    pub secure_cookies: bool,
}

impl AuthSettings {
    /// Anything that makes the gateway ask who is calling.
    pub fn is_configured(&self) -> bool {
        !self.tokens.is_empty() || self.users_file.is_some() || self.jwt.is_some()
    }
}

#[derive(Debug, Clone)]
pub enum JwtKey {
    Secret(String),
    PublicKeyFile(PathBuf),
}

#[derive(Debug, Clone)]
pub struct JwtSettings {
    pub key: JwtKey,
    pub issuer: Option<String>,
    /// Required: a token minted for another service is not one for us.
    pub audience: String,
}

/// The shortest configured token, and the shortest HS256 secret, accepted:
/// guessing either must be out of reach.
pub const MIN_TOKEN_CHARS: usize = 16;
pub const MIN_JWT_SECRET_BYTES: usize = 32;

/// What the edge checks before anything reaches the core.
#[derive(Debug, Clone)]
pub struct EdgeSettings {
    /// `None`: any Host.
    pub allowed_hosts: Option<Vec<String>>,
    pub allowed_origins: Vec<String>,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub runs_per_minute: u32,
    pub publishes_per_second: u32,
    pub sign_ins_per_minute: u32,
    pub auth_failures_per_minute: u32,
    pub streams_per_client: usize,
    pub max_streams: usize,
}

/// How long and how much each client may take.
#[derive(Debug, Clone)]
pub struct Limits {
    pub body_timeout: Duration,
    pub server: crate::server::ServerLimits,
}

#[derive(Debug, Clone)]
pub struct OutboundSettings {
    pub connect_timeout: Duration,
    /// One request: a webhook attempt, a poll, a log read (not a whole Sim run).
    pub attempt_timeout: Duration,
    pub attempts: u32,
    pub backoff: Duration,
}

#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub events_per_npc: u64,
    pub max_age: Duration,
}

#[derive(Debug, Clone)]
pub struct SimSettings {
    /// `AP_BASE`, with a trailing slash so API paths join under it.
    pub api_base: Option<url::Url>,
    pub api_key: Option<String>,
    pub workspace_id: Option<String>,
    pub public_url: Option<String>,
    /// How long Sim's stream may stay silent before the run fails.
    pub stream_idle: Duration,
}

impl Default for SimSettings {
    fn default() -> Self {
        SimSettings {
            api_base: None,
            api_key: None,
            workspace_id: None,
            public_url: None,
            stream_idle: Duration::from_secs(600),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "token `{0}` is not `role:name:token` (or `role:token`) with role viewer, operator or publisher"
    )]
    BadToken(String),
    #[error("AP_BASE `{0}` must be an http(s) URL")]
    BadApBase(String),
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

impl Cli {
    pub fn into_config(self) -> Result<Config, ConfigError> {
        let mut tokens = TokenTable::default();
        for entry in self.tokens.iter().filter(|t| !t.trim().is_empty()) {
            let (identity, token) = parse_token(entry)?;
            tokens.insert(token, identity);
        }
        let jwt = match (
            self.jwt_secret.filter(|s| !s.is_empty()),
            self.jwt_public_key_file,
        ) {
            (Some(_), Some(_)) => return Err(ConfigError::TwoJwtKeys),
            (Some(secret), None) => Some(JwtKey::Secret(secret)),
            (None, Some(path)) => Some(JwtKey::PublicKeyFile(path)),
            (None, None) => None,
        }
        .map(|key| -> Result<JwtSettings, ConfigError> {
            if let JwtKey::Secret(secret) = &key
                && secret.len() < MIN_JWT_SECRET_BYTES
            {
                return Err(ConfigError::ShortJwtSecret(secret.len()));
            }
            let audience = self
                .jwt_audience
                .filter(|a| !a.trim().is_empty())
                .ok_or(ConfigError::NoJwtAudience)?;
            Ok(JwtSettings {
                key,
                issuer: self.jwt_issuer,
                audience,
            })
        })
        .transpose()?;
        let public_url = self.public_url.map(|u| u.trim_end_matches('/').to_owned());
        let auth = AuthSettings {
            tokens,
            users_file: self.users_file,
            jwt,
            session_lifetime: Duration::from_secs_f64(
                (self.session_hours.clamp(1.0 / 60.0, 24.0 * 30.0)) * 3600.0,
            ),
            secure_cookies: self.secure_cookies
                || public_url
                    .as_deref()
                    .is_some_and(|u| u.starts_with("https://")),
        };
        if !self.bind.is_loopback() && !auth.is_configured() && !self.insecure_open {
            return Err(ConfigError::OpenOnNetwork(self.bind));
        }
        let mut allowed_hosts: Vec<String> = self
            .allowed_hosts
            .iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        // An open gateway answers only to the names it is reached by: a DNS
        // rebinding page cannot borrow the browser's access to it.
        if allowed_hosts.is_empty() && !auth.is_configured() {
            allowed_hosts = ["localhost", "127.0.0.1", "::1"]
                .map(str::to_owned)
                .to_vec();
            if !self.bind.is_unspecified() {
                allowed_hosts.push(self.bind.to_string());
            }
            if let Some(host) = public_url
                .as_deref()
                .and_then(|u| url::Url::parse(u).ok())
                .and_then(|u| u.host_str().map(str::to_owned))
            {
                allowed_hosts.push(host.trim_matches(['[', ']']).to_ascii_lowercase());
            }
        }
        let edge = EdgeSettings {
            allowed_hosts: (!allowed_hosts.is_empty()).then_some(allowed_hosts),
            allowed_origins: self
                .allowed_origins
                .iter()
                .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase())
                .filter(|o| !o.is_empty())
                .collect(),
            trusted_proxies: self.trusted_proxies.clone(),
            runs_per_minute: self.runs_per_minute,
            publishes_per_second: self.publishes_per_second,
            sign_ins_per_minute: self.sign_ins_per_minute,
            auth_failures_per_minute: self.auth_failures_per_minute,
            streams_per_client: self.streams_per_client.max(1),
            max_streams: self.max_streams.max(1),
        };
        let seconds = |value: f64, name: &'static str| {
            if value.is_finite() && value > 0.0 && value < 1e9 {
                Ok(Duration::from_secs_f64(value))
            } else {
                Err(ConfigError::NotPositive(name))
            }
        };
        let attempt_timeout = seconds(self.webhook_timeout_secs, "--webhook-timeout-secs")?;
        let connect_timeout = seconds(self.connect_timeout_secs, "--connect-timeout-secs")?;
        let run_deadline = seconds(self.run_deadline_secs, "--run-deadline-secs")?;
        let run_sweep = seconds(self.run_sweep_secs, "--run-sweep-secs")?;
        let store = match self
            .store_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
        {
            None | Some("sqlite") => StoreKind::Sqlite,
            Some(url) if url.starts_with("redis://") || url.starts_with("rediss://") => {
                StoreKind::Redis {
                    url: url.to_owned(),
                    prefix: self.store_prefix.clone(),
                    instance_ttl: seconds(self.instance_ttl_secs, "--instance-ttl-secs")?,
                }
            }
            Some(other) => return Err(ConfigError::BadStoreUrl(redact(other))),
        };
        let limits = Limits {
            body_timeout: seconds(self.body_timeout_secs, "--body-timeout-secs")?,
            server: crate::server::ServerLimits {
                header_read_timeout: seconds(self.header_timeout_secs, "--header-timeout-secs")?,
                write_timeout: seconds(self.write_timeout_secs, "--write-timeout-secs")?,
                max_buf_size: self.connection_buffer_bytes.max(8192),
                max_connections: self.max_connections.max(1),
                max_connections_per_client: self.connections_per_client.max(1),
                proxies: self.trusted_proxies.clone(),
                shutdown_grace: seconds(self.shutdown_grace_secs, "--shutdown-grace-secs")?,
            },
        };
        let ap_base = match self.ap_base {
            Some(mut url) if matches!(url.scheme(), "http" | "https") => {
                if !url.path().ends_with('/') {
                    let path = format!("{}/", url.path());
                    url.set_path(&path);
                }
                Some(url)
            }
            Some(url) => return Err(ConfigError::BadApBase(url.to_string())),
            None => None,
        };
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
            store,
            gateway_id: self.gateway_id.filter(|id| protocol::is_valid_id(id)),
            web_dist: self.web_dist,
            office_dir: self.office_dir,
            flows_dir: self.flows_dir,
            public_url,
            auth,
            edge,
            outbound: OutboundSettings {
                connect_timeout,
                attempt_timeout,
                attempts: self.webhook_attempts,
                backoff: Duration::from_millis(self.webhook_backoff_ms),
            },
            run_deadline,
            run_sweep,
            flow_seed: self.flow_seed,
            body_limit: self.body_limit,
            retention: Retention {
                events_per_npc: self.retention_events.max(1),
                max_age: Duration::from_secs(self.retention_days.max(1) * 86_400),
            },
            store_sync: self.store_sync,
            subscriber_queue: self.subscriber_queue,
            keepalive: Duration::from_secs(self.keepalive_secs.max(1)),
            stream_linger: Duration::from_millis(self.stream_linger_ms.min(1000)),
            office_gateways: parse_origins(&self.office_gateways, "OFFICE_GATEWAYS")?,
            metrics_token: self.metrics_token.filter(|t| !t.is_empty()),
            demo: self.demo,
            limits,
            sim: SimSettings {
                stream_idle: run_deadline,
                api_base: ap_base,
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

/// Origins (`scheme://host[:port]`), each checked: they go into a header.
fn parse_origins(list: &[String], name: &'static str) -> Result<Vec<String>, ConfigError> {
    list.iter()
        .map(|o| o.trim())
        .filter(|o| !o.is_empty())
        .map(|o| match url::Url::parse(o) {
            Ok(url)
                if matches!(url.scheme(), "http" | "https")
                    && url.host().is_some()
                    && url.path() == "/"
                    && url.query().is_none() =>
            {
                Ok(url.origin().ascii_serialization())
            }
            _ => Err(ConfigError::BadOrigin {
                name,
                value: o.to_owned(),
            }),
        })
        .collect()
}

/// `role:name:token` or `role:token` (then named after the role).
fn parse_token(entry: &str) -> Result<(Identity, &str), ConfigError> {
    let bad = || ConfigError::BadToken(redact(entry));
    let (role, rest) = entry.trim().split_once(':').ok_or_else(bad)?;
    let role: Role = role.trim().parse().map_err(|_| bad())?;
    let (subject, token) = match rest.split_once(':') {
        Some((name, token)) if protocol::is_valid_id(name) => (name.to_owned(), token),
        _ => (role.as_str().to_owned(), rest),
    };
    if token.trim().is_empty() {
        return Err(bad());
    }
    let chars = token.trim().chars().count();
    if chars < MIN_TOKEN_CHARS {
        return Err(ConfigError::ShortToken {
            name: subject,
            chars,
        });
    }
    Ok((
        Identity {
            subject,
            role,
            agents: AgentScope::All,
        },
        token.trim(),
    ))
}

fn redact(entry: &str) -> String {
    match entry.split_once(':') {
        Some((role, _)) => format!("{role}:…"),
        None => "…".to_owned(),
    }
}

/// `LOG_LEVEL` as a per-target filter, warp at `error` unless the value names it.
fn log_filter(value: &str) -> Result<Targets, tracing_subscriber::filter::ParseError> {
    format!("warp=error,{value}").parse()
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let secret = "k".repeat(31);
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
