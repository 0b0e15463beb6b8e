//! The run lifecycle: start (record `started`, hand the run to its backend),
//! cancel, answer a question, and end runs that went quiet or lost the
//! gateway they lived in. Every step is an event; the store's run rules make
//! each of them happen once, whichever gateway it arrives at.

use super::{CoreError, Service, now_rfc3339};
use crate::auth::{Caller, Right, RunTokens};
use crate::backends::{BackendError, Publisher, Refused, RunRef, RunReport, RunStart};
use crate::registry::Agent;
use crate::store::{EventFacts, NewEvent, RunMeta, RunRecord, StoreError};
use async_trait::async_trait;
use protocol::{
    AnswerDelivery, GatewayEvent, RespondRequest, RunAck, RunAnswered, RunCancelled, RunEnded,
    RunEvent, RunStarted, RunWebhook,
};
use rand::Rng;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::Duration;

/// Extra time an awaiting run gets beyond its question's own timeout.
const QUESTION_GRACE: Duration = Duration::from_secs(60);

pub fn new_run_id() -> String {
    let bytes: [u8; 8] = rand::random();
    format!("run_{}", hex::encode(bytes))
}

/// "10 min", "45 s", "2 h".
pub fn human_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 if secs.is_multiple_of(60) => format!("{} min", secs / 60),
        60..3600 => format!("{} min {} s", secs / 60, secs % 60),
        _ if secs.is_multiple_of(3600) => format!("{} h", secs / 3600),
        _ => format!("{} min", secs / 60),
    }
}

impl Service {
    fn agent_for(&self, agent_id: &str) -> Result<Agent, CoreError> {
        self.registry()
            .agent(agent_id)
            .cloned()
            .ok_or_else(|| CoreError::UnknownAgent(agent_id.to_owned()))
    }

    fn check_may_operate(caller: &Caller, agent: &str) -> Result<(), CoreError> {
        if !caller.may(Right::Operate) {
            return Err(CoreError::Forbidden(Right::Operate.describe().into()));
        }
        if !caller.may_act_on(agent) {
            return Err(CoreError::Forbidden(format!("act on agent `{agent}`")));
        }
        Ok(())
    }

    /// Starts a run: records `started`, then hands the run to the agent's backend.
    pub async fn start_run(
        self: &Arc<Self>,
        agent_id: &str,
        caller: &Caller,
        payload: Value,
    ) -> Result<RunAck, CoreError> {
        let agent = self.agent_for(agent_id)?;
        Self::check_may_operate(caller, &agent.agent)?;
        if agent.target == crate::registry::RunTarget::Observed {
            return Err(CoreError::ObserveOnly(agent.agent));
        }
        self.check_budget(&agent, caller).await?;
        let backend = self.backends.for_agent(&agent);
        let run_id = new_run_id();
        let by = caller.by();
        let (callback_token, digest) = RunTokens::mint();
        let said = GatewayEvent::Started(RunStarted {
            agent: agent.agent.clone(),
            message: format!("{} started by {by}", agent.name),
            by: by.clone(),
            payload: (!payload.is_null()).then(|| payload.clone()),
        });
        let mut started = gateway_event(&said, &agent.npc, Some(&run_id));
        started.run = Some(RunMeta {
            agent: agent.agent.clone(),
            by: Some(by.clone()),
            callback_digest: Some(digest),
            owner: backend.in_process().then(|| self.settings.instance.clone()),
            deadline_ms: self.deadline_of(&self.registry(), &agent.agent).as_millis() as u64,
        });
        started.facts.callback_digest = Some(digest);
        let stored = match self.store.log.append(vec![started]).await {
            Ok(mut stored) => stored.remove(0),
            Err(StoreError::Rule(crate::store::RunRuleError::Busy { run_id, .. })) => {
                return Err(CoreError::AgentBusy {
                    agent: agent.agent.clone(),
                    run_id,
                });
            }
            Err(e) => return Err(e.into()),
        };
        tracing::info!(agent = %agent.agent, npc = %agent.npc, run_id = %run_id, event_id = stored.id, by = %by, "run started");
        let run = RunRef {
            run_id: run_id.clone(),
            agent: agent.agent.clone(),
            npc: agent.npc.clone(),
        };
        let webhook = RunWebhook {
            run_id: run_id.clone(),
            agent: agent.agent.clone(),
            npc: agent.npc.clone(),
            callback_url: format!("{}/api/events", self.settings.public_url),
            callback_token,
            by: Some(by),
            payload,
        };
        let report = RunReport::new(run.clone(), self.clone());
        backend.start(
            RunStart {
                run,
                agent,
                webhook,
            },
            report,
        );
        Ok(RunAck {
            run_id,
            event_id: stored.id,
        })
    }

