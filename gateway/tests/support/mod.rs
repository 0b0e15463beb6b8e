//! Test support: a real gateway on port 0 with temp files, an SSE reader, and
//! a stand-in for Sim's webhook trigger that is a real HTTP server.
#![allow(dead_code)]

pub mod sim_api;

use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use gateway::{Config, Running};
use protocol::EventEnvelope;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tempfile::TempDir;
use warp::{Filter, Reply};

pub struct TestGateway {
    pub running: Running,
    pub dir: TempDir,
    pub http: reqwest::Client,
}

impl TestGateway {
    pub async fn start(agents: Value) -> TestGateway {
        Self::start_with(agents, |_| {}).await
    }

    pub async fn start_with(agents: Value, tweak: impl FnOnce(&mut Config)) -> TestGateway {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("agents.json"),
            serde_json::to_string_pretty(&agents).unwrap(),
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("flows")).unwrap();
        let mut config = Config::for_paths(dir.path().join("agents.json"), dir.path().join("db"));
        config.flows_dir = dir.path().join("flows");
        config.web_dist = dir.path().join("dist");
        config.webhook.backoff = Duration::from_millis(20);
        tweak(&mut config);
        let running = gateway::spawn(config).await.expect("gateway starts");
        TestGateway {
            running,
            dir,
            http: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.running.url())
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
        let response = self
            .http
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self.http.get(self.url(path)).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn publish(&self, npc: &str, kind: &str, data: Value) -> u64 {
        let (status, body) = self
            .post(
                "/api/events",
                json!({"npc": npc, "type": kind, "data": data}),
            )
            .await;
        assert_eq!(status, 202, "{body}");
        body["ids"][0].as_u64().unwrap()
    }

    pub async fn subscribe(&self, query: &str) -> Subscriber {
        Subscriber::connect(&self.url(&format!("/api/stream{query}")), None, None).await
    }

    pub fn write_flow(&self, name: &str, text: &str) {
        std::fs::write(self.path("flows").join(format!("{name}.ron")), text).unwrap();
        self.running
            .service
            .flows
            .reload(&self.path("flows").join(format!("{name}.ron")));
    }
}

/// An SSE reader over a real connection.
pub struct Subscriber {
    events: std::pin::Pin<
        Box<dyn futures_util::Stream<Item = Result<eventsource_stream::Event, String>> + Send>,
    >,
}

impl Subscriber {
    pub async fn connect(url: &str, last_event_id: Option<u64>, token: Option<&str>) -> Subscriber {
        let mut request = reqwest::Client::new().get(url);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "stream {url}");
        let events = response
            .bytes_stream()
            .eventsource()
            .map(|r| r.map_err(|e| e.to_string()));
        Subscriber {
            events: Box::pin(events),
        }
    }

    /// The next event (skipping frames with no event, like the hello), or None when the stream ends.
    pub async fn next_within(&mut self, wait: Duration) -> Option<EventEnvelope> {
        loop {
            let frame = tokio::time::timeout(wait, self.events.next())
                .await
                .ok()??
                .ok()?;
            if frame.data.is_empty() {
                continue;
            }
            let envelope: EventEnvelope =
                serde_json::from_str(&frame.data).expect("data is an envelope");
            assert_eq!(frame.event, envelope.kind.as_str());
            assert_eq!(frame.id, envelope.id.to_string());
            return Some(envelope);
        }
    }

    pub async fn next(&mut self) -> EventEnvelope {
        self.next_within(Duration::from_secs(10))
            .await
            .expect("an event within 10s")
    }

    /// Events until one of `kind` arrives (inclusive).
    pub async fn until(&mut self, kind: &str) -> Vec<EventEnvelope> {
        let mut seen = Vec::new();
        loop {
            let event = self.next().await;
            let done = event.kind.as_str() == kind;
            seen.push(event);
            if done {
                return seen;
            }
        }
    }
}

pub fn kinds(events: &[EventEnvelope]) -> Vec<&'static str> {
    events.iter().map(|e| e.kind.as_str()).collect()
}

/// What the stand-in Sim saw of one webhook call.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: warp::http::HeaderMap,
    pub body: Value,
    pub raw: bytes::Bytes,
}

