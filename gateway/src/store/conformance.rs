//! The contract every [`EventStore`] keeps, as one test suite each store runs:
//! dense ordered ids, atomic batches, the run rules, reads and retention.

use super::*;
use std::sync::Mutex;

#[derive(Default)]
pub struct Recorder(pub Mutex<Vec<u64>>);

impl CommitListener for Recorder {
    fn committed(&self, events: &[Arc<StoredEvent>]) {
        self.0.lock().unwrap().extend(events.iter().map(|e| e.id));
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
    started
}

fn rule(result: Result<Vec<Arc<StoredEvent>>, StoreError>) -> RunRuleError {
    match result {
        Err(StoreError::Rule(rule)) => rule,
        other => panic!("expected a run rule error, got {other:?}"),
    }
}

/// Runs every check on a fresh, empty store.
pub async fn run_all(store: Arc<dyn EventStore>, recorder: Arc<Recorder>) {
    concurrent_appends_get_dense_ordered_ids(&store, &recorder).await;
    run_rules_hold(&store).await;
    npc_events_join_the_open_run(&store).await;
    questions_are_kept_until_answered(&store).await;
    a_broken_batch_stores_nothing(&store).await;
    reads_filter_and_page(&store).await;
    runs_are_listed_newest_first(&store).await;
    retention_keeps_the_newest(&store).await;
    sessions_last_until_they_expire_or_end(&store).await;
}

async fn sessions_last_until_they_expire_or_end(store: &Arc<dyn EventStore>) {
    let record = |expires_ms| SessionRecord {
        subject: "alice".into(),
        role: "operator".into(),
        agents: Some(vec!["deploy*".into()]),
        source: [3; 32],
        via_jwt: false,
        expires_ms,
    };
    let later = now_ms() + 60_000;
    store.put_session([1; 32], record(later)).await.unwrap();
    store
        .put_session([2; 32], record(now_ms() - 1))
        .await
        .unwrap();
    assert_eq!(store.session([1; 32]).await.unwrap(), Some(record(later)));
    assert_eq!(store.session([2; 32]).await.unwrap(), None, "expired");
    assert_eq!(store.session([9; 32]).await.unwrap(), None, "unknown");
    store.drop_session([1; 32]).await.unwrap();
    assert_eq!(store.session([1; 32]).await.unwrap(), None, "signed out");
}

async fn concurrent_appends_get_dense_ordered_ids(
    store: &Arc<dyn EventStore>,
    recorder: &Recorder,
) {
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .append(vec![event(&format!("npc{}", i % 3), EventKind::Step, None)])
                    .await
                    .unwrap()
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    // A shared log's reader tells a moment after the commit.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while recorder.0.lock().unwrap().len() < 20 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(
        *recorder.0.lock().unwrap(),
        (1..=20).collect::<Vec<_>>(),
        "the listener sees every id once, in order"
    );
    assert_eq!(store.last_id().await.unwrap(), 20);
}

async fn run_rules_hold(store: &Arc<dyn EventStore>) {
    let opened = store.append(vec![started("a", "ra")]).await.unwrap();
    assert_eq!(opened[0].callback_digest, Some([7; 32]));
    assert_eq!(
        rule(store.append(vec![started("a", "ra2")]).await),
        RunRuleError::Busy {
            npc: "a".into(),
            run_id: "ra".into()
        }
    );
    assert_eq!(
        rule(store.append(vec![started("b", "ra")]).await),
        RunRuleError::RunExists("ra".into())
    );
    assert_eq!(
        rule(
            store
                .append(vec![event("a", EventKind::Step, Some("nope"))])
                .await
        ),
        RunRuleError::UnknownRun("nope".into())
    );
    assert_eq!(
        rule(
            store
                .append(vec![event("b", EventKind::Done, Some("ra"))])
                .await
        ),
        RunRuleError::WrongNpc {
            run_id: "ra".into(),
            npc: "b".into(),
            owner: "a".into()
        }
    );
    let open = store.run("ra").await.unwrap().unwrap();
    assert!(open.is_open());
    assert_eq!(open.meta.by.as_deref(), Some("alice"));
    assert_eq!(open.meta.deadline_ms, 60_000);
    assert_eq!(store.open_runs().await.unwrap().len(), 1);

    let mut done = event("a", EventKind::Done, Some("ra"));
    done.fields
        .insert("result".into(), serde_json::json!({"ok": true}));
    store.append(vec![done]).await.unwrap();
    let ended = store.run("ra").await.unwrap().unwrap();
    assert!(!ended.is_open());
    assert_eq!(ended.summary.status, protocol::AgentStatus::Done);
    assert_eq!(ended.summary.result, Some(serde_json::json!({"ok": true})));
    assert_eq!(
        rule(
            store
                .append(vec![event("a", EventKind::Error, Some("ra"))])
                .await
        ),
        RunRuleError::RunEnded("ra".into())
    );
    assert!(store.open_runs().await.unwrap().is_empty());
    // A new run may start once the last one ended.
    store.append(vec![started("a", "ra3")]).await.unwrap();
    store
        .append(vec![event("a", EventKind::Error, Some("ra3"))])
        .await
        .unwrap();
}

