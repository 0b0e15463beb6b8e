//! `POST /api/events`, `GET /api/history`, `GET /api/agents`.

use super::edge::{Action, Edge};
use super::{RouteSettings, caller_for, json_body, reject, with_service};
use crate::auth::{Caller, Right};
use crate::core::Service;
use protocol::{PublishAck, PublishEvent};
use serde::Deserialize;
use std::sync::Arc;
use warp::{Filter, Rejection, Reply};

pub fn routes(
    service: Arc<Service>,
    settings: RouteSettings,
    edge: Arc<Edge>,
) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let publish = warp::path!("api" / "events")
        .and(warp::post())
        .and(caller_for(
            service.clone(),
            edge.clone(),
            Right::Publish,
            Some(Action::Publish),
        ))
        .and(json_body::<OneOrMany>(
            settings.body_limit,
            settings.body_timeout,
        ))
        .and(with_service(service.clone()))
        .and_then(
            |caller: Caller, body: OneOrMany, service: Arc<Service>| async move {
                let read = std::time::Instant::now();
                let ids = service
                    .publish(&caller, body.into_events())
                    .await
                    .map_err(reject)?;
                crate::metrics::STAGE_SECONDS
                    .with_label_values(&["publish"])
                    .observe(read.elapsed().as_secs_f64());
                Ok::<_, Rejection>(super::accepted(&PublishAck { ids }))
            },
        );
    let history = warp::path!("api" / "history")
        .and(warp::get())
        .and(caller_for(service.clone(), edge.clone(), Right::View, None))
        .and(warp::query::<HistoryQuery>())
        .and(with_service(service.clone()))
        .and_then(
            |_: Caller, query: HistoryQuery, service: Arc<Service>| async move {
                let page = match (query.from, query.to) {
                    (None, None) => {
                        service
                            .history(query.npc.as_deref(), query.before, query.limit)
                            .await
                    }
                    // A window of time: `from` and `to` in ms since the epoch.
                    (from, to) => {
                        let window = (from.unwrap_or(0), to.unwrap_or(i64::MAX));
                        service
                            .history_window(query.npc.as_deref(), window, query.after, query.limit)
                            .await
                    }
                }
                .map_err(reject)?;
                Ok::<_, Rejection>(super::json_bytes(page.to_json()))
            },
        );
    let agents = warp::path!("api" / "agents")
        .and(warp::get())
        .and(caller_for(service.clone(), edge.clone(), Right::View, None))
        .and(warp::query::<MomentQuery>())
        .and(with_service(service))
        .and_then(
            |_: Caller, query: MomentQuery, service: Arc<Service>| async move {
                let roster = match query.at {
                    // The office as it stood then.
                    Some(at) => service.roster_at(at).await,
                    None => service.roster_with_usage().await,
                }
                .map_err(reject)?;
                Ok::<_, Rejection>(warp::reply::json(&roster))
            },
        );
    publish.or(history).or(agents)
}

/// `/api/events` takes one event or an array of them.
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(PublishEvent),
    Many(Vec<PublishEvent>),
}

impl OneOrMany {
    fn into_events(self) -> Vec<PublishEvent> {
        match self {
            OneOrMany::One(event) => vec![event],
            OneOrMany::Many(events) => events,
        }
    }
}

#[derive(Deserialize)]
struct HistoryQuery {
    npc: Option<String>,
    before: Option<u64>,
    limit: Option<usize>,
    from: Option<i64>,
    to: Option<i64>,
    after: Option<u64>,
}

#[derive(Deserialize)]
struct MomentQuery {
    /// Milliseconds since the epoch.
    at: Option<i64>,
}
