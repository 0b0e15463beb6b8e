//! The office as of any moment: the roster `GET /api/agents?at=` answers
//! for a past moment is what the live roster showed then (over checkpoints,
//! after a restart, on SQLite and on Redis), and `GET /api/history?from=&to=`
//! pages a window of time.

use esprit_testkit::redis::RedisServer;
use esprit_testkit::{TestGateway, agent};
use serde_json::{Value, json};
use std::time::Duration;

fn agents() -> Value {
    let quiet = json!({"webhookUrl": "http://127.0.0.1:9/"});
    json!(
        ["ana", "bo", "cy", "filler"]
            .iter()
            .map(|n| agent(n, quiet.clone()))
            .collect::<Vec<_>>()
    )
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn publish(gw: &TestGateway, events: Vec<Value>) {
    for chunk in events.chunks(500) {
        let (status, body) = gw.post("/api/events", json!(chunk)).await;
        assert_eq!(status, 202, "{body}");
    }
}

/// What a roster says of each agent, as a person sees it.
fn states(roster: &Value) -> Vec<Value> {
    roster["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            json!({"npc": a["npc"], "status": a["status"], "run_id": a["run_id"],
                   "last_message": a["last_message"], "last_event_id": a["last_event_id"],
                   "question": a["question"]})
        })
        .collect()
}

/// Moments recorded while the office ran: (when, what the live roster said).
async fn a_day_in_the_office(gw: &TestGateway) -> Vec<(i64, Vec<Value>)> {
    let mut moments = Vec::new();
    let mut record = async |gw: &TestGateway| {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let at = now_ms();
        let (_, live) = gw.get("/api/agents").await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        moments.push((at, states(&live)));
    };
    record(gw).await;
    publish(
        gw,
        vec![
            json!({"npc": "ana", "type": "started", "run_id": "ana-1", "data": "on it"}),
            json!({"npc": "bo", "type": "started", "run_id": "bo-1"}),
            json!({"npc": "filler", "type": "started", "run_id": "fill-1"}),
        ],
    )
    .await;
    record(gw).await;
    for round in 0..3 {
        // Enough work in between to cross a checkpoint (every 10,000 events).
        let filler = (0..6_000)
            .map(|i| json!({"npc": "filler", "type": "step", "run_id": "fill-1", "data": format!("r{round} s{i}")}))
            .collect();
        publish(gw, filler).await;
        let said = match round {
            0 => json!({"npc": "ana", "type": "awaiting", "run_id": "ana-1",
                        "data": {"question": "Ship it?", "options": ["yes", "no"]}}),
            1 => {
                json!({"npc": "bo", "type": "error", "run_id": "bo-1", "data": {"error": "disk full"}})
            }
            _ => json!({"npc": "cy", "type": "started", "run_id": "cy-1", "data": "thinking"}),
        };
        publish(gw, vec![said]).await;
        record(gw).await;
    }
    moments
}

async fn the_past_is_what_was_live(gw: &TestGateway, moments: &[(i64, Vec<Value>)]) {
    for (at, live) in moments {
        let (status, then) = gw.get(&format!("/api/agents?at={at}")).await;
        assert_eq!(status, 200, "{then}");
        assert_eq!(&states(&then), live, "the office at {at}");
    }
}

