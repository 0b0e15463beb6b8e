//! Sim's execution log, read as steps: the trace spans of a finished run,
//! one `step` per block in the order it ran ("Agent 1 finished in 1.2 s"),
//! loop and parallel iterations named, the trigger block left out.

use super::stream::BlockStep;
use crate::outbound::sanitize;
use serde_json::Value;
use std::collections::HashSet;

/// Block types that start a workflow: the `started` event already says it.
const TRIGGER_TYPES: [&str; 5] = [
    "starter",
    "start_trigger",
    "trigger",
    "api_trigger",
    "input_trigger",
];

/// Whether Sim has finished writing the log entry (`endedAt` set).
pub(super) fn log_has_ended(log: &Value) -> bool {
    log.pointer("/data/0/endedAt")
        .is_some_and(|ended| !ended.is_null())
}

/// The trace spans of Sim's log entry (`{data: [{traceSpans: [...]}]}`) as
/// steps: "Agent 1 finished in 1.2 s", "Fetch page (iteration 3) failed after
/// 0.1 s: …". Spans without a `blockId` are containers (the workflow, a loop
/// or parallel, one of its iterations): their blocks are walked, named with
/// the iteration they ran in. Trigger blocks (Start) are left out: `started`
/// says it already.
pub(super) fn block_summaries(log: &Value, streamed: &HashSet<String>) -> Vec<BlockStep> {
    let mut blocks = Vec::new();
    if let Some(spans) = log.pointer("/data/0/traceSpans").and_then(Value::as_array) {
        for span in spans {
            collect_blocks(span, &mut Vec::new(), &mut blocks);
        }
    }
    blocks.sort_by_key(|(span, _)| {
        (
            span.get("executionOrder")
                .and_then(Value::as_u64)
                .unwrap_or(u64::MAX),
            span.get("startTime")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
        )
    });
    blocks
        .into_iter()
        .filter_map(|(span, iterations)| {
            let block = span.get("blockId").and_then(Value::as_str)?;
            let kind = span.get("type").and_then(Value::as_str).unwrap_or("");
            if streamed.contains(block) || TRIGGER_TYPES.contains(&kind) {
                return None;
            }
            let mut name = span
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or(block)
                .to_owned();
            if !iterations.is_empty() {
                name = format!("{name} (iteration {})", iterations.join("/"));
            }
            let seconds = span.get("duration").and_then(Value::as_f64).unwrap_or(0.0) / 1000.0;
            let failed = span.get("status").and_then(Value::as_str) == Some("error");
            let handled = span.get("errorHandled").and_then(Value::as_bool) == Some(true);
            let error = || {
                sanitize(
                    span.pointer("/output/error")
                        .and_then(Value::as_str)
                        .unwrap_or("error"),
                    300,
                )
            };
            let message = match (failed, handled) {
                (true, true) => format!(
                    "{name} hit an error after {seconds:.1} s, handled by the workflow: {}",
                    error()
                ),
                (true, false) => format!("{name} failed after {seconds:.1} s: {}", error()),
                _ => format!("{name} finished in {seconds:.1} s"),
            };
            Some(BlockStep {
                block: Some(block.to_owned()),
                message,
            })
        })
        .collect()
}

