//! Sim API backend: a run executes a Sim workflow through Sim's execute API
//! and the gateway turns what Sim gives an API caller into our events by
//! itself. (Checked against Sim v0.8.9; docs/sim-integration.md cites the files.)
//!
//! `POST {AP_BASE}/api/workflows/{id}/execute` with `X-API-Key`, our run id as
//! `X-Execution-Id`, `stream: true` and the agent's `simOutputs` as
//! `selectedOutputs`: Sim answers with SSE `data:` frames, `{"blockId","chunk"}`
//! as each selected block finishes, then `{"event":"final",…}` or
//! `{"event":"error",…}`, then `"[DONE]"`. Each block's chunks become one
//! `step`. When Sim can't stream (a proxy's 502/503/504, or an answer that is
//! neither a stream nor JSON) the run falls back to async mode and polls the
//! job. After the run, Sim's execution log (when `AP_PROJECT` names the
//! workspace) adds a `step` per block that did not stream, with its time,
//! once Sim has finished writing it.

use super::webhook::forward_answer;
use super::{BackendError, RunBackend, RunReport, RunStart, fields};
use crate::config::SimSettings;
use crate::outbound::{Origin, Outbound, describe, read_capped, sanitize};
use crate::registry::{Agent, RunTarget};
use crate::store::StoredEvent;
use async_trait::async_trait;
use eventsource_stream::Eventsource;
use futures_util::{StreamExt, TryStreamExt};
use protocol::{AnswerDelivery, EventEnvelope, EventKind};
use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::AbortHandle;
use url::Url;

/// Characters of a block's streamed text shown in one `step`.
const STEP_CHARS: usize = 280;
const POLL_EVERY: Duration = Duration::from_secs(1);
const POLL_FOR: Duration = Duration::from_secs(3600);
/// The largest JSON answer (a final result, a job, a log page) read from Sim.
const ANSWER_CAP: usize = 4 * 1024 * 1024;
/// The longest line of Sim's stream; a stream that never ends a line is cut.
const FRAME_CAP: usize = 1024 * 1024;
/// How long the log may take to be complete after the run ended, and the first wait.
const LOG_WAIT: Duration = Duration::from_secs(30);
const LOG_FIRST_POLL: Duration = Duration::from_millis(200);
/// Block types that start a workflow: the `started` event already says it.
const TRIGGER_TYPES: [&str; 5] = [
    "starter",
    "start_trigger",
    "trigger",
    "api_trigger",
    "input_trigger",
];

/// A run in progress here, so a cancel can stop it.
struct Active {
    task: AbortHandle,
    workflow_id: String,
}

pub struct SimBackend {
    outbound: Outbound,
    settings: SimSettings,
    active: Arc<Mutex<HashMap<String, Active>>>,
    /// Commits are seen on the store's thread; work they start runs here.
    runtime: tokio::runtime::Handle,
}

impl SimBackend {
    /// Must be called inside the gateway's runtime.
    pub fn new(outbound: Outbound, settings: SimSettings) -> SimBackend {
        SimBackend {
            outbound,
            settings,
            active: Default::default(),
            runtime: tokio::runtime::Handle::current(),
        }
    }

    /// Asks Sim to stop an execution a person cancelled here.
    fn cancel_in_sim(&self, run_id: &str, workflow_id: &str) {
        let (Some(base), Some(key)) = (
            self.settings.api_base.clone(),
            self.settings.api_key.clone(),
        ) else {
            return;
        };
        let outbound = self.outbound.clone();
        let url = base.join(&format!(
            "api/workflows/{workflow_id}/executions/{run_id}/cancel"
        ));
        let run_id = run_id.to_owned();
        self.runtime.spawn(async move {
            let Ok(url) = url else { return };
            let request = match outbound.request(reqwest::Method::POST, &url, &Origin::of(&base)) {
                Ok(request) => request,
                Err(e) => return tracing::warn!(%run_id, error = %e, "cannot ask Sim to cancel"),
            };
            match request
                .header("X-API-Key", key)
                .timeout(outbound.settings().attempt_timeout)
                .send()
                .await
            {
                Ok(r) => tracing::info!(%run_id, status = %r.status(), "asked Sim to cancel the execution"),
                Err(e) => tracing::warn!(%run_id, error = %describe(&e), "cannot ask Sim to cancel"),
            }
        });
    }
}

