//! Flow files: `data/flows/<name>.ron`, validated while they are read so every
//! error names the file, line and step.

use super::template;
use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde_json::Value;
use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

/// A named list of steps.
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    pub name: String,
    pub description: Option<String>,
    /// What ambient demo runs send as the payload.
    pub demo_payload: Value,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Step {
    /// Posts a `step` event with this (templated) message.
    Say(String),
    Wait {
        secs: f64,
        #[serde(default)]
        jitter: f64,
    },
    /// A real HTTP request; its answer is `{save_as.status}` / `{save_as.body…}` to later steps.
    Http {
        #[serde(default = "default_method")]
        method: String,
        url: String,
        #[serde(default)]
        body: Option<Value>,
        #[serde(default)]
        save_as: Option<String>,
        #[serde(default)]
        message: Option<String>,
    },
    /// Posts `awaiting` and waits for a person's answer (`{save_as.decision}`).
    Ask {
        question: String,
        #[serde(default = "default_options")]
        options: Vec<String>,
        #[serde(default = "default_timeout")]
        timeout_secs: f64,
        #[serde(default = "default_answer")]
        save_as: String,
        /// Decisions that end the run (as `done`, with the decision as result).
        #[serde(default)]
        stop_on: Vec<String>,
    },
    /// Posts `error` and ends the run, always or with a probability (for demos).
    Fail {
        message: String,
        #[serde(default = "one")]
        probability: f64,
    },
    /// Posts `done` with a (templated) result and ends the run.
    Done {
        #[serde(default)]
        result: Value,
        #[serde(default)]
        message: Option<String>,
    },
}

fn default_method() -> String {
    "GET".into()
}
fn default_options() -> Vec<String> {
    vec!["approve".into(), "reject".into()]
}
fn default_timeout() -> f64 {
    300.0
}
fn default_answer() -> String {
    "answer".into()
}
fn one() -> f64 {
    1.0
}

impl Step {
    fn kind(&self) -> &'static str {
        match self {
            Step::Say(_) => "Say",
            Step::Wait { .. } => "Wait",
            Step::Http { .. } => "Http",
            Step::Ask { .. } => "Ask",
            Step::Fail { .. } => "Fail",
            Step::Done { .. } => "Done",
        }
    }

    /// Checks one step against the names defined before it; returns the name it defines.
    fn check(&self, known: &HashSet<String>) -> Result<Option<String>, (&'static str, String)> {
        let duration = |field: &'static str, secs: f64, allow_zero: bool| {
            if !secs.is_finite() || secs < 0.0 || (!allow_zero && secs == 0.0) || secs > 86_400.0 {
                Err((
                    field,
                    format!("{secs} is not a duration in seconds (0-86400)"),
                ))
            } else {
                Ok(())
            }
        };
        let text = |field: &'static str, t: &str| template::check(t, known).map_err(|e| (field, e));
        match self {
            Step::Say(message) => text("message", message).map(|_| None),
            Step::Wait { secs, jitter } => {
                duration("secs", *secs, false)?;
                duration("jitter", *jitter, true).map(|_| None)
            }
            Step::Http {
                method,
                url,
                body,
                save_as,
                message,
            } => {
                if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method.as_str()) {
                    return Err((
                        "method",
                        format!("`{method}` is not GET, POST, PUT, PATCH or DELETE"),
                    ));
                }
                text("url", url)?;
                template::origin_of(url).map_err(|e| ("url", e))?;
                if let Some(message) = message {
                    text("message", message)?;
                }
                if let Some(body) = body {
                    template::check_value(body, known).map_err(|e| ("body", e))?;
                }
                check_name(save_as.as_deref()).map(|_| save_as.clone())
            }
            Step::Ask {
                question,
                options,
                timeout_secs,
                save_as,
                stop_on,
            } => {
                text("question", question)?;
                if options.is_empty() {
                    return Err(("options", "needs at least one option".into()));
                }
                if let Some(stop) = stop_on.iter().find(|s| !options.contains(s)) {
                    return Err(("stop_on", format!("`{stop}` is not one of the options")));
                }
                duration("timeout_secs", *timeout_secs, false)?;
                check_name(Some(save_as)).map(|_| Some(save_as.clone()))
            }
            Step::Fail {
                message,
                probability,
            } => {
                text("message", message)?;
                if !(0.0..=1.0).contains(probability) {
                    return Err((
                        "probability",
                        format!("{probability} is not between 0 and 1"),
                    ));
                }
                Ok(None)
            }
            Step::Done { result, message } => {
                template::check_value(result, known).map_err(|e| ("result", e))?;
                if let Some(message) = message {
                    text("message", message)?;
                }
                Ok(None)
            }
        }
    }
}

fn check_name(name: Option<&str>) -> Result<(), (&'static str, String)> {
    match name {
        Some(name) if template::BUILT_INS.contains(&name) => {
            Err(("save_as", format!("`{name}` is a built-in name")))
        }
        Some(name)
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            Err((
                "save_as",
                format!("`{name}` is not a name (letters, digits, `_`)"),
            ))
        }
        _ => Ok(()),
    }
}

/// The step list, checked step by step as it is read.
struct Steps(Vec<Step>);

impl<'de> Deserialize<'de> for Steps {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct StepList;
        impl<'de> Visitor<'de> for StepList {
            type Value = Steps;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of steps")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Steps, A::Error> {
                let mut steps = Vec::new();
                let mut known = HashSet::new();
                while let Some(step) = seq.next_element_seed(CheckedStep {
                    index: steps.len(),
                    known: &mut known,
                })? {
                    steps.push(step);
                }
                if steps.is_empty() {
                    return Err(de::Error::custom(
                        "field `steps`: a flow needs at least one step",
                    ));
                }
                Ok(Steps(steps))
            }
        }
        d.deserialize_seq(StepList)
    }
}

