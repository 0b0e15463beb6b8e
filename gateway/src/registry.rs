//! The agent registry: `agents.json`, validated on load, reloaded on change.
//!
//! All validation happens while deserializing, so every error carries the
//! file, line, column and field path serde_json saw it at.

use crate::config::SimSettings;
use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use url::Url;

pub use crate::budget::Budget;

/// One agent: who it is in the office, and how a run reaches it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawAgent")]
pub struct Agent {
    pub agent: String,
    pub npc: String,
    pub name: String,
    pub role: Option<String>,
    pub desk: Option<String>,
    pub studio_url: Option<String>,
    pub target: RunTarget,
    /// Sent as `Authorization: Bearer` (what Sim's "Require Authentication" checks).
    pub webhook_token: Option<String>,
    /// Standard Webhooks signing secret (`whsec_…` or raw).
    pub secret: Option<String>,
    /// A run with no event for this long ends (`deadlineSecs`); else the gateway's default.
    pub deadline: Option<std::time::Duration>,
    /// Left out of the office (`"hidden": true`): a synced workflow it names is not shown.
    pub hidden: bool,
    /// Where the agent comes from: agents.json, or a synced Sim workspace.
    pub source: AgentSource,
    /// Its daily budget (`"budget": {"dailyUsd": 5, "hard": false}`).
    pub budget: Option<Budget>,
    /// The agent its OpenTelemetry spans name (`otelAgent`: the
    /// `gen_ai.agent.id`, or `name@service.name`): seated here for good.
    pub otel_agent: Option<String>,
}

/// Where an agent comes from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AgentSource {
    #[default]
    File,
    /// A workflow of this Sim workspace (listed, or named in agents.json and listed).
    Sim { workspace: String },
    /// Walked in because its telemetry named it; leaves when idle.
    Visitor(protocol::Visit),
}

/// Where a run goes.
#[derive(Debug, Clone, PartialEq)]
pub enum RunTarget {
    /// POST to a webhook (a Sim webhook trigger, n8n, your own service).
    Webhook(Url),
    /// An embedded flow (`data/flows/<name>.ron`) the gateway runs itself.
    Flow(String),
    /// A Sim workflow executed through Sim's API (`AP_BASE`, `AP_TOKEN`).
    SimWorkflow {
        id: String,
        /// Block outputs Sim streams back while it runs (`selectedOutputs`,
        /// e.g. `agent1.content`); each becomes a `step`.
        outputs: Vec<String>,
    },
    /// None: the agent runs elsewhere and only its telemetry reaches the office.
    Observed,
}

impl Agent {
    /// "Open in Studio": `studioUrl`, else the workflow's page in Sim (in
    /// its synced workspace, else the first of `AP_PROJECT`), else `/studio/`.
    pub fn resolved_studio_url(&self, sim: &SimSettings) -> String {
        if let Some(url) = &self.studio_url {
            return url.clone();
        }
        let workspace = match &self.source {
            AgentSource::Sim { workspace } => Some(workspace),
            AgentSource::File => sim.workspaces.first(),
            AgentSource::Visitor(_) => None,
        };
        if let (RunTarget::SimWorkflow { id, .. }, Some(base), Some(ws)) =
            (&self.target, &sim.public_url, workspace)
        {
            return format!("{base}/workspace/{ws}/w/{id}");
        }
        "/studio/".to_owned()
    }

