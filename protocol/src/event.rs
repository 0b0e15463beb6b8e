//! Events: what agents publish and what every office receives.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;
use std::str::FromStr;

/// Fields of a JSON object, for building event data.
pub type Fields = Map<String, Value>;

/// The kind of an event, sent as the SSE `event:` field.
///
/// The first five are the seed's contract and may be published by anyone with
/// the right to publish; the last two are written by the gateway itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    Started,
    Step,
    Awaiting,
    Done,
    Error,
    /// A person's answer to an `awaiting` event.
    Response,
    /// The agent registry changed; the office reloads its roster.
    Roster,
}

impl EventKind {
    pub const PUBLISHABLE: [EventKind; 5] = [
        EventKind::Started,
        EventKind::Step,
        EventKind::Awaiting,
        EventKind::Done,
        EventKind::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Started => "started",
            EventKind::Step => "step",
            EventKind::Awaiting => "awaiting",
            EventKind::Done => "done",
            EventKind::Error => "error",
            EventKind::Response => "response",
            EventKind::Roster => "roster",
        }
    }

    /// Whether an outside publisher may post this kind to `/api/events`.
    pub fn is_publishable(self) -> bool {
        Self::PUBLISHABLE.contains(&self)
    }

    /// Whether this kind ends a run.
    pub fn is_terminal(self) -> bool {
        matches!(self, EventKind::Done | EventKind::Error)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownEventKind(pub String);

impl fmt::Display for UnknownEventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown event type `{}`", self.0)
    }
}

impl std::error::Error for UnknownEventKind {}

impl FromStr for EventKind {
    type Err = UnknownEventKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            EventKind::Started,
            EventKind::Step,
            EventKind::Awaiting,
            EventKind::Done,
            EventKind::Error,
            EventKind::Response,
            EventKind::Roster,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or_else(|| UnknownEventKind(s.to_owned()))
    }
}

/// The body of `POST /api/events` (one object, or an array of them).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishEvent {
    pub npc: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<String>,
    /// The seed's payload: `message`, `result`, `error`, or anything else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    /// The publisher's own id for the event: the same key twice (a retried
    /// POST, an exporter's second try) is stored and counted once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl PublishEvent {
    /// An event of a run, as a workflow posts it to its `callback_url`.
    pub fn for_run(npc: &str, kind: EventKind, run_id: &str, data: Map<String, Value>) -> Self {
        PublishEvent {
            npc: npc.to_owned(),
            kind: kind.as_str().to_owned(),
            run_id: Some(run_id.to_owned()),
            ts: None,
            data: Some(Value::Object(data)),
            key: None,
        }
    }
}

/// The answer to a publish: the ids the events were stored under.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishAck {
    pub ids: Vec<u64>,
}

/// A stored event, as history returns it and as the SSE `data:` field carries it.
///
/// `fields` are the publisher's `data` object flattened next to the envelope,
/// which gives the seed's shape: `{ts, npc, message}`, `{ts, npc, result}`, ….
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventEnvelope {
    pub id: u64,
    #[serde(rename = "type")]
    pub kind: EventKind,
    pub ts: String,
    pub npc: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

impl EventEnvelope {
    /// The human line for logs and bubbles: `message`, else `error`, else `question`.
    pub fn message(&self) -> Option<&str> {
        ["message", "error", "question"]
            .iter()
            .find_map(|key| self.fields.get(*key).and_then(Value::as_str))
    }

    pub fn field(&self, key: &str) -> Option<&Value> {
        self.fields.get(key)
    }
}

/// `GET /api/history`: newest page first in `events` order oldest → newest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryPage {
    pub events: Vec<EventEnvelope>,
    /// Pass as `before=` to get the next older page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_before: Option<u64>,
    /// In a window of time (`?from=&to=`): pass as `after=` for the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_after: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_names() {
        for kind in [EventKind::Started, EventKind::Response, EventKind::Roster] {
            assert_eq!(kind.as_str().parse::<EventKind>(), Ok(kind));
        }
        assert_eq!(
            "finished".parse::<EventKind>(),
            Err(UnknownEventKind("finished".into()))
        );
    }

    #[test]
    fn only_the_seed_kinds_are_publishable() {
        assert!(EventKind::Awaiting.is_publishable());
        assert!(!EventKind::Roster.is_publishable());
        assert!(!EventKind::Response.is_publishable());
    }

    #[test]
    fn envelope_flattens_data_into_the_seed_shape() {
        let json = r#"{"id":7,"type":"step","ts":"2025-11-07T12:00:05Z","npc":"scheduler","run_id":"r1","message":"Parsing"}"#;
        let env: EventEnvelope = serde_json::from_str(json).unwrap();
        assert_eq!(env.kind, EventKind::Step);
        assert_eq!(env.message(), Some("Parsing"));
        assert_eq!(serde_json::to_string(&env).unwrap(), json);
    }
}
