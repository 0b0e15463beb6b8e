//! Claude Code's OpenTelemetry log events into runs: each session
//! (`session.id`) is a character, each prompt (`claude_code.user_prompt`)
//! starts a run, its model calls (`claude_code.api_request`, with
//! `cost_usd` and tokens) and tool calls (`claude_code.tool_result`) are its
//! steps. Claude Code reports no "turn ended": a run ends at the session's
//! next prompt, or once the session has been quiet for a while.

use super::assemble::Happening;
use super::attrs::Attrs;
use super::spans::{AgentRef, MESSAGE_CHARS, NAME_CHARS, grouped};
use lru::LruCache;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use protocol::{EventKind, Usage};
use serde_json::{Map, Value, json};
use std::num::NonZeroUsize;

/// What one Claude Code event said.
#[derive(Clone, Debug, PartialEq)]
pub enum Said {
    Prompt {
        text: Option<String>,
        length: Option<u64>,
    },
    ModelCall {
        usage: Usage,
        duration_ms: Option<u64>,
    },
    ModelError {
        message: String,
    },
    Tool {
        name: String,
        success: Option<bool>,
        duration_ms: Option<u64>,
        error: Option<String>,
    },
    Decision {
        tool: String,
        decision: String,
    },
}

/// One Claude Code log record, read.
#[derive(Clone, Debug, PartialEq)]
pub struct ClaudeRecord {
    pub session: String,
    pub user: Option<String>,
    pub ts_ms: i64,
    /// What makes it one event (its `event.sequence`, else its time and name).
    pub mark: String,
    pub said: Said,
}

/// The event's name: `event_name`, the `event.name` attribute or the body,
/// without the `claude_code.` prefix.
fn event_name(record: &LogRecord, attrs: &Attrs) -> Option<String> {
    let named = (!record.event_name.is_empty())
        .then(|| record.event_name.clone())
        .or_else(|| attrs.text("event.name", NAME_CHARS))
        .or_else(
            || match record.body.as_ref().and_then(|b| b.value.as_ref()) {
                Some(AnyValue::StringValue(s)) => Some(s.chars().take(NAME_CHARS).collect()),
                _ => None,
            },
        )?;
    Some(named.trim_start_matches("claude_code.").to_owned())
}

impl ClaudeRecord {
    /// A record of a Claude Code session, or None for any other log record.
    pub fn read(record: &LogRecord, resource: &Attrs) -> Option<ClaudeRecord> {
        let attrs = Attrs(&record.attributes);
        let session = attrs
            .text("session.id", NAME_CHARS)
            .or_else(|| resource.text("session.id", NAME_CHARS))?;
        let name = event_name(record, &attrs)?;
        let said = match name.as_str() {
            "user_prompt" => Said::Prompt {
                text: attrs.text("prompt", 200),
                length: attrs.count("prompt_length"),
            },
            "api_request" => Said::ModelCall {
                usage: Usage {
                    input_tokens: attrs.count("input_tokens").unwrap_or(0)
                        + attrs.count("cache_read_tokens").unwrap_or(0)
                        + attrs.count("cache_creation_tokens").unwrap_or(0),
                    output_tokens: attrs.count("output_tokens").unwrap_or(0),
                    cost_usd: attrs.amount("cost_usd").unwrap_or(0.0).min(1_000_000.0),
                    model: attrs.text("model", NAME_CHARS),
                },
                duration_ms: attrs.count("duration_ms"),
            },
            "api_error" => Said::ModelError {
                message: attrs
                    .text("error", MESSAGE_CHARS)
                    .unwrap_or_else(|| "the model call failed".into()),
            },
            "tool_result" => Said::Tool {
                name: attrs.text("tool_name", NAME_CHARS)?,
                success: attrs.flag("success"),
                duration_ms: attrs.count("duration_ms"),
                error: attrs.text("error", MESSAGE_CHARS),
            },
            "tool_decision" => Said::Decision {
                tool: attrs.text("tool_name", NAME_CHARS)?,
                decision: attrs.text("decision", NAME_CHARS)?,
            },
            _ => return None,
        };
        let nanos = if record.time_unix_nano > 0 {
            record.time_unix_nano
        } else {
            record.observed_time_unix_nano
        };
        let mark = attrs
            .text("event.sequence", 32)
            .unwrap_or_else(|| format!("{nanos}-{name}"));
        Some(ClaudeRecord {
            session,
            user: attrs
                .text("user.email", NAME_CHARS)
                .and_then(|e| e.split('@').next().map(str::to_owned)),
            ts_ms: i64::try_from(nanos / 1_000_000).unwrap_or(0),
            mark,
            said,
        })
    }
}

struct Open {
    run: String,
    agent: AgentRef,
    last_ms: i64,
}