    /// The Sim workflow it runs, if it runs one.
    pub fn workflow_id(&self) -> Option<&str> {
        match &self.target {
            RunTarget::SimWorkflow { id, .. } => Some(id),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawAgent {
    agent: Id,
    npc: Id,
    #[serde(default)]
    name: Option<NonEmpty>,
    #[serde(default)]
    role: Option<NonEmpty>,
    #[serde(default)]
    desk: Option<Id>,
    #[serde(default)]
    studio_url: Option<StudioUrl>,
    #[serde(default)]
    webhook_url: Option<HttpUrl>,
    #[serde(default)]
    flow: Option<Id>,
    #[serde(default)]
    workflow_id: Option<NonEmpty>,
    #[serde(default)]
    sim_outputs: Option<Vec<NonEmpty>>,
    #[serde(default)]
    webhook_token: Option<Secret>,
    #[serde(default)]
    secret: Option<Secret>,
    #[serde(default)]
    deadline_secs: Option<Seconds>,
    #[serde(default)]
    hidden: bool,
    #[serde(default)]
    budget: Option<Budget>,
    #[serde(default)]
    otel_agent: Option<NonEmpty>,
}

impl TryFrom<RawAgent> for Agent {
    type Error = String;
    fn try_from(mut raw: RawAgent) -> Result<Agent, String> {
        if raw.sim_outputs.is_some() && raw.workflow_id.is_none() {
            return Err(format!(
                "agent `{}`: `simOutputs` only applies to an agent with `workflowId`",
                raw.agent.0
            ));
        }
        let target = match (raw.webhook_url, raw.flow, raw.workflow_id) {
            (Some(url), None, None) => RunTarget::Webhook(url.0),
            (None, Some(flow), None) => RunTarget::Flow(flow.0),
            (None, None, Some(id)) => RunTarget::SimWorkflow {
                id: id.0,
                outputs: raw
                    .sim_outputs
                    .take()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|o| o.0)
                    .collect(),
            },
            (None, None, None) if raw.otel_agent.is_some() => RunTarget::Observed,
            (None, None, None) => {
                return Err(format!(
                    "agent `{}` needs one of `webhookUrl`, `flow`, `workflowId` or `otelAgent`",
                    raw.agent.0
                ));
            }
            _ => {
                return Err(format!(
                    "agent `{}` has more than one of `webhookUrl`, `flow`, `workflowId`; keep one",
                    raw.agent.0
                ));
            }
        };
        Ok(Agent {
            name: raw.name.map(|n| n.0).unwrap_or_else(|| raw.agent.0.clone()),
            agent: raw.agent.0,
            npc: raw.npc.0,
            role: raw.role.map(|r| r.0),
            desk: raw.desk.map(|d| d.0),
            studio_url: raw.studio_url.map(|u| u.0),
            target,
            webhook_token: raw.webhook_token.map(|s| s.0),
            secret: raw.secret.map(|s| s.0),
            deadline: raw.deadline_secs.map(|s| s.0),
            hidden: raw.hidden,
            source: AgentSource::File,
            budget: raw.budget,
            otel_agent: raw.otel_agent.map(|a| a.0),
        })
    }
}

/// An id: 1–64 of `a-z A-Z 0-9 _ -`, safe in URLs, SSE filters and file names.
#[derive(Deserialize)]
#[serde(try_from = "String")]
struct Id(String);

impl TryFrom<String> for Id {
    type Error = String;
    fn try_from(s: String) -> Result<Id, String> {
        if protocol::is_valid_id(&s) {
            Ok(Id(s))
        } else {
            Err(format!(
                "`{s}` is not a valid id (1-64 letters, digits, `_` or `-`)"
            ))
        }
    }
}

/// A duration in seconds: positive, at most 30 days.
#[derive(Deserialize)]
#[serde(try_from = "f64")]
struct Seconds(std::time::Duration);

impl TryFrom<f64> for Seconds {
    type Error = String;
    fn try_from(secs: f64) -> Result<Seconds, String> {
        if secs.is_finite() && secs > 0.0 && secs <= 30.0 * 86_400.0 {
            Ok(Seconds(std::time::Duration::from_secs_f64(secs)))
        } else {
            Err(format!(
                "{secs} is not a number of seconds between 0 and 2592000 (30 days)"
            ))
        }
    }
}

#[derive(Deserialize)]
#[serde(try_from = "String")]
struct NonEmpty(String);

impl TryFrom<String> for NonEmpty {
    type Error = &'static str;
    fn try_from(s: String) -> Result<NonEmpty, &'static str> {
        if s.trim().is_empty() {
            Err("must not be empty")
        } else {
            Ok(NonEmpty(s))
        }
    }
}

#[derive(Deserialize)]
#[serde(try_from = "String")]
struct HttpUrl(Url);

impl TryFrom<String> for HttpUrl {
    type Error = String;
    fn try_from(s: String) -> Result<HttpUrl, String> {
        let url = Url::parse(&s).map_err(|e| format!("`{s}` is not a URL: {e}"))?;
        match url.scheme() {
            "http" | "https" if url.host().is_some() => Ok(HttpUrl(url)),
            _ => Err(format!("`{s}` must be an http(s) URL with a host")),
        }
    }
}

/// A Studio link: an absolute http(s) URL or a path on this origin.
#[derive(Deserialize)]
#[serde(try_from = "String")]
struct StudioUrl(String);

impl TryFrom<String> for StudioUrl {
    type Error = String;
    fn try_from(s: String) -> Result<StudioUrl, String> {
        if !s.starts_with('/') {
            HttpUrl::try_from(s.clone())?;
        }
        Ok(StudioUrl(s))
    }
}

/// A secret that may name environment variables (`"${SCHEDULER_TOKEN}"`) so the file can be committed.
#[derive(Deserialize)]
#[serde(try_from = "String")]
struct Secret(String);

impl TryFrom<String> for Secret {
    type Error = String;
    fn try_from(s: String) -> Result<Secret, String> {
        let value = expand_env(&s, |name| std::env::var(name).ok())?;
        if value.is_empty() {
            return Err("must not be empty".into());
        }
        Ok(Secret(value))
    }
}

fn expand_env(s: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| "unclosed `${` in value".to_owned())?;
        let name = &after[..end];
        let value =
            lookup(name).ok_or_else(|| format!("environment variable `{name}` is not set"))?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The agents, with lookups by agent id and by npc.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Registry {
    agents: Vec<Agent>,
    by_agent: HashMap<String, usize>,
    by_npc: HashMap<String, usize>,
    by_workflow: HashMap<String, usize>,
}

impl Registry {
    pub fn agents(&self) -> &[Agent] {
        &self.agents
    }