    /// A run that exists and has not ended.
    async fn open_run(&self, run_id: &str) -> Result<RunRecord, CoreError> {
        let run = self
            .store
            .runs
            .run(run_id)
            .await?
            .ok_or_else(|| CoreError::UnknownRun(run_id.to_owned()))?;
        if !run.is_open() {
            return Err(CoreError::RunEnded(run_id.to_owned()));
        }
        Ok(run)
    }

    /// Ends a run in progress with an `error` saying who cancelled it; its
    /// backend stops when it sees that event (on whichever gateway runs it).
    pub async fn cancel_run(&self, run_id: &str, caller: &Caller) -> Result<RunAck, CoreError> {
        let run = self.open_run(run_id).await?;
        Self::check_may_operate(caller, &run.summary.agent)?;
        self.cancel_as(run_id, &caller.by()).await
    }

    /// Cancels a run on `by`'s word (a person, or the gateway's own rule:
    /// "its daily budget"); every backend stops it as any cancel.
    pub(super) async fn cancel_as(&self, run_id: &str, by: &str) -> Result<RunAck, CoreError> {
        let run = self.open_run(run_id).await?;
        let by = by.to_owned();
        let event = self
            .record(
                GatewayEvent::Cancelled(RunCancelled::by(&by)),
                &run.summary.npc,
                Some(run_id),
            )
            .await?;
        tracing::info!(run_id, npc = %run.summary.npc, event_id = event, by = %by, "run cancelled");
        Ok(RunAck {
            run_id: run_id.to_owned(),
            event_id: event,
        })
    }

    /// Answers a run's question: records the answer as a `response` event
    /// (the store takes one answer per question), then lets the backend
    /// deliver it. An answer that cannot be delivered ends the run.
    pub async fn answer(
        &self,
        run_id: &str,
        caller: &Caller,
        request: RespondRequest,
    ) -> Result<RunAck, CoreError> {
        let run = self.open_run(run_id).await?;
        Self::check_may_operate(caller, &run.summary.agent)?;
        let Some(asked) = &run.question else {
            return Err(CoreError::NotAwaiting(run_id.to_owned()));
        };
        let (decision, input) = asked
            .question
            .check_answer(&request.decision, request.input.as_ref())
            .map_err(CoreError::InvalidRequest)?;
        let by = caller.by();
        let answered = RunAnswered {
            message: answer_line(&by, &decision, input.as_ref()),
            decision: decision.clone(),
            by: by.clone(),
            comment: request.comment.clone(),
            input: input.clone(),
        };
        let agent = self.agent_for(&run.summary.agent)?;
        let backend = self.backends.for_agent(&agent);
        let delivery = AnswerDelivery {
            run_id: run_id.to_owned(),
            question_id: asked.event_id,
            decision,
            comment: request.comment,
            by,
            input,
        };
        let event = self
            .record(
                GatewayEvent::Answered(answered),
                &run.summary.npc,
                Some(run_id),
            )
            .await?;
        let ack = RunAck {
            run_id: run_id.to_owned(),
            event_id: event,
        };
        match backend.answer(&agent, &asked.question, &delivery).await {
            Ok(()) => Ok(ack),
            // Sim holds the pause: a refusal there leaves the run as Sim has it.
            Err(BackendError::AnsweredElsewhere(said)) => {
                let line =
                    format!("Sim had already taken another answer ({said}); this one was not used");
                self.say_for_run(&run.summary, RunEvent::step(line)).await;
                Err(BackendError::AnsweredElsewhere(said).into())
            }
            Err(BackendError::Unavailable(why)) => {
                // Still paused in Sim: ask again, so the answer can be given later.
                let again = RunEvent::Asked(asked.question.as_ref().clone());
                self.say_for_run(&run.summary, again).await;
                Err(BackendError::Unavailable(why).into())
            }
            Err(failed) => {
                let reason = failed.to_string();
                self.end_run(&run.summary.npc, run_id, &reason).await;
                Err(failed.into())
            }
        }
    }

