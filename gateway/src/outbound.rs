//! Everything that leaves the gateway goes through here, under one policy:
//!
//! - a request goes only to the origin its caller names from the registry or
//!   the config (an agent's `webhookUrl`, `AP_BASE`, a flow file's literal
//!   origin); a URL that came from outside (a question's `resume_url`, Sim's
//!   `statusUrl`) is honoured only on that same origin, and credentials are
//!   only ever attached to it;
//! - redirects are not followed;
//! - connecting has its own timeout, and each attempt of a delivery another,
//!   separate from how long a run may take;
//! - every response body is read up to a cap.
//!
//! Deliveries are signed per Standard Webhooks and retried with backoff that
//! honours `Retry-After`.

use crate::config::OutboundSettings;
use crate::metrics;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use sha2::Sha256;
use std::time::{Duration, Instant};
use url::Url;

/// The longest `Retry-After` we wait for; longer asks end the run instead.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// The most of an answer's body the gateway reads from a webhook receiver.
pub const ANSWER_BODY_CAP: usize = 64 * 1024;

/// An origin (scheme, host, port) the gateway may call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin(url::Origin);

impl Origin {
    pub fn of(url: &Url) -> Origin {
        Origin(url.origin())
    }

    /// Whether `url` is on this origin.
    pub fn contains(&self, url: &Url) -> bool {
        url.origin() == self.0
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.ascii_serialization())
    }
}

/// A URL as people see it in events, runs and the roster: its origin only.
/// A path may be a capability (`…/services/T0/B0/<secret>`); the log keeps it.
pub fn shown(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// A URL as the log keeps it: no userinfo, no query.
pub fn redact(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_fragment(None);
    let had_query = shown.query().is_some();
    shown.set_query(None);
    if had_query {
        format!("{shown}?…")
    } else {
        shown.to_string()
    }
}

/// Text from outside, made safe for one log line or an event: control
/// characters (a newline would forge a log line) become spaces, and it is cut.
pub fn sanitize(text: &str, max_chars: usize) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max_chars)
        .collect();
    cleaned.trim().to_owned()
}

/// The one HTTP client, with the policy above.
#[derive(Clone)]
pub struct Outbound {
    http: reqwest::Client,
    settings: OutboundSettings,
}

/// One delivery: where, what, and how to prove it is us.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub url: Url,
    pub body: Bytes,
    pub bearer: Option<String>,
    pub secret: Option<String>,
    /// Stable across retries so receivers can deduplicate (`webhook-id`).
    pub message_id: String,
}

#[derive(Debug)]
pub struct Delivered {
    pub status: StatusCode,
    pub attempts: u32,
}

/// Why a call did not go out or did not succeed. Messages never carry the
/// receiver's body or more of a URL than its origin: they end up in
/// viewer-visible events (the log has the path).
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error(
        "{url} is not on {allowed}; the gateway only calls the origins its agents and config name"
    )]
    NotAllowed { url: String, allowed: Origin },
    #[error("{url} failed after {attempts} attempt(s): {reason}")]
    Failed {
        url: String,
        attempts: u32,
        reason: String,
        status: Option<StatusCode>,
    },
    #[error("signing secret is not valid base64 after `whsec_`")]
    BadSecret,
    #[error("the answer from {url} is larger than {cap} bytes")]
    TooLarge { url: String, cap: usize },
}

impl OutboundError {
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            OutboundError::Failed { status, .. } => *status,
            _ => None,
        }
    }
}

