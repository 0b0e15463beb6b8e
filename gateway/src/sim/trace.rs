//! Sim's execution log, read as steps: the trace spans of a finished run,
//! one `step` per block in the order it ran ("Agent 1 finished in 1.2 s"),
//! loop and parallel iterations named, the trigger block left out.

use crate::outbound::sanitize;
use protocol::Usage;
use serde_json::Value;

/// Block types whose span is not a step: triggers (`started` says it) and
/// the Human in the Loop block (its question says it; Sim logs its span
/// once, at the pause).
const NOT_STEPS: [&str; 7] = [
    "starter",
    "start_trigger",
    "trigger",
    "api_trigger",
    "input_trigger",
    "generic_webhook",
    "human_in_the_loop",
];

/// One block's run, as a step: "Agent 1 finished in 1.2 s".
#[derive(Debug, Clone, PartialEq)]
pub struct SpanStep {
    /// The span's id, to tell a step already reported (a run that paused
    /// and went on is logged whole again).
    pub span: String,
    pub block: String,
    pub message: String,
    /// When the block ended (RFC 3339), if Sim says.
    pub ended_at: Option<String>,
}

/// Whether Sim has finished writing the execution's log row (`endedAt` set).
pub fn has_ended(execution: &Value) -> bool {
    execution
        .get("endedAt")
        .is_some_and(|ended| !ended.is_null())
}

/// Whether the execution stopped at a Human in the Loop block
/// (`logging-session.ts` writes `finalOutput: {paused: true}`).
pub fn is_paused(execution: &Value) -> bool {
    execution
        .pointer("/finalOutput/paused")
        .and_then(Value::as_bool)
        == Some(true)
}

/// The trace spans of an execution's log row (`{traceSpans: [...]}`) as
/// steps: "Agent 1 finished in 1.2 s", "Fetch page (iteration 3) failed after
/// 0.1 s: …". Spans without a `blockId` are containers (the workflow, a loop
/// or parallel, one of its iterations): their blocks are walked, named with
/// the iteration they ran in. Trigger blocks (Start) are left out: `started`
/// says it already.
pub fn block_steps(execution: &Value) -> Vec<SpanStep> {
    let mut blocks = block_spans(execution);
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
            if NOT_STEPS.contains(&kind) {
                return None;
            }
            Some(SpanStep {
                span: span_key(span, block, &iterations),
                block: block.to_owned(),
                message: step_message(span, block, &iterations),
                ended_at: span
                    .get("endTime")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            })
        })
        .collect()
}

/// What a person reads of a block's span.
fn step_message(span: &Value, block: &str, iterations: &[String]) -> String {
    let mut name = span
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or(block)
        .to_owned();
    if !iterations.is_empty() {
        name = format!("{name} (iteration {})", iterations.join("/"));
    }
    let millis = span
        .get("duration")
        .or_else(|| span.get("durationMs"))
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    let seconds = millis / 1000.0;
    let failed = span.get("status").and_then(Value::as_str) == Some("error");
    let handled = span.get("errorHandled").and_then(Value::as_bool) == Some(true);
    let tokens = tokens_of(span).filter(|t| t.0 + t.1 > 0);
    let error = || sanitize(span_error(span).unwrap_or("error"), 300);
    let mut message = match (failed, handled) {
        (true, true) => format!(
            "{name} hit an error after {seconds:.1} s, handled by the workflow: {}",
            error()
        ),
        (true, false) => format!("{name} failed after {seconds:.1} s: {}", error()),
        _ => format!("{name} finished in {seconds:.1} s"),
    };
    if let Some((input, output)) = tokens {
        message.push_str(&format!(" · {} tokens", input + output));
    }
    message
}

fn span_error(span: &Value) -> Option<&str> {
    span.pointer("/output/error")
        .or_else(|| span.get("errorMessage"))
        .and_then(Value::as_str)
}

/// A span's identity across reads of the same execution.
fn span_key(span: &Value, block: &str, iterations: &[String]) -> String {
    match span.get("id").and_then(Value::as_str) {
        Some(id) => id.to_owned(),
        None => format!(
            "{block}#{}#{}",
            span.get("executionOrder")
                .and_then(Value::as_u64)
                .unwrap_or(0),
            iterations.join("/")
        ),
    }
}

