//! `GET /healthz`, `GET /readyz`, `GET /metrics`.

use crate::service::Service;
use std::sync::Arc;
use warp::http::StatusCode;
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
            let reply = match service.store.check_writable().await {
                Ok(()) => warp::reply::with_status(
                    warp::reply::json(&serde_json::json!({ "status": "ready" })),
                    StatusCode::OK,
                ),
                Err(e) => warp::reply::with_status(
                    warp::reply::json(&protocol::ErrorBody::new(
                        "store_unavailable",
                        e.to_string(),
                    )),
                    StatusCode::SERVICE_UNAVAILABLE,
                ),
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
