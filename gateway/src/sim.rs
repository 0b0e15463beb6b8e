//! Sim API mode: a run executes a Sim workflow through Sim's execute API and
//! the gateway turns what Sim streams back into our events by itself.
//!
//! `POST {AP_BASE}/api/workflows/{id}/execute` with `X-API-Key`, our run id as
//! `X-Execution-Id`, `stream: true`: Sim answers with SSE `data:` frames,
//! `{"blockId","chunk"}` for selected block outputs, then `{"event":"final",…}`
//! or `{"event":"error",…}`, then `"[DONE]"`. Chunks are grouped per block
//! into `step` messages. When streaming is refused, the run falls back to
//! async mode (`X-Execution-Mode: async`) and polls the job.

use crate::service::Service;
use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use protocol::EventKind;
use serde_json::{Map, Value, json};
use std::time::Duration;

/// Characters of a block's streamed text shown in one `step`.
const STEP_CHARS: usize = 280;
const POLL_EVERY: Duration = Duration::from_secs(1);
const POLL_FOR: Duration = Duration::from_secs(3600);

/// What a run ends with.
#[derive(Debug, PartialEq)]
enum Outcome {
    Done(Value),
    Failed(String),
}

pub async fn execute(
    service: &Service,
    npc: &str,
    run_id: &str,
    workflow_id: &str,
    webhook_body: Value,
) {
    let outcome = match (&service.sim.api_base, &service.sim.api_key) {
        (Some(base), Some(key)) => run(service, npc, run_id, base, key, workflow_id, webhook_body).await,
        _ => Outcome::Failed(
            "this agent names a Sim workflow (`workflowId`), but AP_BASE and AP_TOKEN are not set on the gateway".into(),
        ),
    };
    let (kind, fields) = match outcome {
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

async fn run(
    service: &Service,
    npc: &str,
    run_id: &str,
    base: &str,
    key: &str,
    workflow_id: &str,
    webhook_body: Value,
) -> Outcome {
    let url = format!("{base}/api/workflows/{workflow_id}/execute");
    let http = service.webhooks.http();
    // Sim takes the whole body (minus its control fields) as the workflow input.
    let mut input = match webhook_body {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    if let Some(Value::Object(payload)) = input.get("payload").cloned() {
        for (k, v) in payload {
            input.entry(k).or_insert(v);
        }
    }
    let mut streaming = input.clone();
    streaming.insert("stream".into(), json!(true));
    let response = http
        .post(&url)
        .header("X-API-Key", key)
        .header("X-Execution-Id", run_id)
        .json(&streaming)
        .send()
        .await;
    let response = match response {
        Ok(r) => r,
        Err(e) => return Outcome::Failed(format!("cannot reach Sim at {base}: {e}")),
    };
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        return Outcome::Failed(explain(status.as_u16(), &body, workflow_id));
    }
    let is_sse = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/event-stream"));
    if !is_sse {
        let body = response.text().await.unwrap_or_default();
        return match serde_json::from_str::<Value>(&body) {
            Ok(result) => final_outcome(&result),
            Err(_) => poll_async(service, npc, run_id, &url, key, input).await,
        };
    }
    let mut frames = response.bytes_stream().eventsource();
    let mut blocks = BlockSteps::default();
    while let Some(frame) = frames.next().await {
        let frame = match frame {
            Ok(frame) => frame,
            Err(e) => {
                flush(service, npc, run_id, &mut blocks).await;
                return Outcome::Failed(format!(
                    "Sim's stream broke before the workflow finished: {e}"
                ));
            }
        };
        match parse_frame(&frame.data) {
            Frame::Chunk { block, text } => {
                if let Some(message) = blocks.push(&block, &text) {
                    step(service, npc, run_id, message).await;
                }
            }
            Frame::Final(result) => {
                flush(service, npc, run_id, &mut blocks).await;
                return final_outcome(&result);
            }
            Frame::Error(error) => {
                flush(service, npc, run_id, &mut blocks).await;
                return Outcome::Failed(error);
            }
            Frame::Done => break,
            Frame::Other => {}
        }
    }
    flush(service, npc, run_id, &mut blocks).await;
    Outcome::Failed("Sim's stream ended without a final result".into())
}

async fn poll_async(
    service: &Service,
    npc: &str,
    run_id: &str,
    url: &str,
    key: &str,
    input: Map<String, Value>,
) -> Outcome {
    let http = service.webhooks.http();
    let response = http
        .post(url)
        .header("X-API-Key", key)
        .header("X-Execution-Mode", "async")
        .json(&input)
        .send()
        .await;
    let response = match response {
        Ok(r) => r,
        Err(e) => return Outcome::Failed(format!("cannot reach Sim: {e}")),
    };
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        return Outcome::Failed(explain(status.as_u16(), &body.to_string(), ""));
    }
    let Some(status_url) = body
        .get("statusUrl")
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return Outcome::Failed(format!("Sim's async answer has no statusUrl: {body}"));
    };
    step(service, npc, run_id, "queued in Sim".into()).await;
    let started = std::time::Instant::now();
    let mut last_status = String::new();
    while started.elapsed() < POLL_FOR {
        tokio::time::sleep(POLL_EVERY).await;
        let Ok(response) = http.get(&status_url).header("X-API-Key", key).send().await else {
            continue;
        };
        let job: Value = response.json().await.unwrap_or(Value::Null);
        let state = job
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        match state.as_str() {
            "completed" => {
                return final_outcome(
                    job.get("output")
                        .map(|o| json!({"success": true, "output": o}))
                        .as_ref()
                        .unwrap_or(&job),
                );
            }
            "failed" => {
                let error = job
                    .get("error")
                    .and_then(Value::as_str)
                    .unwrap_or("the workflow failed");
                return Outcome::Failed(error.to_owned());
            }
            _ if state != last_status && !state.is_empty() => {
                step(service, npc, run_id, format!("Sim job {state}")).await;
                last_status = state;
            }
            _ => {}
        }
    }
    Outcome::Failed("Sim's job did not finish within an hour".into())
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
}