/// Block spans with the iterations they ran in.
fn block_spans(execution: &Value) -> Vec<(&Value, Vec<String>)> {
    let mut blocks = Vec::new();
    for span in execution
        .get("traceSpans")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        collect_blocks(span, &mut Vec::new(), &mut blocks);
    }
    blocks
}

/// A span's tokens, `(input, output)`: Sim writes a number (the total) or
/// `{input, output, total}`.
fn tokens_of(span: &Value) -> Option<(u64, u64)> {
    let count = |v: Option<&Value>| v.and_then(Value::as_f64).map(|n| n.max(0.0) as u64);
    match span.get("tokens")? {
        Value::Object(parts) => {
            let input = count(parts.get("input").or_else(|| parts.get("prompt")));
            let output = count(parts.get("output").or_else(|| parts.get("completion")));
            match (input, output) {
                (None, None) => Some((0, count(parts.get("total")).unwrap_or(0))),
                (i, o) => Some((i.unwrap_or(0), o.unwrap_or(0))),
            }
        }
        total => Some((0, count(Some(total)).unwrap_or(0))),
    }
}

/// What the execution cost, as Sim logged it: the row's `cost.total` and
/// the tokens of its block spans (children are parts of their block and
/// not counted again). None when Sim logged neither.
pub fn usage(execution: &Value) -> Option<Usage> {
    let cost = execution.pointer("/cost/total").and_then(Value::as_f64);
    let mut tokens = None::<(u64, u64)>;
    let mut model = None;
    for (span, _) in block_spans(execution) {
        if let Some((input, output)) = tokens_of(span) {
            let sum = tokens.get_or_insert((0, 0));
            sum.0 += input;
            sum.1 += output;
        }
        if model.is_none() {
            model = span
                .get("model")
                .or_else(|| span.pointer("/output/model"))
                .and_then(Value::as_str)
                .map(|m| sanitize(m, 64));
        }
    }
    if cost.is_none() && tokens.is_none() {
        return None;
    }
    let (input_tokens, output_tokens) = tokens.unwrap_or((0, 0));
    Some(Usage {
        input_tokens,
        output_tokens,
        cost_usd: cost.unwrap_or(0.0).max(0.0),
        model,
    })
}

