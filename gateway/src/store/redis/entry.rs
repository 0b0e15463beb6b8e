//! A stream entry of the shared log and of an npc's stream: the event's wire
//! JSON and, beside it, the fields and facts a reader needs without reading
//! that JSON back. `append.lua` writes these names; entries an older
//! gateway wrote (one-letter names) are read too.

use crate::store::{EventFacts, StoreError, StoredEvent};
use protocol::{EventKind, Question, RunAnswered, Usage};
use redis::Value;
use std::sync::Arc;

/// The fields of an entry, as `append.lua` writes them.
pub mod field {
    pub const JSON: &str = "json";
    pub const KIND: &str = "kind";
    pub const NPC: &str = "npc";
    pub const RUN: &str = "run";
    pub const MESSAGE: &str = "message";
    pub const STORED_MS: &str = "stored_ms";
    pub const TS: &str = "ts";
    pub const DIGEST: &str = "digest";
    pub const QUESTION: &str = "question";
    pub const ANSWER: &str = "answer";
    pub const CANCELLED: &str = "cancelled";
    pub const USAGE: &str = "usage";
}

/// An entry's field by its name, or by the one-letter name of older entries.
fn canonical(name: &str) -> &str {
    match name {
        "j" => field::JSON,
        "k" => field::KIND,
        "n" => field::NPC,
        "r" => field::RUN,
        "m" => field::MESSAGE,
        "t" => field::STORED_MS,
        "d" => field::DIGEST,
        other => other,
    }
}

/// Stream entries (`[[id, [field, value, …]], …]`) as events.
pub fn entries_to_events(entries: Value) -> Result<Vec<Arc<StoredEvent>>, StoreError> {
    Ok(entries_with_times(entries)?
        .into_iter()
        .map(|(event, _)| event)
        .collect())
}

/// Stream entries as events, each with when it was stored (ms).
pub fn entries_with_times(entries: Value) -> Result<Vec<(Arc<StoredEvent>, i64)>, StoreError> {
    let Value::Array(entries) = entries else {
        return Ok(Vec::new());
    };
    entries.into_iter().map(entry_to_event).collect()
}

pub fn text(value: &Value) -> Option<&str> {
    match value {
        Value::BulkString(bytes) => std::str::from_utf8(bytes).ok(),
        Value::SimpleString(s) => Some(s),
        _ => None,
    }
}

pub fn integer(value: &Value) -> Option<u64> {
    match value {
        Value::Int(i) => u64::try_from(*i).ok(),
        other => text(other).and_then(|t| t.parse().ok()),
    }
}

/// What one entry says, by field.
#[derive(Default)]
struct Fields<'a> {
    json: Option<&'a str>,
    kind: Option<EventKind>,
    npc: Option<&'a str>,
    run: Option<&'a str>,
    message: Option<&'a str>,
    ts: Option<&'a str>,
    stored_ms: i64,
    facts: EventFacts,
}

impl<'a> Fields<'a> {
    fn take(&mut self, name: &str, value: &'a str) {
        let some = |v: &'a str| Some(v).filter(|v| !v.is_empty());
        match canonical(name) {
            field::JSON => self.json = Some(value),
            field::KIND => self.kind = value.parse().ok(),
            field::NPC => self.npc = Some(value),
            field::RUN => self.run = some(value),
            field::MESSAGE => self.message = some(value),
            field::TS => self.ts = Some(value),
            field::STORED_MS => self.stored_ms = value.parse().unwrap_or(0),
            field::DIGEST => {
                self.facts.callback_digest = hex::decode(value).ok().and_then(|d| d.try_into().ok())
            }
            field::QUESTION => {
                self.facts.question = serde_json::from_str::<Question>(value).ok().map(Arc::new)
            }
            field::ANSWER => {
                self.facts.answer = serde_json::from_str::<RunAnswered>(value)
                    .ok()
                    .map(Arc::new)
            }
            field::CANCELLED => self.facts.cancelled = value == "1",
            field::USAGE => {
                self.facts.usage = serde_json::from_str::<Usage>(value).ok().map(Arc::new)
            }
            _ => {}
        }
    }
}

fn entry_to_event(entry: Value) -> Result<(Arc<StoredEvent>, i64), StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("redis log entry: {what}"));
    let Value::Array(mut parts) = entry else {
        return Err(corrupt("not an entry"));
    };
    if parts.len() != 2 {
        return Err(corrupt("not an entry"));
    }
    let values = parts.pop().expect("two parts");
    let id = text(&parts[0])
        .and_then(|id| id.strip_prefix("0-"))
        .and_then(|seq| seq.parse::<u64>().ok())
        .ok_or_else(|| corrupt("id"))?;
    let Value::Array(values) = values else {
        return Err(corrupt("fields"));
    };
    let mut fields = Fields::default();
    for pair in values.chunks(2) {
        let [name, value] = pair else { continue };
        fields.take(text(name).unwrap_or(""), text(value).unwrap_or(""));
    }
    let mut event = StoredEvent::new(
        id,
        fields.kind.ok_or_else(|| corrupt("kind"))?,
        fields.npc.ok_or_else(|| corrupt("npc"))?.to_owned(),
        fields.run.map(str::to_owned),
        fields.ts.unwrap_or("").to_owned(),
        fields.message.map(str::to_owned),
        Arc::from(fields.json.ok_or_else(|| corrupt("json"))?),
    );
    event.facts = fields.facts;
    Ok((Arc::new(event), fields.stored_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    fn entry(id: &str, pairs: &[(&str, &str)]) -> Value {
        let values = pairs.iter().flat_map(|(k, v)| [bulk(k), bulk(v)]).collect();
        Value::Array(vec![bulk(id), Value::Array(values)])
    }

    #[test]
    fn entries_carry_their_facts_by_name() {
        let new = entry(
            "0-7",
            &[
                ("json", r#"{"id":7}"#),
                ("kind", "awaiting"),
                ("npc", "a"),
                ("run", "r1"),
                ("message", "Ship?"),
                ("stored_ms", "1000"),
                ("ts", "2026-01-01T00:00:00Z"),
                ("question", r#"{"question":"Ship?","options":["yes"]}"#),
            ],
        );
        let (event, stored_ms) = entry_to_event(new).unwrap();
        assert_eq!(
            (event.id, event.kind, stored_ms),
            (7, EventKind::Awaiting, 1000)
        );
        assert_eq!(event.facts.question.as_ref().unwrap().options, ["yes"]);
        assert_eq!(event.run_id.as_deref(), Some("r1"));
    }

    #[test]
    fn an_older_gateways_entries_are_read_too() {
        let old = entry(
            "0-3",
            &[
                ("j", r#"{"id":3}"#),
                ("k", "started"),
                ("n", "a"),
                ("r", "r1"),
                ("m", ""),
                ("t", "5"),
                ("d", &"07".repeat(32)),
            ],
        );
        let (event, stored_ms) = entry_to_event(old).unwrap();
        assert_eq!((event.kind, stored_ms), (EventKind::Started, 5));
        assert_eq!(event.facts.callback_digest, Some([7; 32]));
        assert_eq!(event.message, None);
    }
}
