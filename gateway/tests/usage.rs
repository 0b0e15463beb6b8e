//! Cost, tokens and budgets: usage reported on any event adds up in the
//! store (the same after a restart and on every gateway, a replay counted
//! once), `GET /api/usage` and `/metrics` tell it, and budgets hold.

use esprit_testkit::redis::RedisServer;
use esprit_testkit::{Behaviour, StandInSim, TestGateway, agent};
use serde_json::{Value, json};
use std::time::Duration;

/// Agents whose runs go to a stand-in webhook that accepts and says nothing:
/// the test reports for them, as their workflows would.
async fn quiet_sim() -> StandInSim {
    let sim = StandInSim::start(None).await;
    *sim.behaviour.lock().unwrap() = Behaviour::Accept;
    sim
}

fn agents(sim: &StandInSim, budget: Option<Value>) -> Value {
    let mut mail = json!({"webhookUrl": sim.url, "name": "Mail"});
    if let Some(budget) = budget {
        mail["budget"] = budget;
    }
    json!([
        agent("mail", mail),
        agent("deploy", json!({"webhookUrl": sim.url, "name": "Dex"}))
    ])
}

/// Runs `agent` and reports `usage` on a step and on its end.
async fn run_with_usage(gw: &TestGateway, agent: &str, cost: f64, tokens: u64) -> String {
    let (status, ack) = gw.post(&format!("/api/run/{agent}"), json!({})).await;
    assert_eq!(status, 202, "{ack}");
    let usage = json!({"input_tokens": tokens, "output_tokens": tokens / 2, "cost_usd": cost / 2.0, "model": "gpt-4o-mini"});
    gw.publish(
        agent,
        "step",
        json!({"message": "thinking", "usage": usage}),
    )
    .await;
    gw.publish(agent, "done", json!({"result": "ok", "usage": usage}))
        .await;
    ack["run_id"].as_str().unwrap().to_owned()
}

async fn usage(gw: &TestGateway, query: &str) -> Value {
    let (status, body) = gw.get(&format!("/api/usage{query}")).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn line<'a>(report: &'a Value, agent: &str) -> &'a Value {
    report["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["agent"] == agent)
        .unwrap_or_else(|| panic!("{agent} in {report}"))
}