    pub fn agent(&self, agent: &str) -> Option<&Agent> {
        self.by_agent.get(agent).map(|&i| &self.agents[i])
    }

    pub fn by_npc(&self, npc: &str) -> Option<&Agent> {
        self.by_npc.get(npc).map(|&i| &self.agents[i])
    }

    pub fn has_npc(&self, npc: &str) -> bool {
        self.by_npc.contains_key(npc)
    }

    /// The shown agent that runs Sim workflow `workflow_id`.
    pub fn by_workflow(&self, workflow_id: &str) -> Option<&Agent> {
        self.by_workflow
            .get(workflow_id)
            .map(|&i| &self.agents[i])
            .filter(|a| !a.hidden)
    }

    pub fn from_agents(agents: Vec<Agent>) -> Result<Registry, String> {
        let mut registry = Registry::default();
        for agent in agents {
            if registry.by_agent.contains_key(&agent.agent) {
                return Err(format!("duplicate agent id `{}`", agent.agent));
            }
            if registry.by_npc.contains_key(&agent.npc) {
                return Err(format!(
                    "duplicate npc `{}` (each agent needs its own npc)",
                    agent.npc
                ));
            }
            let index = registry.agents.len();
            registry.by_agent.insert(agent.agent.clone(), index);
            registry.by_npc.insert(agent.npc.clone(), index);
            if let Some(workflow) = agent.workflow_id() {
                registry
                    .by_workflow
                    .entry(workflow.to_owned())
                    .or_insert(index);
            }
            registry.agents.push(agent);
        }
        Ok(registry)
    }