/// `webhook-signature` per the Standard Webhooks spec: `v1,<base64 HMAC-SHA256(id.timestamp.body)>`.
pub fn standard_signature(
    secret: &str,
    message_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, OutboundError> {
    let key = match secret.strip_prefix("whsec_") {
        Some(encoded) => BASE64
            .decode(encoded)
            .map_err(|_| OutboundError::BadSecret)?,
        None => secret.as_bytes().to_vec(),
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes keys of any length");
    mac.update(message_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!("v1,{}", BASE64.encode(mac.finalize().into_bytes())))
}

enum Attempt {
    Done(StatusCode),
    /// Worth another try, after at least this long.
    Retry {
        reason: String,
        after: Option<Duration>,
        status: Option<StatusCode>,
    },
    Fatal {
        reason: String,
        status: Option<StatusCode>,
    },
}

impl Outbound {
    pub fn new(settings: OutboundSettings) -> Outbound {
        let http = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("esprit-hub-gateway/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client builds with static settings");
        Outbound { http, settings }
    }

    pub fn settings(&self) -> &OutboundSettings {
        &self.settings
    }

    /// Refuses a URL outside `allowed`.
    pub fn check(&self, url: &Url, allowed: &Origin) -> Result<(), OutboundError> {
        if allowed.contains(url) {
            Ok(())
        } else {
            Err(OutboundError::NotAllowed {
                url: shown(url),
                allowed: allowed.clone(),
            })
        }
    }

    /// A request to `url` on `allowed`; the caller adds credentials only after this.
    pub fn request(
        &self,
        method: reqwest::Method,
        url: &Url,
        allowed: &Origin,
    ) -> Result<reqwest::RequestBuilder, OutboundError> {
        self.check(url, allowed)?;
        Ok(self.http.request(method, url.clone()))
    }

    /// POSTs a delivery to its URL on `allowed`, signed, with bounded retries.
    pub async fn deliver(
        &self,
        delivery: &Delivery,
        allowed: &Origin,
    ) -> Result<Delivered, OutboundError> {
        self.check(&delivery.url, allowed)?;
        let started = Instant::now();
        let mut backoff = self.settings.backoff;
        let mut attempt = 0;
        let outcome = loop {
            attempt += 1;
            match self.attempt(delivery, attempt).await {
                Attempt::Done(status) => break Ok(status),
                Attempt::Fatal { reason, status } => {
                    metrics::WEBHOOK_FAILURES
                        .with_label_values(&["rejected"])
                        .inc();
                    break Err((reason, status));
                }
                Attempt::Retry {
                    reason,
                    after,
                    status,
                } => {
                    metrics::WEBHOOK_FAILURES
                        .with_label_values(&["retryable"])
                        .inc();
                    if attempt >= self.settings.attempts {
                        break Err((reason, status));
                    }
                    let wait = match after {
                        Some(asked) if asked > MAX_RETRY_AFTER => {
                            break Err((
                                format!("{reason}; asked to retry after {}s", asked.as_secs()),
                                status,
                            ));
                        }
                        Some(asked) => asked.max(backoff),
                        None => backoff,
                    };
                    tracing::info!(url = %redact(&delivery.url), attempt, %reason, wait_ms = wait.as_millis() as u64, "delivery retry");
                    tokio::time::sleep(wait).await;
                    backoff = backoff.saturating_mul(2);
                }
            }
        };
        metrics::WEBHOOK_SECONDS.observe(started.elapsed().as_secs_f64());
        match outcome {
            Ok(status) => Ok(Delivered {
                status,
                attempts: attempt,
            }),
            Err((reason, status)) => Err(OutboundError::Failed {
                url: shown(&delivery.url),
                attempts: attempt,
                reason,
                status,
            }),
        }
    }

    async fn attempt(&self, delivery: &Delivery, attempt: u32) -> Attempt {
        let mut request = self
            .http
            .post(delivery.url.clone())
            .timeout(self.settings.attempt_timeout)
            .header(CONTENT_TYPE, "application/json")
            .header("x-esprit-attempt", attempt.to_string())
            .body(delivery.body.clone());
        if let Some(token) = &delivery.bearer {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(secret) = &delivery.secret {
            let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
            match standard_signature(secret, &delivery.message_id, timestamp, &delivery.body) {
                Ok(signature) => {
                    request = request
                        .header("webhook-id", &delivery.message_id)
                        .header("webhook-timestamp", timestamp.to_string())
                        .header("webhook-signature", signature);
                }
                Err(e) => {
                    return Attempt::Fatal {
                        reason: e.to_string(),
                        status: None,
                    };
                }
            }
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) if e.is_timeout() => {
                return Attempt::Retry {
                    reason: format!(
                        "timed out after {:.1}s",
                        self.settings.attempt_timeout.as_secs_f64()
                    ),
                    after: None,
                    status: None,
                };
            }
            Err(e) => {
                return Attempt::Retry {
                    reason: describe(&e),
                    after: None,
                    status: None,
                };
            }
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        // The receiver's words go to the log (made safe), never into events.
        let body = read_capped(response, ANSWER_BODY_CAP)
            .await
            .unwrap_or_default();
        if !status.is_success() && !body.is_empty() {
            tracing::info!(url = %redact(&delivery.url), %status, body = %sanitize(&String::from_utf8_lossy(&body), 300), "receiver refused a delivery");
        }
        if status.is_redirection() {
            Attempt::Fatal {
                reason: format!("answered {status} (redirects are not followed)"),
                status: Some(status),
            }
        } else if status.is_success() {
            Attempt::Done(status)
        } else if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            Attempt::Retry {
                reason: format!("answered {status}"),
                after: retry_after,
                status: Some(status),
            }
        } else {
            Attempt::Fatal {
                reason: format!("answered {status}"),
                status: Some(status),
            }
        }
    }
}

/// Reads a response body of at most `cap` bytes.
pub async fn read_capped(response: reqwest::Response, cap: usize) -> Result<Bytes, ReadError> {
    if response
        .content_length()
        .is_some_and(|length| length > cap as u64)
    {
        return Err(ReadError::TooLarge(cap));
    }
    let mut body = BytesMut::new();
    let mut chunks = response.bytes_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| ReadError::Transport(describe(&e)))?;
        if body.len() + chunk.len() > cap {
            return Err(ReadError::TooLarge(cap));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("the answer is larger than {0} bytes")]
    TooLarge(usize),
    #[error("{0}")]
    Transport(String),
}

/// The most specific cause of a transport error, e.g. "connection refused",
/// without the URL's secrets.
pub fn describe(error: &reqwest::Error) -> String {
    let mut deepest = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(err) = source {
        deepest = err.to_string();
        source = err.source();
    }
    if let Some(url) = error.url() {
        deepest = deepest.replace(url.as_str(), &shown(url));
    }
    let deepest = sanitize(&deepest, 200);
    if error.is_connect() {
        format!("cannot connect: {deepest}")
    } else if error.is_timeout() {
        format!("timed out: {deepest}")
    } else {
        deepest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vector published with the Standard Webhooks specification.
    #[test]
    fn signature_matches_the_spec_test_vector() {
        let signature = standard_signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn a_secret_that_is_not_base64_is_refused() {
        assert!(standard_signature("whsec_***", "m", 1, b"{}").is_err());
    }

    #[test]
    fn urls_lose_their_secrets_when_shown() {
        let url = Url::parse("https://user:pw@sim.example:8443/hook/abc?token=s3cret#x").unwrap();
        assert_eq!(redact(&url), "https://sim.example:8443/hook/abc?…");
        let slack = Url::parse("https://hooks.example/services/T0/B0/s3cret").unwrap();
        assert_eq!(shown(&slack), "https://hooks.example");
    }

    #[test]
    fn outside_text_cannot_forge_log_lines() {
        assert_eq!(
            sanitize("bad\nINFO forged line\r\u{1b}[31m", 100),
            "bad INFO forged line  [31m"
        );
        assert_eq!(sanitize("abcdef", 3), "abc");
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let sim = Origin::of(&Url::parse("http://sim:3000/api/webhooks/trigger/a").unwrap());
        assert!(sim.contains(&Url::parse("http://sim:3000/resume/1").unwrap()));
        assert!(!sim.contains(&Url::parse("http://sim:3001/resume/1").unwrap()));
        assert!(!sim.contains(&Url::parse("https://sim:3000/resume/1").unwrap()));
        assert!(!sim.contains(&Url::parse("http://attacker.example/").unwrap()));
    }
}
