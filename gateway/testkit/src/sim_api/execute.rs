//! Running a workflow through Sim v0.8.9's API:
//! - `POST /api/workflows/{id}/execute` (apps/sim/app/api/workflows/[id]/execute/route.ts):
//!   `X-API-Key` (401 `Invalid API key`), 404 `Workflow not found`, 403
//!   `Workflow is not deployed`, `X-Execution-Id` checked against
//!   `^[A-Za-z0-9._:-]+$` and claimed once (409 `EXECUTION_ID_CONFLICT`), the
//!   body minus control fields as input, `X-Execution-Mode: async` → 202 with
//!   a job, `stream: true` → SSE frames as in lib/workflows/streaming/streaming.ts;
//!   a run that pauses answers with the Human in the Loop block's output
//!   (its `data._resume` links) as the result.
//! - `GET /api/jobs/{jobId}` (apps/sim/app/api/jobs/[jobId]/route.ts).
//! - `POST /api/workflows/{id}/executions/{executionId}/cancel`
//!   (apps/sim/app/api/workflows/[id]/executions/[executionId]/cancel/route.ts).

use super::runner::{Run, Stopped};
use super::{StandInSimApi, Streaming, error};
use serde_json::{Map, Value, json};
use std::time::Duration;
use warp::http::StatusCode;
use warp::{Filter, Reply};

/// What one execute request carried.
#[derive(Clone, Debug)]
pub struct ExecuteCall {
    pub headers: warp::http::HeaderMap,
    pub body: Value,
    pub input: Value,
}

/// Body fields the route keeps for itself; the rest is the workflow input.
const CONTROL_FIELDS: &[&str] = &[
    "selectedOutputs",
    "triggerType",
    "stream",
    "useDraftState",
    "inputFromExecutionId",
    "includeFileBase64",
    "base64MaxBytes",
    "workflowStateOverride",
    "deploymentVersionId",
    "triggerBlockId",
    "stopAfterBlockId",
    "runFromBlock",
    "copilotToolCallId",
    "workflowId",
    "parentWorkspaceId",
];

pub(crate) fn routes(api: &StandInSimApi) -> warp::filters::BoxedFilter<(warp::reply::Response,)> {
    let execute = {
        let api = api.clone();
        warp::path!("api" / "workflows" / String / "execute")
            .and(warp::post())
            .and(warp::header::headers_cloned())
            .and(warp::body::bytes())
            .then(move |id: String, headers, raw: bytes::Bytes| {
                let api = api.clone();
                async move { api.execute(id, headers, raw).await }
            })
    };
    let jobs = {
        let api = api.clone();
        warp::path!("api" / "jobs" / String)
            .and(warp::get())
            .and(warp::header::optional::<String>("x-api-key"))
            .map(move |job: String, key: Option<String>| {
                if key.as_deref() != Some(api.key.as_str()) {
                    return error(
                        StatusCode::UNAUTHORIZED,
                        json!({"error": "Authentication required"}),
                    );
                }
                match api.state.lock().unwrap().jobs.get(&job) {
                    Some(status) => warp::reply::json(status).into_response(),
                    None => error(StatusCode::NOT_FOUND, json!({"error": "Task not found"})),
                }
            })
    };
    let cancel = {
        let api = api.clone();
        warp::path!("api" / "workflows" / String / "executions" / String / "cancel")
            .and(warp::post())
            .and(warp::header::optional::<String>("x-api-key"))
            .map(move |_: String, execution: String, key: Option<String>| {
                if key.as_deref() != Some(api.key.as_str()) {
                    return error(StatusCode::UNAUTHORIZED, json!({"error": "Unauthorized"}));
                }
                api.state.lock().unwrap().cancelled.push(execution.clone());
                warp::reply::json(&json!({"success": true, "executionId": execution}))
                    .into_response()
            })
    };
    execute.or(jobs).unify().or(cancel).unify().boxed()
}

/// An `X-Execution-Id` Sim accepts.
fn valid_execution_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._:-".contains(c))
}

impl StandInSimApi {
    async fn execute(
        &self,
        id: String,
        headers: warp::http::HeaderMap,
        raw: bytes::Bytes,
    ) -> warp::reply::Response {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        if let Some(refused) = self.refusal(header("x-api-key").as_deref()) {
            return refused;
        }
        let Ok(body) = serde_json::from_slice::<Value>(&raw) else {
            return error(
                StatusCode::BAD_REQUEST,
                json!({"error": "Invalid JSON in request body"}),
            );
        };
        let asked_id = header("x-execution-id");
        if asked_id
            .as_deref()
            .is_some_and(|id| !valid_execution_id(id))
        {
            return error(
                StatusCode::BAD_REQUEST,
                json!({"error": "Invalid execution ID header"}),
            );
        }
        let (workflow, execution_id) = {
            let mut state = self.state.lock().unwrap();
            let Some(workflow) = state.workflow(&id).cloned() else {
                return error(
                    StatusCode::NOT_FOUND,
                    json!({"error": "Workflow not found"}),
                );
            };
            let execution_id = asked_id.unwrap_or_else(|| state.fresh_id("exec"));
            if !state.claimed.insert(execution_id.clone()) {
                return error(
                    StatusCode::CONFLICT,
                    json!({"error": "Execution ID has already been used", "code": "EXECUTION_ID_CONFLICT", "executionId": execution_id}),
                );
            }
            if !workflow.deployed {
                return error(
                    StatusCode::FORBIDDEN,
                    json!({"error": "Workflow is not deployed"}),
                );
            }
            (workflow, execution_id)
        };
        let mut input = body.as_object().cloned().unwrap_or_default();
        input.retain(|k, _| !CONTROL_FIELDS.contains(&k.as_str()));
        let input = Value::Object(input);
        self.state.lock().unwrap().calls.push(ExecuteCall {
            headers: headers.clone(),
            body: body.clone(),
            input: input.clone(),
        });
        let run = Run {
            api: self.clone(),
            workflow_id: id.clone(),
            execution_id: execution_id.clone(),
            workflow,
            input,
            trigger: "api".into(),
        };
        if header("x-execution-mode").as_deref() == Some("async") {
            return self.queue(run);
        }
        let wants_stream = body.get("stream") == Some(&json!(true))
            || header("x-stream-response").as_deref() == Some("true");
        if !wants_stream {
            let stopped = run.run_all().await;
            return warp::reply::json(&sync_answer(&execution_id, stopped)).into_response();
        }
        self.stream(run, &body)
    }

