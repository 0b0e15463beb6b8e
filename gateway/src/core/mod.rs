//! The gateway's core: publishing (validated once), the run lifecycle, the
//! status board, and reading the log back (roster, history, runs, streams).
//! It knows nothing of HTTP; routes parse and authorise, then call it.

mod board;
mod error;
mod fanout;
mod moments;
mod observed;
mod publish;
mod runs;
mod sessions;
mod synced;
mod telemetry;
mod usage;
mod visitors;

pub use board::StatusBoard;
pub use error::CoreError;
pub use fanout::CommitFanout;
pub use observed::{Observed, ObservedStart};
pub use publish::{EventError, EventProblem, MAX_BATCH, ValidEvent};
pub use runs::{human_duration, new_run_id};
pub use sessions::{Credentials, SignedIn};
pub use telemetry::{Telemetry, Told};
pub use visitors::npc_for;

use crate::auth::{Authenticator, Caller};
use crate::backends::Backends;
use crate::backends::flow::FlowBackend;
use crate::config::SimSettings;
use crate::hub::{EventHub, Followed};
use crate::registry::{Registry, RunTarget};
use crate::store::{NpcFilter, RunCursor, RunQuery, Stores};
use futures_util::Stream;
use protocol::{AgentSummary, GatewayEvent, Roster, RunSummary, RunsPage};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Largest history page and run list, in entries.
const MAX_HISTORY_PAGE: usize = 1000;
const MAX_RUNS_PAGE: usize = 500;
/// Bytes of JSON a list page holds at most (plus one entry, when a single
/// one is larger): a reader that never reads its answer pins no more.
pub const PAGE_BYTES: usize = 128 * 1024;

/// A page of stored events: their JSON goes out as stored, never re-parsed.
pub struct StoredPage {
    pub events: Vec<Arc<crate::store::StoredEvent>>,
    /// Pass as `before=` for the next older page.
    pub next_before: Option<u64>,
    /// In a window of time: pass as `after=` for the next page.
    pub next_after: Option<u64>,
}

impl StoredPage {
    /// `{"events":[…],"next_before":N}`: the stored JSON, spliced.
    pub fn to_json(&self) -> bytes::Bytes {
        let size: usize = self.events.iter().map(|e| e.json.len() + 1).sum();
        let mut out = Vec::with_capacity(size + 48);
        out.extend_from_slice(b"{\"events\":[");
        for (i, event) in self.events.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(event.json.as_bytes());
        }
        out.push(b']');
        if let Some(next) = self.next_before {
            out.extend_from_slice(format!(",\"next_before\":{next}").as_bytes());
        }
        if let Some(next) = self.next_after {
            out.extend_from_slice(format!(",\"next_after\":{next}").as_bytes());
        }
        out.push(b'}');
        out.into()
    }
}

/// What the core needs to know of the deployment.
#[derive(Debug, Clone)]
pub struct CoreSettings {
    /// How workflows reach this gateway (`callback_url`'s base).
    pub public_url: String,
    pub sim: SimSettings,
    /// This process, among the gateways sharing a store.
    pub instance: String,
    /// A run with no event for this long ends, unless its agent says otherwise.
    pub run_deadline: Duration,
    /// How long a browser session lasts.
    pub session_lifetime: Duration,
    /// Visiting agents and the OTLP receiver.
    pub telemetry: crate::config::TelemetrySettings,
}

/// Where a stream resumes: after `Last-Event-ID`, else after `since`, else `now`.
fn resume_point(
    last_event_id: Option<&str>,
    since: Option<u64>,
    now: u64,
) -> Result<u64, CoreError> {
    match last_event_id.map(str::trim).filter(|s| !s.is_empty()) {
        Some(id) => id.parse::<u64>().map_err(|_| {
            let shown: String = id.chars().take(40).collect();
            CoreError::InvalidRequest(format!("Last-Event-ID `{shown}` is not an event id"))
        }),
        None => Ok(since.unwrap_or(now)),
    }
}

