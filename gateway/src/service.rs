//! The gateway's core: validates publishes, keeps each agent's status, starts
//! runs and sends their webhooks. It knows nothing of HTTP; routes call it.

use crate::auth::{Authenticator, Caller};
use crate::config::SimSettings;
use crate::error::ApiError;
use crate::hub::EventHub;
use crate::registry::{Registry, RunTarget};
use crate::store::{BROADCAST_NPC, CommitListener, EventStore, NewEvent, StoredEvent};
use crate::webhook::{Delivery, WebhookClient};
use protocol::{AgentStatus, AgentSummary, EventKind, PublishEvent, Roster, RunAccepted};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

/// What the roster shows of one npc, kept current by every commit.
#[derive(Debug, Clone, Default)]
pub struct NpcState {
    pub status: AgentStatus,
    pub run_id: Option<String>,
    pub last_message: Option<String>,
    pub last_event_at: Option<String>,
    pub last_event_id: Option<u64>,
}

/// Current state of every npc, updated in commit order.
#[derive(Default)]
pub struct StatusBoard {
    npcs: Mutex<HashMap<String, NpcState>>,
    last_id: std::sync::atomic::AtomicU64,
}

impl StatusBoard {
    pub fn apply(&self, event: &StoredEvent) {
        self.last_id
            .fetch_max(event.id, std::sync::atomic::Ordering::Relaxed);
        if event.npc == BROADCAST_NPC {
            return;
        }
        let mut npcs = self.npcs.lock().expect("status lock");
        let state = npcs.entry(event.npc.clone()).or_default();
        state.status = state.status.after(event.kind);
        if event.run_id.is_some() {
            state.run_id = event.run_id.clone();
        }
        if event.message.is_some() {
            state.last_message = event.message.clone();
        }
        state.last_event_at = Some(event.ts.clone());
        state.last_event_id = Some(event.id);
    }

    pub fn get(&self, npc: &str) -> NpcState {
        self.npcs
            .lock()
            .expect("status lock")
            .get(npc)
            .cloned()
            .unwrap_or_default()
    }

    pub fn last_id(&self) -> u64 {
        self.last_id.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Marks the npc running for `run_id` unless a run is already in progress.
    fn claim(&self, npc: &str, run_id: &str) -> Result<(), String> {
        let mut npcs = self.npcs.lock().expect("status lock");
        let state = npcs.entry(npc.to_owned()).or_default();
        if state.status.is_busy() {
            return Err(state.run_id.clone().unwrap_or_default());
        }
        state.status = AgentStatus::Running;
        state.run_id = Some(run_id.to_owned());
        Ok(())
    }

    fn release(&self, npc: &str, previous: NpcState) {
        self.npcs
            .lock()
            .expect("status lock")
            .insert(npc.to_owned(), previous);
    }
}

/// What happens after a commit, in id order: statuses, run tokens, then fan-out.
pub struct CommitFanout {
    pub board: Arc<StatusBoard>,
    pub hub: Arc<EventHub>,
    pub auth: Authenticator,
}

impl CommitListener for CommitFanout {
    fn committed(&self, events: &[Arc<StoredEvent>]) {
        for event in events {
            self.board.apply(event);
            if event.kind.is_terminal()
                && let Some(run_id) = &event.run_id
            {
                self.auth.runs.revoke(run_id);
            }
        }
        self.hub.fan_out(events);
    }
}

pub struct Service {
    pub registry: RwLock<Arc<Registry>>,
    pub store: Arc<dyn EventStore>,
    pub hub: Arc<EventHub>,
    pub board: Arc<StatusBoard>,
    pub auth: Authenticator,
    pub webhooks: WebhookClient,
    pub sim: SimSettings,
    /// How webhooks reach this gateway (`callback_url`).
    pub public_url: String,
    /// How this process reaches itself (embedded flows).
    pub self_url: String,
    pub flows: crate::flows::FlowRunner,
    /// Runs whose answer is being delivered, so two people cannot both answer.
    pub answering: Mutex<std::collections::HashSet<String>>,
}

pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .expect("UTC timestamps always format")
}

impl Service {
    pub fn registry(&self) -> Arc<Registry> {
        self.registry.read().expect("registry lock").clone()
    }

