//! What the edge checks before a request reaches the core: the client's
//! address (behind trusted proxies), the Host it asked for and the Origin of
//! a page sending a change (DNS rebinding, cross-site requests), rate limits
//! per person and per address, and how many streams each address holds.

use super::ApiError;
use crate::config::EdgeSettings;
use crate::server::ClientAddr;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use warp::http::{Method, StatusCode};
use warp::{Filter, Rejection};

/// What a request does, for its rate limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Run, cancel, answer.
    Operate,
    Publish,
    SignIn,
}

/// One action's limits: per caller and per client address.
struct Limit {
    per_caller: Option<DefaultKeyedRateLimiter<String>>,
    per_client: Option<DefaultKeyedRateLimiter<IpAddr>>,
}

impl Limit {
    fn new(quota: Option<Quota>, per_caller: bool) -> Limit {
        Limit {
            per_caller: quota.filter(|_| per_caller).map(RateLimiter::keyed),
            per_client: quota.map(RateLimiter::keyed),
        }
    }
}

/// The edge's state, shared by every route.
pub struct Edge {
    settings: EdgeSettings,
    operate: Limit,
    publish: Limit,
    sign_in: Limit,
    /// Wrong tokens per client address; past the quota the address is
    /// refused until `locked` says, before any token it sends is checked.
    wrong_tokens: Option<DefaultKeyedRateLimiter<IpAddr>>,
    locked: Mutex<HashMap<IpAddr, std::time::Instant>>,
    streams: Mutex<HashMap<IpAddr, usize>>,
    open_streams: AtomicUsize,
    /// Made once: making a clock calibrates it.
    clock: DefaultClock,
    pub secure_cookies: bool,
}

fn per_minute(n: u32) -> Option<Quota> {
    NonZeroU32::new(n).map(Quota::per_minute)
}

fn per_second(n: u32) -> Option<Quota> {
    NonZeroU32::new(n).map(Quota::per_second)
}

impl Edge {
    pub fn new(settings: EdgeSettings, secure_cookies: bool) -> Arc<Edge> {
        Arc::new(Edge {
            operate: Limit::new(per_minute(settings.runs_per_minute), true),
            publish: Limit::new(per_second(settings.publishes_per_second), true),
            sign_in: Limit::new(per_minute(settings.sign_ins_per_minute), false),
            wrong_tokens: per_minute(settings.auth_failures_per_minute).map(RateLimiter::keyed),
            locked: Mutex::new(HashMap::new()),
            settings,
            streams: Mutex::new(HashMap::new()),
            open_streams: AtomicUsize::new(0),
            clock: DefaultClock::default(),
            secure_cookies,
        })
    }

