//! Every Sim run walks in: a gateway with only `AP_BASE`, `AP_TOKEN` and
//! `AP_PROJECT` mirrors a whole workspace (the stand-in Sim follows Sim
//! v0.8.9's route files, named in docs/sim-integration.md): its deployed
//! workflows are the roster, executions started elsewhere are runs, a Human
//! in the Loop pause is a question answered both ways, and Sim's bad days
//! grey the characters out without losing or repeating a run.

use esprit_testkit::TestGateway;
use esprit_testkit::sim_api::{Block, Mood, StandInSimApi, Workflow};
use gateway::Config;
use protocol::EventEnvelope;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const KEY: &str = "sk-sim-workspace-test";
const WORKSPACE: &str = "ws-mirror";

/// The three variables, and a quick poll so tests do not wait.
fn mirror_of(sim: &StandInSimApi) -> impl Fn(&mut Config) + Clone + use<> {
    let (base, key) = (sim.url.clone(), sim.key.clone());
    move |config: &mut Config| {
        config.sim.api_base = Some(format!("{base}/").parse().unwrap());
        config.sim.api_key = Some(key.clone());
        config.sim.workspaces = vec![WORKSPACE.into()];
        config.sim.poll = Duration::from_millis(200);
        config.sim.roster_every = Duration::from_millis(300);
    }
}

async fn mirrored(sim: &StandInSimApi, agents: Value) -> TestGateway {
    TestGateway::start_with(agents, mirror_of(sim)).await
}

fn three_steps(name: &str) -> Workflow {
    Workflow::deployed(
        name,
        vec![
            Block::start(),
            Block::agent(
                "b1",
                "Draft",
                json!({"content": "drafted"}),
                (1200, 340),
                0.0042,
            ),
            Block::new("b2", "Send", json!({"sent": true})),
        ],
    )
}

/// Polls `probe` until it gives Some, or fails after `within`.
async fn eventually<T>(
    within: Duration,
    what: &str,
    mut probe: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn roster(gw: &TestGateway) -> Vec<Value> {
    let (status, body) = gw.get("/api/agents").await;
    assert_eq!(status, 200);
    body["agents"].as_array().unwrap().clone()
}

fn agent_in<'a>(roster: &'a [Value], id: &str) -> Option<&'a Value> {
    roster.iter().find(|a| a["agent"] == id)
}

/// The events of one run, from history, once the run has ended.
async fn ended_run(gw: &TestGateway, npc: &str, run_id: &str) -> Vec<EventEnvelope> {
    eventually(Duration::from_secs(10), "the run's end", async || {
        let (_, page) = gw.get(&format!("/api/history?npc={npc}&limit=1000")).await;
        let events: Vec<EventEnvelope> = serde_json::from_value(page["events"].clone()).unwrap();
        let events: Vec<EventEnvelope> = events
            .into_iter()
            .filter(|e| e.run_id.as_deref() == Some(run_id))
            .collect();
        events
            .last()
            .is_some_and(|e| e.kind.is_terminal())
            .then_some(events)
    })
    .await
}

fn kinds(events: &[EventEnvelope]) -> Vec<&'static str> {
    events.iter().map(|e| e.kind.as_str()).collect()
}

