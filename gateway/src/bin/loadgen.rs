//! Load generator: N SSE subscribers and M keep-alive publishers against a
//! running gateway. Prints published/s, deliveries/s, lost events, end-to-end
//! latency percentiles and the gateway's memory.
//!
//! `cargo run --release -p gateway --bin loadgen -- --help`

use clap::Parser;
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Mutex;

#[derive(Parser, Debug, Clone)]
#[command(about = "Esprit-Hub load generator")]
struct Args {
    /// Gateway base URL; give several to spread subscribers and publishers over them.
    #[arg(long, default_value = "http://127.0.0.1:3001", num_args = 1..)]
    url: Vec<String>,
    /// npcs to spread publishing and subscribers over (must exist in the gateway's agents.json as npc0..npcN-1).
    #[arg(long, default_value_t = 10)]
    npcs: usize,
    #[arg(long, default_value_t = 100)]
    subscribers: usize,
    /// Subscribe to every npc instead of one each.
    #[arg(long)]
    subscribe_all: bool,
    #[arg(long, default_value_t = 4)]
    publishers: usize,
    /// Total events per second; 0 publishes as fast as the gateway acknowledges.
    #[arg(long, default_value_t = 100)]
    rate: u64,
    /// Events per POST.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// The gateways' pids, to report their CPU and memory.
    #[arg(long, num_args = 1..)]
    gateway_pid: Vec<u32>,
    /// Write agents.json for `--npcs` agents to this path and exit.
    #[arg(long)]
    write_agents: Option<std::path::PathBuf>,
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

/// CPU seconds (user + system) a process has used, from `/proc/<pid>/stat`.
fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // Linux reports in USER_HZ, which is 100 on every platform we run.
    Some(ticks as f64 / 100.0)
}

