//! OTLP into the office: spans per second through `POST /v1/traces`
//! (protobuf, every resulting event stored before the answer), and the delay
//! from an export to its `done` on an office's stream.
//!
//!     cargo run --release -p gateway --example bench_otlp [-- SECONDS CLIENTS]
//!
//! Each export carries one whole trace for each of 50 agents (an
//! `invoke_agent` span, three `chat` spans with tokens, one `execute_tool`):
//! 250 spans that become 300 events (a run's start has no span of its own).

use esprit_testkit::TestGateway;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const AGENTS: usize = 50;
const SPANS_PER_TRACE: usize = 5;

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..KeyValue::default()
    }
}

fn text(key: &str, value: &str) -> KeyValue {
    kv(key, Value::StringValue(value.into()))
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// One whole trace of `agent`, numbered `n` (ids unique per client and n).
fn trace(client: u64, n: u64, agent: &str) -> Vec<Span> {
    let mut trace_id = [0u8; 16];
    trace_id[..8].copy_from_slice(&client.to_be_bytes());
    trace_id[8..].copy_from_slice(&n.to_be_bytes());
    let span_id = |i: u8| {
        let mut id = [0u8; 8];
        id[..7].copy_from_slice(&n.to_be_bytes()[1..]);
        id[7] = i + 1;
        id.to_vec()
    };
    let t = now_nanos();
    let span = |i: u8, parent: Option<u8>, name: &str, attributes: Vec<KeyValue>| Span {
        trace_id: trace_id.to_vec(),
        span_id: span_id(i),
        parent_span_id: parent.map(span_id).unwrap_or_default(),
        name: name.into(),
        start_time_unix_nano: t - 1_000_000 + i as u64,
        end_time_unix_nano: t + i as u64,
        attributes,
        ..Span::default()
    };
    let chat = |i: u8| {
        span(
            i,
            Some(0),
            "chat gpt-4o-mini",
            vec![
                text("gen_ai.operation.name", "chat"),
                text("gen_ai.request.model", "gpt-4o-mini"),
                kv("gen_ai.usage.input_tokens", Value::IntValue(1200)),
                kv("gen_ai.usage.output_tokens", Value::IntValue(340)),
            ],
        )
    };
    vec![
        chat(1),
        span(
            2,
            Some(0),
            "execute_tool web_search",
            vec![
                text("gen_ai.operation.name", "execute_tool"),
                text("gen_ai.tool.name", "web_search"),
            ],
        ),
        chat(3),
        chat(4),
        span(
            0,
            None,
            "invoke_agent",
            vec![
                text("gen_ai.operation.name", "invoke_agent"),
                text("gen_ai.agent.name", agent),
            ],
        ),
    ]
}

fn export(spans: Vec<Span>) -> Vec<u8> {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![text("service.name", "bench")],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
    .encode_to_vec()
}

async fn post(http: &reqwest::Client, url: &str, body: Vec<u8>) {
    let response = http
        .post(url)
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().map_or(20, |a| a.parse().unwrap());
    let clients: u64 = args.next().map_or(4, |a| a.parse().unwrap());
    // BENCH_LINGER_MS: the streams' linger (20 ms by default) in the delay.
    let linger: u64 = std::env::var("BENCH_LINGER_MS").map_or(20, |v| v.parse().unwrap());
    let gw = TestGateway::start_with(json!([]), |c| {
        c.edge.publishes_per_second = 0;
        c.stream_gathering.linger = Duration::from_millis(linger);
    })
    .await;
    let url = gw.url("/v1/traces");

    // Throughput: each client its own 50 agents, one whole trace each per export.
    let spans = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for client in 0..clients {
        let (http, url, spans) = (gw.http.clone(), url.clone(), spans.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < until {
                let body: Vec<Span> = (0..AGENTS)
                    .flat_map(|a| {
                        n += 1;
                        trace(client, n, &format!("agent-{client}-{a}"))
                    })
                    .collect();
                let count = body.len() as u64;
                post(&http, &url, export(body)).await;
                spans.fetch_add(count, Ordering::Relaxed);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let total = spans.load(Ordering::Relaxed);
    let events = total / SPANS_PER_TRACE as u64 * (SPANS_PER_TRACE as u64 + 1);
    println!(
        "throughput: {total} spans in {elapsed:.1} s with {clients} clients = {:.0} spans/s ({:.0} events/s stored)",
        total as f64 / elapsed,
        events as f64 / elapsed
    );

    // Delay: an export of one whole trace until its `done` reaches a stream.
    let mut delays = Vec::new();
    let mut stream = gw.subscribe("").await;
    for i in 0..200u64 {
        let agent = format!("latency-{}", i % 10);
        let npc = gateway::core::npc_for(&format!("{agent}@bench"));
        let sent = Instant::now();
        post(&gw.http, &url, export(trace(9_999, i + 1, &agent))).await;
        loop {
            let event = stream.next().await;
            if event.npc == npc && event.kind == protocol::EventKind::Done {
                break;
            }
        }
        delays.push(sent.elapsed().as_secs_f64() * 1000.0);
    }
    delays.sort_by(f64::total_cmp);
    println!(
        "export → done on a stream: p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms (200 exports)",
        percentile(&delays, 0.5),
        percentile(&delays, 0.95),
        percentile(&delays, 0.99)
    );
}
