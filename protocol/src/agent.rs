//! Agents as the office sees them: who they are and what they are doing.

use crate::event::EventKind;
use crate::written::Question;
use serde::{Deserialize, Serialize};

/// What an agent is doing, derived from its latest run's events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentStatus {
    #[default]
    Idle,
    Running,
    Awaiting,
    Done,
    Error,
}

impl AgentStatus {
    /// The status after an event of `kind`; the one rule both gateway and office use.
    pub fn after(self, kind: EventKind) -> AgentStatus {
        match kind {
            EventKind::Started | EventKind::Step | EventKind::Response => AgentStatus::Running,
            EventKind::Awaiting => AgentStatus::Awaiting,
            EventKind::Done => AgentStatus::Done,
            EventKind::Error => AgentStatus::Error,
            EventKind::Roster => self,
        }
    }

    /// A run is in progress: a second Run is refused until it ends.
    pub fn is_busy(self) -> bool {
        matches!(self, AgentStatus::Running | AgentStatus::Awaiting)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Idle => "idle",
            AgentStatus::Running => "running",
            AgentStatus::Awaiting => "awaiting",
            AgentStatus::Done => "done",
            AgentStatus::Error => "error",
        }
    }
}

/// One entry of `GET /api/agents`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentSummary {
    pub agent: String,
    pub npc: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desk: Option<String>,
    /// Where "Open in Studio" goes, already resolved by the gateway.
    pub studio_url: String,
    pub status: AgentStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_event_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_event_id: Option<u64>,
    /// The question the agent's run waits on, so a page opened later can answer it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question: Option<PendingQuestion>,
    /// Its source cannot be reached: the office greys it out and says why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offline: Option<Offline>,
    /// What its runs used today (the gateway's day); absent when nothing was reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_today: Option<crate::usage::UsageTotals>,
    /// Its daily budget, when agents.json gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<crate::usage::BudgetState>,
    /// It walked in because its telemetry named it, and leaves when idle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visitor: Option<Visit>,
    /// Its runs start where it runs, not from the office (an agent only its
    /// telemetry reports).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub observe_only: bool,
}

/// What brought a visiting agent in, whose it is, and when it leaves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Visit {
    /// `opentelemetry` (GenAI spans) or `claude-code` (its log events).
    pub source: String,
    /// The service that reported it (`service.name`).
    pub service: String,
    /// The npc of the agent whose work invoked it: it is that agent's sub-agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spawned_by: Option<String>,
    /// It leaves after this long with nothing reported.
    pub leaves_after_idle_secs: u64,
}

/// Why an agent's source is out of reach, and since when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offline {
    /// "Sim unreachable", "Sim refused the API key".
    pub reason: String,
    /// RFC 3339.
    pub since: String,
}

/// An `awaiting` event that nobody has answered yet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PendingQuestion {
    pub run_id: String,
    /// The `awaiting` event's id.
    pub event_id: u64,
    pub question: String,
    /// The allowed decisions; empty means any text.
    #[serde(default)]
    pub options: Vec<String>,
    /// When it was asked (RFC 3339).
    pub since: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<crate::form::Detail>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub form: Vec<crate::form::FormField>,
}

impl PendingQuestion {
    /// The answers a person is offered: its options, a form's one-tap
    /// answers, or a plain "ok" when any text is allowed.
    pub fn choices(&self) -> Vec<String> {
        if !self.form.is_empty() {
            return crate::form::quick_answers(&self.form)
                .map(|quick| quick.into_iter().map(|q| q.label).collect())
                .unwrap_or_default();
        }
        if self.options.is_empty() {
            vec!["ok".to_owned()]
        } else {
            self.options.clone()
        }
    }

    /// `question`, as asked by event `event_id` of run `run_id` at `since`.
    pub fn asked(question: &Question, run_id: &str, event_id: u64, since: &str) -> PendingQuestion {
        PendingQuestion {
            run_id: run_id.to_owned(),
            event_id,
            question: question.question.clone(),
            options: question.options.clone(),
            since: since.to_owned(),
            timeout_secs: question.timeout_secs,
            details: question.details.clone(),
            form: question.form.clone(),
        }
    }

    /// The question an `awaiting` event asks.
    pub fn from_event(event: &crate::EventEnvelope) -> Option<PendingQuestion> {
        if event.kind != EventKind::Awaiting {
            return None;
        }
        let question = Question::from_fields(&event.fields);
        Some(PendingQuestion::asked(
            &question,
            event.run_id.as_deref()?,
            event.id,
            &event.ts,
        ))
    }
}

/// `GET /api/agents`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Roster {
    pub agents: Vec<AgentSummary>,
    /// The newest event id at the time of the snapshot: stream from here.
    pub last_event_id: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_moves_through_the_statuses() {
        let mut status = AgentStatus::Idle;
        let mut seen = vec![];
        for kind in [
            EventKind::Started,
            EventKind::Step,
            EventKind::Awaiting,
            EventKind::Response,
            EventKind::Done,
        ] {
            status = status.after(kind);
            seen.push(status);
        }
        use AgentStatus::*;
        assert_eq!(seen, [Running, Running, Awaiting, Running, Done]);
        assert_eq!(Error.after(EventKind::Roster), Error);
        assert!(Awaiting.is_busy() && !Done.is_busy());
    }
}