    /// Restores statuses and run tokens from the store after a restart.
    pub async fn restore(&self) -> Result<(), ApiError> {
        for event in self.store.latest_per_npc().await? {
            self.board.apply(&event);
        }
        for run in self.store.open_runs().await? {
            let digest = run
                .callback_digest
                .as_deref()
                .and_then(|d| hex::decode(d).ok());
            if let Some(Ok(digest)) = digest.map(<[u8; 32]>::try_from) {
                self.auth
                    .runs
                    .remember_digest(digest, &run.summary.run_id, &run.summary.npc);
            }
        }
        Ok(())
    }

    pub fn roster(&self) -> Roster {
        let registry = self.registry();
        let last_event_id = self.board.last_id();
        let agents = registry
            .agents()
            .iter()
            .map(|agent| {
                let state = self.board.get(&agent.npc);
                AgentSummary {
                    agent: agent.agent.clone(),
                    npc: agent.npc.clone(),
                    name: agent.name.clone(),
                    role: agent.role.clone(),
                    desk: agent.desk.clone(),
                    studio_url: agent.resolved_studio_url(&self.sim),
                    status: state.status,
                    run_id: state.run_id,
                    last_message: state.last_message,
                    last_event_at: state.last_event_at,
                    last_event_id: state.last_event_id,
                }
            })
            .collect();
        Roster {
            agents,
            last_event_id,
        }
    }

    /// Validates and stores published events; answers only once they are durable.
    pub async fn publish(
        &self,
        caller: &Caller,
        events: Vec<PublishEvent>,
    ) -> Result<Vec<u64>, ApiError> {
        if events.is_empty() {
            return Err(ApiError::InvalidEvent("no events in the batch".into()));
        }
        let registry = self.registry();
        let mut batch = Vec::with_capacity(events.len());
        for (index, event) in events.into_iter().enumerate() {
            let at = |msg: String| {
                if index == 0 {
                    msg
                } else {
                    format!("event [{index}]: {msg}")
                }
            };
            let kind: EventKind = event
                .kind
                .parse()
                .map_err(|e: protocol::UnknownEventKind| {
                    ApiError::InvalidEvent(at(format!(
                        "{e}; expected one of started, step, awaiting, done, error"
                    )))
                })?;
            if !kind.is_publishable() {
                return Err(ApiError::InvalidEvent(at(format!(
                    "events of type `{kind}` are written by the gateway only"
                ))));
            }
            if !registry.has_npc(&event.npc) {
                return Err(ApiError::UnknownNpc(event.npc));
            }
            let mut run_id = event.run_id;
            if let Caller::Run {
                run_id: own_run,
                npc,
            } = caller
            {
                if *npc != event.npc {
                    return Err(ApiError::Forbidden(format!(
                        "post events for npc `{}`",
                        event.npc
                    )));
                }
                match &run_id {
                    Some(id) if id != own_run => {
                        return Err(ApiError::Forbidden(format!("post events for run `{id}`")));
                    }
                    _ => run_id = Some(own_run.clone()),
                }
            }
            if let Some(id) = &run_id
                && (id.is_empty() || id.len() > 128)
            {
                return Err(ApiError::InvalidEvent(at(
                    "`run_id` must be 1-128 characters".into(),
                )));
            }
            let ts = match event.ts {
                Some(ts) => {
                    time::OffsetDateTime::parse(
                        &ts,
                        &time::format_description::well_known::Rfc3339,
                    )
                    .map_err(|_| {
                        ApiError::InvalidEvent(at(format!(
                            "`ts` `{ts}` is not an RFC 3339 timestamp"
                        )))
                    })?;
                    ts
                }
                None => now_rfc3339(),
            };
            let fields = match event.data {
                None | Some(Value::Null) => Map::new(),
                Some(Value::Object(map)) => map,
                // A bare string is the step message, as a shorthand.
                Some(Value::String(message)) => {
                    Map::from_iter([("message".to_owned(), Value::String(message))])
                }
                Some(_) => {
                    return Err(ApiError::InvalidEvent(at(
                        "`data` must be an object (or a message string)".into(),
                    )));
                }
            };
            let reserved = ["id", "type", "ts", "npc", "run_id"];
            if let Some(key) = fields.keys().find(|k| reserved.contains(&k.as_str())) {
                return Err(ApiError::InvalidEvent(at(format!(
                    "`data.{key}` is reserved; put it at the top level"
                ))));
            }
            batch.push(NewEvent {
                kind,
                agent: registry.by_npc(&event.npc).map(|a| a.agent.clone()),
                npc: event.npc,
                run_id,
                ts,
                fields,
                callback_digest: None,
            });
        }
        let stored = self.store.append(batch).await?;
        for event in &stored {
            tracing::debug!(npc = %event.npc, run_id = ?event.run_id, event_id = event.id, kind = %event.kind, "event stored");
        }
        Ok(stored.iter().map(|e| e.id).collect())
    }

