//! The real binary, killed with SIGKILL after acknowledging events, keeps them.

use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn start(dir: &std::path::Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_gateway"))
        .args(["--port", &port.to_string(), "--agent-map-file"])
        .arg(dir.join("agents.json"))
        .arg("--data-dir")
        .arg(dir.join("db"))
        .arg("--flows-dir")
        .arg(dir.join("flows"))
        .env("LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("gateway binary starts")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_ready(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(r) = reqwest::get(format!("{base}/readyz")).await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("gateway at {base} did not become ready");
}

#[tokio::test]
async fn acknowledged_events_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("agents.json"),
        r#"[{"agent":"a","npc":"a","flow":"none"}]"#,
    )
    .unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = start(dir.path(), port);
    wait_ready(&base).await;

    let client = reqwest::Client::new();
    let mut acknowledged = Vec::new();
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (client, url) = (client.clone(), format!("{base}/api/events"));
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for i in 0..50 {
                    let r = client
                        .post(&url)
                        .json(&json!({"npc": "a", "type": "step", "data": {"message": format!("w{w} e{i}")}}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 202);
                    ids.push(r.json::<serde_json::Value>().await.unwrap()["ids"][0].as_u64().unwrap());
                }
                ids
            })
        })
        .collect();
    for writer in writers {
        acknowledged.extend(writer.await.unwrap());
    }
    child.kill().unwrap(); // SIGKILL: no flush, no goodbye.
    child.wait().unwrap();

    let mut child = start(dir.path(), port);
    wait_ready(&base).await;
    let mut stored = Vec::new();
    let mut before = None;
    loop {
        let url = match before {
            Some(b) => format!("{base}/api/history?npc=a&limit=1000&before={b}"),
            None => format!("{base}/api/history?npc=a&limit=1000"),
        };
        let page: serde_json::Value = reqwest::get(url).await.unwrap().json().await.unwrap();
        stored.extend(
            page["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_u64().unwrap()),
        );
        match page["next_before"].as_u64() {
            Some(b) => before = Some(b),
            None => break,
        }
    }
    stored.sort();
    acknowledged.sort();
    assert_eq!(acknowledged.len(), 400);
    assert_eq!(
        stored, acknowledged,
        "every acknowledged event is back after kill -9"
    );

    // New events continue the sequence.
    let r = client
        .post(format!("{base}/api/events"))
        .json(&json!({"npc": "a", "type": "done"}))
        .send()
        .await
        .unwrap();
    let id = r.json::<serde_json::Value>().await.unwrap()["ids"][0]
        .as_u64()
        .unwrap();
    assert_eq!(id, 401);
    // SIGTERM takes the graceful path: streams end, the store flushes, exit 0.
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the gateway did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status}");
}
