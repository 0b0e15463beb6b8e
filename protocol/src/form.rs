//! A question's form and what it shows: the fields a person fills in to
//! answer (a Sim Human in the Loop block's resume form, or any workflow's
//! own), and the lines of data it asks about. Checked the same way by the
//! gateway (an answer it accepts) and the office (a form it lets you send).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// At most this many fields and detail lines are kept from a question.
pub const MAX_FIELDS: usize = 20;
pub const MAX_DETAILS: usize = 40;
/// The longest text a detail line keeps.
const MAX_DETAIL_CHARS: usize = 2000;

/// One field of a question's form.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FormField {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub label: String,
    #[serde(rename = "type", default)]
    pub kind: FieldKind,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placeholder: Option<String>,
    /// A text field's allowed values (a choice).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
}

/// What a field holds (Sim's input types, its `object`/`array`/`files` as JSON).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    #[default]
    Text,
    Number,
    Boolean,
    Json,
}

/// A line of what a question shows ("Amount: 1,200 EUR").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Detail {
    pub label: String,
    pub value: String,
}

impl Detail {
    /// A line of at most a few thousand characters, whatever the value.
    pub fn new(label: &str, value: &Value) -> Detail {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        let value = match text.char_indices().nth(MAX_DETAIL_CHARS) {
            Some((cut, _)) => format!("{}…", &text[..cut]),
            None => text,
        };
        Detail {
            label: label.to_owned(),
            value,
        }
    }
}

/// Where a paused Sim execution is resumed: the workflow, the execution and
/// the pause point (the Human in the Loop block's context).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimPause {
    pub workflow_id: String,
    pub execution_id: String,
    pub context_id: String,
}

/// A one-tap answer: a label and the input it sends.
#[derive(Clone, Debug, PartialEq)]
pub struct QuickAnswer {
    pub label: String,
    pub input: Map<String, Value>,
}

impl FormField {
    /// What a person sees it called.
    pub fn shown_name(&self) -> &str {
        if self.label.trim().is_empty() {
            &self.name
        } else {
            &self.label
        }
    }

    /// What a person typed, as the value this field takes (None: left empty).
    pub fn parse(&self, text: &str) -> Result<Option<Value>, String> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        let name = self.shown_name();
        let value = match self.kind {
            FieldKind::Text => Value::String(text.to_owned()),
            FieldKind::Number => text
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite())
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| format!("{name}: `{text}` is not a number"))?,
            FieldKind::Boolean => match text.to_ascii_lowercase().as_str() {
                "true" | "yes" => Value::Bool(true),
                "false" | "no" => Value::Bool(false),
                _ => return Err(format!("{name}: choose yes or no")),
            },
            FieldKind::Json => {
                serde_json::from_str(text).map_err(|e| format!("{name}: not JSON ({e})"))?
            }
        };
        self.check(&value)?;
        Ok(Some(value))
    }

    /// Whether `value` fits the field.
    pub fn check(&self, value: &Value) -> Result<(), String> {
        let name = self.shown_name();
        let fits = match self.kind {
            FieldKind::Text => value.is_string(),
            FieldKind::Number => value.is_number(),
            FieldKind::Boolean => value.is_boolean(),
            FieldKind::Json => true,
        };
        if !fits {
            return Err(format!("{name}: expected {}", self.kind.described()));
        }
        if !self.options.is_empty()
            && !value
                .as_str()
                .is_some_and(|v| self.options.iter().any(|o| o == v))
        {
            return Err(format!("{name}: choose one of {}", self.options.join(", ")));
        }
        Ok(())
    }
}

impl FieldKind {
    fn described(self) -> &'static str {
        match self {
            FieldKind::Text => "text",
            FieldKind::Number => "a number",
            FieldKind::Boolean => "true or false",
            FieldKind::Json => "JSON",
        }
    }

    /// Sim's input types: `string`, `number`, `boolean`; `object`, `array`
    /// and `files` are JSON.
    pub fn from_sim(kind: &str) -> FieldKind {
        match kind {
            "number" => FieldKind::Number,
            "boolean" => FieldKind::Boolean,
            "object" | "array" | "files" | "json" => FieldKind::Json,
            _ => FieldKind::Text,
        }
    }
}

/// A filled form as the answer to send: every required field given, each
/// value of its field's type, no field the form does not have.
pub fn check_input(form: &[FormField], input: &Map<String, Value>) -> Result<(), String> {
    for name in input.keys() {
        if !form.iter().any(|f| &f.name == name) {
            return Err(format!("the form has no field `{name}`"));
        }
    }
    for field in form {
        match input.get(&field.name) {
            Some(Value::Null) | None if field.required => {
                return Err(format!("{} is required", field.shown_name()));
            }
            Some(Value::Null) | None => {}
            Some(value) => field.check(value)?,
        }
    }
    Ok(())
}