async fn npc_events_join_the_open_run(store: &Arc<dyn EventStore>) {
    let idle = store
        .append(vec![event("c", EventKind::Step, None)])
        .await
        .unwrap();
    assert_eq!(idle[0].run_id, None, "an idle npc's step belongs to no run");
    assert!(store.open_runs().await.unwrap().is_empty());
    store.append(vec![started("c", "rc")]).await.unwrap();
    let joined = store
        .append(vec![
            event("c", EventKind::Step, None),
            event("c", EventKind::Done, None),
        ])
        .await
        .unwrap();
    assert!(joined.iter().all(|e| e.run_id.as_deref() == Some("rc")));
    assert!(
        joined[0].json.contains(r#""run_id":"rc""#),
        "{}",
        joined[0].json
    );
    assert!(!store.run("rc").await.unwrap().unwrap().is_open());
}

async fn questions_are_kept_until_answered(store: &Arc<dyn EventStore>) {
    store.append(vec![started("d", "rd")]).await.unwrap();
    assert_eq!(
        rule(
            store
                .append(vec![event("d", EventKind::Response, Some("rd"))])
                .await
        ),
        RunRuleError::NotAwaiting("rd".into())
    );
    let asked = store
        .append(vec![event("d", EventKind::Awaiting, Some("rd"))])
        .await
        .unwrap();
    let run = store.run("rd").await.unwrap().unwrap();
    assert_eq!(run.summary.status, protocol::AgentStatus::Awaiting);
    assert_eq!(run.question.as_ref().map(|q| q.id), Some(asked[0].id));
    store
        .append(vec![event("d", EventKind::Response, Some("rd"))])
        .await
        .unwrap();
    assert_eq!(
        rule(
            store
                .append(vec![event("d", EventKind::Response, Some("rd"))])
                .await
        ),
        RunRuleError::NotAwaiting("rd".into()),
        "a question is answered once"
    );
    let run = store.run("rd").await.unwrap().unwrap();
    assert!(run.question.is_none());
    assert_eq!(run.summary.status, protocol::AgentStatus::Running);
    store
        .append(vec![event("d", EventKind::Done, Some("rd"))])
        .await
        .unwrap();
}

async fn a_broken_batch_stores_nothing(store: &Arc<dyn EventStore>) {
    let before = store.last_id().await.unwrap();
    let result = store
        .append(vec![
            event("e", EventKind::Step, None),
            event("e", EventKind::Step, Some("missing")),
        ])
        .await;
    assert_eq!(rule(result), RunRuleError::UnknownRun("missing".into()));
    assert_eq!(store.last_id().await.unwrap(), before);
    let next = store
        .append(vec![event("e", EventKind::Step, None)])
        .await
        .unwrap();
    assert_eq!(next[0].id, before + 1, "no id is skipped");
}

async fn reads_filter_and_page(store: &Arc<dyn EventStore>) {
    let start = store.last_id().await.unwrap();
    for npc in ["f", "g", BROADCAST_NPC, "f"] {
        let kind = if npc == BROADCAST_NPC {
            EventKind::Roster
        } else {
            EventKind::Step
        };
        store.append(vec![event(npc, kind, None)]).await.unwrap();
    }
    let only_f = NpcFilter::Only(["f".to_owned()].into());
    let seen: Vec<_> = store
        .read_since(&only_f, start, 100, usize::MAX)
        .await
        .unwrap()
        .iter()
        .map(|e| e.npc.clone())
        .collect();
    assert_eq!(
        seen,
        ["f", BROADCAST_NPC, "f"],
        "broadcasts reach every filter"
    );
    let all = store
        .read_since(&NpcFilter::All, start, 2, usize::MAX)
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|e| e.id).collect::<Vec<_>>(),
        [start + 1, start + 2]
    );
    let one = store
        .read_since(&NpcFilter::All, start, 100, 1)
        .await
        .unwrap();
    assert_eq!(one.len(), 1, "a byte budget still reads one event");
    let page = store.history(Some("f"), None, 1).await.unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].id, start + 4);
    let older = store
        .history(Some("f"), Some(page[0].id), 10)
        .await
        .unwrap();
    assert_eq!(older.last().map(|e| e.id), Some(start + 1));
    let newest = store.history(None, None, 2).await.unwrap();
    assert_eq!(
        newest.iter().map(|e| e.id).collect::<Vec<_>>(),
        [start + 3, start + 4],
        "oldest first"
    );
    let latest = store.latest_per_npc().await.unwrap();
    assert_eq!(
        latest.iter().find(|e| e.npc == "f").map(|e| e.id),
        Some(start + 4)
    );
}

async fn runs_are_listed_newest_first(store: &Arc<dyn EventStore>) {
    let runs = store.runs(Some("agent-a"), 10).await.unwrap();
    assert_eq!(
        runs.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(),
        ["ra3", "ra"]
    );
    assert_eq!(store.runs(None, 2).await.unwrap().len(), 2);
    assert!(store.runs(Some("nobody"), 10).await.unwrap().is_empty());
    let all = store.runs(None, 1000).await.unwrap().len() as u64;
    assert_eq!(store.runs_started_since(0).await.unwrap(), all);
    assert_eq!(
        store.runs_started_since(now_ms() + 60_000).await.unwrap(),
        0,
        "none start in the future"
    );
}

async fn retention_keeps_the_newest(store: &Arc<dyn EventStore>) {
    for _ in 0..10 {
        store
            .append(vec![event("h", EventKind::Step, None)])
            .await
            .unwrap();
    }
    let last = store.last_id().await.unwrap();
    store
        .prune(RetentionPolicy {
            events_per_npc: 4,
            max_age_secs: 3600,
        })
        .await
        .unwrap();
    let left = store.history(Some("h"), None, 100).await.unwrap();
    assert_eq!(
        left.iter().map(|e| e.id).collect::<Vec<_>>(),
        (last - 3..=last).collect::<Vec<_>>()
    );
    store.check_writable().await.unwrap();
}