impl BlockSteps {
    /// Adds a chunk; returns a finished message when the block changes or fills up.
    fn push(&mut self, block: &str, text: &str) -> Option<String> {
        let mut finished = None;
        if self.block.as_deref() != Some(block) {
            finished = self.take();
            self.block = Some(block.to_owned());
        }
        self.text.push_str(text);
        if finished.is_none() && self.text.chars().count() >= STEP_CHARS {
            finished = self.take();
            self.block = Some(block.to_owned());
        }
        finished
    }

    fn take(&mut self) -> Option<String> {
        let block = self.block.take()?;
        let text = std::mem::take(&mut self.text);
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        let shown: String = text.chars().take(STEP_CHARS).collect();
        Some(format!("{block}: {shown}"))
    }
}

async fn flush(service: &Service, npc: &str, run_id: &str, blocks: &mut BlockSteps) {
    if let Some(message) = blocks.take() {
        step(service, npc, run_id, message).await;
    }
}

async fn step(service: &Service, npc: &str, run_id: &str, message: String) {
    let fields = Map::from_iter([("message".to_owned(), json!(message))]);
    if let Err(e) = service
        .record(EventKind::Step, npc, Some(run_id), fields)
        .await
    {
        tracing::warn!(run_id, error = %e, "cannot record a Sim step");
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

    #[test]
    fn chunks_group_per_block() {
        let mut blocks = BlockSteps::default();
        assert_eq!(blocks.push("a", "Hel"), None);
        assert_eq!(blocks.push("a", "lo"), None);
        assert_eq!(blocks.push("b", "World"), Some("a: Hello".into()));
        assert_eq!(blocks.take(), Some("b: World".into()));
    }

    #[test]
    fn errors_say_what_to_fix() {
        let message = explain(403, r#"{"error":"Workflow is not deployed"}"#, "wf1");
        assert!(
            message.contains("Workflow is not deployed") && message.contains("deploy the workflow")
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