    /// Writes one of the run's own events (as its backend would).
    async fn say_for_run(&self, run: &protocol::RunSummary, event: RunEvent) {
        let run = RunRef {
            run_id: run.run_id.clone(),
            agent: run.agent.clone(),
            npc: run.npc.clone(),
        };
        if let Err(e) = self.publish_for_run(&run, &event, None).await {
            tracing::warn!(run_id = %run.run_id, error = %e, "cannot record what became of the answer");
        }
    }

    /// Writes an event on the gateway's own authority.
    pub(super) async fn record(
        &self,
        event: GatewayEvent,
        npc: &str,
        run_id: Option<&str>,
    ) -> Result<u64, CoreError> {
        let new = gateway_event(&event, npc, run_id);
        let mut stored = self.store.log.append(vec![new]).await?;
        Ok(stored.remove(0).id)
    }

    /// Ends a run with an `error`, unless it has ended already.
    pub(super) async fn end_run(&self, npc: &str, run_id: &str, error: &str) {
        let ended = GatewayEvent::Ended(RunEnded {
            error: error.to_owned(),
        });
        match self.record(ended, npc, Some(run_id)).await {
            Ok(_) | Err(CoreError::RunEnded(_)) => {}
            Err(e) => tracing::error!(run_id, error = %e, "cannot record the run's end"),
        }
    }

    /// Ends open runs that have gone quiet past their deadline, and in-process
    /// runs whose gateway is gone.
    pub async fn sweep_runs(&self) -> Result<usize, CoreError> {
        let runs = self.store.runs.open_runs().await?;
        if runs.is_empty() {
            return Ok(0);
        }
        let live = self.store.runs.live_instances().await?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        let mut ended = 0;
        for run in runs {
            let quiet = Duration::from_millis((now as i64 - run.last_event_ms).max(0) as u64);
            let problem = match &run.meta.owner {
                Some(owner) if !live.contains(owner) => Some(
                    "the gateway running this flow stopped; the run cannot go on (start it again)"
                        .to_owned(),
                ),
                _ if quiet > deadline_while(&run) => Some(format!(
                    "no word from the workflow for {}",
                    human_duration(deadline_while(&run))
                )),
                _ => None,
            };
            if let Some(problem) = problem {
                tracing::warn!(run_id = %run.summary.run_id, npc = %run.summary.npc, %problem, "ending run");
                self.end_run(&run.summary.npc, &run.summary.run_id, &problem)
                    .await;
                ended += 1;
            }
        }
        Ok(ended)
    }

    /// Sweeps runs every `every`, until the store closes.
    pub fn spawn_sweeper(self: &Arc<Self>, every: Duration) {
        let service = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(service) = service.upgrade() else {
                    break;
                };
                match service.sweep_runs().await {
                    Ok(_) => {}
                    Err(CoreError::Store(StoreError::Closed)) => break,
                    Err(e) => tracing::warn!(error = %e, "run sweep failed"),
                }
            }
        });
    }

    /// Ambient mode: starts a run of a random idle embedded-flow agent every
    /// few seconds (never a real workflow: a Sim or webhook agent only runs
    /// when someone or something asks).
    pub fn spawn_demo(self: &Arc<Self>) {
        let service = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let pause = rand::rng().random_range(3.0..7.0);
                tokio::time::sleep(Duration::from_secs_f64(pause)).await;
                let Some(service) = service.upgrade() else {
                    break;
                };
                let registry = service.registry();
                let idle: Vec<_> = registry
                    .agents()
                    .iter()
                    .filter(|a| matches!(a.target, crate::registry::RunTarget::Flow(_)))
                    .filter(|a| service.board.get(&a.npc).open_run.is_none())
                    .collect();
                if idle.is_empty() {
                    continue;
                }
                let agent = idle[rand::rng().random_range(0..idle.len())];
                let payload = service.demo_payload(agent);
                let demo = Caller::Person(Arc::new(crate::auth::Identity {
                    subject: "demo".into(),
                    role: crate::auth::Role::Operator,
                    agents: Default::default(),
                }));
                if let Err(e) = service.start_run(&agent.agent, &demo, payload).await {
                    tracing::debug!(agent = %agent.agent, error = %e, "demo run not started");
                }
            }
        });
    }

    fn demo_payload(&self, agent: &Agent) -> Value {
        match &agent.target {
            crate::registry::RunTarget::Flow(name) => match self.backends.flows().flow(name) {
                Some(Ok(flow)) => flow.demo_payload.clone(),
                _ => json!({}),
            },
            _ => json!({}),
        }
    }
}

