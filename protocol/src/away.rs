//! `GET /api/summary?since=`: what happened while a person was away.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AwaySummary {
    /// RFC 3339: the window it covers.
    pub since: String,
    pub until: String,
    pub runs_started: u64,
    pub runs_done: u64,
    pub runs_failed: u64,
    /// Runs that ended in error in the window, newest first (at most 20).
    pub errors: Vec<AwayError>,
    /// Questions waiting now, oldest first.
    pub waiting: Vec<AwayQuestion>,
    /// What the window's runs reported they used.
    pub usage: crate::usage::UsageTotals,
    /// More runs started than were read; the counts are of the newest read.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AwayError {
    pub agent: String,
    pub npc: String,
    pub run_id: String,
    pub error: String,
    /// RFC 3339.
    pub at: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AwayQuestion {
    pub agent: String,
    pub npc: String,
    pub run_id: String,
    pub question: String,
    /// RFC 3339: when it was asked.
    pub since: String,
}

/// `GET /api/marks?from=&to=`: the moments of a window worth jumping to on
/// the time slider (every error and every question asked), oldest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Marks {
    /// When the oldest event the store still holds was stored (ms since the
    /// epoch): the slider reaches no further back.
    pub first_ms: Option<i64>,
    pub marks: Vec<Mark>,
    /// The window held more than was read; these are its oldest.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Mark {
    /// The event's id.
    pub id: u64,
    /// Its time (ms since the epoch).
    pub at_ms: i64,
    pub npc: String,
    /// `error` or `awaiting`.
    #[serde(rename = "type")]
    pub kind: crate::EventKind,
    /// The error or the question, when it said one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}
