//! Thin warp filters: parse and authorise at the edge, call the core, map its
//! errors to HTTP. No route holds logic of its own.

mod edge;
mod error;
mod events;
mod ops;
mod otel;
mod runs;
mod session;
mod stream;
mod usage;
mod web;

pub use edge::Edge;
pub use error::ApiError;
pub use stream::StreamEndpoint;

use crate::auth::{Caller, Right};
use crate::core::{Credentials, Service};
use edge::Action;
use serde::de::DeserializeOwned;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use warp::{Filter, Rejection, Reply};

/// Settings the routes need that are not the core's business.
#[derive(Clone, Debug)]
pub struct RouteSettings {
    pub body_limit: u64,
    pub keepalive: Duration,
    pub web_dist: std::path::PathBuf,
    /// The office map and tileset, served at `/office/`.
    pub office_dir: std::path::PathBuf,
    /// How long a request body may take to arrive.
    pub body_timeout: Duration,
    /// When a stream waits after an event for the next ones, to send them in one write.
    pub gathering: crate::config::Gathering,
    /// Other gateways the office page may talk to (`?gateway=`), as origins.
    pub office_gateways: Vec<String>,
    /// SHA-256 of the token `/metrics` asks for, when it asks for one.
    pub metrics_token: Option<[u8; 32]>,
}

/// The browser session's cookie.
const SESSION_COOKIE: &str = "esprit_session";

/// The whole API and the browser office, as one filter.
pub fn all(
    service: Arc<Service>,
    settings: RouteSettings,
    edge: Arc<Edge>,
    streams: StreamEndpoint,
) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    // Tried in this order; each group is one boxed filter.
    let api = [
        erase(events::routes(
            service.clone(),
            settings.clone(),
            edge.clone(),
        )),
        erase(stream::routes(streams)),
        erase(runs::routes(
            service.clone(),
            settings.clone(),
            edge.clone(),
        )),
        erase(session::routes(
            service.clone(),
            settings.clone(),
            edge.clone(),
        )),
        erase(usage::routes(service.clone(), edge.clone())),
        erase(otel::routes(
            service.clone(),
            edge.clone(),
            otel::OtlpSettings {
                body_limit: service.settings().telemetry.body_limit,
                body_timeout: settings.body_timeout,
                bounds: service.settings().telemetry.bounds,
            },
        )),
        erase(ops::routes(service.clone(), settings.metrics_token)),
        erase(web::routes(service, settings)),
    ]
    .into_iter()
    .reduce(|tried, next| tried.or(next).unify().boxed())
    .expect("the API has route groups");
    edge::guard(edge)
        .and(api)
        .recover(render_rejection)
        .with(warp::trace::request())
}

/// A route group behind one pointer: one nested type for the whole API made
/// rustc walk its instantiations for a long part of the release build; the
/// cost here is a pointer call and a box per request.
type Routes = warp::filters::BoxedFilter<(Box<dyn Reply>,)>;

fn erase(
    group: impl Filter<Extract = (impl Reply + 'static,), Error = Rejection>
    + Clone
    + Send
    + Sync
    + 'static,
) -> Routes {
    group.map(|reply| Box::new(reply) as Box<dyn Reply>).boxed()
}

pub fn with_service(
    service: Arc<Service>,
) -> impl Filter<Extract = (Arc<Service>,), Error = Infallible> + Clone {
    warp::any().map(move || service.clone())
}

/// The caller (a bearer token or the session cookie), holding `right`; its
/// request is counted against `action`'s rate limit.
fn caller_for(
    service: Arc<Service>,
    edge: Arc<Edge>,
    right: Right,
    action: Option<Action>,
) -> impl Filter<Extract = (Caller,), Error = Rejection> + Clone {
    warp::header::optional::<String>("authorization")
        .and(warp::cookie::optional::<String>(SESSION_COOKIE))
        .and(edge::client(edge.clone()))
        .and_then(
            move |header: Option<String>, session: Option<String>, client: std::net::IpAddr| {
                let (service, edge) = (service.clone(), edge.clone());
                async move {
                    let presented = Presented {
                        authorization: header.as_deref(),
                        session: session.as_deref(),
                        client,
                    };
                    caller_of(&service, &edge, presented, right, action)
                        .await
                        .map_err(reject)
                }
            },
        )
}

/// What a request presents to say who it is.
struct Presented<'a> {
    authorization: Option<&'a str>,
    session: Option<&'a str>,
    client: std::net::IpAddr,
}

/// The caller presenting these, holding `right`, its request counted
/// against `action`'s rate limit.
async fn caller_of(
    service: &Service,
    edge: &Edge,
    presented: Presented<'_>,
    right: Right,
    action: Option<Action>,
) -> Result<Caller, ApiError> {
    let bearer = bearer(presented.authorization);
    let caller = identify(
        service,
        edge,
        presented.client,
        Credentials {
            bearer: bearer.as_deref(),
            session: presented.session,
        },
    )
    .await?;
    let caller = authorise_plain(caller, right)?;
    if let Some(action) = action {
        edge.spend(action, &rate_key(&caller), presented.client)?;
    }
    Ok(caller)
}

/// Who presents these credentials. A bearer token nobody holds counts
/// against the client's address, and an address that sent too many is
/// refused before its token is even checked.
async fn identify(
    service: &Service,
    edge: &Edge,
    client: std::net::IpAddr,
    credentials: Credentials<'_>,
) -> Result<Caller, ApiError> {
    let presented = credentials.bearer.is_some_and(|t| !t.is_empty());
    if presented {
        edge.check_guessing(client)?;
    }
    let caller = service.caller_for(credentials).await;
    if presented && caller == Caller::Anonymous {
        edge.note_wrong_token(client);
    }
    Ok(caller)
}

