//! A stand-in for the parts of Sim's API the gateway uses, as Sim v0.8.9
//! defines them (files cited in docs/sim-integration.md):
//! - `POST /api/workflows/{id}/execute` (apps/sim/app/api/workflows/[id]/execute/route.ts):
//!   `X-API-Key` (401 `Invalid API key`), 404 `Workflow not found`, 403
//!   `Workflow is not deployed`, `X-Execution-Id` checked against
//!   `^[A-Za-z0-9._:-]+$` and claimed once (409 `EXECUTION_ID_CONFLICT`), the
//!   body minus control fields as input, `X-Execution-Mode: async` → 202 with
//!   a job, `stream: true` → SSE frames as in lib/workflows/streaming/streaming.ts.
//! - `GET /api/jobs/{jobId}` (apps/sim/app/api/jobs/[jobId]/route.ts).
//! - `GET /api/v1/logs?executionId=…&details=full&includeTraceSpans=true`
//!   (apps/sim/app/api/v1/logs/route.ts): the log row exists from the start
//!   with `endedAt: null` and no spans, and is completed a moment after the
//!   answer (lib/workflows/executor/execution-core.ts does not await it); the
//!   Start block is logged like any block, `executionOrder` counts from 1
//!   (executor/execution/block-executor.ts, executor/types.ts); a loop's
//!   blocks sit in "Loop N" → "Iteration i" spans with no `blockId`, the
//!   loop block's own span dropped (lib/logs/execution/trace-spans/iteration-grouping.ts);
//!   a block whose error was handled keeps `status: "error"` with `errorHandled: true`.
//! - `POST /api/workflows/{id}/executions/{executionId}/cancel`
//!   (apps/sim/app/api/workflows/[id]/executions/[executionId]/cancel/route.ts).

use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use warp::http::StatusCode;
use warp::{Filter, Reply};

/// One block of a workflow.
#[derive(Clone, Debug)]
pub struct Block {
    pub id: String,
    pub name: String,
    /// Sim's block type (`function`, `agent`, `start_trigger`, …).
    pub kind: String,
    pub output: Value,
    /// Fails with this message instead of producing `output`.
    pub fails: Option<String>,
    /// The failure is caught by an error path: the workflow goes on.
    pub handled: bool,
    /// Runs this many times inside a loop (0: not in a loop).
    pub iterations: u32,
    /// Posts this `step` to the run's `callback_url`, as an API block would.
    pub callback: Option<String>,
}

impl Block {
    pub fn new(id: &str, name: &str, output: Value) -> Block {
        Block {
            id: id.into(),
            name: name.into(),
            kind: "function".into(),
            output,
            fails: None,
            handled: false,
            iterations: 0,
            callback: None,
        }
    }

    /// The Start block every API-run workflow begins with.
    pub fn start() -> Block {
        Block {
            kind: "start_trigger".into(),
            ..Block::new("b0-start", "Start", json!({"input": "ok"}))
        }
    }
}

#[derive(Clone, Debug)]
pub struct Workflow {
    pub deployed: bool,
    pub blocks: Vec<Block>,
}

/// How the stand-in treats streaming requests.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Streaming {
    Normal,
    /// Drop the connection after this many blocks, without a final frame.
    CutAfter(usize),
    /// Answer streaming requests with 502, as a proxy in front of Sim can.
    Unavailable,
}

/// What one execute request carried.
#[derive(Clone, Debug)]
pub struct ExecuteCall {
    pub headers: warp::http::HeaderMap,
    pub body: Value,
    pub input: Value,
}

#[derive(Default)]
struct State {
    workflows: HashMap<String, Workflow>,
    claimed: HashSet<String>,
    jobs: HashMap<String, Value>,
    logs: HashMap<String, Value>,
    calls: Vec<ExecuteCall>,
    streaming: Option<Streaming>,
    cancelled: Vec<String>,
}

