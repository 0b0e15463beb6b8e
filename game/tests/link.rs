//! The SSE link against a real gateway: roster, history and live events
//! arrive; the gateway dies and comes back; the link resumes from
//! `Last-Event-ID` and misses nothing.

use game::gateway_link::{GatewayLink, GatewaySettings, LinkEvent, LinkState};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

fn config(dir: &std::path::Path, port: u16) -> gateway::Config {
    let mut config = gateway::Config::for_paths(dir.join("agents.json"), dir.join("db"));
    config.addr.set_port(port);
    config.flows_dir = dir.join("flows");
    config
}

async fn publish(client: &reqwest::Client, base: &str, message: &str) -> u64 {
    let r = client
        .post(format!("{base}/api/events"))
        .json(
            &serde_json::json!({"npc": "scheduler", "type": "step", "data": {"message": message}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    r.json::<serde_json::Value>().await.unwrap()["ids"][0]
        .as_u64()
        .unwrap()
}

/// Drains link events until `done` says so or the deadline passes.
fn collect(
    link: &GatewayLink,
    seen: &mut Vec<LinkEvent>,
    timeout: Duration,
    mut done: impl FnMut(&[LinkEvent]) -> bool,
) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        seen.extend(link.events().try_iter());
        if done(seen) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out; saw {seen:#?}");
}

fn live_ids(seen: &[LinkEvent]) -> Vec<u64> {
    seen.iter()
        .filter_map(|e| {
            if let LinkEvent::Live(e) = e {
                Some(e.id)
            } else {
                None
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_link_resumes_after_the_gateway_restarts_and_misses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("agents.json"),
        r#"[{"agent":"scheduler","npc":"scheduler","flow":"x"}]"#,
    )
    .unwrap();
    let first = gateway::spawn(config(dir.path(), 0)).await.unwrap();
    let port = first.addr.port();
    let base = first.url();
    let client = reqwest::Client::new();
    let before = publish(&client, &base, "before the office opened").await;

    let link = GatewayLink::start(
        GatewaySettings {
            at: None,
            base_url: base.clone(),
            token: None,
        },
        None,
    );
    let mut seen = Vec::new();
    collect(&link, &mut seen, Duration::from_secs(10), |s| {
        s.iter()
            .any(|e| matches!(e, LinkEvent::State(LinkState::Connected)))
    });
    assert!(
        seen.iter()
            .any(|e| matches!(e, LinkEvent::Roster(r) if r.agents.len() == 1))
    );
    assert!(seen.iter().any(
        |e| matches!(e, LinkEvent::History { events, .. } if events.iter().any(|e| e.id == before))
    ));

    let mut published = BTreeSet::new();
    for i in 0..5 {
        published.insert(publish(&client, &base, &format!("live {i}")).await);
    }
    collect(&link, &mut seen, Duration::from_secs(10), |s| {
        live_ids(s).len() >= 5
    });

    // The gateway goes away; events are published while the office is disconnected.
    first.shutdown().await;
    let second = gateway::spawn(config(dir.path(), port)).await.unwrap();
    for i in 0..5 {
        published.insert(publish(&client, &base, &format!("while away {i}")).await);
    }
    collect(&link, &mut seen, Duration::from_secs(20), |s| {
        live_ids(s).len() >= 10
    });
    assert!(
        seen.iter()
            .any(|e| matches!(e, LinkEvent::State(LinkState::Reconnecting { .. }))),
        "the HUD was told"
    );
    let ids = live_ids(&seen);
    assert_eq!(
        ids.iter().copied().collect::<BTreeSet<_>>(),
        published,
        "nothing missed"
    );
    assert_eq!(ids.len(), published.len(), "nothing twice");
    second.shutdown().await;
}
