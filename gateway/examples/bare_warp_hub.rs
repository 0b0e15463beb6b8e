//! The floor the gateway's hub is measured against: a minimal warp 0.4 SSE
//! broadcast hub with the gateway's two routes and nothing else (no storage,
//! no auth, no ids, no replay). `docs/benchmarks.md` runs both under the
//! same load.
//!
//! `cargo run --release -p gateway --example bare_warp_hub -- 3200`

use futures_util::StreamExt;
use serde_json::Value;
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, RwLock};
use tokio::sync::broadcast;
use warp::Filter;

type Hub = Arc<RwLock<HashMap<String, broadcast::Sender<Arc<str>>>>>;

fn sender(hub: &Hub, npc: &str) -> broadcast::Sender<Arc<str>> {
    if let Some(tx) = hub.read().unwrap().get(npc) {
        return tx.clone();
    }
    hub.write()
        .unwrap()
        .entry(npc.to_owned())
        .or_insert_with(|| broadcast::channel(1024).0)
        .clone()
}

/// A broadcast receiver as a stream, skipping what it lagged over.
fn receive(rx: broadcast::Receiver<Arc<str>>) -> impl futures_util::Stream<Item = Arc<str>> + Send {
    futures_util::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(event) => return Some((event, rx)),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
}

#[tokio::main]
async fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(3200);
    let hub: Hub = Arc::default();
    let publish = {
        let hub = hub.clone();
        warp::path!("api" / "events")
            .and(warp::post())
            .and(warp::body::json::<Value>())
            .map(move |body: Value| {
                let events = match body {
                    Value::Array(events) => events,
                    one => vec![one],
                };
                for event in events {
                    let npc = event["npc"].as_str().unwrap_or("").to_owned();
                    let _ = sender(&hub, &npc).send(Arc::from(event.to_string()));
                }
                warp::reply::with_status("", warp::http::StatusCode::ACCEPTED)
            })
    };
    let stream = warp::path!("api" / "stream")
        .and(warp::get())
        .and(warp::query::<HashMap<String, String>>())
        .map(move |query: HashMap<String, String>| {
            let npc = query.get("npc").cloned().unwrap_or_default();
            let events = receive(sender(&hub, &npc).subscribe())
                .map(|data| Ok::<_, Infallible>(warp::sse::Event::default().data(&*data)));
            warp::sse::reply(warp::sse::keep_alive().stream(events))
        });
    println!("bare warp hub on http://127.0.0.1:{port}");
    warp::serve(publish.or(stream))
        .run(([127, 0, 0, 1], port))
        .await;
}
