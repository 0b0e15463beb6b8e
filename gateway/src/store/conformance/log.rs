//! The event log's contract.

use super::*;

pub(super) async fn concurrent_appends_get_dense_ordered_ids(stores: &Stores, recorder: &Recorder) {
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let log = stores.log.clone();
            tokio::spawn(async move {
                log.append(vec![event(&format!("npc{}", i % 3), EventKind::Step, None)])
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
    assert_eq!(stores.log.last_id().await.unwrap(), 20);
}

pub(super) async fn a_broken_batch_stores_nothing(stores: &Stores) {
    let before = stores.log.last_id().await.unwrap();
    let result = stores
        .log
        .append(vec![
            event("e", EventKind::Step, None),
            event("e", EventKind::Step, Some("missing")),
        ])
        .await;
    assert_eq!(rule(result), RunRuleError::UnknownRun("missing".into()));
    assert_eq!(stores.log.last_id().await.unwrap(), before);
    let next = stores
        .log
        .append(vec![event("e", EventKind::Step, None)])
        .await
        .unwrap();
    assert_eq!(next[0].id, before + 1, "no id is skipped");
}

pub(super) async fn reads_filter_and_page(stores: &Stores) {
    let start = stores.log.last_id().await.unwrap();
    for npc in ["f", "g", BROADCAST_NPC, "f"] {
        let kind = if npc == BROADCAST_NPC {
            EventKind::Roster
        } else {
            EventKind::Step
        };
        stores
            .log
            .append(vec![event(npc, kind, None)])
            .await
            .unwrap();
    }
    let only_f = NpcFilter::Only(["f".to_owned()].into());
    let seen: Vec<_> = stores
        .log
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
    let all = stores
        .log
        .read_since(&NpcFilter::All, start, 2, usize::MAX)
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|e| e.id).collect::<Vec<_>>(),
        [start + 1, start + 2]
    );
    let one = stores
        .log
        .read_since(&NpcFilter::All, start, 100, 1)
        .await
        .unwrap();
    assert_eq!(one.len(), 1, "a byte budget still reads one event");
    let page = stores
        .log
        .history(Some("f"), None, 1, usize::MAX)
        .await
        .unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].id, start + 4);
    let older = stores
        .log
        .history(Some("f"), Some(page[0].id), 10, usize::MAX)
        .await
        .unwrap();
    assert_eq!(older.last().map(|e| e.id), Some(start + 1));
    let newest = stores.log.history(None, None, 2, usize::MAX).await.unwrap();
    assert_eq!(
        newest.iter().map(|e| e.id).collect::<Vec<_>>(),
        [start + 3, start + 4],
        "oldest first"
    );
    let one = stores.log.history(None, None, 100, 1).await.unwrap();
    assert_eq!(
        one.iter().map(|e| e.id).collect::<Vec<_>>(),
        [start + 4],
        "a byte budget reads the newest event, and only it"
    );
    let two = stores
        .log
        .history(None, None, 100, newest[1].json.len() + 1)
        .await
        .unwrap();
    assert_eq!(two.len(), 2, "the budget is spent by the bytes read");
    let latest = stores.log.latest_per_npc().await.unwrap();
    assert_eq!(
        latest.iter().find(|e| e.npc == "f").map(|e| e.id),
        Some(start + 4)
    );
}

pub(super) async fn retention_keeps_the_newest(stores: &Stores) {
    for _ in 0..10 {
        stores
            .log
            .append(vec![event("h", EventKind::Step, None)])
            .await
            .unwrap();
    }
    let last = stores.log.last_id().await.unwrap();
    stores
        .log
        .prune(RetentionPolicy {
            events_per_npc: 4,
            max_age_secs: 3600,
        })
        .await
        .unwrap();
    let left = stores
        .log
        .history(Some("h"), None, 100, usize::MAX)
        .await
        .unwrap();
    assert_eq!(
        left.iter().map(|e| e.id).collect::<Vec<_>>(),
        (last - 3..=last).collect::<Vec<_>>()
    );
    stores.log.check_writable().await.unwrap();
}

