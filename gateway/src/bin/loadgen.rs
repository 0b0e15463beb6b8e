//! Load generator: N SSE subscribers and M keep-alive publishers against a
//! running gateway. Prints published/s, deliveries/s, lost events, end-to-end
//! latency percentiles and the gateway's memory.
//!
//! Latency is measured twice. From the send: the clock starts when a
//! publisher sends the event. From the due time: the clock starts when the
//! fixed rate's schedule meant it to be sent. A publisher waits for each
//! acknowledgement before its next send, so a server that cannot keep up
//! delays the sends, and the first measure leaves that wait out; the second
//! keeps it (what the events' readers see when publishers queue behind a
//! slow server). At full speed the two are the same.
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

/// Pulls every `<needle><micros>` (`"t":` or `"due":`) out of a chunk of SSE text.
fn stamps(chunk: &[u8], needle: &[u8], mut each: impl FnMut(u64)) {
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

/// What subscribers and publishers count, shared.
struct Tally {
    /// Microseconds from each event's send to its receipt.
    latency: Mutex<Histogram<u64>>,
    /// Microseconds from each event's due time on the schedule to its receipt.
    from_due: Mutex<Histogram<u64>>,
    /// Microseconds each send went out after its due time (publishers held back).
    sent_late: Mutex<Histogram<u64>>,
    delivered: AtomicU64,
    connected: AtomicU64,
    per_npc_published: Vec<AtomicU64>,
    stop: AtomicBool,
    /// Why the first publish failed, so an error count never comes without a reason.
    first_error: std::sync::OnceLock<String>,
}

/// A histogram of microseconds, from 1 µs to a minute, to 3 significant digits.
fn microseconds() -> Mutex<Histogram<u64>> {
    Mutex::new(Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds"))
}

impl Tally {
    fn new(npcs: usize) -> Tally {
        Tally {
            latency: microseconds(),
            from_due: microseconds(),
            sent_late: microseconds(),
            delivered: AtomicU64::new(0),
            connected: AtomicU64::new(0),
            per_npc_published: (0..npcs).map(|_| AtomicU64::new(0)).collect(),
            stop: AtomicBool::new(false),
            first_error: std::sync::OnceLock::new(),
        }
    }

    async fn record(&self, latencies: &mut Vec<u64>, from_due: &mut Vec<u64>) {
        for (histogram, values) in [(&self.latency, latencies), (&self.from_due, from_due)] {
            let mut h = histogram.lock().await;
            for v in values.drain(..) {
                let _ = h.record(v);
            }
        }
    }
}

/// One subscriber: reads its stream until told to stop, timing every event.
async fn subscriber(url: String, tally: Arc<Tally>) -> u64 {
    let client = reqwest::Client::new();
    let response = match client.get(&url).send().await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("subscriber failed to connect: {e}");
            return 0;
        }
    };
    tally.connected.fetch_add(1, Ordering::Relaxed);
    let mut stream = response.bytes_stream();
    let mut mine = 0u64;
    let mut local = Vec::with_capacity(256);
    let mut local_due = Vec::with_capacity(256);
    // Frames can straddle chunks: only complete frames (ending in a blank line) are read.
    let mut pending: Vec<u8> = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_millis(500), stream.next()).await {
            Ok(Some(Ok(chunk))) => {
                let now = now_micros();
                pending.extend_from_slice(&chunk);
                let Some(end) = pending.windows(2).rposition(|w| w == b"\n\n") else {
                    continue;
                };
                stamps(&pending[..end], b"\"t\":", |t| {
                    local.push(now.saturating_sub(t).max(1));
                    mine += 1;
                });
                stamps(&pending[..end], b"\"due\":", |due| {
                    local_due.push(now.saturating_sub(due).max(1));
                });
                pending.drain(..end + 2);
                if local.len() >= 200 {
                    tally.record(&mut local, &mut local_due).await;
                }
            }
            Ok(_) => break,
            Err(_) if tally.stop.load(Ordering::Relaxed) => break,
            Err(_) => {}
        }
    }
    tally.record(&mut local, &mut local_due).await;
    tally.delivered.fetch_add(mine, Ordering::Relaxed);
    mine
}

