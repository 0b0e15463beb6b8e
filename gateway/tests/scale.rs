//! Several gateways sharing one event log on Redis Streams (Debian's
//! redis-server, its own port and directory), with Debian's nginx in front
//! rendered for several upstreams: nothing is lost or repeated when a gateway
//! or Redis dies.

use esprit_testkit::nginx::Nginx;
use esprit_testkit::redis::RedisServer;
use esprit_testkit::{
    Behaviour, GatewayProcess, StandInSim, Subscriber, TestGateway, agent, free_port, kinds,
    wait_ready,
};
use gateway::store::conformance::{self, Recorder};
use gateway::store::{RedisSettings, RedisStore, Stores};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn on_redis(redis: &RedisServer) -> impl FnOnce(&mut gateway::Config) + use<> {
    let url = redis.url();
    move |config: &mut gateway::Config| {
        config.store = gateway::config::StoreKind::Redis {
            url,
            prefix: "esprit".into(),
            instance_ttl: Duration::from_secs(2),
        };
        config.run_sweep = Duration::from_millis(200);
    }
}

async fn gateway_on(redis: &RedisServer, agents: Value) -> TestGateway {
    TestGateway::start_with(agents, on_redis(redis)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_store_keeps_the_store_contract() {
    let redis = RedisServer::start();
    let recorder = Arc::new(Recorder::default());
    let store = RedisStore::open(
        RedisSettings {
            url: redis.url(),
            prefix: "contract".into(),
            instance: "test".into(),
            instance_ttl: Duration::from_secs(5),
        },
        recorder.clone(),
    )
    .await
    .unwrap();
    let stores = Stores::of(Arc::new(store));
    stores.log.start_feed(0);
    conformance::run_all(stores.clone(), recorder).await;
    assert!(stores.runs.live_instances().await.unwrap().contains("test"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_published_to_one_gateway_reach_another_in_order_once() {
    let redis = RedisServer::start();
    let agents = json!([
        agent("a", json!({"flow": "f"})),
        agent("b", json!({"flow": "f"}))
    ]);
    let (one, two) = (
        gateway_on(&redis, agents.clone()).await,
        gateway_on(&redis, agents).await,
    );
    let mut on_two = two.subscribe("").await;
    let mut only_b = two.subscribe("?npc=b").await;
    let mut published = Vec::new();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (http, base) = (one.http.clone(), one.running.url());
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for i in 0..50 {
                    let npc = if i % 2 == 0 { "a" } else { "b" };
                    let event = json!({"npc": npc, "type": "step", "data": {"message": format!("{w}/{i}")}});
                    ids.push((esprit_testkit::publish(&http, &base, event).await, npc));
                }
                ids
            })
        })
        .collect();
    for writer in writers {
        published.extend(writer.await.unwrap());
    }
    published.sort();
    let ids: Vec<u64> = published.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids.len(), 200);
    assert_eq!(
        ids.windows(2).filter(|w| w[1] != w[0] + 1).count(),
        0,
        "ids are dense and global"
    );
    let mut seen = Vec::new();
    while seen.len() < 200 {
        seen.push(on_two.next().await.id);
    }
    assert_eq!(seen, ids, "in order, once");
    let b_ids: Vec<u64> = published
        .iter()
        .filter(|(_, n)| *n == "b")
        .map(|(id, _)| *id)
        .collect();
    let mut seen_b = Vec::new();
    while seen_b.len() < b_ids.len() {
        seen_b.push(only_b.next().await.id);
    }
    assert_eq!(seen_b, b_ids);
    // Resuming on the other gateway from an id the first gave out.
    let mut resumed = Subscriber::connect(&one.url("/api/stream"), Some(ids[149]), None).await;
    for expected in &ids[150..] {
        assert_eq!(resumed.next().await.id, *expected);
    }
    let (_, history) = two.get("/api/history?limit=1000").await;
    let listed: Vec<u64> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_u64().unwrap())
        .collect();
    assert_eq!(listed, ids, "history lists the same events");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_is_one_run_whichever_gateway_hears_of_it() {
    let redis = RedisServer::start();
    let sim = StandInSim::start(None).await;
    sim.set(Behaviour::Accept);
    let agents = json!([
        agent("hook", json!({"webhookUrl": sim.url})),
        agent("deployer", json!({"flow": "deploy"}))
    ]);
    let (one, two) = (
        gateway_on(&redis, agents.clone()).await,
        gateway_on(&redis, agents).await,
    );
    for gw in [&one, &two] {
        gw.write_flow(
            "deploy",
            r#"(steps: [Ask(question: "Ship?", options: ["yes", "no"]), Say("shipping"), Done()])"#,
        );
    }

    // Two Runs of one agent at once, one on each gateway: exactly one starts.
    let (first, second) = tokio::join!(
        one.post("/api/run/hook", json!({})),
        two.post("/api/run/hook", json!({}))
    );
    let mut statuses = [first.0, second.0];
    statuses.sort();
    assert_eq!(statuses, [202, 409], "{first:?} {second:?}");
    let refused = if first.0 == 409 { &first.1 } else { &second.1 };
    assert_eq!(refused["error"]["code"], "agent_busy");
    let run_id = if first.0 == 202 { &first.1 } else { &second.1 }["run_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The callback token works on either gateway, even before it read `started`.
    let token = sim.wait_for_calls(1).await[0].body["callback_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for gw in [&one, &two] {
        let r = gw
            .http
            .post(gw.url("/api/events"))
            .bearer_auth(&token)
            .json(&json!({"npc": "hook", "type": "step", "data": "on my way"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
    }
    let (status, _) = one
        .post(&format!("/api/runs/{run_id}/cancel"), json!({}))
        .await;
    assert_eq!(status, 202);
    let (_, run) = two.get(&format!("/api/runs/{run_id}")).await;
    assert_eq!(run["status"], "error");

    // A flow runs on the gateway that started it; the answer may come to the other.
    let mut stream = two.subscribe("?npc=deployer").await;
    let (status, ack) = one.post("/api/run/deployer", json!({})).await;
    assert_eq!(status, 202, "{ack}");
    let flow_run = ack["run_id"].as_str().unwrap().to_owned();
    stream.until("awaiting").await;
    let (_, roster) = two.get("/api/agents").await;
    assert_eq!(roster["agents"][1]["question"]["question"], "Ship?");
    let (status, body) = two
        .post(
            &format!("/api/runs/{flow_run}/respond"),
            json!({"decision": "yes"}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = one
        .post(
            &format!("/api/runs/{flow_run}/respond"),
            json!({"decision": "no"}),
        )
        .await;
    // Refused either way: the question is answered, or the flow has already finished.
    assert_eq!(status, 409, "answered once: {body}");
    assert!(
        matches!(
            body["error"]["code"].as_str(),
            Some("not_awaiting" | "run_ended")
        ),
        "{body}"
    );
    let rest = stream.until("done").await;
    assert_eq!(kinds(&rest), ["response", "step", "done"]);
}

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gateway"))
}

/// A gateway binary on `redis`, with its own directory.
async fn process_on(
    redis: &RedisServer,
    agents: &Value,
    flows: &[(&str, &str)],
) -> (GatewayProcess, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("agents.json"), agents.to_string()).unwrap();
    std::fs::create_dir_all(dir.path().join("flows")).unwrap();
    for (name, text) in flows {
        std::fs::write(dir.path().join(format!("flows/{name}.ron")), text).unwrap();
    }
    let url = redis.url();
    let process = GatewayProcess::start(
        binary(),
        dir.path(),
        free_port(),
        &["--run-sweep-secs", "0.2"],
        &[
            ("STORE_URL", &url),
            ("INSTANCE_TTL_SECS", "1"),
            ("PUBLISHES_PER_SECOND", "0"),
        ],
    );
    wait_ready(&process.url()).await;
    (process, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_whose_gateway_dies_ends_instead_of_running_for_ever() {
    let redis = RedisServer::start();
    let agents = json!([agent("slow", json!({"flow": "slow"}))]);
    let flows = [(
        "slow",
        r#"(steps: [Say("working"), Wait(secs: 60), Done()])"#,
    )];
    let (mut one, _d1) = process_on(&redis, &agents, &flows).await;
    let (two, _d2) = process_on(&redis, &agents, &flows).await;
    let mut stream =
        Subscriber::connect(&format!("{}/api/stream?npc=slow", two.url()), None, None).await;
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/api/run/slow", one.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    stream.until("step").await;
    let killed = Instant::now();
    one.kill();
    let end = stream
        .next_within(Duration::from_secs(10))
        .await
        .expect("the run ends");
    assert_eq!(end.kind.as_str(), "error");
    assert!(
        end.message()
            .unwrap()
            .contains("the gateway running this flow stopped"),
        "{:?}",
        end.message()
    );
    assert!(
        killed.elapsed() < Duration::from_secs(6),
        "{:?}",
        killed.elapsed()
    );
}

/// An EventSource as the spec has it: reconnects after the retry hint with
/// `Last-Event-ID`, and keeps every id it sees.
fn follow_like_a_browser(
    url: String,
    seen: Arc<Mutex<Vec<u64>>>,
    stop: Arc<tokio::sync::Notify>,
) -> tokio::task::JoinHandle<u32> {
    tokio::spawn(async move {
        let mut reconnects = 0;
        let mut last: Option<u64> = None;
        loop {
            let mut request = reqwest::Client::new().get(&url);
            if let Some(id) = last {
                request = request.header("Last-Event-ID", id.to_string());
            }
            if let Ok(response) = request.send().await
                && response.status() == 200
            {
                use eventsource_stream::Eventsource;
                use futures_util::StreamExt;
                let mut frames = response.bytes_stream().eventsource();
                loop {
                    let frame = tokio::select! {
                        frame = frames.next() => frame,
                        _ = stop.notified() => return reconnects,
                    };
                    match frame {
                        Some(Ok(frame)) if !frame.id.is_empty() => {
                            let id: u64 = frame.id.parse().unwrap();
                            seen.lock().unwrap().push(id);
                            last = Some(id);
                        }
                        Some(Ok(_)) => {}
                        _ => break,
                    }
                }
            }
            reconnects += 1;
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(300)) => {}
                _ = stop.notified() => return reconnects,
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_killed_under_publishing_loses_and_repeats_nothing_through_nginx() {
    let redis = RedisServer::start();
    let agents = json!([agent("a", json!({"flow": "f"}))]);
    let (one, _d1) = process_on(&redis, &agents, &[]).await;
    let (two, _d2) = process_on(&redis, &agents, &[]).await;
    let nowhere = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let addresses =
        [one.url(), two.url()].map(|u| u.trim_start_matches("http://").parse().unwrap());
    let nginx = Nginx::start(&addresses, nowhere, nowhere);

    let seen = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(tokio::sync::Notify::new());
    let follower =
        follow_like_a_browser(nginx.url("/api/stream?since=0"), seen.clone(), stop.clone());
    let http = reqwest::Client::new();
    // The gateway the follower landed on is the one to kill.
    let subscribers = |url: String| {
        let http = http.clone();
        async move {
            let metrics = http
                .get(format!("{url}/metrics"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            metrics
                .lines()
                .find_map(|l| l.strip_prefix("esprit_subscribers "))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0)
        }
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut doomed = loop {
        if subscribers(one.url()).await == 1 {
            break one;
        }
        if subscribers(two.url()).await == 1 {
            break two;
        }
        assert!(Instant::now() < deadline, "the follower connected nowhere");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let mut acknowledged = Vec::new();
    // Batches of ten: nginx's own limit on changes per address stays out of the way.
    for i in 0..60 {
        if i == 20 {
            doomed.kill();
        }
        let batch: Vec<Value> = (0..10)
            .map(|j| json!({"npc": "a", "type": "step", "data": {"message": format!("e{i}.{j}")}}))
            .collect();
        let r = http
            .post(nginx.url("/api/events"))
            .json(&batch)
            .send()
            .await;
        if let Ok(r) = r
            && r.status() == 202
        {
            let body: Value = r.json().await.unwrap();
            acknowledged.extend(
                body["ids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|id| id.as_u64().unwrap()),
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        acknowledged.len() >= 500,
        "most publishes went through: {}",
        acknowledged.len()
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    let wanted: BTreeSet<u64> = acknowledged.iter().copied().collect();
    loop {
        let got: BTreeSet<u64> = seen.lock().unwrap().iter().copied().collect();
        if wanted.is_subset(&got) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "missing {:?}",
            wanted.difference(&got).take(10).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.notify_waiters();
    let reconnects = follower.await.unwrap();
    let seen = seen.lock().unwrap().clone();
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "in order and once");
    assert!(
        reconnects >= 1,
        "the follower did move to the other gateway"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_under_publishing_keeps_what_it_acknowledged_and_gateways_recover() {
    let mut redis = RedisServer::start();
    let agents = json!([agent("a", json!({"flow": "f"}))]);
    let (one, two) = (
        gateway_on(&redis, agents.clone()).await,
        gateway_on(&redis, agents).await,
    );
    let mut acknowledged = Vec::new();
    let mut refused = None;
    let mut not_ready = false;
    for i in 0..400 {
        if i == 150 {
            redis.kill();
        }
        if i == 250 {
            // Down for a while: both gateways say so.
            not_ready = one.get("/readyz").await.0 == 503 && two.get("/readyz").await.0 == 503;
            redis.restart();
        }
        let gw = if i % 2 == 0 { &one } else { &two };
        let (status, body) = gw
            .post(
                "/api/events",
                json!({"npc": "a", "type": "step", "data": {"message": format!("e{i}")}}),
            )
            .await;
        match status {
            202 => acknowledged.push(body["ids"][0].as_u64().unwrap()),
            503 => refused = Some(body),
            other => panic!("unexpected {other}: {body}"),
        }
        if (150..250).contains(&i) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    assert!(not_ready, "/readyz went not ready while Redis was down");
    let refused = refused.expect("publishes were refused while Redis was down");
    assert_eq!(refused["error"]["code"], "store_unavailable");
    // Both recover by themselves.
    for gw in [&one, &two] {
        let deadline = Instant::now() + Duration::from_secs(10);
        while gw.get("/readyz").await.0 != 200 {
            assert!(Instant::now() < deadline, "a gateway stayed not ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let mut stored = BTreeSet::new();
    let mut before = None::<u64>;
    loop {
        let path = match before {
            Some(b) => format!("/api/history?npc=a&limit=1000&before={b}"),
            None => "/api/history?npc=a&limit=1000".to_owned(),
        };
        let (_, page) = two.get(&path).await;
        for event in page["events"].as_array().unwrap() {
            assert!(stored.insert(event["id"].as_u64().unwrap()), "no id twice");
        }
        match page["next_before"].as_u64() {
            Some(b) => before = Some(b),
            None => break,
        }
    }
    let acknowledged: BTreeSet<u64> = acknowledged.into_iter().collect();
    assert!(acknowledged.len() >= 250, "{}", acknowledged.len());
    assert!(
        acknowledged.is_subset(&stored),
        "lost: {:?}",
        acknowledged.difference(&stored).collect::<Vec<_>>()
    );
    // And a stream opened now on either gateway is live again.
    let mut stream = one.subscribe("").await;
    let id = two.publish("a", "step", json!("after the storm")).await;
    assert_eq!(stream.next().await.id, id);
}

/// Two gateways on one Redis following one Sim workspace: one follows (the
/// lease), both show the workspace's roster and its executions, each once;
/// when the follower stops, the other takes over from its saved place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateways_on_redis_follow_a_sim_workspace_once() {
    use esprit_testkit::sim_api::StandInSimApi;
    let redis = RedisServer::start();
    let sim = StandInSimApi::start("sk-shared").await;
    sim.with_example_workflows();
    let mirrored = |redis: &RedisServer| {
        let (store, base) = (on_redis(redis), sim.url.clone());
        move |config: &mut gateway::Config| {
            store(config);
            config.sim.api_base = Some(format!("{base}/").parse().unwrap());
            config.sim.api_key = Some("sk-shared".into());
            config.sim.workspaces = vec!["ws-shared".into()];
            config.sim.poll = Duration::from_millis(200);
            config.sim.roster_every = Duration::from_millis(400);
        }
    };
    // The first to start takes the lease and keeps renewing it.
    let one = TestGateway::start_with(json!([]), mirrored(&redis)).await;
    let both_show_it = async |gw: &TestGateway| loop {
        let (_, roster) = gw.get("/api/agents").await;
        if roster["agents"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["agent"] == "wf-mail"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    tokio::time::timeout(Duration::from_secs(10), both_show_it(&one))
        .await
        .expect("the follower shows the workspace's roster");
    let two = TestGateway::start_with(json!([]), mirrored(&redis)).await;
    tokio::time::timeout(Duration::from_secs(10), both_show_it(&two))
        .await
        .expect("the other gateway shows it from the store");

    // One follower: the log is read at one gateway's pace, not two.
    let before = sim.requests("GET /api/v1/logs");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let reads = sim.requests("GET /api/v1/logs") - before;
    assert!(
        reads <= 11,
        "{reads} log reads in 2 s at 200 ms: one follower"
    );

    let mut on_two = two.subscribe("?npc=wf-mail").await;
    let execution = sim.start_elsewhere("wf-mail", "schedule");
    let events = tokio::time::timeout(Duration::from_secs(10), on_two.until_end())
        .await
        .expect("the run reaches both gateways");
    let own: Vec<_> = events
        .iter()
        .filter(|e| e.run_id.as_deref() == Some(execution.as_str()))
        .collect();
    assert_eq!(
        own.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
        ["started", "step", "step", "done"]
    );

    // The follower stops; the other takes over from its saved place.
    one.running.shutdown().await;
    let mut on_two = two.subscribe("?npc=wf-mail").await;
    let next = sim.start_elsewhere("wf-mail", "api");
    let events = tokio::time::timeout(Duration::from_secs(15), on_two.until_end())
        .await
        .expect("the run is seen whichever gateway follows");
    assert!(
        events
            .iter()
            .any(|e| e.run_id.as_deref() == Some(next.as_str()) && e.kind.as_str() == "done")
    );
    let (_, first) = two.get("/api/history?npc=wf-mail&limit=100").await;
    let started = first["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "started")
        .count();
    assert_eq!(
        started, 2,
        "each execution started once, none repeated by the new follower"
    );
}

/// An OTLP export to one gateway: the visiting agent is in every gateway's
/// roster, its run and tokens the same everywhere, and it leaves everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_one_gateway_heard_of_is_in_every_gateways_office() {
    let redis = RedisServer::start();
    let visiting = |c: &mut gateway::Config| {
        on_redis(&redis)(c);
        c.telemetry.visitor_idle = Duration::from_secs(2);
    };
    let (one, two) = (
        TestGateway::start_with(json!([]), visiting).await,
        TestGateway::start_with(json!([]), visiting).await,
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let nanos = |ms: u64| (ms * 1_000_000).to_string();
    let kv = |k: &str, v: Value| json!({"key": k, "value": v});
    let export = json!({"resourceSpans": [{
    "resource": {"attributes": [kv("service.name", json!({"stringValue": "night-shift"}))]},
    "scopeSpans": [{"spans": [
        {"traceId": "aaf92f3577b34da6a3ce929d0e0e4736", "spanId": "a0f067aa0ba902b7", "parentSpanId": "a3995c3f42cd8ad8",
         "name": "chat", "startTimeUnixNano": nanos(now - 900), "endTimeUnixNano": nanos(now - 500),
         "attributes": [kv("gen_ai.operation.name", json!({"stringValue": "chat"})),
                        kv("gen_ai.request.model", json!({"stringValue": "gpt-4o-mini"})),
                        kv("gen_ai.usage.input_tokens", json!({"intValue": "700"})),
                        kv("gen_ai.usage.output_tokens", json!({"intValue": "50"}))]},
        {"traceId": "aaf92f3577b34da6a3ce929d0e0e4736", "spanId": "a3995c3f42cd8ad8",
         "name": "invoke_agent ops", "startTimeUnixNano": nanos(now - 1000), "endTimeUnixNano": nanos(now - 100),
         "attributes": [kv("gen_ai.operation.name", json!({"stringValue": "invoke_agent"})),
                        kv("gen_ai.agent.name", json!({"stringValue": "ops"}))]}
    ]}]}]});
    let answer = one
        .http
        .post(one.url("/v1/traces"))
        .header("content-type", "application/json")
        .body(export.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let npc = gateway::core::npc_for("ops@night-shift");
    let visitor_on = |gw: &TestGateway| {
        let (gw, npc) = (gw.url("/api/agents"), npc.clone());
        let http = two.http.clone();
        async move {
            let roster: Value = http.get(gw).send().await.unwrap().json().await.unwrap();
            roster["agents"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["npc"] == npc.as_str())
                .cloned()
        }
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let seen = loop {
        if let Some(agent) = visitor_on(&two).await
            && agent["status"] == "done"
        {
            break agent;
        }
        assert!(
            Instant::now() < deadline,
            "the other gateway never showed the visitor"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(seen["visitor"]["service"], "night-shift");
    assert_eq!(seen["usage_today"]["input_tokens"], 700, "{seen}");
    // Quiet for its idle time: gone from both offices.
    let deadline = Instant::now() + Duration::from_secs(15);
    while visitor_on(&one).await.is_some() || visitor_on(&two).await.is_some() {
        assert!(Instant::now() < deadline, "the visitor never left");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
