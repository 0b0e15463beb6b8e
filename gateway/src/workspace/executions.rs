//! Which of a workspace's executions are new, which have ended and which
//! wait for a person: a pure tracker over pages of Sim's execution log list
//! (`GET /api/v1/logs`, oldest first). It keeps a resume point, so a restart
//! neither loses nor repeats an execution, and the executions still open, so
//! their ends are seen; the mirror (mod.rs) does the talking and writing.
//!
//! Sim writes an execution's log row when it starts (`endedAt: null`) and
//! completes it in one update when it ends or pauses (`endedAt` set, trace
//! spans written; `lib/logs/execution/logger.ts`, `logging-session.ts`), so
//! a row with `endedAt` is complete.

use crate::sim::api::LogRow;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// At most this many executions are held open; past it the oldest are let go
/// (a workspace with thousands running at once is watched for its newest).
pub const MAX_OPEN: usize = 500;

/// How far back the list is re-read to see running executions end: one that
/// runs longer is checked on its own (see [`Tracker::overdue`]).
pub const WINDOW_MS: i64 = 60 * 60 * 1000;

/// Where the list resumes: the newest start seen, and the rows seen at that
/// exact moment (Sim's `startDate` filter is inclusive).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResumePoint {
    pub started_ms: i64,
    pub ids: BTreeSet<String>,
}

/// An execution seen starting and not yet seen ending.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenExecution {
    pub workflow_id: String,
    pub started_ms: i64,
    pub phase: Phase,
    /// What started it (for a held one, told later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// The pause point the office was asked about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asked: Option<String>,
    /// `endedAt` as the pause wrote it: a resumed execution keeps it until it
    /// ends again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_at: Option<String>,
    /// Spans already told as steps (a paused execution is logged whole again).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub reported: BTreeSet<String>,
    /// Blocks the office's own stream already told (a run it started).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub streamed: BTreeSet<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Seen in Sim, not yet told to the office (its character was busy).
    Held,
    /// Told as `started`; Sim has not ended it.
    Running,
    /// Ended at a Human in the Loop block; the paused-execution list says when it goes on.
    Paused,
}

/// What the tracker keeps between polls (and in the store across restarts).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tracker {
    /// None until the first page was read: the log before it is history.
    pub resume: Option<ResumePoint>,
    pub open: BTreeMap<String, OpenExecution>,
    /// Executions to read whole on the next poll, whatever the list says.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub due: Vec<String>,
}

/// What a page of the list means for the office.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    /// An execution to show: started (and, when `ended`, over or paused already).
    Appeared { row: LogRow, ended: bool },
    /// A running execution's row now has `endedAt`: read its detail.
    Ended { row: LogRow },
}

impl Tracker {
    /// The `startDate` to list from: the resume point, or the oldest running
    /// execution within [`WINDOW_MS`] of `now_ms`, whichever is earlier.
    pub fn list_from_ms(&self, now_ms: i64) -> Option<i64> {
        let resume = self.resume.as_ref()?.started_ms;
        let oldest_running = self
            .open
            .values()
            .filter(|open| open.phase != Phase::Paused)
            .map(|open| open.started_ms)
            .filter(|&started| started >= now_ms - WINDOW_MS)
            .min();
        Some(oldest_running.map_or(resume, |oldest| oldest.min(resume)))
    }

