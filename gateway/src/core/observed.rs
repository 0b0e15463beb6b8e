//! Runs the gateway did not start but watches (a Sim execution started by a
//! schedule, a chat, an API call or Studio): recorded with their source's
//! own ids and times, through the same store rules as any run, so a run is
//! shown once however often it is seen.

use super::{CoreError, Service};
use crate::backends::{RunRef, RunReport};
use crate::registry::Agent;
use crate::store::{RunMeta, RunRuleError, StoreError};
use protocol::{GatewayEvent, RunAnswered, RunStarted};
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Duration;

/// How long a watched run may stay quiet: its source reports only its end
/// (Sim logs an execution when it ends or pauses).
const WATCHED_DEADLINE: Duration = Duration::from_secs(24 * 3600);

/// A run seen starting at its source.
pub struct ObservedStart<'a> {
    /// The source's id for it (Sim's execution id).
    pub run_id: &'a str,
    /// What started it there: `schedule`, `api`, `chat`, `webhook`, `manual`, …
    pub trigger: &'a str,
    /// When it started there (RFC 3339).
    pub started_at: String,
}

/// What became of a run seen starting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed {
    Started,
    /// Its character is in another run: try again once that ends.
    Busy,
    /// Already recorded (seen before, or started here): open or ended.
    Known {
        open: bool,
    },
}

/// What started a Sim execution, as a person says it (Sim logs a webhook
/// trigger's provider, `generic` for its generic webhook, and `manual` for
/// Studio's Run button).
pub fn trigger_label(trigger: &str) -> &str {
    match trigger {
        "api" => "API call",
        "generic" | "webhook" => "webhook",
        "manual" => "Studio",
        "mcp" => "MCP",
        "a2a" => "another agent",
        other => other,
    }
}

impl Service {
    /// Records `started` for a run its source started.
    pub async fn observe_start(
        &self,
        agent: &Agent,
        start: ObservedStart<'_>,
    ) -> Result<Observed, CoreError> {
        let by = format!("Sim ({})", trigger_label(start.trigger));
        let said = GatewayEvent::Started(RunStarted {
            agent: agent.agent.clone(),
            message: format!("{} started by {by}", agent.name),
            by: by.clone(),
            payload: None,
        });
        let mut started = super::runs::gateway_event(&said, &agent.npc, Some(start.run_id));
        started.ts = start.started_at;
        started
            .fields
            .insert("trigger".into(), Value::from(start.trigger));
        started.run = Some(RunMeta {
            agent: agent.agent.clone(),
            by: Some(by),
            callback_digest: None,
            owner: None,
            deadline_ms: WATCHED_DEADLINE.as_millis() as u64,
        });
        match self.store.log.append(vec![started]).await {
            Ok(_) => Ok(Observed::Started),
            Err(StoreError::Rule(RunRuleError::Busy { .. })) => Ok(Observed::Busy),
            Err(StoreError::Rule(RunRuleError::RunExists(_))) => {
                let open = self
                    .store
                    .runs
                    .run(start.run_id)
                    .await?
                    .is_some_and(|run| run.is_open());
                Ok(Observed::Known { open })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The voice of a watched run: its events go through the validated
    /// publish path with the run's own scope, as a backend's do.
    pub fn report_for(self: &Arc<Self>, agent: &Agent, run_id: &str) -> RunReport {
        RunReport::new(
            RunRef {
                run_id: run_id.to_owned(),
                agent: agent.agent.clone(),
                npc: agent.npc.clone(),
            },
            self.clone(),
        )
    }

    /// A watched run's question was answered at its source (Sim's portal or
    /// API): the office stops waiting, and its history says who answered
    /// what. When the run has moved on already (its workflow reported a step
    /// first), the answer is told as a step; nothing happens for a run that
    /// ended or was answered here.
    pub async fn answered_in_sim(
        &self,
        run_id: &str,
        input: Option<Map<String, Value>>,
    ) -> Result<(), CoreError> {
        let Some(run) = self.store.runs.run(run_id).await? else {
            return Ok(());
        };
        if !run.is_open() {
            return Ok(());
        }
        let message = super::runs::answer_line("Sim", "answered in Sim", input.as_ref());
        if run.question.is_none() {
            let told = RunRef {
                run_id: run_id.to_owned(),
                agent: run.summary.agent.clone(),
                npc: run.summary.npc.clone(),
            };
            let _ = crate::backends::Publisher::publish_for_run(
                self,
                &told,
                &protocol::RunEvent::step(message),
                None,
            )
            .await;
            return Ok(());
        }
        let answered = RunAnswered {
            decision: "answered in Sim".into(),
            by: "Sim".into(),
            message,
            comment: None,
            input,
        };
        match self
            .record(
                GatewayEvent::Answered(answered),
                &run.summary.npc,
                Some(run_id),
            )
            .await
        {
            Ok(_) | Err(CoreError::RunEnded(_)) | Err(CoreError::NotAwaiting(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Whether the office answered the run's latest question itself (so
    /// a pause that no longer waits in Sim was resumed from here).
    pub async fn answered_here(&self, run_id: &str) -> Result<bool, CoreError> {
        let Some(run) = self.store.runs.run(run_id).await? else {
            return Ok(true);
        };
        if !run.is_open() {
            return Ok(true);
        }
        // The npc's newest events, oldest first: its run's latest question and after.
        let recent = self
            .store
            .log
            .history(Some(&run.summary.npc), None, 100, 256 * 1024)
            .await?;
        let ours: Vec<_> = recent
            .iter()
            .filter(|e| e.run_id.as_deref() == Some(run_id))
            .collect();
        let last_asked = ours
            .iter()
            .rposition(|e| e.kind == protocol::EventKind::Awaiting);
        Ok(last_asked.is_some_and(|at| {
            ours[at..]
                .iter()
                .any(|e| e.kind == protocol::EventKind::Response)
        }))
    }

    /// A follower's saved state.
    pub async fn sync_state(&self, key: &str) -> Result<Option<String>, CoreError> {
        Ok(self.store.followers.state(key).await?)
    }

    pub async fn put_sync_state(&self, key: &str, value: &str) -> Result<(), CoreError> {
        Ok(self.store.followers.put_state(key, value).await?)
    }

    /// Takes or renews a follower's lease for this gateway.
    pub async fn take_lease(&self, name: &str, ttl: Duration) -> Result<bool, CoreError> {
        Ok(self
            .store
            .followers
            .take_lease(name, &self.settings.instance, ttl)
            .await?)
    }
}
