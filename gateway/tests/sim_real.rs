//! Against a real Sim v0.8.9 (`../shared/sim-real`: `./setup.sh`,
//! `./start.sh`, `python3 make-workflow.py`), when one runs on this machine;
//! skipped with a message otherwise (CI has none). Reads the workspace, its
//! API key and Sim's URL from `$SIMREAL/run/e2e-state.json`
//! (`/tmp/simreal` by default):
//! - a gateway with only `AP_BASE`, `AP_TOKEN`, `AP_PROJECT` and an empty
//!   agents.json shows the workspace's deployed workflows;
//! - a run started directly in Sim (its execute API, not the gateway)
//!   appears as started…done with its output;
//! - the shipped example (imported and deployed by the importer) pauses at
//!   its Human in the Loop block, the office asks, the office's answer
//!   resumes it and Sim's log shows it completed;
//! - an answer given through Sim's own API ends the office's wait.

use esprit_testkit::TestGateway;
use gateway::config::OutboundSettings;
use gateway::outbound::Outbound;
use gateway::sim::WorkspaceApi;
use gateway::sim::import::{Filling, fill, import};
use protocol::EventEnvelope;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Sim compiles each route on its first use in development mode.
const PATIENCE: Duration = Duration::from_secs(180);

struct RealSim {
    base: String,
    key: String,
    workspace: String,
    function_workflow: String,
}

async fn real_sim() -> Option<RealSim> {
    let dir = std::env::var("SIMREAL").unwrap_or_else(|_| "/tmp/simreal".into());
    let path = format!("{dir}/run/e2e-state.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!(
            "SKIPPED: no real Sim set up ({path} is missing; see ../shared/sim-real/README.md)"
        );
        return None;
    };
    let state: Value = serde_json::from_str(&text).ok()?;
    let base = state["baseUrl"].as_str()?.trim_end_matches('/').to_owned();
    let healthy = reqwest::Client::new()
        .get(format!("{base}/api/health"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success());
    if !healthy {
        eprintln!(
            "SKIPPED: the real Sim at {base} does not answer (../shared/sim-real/start.sh starts it)"
        );
        return None;
    }
    Some(RealSim {
        base,
        key: state["apiKey"].as_str()?.to_owned(),
        workspace: state["workspaceId"].as_str()?.to_owned(),
        function_workflow: state["functionWorkflowId"].as_str()?.to_owned(),
    })
}

impl RealSim {
    fn api(&self) -> WorkspaceApi {
        WorkspaceApi::new(
            Outbound::new(OutboundSettings {
                connect_timeout: Duration::from_secs(10),
                attempt_timeout: PATIENCE,
                attempts: 1,
                backoff: Duration::from_secs(1),
            }),
            format!("{}/", self.base).parse().unwrap(),
            self.key.clone(),
            self.workspace.clone(),
        )
    }

