//! The gateway over real sockets: roster, runs through a stand-in Sim, webhook
//! failures, resume without gaps, slow consumers, bad input and auth.

use esprit_testkit::*;
use serde_json::{Value, json};
use std::time::Duration;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn two_agents(url: &str) -> Value {
    json!([
        agent(
            "scheduler",
            json!({"webhookUrl": url, "name": "Sage", "role": "Scheduler"})
        ),
        agent("mailops", json!({"webhookUrl": url})),
    ])
}

#[tokio::test]
async fn roster_status_follows_each_agents_events() {
    let gw = TestGateway::start(two_agents("http://127.0.0.1:9/")).await;
    let (_, roster) = gw.get("/api/agents").await;
    assert_eq!(roster["agents"][0]["status"], "idle");
    assert_eq!(roster["agents"][0]["name"], "Sage");
    assert_eq!(roster["agents"][0]["studio_url"], "/studio/");

    gw.publish("scheduler", "started", json!({})).await;
    gw.publish(
        "scheduler",
        "step",
        json!({"message": "Parsing calendar event..."}),
    )
    .await;
    let (_, roster) = gw.get("/api/agents").await;
    assert_eq!(roster["agents"][0]["status"], "running");
    assert_eq!(
        roster["agents"][0]["last_message"],
        "Parsing calendar event..."
    );
    assert_eq!(
        roster["agents"][1]["status"], "idle",
        "other agents are untouched"
    );

    gw.publish("scheduler", "awaiting", json!({"question": "Book it?"}))
        .await;
    assert_eq!(
        gw.get("/api/agents").await.1["agents"][0]["status"],
        "awaiting"
    );
    let id = gw
        .publish(
            "scheduler",
            "error",
            json!({"error": "API rate limit exceeded"}),
        )
        .await;
    let (_, roster) = gw.get("/api/agents").await;
    assert_eq!(roster["agents"][0]["status"], "error");
    assert_eq!(
        roster["agents"][0]["last_message"],
        "API rate limit exceeded"
    );
    assert_eq!(roster["last_event_id"], id);
}

