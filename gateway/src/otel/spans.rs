//! What one OpenTelemetry span says, in the office's terms: an agent
//! invocation, a model call, a tool call, or a span that only links others
//! (GenAI semantic conventions: `gen_ai.operation.name`, `gen_ai.agent.*`,
//! `gen_ai.tool.name`, `gen_ai.request.model`, `gen_ai.usage.*`).

use super::attrs::Attrs;
use opentelemetry_proto::tonic::trace::v1::{Span, status::StatusCode};
use protocol::Usage;

/// The longest agent, tool or model name kept.
pub const NAME_CHARS: usize = 64;
/// The longest error message kept.
pub const MESSAGE_CHARS: usize = 512;

/// An agent as its spans name it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AgentRef {
    /// `gen_ai.agent.id`, else `name@service.name`: what makes it the same character.
    pub key: String,
    pub name: String,
    pub service: String,
}

impl AgentRef {
    fn from_attrs(attrs: &Attrs, service: &str) -> Option<AgentRef> {
        let id = attrs.text("gen_ai.agent.id", NAME_CHARS);
        let name = attrs.text("gen_ai.agent.name", NAME_CHARS);
        let (key, name) = match (id, name) {
            (Some(id), name) => (id.clone(), name.unwrap_or(id)),
            (None, Some(name)) => (format!("{name}@{service}"), name),
            (None, None) => return None,
        };
        Some(AgentRef {
            key,
            name,
            service: service.to_owned(),
        })
    }
}

/// What a span did.
#[derive(Clone, Debug, PartialEq)]
pub enum Work {
    /// `invoke_agent`: an agent's run, from its start to its end.
    Agent,
    /// A model call (`chat`, `text_completion`, `generate_content`).
    Model { model: Option<String> },
    /// `execute_tool`.
    Tool { name: String },
    /// Another GenAI operation (`embeddings`, `retrieval`, …): a step named by it.
    Operation { name: String },
    /// No GenAI operation: it only links its children to its parent.
    Link,
}

/// One span, read.
#[derive(Clone, Debug, PartialEq)]
pub struct SpanFact {
    /// 32 hex digits.
    pub trace: String,
    /// 16 hex digits.
    pub id: String,
    pub parent: Option<String>,
    pub start_ms: i64,
    pub end_ms: i64,
    pub work: Work,
    /// The agent the span names (`gen_ai.agent.*`), if it names one.
    pub agent: Option<AgentRef>,
    pub usage: Option<Usage>,
    /// Set when the span's status is an error: its message.
    pub failure: Option<String>,
}

/// Why a span cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpanProblem {
    #[error("span `{0}`: trace id must be 16 bytes, not all zero")]
    TraceId(String),
    #[error("span `{0}`: span id must be 8 bytes, not all zero")]
    SpanId(String),
}

impl SpanFact {
    /// Reads a span of a resource whose `service.name` is `service`.
    pub fn read(span: &Span, service: &str) -> Result<SpanFact, SpanProblem> {
        let name: String = span.name.chars().take(NAME_CHARS).collect();
        if span.trace_id.len() != 16 || span.trace_id.iter().all(|b| *b == 0) {
            return Err(SpanProblem::TraceId(name));
        }
        if span.span_id.len() != 8 || span.span_id.iter().all(|b| *b == 0) {
            return Err(SpanProblem::SpanId(name));
        }
        let attrs = Attrs(&span.attributes);
        let operation = attrs.text("gen_ai.operation.name", NAME_CHARS);
        let work = match operation.as_deref() {
            Some("invoke_agent") => Work::Agent,
            Some("chat" | "text_completion" | "generate_content") => Work::Model {
                model: attrs
                    .text("gen_ai.response.model", NAME_CHARS)
                    .or_else(|| attrs.text("gen_ai.request.model", NAME_CHARS)),
            },
            Some("execute_tool") => Work::Tool {
                name: attrs
                    .text("gen_ai.tool.name", NAME_CHARS)
                    .unwrap_or_else(|| name.clone()),
            },
            Some(other) => Work::Operation {
                name: other.to_owned(),
            },
            None => Work::Link,
        };
        let failure = span
            .status
            .as_ref()
            .filter(|s| s.code == StatusCode::Error as i32)
            .map(|s| {
                let message: String = s.message.chars().take(MESSAGE_CHARS).collect();
                if message.is_empty() {
                    attrs
                        .text("error.type", MESSAGE_CHARS)
                        .unwrap_or_else(|| format!("{name} failed"))
                } else {
                    message
                }
            });
        Ok(SpanFact {
            trace: hex::encode(&span.trace_id),
            id: hex::encode(&span.span_id),
            parent: (span.parent_span_id.len() == 8 && span.parent_span_id.iter().any(|b| *b != 0))
                .then(|| hex::encode(&span.parent_span_id)),
            start_ms: nanos_to_ms(span.start_time_unix_nano),
            end_ms: nanos_to_ms(span.end_time_unix_nano.max(span.start_time_unix_nano)),
            agent: AgentRef::from_attrs(&attrs, service),
            usage: token_usage(&attrs, &work),
            work,
            failure,
        })
    }

