//! `GET /healthz`, `GET /readyz`, `GET /metrics` (behind `METRICS_TOKEN` when set).

use super::ApiError;
use crate::core::Service;
use std::sync::Arc;
use warp::{Filter, Rejection, Reply};

pub fn routes(
    service: Arc<Service>,
    metrics_token: Option<[u8; 32]>,
) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let usage_service = service.clone();
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
    // Open unless METRICS_TOKEN is set; then only its bearer reads them.
    let metrics = warp::path!("metrics")
        .and(warp::get())
        .and(warp::header::optional::<String>("authorization"))
        .and(super::with_service(usage_service))
        .then(
            move |header: Option<String>, service: Arc<Service>| async move {
                if let Some(expected) = metrics_token {
                    let given = super::bearer(header.as_deref()).map(|t| crate::auth::digest(&t));
                    // Answered here: a rejection would fall through to the office's pages.
                    if given != Some(expected) {
                        return ApiError::unauthorized().into_response();
                    }
                }
                match service.usage(None, None).await {
                    Ok(report) => {
                        let gauge = &crate::metrics::USAGE_TODAY;
                        gauge.reset();
                        for line in report.agents {
                            let set = |measure: &str, value: f64| {
                                gauge
                                    .with_label_values(&[line.agent.as_str(), measure])
                                    .set(value);
                            };
                            set("runs", line.totals.runs as f64);
                            set("input_tokens", line.totals.input_tokens as f64);
                            set("output_tokens", line.totals.output_tokens as f64);
                            set("cost_usd", line.totals.cost_usd);
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot read today's usage for /metrics"),
                }
                crate::metrics::OTLP_UNATTRIBUTED.set(service.telemetry().unattributed() as i64);
                warp::reply::with_header(
                    crate::metrics::render(),
                    "content-type",
                    "text/plain; version=0.0.4",
                )
                .into_response()
            },
        );
    health.or(ready).or(metrics)
}
