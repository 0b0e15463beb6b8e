//! One workspace's follower: each poll reads the workflow list when it is
//! due, the execution log since the tracker's place, and the paused lists of
//! workflows with a run waiting; then writes what changed as the runs'
//! events (with Sim's own times) and saves its place in the store.

use super::MirrorSettings;
use super::executions::{Phase, Seen, Tracker};
use crate::core::{CoreError, Observed, ObservedStart, Service};
use crate::registry::Agent;
use crate::sim::api::{LogRow, PausedExecution, iso_ms};
use crate::sim::{SimError, SimLink, SyncedWorkflow, WorkspaceApi, WorkspaceHealth, pause, trace};
use protocol::RunEvent;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What stopped a poll.
enum Failure {
    Sim(SimError),
    Store(CoreError),
}

impl From<SimError> for Failure {
    fn from(e: SimError) -> Failure {
        Failure::Sim(e)
    }
}

impl From<CoreError> for Failure {
    fn from(e: CoreError) -> Failure {
        Failure::Store(e)
    }
}

pub struct Follower {
    api: WorkspaceApi,
    link: Arc<SimLink>,
    settings: MirrorSettings,
    tracker: Tracker,
    /// The tracker as last saved: saved again only when it changed.
    saved: Tracker,
    health: WorkspaceHealth,
    workflows: Option<Vec<SyncedWorkflow>>,
    roster_read: Option<Instant>,
    failures: u32,
}

/// The store keys of one workspace's follower.
fn key(workspace: &str, part: &str) -> String {
    format!("sim.{part}.{workspace}")
}

impl Follower {
    /// Picks up where the last follower of this workspace (this gateway
    /// before a restart, or another one) left off.
    pub async fn load(
        service: &Arc<Service>,
        link: &Arc<SimLink>,
        api: &WorkspaceApi,
        settings: MirrorSettings,
    ) -> Result<Follower, CoreError> {
        let tracker: Tracker = service
            .sync_state(&key(&api.workspace, "follow"))
            .await?
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        for (run_id, open) in &tracker.open {
            if open.phase != Phase::Held {
                link.follow(run_id, &open.workflow_id);
            }
        }
        let (workflows, health) = service.synced_workspace(&api.workspace);
        Ok(Follower {
            api: api.clone(),
            link: link.clone(),
            settings,
            saved: tracker.clone(),
            tracker,
            health,
            workflows,
            roster_read: None,
            failures: 0,
        })
    }

    /// One poll; the wait before the next when it should be longer than usual.
    pub async fn poll(&mut self, service: &Arc<Service>) -> Option<Duration> {
        let outcome = self.poll_once(service).await;
        let wait = match &outcome {
            Ok(()) => {
                self.failures = 0;
                None
            }
            Err(Failure::Sim(SimError::RateLimited(wait))) => Some(*wait),
            Err(Failure::Sim(error)) => {
                self.failures += 1;
                tracing::warn!(workspace = %self.api.workspace, %error, failures = self.failures, "Sim poll failed");
                Some(self.settings.poll * 2u32.saturating_pow(self.failures.min(6)))
            }
            Err(Failure::Store(error)) => {
                tracing::warn!(workspace = %self.api.workspace, %error, "cannot write what Sim said; trying again");
                Some(self.settings.poll * 2)
            }
        };
        let health = match &outcome {
            Err(Failure::Sim(error)) => self.health.after(error, crate::core::now_rfc3339()),
            Err(Failure::Store(_)) => self.health.clone(),
            Ok(()) => WorkspaceHealth::ok(),
        };
        if health != self.health {
            self.publish_roster(service, self.workflows.clone(), health)
                .await;
        }
        wait
    }

