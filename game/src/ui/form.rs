//! A question's answer as a person gives it: its detail lines, its form
//! (yes/no and choices as buttons, the rest as fields) or its options. The
//! draft is plain data, checked by the same rules the gateway applies
//! (`protocol::form`), so an answer the office lets you send is one the
//! gateway takes.

use protocol::form::{check_input, quick_answers};
use protocol::{FieldKind, FormField, PendingQuestion};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// What has been typed and chosen for one question.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FormDraft {
    /// The question it belongs to (run, asking event): another one starts afresh.
    asked: Option<(String, u64)>,
    texts: HashMap<String, String>,
    flags: HashMap<String, bool>,
    /// What was wrong with the last try.
    pub problem: Option<String>,
}

/// An answer ready to send.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    pub decision: String,
    pub input: Option<Map<String, Value>>,
}

impl FormDraft {
    /// Starts afresh when the question is not the one drafted for.
    pub fn follow(&mut self, question: &PendingQuestion) {
        let asked = Some((question.run_id.clone(), question.event_id));
        if self.asked != asked {
            *self = FormDraft {
                asked,
                ..FormDraft::default()
            };
        }
    }

    pub fn text(&mut self, field: &str) -> &mut String {
        self.texts.entry(field.to_owned()).or_default()
    }

    pub fn flag(&self, field: &str) -> Option<bool> {
        self.flags.get(field).copied()
    }

    pub fn set_flag(&mut self, field: &str, value: Option<bool>) {
        match value {
            Some(value) => self.flags.insert(field.to_owned(), value),
            None => self.flags.remove(field),
        };
    }

    /// The fields filled in so far, each parsed as its kind (`skip`: a
    /// field a one-tap answer fills).
    fn filled(&self, form: &[FormField], skip: Option<&str>) -> Result<Map<String, Value>, String> {
        let mut input = Map::new();
        for field in form.iter().filter(|f| Some(f.name.as_str()) != skip) {
            let value = match field.kind {
                FieldKind::Boolean => self.flag(&field.name).map(Value::Bool),
                _ => field.parse(self.texts.get(&field.name).map_or("", String::as_str))?,
            };
            if let Some(value) = value {
                input.insert(field.name.clone(), value);
            }
        }
        Ok(input)
    }

    /// The answer a tap on `choice` gives: an option, a one-tap answer of
    /// the form (with the other fields as filled), or the whole form ("Send").
    pub fn answer(&self, question: &PendingQuestion, choice: &str) -> Result<Answer, String> {
        if question.form.is_empty() {
            return Ok(Answer {
                decision: choice.to_owned(),
                input: None,
            });
        }
        let quick = quick_answers(&question.form)
            .and_then(|answers| answers.into_iter().find(|a| a.label == choice));
        let input = match quick {
            Some(quick) => {
                let field = quick.input.keys().next().cloned();
                let mut input = self.filled(&question.form, field.as_deref())?;
                input.extend(quick.input);
                input
            }
            None => self.filled(&question.form, None)?,
        };
        check_input(&question.form, &input)?;
        Ok(Answer {
            decision: choice.to_owned(),
            input: Some(input),
        })
    }

    /// The buttons the question offers: its options, its one-tap answers,
    /// or "Send" for a form to fill.
    pub fn buttons(question: &PendingQuestion) -> Vec<String> {
        if question.form.is_empty() || quick_answers(&question.form).is_some() {
            question.choices()
        } else {
            vec!["Send".to_owned()]
        }
    }

    /// The fields to show: all of a form's, but the one its buttons fill.
    pub fn shown_fields(question: &PendingQuestion) -> Vec<&FormField> {
        let quick_field = quick_answers(&question.form)
            .and_then(|answers| answers.first().and_then(|a| a.input.keys().next().cloned()));
        question
            .form
            .iter()
            .filter(|f| Some(&f.name) != quick_field.as_ref())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn question(form: Value) -> PendingQuestion {
        PendingQuestion {
            run_id: "r1".into(),
            event_id: 7,
            question: "Refund?".into(),
            options: Vec::new(),
            since: "2026-12-06T10:00:00Z".into(),
            timeout_secs: None,
            details: Vec::new(),
            form: protocol::form::form_from(Some(&form)),
        }
    }

    #[test]
    fn a_yes_no_form_answers_in_one_tap_with_the_other_fields_as_filled() {
        let q = question(json!([
            {"name": "approved", "type": "boolean", "required": true},
            {"name": "note", "type": "text"}
        ]));
        assert_eq!(FormDraft::buttons(&q), ["yes", "no"]);
        assert_eq!(
            FormDraft::shown_fields(&q)
                .iter()
                .map(|f| f.name.as_str())
                .collect::<Vec<_>>(),
            ["note"]
        );
        let mut draft = FormDraft::default();
        draft.follow(&q);
        draft.text("note").push_str(" goodwill ");
        let answer = draft.answer(&q, "no").unwrap();
        assert_eq!(answer.decision, "no");
        assert_eq!(
            answer.input.unwrap(),
            json!({"approved": false, "note": "goodwill"})
                .as_object()
                .unwrap()
                .clone()
        );
    }

    #[test]
    fn a_full_form_is_sent_once_it_is_filled_right() {
        let q = question(json!([
            {"name": "amount", "type": "number", "required": true},
            {"name": "reason", "type": "text", "required": true},
            {"name": "urgent", "type": "boolean"}
        ]));
        assert_eq!(FormDraft::buttons(&q), ["Send"]);
        let mut draft = FormDraft::default();
        draft.follow(&q);
        assert!(
            draft
                .answer(&q, "Send")
                .unwrap_err()
                .contains("amount is required")
        );
        draft.text("amount").push_str("twelve");
        assert!(
            draft
                .answer(&q, "Send")
                .unwrap_err()
                .contains("not a number")
        );
        *draft.text("amount") = "12.5".into();
        draft.text("reason").push_str("damaged");
        draft.set_flag("urgent", Some(true));
        let answer = draft.answer(&q, "Send").unwrap();
        assert_eq!(answer.input.unwrap()["amount"], json!(12.5));
        // Another question: the draft starts afresh.
        let mut next = q.clone();
        next.event_id = 9;
        draft.follow(&next);
        assert_eq!(draft.flag("urgent"), None);
    }

    #[test]
    fn a_question_without_a_form_answers_with_its_options() {
        let mut q = question(json!([]));
        q.options = vec!["ship".into(), "hold".into()];
        assert_eq!(FormDraft::buttons(&q), ["ship", "hold"]);
        let answer = FormDraft::default().answer(&q, "hold").unwrap();
        assert_eq!((answer.decision.as_str(), answer.input), ("hold", None));
    }
}
