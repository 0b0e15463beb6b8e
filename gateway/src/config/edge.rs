//! What the edge checks before anything reaches the core: hosts, origins,
//! proxies, rate limits and streams per client.

use super::ConfigError;
use std::net::IpAddr;

#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "The edge: hosts, origins, proxies, rate limits")]
pub struct EdgeArgs {
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
}

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

/// How the gateway is reached, which decides the hosts an open gateway answers to.
pub struct Reached<'a> {
    pub bind: IpAddr,
    pub public_url: Option<&'a str>,
    /// Tokens, a users file or a JWT key are set.
    pub asks_who: bool,
}

impl EdgeArgs {
    pub fn settings(&self, reached: Reached<'_>) -> EdgeSettings {
        EdgeSettings {
            allowed_hosts: allowed_hosts(&self.allowed_hosts, &reached),
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
        }
    }

    /// `OFFICE_GATEWAYS`, checked.
    pub fn office_gateways(&self) -> Result<Vec<String>, ConfigError> {
        parse_origins(&self.office_gateways, "OFFICE_GATEWAYS")
    }
}

/// The hosts the gateway answers to. An open gateway answers only to the
/// names it is reached by: a DNS rebinding page cannot borrow the browser's
/// access to it.
fn allowed_hosts(listed: &[String], reached: &Reached<'_>) -> Option<Vec<String>> {
    let mut hosts: Vec<String> = listed
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect();
    if hosts.is_empty() && !reached.asks_who {
        hosts = ["localhost", "127.0.0.1", "::1"]
            .map(str::to_owned)
            .to_vec();
        if !reached.bind.is_unspecified() {
            hosts.push(reached.bind.to_string());
        }
        if let Some(host) = reached
            .public_url
            .and_then(|u| url::Url::parse(u).ok())
            .and_then(|u| u.host_str().map(str::to_owned))
        {
            hosts.push(host.trim_matches(['[', ']']).to_ascii_lowercase());
        }
    }
    (!hosts.is_empty()).then_some(hosts)
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