#[async_trait]
impl RunBackend for SimBackend {
    fn start(&self, run: RunStart, report: RunReport) {
        let RunTarget::SimWorkflow { id, outputs } = &run.agent.target else {
            unreachable!("the Sim backend only gets Sim workflow agents");
        };
        let workflow = Workflow {
            id: id.clone(),
            outputs: outputs.clone(),
        };
        let run_id = run.run.run_id.clone();
        let input = match serde_json::to_value(&run.webhook) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        let (outbound, settings, active) = (
            self.outbound.clone(),
            self.settings.clone(),
            self.active.clone(),
        );
        let finished_id = run_id.clone();
        let mut registry = self.active.lock().expect("sim runs lock");
        let task = tokio::spawn(async move {
            execute(&outbound, &settings, &report, &workflow, input).await;
            active.lock().expect("sim runs lock").remove(&finished_id);
        });
        registry.insert(
            run_id,
            Active {
                task: task.abort_handle(),
                workflow_id: id.clone(),
            },
        );
    }

    async fn answer(
        &self,
        agent: &Agent,
        question: &EventEnvelope,
        answer: &AnswerDelivery,
    ) -> Result<(), BackendError> {
        let Some(base) = &self.settings.api_base else {
            return Ok(());
        };
        forward_answer(&self.outbound, &Origin::of(base), agent, question, answer).await
    }

    fn committed(&self, event: &StoredEvent) {
        if !event.kind.is_terminal() {
            return;
        }
        let Some(run_id) = &event.run_id else { return };
        let Some(active) = self.active.lock().expect("sim runs lock").remove(run_id) else {
            return;
        };
        // The run ended here (a cancel, a callback's `done`): stop following Sim.
        active.task.abort();
        if event.json.contains(r#""cancelled":true"#) {
            self.cancel_in_sim(run_id, &active.workflow_id);
        }
    }
}

/// The Sim workflow an agent runs.
#[derive(Debug, Clone, PartialEq)]
struct Workflow {
    id: String,
    /// `selectedOutputs`: block outputs to stream back.
    outputs: Vec<String>,
}

/// What a run ends with.
#[derive(Debug, PartialEq)]
enum Outcome {
    Done(Value),
    Failed(String),
}

/// How a run went: its end, the execution id Sim knows it by (when Sim
/// said the execution ended, so its log will complete), and the blocks
/// already reported from the stream.
struct Finished {
    outcome: Outcome,
    execution_id: Option<String>,
    streamed: HashSet<String>,
}

impl From<Outcome> for Finished {
    fn from(outcome: Outcome) -> Finished {
        Finished {
            outcome,
            execution_id: None,
            streamed: HashSet::new(),
        }
    }
}

/// Whether a stream's end came from Sim (the execution is over) or from the wire.
enum StreamEnd {
    Sim(Outcome),
    Broken(Outcome),
}

async fn execute(
    outbound: &Outbound,
    settings: &SimSettings,
    report: &RunReport,
    workflow: &Workflow,
    input: Map<String, Value>,
) {
    let finished = match (&settings.api_base, &settings.api_key) {
        (Some(base), Some(key)) => {
            let sim = SimApi {
                outbound,
                report,
                base,
                allowed: Origin::of(base),
                key,
                stream_idle: settings.stream_idle,
            };
            let finished = sim.run(workflow, input).await;
            if let (Some(execution), Some(workspace)) =
                (&finished.execution_id, &settings.workspace_id)
            {
                sim.report_blocks(workspace, execution, &finished.streamed)
                    .await;
            }
            finished
        }
        _ => Finished::from(Outcome::Failed(
            "this agent names a Sim workflow (`workflowId`), but AP_BASE and AP_TOKEN are not set on the gateway".into(),
        )),
    };
    // A callback from the workflow's own API blocks may have ended the run
    // already; the core then refuses this, which is what we want.
    let _ = match finished.outcome {
        Outcome::Done(output) => {
            report
                .event(
                    EventKind::Done,
                    fields(json!({ "result": output, "message": "workflow finished" })),
                )
                .await
        }
        Outcome::Failed(error) => report.fail(&error).await,
    };
}

