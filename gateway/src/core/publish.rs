//! Publishing: an event from outside becomes a [`ValidEvent`] at the edge or
//! is refused with the reason, then is stored once and fanned out once.

use super::{CoreError, Service, now_rfc3339};
use crate::auth::Caller;
use crate::registry::Registry;
use crate::store::{EventFacts, NewEvent, RunMeta};
use protocol::{EventKind, PublishEvent};
use serde_json::{Map, Value};

/// Events one publish may carry.
pub const MAX_BATCH: usize = 1000;
/// Fields the envelope owns; `data` may not carry them.
const RESERVED: [&str; 5] = ["id", "type", "ts", "npc", "run_id"];

/// A published event that passed every check that needs no store: its kind,
/// npc, the caller's scope, run id, timestamp and data.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidEvent {
    pub kind: EventKind,
    pub npc: String,
    /// The agent the npc belongs to.
    pub agent: String,
    pub run_id: Option<String>,
    pub ts: String,
    pub fields: Map<String, Value>,
    /// The publisher's id for it (stored and counted once).
    pub key: Option<String>,
}

/// Why a published event was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventProblem {
    #[error("unknown event type `{0}`; expected one of started, step, awaiting, done, error")]
    UnknownKind(String),
    #[error("events of type `{0}` are written by the gateway only")]
    GatewayOnly(EventKind),
    #[error("no npc `{0}` in the registry")]
    UnknownNpc(String),
    #[error("this token may only post events for npc `{0}`")]
    NotYourNpc(String),
    #[error("this token may only post events for run `{0}`")]
    NotYourRun(String),
    #[error("this token may not publish for agent `{0}`")]
    NotYourAgent(String),
    #[error("`run_id` must be 1-128 characters")]
    BadRunId,
    #[error("`ts` `{0}` is not an RFC 3339 timestamp")]
    BadTimestamp(String),
    #[error("`data` must be an object (or a message string)")]
    BadData,
    #[error("`data.{0}` is reserved; put it at the top level")]
    ReservedField(String),
    #[error("{0}")]
    BadUsage(String),
    #[error("`key` must be 1-128 characters, none of them control characters")]
    BadKey,
    #[error("`key` `{0}` is given twice in the batch")]
    RepeatedKey(String),
    #[error("no events in the batch")]
    EmptyBatch,
    #[error("a batch holds at most {MAX_BATCH} events")]
    TooMany,
}

impl EventProblem {
    /// A caller's scope refused it (403), rather than the event's content (400).
    pub fn is_forbidden(&self) -> bool {
        matches!(
            self,
            EventProblem::NotYourNpc(_)
                | EventProblem::NotYourRun(_)
                | EventProblem::NotYourAgent(_)
        )
    }
}

/// A refused event and where it was in the batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{problem}", if *.index == 0 { String::new() } else { format!("event [{index}]: ") })]
pub struct EventError {
    pub index: usize,
    pub problem: EventProblem,
}

impl ValidEvent {
    /// Checks one event against the registry and the caller's scope.
    pub fn parse(
        event: PublishEvent,
        registry: &Registry,
        caller: &Caller,
    ) -> Result<ValidEvent, EventProblem> {
        let kind: EventKind = event
            .kind
            .parse()
            .map_err(|_| EventProblem::UnknownKind(event.kind.clone()))?;
        if !kind.is_publishable() {
            return Err(EventProblem::GatewayOnly(kind));
        }
        let agent = registry
            .by_npc(&event.npc)
            .ok_or_else(|| EventProblem::UnknownNpc(event.npc.clone()))?
            .agent
            .clone();
        let mut run_id = event.run_id;
        match caller {
            Caller::Run {
                run_id: own_run,
                npc,
            } => {
                if *npc != event.npc {
                    return Err(EventProblem::NotYourNpc(npc.clone()));
                }
                match &run_id {
                    Some(id) if id != own_run => {
                        return Err(EventProblem::NotYourRun(own_run.clone()));
                    }
                    _ => run_id = Some(own_run.clone()),
                }
            }
            other if !other.may_act_on(&agent) => {
                return Err(EventProblem::NotYourAgent(agent));
            }
            _ => {}
        }
        if let Some(id) = &run_id
            && (id.is_empty() || id.len() > 128 || id.chars().any(char::is_control))
        {
            return Err(EventProblem::BadRunId);
        }
        let ts = match event.ts {
            Some(ts) => {
                time::OffsetDateTime::parse(&ts, &time::format_description::well_known::Rfc3339)
                    .map_err(|_| EventProblem::BadTimestamp(ts.clone()))?;
                ts
            }
            None => now_rfc3339(),
        };
        let fields = match event.data {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) => map,
            // A bare string is the step message, as a shorthand.
            Some(Value::String(message)) => {
                Map::from_iter([("message".to_owned(), Value::String(message))])
            }
            Some(_) => return Err(EventProblem::BadData),
        };
        if let Some(key) = fields.keys().find(|k| RESERVED.contains(&k.as_str())) {
            return Err(EventProblem::ReservedField(key.clone()));
        }
        if let Some(usage) = fields.get("usage") {
            protocol::Usage::parse(usage).map_err(EventProblem::BadUsage)?;
        }
        if let Some(key) = &event.key
            && (key.is_empty() || key.chars().count() > 128 || key.chars().any(char::is_control))
        {
            return Err(EventProblem::BadKey);
        }
        Ok(ValidEvent {
            kind,
            npc: event.npc,
            agent,
            run_id,
            ts,
            fields,
            key: event.key,
        })
    }
}