/// Reads one step and checks it against the names defined before it, so an
/// error is raised while the parser still points at that step.
struct CheckedStep<'a> {
    index: usize,
    known: &'a mut HashSet<String>,
}

impl<'de> de::DeserializeSeed<'de> for CheckedStep<'_> {
    type Value = Step;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Step, D::Error> {
        let step = Step::deserialize(d)?;
        let defined = step.check(self.known).map_err(|(field, message)| {
            de::Error::custom(format!(
                "steps[{}] ({}) field `{field}`: {message}",
                self.index,
                step.kind()
            ))
        })?;
        self.known.extend(defined);
        Ok(step)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename = "Flow")]
struct FlowFile {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    demo_payload: Option<Value>,
    steps: Steps,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum FlowError {
    #[error("{}: cannot read: {message}", path.display())]
    Io { path: PathBuf, message: String },
    #[error("{}:{line}:{column}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
}

impl Flow {
    pub fn load(path: &Path) -> Result<Flow, FlowError> {
        let text = std::fs::read_to_string(path).map_err(|e| FlowError::Io {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        Flow::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Flow, FlowError> {
        let options = ron::Options::default()
            .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME);
        let file: FlowFile = options.from_str(text).map_err(|e| FlowError::Invalid {
            path: path.to_owned(),
            line: e.position.line,
            column: e.position.col,
            message: e.code.to_string(),
        })?;
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_owned();
        Ok(Flow {
            name,
            description: file.description,
            demo_payload: file
                .demo_payload
                .unwrap_or(Value::Object(Default::default())),
            steps: file.steps.0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Flow, FlowError> {
        Flow::parse(Path::new("flows/demo.ron"), text)
    }

    #[test]
    fn a_flow_with_every_step_kind_loads() {
        let flow = parse(
            r#"(
    description: "books meetings",
    steps: [
        Say("Reading {payload.date|today}"),
        Wait(secs: 1.5, jitter: 0.5),
        Http(url: "{gateway}/healthz", save_as: "health"),
        Ask(question: "Book it? ({health.status})", stop_on: ["reject"]),
        Fail(message: "Calendar API rate limit exceeded", probability: 0.1),
        Done(result: {"booked": "{answer.decision}"}),
    ],
)"#,
        )
        .unwrap();
        assert_eq!(flow.name, "demo");
        assert_eq!(flow.steps.len(), 6);
        assert!(
            matches!(&flow.steps[3], Step::Ask { options, .. } if options == &["approve", "reject"])
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Any text as a flow file: a flow, or an error naming the file.
            #[test]
            fn any_flow_file_is_loaded_or_refused_by_name(text in "\\PC{0,300}") {
                if let Err(error) = parse(&text) {
                    prop_assert!(error.to_string().starts_with("flows/demo.ron"), "{}", error);
                }
            }

            /// Step lists built from real step names with random fields.
            #[test]
            fn plausible_flows_never_panic(
                steps in prop::collection::vec(
                    (
                        prop::sample::select(vec!["Say", "Wait", "Http", "Ask", "Fail", "Done", "Dance"]),
                        "[a-z_]{0,8}",
                        prop_oneof![Just("\"{payload.x}\"".to_owned()), Just("1.5".to_owned()), Just("-3".to_owned()), Just("[\"a\"]".to_owned()), "\"[^\"\\\\]{0,12}\""],
                    ),
                    0..5,
                ),
            ) {
                let body: Vec<String> = steps
                    .iter()
                    .map(|(kind, field, value)| {
                        if field.is_empty() {
                            format!("{kind}({value})")
                        } else {
                            format!("{kind}({field}: {value})")
                        }
                    })
                    .collect();
                let text = format!("(steps: [{}])", body.join(", "));
                if let Err(error) = parse(&text) {
                    prop_assert!(error.to_string().starts_with("flows/demo.ron:"), "{}", error);
                }
            }
        }
    }

    #[test]
    fn http_steps_name_their_origin_literally() {
        for url in [
            "http://api.example/{payload.path}",
            "{gateway}/healthz",
            "https://x.test",
        ] {
            parse(&format!("(steps: [Http(url: \"{url}\")])")).unwrap();
        }
        for url in [
            "{payload.url}",
            "http://{payload.host}/x",
            "http://api.example{payload.x}",
            "ftp://x/",
        ] {
            let err = parse(&format!("(steps: [Http(url: \"{url}\")])")).unwrap_err();
            assert!(err.to_string().contains("field `url`"), "{url}: {err}");
        }
    }

    #[test]
    fn errors_name_file_line_and_step() {
        let cases = [
            (
                "(steps: [\n  Say(\"hi\"),\n  Dance(\"now\"),\n])",
                ":3:",
                "Dance",
            ),
            (
                "(steps: [\n  Wait(secs: -1),\n])",
                ":2:",
                "steps[0] (Wait) field `secs`",
            ),
            (
                "(steps: [\n  Say(\"{answer.decision}\"),\n])",
                ":2:",
                "`{answer}` names nothing",
            ),
            (
                "(steps: [\n  Fail(message: \"x\", probability: 2.0),\n])",
                ":2:",
                "field `probability`",
            ),
            ("(steps: [])", ":1:", "at least one step"),
            ("(stepz: [])", ":1:", "stepz"),
        ];
        for (text, line, message) in cases {
            let err = parse(text).unwrap_err().to_string();
            assert!(
                err.starts_with("flows/demo.ron") && err.contains(line),
                "{text}: {err}"
            );
            assert!(err.contains(message), "{text}: {err}");
        }
    }
}