/// How the stand-in answers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Behaviour {
    /// `200 {"message":"Webhook processed"}`, then post `step`, `awaiting`? no: `step`, `done` back.
    Workflow,
    /// Answer 200 and post nothing back.
    Accept,
    Fail500,
    /// Sleep longer than any test timeout before answering.
    Hang,
    Unauthorized,
}

/// A stand-in for a deployed Sim workflow with a webhook trigger: checks the
/// bearer token like "Require Authentication", answers like Sim, then posts
/// progress to `callback_url` with `callback_token` as the workflow's API
/// blocks would.
pub struct StandInSim {
    pub url: String,
    pub received: Arc<Mutex<Vec<Received>>>,
    pub behaviour: Arc<Mutex<Behaviour>>,
}

impl StandInSim {
    pub async fn start(expected_token: Option<&'static str>) -> StandInSim {
        let received = Arc::new(Mutex::new(Vec::new()));
        let behaviour = Arc::new(Mutex::new(Behaviour::Workflow));
        let (rec, beh) = (received.clone(), behaviour.clone());
        let route = warp::path!("api" / "webhooks" / "trigger" / String)
            .and(warp::post())
            .and(warp::header::headers_cloned())
            .and(warp::body::bytes())
            .then(
                move |_path: String, headers: warp::http::HeaderMap, raw: bytes::Bytes| {
                    let (rec, beh) = (rec.clone(), beh.clone());
                    async move {
                        let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
                        rec.lock().unwrap().push(Received {
                            headers: headers.clone(),
                            body: body.clone(),
                            raw,
                        });
                        let behaviour = *beh.lock().unwrap();
                        let bearer = headers
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned);
                        let token_ok = expected_token
                            .is_none_or(|t| bearer.as_deref() == Some(&format!("Bearer {t}")));
                        if !token_ok || behaviour == Behaviour::Unauthorized {
                            // Sim's generic webhook answers a bad token in plain text.
                            return warp::reply::with_status(
                                "Unauthorized - Invalid authentication token",
                                warp::http::StatusCode::UNAUTHORIZED,
                            )
                            .into_response();
                        }
                        match behaviour {
                            Behaviour::Fail500 => {
                                return warp::reply::with_status(
                                    warp::reply::json(&json!({"error": "Internal server error"})),
                                    warp::http::StatusCode::INTERNAL_SERVER_ERROR,
                                )
                                .into_response();
                            }
                            Behaviour::Hang => tokio::time::sleep(Duration::from_secs(30)).await,
                            Behaviour::Workflow => {
                                tokio::spawn(run_workflow(body));
                            }
                            _ => {}
                        }
                        warp::reply::with_status(
                            warp::reply::json(&json!({"message": "Webhook processed"})),
                            warp::http::StatusCode::OK,
                        )
                        .into_response()
                    }
                },
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(warp::serve(route).incoming(listener).run());
        StandInSim {
            url: format!("http://{addr}/api/webhooks/trigger/esprit"),
            received,
            behaviour,
        }
    }

    pub fn set(&self, behaviour: Behaviour) {
        *self.behaviour.lock().unwrap() = behaviour;
    }

    pub fn calls(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

/// The workflow's API blocks: post two steps and a result back to the gateway.
async fn run_workflow(input: Value) {
    let client = reqwest::Client::new();
    let url = input["callback_url"].as_str().unwrap().to_owned();
    let token = input["callback_token"].as_str().unwrap().to_owned();
    let npc = input["npc"].as_str().unwrap().to_owned();
    let posts = [
        json!({"npc": npc, "type": "step", "data": {"message": "Parsing calendar event..."}}),
        json!({"npc": npc, "type": "step", "data": {"message": "Booking room"}}),
        json!({"npc": npc, "type": "done", "data": {"result": {"eventId": "evt_123"}}}),
    ];
    for post in posts {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let r = client
            .post(&url)
            .bearer_auth(&token)
            .json(&post)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "callback accepted");
    }
}

pub fn agent(id: &str, extra: Value) -> Value {
    let mut base = json!({"agent": id, "npc": id});
    if let (Some(base), Some(extra)) = (base.as_object_mut(), extra.as_object()) {
        base.extend(extra.clone());
    }
    base
}
