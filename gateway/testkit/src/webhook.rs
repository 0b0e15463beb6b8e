//! A stand-in for a Sim workflow with a webhook trigger: a real HTTP server
//! that checks the bearer token like "Require Authentication", answers like
//! Sim, then posts progress to `callback_url` with `callback_token` as the
//! workflow's API blocks would.

use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use warp::{Filter, Reply};

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
    /// `200 {"message":"Webhook processed"}`, then post `step`, `step`, `done` back.
    Workflow,
    /// Answer 200 and post nothing back.
    Accept,
    Fail500,
    /// Sleep longer than any test timeout before answering.
    Hang,
    Unauthorized,
}

/// The stand-in: what it received and how it answers.
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

    /// Waits (up to 10 s) until at least `n` calls arrived; returns them.
    pub async fn wait_for_calls(&self, n: usize) -> Vec<Received> {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let calls = self.calls();
            if calls.len() >= n {
                return calls;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the stand-in got {} calls, not {n}",
                calls.len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
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
