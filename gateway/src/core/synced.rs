//! The roster's two sources: `agents.json` and the synced Sim workspaces.
//! The follower of a workspace (one gateway of many) stores its workflow
//! list and health and records a roster change; every gateway, told of that
//! change, reads them back, so all of them show the same roster.

use super::{CoreError, Service};
use crate::registry::{AgentSource, Registry};
use crate::sim::roster::merged;
use crate::sim::{SyncedWorkflow, WorkspaceHealth};
use protocol::{GatewayEvent, Offline};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What the store keeps of one synced workspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncedWorkspace {
    /// None until the follower has read the list once.
    pub workflows: Option<Vec<SyncedWorkflow>>,
    pub health: WorkspaceHealth,
}

impl Default for SyncedWorkspace {
    fn default() -> Self {
        SyncedWorkspace {
            workflows: None,
            health: WorkspaceHealth::ok(),
        }
    }
}

fn roster_key(workspace: &str) -> String {
    format!("sim.roster.{workspace}")
}

impl Service {
    /// The registry from `agents.json`, merged with the synced workspaces.
    pub(super) fn merge(&self) -> Registry {
        let file = self.file_registry.read().expect("registry lock").clone();
        let synced = self.synced.read().expect("synced lock");
        let lists: BTreeMap<String, Vec<SyncedWorkflow>> = synced
            .iter()
            .map(|(ws, s)| (ws.clone(), s.workflows.clone().unwrap_or_default()))
            .collect();
        let with_sim = merged(&file, &lists);
        let mut agents = with_sim.agents().to_vec();
        agents.extend(self.visitor_agents(&with_sim));
        Registry::from_agents(agents).expect("visitors take ids no one else has")
    }

    /// Makes the merged registry current; true when the office sees a change.
    pub(super) fn remerge(&self) -> bool {
        let merged = Arc::new(self.merge());
        let mut current = self.registry.write().expect("registry lock");
        let changed = **current != *merged;
        *current = merged;
        changed
    }

    /// What this gateway knows of a workspace: its workflows and health.
    pub fn synced_workspace(
        &self,
        workspace: &str,
    ) -> (Option<Vec<SyncedWorkflow>>, WorkspaceHealth) {
        let synced = self.synced.read().expect("synced lock");
        let known = synced.get(workspace).cloned().unwrap_or_default();
        (known.workflows, known.health)
    }

    /// The follower's word on a workspace: kept in the store for every
    /// gateway (and the next start), then told to every office.
    pub async fn publish_synced(
        &self,
        workspace: &str,
        workflows: Option<Vec<SyncedWorkflow>>,
        health: WorkspaceHealth,
    ) -> Result<(), CoreError> {
        let state = SyncedWorkspace { workflows, health };
        let text = serde_json::to_string(&state).expect("a workspace serializes");
        self.store
            .followers
            .put_state(&roster_key(workspace), &text)
            .await?;
        self.synced
            .write()
            .expect("synced lock")
            .insert(workspace.to_owned(), state);
        self.remerge();
        let count = self.registry().agents().len();
        tracing::info!(workspace, agents = count, "Sim workspace roster updated");
        self.record(
            GatewayEvent::Roster(protocol::RosterChanged { agents: count }),
            crate::store::BROADCAST_NPC,
            None,
        )
        .await?;
        Ok(())
    }

    /// Reads every synced workspace back from the store (at start, and when
    /// a roster change was recorded, perhaps by another gateway).
    pub async fn reload_synced(&self) -> Result<(), CoreError> {
        for workspace in &self.settings.sim.workspaces {
            let Some(text) = self.store.followers.state(&roster_key(workspace)).await? else {
                continue;
            };
            match serde_json::from_str::<SyncedWorkspace>(&text) {
                Ok(state) => {
                    self.synced
                        .write()
                        .expect("synced lock")
                        .insert(workspace.clone(), state);
                }
                Err(e) => {
                    tracing::warn!(workspace, error = %e, "stored Sim roster unreadable; waiting for the next read")
                }
            }
        }
        self.reload_visitors().await?;
        self.remerge();
        Ok(())
    }

    /// Why an agent's source is out of reach, if it is.
    pub(super) fn offline(&self, source: &AgentSource) -> Option<Offline> {
        let AgentSource::Sim { workspace } = source else {
            return None;
        };
        let synced = self.synced.read().expect("synced lock");
        let trouble = synced.get(workspace)?.health.trouble.clone()?;
        Some(Offline {
            reason: trouble.reason,
            since: trouble.since,
        })
    }
}
