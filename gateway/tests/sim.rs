//! Sim integration against stand-ins that are real HTTP servers: a webhook
//! trigger (`esprit_testkit::StandInSim`) and the execute/jobs/logs/cancel API
//! (`esprit_testkit::sim_api`), both following Sim v0.8.9.

use esprit_testkit::sim_api::{Block, StandInSimApi, Streaming, Workflow};
use esprit_testkit::{StandInSim, TestGateway, agent, kinds, messages};
use protocol::EventEnvelope;
use serde_json::{Value, json};
use std::time::Duration;

const KEY: &str = "sk-sim-test";
const WORKSPACE: &str = "ws-42";

async fn gateway_for(sim: &StandInSimApi, agents: Value) -> TestGateway {
    let (base, key) = (sim.url.clone(), sim.key.clone());
    TestGateway::start_with(agents, move |config| {
        config.sim.api_base = Some(format!("{base}/").parse().unwrap());
        config.sim.api_key = Some(key);
        config.sim.workspaces = vec![WORKSPACE.into()];
        config.sim.public_url = Some("https://sim.example".into());
    })
    .await
}

/// A stand-in Sim with one deployed workflow `wf` made of `blocks`, and a
/// gateway whose one agent runs it with these `simOutputs`.
async fn one_workflow(
    blocks: Vec<Block>,
    agent_id: &str,
    outputs: &[&str],
) -> (StandInSimApi, TestGateway) {
    let sim = StandInSimApi::start(KEY).await;
    sim.add_workflow(
        "wf",
        Workflow {
            name: "Workflow".into(),
            deployed: true,
            blocks,
        },
    );
    let mut fields = json!({"workflowId": "wf"});
    if !outputs.is_empty() {
        fields["simOutputs"] = json!(outputs);
    }
    let gw = gateway_for(&sim, json!([agent(agent_id, fields)])).await;
    (sim, gw)
}

fn three_blocks() -> Vec<Block> {
    vec![
        Block::start(),
        Block::new(
            "b1-agent",
            "Agent 1",
            json!({"content": "Drafted the reply to Ana"}),
        ),
        Block::new("b2-func", "Function 1", json!({"result": {"sent": true}})),
    ]
}

/// A run's own events (the workspace mirror may tell of roster changes meanwhile).
async fn run(gw: &TestGateway, agent: &str, payload: Value) -> (String, Vec<EventEnvelope>) {
    let (run_id, events) = gw.run_to_end(agent, payload).await;
    let own = events
        .into_iter()
        .filter(|e| e.run_id.as_deref() == Some(run_id.as_str()))
        .collect();
    (run_id, own)
}

#[tokio::test]
async fn webhook_mode_sends_the_token_and_flat_fields_and_a_wrong_token_ends_in_error() {
    let sim = StandInSim::start(Some("right-token")).await;
    let gw = TestGateway::start(json!([
        agent(
            "mail",
            json!({"webhookUrl": sim.url, "webhookToken": "right-token"})
        ),
        agent(
            "rogue",
            json!({"webhookUrl": sim.url, "webhookToken": "wrong-token"})
        ),
    ]))
    .await;
    let (run_id, events) = run(&gw, "mail", json!({"subject": "Invoice"})).await;
    assert_eq!(kinds(&events), ["started", "step", "step", "done"]);
    let call = &sim.calls()[0];
    assert_eq!(call.headers["authorization"], "Bearer right-token");
    assert_eq!(call.body["subject"], "Invoice", "payload fields are flat");
    assert_eq!(
        call.body["run_id"],
        run_id.as_str(),
        "Sim returns no id: ours travels"
    );
    assert!(
        call.body["callback_url"]
            .as_str()
            .unwrap()
            .ends_with("/api/events")
    );

    let (_, events) = run(&gw, "rogue", json!({})).await;
    assert_eq!(kinds(&events), ["started", "error"]);
    let error = events[1].field("error").and_then(Value::as_str).unwrap();
    assert!(error.contains("401"), "{error}");
}