#[tokio::test]
async fn usage_adds_up_survives_a_restart_and_a_replay_counts_once() {
    let sim = quiet_sim().await;
    let gw = TestGateway::start(agents(&sim, None)).await;
    let run = run_with_usage(&gw, "mail", 0.5, 1000).await;
    run_with_usage(&gw, "mail", 0.25, 200).await;
    run_with_usage(&gw, "deploy", 1.0, 10).await;

    let today = usage(&gw, "").await;
    let mail = line(&today, "mail");
    assert_eq!(
        (
            mail["runs"].as_u64(),
            mail["input_tokens"].as_u64(),
            mail["output_tokens"].as_u64()
        ),
        (Some(2), Some(2400), Some(1200))
    );
    assert!((mail["cost_usd"].as_f64().unwrap() - 0.75).abs() < 1e-9);
    assert!((today["total"]["cost_usd"].as_f64().unwrap() - 1.75).abs() < 1e-9);
    assert_eq!(today["total"]["runs"], 3);
    assert!(today["time_zone"].as_str().unwrap().starts_with(['+', '-']));
    let (_, summary) = gw.get(&format!("/api/runs/{run}")).await;
    assert_eq!(
        summary["usage"]["input_tokens"], 2000,
        "a run adds up its events' usage"
    );

    // An event sent twice under one key (a retried POST) is counted once.
    let keyed = json!({"npc": "deploy", "type": "step", "key": "span-7f3a",
        "data": {"message": "tool call", "usage": {"cost_usd": 2.0}}});
    let first = esprit_testkit::publish(&gw.http, &gw.running.url(), keyed.clone()).await;
    let again = esprit_testkit::publish(&gw.http, &gw.running.url(), keyed).await;
    assert_eq!(first, again, "the replay answers with the stored id");
    let after = usage(&gw, "").await;
    assert!((line(&after, "deploy")["cost_usd"].as_f64().unwrap() - 3.0).abs() < 1e-9);

    // The same totals after a restart, from the store.
    let gw = gw.restart(|_| {}).await;
    assert_eq!(usage(&gw, "").await["total"], after["total"]);
    // The roster carries today's usage; /metrics the same figures.
    let (_, roster) = gw.get("/api/agents").await;
    let mail = roster["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["agent"] == "mail")
        .unwrap()
        .clone();
    assert_eq!(mail["usage_today"]["runs"], 2);
    let metrics = gw
        .http
        .get(gw.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"esprit_usage_today{agent="deploy",measure="cost_usd"} 3"#),
        "{}",
        metrics
            .lines()
            .filter(|l| l.contains("usage_today"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[tokio::test]
async fn usage_is_checked_and_ranges_are_explained() {
    let sim = quiet_sim().await;
    let gw = TestGateway::start(agents(&sim, None)).await;
    for (bad, words) in [
        (json!({"cost_usd": -1}), "cost_usd"),
        (json!({"input_tokens": 1.5}), "whole number"),
        (json!({"model": 5}), "model"),
        (json!("lots"), "must be an object"),
    ] {
        let (status, body) = gw
            .post(
                "/api/events",
                json!({"npc": "mail", "type": "step", "data": {"usage": bad}}),
            )
            .await;
        assert_eq!(status, 400, "{body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(words),
            "{body}"
        );
    }
    let (status, body) = gw.get("/api/usage?since=yesterday").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, _) = gw
        .get("/api/usage?since=2026-12-06T10:00:00Z&until=2026-12-06T09:00:00Z")
        .await;
    assert_eq!(status, 400);
    let (status, empty) = gw
        .get("/api/usage?since=2020-01-01T00:00:00Z&until=2020-01-02T00:00:00Z")
        .await;
    assert_eq!(status, 200);
    assert_eq!(empty["total"]["runs"], 0);
}

#[tokio::test]
async fn a_budget_benches_its_agent_until_an_operator_lifts_it() {
    let sim = quiet_sim().await;
    let gw = TestGateway::start(agents(&sim, Some(json!({"dailyUsd": 1.0})))).await;
    let mut stream = gw.subscribe("?npc=mail").await;
    run_with_usage(&gw, "mail", 0.6, 10).await;
    run_with_usage(&gw, "mail", 0.6, 10).await;
    let crossed = stream.until("done").await;
    let _ = crossed;
    let said = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let event = stream.next().await;
            if event
                .message()
                .is_some_and(|m| m.contains("over its $1.00 daily budget"))
            {
                return event;
            }
        }
    })
    .await
    .expect("the budget crossed is announced");
    assert_eq!(
        said.message(),
        Some("Mail is over its $1.00 daily budget ($1.20 spent)")
    );

    // Over budget: refused with the numbers, and benched in the roster.
    let (status, body) = gw.post("/api/run/mail", json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("over_budget")),
        "{body}"
    );
    assert_eq!(
        body["error"]["message"],
        "agent `mail` spent $1.20 of a $1.00 daily budget; an operator can lift the bench for today"
    );
    let (_, roster) = gw.get("/api/agents").await;
    let mail = roster["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["agent"] == "mail")
        .unwrap()
        .clone();
    assert_eq!(mail["budget"]["benched"], true);
    assert_eq!(mail["budget"]["daily_usd"], 1.0);
    // Dex has no budget: runs on.
    assert_eq!(gw.post("/api/run/deploy", json!({})).await.0, 202);

    // An operator lifts the bench for today; the history says who.
    let (status, body) = gw.post("/api/agents/mail/bench/lift", json!({})).await;
    assert_eq!(status, 202, "{body}");
    let (_, roster) = gw.get("/api/agents").await;
    let mail = roster["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["agent"] == "mail")
        .unwrap()
        .clone();
    assert_eq!(
        (
            mail["budget"]["benched"].as_bool(),
            mail["budget"]["lifted_by"].as_str()
        ),
        (Some(false), Some("local"))
    );
    assert_eq!(gw.post("/api/run/mail", json!({})).await.0, 202);
    let (_, history) = gw.get("/api/history?npc=mail&limit=100").await;
    assert!(history["events"].as_array().unwrap().iter().any(
        |e| e["message"] == "local lifted Mail's budget bench for today ($1.20 of $1.00 spent)"
    ));
    let (status, body) = gw.post("/api/agents/deploy/bench/lift", json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_request"))
    );
}

#[tokio::test]
async fn a_hard_budget_cancels_the_run_that_crosses_it() {
    let sim = quiet_sim().await;
    let gw = TestGateway::start(agents(&sim, Some(json!({"dailyUsd": 0.5, "hard": true})))).await;
    let (status, ack) = gw.post("/api/run/mail", json!({})).await;
    assert_eq!(status, 202);
    let run_id = ack["run_id"].as_str().unwrap().to_owned();
    gw.publish(
        "mail",
        "step",
        json!({"message": "expensive", "usage": {"cost_usd": 0.75}}),
    )
    .await;
    let run = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let (_, run) = gw.get(&format!("/api/runs/{run_id}")).await;
            if run["status"] == "error" {
                return run;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the run is cancelled");
    assert_eq!(run["error"], "cancelled by its daily budget");
}

#[tokio::test]
async fn a_persons_budget_holds_for_the_runs_they_start() {
    let sim = quiet_sim().await;
    let token = "alice-token-0123456789abcdef";
    let digest = hex_sha256(token);
    let gw = TestGateway::start_with(agents(&sim, None), |config| {
        let users = config.agent_map_file.with_file_name("users.json");
        std::fs::write(
            &users,
            json!([{"name": "alice", "role": "operator", "tokenSha256": digest, "budget": {"dailyUsd": 0.5}}]).to_string(),
        )
        .unwrap();
        config.auth.users_file = Some(users);
    })
    .await;
    let as_alice = |path: &str| {
        gw.http
            .post(gw.url(path))
            .bearer_auth(token)
            .json(&json!({}))
    };
    let ack: Value = as_alice("/api/run/mail")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let run_id = ack["run_id"].as_str().unwrap();
    let done = gw
        .http
        .post(gw.url("/api/events"))
        .bearer_auth(token)
        .json(&json!({"npc": "mail", "type": "done", "run_id": run_id, "data": {"usage": {"cost_usd": 0.6}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        done.status(),
        403,
        "an operator cannot publish; the run's own token can"
    );
    // The workflow reports with the run's callback token (what the webhook carried).
    let call = sim
        .received
        .lock()
        .unwrap()
        .last()
        .cloned()
        .expect("the webhook was called");
    let callback = call.body["callback_token"].as_str().unwrap().to_owned();
    let done = gw
        .http
        .post(gw.url("/api/events"))
        .bearer_auth(&callback)
        .json(&json!({"npc": "mail", "type": "done", "data": {"usage": {"cost_usd": 0.6}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 202);
    let refused = as_alice("/api/run/deploy").send().await.unwrap();
    assert_eq!(refused.status(), 409);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(
        body["error"]["message"],
        "alice spent $0.600 of a $0.500 daily budget; an operator can lift the bench for today"
    );
}

fn hex_sha256(text: &str) -> String {
    use std::fmt::Write;
    let digest = gateway::auth::digest(text);
    digest.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateways_on_redis_give_the_same_totals() {
    let redis = RedisServer::start();
    let sim = quiet_sim().await;
    let on_redis = |redis: &RedisServer| {
        let url = redis.url();
        move |config: &mut gateway::Config| {
            config.store = gateway::config::StoreKind::Redis {
                url,
                prefix: "usage".into(),
                instance_ttl: Duration::from_secs(2),
            };
        }
    };
    let one = TestGateway::start_with(agents(&sim, None), on_redis(&redis)).await;
    let two = TestGateway::start_with(agents(&sim, None), on_redis(&redis)).await;
    run_with_usage(&one, "mail", 0.5, 100).await;
    run_with_usage(&two, "deploy", 0.25, 100).await;
    let (a, b) = (usage(&one, "").await, usage(&two, "").await);
    assert_eq!(a["total"], b["total"]);
    assert_eq!(a["total"]["runs"], 2);
    assert!((a["total"]["cost_usd"].as_f64().unwrap() - 0.75).abs() < 1e-9);
}
