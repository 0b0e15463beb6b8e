//! Sim's execution stream, read as it comes: SSE `data:` frames
//! (`{"blockId","chunk"}`, `{"event":"final"|"error",…}`, `"[DONE]"`), each
//! line capped, and a selected block's chunks grouped into readable steps.

use crate::outbound::sanitize;
use serde_json::{Value, json};
use std::collections::HashSet;

/// Characters of a block's streamed text shown in one `step`.
const STEP_CHARS: usize = 280;

/// Counts bytes since the last line break and refuses a line longer than the cap.
pub(super) struct LineCap {
    cap: usize,
    open: std::sync::atomic::AtomicUsize,
}

impl LineCap {
    pub(super) fn new(cap: usize) -> LineCap {
        LineCap {
            cap,
            open: Default::default(),
        }
    }

    pub(super) fn check(&self, chunk: bytes::Bytes) -> Result<bytes::Bytes, String> {
        use std::sync::atomic::Ordering;
        let open = match chunk.iter().rposition(|b| *b == b'\n') {
            Some(at) => chunk.len() - at - 1,
            None => self.open.load(Ordering::Relaxed) + chunk.len(),
        };
        self.open.store(open, Ordering::Relaxed);
        if open > self.cap {
            Err(format!(
                "a line of Sim's stream is longer than {} bytes",
                self.cap
            ))
        } else {
            Ok(chunk)
        }
    }
}

/// One `step` from Sim: a block's text or summary.
#[derive(Debug, PartialEq)]
pub(super) struct BlockStep {
    pub block: Option<String>,
    pub message: String,
}

#[derive(Debug, PartialEq)]
pub(super) enum Frame {
    Chunk { block: String, text: String },
    Final(Value),
    Error(String),
    Done,
    Other,
}

pub(super) fn parse_frame(data: &str) -> Frame {
    let Ok(value) = serde_json::from_str::<Value>(data) else {
        return Frame::Other;
    };
    if value == json!("[DONE]") {
        return Frame::Done;
    }
    if let (Some(block), Some(chunk)) = (
        value.get("blockId").and_then(Value::as_str),
        value.get("chunk"),
    ) {
        let text = chunk
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| chunk.to_string());
        return Frame::Chunk {
            block: block.to_owned(),
            text,
        };
    }
    match value.get("event").and_then(Value::as_str) {
        Some("final") => Frame::Final(value.get("data").cloned().unwrap_or(Value::Null)),
        Some("error") => Frame::Error(sanitize(
            value
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("the workflow failed"),
            500,
        )),
        _ => Frame::Other,
    }
}

/// Groups streamed chunks per block into readable `step` messages.
#[derive(Default)]
pub(super) struct BlockSteps {
    block: Option<String>,
    text: String,
    /// Every block that streamed something.
    pub seen: HashSet<String>,
}

impl BlockSteps {
    /// Adds a chunk; returns a finished step when the block changes or fills up.
    pub(super) fn push(&mut self, block: &str, text: &str) -> Option<BlockStep> {
        let mut finished = None;
        if self.block.as_deref() != Some(block) {
            finished = self.take();
            self.block = Some(block.to_owned());
            self.seen.insert(block.to_owned());
        }
        self.text.push_str(text);
        if finished.is_none() && self.text.chars().count() >= STEP_CHARS {
            finished = self.take();
            self.block = Some(block.to_owned());
        }
        finished
    }

    pub(super) fn take(&mut self) -> Option<BlockStep> {
        let block = self.block.take()?;
        let text = std::mem::take(&mut self.text);
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        Some(BlockStep {
            block: Some(block),
            message: text.chars().take(STEP_CHARS).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_parse_as_sim_sends_them() {
        assert_eq!(
            parse_frame(r#"{"blockId":"agent1","chunk":"Hel"}"#),
            Frame::Chunk {
                block: "agent1".into(),
                text: "Hel".into()
            }
        );
        assert_eq!(parse_frame(r#""[DONE]""#), Frame::Done);
        assert_eq!(
            parse_frame(r#"{"event":"error","error":"Agent 1: rate limited"}"#),
            Frame::Error("Agent 1: rate limited".into())
        );
        assert!(matches!(
            parse_frame(r#"{"event":"final","data":{"success":true}}"#),
            Frame::Final(_)
        ));
    }

    fn step(block: &str, message: &str) -> BlockStep {
        BlockStep {
            block: Some(block.into()),
            message: message.into(),
        }
    }

    #[test]
    fn chunks_group_per_block() {
        let mut blocks = BlockSteps::default();
        assert_eq!(blocks.push("a", "Hel"), None);
        assert_eq!(blocks.push("a", "lo"), None);
        assert_eq!(blocks.push("b", "World"), Some(step("a", "Hello")));
        assert_eq!(blocks.take(), Some(step("b", "World")));
        assert_eq!(blocks.seen.len(), 2);
    }

    #[test]
    fn a_stream_line_has_a_cap() {
        let cap = LineCap::new(10);
        assert!(cap.check(bytes::Bytes::from_static(b"data: 12")).is_ok());
        assert!(cap.check(bytes::Bytes::from_static(b"34\n\n")).is_ok());
        assert!(
            cap.check(bytes::Bytes::from_static(b"data: 0123456789"))
                .is_err()
        );
    }

    mod properties {
        use super::*;
        use crate::properties::{json_value, text};
        use proptest::prelude::*;

        proptest! {
            /// Any stream frame is read as something, never a panic; a chunk
            /// is only ever a frame that names its block.
            #[test]
            fn any_frame_is_read(data in prop_oneof![text(), json_value().prop_map(|v| v.to_string())]) {
                if let Frame::Chunk { block, .. } = parse_frame(&data) {
                    let value: Value = serde_json::from_str(&data).unwrap();
                    prop_assert_eq!(value["blockId"].as_str(), Some(block.as_str()));
                }
            }

            /// Lines of any length up to the cap pass, longer ones are refused.
            #[test]
            fn the_line_cap_counts_every_byte(chunks in prop::collection::vec(prop::collection::vec(prop_oneof![Just(b'\n'), any::<u8>()], 0..40), 0..20)) {
                let cap = LineCap::new(32);
                let mut open = 0usize;
                for chunk in chunks {
                    open = match chunk.iter().rposition(|b| *b == b'\n') {
                        Some(at) => chunk.len() - at - 1,
                        None => open + chunk.len(),
                    };
                    let result = cap.check(bytes::Bytes::from(chunk));
                    prop_assert_eq!(result.is_ok(), open <= 32);
                    if result.is_err() {
                        break;
                    }
                }
            }
        }
    }
}
