//! Visitors: agents their telemetry brought in (OpenTelemetry spans, Claude
//! Code sessions), with no `agents.json` entry. Each walks in when it is
//! first named, works at a free desk, and walks out once it has been quiet
//! for the stated idle time (a sub-agent soon after its run ends); an entry
//! whose `otelAgent` names it seats it for good instead.
//!
//! Every gateway sharing a store shows the same visitors: the list lives in
//! the store, each write merges what is stored with what this gateway saw
//! (the latest sighting wins), and leaving is a pure function of the last
//! sighting and the clock, so no gateway has to tell the others who left.

use super::{CoreError, Service};
use crate::otel::spans::AgentRef;
use crate::registry::{Agent, AgentSource, Registry, RunTarget};
use crate::store::now_ms;
use protocol::{GatewayEvent, Visit};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};

/// One visiting agent, as the store keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Visitor {
    /// What its telemetry calls it (`gen_ai.agent.id`, `name@service`, `claude-code:<session>`).
    pub key: String,
    pub npc: String,
    pub name: String,
    /// `opentelemetry` or `claude-code`.
    pub source: String,
    pub service: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spawned_by: Option<String>,
    /// When the gateway last heard of it (Unix ms).
    pub last_seen_ms: i64,
}

/// An agent a telemetry export named.
#[derive(Clone, Debug)]
pub struct Arrival {
    pub agent: AgentRef,
    pub parent: Option<AgentRef>,
    pub source: &'static str,
}

const VISITORS_KEY: &str = "otel.visitors";
/// A sighting older than this in the store is written again.
const REFRESH_MS: i64 = 30_000;

/// The npc a telemetry key becomes: readable, unique, the same on every gateway.
pub fn npc_for(key: &str) -> String {
    let mut slug = String::new();
    for c in key.chars() {
        if slug.len() >= 40 {
            break;
        }
        match c {
            'a'..='z' | '0'..='9' => slug.push(c),
            'A'..='Z' => slug.push(c.to_ascii_lowercase()),
            _ if !slug.is_empty() && !slug.ends_with('-') => slug.push('-'),
            _ => {}
        }
    }
    let digest = Sha256::digest(key.as_bytes());
    format!(
        "{}-{}",
        slug.trim_end_matches('-'),
        &hex::encode(digest)[..6]
    )
    .trim_start_matches('-')
    .to_owned()
}

impl Service {
    /// Whether a visitor is still in the office: heard from recently, or in a run.
    fn stays(&self, visitor: &Visitor, now_ms: i64) -> bool {
        let telemetry = &self.settings.telemetry;
        let allowed = if visitor.spawned_by.is_some() {
            telemetry.sub_agent_linger
        } else {
            telemetry.visitor_idle
        };
        now_ms - visitor.last_seen_ms < allowed.as_millis() as i64
            || self.board.get(&visitor.npc).open_run.is_some()
    }

    /// The visitors to seat: not named by agents.json, not taken, still here.
    pub(super) fn visitor_agents(&self, registry: &Registry) -> Vec<Agent> {
        let now = now_ms();
        let seated: HashSet<&str> = registry
            .agents()
            .iter()
            .filter_map(|a| a.otel_agent.as_deref())
            .collect();
        let mut taken: HashSet<String> = registry
            .agents()
            .iter()
            .flat_map(|a| [a.agent.clone(), a.npc.clone()])
            .collect();
        let visitors = self.visitors.read().expect("visitors lock");
        visitors
            .values()
            .filter(|v| !seated.contains(v.key.as_str()) && self.stays(v, now))
            .filter(|v| taken.insert(v.npc.clone()))
            .map(|v| self.visitor_agent(v))
            .collect()
    }

    fn visitor_agent(&self, visitor: &Visitor) -> Agent {
        let telemetry = &self.settings.telemetry;
        let idle = if visitor.spawned_by.is_some() {
            telemetry.sub_agent_linger
        } else {
            telemetry.visitor_idle
        };
        let role = match visitor.source.as_str() {
            "claude-code" => "Claude Code session".to_owned(),
            _ => format!("agent · {}", visitor.service),
        };
        Agent {
            agent: visitor.npc.clone(),
            npc: visitor.npc.clone(),
            name: visitor.name.clone(),
            role: Some(role),
            desk: None,
            studio_url: None,
            target: RunTarget::Observed,
            webhook_token: None,
            secret: None,
            deadline: None,
            hidden: false,
            source: AgentSource::Visitor(Visit {
                source: visitor.source.clone(),
                service: visitor.service.clone(),
                spawned_by: visitor.spawned_by.clone(),
                leaves_after_idle_secs: idle.as_secs(),
            }),
            budget: None,
            otel_agent: Some(visitor.key.clone()),
        }
    }

    /// What the roster says of a visitor.
    pub(super) fn visit_of(&self, source: &AgentSource) -> Option<Visit> {
        match source {
            AgentSource::Visitor(visit) => Some(visit.clone()),
            _ => None,
        }
    }

    /// The npc a telemetry key is in this office: the agents.json entry that
    /// seats it, else its visitor's.
    pub(super) fn npc_of_key(&self, key: &str) -> String {
        let file = self.file_registry.read().expect("registry lock");
        file.agents()
            .iter()
            .find(|a| a.otel_agent.as_deref() == Some(key))
            .map(|a| a.npc.clone())
            .unwrap_or_else(|| npc_for(key))
    }