#[tokio::test]
async fn a_run_reaches_sim_signed_and_its_callbacks_stream_in_order() {
    let sim = StandInSim::start(Some("sched-token")).await;
    let agents = json!([agent(
        "scheduler",
        json!({"webhookUrl": sim.url, "webhookToken": "sched-token", "secret": SECRET})
    )]);
    let gw = TestGateway::start(agents).await;
    let mut stream = gw.subscribe("?npc=scheduler").await;

    let (status, accepted) = gw
        .post(
            "/api/run/scheduler",
            json!({"payload": {"date": "2025-11-07"}}),
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    let run_id = accepted["run_id"].as_str().unwrap().to_owned();

    let events = stream.until("done").await;
    assert_eq!(kinds(&events), ["started", "step", "step", "done"]);
    assert!(
        events
            .iter()
            .all(|e| e.run_id.as_deref() == Some(run_id.as_str())),
        "callbacks are tied to the run"
    );
    assert_eq!(events[1].message(), Some("Parsing calendar event..."));
    assert_eq!(
        events[3].field("result"),
        Some(&json!({"eventId": "evt_123"}))
    );
    assert!(events.windows(2).all(|w| w[0].id < w[1].id));

    let call = &sim.calls()[0];
    assert_eq!(call.body["run_id"], run_id.as_str());
    assert_eq!(call.body["agent"], "scheduler");
    assert_eq!(call.body["payload"], json!({"date": "2025-11-07"}));
    assert_eq!(call.body["callback_url"], gw.url("/api/events").as_str());
    // The Standard Webhooks signature verifies over exactly the bytes sent.
    let header = |name: &str| call.headers.get(name).unwrap().to_str().unwrap().to_owned();
    let expected = gateway::outbound::standard_signature(
        SECRET,
        &header("webhook-id"),
        header("webhook-timestamp").parse().unwrap(),
        &call.raw,
    )
    .unwrap();
    assert_eq!(header("webhook-signature"), expected);
    assert_eq!(header("authorization"), "Bearer sched-token");

    let (_, runs) = gw.get("/api/runs?agent=scheduler").await;
    assert_eq!(runs["runs"][0]["status"], "done");
    assert!(runs["runs"][0]["duration_ms"].as_u64().is_some());
    // The run's token ended with the run.
    let token = call.body["callback_token"].as_str().unwrap();
    let late = gw
        .http
        .post(gw.url("/api/events"))
        .bearer_auth(token)
        .json(&json!({"npc": "scheduler", "type": "step", "data": {"message": "late"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        late.status(),
        202,
        "an open gateway accepts anyone; the token check matters with auth on"
    );
}

#[tokio::test]
async fn a_second_run_while_busy_is_refused_with_409() {
    let sim = StandInSim::start(None).await;
    sim.set(Behaviour::Accept);
    let gw = TestGateway::start(json!([agent("scheduler", json!({"webhookUrl": sim.url}))])).await;
    let (status, first) = gw.post("/api/run/scheduler", json!({})).await;
    assert_eq!(status, 202);
    let (status, body) = gw.post("/api/run/scheduler", json!({})).await;
    assert_eq!(status, 409);
    assert_eq!(body["error"]["code"], "agent_busy");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(first["run_id"].as_str().unwrap())
    );
    // Cancelling frees the agent.
    let (status, _) = gw
        .post(
            &format!("/api/runs/{}/cancel", first["run_id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(status, 202);
    assert_eq!(gw.post("/api/run/scheduler", json!({})).await.0, 202);
}

#[tokio::test]
async fn webhook_failures_retry_then_end_the_run_with_an_error() {
    let sim = StandInSim::start(None).await;
    let agents = json!([
        agent("broken", json!({"webhookUrl": sim.url})),
        agent("down", json!({"webhookUrl": "http://127.0.0.1:9/hook"})),
    ]);
    let gw = TestGateway::start_with(agents, |c| {
        c.outbound.attempts = 3;
        c.outbound.attempt_timeout = Duration::from_millis(300);
    })
    .await;

    sim.set(Behaviour::Fail500);
    let mut stream = gw.subscribe("?npc=broken").await;
    gw.post("/api/run/broken", json!({})).await;
    let events = stream.until("error").await;
    assert_eq!(kinds(&events), ["started", "error"]);
    let error = events[1].field("error").unwrap().as_str().unwrap();
    assert!(
        error.contains("after 3 attempt(s)") && error.contains("500"),
        "{error}"
    );
    assert_eq!(sim.calls().len(), 3, "bounded retries");

    sim.set(Behaviour::Hang);
    let mut stream = gw.subscribe("?npc=broken").await;
    gw.post("/api/run/broken", json!({})).await;
    let error = stream.until("error").await.pop().unwrap();
    assert!(
        error.message().unwrap().contains("timed out"),
        "{:?}",
        error.message()
    );

    let mut stream = gw.subscribe("?npc=down").await;
    gw.post("/api/run/down", json!({})).await;
    let error = stream.until("error").await.pop().unwrap();
    assert!(
        error.message().unwrap().contains("cannot connect"),
        "{:?}",
        error.message()
    );

    sim.set(Behaviour::Unauthorized);
    let before = sim.calls().len();
    let mut stream = gw.subscribe("?npc=broken").await;
    gw.post("/api/run/broken", json!({})).await;
    let error = stream.until("error").await.pop().unwrap();
    assert!(
        error.message().unwrap().contains("401"),
        "{:?}",
        error.message()
    );
    assert_eq!(sim.calls().len(), before + 1, "a 4xx is not retried");
}

#[tokio::test]
async fn resume_with_last_event_id_while_publishing_has_no_gap_and_no_duplicate() {
    let gw = TestGateway::start(two_agents("http://127.0.0.1:9/")).await;
    let total = 3000u64;
    let publisher = {
        let (http, url) = (gw.http.clone(), gw.url("/api/events"));
        tokio::spawn(async move {
            for batch in 0..(total / 50) {
                let events: Vec<Value> = (0..50)
                    .map(|i| json!({"npc": if i % 2 == 0 { "scheduler" } else { "mailops" }, "type": "step", "data": {"message": format!("{batch}-{i}")}}))
                    .collect();
                let r = http.post(&url).json(&events).send().await.unwrap();
                assert_eq!(r.status(), 202);
            }
        })
    };
    let mut seen = Vec::new();
    let mut last = 0;
    // Connect, read a few hundred, drop the connection, resume: repeatedly.
    while seen.len() < total as usize {
        let url = gw.url("/api/stream");
        let mut sub = Subscriber::connect(&url, Some(last), None).await;
        for _ in 0..400 {
            match sub.next_within(Duration::from_secs(5)).await {
                Some(event) => {
                    last = event.id;
                    seen.push(event.id);
                }
                None => break,
            }
            if seen.len() == total as usize {
                break;
            }
        }
    }
    publisher.await.unwrap();
    assert_eq!(seen, (1..=total).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_slow_consumer_is_cut_off_while_a_fast_one_keeps_every_event() {
    let gw = TestGateway::start_with(two_agents("http://127.0.0.1:9/"), |c| {
        c.subscriber_queue = 64
    })
    .await;
    let rss_before = rss_kib();
    // The slow one connects and then reads nothing while the socket buffers fill.
    let mut slow = gw.subscribe("?npc=scheduler").await;
    let mut fast = gw.subscribe("?npc=scheduler").await;
    let total = 12_000u64;
    let padding = "x".repeat(1500);
    let reader = tokio::spawn(async move {
        let mut ids = Vec::new();
        while ids.len() < total as usize {
            ids.push(fast.next().await.id);
        }
        ids
    });
    for batch in 0..(total / 30) {
        let events: Vec<Value> = (0..30)
            .map(|i| json!({"npc": "scheduler", "type": "step", "data": {"message": format!("{batch}-{i} {padding}")}}))
            .collect();
        let (status, _) = gw.post("/api/events", Value::Array(events)).await;
        assert_eq!(status, 202);
    }
    let fast_ids = reader.await.unwrap();
    assert_eq!(fast_ids.len() as u64, total);
    assert!(
        fast_ids.windows(2).all(|w| w[1] == w[0] + 1),
        "the fast consumer misses nothing"
    );

    let mut slow_count = 0u64;
    while slow.next_within(Duration::from_secs(3)).await.is_some() {
        slow_count += 1;
    }
    assert!(
        slow_count < total,
        "the slow consumer was cut off (got {slow_count} of {total})"
    );
    let metrics = gw
        .http
        .get(gw.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let cut = metrics
        .lines()
        .find(|l| l.starts_with("esprit_subscribers_cut_off_total"))
        .unwrap();
    assert!(!cut.ends_with(" 0"), "{cut}");
    let grown_mib = (rss_kib().saturating_sub(rss_before)) / 1024;
    assert!(
        grown_mib < 150,
        "memory stays bounded (grew {grown_mib} MiB)"
    );
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn bad_input_gets_its_documented_error_and_the_service_stays_healthy() {
    let gw = TestGateway::start(two_agents("http://127.0.0.1:9/")).await;
    let oversized =
        json!({"npc": "scheduler", "type": "step", "data": {"message": "x".repeat(70_000)}})
            .to_string();
    let cases: Vec<(&str, &str, String, u16, &str)> = vec![
        (
            "POST",
            "/api/events",
            "{\"npc\": \"scheduler\",".into(),
            400,
            "malformed_json",
        ),
        (
            "POST",
            "/api/events",
            json!({"npc": 5, "type": "step"}).to_string(),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/api/events",
            json!({"npc": "scheduler", "type": "finished"}).to_string(),
            400,
            "invalid_event",
        ),
        (
            "POST",
            "/api/events",
            json!({"npc": "scheduler", "type": "roster"}).to_string(),
            400,
            "invalid_event",
        ),
        (
            "POST",
            "/api/events",
            json!({"npc": "ghost", "type": "step"}).to_string(),
            404,
            "unknown_npc",
        ),
        (
            "POST",
            "/api/events",
            json!({"npc": "scheduler", "type": "step", "ts": "yesterday"}).to_string(),
            400,
            "invalid_event",
        ),
        (
            "POST",
            "/api/events",
            json!({"npc": "scheduler", "type": "step", "data": [1]}).to_string(),
            400,
            "invalid_event",
        ),
        ("POST", "/api/events", "[]".into(), 400, "invalid_event"),
        ("POST", "/api/events", oversized, 413, "payload_too_large"),
        ("POST", "/api/run/ghost", "{}".into(), 404, "unknown_agent"),
        (
            "POST",
            "/api/run/scheduler",
            json!({"payload": 1, "extra": true}).to_string(),
            400,
            "invalid_request",
        ),
        (
            "GET",
            "/api/stream?npc=ghost",
            String::new(),
            404,
            "unknown_npc",
        ),
        (
            "GET",
            "/api/history?npc=ghost",
            String::new(),
            404,
            "unknown_npc",
        ),
        (
            "GET",
            "/api/history?limit=many",
            String::new(),
            400,
            "invalid_request",
        ),
        (
            "GET",
            "/api/runs/run_nope",
            String::new(),
            404,
            "unknown_run",
        ),
        (
            "POST",
            "/api/runs/run_nope/cancel",
            String::new(),
            404,
            "unknown_run",
        ),
        ("GET", "/api/nothing-here", String::new(), 404, "not_found"),
    ];
    for (method, path, body, status, code) in cases {
        let request = match method {
            "POST" => gw
                .http
                .post(gw.url(path))
                .header("content-type", "application/json")
                .body(body),
            _ => gw.http.get(gw.url(path)),
        };
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{method} {path}");
        let json: Value = response.json().await.unwrap();
        assert_eq!(json["error"]["code"], code, "{method} {path}: {json}");
        assert!(!json["error"]["message"].as_str().unwrap().is_empty());
    }
    let (status, _) = gw.get("/healthz").await;
    assert_eq!(status, 200);
    assert_eq!(gw.get("/readyz").await.0, 200);
    gw.publish("scheduler", "step", json!("a bare string is the message"))
        .await;
}

#[tokio::test]
async fn a_broken_registry_is_refused_at_start_and_ignored_on_reload() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agents.json");
    std::fs::write(&path, "[\n  {\"agent\": \"a\", \"npc\": \"a\", \"webhookUrl\": \"http://x/\"},\n  {\"agent\": \"b\", \"npc\": \"b\", \"webhookUrl\": 7}\n]").unwrap();
    let config = gateway::Config::for_paths(path.clone(), dir.path().join("db"));
    let error = gateway::spawn(config).await.err().unwrap().to_string();
    assert!(
        error.contains("agents.json:3:") && error.contains("[1].webhookUrl"),
        "{error}"
    );

    let gw = TestGateway::start(json!([agent("a", json!({"flow": "x"}))])).await;
    let mut stream = gw.subscribe("").await;
    std::fs::write(gw.path("agents.json"), "[{\"agent\": \"a\"").unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        gw.get("/api/agents").await.1["agents"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "last good registry kept"
    );

    let two = json!([
        agent("a", json!({"flow": "x"})),
        agent("b", json!({"flow": "x"}))
    ]);
    std::fs::write(gw.path("agents.json"), two.to_string()).unwrap();
    let roster = stream.until("roster").await.pop().unwrap();
    assert_eq!(roster.npc, "*");
    assert_eq!(
        gw.get("/api/agents").await.1["agents"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn roles_limit_what_each_token_may_do() {
    use gateway::auth::{AgentScope, Identity, Role};
    let person = |role| Identity {
        subject: "tester".into(),
        role,
        agents: AgentScope::All,
    };
    let sim = StandInSim::start(None).await;
    sim.set(Behaviour::Accept);
    let gw = TestGateway::start_with(two_agents(&sim.url), |c| {
        c.auth.tokens.insert("view-t", person(Role::Viewer));
        c.auth.tokens.insert("op-t", person(Role::Operator));
        c.auth.tokens.insert("pub-t", person(Role::Publisher));
    })
    .await;
    let call = |method: &str, path: &str, token: Option<&str>| {
        let mut request = match method {
            "POST" => gw
                .http
                .post(gw.url(path))
                .json(&json!({"npc": "scheduler", "type": "done"})),
            _ => gw.http.get(gw.url(path)),
        };
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(call("GET", "/api/agents", None).await, 401);
    assert_eq!(call("GET", "/api/agents", Some("wrong")).await, 401);
    assert_eq!(call("GET", "/api/agents", Some("view-t")).await, 200);
    assert_eq!(
        call("GET", "/api/stream?access_token=view-t", None).await,
        200,
        "EventSource passes it in the query"
    );
    assert_eq!(
        call("GET", "/api/agents?access_token=view-t", None).await,
        401,
        "only the stream takes a token in the query (query strings land in access logs)"
    );
    assert_eq!(call("POST", "/api/events", Some("view-t")).await, 403);
    assert_eq!(call("POST", "/api/events", Some("pub-t")).await, 202);
    assert_eq!(call("GET", "/api/history", Some("pub-t")).await, 403);
    assert_eq!(
        call("POST", "/api/run/scheduler", Some("view-t")).await,
        403
    );
    assert_eq!(
        call("GET", "/healthz", None).await,
        200,
        "health stays open"
    );

    // A run's callback token publishes for its own npc only.
    let (run_id, token) = {
        let r = gw
            .http
            .post(gw.url("/api/run/scheduler"))
            .bearer_auth("op-t")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        let run_id = r.json::<Value>().await.unwrap()["run_id"]
            .as_str()
            .unwrap()
            .to_owned();
        // The token travels in the run's webhook, as Sim receives it.
        let token = sim.wait_for_calls(1).await[0].body["callback_token"]
            .as_str()
            .unwrap()
            .to_owned();
        (run_id, token)
    };
    let post = |npc: &str, token: &str| {
        gw.http
            .post(gw.url("/api/events"))
            .bearer_auth(token)
            .json(&json!({"npc": npc, "type": "step"}))
            .send()
    };
    assert_eq!(post("scheduler", &token).await.unwrap().status(), 202);
    assert_eq!(post("mailops", &token).await.unwrap().status(), 403);
    let (_, history) = {
        let r = gw
            .http
            .get(gw.url("/api/history?npc=scheduler"))
            .bearer_auth("view-t")
            .send()
            .await
            .unwrap();
        (r.status(), r.json::<Value>().await.unwrap())
    };
    let last = history["events"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        last["run_id"],
        run_id.as_str(),
        "events posted with a run token belong to that run"
    );
}

#[tokio::test]
async fn history_pages_backwards() {
    let gw = TestGateway::start(two_agents("http://127.0.0.1:9/")).await;
    for i in 0..25 {
        gw.publish("scheduler", "step", json!({"message": format!("m{i}")}))
            .await;
    }
    let (_, page) = gw.get("/api/history?npc=scheduler&limit=10").await;
    let ids: Vec<u64> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, (16..=25).collect::<Vec<_>>());
    let before = page["next_before"].as_u64().unwrap();
    let (_, older) = gw
        .get(&format!(
            "/api/history?npc=scheduler&limit=10&before={before}"
        ))
        .await;
    assert_eq!(older["events"][0]["id"], 6);
}

#[tokio::test]
async fn runs_started_today_are_counted_from_the_offices_midnight() {
    let sim = StandInSim::start(None).await;
    sim.set(Behaviour::Accept);
    let gw = TestGateway::start(two_agents(&sim.url)).await;
    let midnight = "2000-01-01T00:00:00+01:00";
    let query = format!("/api/runs/count?since={}", midnight.replace('+', "%2B"));
    let (status, count) = gw.get(&query).await;
    assert_eq!((status, count["started"].as_u64()), (200, Some(0)));

    for _ in 0..2 {
        let (run_id, mut stream) = gw.run("scheduler", json!({})).await;
        gw.post(&format!("/api/runs/{run_id}/cancel"), json!({}))
            .await;
        stream.until("error").await;
    }
    let (status, count) = gw.get(&query).await;
    assert_eq!(
        (status, count["started"].as_u64()),
        (200, Some(2)),
        "{count}"
    );
    assert_eq!(count["since"], midnight);
    let (_, later) = gw.get("/api/runs/count?since=2999-01-01T00:00:00Z").await;
    assert_eq!(later["started"], 0);

    for bad in ["yesterday", "2025-13-01T00:00:00Z", ""] {
        let (status, body) = gw.get(&format!("/api/runs/count?since={bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "invalid_request", "{bad}: {body}");
    }
    let (status, body) = gw.get("/api/runs/count").await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn the_office_map_is_served_fresh_from_its_directory() {
    let gw = TestGateway::start_with(two_agents("http://127.0.0.1:9/"), |config| {
        config.office_dir = std::env::temp_dir().join("no-such-office-dir");
    })
    .await;
    let (status, _) = gw.get("/office/office.tmj").await;
    assert_eq!(status, 404);

    let office = gw.path("office");
    std::fs::create_dir_all(&office).unwrap();
    std::fs::write(office.join("office.tmj"), r#"{"width":1}"#).unwrap();
    std::fs::write(gw.path("secret.txt"), "not for you").unwrap();
    let gw = TestGateway::start_with(two_agents("http://127.0.0.1:9/"), |config| {
        config.office_dir = office.clone();
    })
    .await;
    let response = gw
        .http
        .get(gw.url("/office/office.tmj"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["cache-control"], "no-cache");
    assert_eq!(response.text().await.unwrap(), r#"{"width":1}"#);

    // A map saved again shows on the next load, without a restart.
    std::fs::write(office.join("office.tmj"), r#"{"width":2}"#).unwrap();
    let again = gw
        .http
        .get(gw.url("/office/office.tmj"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.text().await.unwrap(), r#"{"width":2}"#);

    for outside in [
        "/office/../secret.txt",
        "/office/%2e%2e/secret.txt",
        "/office/",
        "/office/missing.png",
    ] {
        let response = gw.http.get(gw.url(outside)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{outside}");
    }
}
