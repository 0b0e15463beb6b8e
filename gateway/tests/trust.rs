//! The second trust review: each hole it reproduced against the release
//! binary and compose's nginx, refused or bounded here from the outside
//! (real sockets, the gateway binary, Debian's nginx with compose/nginx.conf).

use esprit_testkit::nginx::Nginx;
use esprit_testkit::{GatewayProcess, TestGateway, agent, free_port, wait_ready};
use gateway::auth::{AgentScope, Identity, Role};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use warp::Filter;

const ALICE: &str = "alice-token-0123456789";
const VERA: &str = "vera-token-0123456789";
const PIA: &str = "pia-token-0123456789";

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gateway"))
}

fn digest(token: &str) -> String {
    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(token.as_bytes()))
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap()
}

/// A gateway binary with `agents`, in a fresh directory.
async fn gateway_process(
    agents: Value,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (GatewayProcess, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("agents.json"), agents.to_string()).unwrap();
    std::fs::create_dir_all(dir.path().join("flows")).unwrap();
    let process = GatewayProcess::start(binary(), dir.path(), free_port(), extra, env);
    wait_ready(&process.url()).await;
    (process, dir)
}

/// Publishes `count` events of about `size` bytes for `npc`, 16 to a request.
async fn fill(base: &str, npc: &str, count: usize, size: usize) {
    let http = reqwest::Client::new();
    let filler = "x".repeat(size);
    for start in (0..count).step_by(16) {
        let batch: Vec<Value> = (start..count.min(start + 16))
            .map(|_| json!({"npc": npc, "type": "step", "data": {"message": filler}}))
            .collect();
        let r = http
            .post(format!("{base}/api/events"))
            .json(&batch)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    }
}

/// Opens `count` connections that send `request` and never read a byte.
fn stall(port: u16, request: &str, count: usize) -> Vec<TcpStream> {
    (0..count)
        .map(|_| {
            let mut socket = TcpStream::connect(("127.0.0.1", port)).unwrap();
            socket.write_all(request.as_bytes()).unwrap();
            socket
        })
        .collect()
}

/// How much the process grew while `stalled` were held, after a moment to fill up.
async fn growth_kib(pid: u32, before: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(2000)).await;
    rss_kib(pid).saturating_sub(before)
}