#[tokio::test]
async fn api_mode_streams_selected_blocks_in_order_and_ends_with_the_output() {
    let mut blocks = three_blocks();
    blocks[1].callback = Some("API block: drafting".into());
    let (sim, gw) = one_workflow(blocks, "mail", &["agent1.content", "function1.result"]).await;
    let (run_id, events) = run(&gw, "mail", json!({"to": "ana@example.com"})).await;
    assert_eq!(kinds(&events), ["started", "step", "step", "step", "done"]);
    let said = messages(&events);
    assert_eq!(
        said[1], "API block: drafting",
        "the workflow's own callback"
    );
    assert_eq!(said[2], "Drafted the reply to Ana");
    assert!(said[3].contains("\"sent\": true"), "{}", said[3]);
    assert!(
        !said.iter().any(|m| m.starts_with("Start")),
        "the Start block is not a step: `started` says it: {said:?}"
    );
    assert_eq!(events[2].field("block"), Some(&json!("b1-agent")));
    assert_eq!(
        events[4].field("result"),
        Some(&json!({"result": {"sent": true}}))
    );

    let call = &sim.calls()[0];
    assert_eq!(call.headers["x-api-key"], KEY);
    assert_eq!(call.headers["x-execution-id"], run_id.as_str());
    assert_eq!(call.body["stream"], true);
    assert_eq!(
        call.input["to"], "ana@example.com",
        "payload fields are the input"
    );
    assert!(call.input.get("stream").is_none());
}

#[tokio::test]
async fn a_failing_block_ends_the_run_with_sims_message() {
    let mut blocks = three_blocks();
    blocks[2].fails = Some("ReferenceError: total is not defined".into());
    let (_sim, gw) = one_workflow(blocks, "calc", &["agent1.content"]).await;
    let (_, events) = run(&gw, "calc", json!({})).await;
    assert_eq!(kinds(&events), ["started", "step", "step", "error"]);
    let said = messages(&events);
    assert_eq!(said[1], "Drafted the reply to Ana");
    assert!(
        said[2].starts_with("Function 1 failed after"),
        "the log, read once Sim finished writing it: {}",
        said[2]
    );
    assert_eq!(
        events[3].field("error"),
        Some(&json!("Function 1: ReferenceError: total is not defined"))
    );
}

#[tokio::test]
async fn a_stream_cut_halfway_ends_as_an_error_without_hanging() {
    let (sim, gw) = one_workflow(three_blocks(), "cut", &["agent1.content"]).await;
    sim.set_streaming(Streaming::CutAfter(2));
    let (_, events) = run(&gw, "cut", json!({})).await;
    assert_eq!(kinds(&events), ["started", "step", "error"]);
    let error = events[2].field("error").and_then(Value::as_str).unwrap();
    assert!(error.contains("stream broke"), "{error}");
}

#[tokio::test]
async fn when_streaming_is_unavailable_the_run_falls_back_to_an_async_job() {
    let (sim, gw) = one_workflow(three_blocks(), "slow", &[]).await;
    sim.set_streaming(Streaming::Unavailable);
    let (run_id, events) = run(&gw, "slow", json!({"n": 1})).await;
    let said = messages(&events);
    assert_eq!(events.last().unwrap().kind.as_str(), "done", "{said:?}");
    assert!(
        said.contains(&"queued in Sim (async mode)".to_owned()),
        "{said:?}"
    );
    assert!(said.contains(&"Sim job processing".to_owned()), "{said:?}");
    assert!(
        said.iter().any(|m| m.starts_with("Agent 1 finished in")),
        "{said:?}"
    );
    assert_eq!(
        events.last().unwrap().field("result"),
        Some(&json!({"result": {"sent": true}})),
        "the workflow's output, not the job wrapper"
    );
    let calls = sim.calls();
    assert_eq!(calls[1].headers["x-execution-mode"], "async");
    assert_eq!(
        calls[1].headers["x-execution-id"],
        format!("{run_id}-async").as_str()
    );
}

