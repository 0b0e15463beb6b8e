//! OpenTelemetry into the office: what the assembler made of spans, and the
//! Claude Code sessions made of log events, become visitors and their runs'
//! events, published like any publisher's (validated, stored once by key,
//! counted once, budgets watched).

use super::visitors::Arrival;
use super::{CoreError, Service};
use crate::auth::Caller;
use crate::otel::assemble::{Assembler, Happening, Patience};
use crate::otel::claude::{ClaudeRecord, Sessions};
use crate::otel::spans::SpanFact;
use crate::store::now_ms;
use protocol::PublishEvent;
use serde_json::json;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// A run that could not start yet: its character is in another run.
struct Waiting {
    run: String,
    caller: Caller,
    events: Vec<PublishEvent>,
    since_ms: i64,
}

/// The most runs waiting for their character at once, and the most events
/// one of them keeps while it waits.
const MAX_WAITING: usize = 1_000;
const MAX_WAITING_EVENTS: usize = 10_000;

/// The receiver's state: spans waiting for their agent, open Claude Code
/// prompts, runs waiting for their character.
pub struct Telemetry {
    assembler: Mutex<Assembler<Caller>>,
    sessions: Mutex<Sessions>,
    waiting: Mutex<VecDeque<Waiting>>,
}

impl Telemetry {
    pub fn new(settings: &crate::config::TelemetrySettings) -> Telemetry {
        Telemetry {
            assembler: Mutex::new(Assembler::new(Patience {
                link_ms: settings.link_wait.as_millis() as i64,
                ..Patience::default()
            })),
            sessions: Mutex::new(Sessions::new(settings.claude_quiet.as_millis() as i64)),
            waiting: Mutex::new(VecDeque::new()),
        }
    }

    /// Spans that no agent claimed (and were let go).
    pub fn unattributed(&self) -> u64 {
        self.assembler.lock().expect("assembler lock").unattributed
    }
}

/// What became of an export.
#[derive(Debug, Default, PartialEq)]
pub struct Told {
    pub events: usize,
    /// Spans or records refused (the caller may not publish for their agent).
    pub refused: usize,
    pub why: Option<String>,
}

fn count(item: &str, n: usize) {
    crate::metrics::OTLP
        .with_label_values(&[item])
        .inc_by(n as u64);
}

impl Service {
    pub fn telemetry(&self) -> &Telemetry {
        &self.telemetry
    }

    /// `/v1/traces`: spans a publisher exported.
    pub async fn take_spans(
        &self,
        caller: &Caller,
        spans: Vec<SpanFact>,
    ) -> Result<Told, CoreError> {
        count("spans", spans.len());
        let happenings = self
            .telemetry
            .assembler
            .lock()
            .expect("assembler lock")
            .take(spans, caller.clone(), now_ms());
        let happenings = happenings.into_iter().map(|(h, _)| h).collect();
        self.tell(caller, happenings, "opentelemetry").await
    }

    /// `/v1/logs`: Claude Code's events a publisher exported.
    pub async fn take_claude(
        &self,
        caller: &Caller,
        records: Vec<ClaudeRecord>,
    ) -> Result<Told, CoreError> {
        count("log_records", records.len());
        let happenings = self
            .telemetry
            .sessions
            .lock()
            .expect("sessions lock")
            .take(records, now_ms());
        self.tell(caller, happenings, "claude-code").await
    }