/// The parts a [`Service`] is built from (lib.rs wires them).
pub struct ServiceParts {
    pub registry: Registry,
    pub store: Stores,
    pub hub: Arc<EventHub>,
    pub board: Arc<StatusBoard>,
    pub auth: Authenticator,
    pub backends: Arc<Backends>,
    pub settings: CoreSettings,
}

pub struct Service {
    /// What the office shows: `file_registry` merged with `synced`.
    registry: RwLock<Arc<Registry>>,
    file_registry: RwLock<Arc<Registry>>,
    synced: RwLock<std::collections::BTreeMap<String, synced::SyncedWorkspace>>,
    visitors: RwLock<std::collections::BTreeMap<String, visitors::Visitor>>,
    telemetry: Telemetry,
    store: Stores,
    hub: Arc<EventHub>,
    board: Arc<StatusBoard>,
    auth: Authenticator,
    backends: Arc<Backends>,
    settings: CoreSettings,
}

pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .expect("UTC timestamps always format")
}

/// A moment in ms since the epoch, as RFC 3339 in UTC.
pub fn rfc3339_at(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .format(&time::format_description::well_known::Rfc3339)
        .expect("UTC timestamps always format")
}

impl Service {
    pub fn new(parts: ServiceParts) -> Arc<Service> {
        let file = Arc::new(parts.registry);
        Arc::new(Service {
            registry: RwLock::new(file.clone()),
            file_registry: RwLock::new(file),
            synced: RwLock::new(Default::default()),
            visitors: RwLock::new(Default::default()),
            telemetry: Telemetry::new(&parts.settings.telemetry),
            store: parts.store,
            hub: parts.hub,
            board: parts.board,
            auth: parts.auth,
            backends: parts.backends,
            settings: parts.settings,
        })
    }

    pub fn registry(&self) -> Arc<Registry> {
        self.registry.read().expect("registry lock").clone()
    }

    pub fn settings(&self) -> &CoreSettings {
        &self.settings
    }

    pub fn flows(&self) -> &FlowBackend {
        self.backends.flows()
    }

    /// Who presents this token: a configured person, a run's callback, or nobody.
    pub fn caller(&self, token: Option<&str>) -> Caller {
        self.auth.caller(token)
    }

    /// Swaps in a reloaded users file.
    pub fn replace_users(&self, users: Vec<crate::auth::users::User>) {
        let count = users.len();
        self.auth.replace_users(users);
        tracing::info!(users = count, "users file reloaded");
    }

    /// A run's quiet deadline: the agent's own, or the gateway's default.
    fn deadline_of(&self, registry: &Registry, agent: &str) -> Duration {
        registry
            .agent(agent)
            .and_then(|a| a.deadline)
            .unwrap_or(self.settings.run_deadline)
    }

    /// Restores statuses, open runs and run tokens from the store after a
    /// start, then has the store tell of every commit after what it read.
    pub async fn restore(&self) -> Result<(), CoreError> {
        self.reload_synced().await?;
        let last_id = self.store.log.last_id().await?;
        for event in self.store.log.latest_per_npc().await? {
            self.board.apply(&event);
        }
        self.board.note_last_id(last_id);
        for run in self.store.runs.open_runs().await? {
            let run_id = &run.summary.run_id;
            let question = run.question.as_ref().map(|asked| asked.pending(run_id));
            self.board
                .restore_open_run(&run.summary.npc, run_id, question);
            if let Some(digest) = run.meta.callback_digest {
                self.auth.runs.remember(digest, run_id, &run.summary.npc);
            }
        }
        self.store.log.start_feed(last_id);
        Ok(())
    }

    pub fn roster(&self) -> Roster {
        self.roster_of(&self.board)
    }