    /// Forgets idle rate-limit keys now and then, so the tables stay small.
    pub fn spawn_housekeeping(self: &Arc<Self>) {
        let edge = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                every.tick().await;
                let Some(edge) = edge.upgrade() else { break };
                if let Some(l) = &edge.wrong_tokens {
                    l.retain_recent();
                }
                let now = std::time::Instant::now();
                edge.locked
                    .lock()
                    .expect("locked lock")
                    .retain(|_, until| *until > now);
                for limit in [&edge.operate, &edge.publish, &edge.sign_in] {
                    if let Some(l) = &limit.per_caller {
                        l.retain_recent();
                    }
                    if let Some(l) = &limit.per_client {
                        l.retain_recent();
                    }
                }
            }
        });
    }

    /// The client: the peer, or what a trusted proxy says the peer was.
    pub fn client_ip(&self, peer: Option<ClientAddr>, forwarded_for: Option<&str>) -> IpAddr {
        let peer = peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        let trusted = |ip: &IpAddr| self.settings.trusted_proxies.iter().any(|n| n.contains(ip));
        if !trusted(&peer) {
            return peer;
        }
        // The nearest hop that is not one of ours: each proxy appends who it saw.
        forwarded_for
            .into_iter()
            .flat_map(|list| list.rsplit(','))
            .filter_map(|hop| hop.trim().parse::<IpAddr>().ok())
            .find(|ip| !trusted(ip))
            .unwrap_or(peer)
    }

    /// Refuses a Host the gateway does not answer to, and a change sent by a
    /// page of another origin.
    pub fn check_request(
        &self,
        method: &Method,
        host: Option<&str>,
        origin: Option<&str>,
        fetch_site: Option<&str>,
    ) -> Result<(), ApiError> {
        let host = host.unwrap_or("").trim().to_ascii_lowercase();
        if let Some(allowed) = &self.settings.allowed_hosts {
            let name = host_name(&host);
            if !allowed.iter().any(|a| a == name) {
                return Err(ApiError::new(
                    StatusCode::MISDIRECTED_REQUEST,
                    "host_not_allowed",
                    format!(
                        "this gateway does not answer to host `{name}` (ALLOWED_HOSTS lists the names it does)"
                    ),
                ));
            }
        }
        if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
            return Ok(());
        }
        let cross = |why: String| {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "cross_origin",
                format!("{why}; a page of another site may not send changes here"),
            ))
        };
        if fetch_site == Some("cross-site") {
            return cross("the browser says this request is cross-site".into());
        }
        if let Some(origin) = origin.map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase()) {
            let same = origin
                .split_once("://")
                .is_some_and(|(_, authority)| authority == host);
            if !same && !self.settings.allowed_origins.contains(&origin) {
                return cross(format!("origin `{origin}` is not this gateway's"));
            }
        }
        Ok(())
    }

    /// Takes one request from the action's budget, or says when to retry.
    pub fn spend(&self, action: Action, caller: &str, client: IpAddr) -> Result<(), ApiError> {
        let limit = match action {
            Action::Operate => &self.operate,
            Action::Publish => &self.publish,
            Action::SignIn => &self.sign_in,
        };
        let wait = |not_until: governor::NotUntil<_>| not_until.wait_time_from(self.clock.now());
        let result = match (&limit.per_caller, &limit.per_client) {
            (Some(per_caller), _) if caller != "local" => {
                per_caller.check_key(&caller.to_owned()).map_err(wait)
            }
            _ => Ok(()),
        }
        .and_then(|()| match &limit.per_client {
            Some(per_client) => per_client.check_key(&client).map_err(wait),
            None => Ok(()),
        });
        result.map_err(|wait| {
            crate::metrics::RATE_LIMITED.inc();
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "too many requests; try again in {} s",
                    wait.as_secs().max(1)
                ),
            )
            .retry_after(wait.as_secs().max(1))
        })
    }

    /// Before a presented token is checked: an address that sent too many
    /// wrong ones waits (guessing stays slow on every route).
    pub fn check_guessing(&self, client: IpAddr) -> Result<(), ApiError> {
        let locked = self.locked.lock().expect("locked lock");
        match locked.get(&client) {
            Some(until) if *until > std::time::Instant::now() => {
                let wait = until.duration_since(std::time::Instant::now()).as_secs() + 1;
                crate::metrics::RATE_LIMITED.inc();
                Err(ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_failures",
                    format!("too many wrong tokens from this address; try again in {wait} s"),
                )
                .retry_after(wait))
            }
            _ => Ok(()),
        }
    }

    /// A presented token was wrong: counted against the address.
    pub fn note_wrong_token(&self, client: IpAddr) {
        crate::metrics::AUTH_FAILURES.inc();
        let Some(limiter) = &self.wrong_tokens else {
            return;
        };
        if let Err(not_until) = limiter.check_key(&client) {
            let wait = not_until.wait_time_from(self.clock.now());
            tracing::warn!(%client, wait_secs = wait.as_secs(), "too many wrong tokens; refusing the address for a while");
            self.locked
                .lock()
                .expect("locked lock")
                .insert(client, std::time::Instant::now() + wait);
        }
    }

    /// A stream slot for this client, held until the stream ends.
    pub fn open_stream(self: &Arc<Self>, client: IpAddr) -> Result<StreamSlot, ApiError> {
        let mut streams = self.streams.lock().expect("stream slots lock");
        let mine = streams.entry(client).or_default();
        if *mine >= self.settings.streams_per_client {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_streams",
                format!(
                    "this address already holds {} streams; close some first",
                    self.settings.streams_per_client
                ),
            )
            .retry_after(5));
        }
        if self.open_streams.load(Ordering::Relaxed) >= self.settings.max_streams {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "too_many_streams",
                "the gateway holds as many streams as it may; try again shortly",
            )
            .retry_after(5));
        }
        *mine += 1;
        self.open_streams.fetch_add(1, Ordering::Relaxed);
        Ok(StreamSlot {
            edge: self.clone(),
            client,
        })
    }
}

/// `host:port` without the port (IPv6 brackets kept out).
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// One open stream of a client; freed on drop.
pub struct StreamSlot {
    edge: Arc<Edge>,
    client: IpAddr,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.edge.open_streams.fetch_sub(1, Ordering::Relaxed);
        let mut streams = self.edge.streams.lock().expect("stream slots lock");
        if let Some(count) = streams.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                streams.remove(&self.client);
            }
        }
    }
}

/// The client's address.
pub fn client(edge: Arc<Edge>) -> impl Filter<Extract = (IpAddr,), Error = Rejection> + Clone {
    warp::ext::optional::<ClientAddr>()
        .and(warp::header::optional::<String>("x-forwarded-for"))
        .map(move |peer: Option<ClientAddr>, forwarded: Option<String>| {
            edge.client_ip(peer, forwarded.as_deref())
        })
}

