//! The workspace is the roster: every deployed workflow of a synced Sim
//! workspace is an agent, with no `agents.json` entry needed. An entry that
//! names the workflow (`workflowId`) wins: it names, seats, restricts or
//! (`"hidden": true`) hides it.

use crate::registry::{Agent, AgentSource, Registry, RunTarget};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};

/// The longest name a synced workflow keeps in the office.
const NAME_CHARS: usize = 48;

/// A deployed workflow as the workspace list gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncedWorkflow {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// agents.json's agents (hidden ones left out), then every synced
/// workflow no entry names, in the workspace's order.
pub fn merged(file: &Registry, synced: &BTreeMap<String, Vec<SyncedWorkflow>>) -> Registry {
    let named: HashSet<&str> = file
        .agents()
        .iter()
        .filter_map(|a| match &a.target {
            RunTarget::SimWorkflow { id, .. } => Some(id.as_str()),
            _ => None,
        })
        .collect();
    let workspace_of: BTreeMap<&str, &str> = synced
        .iter()
        .flat_map(|(ws, list)| list.iter().map(move |w| (w.id.as_str(), ws.as_str())))
        .collect();
    let mut agents: Vec<Agent> = file
        .agents()
        .iter()
        .filter(|a| !a.hidden)
        .cloned()
        .map(|mut agent| {
            if let RunTarget::SimWorkflow { id, .. } = &agent.target
                && let Some(ws) = workspace_of.get(id.as_str())
            {
                agent.source = AgentSource::Sim {
                    workspace: (*ws).to_owned(),
                };
            }
            agent
        })
        .collect();
    let mut taken: HashSet<String> = file
        .agents()
        .iter()
        .flat_map(|a| [a.agent.clone(), a.npc.clone()])
        .collect();
    for (workspace, list) in synced {
        for workflow in list {
            if named.contains(workflow.id.as_str())
                || !protocol::is_valid_id(&workflow.id)
                || !taken.insert(workflow.id.clone())
            {
                continue;
            }
            agents.push(agent_of(workspace, workflow));
        }
    }
    Registry::from_agents(agents).expect("merged agents have unique ids and npcs")
}

fn agent_of(workspace: &str, workflow: &SyncedWorkflow) -> Agent {
    let name = workflow.name.trim();
    let name = match name.char_indices().nth(NAME_CHARS) {
        Some((cut, _)) => format!("{}…", &name[..cut]),
        None if name.is_empty() => workflow.id.clone(),
        None => name.to_owned(),
    };
    Agent {
        agent: workflow.id.clone(),
        npc: workflow.id.clone(),
        name,
        role: Some("Sim workflow".into()),
        desk: None,
        studio_url: None,
        target: RunTarget::SimWorkflow {
            id: workflow.id.clone(),
            outputs: Vec::new(),
        },
        webhook_token: None,
        secret: None,
        deadline: None,
        hidden: false,
        source: AgentSource::Sim {
            workspace: workspace.to_owned(),
        },
        budget: None,
        otel_agent: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn file(text: &str) -> Registry {
        Registry::parse(Path::new("agents.json"), text).unwrap()
    }

    fn workflow(id: &str, name: &str) -> SyncedWorkflow {
        SyncedWorkflow {
            id: id.into(),
            name: name.into(),
            description: None,
        }
    }

    fn synced(list: Vec<SyncedWorkflow>) -> BTreeMap<String, Vec<SyncedWorkflow>> {
        BTreeMap::from([("ws1".to_owned(), list)])
    }

    #[test]
    fn every_deployed_workflow_is_an_agent_without_an_entry() {
        let registry = merged(
            &file("[]"),
            &synced(vec![
                workflow("0b5f-wf", "Invoice triage"),
                workflow("bad id!", "x"),
            ]),
        );
        let agent = registry.agent("0b5f-wf").unwrap();
        assert_eq!(
            (agent.npc.as_str(), agent.name.as_str()),
            ("0b5f-wf", "Invoice triage")
        );
        assert_eq!(
            agent.source,
            AgentSource::Sim {
                workspace: "ws1".into()
            }
        );
        assert_eq!(
            registry.agents().len(),
            1,
            "an id the office cannot use is left out"
        );
    }

    #[test]
    fn an_entry_names_seats_or_hides_its_workflow() {
        let entries = file(
            r#"[{"agent": "triage", "npc": "triage", "name": "Tri", "desk": "d3", "workflowId": "wf-a"},
                {"agent": "secret", "npc": "secret", "workflowId": "wf-b", "hidden": true},
                {"agent": "local", "npc": "local", "flow": "demo"}]"#,
        );
        let registry = merged(
            &entries,
            &synced(vec![
                workflow("wf-a", "A"),
                workflow("wf-b", "B"),
                workflow("wf-c", "C"),
            ]),
        );
        let ids: Vec<&str> = registry.agents().iter().map(|a| a.agent.as_str()).collect();
        assert_eq!(ids, ["triage", "local", "wf-c"]);
        let triage = registry.agent("triage").unwrap();
        assert_eq!(
            (triage.name.as_str(), triage.desk.as_deref()),
            ("Tri", Some("d3"))
        );
        assert_eq!(
            triage.source,
            AgentSource::Sim {
                workspace: "ws1".into()
            }
        );
        assert_eq!(registry.by_workflow("wf-a").unwrap().agent, "triage");
        assert!(registry.by_workflow("wf-b").is_none(), "hidden");
    }

    #[test]
    fn a_workflow_whose_id_an_entry_already_uses_is_not_added_twice() {
        let entries = file(r#"[{"agent": "wf-x", "npc": "wf-x", "flow": "demo"}]"#);
        let registry = merged(&entries, &synced(vec![workflow("wf-x", "X")]));
        assert_eq!(registry.agents().len(), 1);
        assert!(matches!(
            registry.agent("wf-x").unwrap().target,
            RunTarget::Flow(_)
        ));
    }
}
