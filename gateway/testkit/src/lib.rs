//! Test support for Esprit-Hub, shared by the gateway's and the office's
//! tests: real gateways on loopback (in-process or the binary), an SSE
//! reader, and stand-ins for Sim (webhook trigger and execute API) that are
//! real HTTP servers.

pub mod child;
pub mod in_process;
pub mod nginx;
pub mod process;
pub mod redis;
pub mod sim_api;
pub mod sse;
pub mod webhook;

pub use in_process::TestGateway;
pub use process::{GatewayProcess, free_port, wait_ready};
pub use sse::Subscriber;
pub use webhook::{Behaviour, Received, StandInSim};

use protocol::EventEnvelope;
use serde_json::{Value, json};

/// One agent of an `agents.json`: `{"agent": id, "npc": id}` plus `extra`.
pub fn agent(id: &str, extra: Value) -> Value {
    let mut base = json!({"agent": id, "npc": id});
    if let (Some(base), Some(extra)) = (base.as_object_mut(), extra.as_object()) {
        base.extend(extra.clone());
    }
    base
}

/// The event types, in order.
pub fn kinds(events: &[EventEnvelope]) -> Vec<&'static str> {
    events.iter().map(|e| e.kind.as_str()).collect()
}

/// Each event's human line (`message`, `error` or `question`), or "".
pub fn messages(events: &[EventEnvelope]) -> Vec<String> {
    events
        .iter()
        .map(|e| e.message().unwrap_or("").to_owned())
        .collect()
}

/// Posts one event and returns its id (the gateway must accept it).
pub async fn publish(http: &reqwest::Client, base: &str, event: Value) -> u64 {
    let response = http
        .post(format!("{base}/api/events"))
        .json(&event)
        .send()
        .await
        .expect("the gateway answers");
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 202, "publish refused: {body}");
    body["ids"][0].as_u64().expect("an id")
}
