//! Strategies for property tests of the parsers that take outside input.

use proptest::prelude::*;
use serde_json::{Map, Value};

/// Any JSON value, a few levels deep, with keys and strings that often hit
/// the names the parsers look for.
pub fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Keys the parsers care about, and any others.
pub fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "npc", "type", "run_id", "ts", "data", "message", "error", "question", "options",
            "id", "agent", "webhookUrl", "flow", "workflowId", "simOutputs", "desk", "name",
            "blockId", "chunk", "event", "status", "children", "traceSpans", "endedAt",
            "executionOrder", "duration", "errorHandled", "iterationIndex", "output", "type",
            "deadlineSecs", "studioUrl", "webhookToken", "secret", "role",
        ])
        .prop_map(str::to_owned),
        1 => text(),
    ]
}

/// Short text, often one of the values the parsers look for.
pub fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => prop::sample::select(vec![
            "", "a", "step", "started", "done", "error", "awaiting", "response", "roster",
            "final", "[DONE]", "http://x/", "https://sim.example/hook", "2025-11-07T12:00:00Z",
            "loop", "loop-iteration", "Iteration 2", "start_trigger", "*", "run_1",
        ])
        .prop_map(str::to_owned),
        1 => "\\PC{0,12}",
        1 => any::<String>(),
    ]
}
