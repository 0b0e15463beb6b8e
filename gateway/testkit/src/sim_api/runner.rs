//! One execution, as Sim v0.8.9 runs and logs it: its log row is written at
//! the start (`endedAt: null`, lib/logs/execution/logger.ts) and completed
//! in one update when it ends (spans, `finalOutput`, cost) or pauses at a
//! Human in the Loop block (`finalOutput: {paused: true}`, endedAt set,
//! logging-session.ts); a pause is kept with its pause point (`contextId` =
//! the block's id, `resumeStatus: "paused"`, `response.data` = the block's
//! display data, form and `_resume` links, human-in-the-loop-handler.ts).
//! Resuming (resume-execution.ts) runs the rest under the same execution id
//! and completes the same log row; a second resume is 409, an unknown
//! pause 404.

use super::{Block, LogRow, Paused, StandInSimApi, Workflow, error, iso, now_ms};
use serde_json::{Map, Value, json};
use std::time::Duration;
use warp::http::StatusCode;
use warp::{Filter, Reply};

pub(crate) const BLOCK_MILLIS: u64 = 40;
/// How long after the answer Sim finishes writing the execution log.
pub(crate) const LOG_LAG_MILLIS: u64 = 400;

/// How an execution stopped.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Stopped {
    Finished(Value),
    Failed(String),
    /// At a Human in the Loop block: its block output (with `data._resume`).
    Paused(Value),
    /// The caller dropped it (a stream cut on purpose).
    Dropped,
}

/// One execution of a workflow.
#[derive(Clone)]
pub(crate) struct Run {
    pub api: StandInSimApi,
    pub workflow_id: String,
    pub execution_id: String,
    pub workflow: Workflow,
    pub input: Value,
    pub trigger: String,
}

/// Where a run is in its workflow, and what its log has so far.
struct Progress {
    next_block: usize,
    spans: Vec<Value>,
    order: u32,
    cost: f64,
    output: Value,
}

impl Run {
    /// Runs the blocks in order; `each` sees every finished block and may
    /// stop the run (a dropped connection).
    pub async fn blocks_streaming(&self, each: impl FnMut(&Block) -> bool) -> Stopped {
        let started = now_ms();
        self.api.state.lock().unwrap().logs.push(LogRow {
            id: format!("log-{}", self.execution_id),
            workflow_id: self.workflow_id.clone(),
            execution_id: self.execution_id.clone(),
            level: "info",
            trigger: self.trigger.clone(),
            started_ms: started,
            ended_ms: None,
            spans: Vec::new(),
            final_output: None,
            cost: None,
        });
        let progress = Progress {
            next_block: 0,
            spans: Vec::new(),
            order: 0,
            cost: 0.0,
            output: Value::Null,
        };
        self.go_on(progress, each).await
    }

    pub async fn run_all(&self) -> Stopped {
        self.blocks_streaming(|_| true).await
    }

    /// Runs from `progress` to an end, a pause or a drop, and logs it.
    async fn go_on(&self, mut progress: Progress, mut each: impl FnMut(&Block) -> bool) -> Stopped {
        let mut loop_spans: Vec<Value> = Vec::new();
        let mut failed = None;
        while let Some(block) = self.workflow.blocks.get(progress.next_block).cloned() {
            progress.next_block += 1;
            if let Some(pause) = &block.pause {
                return self.pause(&block, pause, progress).await;
            }
            for iteration in 0..block.iterations.max(1) {
                progress.order += 1;
                tokio::time::sleep(Duration::from_millis(BLOCK_MILLIS)).await;
                if let Some(step) = &block.callback {
                    self.post_callback(step).await;
                }
                let (span, error) = span_of(&block, progress.order, iteration);
                if let Some((_, _, cost)) = block.usage {
                    progress.cost += cost;
                }
                if block.iterations > 0 {
                    loop_spans.push(json!({"name": format!("Iteration {iteration}"),
                        "type": "loop-iteration", "children": [span]}));
                } else {
                    progress.spans.push(span);
                }
                match error {
                    Some(error) if !block.handled => failed = Some(error),
                    _ => progress.output = block.output.clone(),
                }
                if failed.is_some() {
                    break;
                }
                if !each(&block) {
                    return Stopped::Dropped;
                }
            }
            if block.iterations > 0 {
                // Sim drops the loop block's own span and groups its iterations.
                progress.spans.push(json!({"id": "loop-execution-loop-1", "name": "Loop 1",
                    "type": "loop", "status": "success", "children": std::mem::take(&mut loop_spans)}));
            }
            if failed.is_some() {
                break;
            }
        }
        let stopped = match failed {
            Some(error) => Stopped::Failed(error),
            None => Stopped::Finished(progress.output.clone()),
        };
        self.complete_log_later(progress, &stopped);
        stopped
    }

