//! Runs flows: one task per run, posting events to the run's callback URL with
//! its callback token, exactly as a Sim workflow's API blocks would.

use super::definition::{Flow, FlowError, Step};
use super::template::{render, render_value};
use super::{Answer, RunWebhook};
use crate::error::ApiError;
use crate::service::Service;
use rand::Rng;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::AbortHandle;

struct Waiting {
    key: String,
    answer: oneshot::Sender<Answer>,
}

pub struct FlowRunner {
    dir: PathBuf,
    self_url: String,
    flows: RwLock<HashMap<String, Result<Arc<Flow>, FlowError>>>,
    running: Arc<Mutex<HashMap<String, AbortHandle>>>,
    waiting: Arc<Mutex<HashMap<String, Waiting>>>,
}

impl FlowRunner {
    pub fn new(dir: PathBuf, self_url: String) -> FlowRunner {
        FlowRunner {
            dir,
            self_url,
            flows: RwLock::new(HashMap::new()),
            running: Default::default(),
            waiting: Default::default(),
        }
    }

    /// Loads every `*.ron` in the flows directory; broken files are reported, not fatal.
    pub fn load_all(&self) -> std::io::Result<()> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "ron") {
                self.reload(&path);
            }
        }
        Ok(())
    }

    /// (Re)loads one flow file. A broken file keeps the last good version running.
    pub fn reload(&self, path: &Path) {
        let Some(name) = path.file_stem().and_then(|s| s.to_str()).map(str::to_owned) else {
            return;
        };
        let mut flows = self.flows.write().expect("flows lock");
        if !path.exists() {
            flows.remove(&name);
            tracing::info!(flow = %name, "flow removed");
            return;
        }
        match Flow::load(path) {
            Ok(flow) => {
                tracing::info!(flow = %name, steps = flow.steps.len(), "flow loaded");
                flows.insert(name, Ok(Arc::new(flow)));
            }
            Err(error) => {
                tracing::error!(%error, "flow file rejected");
                match flows.get(&name) {
                    Some(Ok(_)) => {
                        tracing::warn!(flow = %name, "keeping the previous version of the flow")
                    }
                    _ => {
                        flows.insert(name, Err(error));
                    }
                }
            }
        }
    }

    pub fn flow(&self, name: &str) -> Option<Result<Arc<Flow>, FlowError>> {
        self.flows.read().expect("flows lock").get(name).cloned()
    }

    /// Accepts a run webhook and runs the flow in the background.
    pub fn start(
        &self,
        name: &str,
        hook: RunWebhook,
        http: reqwest::Client,
    ) -> Result<(), ApiError> {
        let flow = match self.flow(name) {
            Some(Ok(flow)) => flow,
            Some(Err(error)) => {
                return Err(ApiError::InvalidRequest(format!(
                    "flow `{name}` is broken: {error}"
                )));
            }
            None => {
                return Err(ApiError::InvalidRequest(format!(
                    "no flow `{name}` in {}",
                    self.dir.display()
                )));
            }
        };
        let run = FlowRun {
            flow,
            scope: json!({
                "payload": hook.payload,
                "run_id": hook.run_id,
                "agent": hook.agent,
                "npc": hook.npc,
                "gateway": self.self_url,
            }),
            hook,
            http,
            self_url: self.self_url.clone(),
            waiting: self.waiting.clone(),
        };
        let run_id = run.hook.run_id.clone();
        let running = self.running.clone();
        let finished_id = run_id.clone();
        let task = tokio::spawn(async move {
            run.execute().await;
            running.lock().expect("running lock").remove(&finished_id);
        });
        self.running
            .lock()
            .expect("running lock")
            .insert(run_id, task.abort_handle());
        Ok(())
    }

    /// Delivers an answer to a flow waiting at `ask`.
    pub fn resume(&self, run_id: &str, key: &str, answer: Answer) -> Result<(), ApiError> {
        let mut waiting = self.waiting.lock().expect("waiting lock");
        match waiting.get(run_id) {
            Some(w) if w.key == key => {}
            _ => return Err(ApiError::NotAwaiting(run_id.to_owned())),
        }
        let w = waiting.remove(run_id).expect("checked above");
        w.answer
            .send(answer)
            .map_err(|_| ApiError::RunEnded(run_id.to_owned()))
    }

    /// Stops a flow now (its token is revoked too, so nothing more gets through).
    pub fn cancel(&self, run_id: &str) -> bool {
        self.waiting.lock().expect("waiting lock").remove(run_id);
        match self.running.lock().expect("running lock").remove(run_id) {
            Some(handle) => {
                handle.abort();
                true
            }
            None => false,
        }
    }
}

struct FlowRun {
    flow: Arc<Flow>,
    hook: RunWebhook,
    scope: Value,
    http: reqwest::Client,
    self_url: String,
    waiting: Arc<Mutex<HashMap<String, Waiting>>>,
}

/// Why a flow stopped early.
enum Stop {
    /// An `error` event has been (or could not be) posted; nothing more to say.
    Ended,
}

impl FlowRun {
    async fn execute(mut self) {
        for step in self.flow.steps.clone() {
            match self.step(&step).await {
                Ok(true) => continue,
                Ok(false) | Err(Stop::Ended) => return,
            }
        }
        // A flow without a final Done still ends its run.
        let _ = self
            .post(
                "done",
                json!({ "message": "finished", "result": Value::Null }),
            )
            .await;
    }

