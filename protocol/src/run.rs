//! Runs: starting an agent, answering it, and its past runs.

use crate::agent::AgentStatus;
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The body of `POST /api/run/:agent`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    #[serde(default)]
    pub payload: Value,
}

/// `202` answer to a run, a cancel or an answer: the run and the event that recorded it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunAck {
    pub run_id: String,
    /// The id of the event written (`started`, the cancelling `error`, the `response`).
    pub event_id: u64,
}

/// The body of `POST /api/runs/:run_id/respond`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RespondRequest {
    /// One of the question's options (or a form's one-tap answer).
    #[serde(default)]
    pub decision: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// A form's fields, for a question with a form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<serde_json::Map<String, Value>>,
}

/// The body every run's webhook receives.
///
/// A Sim webhook trigger turns top-level body fields into workflow inputs, so
/// the payload's own fields are sent at the top level too (the run's control
/// fields win a name clash), and whole under `payload`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct RunWebhook {
    pub run_id: String,
    pub agent: String,
    pub npc: String,
    /// Where the workflow posts `step`/`awaiting`/`done`/`error` (`/api/events`).
    pub callback_url: String,
    /// Bearer token for those callbacks: valid for this run and npc only.
    pub callback_token: String,
    /// Who started the run.
    #[serde(default)]
    pub by: Option<String>,
    #[serde(default)]
    pub payload: Value,
}

impl RunWebhook {
    const CONTROL: [&'static str; 7] = [
        "run_id",
        "agent",
        "npc",
        "callback_url",
        "callback_token",
        "by",
        "payload",
    ];
}

impl Serialize for RunWebhook {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let flat: Vec<(&String, &Value)> = match &self.payload {
            Value::Object(fields) => fields
                .iter()
                .filter(|(key, _)| !Self::CONTROL.contains(&key.as_str()))
                .collect(),
            _ => Vec::new(),
        };
        let mut map = serializer.serialize_map(Some(7 + flat.len()))?;
        map.serialize_entry("run_id", &self.run_id)?;
        map.serialize_entry("agent", &self.agent)?;
        map.serialize_entry("npc", &self.npc)?;
        map.serialize_entry("callback_url", &self.callback_url)?;
        map.serialize_entry("callback_token", &self.callback_token)?;
        if let Some(by) = &self.by {
            map.serialize_entry("by", by)?;
        }
        for (key, value) in flat {
            map.serialize_entry(key, value)?;
        }
        map.serialize_entry("payload", &self.payload)?;
        map.end()
    }
}

/// What a question's `resume_url` receives: a person's answer to an `awaiting` event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnswerDelivery {
    pub run_id: String,
    /// The id of the `awaiting` event it answers.
    #[serde(default)]
    pub question_id: u64,
    pub decision: String,
    #[serde(default)]
    pub comment: Option<String>,
    /// Who answered.
    pub by: String,
    /// A form's answer, field by field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<serde_json::Map<String, Value>>,
}

/// One past or current run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub run_id: String,
    pub agent: String,
    pub npc: String,
    pub status: AgentStatus,
    pub started_at: String,
    /// Who started it (a token's subject, `local`, or the publisher that posted `started`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What it cost, as its source reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<crate::usage::Usage>,
}

/// `GET /api/runs/count?since=`: how many runs started since a moment
/// (the office's whiteboard asks for "since local midnight").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCount {
    /// The moment counted from (RFC 3339), as given.
    pub since: String,
    pub started: u64,
}

/// `GET /api/runs`: newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunsPage {
    pub runs: Vec<RunSummary>,
    /// Pass as `before=` to get the next older page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_before: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn webhook_bodies_carry_payload_fields_flat_and_nested() {
        let body = RunWebhook {
            run_id: "r1".into(),
            agent: "a".into(),
            npc: "a".into(),
            callback_url: "http://gw/api/events".into(),
            callback_token: "t".into(),
            by: Some("alice".into()),
            payload: json!({"title": "standup", "npc": "spoof"}),
        };
        let value = serde_json::to_value(&body).unwrap();
        assert_eq!(value["title"], "standup");
        assert_eq!(value["npc"], "a", "control fields win");
        assert_eq!(value["payload"]["npc"], "spoof");
        assert_eq!(value["by"], "alice");
        let back: RunWebhook = serde_json::from_value(value).unwrap();
        assert_eq!(back, body);
    }
}
