//! Events with a fixed shape, typed once here: the ones the gateway writes on
//! its own authority (a run started, answered, cancelled, ended by the
//! gateway; the roster changed) and the ones a run's backend reports (a step,
//! a question, the result). Their fields are the wire form: what the office,
//! history and every other reader see.

use crate::event::{EventKind, Fields};
use crate::form::{self, Detail, FormField, SimPause};
use crate::usage::Usage;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A JSON object's fields from a typed value.
fn fields_of(value: &impl Serialize) -> Fields {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// `started`, for a run the gateway starts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunStarted {
    pub agent: String,
    pub message: String,
    /// Who started it.
    pub by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
}

/// `response`: a person's answer to the run's question.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunAnswered {
    pub decision: String,
    pub by: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// A form's answer, field by field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Map<String, Value>>,
}

/// `error` for a run a person cancelled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunCancelled {
    pub error: String,
    /// Always true: readers tell a cancel from a failure by it.
    pub cancelled: bool,
    pub by: String,
}

impl RunCancelled {
    pub fn by(by: &str) -> RunCancelled {
        RunCancelled {
            error: format!("cancelled by {by}"),
            cancelled: true,
            by: by.to_owned(),
        }
    }
}

/// `error` the gateway writes to end a run (it went quiet, its gateway is
/// gone, its answer could not be delivered).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunEnded {
    pub error: String,
}

/// `step` the gateway writes to say what happened to an agent: a budget
/// crossed, a bench lifted (and by whom).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunNote {
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// `roster`: the agent registry changed; offices reload their roster.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RosterChanged {
    pub agents: usize,
}

/// What the gateway writes on its own authority.
#[derive(Clone, Debug, PartialEq)]
pub enum GatewayEvent {
    Started(RunStarted),
    Answered(RunAnswered),
    Cancelled(RunCancelled),
    Ended(RunEnded),
    Roster(RosterChanged),
    Note(RunNote),
}

impl GatewayEvent {
    pub fn kind(&self) -> EventKind {
        match self {
            GatewayEvent::Started(_) => EventKind::Started,
            GatewayEvent::Answered(_) => EventKind::Response,
            GatewayEvent::Cancelled(_) | GatewayEvent::Ended(_) => EventKind::Error,
            GatewayEvent::Roster(_) => EventKind::Roster,
            GatewayEvent::Note(_) => EventKind::Step,
        }
    }

    /// Its fields, as stored and sent.
    pub fn fields(&self) -> Fields {
        match self {
            GatewayEvent::Started(e) => fields_of(e),
            GatewayEvent::Answered(e) => fields_of(e),
            GatewayEvent::Cancelled(e) => fields_of(e),
            GatewayEvent::Ended(e) => fields_of(e),
            GatewayEvent::Roster(e) => fields_of(e),
            GatewayEvent::Note(e) => fields_of(e),
        }
    }
}

/// What an `awaiting` event asks: the question, the answers allowed (none:
/// any text), how long it waits, and where the answer goes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Question {
    pub question: String,
    #[serde(default)]
    pub options: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<f64>,
    /// Where a webhook workflow takes its answer (on the agent's own origin only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_url: Option<String>,
    /// What it shows beside the question ("Amount: 120.50").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<Detail>,
    /// What a person fills in to answer (else one of `options`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub form: Vec<FormField>,
    /// A Sim execution paused at a Human in the Loop block: resumed through Sim's API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause: Option<SimPause>,
}