    /// Stops at a Human in the Loop block: logs the pause and keeps it.
    async fn pause(&self, block: &Block, pause: &super::Pause, mut progress: Progress) -> Stopped {
        tokio::time::sleep(Duration::from_millis(BLOCK_MILLIS)).await;
        progress.order += 1;
        let base = &self.api.url;
        let resume = json!({
            "apiUrl": format!("{base}/api/resume/{}/{}/{}", self.workflow_id, self.execution_id, block.id),
            "uiUrl": format!("{base}/resume/{}/{}", self.workflow_id, self.execution_id),
            "contextId": block.id, "executionId": self.execution_id, "workflowId": self.workflow_id,
        });
        let structure: Vec<Value> = pause
            .display
            .iter()
            .map(|(name, value)| json!({"name": name, "type": "string", "value": value}))
            .collect();
        let data = json!({"operation": "human", "responseStructure": structure,
            "inputFormat": pause.form, "submission": null, "_resume": resume});
        let output = json!({"data": data, "status": 200,
            "headers": {"Content-Type": "application/json"}, "operation": "human"});
        let now = now_ms();
        // Sim logs the block's span once, at the pause.
        let mut waiting = json!({"id": format!("{}-{now}", block.id), "blockId": block.id,
            "name": block.name, "type": "human_in_the_loop", "duration": BLOCK_MILLIS,
            "executionOrder": progress.order, "status": "success",
            "startTime": iso(now - BLOCK_MILLIS as i64), "endTime": iso(now)});
        waiting["output"] = json!({"url": resume["uiUrl"], "resumeEndpoint": resume["apiUrl"]});
        progress.spans.push(waiting);
        let mut state = self.api.state.lock().unwrap();
        state.paused.insert(
            self.execution_id.clone(),
            Paused {
                workflow_id: self.workflow_id.clone(),
                context_id: block.id.clone(),
                next_block: progress.next_block,
                resume_status: "paused",
                resume_input: None,
                paused_ms: now,
                response_data: data,
                input: self.input.clone(),
                order: progress.order,
            },
        );
        if let Some(row) = state.log_mut(&self.execution_id) {
            row.ended_ms = Some(now);
            row.spans = vec![root_span(&progress.spans)];
            row.final_output = Some(json!({"paused": true}));
            row.cost = Some(progress.cost);
        }
        Stopped::Paused(output)
    }

    /// Sim answers before its log is complete: the row is finished a moment later.
    fn complete_log_later(&self, progress: Progress, stopped: &Stopped) {
        let api = self.api.clone();
        let execution_id = self.execution_id.clone();
        let (level, output) = match stopped {
            Stopped::Failed(error) => ("error", json!({"error": error})),
            Stopped::Finished(output) => ("info", output.clone()),
            _ => return,
        };
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(LOG_LAG_MILLIS)).await;
            let mut state = api.state.lock().unwrap();
            if let Some(row) = state.log_mut(&execution_id) {
                row.ended_ms = Some(now_ms());
                row.level = level;
                row.spans = vec![root_span(&progress.spans)];
                row.final_output = Some(output);
                row.cost = Some(progress.cost);
            }
        });
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

/// Sim's one root span, "Workflow Execution", over the blocks' spans.
fn root_span(children: &[Value]) -> Value {
    json!({"id": "workflow-execution", "name": "Workflow Execution", "type": "workflow",
        "status": "success", "children": children})
}

/// A block's span, and its error ("<Block>: <message>") if it failed.
fn span_of(block: &Block, order: u32, iteration: u32) -> (Value, Option<String>) {
    let start = now_ms() - BLOCK_MILLIS as i64;
    let mut span = json!({"id": format!("span-{order}"), "blockId": block.id,
        "name": block.name, "type": block.kind, "duration": BLOCK_MILLIS,
        "executionOrder": order, "status": "success",
        "startTime": iso(start), "endTime": iso(start + BLOCK_MILLIS as i64)});
    if block.iterations > 0 {
        span["loopId"] = json!("loop-1");
        span["iterationIndex"] = json!(iteration);
    }
    if let Some((input, output, cost)) = block.usage {
        span["tokens"] = json!({"input": input, "output": output, "total": input + output});
        span["cost"] = json!({"total": cost});
        span["model"] = json!("gpt-4o-mini");
    }
    let error = block.fails.as_ref().map(|message| {
        span["status"] = json!("error");
        span["output"] = json!({"error": message});
        if block.handled {
            span["errorHandled"] = json!(true);
        }
        format!("{}: {message}", block.name)
    });
    (span, error)
}