/// Walks containers down to their blocks, noting the iteration each ran in.
fn collect_blocks<'a>(
    span: &'a Value,
    iterations: &mut Vec<String>,
    out: &mut Vec<(&'a Value, Vec<String>)>,
) {
    if span.get("blockId").is_some() {
        let mut iterations = iterations.clone();
        // Older logs mark iterations on the block itself.
        if iterations.is_empty()
            && let Some(index) = span.get("iterationIndex").and_then(Value::as_u64)
        {
            iterations.push(index.to_string());
        }
        out.push((span, iterations));
        return;
    }
    let iteration = span
        .get("type")
        .and_then(Value::as_str)
        .filter(|kind| kind.ends_with("-iteration"))
        .and_then(|_| span.get("name").and_then(Value::as_str))
        .and_then(|name| name.strip_prefix("Iteration "))
        .map(str::to_owned);
    if let Some(index) = &iteration {
        iterations.push(index.clone());
    }
    for child in span
        .get("children")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        collect_blocks(child, iterations, out);
    }
    if iteration.is_some() {
        iterations.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn step(block: &str, message: &str) -> BlockStep {
        BlockStep {
            block: Some(block.into()),
            message: message.into(),
        }
    }

    fn log(spans: Value) -> Value {
        json!({"data": [{"endedAt": "2026-01-01T00:00:02Z", "traceSpans": [{
            "name": "Workflow Execution", "type": "workflow", "children": spans}]}]})
    }

    #[test]
    fn trace_spans_become_block_steps_in_run_order_without_the_start_block() {
        let log = log(json!([
            {"blockId": "b2", "name": "Function 1", "type": "function", "duration": 120, "status": "error",
             "executionOrder": 3, "output": {"error": "x is not defined"}},
            {"blockId": "b1", "name": "Agent 1", "type": "agent", "duration": 1500, "status": "success",
             "executionOrder": 2, "children": [{"name": "gpt-4o", "type": "model", "duration": 1400}]},
            {"blockId": "b0", "name": "Start", "type": "start_trigger", "duration": 1, "status": "success",
             "executionOrder": 1}
        ]));
        assert_eq!(
            block_summaries(&log, &HashSet::new()),
            [
                step("b1", "Agent 1 finished in 1.5 s"),
                step("b2", "Function 1 failed after 0.1 s: x is not defined")
            ]
        );
        let streamed = HashSet::from(["b1".to_owned()]);
        assert_eq!(block_summaries(&log, &streamed).len(), 1);
        assert!(block_summaries(&json!({"data": []}), &streamed).is_empty());
    }

    #[test]
    fn loop_iterations_are_walked_and_named() {
        // Sim groups a loop's blocks under "Loop 1" → "Iteration N" spans without a blockId.
        let log = log(json!([
            {"blockId": "s", "name": "Start", "type": "starter", "executionOrder": 1, "duration": 1},
            {"id": "loop-execution-L", "name": "Loop 1", "type": "loop", "status": "success", "children": [
                {"name": "Iteration 0", "type": "loop-iteration", "children": [
                    {"blockId": "f", "name": "Fetch page", "type": "api", "executionOrder": 2,
                     "duration": 400, "status": "success", "loopId": "L", "iterationIndex": 0}]},
                {"name": "Iteration 1", "type": "loop-iteration", "children": [
                    {"blockId": "f", "name": "Fetch page", "type": "api", "executionOrder": 3,
                     "duration": 250, "status": "error", "errorHandled": true,
                     "output": {"error": "timeout"}, "loopId": "L", "iterationIndex": 1}]}
            ]},
            {"blockId": "d", "name": "Summarise", "type": "function", "executionOrder": 4,
             "duration": 50, "status": "success"}
        ]));
        assert_eq!(
            block_summaries(&log, &HashSet::new()),
            [
                step("f", "Fetch page (iteration 0) finished in 0.4 s"),
                step(
                    "f",
                    "Fetch page (iteration 1) hit an error after 0.2 s, handled by the workflow: timeout"
                ),
                step("d", "Summarise finished in 0.1 s"),
            ]
        );
    }

    #[test]
    fn an_unfinished_log_is_not_read() {
        assert!(!log_has_ended(
            &json!({"data": [{"endedAt": null, "traceSpans": []}]})
        ));
        assert!(!log_has_ended(&json!({"data": []})));
        assert!(log_has_ended(&log(json!([]))));
    }

    mod properties {
        use super::*;
        use crate::properties::{json_value, text};
        use proptest::prelude::*;

        proptest! {
            /// Any execution log becomes steps of blocks it names, none streamed.
            #[test]
            fn any_log_summarises_to_its_own_blocks(spans in json_value(), streamed in prop::collection::hash_set(text(), 0..3)) {
                let log = json!({"data": [{"endedAt": "x", "traceSpans": spans}]});
                let text = log.to_string();
                for step in block_summaries(&log, &streamed) {
                    let block = step.block.expect("a block step names its block");
                    prop_assert!(!streamed.contains(&block));
                    prop_assert!(text.contains(&serde_json::to_string(&block).unwrap()));
                }
            }

        }
    }
}
