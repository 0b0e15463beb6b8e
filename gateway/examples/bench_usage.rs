//! `GET /api/usage` over a million stored events: how long a total takes
//! (today, the last hour, the last week), on SQLite and on Redis, and what
//! the per-minute and per-hour totals kept at append cost on disk.
//!
//!     cargo run --release -p gateway --example bench_usage [-- EVENTS]
//!
//! 50 npcs, events spread over the last seven days, each reporting usage;
//! a run started every 20 events.

use esprit_testkit::redis::RedisServer;
use gateway::config::StoreSync;
use gateway::store::{
    CommitListener, EventFacts, NewEvent, RedisSettings, RedisStore, RunMeta, SqliteStore,
    StoredEvent, Stores, now_ms,
};
use protocol::{EventKind, Usage};
use serde_json::Map;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Quiet;
impl CommitListener for Quiet {
    fn committed(&self, _: &[Arc<StoredEvent>]) {}
}

const NPCS: usize = 50;
const WEEK_MS: i64 = 7 * 24 * 3_600_000;

fn iso(ms: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).unwrap();
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// The `n`th event of the run of `npc` numbered `run`.
fn event(n: usize, now: i64, total: usize) -> NewEvent {
    let npc = format!("npc{}", n % NPCS);
    let run_no = n / (NPCS * 20);
    let step_in_run = (n / NPCS) % 20;
    let run_id = format!("run-{npc}-{run_no}");
    let kind = match step_in_run {
        0 => EventKind::Started,
        19 => EventKind::Done,
        _ => EventKind::Step,
    };
    let at = now - WEEK_MS + (n as i64 * WEEK_MS) / total as i64;
    let mut fields = Map::new();
    fields.insert("message".into(), "bench".into());
    NewEvent {
        kind,
        npc: npc.clone(),
        run_id: Some(run_id),
        ts: iso(at),
        fields,
        run: (kind == EventKind::Started).then(|| RunMeta {
            agent: npc,
            by: Some("bench".into()),
            callback_digest: None,
            owner: None,
            deadline_ms: 86_400_000,
        }),
        facts: EventFacts {
            usage: Some(Arc::new(Usage {
                input_tokens: 120,
                output_tokens: 40,
                cost_usd: 0.0004,
                model: None,
            })),
            ..EventFacts::default()
        },
        key: None,
    }
}

async fn fill(stores: &Stores, total: usize) -> Duration {
    let started = Instant::now();
    let now = now_ms();
    let mut batch = Vec::with_capacity(1000);
    let mut appends = Vec::new();
    for n in 0..total {
        batch.push(event(n, now, total));
        if batch.len() == 1000 {
            appends.push(stores.log.append(std::mem::take(&mut batch)));
            if appends.len() == 8 {
                for append in appends.drain(..) {
                    append.await.expect("appended");
                }
            }
        }
    }
    for append in appends {
        append.await.expect("appended");
    }
    if !batch.is_empty() {
        stores.log.append(batch).await.expect("appended");
    }
    started.elapsed()
}

async fn time_queries(name: &str, stores: &Stores) {
    let now = now_ms();
    for (what, since) in [
        ("last hour", now - 3_600_000),
        ("last day", now - 86_400_000),
        ("last week", now - WEEK_MS),
    ] {
        let mut times = Vec::new();
        let mut runs = 0;
        for _ in 0..50 {
            let started = Instant::now();
            let rows = stores.runs.usage(since, now + 60_000).await.unwrap();
            times.push(started.elapsed());
            runs = rows.iter().map(|r| r.runs).sum::<u64>();
        }
        times.sort();
        println!(
            "{name:<7} {what:<10} p50 {:>6.2} ms  p99 {:>6.2} ms  ({runs} runs in range)",
            times[25].as_secs_f64() * 1000.0,
            times[49].as_secs_f64() * 1000.0
        );
    }
}

#[tokio::main]
async fn main() {
    let total: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Stores::of(Arc::new(
        SqliteStore::open(
            dir.path(),
            StoreSync::Normal,
            "bench".into(),
            Arc::new(Quiet),
        )
        .unwrap(),
    ));
    let took = fill(&sqlite, total).await;
    println!(
        "sqlite  filled {total} events in {:.1} s",
        took.as_secs_f64()
    );
    time_queries("sqlite", &sqlite).await;
    let file = std::fs::metadata(dir.path().join("events.sqlite3"))
        .map(|m| m.len())
        .unwrap_or(0);
    println!(
        "sqlite  file {:.0} MB for {total} events (usage buckets included)",
        file as f64 / 1e6
    );

    let redis = RedisServer::start();
    let store = RedisStore::open(
        RedisSettings {
            url: redis.url(),
            prefix: "bench".into(),
            instance: "bench".into(),
            instance_ttl: Duration::from_secs(30),
        },
        Arc::new(Quiet),
    )
    .await
    .unwrap();
    let redis_stores = Stores::of(Arc::new(store));
    let took = fill(&redis_stores, total).await;
    println!(
        "redis   filled {total} events in {:.1} s",
        took.as_secs_f64()
    );
    time_queries("redis", &redis_stores).await;
}