/// One run's conversation with Sim.
struct SimApi<'a> {
    outbound: &'a Outbound,
    report: &'a RunReport,
    base: &'a Url,
    allowed: Origin,
    key: &'a str,
    stream_idle: Duration,
}

impl SimApi<'_> {
    fn url(&self, path: &str) -> Url {
        self.base
            .join(path)
            .expect("paths under AP_BASE join to a URL")
    }

    fn request(&self, method: reqwest::Method, url: &Url) -> reqwest::RequestBuilder {
        self.outbound
            .request(method, url, &self.allowed)
            .expect("URLs built on AP_BASE are on its origin")
            .header("X-API-Key", self.key)
    }

    async fn run(&self, workflow: &Workflow, input: Map<String, Value>) -> Finished {
        let url = self.url(&format!("api/workflows/{}/execute", workflow.id));
        let run_id = &self.report.run().run_id;
        let mut streaming = input.clone();
        streaming.insert("stream".into(), json!(true));
        if !workflow.outputs.is_empty() {
            streaming.insert("selectedOutputs".into(), json!(workflow.outputs));
        }
        let response = self
            .request(reqwest::Method::POST, &url)
            .header("X-Execution-Id", run_id)
            .json(&streaming)
            .send()
            .await;
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                return Outcome::Failed(format!(
                    "cannot reach Sim at {}: {}",
                    self.allowed,
                    describe(&e)
                ))
                .into();
            }
        };
        let status = response.status();
        let execution_id = Some(run_id.clone());
        if matches!(status.as_u16(), 502..=504) {
            return self.run_async(&url, input).await;
        }
        if !status.is_success() {
            let body = read_capped(response, ANSWER_CAP).await.unwrap_or_default();
            return Outcome::Failed(explain(
                status.as_u16(),
                &String::from_utf8_lossy(&body),
                &workflow.id,
            ))
            .into();
        }
        let is_sse = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("text/event-stream"));
        if !is_sse {
            let body = match read_capped(response, ANSWER_CAP).await {
                Ok(body) => body,
                Err(e) => return Outcome::Failed(format!("Sim's answer: {e}")).into(),
            };
            return match serde_json::from_slice::<Value>(&body) {
                Ok(result) => Finished {
                    outcome: final_outcome(&result),
                    execution_id,
                    streamed: HashSet::new(),
                },
                Err(_) => self.run_async(&url, input).await,
            };
        }
        let lines = LineCap::new(FRAME_CAP);
        let mut frames = response
            .bytes_stream()
            .map_err(|e| describe(&e))
            .and_then(move |chunk| std::future::ready(lines.check(chunk)))
            .eventsource();
        let mut blocks = BlockSteps::default();
        let end = loop {
            let frame = match tokio::time::timeout(self.stream_idle, frames.next()).await {
                Err(_) => {
                    break StreamEnd::Broken(Outcome::Failed(format!(
                        "Sim's stream said nothing for {} s",
                        self.stream_idle.as_secs()
                    )));
                }
                Ok(None) => {
                    break StreamEnd::Broken(Outcome::Failed(
                        "Sim's stream ended without a final result".into(),
                    ));
                }
                Ok(Some(Err(e))) => {
                    break StreamEnd::Broken(Outcome::Failed(format!(
                        "Sim's stream broke before the workflow finished: {e}"
                    )));
                }
                Ok(Some(Ok(frame))) => frame,
            };
            match parse_frame(&frame.data) {
                Frame::Chunk { block, text } => {
                    if let Some(finished) = blocks.push(&block, &text) {
                        self.step(finished).await;
                    }
                }
                Frame::Final(result) => break StreamEnd::Sim(final_outcome(&result)),
                Frame::Error(error) => break StreamEnd::Sim(Outcome::Failed(error)),
                Frame::Done => {
                    break StreamEnd::Broken(Outcome::Failed(
                        "Sim's stream ended without a final result".into(),
                    ));
                }
                Frame::Other => {}
            }
        };
        if let Some(finished) = blocks.take() {
            self.step(finished).await;
        }
        // Only an execution Sim says is over gets its log read (it would never complete otherwise).
        let (outcome, execution_id) = match end {
            StreamEnd::Sim(outcome) => (outcome, execution_id),
            StreamEnd::Broken(outcome) => (outcome, None),
        };
        Finished {
            outcome,
            execution_id,
            streamed: blocks.seen,
        }
    }

    /// Async mode: queue the execution, then follow the job until it ends.
    async fn run_async(&self, url: &Url, input: Map<String, Value>) -> Finished {
        // A fresh execution id: the refused stream may have claimed the run's own.
        let execution_id = format!("{}-async", self.report.run().run_id);
        let response = self
            .request(reqwest::Method::POST, url)
            .header("X-Execution-Mode", "async")
            .header("X-Execution-Id", &execution_id)
            .timeout(self.outbound.settings().attempt_timeout)
            .json(&input)
            .send()
            .await;
        let response = match response {
            Ok(r) => r,
            Err(e) => return Outcome::Failed(format!("cannot reach Sim: {}", describe(&e))).into(),
        };
        let status = response.status();
        let body = read_capped(response, ANSWER_CAP).await.unwrap_or_default();
        if !status.is_success() {
            return Outcome::Failed(explain(
                status.as_u16(),
                &String::from_utf8_lossy(&body),
                "",
            ))
            .into();
        }
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let Some(status_url) = body.get("statusUrl").and_then(Value::as_str) else {
            return Outcome::Failed("Sim's async answer has no statusUrl".into()).into();
        };
        // Sim names the URL; the API key only ever goes to AP_BASE's origin.
        let status_url = match self.base.join(status_url) {
            Ok(url) if self.allowed.contains(&url) => url,
            _ => {
                return Outcome::Failed(format!(
                    "Sim's statusUrl is not on {}; not following it",
                    self.allowed
                ))
                .into();
            }
        };
        let _ = self.report.step("queued in Sim (async mode)").await;
        let started = std::time::Instant::now();
        let mut last_status = String::new();
        let outcome = loop {
            if started.elapsed() >= POLL_FOR {
                break Outcome::Failed("Sim's job did not finish within an hour".into());
            }
            tokio::time::sleep(POLL_EVERY).await;
            let Ok(response) = self
                .request(reqwest::Method::GET, &status_url)
                .timeout(self.outbound.settings().attempt_timeout)
                .send()
                .await
            else {
                continue;
            };
            let body = read_capped(response, ANSWER_CAP).await.unwrap_or_default();
            let job: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let state = job.get("status").and_then(Value::as_str).unwrap_or("");
            match state {
                // The job's output is the execution's result: `{success, output, …}`.
                "completed" => break final_outcome(job.get("output").unwrap_or(&Value::Null)),
                "failed" => {
                    break Outcome::Failed(sanitize(
                        job.get("error")
                            .and_then(Value::as_str)
                            .unwrap_or("the workflow failed"),
                        500,
                    ));
                }
                "cancelled" => break Outcome::Failed("the run was cancelled in Sim".into()),
                "" => {}
                state if state != last_status => {
                    let _ = self
                        .report
                        .step(&format!("Sim job {}", sanitize(state, 40)))
                        .await;
                    last_status = state.to_owned();
                }
                _ => {}
            }
        };
        Finished {
            outcome,
            execution_id: Some(execution_id),
            streamed: HashSet::new(),
        }
    }

    /// Sim's execution log for this run, once Sim has finished writing it:
    /// one `step` per block that did not stream, in the order it ran.
    async fn report_blocks(&self, workspace: &str, execution_id: &str, streamed: &HashSet<String>) {
        let mut url = self.url("api/v1/logs");
        url.query_pairs_mut()
            .append_pair("workspaceId", workspace)
            .append_pair("executionId", execution_id)
            .append_pair("details", "full")
            .append_pair("includeTraceSpans", "true");
        // Sim answers the run before its log is complete (`endedAt: null`, no spans yet).
        let started = std::time::Instant::now();
        let mut wait = LOG_FIRST_POLL;
        let log = loop {
            match self.fetch_log(&url).await {
                Some(log) if log_has_ended(&log) => break log,
                _ if started.elapsed() + wait > LOG_WAIT => {
                    tracing::info!(execution_id, "Sim's execution log did not complete in time");
                    let _ = self
                        .report
                        .step(
                            "Sim's execution log was not complete in time; block times are missing",
                        )
                        .await;
                    return;
                }
                _ => {}
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(4));
        };
        for step in block_summaries(&log, streamed) {
            self.step(step).await;
        }
    }

    async fn fetch_log(&self, url: &Url) -> Option<Value> {
        let response = self
            .request(reqwest::Method::GET, url)
            .timeout(self.outbound.settings().attempt_timeout)
            .send()
            .await
            .map_err(|e| tracing::debug!(error = %describe(&e), "no execution log from Sim"))
            .ok()?;
        if !response.status().is_success() {
            tracing::debug!(status = %response.status(), "no execution log from Sim");
            return None;
        }
        let body = read_capped(response, ANSWER_CAP).await.ok()?;
        serde_json::from_slice(&body).ok()
    }

    async fn step(&self, step: BlockStep) {
        let mut data = Map::from_iter([("message".to_owned(), json!(step.message))]);
        if let Some(block) = step.block {
            data.insert("block".into(), json!(block));
        }
        let _ = self.report.event(EventKind::Step, data).await;
    }
}