    async fn poll_once(&mut self, service: &Arc<Service>) -> Result<(), Failure> {
        self.read_roster_when_due(service).await?;
        self.take_adopted();
        let now = crate::store::now_ms();
        let mut tracker = self.tracker.clone();
        let first_look = tracker.list_from_ms(now).is_none();
        let seen = match tracker.list_from_ms(now) {
            None => tracker.first_look(&self.api.newest_rows().await?),
            Some(from) => tracker.read(&self.api.rows_since(from).await?.0),
        };
        if first_look {
            self.waiting_since_before(service, &mut tracker).await?;
        }
        for seen in seen {
            match seen {
                Seen::Appeared { row, ended } => {
                    self.appeared(service, &mut tracker, row, ended).await?
                }
                Seen::Ended { row } => self.ended(service, &mut tracker, &row).await?,
            }
        }
        self.retry_held(service, &mut tracker).await?;
        self.check_paused(service, &mut tracker).await?;
        for execution_id in tracker
            .overdue(now)
            .into_iter()
            .chain(std::mem::take(&mut tracker.due))
        {
            self.check_one(service, &mut tracker, &execution_id).await?;
        }
        self.tracker = tracker;
        self.save(service).await?;
        Ok(())
    }

    /// Runs the office started that paused in Sim: followed from here on
    /// (read whole on this poll, as any execution whose row ended).
    fn take_adopted(&mut self) {
        for adopted in self.link.take_adopted() {
            self.tracker.keep(
                &adopted.run_id,
                &adopted.workflow_id,
                adopted.started_ms,
                Phase::Running,
            );
            if let Some(open) = self.tracker.open.get_mut(&adopted.run_id) {
                open.streamed = adopted.streamed.into_iter().collect();
            }
            self.tracker.due.push(adopted.run_id);
        }
    }

    async fn read_roster_when_due(&mut self, service: &Arc<Service>) -> Result<(), Failure> {
        if self
            .roster_read
            .is_some_and(|at| at.elapsed() < self.settings.roster)
        {
            return Ok(());
        }
        let list: Vec<SyncedWorkflow> = self
            .api
            .workflows()
            .await?
            .into_iter()
            .map(|w| SyncedWorkflow {
                id: w.id,
                name: w.name,
                description: w.description,
            })
            .collect();
        self.roster_read = Some(Instant::now());
        if self.workflows.as_ref() != Some(&list) {
            self.publish_roster(service, Some(list), WorkspaceHealth::ok())
                .await;
        }
        Ok(())
    }

    async fn publish_roster(
        &mut self,
        service: &Arc<Service>,
        workflows: Option<Vec<SyncedWorkflow>>,
        health: WorkspaceHealth,
    ) {
        match service
            .publish_synced(&self.api.workspace, workflows.clone(), health.clone())
            .await
        {
            Ok(()) => {
                self.workflows = workflows;
                self.health = health;
            }
            Err(e) => tracing::warn!(error = %e, "cannot store the Sim workspace's roster"),
        }
    }

    /// The agent a workflow is, if the office shows it.
    fn agent_of(service: &Service, workflow_id: &str) -> Option<Agent> {
        service.registry().by_workflow(workflow_id).cloned()
    }

    async fn appeared(
        &self,
        service: &Arc<Service>,
        tracker: &mut Tracker,
        row: LogRow,
        ended: bool,
    ) -> Result<(), Failure> {
        let Some(agent) = Self::agent_of(service, &row.workflow_id) else {
            return Ok(());
        };
        match self.start(service, &agent, &row).await? {
            Observed::Busy => {
                tracker.keep_held(&row);
                return Ok(());
            }
            Observed::Known { open: false } => return Ok(()),
            Observed::Known { open: true } if !self.link.is_followed(&row.execution_id) => {
                // The office started it and streams it itself.
                return Ok(());
            }
            Observed::Started | Observed::Known { open: true } => {}
        }
        tracker.keep(
            &row.execution_id,
            &row.workflow_id,
            row.started_ms,
            Phase::Running,
        );
        if ended {
            self.ended(service, tracker, &row).await?;
        }
        Ok(())
    }

