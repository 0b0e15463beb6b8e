//! `POST /api/run/:agent`, `GET /api/runs`, `GET /api/runs/count`,
//! `GET /api/runs/:id`, cancel and respond.

use super::edge::{Action, Edge};
use super::{
    ApiError, RouteSettings, accepted, caller_for, json_body, optional_json, reject, with_service,
};
use crate::auth::{Caller, Right};
use crate::core::Service;
use protocol::{RespondRequest, RunRequest};
use serde::Deserialize;
use std::sync::Arc;
use warp::{Filter, Rejection, Reply};

pub fn routes(
    service: Arc<Service>,
    settings: RouteSettings,
    edge: Arc<Edge>,
) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let (limit, timeout) = (settings.body_limit, settings.body_timeout);
    let run = warp::path!("api" / "run" / String)
        .and(warp::post())
        .and(caller_for(
            service.clone(),
            edge.clone(),
            Right::Operate,
            Some(Action::Operate),
        ))
        .and(optional_json::<RunRequest>(limit, timeout))
        .and(with_service(service.clone()))
        .and_then(
            |agent: String, caller: Caller, request: RunRequest, service: Arc<Service>| async move {
                let ack = service
                    .start_run(&agent, &caller, request.payload)
                    .await
                    .map_err(reject)?;
                Ok::<_, Rejection>(accepted(&ack))
            },
        );
    let list = warp::path!("api" / "runs")
        .and(warp::get())
        .and(caller_for(service.clone(), edge.clone(), Right::View, None))
        .and(warp::query::<RunsQuery>())
        .and(with_service(service.clone()))
        .and_then(
            |_: Caller, query: RunsQuery, service: Arc<Service>| async move {
                let page = service
                    .runs(query.agent.as_deref(), query.before.as_deref(), query.limit)
                    .await
                    .map_err(reject)?;
                Ok::<_, Rejection>(warp::reply::json(&page))
            },
        );
    let count = warp::path!("api" / "runs" / "count")
        .and(warp::get())
        .and(caller_for(service.clone(), edge.clone(), Right::View, None))
        .and(warp::query::<CountQuery>())
        .and(with_service(service.clone()))
        .and_then(
            |_: Caller, query: CountQuery, service: Arc<Service>| async move {
                // Answered here, never rejected: `/api/runs/:id` would take the
                // rejection over and call "count" an unknown run.
                let since = query.since.as_deref().unwrap_or_default();
                Ok::<_, Rejection>(match service.runs_started_since(since).await {
                    Ok(count) => warp::reply::json(&count).into_response(),
                    Err(error) => ApiError::from(error).into_response(),
                })
            },
        );
    let one = warp::path!("api" / "runs" / String)
        .and(warp::get())
        .and(caller_for(service.clone(), edge.clone(), Right::View, None))
        .and(with_service(service.clone()))
        .and_then(
            |run_id: String, _: Caller, service: Arc<Service>| async move {
                let run = service.run(&run_id).await.map_err(reject)?;
                Ok::<_, Rejection>(warp::reply::json(&run))
            },
        );
    let cancel = warp::path!("api" / "runs" / String / "cancel")
        .and(warp::post())
        .and(caller_for(
            service.clone(),
            edge.clone(),
            Right::Operate,
            Some(Action::Operate),
        ))
        .and(with_service(service.clone()))
        .and_then(
            |run_id: String, caller: Caller, service: Arc<Service>| async move {
                let ack = service.cancel_run(&run_id, &caller).await.map_err(reject)?;
                Ok::<_, Rejection>(accepted(&ack))
            },
        );
    let respond = warp::path!("api" / "runs" / String / "respond")
        .and(warp::post())
        .and(caller_for(service.clone(), edge.clone(), Right::Operate, Some(Action::Operate)))
        .and(json_body::<RespondRequest>(limit, timeout))
        .and(with_service(service))
        .and_then(
            |run_id: String, caller: Caller, answer: RespondRequest, service: Arc<Service>| async move {
                let ack = service
                    .answer(&run_id, &caller, answer)
                    .await
                    .map_err(reject)?;
                Ok::<_, Rejection>(accepted(&ack))
            },
        );
    run.or(list).or(count).or(one).or(cancel).or(respond)
}

#[derive(Deserialize)]
struct RunsQuery {
    agent: Option<String>,
    before: Option<String>,
    limit: Option<usize>,
}

#[derive(Deserialize)]
struct CountQuery {
    since: Option<String>,
}