/// The open prompt of each session.
pub struct Sessions {
    open: LruCache<String, Open>,
    quiet_ms: i64,
}

/// Sessions remembered at once.
const SESSIONS: usize = 10_000;

impl Sessions {
    pub fn new(quiet_ms: i64) -> Sessions {
        Sessions {
            open: LruCache::new(NonZeroUsize::new(SESSIONS).expect("non-zero")),
            quiet_ms,
        }
    }

    /// One export's records, arrived at `now_ms` (quiet counts from then:
    /// Claude Code exports its events every few seconds).
    pub fn take(&mut self, mut records: Vec<ClaudeRecord>, now_ms: i64) -> Vec<Happening> {
        records.sort_by_key(|r| r.ts_ms);
        let mut told = Vec::new();
        for record in records {
            self.tell(record, now_ms, &mut told);
        }
        told
    }

    /// Ends the runs of sessions quiet for long enough.
    pub fn tick(&mut self, now_ms: i64) -> Vec<Happening> {
        let quiet: Vec<String> = self
            .open
            .iter()
            .filter(|(_, open)| now_ms - open.last_ms >= self.quiet_ms)
            .map(|(session, _)| session.clone())
            .collect();
        let mut told = Vec::new();
        for session in quiet {
            if let Some(open) = self.open.pop(&session) {
                let secs = self.quiet_ms / 1000;
                told.push(end(open, now_ms, format!("quiet for {secs} s")));
            }
        }
        told
    }

    fn tell(&mut self, record: ClaudeRecord, now_ms: i64, told: &mut Vec<Happening>) {
        let agent = session_agent(&record);
        let key = format!("cc:{}:{}", record.session, record.mark);
        if let Said::Prompt { text, length } = &record.said {
            if let Some(open) = self.open.pop(&record.session) {
                told.push(end(
                    open,
                    record.ts_ms,
                    "answered; a new prompt came".into(),
                ));
            }
            let run = run_id(&record.session, &record.mark);
            let message = match (text, length) {
                (Some(text), _) => format!("prompt: {text}"),
                (None, Some(n)) => format!("a prompt of {n} characters"),
                (None, None) => "a prompt".to_owned(),
            };
            told.push(happening(
                &agent,
                EventKind::Started,
                &run,
                record.ts_ms,
                message,
                None,
                key,
            ));
            self.open.put(
                record.session.clone(),
                Open {
                    run,
                    agent,
                    last_ms: now_ms,
                },
            );
            return;
        }
        let run = match self.open.get_mut(&record.session) {
            Some(open) => {
                open.last_ms = now_ms;
                open.run.clone()
            }
            None => {
                // Work with no prompt seen (the gateway started mid-session).
                let run = run_id(&record.session, &record.mark);
                told.push(happening(
                    &agent,
                    EventKind::Started,
                    &run,
                    record.ts_ms,
                    "working".into(),
                    None,
                    format!("cc:{run}:started"),
                ));
                self.open.put(
                    record.session.clone(),
                    Open {
                        run: run.clone(),
                        agent: agent.clone(),
                        last_ms: now_ms,
                    },
                );
                run
            }
        };
        let (line, usage) = step_line(&record.said);
        told.push(happening(
            &agent,
            EventKind::Step,
            &run,
            record.ts_ms,
            line,
            usage,
            key,
        ));
    }
}

fn session_agent(record: &ClaudeRecord) -> AgentRef {
    let short: String = record.session.chars().take(6).collect();
    let name = match &record.user {
        Some(user) => format!("Claude Code · {user} · {short}"),
        None => format!("Claude Code {short}"),
    };
    AgentRef {
        key: format!("claude-code:{}", record.session),
        name,
        service: "claude-code".into(),
    }
}

fn run_id(session: &str, mark: &str) -> String {
    let short: String = session
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(36)
        .collect();
    let mark: String = mark
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(40)
        .collect();
    format!("cc-{short}-{mark}")
}

fn step_line(said: &Said) -> (String, Option<Usage>) {
    match said {
        Said::ModelCall { usage, duration_ms } => {
            let mut line = usage.model.clone().unwrap_or_else(|| "model".into());
            line.push_str(&format!(
                " · {} tokens",
                grouped(usage.input_tokens + usage.output_tokens)
            ));
            if usage.cost_usd > 0.0 {
                line.push_str(&format!(" · ${:.4}", usage.cost_usd));
            }
            if let Some(ms) = duration_ms {
                line.push_str(&format!(" · {:.1} s", *ms as f64 / 1000.0));
            }
            (line, Some(usage.clone()))
        }
        Said::ModelError { message } => (format!("model error: {message}"), None),
        Said::Tool {
            name,
            success,
            duration_ms,
            error,
        } => {
            let mut line = match (success, error) {
                (Some(false), Some(error)) => format!("{name} failed: {error}"),
                (Some(false), None) => format!("{name} failed"),
                _ => format!("{name} ✓"),
            };
            if let Some(ms) = duration_ms {
                line.push_str(&format!(" · {:.1} s", *ms as f64 / 1000.0));
            }
            (line, None)
        }
        Said::Decision { tool, decision } => (format!("{tool}: {decision}"), None),
        Said::Prompt { .. } => unreachable!("a prompt starts a run"),
    }
}