/// Host and Origin checks, for every route.
pub fn guard(edge: Arc<Edge>) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::method()
        .and(warp::header::optional::<String>("host"))
        .and(warp::header::optional::<String>("origin"))
        .and(warp::header::optional::<String>("sec-fetch-site"))
        .and_then(
            move |method: Method,
                  host: Option<String>,
                  origin: Option<String>,
                  site: Option<String>| {
                let edge = edge.clone();
                async move {
                    edge.check_request(&method, host.as_deref(), origin.as_deref(), site.as_deref())
                        .map_err(super::reject)
                }
            },
        )
        .untuple_one()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge_with(allowed_hosts: Option<&[&str]>) -> Arc<Edge> {
        Edge::new(
            EdgeSettings {
                allowed_hosts: allowed_hosts.map(|h| h.iter().map(|s| s.to_string()).collect()),
                allowed_origins: vec!["https://ops.example".into()],
                trusted_proxies: vec!["127.0.0.0/8".parse().unwrap()],
                runs_per_minute: 2,
                publishes_per_second: 0,
                sign_ins_per_minute: 1,
                auth_failures_per_minute: 3,
                streams_per_client: 2,
                max_streams: 3,
            },
            false,
        )
    }

    #[test]
    fn hosts_outside_the_list_are_refused() {
        let edge = edge_with(Some(&["localhost", "127.0.0.1"]));
        assert!(
            edge.check_request(&Method::GET, Some("localhost:3001"), None, None)
                .is_ok()
        );
        assert!(
            edge.check_request(&Method::GET, Some("127.0.0.1"), None, None)
                .is_ok()
        );
        let rebinding = edge
            .check_request(
                &Method::GET,
                Some("attacker-rebind.example:3001"),
                None,
                None,
            )
            .unwrap_err();
        assert_eq!(rebinding.code, "host_not_allowed");
        assert!(
            edge_with(None)
                .check_request(&Method::GET, Some("anything.example"), None, None)
                .is_ok()
        );
    }

    #[test]
    fn changes_from_other_origins_are_refused() {
        let edge = edge_with(None);
        let post =
            |origin, site| edge.check_request(&Method::POST, Some("localhost:3001"), origin, site);
        assert!(post(None, None).is_ok(), "curl sends no Origin");
        assert!(post(Some("http://localhost:3001"), Some("same-origin")).is_ok());
        assert!(post(Some("https://ops.example"), None).is_ok(), "listed");
        assert_eq!(
            post(Some("http://evil.example"), None).unwrap_err().code,
            "cross_origin"
        );
        assert_eq!(post(Some("null"), None).unwrap_err().code, "cross_origin");
        assert_eq!(
            post(None, Some("cross-site")).unwrap_err().code,
            "cross_origin"
        );
        assert!(
            edge.check_request(
                &Method::GET,
                Some("localhost:3001"),
                Some("http://evil.example"),
                None
            )
            .is_ok(),
            "reads are for CORS to refuse"
        );
    }

    #[test]
    fn trusted_proxies_name_the_client() {
        let edge = edge_with(None);
        let proxy = Some(ClientAddr("127.0.0.1:5000".parse().unwrap()));
        let stranger = Some(ClientAddr("203.0.113.9:5000".parse().unwrap()));
        assert_eq!(
            edge.client_ip(proxy, Some("198.51.100.1, 198.51.100.7")),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            edge.client_ip(stranger, Some("198.51.100.7")),
            "203.0.113.9".parse::<IpAddr>().unwrap(),
            "an untrusted peer's header is ignored"
        );
    }

    #[test]
    fn limits_say_when_to_retry() {
        let edge = edge_with(None);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(edge.spend(Action::Operate, "p:alice", ip).is_ok());
        assert!(edge.spend(Action::Operate, "p:alice", ip).is_ok());
        let limited = edge.spend(Action::Operate, "p:alice", ip).unwrap_err();
        assert_eq!(
            (limited.status, limited.code),
            (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
        );
        assert!(limited.retry_after.unwrap() >= 1);
        assert!(
            edge.spend(Action::Publish, "p:alice", ip).is_ok(),
            "0 means no limit"
        );
    }

    #[test]
    fn wrong_tokens_lock_their_address_only() {
        let edge = edge_with(None);
        let (guesser, other): (IpAddr, IpAddr) =
            ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        for _ in 0..3 {
            assert!(edge.check_guessing(guesser).is_ok());
            edge.note_wrong_token(guesser);
        }
        assert!(
            edge.check_guessing(guesser).is_ok(),
            "three per minute pass"
        );
        edge.note_wrong_token(guesser);
        let locked = edge.check_guessing(guesser).unwrap_err();
        assert_eq!(
            (locked.status, locked.code),
            (StatusCode::TOO_MANY_REQUESTS, "too_many_failures")
        );
        assert!(locked.retry_after.unwrap() >= 1);
        assert!(
            edge.check_guessing(other).is_ok(),
            "another address is not locked"
        );
    }

    #[test]
    fn streams_are_capped_per_client_and_in_all() {
        let edge = edge_with(None);
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let first = edge.open_stream(a).unwrap();
        let _second = edge.open_stream(a).unwrap();
        assert_eq!(edge.open_stream(a).err().unwrap().code, "too_many_streams");
        let _third = edge.open_stream(b).unwrap();
        assert_eq!(
            edge.open_stream(b).err().unwrap().status,
            StatusCode::SERVICE_UNAVAILABLE
        );
        drop(first);
        assert!(
            edge.open_stream(a).is_ok(),
            "a closed stream frees its slot"
        );
    }
}
