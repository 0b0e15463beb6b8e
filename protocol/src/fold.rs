//! The one status fold: an agent's events, in id order, become what it is
//! doing now. The gateway's roster, the office's characters and the office
//! as of any past moment all fold with this code and add only their extras.

use crate::agent::{AgentStatus, PendingQuestion};
use crate::event::{EventEnvelope, EventKind};
use serde::{Deserialize, Serialize};

/// What an agent is doing, as its events so far say.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentState {
    pub status: AgentStatus,
    /// The run in progress, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_run: Option<String>,
    /// The latest run, open or ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_event_at: Option<String>,
    /// The newest event folded in (0: none yet).
    #[serde(default)]
    pub last_event_id: u64,
    /// The unanswered question of the open run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question: Option<PendingQuestion>,
}

/// One event, as the fold needs it (from a stored event's facts, or from an
/// envelope the office received).
#[derive(Clone, Debug, PartialEq)]
pub struct FoldEvent<'a> {
    pub id: u64,
    pub kind: EventKind,
    pub ts: &'a str,
    pub run_id: Option<&'a str>,
    /// The human line (`message`, `error` or `question`).
    pub message: Option<&'a str>,
    /// On `awaiting`: what it asks.
    pub question: Option<PendingQuestion>,
}

impl<'a> From<&'a EventEnvelope> for FoldEvent<'a> {
    fn from(event: &'a EventEnvelope) -> FoldEvent<'a> {
        FoldEvent {
            id: event.id,
            kind: event.kind,
            ts: &event.ts,
            run_id: event.run_id.as_deref(),
            message: event.message(),
            question: PendingQuestion::from_event(event),
        }
    }
}

impl AgentState {
    /// Folds one event in. An event at or below the last one folded (told
    /// twice: a restore overlapping the live feed) and a roster change leave
    /// the state as it was; returns whether it changed anything.
    pub fn apply(&mut self, event: FoldEvent<'_>) -> bool {
        if event.id <= self.last_event_id || event.kind == EventKind::Roster {
            return false;
        }
        self.status = self.status.after(event.kind);
        if let Some(run_id) = event.run_id {
            self.run_id = Some(run_id.to_owned());
            match event.kind {
                EventKind::Started => self.open_run = Some(run_id.to_owned()),
                kind if kind.is_terminal() && self.open_run.as_deref() == Some(run_id) => {
                    self.open_run = None;
                }
                _ => {}
            }
        }
        self.question = match event.kind {
            EventKind::Awaiting if event.run_id.is_some() => event.question,
            _ => None,
        };
        if let Some(message) = event.message {
            self.last_message = Some(message.to_owned());
        }
        self.last_event_at = Some(event.ts.to_owned());
        self.last_event_id = event.id;
        true
    }

    /// An open run restored without its events (pruned, or another store's):
    /// it is running, or awaiting when it has a question.
    pub fn restore_open_run(&mut self, run_id: &str, question: Option<PendingQuestion>) {
        self.open_run = Some(run_id.to_owned());
        self.run_id = Some(run_id.to_owned());
        if !self.status.is_busy() {
            self.status = if question.is_some() {
                AgentStatus::Awaiting
            } else {
                AgentStatus::Running
            };
        }
        self.question = question;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: u64, kind: EventKind, run: Option<&'static str>) -> FoldEvent<'static> {
        FoldEvent {
            id,
            kind,
            ts: "2026-01-01T00:00:00Z",
            run_id: run,
            message: None,
            question: None,
        }
    }

    fn question(run: &str, id: u64) -> PendingQuestion {
        PendingQuestion {
            run_id: run.into(),
            event_id: id,
            question: "Ship?".into(),
            options: vec!["yes".into(), "no".into()],
            since: "2026-01-01T00:00:00Z".into(),
            timeout_secs: None,
            details: Vec::new(),
            form: Vec::new(),
        }
    }

    #[test]
    fn a_run_opens_asks_is_answered_and_ends() {
        let mut state = AgentState::default();
        assert!(state.apply(event(1, EventKind::Started, Some("r1"))));
        assert_eq!(state.open_run.as_deref(), Some("r1"));
        let asked = FoldEvent {
            question: Some(question("r1", 2)),
            message: Some("Ship?"),
            ..event(2, EventKind::Awaiting, Some("r1"))
        };
        state.apply(asked);
        assert_eq!(state.status, AgentStatus::Awaiting);
        assert_eq!(state.question, Some(question("r1", 2)));
        state.apply(event(3, EventKind::Response, Some("r1")));
        assert_eq!(
            (state.status, state.question.as_ref()),
            (AgentStatus::Running, None)
        );
        state.apply(event(4, EventKind::Done, Some("r1")));
        assert_eq!(
            (state.status, state.open_run.as_deref()),
            (AgentStatus::Done, None)
        );
        assert_eq!(state.run_id.as_deref(), Some("r1"));
        assert_eq!(
            state.last_message.as_deref(),
            Some("Ship?"),
            "the last line stays"
        );
        assert_eq!(state.last_event_id, 4);
    }

    #[test]
    fn seen_events_and_roster_changes_change_nothing() {
        let mut state = AgentState::default();
        state.apply(event(5, EventKind::Started, Some("r1")));
        let before = state.clone();
        assert!(!state.apply(event(5, EventKind::Done, Some("r1"))));
        assert!(!state.apply(event(3, EventKind::Error, Some("r1"))));
        assert!(!state.apply(event(9, EventKind::Roster, None)));
        assert_eq!(state, before);
    }

    #[test]
    fn a_bare_step_shows_but_opens_no_run_and_another_runs_end_keeps_the_open_one() {
        let mut state = AgentState::default();
        state.apply(FoldEvent {
            message: Some("hi"),
            ..event(1, EventKind::Step, None)
        });
        assert_eq!(
            (state.status, state.open_run.as_ref()),
            (AgentStatus::Running, None)
        );
        state.apply(event(2, EventKind::Started, Some("r2")));
        state.apply(event(3, EventKind::Done, Some("old")));
        assert_eq!(state.open_run.as_deref(), Some("r2"));
    }

    #[test]
    fn an_open_run_restores_as_running_or_awaiting() {
        let mut state = AgentState::default();
        state.restore_open_run("r1", Some(question("r1", 7)));
        assert_eq!(state.status, AgentStatus::Awaiting);
        let mut running = AgentState::default();
        running.restore_open_run("r2", None);
        assert_eq!(running.status, AgentStatus::Running);
    }
}