    /// Runs [`Service::telemetry_tick`] every second while the service lives.
    pub fn spawn_telemetry(self: &std::sync::Arc<Self>) {
        let service = std::sync::Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(service) = service.upgrade() else {
                    break;
                };
                service.telemetry_tick().await;
            }
        });
    }

    /// Every second: spans that waited long enough, Claude Code prompts gone
    /// quiet, runs whose character is free now; then visitors who left.
    pub(super) async fn telemetry_tick(&self) {
        let now = now_ms();
        let released = self
            .telemetry
            .assembler
            .lock()
            .expect("assembler lock")
            .tick(now);
        let mut by_caller: Vec<(Caller, Vec<Happening>)> = Vec::new();
        for (happening, caller) in released {
            match by_caller.iter_mut().find(|(c, _)| *c == caller) {
                Some((_, list)) => list.push(happening),
                None => by_caller.push((caller, vec![happening])),
            }
        }
        for (caller, happenings) in by_caller {
            if let Err(e) = self.tell(&caller, happenings, "opentelemetry").await {
                tracing::warn!(error = %e, "spans released after waiting were not stored");
            }
        }
        let quiet = self
            .telemetry
            .sessions
            .lock()
            .expect("sessions lock")
            .tick(now);
        if !quiet.is_empty()
            && let Err(e) = self.tell(&Caller::Local, quiet, "claude-code").await
        {
            tracing::warn!(error = %e, "quiet Claude Code prompts were not ended");
        }
        self.retry_waiting().await;
        if let Err(e) = self.roster_may_have_changed().await {
            tracing::warn!(error = %e, "cannot tell the offices who left");
        }
    }

    /// Seats the agents named, then publishes their events.
    async fn tell(
        &self,
        caller: &Caller,
        happenings: Vec<Happening>,
        source: &'static str,
    ) -> Result<Told, CoreError> {
        let mut told = Told::default();
        let registry = self.registry();
        // Whose agent each key is, looked up once per key, not per event.
        let mut agents: HashMap<String, String> = HashMap::new();
        let allowed: Vec<Happening> = happenings
            .into_iter()
            .filter(|h| {
                let agent = agents
                    .entry(h.agent.key.clone())
                    .or_insert_with(|| {
                        let npc = self.npc_of_key(&h.agent.key);
                        registry.by_npc(&npc).map_or(npc, |a| a.agent.clone())
                    })
                    .clone();
                let may = matches!(caller, Caller::Local | Caller::Person(_))
                    && caller.may_act_on(&agent);
                if !may {
                    // A run's start stands for no span or record of its own.
                    if h.kind != protocol::EventKind::Started {
                        told.refused += 1;
                    }
                    told.why.get_or_insert_with(|| {
                        format!("this token may not publish for agent `{agent}`")
                    });
                }
                may
            })
            .collect();
        if allowed.is_empty() {
            return Ok(told);
        }
        let arrivals: Vec<Arrival> = allowed
            .iter()
            .map(|h| Arrival {
                agent: h.agent.clone(),
                parent: h.parent.clone(),
                source,
            })
            .collect();
        let npcs = self.welcome(&arrivals).await?;
        let mut runs: Vec<(String, Vec<PublishEvent>)> = Vec::new();
        for happening in allowed {
            let event = self.to_event(&npcs, happening.clone());
            match runs.iter_mut().find(|(run, _)| *run == happening.run) {
                Some((_, events)) => events.push(event),
                None => runs.push((happening.run, vec![event])),
            }
        }
        told.events = self.publish_runs(caller, runs).await;
        count("events", told.events);
        Ok(told)
    }

    fn to_event(&self, npcs: &HashMap<String, String>, happening: Happening) -> PublishEvent {
        let npc = npcs
            .get(&happening.agent.key)
            .cloned()
            .unwrap_or_else(|| self.npc_of_key(&happening.agent.key));
        let mut data = happening.data;
        if let Some(parent) = &happening.parent {
            data.insert("spawned_by".into(), json!(self.npc_of_key(&parent.key)));
        }
        PublishEvent {
            npc,
            kind: happening.kind.to_string(),
            run_id: Some(happening.run),
            ts: Some(super::rfc3339_at(happening.ts_ms)),
            data: Some(data.into()),
            key: Some(happening.key),
        }
    }

    /// Publishes runs' events: all at once when every rule holds, else run
    /// by run, and a run whose character is busy waits its turn.
    async fn publish_runs(&self, caller: &Caller, runs: Vec<(String, Vec<PublishEvent>)>) -> usize {
        let runs = self.join_waiting(caller, runs);
        let all: Vec<PublishEvent> = runs.iter().flat_map(|(_, e)| e.iter().cloned()).collect();
        if !all.is_empty() && all.len() <= super::MAX_BATCH {
            if let Ok(ids) = self.publish(caller, all).await {
                return ids.len();
            }
        }
        let mut stored = 0;
        for (run, events) in runs {
            stored += self.publish_run(caller, run, events).await;
        }
        stored
    }

    /// Events for a run that waits join it rather than go out before it.
    fn join_waiting(
        &self,
        caller: &Caller,
        runs: Vec<(String, Vec<PublishEvent>)>,
    ) -> Vec<(String, Vec<PublishEvent>)> {
        let mut waiting = self.telemetry.waiting.lock().expect("waiting lock");
        runs.into_iter()
            .filter_map(|(run, events)| {
                match waiting
                    .iter_mut()
                    .find(|w| w.run == run && w.caller == *caller)
                {
                    Some(queued) => {
                        let room = MAX_WAITING_EVENTS.saturating_sub(queued.events.len());
                        count("dropped", events.len().saturating_sub(room));
                        queued.events.extend(events.into_iter().take(room));
                        None
                    }
                    None => Some((run, events)),
                }
            })
            .collect()
    }

    async fn publish_run(&self, caller: &Caller, run: String, events: Vec<PublishEvent>) -> usize {
        let mut stored = 0;
        for chunk in events.chunks(super::MAX_BATCH) {
            match self.publish(caller, chunk.to_vec()).await {
                Ok(ids) => stored += ids.len(),
                Err(CoreError::AgentBusy { .. }) => {
                    let rest = events[stored..].to_vec();
                    self.wait_for_character(caller, run, rest);
                    return stored;
                }
                Err(e) => {
                    count("dropped", chunk.len());
                    tracing::debug!(run, error = %e, "telemetry events not stored");
                }
            }
        }
        stored
    }

    fn wait_for_character(&self, caller: &Caller, run: String, events: Vec<PublishEvent>) {
        let mut waiting = self.telemetry.waiting.lock().expect("waiting lock");
        if waiting.len() >= MAX_WAITING
            && let Some(oldest) = waiting.pop_front()
        {
            count("dropped", oldest.events.len());
            tracing::warn!(run = %oldest.run, "a run waited too long for its character; dropped");
        }
        waiting.push_back(Waiting {
            run,
            caller: caller.clone(),
            events,
            since_ms: now_ms(),
        });
    }

    /// Runs whose character was busy, oldest first, while characters are free.
    async fn retry_waiting(&self) {
        let queued: Vec<Waiting> = self
            .telemetry
            .waiting
            .lock()
            .expect("waiting lock")
            .drain(..)
            .collect();
        for waiting in queued {
            let age = now_ms() - waiting.since_ms;
            tracing::trace!(run = %waiting.run, age, "retrying a waiting run");
            self.publish_run(&waiting.caller, waiting.run, waiting.events)
                .await;
        }
    }
}