    /// Running executions started before the window: checked one by one.
    pub fn overdue(&self, now_ms: i64) -> Vec<String> {
        self.open
            .iter()
            .filter(|(_, open)| {
                open.phase == Phase::Running && open.started_ms < now_ms - WINDOW_MS
            })
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// The first page ever read: executions running now are shown, the
    /// finished ones are history; the list resumes after the newest.
    pub fn first_look(&mut self, rows: &[LogRow]) -> Vec<Seen> {
        let mut resume = ResumePoint::default();
        let mut seen = Vec::new();
        for row in rows {
            resume.advance(row);
            if row.ended_at.is_none() {
                seen.push(Seen::Appeared {
                    row: row.clone(),
                    ended: false,
                });
            }
        }
        self.resume = Some(resume);
        seen
    }

    /// A page of rows listed from [`Tracker::list_from_ms`], oldest first.
    /// The resume point moves past every row read; what needs doing comes
    /// back (the mirror marks each done with [`Tracker::shown`] and friends).
    pub fn read(&mut self, rows: &[LogRow]) -> Vec<Seen> {
        let resume = self.resume.get_or_insert_with(ResumePoint::default);
        let mut seen = Vec::new();
        for row in rows {
            let ended = row.ended_at.is_some();
            match self.open.get(&row.execution_id) {
                Some(open)
                    if open.phase == Phase::Running && ended && row.ended_at != open.paused_at =>
                {
                    seen.push(Seen::Ended { row: row.clone() });
                }
                Some(_) => {}
                None if resume.is_new(row) => seen.push(Seen::Appeared {
                    row: row.clone(),
                    ended,
                }),
                None => {}
            }
            resume.advance(row);
        }
        seen
    }

    /// Held executions, oldest first: tried again on each poll.
    pub fn held(&self) -> Vec<(String, OpenExecution)> {
        let mut held: Vec<_> = self
            .open
            .iter()
            .filter(|(_, open)| open.phase == Phase::Held)
            .map(|(id, open)| (id.clone(), open.clone()))
            .collect();
        held.sort_by_key(|(_, open)| open.started_ms);
        held
    }

    /// Remembers an execution in `phase` (its character shows it, or waits).
    pub fn keep(&mut self, execution_id: &str, workflow_id: &str, started_ms: i64, phase: Phase) {
        let open = self
            .open
            .entry(execution_id.to_owned())
            .or_insert_with(|| OpenExecution {
                workflow_id: workflow_id.to_owned(),
                started_ms,
                phase,
                trigger: None,
                asked: None,
                paused_at: None,
                reported: BTreeSet::new(),
                streamed: BTreeSet::new(),
            });
        open.phase = phase;
        while self.open.len() > MAX_OPEN {
            let oldest = self
                .open
                .iter()
                .min_by_key(|(_, open)| open.started_ms)
                .map(|(id, _)| id.clone());
            if let Some(id) = oldest {
                tracing::warn!(execution_id = %id, "too many open Sim executions; no longer following the oldest");
                self.open.remove(&id);
            }
        }
    }

    /// An execution whose character is busy: told when it is free.
    pub fn keep_held(&mut self, row: &LogRow) {
        self.keep(
            &row.execution_id,
            &row.workflow_id,
            row.started_ms,
            Phase::Held,
        );
        if let Some(open) = self.open.get_mut(&row.execution_id) {
            open.trigger = Some(row.trigger.clone());
        }
    }

    /// It stopped at a Human in the Loop block; `reported` spans were told.
    pub fn paused(
        &mut self,
        execution_id: &str,
        reported: BTreeSet<String>,
        ended_at: Option<String>,
    ) {
        if let Some(open) = self.open.get_mut(execution_id) {
            open.phase = Phase::Paused;
            open.reported = reported;
            open.paused_at = ended_at;
        }
    }

    /// The office was asked about pause point `context_id`.
    pub fn asked(&mut self, execution_id: &str, context_id: &str) {
        if let Some(open) = self.open.get_mut(execution_id) {
            open.asked = Some(context_id.to_owned());
        }
    }

    /// Someone answered: it runs again until its row ends anew.
    pub fn resumed(&mut self, execution_id: &str) {
        if let Some(open) = self.open.get_mut(execution_id) {
            open.phase = Phase::Running;
            open.asked = None;
        }
    }

    /// An execution is over for the office (ended, or its run ended here).
    pub fn forget(&mut self, execution_id: &str) {
        self.open.remove(execution_id);
    }

    /// Paused executions by workflow: each workflow's paused list is read once per poll.
    pub fn paused_by_workflow(&self) -> BTreeMap<String, Vec<String>> {
        let mut by_workflow: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (id, open) in &self.open {
            if open.phase == Phase::Paused {
                by_workflow
                    .entry(open.workflow_id.clone())
                    .or_default()
                    .push(id.clone());
            }
        }
        by_workflow
    }
}

impl ResumePoint {
    /// Whether a row lies past the resume point.
    fn is_new(&self, row: &LogRow) -> bool {
        row.started_ms > self.started_ms
            || (row.started_ms == self.started_ms && !self.ids.contains(&row.id))
    }