/// Resumes a paused execution with `input`; runs the rest and answers with
/// how it ended (what a synchronous resume returns).
pub(crate) async fn resume(
    api: &StandInSimApi,
    execution_id: &str,
    context_id: &str,
    input: Value,
) -> Result<Stopped, (StatusCode, String)> {
    let (paused, workflow, spans, cost) = {
        let mut state = api.state.lock().unwrap();
        let paused = match state.paused.get_mut(execution_id) {
            Some(p) if p.context_id != context_id => {
                return Err((StatusCode::NOT_FOUND, "Pause context not found".into()));
            }
            Some(p) if p.resume_status != "paused" => {
                return Err((StatusCode::CONFLICT, "Pause point already resumed".into()));
            }
            Some(p) => p,
            None => {
                return Err((StatusCode::NOT_FOUND, "Paused execution not found".into()));
            }
        };
        paused.resume_status = "resumed";
        paused.resume_input = Some(input.clone());
        let paused = paused.clone();
        let workflow = state
            .workflow(&paused.workflow_id)
            .cloned()
            .ok_or((StatusCode::NOT_FOUND, "Workflow not found".to_owned()))?;
        let row = state.log_mut(execution_id);
        // The blocks so far, under the root span the pause logged.
        let spans = row
            .as_ref()
            .and_then(|r| r.spans.first())
            .and_then(|root| root.get("children"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let cost = row.and_then(|r| r.cost).unwrap_or(0.0);
        (paused, workflow, spans, cost)
    };
    let run = Run {
        api: api.clone(),
        workflow_id: paused.workflow_id.clone(),
        execution_id: execution_id.to_owned(),
        workflow,
        input: paused.input.clone(),
        trigger: String::new(),
    };
    let progress = Progress {
        next_block: paused.next_block,
        spans,
        order: paused.order,
        cost,
        output: input,
    };
    Ok(run.go_on(progress, |_| true).await)
}

/// `POST /api/resume/{workflowId}/{executionId}/{contextId}` `{input}` and,
/// with v2 on, `POST /api/v2/workflows/{id}/runs/{runId}/resume` `{contextId, input}`.
pub(crate) fn routes(api: &StandInSimApi) -> warp::filters::BoxedFilter<(warp::reply::Response,)> {
    let legacy = {
        let api = api.clone();
        warp::path!("api" / "resume" / String / String / String)
            .and(warp::post())
            .and(warp::header::optional::<String>("x-api-key"))
            .and(warp::body::json())
            .then(
                move |_wf: String,
                      execution: String,
                      context: String,
                      key: Option<String>,
                      body: Value| {
                    let api = api.clone();
                    async move {
                        if let Some(refused) = api.refusal(key.as_deref()) {
                            return refused;
                        }
                        let input = body.get("input").cloned().unwrap_or(body);
                        answer(resume(&api, &execution, &context, input).await, &execution)
                    }
                },
            )
    };
    let v2 = {
        let api = api.clone();
        warp::path!("api" / "v2" / "workflows" / String / "runs" / String / "resume")
            .and(warp::post())
            .and(warp::header::optional::<String>("x-api-key"))
            .and(warp::body::json())
            .then(
                move |_wf: String, run: String, key: Option<String>, body: Value| {
                    let api = api.clone();
                    async move {
                        if !api.state.lock().unwrap().v2 {
                            return error(
                                StatusCode::NOT_FOUND,
                                json!({"error": {"code": "NOT_FOUND", "message": "Not found"}}),
                            );
                        }
                        if let Some(refused) = api.refusal(key.as_deref()) {
                            return refused;
                        }
                        let context = body
                            .get("contextId")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_owned();
                        let input = body
                            .get("input")
                            .cloned()
                            .unwrap_or(Value::Object(Map::new()));
                        answer(resume(&api, &run, &context, input).await, &run)
                    }
                },
            )
    };
    legacy.or(v2).unify().boxed()
}

fn answer(
    outcome: Result<Stopped, (StatusCode, String)>,
    execution: &str,
) -> warp::reply::Response {
    match outcome {
        Err((status, why)) => error(status, json!({"error": why})),
        Ok(Stopped::Finished(output)) => warp::reply::json(&json!({"success": true,
            "status": "completed", "executionId": execution, "output": output}))
        .into_response(),
        Ok(Stopped::Failed(why)) => warp::reply::json(&json!({"success": false,
            "status": "failed", "executionId": execution, "error": why}))
        .into_response(),
        Ok(Stopped::Paused(output)) => warp::reply::json(&json!({"success": true,
            "status": "paused", "executionId": execution, "output": output}))
        .into_response(),
        Ok(Stopped::Dropped) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": "dropped"}),
        ),
    }
}
