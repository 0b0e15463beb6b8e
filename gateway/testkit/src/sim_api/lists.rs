//! The lists Sim v0.8.9 gives an API key:
//! - `GET /api/v1/workflows?workspaceId&deployedOnly&limit&cursor`
//!   (app/api/v1/workflows/route.ts): `{data, nextCursor, limits}`, `limit`
//!   1–100 (default 50), archived ones left out;
//! - `GET /api/v1/logs` (app/api/v1/logs/route.ts, lib/logs/public-queries.ts,
//!   public-filters.ts): filters `executionId`, `workflowIds`, `startDate`
//!   (inclusive), `order` (`desc` default), `limit` (clamped to 1–1000,
//!   default 100), `cursor`; `details=full` adds `workflow` and, with their
//!   flags, `traceSpans` and `finalOutput`;
//! - `GET /api/workflows/{id}/paused?status=` (PauseResumeManager.listPausedExecutions):
//!   `{pausedExecutions: [{executionId, status, pausePoints: [...]}]}`;
//! - `GET /api/v2/workflows` only with v2 on (else 404 `NOT_FOUND`).
//!
//! Cursors are opaque to clients; here they are the index to resume at.

use super::{LogRow, StandInSimApi, error, iso};
use serde_json::{Value, json};
use std::collections::HashMap;
use warp::http::StatusCode;
use warp::{Filter, Reply};

type Query = HashMap<String, String>;

fn flag(query: &Query, name: &str) -> bool {
    query.get(name).map(String::as_str) == Some("true")
}

fn row_json(row: &LogRow, workflow_name: Option<&str>, query: &Query) -> Value {
    let full = query.get("details").map(String::as_str) == Some("full");
    let mut out = json!({
        "id": row.id, "workflowId": row.workflow_id, "executionId": row.execution_id,
        "deploymentVersionId": null, "level": row.level, "trigger": row.trigger,
        "startedAt": iso(row.started_ms), "endedAt": row.ended_ms.map(iso),
        "totalDurationMs": row.ended_ms.map(|end| end - row.started_ms),
        "cost": row.cost.map(|total| json!({"total": total})), "files": null,
    });
    if full {
        out["workflow"] = json!({"id": row.workflow_id, "name": workflow_name.unwrap_or("Deleted Workflow"),
            "description": null, "deleted": workflow_name.is_none()});
        if flag(query, "includeTraceSpans") && row.ended_ms.is_some() {
            out["traceSpans"] = Value::Array(row.spans.clone());
        }
        if flag(query, "includeFinalOutput")
            && let Some(output) = &row.final_output
        {
            out["finalOutput"] = output.clone();
        }
    }
    out
}

fn logs(api: &StandInSimApi, query: &Query) -> warp::reply::Response {
    if !query.contains_key("workspaceId") {
        return error(
            StatusCode::BAD_REQUEST,
            json!({"error": "Invalid parameters"}),
        );
    }
    let desc = query.get("order").map(String::as_str) != Some("asc");
    let limit = query
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(100)
        .clamp(1, 1000);
    let start = query
        .get("startDate")
        .map(|d| gateway::store::ts_ms(d).ok_or(()))
        .transpose();
    let Ok(start) = start else {
        return error(
            StatusCode::BAD_REQUEST,
            json!({"error": "Invalid parameters"}),
        );
    };
    let state = api.state.lock().unwrap();
    let mut rows: Vec<&LogRow> = state
        .logs
        .iter()
        .filter(|r| {
            query
                .get("executionId")
                .is_none_or(|id| &r.execution_id == id)
        })
        .filter(|r| start.is_none_or(|s| r.started_ms >= s))
        .collect();
    rows.sort_by_key(|r| (r.started_ms, r.id.clone()));
    if desc {
        rows.reverse();
    }
    let skip = match query.get("cursor").map(|c| c.parse::<usize>()) {
        Some(Ok(skip)) => skip,
        Some(Err(_)) => return error(StatusCode::BAD_REQUEST, json!({"error": "Invalid cursor"})),
        None => 0,
    };
    let page: Vec<Value> = rows
        .iter()
        .skip(skip)
        .take(limit)
        .map(|row| {
            row_json(
                row,
                state.workflow(&row.workflow_id).map(|w| w.name.as_str()),
                query,
            )
        })
        .collect();
    let next = (rows.len() > skip + limit).then(|| (skip + limit).to_string());
    warp::reply::json(&json!({"data": page, "nextCursor": next, "limits": {}})).into_response()
}

fn workflows(api: &StandInSimApi, query: &Query) -> warp::reply::Response {
    if !query.contains_key("workspaceId") {
        return error(
            StatusCode::BAD_REQUEST,
            json!({"error": "Invalid parameters"}),
        );
    }
    let limit = query
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return error(
            StatusCode::BAD_REQUEST,
            json!({"error": "Invalid parameters"}),
        );
    }
    let skip = query
        .get("cursor")
        .and_then(|c| c.parse::<usize>().ok())
        .unwrap_or(0);
    let state = api.state.lock().unwrap();
    let listed: Vec<Value> = state
        .workflows
        .iter()
        .filter(|(_, w)| w.deployed || !flag(query, "deployedOnly"))
        .map(|(id, w)| {
            json!({"id": id, "name": w.name, "description": null, "folderId": null,
            "workspaceId": query["workspaceId"], "isDeployed": w.deployed, "deployedAt": null,
            "runCount": 0, "lastRunAt": null, "createdAt": iso(0), "updatedAt": iso(0)})
        })
        .collect();
    let page: Vec<Value> = listed.iter().skip(skip).take(limit).cloned().collect();
    let next = (listed.len() > skip + limit).then(|| (skip + limit).to_string());
    warp::reply::json(&json!({"data": page, "nextCursor": next, "limits": {}})).into_response()
}

