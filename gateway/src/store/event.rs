//! An event on its way into the log ([`NewEvent`]) and as stored
//! ([`StoredEvent`]): its wire JSON, written once, and the few facts the
//! core acts on ([`EventFacts`]), found once where the event is made.

use super::RunMeta;
use protocol::{EventKind, Question, RunAnswered, Usage};
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

/// An event validated at the edge (or written by the gateway), not yet stored.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub kind: EventKind,
    pub npc: String,
    /// `None` for an npc-level event; the store attaches the npc's open run, if any.
    pub run_id: Option<String>,
    pub ts: String,
    pub fields: Map<String, Value>,
    /// Set on `started`: what the run's record keeps.
    pub run: Option<RunMeta>,
    pub facts: EventFacts,
    /// The publisher's id for it: an event with a key its npc has stored
    /// already is not stored again (the append answers with the stored id).
    pub key: Option<String>,
}

/// What the core acts on, beyond an event's kind and run: found once when
/// the event is made (from the typed event the gateway writes, or the
/// validated fields a publisher posted), stored beside its JSON, and never
/// read back out of that JSON.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFacts {
    /// On `started`: the digest of the run's callback token (never sent to clients).
    pub callback_digest: Option<[u8; 32]>,
    /// On `awaiting`: what it asks, and where the answer goes.
    pub question: Option<Arc<Question>>,
    /// On `response`: the answer a person gave.
    pub answer: Option<Arc<RunAnswered>>,
    /// On `error`: a person cancelled the run (only the gateway writes this).
    pub cancelled: bool,
    /// What its source said the run used (validated `data.usage`).
    pub usage: Option<Arc<Usage>>,
}

impl EventFacts {
    /// The facts of an event an outside publisher posted: only a question
    /// (an answer or a cancel is the gateway's to write).
    pub fn published(kind: EventKind, fields: &Map<String, Value>) -> EventFacts {
        EventFacts {
            question: (kind == EventKind::Awaiting)
                .then(|| Arc::new(Question::from_fields(fields))),
            usage: fields
                .get("usage")
                .and_then(|u| Usage::parse(u).ok())
                .map(Arc::new),
            ..EventFacts::default()
        }
    }
}

/// A stored event, serialised once and shared by every subscriber.
#[derive(Debug)]
pub struct StoredEvent {
    pub id: u64,
    pub kind: EventKind,
    pub npc: String,
    pub run_id: Option<String>,
    pub ts: String,
    /// The human line (`message`, `error` or `question`), for the roster.
    pub message: Option<String>,
    /// The whole envelope as JSON: the SSE `data:` field and history's entries.
    pub json: Arc<str>,
    pub facts: EventFacts,
    /// The event's wire frame, encoded once by whoever sends it first.
    pub frame: OnceLock<bytes::Bytes>,
    /// When this gateway made it: just after its commit for an event it
    /// appended or read from a shared log (the start of its way out).
    pub made: std::time::Instant,
}

impl StoredEvent {
    pub fn new(
        id: u64,
        kind: EventKind,
        npc: String,
        run_id: Option<String>,
        ts: String,
        message: Option<String>,
        json: Arc<str>,
    ) -> StoredEvent {
        StoredEvent {
            id,
            kind,
            npc,
            run_id,
            ts,
            message,
            json,
            facts: EventFacts::default(),
            frame: OnceLock::new(),
            made: std::time::Instant::now(),
        }
    }

    /// What the status fold takes of it.
    pub fn fold_event(&self) -> protocol::FoldEvent<'_> {
        protocol::FoldEvent {
            id: self.id,
            kind: self.kind,
            ts: &self.ts,
            run_id: self.run_id.as_deref(),
            message: self.message.as_deref(),
            question: self.pending_question(),
        }
    }

    /// The question this `awaiting` event asks, as the roster shows it.
    pub fn pending_question(&self) -> Option<protocol::PendingQuestion> {
        let question = self.facts.question.as_ref()?;
        Some(protocol::PendingQuestion::asked(
            question,
            self.run_id.as_deref()?,
            self.id,
            &self.ts,
        ))
    }
}

/// The envelope's wire JSON, from its parts: `{"id":N,"run_id":…,` then the
/// rest of the envelope (`"type"`, `"ts"`, `"npc"`, the fields). Every store
/// writes exactly this (the Redis script writes it inside Redis, once it
/// knows the id and the run).
pub fn envelope_json(id: u64, run_id: Option<&str>, rest: &str) -> String {
    match run_id {
        Some(run) => format!(r#"{{"id":{id},"run_id":{},{rest}"#, Value::from(run)),
        None => format!(r#"{{"id":{id},{rest}"#),
    }
}

/// The envelope after its id and run: `"type":…,"ts":…,"npc":…,` and the
/// fields, closed.
pub fn envelope_rest(event: &NewEvent) -> String {
    let envelope = protocol::EventEnvelope {
        id: 0,
        kind: event.kind,
        ts: event.ts.clone(),
        npc: event.npc.clone(),
        run_id: None,
        fields: event.fields.clone(),
    };
    serde_json::to_string(&envelope)
        .expect("an envelope of JSON values serialises")
        .strip_prefix(r#"{"id":0,"#)
        .expect("the envelope serialises its id first")
        .to_owned()
}

/// The human line an event shows (`message`, else `error`, else `question`).
pub fn human_line(fields: &Map<String, Value>) -> Option<String> {
    ["message", "error", "question"]
        .iter()
        .find_map(|key| fields.get(*key).and_then(Value::as_str))
        .map(str::to_owned)
}

/// The npc every subscriber receives, whatever its filter (roster changes).
pub const BROADCAST_NPC: &str = "*";

/// Which npcs a reader wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NpcFilter {
    All,
    Only(HashSet<String>),
}

impl NpcFilter {
    pub fn matches(&self, npc: &str) -> bool {
        match self {
            NpcFilter::All => true,
            NpcFilter::Only(set) => npc == BROADCAST_NPC || set.contains(npc),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(fields: Value) -> NewEvent {
        NewEvent {
            kind: EventKind::Awaiting,
            npc: "a".into(),
            run_id: None,
            ts: "2026-01-01T00:00:00Z".into(),
            fields: fields.as_object().unwrap().clone(),
            run: None,
            facts: EventFacts::default(),
            key: None,
        }
    }

    #[test]
    fn the_wire_json_is_the_envelope_whatever_its_run() {
        let new = event(serde_json::json!({"question": "Ship?", "options": ["yes"]}));
        let rest = envelope_rest(&new);
        for run in [Some("run_\"1"), None] {
            let json = envelope_json(7, run, &rest);
            let envelope: protocol::EventEnvelope = serde_json::from_str(&json).unwrap();
            assert_eq!((envelope.id, envelope.run_id.as_deref()), (7, run));
            assert_eq!(envelope.message(), Some("Ship?"));
        }
    }

    #[test]
    fn a_publisher_can_ask_but_not_answer_or_cancel() {
        let fields = serde_json::json!({"question": "Ship?", "cancelled": true, "decision": "yes"});
        let map = fields.as_object().unwrap();
        let asked = EventFacts::published(EventKind::Awaiting, map);
        assert_eq!(asked.question.unwrap().question, "Ship?");
        let error = EventFacts::published(EventKind::Error, map);
        assert_eq!(error, EventFacts::default(), "no cancel from outside");
    }
}