    /// Runs one step; `Ok(false)` when the run has ended.
    async fn step(&mut self, step: &Step) -> Result<bool, Stop> {
        match step {
            Step::Say(message) => {
                self.post("step", json!({ "message": render(message, &self.scope) }))
                    .await?;
            }
            Step::Wait { secs, jitter } => {
                let extra = if *jitter > 0.0 {
                    rand::rng().random_range(0.0..*jitter)
                } else {
                    0.0
                };
                tokio::time::sleep(Duration::from_secs_f64(secs + extra)).await;
            }
            Step::Http {
                method,
                url,
                body,
                save_as,
                message,
            } => {
                let url = render(url, &self.scope);
                if let Some(message) = message {
                    self.post("step", json!({ "message": render(message, &self.scope) }))
                        .await?;
                }
                let method =
                    reqwest::Method::from_bytes(method.as_bytes()).expect("validated at load");
                let mut request = self.http.request(method.clone(), &url);
                if let Some(body) = body {
                    request = request.json(&render_value(body, &self.scope));
                }
                let response = match request.send().await {
                    Ok(response) => response,
                    Err(e) => return self.fail(format!("{method} {url} failed: {e}")).await,
                };
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                if !status.is_success() {
                    let snippet: String = text.chars().take(200).collect();
                    return self
                        .fail(format!("{method} {url} answered {status}: {snippet}"))
                        .await;
                }
                if let Some(name) = save_as {
                    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
                    self.scope[name.as_str()] = json!({ "status": status.as_u16(), "body": body });
                }
            }
            Step::Ask {
                question,
                options,
                timeout_secs,
                save_as,
                stop_on,
            } => {
                let key = crate::auth::random_token();
                let (tx, rx) = oneshot::channel();
                let run_id = self.hook.run_id.clone();
                self.waiting.lock().expect("waiting lock").insert(
                    run_id.clone(),
                    Waiting {
                        key: key.clone(),
                        answer: tx,
                    },
                );
                let question = render(question, &self.scope);
                self.post(
                    "awaiting",
                    json!({
                        "message": question,
                        "question": question,
                        "options": options,
                        "timeout_secs": timeout_secs,
                        "resume_url": format!("{}/flows/resume/{run_id}/{key}", self.self_url),
                    }),
                )
                .await?;
                let answer =
                    match tokio::time::timeout(Duration::from_secs_f64(*timeout_secs), rx).await {
                        Ok(Ok(answer)) => answer,
                        Ok(Err(_)) => return Ok(false),
                        Err(_) => {
                            self.waiting.lock().expect("waiting lock").remove(&run_id);
                            return self
                                .fail(format!(
                                    "no answer to \"{question}\" within {timeout_secs}s"
                                ))
                                .await;
                        }
                    };
                let decision = answer.decision.clone();
                self.scope[save_as.as_str()] = json!({
                    "decision": answer.decision,
                    "comment": answer.comment,
                    "by": answer.by,
                });
                if stop_on.contains(&decision) {
                    self.post(
                        "done",
                        json!({ "message": format!("stopped: {decision}"), "result": { "decision": decision, "comment": answer.comment } }),
                    )
                    .await?;
                    return Ok(false);
                }
            }
            Step::Fail {
                message,
                probability,
            } => {
                if *probability >= 1.0 || rand::rng().random_bool(*probability) {
                    let message = render(message, &self.scope);
                    return self.fail(message).await;
                }
            }
            Step::Done { result, message } => {
                let mut data = Map::new();
                data.insert("result".into(), render_value(result, &self.scope));
                if let Some(message) = message {
                    data.insert("message".into(), render(message, &self.scope).into());
                }
                self.post("done", Value::Object(data)).await?;
                return Ok(false);
            }
        }
        Ok(true)
    }

    async fn fail(&self, error: String) -> Result<bool, Stop> {
        self.post("error", json!({ "error": error })).await?;
        Ok(false)
    }

    /// Posts one event to the callback URL. A refusal (run cancelled, token revoked) ends the flow.
    async fn post(&self, kind: &str, data: Value) -> Result<(), Stop> {
        let body =
            json!({ "npc": self.hook.npc, "type": kind, "run_id": self.hook.run_id, "data": data });
        let mut delay = Duration::from_millis(200);
        for attempt in 1..=4 {
            let sent = self
                .http
                .post(&self.hook.callback_url)
                .bearer_auth(&self.hook.callback_token)
                .json(&body)
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) if r.status().is_client_error() => {
                    tracing::info!(run_id = %self.hook.run_id, status = %r.status(), "flow stopped: the gateway refused its event");
                    return Err(Stop::Ended);
                }
                Ok(r) => {
                    tracing::warn!(run_id = %self.hook.run_id, status = %r.status(), attempt, "flow callback failed")
                }
                Err(e) => {
                    tracing::warn!(run_id = %self.hook.run_id, error = %e, attempt, "flow callback failed")
                }
            }
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
        Err(Stop::Ended)
    }
}

/// Ambient mode: starts a run of a random idle agent every few seconds.
pub fn spawn_demo(service: Arc<Service>) {
    tokio::spawn(async move {
        loop {
            let pause = rand::rng().random_range(3.0..7.0);
            tokio::time::sleep(Duration::from_secs_f64(pause)).await;
            let registry = service.registry();
            let idle: Vec<_> = registry
                .agents()
                .iter()
                .filter(|a| !service.board.get(&a.npc).status.is_busy())
                .collect();
            if idle.is_empty() {
                continue;
            }
            let agent = idle[rand::rng().random_range(0..idle.len())];
            let payload = match &agent.target {
                crate::registry::RunTarget::Flow(name) => match service.flows.flow(name) {
                    Some(Ok(flow)) => flow.demo_payload.clone(),
                    _ => Value::Object(Default::default()),
                },
                _ => Value::Object(Default::default()),
            };
            if let Err(e) = service.start_run(&agent.agent, payload).await {
                tracing::debug!(agent = %agent.agent, error = %e, "demo run not started");
            }
        }
    });
}