fn end(open: Open, ts_ms: i64, why: String) -> Happening {
    let key = format!("cc:{}:end", open.run);
    happening(
        &open.agent,
        EventKind::Done,
        &open.run,
        ts_ms,
        why,
        None,
        key,
    )
}

fn happening(
    agent: &AgentRef,
    kind: EventKind,
    run: &str,
    ts_ms: i64,
    message: String,
    usage: Option<Usage>,
    key: String,
) -> Happening {
    let mut data = Map::from_iter([("message".to_owned(), json!(message))]);
    if let Some(usage) = usage {
        data.insert(
            "usage".into(),
            serde_json::to_value(usage).expect("usage serializes"),
        );
    }
    Happening {
        agent: agent.clone(),
        parent: None,
        kind,
        run: run.to_owned(),
        ts_ms,
        data: data.into_iter().collect::<Map<String, Value>>(),
        key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{AnyValue as Any, KeyValue};

    fn kv(key: &str, value: AnyValue) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(Any { value: Some(value) }),
            ..KeyValue::default()
        }
    }

    fn s(v: &str) -> AnyValue {
        AnyValue::StringValue(v.into())
    }

    fn record(name: &str, seq: i64, ms: u64, mut attrs: Vec<KeyValue>) -> LogRecord {
        attrs.push(kv("session.id", s("3f2a9c11-aaaa")));
        attrs.push(kv("event.name", s(name)));
        attrs.push(kv("event.sequence", AnyValue::IntValue(seq)));
        LogRecord {
            time_unix_nano: ms * 1_000_000,
            body: Some(Any {
                value: Some(s(&format!("claude_code.{name}"))),
            }),
            attributes: attrs,
            ..LogRecord::default()
        }
    }

    fn read(records: &[LogRecord]) -> Vec<ClaudeRecord> {
        records
            .iter()
            .filter_map(|r| ClaudeRecord::read(r, &Attrs(&[])))
            .collect()
    }

    #[test]
    fn a_session_is_a_character_whose_prompts_are_runs() {
        let records = read(&[
            record("user_prompt", 1, 1_000, vec![kv("prompt_length", s("42"))]),
            record(
                "api_request",
                2,
                3_000,
                vec![
                    kv("model", s("claude-sonnet-4-5")),
                    kv("cost_usd", AnyValue::DoubleValue(0.0123)),
                    kv("input_tokens", s("1200")),
                    kv("output_tokens", s("340")),
                    kv("duration_ms", s("2100")),
                ],
            ),
            record(
                "tool_result",
                3,
                4_000,
                vec![
                    kv("tool_name", s("Bash")),
                    kv("success", s("true")),
                    kv("duration_ms", s("1200")),
                ],
            ),
            record("user_prompt", 4, 9_000, vec![]),
        ]);
        let mut sessions = Sessions::new(60_000);
        let told = sessions.take(records, 9_000);
        let lines: Vec<_> = told
            .iter()
            .map(|h| format!("{} {}", h.kind, h.data["message"].as_str().unwrap()))
            .collect();
        assert_eq!(
            lines,
            [
                "started a prompt of 42 characters",
                "step claude-sonnet-4-5 · 1,540 tokens · $0.0123 · 2.1 s",
                "step Bash ✓ · 1.2 s",
                "done answered; a new prompt came",
                "started a prompt",
            ]
        );
        assert_eq!(told[0].agent.name, "Claude Code 3f2a9c");
        assert_eq!(told[1].data["usage"]["cost_usd"], 0.0123);
        assert_eq!(told[0].run, told[3].run);
        assert_ne!(told[0].run, told[4].run);
        // Quiet long enough: the last prompt's run ends.
        assert!(sessions.tick(60_000).is_empty());
        let ended = sessions.tick(69_000);
        assert_eq!(ended[0].kind, EventKind::Done);
        assert_eq!(ended[0].run, told[4].run);
    }

    #[test]
    fn other_log_records_are_not_claude_code() {
        let mut plain = record("user_prompt", 1, 1, vec![]);
        plain.attributes.retain(|kv| kv.key != "session.id");
        assert!(read(&[plain]).is_empty());
        assert!(read(&[record("something_else", 1, 1, vec![])]).is_empty());
    }
}