    async fn start(
        &self,
        service: &Arc<Service>,
        agent: &Agent,
        row: &LogRow,
    ) -> Result<Observed, Failure> {
        let observed = service
            .observe_start(
                agent,
                ObservedStart {
                    run_id: &row.execution_id,
                    trigger: &row.trigger,
                    started_at: iso_ms(row.started_ms),
                },
            )
            .await?;
        if observed == Observed::Started {
            self.link.follow(&row.execution_id, &row.workflow_id);
        }
        Ok(observed)
    }

    /// On the first look at a workspace, executions already waiting for a
    /// person are shown too (each workflow's paused list, read once).
    async fn waiting_since_before(
        &self,
        service: &Arc<Service>,
        tracker: &mut Tracker,
    ) -> Result<(), Failure> {
        let workflows: Vec<String> = service
            .registry()
            .agents()
            .iter()
            .filter_map(|a| a.workflow_id().map(str::to_owned))
            .collect();
        for workflow_id in workflows {
            let paused = match self.api.paused(&workflow_id).await {
                Ok(paused) => paused,
                // Another workspace's workflow, named in agents.json.
                Err(SimError::Refused { .. } | SimError::KeyRefused { .. }) => continue,
                Err(e) => return Err(e.into()),
            };
            for execution in paused.iter().filter(|p| pause::waiting_point(p).is_some()) {
                let Some(whole) = self.api.execution(&execution.execution_id).await? else {
                    continue;
                };
                let Ok(row) = serde_json::from_value::<LogRow>(whole) else {
                    continue;
                };
                if !tracker.open.contains_key(&row.execution_id) {
                    self.appeared(service, tracker, row, true).await?;
                }
            }
        }
        Ok(())
    }

    /// Executions whose character was busy: told once it is free, oldest first.
    async fn retry_held(
        &self,
        service: &Arc<Service>,
        tracker: &mut Tracker,
    ) -> Result<(), Failure> {
        for (execution_id, held) in tracker.held() {
            let Some(agent) = Self::agent_of(service, &held.workflow_id) else {
                tracker.forget(&execution_id);
                continue;
            };
            let row = LogRow {
                id: String::new(),
                workflow_id: held.workflow_id.clone(),
                execution_id: execution_id.clone(),
                level: "info".into(),
                trigger: held.trigger.clone().unwrap_or_else(|| "unknown".into()),
                started_ms: held.started_ms,
                ended_at: None,
                total_duration_ms: None,
                cost: None,
            };
            match self.start(service, &agent, &row).await? {
                Observed::Busy => break,
                Observed::Known { open: false } => tracker.forget(&execution_id),
                Observed::Started | Observed::Known { open: true } => {
                    tracker.keep(
                        &execution_id,
                        &held.workflow_id,
                        held.started_ms,
                        Phase::Running,
                    );
                    // It may have ended while it waited: read it whole.
                    self.check_one(service, tracker, &execution_id).await?;
                }
            }
        }
        Ok(())
    }

    /// A running execution's row has ended (or paused): read it whole and tell it.
    async fn ended(
        &self,
        service: &Arc<Service>,
        tracker: &mut Tracker,
        row: &LogRow,
    ) -> Result<(), Failure> {
        self.check_one(service, tracker, &row.execution_id).await
    }

    /// Reads one execution whole and tells what it did since it was last read.
    async fn check_one(
        &self,
        service: &Arc<Service>,
        tracker: &mut Tracker,
        execution_id: &str,
    ) -> Result<(), Failure> {
        let Some(open) = tracker.open.get(execution_id).cloned() else {
            return Ok(());
        };
        let Some(agent) = Self::agent_of(service, &open.workflow_id) else {
            tracker.forget(execution_id);
            return Ok(());
        };
        let Some(execution) = self.api.execution(execution_id).await? else {
            return Ok(());
        };
        if !trace::has_ended(&execution)
            || open.paused_at
                == execution
                    .get("endedAt")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
        {
            return Ok(());
        }
        let report = service.report_for(&agent, execution_id);
        let mut reported = open.reported.clone();
        for step in trace::block_steps(&execution) {
            if reported.insert(step.span.clone()) && !open.streamed.contains(&step.block) {
                let event = RunEvent::Step {
                    message: step.message,
                    block: Some(step.block),
                };
                if report.event_at(event, step.ended_at).await.is_err() {
                    tracker.forget(execution_id);
                    return Ok(());
                }
            }
        }
        let ended_at = execution
            .get("endedAt")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        if trace::is_paused(&execution) {
            tracker.paused(execution_id, reported, ended_at);
            return Ok(());
        }
        let usage = trace::usage(&execution);
        let end = match trace::failure(&execution) {
            Some(error) => RunEvent::Failed { error, usage },
            None => RunEvent::Finished {
                result: execution
                    .get("finalOutput")
                    .cloned()
                    .unwrap_or(serde_json::Value::Null),
                message: Some(finished_line(&execution)),
                usage,
            },
        };
        let _ = report.event_at(end, ended_at).await;
        tracker.forget(execution_id);
        self.link.unfollow(execution_id);
        Ok(())
    }