/// One publisher: posts batches at its share of the rate until the run ends.
/// `started_micros` is the wall clock at `started`, to turn due instants into stamps.
async fn publisher(
    p: usize,
    args: Args,
    tally: Arc<Tally>,
    started: Instant,
    started_micros: u64,
) -> u64 {
    let client = reqwest::Client::new();
    let url = format!("{}/api/events", args.url[p % args.url.len()]);
    let per_publisher_rate = args.rate as f64 / args.publishers as f64;
    let interval =
        (args.rate != 0).then(|| Duration::from_secs_f64(args.batch as f64 / per_publisher_rate));
    let run_for = Duration::from_secs(args.seconds);
    // Publishers take turns: each starts a share of the interval after the one
    // before, so the sends of a fixed rate are evenly spaced, not in bursts.
    let mut next_at = started
        + interval
            .unwrap_or_default()
            .mul_f64(p as f64 / args.publishers as f64);
    let mut seq = p;
    let mut errors = 0u64;
    let mut late = Vec::new();
    while started.elapsed() < run_for {
        let due = match interval {
            Some(interval) => {
                next_at += interval;
                if let Some(wait) = next_at.checked_duration_since(Instant::now()) {
                    tokio::time::sleep(wait).await;
                }
                started_micros + next_at.saturating_duration_since(started).as_micros() as u64
            }
            None => now_micros(),
        };
        late.push(now_micros().saturating_sub(due).max(1));
        let mut npcs = Vec::with_capacity(args.batch);
        let events: Vec<_> = (0..args.batch)
            .map(|_| {
                let npc = seq % args.npcs;
                seq += args.publishers;
                npcs.push(npc);
                json!({"npc": format!("npc{npc}"), "type": "step", "data": {"t": now_micros(), "due": due, "message": "load"}})
            })
            .collect();
        match client.post(&url).json(&events).send().await {
            Ok(r) if r.status().as_u16() == 202 => {
                for npc in npcs {
                    tally.per_npc_published[npc].fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(r) => {
                errors += 1;
                let status = r.status();
                let body = r.text().await.unwrap_or_default();
                let _ = tally.first_error.set(format!("{status}: {body}"));
            }
            Err(e) => {
                errors += 1;
                let _ = tally.first_error.set(e.to_string());
            }
        }
    }
    let mut sent_late = tally.sent_late.lock().await;
    for value in late {
        let _ = sent_late.record(value);
    }
    errors
}

/// The gateways' peak RSS, sampled every 200 ms until told to stop.
async fn sample_rss(pids: Vec<u32>, tally: Arc<Tally>) -> u64 {
    let mut peak = 0u64;
    while !tally.stop.load(Ordering::Relaxed) {
        let rss: u64 = pids.iter().filter_map(|p| memory_kib(*p, "VmRSS:")).sum();
        peak = peak.max(rss);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    peak
}

/// What one load run measured.
struct Measured {
    publish_secs: f64,
    publish_errors: u64,
    cpu: Option<f64>,
    peak_rss: u64,
    /// Events the subscribers should have received, counting each audience.
    expected: u64,
}

fn report(
    args: &Args,
    tally: &Tally,
    measured: &Measured,
    h: &Histogram<u64>,
    from_due: &Histogram<u64>,
    sent_late: &Histogram<u64>,
) {
    let published: u64 = tally
        .per_npc_published
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .sum();
    let delivered = tally.delivered.load(Ordering::Relaxed);
    let percentiles = |h: &Histogram<u64>| {
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        format!(
            "p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
            ms(0.5),
            ms(0.9),
            ms(0.99),
            h.max() as f64 / 1000.0
        )
    };
    let rate = if args.rate == 0 {
        "max".to_string()
    } else {
        args.rate.to_string()
    };
    println!(
        "npcs={} subscribers={} publishers={} rate={rate} batch={} seconds={}",
        args.npcs, args.subscribers, args.publishers, args.batch, args.seconds
    );
    println!(
        "published        {published} ({:.0}/s), publish errors {}",
        published as f64 / measured.publish_secs,
        measured.publish_errors
    );
    if let Some(why) = tally.first_error.get() {
        println!("first error      {why}");
    }
    println!(
        "deliveries       {delivered} ({:.0}/s)",
        delivered as f64 / measured.publish_secs
    );
    println!(
        "lost             {}",
        measured.expected.saturating_sub(delivered)
    );
    println!("latency ms       {}", percentiles(h));
    println!("from due ms      {}", percentiles(from_due));
    println!("sends late ms    {}", percentiles(sent_late));
    if let Some(cpu) = measured.cpu {
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
            measured.peak_rss as f64 / 1024.0,
            high as f64 / 1024.0
        );
    }
}

fn write_agents(path: &std::path::Path, npcs: usize) {
    let agents: Vec<_> = (0..npcs)
        .map(|i| json!({"agent": format!("npc{i}"), "npc": format!("npc{i}"), "webhookUrl": "http://127.0.0.1:9/none"}))
        .collect();
    std::fs::write(path, serde_json::to_string_pretty(&agents).unwrap()).unwrap();
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if let Some(path) = &args.write_agents {
        return write_agents(path, args.npcs);
    }
    let tally = Arc::new(Tally::new(args.npcs));
    // Subscribers first, so every published event has an audience.
    let subscriber_npcs: Vec<usize> = (0..args.subscribers).map(|s| s % args.npcs).collect();
    let subscribers: Vec<_> = subscriber_npcs
        .iter()
        .enumerate()
        .map(|(s, npc)| {
            let base = &args.url[s % args.url.len()];
            let url = if args.subscribe_all {
                format!("{base}/api/stream")
            } else {
                format!("{base}/api/stream?npc=npc{npc}")
            };
            tokio::spawn(subscriber(url, tally.clone()))
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while tally.connected.load(Ordering::Relaxed) < args.subscribers as u64
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "{} subscribers connected",
        tally.connected.load(Ordering::Relaxed)
    );
    tokio::time::sleep(Duration::from_millis(300)).await;

    let total_cpu = |pids: &[u32]| pids.iter().map(|p| cpu_secs(*p)).sum::<Option<f64>>();
    let cpu_before = total_cpu(&args.gateway_pid);
    // Publishers get threads of their own, as separate clients would have:
    // on the subscribers' runtime a send waited behind every reader woken
    // by the events before it, and went out late for the loader's sake.
    let publishing = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("publisher")
        .enable_all()
        .build()
        .expect("the publishers' runtime");
    let (started, started_micros) = (Instant::now(), now_micros());
    let publishers: Vec<_> = (0..args.publishers)
        .map(|p| {
            publishing.spawn(publisher(
                p,
                args.clone(),
                tally.clone(),
                started,
                started_micros,
            ))
        })
        .collect();
    let sampler = tokio::spawn(sample_rss(args.gateway_pid.clone(), tally.clone()));
    let mut publish_errors = 0;
    for p in publishers {
        publish_errors += p.await.unwrap();
    }
    let publish_secs = started.elapsed().as_secs_f64();
    publishing.shutdown_background();
    // Let the last events drain, then stop the subscribers.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cpu_after = total_cpu(&args.gateway_pid);
    tally.stop.store(true, Ordering::Relaxed);
    for s in subscribers {
        s.await.unwrap();
    }
    let published = |n: usize| tally.per_npc_published[n].load(Ordering::Relaxed);
    let expected: u64 = if args.subscribe_all {
        (0..args.npcs).map(published).sum::<u64>() * args.subscribers as u64
    } else {
        subscriber_npcs.iter().map(|&n| published(n)).sum()
    };
    let measured = Measured {
        publish_secs,
        publish_errors,
        cpu: cpu_before
            .zip(cpu_after)
            .map(|(before, after)| after - before),
        peak_rss: sampler.await.unwrap(),
        expected,
    };
    report(
        &args,
        &tally,
        &measured,
        &*tally.latency.lock().await,
        &*tally.from_due.lock().await,
        &*tally.sent_late.lock().await,
    );
}