/// Counts bytes since the last line break and refuses a line longer than the cap.
struct LineCap {
    cap: usize,
    open: std::sync::atomic::AtomicUsize,
}

impl LineCap {
    fn new(cap: usize) -> LineCap {
        LineCap {
            cap,
            open: Default::default(),
        }
    }

    fn check(&self, chunk: bytes::Bytes) -> Result<bytes::Bytes, String> {
        use std::sync::atomic::Ordering;
        let open = match chunk.iter().rposition(|b| *b == b'\n') {
            Some(at) => chunk.len() - at - 1,
            None => self.open.load(Ordering::Relaxed) + chunk.len(),
        };
        self.open.store(open, Ordering::Relaxed);
        if open > self.cap {
            Err(format!(
                "a line of Sim's stream is longer than {} bytes",
                self.cap
            ))
        } else {
            Ok(chunk)
        }
    }
}

/// One `step` from Sim: a block's text or summary.
#[derive(Debug, PartialEq)]
struct BlockStep {
    block: Option<String>,
    message: String,
}

/// Whether Sim has finished writing the log entry (`endedAt` set).
fn log_has_ended(log: &Value) -> bool {
    log.pointer("/data/0/endedAt")
        .is_some_and(|ended| !ended.is_null())
}

/// The trace spans of Sim's log entry (`{data: [{traceSpans: [...]}]}`) as
/// steps: "Agent 1 finished in 1.2 s", "Fetch page (iteration 3) failed after
/// 0.1 s: …". Spans without a `blockId` are containers (the workflow, a loop
/// or parallel, one of its iterations): their blocks are walked, named with
/// the iteration they ran in. Trigger blocks (Start) are left out: `started`
/// says it already.
fn block_summaries(log: &Value, streamed: &HashSet<String>) -> Vec<BlockStep> {
    let mut blocks = Vec::new();
    if let Some(spans) = log.pointer("/data/0/traceSpans").and_then(Value::as_array) {
        for span in spans {
            collect_blocks(span, &mut Vec::new(), &mut blocks);
        }
    }
    blocks.sort_by_key(|(span, _)| {
        (
            span.get("executionOrder")
                .and_then(Value::as_u64)
                .unwrap_or(u64::MAX),
            span.get("startTime")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
        )
    });
    blocks
        .into_iter()
        .filter_map(|(span, iterations)| {
            let block = span.get("blockId").and_then(Value::as_str)?;
            let kind = span.get("type").and_then(Value::as_str).unwrap_or("");
            if streamed.contains(block) || TRIGGER_TYPES.contains(&kind) {
                return None;
            }
            let mut name = span
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or(block)
                .to_owned();
            if !iterations.is_empty() {
                name = format!("{name} (iteration {})", iterations.join("/"));
            }
            let seconds = span.get("duration").and_then(Value::as_f64).unwrap_or(0.0) / 1000.0;
            let failed = span.get("status").and_then(Value::as_str) == Some("error");
            let handled = span.get("errorHandled").and_then(Value::as_bool) == Some(true);
            let error = || {
                sanitize(
                    span.pointer("/output/error")
                        .and_then(Value::as_str)
                        .unwrap_or("error"),
                    300,
                )
            };
            let message = match (failed, handled) {
                (true, true) => format!(
                    "{name} hit an error after {seconds:.1} s, handled by the workflow: {}",
                    error()
                ),
                (true, false) => format!("{name} failed after {seconds:.1} s: {}", error()),
                _ => format!("{name} finished in {seconds:.1} s"),
            };
            Some(BlockStep {
                block: Some(block.to_owned()),
                message,
            })
        })
        .collect()
}