impl Service {
    /// Validates and stores published events; answers only once they are durable.
    pub async fn publish(
        &self,
        caller: &Caller,
        events: Vec<PublishEvent>,
    ) -> Result<Vec<u64>, CoreError> {
        let refuse = |index, problem| CoreError::InvalidEvent(EventError { index, problem });
        if events.is_empty() {
            return Err(refuse(0, EventProblem::EmptyBatch));
        }
        if events.len() > MAX_BATCH {
            return Err(refuse(0, EventProblem::TooMany));
        }
        let registry = self.registry();
        let mut batch = Vec::with_capacity(events.len());
        let mut keys = std::collections::HashSet::new();
        for (index, event) in events.into_iter().enumerate() {
            let valid =
                ValidEvent::parse(event, &registry, caller).map_err(|p| refuse(index, p))?;
            if let Some(key) = &valid.key
                && !keys.insert((valid.npc.clone(), key.clone()))
            {
                return Err(refuse(index, EventProblem::RepeatedKey(key.clone())));
            }
            batch.push(self.to_new_event(valid, caller, &registry));
        }
        let stored = self
            .store
            .log
            .append(batch)
            .await
            .map_err(CoreError::from)?;
        for event in &stored {
            tracing::debug!(npc = %event.npc, run_id = ?event.run_id, event_id = event.id, kind = %event.kind, "event stored");
        }
        self.watch_budgets(&stored).await;
        Ok(stored.iter().map(|e| e.id).collect())
    }