/// One-tap answers, when the form is one choice: a single required yes/no
/// or choice field and nothing else required ("Approve" / "Reject").
pub fn quick_answers(form: &[FormField]) -> Option<Vec<QuickAnswer>> {
    let required: Vec<&FormField> = form.iter().filter(|f| f.required).collect();
    let field = match (required.as_slice(), form) {
        ([only], _) => *only,
        ([], [only]) => only,
        _ => return None,
    };
    let answer = |label: &str, value: Value| QuickAnswer {
        label: label.to_owned(),
        input: Map::from_iter([(field.name.clone(), value)]),
    };
    match field.kind {
        FieldKind::Boolean => Some(vec![
            answer("yes", Value::Bool(true)),
            answer("no", Value::Bool(false)),
        ]),
        FieldKind::Text if !field.options.is_empty() => Some(
            field
                .options
                .iter()
                .map(|o| answer(o, Value::String(o.clone())))
                .collect(),
        ),
        _ => None,
    }
}

/// A form read leniently from an event's `form` field: malformed fields are
/// dropped, at most [`MAX_FIELDS`] kept, names unique.
pub fn form_from(value: Option<&Value>) -> Vec<FormField> {
    let mut form: Vec<FormField> = Vec::new();
    for field in value.and_then(Value::as_array).into_iter().flatten() {
        let Ok(field) = serde_json::from_value::<FormField>(field.clone()) else {
            continue;
        };
        if field.name.trim().is_empty() || form.iter().any(|f| f.name == field.name) {
            continue;
        }
        form.push(field);
        if form.len() == MAX_FIELDS {
            break;
        }
    }
    form
}

/// Detail lines read leniently from an event's `details` field.
pub fn details_from(value: Option<&Value>) -> Vec<Detail> {
    value
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|d| serde_json::from_value::<Detail>(d.clone()).ok())
        .take(MAX_DETAILS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(name: &str, kind: FieldKind, required: bool) -> FormField {
        FormField {
            name: name.into(),
            kind,
            required,
            ..FormField::default()
        }
    }

    #[test]
    fn typed_text_becomes_the_fields_value_or_says_what_is_wrong() {
        let amount = field("amount", FieldKind::Number, true);
        assert_eq!(amount.parse(" 12.5 ").unwrap(), Some(json!(12.5)));
        assert_eq!(amount.parse("").unwrap(), None);
        assert!(amount.parse("twelve").unwrap_err().contains("not a number"));
        let ok = field("ok", FieldKind::Boolean, true);
        assert_eq!(ok.parse("Yes").unwrap(), Some(json!(true)));
        let data = field("data", FieldKind::Json, false);
        assert_eq!(data.parse("[1,2]").unwrap(), Some(json!([1, 2])));
        assert!(data.parse("{").is_err());
        let pick = FormField {
            options: vec!["ship".into(), "hold".into()],
            ..field("pick", FieldKind::Text, true)
        };
        assert!(
            pick.parse("burn")
                .unwrap_err()
                .contains("choose one of ship, hold")
        );
    }

    #[test]
    fn an_answer_has_every_required_field_of_the_right_type_and_nothing_else() {
        let form = [
            field("approved", FieldKind::Boolean, true),
            field("note", FieldKind::Text, false),
        ];
        let input = |v: Value| v.as_object().unwrap().clone();
        assert!(check_input(&form, &input(json!({"approved": true}))).is_ok());
        assert!(
            check_input(&form, &input(json!({"note": "x"})))
                .unwrap_err()
                .contains("approved is required")
        );
        assert!(
            check_input(&form, &input(json!({"approved": "yes"})))
                .unwrap_err()
                .contains("true or false")
        );
        assert!(
            check_input(&form, &input(json!({"approved": true, "x": 1})))
                .unwrap_err()
                .contains("no field `x`")
        );
    }

    #[test]
    fn one_choice_forms_become_buttons() {
        let yes_no = quick_answers(&[
            field("approved", FieldKind::Boolean, true),
            field("note", FieldKind::Text, false),
        ])
        .unwrap();
        assert_eq!(
            yes_no.iter().map(|a| a.label.as_str()).collect::<Vec<_>>(),
            ["yes", "no"]
        );
        assert_eq!(yes_no[1].input.get("approved"), Some(&json!(false)));
        let choice = FormField {
            options: vec!["a".into(), "b".into()],
            ..field("pick", FieldKind::Text, false)
        };
        assert_eq!(
            quick_answers(std::slice::from_ref(&choice)).unwrap().len(),
            2
        );
        assert!(
            quick_answers(&[
                field("a", FieldKind::Boolean, true),
                field("b", FieldKind::Text, true)
            ])
            .is_none()
        );
        assert!(quick_answers(&[field("reason", FieldKind::Text, true)]).is_none());
    }

    #[test]
    fn forms_from_events_drop_what_they_cannot_read() {
        let form = form_from(Some(&json!([
            {"name": "a", "type": "boolean", "required": true},
            {"name": "a", "type": "text"},
            {"type": "text"},
            {"name": "", "type": "text"},
            {"name": "b", "type": "rocket"},
            "nonsense",
            {"name": "c"}
        ])));
        assert_eq!(
            form.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
            ["a", "c"]
        );
        assert_eq!(form[1].kind, FieldKind::Text);
        let long = "x".repeat(5000);
        assert_eq!(
            Detail::new("l", &json!(long)).value.chars().count(),
            MAX_DETAIL_CHARS + 1
        );
    }
}
