//! One test fixture for tests written outside Rust (the browser tests): the
//! gateway binary, nginx with compose/nginx.conf, Redis, the stand-in Sim
//! webhook or the stand-in Sim workspace, started the way the Rust tests
//! start them. Prints one JSON line
//! saying where to reach it, then serves until its standard input says
//! `stop` (or closes: the test that started it is gone) or `kill` (SIGKILL,
//! no goodbye), and stops it so that nothing it started outlives it.

use clap::{Parser, Subcommand};
use esprit_testkit::child::{ServerChild, Shape};
use esprit_testkit::nginx::Nginx;
use esprit_testkit::redis::RedisServer;
use esprit_testkit::sim_api::StandInSimApi;
use esprit_testkit::{StandInSim, free_port, wait_ready};
use serde_json::json;
use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

#[derive(Parser)]
#[command(name = "fixture", about = "Starts one Esprit-Hub test fixture")]
struct Cli {
    #[command(subcommand)]
    fixture: Fixture,
}

#[derive(Subcommand)]
enum Fixture {
    /// The gateway binary on a free port (or `--port`), with these arguments.
    Gateway {
        #[arg(long)]
        bin: PathBuf,
        #[arg(long)]
        port: Option<u16>,
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// nginx with compose/nginx.conf in front of these gateways (`host:port,…`).
    Nginx {
        #[arg(long, value_delimiter = ',')]
        gateways: Vec<SocketAddr>,
        /// Sim and its realtime server (`host:port`).
        #[arg(long)]
        sim: SocketAddr,
    },
    /// redis-server persisting every write.
    Redis,
    /// The stand-in Sim API with a workspace of example workflows (a Human
    /// in the Loop approval, a three-step one); `/_test/…` starts executions,
    /// answers pauses and sets its mood.
    SimWorkspace {
        #[arg(long)]
        key: String,
    },
    /// The stand-in Sim webhook trigger, posting its workflow's callbacks.
    Sim {
        #[arg(long)]
        token: Option<String>,
        /// Milliseconds between the workflow's callbacks.
        #[arg(long, default_value_t = 700)]
        pace_ms: u64,
    },
}

/// How the test asked the fixture to end.
#[derive(PartialEq)]
enum End {
    Stop,
    Kill,
}

/// Waits for `stop` or `kill` on standard input; its end means stop.
async fn asked_to_end() -> End {
    tokio::task::spawn_blocking(|| {
        for line in std::io::stdin().lock().lines() {
            match line.as_deref().map(str::trim) {
                Ok("kill") => return End::Kill,
                Ok("stop") | Err(_) => return End::Stop,
                Ok(_) => {}
            }
        }
        End::Stop
    })
    .await
    .unwrap_or(End::Stop)
}

fn say(value: serde_json::Value) {
    println!("{value}");
}

// One thread: servers started here die with this process (their parent thread).
#[tokio::main(flavor = "current_thread")]
async fn main() {
    match Cli::parse().fixture {
        Fixture::Gateway { bin, port, args } => {
            let port = port.unwrap_or_else(free_port);
            let mut child = ServerChild::spawn(
                Command::new(&bin)
                    .args(&args)
                    .args(["--port", &port.to_string()])
                    .stdout(Stdio::null()),
                Shape::Single,
                libc::SIGTERM,
            )
            .unwrap_or_else(|e| panic!("{} does not start: {e}", bin.display()));
            let url = format!("http://127.0.0.1:{port}");
            tokio::select! {
                _ = wait_ready(&url) => {}
                _ = exited(&mut child) => panic!("the gateway exited before it was ready"),
            }
            say(json!({"url": url, "pid": child.id()}));
            match asked_to_end().await {
                End::Kill => child.kill(),
                End::Stop => child.stop(),
            };
        }
        Fixture::Nginx { gateways, sim } => {
            let mut nginx = Nginx::start(&gateways, sim, sim);
            say(json!({"url": nginx.url(""), "studio": nginx.studio_url(""), "pid": nginx.pid()}));
            asked_to_end().await;
            nginx.stop();
        }
        Fixture::Redis => {
            let mut redis = RedisServer::start();
            say(json!({"url": redis.url()}));
            if asked_to_end().await == End::Kill {
                redis.kill();
            }
        }
        Fixture::SimWorkspace { key } => {
            let sim = StandInSimApi::start(&key).await;
            sim.with_example_workflows();
            say(json!({"url": sim.url, "key": key, "workspace": "ws-browser"}));
            asked_to_end().await;
        }
        Fixture::Sim { token, pace_ms } => {
            let sim = StandInSim::paced(token, Duration::from_millis(pace_ms)).await;
            let base = sim.url.split("/api/").next().unwrap_or_default().to_owned();
            say(json!({"url": base, "webhook": sim.url, "calls": format!("{base}/calls")}));
            asked_to_end().await;
        }
    }
}

/// Resolves when the child exits.
async fn exited(child: &mut ServerChild) {
    while child.try_wait().is_none() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