// 1. History and run pages are bounded by bytes, and say how to get the next one.
#[tokio::test]
async fn list_pages_are_bounded_in_bytes_and_stalled_readers_pin_little() {
    let (gateway, _dir) = gateway_process(
        json!([agent("a", json!({"flow": "none"}))]),
        &["--body-limit", "2097152", "--store-sync", "normal"],
        &[("PUBLISHES_PER_SECOND", "0")],
    )
    .await;
    let base = gateway.url();
    fill(&base, "a", 1000, 60_000).await;
    let http = reqwest::Client::new();
    let page: Value = http
        .get(format!("{base}/api/history?limit=1000"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let events = page["events"].as_array().unwrap();
    assert!(
        (2..=4).contains(&events.len()),
        "128 KiB of 60 KB events is 3 of them, not {}",
        events.len()
    );
    let next = page["next_before"]
        .as_u64()
        .expect("the page says where to go on");
    assert_eq!(next, events[0]["id"].as_u64().unwrap());
    let older: Value = http
        .get(format!("{base}/api/history?limit=1000&before={next}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        older["events"].as_array().unwrap().last().unwrap()["id"].as_u64(),
        Some(next - 1),
        "the next page follows on with no gap"
    );

    let before = rss_kib(gateway.child.id());
    let request = "GET /api/history?limit=1000 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    let stalled = stall(gateway.port, request, 20);
    let grew = growth_kib(gateway.child.id(), before).await;
    eprintln!("20 stalled history readers: +{grew} KiB");
    assert!(
        grew < 50 * 1024,
        "20 stalled history readers grew RSS by {grew} KiB"
    );
    drop(stalled);

    // Runs with large results, listed 500 at a time by 20 readers that never read.
    for i in 0..300 {
        let run = format!("run-{i:04}");
        let r = http
            .post(format!("{base}/api/events"))
            .json(&json!([
                {"npc": "a", "type": "started", "run_id": run},
                {"npc": "a", "type": "done", "run_id": run, "data": {"result": "r".repeat(60_000)}}
            ]))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
    }
    let runs: Value = http
        .get(format!("{base}/api/runs?limit=500"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed = runs["runs"].as_array().unwrap();
    assert!(
        (2..=4).contains(&listed.len()),
        "{} runs in a page",
        listed.len()
    );
    assert_eq!(listed[0]["run_id"], "run-0299", "newest first");
    let cursor = runs["next_before"]
        .as_str()
        .expect("a cursor to the next page");
    let rest: Value = http
        .get(format!("{base}/api/runs?limit=500&before={cursor}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let first_of_next = rest["runs"][0]["run_id"].as_str().unwrap();
    let last_of_first = listed.last().unwrap()["run_id"].as_str().unwrap();
    assert!(
        first_of_next < last_of_first,
        "{first_of_next} follows {last_of_first}"
    );
    let bad: Value = http
        .get(format!("{base}/api/runs?before=yesterday"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(bad["error"]["code"], "invalid_request");

    let before = rss_kib(gateway.child.id());
    let request = "GET /api/runs?limit=500 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    let stalled = stall(gateway.port, request, 20);
    let grew = growth_kib(gateway.child.id(), before).await;
    eprintln!("20 stalled run-list readers: +{grew} KiB");
    assert!(
        grew < 50 * 1024,
        "20 stalled run readers grew RSS by {grew} KiB"
    );
    drop(stalled);
}

// 4. A stalled stream holds at most one bounded write; 64 of them stay small.
#[tokio::test]
async fn stalled_streams_of_large_events_pin_one_write_each() {
    let (gateway, _dir) = gateway_process(
        json!([agent("a", json!({"flow": "none"}))]),
        &["--body-limit", "2097152", "--store-sync", "normal"],
        &[("PUBLISHES_PER_SECOND", "0")],
    )
    .await;
    fill(&gateway.url(), "a", 400, 60_000).await;
    let before = rss_kib(gateway.child.id());
    let request = "GET /api/stream?since=0 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    let stalled = stall(gateway.port, request, 64);
    let grew = growth_kib(gateway.child.id(), before).await;
    eprintln!("64 stalled streams of 400 x 60 KB: +{grew} KiB");
    assert!(
        grew < 50 * 1024,
        "64 stalled streams grew RSS by {grew} KiB"
    );
    drop(stalled);
}

// Connections are capped per address as well as in all.
#[tokio::test]
async fn connections_are_capped_per_address() {
    let (gateway, _dir) = gateway_process(
        json!([agent("a", json!({"flow": "none"}))]),
        &["--connections-per-client", "8"],
        &[],
    )
    .await;
    let held: Vec<TcpStream> = (0..12)
        .map(|_| TcpStream::connect(("127.0.0.1", gateway.port)).unwrap())
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    // A refused connection is closed at once; a held one waits for its request.
    let open = held
        .iter()
        .filter(|socket| {
            socket
                .set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            let mut byte = [0u8; 1];
            matches!((&**socket).read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
        })
        .count();
    assert!(
        (7..=8).contains(&open),
        "8 connections from one address at most, {open} open"
    );
    let local = reqwest::Client::new();
    let elsewhere = reqwest::Client::builder()
        .local_address(Some("127.0.0.2".parse::<IpAddr>().unwrap()))
        .build()
        .unwrap();
    let other = elsewhere
        .get(format!("{}/healthz", gateway.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200, "another address is served");
    drop(held);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        local
            .get(format!("{}/healthz", gateway.url()))
            .send()
            .await
            .unwrap()
            .status(),
        200,
        "closed connections free their slots"
    );
}

// An open stream keeps its connection's place (it is written from the
// stream writers' threads) until it closes.
#[tokio::test]
async fn open_streams_hold_their_places_until_closed() {
    let (gateway, _dir) = gateway_process(
        json!([agent("a", json!({"flow": "none"}))]),
        &["--connections-per-client", "4"],
        &[],
    )
    .await;
    let client = reqwest::Client::new();
    let mut streams = Vec::new();
    for _ in 0..4 {
        let stream = client
            .get(format!("{}/api/stream?npc=a", gateway.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(stream.status(), 200);
        streams.push(stream);
    }
    let fifth = reqwest::Client::new()
        .get(format!("{}/healthz", gateway.url()))
        .send()
        .await;
    assert!(
        fifth.is_err(),
        "a fifth connection is refused while four streams are open: {fifth:?}"
    );
    drop(streams);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = reqwest::Client::new()
        .get(format!("{}/healthz", gateway.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 200, "closed streams free their places");
}

/// A Sim-like upstream that records what reaches it (path and cookie header).
struct SimUpstream {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<(String, String)>>>,
}

impl SimUpstream {
    async fn start() -> SimUpstream {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let route = warp::path::full()
            .and(warp::header::optional::<String>("cookie"))
            .map(move |path: warp::path::FullPath, cookie: Option<String>| {
                let cookie = cookie.unwrap_or_default();
                log.lock()
                    .unwrap()
                    .push((path.as_str().to_owned(), cookie.clone()));
                warp::reply::json(&json!({"path": path.as_str(), "cookie": cookie}))
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(warp::serve(route).incoming(listener).run());
        SimUpstream { addr, seen }
    }

    fn paths(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|(p, _)| p.clone())
            .collect()
    }
}

fn people(config: &mut gateway::Config) {
    let person = |subject: &str, role| Identity {
        subject: subject.into(),
        role,
        agents: AgentScope::All,
    };
    config
        .auth
        .tokens
        .insert(ALICE, person("alice", Role::Operator));
    config
        .auth
        .tokens
        .insert(VERA, person("vera", Role::Viewer));
    config
        .auth
        .tokens
        .insert(PIA, person("pia", Role::Publisher));
}

/// A browser that keeps cookies, signed in with `token` through nginx.
async fn browser_signed_in(nginx: &Nginx, token: &str) -> reqwest::Client {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap();
    let signed = browser
        .post(nginx.url("/api/session"))
        .json(&json!({"token": token}))
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 200, "{token} signs in");
    browser
}

// 2. and the decisions: Sim only for the office's operators, except its
// webhook triggers; the office's cookie never reaches Sim.
#[tokio::test]
async fn sim_is_reached_only_by_operators_and_never_sees_the_office_cookie() {
    let sim = SimUpstream::start().await;
    let gateway = TestGateway::start_with(json!([agent("a", json!({"flow": "f"}))]), |c| {
        people(c);
        c.edge.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        c.sim.public_url = Some("http://sim.example:3000".into());
    })
    .await;
    let nginx = Nginx::start(&[gateway.running.addr], sim.addr, sim.addr);
    let stranger = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (method, path) in [
        (reqwest::Method::GET, "/sim/"),
        (reqwest::Method::POST, "/sim/api/auth/sign-up/email"),
        (reqwest::Method::GET, "/sim/api/workflows"),
        (reqwest::Method::GET, "/sim/api/environment"),
        (reqwest::Method::GET, "/socket.io/?EIO=4"),
    ] {
        let r = stranger
            .request(method.clone(), nginx.url(path))
            .send()
            .await
            .unwrap();
        assert!(
            matches!(r.status().as_u16(), 302 | 401),
            "{method} {path} without a session: {}",
            r.status()
        );
    }
    let studio = stranger
        .get(nginx.studio_url("/workspace"))
        .send()
        .await
        .unwrap();
    assert_eq!(studio.status(), 302, "Studio sends strangers to sign in");
    assert!(
        sim.paths().is_empty(),
        "nothing reached Sim: {:?}",
        sim.paths()
    );

    // Outside callers reach Sim's webhook triggers, on both ports.
    let hook = stranger
        .post(nginx.url("/sim/api/webhooks/trigger/abc"))
        .header("cookie", "esprit_session=stolen")
        .send()
        .await
        .unwrap();
    assert_eq!(hook.status(), 200);
    let seen: Value = hook.json().await.unwrap();
    assert_eq!(seen["path"], "/api/webhooks/trigger/abc");
    assert_eq!(seen["cookie"], "", "no cookie goes to a webhook");
    let hook = stranger
        .post(nginx.studio_url("/api/webhooks/trigger/abc"))
        .send()
        .await
        .unwrap();
    assert_eq!(hook.status(), 200);

    // A viewer may look at the office, not edit in Studio.
    let viewer = browser_signed_in(&nginx, VERA).await;
    for url in [
        nginx.studio_url("/workspace"),
        nginx.url("/studio/"),
        nginx.url("/sim/api/workflows"),
    ] {
        let r = viewer.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 403, "a viewer at {url}");
    }
    assert_eq!(
        viewer
            .get(nginx.url("/api/agents"))
            .send()
            .await
            .unwrap()
            .status(),
        200,
        "the office itself is open to viewers"
    );

    // An operator edits; Sim sees its own cookies, never the office's.
    let signed = stranger
        .post(nginx.url("/api/session"))
        .json(&json!({"token": ALICE}))
        .send()
        .await
        .unwrap();
    let set_cookie = signed.headers()["set-cookie"].to_str().unwrap().to_owned();
    let session = set_cookie
        .split(';')
        .next()
        .unwrap()
        .strip_prefix("esprit_session=")
        .unwrap()
        .to_owned();
    for (sent, kept) in [
        (format!("a=1; esprit_session={session}; b=2"), "a=1; b=2"),
        (format!("esprit_session={session}; b=2"), "b=2"),
        (format!("a=1; esprit_session={session}"), "a=1;"),
        (format!("esprit_session={session}"), ""),
    ] {
        for url in [
            nginx.studio_url("/workspace"),
            nginx.url("/sim/api/workflows"),
        ] {
            let r = stranger
                .get(&url)
                .header("cookie", &sent)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "an operator reaches {url}");
            let seen: Value = r.json().await.unwrap();
            assert_eq!(seen["cookie"], kept, "{url} with `{sent}`");
        }
    }
    assert!(
        sim.paths().contains(&"/api/workflows".to_owned()),
        "prefix stripped"
    );

    // A publisher is a machine: it cannot open a browser session at all.
    let refused = stranger
        .post(nginx.url("/api/session"))
        .json(&json!({"token": PIA}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
}

/// A client that connects from `ip` (any address of 127/8 is this host).
fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(Some(ip.parse::<IpAddr>().unwrap()))
        .build()
        .unwrap()
}

// 3. Only our own proxy names the client: two addresses behind nginx are two
// clients, and a client naming itself in X-Forwarded-For gains nothing.
#[tokio::test]
async fn only_the_configured_proxy_names_the_client() {
    let sim = SimUpstream::start().await;
    let gateway = TestGateway::start_with(json!([agent("a", json!({"flow": "f"}))]), |c| {
        people(c);
        c.edge.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        c.edge.sign_ins_per_minute = 5;
        c.edge.streams_per_client = 3;
    })
    .await;
    let nginx = Nginx::start(&[gateway.running.addr], sim.addr, sim.addr);
    let (mallory, bob) = (client_from("127.0.0.2"), client_from("127.0.0.3"));
    let mut limited = false;
    for i in 0..10 {
        let r = mallory
            .post(nginx.url("/api/session"))
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .json(&json!({"token": "guess-guess-guess"}))
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            limited = true;
            break;
        }
        assert_eq!(r.status(), 401);
    }
    assert!(
        limited,
        "a forged X-Forwarded-For does not dodge the sign-in limit"
    );
    let r = bob
        .post(nginx.url("/api/session"))
        .json(&json!({"token": ALICE}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "another address is not locked out");

    let mut streams = Vec::new();
    for _ in 0..3 {
        let r = mallory
            .get(nginx.url("/api/stream"))
            .bearer_auth(VERA)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        streams.push(r);
    }
    let fourth = mallory
        .get(nginx.url("/api/stream"))
        .bearer_auth(VERA)
        .send()
        .await
        .unwrap();
    assert_eq!(
        fourth.status(),
        429,
        "one address holds its share of streams"
    );
    let bobs = bob
        .get(nginx.url("/api/stream"))
        .bearer_auth(VERA)
        .send()
        .await
        .unwrap();
    assert_eq!(bobs.status(), 200, "and leaves the others theirs");

    // Straight to the gateway, X-Forwarded-For from a client counts for nothing.
    let direct = client_from("127.0.0.4");
    let mut limited = false;
    for i in 0..10 {
        let r = direct
            .post(gateway.url("/api/session"))
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .json(&json!({"token": "guess-guess-guess"}))
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            limited = true;
            break;
        }
    }
    assert!(limited, "the loopback default trusts no proxy");
}

// 5. A session takes its holder's current role: a demotion counts at once.
#[tokio::test]
async fn a_demotion_in_the_users_file_reaches_open_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.json");
    let write = |role: &str| {
        std::fs::write(
            &users,
            json!([{"name": "alice", "role": role, "tokenSha256": digest(ALICE)}]).to_string(),
        )
        .unwrap();
    };
    write("operator");
    let users_path = users.clone();
    let gw = TestGateway::start_with(json!([agent("a", json!({"flow": "f"}))]), move |c| {
        c.auth.users_file = Some(users_path);
    })
    .await;
    gw.write_flow("f", r#"(steps: [Done()])"#);
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let signed = browser
        .post(gw.url("/api/session"))
        .json(&json!({"token": ALICE}))
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 200);
    write("viewer");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let who: Value = browser
            .get(gw.url("/api/session"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if who["role"] == "viewer" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the session kept its old role: {who}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let run = browser.post(gw.url("/api/run/a")).send().await.unwrap();
    assert_eq!(run.status(), 403, "the demoted cookie runs nothing");
    let token_run = gw
        .http
        .post(gw.url("/api/run/a"))
        .bearer_auth(ALICE)
        .send()
        .await
        .unwrap();
    assert_eq!(token_run.status(), 403);
}

// 6. The gateway itself keeps the office out of other pages' frames.
#[tokio::test]
async fn the_office_cannot_be_framed_even_without_nginx() {
    let gw = TestGateway::start_with(json!([agent("a", json!({"flow": "f"}))]), |c| {
        c.office_gateways = vec!["https://gw2.example".into()];
    })
    .await;
    std::fs::create_dir_all(gw.path("dist")).unwrap();
    std::fs::write(
        gw.path("dist/index.html"),
        "<!doctype html><title>office</title>",
    )
    .unwrap();
    let page = gw.http.get(gw.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    let policy = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("frame-ancestors 'self'"), "{policy}");
    assert!(
        policy.contains("connect-src 'self' https://gw2.example blob:"),
        "{policy}"
    );
    let bad = std::process::Command::new(binary())
        .args([
            "--port",
            "0",
            "--office-gateways",
            "https://gw2.example/path",
        ])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("OFFICE_GATEWAYS"));
}

// 7. An upstream's error body stays in the log: people see the status and a hint.
#[tokio::test]
async fn upstream_error_bodies_stay_out_of_events() {
    let sim = warp::path!("api" / "workflows" / String / "execute").map(|_id: String| {
        warp::reply::with_status(
            "INTERNAL-ONLY db_password=hunter2",
            warp::http::StatusCode::INTERNAL_SERVER_ERROR,
        )
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(warp::serve(sim).incoming(listener).run());
    let gw = TestGateway::start_with(json!([agent("wf", json!({"workflowId": "w1"}))]), |c| {
        c.sim.api_base = Some(format!("http://{addr}/").parse().unwrap());
        c.sim.api_key = Some("sk-test".into());
    })
    .await;
    let (run_id, events) = gw.run_to_end("wf", json!({})).await;
    let error = events.last().unwrap().message().unwrap().to_owned();
    assert!(error.contains("Sim answered 500"), "{error}");
    let (_, run) = gw.get(&format!("/api/runs/{run_id}")).await;
    for shown in [error, run.to_string()] {
        assert!(
            !shown.contains("hunter2") && !shown.contains("INTERNAL"),
            "{shown}"
        );
    }
}

// 8. A capability in a webhook URL's path is never shown to viewers.
#[tokio::test]
async fn a_secret_in_a_webhook_path_stays_out_of_events_and_runs() {
    let refusing =
        warp::any().map(|| warp::reply::with_status("no", warp::http::StatusCode::NOT_FOUND));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(warp::serve(refusing).incoming(listener).run());
    let gw = TestGateway::start(json!([agent(
        "slack",
        json!({"webhookUrl": format!("http://{addr}/services/T0/B0/capability-s3cret")})
    )]))
    .await;
    let (run_id, events) = gw.run_to_end("slack", json!({})).await;
    let error = events.last().unwrap().message().unwrap().to_owned();
    assert!(error.contains(&format!("http://{addr}")), "{error}");
    let (_, run) = gw.get(&format!("/api/runs/{run_id}")).await;
    let (_, roster) = gw.get("/api/agents").await;
    for shown in [error, run.to_string(), roster.to_string()] {
        assert!(
            !shown.contains("capability-s3cret") && !shown.contains("/services/"),
            "{shown}"
        );
    }
}

// 9. Guessing tokens is slow on every route, not only the sign-in form.
#[tokio::test]
async fn wrong_tokens_are_limited_per_address_on_every_route() {
    let gw = TestGateway::start_with(json!([agent("a", json!({"flow": "f"}))]), people).await;
    let guesser = client_from("127.0.0.5");
    let mut answers = std::collections::BTreeMap::new();
    for i in 0..100 {
        let r = guesser
            .get(gw.url("/api/agents"))
            .bearer_auth(format!("guess-{i:04}-0123456789"))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        *answers.entry(status).or_insert(0) += 1;
        if status == 429 {
            assert!(r.headers().contains_key("retry-after"));
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["error"]["code"], "too_many_failures");
        }
    }
    // 20 wrong tokens a minute are answered; the one past them locks the address.
    assert_eq!(answers.get(&401), Some(&21), "{answers:?}");
    assert_eq!(answers.get(&429), Some(&79), "{answers:?}");
    let right = guesser
        .get(gw.url("/api/agents"))
        .bearer_auth(VERA)
        .send()
        .await
        .unwrap();
    assert_eq!(
        right.status(),
        429,
        "even the right token waits: no guess is checked"
    );
    let stream = guesser
        .get(gw.url("/api/stream?access_token=guess"))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 429, "the stream's query token too");
    let other = client_from("127.0.0.6");
    let fine = other
        .get(gw.url("/api/agents"))
        .bearer_auth(VERA)
        .send()
        .await
        .unwrap();
    assert_eq!(fine.status(), 200, "other addresses are not locked out");
}

/// The gateway binary's start with `env`: its exit code and what it said.
fn start_with_env(env: &[(&str, &str)]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("agents.json"), "[]").unwrap();
    let mut command = std::process::Command::new(binary());
    command
        .args(["--port", "0", "--agent-map-file"])
        .arg(dir.path().join("agents.json"))
        .arg("--data-dir")
        .arg(dir.path().join("db"));
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the gateway started with {env:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

// 9 and 10. Guessable credentials and unaimed JWTs are refused at start.
#[test]
fn weak_credentials_are_refused_at_start() {
    let (code, said) = start_with_env(&[("ESPRIT_TOKENS", "operator:alice:short")]);
    assert_eq!(code, Some(2), "{said}");
    assert!(
        said.contains("`alice` is 5 characters; use at least 16"),
        "{said}"
    );
    let (code, said) = start_with_env(&[
        ("ESPRIT_JWT_SECRET", "too-short-a-secret"),
        ("ESPRIT_JWT_AUDIENCE", "office"),
    ]);
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains("at least 32"), "{said}");
    let (code, said) = start_with_env(&[("ESPRIT_JWT_SECRET", &"k".repeat(40))]);
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains("ESPRIT_JWT_AUDIENCE"), "{said}");
}

// 10. A JWT is used only from its `nbf` on, and only for our audience.
#[tokio::test]
async fn jwts_are_checked_for_not_before_and_audience() {
    use jsonwebtoken::{EncodingKey, Header, encode};
    // Tokens are signed through the gateway's own provider (ring).
    gateway::auth::install_jwt_crypto();
    let key = "an-identity-provider-key-0123456789";
    let gw = TestGateway::start_with(json!([agent("a", json!({"flow": "f"}))]), |c| {
        c.auth.jwt = Some(gateway::config::JwtSettings {
            key: gateway::config::JwtKey::Secret(key.into()),
            issuer: None,
            audience: "esprit-office".into(),
        });
    })
    .await;
    let now = jsonwebtoken::get_current_timestamp();
    let token = |claims: Value| {
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(key.as_bytes()),
        )
        .unwrap()
    };
    let status = |token: String| {
        let gw = &gw;
        async move {
            gw.http
                .get(gw.url("/api/agents"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let claims = |extra: Value| {
        let mut base = json!({"sub": "bob", "role": "viewer", "exp": now + 600});
        base.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        base
    };
    assert_eq!(
        status(token(claims(json!({"aud": "esprit-office"})))).await,
        200
    );
    assert_eq!(
        status(token(claims(
            json!({"aud": "esprit-office", "nbf": now + 900})
        )))
        .await,
        401,
        "not yet valid"
    );
    assert_eq!(status(token(claims(json!({"aud": "billing"})))).await, 401);
    assert_eq!(status(token(claims(json!({})))).await, 401, "no audience");
}

// Decision: /metrics stays public unless METRICS_TOKEN guards it.
#[tokio::test]
async fn metrics_take_a_token_when_one_is_set() {
    let open = TestGateway::start(json!([])).await;
    assert_eq!(
        open.http
            .get(open.url("/metrics"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let guarded = TestGateway::start_with(json!([]), |c| {
        c.metrics_token = Some("metrics-token-0123456789".into());
    })
    .await;
    let get = |token: Option<&str>| {
        let mut request = guarded.http.get(guarded.url("/metrics"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    assert_eq!(get(None).await.unwrap().status(), 401);
    assert_eq!(
        get(Some("wrong-token-0123456789")).await.unwrap().status(),
        401
    );
    let scraped = get(Some("metrics-token-0123456789")).await.unwrap();
    assert_eq!(scraped.status(), 200);
    assert!(
        scraped
            .text()
            .await
            .unwrap()
            .contains("esprit_auth_failures_total")
    );
}
