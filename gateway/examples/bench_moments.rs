//! `GET /api/agents?at=` over a million stored events: how long the office
//! as of a random past moment takes (fold from the nearest checkpoint), and
//! what the checkpoints cost in the store.
//!
//!     cargo run --release -p gateway --example bench_moments [-- EVENTS]
//!
//! 100 agents; runs of 20 events each, published through `POST /api/events`
//! 250 at a time (the live path: checkpoints are kept as the office runs).

use esprit_testkit::{TestGateway, agent};
use serde_json::{Value, json};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const NPCS: usize = 100;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::main]
async fn main() {
    let total: usize = std::env::args()
        .nth(1)
        .map_or(1_000_000, |a| a.parse().unwrap());
    let agents: Vec<Value> = (0..NPCS)
        .map(|i| {
            agent(
                &format!("a{i}"),
                json!({"webhookUrl": "http://127.0.0.1:9/"}),
            )
        })
        .collect();
    let gw = TestGateway::start_with(json!(agents), |c| {
        c.edge.publishes_per_second = 0;
        c.stream_gathering = gateway::config::Gathering::NEVER;
    })
    .await;
    let started = Instant::now();
    let first_ms = now_ms();
    let mut sent = 0;
    let mut batch = Vec::with_capacity(250);
    while sent < total {
        let n = sent;
        let npc = format!("a{}", n % NPCS);
        let run = n / (NPCS * 20);
        let step = (n / NPCS) % 20;
        let kind = match step {
            0 => "started",
            19 => "done",
            7 => "awaiting",
            _ => "step",
        };
        let data = if kind == "awaiting" {
            json!({"question": "Ship it?", "options": ["yes", "no"]})
        } else {
            json!(format!("step {step} of run {run}"))
        };
        batch.push(
            json!({"npc": npc, "type": kind, "run_id": format!("{npc}-{run}"), "data": data}),
        );
        sent += 1;
        if batch.len() == 250 || sent == total {
            let (status, body) = gw.post("/api/events", json!(batch)).await;
            assert_eq!(status, 202, "{body}");
            batch.clear();
        }
    }
    let last_ms = now_ms();
    println!(
        "filled {total} events in {:.1} s ({:.0} events/s)",
        started.elapsed().as_secs_f64(),
        total as f64 / started.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut times = Vec::new();
    let mut seed = 0x9e3779b97f4a7c15u64;
    for _ in 0..200 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let at = first_ms + (seed % (last_ms - first_ms).max(1) as u64) as i64;
        let asked = Instant::now();
        let (status, roster) = gw.get(&format!("/api/agents?at={at}")).await;
        assert_eq!(status, 200, "{roster}");
        times.push(asked.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let pick = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    println!(
        "GET /api/agents?at= (200 random moments): p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        pick(0.5),
        pick(0.95),
        pick(1.0)
    );
    let db = r2d2_sqlite::rusqlite::Connection::open(gw.path("db/events.sqlite3")).unwrap();
    let (count, bytes): (i64, i64) = db
        .query_row(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(value)), 0) FROM follower_state WHERE key LIKE 'checkpoint.%'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    println!(
        "checkpoints: {count}, {:.1} KiB in all",
        bytes as f64 / 1024.0
    );
}
