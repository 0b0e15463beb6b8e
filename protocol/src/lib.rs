//! Wire types shared by the Esprit-Hub gateway and the office.
//!
//! Everything that crosses HTTP or SSE is defined here exactly once, and this
//! crate compiles for `wasm32-unknown-unknown` so the browser office uses it too.

mod agent;
mod away;
mod error;
mod event;
mod fold;
pub mod form;
mod run;
mod session;
pub mod usage;
mod written;

pub use agent::{AgentStatus, AgentSummary, Offline, PendingQuestion, Roster, Visit};
pub use away::{AwayError, AwayQuestion, AwaySummary, Mark, Marks};
pub use error::{ErrorBody, ErrorDetail};
pub use event::{
    EventEnvelope, EventKind, Fields, HistoryPage, PublishAck, PublishEvent, UnknownEventKind,
};
pub use fold::{AgentState, FoldEvent};
pub use form::{Detail, FieldKind, FormField, QuickAnswer, SimPause};
pub use run::{
    AnswerDelivery, RespondRequest, RunAck, RunCount, RunRequest, RunSummary, RunWebhook, RunsPage,
};
pub use session::{SessionInfo, SignInRequest};
pub use usage::{AgentUsage, BudgetState, Usage, UsageReport, UsageTotals};
pub use written::{
    GatewayEvent, Question, RosterChanged, RunAnswered, RunCancelled, RunEnded, RunEvent, RunNote,
    RunStarted,
};

/// An id (agent, npc, desk, token name): 1–64 of `a-z A-Z 0-9 _ -`, safe in
/// URLs, SSE filters, file names and logs.
pub fn is_valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}
