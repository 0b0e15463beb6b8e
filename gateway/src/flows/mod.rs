//! Embedded flows: small workflows in `data/flows/<name>.ron` that the gateway
//! runs itself, speaking exactly the protocol a Sim workflow speaks. A run
//! reaches a flow through the ordinary outbound webhook (`POST /flows/<name>`);
//! the flow posts `step`/`awaiting`/`done`/`error` back to `callback_url` with
//! the run's callback token, and waits for answers on a resume URL.

mod definition;
mod runner;
mod template;

pub use definition::{Flow, FlowError, Step};
pub use runner::{FlowRunner, spawn_demo};

use crate::routes::{json_body, reject};
use crate::service::Service;
use std::sync::Arc;
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

/// The webhook body every run sends (Sim turns these into workflow inputs).
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct RunWebhook {
    pub run_id: String,
    pub agent: String,
    pub npc: String,
    #[serde(default)]
    pub payload: serde_json::Value,
    pub callback_url: String,
    pub callback_token: String,
}

/// What a resume URL receives: a person's answer to an `awaiting` event.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct Answer {
    pub run_id: String,
    pub decision: String,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub by: Option<String>,
}

pub fn routes(
    service: Arc<Service>,
    limit: u64,
) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let start = warp::path!("flows" / String)
        .and(warp::post())
        .and(json_body::<RunWebhook>(limit))
        .and(crate::routes::with_service(service.clone()))
        .and_then(
            |name: String, hook: RunWebhook, service: Arc<Service>| async move {
                service
                    .flows
                    .start(&name, hook, service.webhooks.http().clone())
                    .map_err(reject)?;
                Ok::<_, Rejection>(warp::reply::with_status(
                    warp::reply::json(&serde_json::json!({ "message": "Flow accepted" })),
                    StatusCode::ACCEPTED,
                ))
            },
        );
    let resume = warp::path!("flows" / "resume" / String / String)
        .and(warp::post())
        .and(json_body::<Answer>(limit))
        .and(crate::routes::with_service(service))
        .and_then(
            |run_id: String, key: String, answer: Answer, service: Arc<Service>| async move {
                service
                    .flows
                    .resume(&run_id, &key, answer)
                    .map_err(reject)?;
                Ok::<_, Rejection>(warp::reply::with_status(
                    warp::reply::json(&serde_json::json!({ "message": "Answer received" })),
                    StatusCode::ACCEPTED,
                ))
            },
        );
    resume.or(start)
}