/// Why an execution failed, when its log says it did (`level: "error"`):
/// the first unhandled failing block ("Function 1: x is not defined"), else
/// the final output's error.
pub fn failure(execution: &Value) -> Option<String> {
    if execution.get("level").and_then(Value::as_str) != Some("error") {
        return None;
    }
    let mut spans = block_spans(execution);
    spans.sort_by_key(|(span, _)| {
        span.get("executionOrder")
            .and_then(Value::as_u64)
            .unwrap_or(u64::MAX)
    });
    let block = spans.into_iter().find_map(|(span, _)| {
        let failed = span.get("status").and_then(Value::as_str) == Some("error")
            && span.get("errorHandled").and_then(Value::as_bool) != Some(true);
        failed.then(|| {
            let name = span
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("a block");
            format!("{name}: {}", span_error(span).unwrap_or("error"))
        })
    });
    let said = block.or_else(|| {
        execution
            .pointer("/finalOutput/error")
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    Some(sanitize(
        said.as_deref().unwrap_or("the workflow failed"),
        500,
    ))
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

    fn messages(execution: &Value) -> Vec<(String, String)> {
        block_steps(execution)
            .into_iter()
            .map(|s| (s.block, s.message))
            .collect()
    }

    fn pair(block: &str, message: &str) -> (String, String) {
        (block.into(), message.into())
    }

    fn execution(spans: Value) -> Value {
        json!({"endedAt": "2026-01-01T00:00:02Z", "traceSpans": [{
            "name": "Workflow Execution", "type": "workflow", "children": spans}]})
    }

    #[test]
    fn trace_spans_become_block_steps_in_run_order_without_the_start_block() {
        let log = execution(json!([
            {"id": "s2", "blockId": "b2", "name": "Function 1", "type": "function", "duration": 120, "status": "error",
             "executionOrder": 3, "output": {"error": "x is not defined"}},
            {"id": "s1", "blockId": "b1", "name": "Agent 1", "type": "agent", "duration": 1500, "status": "success",
             "executionOrder": 2, "tokens": {"input": 1200, "output": 340, "total": 1540},
             "children": [{"name": "gpt-4o", "type": "model", "duration": 1400, "tokens": 1540}]},
            {"blockId": "b0", "name": "Start", "type": "start_trigger", "duration": 1, "status": "success",
             "executionOrder": 1}
        ]));
        assert_eq!(
            messages(&log),
            [
                pair("b1", "Agent 1 finished in 1.5 s · 1540 tokens"),
                pair("b2", "Function 1 failed after 0.1 s: x is not defined")
            ]
        );
        let spans: Vec<String> = block_steps(&log).into_iter().map(|s| s.span).collect();
        assert_eq!(spans, ["s1", "s2"]);
        assert!(block_steps(&json!({})).is_empty());
    }

    #[test]
    fn loop_iterations_are_walked_and_named() {
        // Sim groups a loop's blocks under "Loop 1" → "Iteration N" spans without a blockId.
        let log = execution(json!([
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
            messages(&log),
            [
                pair("f", "Fetch page (iteration 0) finished in 0.4 s"),
                pair(
                    "f",
                    "Fetch page (iteration 1) hit an error after 0.2 s, handled by the workflow: timeout"
                ),
                pair("d", "Summarise finished in 0.1 s"),
            ]
        );
        let keys: Vec<String> = block_steps(&log).into_iter().map(|s| s.span).collect();
        assert_eq!(keys.len(), 3);
        assert_ne!(keys[0], keys[1], "iterations of one block are told apart");
    }

    #[test]
    fn usage_is_the_logged_cost_and_the_blocks_tokens_counted_once() {
        let log = json!({"cost": {"total": 0.0042}, "traceSpans": [{"name": "Workflow Execution", "children": [
            {"blockId": "a", "name": "Agent 1", "type": "agent", "model": "gpt-4o-mini",
             "tokens": {"input": 1000, "output": 500, "total": 1500},
             "children": [{"name": "model", "tokens": 1500}]},
            {"blockId": "b", "name": "Agent 2", "type": "agent", "tokens": 40}
        ]}]});
        assert_eq!(
            usage(&log),
            Some(Usage {
                input_tokens: 1000,
                output_tokens: 540,
                cost_usd: 0.0042,
                model: Some("gpt-4o-mini".into())
            })
        );
        assert_eq!(usage(&json!({"cost": null, "traceSpans": []})), None);
    }

    #[test]
    fn an_unfinished_log_is_not_read_and_a_pause_and_a_failure_are_told() {
        assert!(!has_ended(&json!({"endedAt": null, "traceSpans": []})));
        assert!(has_ended(&execution(json!([]))));
        assert!(is_paused(&json!({"finalOutput": {"paused": true}})));
        assert!(!is_paused(&json!({"finalOutput": {"result": 1}})));
        let failed = json!({"level": "error", "traceSpans": [
            {"blockId": "h", "name": "Try", "status": "error", "errorHandled": true, "executionOrder": 1,
             "output": {"error": "handled"}},
            {"blockId": "f", "name": "Function 1", "status": "error", "executionOrder": 2,
             "output": {"error": "x is not defined"}}]});
        assert_eq!(
            failure(&failed).as_deref(),
            Some("Function 1: x is not defined")
        );
        assert_eq!(failure(&json!({"level": "info"})), None);
        assert_eq!(
            failure(&json!({"level": "error", "finalOutput": {"error": "timed out"}})).as_deref(),
            Some("timed out")
        );
    }

    mod properties {
        use super::*;
        use crate::properties::json_value;
        use proptest::prelude::*;

        proptest! {
            /// Any execution log becomes steps of blocks it names, and any usage it gives is sane.
            #[test]
            fn any_log_summarises_to_its_own_blocks(spans in json_value(), cost in json_value()) {
                let log = json!({"endedAt": "x", "traceSpans": spans, "cost": cost});
                let text = log.to_string();
                for step in block_steps(&log) {
                    prop_assert!(text.contains(&serde_json::to_string(&step.block).unwrap()));
                }
                if let Some(usage) = usage(&log) {
                    prop_assert!(usage.cost_usd >= 0.0 && usage.cost_usd.is_finite());
                }
            }
        }
    }
}