/// Whose budget a request spends.
fn rate_key(caller: &Caller) -> String {
    match caller {
        Caller::Person(identity) => format!("p:{}", identity.subject),
        Caller::Run { run_id, .. } => format!("r:{run_id}"),
        Caller::Local | Caller::Anonymous => "local".into(),
    }
}

fn bearer(header: Option<&str>) -> Option<String> {
    header
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .map(str::to_owned)
}

fn authorise_plain(caller: Caller, right: Right) -> Result<Caller, ApiError> {
    if caller.may(right) {
        Ok(caller)
    } else if caller == Caller::Anonymous {
        Err(ApiError::unauthorized())
    } else {
        Err(ApiError::forbidden(right.describe()))
    }
}

/// A JSON body of at most `limit` bytes, with errors that say what is wrong and where.
pub fn json_body<T: DeserializeOwned + Send>(
    limit: u64,
    timeout: Duration,
) -> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    // Any content type is read as JSON: `curl -d` sends form-urlencoded by default.
    warp::header::optional::<u64>("content-length")
        .and(warp::body::stream())
        .and_then(move |declared: Option<u64>, body| async move {
            let bytes = tokio::time::timeout(timeout, read_limited(body, declared, limit))
                .await
                .map_err(|_| {
                    reject(ApiError::new(
                        warp::http::StatusCode::REQUEST_TIMEOUT,
                        "body_timeout",
                        format!(
                            "the request body did not arrive within {} s",
                            timeout.as_secs()
                        ),
                    ))
                })?
                .map_err(reject)?;
            parse_json(&bytes).map_err(reject)
        })
}

/// A Run button sends no body at all; treat that as the default.
pub fn optional_json<T: DeserializeOwned + Default + Send>(
    limit: u64,
    timeout: Duration,
) -> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    warp::header::optional::<u64>("content-length")
        .and(warp::header::optional::<String>("transfer-encoding"))
        .and_then(|length: Option<u64>, chunked: Option<String>| async move {
            if length.unwrap_or(0) == 0 && chunked.is_none() {
                Ok(())
            } else {
                Err(warp::reject())
            }
        })
        .untuple_one()
        .map(T::default)
        .or(json_body::<T>(limit, timeout))
        .unify()
}

/// Bodies larger than this are refused without reading them.
const DRAIN_LIMIT: u64 = 2 * 1024 * 1024;

/// Reads a body of at most `limit` bytes. A body over the limit is still read
/// to its end (up to [`DRAIN_LIMIT`]) before it is refused: a server that
/// answers mid-upload and closes resets the connection, and a proxy in front
/// then reports a 502 instead of the 413.
pub(super) async fn read_limited(
    body: impl futures_util::Stream<Item = Result<impl bytes::Buf, warp::Error>>,
    declared: Option<u64>,
    limit: u64,
) -> Result<bytes::Bytes, ApiError> {
    use bytes::BufMut;
    use futures_util::StreamExt;
    if declared.is_some_and(|length| length > DRAIN_LIMIT.max(limit)) {
        return Err(ApiError::payload_too_large(limit));
    }
    let mut body = std::pin::pin!(body);
    let mut kept = bytes::BytesMut::new();
    let mut seen = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::invalid_request(format!("reading the body: {e}")))?;
        seen += chunk.remaining() as u64;
        if seen > DRAIN_LIMIT.max(limit) {
            return Err(ApiError::payload_too_large(limit));
        }
        if seen <= limit {
            kept.put(chunk);
        }
    }
    if seen > limit {
        return Err(ApiError::payload_too_large(limit));
    }
    Ok(kept.freeze())
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // The fast path; only a refused body is read again to name the field.
    if let Ok(value) = serde_json::from_slice(bytes) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed: Result<T, _> = serde_path_to_error::deserialize(&mut de);
    let value = parsed.map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = format!("{inner}");
        if inner.is_data() {
            let field = if path == "." {
                String::new()
            } else {
                format!("`{path}`: ")
            };
            ApiError::invalid_request(format!("{field}{message}"))
        } else {
            ApiError::malformed_json(message)
        }
    })?;
    de.end()
        .map_err(|e| ApiError::malformed_json(e.to_string()))?;
    Ok(value)
}

pub fn reject(error: impl Into<ApiError>) -> Rejection {
    warp::reject::custom(error.into())
}

/// `200 OK` with JSON already encoded.
pub fn json_bytes(body: bytes::Bytes) -> warp::reply::Response {
    let mut response = warp::reply::Response::new(body.into());
    response.headers_mut().insert(
        "content-type",
        warp::http::HeaderValue::from_static("application/json"),
    );
    response
}

/// `202 Accepted` with a JSON body.
pub fn accepted(body: &impl serde::Serialize) -> warp::reply::Response {
    warp::reply::with_status(warp::reply::json(body), warp::http::StatusCode::ACCEPTED)
        .into_response()
}

async fn render_rejection(rejection: Rejection) -> Result<warp::reply::Response, Infallible> {
    let error = if let Some(error) = rejection.find::<ApiError>() {
        error.clone()
    } else if rejection.is_not_found() {
        ApiError::not_found()
    } else if let Some(e) = rejection.find::<warp::reject::InvalidQuery>() {
        ApiError::invalid_request(format!("query string: {e}"))
    } else if let Some(e) = rejection.find::<warp::reject::InvalidHeader>() {
        ApiError::invalid_request(e.to_string())
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        ApiError::method_not_allowed()
    } else {
        tracing::warn!(?rejection, "unhandled rejection");
        ApiError::invalid_request(format!("{rejection:?}"))
    };
    Ok(error.into_response())
}