/// Walks containers down to their blocks, noting the iteration each ran in.
fn collect_blocks<'a>(
    span: &'a Value,
    iterations: &mut Vec<String>,
    out: &mut Vec<(&'a Value, Vec<String>)>,
) {
    if span.get("blockId").is_some() {
        let mut iterations = iterations.clone();
        // Older logs mark iterations on the block itself.
        if iterations.is_empty()
            && let Some(index) = span.get("iterationIndex").and_then(Value::as_u64)
        {
            iterations.push(index.to_string());
        }
        out.push((span, iterations));
        return;
    }
    let iteration = span
        .get("type")
        .and_then(Value::as_str)
        .filter(|kind| kind.ends_with("-iteration"))
        .and_then(|_| span.get("name").and_then(Value::as_str))
        .and_then(|name| name.strip_prefix("Iteration "))
        .map(str::to_owned);
    if let Some(index) = &iteration {
        iterations.push(index.clone());
    }
    for child in span
        .get("children")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        collect_blocks(child, iterations, out);
    }
    if iteration.is_some() {
        iterations.pop();
    }
}

#[derive(Debug, PartialEq)]
enum Frame {
    Chunk { block: String, text: String },
    Final(Value),
    Error(String),
    Done,
    Other,
}

fn parse_frame(data: &str) -> Frame {
    let Ok(value) = serde_json::from_str::<Value>(data) else {
        return Frame::Other;
    };
    if value == json!("[DONE]") {
        return Frame::Done;
    }
    if let (Some(block), Some(chunk)) = (
        value.get("blockId").and_then(Value::as_str),
        value.get("chunk"),
    ) {
        let text = chunk
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| chunk.to_string());
        return Frame::Chunk {
            block: block.to_owned(),
            text,
        };
    }
    match value.get("event").and_then(Value::as_str) {
        Some("final") => Frame::Final(value.get("data").cloned().unwrap_or(Value::Null)),
        Some("error") => Frame::Error(sanitize(
            value
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("the workflow failed"),
            500,
        )),
        _ => Frame::Other,
    }
}