#[tokio::test]
async fn the_office_at_a_past_moment_is_what_was_live_then_even_after_a_restart() {
    let gw = TestGateway::start(agents()).await;
    let moments = a_day_in_the_office(&gw).await;
    // The moments differ (the test would prove nothing otherwise).
    assert_ne!(moments[1].1, moments[2].1);
    assert_ne!(moments[2].1, moments[3].1);
    // The store kept a checkpoint (the board every 10,000 events), so a
    // moment folds from it rather than from the first event.
    let db = r2d2_sqlite::rusqlite::Connection::open(gw.path("db/events.sqlite3")).unwrap();
    let kept: Vec<u64> = serde_json::from_str(
        &db.query_row(
            "SELECT value FROM follower_state WHERE key = 'checkpoints'",
            [],
            |r| r.get::<_, String>(0),
        )
        .expect("a checkpoint"),
    )
    .unwrap();
    assert!(
        kept.iter().any(|id| (10_000..12_000).contains(id)),
        "{kept:?}"
    );
    the_past_is_what_was_live(&gw, &moments).await;
    let gw = gw.restart(|_| {}).await;
    the_past_is_what_was_live(&gw, &moments).await;
    // Before anything happened: everyone idle.
    let (_, before) = gw.get("/api/agents?at=1").await;
    assert!(states(&before).iter().all(|a| a["status"] == "idle"));
    let (status, bad) = gw.get("/api/agents?at=yesterday").await;
    assert_eq!(status, 400, "{bad}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_office_at_a_past_moment_on_redis_is_what_was_live_then() {
    let redis = RedisServer::start();
    let url = redis.url();
    let on_redis = move |config: &mut gateway::Config| {
        config.store = gateway::config::StoreKind::Redis {
            url: url.clone(),
            prefix: "moments".into(),
            instance_ttl: Duration::from_secs(2),
        };
    };
    let gw = TestGateway::start_with(agents(), on_redis.clone()).await;
    let moments = a_day_in_the_office(&gw).await;
    the_past_is_what_was_live(&gw, &moments).await;
    // Another gateway on the same Redis answers the same.
    let other = TestGateway::start_with(agents(), on_redis).await;
    the_past_is_what_was_live(&other, &moments).await;
}

#[tokio::test]
async fn a_window_of_time_pages_its_events_oldest_first() {
    let gw = TestGateway::start(agents()).await;
    publish(
        &gw,
        vec![json!({"npc": "ana", "type": "started", "run_id": "a1", "data": "before"})],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    let from = now_ms();
    let inside: Vec<Value> = (0..250)
        .map(|i| json!({"npc": "ana", "type": "step", "run_id": "a1", "data": format!("in {i}")}))
        .collect();
    publish(&gw, inside).await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    let to = now_ms();
    tokio::time::sleep(Duration::from_millis(10)).await;
    publish(
        &gw,
        vec![json!({"npc": "ana", "type": "done", "run_id": "a1", "data": "after"})],
    )
    .await;
    let mut seen = Vec::new();
    let mut query = format!("/api/history?from={from}&to={to}&limit=100");
    loop {
        let (status, page) = gw.get(&query).await;
        assert_eq!(status, 200, "{page}");
        let events = page["events"].as_array().unwrap();
        seen.extend(
            events
                .iter()
                .map(|e| e["message"].as_str().unwrap().to_owned()),
        );
        match page["next_after"].as_u64() {
            Some(after) => {
                query = format!("/api/history?from={from}&to={to}&limit=100&after={after}")
            }
            None => break,
        }
    }
    let expected: Vec<String> = (0..250).map(|i| format!("in {i}")).collect();
    assert_eq!(seen, expected);
    let (status, _) = gw.get(&format!("/api/history?from={to}&to={from}")).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn the_summary_says_what_happened_while_a_person_was_away() {
    let gw = TestGateway::start(agents()).await;
    publish(
        &gw,
        vec![
            json!({"npc": "ana", "type": "started", "run_id": "old"}),
            json!({"npc": "ana", "type": "done", "run_id": "old"}),
        ],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    let left = now_ms();
    tokio::time::sleep(Duration::from_millis(10)).await;
    let usage = json!({"input_tokens": 100, "output_tokens": 20, "cost_usd": 0.25});
    publish(
        &gw,
        vec![
            json!({"npc": "ana", "type": "started", "run_id": "a1"}),
            json!({"npc": "ana", "type": "step", "run_id": "a1", "data": {"message": "thinking", "usage": usage}}),
            json!({"npc": "ana", "type": "done", "run_id": "a1"}),
            json!({"npc": "bo", "type": "started", "run_id": "b1"}),
            json!({"npc": "bo", "type": "error", "run_id": "b1", "data": {"error": "disk full"}}),
            json!({"npc": "cy", "type": "started", "run_id": "c1"}),
            json!({"npc": "cy", "type": "awaiting", "run_id": "c1", "data": {"question": "Ship it?", "options": ["yes", "no"]}}),
        ],
    )
    .await;
    let (status, away) = gw.get(&format!("/api/summary?since={left}")).await;
    assert_eq!(status, 200, "{away}");
    assert_eq!(
        (
            &away["runs_started"],
            &away["runs_done"],
            &away["runs_failed"]
        ),
        (&json!(3), &json!(1), &json!(1)),
        "{away}"
    );
    assert_eq!(away["errors"][0]["npc"], "bo");
    assert_eq!(away["errors"][0]["error"], "disk full");
    assert_eq!(away["waiting"][0]["question"], "Ship it?");
    assert_eq!(away["usage"]["cost_usd"], 0.25);
    // Back a moment later: nothing new, the question still waits.
    let (_, later) = gw.get(&format!("/api/summary?since={}", now_ms())).await;
    assert_eq!(later["runs_started"], 0);
    assert_eq!(later["waiting"].as_array().unwrap().len(), 1);
    let (status, _) = gw.get("/api/summary?since=-5").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn the_marks_of_a_window_are_its_errors_and_questions() {
    let gw = TestGateway::start(agents()).await;
    let start = now_ms();
    publish(
        &gw,
        vec![
            json!({"npc": "ana", "type": "started", "run_id": "a0"}),
            json!({"npc": "ana", "type": "error", "run_id": "a0", "data": {"error": "before the window"}}),
        ],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    let from = now_ms();
    publish(
        &gw,
        vec![
            json!({"npc": "ana", "type": "started", "run_id": "a1"}),
            json!({"npc": "ana", "type": "step", "run_id": "a1", "data": "thinking"}),
            json!({"npc": "ana", "type": "awaiting", "run_id": "a1",
                   "data": {"question": "Ship it?", "options": ["yes", "no"]}}),
            json!({"npc": "bo", "type": "started", "run_id": "b1"}),
            json!({"npc": "bo", "type": "error", "run_id": "b1", "data": {"error": "disk full"}}),
        ],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    let to = now_ms();
    tokio::time::sleep(Duration::from_millis(10)).await;
    publish(
        &gw,
        vec![
            json!({"npc": "cy", "type": "started", "run_id": "c1"}),
            json!({"npc": "cy", "type": "error", "run_id": "c1", "data": {"error": "after"}}),
        ],
    )
    .await;

    let (status, marks) = gw.get(&format!("/api/marks?from={from}&to={to}")).await;
    assert_eq!(status, 200, "{marks}");
    let listed: Vec<(&str, &str, &str)> = marks["marks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["npc"].as_str().unwrap(),
                m["type"].as_str().unwrap(),
                m["text"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("ana", "awaiting", "Ship it?"),
            ("bo", "error", "disk full")
        ]
    );
    for mark in marks["marks"].as_array().unwrap() {
        let at = mark["at_ms"].as_i64().unwrap();
        assert!((from..=to).contains(&at), "{mark} outside {from}..{to}");
    }
    let first = marks["first_ms"].as_i64().unwrap();
    assert!(
        (start..from).contains(&first),
        "the log begins before the window"
    );
    // `to` defaults to now: the later error is in.
    let (_, until_now) = gw.get(&format!("/api/marks?from={from}")).await;
    assert_eq!(until_now["marks"].as_array().unwrap().len(), 3);
    let (status, body) = gw.get(&format!("/api/marks?from={to}&to={from}")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, _) = gw.get("/api/marks").await;
    assert_eq!(status, 400, "`from` is required");
}
