//! A Sim execution paused at a Human in the Loop block, as the office's
//! question: the block's display data (`responseStructure`) as detail lines,
//! its resume form (`inputFormat`) as the form, and where to resume it.
//! (Sim v0.8.9: executor/handlers/human-in-the-loop/human-in-the-loop-handler.ts
//! writes `response.data = {operation, responseStructure, inputFormat,
//! submission, _resume}` into the pause point.)

use super::api::{PausePoint, PausedExecution, parse_ms};
use protocol::{Detail, FieldKind, FormField, Question, SimPause, form};
use serde_json::{Map, Value};

/// Display entries read as the question itself, when the block has one.
const QUESTION_NAMES: [&str; 4] = ["question", "title", "message", "prompt"];
/// How long a pause with no expiry of its own may wait here.
const NO_EXPIRY_SECS: f64 = 7.0 * 86_400.0;

/// The pause point of `execution` a person still has to answer.
pub fn waiting_point(execution: &PausedExecution) -> Option<&PausePoint> {
    execution.pause_points.iter().find(|point| {
        point.resume_status == "paused" && point.pause_kind.as_deref().unwrap_or("human") == "human"
    })
}

/// The office's question for a pause point of `workflow_name`'s run.
pub fn question_of(
    point: &PausePoint,
    execution: &PausedExecution,
    workflow_id: &str,
    workflow_name: &str,
    now_ms: i64,
) -> Question {
    let data = point.response.get("data").unwrap_or(&Value::Null);
    let mut details = Vec::new();
    let mut asked = None;
    for entry in data
        .get("responseStructure")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(name) = entry.get("name").and_then(Value::as_str) else {
            continue;
        };
        let value = entry.get("value").unwrap_or(&Value::Null);
        if asked.is_none() && QUESTION_NAMES.contains(&name.to_ascii_lowercase().as_str()) {
            if let Some(text) = value.as_str().filter(|t| !t.trim().is_empty()) {
                asked = Some(text.to_owned());
                continue;
            }
        }
        if details.len() < form::MAX_DETAILS {
            details.push(Detail::new(name, value));
        }
    }
    let form: Vec<FormField> = data
        .get("inputFormat")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(field_of)
        .take(form::MAX_FIELDS)
        .collect();
    let timeout_secs = execution
        .expires_at
        .as_deref()
        .and_then(parse_ms)
        .map(|expires| ((expires - now_ms) as f64 / 1000.0).max(1.0))
        .unwrap_or(NO_EXPIRY_SECS);
    Question {
        question: asked.unwrap_or_else(|| format!("{workflow_name} waits for your answer")),
        options: Vec::new(),
        timeout_secs: Some(timeout_secs),
        resume_url: None,
        details,
        form,
        pause: Some(SimPause {
            workflow_id: workflow_id.to_owned(),
            execution_id: execution.execution_id.clone(),
            context_id: point.context_id.clone(),
        }),
    }
}

/// One of the block's input fields (`{name, label, type, required, options, value, …}`).
fn field_of(raw: &Value) -> Option<FormField> {
    let text = |key: &str| {
        raw.get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
    };
    let name = text("name")?;
    let options: Vec<String> = raw
        .get("options")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|o| match o {
            Value::String(s) => Some(s.clone()),
            other => other
                .get("value")
                .or_else(|| other.get("label"))
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
        .collect();
    let kind = FieldKind::from_sim(&text("type").unwrap_or_default());
    Some(FormField {
        label: text("label").unwrap_or_else(|| name.clone()),
        name,
        options: if kind == FieldKind::Text {
            options
        } else {
            Vec::new()
        },
        kind,
        required: raw
            .get("required")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        description: text("description"),
        placeholder: text("placeholder"),
        // Sim writes `""` for a field with no default.
        default: raw
            .get("value")
            .filter(|v| !v.is_null() && v.as_str() != Some(""))
            .cloned(),
    })
}

/// What an answer given in Sim itself was, as far as Sim tells it.
pub fn answer_given_in_sim(point: Option<&PausePoint>) -> Option<Map<String, Value>> {
    point?
        .latest_resume_entry
        .as_ref()?
        .get("resumeInput")?
        .as_object()
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paused(point: Value, expires: Option<&str>) -> PausedExecution {
        serde_json::from_value(json!({
            "executionId": "ex1", "status": "paused", "expiresAt": expires,
            "pausePoints": [point]
        }))
        .unwrap()
    }

    #[test]
    fn a_human_in_the_loop_pause_becomes_a_question_with_its_form() {
        let execution = paused(
            json!({
                "contextId": "hitl-block-1", "resumeStatus": "paused", "pauseKind": "human",
                "response": {"data": {
                    "operation": "human",
                    "responseStructure": [
                        {"name": "question", "type": "string", "value": "Refund order 42?"},
                        {"name": "amount", "type": "number", "value": 120.5}
                    ],
                    "inputFormat": [
                        {"id": "f1", "name": "approved", "label": "Approve", "type": "boolean", "required": true},
                        {"id": "f2", "name": "note", "type": "string", "placeholder": "why"},
                        {"id": "f3", "name": "channel", "type": "string", "options": ["email", {"value": "sms"}]}
                    ],
                    "submission": null
                }}
            }),
            Some("2026-12-06T11:00:00.000Z"),
        );
        let point = waiting_point(&execution).unwrap();
        let now = parse_ms("2026-12-06T10:00:00.000Z").unwrap();
        let q = question_of(point, &execution, "wf1", "Refunds", now);
        assert_eq!(q.question, "Refund order 42?");
        assert_eq!(q.details, [Detail::new("amount", &json!(120.5))]);
        assert_eq!(q.form.len(), 3);
        assert_eq!(
            (q.form[0].kind, q.form[0].required, q.form[0].label.as_str()),
            (FieldKind::Boolean, true, "Approve")
        );
        assert_eq!(q.form[2].options, ["email", "sms"]);
        assert_eq!(q.timeout_secs, Some(3600.0));
        assert_eq!(
            q.pause,
            Some(SimPause {
                workflow_id: "wf1".into(),
                execution_id: "ex1".into(),
                context_id: "hitl-block-1".into()
            })
        );
        assert_eq!(protocol::form::quick_answers(&q.form).unwrap().len(), 2);
    }

    #[test]
    fn a_pause_without_words_says_who_waits_and_answered_points_are_not_waiting() {
        let execution = paused(
            json!({"contextId": "c", "resumeStatus": "paused", "response": {}}),
            None,
        );
        let q = question_of(
            waiting_point(&execution).unwrap(),
            &execution,
            "wf",
            "Triage",
            0,
        );
        assert_eq!(q.question, "Triage waits for your answer");
        assert!(q.form.is_empty() && q.details.is_empty());
        let resumed = paused(
            json!({"contextId": "c", "resumeStatus": "resumed", "response": {},
                "latestResumeEntry": {"resumeInput": {"approved": false}}}),
            None,
        );
        assert!(waiting_point(&resumed).is_none());
        assert_eq!(
            answer_given_in_sim(resumed.pause_points.first())
                .unwrap()
                .get("approved"),
            Some(&json!(false))
        );
        let timed = paused(
            json!({"contextId": "t", "resumeStatus": "paused", "pauseKind": "time", "response": {}}),
            None,
        );
        assert!(waiting_point(&timed).is_none());
    }
}