/// A finished execution (`{success, output, error}`) as our run's end.
fn final_outcome(result: &Value) -> Outcome {
    if result.get("success").and_then(Value::as_bool) == Some(false) {
        let error = result
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("the workflow failed");
        return Outcome::Failed(sanitize(error, 500));
    }
    Outcome::Done(result.get("output").cloned().unwrap_or(Value::Null))
}

/// Sim's error answers, with what to do about them.
fn explain(status: u16, body: &str, workflow_id: &str) -> String {
    let parsed: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let said = parsed
        .get("error")
        .and_then(Value::as_str)
        .unwrap_or(body.trim());
    let said = sanitize(said, 300);
    let advice = match status {
        401 => "check AP_TOKEN: it must be a Sim API key of the workflow's workspace",
        403 => "deploy the workflow in Sim Studio (only deployed workflows run through the API)",
        404 => "check the agent's workflowId in agents.json",
        409 => "this run id was already used for an execution in Sim",
        429 => "Sim is rate limiting: try again shortly",
        _ => "see Sim's logs",
    };
    let workflow = if workflow_id.is_empty() {
        String::new()
    } else {
        format!(" for workflow {workflow_id}")
    };
    format!("Sim answered {status}{workflow}: {said} ({advice})")
}

/// Groups streamed chunks per block into readable `step` messages.
#[derive(Default)]
struct BlockSteps {
    block: Option<String>,
    text: String,
    /// Every block that streamed something.
    seen: HashSet<String>,
}