    /// A publisher's `started` opens a run (with a fresh id unless it names one).
    fn to_new_event(&self, event: ValidEvent, caller: &Caller, registry: &Registry) -> NewEvent {
        let started = event.kind == EventKind::Started;
        let run_id = match (&event.run_id, started) {
            (None, true) => Some(super::runs::new_run_id()),
            (id, _) => id.clone(),
        };
        let run = started.then(|| RunMeta {
            agent: event.agent.clone(),
            by: Some(caller.by()),
            callback_digest: None,
            owner: None,
            deadline_ms: self.deadline_of(registry, &event.agent).as_millis() as u64,
        });
        NewEvent {
            facts: EventFacts::published(event.kind, &event.fields),
            kind: event.kind,
            npc: event.npc,
            run_id,
            ts: event.ts,
            fields: event.fields,
            run,
            key: event.key,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{AgentScope, Identity, Role};
    use std::sync::Arc;

    fn registry() -> Registry {
        Registry::parse(
            std::path::Path::new("agents.json"),
            r#"[{"agent": "deployer", "npc": "dex", "flow": "x"},
                {"agent": "mailops", "npc": "milo", "flow": "y"}]"#,
        )
        .unwrap()
    }

    fn event(npc: &str, kind: &str) -> PublishEvent {
        PublishEvent {
            npc: npc.into(),
            kind: kind.into(),
            run_id: None,
            ts: None,
            data: None,
            key: None,
        }
    }

    fn parse(event: PublishEvent, caller: &Caller) -> Result<ValidEvent, EventProblem> {
        ValidEvent::parse(event, &registry(), caller)
    }

    #[test]
    fn a_plain_step_is_valid_and_names_its_agent() {
        let mut step = event("dex", "step");
        step.data = Some(Value::String("Building".into()));
        let valid = parse(step, &Caller::Local).unwrap();
        assert_eq!(valid.kind, EventKind::Step);
        assert_eq!(valid.agent, "deployer");
        assert_eq!(valid.fields["message"], "Building");
        assert!(valid.ts.ends_with('Z'), "the gateway stamps the time");
    }

    #[test]
    fn every_rejection_says_why() {
        let local = Caller::Local;
        assert_eq!(
            parse(event("dex", "finished"), &local),
            Err(EventProblem::UnknownKind("finished".into()))
        );
        assert_eq!(
            parse(event("dex", "response"), &local),
            Err(EventProblem::GatewayOnly(EventKind::Response))
        );
        assert_eq!(
            parse(event("ghost", "step"), &local),
            Err(EventProblem::UnknownNpc("ghost".into()))
        );
        let mut long = event("dex", "step");
        long.run_id = Some("r".repeat(129));
        assert_eq!(parse(long, &local), Err(EventProblem::BadRunId));
        let mut empty = event("dex", "step");
        empty.run_id = Some(String::new());
        assert_eq!(parse(empty, &local), Err(EventProblem::BadRunId));
        let mut ts = event("dex", "step");
        ts.ts = Some("yesterday".into());
        assert_eq!(
            parse(ts, &local),
            Err(EventProblem::BadTimestamp("yesterday".into()))
        );
        let mut data = event("dex", "step");
        data.data = Some(serde_json::json!([1, 2]));
        assert_eq!(parse(data, &local), Err(EventProblem::BadData));
        let mut reserved = event("dex", "step");
        reserved.data = Some(serde_json::json!({"npc": "milo"}));
        assert_eq!(
            parse(reserved, &local),
            Err(EventProblem::ReservedField("npc".into()))
        );
    }

    #[test]
    fn a_run_token_posts_for_its_own_run_and_npc_only() {
        let token = Caller::Run {
            run_id: "r1".into(),
            npc: "dex".into(),
        };
        let valid = parse(event("dex", "done"), &token).unwrap();
        assert_eq!(valid.run_id.as_deref(), Some("r1"), "the run is filled in");
        assert_eq!(
            parse(event("milo", "step"), &token),
            Err(EventProblem::NotYourNpc("dex".into()))
        );
        let mut other = event("dex", "step");
        other.run_id = Some("r2".into());
        let refused = parse(other, &token).unwrap_err();
        assert_eq!(refused, EventProblem::NotYourRun("r1".into()));
        assert!(refused.is_forbidden());
    }

    #[test]
    fn a_publisher_limited_to_some_agents_posts_for_those_only() {
        let publisher = Caller::Person(Arc::new(Identity {
            subject: "ci".into(),
            role: Role::Publisher,
            agents: AgentScope::Only(vec!["deploy*".into()]),
        }));
        assert!(parse(event("dex", "step"), &publisher).is_ok());
        assert_eq!(
            parse(event("milo", "step"), &publisher),
            Err(EventProblem::NotYourAgent("mailops".into()))
        );
    }

    mod properties {
        use super::*;
        use crate::properties::{json_value, text};
        use proptest::prelude::*;

        proptest! {
            /// Whatever is published, parsing answers (never panics), the same
            /// way twice, and what it accepts keeps every invariant.
            #[test]
            fn any_published_event_is_judged_consistently(
                npc in prop_oneof![Just("dex".to_owned()), Just("milo".to_owned()), text()],
                kind in text(),
                run_id in prop::option::of(text()),
                ts in prop::option::of(prop_oneof![Just("2025-11-07T12:00:00Z".to_owned()), text()]),
                data in prop::option::of(json_value()),
                as_run in any::<bool>(),
            ) {
                let event = PublishEvent { npc, kind, run_id, ts: ts.or(Some("2025-11-07T12:00:00Z".into())), data, key: None };
                let caller = if as_run {
                    Caller::Run { run_id: "r1".into(), npc: "dex".into() }
                } else {
                    Caller::Local
                };
                let first = parse(event.clone(), &caller);
                prop_assert_eq!(&first, &parse(event.clone(), &caller));
                if let Ok(valid) = first {
                    prop_assert!(valid.kind.is_publishable());
                    prop_assert!(["dex", "milo"].contains(&valid.npc.as_str()));
                    prop_assert!(!valid.fields.keys().any(|k| RESERVED.contains(&k.as_str())));
                    if let Some(run) = &valid.run_id {
                        prop_assert!(!run.is_empty() && run.len() <= 128);
                    }
                    if as_run {
                        prop_assert_eq!(valid.npc.as_str(), "dex");
                        prop_assert_eq!(valid.run_id.as_deref(), Some("r1"));
                    }
                }
            }
        }
    }

    #[test]
    fn batch_errors_name_the_event() {
        let error = EventError {
            index: 2,
            problem: EventProblem::BadData,
        };
        assert_eq!(
            error.to_string(),
            "event [2]: `data` must be an object (or a message string)"
        );
        let first = EventError {
            index: 0,
            problem: EventProblem::BadData,
        };
        assert!(!first.to_string().starts_with("event"));
    }
}
