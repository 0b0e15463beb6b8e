//! Wire types shared by the Esprit-Hub gateway and the office.
//!
//! Everything that crosses HTTP or SSE is defined here exactly once, and this
//! crate compiles for `wasm32-unknown-unknown` so the browser office uses it too.

mod agent;
mod error;
mod event;
mod run;

pub use agent::{AgentStatus, AgentSummary, Roster};
pub use error::{ErrorBody, ErrorDetail};
pub use event::{
    EventEnvelope, EventKind, HistoryPage, PublishAck, PublishEvent, UnknownEventKind,
};
pub use run::{RespondRequest, RunAccepted, RunRequest, RunSummary, RunsPage};