    /// Asks the office about new pauses, and ends its wait for pauses that
    /// were answered in Sim (its portal, its API, another office).
    async fn check_paused(
        &self,
        service: &Arc<Service>,
        tracker: &mut Tracker,
    ) -> Result<(), Failure> {
        for (workflow_id, executions) in tracker.paused_by_workflow() {
            let Some(agent) = Self::agent_of(service, &workflow_id) else {
                executions.iter().for_each(|id| tracker.forget(id));
                continue;
            };
            let listed: BTreeMap<String, PausedExecution> = self
                .api
                .paused(&workflow_id)
                .await?
                .into_iter()
                .map(|p| (p.execution_id.clone(), p))
                .collect();
            for execution_id in executions {
                let paused = listed.get(&execution_id);
                let waiting = paused.and_then(pause::waiting_point);
                let asked = tracker
                    .open
                    .get(&execution_id)
                    .and_then(|o| o.asked.clone());
                match (paused, waiting) {
                    (Some(paused), Some(point)) if asked.as_deref() != Some(&point.context_id) => {
                        if asked.is_some() {
                            service.answered_in_sim(&execution_id, None).await?;
                        }
                        let question = pause::question_of(
                            point,
                            paused,
                            &workflow_id,
                            &agent.name,
                            crate::store::now_ms(),
                        );
                        let report = service.report_for(&agent, &execution_id);
                        if report.event(RunEvent::Asked(question)).await.is_err() {
                            tracker.forget(&execution_id);
                            continue;
                        }
                        tracker.asked(&execution_id, &point.context_id);
                    }
                    (_, Some(_)) => {}
                    (_, None) => {
                        // Nobody waits at it any more: answered in Sim, or here.
                        // (Only the one-execution route tells the answer given.)
                        if asked.is_some() && !service.answered_here(&execution_id).await? {
                            let whole = self
                                .api
                                .paused_execution(&workflow_id, &execution_id)
                                .await?;
                            let point = whole.as_ref().and_then(|p| {
                                p.pause_points
                                    .iter()
                                    .find(|pt| Some(&pt.context_id) == asked.as_ref())
                            });
                            service
                                .answered_in_sim(&execution_id, pause::answer_given_in_sim(point))
                                .await?;
                        }
                        tracker.resumed(&execution_id);
                    }
                }
            }
        }
        Ok(())
    }

    async fn save(&mut self, service: &Arc<Service>) -> Result<(), Failure> {
        if self.tracker == self.saved {
            return Ok(());
        }
        let text = serde_json::to_string(&self.tracker).expect("the tracker serializes");
        service
            .put_sync_state(&key(&self.api.workspace, "follow"), &text)
            .await?;
        self.saved = self.tracker.clone();
        Ok(())
    }
}

/// "finished in 1.2 s": the execution's own duration.
fn finished_line(execution: &serde_json::Value) -> String {
    match execution.get("totalDurationMs").and_then(|v| v.as_f64()) {
        Some(ms) => format!("workflow finished in {:.1} s", ms / 1000.0),
        None => "workflow finished".to_owned(),
    }
}
