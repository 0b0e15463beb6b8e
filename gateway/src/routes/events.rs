//! `POST /api/events`, `GET /api/stream`, `GET /api/history`, `GET /api/agents`.

use super::{RouteSettings, caller_with, json_body, reject, with_service};
use crate::auth::{Caller, Right};
use crate::error::ApiError;
use crate::hub::Followed;
use crate::service::Service;
use crate::store::NpcFilter;
use protocol::{HistoryPage, PublishAck, PublishEvent};
use serde::Deserialize;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use warp::http::StatusCode;
use warp::sse::Event;
use warp::{Filter, Rejection, Reply};

/// How long a client waits before reconnecting after the stream ends.
const RETRY_HINT: Duration = Duration::from_millis(1000);

pub fn routes(
    service: Arc<Service>,
    settings: RouteSettings,
) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let publish = warp::path!("api" / "events")
        .and(warp::post())
        .and(caller_with(service.clone(), Right::Publish))
        .and(json_body::<OneOrMany>(settings.body_limit))
        .and(with_service(service.clone()))
        .and_then(publish);
    let keepalive = settings.keepalive;
    let stream = warp::path!("api" / "stream")
        .and(warp::get())
        .and(caller_with(service.clone(), Right::View))
        .and(warp::query::<StreamQuery>())
        .and(warp::header::optional::<String>("last-event-id"))
        .and(with_service(service.clone()))
        .and_then(move |_: Caller, query, last_event_id, service| {
            stream(query, last_event_id, service, keepalive)
        });
    let history = warp::path!("api" / "history")
        .and(warp::get())
        .and(caller_with(service.clone(), Right::View))
        .and(warp::query::<HistoryQuery>())
        .and(with_service(service.clone()))
        .and_then(history);
    let agents = warp::path!("api" / "agents")
        .and(warp::get())
        .and(caller_with(service.clone(), Right::View))
        .and(with_service(service))
        .map(|_: Caller, service: Arc<Service>| warp::reply::json(&service.roster()));
    publish.or(stream).or(history).or(agents)
}

/// `/api/events` takes one event or an array of them.
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(PublishEvent),
    Many(Vec<PublishEvent>),
}

async fn publish(
    caller: Caller,
    body: OneOrMany,
    service: Arc<Service>,
) -> Result<impl Reply, Rejection> {
    let events = match body {
        OneOrMany::One(event) => vec![event],
        OneOrMany::Many(events) => events,
    };
    let ids = service.publish(&caller, events).await.map_err(reject)?;
    Ok(warp::reply::with_status(
        warp::reply::json(&PublishAck { ids }),
        StatusCode::ACCEPTED,
    ))
}

#[derive(Deserialize)]
struct StreamQuery {
    npc: Option<String>,
    since: Option<u64>,
}

/// Parses `npc=a,b` against the registry; none means every npc.
fn npc_filter(service: &Service, npc: Option<&str>) -> Result<NpcFilter, ApiError> {
    let Some(list) = npc.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(NpcFilter::All);
    };
    let registry = service.registry();
    let mut npcs = std::collections::HashSet::new();
    for npc in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if !registry.has_npc(npc) {
            return Err(ApiError::UnknownNpc(npc.to_owned()));
        }
        npcs.insert(npc.to_owned());
    }
    Ok(NpcFilter::Only(npcs))
}

async fn stream(
    query: StreamQuery,
    last_event_id: Option<String>,
    service: Arc<Service>,
    keepalive: Duration,
) -> Result<impl Reply, Rejection> {
    let filter = npc_filter(&service, query.npc.as_deref()).map_err(reject)?;
    // The header wins: it is what a reconnecting EventSource sends.
    let after = match last_event_id
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(id) => id.parse::<u64>().map_err(|_| {
            reject(ApiError::InvalidRequest(format!(
                "Last-Event-ID `{id}` is not an event id"
            )))
        })?,
        None => query.since.unwrap_or_else(|| service.board.last_id()),
    };
    let hello = futures_util::stream::once(async {
        Ok::<_, Infallible>(Event::default().retry(RETRY_HINT).comment("esprit-hub"))
    });
    let events = futures_util::StreamExt::map(
        service.hub.follow(service.store.clone(), filter, after),
        |followed| {
            Ok::<_, Infallible>(match followed {
                Followed::Event(event) => Event::default()
                    .id(event.id.to_string())
                    .event(event.kind.as_str())
                    .data(&*event.json),
                Followed::CutOff => Event::default()
                    .retry(RETRY_HINT)
                    .comment("fell behind: reconnect with Last-Event-ID"),
                Followed::ShuttingDown => Event::default()
                    .retry(RETRY_HINT)
                    .comment("gateway restarting"),
            })
        },
    );
    // warp wants a `Sync` stream; the wrapper gives that without a lock, since polling needs `&mut`.
    let body = sync_wrapper::SyncStream::new(futures_util::StreamExt::chain(hello, events));
    Ok(warp::sse::reply(
        warp::sse::keep_alive().interval(keepalive).stream(body),
    ))
}

#[derive(Deserialize)]
struct HistoryQuery {
    npc: Option<String>,
    before: Option<u64>,
    limit: Option<usize>,
}

async fn history(
    _: Caller,
    query: HistoryQuery,
    service: Arc<Service>,
) -> Result<impl Reply, Rejection> {
    let npc = query
        .npc
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    if let Some(npc) = npc
        && !service.registry().has_npc(npc)
    {
        return Err(reject(ApiError::UnknownNpc(npc.to_owned())));
    }
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let events = service
        .store
        .history(npc, query.before, limit)
        .await
        .map_err(|e| reject(e.into()))?;
    let next_before = (events.len() == limit)
        .then(|| events.first().map(|e| e.id))
        .flatten();
    let events = events
        .iter()
        .map(|e| serde_json::from_str(&e.json))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            reject(ApiError::Store(crate::store::StoreError::Corrupt(
                e.to_string(),
            )))
        })?;
    Ok(warp::reply::json(&HistoryPage {
        events,
        next_before,
    }))
}
