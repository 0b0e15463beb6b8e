//! Thin warp filters: parse and authorise at the edge, then call the [`Service`].

mod events;
mod ops;
mod runs;
mod web;

use crate::auth::{Caller, Right};
use crate::error::ApiError;
use crate::service::Service;
use serde::de::DeserializeOwned;
use std::convert::Infallible;
use std::sync::Arc;
use warp::{Filter, Rejection, Reply};

/// Settings the routes need that are not the service's business.
#[derive(Clone)]
pub struct RouteSettings {
    pub body_limit: u64,
    pub keepalive: std::time::Duration,
    pub web_dist: std::path::PathBuf,
}

pub fn all(
    service: Arc<Service>,
    settings: RouteSettings,
) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    let api = events::routes(service.clone(), settings.clone())
        .or(runs::routes(service.clone(), settings.clone()))
        .or(ops::routes(service.clone()))
        .or(crate::flows::routes(service.clone(), settings.body_limit));
    api.or(web::routes(service, settings))
        .recover(render_rejection)
        .with(warp::trace::request())
}

pub fn with_service(
    service: Arc<Service>,
) -> impl Filter<Extract = (Arc<Service>,), Error = Infallible> + Clone {
    warp::any().map(move || service.clone())
}

/// The caller, from `Authorization: Bearer` or (for `EventSource`) `?access_token=`, holding `right`.
pub fn caller_with(
    service: Arc<Service>,
    right: Right,
) -> impl Filter<Extract = (Caller,), Error = Rejection> + Clone {
    warp::header::optional::<String>("authorization")
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and_then(move |header: Option<String>, query: String| {
            let service = service.clone();
            async move {
                let from_header = header
                    .as_deref()
                    .and_then(|h| h.strip_prefix("Bearer "))
                    .map(str::trim)
                    .map(str::to_owned);
                let from_query = query_token(&query);
                let presented = from_header.or(from_query);
                let caller = service.auth.caller(presented.as_deref());
                if caller.may(right) {
                    Ok(caller)
                } else if caller == Caller::Anonymous {
                    Err(reject(ApiError::Unauthorized))
                } else {
                    let what = match right {
                        Right::View => "view the office",
                        Right::Operate => "run or answer agents",
                        Right::Publish => "publish events",
                    };
                    Err(reject(ApiError::Forbidden(what.into())))
                }
            }
        })
}

fn query_token(query: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "access_token")
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
}

/// A JSON body of at most `limit` bytes, with errors that say what is wrong and where.
pub fn json_body<T: DeserializeOwned + Send>(
    limit: u64,
) -> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    // Any content type is read as JSON: `curl -d` sends form-urlencoded by default.
    warp::header::optional::<u64>("content-length")
        .and(warp::body::stream())
        .and_then(move |declared: Option<u64>, body| async move {
            let bytes = read_limited(body, declared, limit).await.map_err(reject)?;
            parse_json(&bytes).map_err(reject)
        })
}

/// Bodies larger than this are refused without reading them.
const DRAIN_LIMIT: u64 = 2 * 1024 * 1024;

/// Reads a body of at most `limit` bytes. A body over the limit is still read
/// to its end (up to [`DRAIN_LIMIT`]) before it is refused: a server that
/// answers mid-upload and closes resets the connection, and a proxy in front
/// then reports a 502 instead of the 413.
async fn read_limited(
    body: impl futures_util::Stream<Item = Result<impl bytes::Buf, warp::Error>>,
    declared: Option<u64>,
    limit: u64,
) -> Result<bytes::Bytes, ApiError> {
    use bytes::BufMut;
    use futures_util::StreamExt;
    if declared.is_some_and(|length| length > DRAIN_LIMIT.max(limit)) {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    let mut body = std::pin::pin!(body);
    let mut kept = bytes::BytesMut::new();
    let mut seen = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::InvalidRequest(format!("reading the body: {e}")))?;
        seen += chunk.remaining() as u64;
        if seen > DRAIN_LIMIT.max(limit) {
            return Err(ApiError::PayloadTooLarge(limit));
        }
        if seen <= limit {
            kept.put(chunk);
        }
    }
    if seen > limit {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    Ok(kept.freeze())
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
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
            ApiError::InvalidRequest(format!("{field}{message}"))
        } else {
            ApiError::MalformedJson(message)
        }
    })?;
    de.end()
        .map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    Ok(value)
}

pub fn reject(error: ApiError) -> Rejection {
    warp::reject::custom(error)
}

pub fn error_reply(error: &ApiError) -> warp::reply::Response {
    warp::reply::with_status(warp::reply::json(&error.body()), error.status()).into_response()
}

async fn render_rejection(rejection: Rejection) -> Result<warp::reply::Response, Infallible> {
    let error = if let Some(error) = rejection.find::<ApiError>() {
        return Ok(error_reply(error));
    } else if rejection.is_not_found() {
        ApiError::NotFound
    } else if let Some(e) = rejection.find::<warp::reject::InvalidQuery>() {
        ApiError::InvalidRequest(format!("query string: {e}"))
    } else if let Some(e) = rejection.find::<warp::reject::InvalidHeader>() {
        ApiError::InvalidRequest(e.to_string())
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        ApiError::MethodNotAllowed
    } else if rejection
        .find::<warp::reject::UnsupportedMediaType>()
        .is_some()
    {
        ApiError::UnsupportedMediaType
    } else {
        tracing::warn!(?rejection, "unhandled rejection");
        ApiError::InvalidRequest(format!("{rejection:?}"))
    };
    Ok(error_reply(&error))
}
