//! `compose/nginx.conf` for real: Debian's nginx runs the same file (upstreams
//! rendered to loopback ports by `compose/render-nginx.sh`) in front of a real
//! gateway, a stand-in Sim webhook and a WebSocket upstream.

use esprit_testkit::nginx::Nginx;
use esprit_testkit::{StandInSim, Subscriber, TestGateway, agent, kinds};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use warp::Filter;

/// A Sim-like upstream: `/api/...` echoes the path it saw, `/socket.io/` is a
/// WebSocket that echoes messages.
async fn sim_upstream() -> SocketAddr {
    let ws = warp::path("socket.io")
        .and(warp::ws())
        .map(|ws: warp::ws::Ws| {
            ws.on_upgrade(|socket| async move {
                let (mut tx, mut rx) = socket.split();
                while let Some(Ok(message)) = rx.next().await {
                    if message.is_text() && tx.send(message).await.is_err() {
                        break;
                    }
                }
            })
        });
    let echo = warp::path::full()
        .map(|path: warp::path::FullPath| warp::reply::json(&json!({"path": path.as_str()})));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(warp::serve(ws.or(echo)).incoming(listener).run());
    addr
}

struct Stack {
    gateway: TestGateway,
    sim: StandInSim,
    nginx: Nginx,
    http: reqwest::Client,
}

