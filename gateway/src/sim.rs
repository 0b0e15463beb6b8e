//! Sim API mode: a run executes a Sim workflow through Sim's execute API and
//! the gateway turns what Sim gives an API caller into our events by itself.
//! (Checked against Sim v0.8.9; docs/sim-integration.md cites the files.)
//!
//! `POST {AP_BASE}/api/workflows/{id}/execute` with `X-API-Key`, our run id as
//! `X-Execution-Id`, `stream: true` and the agent's `simOutputs` as
//! `selectedOutputs`: Sim answers with SSE `data:` frames, `{"blockId","chunk"}`
//! as each selected block finishes, then `{"event":"final",…}` or
//! `{"event":"error",…}`, then `"[DONE]"`. Each block's chunks become one
//! `step`. When Sim can't stream (a proxy's 502/503/504, or an answer that is
//! neither a stream nor JSON) the run falls back to async mode and polls the
//! job. After the run, Sim's execution log (when `AP_PROJECT` names the
//! workspace) adds a `step` per block that did not stream, with its time.

use crate::service::Service;
use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use protocol::EventKind;
use serde_json::{Map, Value, json};
use std::collections::HashSet;
use std::time::Duration;

/// Characters of a block's streamed text shown in one `step`.
const STEP_CHARS: usize = 280;
const POLL_EVERY: Duration = Duration::from_secs(1);
const POLL_FOR: Duration = Duration::from_secs(3600);

/// The Sim workflow an agent runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Workflow {
    pub id: String,
    /// `selectedOutputs`: block outputs to stream back.
    pub outputs: Vec<String>,
}

/// What a run ends with.
#[derive(Debug, PartialEq)]
enum Outcome {
    Done(Value),
    Failed(String),
}

/// How a run went: its end, the execution id Sim knows it by, and the blocks
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