fn memory_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Pulls every `"t":<micros>` out of a chunk of SSE text.
fn stamps(chunk: &[u8], mut each: impl FnMut(u64)) {
    let needle = b"\"t\":";
    let mut i = 0;
    while i + needle.len() <= chunk.len() {
        if &chunk[i..i + needle.len()] == needle {
            let mut j = i + needle.len();
            let mut value = 0u64;
            while j < chunk.len() && chunk[j].is_ascii_digit() {
                value = value * 10 + (chunk[j] - b'0') as u64;
                j += 1;
            }
            each(value);
            i = j;
        } else {
            i += 1;
        }
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if let Some(path) = &args.write_agents {
        let agents: Vec<_> = (0..args.npcs)
            .map(|i| json!({"agent": format!("npc{i}"), "npc": format!("npc{i}"), "webhookUrl": "http://127.0.0.1:9/none"}))
            .collect();
        std::fs::write(path, serde_json::to_string_pretty(&agents).unwrap()).unwrap();
        return;
    }
    let latency = Arc::new(Mutex::new(
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap(),
    ));
    let delivered = Arc::new(AtomicU64::new(0));
    let per_npc_published: Arc<Vec<AtomicU64>> =
        Arc::new((0..args.npcs).map(|_| AtomicU64::new(0)).collect());
    let stop = Arc::new(AtomicBool::new(false));
    let connected = Arc::new(AtomicU64::new(0));

    // Subscribers first, so every published event has an audience.
    let mut subscriber_npcs = Vec::new();
    let mut tasks = Vec::new();
    for s in 0..args.subscribers {
        let npc = s % args.npcs;
        subscriber_npcs.push(npc);
        let base = &args.url[s % args.url.len()];
        let url = if args.subscribe_all {
            format!("{base}/api/stream")
        } else {
            format!("{base}/api/stream?npc=npc{npc}")
        };
        let (latency, delivered, stop, connected) = (
            latency.clone(),
            delivered.clone(),
            stop.clone(),
            connected.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let response = match client.get(&url).send().await {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("subscriber failed to connect: {e}");
                    return 0u64;
                }
            };
            connected.fetch_add(1, Ordering::Relaxed);
            let mut stream = response.bytes_stream();
            let mut mine = 0u64;
            let mut local = Vec::with_capacity(256);
            // Frames can straddle chunks: only complete frames (ending in a blank line) are read.
            let mut pending: Vec<u8> = Vec::new();
            loop {
                let next = tokio::time::timeout(Duration::from_millis(500), stream.next()).await;
                match next {
                    Ok(Some(Ok(chunk))) => {
                        let now = now_micros();
                        pending.extend_from_slice(&chunk);
                        let Some(end) = pending.windows(2).rposition(|w| w == b"\n\n") else {
                            continue;
                        };
                        stamps(&pending[..end], |t| {
                            local.push(now.saturating_sub(t).max(1));
                            mine += 1;
                        });
                        pending.drain(..end + 2);
                        if local.len() >= 200 {
                            let mut h = latency.lock().await;
                            for v in local.drain(..) {
                                let _ = h.record(v);
                            }
                        }
                    }
                    Ok(_) => break,
                    Err(_) if stop.load(Ordering::Relaxed) => break,
                    Err(_) => {}
                }
            }
            let mut h = latency.lock().await;
            for v in local.drain(..) {
                let _ = h.record(v);
            }
            delivered.fetch_add(mine, Ordering::Relaxed);
            mine
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while connected.load(Ordering::Relaxed) < args.subscribers as u64 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "{} subscribers connected",
        connected.load(Ordering::Relaxed)
    );
    tokio::time::sleep(Duration::from_millis(300)).await;

    let total_cpu = |pids: &[u32]| pids.iter().map(|p| cpu_secs(*p)).sum::<Option<f64>>();
    let cpu_before = total_cpu(&args.gateway_pid);
    let started = Instant::now();
    let run_for = Duration::from_secs(args.seconds);
    let publishers: Vec<_> = (0..args.publishers)
        .map(|p| {
            let args = args.clone();
            let per_npc = per_npc_published.clone();
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let url = format!("{}/api/events", args.url[p % args.url.len()]);
                let per_publisher_rate = args.rate as f64 / args.publishers as f64;
                let interval = if args.rate == 0 { None } else { Some(Duration::from_secs_f64(args.batch as f64 / per_publisher_rate)) };
                let mut next_at = Instant::now();
                let mut seq = p;
                let mut errors = 0u64;
                while started.elapsed() < run_for {
                    if let Some(interval) = interval {
                        next_at += interval;
                        if let Some(wait) = next_at.checked_duration_since(Instant::now()) {
                            tokio::time::sleep(wait).await;
                        }
                    }
                    let mut npcs = Vec::with_capacity(args.batch);
                    let events: Vec<_> = (0..args.batch)
                        .map(|_| {
                            let npc = seq % args.npcs;
                            seq += args.publishers;
                            npcs.push(npc);
                            json!({"npc": format!("npc{npc}"), "type": "step", "data": {"t": now_micros(), "message": "load"}})
                        })
                        .collect();
                    match client.post(&url).json(&events).send().await {
                        Ok(r) if r.status().as_u16() == 202 => {
                            for npc in npcs {
                                per_npc[npc].fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        _ => errors += 1,
                    }
                }
                errors
            })
        })
        .collect();
    let mut peak_rss = 0;
    let sampler = {
        let pids = args.gateway_pid.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut peak = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let rss: u64 = pids.iter().filter_map(|p| memory_kib(*p, "VmRSS:")).sum();
                peak = peak.max(rss);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            peak
        })
    };
    let mut publish_errors = 0;
    for p in publishers {
        publish_errors += p.await.unwrap();
    }
    let publish_secs = started.elapsed().as_secs_f64();
    // Let the last events drain, then stop the subscribers.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cpu_after = total_cpu(&args.gateway_pid);
    stop.store(true, Ordering::Relaxed);
    let mut got = Vec::new();
    for t in tasks {
        got.push(t.await.unwrap());
    }
    peak_rss = peak_rss.max(sampler.await.unwrap());
    let published: u64 = per_npc_published
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .sum();
    let expected: u64 = if args.subscribe_all {
        published * args.subscribers as u64
    } else {
        subscriber_npcs
            .iter()
            .map(|&n| per_npc_published[n].load(Ordering::Relaxed))
            .sum()
    };
    let delivered = delivered.load(Ordering::Relaxed);
    let h = latency.lock().await;
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "npcs={} subscribers={} publishers={} rate={} batch={} seconds={}",
        args.npcs,
        args.subscribers,
        args.publishers,
        if args.rate == 0 {
            "max".to_string()
        } else {
            args.rate.to_string()
        },
        args.batch,
        args.seconds
    );
    println!(
        "published        {published} ({:.0}/s), publish errors {publish_errors}",
        published as f64 / publish_secs
    );
    println!(
        "deliveries       {delivered} ({:.0}/s)",
        delivered as f64 / publish_secs
    );
    println!("lost             {}", expected.saturating_sub(delivered));
    println!(
        "latency ms       p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
        ms(0.5),
        ms(0.9),
        ms(0.99),
        h.max() as f64 / 1000.0
    );
    if let (Some(before), Some(after)) = (cpu_before, cpu_after) {
        let cpu = after - before;
        println!(
            "gateway CPU      {cpu:.2} s, {:.2} µs per delivery, {:.2} µs per event published",
            cpu * 1e6 / delivered.max(1) as f64,
            cpu * 1e6 / published.max(1) as f64
        );
    }
    if !args.gateway_pid.is_empty() {
        let high: u64 = args
            .gateway_pid
            .iter()
            .filter_map(|p| memory_kib(*p, "VmHWM:"))
            .sum();
        println!(
            "gateway memory   peak RSS sampled {:.1} MiB, VmHWM {:.1} MiB (all gateways)",
            peak_rss as f64 / 1024.0,
            high as f64 / 1024.0
        );
    }
}
