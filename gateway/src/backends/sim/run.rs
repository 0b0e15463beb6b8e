//! One run's conversation with Sim's execute API: stream it (a step per
//! selected block), or fall back to async mode and poll the job; then read
//! the execution log for the blocks that did not stream.

use super::stream::{BlockStep, BlockSteps, Frame, LineCap, parse_frame};
use crate::backends::RunReport;
use crate::config::SimSettings;
use crate::outbound::{Origin, Outbound, describe, read_capped, sanitize};
use crate::sim::{Adopted, SimLink, trace};
use eventsource_stream::Eventsource;
use futures_util::{StreamExt, TryStreamExt};
use protocol::RunEvent;
use serde_json::{Map, Value, json};
use std::collections::HashSet;
use std::time::Duration;
use url::Url;

const POLL_EVERY: Duration = Duration::from_secs(1);
const POLL_FOR: Duration = Duration::from_secs(3600);
/// The largest JSON answer (a final result, a job, a log page) read from Sim.
pub(super) const ANSWER_CAP: usize = 4 * 1024 * 1024;
/// The longest line of Sim's stream; a stream that never ends a line is cut.
const FRAME_CAP: usize = 1024 * 1024;
/// How long the log may take to be complete after the run ended, and the first wait.
const LOG_WAIT: Duration = Duration::from_secs(30);
const LOG_FIRST_POLL: Duration = Duration::from_millis(200);

/// The Sim workflow an agent runs.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Workflow {
    pub id: String,
    /// `selectedOutputs`: block outputs to stream back.
    pub outputs: Vec<String>,
}

/// What a run ends with.
#[derive(Debug, PartialEq)]
enum Outcome {
    Done(Value),
    Failed(String),
    /// Stopped at a Human in the Loop block: it goes on once someone answers.
    Paused,
}

/// How a run went: its end, the execution id Sim knows it by (when Sim
/// said the execution ended, so its log will complete), and the blocks
/// already reported from the stream.
struct Finished {
    outcome: Outcome,
    execution_id: Option<String>,
    streamed: HashSet<String>,
    /// What Sim's log says the run cost.
    usage: Option<protocol::Usage>,
}

impl From<Outcome> for Finished {
    fn from(outcome: Outcome) -> Finished {
        Finished {
            outcome,
            execution_id: None,
            streamed: HashSet::new(),
            usage: None,
        }
    }
}

/// Whether a stream's end came from Sim (the execution is over) or from the wire.
enum StreamEnd {
    Sim(Outcome),
    Broken(Outcome),
}

pub(super) async fn execute(
    outbound: &Outbound,
    settings: &SimSettings,
    link: Option<&SimLink>,
    report: &RunReport,
    workflow: &Workflow,
    input: Map<String, Value>,
) {
    let started_ms = crate::store::now_ms();
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
            let mut finished = sim.run(workflow, input).await;
            if let (Some(execution), Some(workspace)) = (&finished.execution_id, settings.workspaces.first())
                && finished.outcome != Outcome::Paused
            {
                finished.usage = sim
                    .report_blocks(workspace, execution, &finished.streamed)
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
                .event(RunEvent::Finished {
                    result: output,
                    message: Some("workflow finished".into()),
                    usage: finished.usage,
                })
                .await
        }
        Outcome::Failed(error) => {
            report
                .event(RunEvent::Failed {
                    error,
                    usage: finished.usage,
                })
                .await
        }
        Outcome::Paused => match (link, finished.execution_id) {
            (Some(link), Some(execution_id)) if link.mirrors() => {
                // The mirror asks the office and follows the run to its end.
                link.adopt(Adopted {
                    run_id: execution_id,
                    workflow_id: workflow.id.clone(),
                    started_ms,
                    streamed: finished.streamed.into_iter().collect(),
                });
                return;
            }
            _ => {
                report
                    .fail(
                        "the workflow paused at a Human in the Loop block; set AP_PROJECT (the workspace id) so the office can follow Sim's pauses and answer them",
                    )
                    .await
            }
        },
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
        if is_sse {
            return self.follow_stream(response, execution_id).await;
        }
        let body = match read_capped(response, ANSWER_CAP).await {
            Ok(body) => body,
            Err(e) => return Outcome::Failed(format!("Sim's answer: {e}")).into(),
        };
        match serde_json::from_slice::<Value>(&body) {
            Ok(result) => Finished {
                outcome: final_outcome(&result),
                execution_id,
                streamed: HashSet::new(),
                usage: None,
            },
            Err(_) => self.run_async(&url, input).await,
        }
    }

    /// Reads Sim's stream to its end: a step per selected block, then the result.
    async fn follow_stream(
        &self,
        response: reqwest::Response,
        execution_id: Option<String>,
    ) -> Finished {
        let lines = LineCap::new(FRAME_CAP);
        let mut frames = response
            .bytes_stream()
            .map_err(|e| describe(&e))
            .and_then(move |chunk| std::future::ready(lines.check(chunk)))
            .eventsource();
        let mut blocks = BlockSteps::default();
        let broken = |why: String| StreamEnd::Broken(Outcome::Failed(why));
        let end = loop {
            let frame = match tokio::time::timeout(self.stream_idle, frames.next()).await {
                Err(_) => {
                    break broken(format!(
                        "Sim's stream said nothing for {} s",
                        self.stream_idle.as_secs()
                    ));
                }
                Ok(None) => break broken("Sim's stream ended without a final result".into()),
                Ok(Some(Err(e))) => {
                    break broken(format!(
                        "Sim's stream broke before the workflow finished: {e}"
                    ));
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
                Frame::Done => break broken("Sim's stream ended without a final result".into()),
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
            usage: None,
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
            usage: None,
        }
    }

    /// Sim's execution log for this run, once Sim has finished writing it:
    /// one `step` per block that did not stream, in the order it ran; returns
    /// what the log says the run cost.
    async fn report_blocks(
        &self,
        workspace: &str,
        execution_id: &str,
        streamed: &HashSet<String>,
    ) -> Option<protocol::Usage> {
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
                Some(log) if log.pointer("/data/0").is_some_and(trace::has_ended) => break log,
                _ if started.elapsed() + wait > LOG_WAIT => {
                    tracing::info!(execution_id, "Sim's execution log did not complete in time");
                    let _ = self
                        .report
                        .step(
                            "Sim's execution log was not complete in time; block times are missing",
                        )
                        .await;
                    return None;
                }
                _ => {}
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(4));
        };
        let execution = log.pointer("/data/0").cloned().unwrap_or(Value::Null);
        for step in trace::block_steps(&execution) {
            if !streamed.contains(&step.block) {
                self.step(BlockStep {
                    block: Some(step.block),
                    message: step.message,
                })
                .await;
            }
        }
        trace::usage(&execution)
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
        let _ = self
            .report
            .event(RunEvent::Step {
                message: step.message,
                block: step.block,
            })
            .await;
    }
}

