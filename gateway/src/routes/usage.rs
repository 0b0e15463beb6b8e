//! `GET /api/usage` (what the runs cost, per agent and in all), `GET
//! /api/summary` (what happened while a person was away), `GET /api/marks`
//! (the errors and questions of a window, for the time slider) and
//! `POST /api/agents/:agent/bench/lift` (an operator lifts a budget's bench
//! for the rest of the day).

use super::edge::{Action, Edge};
use super::{caller_for, reject, with_service};
use crate::auth::{Caller, Right};
use crate::core::Service;
use serde::Deserialize;
use std::sync::Arc;
use warp::{Filter, Rejection, Reply};

pub fn routes(
    service: Arc<Service>,
    edge: Arc<Edge>,
) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let usage = warp::path!("api" / "usage")
        .and(warp::get())
        .and(caller_for(service.clone(), edge.clone(), Right::View, None))
        .and(warp::query::<UsageQuery>())
        .and(with_service(service.clone()))
        .and_then(
            |_: Caller, query: UsageQuery, service: Arc<Service>| async move {
                let report = service
                    .usage(query.since.as_deref(), query.until.as_deref())
                    .await
                    .map_err(reject)?;
                Ok::<_, Rejection>(warp::reply::json(&report))
            },
        );
    let lift = warp::path!("api" / "agents" / String / "bench" / "lift")
        .and(warp::post())
        .and(caller_for(
            service.clone(),
            edge.clone(),
            Right::Operate,
            Some(Action::Operate),
        ))
        .and(with_service(service.clone()))
        .and_then(
            |agent: String, caller: Caller, service: Arc<Service>| async move {
                let event_id = service.lift_bench(&agent, &caller).await.map_err(reject)?;
                Ok::<_, Rejection>(super::accepted(&serde_json::json!({"event_id": event_id})))
            },
        );
    let summary = warp::path!("api" / "summary")
        .and(warp::get())
        .and(caller_for(service.clone(), edge.clone(), Right::View, None))
        .and(warp::query::<SummaryQuery>())
        .and(with_service(service.clone()))
        .and_then(
            |_: Caller, query: SummaryQuery, service: Arc<Service>| async move {
                let summary = service.away_summary(query.since).await.map_err(reject)?;
                Ok::<_, Rejection>(warp::reply::json(&summary))
            },
        );
    let marks = warp::path!("api" / "marks")
        .and(warp::get())
        .and(caller_for(service.clone(), edge.clone(), Right::View, None))
        .and(warp::query::<MarksQuery>())
        .and(with_service(service.clone()))
        .and_then(
            |_: Caller, query: MarksQuery, service: Arc<Service>| async move {
                let to = query.to.unwrap_or_else(crate::store::now_ms);
                let marks = service.marks(query.from, to).await.map_err(reject)?;
                Ok::<_, Rejection>(warp::reply::json(&marks))
            },
        );
    usage.or(lift).or(summary).or(marks)
}

/// `?from=&to=` in ms since the epoch; `to` defaults to now.
#[derive(Deserialize)]
struct MarksQuery {
    from: i64,
    to: Option<i64>,
}

/// `since`: milliseconds since the epoch (the person's last visit).
#[derive(Deserialize)]
struct SummaryQuery {
    since: i64,
}

#[derive(Deserialize)]
struct UsageQuery {
    since: Option<String>,
    until: Option<String>,
}
