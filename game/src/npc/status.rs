//! What each NPC is doing, derived once from the gateway's events; every view
//! (sprite, bubble, panel, roster) reads it from here.

use bevy::prelude::*;
use protocol::{
    AgentState, AgentStatus, AgentSummary, EventEnvelope, EventKind, FoldEvent, RunSummary,
};
use std::collections::BTreeMap;

/// What the office shows of an agent: the gateway's status, greyed out while
/// the gateway cannot be reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Shown {
    pub status: AgentStatus,
    pub offline: bool,
    /// Over its daily budget: no new run until an operator lifts the bench.
    pub benched: bool,
}

impl Shown {
    pub const fn of(status: AgentStatus) -> Shown {
        Shown {
            status,
            offline: false,
            benched: false,
        }
    }

    pub const OFFLINE: Shown = Shown {
        status: AgentStatus::Idle,
        offline: true,
        benched: false,
    };

    pub fn label(self) -> &'static str {
        if self.offline {
            "offline"
        } else if self.benched && !self.status.is_busy() {
            "benched"
        } else {
            self.status.as_str()
        }
    }

    /// Pill colour, shared by the panel, the roster and the bubbles.
    pub fn colour(self) -> [u8; 3] {
        if self.offline {
            return [95, 95, 105];
        }
        match self.status {
            AgentStatus::Idle => [140, 150, 165],
            AgentStatus::Running => [70, 150, 235],
            AgentStatus::Awaiting => [240, 180, 40],
            AgentStatus::Done => [70, 190, 100],
            AgentStatus::Error => [225, 70, 70],
        }
    }

    /// A run is in progress (and the office can tell).
    pub fn is_busy(self) -> bool {
        !self.offline && self.status.is_busy()
    }
}

/// The NPC's current status and run: the one status fold of its events
/// ([`AgentState`], shared with the gateway's roster), plus what only the
/// office keeps (whether it can tell, and when things changed on its clock).
#[derive(Component, Clone, Debug, Default)]
pub struct NpcStatus {
    /// The gateway's view; shown unless the office is offline.
    pub state: AgentState,
    /// The office cannot reach the gateway.
    pub offline: bool,
    /// The gateway cannot reach the agent's source (a Sim workspace), and why.
    pub source: Option<protocol::Offline>,
    /// Its daily budget and how today stands, as the roster last said.
    pub budget: Option<protocol::BudgetState>,
    /// What its runs used today: the roster's figure, plus what reported since.
    pub usage_today: Option<protocol::UsageTotals>,
    /// What the current (or last) run used so far.
    pub run_usage: Option<protocol::Usage>,
    /// Seconds (office clock) when the current run started.
    pub run_started_at: Option<f64>,
    /// Seconds when the status last changed.
    pub changed_at: f64,
}

impl std::ops::Deref for NpcStatus {
    type Target = AgentState;
    fn deref(&self) -> &AgentState {
        &self.state
    }
}

impl NpcStatus {
    pub fn shown(&self) -> Shown {
        Shown {
            status: self.state.status,
            offline: self.offline || self.source.is_some(),
            benched: self.budget.as_ref().is_some_and(|b| b.benched),
        }
    }

    /// Why it is greyed out, as a person reads it: "Sim unreachable since 14:02".
    pub fn out_of_reach(&self) -> Option<String> {
        let source = self.source.as_ref()?;
        let since = chrono::DateTime::parse_from_rfc3339(&source.since)
            .map(|at| at.with_timezone(&chrono::Local).format("%H:%M").to_string());
        Some(match since {
            Ok(at) => format!("{} since {at}", source.reason),
            Err(_) => source.reason.clone(),
        })
    }

    /// Folds one event in; events at or below the last applied id are ignored.
    /// Returns whether it changed anything.
    pub fn apply(&mut self, event: &EventEnvelope, now: f64) -> bool {
        let before = self.state.status;
        if !self.state.apply(FoldEvent::from(event)) {
            return false;
        }
        if event.kind == EventKind::Started {
            self.run_started_at = Some(now);
            self.run_usage = None;
        }
        if let Some(usage) = event
            .fields
            .get("usage")
            .and_then(|u| protocol::Usage::parse(u).ok())
        {
            self.add_usage(&usage, event.kind == EventKind::Started);
        }
        if before != self.state.status {
            self.changed_at = now;
        }
        true
    }