#[derive(Clone)]
pub struct StandInSimApi {
    pub url: String,
    pub key: String,
    state: Arc<Mutex<State>>,
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

const BLOCK_MILLIS: u64 = 40;
/// How long after the answer Sim finishes writing the execution log.
const LOG_LAG_MILLIS: u64 = 400;

fn error(status: StatusCode, body: Value) -> warp::reply::Response {
    warp::reply::with_status(warp::reply::json(&body), status).into_response()
}

impl StandInSimApi {
    pub async fn start(key: &str) -> StandInSimApi {
        let state = Arc::new(Mutex::new(State::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let api = StandInSimApi {
            url: url.clone(),
            key: key.into(),
            state,
        };
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
        let logs = {
            let api = api.clone();
            warp::path!("api" / "v1" / "logs")
                .and(warp::get())
                .and(warp::header::optional::<String>("x-api-key"))
                .and(warp::query::<HashMap<String, String>>())
                .map(move |key: Option<String>, query: HashMap<String, String>| {
                    if key.as_deref() != Some(api.key.as_str()) {
                        return error(
                            StatusCode::UNAUTHORIZED,
                            json!({"error": "Invalid API key"}),
                        );
                    }
                    let full = query.get("details").map(String::as_str) == Some("full")
                        && query.get("includeTraceSpans").map(String::as_str) == Some("true");
                    let state = api.state.lock().unwrap();
                    let data: Vec<Value> = query
                        .get("executionId")
                        .and_then(|id| state.logs.get(id))
                        .map(|log| {
                            let mut log = log.clone();
                            if !full {
                                log.as_object_mut().unwrap().remove("traceSpans");
                            }
                            vec![log]
                        })
                        .unwrap_or_default();
                    warp::reply::json(&json!({"data": data})).into_response()
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
        tokio::spawn(
            warp::serve(execute.or(jobs).or(logs).or(cancel))
                .incoming(listener)
                .run(),
        );
        api
    }

    /// Executions a cancel request named.
    pub fn cancelled(&self) -> Vec<String> {
        self.state.lock().unwrap().cancelled.clone()
    }

    pub fn add_workflow(&self, id: &str, workflow: Workflow) {
        self.state
            .lock()
            .unwrap()
            .workflows
            .insert(id.into(), workflow);
    }

    pub fn set_streaming(&self, streaming: Streaming) {
        self.state.lock().unwrap().streaming = Some(streaming);
    }

    pub fn calls(&self) -> Vec<ExecuteCall> {
        self.state.lock().unwrap().calls.clone()
    }

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
        match header("x-api-key") {
            None => return error(StatusCode::UNAUTHORIZED, json!({"error": "Unauthorized"})),
            Some(key) if key != self.key => {
                return error(
                    StatusCode::UNAUTHORIZED,
                    json!({"error": "Invalid API key"}),
                );
            }
            Some(_) => {}
        }
        let Ok(body) = serde_json::from_slice::<Value>(&raw) else {
            return error(
                StatusCode::BAD_REQUEST,
                json!({"error": "Invalid JSON in request body"}),
            );
        };
        let execution_id = header("x-execution-id");
        if let Some(id) = &execution_id {
            let valid = !id.is_empty()
                && id.len() <= 128
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._:-".contains(c));
            if !valid {
                return error(
                    StatusCode::BAD_REQUEST,
                    json!({"error": "Invalid execution ID header"}),
                );
            }
        }
        let workflow = {
            let mut state = self.state.lock().unwrap();
            let Some(workflow) = state.workflows.get(&id).cloned() else {
                return error(
                    StatusCode::NOT_FOUND,
                    json!({"error": "Workflow not found"}),
                );
            };
            let execution_id = execution_id
                .clone()
                .unwrap_or_else(|| format!("exec-{}", state.claimed.len()));
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
            workflow
        };
        let execution_id = execution_id.unwrap_or_else(|| format!("exec-{id}"));
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
        };
        if header("x-execution-mode").as_deref() == Some("async") {
            let job = format!("job-{execution_id}");
            self.set_job(&job, json!({"success": true, "taskId": job, "status": "pending", "metadata": {"workflowId": id}}));
            tokio::spawn(run.clone().run_as_job(job.clone()));
            return warp::reply::with_status(
                warp::reply::json(&json!({
                    "success": true, "async": true, "jobId": job, "executionId": execution_id,
                    "message": "Workflow execution queued",
                    "statusUrl": format!("{}/api/jobs/{job}", self.url),
                })),
                StatusCode::ACCEPTED,
            )
            .into_response();
        }
        let wants_stream = body.get("stream") == Some(&json!(true))
            || header("x-stream-response").as_deref() == Some("true");
        if !wants_stream {
            let outcome = run.run_all().await;
            return warp::reply::json(&run.sync_answer(outcome)).into_response();
        }
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
            let outcome = run
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
            match outcome {
                None => {
                    // Let what was sent reach the client, then drop the connection.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    let _ = tx.send(Err(std::io::Error::other("connection dropped")));
                }
                Some(Ok(output)) => {
                    let _ = tx.send(frame(
                        json!({"event": "final", "data": {"success": true, "output": output}}),
                    ));
                    let _ = tx.send(frame(json!("[DONE]")));
                }
                Some(Err(message)) => {
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

/// One execution of a workflow.
#[derive(Clone)]
struct Run {
    api: StandInSimApi,
    workflow_id: String,
    execution_id: String,
    workflow: Workflow,
    input: Value,
}

impl Run {
    /// Runs the blocks in order; `each` sees every finished block and may
    /// stop the run (a dropped connection). None when stopped, else the
    /// workflow's output or the failing block's error ("<Block>: <message>").
    async fn blocks_streaming(
        &self,
        mut each: impl FnMut(&Block) -> bool,
    ) -> Option<Result<Value, String>> {
        let log_id = format!("log-{}", self.execution_id);
        // The row exists as soon as the run starts, unfinished.
        self.api.state.lock().unwrap().logs.insert(
            self.execution_id.clone(),
            json!({"id": log_id, "workflowId": self.workflow_id, "executionId": self.execution_id,
                "level": "info", "startedAt": "2026-11-25T12:00:00Z", "endedAt": null}),
        );
        let mut spans = Vec::new();
        let mut loop_spans: Vec<Value> = Vec::new();
        let mut result = Ok(Value::Null);
        let mut order = 0;
        for block in &self.workflow.blocks {
            let rounds = block.iterations.max(1);
            for iteration in 0..rounds {
                order += 1;
                tokio::time::sleep(Duration::from_millis(BLOCK_MILLIS)).await;
                if let Some(step) = &block.callback {
                    self.post_callback(step).await;
                }
                let mut span = json!({"id": format!("span-{order}"), "blockId": block.id,
                    "name": block.name, "type": block.kind, "duration": BLOCK_MILLIS,
                    "executionOrder": order, "status": "success",
                    "startTime": format!("2026-11-25T12:00:{:02}.000Z", order)});
                if block.iterations > 0 {
                    span["loopId"] = json!("loop-1");
                    span["iterationIndex"] = json!(iteration);
                }
                let failed = block.fails.as_ref().map(|message| {
                    span["status"] = json!("error");
                    span["output"] = json!({"error": message});
                    if block.handled {
                        span["errorHandled"] = json!(true);
                    }
                    format!("{}: {message}", block.name)
                });
                if block.iterations > 0 {
                    loop_spans.push(json!({"name": format!("Iteration {iteration}"),
                        "type": "loop-iteration", "children": [span]}));
                } else {
                    spans.push(span);
                }
                match failed {
                    Some(error) if !block.handled => {
                        result = Err(error);
                        break;
                    }
                    _ => result = Ok(block.output.clone()),
                }
                if !each(block) {
                    return None;
                }
            }
            if block.iterations > 0 {
                // Sim drops the loop block's own span and groups its iterations.
                spans.push(
                    json!({"id": "loop-execution-loop-1", "name": "Loop 1", "type": "loop",
                    "status": "success", "children": std::mem::take(&mut loop_spans)}),
                );
            }
            if result.is_err() {
                break;
            }
        }
        // Written after the answer: Sim does not await its log before responding.
        let api = self.api.clone();
        let (execution_id, workflow_id, level) = (
            self.execution_id.clone(),
            self.workflow_id.clone(),
            if result.is_ok() { "info" } else { "error" },
        );
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(LOG_LAG_MILLIS)).await;
            api.state.lock().unwrap().logs.insert(
                execution_id.clone(),
                json!({"id": log_id, "workflowId": workflow_id, "executionId": execution_id,
                    "level": level, "startedAt": "2026-11-25T12:00:00Z",
                    "endedAt": "2026-11-25T12:00:09Z",
                    "traceSpans": [{"id": "root", "name": "Workflow Execution", "type": "workflow",
                        "children": spans}]}),
            );
        });
        Some(result)
    }

    async fn run_all(&self) -> Result<Value, String> {
        self.blocks_streaming(|_| true)
            .await
            .expect("a run that is never stopped ends")
    }

    fn sync_answer(&self, outcome: Result<Value, String>) -> Value {
        match outcome {
            Ok(output) => {
                json!({"success": true, "executionId": self.execution_id, "output": output, "metadata": {}})
            }
            Err(error) => {
                json!({"success": false, "executionId": self.execution_id, "error": error, "output": {}})
            }
        }
    }

    async fn run_as_job(self, job: String) {
        let status = |state: &str, extra: Map<String, Value>| {
            let mut status = json!({"success": true, "taskId": job, "status": state, "metadata": {"workflowId": self.workflow_id}});
            status.as_object_mut().unwrap().extend(extra);
            status
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.api.set_job(&job, status("processing", Map::new()));
        let outcome = self.run_all().await;
        // Long enough for a poller (once a second) to see it processing.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let finished = match outcome {
            Ok(output) => status(
                "completed",
                Map::from_iter([(
                    "output".to_owned(),
                    json!({"success": true, "workflowId": self.workflow_id, "executionId": self.execution_id,
                        "output": output, "executedAt": "2026-11-25T12:00:00Z", "metadata": {}}),
                )]),
            ),
            Err(error) => status(
                "failed",
                Map::from_iter([("error".to_owned(), json!(error))]),
            ),
        };
        self.api.set_job(&job, finished);
    }

    /// An API block posting to `<webhook.callback_url>` with the run's token.
    async fn post_callback(&self, message: &str) {
        let (Some(url), Some(token), Some(npc)) = (
            self.input["callback_url"].as_str(),
            self.input["callback_token"].as_str(),
            self.input["npc"].as_str(),
        ) else {
            return;
        };
        let answer = reqwest::Client::new()
            .post(url)
            .bearer_auth(token)
            .json(&json!({"npc": npc, "type": "step", "data": {"message": message}}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            answer.status(),
            202,
            "the gateway accepts the API block's callback"
        );
    }
}