pub async fn execute(
    service: &Service,
    npc: &str,
    run_id: &str,
    workflow: &Workflow,
    webhook_body: Value,
) {
    let finished = match (&service.sim.api_base, &service.sim.api_key) {
        (Some(base), Some(key)) => {
            let sim = SimApi {
                service,
                npc,
                run_id,
                base,
                key,
            };
            let finished = sim.run(workflow, webhook_body).await;
            if let (Some(execution), Some(workspace)) =
                (&finished.execution_id, &service.sim.workspace_id)
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
    let (kind, fields) = match finished.outcome {
        Outcome::Done(output) => (
            EventKind::Done,
            Map::from_iter([
                ("result".to_owned(), output),
                ("message".to_owned(), json!("workflow finished")),
            ]),
        ),
        Outcome::Failed(error) => (
            EventKind::Error,
            Map::from_iter([("error".to_owned(), json!(error))]),
        ),
    };
    // A callback from the workflow's own API blocks may have ended the run already.
    if let Ok(Some(run)) = service.store.run(run_id).await
        && run.summary.ended_at.is_some()
    {
        return;
    }
    if let Err(e) = service.record(kind, npc, Some(run_id), fields).await {
        tracing::error!(run_id, error = %e, "cannot record the Sim run's end");
    }
}

/// One run's conversation with Sim.
struct SimApi<'a> {
    service: &'a Service,
    npc: &'a str,
    run_id: &'a str,
    base: &'a str,
    key: &'a str,
}

impl SimApi<'_> {
    async fn run(&self, workflow: &Workflow, webhook_body: Value) -> Finished {
        let url = format!("{}/api/workflows/{}/execute", self.base, workflow.id);
        // Sim takes the whole body (minus its control fields) as the workflow input.
        let input = match webhook_body {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        let mut streaming = input.clone();
        streaming.insert("stream".into(), json!(true));
        if !workflow.outputs.is_empty() {
            streaming.insert("selectedOutputs".into(), json!(workflow.outputs));
        }
        let response = self
            .service
            .webhooks
            .http()
            .post(&url)
            .header("X-API-Key", self.key)
            .header("X-Execution-Id", self.run_id)
            .json(&streaming)
            .send()
            .await;
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                return Outcome::Failed(format!("cannot reach Sim at {}: {e}", self.base)).into();
            }
        };
        let status = response.status();
        let execution_id = Some(self.run_id.to_owned());
        if matches!(status.as_u16(), 502..=504) {
            return self.run_async(&url, input).await;
        }
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Outcome::Failed(explain(status.as_u16(), &body, &workflow.id)).into();
        }
        let is_sse = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("text/event-stream"));
        if !is_sse {
            let body = response.text().await.unwrap_or_default();
            return match serde_json::from_str::<Value>(&body) {
                Ok(result) => Finished {
                    outcome: final_outcome(&result),
                    execution_id,
                    streamed: HashSet::new(),
                },
                Err(_) => self.run_async(&url, input).await,
            };
        }
        let mut frames = response.bytes_stream().eventsource();
        let mut blocks = BlockSteps::default();
        let outcome = loop {
            let Some(frame) = frames.next().await else {
                break Outcome::Failed("Sim's stream ended without a final result".into());
            };
            let frame = match frame {
                Ok(frame) => frame,
                Err(e) => {
                    break Outcome::Failed(format!(
                        "Sim's stream broke before the workflow finished: {e}"
                    ));
                }
            };
            match parse_frame(&frame.data) {
                Frame::Chunk { block, text } => {
                    if let Some(finished) = blocks.push(&block, &text) {
                        self.step(finished).await;
                    }
                }
                Frame::Final(result) => break final_outcome(&result),
                Frame::Error(error) => break Outcome::Failed(error),
                Frame::Done => {
                    break Outcome::Failed("Sim's stream ended without a final result".into());
                }
                Frame::Other => {}
            }
        };
        if let Some(finished) = blocks.take() {
            self.step(finished).await;
        }
        Finished {
            outcome,
            execution_id,
            streamed: blocks.seen,
        }
    }

    /// Async mode: queue the execution, then follow the job until it ends.
    async fn run_async(&self, url: &str, input: Map<String, Value>) -> Finished {
        let http = self.service.webhooks.http();
        // A fresh execution id: the refused stream may have claimed the run's own.
        let execution_id = format!("{}-async", self.run_id);
        let response = http
            .post(url)
            .header("X-API-Key", self.key)
            .header("X-Execution-Mode", "async")
            .header("X-Execution-Id", &execution_id)
            .json(&input)
            .send()
            .await;
        let response = match response {
            Ok(r) => r,
            Err(e) => return Outcome::Failed(format!("cannot reach Sim: {e}")).into(),
        };
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Outcome::Failed(explain(status.as_u16(), &body.to_string(), "")).into();
        }
        let Some(status_url) = body
            .get("statusUrl")
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            return Outcome::Failed(format!("Sim's async answer has no statusUrl: {body}")).into();
        };
        self.step(BlockStep::note("queued in Sim (async mode)"))
            .await;
        let started = std::time::Instant::now();
        let mut last_status = String::new();
        let outcome = loop {
            if started.elapsed() >= POLL_FOR {
                break Outcome::Failed("Sim's job did not finish within an hour".into());
            }
            tokio::time::sleep(POLL_EVERY).await;
            let Ok(response) = http
                .get(&status_url)
                .header("X-API-Key", self.key)
                .send()
                .await
            else {
                continue;
            };
            let job: Value = response.json().await.unwrap_or(Value::Null);
            let state = job.get("status").and_then(Value::as_str).unwrap_or("");
            match state {
                // The job's output is the execution's result: `{success, output, …}`.
                "completed" => break final_outcome(job.get("output").unwrap_or(&Value::Null)),
                "failed" => {
                    break Outcome::Failed(
                        job.get("error")
                            .and_then(Value::as_str)
                            .unwrap_or("the workflow failed")
                            .to_owned(),
                    );
                }
                "cancelled" => break Outcome::Failed("the run was cancelled in Sim".into()),
                "" => {}
                state if state != last_status => {
                    self.step(BlockStep::note(&format!("Sim job {state}")))
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

    /// Sim's execution log for this run: one `step` per block that did not
    /// stream, in the order it ran, with its time and any error.
    async fn report_blocks(&self, workspace: &str, execution_id: &str, streamed: &HashSet<String>) {
        let url = format!("{}/api/v1/logs", self.base);
        let answer = self
            .service
            .webhooks
            .http()
            .get(&url)
            .header("X-API-Key", self.key)
            .query(&[
                ("workspaceId", workspace),
                ("executionId", execution_id),
                ("details", "full"),
                ("includeTraceSpans", "true"),
            ])
            .send()
            .await;
        let log: Value = match answer {
            Ok(r) if r.status().is_success() => r.json().await.unwrap_or(Value::Null),
            Ok(r) => {
                tracing::debug!(status = %r.status(), "no execution log from Sim");
                return;
            }
            Err(e) => {
                tracing::debug!(error = %e, "no execution log from Sim");
                return;
            }
        };
        for step in block_summaries(&log, streamed) {
            self.step(step).await;
        }
    }

    async fn step(&self, step: BlockStep) {
        let mut fields = Map::from_iter([("message".to_owned(), json!(step.message))]);
        if let Some(block) = step.block {
            fields.insert("block".into(), json!(block));
        }
        if let Err(e) = self
            .service
            .record(EventKind::Step, self.npc, Some(self.run_id), fields)
            .await
        {
            tracing::warn!(run_id = self.run_id, error = %e, "cannot record a Sim step");
        }
    }
}

/// One `step` from Sim: a block's text or summary, or a note about the run.
#[derive(Debug, PartialEq)]
struct BlockStep {
    block: Option<String>,
    message: String,
}

impl BlockStep {
    fn note(message: &str) -> BlockStep {
        BlockStep {
            block: None,
            message: message.to_owned(),
        }
    }
}

/// The trace spans of Sim's log entry (`{data: [{traceSpans: [...]}]}`) as
/// steps: "Agent 1 finished in 1.2 s", "Function 1 failed after 0.1 s: …".
fn block_summaries(log: &Value, streamed: &HashSet<String>) -> Vec<BlockStep> {
    let spans = log
        .pointer("/data/0/traceSpans")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    // Sim wraps the blocks in one "Workflow Execution" span.
    let spans = match spans.as_slice() {
        [only] if only.get("blockId").is_none() => only
            .get("children")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        _ => spans,
    };
    let mut spans: Vec<&Value> = spans.iter().collect();
    spans.sort_by_key(|s| {
        s.get("executionOrder")
            .and_then(Value::as_u64)
            .unwrap_or(u64::MAX)
    });
    spans
        .into_iter()
        .filter_map(|span| {
            let block = span.get("blockId").and_then(Value::as_str)?;
            if streamed.contains(block) {
                return None;
            }
            let name = span.get("name").and_then(Value::as_str).unwrap_or(block);
            let seconds = span.get("duration").and_then(Value::as_f64).unwrap_or(0.0) / 1000.0;
            let message = if span.get("status").and_then(Value::as_str) == Some("error") {
                let error = span
                    .pointer("/output/error")
                    .and_then(Value::as_str)
                    .unwrap_or("error");
                format!("{name} failed after {seconds:.1} s: {error}")
            } else {
                format!("{name} finished in {seconds:.1} s")
            };
            Some(BlockStep {
                block: Some(block.to_owned()),
                message,
            })
        })
        .collect()
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
        Some("error") => Frame::Error(
            value
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("the workflow failed")
                .to_owned(),
        ),
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
        return Outcome::Failed(error.to_owned());
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

    #[test]
    fn trace_spans_become_block_steps_in_run_order() {
        let log = json!({"data": [{"traceSpans": [{
        "name": "Workflow Execution", "children": [
            {"blockId": "b2", "name": "Function 1", "duration": 120, "status": "error",
             "executionOrder": 2, "output": {"error": "x is not defined"}},
            {"blockId": "b1", "name": "Agent 1", "duration": 1500, "status": "success", "executionOrder": 1},
            {"blockId": "b0", "name": "Start", "duration": 1, "status": "success", "executionOrder": 0}
        ]}]}]});
        let streamed = HashSet::from(["b0".to_owned()]);
        assert_eq!(
            block_summaries(&log, &streamed),
            [
                step("b1", "Agent 1 finished in 1.5 s"),
                step("b2", "Function 1 failed after 0.1 s: x is not defined")
            ]
        );
        assert!(block_summaries(&json!({"data": []}), &streamed).is_empty());
    }

    #[test]
    fn errors_say_what_to_fix() {
        let message = explain(403, r#"{"error":"Workflow is not deployed"}"#, "wf1");
        assert!(
            message.contains("Workflow is not deployed") && message.contains("deploy the workflow")
        );
        let conflict = explain(
            409,
            r#"{"error":"Execution ID has already been used","code":"EXECUTION_ID_CONFLICT"}"#,
            "wf1",
        );
        assert!(
            conflict.contains("already been used") && conflict.contains("run id was already used")
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