impl Question {
    /// The question an `awaiting` event's fields ask (`question`, else
    /// `message`; `options`, `timeout_secs`, `resume_url`), however loosely a
    /// publisher wrote them.
    pub fn from_fields(fields: &Map<String, Value>) -> Question {
        let text = |key: &str| fields.get(key).and_then(Value::as_str);
        Question {
            question: text("question")
                .or_else(|| text("message"))
                .unwrap_or("waiting for you")
                .to_owned(),
            options: fields
                .get("options")
                .and_then(Value::as_array)
                .map(|o| {
                    o.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            timeout_secs: fields.get("timeout_secs").and_then(Value::as_f64),
            resume_url: text("resume_url").map(str::to_owned),
            details: form::details_from(fields.get("details")),
            form: form::form_from(fields.get("form")),
            pause: fields
                .get("pause")
                .and_then(|p| serde_json::from_value(p.clone()).ok()),
        }
    }

    /// Its fields as a run reports it (`message` repeats the question for
    /// readers that show only the human line).
    pub fn fields(&self) -> Fields {
        let mut fields = fields_of(self);
        fields.insert("message".into(), Value::String(self.question.clone()));
        fields
    }

    /// The answers a person is offered: its options, or a plain "ok".
    pub fn choices(&self) -> Vec<String> {
        if self.options.is_empty() {
            vec!["ok".to_owned()]
        } else {
            self.options.clone()
        }
    }

    /// Whether `decision` answers it.
    pub fn allows(&self, decision: &str) -> bool {
        self.options.is_empty() || self.options.iter().any(|o| o == decision)
    }

    /// A person's answer, checked: a decision among the options, or for a
    /// question with a form, its fields filled in (or one of its one-tap
    /// answers named as the decision). Returns the decision and input to record.
    pub fn check_answer(
        &self,
        decision: &str,
        input: Option<&Map<String, Value>>,
    ) -> Result<(String, Option<Map<String, Value>>), String> {
        let decision = decision.trim();
        if self.form.is_empty() {
            if input.is_some_and(|i| !i.is_empty()) {
                return Err("this question has no form; answer with `decision`".into());
            }
            if decision.is_empty() {
                return Err("`decision` must not be empty".into());
            }
            if !self.allows(decision) {
                return Err(format!(
                    "`{decision}` is not an option; choose one of: {}",
                    self.options.join(", ")
                ));
            }
            return Ok((decision.to_owned(), None));
        }
        let input = match input {
            Some(input) => input.clone(),
            None => form::quick_answers(&self.form)
                .and_then(|quick| quick.into_iter().find(|q| q.label == decision))
                .map(|quick| quick.input)
                .ok_or_else(|| "this question has a form; send its fields as `input`".to_owned())?,
        };
        form::check_input(&self.form, &input)?;
        let decision = if decision.is_empty() {
            "submitted"
        } else {
            decision
        };
        Ok((decision.to_owned(), Some(input)))
    }
}

/// What a run's backend reports, as a workflow's callbacks would.
#[derive(Clone, Debug, PartialEq)]
pub enum RunEvent {
    /// A step: the human line, and the block it came from, if any.
    Step {
        message: String,
        block: Option<String>,
    },
    Asked(Question),
    Finished {
        result: Value,
        message: Option<String>,
        usage: Option<Usage>,
    },
    Failed {
        error: String,
        usage: Option<Usage>,
    },
}

impl RunEvent {
    pub fn step(message: impl Into<String>) -> RunEvent {
        RunEvent::Step {
            message: message.into(),
            block: None,
        }
    }

    pub fn kind(&self) -> EventKind {
        match self {
            RunEvent::Step { .. } => EventKind::Step,
            RunEvent::Asked(_) => EventKind::Awaiting,
            RunEvent::Finished { .. } => EventKind::Done,
            RunEvent::Failed { .. } => EventKind::Error,
        }
    }

    pub fn fields(&self) -> Fields {
        let mut fields = Map::new();
        let mut put = |key: &str, value: Value| {
            fields.insert(key.to_owned(), value);
        };
        match self {
            RunEvent::Step { message, block } => {
                put("message", Value::String(message.clone()));
                if let Some(block) = block {
                    put("block", Value::String(block.clone()));
                }
            }
            RunEvent::Asked(question) => return question.fields(),
            RunEvent::Finished {
                result,
                message,
                usage,
            } => {
                put("result", result.clone());
                if let Some(message) = message {
                    put("message", Value::String(message.clone()));
                }
                if let Some(usage) = usage {
                    put("usage", Value::Object(fields_of(usage)));
                }
            }
            RunEvent::Failed { error, usage } => {
                put("error", Value::String(error.clone()));
                if let Some(usage) = usage {
                    put("usage", Value::Object(fields_of(usage)));
                }
            }
        }
        fields
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn gateway_events_write_their_wire_fields() {
        let cancel = GatewayEvent::Cancelled(RunCancelled::by("alice"));
        assert_eq!(cancel.kind(), EventKind::Error);
        assert_eq!(
            Value::Object(cancel.fields()),
            json!({"error": "cancelled by alice", "cancelled": true, "by": "alice"})
        );
        let started = GatewayEvent::Started(RunStarted {
            agent: "a".into(),
            message: "Ada started by bob".into(),
            by: "bob".into(),
            payload: None,
        });
        assert_eq!(
            Value::Object(started.fields()),
            json!({"agent": "a", "message": "Ada started by bob", "by": "bob"})
        );
    }

    #[test]
    fn a_question_reads_loose_fields_and_writes_them_back() {
        let fields = json!({"message": "Deploy?", "options": ["yes", 3, "no"], "timeout_secs": 30,
            "resume_url": "http://sim/resume/1"});
        let question = Question::from_fields(fields.as_object().unwrap());
        assert_eq!(question.question, "Deploy?");
        assert_eq!(question.options, ["yes", "no"]);
        assert_eq!(question.timeout_secs, Some(30.0));
        assert!(question.allows("no") && !question.allows("maybe"));
        let back = Question::from_fields(&question.fields());
        assert_eq!(back, question);
        assert_eq!(Question::default().choices(), ["ok"]);
        assert_eq!(
            Question::from_fields(&Map::new()).question,
            "waiting for you"
        );
    }

    #[test]
    fn answers_are_checked_against_the_options_or_the_form() {
        let yes_no = Question {
            question: "Ship?".into(),
            options: vec!["yes".into(), "no".into()],
            ..Question::default()
        };
        assert_eq!(
            yes_no.check_answer(" yes ", None).unwrap(),
            ("yes".into(), None)
        );
        assert!(
            yes_no
                .check_answer("maybe", None)
                .unwrap_err()
                .contains("not an option")
        );
        let input = json!({"approved": true}).as_object().unwrap().clone();
        assert!(
            yes_no
                .check_answer("yes", Some(&input))
                .unwrap_err()
                .contains("no form")
        );
        let form = Question {
            question: "Refund?".into(),
            form: form::form_from(Some(
                &json!([{"name": "approved", "type": "boolean", "required": true}]),
            )),
            ..Question::default()
        };
        assert_eq!(
            form.check_answer("", Some(&input)).unwrap(),
            ("submitted".into(), Some(input.clone()))
        );
        let (decision, tapped) = form.check_answer("no", None).unwrap();
        assert_eq!(
            (decision.as_str(), tapped.unwrap().get("approved")),
            ("no", Some(&json!(false)))
        );
        assert!(
            form.check_answer("", None)
                .unwrap_err()
                .contains("send its fields")
        );
        let wrong = json!({"approved": "sure"}).as_object().unwrap().clone();
        assert!(form.check_answer("", Some(&wrong)).is_err());
    }

    #[test]
    fn run_events_write_what_a_workflow_would_post() {
        let done = RunEvent::Finished {
            result: json!({"ok": true}),
            message: Some("workflow finished".into()),
            usage: Some(Usage {
                input_tokens: 10,
                output_tokens: 2,
                cost_usd: 0.5,
                model: None,
            }),
        };
        assert_eq!(done.kind(), EventKind::Done);
        assert_eq!(
            Value::Object(done.fields()),
            json!({"result": {"ok": true}, "message": "workflow finished",
                "usage": {"input_tokens": 10, "output_tokens": 2, "cost_usd": 0.5}})
        );
        let step = RunEvent::Step {
            message: "Agent 1 finished in 1.2 s".into(),
            block: Some("b1".into()),
        };
        assert_eq!(
            Value::Object(step.fields()),
            json!({"message": "Agent 1 finished in 1.2 s", "block": "b1"})
        );
    }
}