    /// Writes an event on the gateway's own authority (run lifecycle, roster changes).
    pub async fn record(
        &self,
        kind: EventKind,
        npc: &str,
        run_id: Option<&str>,
        fields: Map<String, Value>,
    ) -> Result<Arc<StoredEvent>, ApiError> {
        let registry = self.registry();
        let event = NewEvent {
            kind,
            npc: npc.to_owned(),
            run_id: run_id.map(str::to_owned),
            ts: now_rfc3339(),
            fields,
            agent: registry.by_npc(npc).map(|a| a.agent.clone()),
            callback_digest: None,
        };
        let mut stored = self.store.append(vec![event]).await?;
        Ok(stored.remove(0))
    }

    /// Starts a run: records `started`, then delivers the webhook in the background.
    pub async fn start_run(
        self: &Arc<Self>,
        agent_id: &str,
        payload: Value,
    ) -> Result<RunAccepted, ApiError> {
        let registry = self.registry();
        let agent = registry
            .agent(agent_id)
            .ok_or_else(|| ApiError::UnknownAgent(agent_id.to_owned()))?
            .clone();
        let run_id = new_run_id();
        let previous = self.board.get(&agent.npc);
        self.board
            .claim(&agent.npc, &run_id)
            .map_err(|current| ApiError::AgentBusy {
                agent: agent.agent.clone(),
                run_id: current,
            })?;
        let callback_token = self.auth.runs.issue(&run_id, &agent.npc);
        let mut fields = Map::new();
        fields.insert("agent".into(), json!(agent.agent));
        fields.insert("message".into(), json!(format!("{} started", agent.name)));
        if !payload.is_null() {
            fields.insert("payload".into(), payload.clone());
        }
        let started = NewEvent {
            kind: EventKind::Started,
            npc: agent.npc.clone(),
            run_id: Some(run_id.clone()),
            ts: now_rfc3339(),
            fields,
            agent: Some(agent.agent.clone()),
            callback_digest: Some(hex::encode(Sha256::digest(callback_token.as_bytes()))),
        };
        let stored = match self.store.append(vec![started]).await {
            Ok(mut stored) => stored.remove(0),
            Err(e) => {
                self.board.release(&agent.npc, previous);
                self.auth.runs.revoke(&run_id);
                return Err(e.into());
            }
        };
        tracing::info!(agent = %agent.agent, npc = %agent.npc, run_id = %run_id, event_id = stored.id, "run started");

        let body = webhook_body(
            json!({
                "run_id": run_id,
                "agent": agent.agent,
                "npc": agent.npc,
                "callback_url": format!("{}/api/events", self.public_url),
                "callback_token": callback_token,
            }),
            payload,
        );
        let url = match &agent.target {
            RunTarget::Webhook(url) => url.clone(),
            RunTarget::Flow(name) => url::Url::parse(&format!("{}/flows/{name}", self.self_url))
                .map_err(|e| ApiError::InvalidRequest(format!("flow `{name}`: {e}")))?,
            RunTarget::SimWorkflow { id, outputs } => {
                let service = self.clone();
                let workflow = crate::sim::Workflow {
                    id: id.clone(),
                    outputs: outputs.clone(),
                };
                let (run, npc) = (run_id.clone(), agent.npc.clone());
                tokio::spawn(async move {
                    crate::sim::execute(&service, &npc, &run, &workflow, body).await
                });
                return Ok(RunAccepted {
                    run_id,
                    event_id: stored.id,
                });
            }
        };
        let delivery = Delivery {
            url,
            body: serde_json::to_vec(&body)
                .expect("JSON values serialize")
                .into(),
            bearer: agent.webhook_token.clone(),
            secret: agent.secret.clone(),
            message_id: format!("msg_{run_id}"),
            extra_headers: Default::default(),
        };
        let service = self.clone();
        let (npc, run) = (agent.npc.clone(), run_id.clone());
        tokio::spawn(async move {
            match service.webhooks.deliver(&delivery).await {
                Ok(delivered) => {
                    tracing::info!(npc = %npc, run_id = %run, status = %delivered.status, attempts = delivered.attempts, "webhook delivered");
                }
                Err(failed) => {
                    tracing::warn!(npc = %npc, run_id = %run, reason = %failed.reason, "webhook failed");
                    service.fail_run(&npc, &run, failed.to_string()).await;
                }
            }
        });
        Ok(RunAccepted {
            run_id,
            event_id: stored.id,
        })
    }