pub(super) async fn facts_reach_the_listener(stores: &Stores, recorder: &Recorder) {
    stores.log.append(vec![started("q", "rq")]).await.unwrap();
    let asked = stores
        .log
        .append(vec![asked("q", "Deploy?")])
        .await
        .unwrap();
    assert_eq!(
        asked[0]
            .facts
            .question
            .as_ref()
            .map(|q| q.question.as_str()),
        Some("Deploy?")
    );
    let told = recorder.facts_of(asked[0].id).await;
    assert_eq!(told.question.unwrap().options, ["yes", "no"]);
    let mut answered = event("q", EventKind::Response, Some("rq"));
    answered.facts.answer = Some(Arc::new(protocol::RunAnswered {
        decision: "yes".into(),
        by: "alice".into(),
        message: "alice chose yes".into(),
        comment: None,
        input: None,
    }));
    let answer = stores.log.append(vec![answered]).await.unwrap();
    let told = recorder.facts_of(answer[0].id).await;
    assert_eq!(told.answer.unwrap().decision, "yes");
    let mut cancel = event("q", EventKind::Error, Some("rq"));
    cancel.facts.cancelled = true;
    let cancelled = stores.log.append(vec![cancel]).await.unwrap();
    assert!(recorder.facts_of(cancelled[0].id).await.cancelled);
    let first = stores
        .log
        .read_since(&NpcFilter::All, 0, 1, usize::MAX)
        .await
        .unwrap();
    assert_eq!(
        recorder.facts_of(first[0].id).await,
        EventFacts::default(),
        "a plain step has no facts"
    );
}

/// An event appended again under the same key (a retried POST, an
/// exporter's second try) answers with its first id and is stored, told
/// and counted once; the same key for another npc is another event.
pub(super) async fn a_replayed_key_is_stored_once(stores: &Stores, recorder: &Recorder) {
    let keyed = |npc: &str, key: &str| {
        let mut event = event(npc, EventKind::Step, None);
        event.ts = "2031-01-01T00:00:30Z".into();
        event.key = Some(key.into());
        event.facts.usage = Some(Arc::new(protocol::Usage {
            input_tokens: 5,
            output_tokens: 5,
            cost_usd: 1.0,
            model: None,
        }));
        event
    };
    let first = stores
        .log
        .append(vec![keyed("k1", "span-1")])
        .await
        .unwrap()[0]
        .id;
    let last = stores.log.last_id().await.unwrap();
    let again = stores
        .log
        .append(vec![keyed("k1", "span-1"), keyed("k1", "span-2")])
        .await
        .unwrap();
    assert_eq!(again[0].id, first, "the replay answers with the stored id");
    assert!(again[1].id > last, "a new key is a new event");
    assert_eq!(stores.log.last_id().await.unwrap(), again[1].id);
    let other = stores
        .log
        .append(vec![keyed("k2", "span-1")])
        .await
        .unwrap();
    assert_ne!(other[0].id, first);
    recorder.facts_of(other[0].id).await;
    let told = recorder
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|id| **id == first)
        .count();
    assert_eq!(told, 1, "told once");
    let day = stores
        .runs
        .usage(
            ts_ms("2031-01-01T00:00:00Z").unwrap(),
            ts_ms("2031-01-02T00:00:00Z").unwrap(),
        )
        .await
        .unwrap();
    let cost: f64 = day
        .iter()
        .filter(|r| r.npc.starts_with('k'))
        .map(|r| r.cost_usd)
        .sum();
    assert_eq!(
        cost, 3.0,
        "counted once each: span-1 on k1, span-2 on k1, span-1 on k2"
    );
}

/// A moment is found by id: the first event at or after an id, with when it
/// was stored; a read event keeps the question it asked (the fold needs it).
pub(super) async fn moments_and_questions_read_back(stores: &Stores) {
    let before = crate::store::now_ms();
    let start = stores.log.last_id().await.unwrap();
    let mut asked = event("m", EventKind::Started, Some("m1"));
    asked.run = Some(crate::store::RunMeta::default());
    stores.log.append(vec![asked]).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let mut question = event("m", EventKind::Awaiting, Some("m1"));
    question.facts.question = Some(Arc::new(protocol::Question {
        question: "Ship?".into(),
        options: vec!["yes".into()],
        ..protocol::Question::default()
    }));
    let stored = stores.log.append(vec![question]).await.unwrap();
    let (id, stored_ms) = stores.log.first_from(start + 1).await.unwrap().unwrap();
    assert_eq!(id, start + 1);
    assert!(stored_ms >= before && stored_ms <= crate::store::now_ms());
    let (second, second_ms) = stores.log.first_from(stored[0].id).await.unwrap().unwrap();
    assert_eq!(second, stored[0].id);
    assert!(second_ms >= stored_ms, "later ids are stored later");
    assert_eq!(stores.log.first_from(stored[0].id + 1).await.unwrap(), None);
    let read = stores
        .log
        .read_since(&NpcFilter::All, stored[0].id - 1, 10, usize::MAX)
        .await
        .unwrap();
    let asked = read[0]
        .facts
        .question
        .as_ref()
        .expect("the question read back");
    assert_eq!(asked.options, ["yes"]);
}