    fn advance(&mut self, row: &LogRow) {
        if row.started_ms > self.started_ms {
            self.started_ms = row.started_ms;
            self.ids.clear();
        }
        if row.started_ms == self.started_ms {
            self.ids.insert(row.id.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, started_ms: i64, ended: bool) -> LogRow {
        LogRow {
            id: format!("log-{id}"),
            workflow_id: "wf".into(),
            execution_id: id.into(),
            level: "info".into(),
            trigger: "schedule".into(),
            started_ms,
            ended_at: ended.then(|| "2026-12-06T10:00:00Z".into()),
            total_duration_ms: None,
            cost: None,
        }
    }

    fn appeared(seen: &[Seen]) -> Vec<(&str, bool)> {
        seen.iter()
            .filter_map(|s| match s {
                Seen::Appeared { row, ended } => Some((row.execution_id.as_str(), *ended)),
                Seen::Ended { .. } => None,
            })
            .collect()
    }

    #[test]
    fn the_first_look_shows_only_what_runs_now() {
        let mut tracker = Tracker::default();
        let seen = tracker.first_look(&[row("old", 10, true), row("now", 20, false)]);
        assert_eq!(appeared(&seen), [("now", false)]);
        assert_eq!(tracker.resume.as_ref().unwrap().started_ms, 20);
    }

    #[test]
    fn new_rows_appear_once_and_a_running_one_is_seen_ending() {
        let mut tracker = Tracker::default();
        tracker.first_look(&[row("a", 10, true)]);
        let seen = tracker.read(&[row("a", 10, true), row("b", 20, false), row("c", 20, true)]);
        assert_eq!(appeared(&seen), [("b", false), ("c", true)]);
        tracker.keep("b", "wf", 20, Phase::Running);
        // Listed again from b's start (it is still running): nothing new.
        assert_eq!(tracker.list_from_ms(30), Some(20));
        assert!(
            tracker
                .read(&[row("b", 20, false), row("c", 20, true)])
                .is_empty()
        );
        // b ends.
        let seen = tracker.read(&[row("b", 20, true), row("c", 20, true)]);
        assert!(matches!(&seen[..], [Seen::Ended { row }] if row.execution_id == "b"));
        tracker.forget("b");
        assert_eq!(tracker.list_from_ms(30), Some(20));
    }

    #[test]
    fn rows_at_the_same_moment_are_told_apart_by_id() {
        let mut tracker = Tracker::default();
        tracker.first_look(&[row("a", 10, true)]);
        assert_eq!(
            appeared(&tracker.read(&[row("a", 10, true), row("b", 10, true)])),
            [("b", true)]
        );
        assert!(
            tracker
                .read(&[row("a", 10, true), row("b", 10, true)])
                .is_empty()
        );
    }

    #[test]
    fn a_restart_from_the_saved_tracker_repeats_nothing() {
        let mut tracker = Tracker::default();
        tracker.first_look(&[]);
        tracker.read(&[row("a", 10, true), row("b", 11, false)]);
        tracker.keep("b", "wf", 11, Phase::Running);
        let saved = serde_json::to_string(&tracker).unwrap();
        let mut restarted: Tracker = serde_json::from_str(&saved).unwrap();
        let seen = restarted.read(&[row("a", 10, true), row("b", 11, true), row("c", 12, false)]);
        assert_eq!(appeared(&seen), [("c", false)]);
        assert!(
            seen.iter()
                .any(|s| matches!(s, Seen::Ended { row } if row.execution_id == "b"))
        );
    }

    #[test]
    fn long_runs_leave_the_window_and_paused_ones_never_hold_it() {
        let mut tracker = Tracker::default();
        tracker.first_look(&[row("z", 5_000_000, true)]);
        tracker.keep("long", "wf", 1_000, Phase::Running);
        tracker.keep("asks", "wf2", 2_000, Phase::Paused);
        let now = 1_000 + WINDOW_MS + 1;
        assert_eq!(tracker.list_from_ms(now), Some(5_000_000));
        assert_eq!(tracker.overdue(now), ["long"]);
        assert_eq!(
            tracker.paused_by_workflow().get("wf2").map(Vec::as_slice),
            Some(&["asks".to_owned()][..])
        );
    }

    #[test]
    fn held_executions_come_back_oldest_first_and_the_open_set_is_bounded() {
        let mut tracker = Tracker::default();
        tracker.keep("late", "wf", 20, Phase::Held);
        tracker.keep("early", "wf", 10, Phase::Held);
        let held: Vec<_> = tracker.held().into_iter().map(|(id, _)| id).collect();
        assert_eq!(held, ["early", "late"]);
        for i in 0..MAX_OPEN + 5 {
            tracker.keep(&format!("x{i}"), "wf", 100 + i as i64, Phase::Running);
        }
        assert_eq!(tracker.open.len(), MAX_OPEN);
        assert!(!tracker.open.contains_key("early"));
    }
}
