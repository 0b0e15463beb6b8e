//! The core's one error type: what went wrong, in the core's words. Routes
//! turn each variant into an HTTP status and a stable code.

use super::publish::EventError;
use crate::backends::BackendError;
use crate::store::{RunRuleError, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("no agent `{0}` in the registry")]
    UnknownAgent(String),
    #[error("no npc `{0}` in the registry")]
    UnknownNpc(String),
    #[error("no run `{0}`")]
    UnknownRun(String),
    #[error("agent `{agent}` is already running ({run_id}); wait for it to finish or cancel it")]
    AgentBusy { agent: String, run_id: String },
    #[error(transparent)]
    InvalidEvent(#[from] EventError),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("this token may not {0}")]
    Forbidden(String),
    #[error("sign in with a valid token")]
    NotSignedIn,
    #[error("run `{0}` is not waiting for an answer")]
    NotAwaiting(String),
    #[error("run `{0}` has already ended")]
    RunEnded(String),
    #[error("{0}")]
    RunConflict(String),
    #[error(
        "agent `{0}` runs elsewhere: only its telemetry reaches the office, so its runs start where it runs"
    )]
    ObserveOnly(String),
    #[error("event store: {0}")]
    Store(StoreError),
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error(
        "{whose} spent {} of a {} daily budget; an operator can lift the bench for today",
        protocol::usage::dollars(*spent),
        protocol::usage::dollars(*limit)
    )]
    OverBudget {
        whose: String,
        spent: f64,
        limit: f64,
    },
}

impl From<StoreError> for CoreError {
    fn from(error: StoreError) -> CoreError {
        match error {
            StoreError::Rule(rule) => match rule {
                RunRuleError::UnknownRun(run) => CoreError::UnknownRun(run),
                RunRuleError::RunEnded(run) => CoreError::RunEnded(run),
                RunRuleError::NotAwaiting(run) => CoreError::NotAwaiting(run),
                RunRuleError::Busy { npc, run_id } => CoreError::AgentBusy { agent: npc, run_id },
                other @ (RunRuleError::WrongNpc { .. } | RunRuleError::RunExists(_)) => {
                    CoreError::RunConflict(other.to_string())
                }
            },
            other => CoreError::Store(other),
        }
    }
}
