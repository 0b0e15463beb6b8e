//! A daily spending limit, as `agents.json` and the users file give it.

use serde::Deserialize;

/// A daily spending limit: runs over it are refused; a run that crosses it
/// is announced, and cancelled when `hard`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(try_from = "RawBudget")]
pub struct Budget {
    pub daily_usd: f64,
    pub hard: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawBudget {
    daily_usd: f64,
    #[serde(default)]
    hard: bool,
}

impl TryFrom<RawBudget> for Budget {
    type Error = String;
    fn try_from(raw: RawBudget) -> Result<Budget, String> {
        if raw.daily_usd.is_finite() && (0.0..=1_000_000.0).contains(&raw.daily_usd) {
            Ok(Budget {
                daily_usd: raw.daily_usd,
                hard: raw.hard,
            })
        } else {
            Err(format!(
                "`dailyUsd` {} must be a number of dollars from 0 to 1000000",
                raw.daily_usd
            ))
        }
    }
}
