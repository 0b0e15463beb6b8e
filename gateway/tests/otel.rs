//! OpenTelemetry in: an agent instrumented with the official Python SDK
//! walks in through OTLP/HTTP (protobuf, gzip), with its tool call, its
//! sub-agent and its tokens; a JSON export, a gzip one and a replay; a
//! recorded Claude Code session; and everything OTLP refuses.

use esprit_testkit::TestGateway;
use gateway::auth::{AgentScope, Identity, Role};
use gateway::core::npc_for;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PUBLISHER: &str = "pia-publishes-spans";
const VIEWER: &str = "vera-views-the-office";
const OPERATOR: &str = "olga-operates-agents";

fn people(config: &mut gateway::Config) {
    let person = |subject: &str, role, agents| Identity {
        subject: subject.into(),
        role,
        agents,
    };
    config
        .auth
        .tokens
        .insert(PUBLISHER, person("pia", Role::Publisher, AgentScope::All));
    config
        .auth
        .tokens
        .insert(VIEWER, person("vera", Role::Viewer, AgentScope::All));
    config
        .auth
        .tokens
        .insert(OPERATOR, person("olga", Role::Operator, AgentScope::All));
    config.auth.tokens.insert(
        "otto-only-billing-agents",
        person(
            "otto",
            Role::Publisher,
            AgentScope::Only(vec!["billing*".into()]),
        ),
    );
}

async fn office() -> TestGateway {
    TestGateway::start_with(json!([]), |c| {
        people(c);
        c.telemetry.claude_quiet = Duration::from_secs(1);
    })
    .await
}