/// A paused execution as `PauseResumeManager.normalizePausedExecution`
/// writes it; only the one-execution route (`whole`) tells the latest
/// resume entry (the list maps pause points without the queue).
fn paused_json(execution: &str, p: &super::Paused, whole: bool) -> Value {
    let status = if p.resume_status == "paused" {
        "paused"
    } else {
        "fully_resumed"
    };
    let latest = p
        .resume_input
        .as_ref()
        .filter(|_| whole)
        .map(|input| json!({"resumeInput": input, "status": "completed"}));
    json!({
        "id": format!("paused-{execution}"), "workflowId": p.workflow_id, "executionId": execution,
        "status": status, "totalPauseCount": 1, "resumedCount": i32::from(status != "paused"),
        "pausedAt": iso(p.paused_ms), "updatedAt": iso(p.paused_ms), "expiresAt": null,
        "metadata": {}, "triggerIds": [],
        "pausePoints": [{
            "contextId": p.context_id, "blockId": p.context_id,
            "response": {"data": p.response_data, "status": 200},
            "registeredAt": iso(p.paused_ms), "resumeStatus": p.resume_status,
            "snapshotReady": true, "pauseKind": "human",
            "resumeLinks": p.response_data.get("_resume"),
            "queuePosition": null, "latestResumeEntry": latest,
        }],
    })
}

fn paused(api: &StandInSimApi, workflow_id: &str, query: &Query) -> warp::reply::Response {
    let wanted: Vec<&str> = query
        .get("status")
        .map(|s| s.split(',').map(str::trim).collect())
        .unwrap_or_default();
    let state = api.state.lock().unwrap();
    let list: Vec<Value> = state
        .paused
        .iter()
        .filter(|(_, p)| p.workflow_id == workflow_id)
        .map(|(execution, p)| paused_json(execution, p, false))
        .filter(|p| wanted.is_empty() || wanted.contains(&p["status"].as_str().unwrap_or("")))
        .collect();
    warp::reply::json(&json!({"pausedExecutions": list})).into_response()
}

/// `GET /api/workflows/{id}/paused/{executionId}`: one, with its snapshot and queue.
fn paused_one(api: &StandInSimApi, workflow_id: &str, execution: &str) -> warp::reply::Response {
    let state = api.state.lock().unwrap();
    match state
        .paused
        .get(execution)
        .filter(|p| p.workflow_id == workflow_id)
    {
        Some(p) => {
            let mut detail = paused_json(execution, p, true);
            detail["executionSnapshot"] = json!({"snapshot": "{}", "triggerIds": []});
            detail["queue"] = json!([]);
            warp::reply::json(&detail).into_response()
        }
        None => error(
            StatusCode::NOT_FOUND,
            json!({"error": "Paused execution not found"}),
        ),
    }
}

pub(crate) fn routes(api: &StandInSimApi) -> warp::filters::BoxedFilter<(warp::reply::Response,)> {
    let keyed = |api: StandInSimApi,
                 answer: fn(&StandInSimApi, &Query) -> warp::reply::Response| {
        move |key: Option<String>, query: Query| {
            api.refusal(key.as_deref())
                .unwrap_or_else(|| answer(&api, &query))
        }
    };
    let log_list = warp::path!("api" / "v1" / "logs")
        .and(warp::get())
        .and(warp::header::optional::<String>("x-api-key"))
        .and(warp::query::<Query>())
        .map(keyed(api.clone(), logs));
    let workflow_list = warp::path!("api" / "v1" / "workflows")
        .and(warp::get())
        .and(warp::header::optional::<String>("x-api-key"))
        .and(warp::query::<Query>())
        .map(keyed(api.clone(), workflows));
    let v2_workflows = {
        let api = api.clone();
        warp::path!("api" / "v2" / "workflows")
            .and(warp::get())
            .and(warp::header::optional::<String>("x-api-key"))
            .and(warp::query::<Query>())
            .map(move |key: Option<String>, query: Query| {
                if !api.state.lock().unwrap().v2 {
                    return error(
                        StatusCode::NOT_FOUND,
                        json!({"error": {"code": "NOT_FOUND", "message": "Not found"}}),
                    );
                }
                api.refusal(key.as_deref())
                    .unwrap_or_else(|| workflows(&api, &query))
            })
    };
    let paused_list = {
        let api = api.clone();
        warp::path!("api" / "workflows" / String / "paused")
            .and(warp::get())
            .and(warp::header::optional::<String>("x-api-key"))
            .and(warp::query::<Query>())
            .map(move |workflow: String, key: Option<String>, query: Query| {
                api.refusal(key.as_deref())
                    .unwrap_or_else(|| paused(&api, &workflow, &query))
            })
    };
    let paused_detail = {
        let api = api.clone();
        warp::path!("api" / "workflows" / String / "paused" / String)
            .and(warp::get())
            .and(warp::header::optional::<String>("x-api-key"))
            .map(
                move |workflow: String, execution: String, key: Option<String>| {
                    api.refusal(key.as_deref())
                        .unwrap_or_else(|| paused_one(&api, &workflow, &execution))
                },
            )
    };
    log_list
        .or(paused_detail)
        .unify()
        .or(workflow_list)
        .unify()
        .or(v2_workflows)
        .unify()
        .or(paused_list)
        .unify()
        .boxed()
}
