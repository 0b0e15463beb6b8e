//! The contract every store keeps, as one test suite each store runs, in
//! three parts like the store: the event log (`log.rs`: dense ordered ids,
//! atomic batches, reads, retention, facts told to the listener), the run
//! book (`runs.rs`: the run rules, questions, the run list), the sessions
//! (`sessions.rs`) and the followers' state (`followers.rs`).

mod followers;
mod log;
mod runs;
mod sessions;

use super::*;
use protocol::{EventKind, Question};
use serde_json::Map;
use std::sync::Mutex;

/// A listener that keeps what it was told: each event's id and facts.
#[derive(Default)]
pub struct Recorder(pub Mutex<Vec<u64>>, Mutex<Vec<(u64, EventFacts)>>);

impl CommitListener for Recorder {
    fn committed(&self, events: &[Arc<StoredEvent>]) {
        self.0.lock().unwrap().extend(events.iter().map(|e| e.id));
        self.1
            .lock()
            .unwrap()
            .extend(events.iter().map(|e| (e.id, e.facts.clone())));
    }
}

impl Recorder {
    /// The facts the listener was told of event `id` (a shared log's reader
    /// tells a moment after the commit: waits up to 5 s).
    pub async fn facts_of(&self, id: u64) -> EventFacts {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            if let Some((_, facts)) = self.1.lock().unwrap().iter().find(|(i, _)| *i == id) {
                return facts.clone();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the listener was not told of event {id}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}

pub fn event(npc: &str, kind: EventKind, run_id: Option<&str>) -> NewEvent {
    let mut fields = Map::new();
    fields.insert("message".into(), format!("{npc} {kind}").into());
    NewEvent {
        kind,
        npc: npc.into(),
        run_id: run_id.map(Into::into),
        ts: "2025-11-07T12:00:00Z".into(),
        fields,
        run: None,
        facts: EventFacts::default(),
        key: None,
    }
}

pub fn started(npc: &str, run_id: &str) -> NewEvent {
    let mut started = event(npc, EventKind::Started, Some(run_id));
    started.run = Some(RunMeta {
        agent: format!("agent-{npc}"),
        by: Some("alice".into()),
        callback_digest: Some([7; 32]),
        owner: None,
        deadline_ms: 60_000,
    });
    started.facts.callback_digest = Some([7; 32]);
    started
}

/// An npc-level `awaiting` that asks `question` (it joins the npc's open run).
pub fn asked(npc: &str, question: &str) -> NewEvent {
    let mut asked = event(npc, EventKind::Awaiting, None);
    let question = Question {
        question: question.into(),
        options: vec!["yes".into(), "no".into()],
        ..Question::default()
    };
    asked.fields = question.fields();
    asked.facts.question = Some(Arc::new(question));
    asked
}

fn rule(result: Result<Vec<Arc<StoredEvent>>, StoreError>) -> RunRuleError {
    match result {
        Err(StoreError::Rule(rule)) => rule,
        other => panic!("expected a run rule error, got {other:?}"),
    }
}

/// Runs every check on a fresh, empty store.
pub async fn run_all(stores: Stores, recorder: Arc<Recorder>) {
    log::concurrent_appends_get_dense_ordered_ids(&stores, &recorder).await;
    runs::run_rules_hold(&stores).await;
    runs::npc_events_join_the_open_run(&stores).await;
    runs::questions_are_kept_until_answered(&stores).await;
    log::facts_reach_the_listener(&stores, &recorder).await;
    log::a_broken_batch_stores_nothing(&stores).await;
    log::reads_filter_and_page(&stores).await;
    log::moments_and_questions_read_back(&stores).await;
    runs::runs_are_listed_newest_first(&stores).await;
    runs::usage_adds_up_and_times_are_the_events_own(&stores).await;
    runs::usage_totals_add_up_over_any_range(&stores).await;
    log::a_replayed_key_is_stored_once(&stores, &recorder).await;
    log::retention_keeps_the_newest(&stores).await;
    sessions::sessions_last_until_they_expire_or_end(&stores).await;
    followers::follower_state_keeps_values_and_one_holder(&stores).await;
}