impl BlockSteps {
    /// Adds a chunk; returns a finished step when the block changes or fills up.
    fn push(&mut self, block: &str, text: &str) -> Option<BlockStep> {
        let mut finished = None;
        if self.block.as_deref() != Some(block) {
            finished = self.take();
            self.block = Some(block.to_owned());
            self.seen.insert(block.to_owned());
        }
        self.text.push_str(text);
        if finished.is_none() && self.text.chars().count() >= STEP_CHARS {
            finished = self.take();
            self.block = Some(block.to_owned());
        }
        finished
    }

    fn take(&mut self) -> Option<BlockStep> {
        let block = self.block.take()?;
        let text = std::mem::take(&mut self.text);
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        Some(BlockStep {
            block: Some(block),
            message: text.chars().take(STEP_CHARS).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_parse_as_sim_sends_them() {
        assert_eq!(
            parse_frame(r#"{"blockId":"agent1","chunk":"Hel"}"#),
            Frame::Chunk {
                block: "agent1".into(),
                text: "Hel".into()
            }
        );
        assert_eq!(parse_frame(r#""[DONE]""#), Frame::Done);
        assert_eq!(
            parse_frame(r#"{"event":"error","error":"Agent 1: rate limited"}"#),
            Frame::Error("Agent 1: rate limited".into())
        );
        assert!(matches!(
            parse_frame(r#"{"event":"final","data":{"success":true}}"#),
            Frame::Final(_)
        ));
    }

    fn step(block: &str, message: &str) -> BlockStep {
        BlockStep {
            block: Some(block.into()),
            message: message.into(),
        }
    }

    #[test]
    fn chunks_group_per_block() {
        let mut blocks = BlockSteps::default();
        assert_eq!(blocks.push("a", "Hel"), None);
        assert_eq!(blocks.push("a", "lo"), None);
        assert_eq!(blocks.push("b", "World"), Some(step("a", "Hello")));
        assert_eq!(blocks.take(), Some(step("b", "World")));
        assert_eq!(blocks.seen.len(), 2);
    }

    fn log(spans: Value) -> Value {
        json!({"data": [{"endedAt": "2026-01-01T00:00:02Z", "traceSpans": [{
            "name": "Workflow Execution", "type": "workflow", "children": spans}]}]})
    }

    #[test]
    fn trace_spans_become_block_steps_in_run_order_without_the_start_block() {
        let log = log(json!([
            {"blockId": "b2", "name": "Function 1", "type": "function", "duration": 120, "status": "error",
             "executionOrder": 3, "output": {"error": "x is not defined"}},
            {"blockId": "b1", "name": "Agent 1", "type": "agent", "duration": 1500, "status": "success",
             "executionOrder": 2, "children": [{"name": "gpt-4o", "type": "model", "duration": 1400}]},
            {"blockId": "b0", "name": "Start", "type": "start_trigger", "duration": 1, "status": "success",
             "executionOrder": 1}
        ]));
        assert_eq!(
            block_summaries(&log, &HashSet::new()),
            [
                step("b1", "Agent 1 finished in 1.5 s"),
                step("b2", "Function 1 failed after 0.1 s: x is not defined")
            ]
        );
        let streamed = HashSet::from(["b1".to_owned()]);
        assert_eq!(block_summaries(&log, &streamed).len(), 1);
        assert!(block_summaries(&json!({"data": []}), &streamed).is_empty());
    }

    #[test]
    fn loop_iterations_are_walked_and_named() {
        // Sim groups a loop's blocks under "Loop 1" → "Iteration N" spans without a blockId.
        let log = log(json!([
            {"blockId": "s", "name": "Start", "type": "starter", "executionOrder": 1, "duration": 1},
            {"id": "loop-execution-L", "name": "Loop 1", "type": "loop", "status": "success", "children": [
                {"name": "Iteration 0", "type": "loop-iteration", "children": [
                    {"blockId": "f", "name": "Fetch page", "type": "api", "executionOrder": 2,
                     "duration": 400, "status": "success", "loopId": "L", "iterationIndex": 0}]},
                {"name": "Iteration 1", "type": "loop-iteration", "children": [
                    {"blockId": "f", "name": "Fetch page", "type": "api", "executionOrder": 3,
                     "duration": 250, "status": "error", "errorHandled": true,
                     "output": {"error": "timeout"}, "loopId": "L", "iterationIndex": 1}]}
            ]},
            {"blockId": "d", "name": "Summarise", "type": "function", "executionOrder": 4,
             "duration": 50, "status": "success"}
        ]));
        assert_eq!(
            block_summaries(&log, &HashSet::new()),
            [
                step("f", "Fetch page (iteration 0) finished in 0.4 s"),
                step(
                    "f",
                    "Fetch page (iteration 1) hit an error after 0.2 s, handled by the workflow: timeout"
                ),
                step("d", "Summarise finished in 0.1 s"),
            ]
        );
    }

    #[test]
    fn an_unfinished_log_is_not_read() {
        assert!(!log_has_ended(
            &json!({"data": [{"endedAt": null, "traceSpans": []}]})
        ));
        assert!(!log_has_ended(&json!({"data": []})));
        assert!(log_has_ended(&log(json!([]))));
    }

    #[test]
    fn a_stream_line_has_a_cap() {
        let cap = LineCap::new(10);
        assert!(cap.check(bytes::Bytes::from_static(b"data: 12")).is_ok());
        assert!(cap.check(bytes::Bytes::from_static(b"34\n\n")).is_ok());
        assert!(
            cap.check(bytes::Bytes::from_static(b"data: 0123456789"))
                .is_err()
        );
    }

    mod properties {
        use super::*;
        use crate::properties::{json_value, text};
        use proptest::prelude::*;

        proptest! {
            /// Any stream frame is read as something, never a panic; a chunk
            /// is only ever a frame that names its block.
            #[test]
            fn any_frame_is_read(data in prop_oneof![text(), json_value().prop_map(|v| v.to_string())]) {
                if let Frame::Chunk { block, .. } = parse_frame(&data) {
                    let value: Value = serde_json::from_str(&data).unwrap();
                    prop_assert_eq!(value["blockId"].as_str(), Some(block.as_str()));
                }
            }

            /// Any execution log becomes steps of blocks it names, none streamed.
            #[test]
            fn any_log_summarises_to_its_own_blocks(spans in json_value(), streamed in prop::collection::hash_set(text(), 0..3)) {
                let log = json!({"data": [{"endedAt": "x", "traceSpans": spans}]});
                let text = log.to_string();
                for step in block_summaries(&log, &streamed) {
                    let block = step.block.expect("a block step names its block");
                    prop_assert!(!streamed.contains(&block));
                    prop_assert!(text.contains(&serde_json::to_string(&block).unwrap()));
                }
            }

            /// Lines of any length up to the cap pass, longer ones are refused.
            #[test]
            fn the_line_cap_counts_every_byte(chunks in prop::collection::vec(prop::collection::vec(prop_oneof![Just(b'\n'), any::<u8>()], 0..40), 0..20)) {
                let cap = LineCap::new(32);
                let mut open = 0usize;
                for chunk in chunks {
                    open = match chunk.iter().rposition(|b| *b == b'\n') {
                        Some(at) => chunk.len() - at - 1,
                        None => open + chunk.len(),
                    };
                    let result = cap.check(bytes::Bytes::from(chunk));
                    prop_assert_eq!(result.is_ok(), open <= 32);
                    if result.is_err() {
                        break;
                    }
                }
            }
        }
    }

    #[test]
    fn errors_say_what_to_fix() {
        let message = explain(403, r#"{"error":"Workflow is not deployed"}"#, "wf1");
        assert!(
            message.contains("Workflow is not deployed") && message.contains("deploy the workflow")
        );
        assert!(
            explain(502, "<html>Bad Gateway</html>", "wf1").contains("<html>Bad Gateway</html>")
        );
        assert_eq!(
            final_outcome(&json!({"success": false, "error": "boom"})),
            Outcome::Failed("boom".into())
        );
        assert_eq!(
            final_outcome(&json!({"success": true, "output": {"x": 1}})),
            Outcome::Done(json!({"x": 1}))
        );
    }
}
