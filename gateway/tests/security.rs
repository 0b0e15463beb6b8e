//! Every way in is authenticated, every way out is bounded, every action has a
//! name on it. Each test reproduces a hole found by probing the release binary
//! on loopback, with real sockets and a local listener recording what reaches it.

use esprit_testkit::sim_api::{Block, StandInSimApi, Workflow};
use esprit_testkit::{
    Behaviour, GatewayProcess, StandInSim, TestGateway, agent, free_port, kinds, wait_ready,
};
use gateway::auth::{AgentScope, Identity, Role};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use warp::Filter;

fn person(subject: &str, role: Role) -> Identity {
    Identity {
        subject: subject.into(),
        role,
        agents: AgentScope::All,
    }
}

/// Named tokens for alice (operator), vera (viewer) and pia (publisher).
fn with_people(config: &mut gateway::Config) {
    config
        .auth
        .tokens
        .insert("alice-t", person("alice", Role::Operator));
    config
        .auth
        .tokens
        .insert("vera-t", person("vera", Role::Viewer));
    config
        .auth
        .tokens
        .insert("pia-t", person("pia", Role::Publisher));
}

async fn send(
    gw: &TestGateway,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = gw.http.request(method, gw.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn post(gw: &TestGateway, path: &str, token: &str, body: Value) -> (u16, Value) {
    send(gw, reqwest::Method::POST, path, Some(token), Some(body)).await
}

/// A listener that records every request it gets and answers `status` with `body`.
struct Recorder {
    url: String,
    seen: Arc<Mutex<Vec<(String, warp::http::HeaderMap)>>>,
}

impl Recorder {
    async fn start(status: u16, body: &'static str) -> Recorder {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let route = warp::path::full().and(warp::header::headers_cloned()).map(
            move |path: warp::path::FullPath, headers: warp::http::HeaderMap| {
                log.lock()
                    .unwrap()
                    .push((path.as_str().to_owned(), headers));
                warp::reply::with_status(body, warp::http::StatusCode::from_u16(status).unwrap())
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(warp::serve(route).incoming(listener).run());
        Recorder { url, seen }
    }

    fn requests(&self) -> Vec<(String, warp::http::HeaderMap)> {
        self.seen.lock().unwrap().clone()
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap()
}

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gateway"))
}

/// A gateway binary with one agent per `agents` entry, in a fresh directory.
async fn gateway_process(
    agents: Value,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (GatewayProcess, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("agents.json"), agents.to_string()).unwrap();
    std::fs::create_dir_all(dir.path().join("flows")).unwrap();
    let process = GatewayProcess::start(binary(), dir.path(), free_port(), extra, env);
    wait_ready(&process.url()).await;
    (process, dir)
}

// 1. Embedded flows are not HTTP routes any more: nothing can make the gateway call out.
#[tokio::test]
async fn flows_have_no_http_routes_left() {
    let recorder = Recorder::start(200, "ok").await;
    let gw = TestGateway::start_with(json!([agent("a", json!({"flow": "f"}))]), with_people).await;
    let hook = json!({"run_id": "r1", "agent": "a", "npc": "a", "callback_url": recorder.url,
        "callback_token": "x", "payload": {}});
    for path in ["/flows/f", "/flows/resume/r1/k"] {
        let (status, body) = send(&gw, reqwest::Method::POST, path, None, Some(hook.clone())).await;
        // The office's pages take GET only: no route takes a POST here.
        assert!(matches!(status, 404 | 405), "{path}: {status} {body}");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(recorder.requests().is_empty(), "the gateway called nobody");
}

// 2. A viewer cannot answer a question, and questions carry no key to answer with.
#[tokio::test]
async fn only_operators_answer_and_the_answer_names_them() {
    let gw = TestGateway::start_with(
        json!([agent("deployer", json!({"flow": "deploy"}))]),
        with_people,
    )
    .await;
    gw.write_flow("deploy", r#"(steps: [Ask(question: "Ship it?"), Done()])"#);
    let (status, ack) = post(&gw, "/api/run/deployer", "alice-t", json!({})).await;
    assert_eq!(status, 202, "{ack}");
    let run_id = ack["run_id"].as_str().unwrap().to_owned();
    let mut stream = esprit_testkit::Subscriber::connect(
        &gw.url("/api/stream?npc=deployer&since=0"),
        None,
        Some("vera-t"),
    )
    .await;
    let events = stream.until("awaiting").await;
    let started = &events[0];
    assert_eq!(started.field("by"), Some(&json!("alice")), "who ran it");
    assert_eq!(started.message(), Some("deployer started by alice"));
    let question = events.last().unwrap();
    assert!(question.field("resume_url").is_none(), "{question:?}");

    let (status, body) = post(
        &gw,
        &format!("/api/runs/{run_id}/respond"),
        "vera-t",
        json!({"decision": "approve"}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    let (status, _) = send(
        &gw,
        reqwest::Method::POST,
        &format!("/api/runs/{run_id}/respond"),
        None,
        Some(json!({"decision": "approve"})),
    )
    .await;
    assert_eq!(status, 401);
    let (status, body) = post(
        &gw,
        &format!("/api/runs/{run_id}/respond"),
        "alice-t",
        json!({"decision": "approve", "comment": "go"}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let rest = stream.until("done").await;
    assert_eq!(kinds(&rest), ["response", "done"]);
    assert_eq!(rest[0].field("by"), Some(&json!("alice")));
    assert_eq!(rest[0].message(), Some("alice chose approve"));
}

// 3. A publisher cannot steer an agent's credentials to a URL of its choosing,
// and a receiver's error body never reaches events or replies.
#[tokio::test]
async fn answers_go_only_to_the_agents_own_origin_and_bodies_stay_out() {
    let sim = StandInSim::start(Some("agent-secret")).await;
    sim.set(Behaviour::Accept);
    let thief = Recorder::start(200, "thanks").await;
    let gw = TestGateway::start_with(
        json!([agent(
            "mail",
            json!({"webhookUrl": sim.url, "webhookToken": "agent-secret",
            "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})
        )]),
        with_people,
    )
    .await;
    let (_, ack) = post(&gw, "/api/run/mail", "alice-t", json!({})).await;
    let run_id = ack["run_id"].as_str().unwrap().to_owned();
    let (status, body) = post(&gw, "/api/events", "pia-t", json!({"npc": "mail", "type": "awaiting",
        "run_id": run_id, "data": {"question": "Send?", "resume_url": format!("{}/steal", thief.url)}}))
    .await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = post(
        &gw,
        &format!("/api/runs/{run_id}/respond"),
        "alice-t",
        json!({"decision": "approve"}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (502, Some("upstream_failed")),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not on"),
        "{body}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        thief.requests().is_empty(),
        "nothing went to the publisher's URL"
    );

    // The agent's own origin answering with an error: its words stay in the log only.
    let refusing = Recorder::start(400, "SECRET-BODY internal stack trace").await;
    let gw3 = TestGateway::start_with(
        json!([agent(
            "mail",
            json!({"webhookUrl": format!("{}/hook", refusing.url)})
        )]),
        with_people,
    )
    .await;
    let mut stream =
        esprit_testkit::Subscriber::connect(&gw3.url("/api/stream?npc=mail"), None, Some("vera-t"))
            .await;
    let (_, ack) = post(&gw3, "/api/run/mail", "alice-t", json!({})).await;
    assert!(ack["run_id"].is_string());
    let events = stream.until("error").await;
    let error = events.last().unwrap().message().unwrap().to_owned();
    assert!(
        error.contains("400") && !error.contains("SECRET-BODY"),
        "{error}"
    );
}

// 4. Readers that stop reading are dropped, and each pins little while it lasts.
#[tokio::test]
async fn stalled_readers_cost_little_and_are_dropped() {
    let (gateway, _dir) = gateway_process(
        json!([agent("a", json!({"flow": "none"}))]),
        &["--write-timeout-secs", "2", "--body-limit", "1048576"],
        &[("PUBLISHES_PER_SECOND", "0")],
    )
    .await;
    let http = reqwest::Client::new();
    let filler = "x".repeat(4000);
    for _ in 0..30 {
        let batch: Vec<Value> = (0..100)
            .map(|_| json!({"npc": "a", "type": "step", "data": {"message": filler}}))
            .collect();
        let r = http
            .post(format!("{}/api/events", gateway.url()))
            .json(&batch)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
    }
    let before = rss_kib(gateway.child.id());
    let mut stalled = Vec::new();
    for _ in 0..50 {
        let mut socket = TcpStream::connect(("127.0.0.1", gateway.port)).unwrap();
        socket
            .write_all(b"GET /api/stream?since=0 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .unwrap();
        stalled.push(socket);
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let during = rss_kib(gateway.child.id());
    // Each pins at most a replay page (128 KiB), its frames and one write.
    assert!(
        during < before + 100 * 1024,
        "50 stalled readers of 12 MB of history grew RSS by {} KiB",
        during - before
    );
    // Past the write timeout, the gateway has let go of them.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut closed = 0;
    for socket in &mut stalled {
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut sink = vec![0u8; 1 << 20];
        let ended = loop {
            match socket.read(&mut sink) {
                Ok(0) => break true,
                Ok(_) => continue,
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    break false;
                }
                Err(_) => break true,
            }
        };
        closed += usize::from(ended);
    }
    assert_eq!(closed, 50, "every stalled reader was disconnected");
}

// 5. A Sim API run may take longer than one request's timeout.
#[tokio::test]
async fn sim_runs_outlast_the_request_timeout() {
    let sim = StandInSimApi::start("sk").await;
    let mut long = Block::new("b1", "Crawl", json!({"pages": 40}));
    long.iterations = 40;
    sim.add_workflow(
        "wf",
        Workflow {
            name: "Workflow".into(),
            deployed: true,
            blocks: vec![Block::start(), long],
        },
    );
    let base = sim.url.clone();
    let gw = TestGateway::start_with(
        json!([agent("crawl", json!({"workflowId": "wf"}))]),
        move |c| {
            c.sim.api_base = Some(format!("{base}/").parse().unwrap());
            c.sim.api_key = Some("sk".into());
            c.outbound.attempt_timeout = Duration::from_millis(500);
        },
    )
    .await;
    let started = Instant::now();
    let (_, events) = gw.run_to_end("crawl", json!({})).await;
    assert!(
        started.elapsed() > Duration::from_millis(1500),
        "the run took its time"
    );
    assert_eq!(
        events.last().unwrap().kind.as_str(),
        "done",
        "{:?}",
        esprit_testkit::messages(&events)
    );
}

// 6. A publisher cannot end another npc's run, nor make an npc busy for good.
#[tokio::test]
async fn runs_belong_to_their_npc() {
    let gw = TestGateway::start_with(
        json!([
            agent("deployer", json!({"flow": "slow"})),
            agent("monitor", json!({"flow": "slow"}))
        ]),
        with_people,
    )
    .await;
    gw.write_flow(
        "slow",
        r#"(steps: [Say("working"), Wait(secs: 30), Done()])"#,
    );
    let (_, ack) = post(&gw, "/api/run/deployer", "alice-t", json!({})).await;
    let run_id = ack["run_id"].as_str().unwrap().to_owned();
    let (status, body) = post(
        &gw,
        "/api/events",
        "pia-t",
        json!({"npc": "monitor", "type": "done", "run_id": run_id}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("run_conflict")),
        "{body}"
    );
    let (_, run) = send(
        &gw,
        reqwest::Method::GET,
        &format!("/api/runs/{run_id}"),
        Some("vera-t"),
        None,
    )
    .await;
    assert_eq!(run["status"], "running", "the deployer's run goes on");
    let (status, _) = post(
        &gw,
        &format!("/api/runs/{run_id}/cancel"),
        "alice-t",
        json!({}),
    )
    .await;
    assert_eq!(status, 202);
    let (_, run) = send(
        &gw,
        reqwest::Method::GET,
        &format!("/api/runs/{run_id}"),
        Some("vera-t"),
        None,
    )
    .await;
    assert_eq!(run["status"], "error");
    assert_eq!(run["error"], "cancelled by alice");

    // A bare step shows on the monitor but does not make it busy.
    let (status, _) = post(
        &gw,
        "/api/events",
        "pia-t",
        json!({"npc": "monitor", "type": "step",
        "data": {"message": "hello"}}),
    )
    .await;
    assert_eq!(status, 202);
    let (status, body) = post(&gw, "/api/run/monitor", "alice-t", json!({})).await;
    assert_eq!(status, 202, "{body}");
}

// 7. An open gateway refuses cross-site changes and foreign Host names.
#[tokio::test]
async fn an_open_gateway_refuses_csrf_and_dns_rebinding() {
    let gw = TestGateway::start(json!([agent("scheduler", json!({"flow": "f"}))])).await;
    gw.write_flow("f", r#"(steps: [Done()])"#);
    let forged = gw
        .http
        .post(gw.url("/api/run/scheduler"))
        .header("content-type", "text/plain")
        .header("origin", "http://evil.example")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let body: Value = forged.json().await.unwrap();
    assert_eq!(body["error"]["code"], "cross_origin");
    let fetched = gw
        .http
        .post(gw.url("/api/run/scheduler"))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(fetched.status(), 403);
    let (_, runs) = gw.get("/api/runs").await;
    assert!(
        runs["runs"].as_array().unwrap().is_empty(),
        "no run was started"
    );

    let rebound = gw
        .http
        .get(gw.url("/api/runs"))
        .header("host", "attacker-rebind.example")
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status(), 421);
    let same_origin = gw
        .http
        .post(gw.url("/api/run/scheduler"))
        .header("origin", gw.running.url())
        .send()
        .await
        .unwrap();
    assert_eq!(same_origin.status(), 202, "the office's own page may");
}

/// Reads until the peer closes; how long that took.
fn time_to_close(socket: &mut TcpStream, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    socket.set_read_timeout(Some(within)).unwrap();
    let mut buffer = [0u8; 4096];
    loop {
        match socket.read(&mut buffer) {
            Ok(0) | Err(_) if started.elapsed() < within => return Some(started.elapsed()),
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

// 8. Slow clients are cut off, and SIGTERM does not wait on them for ever.
#[tokio::test]
async fn half_sent_requests_time_out_and_shutdown_is_bounded() {
    let (gateway, _dir) = gateway_process(
        json!([agent("a", json!({"flow": "none"}))]),
        &["--header-timeout-secs", "1", "--body-timeout-secs", "1"],
        &[],
    )
    .await;
    let mut half_head = TcpStream::connect(("127.0.0.1", gateway.port)).unwrap();
    half_head
        .write_all(b"GET /api/agents HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .unwrap();
    let closed = time_to_close(&mut half_head, Duration::from_secs(5));
    assert!(
        closed.is_some_and(|t| t < Duration::from_secs(3)),
        "half a head: {closed:?}"
    );

    let mut idle = TcpStream::connect(("127.0.0.1", gateway.port)).unwrap();
    let closed = time_to_close(&mut idle, Duration::from_secs(5));
    assert!(
        closed.is_some_and(|t| t < Duration::from_secs(3)),
        "idle: {closed:?}"
    );

    let mut half_body = TcpStream::connect(("127.0.0.1", gateway.port)).unwrap();
    half_body
        .write_all(b"POST /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"npc\":")
        .unwrap();
    half_body
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut answer = vec![0u8; 4096];
    let n = half_body.read(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body_timeout"), "{answer}");

    drop(gateway);

    // A request that never finishes does not hold up SIGTERM past the grace period.
    let (mut gateway, _dir) = gateway_process(
        json!([agent("a", json!({"flow": "none"}))]),
        &["--shutdown-grace-secs", "2"],
        &[],
    )
    .await;
    let mut stuck = TcpStream::connect(("127.0.0.1", gateway.port)).unwrap();
    stuck
        .write_all(b"POST /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{")
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let status = gateway
        .terminate(Duration::from_secs(8))
        .await
        .expect("it stops");
    assert!(status.success(), "{status}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

// 9. What comes back from outside is read up to a cap; Sim's statusUrl is
// followed only on Sim's own origin, and the API key goes nowhere else.
#[tokio::test]
async fn outbound_answers_are_capped_and_sims_links_stay_home() {
    // A webhook receiver answering 300 MB: the gateway reads 64 KiB of it.
    let huge = warp::path!("hook").and(warp::post()).map(|| {
        let chunk = bytes::Bytes::from(vec![b'x'; 1 << 20]);
        let body = futures_util::stream::iter(
            (0..300).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
        );
        warp::reply::stream(body)
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(warp::serve(huge).incoming(listener).run());
    let (gateway, _dir) =
        gateway_process(json!([agent("big", json!({"webhookUrl": hook}))]), &[], &[]).await;
    let before = rss_kib(gateway.child.id());
    let r = reqwest::Client::new()
        .post(format!("{}/api/run/big", gateway.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib(gateway.child.id());
    assert!(
        after < before + 32 * 1024,
        "a 300 MB answer grew RSS by {} KiB",
        after.saturating_sub(before)
    );

    // Sim names a statusUrl on another host: the key is not sent there.
    let thief = Recorder::start(200, r#"{"status":"completed","output":{"success":true}}"#).await;
    let sim = warp::path!("api" / "workflows" / String / "execute").and(warp::header::optional::<String>("x-execution-mode")).map({
        let thief = thief.url.clone();
        move |_: String, mode: Option<String>| match mode.as_deref() {
            Some("async") => warp::reply::with_status(
                warp::reply::json(&json!({"success": true, "jobId": "j1", "statusUrl": format!("{thief}/api/jobs/j1")})),
                warp::http::StatusCode::ACCEPTED,
            ),
            _ => warp::reply::with_status(warp::reply::json(&json!({"error": "down"})), warp::http::StatusCode::BAD_GATEWAY),
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim_url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(warp::serve(sim).incoming(listener).run());
    let gw = TestGateway::start_with(
        json!([agent("job", json!({"workflowId": "wf"}))]),
        move |c| {
            c.sim.api_base = Some(sim_url.parse().unwrap());
            c.sim.api_key = Some("sk-secret".into());
        },
    )
    .await;
    let (_, events) = gw.run_to_end("job", json!({})).await;
    let error = events.last().unwrap().message().unwrap();
    assert!(error.contains("statusUrl is not on"), "{error}");
    assert!(thief.requests().is_empty(), "the API key went nowhere else");
}

// 10. Secrets stay out of events, the roster and the logs; `--help` prints no token.
#[tokio::test]
async fn secrets_stay_out_of_what_people_see() {
    let help = std::process::Command::new(binary())
        .arg("--help")
        .env("ESPRIT_TOKENS", "operator:alice:topsecret-token-0123")
        .env(
            "ESPRIT_JWT_SECRET",
            "topsecret-jwt-0123456789abcdef0123456789",
        )
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("ESPRIT_TOKENS"), "{help}");
    assert!(!help.contains("topsecret"), "{help}");

    let gw = TestGateway::start_with(
        json!([agent(
            "leaky",
            json!({"webhookUrl": "http://user:pa55word@127.0.0.1:9/hook?key=s3cret"})
        )]),
        |c| c.outbound.attempts = 1,
    )
    .await;
    let (_, events) = gw.run_to_end("leaky", json!({})).await;
    let shown = serde_json::to_string(&events).unwrap();
    let (_, roster) = gw.get("/api/agents").await;
    for text in [shown, roster.to_string()] {
        assert!(
            !text.contains("pa55word") && !text.contains("s3cret"),
            "{text}"
        );
        assert!(
            text.contains("http://127.0.0.1:9") && !text.contains("/hook"),
            "people see the origin only: {text}"
        );
    }
}

#[tokio::test]
async fn quiet_runs_end_at_their_deadline_and_their_token_dies() {
    let sim = StandInSim::start(None).await;
    sim.set(Behaviour::Accept);
    let gw = TestGateway::start_with(
        json!([agent(
            "silent",
            json!({"webhookUrl": sim.url, "deadlineSecs": 1})
        )]),
        |c| {
            with_people(c);
            c.run_sweep = Duration::from_millis(100);
        },
    )
    .await;
    let mut stream = esprit_testkit::Subscriber::connect(
        &gw.url("/api/stream?npc=silent"),
        None,
        Some("vera-t"),
    )
    .await;
    assert_eq!(
        post(&gw, "/api/run/silent", "alice-t", json!({})).await.0,
        202
    );
    let token = sim.wait_for_calls(1).await[0].body["callback_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let events = stream.until("error").await;
    assert_eq!(kinds(&events), ["started", "error"]);
    assert_eq!(
        events[1].message(),
        Some("no word from the workflow for 1 s")
    );
    let late = gw
        .http
        .post(gw.url("/api/events"))
        .bearer_auth(&token)
        .json(&json!({"npc": "silent", "type": "done"}))
        .send()
        .await
        .unwrap();
    assert_eq!(late.status(), 401, "the run's token died with it");
}

#[tokio::test]
async fn streams_per_client_are_capped() {
    let gw = TestGateway::start_with(json!([agent("a", json!({"flow": "f"}))]), |c| {
        c.edge.streams_per_client = 2;
    })
    .await;
    let _one = gw.subscribe("").await;
    let _two = gw.subscribe("").await;
    let third = gw.http.get(gw.url("/api/stream")).send().await.unwrap();
    assert_eq!(third.status(), 429);
    assert!(third.headers().contains_key("retry-after"));
    drop(_one);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let again = gw.http.get(gw.url("/api/stream")).send().await.unwrap();
    assert_eq!(again.status(), 200, "a closed stream frees its slot");
}

#[tokio::test]
async fn runs_are_rate_limited_per_person() {
    let gw = TestGateway::start_with(
        json!([
            agent("a", json!({"flow": "f"})),
            agent("b", json!({"flow": "f"})),
            agent("c", json!({"flow": "f"}))
        ]),
        |c| {
            with_people(c);
            c.edge.runs_per_minute = 2;
        },
    )
    .await;
    gw.write_flow("f", r#"(steps: [Done()])"#);
    assert_eq!(post(&gw, "/api/run/a", "alice-t", json!({})).await.0, 202);
    assert_eq!(post(&gw, "/api/run/b", "alice-t", json!({})).await.0, 202);
    let limited = gw
        .http
        .post(gw.url("/api/run/c"))
        .bearer_auth("alice-t")
        .send()
        .await
        .unwrap();
    assert_eq!(limited.status(), 429);
    let wait: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
}

#[tokio::test]
async fn users_file_names_people_and_limits_their_agents() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.json");
    let digest = |t: &str| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(t.as_bytes()));
    std::fs::write(&users, json!([
        {"name": "dana", "role": "operator", "tokenSha256": digest("dana-t"), "agents": ["deploy*"]},
        {"name": "ci", "role": "publisher", "tokenSha256": digest("ci-t"), "agents": ["deployer"]}
    ]).to_string()).unwrap();
    let users_path = users.clone();
    let gw = TestGateway::start_with(
        json!([
            agent("deployer", json!({"flow": "f"})),
            agent("scheduler", json!({"flow": "f"}))
        ]),
        move |c| c.auth.users_file = Some(users_path),
    )
    .await;
    gw.write_flow("f", r#"(steps: [Wait(secs: 5), Done()])"#);
    let step = |npc: &str| json!({"npc": npc, "type": "step"});
    // (who, what, body, the answer)
    let table = [
        ("dana-t", "/api/run/scheduler", json!({}), 403),
        ("dana-t", "/api/run/deployer", json!({}), 202),
        ("ci-t", "/api/events", step("scheduler"), 403),
        ("ci-t", "/api/events", step("deployer"), 202),
        ("nobody", "/api/events", step("deployer"), 401),
    ];
    for (token, path, body, status) in table {
        let (got, answer) = post(&gw, path, token, body).await;
        assert_eq!(got, status, "{token} {path}: {answer}");
    }
    let (_, runs) = send(&gw, reqwest::Method::GET, "/api/runs", Some("dana-t"), None).await;
    assert_eq!(runs["runs"][0]["started_by"], "dana");
}

const IDP_KEY: &str = "idp-key-0123456789abcdef0123456789";

#[tokio::test]
async fn jwts_from_an_identity_provider_name_their_holder() {
    use jsonwebtoken::{EncodingKey, Header, encode};
    // Tokens are signed through the gateway's own provider (ring).
    gateway::auth::install_jwt_crypto();
    let gw = TestGateway::start_with(json!([agent("deployer", json!({"flow": "f"}))]), |c| {
        c.auth.jwt = Some(gateway::config::JwtSettings {
            key: gateway::config::JwtKey::Secret(IDP_KEY.into()),
            issuer: Some("https://idp.example".into()),
            audience: "esprit-office".into(),
        });
    })
    .await;
    gw.write_flow("f", r#"(steps: [Done()])"#);
    let exp = jsonwebtoken::get_current_timestamp() + 600;
    let token = |claims: Value, key: &[u8]| {
        encode(&Header::default(), &claims, &EncodingKey::from_secret(key)).unwrap()
    };
    let bob = token(
        json!({"sub": "bob", "role": "operator", "exp": exp, "iss": "https://idp.example", "aud": "esprit-office"}),
        IDP_KEY.as_bytes(),
    );
    let (status, ack) = post(&gw, "/api/run/deployer", &bob, json!({})).await;
    assert_eq!(status, 202, "{ack}");
    let (_, run) = send(
        &gw,
        reqwest::Method::GET,
        &format!("/api/runs/{}", ack["run_id"].as_str().unwrap()),
        Some(&bob),
        None,
    )
    .await;
    assert_eq!(run["started_by"], "bob");
    let forged = token(
        json!({"sub": "bob", "role": "operator", "exp": exp, "iss": "https://idp.example", "aud": "esprit-office"}),
        b"guess",
    );
    assert_eq!(
        post(&gw, "/api/run/deployer", &forged, json!({})).await.0,
        401
    );
    let other_issuer = token(
        json!({"sub": "bob", "role": "operator", "exp": exp, "iss": "https://evil", "aud": "esprit-office"}),
        IDP_KEY.as_bytes(),
    );
    assert_eq!(
        post(&gw, "/api/run/deployer", &other_issuer, json!({}))
            .await
            .0,
        401
    );
}

#[tokio::test]
async fn a_browser_signs_in_once_and_holds_only_a_cookie() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.json");
    let digest = |t: &str| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(t.as_bytes()));
    std::fs::write(
        &users,
        json!([{"name": "erin", "role": "operator", "tokenSha256": digest("erin-t")}]).to_string(),
    )
    .unwrap();
    let users_path = users.clone();
    let gw = TestGateway::start_with(json!([agent("a", json!({"flow": "f"}))]), move |c| {
        c.auth.users_file = Some(users_path);
    })
    .await;
    gw.write_flow("f", r#"(steps: [Done()])"#);
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let (status, _) = {
        let r = browser.get(gw.url("/api/session")).send().await.unwrap();
        (r.status().as_u16(), ())
    };
    assert_eq!(status, 401, "not signed in yet");
    let wrong = browser
        .post(gw.url("/api/session"))
        .json(&json!({"token": "guess"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let signed = browser
        .post(gw.url("/api/session"))
        .json(&json!({"token": "erin-t"}))
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 200);
    let cookie = signed.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let who: Value = signed.json().await.unwrap();
    assert_eq!(
        (who["subject"].as_str(), who["role"].as_str()),
        (Some("erin"), Some("operator"))
    );
    let run = browser.post(gw.url("/api/run/a")).send().await.unwrap();
    assert_eq!(run.status(), 202, "the cookie authenticates");
    let stream = browser.get(gw.url("/api/stream")).send().await.unwrap();
    assert_eq!(stream.status(), 200, "and opens the stream");
    drop(stream);
    let check = browser
        .get(gw.url("/api/session/check"))
        .send()
        .await
        .unwrap();
    assert_eq!(check.status(), 204);

    // Rotating the token out of the users file ends the sessions it opened.
    std::fs::write(&users, "[]").unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let status = browser
            .get(gw.url("/api/session"))
            .send()
            .await
            .unwrap()
            .status();
        if status == 401 {
            break;
        }
        assert!(Instant::now() < deadline, "the session outlived its token");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    std::fs::write(
        &users,
        json!([{"name": "erin", "role": "operator", "tokenSha256": digest("erin-t")}]).to_string(),
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let again = browser
        .post(gw.url("/api/session"))
        .json(&json!({"token": "erin-t"}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    let out = browser.delete(gw.url("/api/session")).send().await.unwrap();
    assert_eq!(out.status(), 204);
    assert!(
        out.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(
        browser
            .get(gw.url("/api/session"))
            .send()
            .await
            .unwrap()
            .status(),
        401,
        "signed out"
    );
}

#[tokio::test]
async fn sign_in_attempts_are_rate_limited_per_address() {
    let gw = TestGateway::start_with(json!([agent("a", json!({"flow": "f"}))]), |c| {
        with_people(c);
        c.edge.sign_ins_per_minute = 3;
    })
    .await;
    for _ in 0..3 {
        let r = gw
            .http
            .post(gw.url("/api/session"))
            .json(&json!({"token": "guess"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    let r = gw
        .http
        .post(gw.url("/api/session"))
        .json(&json!({"token": "alice-t"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429, "guessing is slow even for the right token");
}
