//! `GET /healthz`, `GET /readyz`, `GET /metrics`.

use super::ApiError;
use crate::core::Service;
use std::sync::Arc;
use warp::{Filter, Rejection, Reply};

pub fn routes(
    service: Arc<Service>,
) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let health = warp::path!("healthz")
        .and(warp::get())
        .map(|| warp::reply::json(&serde_json::json!({ "status": "ok" })));
    let ready = warp::path!("readyz").and(warp::get()).and_then(move || {
        let service = service.clone();
        async move {
            let reply = match service.ready().await {
                Ok(()) => {
                    warp::reply::json(&serde_json::json!({ "status": "ready" })).into_response()
                }
                Err(e) => {
                    let mut error = ApiError::from(e);
                    error.status = warp::http::StatusCode::SERVICE_UNAVAILABLE;
                    error.into_response()
                }
            };
            Ok::<_, Rejection>(reply)
        }
    });
    let metrics = warp::path!("metrics").and(warp::get()).map(|| {
        warp::reply::with_header(
            crate::metrics::render(),
            "content-type",
            "text/plain; version=0.0.4",
        )
    });
    health.or(ready).or(metrics)
}
