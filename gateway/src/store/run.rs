//! A run as the run book keeps it: its summary, what its record holds beyond
//! its events, the question it waits on, and its place in the run list.

use protocol::{AgentStatus, EventKind, PendingQuestion, Question, RunSummary};
use std::sync::Arc;

/// What a run's record keeps beyond its events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunMeta {
    pub agent: String,
    /// Who started it.
    pub by: Option<String>,
    /// SHA-256 of the run's callback token, so it survives restarts and other gateways accept it.
    pub callback_digest: Option<[u8; 32]>,
    /// The gateway instance the run lives in, for runs that die with their process (embedded flows).
    pub owner: Option<String>,
    /// A run with no event for this long is ended by the gateway.
    pub deadline_ms: u64,
}

/// The question a run waits on: which event asked it, when, and what.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Asked {
    pub event_id: u64,
    /// When it was asked (the event's `ts`).
    pub since: String,
    pub question: Arc<Question>,
}

impl Asked {
    /// As the roster and an answer see it.
    pub fn pending(&self, run_id: &str) -> PendingQuestion {
        PendingQuestion::asked(&self.question, run_id, self.event_id, &self.since)
    }
}

/// A run as stored.
#[derive(Debug, Clone)]
pub struct RunRecord {
    pub summary: RunSummary,
    pub meta: RunMeta,
    /// Milliseconds since the epoch of the run's latest event.
    pub last_event_ms: i64,
    /// Milliseconds since the epoch when the store took its `started`: the
    /// run list's order (newest first, then by run id).
    pub started_ms: i64,
    /// The question the run waits on, if it does.
    pub question: Option<Asked>,
}

impl RunRecord {
    pub fn is_open(&self) -> bool {
        self.summary.ended_at.is_none()
    }

    /// Where the next page of a run list starts, after this run.
    pub fn cursor(&self) -> RunCursor {
        RunCursor {
            started_ms: self.started_ms,
            run_id: self.summary.run_id.clone(),
        }
    }
}

/// A place in the run list (newest first): runs after it started earlier,
/// or at the same millisecond with a smaller run id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunCursor {
    pub started_ms: i64,
    pub run_id: String,
}

impl RunCursor {
    /// Whether a run at (`started_ms`, `run_id`) comes after the cursor.
    pub fn is_before(&self, started_ms: i64, run_id: &str) -> bool {
        started_ms < self.started_ms
            || (started_ms == self.started_ms && run_id < self.run_id.as_str())
    }
}

impl std::fmt::Display for RunCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.started_ms, self.run_id)
    }
}

impl std::str::FromStr for RunCursor {
    type Err = ();
    fn from_str(s: &str) -> Result<RunCursor, ()> {
        let (ms, run_id) = s.split_once('.').ok_or(())?;
        Ok(RunCursor {
            started_ms: ms.parse().map_err(|_| ())?,
            run_id: run_id.to_owned(),
        })
    }
}

/// One page of the run list: at most `limit` runs and about `max_bytes` of
/// them (always at least one), after `before`.
#[derive(Debug, Clone, Copy)]
pub struct RunQuery<'a> {
    pub agent: Option<&'a str>,
    pub before: Option<&'a RunCursor>,
    pub limit: usize,
    pub max_bytes: usize,
}

/// What a run costs in a page: its summary as JSON, roughly.
pub fn summary_bytes(summary: &RunSummary) -> usize {
    200 + summary.result.as_ref().map_or(0, |r| r.to_string().len())
        + summary.error.as_ref().map_or(0, String::len)
}

/// How long a run took: between its events' own times (a run seen late,
/// like a Sim execution caught up after an outage, keeps how long it ran),
/// else between when the store took them.
pub fn run_duration(
    started_at: &str,
    ended_at: Option<&str>,
    started_ms: i64,
    ended_ms: Option<i64>,
) -> Option<u64> {
    let ended_ms = ended_ms?;
    let by_ts = ended_at
        .and_then(super::ts_ms)
        .zip(super::ts_ms(started_at))
        .map(|(end, start)| end - start);
    Some(by_ts.unwrap_or(ended_ms - started_ms).max(0) as u64)
}

/// The status a run's record shows after an event of `kind`.
pub fn run_status_after(kind: EventKind) -> AgentStatus {
    AgentStatus::Idle.after(kind)
}

/// A run's stored status, by name (unknown names read as idle).
pub fn status_named(name: &str) -> AgentStatus {
    match name {
        "running" => AgentStatus::Running,
        "awaiting" => AgentStatus::Awaiting,
        "done" => AgentStatus::Done,
        "error" => AgentStatus::Error,
        _ => AgentStatus::Idle,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_order_runs() {
        let cursor: RunCursor = "1700000000000.run_a.b".parse().unwrap();
        assert_eq!(cursor.run_id, "run_a.b", "a run id may hold dots");
        assert_eq!(cursor.to_string().parse::<RunCursor>(), Ok(cursor.clone()));
        assert!(cursor.is_before(1_699_999_999_999, "run_z"));
        assert!(cursor.is_before(1_700_000_000_000, "run_a"));
        assert!(!cursor.is_before(1_700_000_000_000, "run_a.b"));
        assert!("yesterday".parse::<RunCursor>().is_err());
    }
}
