//! Sim, as the gateway speaks to it beyond running one workflow: the
//! workspace API (`api.rs`), a paused execution as a question (`pause.rs`),
//! an execution log as steps and usage (`trace.rs`), deployed workflows as
//! agents (`roster.rs`), and the link every part shares (`SimLink`: one API
//! per workspace, whether Sim speaks v2, the executions the mirror follows).

pub mod api;
pub mod import;
pub mod pause;
pub mod roster;
pub mod trace;

pub use api::{Resumed, SimError, WorkspaceApi};
pub use roster::SyncedWorkflow;

use crate::config::SimSettings;
use crate::outbound::Outbound;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

/// How a workspace is doing, as the office shows it on its characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkspaceHealth {
    /// None while Sim answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trouble: Option<Trouble>,
}

/// Why a workspace's characters are greyed out, and since when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trouble {
    /// "Sim unreachable", "Sim refused the API key".
    pub reason: String,
    /// RFC 3339.
    pub since: String,
}

impl WorkspaceHealth {
    pub fn ok() -> WorkspaceHealth {
        WorkspaceHealth { trouble: None }
    }

    /// After `error`: the trouble it is, keeping the first moment of a lasting one.
    pub fn after(&self, error: &SimError, now: String) -> WorkspaceHealth {
        let reason = match error {
            SimError::KeyRefused { .. } => "Sim refused the API key",
            SimError::RateLimited(_) => return self.clone(),
            _ => "Sim unreachable",
        };
        match &self.trouble {
            Some(trouble) if trouble.reason == reason => self.clone(),
            _ => WorkspaceHealth {
                trouble: Some(Trouble {
                    reason: reason.to_owned(),
                    since: now,
                }),
            },
        }
    }
}

/// The connection to Sim every part of the gateway shares: one API per
/// workspace, whether Sim speaks v2, and which runs are Sim executions
/// the mirror follows (so a cancel here reaches Sim).
pub struct SimLink {
    apis: Vec<WorkspaceApi>,
    v2: OnceCell<bool>,
    followed: Mutex<HashMap<String, String>>,
    adopted: Mutex<Vec<Adopted>>,
}

/// A run the office started that paused in Sim: the mirror follows it on.
#[derive(Debug, Clone, PartialEq)]
pub struct Adopted {
    pub run_id: String,
    pub workflow_id: String,
    pub started_ms: i64,
    /// Blocks its stream already told as steps.
    pub streamed: Vec<String>,
}

impl SimLink {
    /// None without `AP_BASE` and `AP_TOKEN`.
    pub fn new(outbound: &Outbound, settings: &SimSettings) -> Option<Arc<SimLink>> {
        let (base, key) = (settings.api_base.clone()?, settings.api_key.clone()?);
        let apis = settings
            .workspaces
            .iter()
            .map(|ws| WorkspaceApi::new(outbound.clone(), base.clone(), key.clone(), ws.clone()))
            .collect::<Vec<_>>();
        let apis = if apis.is_empty() {
            vec![WorkspaceApi::new(
                outbound.clone(),
                base,
                key,
                String::new(),
            )]
        } else {
            apis
        };
        Some(Arc::new(SimLink {
            apis,
            v2: OnceCell::new(),
            followed: Mutex::new(HashMap::new()),
            adopted: Mutex::new(Vec::new()),
        }))
    }

    /// The workspaces it follows (none without `AP_PROJECT`).
    pub fn workspaces(&self) -> impl Iterator<Item = &WorkspaceApi> {
        self.apis.iter().filter(|api| !api.workspace.is_empty())
    }

    /// Resumes a paused execution with a person's answer, through v2 when
    /// this Sim has it, else through the pause point's own route.
    pub async fn resume(
        &self,
        pause: &protocol::SimPause,
        input: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<api::Resumed, SimError> {
        let api = &self.apis[0];
        let v2 = match self.v2.get() {
            Some(v2) => *v2,
            None => {
                let v2 = api.has_v2().await.unwrap_or(false);
                let _ = self.v2.set(v2);
                v2
            }
        };
        api.resume(pause, input, v2).await
    }

    /// A run the mirror shows is execution `run_id` of `workflow_id`.
    pub fn follow(&self, run_id: &str, workflow_id: &str) {
        self.followed
            .lock()
            .expect("followed lock")
            .insert(run_id.to_owned(), workflow_id.to_owned());
    }

    pub fn unfollow(&self, run_id: &str) -> Option<String> {
        self.followed.lock().expect("followed lock").remove(run_id)
    }

    pub fn is_followed(&self, run_id: &str) -> bool {
        self.followed
            .lock()
            .expect("followed lock")
            .contains_key(run_id)
    }

    /// Whether a mirror follows a workspace here (`AP_PROJECT` is set).
    pub fn mirrors(&self) -> bool {
        self.workspaces().next().is_some()
    }

    /// Hands a run that paused to the mirror.
    pub fn adopt(&self, adopted: Adopted) {
        self.follow(&adopted.run_id, &adopted.workflow_id);
        self.adopted.lock().expect("adopted lock").push(adopted);
    }

    pub fn take_adopted(&self) -> Vec<Adopted> {
        std::mem::take(&mut *self.adopted.lock().expect("adopted lock"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn trouble_keeps_its_first_moment_and_says_which_kind() {
        let unreachable = SimError::Unreachable("connection refused".into());
        let first = WorkspaceHealth::ok().after(&unreachable, "t1".into());
        assert_eq!(first.trouble.as_ref().unwrap().reason, "Sim unreachable");
        let still = first.after(&unreachable, "t2".into());
        assert_eq!(still.trouble.unwrap().since, "t1");
        let refused = first.after(
            &SimError::KeyRefused {
                status: 401,
                said: "Invalid API key".into(),
            },
            "t3".into(),
        );
        assert_eq!(
            refused.trouble,
            Some(Trouble {
                reason: "Sim refused the API key".into(),
                since: "t3".into()
            })
        );
        assert_eq!(
            first.after(&SimError::RateLimited(Duration::from_secs(5)), "t4".into()),
            first
        );
    }
}