#[tokio::test]
async fn sims_refusals_become_errors_that_say_what_to_fix() {
    let sim = StandInSimApi::start(KEY).await;
    sim.add_workflow(
        "draft",
        Workflow {
            name: "Workflow".into(),
            deployed: false,
            blocks: three_blocks(),
        },
    );
    let gw = gateway_for(
        &sim,
        json!([
            agent("missing", json!({"workflowId": "nope"})),
            agent("draft", json!({"workflowId": "draft"})),
        ]),
    )
    .await;
    // The status and a fixed hint; Sim's own words go to the log only.
    let cases = [
        ("missing", "404", "Workflow not found", "workflowId"),
        (
            "draft",
            "403",
            "Workflow is not deployed",
            "deploy the workflow",
        ),
    ];
    for (agent, status, said, advice) in cases {
        let (_, events) = run(&gw, agent, json!({})).await;
        let error = events
            .last()
            .unwrap()
            .field("error")
            .and_then(Value::as_str)
            .unwrap();
        assert!(
            error.contains(status) && error.contains(advice) && !error.contains(said),
            "{error}"
        );
    }

    let wrong_key =
        TestGateway::start_with(json!([agent("draft", json!({"workflowId": "draft"}))]), {
            let base = sim.url.clone();
            move |config| {
                config.sim.api_base = Some(format!("{base}/").parse().unwrap());
                config.sim.api_key = Some("sk-wrong".into());
            }
        })
        .await;
    let (_, events) = run(&wrong_key, "draft", json!({})).await;
    let error = events
        .last()
        .unwrap()
        .field("error")
        .and_then(Value::as_str)
        .unwrap();
    assert!(
        error.contains("401") && error.contains("AP_TOKEN"),
        "{error}"
    );
}

#[tokio::test]
async fn studio_links_resolve_the_same_for_every_client() {
    let sim = StandInSimApi::start(KEY).await;
    let gw = gateway_for(
        &sim,
        json!([
            agent("wf", json!({"workflowId": "wf-7"})),
            agent(
                "own",
                json!({"workflowId": "wf-8", "studioUrl": "https://studio.example/w/8"})
            ),
            agent("hook", json!({"webhookUrl": "http://127.0.0.1:9/hook"})),
        ]),
    )
    .await;
    let (_, roster) = gw.get("/api/agents").await;
    let links: Vec<&str> = roster["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["studio_url"].as_str().unwrap())
        .collect();
    assert_eq!(
        links,
        [
            "https://sim.example/workspace/ws-42/w/wf-7",
            "https://studio.example/w/8",
            "/studio/"
        ]
    );
}

#[tokio::test]
async fn loop_iterations_and_handled_errors_read_from_sims_log() {
    let mut fetch = Block::new("b1-fetch", "Fetch page", json!({"status": 200}));
    fetch.iterations = 3;
    fetch.kind = "api".into();
    let mut flaky = Block::new("b2-enrich", "Enrich", json!({}));
    flaky.fails = Some("timeout after 5s".into());
    flaky.handled = true;
    let summary = Block::new("b3-sum", "Summarise", json!({"pages": 3}));
    let (_sim, gw) = one_workflow(vec![Block::start(), fetch, flaky, summary], "crawl", &[]).await;
    let (_, events) = run(&gw, "crawl", json!({})).await;
    let said = messages(&events);
    assert_eq!(events.last().unwrap().kind.as_str(), "done", "{said:?}");
    let steps: Vec<&str> = said[1..said.len() - 1].iter().map(String::as_str).collect();
    assert_eq!(steps.len(), 5, "{steps:?}");
    for (i, step) in steps[..3].iter().enumerate() {
        assert!(
            step.starts_with(&format!("Fetch page (iteration {i}) finished in")),
            "{step}"
        );
    }
    assert!(
        steps[3].starts_with("Enrich hit an error after")
            && steps[3].ends_with("handled by the workflow: timeout after 5s"),
        "a handled error is not a failure: {}",
        steps[3]
    );
    assert!(
        steps[4].starts_with("Summarise finished in"),
        "{}",
        steps[4]
    );
}

#[tokio::test]
async fn cancelling_an_api_run_stops_it_here_and_asks_sim_to_stop() {
    let mut slow = three_blocks();
    slow[1].iterations = 200;
    let (sim, gw) = one_workflow(slow, "long", &["agent1.content"]).await;
    let (run_id, mut stream) = gw.run("long", json!({})).await;
    stream.until("step").await;
    let (status, body) = gw
        .post(&format!("/api/runs/{run_id}/cancel"), json!({}))
        .await;
    assert_eq!(status, 202, "{body}");
    let cancelled = stream.until("error").await;
    assert_eq!(
        cancelled.last().unwrap().field("cancelled"),
        Some(&json!(true))
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while sim.cancelled().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(sim.cancelled(), vec![run_id]);
    assert!(
        stream
            .next_within(Duration::from_millis(500))
            .await
            .is_none(),
        "no steps after the cancel"
    );
}