/// "alice chose ship", or for a form "alice answered: approved yes, note …".
pub(super) fn answer_line(by: &str, decision: &str, input: Option<&Map<String, Value>>) -> String {
    let Some(input) = input else {
        return format!("{by} chose {decision}");
    };
    let fields: Vec<String> = input
        .iter()
        .map(|(name, value)| match value {
            Value::Bool(true) => format!("{name} yes"),
            Value::Bool(false) => format!("{name} no"),
            Value::String(text) => format!("{name} {}", crate::outbound::sanitize(text, 80)),
            other => format!(
                "{name} {}",
                crate::outbound::sanitize(&other.to_string(), 80)
            ),
        })
        .collect();
    format!("{by} answered: {}", fields.join(", "))
}

/// How long a run may stay quiet: its deadline, or while it waits for a
/// person, the question's own timeout (plus grace) when that is longer.
fn deadline_while(run: &RunRecord) -> Duration {
    let deadline = Duration::from_millis(run.meta.deadline_ms);
    let asked = run
        .question
        .as_ref()
        .and_then(|asked| asked.question.timeout_secs)
        .filter(|secs| secs.is_finite() && *secs > 0.0)
        .map(|secs| Duration::from_secs_f64(secs.min(86_400.0 * 30.0)) + QUESTION_GRACE);
    asked.map_or(deadline, |asked| asked.max(deadline))
}

/// The event a typed gateway event is stored as, with its facts.
pub(super) fn gateway_event(event: &GatewayEvent, npc: &str, run_id: Option<&str>) -> NewEvent {
    let facts = match event {
        GatewayEvent::Answered(answer) => EventFacts {
            answer: Some(std::sync::Arc::new(answer.clone())),
            ..EventFacts::default()
        },
        GatewayEvent::Cancelled(_) => EventFacts {
            cancelled: true,
            ..EventFacts::default()
        },
        _ => EventFacts::default(),
    };
    NewEvent {
        kind: event.kind(),
        npc: npc.to_owned(),
        run_id: run_id.map(str::to_owned),
        ts: now_rfc3339(),
        fields: event.fields(),
        run: None,
        facts,
        key: None,
    }
}

/// Backends report through the same validated publish path a callback takes.
#[async_trait]
impl Publisher for Service {
    async fn publish_for_run(
        &self,
        run: &RunRef,
        event: &RunEvent,
        ts: Option<&str>,
    ) -> Result<u64, Refused> {
        let caller = Caller::Run {
            run_id: run.run_id.clone(),
            npc: run.npc.clone(),
        };
        let mut event =
            protocol::PublishEvent::for_run(&run.npc, event.kind(), &run.run_id, event.fields());
        event.ts = ts.map(str::to_owned);
        match self.publish(&caller, vec![event]).await {
            Ok(ids) => Ok(ids[0]),
            Err(error) => Err(Refused {
                run_over: !matches!(error, CoreError::Store(ref e) if e.is_unavailable()),
                message: error.to_string(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_person_would_say_them() {
        assert_eq!(human_duration(Duration::from_secs(600)), "10 min");
        assert_eq!(human_duration(Duration::from_secs(45)), "45 s");
        assert_eq!(human_duration(Duration::from_secs(90)), "1 min 30 s");
        assert_eq!(human_duration(Duration::from_secs(7200)), "2 h");
    }

    #[test]
    fn run_ids_are_unique_and_url_safe() {
        let a = new_run_id();
        assert!(a.starts_with("run_") && a.len() == 20);
        assert_ne!(a, new_run_id());
    }
}