    /// `X-Execution-Mode: async`: 202 with a job to poll.
    fn queue(&self, run: Run) -> warp::reply::Response {
        let job = format!("job-{}", run.execution_id);
        self.set_job(&job, json!({"success": true, "taskId": job, "status": "pending", "metadata": {"workflowId": run.workflow_id}}));
        let answer = json!({
            "success": true, "async": true, "jobId": job, "executionId": run.execution_id,
            "message": "Workflow execution queued",
            "statusUrl": format!("{}/api/jobs/{job}", self.url),
        });
        tokio::spawn(run_as_job(run, job));
        warp::reply::with_status(warp::reply::json(&answer), StatusCode::ACCEPTED).into_response()
    }

    /// `stream: true`: a chunk per selected block output, then the final frame.
    fn stream(&self, run: Run, body: &Value) -> warp::reply::Response {
        let streaming = self
            .state
            .lock()
            .unwrap()
            .streaming
            .unwrap_or(Streaming::Normal);
        if streaming == Streaming::Unavailable {
            return error(StatusCode::BAD_GATEWAY, json!({"error": "Bad Gateway"}));
        }
        let selected: Vec<String> = body
            .get("selectedOutputs")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|v| v.as_str().map(normalize)).collect())
            .unwrap_or_default();
        let (tx, rx) =
            tokio::sync::mpsc::unbounded_channel::<Result<warp::sse::Event, std::io::Error>>();
        tokio::spawn(async move {
            let frame = |value: Value| Ok(warp::sse::Event::default().data(value.to_string()));
            let mut sent_blocks = 0;
            let stopped = run
                .blocks_streaming(|block| {
                    for output in &selected {
                        let Some((name, path)) = output.split_once('.') else {
                            continue;
                        };
                        if normalize(&block.name) != name {
                            continue;
                        }
                        let value = block.output.get(path).cloned().unwrap_or(Value::Null);
                        let chunk = value
                            .as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| serde_json::to_string_pretty(&value).unwrap());
                        let _ = tx.send(frame(json!({"blockId": block.id, "chunk": chunk})));
                    }
                    sent_blocks += 1;
                    !matches!(streaming, Streaming::CutAfter(n) if sent_blocks >= n)
                })
                .await;
            match stopped {
                Stopped::Dropped => {
                    // Let what was sent reach the client, then drop the connection.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    let _ = tx.send(Err(std::io::Error::other("connection dropped")));
                }
                Stopped::Finished(output) | Stopped::Paused(output) => {
                    let _ = tx.send(frame(
                        json!({"event": "final", "data": {"success": true, "output": output}}),
                    ));
                    let _ = tx.send(frame(json!("[DONE]")));
                }
                Stopped::Failed(message) => {
                    let _ = tx.send(frame(json!({"event": "error", "error": message})));
                    let _ = tx.send(frame(json!("[DONE]")));
                }
            }
        });
        let frames = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        warp::sse::reply(frames).into_response()
    }

    fn set_job(&self, job: &str, status: Value) {
        self.state.lock().unwrap().jobs.insert(job.into(), status);
    }
}

/// Sim's `normalizeName`: lower case, no spaces.
fn normalize(name: &str) -> String {
    name.to_lowercase().replace(' ', "")
}

/// The answer to a synchronous execute.
fn sync_answer(execution_id: &str, stopped: Stopped) -> Value {
    match stopped {
        Stopped::Finished(output) | Stopped::Paused(output) => {
            json!({"success": true, "executionId": execution_id, "output": output, "metadata": {}})
        }
        Stopped::Failed(error) => {
            json!({"success": false, "executionId": execution_id, "error": error, "output": {}})
        }
        Stopped::Dropped => {
            json!({"success": false, "executionId": execution_id, "error": "dropped"})
        }
    }
}

async fn run_as_job(run: Run, job: String) {
    let status = |state: &str, extra: Map<String, Value>| {
        let mut status = json!({"success": true, "taskId": job, "status": state, "metadata": {"workflowId": run.workflow_id}});
        status.as_object_mut().unwrap().extend(extra);
        status
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    run.api.set_job(&job, status("processing", Map::new()));
    let stopped = run.run_all().await;
    // Long enough for a poller (once a second) to see it processing.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let finished = match stopped {
        Stopped::Failed(error) => status(
            "failed",
            Map::from_iter([("error".to_owned(), json!(error))]),
        ),
        Stopped::Finished(output) | Stopped::Paused(output) => status(
            "completed",
            Map::from_iter([(
                "output".to_owned(),
                json!({"success": true, "workflowId": run.workflow_id, "executionId": run.execution_id,
                    "output": output, "executedAt": "2026-11-25T12:00:00Z", "metadata": {}}),
            )]),
        ),
        Stopped::Dropped => status("failed", Map::new()),
    };
    run.api.set_job(&job, finished);
}