    /// What an event reported: the run's and the day's usage grow.
    fn add_usage(&mut self, usage: &protocol::Usage, started: bool) {
        let run = self.run_usage.get_or_insert_with(protocol::Usage::default);
        *run = run.plus(usage);
        let today = self
            .usage_today
            .get_or_insert_with(protocol::UsageTotals::default);
        today.input_tokens += usage.input_tokens;
        today.output_tokens += usage.output_tokens;
        today.cost_usd += usage.cost_usd;
        today.runs += u64::from(started);
        if let Some(budget) = &mut self.budget {
            budget.spent_today_usd += usage.cost_usd;
        }
    }

    /// Takes the roster's snapshot of the agent, unless newer events were
    /// folded in already; returns whether it did.
    pub fn take_snapshot(&mut self, summary: &AgentSummary, now: f64) -> bool {
        let at = summary.last_event_id.unwrap_or(0);
        if at <= self.state.last_event_id {
            return false;
        }
        self.state = AgentState {
            status: summary.status,
            open_run: summary
                .status
                .is_busy()
                .then(|| summary.run_id.clone())
                .flatten(),
            run_id: summary.run_id.clone(),
            last_message: summary.last_message.clone(),
            last_event_at: summary.last_event_at.clone(),
            last_event_id: at,
            question: summary.question.clone(),
        };
        self.usage_today = summary.usage_today.clone();
        self.changed_at = now;
        true
    }
}

/// The NPC's log: history and live events merged by id, newest last, bounded.
#[derive(Component, Clone, Debug, Default)]
pub struct NpcLog {
    pub entries: BTreeMap<u64, EventEnvelope>,
    /// Older history exists before the first entry.
    pub more_before: bool,
}

impl NpcLog {
    pub const CAPACITY: usize = 500;

    pub fn insert(&mut self, event: EventEnvelope) {
        self.entries.insert(event.id, event);
        while self.entries.len() > Self::CAPACITY {
            self.entries.pop_first();
            self.more_before = true;
        }
    }
}

/// Recent runs of the NPC's agent, newest first.
#[derive(Component, Clone, Debug, Default)]
pub struct NpcRuns(pub Vec<RunSummary>);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(id: u64, kind: &str, extra: serde_json::Value) -> EventEnvelope {
        let mut value = json!({"id": id, "type": kind, "ts": "2025-11-07T12:00:00Z", "npc": "a", "run_id": "r1"});
        value
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn events_drive_the_status_once_in_id_order() {
        let mut status = NpcStatus::default();
        assert!(status.apply(&event(1, "started", json!({})), 1.0));
        assert_eq!(
            (status.shown(), status.run_started_at),
            (Shown::of(AgentStatus::Running), Some(1.0))
        );
        assert!(status.apply(
            &event(
                2,
                "awaiting",
                json!({"question": "Deploy?", "options": ["approve", "reject"]})
            ),
            2.0
        ));
        assert_eq!(
            status.question.as_ref().unwrap().options,
            ["approve", "reject"]
        );
        assert!(
            !status.apply(&event(2, "done", json!({})), 3.0),
            "a replayed id is ignored"
        );
        assert!(status.apply(&event(3, "error", json!({"error": "boom"})), 3.0));
        assert_eq!(status.shown(), Shown::of(AgentStatus::Error));
        assert_eq!(status.last_message.as_deref(), Some("boom"));
        assert!(status.question.is_none());
        status.offline = true;
        assert_eq!(status.shown().label(), "offline");
        status.offline = false;
        status.source = Some(protocol::Offline {
            reason: "Sim refused the API key".into(),
            since: "not a time".into(),
        });
        assert!(
            status.shown().offline,
            "its source out of reach greys it out"
        );
        assert_eq!(
            status.out_of_reach().as_deref(),
            Some("Sim refused the API key")
        );
        status.source.as_mut().unwrap().since = chrono::Local::now().to_rfc3339();
        assert!(
            status
                .out_of_reach()
                .unwrap()
                .starts_with("Sim refused the API key since ")
        );
    }

    #[test]
    fn history_and_live_merge_without_duplicates() {
        let mut log = NpcLog::default();
        for id in [5, 6, 7] {
            log.insert(event(id, "step", json!({})));
        }
        for id in [3, 4, 5, 6] {
            log.insert(event(id, "step", json!({})));
        }
        assert_eq!(
            log.entries.keys().copied().collect::<Vec<_>>(),
            [3, 4, 5, 6, 7]
        );
    }
}
