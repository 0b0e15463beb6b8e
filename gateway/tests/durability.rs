//! The real binary, killed with SIGKILL after acknowledging events, keeps them.

use esprit_testkit::{GatewayProcess, free_port, publish, wait_ready};
use serde_json::json;
use std::path::Path;
use std::time::Duration;

fn start(dir: &Path, port: u16) -> GatewayProcess {
    GatewayProcess::start(
        Path::new(env!("CARGO_BIN_EXE_gateway")),
        dir,
        port,
        &[],
        &[],
    )
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
    let mut gateway = start(dir.path(), port);
    wait_ready(&base).await;

    let client = reqwest::Client::new();
    let mut acknowledged = Vec::new();
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (client, url) = (client.clone(), base.clone());
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for i in 0..50 {
                    let event = json!({"npc": "a", "type": "step", "data": {"message": format!("w{w} e{i}")}});
                    ids.push(publish(&client, &url, event).await);
                }
                ids
            })
        })
        .collect();
    for writer in writers {
        acknowledged.extend(writer.await.unwrap());
    }
    gateway.kill();

    let mut gateway = start(dir.path(), port);
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
    let id = publish(&client, &base, json!({"npc": "a", "type": "done"})).await;
    assert_eq!(id, 401);
    // SIGTERM takes the graceful path: streams end, the store flushes, exit 0.
    let status = gateway
        .terminate(Duration::from_secs(10))
        .await
        .expect("the gateway stops on SIGTERM");
    assert!(status.success(), "{status}");
}
