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
