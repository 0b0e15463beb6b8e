//! Run backends: where a run goes once the core has recorded `started`.
//!
//! One trait, [`RunBackend`], three implementations chosen from the agent's
//! config: a webhook (a Sim webhook trigger or any HTTP receiver), Sim's
//! execute API, and an embedded flow that runs in this process. The core starts
//! and answers runs through the trait and never knows which one it holds.
//!
//! Every backend reports progress the same way a remote workflow does: through
//! a [`RunReport`], which publishes typed [`RunEvent`]s (`step`, `awaiting`,
//! `done`, `error`) through the core's validated publish path with the run's
//! own scope. Backends learn how a run goes on (an answer, a cancel, the end)
//! from committed events' facts, which reach every gateway sharing the store.

pub mod flow;
pub mod sim;
pub mod webhook;

use crate::outbound::OutboundError;
use crate::registry::{Agent, RunTarget};
use crate::store::StoredEvent;
use async_trait::async_trait;
use protocol::{AnswerDelivery, Question, RunEvent, RunWebhook};
use std::sync::Arc;

/// Which run, of which agent, at which npc.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunRef {
    pub run_id: String,
    pub agent: String,
    pub npc: String,
}

/// What a backend needs to start a run.
#[derive(Clone, Debug)]
pub struct RunStart {
    pub run: RunRef,
    pub agent: Agent,
    /// The body a webhook receives (it carries the run's callback URL and token).
    pub webhook: RunWebhook,
}

/// Why the core refused a backend's event (the run ended, was cancelled, …).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Refused {
    /// The run is over: the backend should stop.
    pub run_over: bool,
    pub message: String,
}

/// The core's one door for backends: publish an event as the run itself.
#[async_trait]
pub trait Publisher: Send + Sync + 'static {
    /// `ts`: when it happened at the source, if not now.
    async fn publish_for_run(
        &self,
        run: &RunRef,
        event: &RunEvent,
        ts: Option<&str>,
    ) -> Result<u64, Refused>;
}

/// Tries of one run event while the store is unavailable (0.2 s, 0.4 s, … apart).
const REPORT_ATTEMPTS: u32 = 6;

/// A run's voice: what a workflow's API blocks would post, in-process.
#[derive(Clone)]
pub struct RunReport {
    run: RunRef,
    publisher: Arc<dyn Publisher>,
}

impl RunReport {
    pub fn new(run: RunRef, publisher: Arc<dyn Publisher>) -> RunReport {
        RunReport { run, publisher }
    }

    pub fn run(&self) -> &RunRef {
        &self.run
    }

    /// Publishes one event of the run. A store that is briefly unavailable is
    /// retried; a refusal because the run is over is final.
    pub async fn event(&self, event: RunEvent) -> Result<u64, Refused> {
        self.event_at(event, None).await
    }

    /// Publishes one event that happened at `ts` at its source (a watched
    /// run told late keeps its own times).
    pub async fn event_at(&self, event: RunEvent, ts: Option<String>) -> Result<u64, Refused> {
        let kind = event.kind();
        let mut wait = std::time::Duration::from_millis(200);
        let mut attempt = 1;
        loop {
            match self
                .publisher
                .publish_for_run(&self.run, &event, ts.as_deref())
                .await
            {
                Ok(id) => return Ok(id),
                Err(refused) if !refused.run_over && attempt < REPORT_ATTEMPTS => {
                    tracing::warn!(run_id = %self.run.run_id, kind = %kind, reason = %refused, attempt, "run event not stored; retrying");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                    attempt += 1;
                }
                Err(refused) => {
                    tracing::info!(run_id = %self.run.run_id, kind = %kind, reason = %refused, "run event refused");
                    return Err(refused);
                }
            }
        }
    }

    pub async fn step(&self, message: &str) -> Result<u64, Refused> {
        self.event(RunEvent::step(message)).await
    }

    pub async fn fail(&self, error: &str) -> Result<u64, Refused> {
        self.event(RunEvent::Failed {
            error: error.to_owned(),
            usage: None,
        })
        .await
    }
}

/// Why a backend could not do what the core asked.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("could not deliver the answer: {0}")]
    Answer(#[from] OutboundError),
    #[error("the question's resume_url is not a URL: {0}")]
    BadResumeUrl(String),
    /// Someone answered first (in Sim's portal, its API, another office).
    #[error("this question was already answered in Sim ({0})")]
    AnsweredElsewhere(String),
    /// The answer could not reach its workflow now; asking again may work.
    #[error("{0}")]
    Unavailable(String),
}

#[async_trait]
pub trait RunBackend: Send + Sync + 'static {
    /// Begins the run in the background; progress and the end go through `report`.
    fn start(&self, run: RunStart, report: RunReport);

    /// Delivers a person's answer to the run's question (already recorded as a
    /// `response` event). Backends whose runs watch their events need do nothing.
    async fn answer(
        &self,
        agent: &Agent,
        question: &Question,
        answer: &AnswerDelivery,
    ) -> Result<(), BackendError>;

    /// Sees every committed event, in order: answers and ends of its runs.
    fn committed(&self, _event: &StoredEvent) {}

    /// Whether its runs live in this process and die with it.
    fn in_process(&self) -> bool {
        false
    }
}

/// The three backends, and which one an agent uses.
pub struct Backends {
    webhook: webhook::WebhookBackend,
    sim: sim::SimBackend,
    flow: flow::FlowBackend,
}

impl Backends {
    pub fn new(
        webhook: webhook::WebhookBackend,
        sim: sim::SimBackend,
        flow: flow::FlowBackend,
    ) -> Backends {
        Backends { webhook, sim, flow }
    }

    pub fn for_agent(&self, agent: &Agent) -> &dyn RunBackend {
        match agent.target {
            // An observed agent's answers are recorded only: it reads its stream.
            RunTarget::Webhook(_) | RunTarget::Observed => &self.webhook,
            RunTarget::SimWorkflow { .. } => &self.sim,
            RunTarget::Flow(_) => &self.flow,
        }
    }

    pub fn committed(&self, events: &[Arc<StoredEvent>]) {
        for event in events {
            if event.run_id.is_some() {
                self.webhook.committed(event);
                self.sim.committed(event);
                self.flow.committed(event);
            }
        }
    }

    /// The embedded flows (for reloading and the demo).
    pub fn flows(&self) -> &flow::FlowBackend {
        &self.flow
    }
}