    /// Reads and validates a registry file.
    pub fn load(path: &Path) -> Result<Registry, RegistryError> {
        let text = std::fs::read_to_string(path).map_err(|source| RegistryError::Io {
            path: path.to_owned(),
            source: Arc::new(source),
        })?;
        Registry::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Registry, RegistryError> {
        let mut de = serde_json::Deserializer::from_str(text);
        let result: Result<Registry, _> = serde_path_to_error::deserialize(&mut de);
        let registry = result.map_err(|e| {
            let field = e.path().to_string();
            let inner = e.into_inner();
            RegistryError::Invalid {
                path: path.to_owned(),
                line: inner.line(),
                column: inner.column(),
                field,
                message: strip_position(&inner.to_string()),
            }
        })?;
        de.end().map_err(|e| RegistryError::Invalid {
            path: path.to_owned(),
            line: e.line(),
            column: e.column(),
            field: ".".into(),
            message: strip_position(&e.to_string()),
        })?;
        Ok(registry)
    }
}

impl<'de> Deserialize<'de> for Registry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct AgentList;
        impl<'de> Visitor<'de> for AgentList {
            type Value = Registry;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of agents `[{\"agent\", \"npc\", \"webhookUrl\"}]`")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Registry, A::Error> {
                let mut agents = Vec::new();
                let mut seen = (HashSet::new(), HashSet::new());
                while let Some(agent) = seq.next_element_seed(UniqueAgent(&mut seen))? {
                    agents.push(agent);
                }
                Registry::from_agents(agents).map_err(de::Error::custom)
            }
        }
        d.deserialize_seq(AgentList)
    }
}

/// Reads one agent and refuses a duplicate id or npc while the parser still points at it.
struct UniqueAgent<'a>(&'a mut (HashSet<String>, HashSet<String>));

