//! Thin warp filters: parse and authorise at the edge, then call the [`Service`].

mod events;
mod ops;
mod runs;
mod web;

use crate::auth::{Caller, Right};
use crate::error::ApiError;
use crate::service::Service;
use protocol::ErrorBody;
use serde::de::DeserializeOwned;
use std::convert::Infallible;
use std::sync::Arc;
use warp::http::StatusCode;
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
        .and_then(move |length: Option<u64>| async move {
            if length.is_some_and(|len| len > limit) {
                return Err(reject(ApiError::PayloadTooLarge(limit)));
            }
            Ok(())
        })
        .untuple_one()
        .and(warp::body::content_length_limit(limit))
        .and(warp::body::bytes())
        .and_then(|bytes: bytes::Bytes| async move { parse_json(&bytes).map_err(reject) })
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
    } else if rejection.find::<warp::reject::PayloadTooLarge>().is_some() {
        return Ok(plain_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "request body is too large",
        ));
    } else if rejection.find::<warp::reject::LengthRequired>().is_some() {
        return Ok(plain_error(
            StatusCode::LENGTH_REQUIRED,
            "length_required",
            "send a Content-Length header with the body",
        ));
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

fn plain_error(status: StatusCode, code: &str, message: &str) -> warp::reply::Response {
    warp::reply::with_status(warp::reply::json(&ErrorBody::new(code, message)), status)
        .into_response()
}