#[tokio::test]
async fn the_workspace_is_the_roster_named_seated_or_hidden_by_agents_json() {
    let sim = StandInSimApi::start(KEY).await;
    // More than one page of Sim's workflow list (100 per page).
    for i in 0..120 {
        sim.add_workflow(&format!("wf-{i:03}"), three_steps(&format!("Flow {i}")));
    }
    sim.add_workflow(
        "wf-draft",
        Workflow {
            deployed: false,
            ..three_steps("Draft only")
        },
    );
    let gw = mirrored(
        &sim,
        json!([
            {"agent": "triage", "npc": "triage", "name": "Triage desk", "desk": "desk-3", "workflowId": "wf-000"},
            {"agent": "secret", "npc": "secret", "workflowId": "wf-001", "hidden": true}
        ]),
    )
    .await;
    let agents = eventually(Duration::from_secs(10), "the synced roster", async || {
        let agents = roster(&gw).await;
        (agents.len() == 119).then_some(agents)
    })
    .await;
    let triage = agent_in(&agents, "triage").unwrap();
    assert_eq!(
        (triage["name"].as_str(), triage["desk"].as_str()),
        (Some("Triage desk"), Some("desk-3"))
    );
    assert!(
        agent_in(&agents, "wf-000").is_none(),
        "named by agents.json: not twice"
    );
    assert!(
        agent_in(&agents, "wf-001").is_none() && agent_in(&agents, "secret").is_none(),
        "hidden"
    );
    assert!(agent_in(&agents, "wf-draft").is_none(), "not deployed");
    assert_eq!(
        agent_in(&agents, "wf-119").unwrap()["name"],
        "Flow 119",
        "past the first page"
    );

    // Deployed later: it walks in; undeployed: it walks out.
    let mut stream = gw.subscribe("").await;
    sim.set_deployed("wf-draft", true);
    sim.set_deployed("wf-050", false);
    eventually(Duration::from_secs(5), "the roster change", async || {
        let agents = roster(&gw).await;
        (agent_in(&agents, "wf-draft").is_some() && agent_in(&agents, "wf-050").is_none())
            .then_some(())
    })
    .await;
    let roster_event = stream.until("roster").await;
    assert_eq!(roster_event.last().unwrap().fields["agents"], 119);
}

#[tokio::test]
async fn executions_started_elsewhere_become_runs_with_steps_output_and_usage() {
    let sim = StandInSimApi::start(KEY).await;
    sim.add_workflow("wf-mail", three_steps("Mail triage"));
    let gw = mirrored(&sim, json!([])).await;
    eventually(Duration::from_secs(5), "the character", async || {
        agent_in(&roster(&gw).await, "wf-mail").map(|_| ())
    })
    .await;
    let mut stream = gw.subscribe("?npc=wf-mail").await;
    let started_at = Instant::now();
    let execution = sim.start_elsewhere("wf-mail", "schedule");
    let started = stream.until("started").await;
    let seen_after = started_at.elapsed();
    let started = started.last().unwrap();
    assert_eq!(
        started.run_id.as_deref(),
        Some(execution.as_str()),
        "Sim's execution id names the run"
    );
    assert_eq!(started.fields["trigger"], "schedule");
    assert_eq!(
        started.message(),
        Some("Mail triage started by Sim (schedule)")
    );
    assert!(
        seen_after < Duration::from_secs(3),
        "seen {seen_after:?} after it started"
    );

    let events = ended_run(&gw, "wf-mail", &execution).await;
    assert_eq!(kinds(&events), ["started", "step", "step", "done"]);
    assert_eq!(
        events[1].message(),
        Some("Draft finished in 0.0 s · 1540 tokens")
    );
    assert_eq!(events[3].fields["result"], json!({"sent": true}));
    assert_eq!(events[3].fields["usage"]["input_tokens"], 1200);
    let (_, run) = gw.get(&format!("/api/runs/{execution}")).await;
    assert_eq!(run["status"], "done");
    assert_eq!(run["started_by"], "Sim (schedule)");
    assert_eq!(
        run["usage"],
        json!({"input_tokens": 1200, "output_tokens": 340, "cost_usd": 0.0042, "model": "gpt-4o-mini"})
    );

    // A failing execution ends with Sim's words.
    sim.add_workflow(
        "wf-fail",
        Workflow::deployed(
            "Breaks",
            vec![
                Block::start(),
                Block {
                    fails: Some("x is not defined".into()),
                    ..Block::new("f", "Function 1", json!({}))
                },
            ],
        ),
    );
    eventually(Duration::from_secs(5), "the new character", async || {
        agent_in(&roster(&gw).await, "wf-fail").map(|_| ())
    })
    .await;
    let failing = sim.start_elsewhere("wf-fail", "chat");
    let events = ended_run(&gw, "wf-fail", &failing).await;
    assert_eq!(
        events.last().unwrap().message(),
        Some("Function 1: x is not defined")
    );
}

