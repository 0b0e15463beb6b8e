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
//! once Sim has finished writing it. A run that pauses at a Human in the
//! Loop block is handed to the workspace mirror, which asks the office and
//! follows it to its end; an answer resumes it through Sim's API.
//! `run.rs` holds the conversation, `stream.rs` the stream's frames.

mod run;
mod stream;

use super::webhook::forward_answer;
use super::{BackendError, RunBackend, RunReport, RunStart};
use crate::config::SimSettings;
use crate::outbound::{Origin, Outbound, describe};
use crate::registry::{Agent, RunTarget};
use crate::sim::{Resumed, SimLink};
use crate::store::StoredEvent;
use async_trait::async_trait;
use protocol::{AnswerDelivery, Question};
use run::{Workflow, execute};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::task::AbortHandle;

/// A run in progress here, so a cancel can stop it.
struct Active {
    task: AbortHandle,
    workflow_id: String,
}

pub struct SimBackend {
    outbound: Outbound,
    settings: SimSettings,
    /// Sim's API beyond one run (resuming a pause, the mirror); None without `AP_BASE`/`AP_TOKEN`.
    link: Option<Arc<SimLink>>,
    active: Arc<Mutex<HashMap<String, Active>>>,
    /// Commits are seen on the store's thread; work they start runs here.
    runtime: tokio::runtime::Handle,
}

impl SimBackend {
    /// Must be called inside the gateway's runtime.
    pub fn new(
        outbound: Outbound,
        settings: SimSettings,
        link: Option<Arc<SimLink>>,
    ) -> SimBackend {
        SimBackend {
            outbound,
            settings,
            link,
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
        let (outbound, settings, active, link) = (
            self.outbound.clone(),
            self.settings.clone(),
            self.active.clone(),
            self.link.clone(),
        );
        let finished_id = run_id.clone();
        let mut registry = self.active.lock().expect("sim runs lock");
        let task = tokio::spawn(async move {
            execute(
                &outbound,
                &settings,
                link.as_deref(),
                &report,
                &workflow,
                input,
            )
            .await;
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
        question: &Question,
        answer: &AnswerDelivery,
    ) -> Result<(), BackendError> {
        if let Some(pause) = &question.pause {
            let Some(link) = &self.link else {
                return Err(BackendError::Unavailable(
                    "this answer resumes a Sim execution, but AP_BASE and AP_TOKEN are not set"
                        .into(),
                ));
            };
            let input = answer.input.clone().unwrap_or_default();
            return match link.resume(pause, &input).await {
                Ok(Resumed::Accepted) => Ok(()),
                Ok(Resumed::AlreadyAnswered(said)) => Err(BackendError::AnsweredElsewhere(said)),
                Err(e) => Err(BackendError::Unavailable(e.to_string())),
            };
        }
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
        // A run the mirror follows (started in Sim, or paused there).
        let followed = self.link.as_ref().and_then(|link| link.unfollow(run_id));
        let Some(active) = self.active.lock().expect("sim runs lock").remove(run_id) else {
            if let (Some(workflow_id), true) = (followed, event.facts.cancelled) {
                self.cancel_in_sim(run_id, &workflow_id);
            }
            return;
        };
        // The run ended here (a cancel, a callback's `done`): stop following Sim.
        active.task.abort();
        if event.facts.cancelled {
            self.cancel_in_sim(run_id, &active.workflow_id);
        }
    }
}