async fn view(gw: &TestGateway, path: &str) -> Value {
    let response = gw
        .http
        .get(gw.url(path))
        .bearer_auth(VIEWER)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

async fn agent(gw: &TestGateway, npc: &str) -> Option<Value> {
    view(gw, "/api/agents").await["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["npc"] == npc)
        .cloned()
}

/// Waits for `npc` to be in the roster with `status`.
async fn until_status(gw: &TestGateway, npc: &str, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(agent) = agent(gw, npc).await
            && agent["status"] == status
        {
            return agent;
        }
        assert!(
            Instant::now() < deadline,
            "{npc} never became {status}: {:?}",
            agent(gw, npc).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn history(gw: &TestGateway, npc: &str) -> Vec<Value> {
    view(gw, &format!("/api/history?npc={npc}&limit=100")).await["events"]
        .as_array()
        .unwrap()
        .clone()
}

fn lines(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            let said = e
                .get("message")
                .or(e.get("error"))
                .and_then(Value::as_str)
                .unwrap_or("");
            format!("{} {said}", e["type"].as_str().unwrap())
        })
        .collect()
}

/// The virtualenv `./test.sh` makes with the official SDK.
fn python() -> PathBuf {
    if let Some(path) = std::env::var_os("ESPRIT_OTEL_PYTHON") {
        return path.into();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let python = target.join("otel-venv/bin/python");
    assert!(
        python.exists(),
        "no Python with the OpenTelemetry SDK at {}: run ./test.sh (it makes it), or \
         scripts/otel-venv.sh, or set ESPRIT_OTEL_PYTHON",
        python.display()
    );
    python
}

fn sdk_agent(gw: &TestGateway, mode: &str) -> std::process::Child {
    Command::new(python())
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/otel/agent.py"))
        .arg(mode)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", gw.url(""))
        .env(
            "OTEL_EXPORTER_OTLP_HEADERS",
            format!("authorization=Bearer {PUBLISHER}"),
        )
        .env("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the SDK's Python starts")
}

fn finish(mut child: std::process::Child) {
    let status = child.wait().unwrap();
    assert!(status.success(), "the instrumented agent failed: {status}");
}

#[tokio::test]
async fn an_sdk_instrumented_agent_walks_in_with_its_tool_call_sub_agent_and_tokens() {
    let gw = office().await;
    let child = sdk_agent(&gw, "done");
    tokio::task::spawn_blocking(move || finish(child))
        .await
        .unwrap();
    let planner = npc_for("planner@trip-service");
    let researcher = npc_for("researcher-7");
    let seen = until_status(&gw, &planner, "done").await;
    assert_eq!(seen["name"], "planner");
    assert_eq!(seen["observe_only"], true);
    assert_eq!(seen["visitor"]["source"], "opentelemetry");
    assert_eq!(seen["visitor"]["service"], "trip-service");
    assert_eq!(
        lines(&history(&gw, &planner).await),
        [
            "started planner started",
            "step chat gpt-4o-mini · 1,540 tokens",
            "step web_search",
            "step chat gpt-4o-mini · 620 tokens",
            "done planner finished",
        ]
    );
    let sub = until_status(&gw, &researcher, "done").await;
    assert_eq!(sub["visitor"]["spawned_by"], planner.as_str(), "{sub}");
    assert_eq!(
        lines(&history(&gw, &researcher).await),
        [
            "started researcher started, for planner",
            "step chat gpt-4o-mini · 1,000 tokens",
            "done researcher finished",
        ]
    );
    // The run's tokens add up, and so does the day.
    let run_id = seen["run_id"].as_str().unwrap();
    let run = view(&gw, &format!("/api/runs/{run_id}")).await;
    assert_eq!(
        (
            &run["usage"]["input_tokens"],
            &run["usage"]["output_tokens"]
        ),
        (&json!(1700), &json!(460)),
        "{run}"
    );
    let usage = view(&gw, "/api/usage").await;
    assert_eq!(usage["total"]["input_tokens"], 2500, "{usage}");
    let metrics = gw
        .http
        .get(gw.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // Counted process-wide: the other tests here export spans too.
    let spans: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("esprit_otlp_total{item=\"spans\"} "))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(spans >= 6, "{metrics}");
    assert_eq!(usage["total"]["output_tokens"], 660);
    // A visitor's runs start where it runs.
    let refused = gw
        .http
        .post(gw.url(&format!("/api/run/{planner}")))
        .bearer_auth(OPERATOR)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 409);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "observe_only");
}

#[tokio::test]
async fn a_failed_agent_span_ends_its_run_in_error_with_the_spans_message() {
    let gw = office().await;
    let child = sdk_agent(&gw, "error");
    tokio::task::spawn_blocking(move || finish(child))
        .await
        .unwrap();
    let planner = until_status(&gw, &npc_for("planner@trip-service"), "error").await;
    let events = history(&gw, planner["npc"].as_str().unwrap()).await;
    assert_eq!(lines(&events).last().unwrap(), "error quota exceeded");
}

#[tokio::test]
async fn an_agent_works_from_its_first_exported_span_until_its_own_span_ends() {
    let gw = office().await;
    let mut child = sdk_agent(&gw, "stepwise");
    let out = child.stdout.take().unwrap();
    // Read off the runtime: the gateway answers the export meanwhile.
    let line = tokio::task::spawn_blocking(move || {
        let mut out = BufReader::new(out);
        let mut line = String::new();
        out.read_line(&mut line).unwrap(); // the trace id
        line.clear();
        out.read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();
    assert_eq!(line.trim(), "flushed");
    let planner = npc_for("planner@trip-service");
    let working = until_status(&gw, &planner, "running").await;
    assert_eq!(working["last_message"], "chat gpt-4o-mini · 1,540 tokens");
    writeln!(child.stdin.take().unwrap()).unwrap();
    tokio::task::spawn_blocking(move || finish(child))
        .await
        .unwrap();
    until_status(&gw, &planner, "done").await;
}

/// An OTLP/JSON export as the specification writes it.
fn json_export(trace: &str, now_ms: u64) -> Value {
    let nanos = |ms: u64| (ms * 1_000_000).to_string();
    let kv = |k: &str, v: Value| json!({"key": k, "value": v});
    json!({"resourceSpans": [{
        "resource": {"attributes": [kv("service.name", json!({"stringValue": "ops-bot"}))]},
        "scopeSpans": [{"scope": {"name": "hand-written"}, "spans": [
            {"traceId": trace, "spanId": "00f067aa0ba902b7", "parentSpanId": "53995c3f42cd8ad8",
             "name": "execute_tool restart", "kind": 1,
             "startTimeUnixNano": nanos(now_ms - 900), "endTimeUnixNano": nanos(now_ms - 500),
             "attributes": [kv("gen_ai.operation.name", json!({"stringValue": "execute_tool"})),
                            kv("gen_ai.tool.name", json!({"stringValue": "restart_service"}))]},
            {"traceId": trace, "spanId": "53995c3f42cd8ad8",
             "name": "invoke_agent ops", "kind": 1,
             "startTimeUnixNano": nanos(now_ms - 1000), "endTimeUnixNano": nanos(now_ms - 100),
             "attributes": [kv("gen_ai.operation.name", json!({"stringValue": "invoke_agent"})),
                            kv("gen_ai.agent.name", json!({"stringValue": "ops"}))],
             "status": {"code": 1}}
        ]}]
    }]})
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

async fn export(
    gw: &TestGateway,
    path: &str,
    token: Option<&str>,
    content_type: &str,
    gzip: bool,
    body: Vec<u8>,
) -> reqwest::Response {
    let mut request = gw
        .http
        .post(gw.url(path))
        .header("content-type", content_type);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let body = if gzip {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&body).unwrap();
        request = request.header("content-encoding", "gzip");
        gz.finish().unwrap()
    } else {
        body
    };
    request.body(body).send().await.unwrap()
}

#[tokio::test]
async fn a_json_export_and_a_gzip_one_walk_in_and_a_replay_changes_nothing() {
    let gw = office().await;
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let body = serde_json::to_vec(&json_export(trace, now_ms())).unwrap();
    let answer = export(
        &gw,
        "/v1/traces",
        Some(PUBLISHER),
        "application/json",
        false,
        body.clone(),
    )
    .await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["content-type"], "application/json");
    let answered: Value = answer.json().await.unwrap();
    assert!(answered.get("partialSuccess").is_none(), "{answered}");
    let ops = npc_for("ops@ops-bot");
    until_status(&gw, &ops, "done").await;
    let first = history(&gw, &ops).await;
    assert_eq!(
        lines(&first),
        [
            "started ops started",
            "step restart_service",
            "done ops finished"
        ]
    );
    // The same export again, gzip this time: the same history.
    let answer = export(
        &gw,
        "/v1/traces",
        Some(PUBLISHER),
        "application/json",
        true,
        body,
    )
    .await;
    assert_eq!(answer.status(), 200);
    assert_eq!(history(&gw, &ops).await, first, "a replay is stored once");
}

#[tokio::test]
async fn a_recorded_claude_code_session_is_a_character_whose_run_carries_its_cost() {
    let gw = office().await;
    let mut payload: Value =
        serde_json::from_str(include_str!("otel/claude-code-logs.json")).unwrap();
    // Recorded earlier; told as if it happened a moment ago.
    let records = payload["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
        .as_array_mut()
        .unwrap();
    let first: u64 = records[0]["timeUnixNano"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let shift = now_ms() * 1_000_000 - 15_000_000_000 - first;
    for record in records {
        let at: u64 = record["timeUnixNano"].as_str().unwrap().parse().unwrap();
        record["timeUnixNano"] = json!((at + shift).to_string());
    }
    let answer = export(
        &gw,
        "/v1/logs",
        Some(PUBLISHER),
        "application/json",
        false,
        serde_json::to_vec(&payload).unwrap(),
    )
    .await;
    assert_eq!(answer.status(), 200);
    let session = npc_for("claude-code:7c1e2f90-5d1b-4a43-9d7e-3c0b7e0c2a11");
    let seen = until_status(&gw, &session, "running").await;
    assert_eq!(seen["name"], "Claude Code · dana · 7c1e2f");
    assert_eq!(seen["visitor"]["source"], "claude-code");
    // Quiet for a second (this office's setting): the prompt's run ends.
    until_status(&gw, &session, "done").await;
    assert_eq!(
        lines(&history(&gw, &session).await),
        [
            "started a prompt of 58 characters",
            "step claude-sonnet-4-5-20250929 · 14,172 tokens · $0.0421 · 4.2 s",
            "step Bash: accept",
            "step Bash ✓ · 1.3 s",
            "step claude-sonnet-4-5-20250929 · 1,765 tokens · $0.0187 · 2.6 s",
            "done quiet for 1 s",
        ]
    );
    let usage = view(&gw, "/api/usage").await;
    let cost = usage["total"]["cost_usd"].as_f64().unwrap();
    assert!((cost - 0.0608).abs() < 1e-9, "{usage}");
}

#[tokio::test]
async fn otlp_refusals_have_otlps_shape_and_create_nothing() {
    let gw = TestGateway::start_with(json!([]), |c| {
        people(c);
        c.telemetry.body_limit = 4096;
        c.edge.publishes_per_second = 5;
    })
    .await;
    let body =
        serde_json::to_vec(&json_export("5bf92f3577b34da6a3ce929d0e0e4736", now_ms())).unwrap();
    // No token, a wrong one: 401 with google.rpc.Status (UNAUTHENTICATED).
    for token in [None, Some("not-a-token-anyone-holds")] {
        let answer = export(
            &gw,
            "/v1/traces",
            token,
            "application/json",
            false,
            body.clone(),
        )
        .await;
        assert_eq!(answer.status(), 401);
        let status: Value = answer.json().await.unwrap();
        assert_eq!(status["code"], 16, "{status}");
    }
    // A viewer may not publish.
    let answer = export(
        &gw,
        "/v1/traces",
        Some(VIEWER),
        "application/json",
        false,
        body.clone(),
    )
    .await;
    assert_eq!(answer.status(), 403);
    // Malformed protobuf: 400, the Status in protobuf.
    let answer = export(
        &gw,
        "/v1/traces",
        Some(PUBLISHER),
        "application/x-protobuf",
        false,
        vec![0xff; 16],
    )
    .await;
    assert_eq!(answer.status(), 400);
    assert_eq!(answer.headers()["content-type"], "application/x-protobuf");
    let bytes = answer.bytes().await.unwrap();
    assert_eq!(bytes[0], 0x08, "field 1 (code) first");
    assert_eq!(bytes[1], 3, "INVALID_ARGUMENT");
    // Over the body limit: 413.
    let answer = export(
        &gw,
        "/v1/traces",
        Some(PUBLISHER),
        "application/json",
        false,
        vec![b' '; 8192],
    )
    .await;
    assert_eq!(answer.status(), 413);
    // Not OTLP's content types: 415.
    let answer = export(
        &gw,
        "/v1/traces",
        Some(PUBLISHER),
        "text/plain",
        false,
        body.clone(),
    )
    .await;
    assert_eq!(answer.status(), 415);
    // A publisher limited to other agents: a partial success, nothing stored.
    let answer = export(
        &gw,
        "/v1/traces",
        Some("otto-only-billing-agents"),
        "application/json",
        false,
        body.clone(),
    )
    .await;
    assert_eq!(answer.status(), 200);
    let answered: Value = answer.json().await.unwrap();
    assert_eq!(
        answered["partialSuccess"]["rejectedSpans"]
            .to_string()
            .trim_matches('"'),
        "2",
        "{answered}"
    );
    assert!(
        view(&gw, "/api/agents").await["agents"]
            .as_array()
            .unwrap()
            .is_empty(),
        "nothing walked in"
    );
    // A flood is rate limited, and told when to come back.
    let mut limited = None;
    for _ in 0..40 {
        let answer = export(
            &gw,
            "/v1/traces",
            Some(PUBLISHER),
            "application/json",
            false,
            b"{}".to_vec(),
        )
        .await;
        if answer.status() == 429 {
            limited = Some(answer);
            break;
        }
    }
    let limited = limited.expect("a flood meets the publish limit");
    assert!(limited.headers().contains_key("retry-after"));
    let status: Value = limited.json().await.unwrap();
    assert_eq!(status["code"], 8, "RESOURCE_EXHAUSTED");
}

#[tokio::test]
async fn two_traces_of_one_agent_at_once_are_told_one_after_the_other() {
    let gw = office().await;
    let now = now_ms();
    // The first trace's agent has not ended: only its tool call arrived,
    // naming its agent.
    let kv = |k: &str, v: &str| json!({"key": k, "value": {"stringValue": v}});
    let nanos = |ms: u64| (ms * 1_000_000).to_string();
    let open = json!({"resourceSpans": [{"resource": {"attributes": [kv("service.name", "ops-bot")]},
        "scopeSpans": [{"spans": [
            {"traceId": "6bf92f3577b34da6a3ce929d0e0e4736", "spanId": "10f067aa0ba902b7",
             "parentSpanId": "63995c3f42cd8ad8", "name": "execute_tool page",
             "startTimeUnixNano": nanos(now - 3000), "endTimeUnixNano": nanos(now - 2900),
             "attributes": [kv("gen_ai.operation.name", "execute_tool"), kv("gen_ai.tool.name", "page_oncall"),
                            kv("gen_ai.agent.name", "ops")]}]}]}]});
    let answer = export(
        &gw,
        "/v1/traces",
        Some(PUBLISHER),
        "application/json",
        false,
        serde_json::to_vec(&open).unwrap(),
    )
    .await;
    assert_eq!(answer.status(), 200);
    let ops = npc_for("ops@ops-bot");
    until_status(&gw, &ops, "running").await;
    // A second whole trace of the same agent waits for the first to end.
    let second = serde_json::to_vec(&json_export("7bf92f3577b34da6a3ce929d0e0e4736", now)).unwrap();
    let answer = export(
        &gw,
        "/v1/traces",
        Some(PUBLISHER),
        "application/json",
        false,
        second,
    )
    .await;
    assert_eq!(answer.status(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        lines(&history(&gw, &ops).await).len(),
        2,
        "the second waits"
    );
    // The first ends; the second follows.
    let end = json!({"resourceSpans": [{"resource": {"attributes": [kv("service.name", "ops-bot")]},
        "scopeSpans": [{"spans": [
            {"traceId": "6bf92f3577b34da6a3ce929d0e0e4736", "spanId": "63995c3f42cd8ad8",
             "name": "invoke_agent ops",
             "startTimeUnixNano": nanos(now - 3100), "endTimeUnixNano": nanos(now - 2000),
             "attributes": [kv("gen_ai.operation.name", "invoke_agent"), kv("gen_ai.agent.name", "ops")]}]}]}]});
    let answer = export(
        &gw,
        "/v1/traces",
        Some(PUBLISHER),
        "application/json",
        false,
        serde_json::to_vec(&end).unwrap(),
    )
    .await;
    assert_eq!(answer.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let told = lines(&history(&gw, &ops).await);
        if told.len() == 6 {
            assert_eq!(
                told,
                [
                    "started ops started",
                    "step page_oncall",
                    "done ops finished",
                    "started ops started",
                    "step restart_service",
                    "done ops finished",
                ]
            );
            break;
        }
        assert!(Instant::now() < deadline, "{told:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn agents_json_seats_an_otel_agent_for_good_and_visitors_leave_when_idle() {
    let seated =
        json!([{"agent": "ops", "npc": "olive", "name": "Olive", "otelAgent": "ops@ops-bot"}]);
    let gw = TestGateway::start_with(seated, |c| {
        people(c);
        c.telemetry.visitor_idle = Duration::from_secs(1);
    })
    .await;
    let now = now_ms();
    let body = serde_json::to_vec(&json_export("8bf92f3577b34da6a3ce929d0e0e4736", now)).unwrap();
    let answer = export(
        &gw,
        "/v1/traces",
        Some(PUBLISHER),
        "application/json",
        false,
        body,
    )
    .await;
    assert_eq!(answer.status(), 200);
    let olive = until_status(&gw, "olive", "done").await;
    assert_eq!(olive["name"], "Olive");
    assert!(olive.get("visitor").is_none(), "seated, not visiting");
    // A visitor: in the roster while it reports, gone after its idle time.
    let mut visitor = json_export("9bf92f3577b34da6a3ce929d0e0e4736", now);
    visitor["resourceSpans"][0]["resource"]["attributes"][0]["value"]["stringValue"] =
        json!("night-shift");
    let answer = export(
        &gw,
        "/v1/traces",
        Some(PUBLISHER),
        "application/json",
        false,
        serde_json::to_vec(&visitor).unwrap(),
    )
    .await;
    assert_eq!(answer.status(), 200);
    let night = npc_for("ops@night-shift");
    until_status(&gw, &night, "done").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while agent(&gw, &night).await.is_some() {
        assert!(Instant::now() < deadline, "the visitor never left");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(agent(&gw, "olive").await.is_some(), "the seated one stays");
    // What it did stays in the office's history.
    let all = view(&gw, "/api/history?limit=100").await;
    let its = all["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["npc"] == night.as_str())
        .count();
    assert_eq!(its, 3);
}