#[tokio::test]
async fn runs_the_office_starts_are_shown_once() {
    let sim = StandInSimApi::start(KEY).await;
    sim.add_workflow("wf-own", three_steps("Own"));
    let gw = mirrored(&sim, json!([])).await;
    eventually(Duration::from_secs(5), "the character", async || {
        agent_in(&roster(&gw).await, "wf-own").map(|_| ())
    })
    .await;
    let (run_id, mut stream) = gw.run("wf-own", json!({"subject": "hi"})).await;
    let events: Vec<EventEnvelope> = stream
        .until_end()
        .await
        .into_iter()
        .filter(|e| e.run_id.as_deref() == Some(run_id.as_str()))
        .collect();
    // Two more polls: the mirror sees the row and must not tell it again.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let all = ended_run(&gw, "wf-own", &run_id).await;
    assert_eq!(
        all.len(),
        events.len(),
        "{:?} {:?}",
        kinds(&all),
        all.iter().map(|e| e.message()).collect::<Vec<_>>()
    );
    assert_eq!(
        all.iter().filter(|e| e.kind.as_str() == "started").count(),
        1
    );
    // Its cost and tokens, from Sim's log, on its end and in its summary.
    let (_, run) = gw.get(&format!("/api/runs/{run_id}")).await;
    assert_eq!(run["usage"]["input_tokens"], 1200, "{run}");
    assert_eq!(run["usage"]["cost_usd"], 0.0042);
}

fn approval() -> Workflow {
    Workflow::deployed(
        "Refunds",
        vec![
            Block::start(),
            Block::new("b1", "Look up order", json!({"order": 42})),
            Block::human(
                "hitl-1",
                "Approve refund",
                vec![
                    ("question", json!("Refund order 42?")),
                    ("amount", json!(120.5)),
                ],
                vec![
                    json!({"id": "f1", "name": "approved", "label": "Approve", "type": "boolean", "required": true}),
                    json!({"id": "f2", "name": "note", "type": "string"}),
                ],
            ),
            Block::new("b3", "Refund", json!({"refunded": true})),
        ],
    )
}

/// The run's pending question, once the office is asked.
async fn asked(gw: &TestGateway, npc: &str) -> Value {
    eventually(Duration::from_secs(10), "the question", async || {
        let agents = roster(gw).await;
        let agent = agent_in(&agents, npc)?;
        (agent["status"] == "awaiting").then(|| agent["question"].clone())
    })
    .await
}

#[tokio::test]
async fn a_human_in_the_loop_pause_is_answered_from_the_office_through_v2_or_the_legacy_route() {
    for v2 in [false, true] {
        let sim = StandInSimApi::start(KEY).await;
        if v2 {
            sim.enable_v2();
        }
        sim.add_workflow("wf-refund", approval());
        let gw = mirrored(&sim, json!([])).await;
        eventually(Duration::from_secs(5), "the character", async || {
            agent_in(&roster(&gw).await, "wf-refund").map(|_| ())
        })
        .await;
        let execution = sim.start_elsewhere("wf-refund", "webhook");
        let question = asked(&gw, "wf-refund").await;
        assert_eq!(question["question"], "Refund order 42?");
        assert_eq!(
            question["details"],
            json!([{"label": "amount", "value": "120.5"}])
        );
        assert_eq!(question["form"][0]["type"], "boolean");
        assert_eq!(question["run_id"], execution.as_str());

        // A wrong form is refused before Sim is asked.
        let (status, body) = gw
            .post(
                &format!("/api/runs/{execution}/respond"),
                json!({"input": {"approved": "sure"}}),
            )
            .await;
        assert_eq!(status, 400, "{body}");
        let (status, body) = gw
            .post(
                &format!("/api/runs/{execution}/respond"),
                json!({"input": {"approved": true, "note": "goodwill"}}),
            )
            .await;
        assert_eq!(status, 202, "{body}");
        let events = ended_run(&gw, "wf-refund", &execution).await;
        assert_eq!(
            kinds(&events),
            ["started", "step", "awaiting", "response", "step", "done"],
            "v2 {v2}"
        );
        assert_eq!(
            events[3].message(),
            Some("local answered: approved yes, note goodwill")
        );
        assert_eq!(
            events[3].fields["input"],
            json!({"approved": true, "note": "goodwill"})
        );
        assert!(
            events[4]
                .message()
                .unwrap()
                .starts_with("Refund finished in")
        );
        assert_eq!(events[5].fields["result"], json!({"refunded": true}));
        assert_eq!(
            sim.requests("POST /api/v2/") > 0,
            v2,
            "resumed through v2 only when Sim has it"
        );
        assert_eq!(sim.requests("POST /api/resume/") > 0, !v2);
    }
}