    /// Ends a run with an `error` event unless it has already ended.
    pub async fn fail_run(&self, npc: &str, run_id: &str, error: String) {
        match self.store.run(run_id).await {
            Ok(Some(run)) if run.summary.ended_at.is_some() => return,
            Err(e) => tracing::warn!(run_id, error = %e, "cannot read run before failing it"),
            _ => {}
        }
        let fields = Map::from_iter([("error".to_owned(), Value::String(error))]);
        if let Err(e) = self
            .record(EventKind::Error, npc, Some(run_id), fields)
            .await
        {
            tracing::error!(run_id, error = %e, "cannot record the run's failure");
        }
    }

    /// A run that exists and has not ended.
    async fn open_run(&self, run_id: &str) -> Result<crate::store::RunRecord, ApiError> {
        let run = self
            .store
            .run(run_id)
            .await?
            .ok_or_else(|| ApiError::UnknownRun(run_id.to_owned()))?;
        if run.summary.ended_at.is_some() {
            return Err(ApiError::RunEnded(run_id.to_owned()));
        }
        Ok(run)
    }

    /// Stops a run in progress: the flow (if embedded) is aborted and an `error` ends the run.
    pub async fn cancel_run(&self, run_id: &str, caller: &Caller) -> Result<u64, ApiError> {
        let run = self.open_run(run_id).await?;
        self.flows.cancel(run_id);
        let fields = Map::from_iter([
            (
                "error".to_owned(),
                json!(format!("cancelled by {}", caller.label())),
            ),
            ("cancelled".to_owned(), json!(true)),
        ]);
        let event = self
            .record(EventKind::Error, &run.summary.npc, Some(run_id), fields)
            .await?;
        tracing::info!(run_id, npc = %run.summary.npc, event_id = event.id, "run cancelled");
        Ok(event.id)
    }

    /// Answers a run's `awaiting` question: records the answer, then forwards it
    /// to the `resume_url` the question carried (embedded flows and Sim alike).
    pub async fn respond(
        &self,
        run_id: &str,
        caller: &Caller,
        answer: protocol::RespondRequest,
    ) -> Result<u64, ApiError> {
        if !self
            .answering
            .lock()
            .expect("answering lock")
            .insert(run_id.to_owned())
        {
            return Err(ApiError::Conflict(format!(
                "run `{run_id}` is being answered right now"
            )));
        }
        let result = self.respond_once(run_id, caller, answer).await;
        self.answering
            .lock()
            .expect("answering lock")
            .remove(run_id);
        result
    }