    /// The roster with each agent's state as `board` folded it.
    fn roster_of(&self, board: &StatusBoard) -> Roster {
        let registry = self.registry();
        let agents = registry
            .agents()
            .iter()
            .map(|agent| {
                let state = board.get(&agent.npc);
                AgentSummary {
                    agent: agent.agent.clone(),
                    npc: agent.npc.clone(),
                    name: agent.name.clone(),
                    role: agent.role.clone(),
                    desk: agent.desk.clone(),
                    studio_url: agent.resolved_studio_url(&self.settings.sim),
                    status: state.status,
                    run_id: state.run_id,
                    last_message: state.last_message,
                    last_event_at: state.last_event_at,
                    last_event_id: (state.last_event_id > 0).then_some(state.last_event_id),
                    question: state.question,
                    offline: self.offline(&agent.source),
                    usage_today: None,
                    budget: None,
                    visitor: self.visit_of(&agent.source),
                    observe_only: agent.target == RunTarget::Observed,
                }
            })
            .collect();
        Roster {
            agents,
            last_event_id: board.last_id(),
        }
    }

    /// Which npcs `list` (`a,b`) names, checked against the registry; none means all.
    pub fn npc_filter(&self, list: Option<&str>) -> Result<NpcFilter, CoreError> {
        let Some(list) = list.map(str::trim).filter(|s| !s.is_empty()) else {
            return Ok(NpcFilter::All);
        };
        let registry = self.registry();
        let mut npcs = std::collections::HashSet::new();
        for npc in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if !registry.has_npc(npc) {
                return Err(CoreError::UnknownNpc(npc.to_owned()));
            }
            npcs.insert(npc.to_owned());
        }
        Ok(NpcFilter::Only(npcs))
    }

    /// A page of history, newest page first, events oldest first within it:
    /// at most `limit` events and [`PAGE_BYTES`] of them.
    pub async fn history(
        &self,
        npc: Option<&str>,
        before: Option<u64>,
        limit: Option<usize>,
    ) -> Result<StoredPage, CoreError> {
        let npc = npc.map(str::trim).filter(|s| !s.is_empty());
        if let Some(npc) = npc
            && !self.registry().has_npc(npc)
        {
            return Err(CoreError::UnknownNpc(npc.to_owned()));
        }
        let limit = limit.unwrap_or(100).clamp(1, MAX_HISTORY_PAGE);
        let events = self
            .store
            .log
            .history(npc, before, limit, PAGE_BYTES)
            .await?;
        let bytes: usize = events.iter().map(|e| e.json.len()).sum();
        let next_before = (events.len() == limit || bytes >= PAGE_BYTES)
            .then(|| events.first().map(|e| e.id))
            .flatten();
        Ok(StoredPage {
            events,
            next_before,
            next_after: None,
        })
    }

    /// Runs newest first: at most `limit` and about [`PAGE_BYTES`] of them,
    /// after `before` (the last page's `next_before`).
    pub async fn runs(
        &self,
        agent: Option<&str>,
        before: Option<&str>,
        limit: Option<usize>,
    ) -> Result<RunsPage, CoreError> {
        if let Some(agent) = agent
            && self.registry().agent(agent).is_none()
        {
            return Err(CoreError::UnknownAgent(agent.to_owned()));
        }
        let before = before
            .map(|b| {
                b.parse::<RunCursor>().map_err(|()| {
                    CoreError::InvalidRequest(format!(
                        "`before` `{}` is not a run list position (pass a page's `next_before`)",
                        b.chars().take(40).collect::<String>()
                    ))
                })
            })
            .transpose()?;
        let limit = limit.unwrap_or(50).clamp(1, MAX_RUNS_PAGE);
        let runs = self
            .store
            .runs
            .runs(RunQuery {
                agent,
                before: before.as_ref(),
                limit,
                max_bytes: PAGE_BYTES,
            })
            .await?;
        let bytes: usize = runs
            .iter()
            .map(|r| crate::store::summary_bytes(&r.summary))
            .sum();
        let next_before = (runs.len() == limit || bytes >= PAGE_BYTES)
            .then(|| runs.last().map(|r| r.cursor().to_string()))
            .flatten();
        Ok(RunsPage {
            runs: runs.into_iter().map(|r| r.summary).collect(),
            next_before,
        })
    }

    /// How many runs started since `since` (RFC 3339, with its offset).
    pub async fn runs_started_since(&self, since: &str) -> Result<protocol::RunCount, CoreError> {
        let moment =
            time::OffsetDateTime::parse(since, &time::format_description::well_known::Rfc3339)
                .map_err(|e| {
                    CoreError::InvalidRequest(format!(
                        "`since` must be an RFC 3339 time such as 2025-11-07T00:00:00+01:00: {e}"
                    ))
                })?;
        let since_ms = (moment.unix_timestamp_nanos() / 1_000_000) as i64;
        Ok(protocol::RunCount {
            since: since.to_owned(),
            started: self.store.runs.runs_started_since(since_ms).await?,
        })
    }

    pub async fn run(&self, run_id: &str) -> Result<RunSummary, CoreError> {
        self.store
            .runs
            .run(run_id)
            .await?
            .map(|r| r.summary)
            .ok_or_else(|| CoreError::UnknownRun(run_id.to_owned()))
    }

    /// Where a stream starts: after `Last-Event-ID` (what a reconnecting
    /// EventSource sends; it wins), else after `since`, else from now.
    pub fn stream_start(
        &self,
        last_event_id: Option<&str>,
        since: Option<u64>,
    ) -> Result<u64, CoreError> {
        resume_point(last_event_id, since, self.board.last_id())
    }

    /// Everything after `after` that matches `filter`: replayed from the store, then live.
    pub fn follow(
        &self,
        filter: NpcFilter,
        after: u64,
    ) -> impl Stream<Item = Followed> + Send + use<> {
        self.hub.follow(self.store.log.clone(), filter, after)
    }

    /// Whether the store takes writes now (for `/readyz`).
    pub async fn ready(&self) -> Result<(), CoreError> {
        Ok(self.store.log.check_writable().await?)
    }

    /// Swaps in a reloaded `agents.json` and tells every office.
    pub async fn replace_registry(&self, registry: Registry) {
        *self.file_registry.write().expect("registry lock") = Arc::new(registry);
        let changed = self.remerge();
        let count = self.registry().agents().len();
        if changed {
            tracing::info!(agents = count, "agent registry reloaded");
            let changed = GatewayEvent::Roster(protocol::RosterChanged { agents: count });
            if let Err(e) = self
                .record(changed, crate::store::BROADCAST_NPC, None)
                .await
            {
                tracing::error!(error = %e, "cannot announce the roster change");
            }
        }
    }

    /// Ends every stream with a retry hint (a graceful shutdown can then finish).
    pub fn stop_streams(&self) {
        self.hub.shut_down();
    }

    /// Finishes pending writes; later appends fail.
    pub async fn close_store(&self) {
        self.store.log.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::{resume_point, rfc3339_at};
    use proptest::prelude::*;

    #[test]
    fn moments_become_rfc3339_in_utc() {
        assert_eq!(rfc3339_at(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }

    #[test]
    fn the_header_wins_then_since_then_now() {
        assert_eq!(resume_point(Some(" 42 "), Some(7), 99).unwrap(), 42);
        assert_eq!(resume_point(Some(""), Some(7), 99).unwrap(), 7);
        assert_eq!(resume_point(None, None, 99).unwrap(), 99);
        assert!(resume_point(Some("-1"), None, 99).is_err());
    }

    proptest! {
        /// Any resume header: accepted exactly when it is an event id.
        #[test]
        fn any_last_event_id_is_an_id_or_refused(header in "\\PC{0,24}", since in any::<Option<u64>>()) {
            let result = resume_point(Some(&header), since, 5);
            match header.trim().parse::<u64>() {
                Ok(id) => prop_assert_eq!(result.unwrap(), id),
                Err(_) if header.trim().is_empty() => prop_assert_eq!(result.unwrap(), since.unwrap_or(5)),
                Err(_) => prop_assert!(result.is_err()),
            }
        }
    }
}