#[tokio::test]
async fn an_answer_given_in_sim_ends_the_offices_wait_and_a_late_office_answer_is_refused() {
    let sim = StandInSimApi::start(KEY).await;
    sim.add_workflow("wf-refund", approval());
    let gw = mirrored(&sim, json!([])).await;
    eventually(Duration::from_secs(5), "the character", async || {
        agent_in(&roster(&gw).await, "wf-refund").map(|_| ())
    })
    .await;
    let execution = sim.start_elsewhere("wf-refund", "manual");
    asked(&gw, "wf-refund").await;
    let answered_at = Instant::now();
    sim.answer_in_sim(&execution, json!({"approved": false}))
        .await
        .unwrap();
    let events = ended_run(&gw, "wf-refund", &execution).await;
    let response = events
        .iter()
        .find(|e| e.kind.as_str() == "response")
        .unwrap();
    assert_eq!(response.fields["by"], "Sim");
    assert_eq!(response.fields["input"], json!({"approved": false}));
    assert!(answered_at.elapsed() < Duration::from_secs(5));
    let (status, body) = gw
        .post(
            &format!("/api/runs/{execution}/respond"),
            json!({"decision": "yes"}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
}

#[tokio::test]
async fn a_pause_and_the_place_in_the_log_survive_a_gateway_restart() {
    let sim = StandInSimApi::start(KEY).await;
    sim.add_workflow("wf-refund", approval());
    sim.add_workflow("wf-mail", three_steps("Mail"));
    let gw = mirrored(&sim, json!([])).await;
    let done_before = sim.start_elsewhere("wf-mail", "schedule");
    let paused = sim.start_elsewhere("wf-refund", "api");
    asked(&gw, "wf-refund").await;
    ended_run(&gw, "wf-mail", &done_before).await;

    let gw = gw.restart(|_| {}).await;
    // While the gateway is down, Sim runs on.
    let while_down = sim.start_elsewhere("wf-mail", "schedule");
    while sim.execution_output(&while_down).is_none() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let gw = gw.restart(mirror_of(&sim)).await;
    let question = asked(&gw, "wf-refund").await;
    assert_eq!(
        question["run_id"],
        paused.as_str(),
        "the pause is still asked"
    );
    let events = ended_run(&gw, "wf-mail", &while_down).await;
    assert_eq!(
        kinds(&events),
        ["started", "step", "step", "done"],
        "the catch-up shows it once"
    );
    assert_eq!(
        ended_run(&gw, "wf-mail", &done_before).await.len(),
        4,
        "the earlier run is not repeated"
    );
    let (status, _) = gw
        .post(
            &format!("/api/runs/{paused}/respond"),
            json!({"decision": "yes"}),
        )
        .await;
    assert_eq!(status, 202, "a one-tap answer of the form");
    let events = ended_run(&gw, "wf-refund", &paused).await;
    assert_eq!(events.last().unwrap().kind.as_str(), "done");
}

#[tokio::test]
async fn sim_out_of_reach_greys_the_characters_out_and_the_catch_up_shows_what_ran() {
    let sim = StandInSimApi::start(KEY).await;
    sim.add_workflow("wf-mail", three_steps("Mail"));
    let gw = mirrored(&sim, json!([])).await;
    eventually(Duration::from_secs(5), "the character", async || {
        agent_in(&roster(&gw).await, "wf-mail").map(|_| ())
    })
    .await;
    for (mood, reason) in [
        (Mood::Down, "Sim unreachable"),
        (Mood::RefusesKey, "Sim refused the API key"),
    ] {
        sim.set_mood(mood);
        let offline = eventually(Duration::from_secs(5), reason, async || {
            let agents = roster(&gw).await;
            let offline = agent_in(&agents, "wf-mail")?["offline"].clone();
            (offline["reason"] == reason).then_some(offline)
        })
        .await;
        assert!(offline["since"].as_str().unwrap().ends_with('Z'));
        let ran = sim.start_elsewhere("wf-mail", "schedule");
        while sim.execution_output(&ran).is_none() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        sim.set_mood(Mood::Fine);
        eventually(Duration::from_secs(10), "Sim back", async || {
            let agents = roster(&gw).await;
            agent_in(&agents, "wf-mail")?
                .get("offline")
                .is_none()
                .then_some(())
        })
        .await;
        let events = ended_run(&gw, "wf-mail", &ran).await;
        assert_eq!(kinds(&events), ["started", "step", "step", "done"]);
    }
    // A Sim that is not there at all: connections refused.
    sim.stop().await;
    eventually(Duration::from_secs(5), "unreachable", async || {
        let agents = roster(&gw).await;
        (agent_in(&agents, "wf-mail")?["offline"]["reason"] == "Sim unreachable").then_some(())
    })
    .await;
    sim.restart().await;
    eventually(
        Duration::from_secs(20),
        "Sim back after backoff",
        async || {
            let agents = roster(&gw).await;
            agent_in(&agents, "wf-mail")?
                .get("offline")
                .is_none()
                .then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn a_busy_character_takes_the_second_execution_after_the_first() {
    let sim = StandInSimApi::start(KEY).await;
    sim.add_workflow("wf-refund", approval());
    let gw = mirrored(&sim, json!([])).await;
    eventually(Duration::from_secs(5), "the character", async || {
        agent_in(&roster(&gw).await, "wf-refund").map(|_| ())
    })
    .await;
    let first = sim.start_elsewhere("wf-refund", "api");
    asked(&gw, "wf-refund").await;
    let second = sim.start_elsewhere("wf-refund", "api");
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (status, _) = gw.get(&format!("/api/runs/{second}")).await;
    assert_eq!(status, 404, "held while the character waits on the first");
    let (status, _) = gw
        .post(
            &format!("/api/runs/{first}/respond"),
            json!({"input": {"approved": true}}),
        )
        .await;
    assert_eq!(status, 202);
    ended_run(&gw, "wf-refund", &first).await;
    let question = asked(&gw, "wf-refund").await;
    assert_eq!(question["run_id"], second.as_str());
}

#[tokio::test]
async fn an_office_run_that_pauses_is_followed_to_its_end() {
    let sim = StandInSimApi::start(KEY).await;
    sim.add_workflow("wf-refund", approval());
    let gw = mirrored(&sim, json!([])).await;
    eventually(Duration::from_secs(5), "the character", async || {
        agent_in(&roster(&gw).await, "wf-refund").map(|_| ())
    })
    .await;
    let (run_id, _stream) = gw.run("wf-refund", json!({})).await;
    let question = asked(&gw, "wf-refund").await;
    assert_eq!(question["run_id"], run_id.as_str());
    let (status, body) = gw
        .post(
            &format!("/api/runs/{run_id}/respond"),
            json!({"decision": "no"}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let events = ended_run(&gw, "wf-refund", &run_id).await;
    assert_eq!(events.last().unwrap().kind.as_str(), "done");
    assert_eq!(
        events
            .iter()
            .filter(|e| e.kind.as_str() == "started")
            .count(),
        1
    );
}

#[tokio::test]
async fn cancelling_a_watched_run_asks_sim_to_cancel_it() {
    let sim = StandInSimApi::start(KEY).await;
    sim.add_workflow("wf-refund", approval());
    let gw = mirrored(&sim, json!([])).await;
    let execution = sim.start_elsewhere("wf-refund", "api");
    asked(&gw, "wf-refund").await;
    let (status, _) = gw
        .post(&format!("/api/runs/{execution}/cancel"), json!({}))
        .await;
    assert_eq!(status, 202);
    eventually(Duration::from_secs(5), "Sim's cancel", async || {
        sim.cancelled().contains(&execution).then_some(())
    })
    .await;
}

#[tokio::test]
async fn polling_stays_bounded_one_request_at_a_time() {
    let sim = StandInSimApi::start(KEY).await;
    for i in 0..50 {
        sim.add_workflow(&format!("wf-{i:02}"), three_steps(&format!("Idle {i}")));
    }
    let gw = mirrored(&sim, json!([])).await;
    eventually(Duration::from_secs(5), "the roster", async || {
        (roster(&gw).await.len() == 50).then_some(())
    })
    .await;
    // The first look reads each workflow's paused list once; then only the log.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let count = || {
        (
            sim.requests("GET /api/v1/logs"),
            sim.requests("GET /api/v1/workflows"),
            sim.requests("GET /api/workflows/"),
        )
    };
    let before = count();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = count();
    let (logs, lists, paused) = (after.0 - before.0, after.1 - before.1, after.2 - before.2);
    // 200 ms polls and 300 ms roster reads, one request in flight: at most
    // 15 log reads and 10 list reads in 3 s, and no per-workflow request
    // while nothing waits.
    assert!((5..=15).contains(&logs), "{logs} log reads");
    assert!(lists <= 10, "{lists} workflow list reads");
    assert_eq!(paused, 0);
}

#[tokio::test]
async fn a_pause_from_before_the_gateway_first_looked_is_asked() {
    let sim = StandInSimApi::start(KEY).await;
    sim.add_workflow("wf-refund", approval());
    let earlier = sim.start_elsewhere("wf-refund", "schedule");
    while sim.execution_output(&earlier).is_none() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let gw = mirrored(&sim, json!([])).await;
    let question = asked(&gw, "wf-refund").await;
    assert_eq!(question["run_id"], earlier.as_str());
}

#[tokio::test]
async fn an_answer_sim_cannot_take_is_asked_again_or_said_to_be_too_late() {
    let sim = StandInSimApi::start(KEY).await;
    sim.add_workflow("wf-refund", approval());
    let gw = TestGateway::start_with(json!([]), {
        let tweak = mirror_of(&sim);
        move |config: &mut Config| {
            tweak(config);
            // Slow polls: the office answers before the mirror sees Sim's own answer.
            config.sim.poll = Duration::from_secs(2);
        }
    })
    .await;
    let execution = sim.start_elsewhere("wf-refund", "api");
    asked(&gw, "wf-refund").await;

    // Sim is down: the answer is refused and the question stands.
    sim.set_mood(Mood::Down);
    let (status, body) = gw
        .post(
            &format!("/api/runs/{execution}/respond"),
            json!({"decision": "yes"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (502, Some("upstream_failed")),
        "{body}"
    );
    sim.set_mood(Mood::Fine);
    let (_, run) = gw.get(&format!("/api/runs/{execution}")).await;
    assert_eq!(run["status"], "awaiting", "asked again");

    // Someone answered in Sim a moment ago: the office's answer is too late.
    sim.answer_in_sim(&execution, json!({"approved": false}))
        .await
        .unwrap();
    let (status, body) = gw
        .post(
            &format!("/api/runs/{execution}/respond"),
            json!({"decision": "yes"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("answered_elsewhere")),
        "{body}"
    );
    let events = ended_run(&gw, "wf-refund", &execution).await;
    assert!(
        events.iter().any(|e| e
            .message()
            .is_some_and(|m| m.starts_with("Sim had already taken another answer"))),
        "{:?}",
        events.iter().map(|e| e.message()).collect::<Vec<_>>()
    );
    assert_eq!(
        events.last().unwrap().fields["result"],
        json!({"refunded": true})
    );
}

#[tokio::test]
async fn the_demo_mode_never_runs_a_workspaces_workflow() {
    let sim = StandInSimApi::start(KEY).await;
    sim.add_workflow("wf-mail", three_steps("Mail"));
    let gw = TestGateway::start_with(json!([]), {
        let tweak = mirror_of(&sim);
        move |config: &mut Config| {
            tweak(config);
            config.demo = true;
        }
    })
    .await;
    eventually(Duration::from_secs(5), "the character", async || {
        agent_in(&roster(&gw).await, "wf-mail").map(|_| ())
    })
    .await;
    // The demo starts a run every 3-7 s when it has an agent to start.
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert!(sim.calls().is_empty(), "no execution started by the demo");
}