/// A finished execution (`{success, output, error}`) as our run's end.
fn final_outcome(result: &Value) -> Outcome {
    if is_paused(result) {
        return Outcome::Paused;
    }
    if result.get("success").and_then(Value::as_bool) == Some(false) {
        let error = result
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("the workflow failed");
        return Outcome::Failed(sanitize(error, 500));
    }
    Outcome::Done(result.get("output").cloned().unwrap_or(Value::Null))
}

/// Whether Sim's answer is a pause: v2 says `status: "paused"`; every
/// version puts the Human in the Loop block's resume links (`_resume`) in
/// the output's `data` (Sim v0.8.9, human-in-the-loop-handler.ts).
fn is_paused(result: &Value) -> bool {
    result.get("status").and_then(Value::as_str) == Some("paused")
        || [
            "/output/data/_resume",
            "/output/_resume",
            "/output/response/data/_resume",
        ]
        .iter()
        .any(|path| result.pointer(path).is_some_and(Value::is_object))
}

/// Sim's error answers, with what to do about them: the status and a fixed
/// hint for people; Sim's own words go to the log (they may hold anything).
fn explain(status: u16, body: &str, workflow_id: &str) -> String {
    let parsed: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let said = parsed
        .get("error")
        .and_then(Value::as_str)
        .unwrap_or(body.trim());
    tracing::info!(status, workflow_id, said = %sanitize(said, 300), "Sim refused a request");
    let advice = match status {
        401 => "check AP_TOKEN: it must be a Sim API key of the workflow's workspace",
        403 => "deploy the workflow in Sim Studio (only deployed workflows run through the API)",
        404 => "check the agent's workflowId in agents.json",
        409 => "this run id was already used for an execution in Sim",
        429 => "Sim is rate limiting: try again shortly",
        _ => "Sim's answer is in the gateway's log",
    };
    let workflow = if workflow_id.is_empty() {
        String::new()
    } else {
        format!(" for workflow {workflow_id}")
    };
    format!("Sim answered {status}{workflow} ({advice})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_say_what_to_fix_and_keep_sims_words_in_the_log() {
        let message = explain(403, r#"{"error":"Workflow is not deployed"}"#, "wf1");
        assert_eq!(
            message,
            "Sim answered 403 for workflow wf1 (deploy the workflow in Sim Studio (only deployed workflows run through the API))"
        );
        let internal = explain(500, "INTERNAL-ONLY db_password=hunter2", "wf1");
        assert!(!internal.contains("hunter2"), "{internal}");
        assert!(internal.contains("500"));
        assert_eq!(
            final_outcome(&json!({"success": false, "error": "boom"})),
            Outcome::Failed("boom".into())
        );
        assert_eq!(
            final_outcome(&json!({"success": true, "output": {"x": 1}})),
            Outcome::Done(json!({"x": 1}))
        );
        assert_eq!(
            final_outcome(
                &json!({"success": true, "output": {"data": {"_resume": {"contextId": "c"}}}})
            ),
            Outcome::Paused
        );
    }
}