    /// What a person reads for this step: "web_search", "chat gpt-4o-mini · 1,540 tokens".
    pub fn step_line(&self) -> String {
        let mut line = match &self.work {
            Work::Model { model: Some(model) } => format!("chat {model}"),
            Work::Model { model: None } => "chat".to_owned(),
            Work::Tool { name } | Work::Operation { name } => name.clone(),
            Work::Agent | Work::Link => String::new(),
        };
        if let Some(usage) = &self.usage {
            let tokens = usage.input_tokens + usage.output_tokens;
            line.push_str(&format!(" · {} tokens", grouped(tokens)));
        }
        if let Some(failure) = &self.failure {
            line.push_str(&format!(" · failed: {failure}"));
        }
        line
    }
}

/// Token counts a model call reports (`gen_ai.usage.input_tokens`, `…output_tokens`).
fn token_usage(attrs: &Attrs, work: &Work) -> Option<Usage> {
    let input = attrs.count("gen_ai.usage.input_tokens");
    let output = attrs.count("gen_ai.usage.output_tokens");
    if input.is_none() && output.is_none() {
        return None;
    }
    let model = match work {
        Work::Model { model } => model.clone(),
        _ => None,
    };
    Some(Usage {
        input_tokens: input.unwrap_or(0),
        output_tokens: output.unwrap_or(0),
        cost_usd: 0.0,
        model,
    })
}

fn nanos_to_ms(nanos: u64) -> i64 {
    i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX)
}

/// 1540 → "1,540".
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
    use opentelemetry_proto::tonic::trace::v1::Status;

    fn kv(key: &str, value: Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
            ..KeyValue::default()
        }
    }

    fn span(attrs: Vec<KeyValue>) -> Span {
        Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            parent_span_id: vec![3; 8],
            name: "chat gpt-4o-mini".into(),
            start_time_unix_nano: 1_700_000_000_000_000_000,
            end_time_unix_nano: 1_700_000_001_500_000_000,
            attributes: attrs,
            ..Span::default()
        }
    }

    #[test]
    fn a_model_call_is_a_step_with_its_tokens() {
        let fact = SpanFact::read(
            &span(vec![
                kv("gen_ai.operation.name", Value::StringValue("chat".into())),
                kv(
                    "gen_ai.request.model",
                    Value::StringValue("gpt-4o-mini".into()),
                ),
                kv("gen_ai.usage.input_tokens", Value::IntValue(1200)),
                kv("gen_ai.usage.output_tokens", Value::IntValue(340)),
            ]),
            "svc",
        )
        .unwrap();
        assert_eq!(fact.step_line(), "chat gpt-4o-mini · 1,540 tokens");
        assert_eq!(fact.parent.as_deref(), Some("0303030303030303"));
        assert_eq!(fact.end_ms - fact.start_ms, 1500);
        assert_eq!(fact.agent, None, "it names no agent");
    }

    #[test]
    fn an_agent_is_its_id_or_its_name_at_its_service() {
        let named = SpanFact::read(
            &span(vec![
                kv(
                    "gen_ai.operation.name",
                    Value::StringValue("invoke_agent".into()),
                ),
                kv("gen_ai.agent.name", Value::StringValue("planner".into())),
            ]),
            "trips",
        )
        .unwrap();
        assert_eq!(named.work, Work::Agent);
        assert_eq!(named.agent.unwrap().key, "planner@trips");
        let with_id = SpanFact::read(
            &span(vec![
                kv("gen_ai.agent.id", Value::StringValue("r-7".into())),
                kv("gen_ai.agent.name", Value::StringValue("researcher".into())),
            ]),
            "trips",
        )
        .unwrap();
        let agent = with_id.agent.unwrap();
        assert_eq!(
            (agent.key.as_str(), agent.name.as_str()),
            ("r-7", "researcher")
        );
    }

    #[test]
    fn a_failed_span_says_why_and_bad_ids_are_refused() {
        let mut failed = span(vec![kv(
            "gen_ai.operation.name",
            Value::StringValue("execute_tool".into()),
        )]);
        failed.status = Some(Status {
            message: "timeout".into(),
            code: StatusCode::Error as i32,
        });
        let fact = SpanFact::read(&failed, "svc").unwrap();
        assert_eq!(fact.failure.as_deref(), Some("timeout"));
        assert_eq!(fact.step_line(), "chat gpt-4o-mini · failed: timeout");
        let mut zero = span(vec![]);
        zero.trace_id = vec![0; 16];
        assert!(matches!(
            SpanFact::read(&zero, "svc"),
            Err(SpanProblem::TraceId(_))
        ));
        let mut short = span(vec![]);
        short.span_id = vec![1; 4];
        assert!(matches!(
            SpanFact::read(&short, "svc"),
            Err(SpanProblem::SpanId(_))
        ));
    }

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(1234567), "1,234,567");
    }
}
