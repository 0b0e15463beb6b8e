//! Outbound webhooks: bearer auth, Standard Webhooks signatures, timeout and
//! bounded retries with backoff that honours `Retry-After`.

use crate::config::WebhookSettings;
use crate::metrics;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use sha2::Sha256;
use std::time::{Duration, Instant};
use url::Url;

/// The longest `Retry-After` we wait for; longer asks end the run instead.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct WebhookClient {
    http: reqwest::Client,
    settings: WebhookSettings,
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
    pub extra_headers: HeaderMap,
}

#[derive(Debug)]
pub struct Delivered {
    pub status: StatusCode,
    pub attempts: u32,
    pub body: Bytes,
}

#[derive(Debug, thiserror::Error)]
#[error("webhook {url} failed after {attempts} attempt(s): {reason}")]
pub struct DeliveryFailed {
    pub url: String,
    pub attempts: u32,
    pub reason: String,
    /// The last answer, when the receiver gave one.
    pub status: Option<StatusCode>,
    pub body: Option<Bytes>,
}

#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("signing secret is not valid base64 after `whsec_`")]
    BadSecret,
}

/// `webhook-signature` per the Standard Webhooks spec: `v1,<base64 HMAC-SHA256(id.timestamp.body)>`.
pub fn standard_signature(
    secret: &str,
    message_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, SigningError> {
    let key = match secret.strip_prefix("whsec_") {
        Some(encoded) => BASE64
            .decode(encoded)
            .map_err(|_| SigningError::BadSecret)?,
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
    Done(Delivered),
    /// Worth another try, after at least this long.
    Retry {
        reason: String,
        after: Option<Duration>,
        status: Option<StatusCode>,
        body: Option<Bytes>,
    },
    Fatal {
        reason: String,
        status: Option<StatusCode>,
        body: Option<Bytes>,
    },
}

impl WebhookClient {
    pub fn new(settings: WebhookSettings) -> WebhookClient {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .user_agent(concat!("esprit-hub-gateway/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client builds with static settings");
        WebhookClient { http, settings }
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub async fn deliver(&self, delivery: &Delivery) -> Result<Delivered, DeliveryFailed> {
        let started = Instant::now();
        let mut backoff = self.settings.backoff;
        let mut attempt = 0;
        let outcome = loop {
            attempt += 1;
            match self.attempt(delivery, attempt).await {
                Attempt::Done(delivered) => break Ok(delivered),
                Attempt::Fatal {
                    reason,
                    status,
                    body,
                } => {
                    metrics::WEBHOOK_FAILURES
                        .with_label_values(&["rejected"])
                        .inc();
                    break Err((reason, status, body));
                }
                Attempt::Retry {
                    reason,
                    after,
                    status,
                    body,
                } => {
                    metrics::WEBHOOK_FAILURES
                        .with_label_values(&["retryable"])
                        .inc();
                    if attempt >= self.settings.attempts {
                        break Err((reason, status, body));
                    }
                    let wait = match after {
                        Some(asked) if asked > MAX_RETRY_AFTER => {
                            break Err((
                                format!("{reason}; asked to retry after {}s", asked.as_secs()),
                                status,
                                body,
                            ));
                        }
                        Some(asked) => asked.max(backoff),
                        None => backoff,
                    };
                    tracing::info!(url = %delivery.url, attempt, %reason, wait_ms = wait.as_millis() as u64, "webhook retry");
                    tokio::time::sleep(wait).await;
                    backoff = backoff.saturating_mul(2);
                }
            }
        };
        metrics::WEBHOOK_SECONDS.observe(started.elapsed().as_secs_f64());
        outcome.map_err(|(reason, status, body)| DeliveryFailed {
            url: delivery.url.to_string(),
            attempts: attempt,
            reason,
            status,
            body,
        })
    }

    async fn attempt(&self, delivery: &Delivery, attempt: u32) -> Attempt {
        let mut request = self
            .http
            .post(delivery.url.clone())
            .header(CONTENT_TYPE, "application/json")
            .header("x-esprit-attempt", attempt.to_string())
            .headers(delivery.extra_headers.clone())
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
                        body: None,
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
                        self.settings.timeout.as_secs_f64()
                    ),
                    after: None,
                    status: None,
                    body: None,
                };
            }
            Err(e) => {
                return Attempt::Retry {
                    reason: describe(&e),
                    after: None,
                    status: None,
                    body: None,
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
        let body = response.bytes().await.unwrap_or_default();
        if status.is_success() {
            Attempt::Done(Delivered {
                status,
                attempts: attempt,
                body,
            })
        } else if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            Attempt::Retry {
                reason: format!("answered {status}{}", snippet(&body)),
                after: retry_after,
                status: Some(status),
                body: Some(body),
            }
        } else {
            Attempt::Fatal {
                reason: format!("answered {status}{}", snippet(&body)),
                status: Some(status),
                body: Some(body),
            }
        }
    }
}

/// The most specific cause of a transport error, e.g. "connection refused".
fn describe(error: &reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = Some(error);
    let mut deepest = error.to_string();
    while let Some(err) = source {
        deepest = err.to_string();
        source = err.source();
    }
    if error.is_connect() {
        format!("cannot connect: {deepest}")
    } else {
        deepest
    }
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return String::new();
    }
    let cut: String = text.chars().take(200).collect();
    format!(": {cut}")
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
}