    /// Seats the agents an export named (new ones walk in, known ones are
    /// seen again); answers each key's npc.
    pub(super) async fn welcome(
        &self,
        arrivals: &[Arrival],
    ) -> Result<HashMap<String, String>, CoreError> {
        let now = now_ms();
        let registry = self.registry();
        let mut npcs = HashMap::new();
        let mut store_again = false;
        {
            let mut visitors = self.visitors.write().expect("visitors lock");
            for arrival in arrivals {
                let npc = self.npc_of_key(&arrival.agent.key);
                npcs.insert(arrival.agent.key.clone(), npc.clone());
                if registry
                    .by_npc(&npc)
                    .is_some_and(|a| a.source == AgentSource::File)
                {
                    continue;
                }
                let spawned_by = arrival.parent.as_ref().map(|p| self.npc_of_key(&p.key));
                let visitor = visitors.entry(npc.clone()).or_insert_with(|| Visitor {
                    key: arrival.agent.key.clone(),
                    npc: npc.clone(),
                    name: arrival.agent.name.clone(),
                    source: arrival.source.to_owned(),
                    service: arrival.agent.service.clone(),
                    spawned_by: None,
                    last_seen_ms: 0,
                });
                if spawned_by.is_some() && visitor.spawned_by != spawned_by {
                    visitor.spawned_by = spawned_by;
                    store_again = true;
                }
                if now - visitor.last_seen_ms >= REFRESH_MS || !registry.has_npc(&npc) {
                    store_again = true;
                }
                visitor.last_seen_ms = now;
            }
        }
        if store_again {
            self.store_visitors().await?;
            self.roster_may_have_changed().await?;
        }
        Ok(npcs)
    }

    /// Writes the visitors: what is stored, with what this gateway saw.
    async fn store_visitors(&self) -> Result<(), CoreError> {
        let stored = self.stored_visitors().await?;
        let now = now_ms();
        let merged: Vec<Visitor> = {
            let mut visitors = self.visitors.write().expect("visitors lock");
            merge_into(&mut visitors, stored);
            visitors.retain(|_, v| self.stays(v, now));
            visitors.values().cloned().collect()
        };
        let text = serde_json::to_string(&merged).expect("visitors serialize");
        self.store.followers.put_state(VISITORS_KEY, &text).await?;
        Ok(())
    }

    async fn stored_visitors(&self) -> Result<Vec<Visitor>, CoreError> {
        let Some(text) = self.store.followers.state(VISITORS_KEY).await? else {
            return Ok(Vec::new());
        };
        Ok(serde_json::from_str(&text).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "stored visitors unreadable; starting from this gateway's");
            Vec::new()
        }))
    }

    /// Reads the visitors other gateways stored (at start, and on a roster change).
    pub(super) async fn reload_visitors(&self) -> Result<(), CoreError> {
        let stored = self.stored_visitors().await?;
        merge_into(&mut self.visitors.write().expect("visitors lock"), stored);
        Ok(())
    }

    /// Re-reads who is in the office; tells every office when that changed.
    pub(super) async fn roster_may_have_changed(&self) -> Result<(), CoreError> {
        if self.remerge() {
            let count = self.registry().agents().len();
            self.record(
                GatewayEvent::Roster(protocol::RosterChanged { agents: count }),
                crate::store::BROADCAST_NPC,
                None,
            )
            .await?;
        }
        Ok(())
    }
}

/// Adds `stored` to `visitors`; the latest sighting of each wins.
fn merge_into(visitors: &mut BTreeMap<String, Visitor>, stored: Vec<Visitor>) {
    for theirs in stored {
        match visitors.get_mut(&theirs.npc) {
            Some(mine) if mine.last_seen_ms >= theirs.last_seen_ms => {
                if mine.spawned_by.is_none() {
                    mine.spawned_by = theirs.spawned_by;
                }
            }
            _ => {
                visitors.insert(theirs.npc.clone(), theirs);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_becomes_a_readable_valid_npc() {
        let npc = npc_for("planner@trip-service");
        assert!(npc.starts_with("planner-trip-service-"), "{npc}");
        assert!(protocol::is_valid_id(&npc));
        assert_eq!(npc, npc_for("planner@trip-service"), "the same everywhere");
        assert_ne!(
            npc,
            npc_for("planner@trip_service"),
            "the hash tells them apart"
        );
        let odd = npc_for("@@@ 日本 ###");
        assert!(protocol::is_valid_id(&odd), "{odd}");
        assert!(protocol::is_valid_id(&npc_for(&"x".repeat(500))));
    }

    #[test]
    fn the_latest_sighting_wins_a_merge() {
        let visitor = |npc: &str, seen: i64, parent: Option<&str>| Visitor {
            key: npc.into(),
            npc: npc.into(),
            name: npc.into(),
            source: "opentelemetry".into(),
            service: "svc".into(),
            spawned_by: parent.map(Into::into),
            last_seen_ms: seen,
        };
        let mut mine = BTreeMap::from([
            ("a".to_owned(), visitor("a", 10, None)),
            ("b".to_owned(), visitor("b", 5, None)),
        ]);
        merge_into(
            &mut mine,
            vec![
                visitor("a", 7, Some("p")),
                visitor("b", 9, None),
                visitor("c", 1, None),
            ],
        );
        assert_eq!(mine["a"].last_seen_ms, 10);
        assert_eq!(
            mine["a"].spawned_by.as_deref(),
            Some("p"),
            "a parent is kept"
        );
        assert_eq!(mine["b"].last_seen_ms, 9);
        assert!(mine.contains_key("c"));
    }
}