impl<'de> de::DeserializeSeed<'de> for UniqueAgent<'_> {
    type Value = Agent;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Agent, D::Error> {
        let agent = Agent::deserialize(d)?;
        let (ids, npcs) = self.0;
        if !ids.insert(agent.agent.clone()) {
            return Err(de::Error::custom(format!(
                "duplicate agent id `{}`",
                agent.agent
            )));
        }
        if !npcs.insert(agent.npc.clone()) {
            return Err(de::Error::custom(format!(
                "duplicate npc `{}` (each agent needs its own npc)",
                agent.npc
            )));
        }
        Ok(agent)
    }
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum RegistryError {
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        path: PathBuf,
        source: Arc<std::io::Error>,
    },
    #[error("{}:{line}:{column}: field `{field}`: {message}", path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        field: String,
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Registry, RegistryError> {
        Registry::parse(Path::new("agents.json"), text)
    }

    #[test]
    fn the_seed_file_loads() {
        let registry = parse(
            r#"[
  {"agent": "scheduler", "npc": "scheduler", "webhookUrl": "http://sim:3000/api/v1/webhooks/catch/abc123"},
  {"agent": "mailops", "npc": "mailops", "webhookUrl": "http://sim:3000/api/v1/webhooks/catch/def456"}
]"#,
        )
        .unwrap();
        assert_eq!(registry.agents().len(), 2);
        assert_eq!(registry.agent("mailops").unwrap().name, "mailops");
        assert!(registry.has_npc("scheduler"));
    }

    #[test]
    fn errors_name_line_column_and_field() {
        let err = parse(
            "[\n  {\"agent\": \"a\", \"npc\": \"a\", \"webhookUrl\": \"http://x/\"},\n  {\"agent\": \"b\", \"npc\": \"b\", \"webhookUrl\": \"not a url\"}\n]",
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("agents.json:3:"), "{err}");
        assert!(err.contains("field `[1].webhookUrl`"), "{err}");
        assert!(err.contains("not a URL"), "{err}");
    }

    #[test]
    fn wrong_types_missing_fields_and_duplicates_are_rejected() {
        let cases = [
            (
                r#"[{"agent": 5, "npc": "a", "webhookUrl": "http://x/"}]"#,
                "[0].agent",
                "expected a string",
            ),
            (
                r#"[{"npc": "a", "webhookUrl": "http://x/"}]"#,
                "[0]",
                "missing field `agent`",
            ),
            (r#"[{"agent": "a", "npc": "a"}]"#, "[0]", "needs one of"),
            (
                r#"[{"agent": "a", "npc": "a", "flow": "x"}, {"agent": "a", "npc": "b", "flow": "x"}]"#,
                "[1]",
                "duplicate agent id `a`",
            ),
            (
                r#"[{"agent": "a", "npc": "a", "flow": "x", "colour": 1}]"#,
                "[0].colour",
                "unknown field",
            ),
            (r#"{"agent": "a"}"#, ".", "an array of agents"),
            (
                r#"[{"agent": "a b", "npc": "a", "flow": "x"}]"#,
                "[0].agent",
                "not a valid id",
            ),
        ];
        for (text, field, message) in cases {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(&format!("field `{field}`")), "{text}: {err}");
            assert!(err.contains(message), "{text}: {err}");
        }
    }

    mod properties {
        use super::*;
        use crate::properties::json_value;
        use proptest::prelude::*;

        proptest! {
            /// Any JSON document as agents.json: refused with file, line and
            /// field, or a registry whose ids are valid and unique.
            #[test]
            fn any_agents_file_is_refused_clearly_or_valid(document in json_value()) {
                let text = serde_json::to_string_pretty(&document).unwrap();
                match parse(&text) {
                    Ok(registry) => {
                        let mut npcs = HashSet::new();
                        for agent in registry.agents() {
                            prop_assert!(protocol::is_valid_id(&agent.agent));
                            prop_assert!(protocol::is_valid_id(&agent.npc));
                            prop_assert!(npcs.insert(agent.npc.clone()));
                            prop_assert_eq!(registry.agent(&agent.agent), Some(agent));
                        }
                    }
                    Err(error) => {
                        let message = error.to_string();
                        prop_assert!(message.starts_with("agents.json:"), "{}", message);
                        prop_assert!(message.contains("field `"), "{}", message);
                    }
                }
            }

            /// Plausible agents with random fields: the same verdict twice.
            #[test]
            fn agent_lists_are_judged_the_same_every_time(
                agents in prop::collection::vec(
                    prop::collection::btree_map(crate::properties::key(), json_value(), 0..6),
                    0..4,
                ),
            ) {
                let text = serde_json::to_string(&agents).unwrap();
                let first = parse(&text).map_err(|e| e.to_string());
                prop_assert_eq!(first, parse(&text).map_err(|e| e.to_string()));
            }

            /// Raw bytes as agents.json never panic.
            #[test]
            fn any_text_as_agents_file_never_panics(text in "\\PC{0,200}") {
                let _ = parse(&text);
            }
        }
    }

    #[test]
    fn secrets_expand_environment_variables() {
        let env = |name: &str| (name == "TOKEN").then(|| "t0k".to_owned());
        assert_eq!(expand_env("Bearer ${TOKEN}!", env).unwrap(), "Bearer t0k!");
        assert!(
            expand_env("${MISSING}", env)
                .unwrap_err()
                .contains("`MISSING` is not set")
        );
        assert!(expand_env("${TOKEN", env).is_err());
    }

    #[test]
    fn studio_links_prefer_explicit_then_workflow_then_default() {
        let sim = SimSettings {
            public_url: Some("https://sim.example".into()),
            workspaces: vec!["ws1".into()],
            ..Default::default()
        };
        let registry = parse(
            r#"[{"agent": "a", "npc": "a", "workflowId": "wf9"},
                {"agent": "b", "npc": "b", "flow": "x", "studioUrl": "https://studio/b"},
                {"agent": "c", "npc": "c", "flow": "x"}]"#,
        )
        .unwrap();
        let links: Vec<_> = registry
            .agents()
            .iter()
            .map(|a| a.resolved_studio_url(&sim))
            .collect();
        assert_eq!(
            links,
            [
                "https://sim.example/workspace/ws1/w/wf9",
                "https://studio/b",
                "/studio/"
            ]
        );
    }
}
