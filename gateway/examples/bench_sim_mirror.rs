//! What following a Sim workspace costs and how soon a run shows, at the
//! default intervals (`SIM_POLL_SECS` 3, `SIM_ROSTER_SECS` 30), against the
//! stand-in Sim (a real HTTP server on loopback, from esprit-testkit):
//! 1. requests per minute to Sim with 50 deployed workflows and nothing running;
//! 2. the delay from an execution's start in Sim (not through the gateway) to
//!    its character's `started` on an office's stream;
//! 3. the same for runs the office starts (`POST /api/run/:agent`).
//!
//!     cargo run --release -p gateway --example bench_sim_mirror [-- SECONDS SAMPLES]

use esprit_testkit::TestGateway;
use esprit_testkit::sim_api::{Block, StandInSimApi, Workflow};
use serde_json::json;
use std::time::{Duration, Instant};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn report(what: &str, mut delays: Vec<Duration>) {
    delays.sort();
    println!(
        "{what:<44} p50 {:>7.0} ms  p95 {:>7.0} ms  max {:>7.0} ms  (n={})",
        percentile(&delays, 0.5).as_secs_f64() * 1000.0,
        percentile(&delays, 0.95).as_secs_f64() * 1000.0,
        delays.last().unwrap().as_secs_f64() * 1000.0,
        delays.len()
    );
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let idle_secs: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(60);
    let samples: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);
    let sim = StandInSimApi::start("sk-bench").await;
    for i in 0..50 {
        sim.add_workflow(
            &format!("wf-{i:02}"),
            Workflow::deployed(
                &format!("Idle {i}"),
                vec![
                    Block::start(),
                    Block::new("b1", "Work", json!({"ok": true})),
                ],
            ),
        );
    }
    let (base, key) = (sim.url.clone(), sim.key.clone());
    let gw = TestGateway::start_with(json!([]), move |config| {
        config.sim.api_base = Some(format!("{base}/").parse().unwrap());
        config.sim.api_key = Some(key);
        config.sim.workspaces = vec!["ws-bench".into()];
    })
    .await;
    // Wait for the roster, then count a quiet stretch.
    loop {
        let (_, roster) = gw.get("/api/agents").await;
        if roster["agents"].as_array().is_some_and(|a| a.len() == 50) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    let before = sim.requests("");
    tokio::time::sleep(Duration::from_secs(idle_secs)).await;
    let idle = sim.requests("") - before;
    println!(
        "idle, 50 workflows: {idle} requests in {idle_secs} s = {:.1} requests/minute",
        idle as f64 * 60.0 / idle_secs as f64
    );

    let mut elsewhere = Vec::new();
    for i in 0..samples {
        let npc = format!("wf-{:02}", i % 50);
        let mut stream = gw.subscribe(&format!("?npc={npc}")).await;
        // Spread the starts over the poll interval.
        tokio::time::sleep(Duration::from_millis(((i * 617) % 3000) as u64)).await;
        let started = Instant::now();
        sim.start_elsewhere(&npc, "schedule");
        stream.until("started").await;
        elsewhere.push(started.elapsed());
        stream.until_end().await;
    }
    report("started in Sim → started in the office", elsewhere);

    let mut own = Vec::new();
    for i in 0..samples {
        let npc = format!("wf-{:02}", (i + 25) % 50);
        let mut stream = gw.subscribe(&format!("?npc={npc}")).await;
        let started = Instant::now();
        let (status, _) = gw.post(&format!("/api/run/{npc}"), json!({})).await;
        assert_eq!(status, 202);
        stream.until("started").await;
        own.push(started.elapsed());
        stream.until_end().await;
    }
    report("Run in the office → started in the office", own);
}