async fn stack() -> Stack {
    let sim = StandInSim::start(Some("sim-secret")).await;
    let agents = json!([agent(
        "scheduler",
        json!({"webhookUrl": sim.url, "webhookToken": "sim-secret"})
    )]);
    let gateway = TestGateway::start_with(agents, |config| {
        config.keepalive = Duration::from_secs(5);
        config.sim.public_url = Some("http://sim.example:3000".into());
    })
    .await;
    let upstream = sim_upstream().await;
    let nginx = Nginx::start(&[gateway.running.addr], upstream, upstream);
    Stack {
        gateway,
        sim,
        nginx,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// The next event and when it arrived, counted from `sent`.
async fn arrival(
    subscriber: &mut Subscriber,
    sent: Instant,
) -> (Option<protocol::EventEnvelope>, Duration) {
    let event = subscriber.next_within(Duration::from_secs(2)).await;
    (event, sent.elapsed())
}

#[tokio::test]
async fn events_cross_nginx_one_by_one_without_waiting_for_a_buffer() {
    let stack = stack().await;
    let mut proxied =
        Subscriber::connect(&stack.nginx.url("/api/stream?npc=scheduler"), None, None).await;
    let mut direct = stack.gateway.subscribe("?npc=scheduler").await;
    let (mut through_nginx, mut added) = (Vec::new(), Vec::new());
    for i in 0..40 {
        let sent = Instant::now();
        let id = stack
            .gateway
            .publish("scheduler", "step", json!({"message": format!("step {i}")}))
            .await;
        // Both readers wait at once, so each arrival time is its own.
        let ((direct_event, direct_at), (event, proxied_at)) =
            tokio::join!(arrival(&mut direct, sent), arrival(&mut proxied, sent));
        let event =
            event.expect("a small event crosses nginx within 2 s (buffering would hold it back)");
        assert_eq!((event.id, direct_event.expect("direct").id), (id, id));
        through_nginx.push(proxied_at);
        added.push(proxied_at.saturating_sub(direct_at));
    }
    through_nginx.sort();
    added.sort();
    println!(
        "publish→subscriber through nginx: p50 {:?} p99 {:?}; added by nginx p50 {:?} p99 {:?}",
        percentile(&through_nginx, 0.5),
        percentile(&through_nginx, 0.99),
        percentile(&added, 0.5),
        percentile(&added, 0.99)
    );
    assert!(
        percentile(&added, 0.5) < Duration::from_millis(50),
        "nginx adds {:?} at the median",
        percentile(&added, 0.5)
    );
}

#[tokio::test]
async fn a_quiet_stream_outlives_nginx_default_timeout() {
    let stack = stack().await;
    let response = stack
        .http
        .get(stack.nginx.url("/api/stream?npc=scheduler"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut text = String::new();
    // nginx's default proxy_read_timeout is 60 s; keep-alive comments every
    // 5 s and the config's longer timeout keep the stream open past it.
    let quiet_until = Instant::now() + Duration::from_secs(65);
    while let Ok(Some(chunk)) = tokio::time::timeout_at(quiet_until.into(), body.next()).await {
        text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
    }
    let keepalives = text.lines().filter(|l| l.starts_with(':')).count();
    assert!(keepalives >= 10, "keep-alives crossed nginx: {text:?}");
    stack
        .gateway
        .publish("scheduler", "step", json!({"message": "still here"}))
        .await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while !text.contains("still here") {
        let chunk = tokio::time::timeout_at(deadline.into(), body.next())
            .await
            .expect("the event arrives on the same stream")
            .expect("the stream is still open");
        text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
    }
}

#[tokio::test]
async fn runs_and_callbacks_work_through_nginx() {
    let stack = stack().await;
    let mut stream =
        Subscriber::connect(&stack.nginx.url("/api/stream?npc=scheduler"), None, None).await;
    let response = stack
        .http
        .post(stack.nginx.url("/api/run/scheduler"))
        .json(&json!({"payload": {"title": "standup"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.unwrap();
    let events = stream.until("done").await;
    assert_eq!(kinds(&events), ["started", "step", "step", "done"]);
    assert!(
        events
            .iter()
            .all(|e| e.run_id.as_deref() == accepted["run_id"].as_str())
    );
    assert_eq!(stack.sim.calls()[0].body["title"], "standup");

    let unknown = stack
        .http
        .post(stack.nginx.url("/api/run/nobody"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unknown_agent");
}

/// A valid event whose JSON body is exactly `size` bytes.
fn event_of_size(size: usize) -> String {
    let empty = json!({"npc": "scheduler", "type": "step", "data": {"message": ""}}).to_string();
    let padding = "x".repeat(size - empty.len());
    json!({"npc": "scheduler", "type": "step", "data": {"message": padding}}).to_string()
}

#[tokio::test]
async fn body_limits_answer_in_json_at_both_layers() {
    let stack = stack().await;
    let limit = 64 * 1024;
    let post = |body: String| {
        stack
            .http
            .post(stack.nginx.url("/api/events"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let at_limit = post(event_of_size(limit)).await.unwrap();
    assert_eq!(at_limit.status(), 202, "a body at the limit is accepted");

    let over = post(event_of_size(limit + 1)).await.unwrap();
    assert_eq!(over.status(), 413);
    let body: Value = over.json().await.unwrap();
    assert_eq!(
        body["error"]["code"], "payload_too_large",
        "the gateway's answer"
    );

    let huge = post(event_of_size(2 * 1024 * 1024)).await.unwrap();
    assert_eq!(huge.status(), 413);
    assert_eq!(
        huge.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let body: Value = huge.json().await.unwrap();
    assert_eq!(body["error"]["code"], "payload_too_large", "nginx's answer");

    let (_, health) = stack.gateway.get("/healthz").await;
    assert_eq!(health["status"], "ok", "the gateway is unharmed");
}

#[tokio::test]
async fn socket_io_upgrades_to_a_websocket() {
    let stack = stack().await;
    let url = format!(
        "ws://{}/socket.io/?EIO=4&transport=websocket",
        stack.nginx.addr
    );
    let (mut socket, response) = tokio_tungstenite::connect_async(url)
        .await
        .expect("nginx upgrades /socket.io/ to a WebSocket");
    assert_eq!(response.status(), 101);
    socket
        .send(tokio_tungstenite::tungstenite::Message::text("40"))
        .await
        .unwrap();
    let echoed = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("an echo within 5 s")
        .unwrap()
        .unwrap();
    assert_eq!(echoed.into_text().unwrap().as_str(), "40");
}

#[tokio::test]
async fn studio_redirects_to_sim_and_sim_api_is_under_sim() {
    let stack = stack().await;
    let bare = stack
        .http
        .get(stack.nginx.url("/studio"))
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), 301);
    assert!(
        bare.headers()["location"]
            .to_str()
            .unwrap()
            .ends_with("/studio/")
    );

    let studio = stack
        .http
        .get(stack.nginx.url("/studio/"))
        .send()
        .await
        .unwrap();
    assert_eq!(studio.status(), 302);
    assert_eq!(
        studio.headers()["location"]
            .to_str()
            .unwrap()
            .trim_end_matches('/'),
        "http://sim.example:3000"
    );

    let api = stack
        .http
        .get(stack.nginx.url("/sim/api/workflows/wf1/status"))
        .send()
        .await
        .unwrap();
    let seen: Value = api.json().await.unwrap();
    assert_eq!(seen["path"], "/api/workflows/wf1/status", "prefix stripped");
}

#[tokio::test]
async fn answers_carry_security_headers() {
    let stack = stack().await;
    let health = stack
        .http
        .get(stack.nginx.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    for header in [
        "x-content-type-options",
        "referrer-policy",
        "x-frame-options",
        "content-security-policy",
    ] {
        assert!(health.headers().contains_key(header), "{header}");
    }
    assert!(
        health.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("'wasm-unsafe-eval'"),
        "the office's wasm may compile"
    );
    assert!(
        !health.headers().contains_key("server")
            || !health.headers()["server"].to_str().unwrap().contains('/'),
        "no version in Server"
    );
}

/// nginx in front of a gateway that asks who is calling (alice is an operator).
async fn signed_stack() -> (TestGateway, Nginx, SocketAddr) {
    let gateway = TestGateway::start_with(json!([agent("a", json!({"flow": "f"}))]), |config| {
        config.auth.tokens.insert(
            "alice-t",
            gateway::auth::Identity {
                subject: "alice".into(),
                role: gateway::auth::Role::Operator,
                agents: gateway::auth::AgentScope::All,
            },
        );
        config.sim.public_url = Some("http://sim.example:3000".into());
    })
    .await;
    let upstream = sim_upstream().await;
    let nginx = Nginx::start(&[gateway.running.addr], upstream, upstream);
    (gateway, nginx, upstream)
}

#[tokio::test]
async fn studio_opens_only_to_a_browser_signed_in_to_the_office() {
    let (_gateway, nginx, _) = signed_stack().await;
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap();
    let office_port = nginx.addr.port();
    let refused = browser
        .get(nginx.studio_url("/workspace"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 302);
    assert_eq!(
        refused.headers()["location"],
        format!("http://127.0.0.1:{office_port}/?signin=studio").as_str()
    );
    let via_office = browser.get(nginx.url("/studio/")).send().await.unwrap();
    assert_eq!(via_office.status(), 302);
    assert_eq!(
        via_office.headers()["location"],
        format!("http://127.0.0.1:{office_port}/?signin=studio").as_str()
    );
    let socket = browser
        .get(nginx.url("/socket.io/?EIO=4"))
        .send()
        .await
        .unwrap();
    assert_eq!(socket.status(), 401, "the realtime socket too");

    let signed = browser
        .post(nginx.url("/api/session"))
        .json(&json!({"token": "alice-t"}))
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 200);
    let studio = browser
        .get(nginx.studio_url("/workspace"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        studio.status(),
        200,
        "the cookie is the host's, whatever the port"
    );
    let seen: Value = studio.json().await.unwrap();
    assert_eq!(seen["path"], "/workspace", "Sim itself answered");
    let via_office = browser.get(nginx.url("/studio/")).send().await.unwrap();
    assert_eq!(via_office.status(), 302);
    assert_eq!(
        via_office.headers()["location"]
            .to_str()
            .unwrap()
            .trim_end_matches('/'),
        "http://sim.example:3000"
    );

    browser
        .delete(nginx.url("/api/session"))
        .send()
        .await
        .unwrap();
    let after = browser
        .get(nginx.studio_url("/workspace"))
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 302, "signed out, Studio closes again");
}

#[tokio::test]
async fn nginx_limits_changes_per_address_as_a_second_layer() {
    let (_gateway, nginx, _) = signed_stack().await;
    let http = reqwest::Client::new();
    let mut limited = None;
    // An operator may not publish: the gateway refuses each (403, no guessing
    // involved) until nginx steps in.
    for _ in 0..300 {
        let r = http
            .post(nginx.url("/api/events"))
            .bearer_auth("alice-t")
            .json(&json!({"npc": "a", "type": "step"}))
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            limited = Some(r);
            break;
        }
        assert_eq!(r.status(), 403, "the gateway answers until nginx steps in");
    }
    let limited = limited.expect("nginx refuses a burst of changes from one address");
    assert_eq!(limited.headers()["retry-after"], "1");
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    let read = http.get(nginx.url("/healthz")).send().await.unwrap();
    assert_eq!(read.status(), 200, "reads are not limited here");
}
