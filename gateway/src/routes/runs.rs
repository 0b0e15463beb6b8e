//! `POST /api/run/:agent`, `GET /api/runs`, `GET /api/runs/:id`, cancel and respond.

use super::{RouteSettings, caller_with, json_body, reject, with_service};
use crate::auth::{Caller, Right};
use crate::error::ApiError;
use crate::service::Service;
use protocol::{RespondRequest, RunRequest, RunsPage};
use serde::Deserialize;
use std::sync::Arc;
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

pub fn routes(
    service: Arc<Service>,
    settings: RouteSettings,
) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let limit = settings.body_limit;
    let run = warp::path!("api" / "run" / String)
        .and(warp::post())
        .and(caller_with(service.clone(), Right::Operate))
        .and(optional_json::<RunRequest>(limit))
        .and(with_service(service.clone()))
        .and_then(
            |agent: String, _: Caller, request: RunRequest, service: Arc<Service>| async move {
                let accepted = service
                    .start_run(&agent, request.payload)
                    .await
                    .map_err(reject)?;
                Ok::<_, Rejection>(warp::reply::with_status(
                    warp::reply::json(&accepted),
                    StatusCode::ACCEPTED,
                ))
            },
        );
    let list = warp::path!("api" / "runs")
        .and(warp::get())
        .and(caller_with(service.clone(), Right::View))
        .and(warp::query::<RunsQuery>())
        .and(with_service(service.clone()))
        .and_then(
            |_: Caller, query: RunsQuery, service: Arc<Service>| async move {
                if let Some(agent) = &query.agent
                    && service.registry().agent(agent).is_none()
                {
                    return Err(reject(ApiError::UnknownAgent(agent.clone())));
                }
                let limit = query.limit.unwrap_or(50).clamp(1, 500);
                let runs = service
                    .store
                    .runs(query.agent.as_deref(), limit)
                    .await
                    .map_err(|e| reject(e.into()))?;
                Ok(warp::reply::json(&RunsPage { runs }))
            },
        );
    let one = warp::path!("api" / "runs" / String)
        .and(warp::get())
        .and(caller_with(service.clone(), Right::View))
        .and(with_service(service.clone()))
        .and_then(
            |run_id: String, _: Caller, service: Arc<Service>| async move {
                match service
                    .store
                    .run(&run_id)
                    .await
                    .map_err(|e| reject(e.into()))?
                {
                    Some(run) => Ok(warp::reply::json(&run.summary)),
                    None => Err(reject(ApiError::UnknownRun(run_id))),
                }
            },
        );
    let cancel = warp::path!("api" / "runs" / String / "cancel")
        .and(warp::post())
        .and(caller_with(service.clone(), Right::Operate))
        .and(with_service(service.clone()))
        .and_then(
            |run_id: String, caller: Caller, service: Arc<Service>| async move {
                let id = service.cancel_run(&run_id, &caller).await.map_err(reject)?;
                Ok::<_, Rejection>(warp::reply::with_status(
                    warp::reply::json(&serde_json::json!({ "run_id": run_id, "event_id": id })),
                    StatusCode::ACCEPTED,
                ))
            },
        );
    let respond = warp::path!("api" / "runs" / String / "respond")
        .and(warp::post())
        .and(caller_with(service.clone(), Right::Operate))
        .and(json_body::<RespondRequest>(limit))
        .and(with_service(service))
        .and_then(|run_id: String, caller: Caller, answer: RespondRequest, service: Arc<Service>| async move {
            let id = service.respond(&run_id, &caller, answer).await.map_err(reject)?;
            Ok::<_, Rejection>(warp::reply::with_status(
                warp::reply::json(&serde_json::json!({ "run_id": run_id, "event_id": id })),
                StatusCode::ACCEPTED,
            ))
        });
    run.or(list).or(one).or(cancel).or(respond)
}

#[derive(Deserialize)]
struct RunsQuery {
    agent: Option<String>,
    limit: Option<usize>,
}

/// A Run button sends no body at all; treat that as `{}`.
fn optional_json<T: serde::de::DeserializeOwned + Default + Send>(
    limit: u64,
) -> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    warp::header::optional::<u64>("content-length")
        .and(warp::header::optional::<String>("transfer-encoding"))
        .and_then(|length: Option<u64>, chunked: Option<String>| async move {
            if length.unwrap_or(0) == 0 && chunked.is_none() {
                Ok(())
            } else {
                Err(warp::reject())
            }
        })
        .untuple_one()
        .map(T::default)
        .or(json_body::<T>(limit))
        .unify()
}