    async fn post(&self, path: &str, body: Value, headers: &[(&str, &str)]) -> (u16, Value) {
        let mut request = reqwest::Client::new()
            .post(format!("{}{path}", self.base))
            .timeout(PATIENCE)
            .json(&body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn log_of(&self, execution: &str) -> Value {
        let url = format!(
            "{}/api/v1/logs?workspaceId={}&executionId={execution}&details=full&includeFinalOutput=true",
            self.base, self.workspace
        );
        let response = reqwest::Client::new()
            .get(url)
            .header("X-API-Key", &self.key)
            .timeout(PATIENCE)
            .send()
            .await
            .unwrap();
        let body: Value = response.json().await.unwrap();
        body["data"][0].clone()
    }
}

async fn eventually<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn run_events(gw: &TestGateway, npc: &str, run_id: &str) -> Vec<EventEnvelope> {
    let (_, page) = gw.get(&format!("/api/history?npc={npc}&limit=1000")).await;
    let events: Vec<EventEnvelope> = serde_json::from_value(page["events"].clone()).unwrap();
    events
        .into_iter()
        .filter(|e| e.run_id.as_deref() == Some(run_id))
        .collect()
}

async fn ended(gw: &TestGateway, npc: &str, run_id: &str) -> Vec<EventEnvelope> {
    eventually("the run's end", async || {
        let events = run_events(gw, npc, run_id).await;
        events
            .last()
            .is_some_and(|e| e.kind.is_terminal())
            .then_some(events)
    })
    .await
}

async fn question_of(gw: &TestGateway, npc: &str) -> Value {
    eventually("the office's question", async || {
        let (_, roster) = gw.get("/api/agents").await;
        let agent = roster["agents"]
            .as_array()?
            .iter()
            .find(|a| a["agent"] == npc)?
            .clone();
        (agent["status"] == "awaiting").then(|| agent["question"].clone())
    })
    .await
}

#[tokio::test]
async fn a_real_sim_workspace_walks_in() {
    let Some(sim) = real_sim().await else { return };
    let gw = TestGateway::start_with(json!([]), |config| {
        config.sim.api_base = Some(format!("{}/", sim.base).parse().unwrap());
        config.sim.api_key = Some(sim.key.clone());
        config.sim.workspaces = vec![sim.workspace.clone()];
        config.sim.poll = Duration::from_secs(1);
        config.sim.roster_every = Duration::from_secs(2);
        config.outbound.attempt_timeout = PATIENCE;
    })
    .await;

    // The workspace's deployed workflows are the roster.
    eventually("the synced roster", async || {
        let (_, roster) = gw.get("/api/agents").await;
        roster["agents"]
            .as_array()?
            .iter()
            .any(|a| a["agent"] == sim.function_workflow.as_str())
            .then_some(())
    })
    .await;

    // A run started in Sim itself.
    let (status, answer) = sim
        .post(
            &format!("/api/workflows/{}/execute", sim.function_workflow),
            json!({"name": "office"}),
            &[("X-API-Key", &sim.key)],
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let execution = answer["executionId"].as_str().unwrap().to_owned();
    let events = ended(&gw, &sim.function_workflow, &execution).await;
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"started"));
    assert_eq!(kinds.last(), Some(&"done"), "{kinds:?}");
    assert_eq!(events[0].fields["by"], "Sim (API call)");
    assert_eq!(
        events.last().unwrap().fields["result"]["result"]["greeting"],
        "hello office"
    );

    // The shipped example, imported and deployed as a newcomer would.
    let template = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../data/sim/refund-approval.json"
    ))
    .unwrap();
    let export = fill(
        &template,
        &Filling {
            gateway_url: gw.running.url(),
            gateway_token: None,
            npc: "refunds-real".into(),
            webhook_token: "whk-real-sim-test".into(),
        },
    )
    .unwrap();
    let imported = import(&sim.api(), &export, "Refund approval (test)")
        .await
        .unwrap();
    let webhook = imported.webhook_url.clone().expect("a webhook trigger");
    // agents.json names it (as the importer does), so its API block's npc is known.
    std::fs::write(
        gw.path("agents.json"),
        json!([{"agent": "refunds-real", "npc": "refunds-real", "name": "Refunds",
            "workflowId": imported.workflow_id}])
        .to_string(),
    )
    .unwrap();
    let workflow = "refunds-real".to_owned();
    eventually("the imported workflow's character", async || {
        let (_, roster) = gw.get("/api/agents").await;
        let agents = roster["agents"].as_array()?;
        let named = agents.iter().any(|a| a["agent"] == workflow.as_str());
        let twice = agents
            .iter()
            .any(|a| a["agent"] == imported.workflow_id.as_str());
        (named && !twice).then_some(())
    })
    .await;

    // Paused in Sim, answered in the office, resumed in Sim.
    let started = Instant::now();
    let (status, _) = reqwest::Client::new()
        .post(&webhook)
        .bearer_auth("whk-real-sim-test")
        .json(&json!({"order": 7, "amount": 33.5, "customer": "Grace"}))
        .timeout(PATIENCE)
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(status, 200);
    let question = question_of(&gw, &workflow).await;
    eprintln!("webhook to the office's question: {:?}", started.elapsed());
    assert_eq!(question["question"], "Refund order 7 for Grace?");
    assert_eq!(question["form"][0]["name"], "approved");
    let run_id = question["run_id"].as_str().unwrap().to_owned();
    let (status, body) = gw
        .post(
            &format!("/api/runs/{run_id}/respond"),
            json!({"input": {"approved": true, "note": "from the office"}}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let events = ended(&gw, &workflow, &run_id).await;
    let response = events
        .iter()
        .find(|e| e.kind.as_str() == "response")
        .unwrap();
    assert_eq!(
        response.fields["by"], "local",
        "the office's answer, told as the office's"
    );
    assert_eq!(events.last().unwrap().kind.as_str(), "done");
    let log = sim.log_of(&run_id).await;
    assert!(!log["endedAt"].is_null());
    assert_eq!(
        log["finalOutput"]["status"], 202,
        "the API block reached the office: {log}"
    );

    // Paused again, answered through Sim's own API: the office stops waiting.
    reqwest::Client::new()
        .post(&webhook)
        .bearer_auth("whk-real-sim-test")
        .json(&json!({"order": 8, "amount": 10, "customer": "Alan"}))
        .timeout(PATIENCE)
        .send()
        .await
        .unwrap();
    let question = question_of(&gw, &workflow).await;
    let run_id = question["run_id"].as_str().unwrap().to_owned();
    let (_, paused) = {
        let response = reqwest::Client::new()
            .get(format!(
                "{}/api/workflows/{}/paused?status=paused",
                sim.base, imported.workflow_id
            ))
            .header("X-API-Key", &sim.key)
            .timeout(PATIENCE)
            .send()
            .await
            .unwrap();
        ((), response.json::<Value>().await.unwrap())
    };
    let context = paused["pausedExecutions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["executionId"] == run_id.as_str())
        .map(|p| {
            p["pausePoints"][0]["contextId"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .unwrap();
    let (status, body) = sim
        .post(
            &format!("/api/resume/{}/{run_id}/{context}", imported.workflow_id),
            json!({"input": {"approved": false}}),
            &[("X-API-Key", &sim.key)],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let events = ended(&gw, &workflow, &run_id).await;
    // Sim's answer is told as a response, or as a step when the workflow's
    // own report reached the office first.
    let told: Vec<_> = events
        .iter()
        .filter(|e| {
            e.fields.get("by").and_then(Value::as_str) == Some("Sim")
                || e.message() == Some("Sim answered: approved no")
        })
        .collect();
    assert!(
        !told.is_empty(),
        "{:?}",
        events
            .iter()
            .map(|e| (e.kind.as_str(), e.message()))
            .collect::<Vec<_>>()
    );
    assert_eq!(told[0].message(), Some("Sim answered: approved no"));

    // The office's totals for the imported workflow equal Sim's own log's.
    let (_, history) = gw
        .get(&format!("/api/history?npc={workflow}&limit=1000"))
        .await;
    let runs: std::collections::BTreeSet<String> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "started")
        .filter_map(|e| e["run_id"].as_str().map(str::to_owned))
        .collect();
    let mut sims_cost = 0.0;
    for run in &runs {
        sims_cost += sim.log_of(run).await["cost"]["total"]
            .as_f64()
            .unwrap_or(0.0);
    }
    let (_, usage) = gw.get("/api/usage").await;
    let ours = usage["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["agent"] == workflow.as_str())
        .map(|a| a["cost_usd"].as_f64().unwrap())
        .unwrap_or(0.0);
    eprintln!(
        "cost of {} runs: Sim's log ${sims_cost}, the office ${ours}",
        runs.len()
    );
    assert!(sims_cost > 0.0);
    assert!(
        (ours - sims_cost).abs() <= sims_cost * 0.02,
        "office ${ours} vs Sim ${sims_cost}"
    );
}
