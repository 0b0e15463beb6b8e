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
    /// Statuses of the workflow's callbacks the gateway refused.
    pub refused: Arc<Mutex<Vec<u16>>>,
}

impl StandInSim {
    pub async fn start(expected_token: Option<&'static str>) -> StandInSim {
        Self::paced(expected_token.map(str::to_owned), Duration::from_millis(20)).await
    }

    /// A stand-in whose workflow posts each callback `pace` after the last
    /// (a person watching sees each step), and that lists what it received
    /// at `GET /calls` (for tests outside this process).
    pub async fn paced(expected_token: Option<String>, pace: Duration) -> StandInSim {
        let received = Arc::new(Mutex::new(Vec::new()));
        let behaviour = Arc::new(Mutex::new(Behaviour::Workflow));
        let refused = Arc::new(Mutex::new(Vec::new()));
        let (rec, beh, refs) = (received.clone(), behaviour.clone(), refused.clone());
        let expected_token = Arc::new(expected_token);
        let calls = {
            let (rec, refs) = (received.clone(), refused.clone());
            warp::path!("calls").and(warp::get()).map(move || {
                let calls: Vec<Value> = rec
                    .lock()
                    .unwrap()
                    .iter()
                    .map(|r: &Received| {
                        let headers: serde_json::Map<String, Value> = r
                            .headers
                            .iter()
                            .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap_or(""))))
                            .collect();
                        json!({"headers": headers, "body": r.body})
                    })
                    .collect();
                warp::reply::json(&json!({"calls": calls, "refused": *refs.lock().unwrap()}))
            })
        };
        let route = warp::path!("api" / "webhooks" / "trigger" / String)
            .and(warp::post())
            .and(warp::header::headers_cloned())
            .and(warp::body::bytes())
            .then(
                move |_path: String, headers: warp::http::HeaderMap, raw: bytes::Bytes| {
                    let (rec, beh, refs) = (rec.clone(), beh.clone(), refs.clone());
                    let expected_token = expected_token.clone();
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
                            .as_deref()
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
                                tokio::spawn(run_workflow(body, pace, refs));
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
        tokio::spawn(warp::serve(route.or(calls)).incoming(listener).run());
        StandInSim {
            url: format!("http://{addr}/api/webhooks/trigger/esprit"),
            received,
            behaviour,
            refused,
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
async fn run_workflow(input: Value, pace: Duration, refused: Arc<Mutex<Vec<u16>>>) {
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
        tokio::time::sleep(pace).await;
        let r = client
            .post(&url)
            .bearer_auth(&token)
            .json(&post)
            .send()
            .await
            .unwrap();
        if r.status() != 202 {
            refused.lock().unwrap().push(r.status().as_u16());
        }
    }
}