    async fn respond_once(
        &self,
        run_id: &str,
        caller: &Caller,
        answer: protocol::RespondRequest,
    ) -> Result<u64, ApiError> {
        let run = self.open_run(run_id).await?;
        if run.summary.status != AgentStatus::Awaiting {
            return Err(ApiError::NotAwaiting(run_id.to_owned()));
        }
        let question = self
            .store
            .last_of_run(run_id, EventKind::Awaiting)
            .await?
            .ok_or_else(|| ApiError::NotAwaiting(run_id.to_owned()))?;
        let question: protocol::EventEnvelope = serde_json::from_str(&question.json)
            .map_err(|e| ApiError::Store(crate::store::StoreError::Corrupt(e.to_string())))?;
        let options: Vec<String> = question
            .field("options")
            .and_then(Value::as_array)
            .map(|o| {
                o.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if !options.is_empty() && !options.contains(&answer.decision) {
            return Err(ApiError::InvalidRequest(format!(
                "`{}` is not an option; choose one of: {}",
                answer.decision,
                options.join(", ")
            )));
        }
        if answer.decision.trim().is_empty() {
            return Err(ApiError::InvalidRequest(
                "`decision` must not be empty".into(),
            ));
        }
        let by = caller.label();
        let mut fields = Map::new();
        fields.insert("decision".into(), json!(answer.decision));
        if let Some(comment) = &answer.comment {
            fields.insert("comment".into(), json!(comment));
        }
        fields.insert("by".into(), json!(by));
        fields.insert(
            "message".into(),
            json!(format!("{by} chose {}", answer.decision)),
        );
        let event = self
            .record(EventKind::Response, &run.summary.npc, Some(run_id), fields)
            .await?;

        if let Some(resume_url) = question.field("resume_url").and_then(Value::as_str) {
            let url = url::Url::parse(resume_url).map_err(|e| {
                ApiError::Upstream(format!("the question's resume_url is not a URL: {e}"))
            })?;
            let agent = self.registry().by_npc(&run.summary.npc).cloned();
            let body = json!({ "run_id": run_id, "decision": answer.decision, "comment": answer.comment, "by": by });
            let delivery = Delivery {
                url,
                body: serde_json::to_vec(&body)
                    .expect("JSON values serialize")
                    .into(),
                bearer: agent.as_ref().and_then(|a| a.webhook_token.clone()),
                secret: agent.as_ref().and_then(|a| a.secret.clone()),
                message_id: format!("msg_{run_id}_answer_{}", event.id),
                extra_headers: Default::default(),
            };
            if let Err(failed) = self.webhooks.deliver(&delivery).await {
                let reason = format!("could not deliver the answer: {failed}");
                self.fail_run(&run.summary.npc, run_id, reason.clone())
                    .await;
                return Err(ApiError::Upstream(reason));
            }
        }
        Ok(event.id)
    }

    /// Swaps in a new registry and tells every office.
    pub async fn replace_registry(&self, registry: Registry) {
        let count = registry.agents().len();
        let changed = {
            let mut current = self.registry.write().expect("registry lock");
            let changed = **current != registry;
            *current = Arc::new(registry);
            changed
        };
        if changed {
            tracing::info!(agents = count, "agent registry reloaded");
            let fields = Map::from_iter([("agents".to_owned(), json!(count))]);
            if let Err(e) = self
                .record(EventKind::Roster, BROADCAST_NPC, None, fields)
                .await
            {
                tracing::error!(error = %e, "cannot announce the roster change");
            }
        }
    }
}

fn new_run_id() -> String {
    let bytes: [u8; 8] = rand::random();
    format!("run_{}", hex::encode(bytes))
}

/// The body a run sends: our control fields, the payload under `payload`, and
/// the payload's own fields at the top level too, because a Sim webhook
/// trigger turns top-level body fields into workflow inputs. Control fields
/// win a name clash so callbacks always work.
fn webhook_body(control: Value, payload: Value) -> Value {
    let mut body = control;
    if let (Some(body), Some(fields)) = (body.as_object_mut(), payload.as_object()) {
        for (key, value) in fields {
            if !body.contains_key(key) && key != "payload" {
                body.insert(key.clone(), value.clone());
            }
        }
    }
    body["payload"] = payload;
    body
}

#[cfg(test)]
mod tests {
    #[test]
    fn webhook_bodies_carry_payload_fields_flat_and_nested() {
        let body = super::webhook_body(
            serde_json::json!({"run_id": "r1", "npc": "a"}),
            serde_json::json!({"title": "standup", "npc": "spoof"}),
        );
        assert_eq!(body["title"], "standup");
        assert_eq!(body["npc"], "a", "control fields win");
        assert_eq!(body["payload"]["npc"], "spoof");
    }
}
