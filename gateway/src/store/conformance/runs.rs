//! The run book's contract: the run rules, questions kept until answered,
//! the run list in pages.

use super::*;

fn page<'a>(agent: Option<&'a str>, before: Option<&'a RunCursor>, limit: usize) -> RunQuery<'a> {
    RunQuery {
        agent,
        before,
        limit,
        max_bytes: usize::MAX,
    }
}

pub(super) async fn run_rules_hold(stores: &Stores) {
    let opened = stores.log.append(vec![started("a", "ra")]).await.unwrap();
    assert_eq!(opened[0].facts.callback_digest, Some([7; 32]));
    assert_eq!(
        rule(stores.log.append(vec![started("a", "ra2")]).await),
        RunRuleError::Busy {
            npc: "a".into(),
            run_id: "ra".into()
        }
    );
    assert_eq!(
        rule(stores.log.append(vec![started("b", "ra")]).await),
        RunRuleError::RunExists("ra".into())
    );
    assert_eq!(
        rule(
            stores
                .log
                .append(vec![event("a", EventKind::Step, Some("nope"))])
                .await
        ),
        RunRuleError::UnknownRun("nope".into())
    );
    assert_eq!(
        rule(
            stores
                .log
                .append(vec![event("b", EventKind::Done, Some("ra"))])
                .await
        ),
        RunRuleError::WrongNpc {
            run_id: "ra".into(),
            npc: "b".into(),
            owner: "a".into()
        }
    );
    let open = stores.runs.run("ra").await.unwrap().unwrap();
    assert!(open.is_open());
    assert_eq!(open.meta.by.as_deref(), Some("alice"));
    assert_eq!(open.meta.deadline_ms, 60_000);
    assert_eq!(stores.runs.open_runs().await.unwrap().len(), 1);

    let mut done = event("a", EventKind::Done, Some("ra"));
    done.fields
        .insert("result".into(), serde_json::json!({"ok": true}));
    stores.log.append(vec![done]).await.unwrap();
    let ended = stores.runs.run("ra").await.unwrap().unwrap();
    assert!(!ended.is_open());
    assert_eq!(ended.summary.status, protocol::AgentStatus::Done);
    assert_eq!(ended.summary.result, Some(serde_json::json!({"ok": true})));
    assert_eq!(
        rule(
            stores
                .log
                .append(vec![event("a", EventKind::Error, Some("ra"))])
                .await
        ),
        RunRuleError::RunEnded("ra".into())
    );
    assert!(stores.runs.open_runs().await.unwrap().is_empty());
    // A new run may start once the last one ended.
    stores.log.append(vec![started("a", "ra3")]).await.unwrap();
    stores
        .log
        .append(vec![event("a", EventKind::Error, Some("ra3"))])
        .await
        .unwrap();
}

pub(super) async fn npc_events_join_the_open_run(stores: &Stores) {
    let idle = stores
        .log
        .append(vec![event("c", EventKind::Step, None)])
        .await
        .unwrap();
    assert_eq!(idle[0].run_id, None, "an idle npc's step belongs to no run");
    assert!(stores.runs.open_runs().await.unwrap().is_empty());
    stores.log.append(vec![started("c", "rc")]).await.unwrap();
    let joined = stores
        .log
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
    assert!(!stores.runs.run("rc").await.unwrap().unwrap().is_open());
}

pub(super) async fn questions_are_kept_until_answered(stores: &Stores) {
    stores.log.append(vec![started("d", "rd")]).await.unwrap();
    assert_eq!(
        rule(
            stores
                .log
                .append(vec![event("d", EventKind::Response, Some("rd"))])
                .await
        ),
        RunRuleError::NotAwaiting("rd".into())
    );
    let asked = stores.log.append(vec![asked("d", "Ship?")]).await.unwrap();
    assert_eq!(
        asked[0].run_id.as_deref(),
        Some("rd"),
        "it joins the open run"
    );
    let run = stores.runs.run("rd").await.unwrap().unwrap();
    assert_eq!(run.summary.status, protocol::AgentStatus::Awaiting);
    let question = run.question.expect("the run keeps its question");
    assert_eq!(question.event_id, asked[0].id);
    assert_eq!(question.since, asked[0].ts);
    assert_eq!(question.question.question, "Ship?");
    assert_eq!(
        question.pending("rd").choices(),
        ["yes", "no"],
        "as typed as it was asked"
    );
    stores
        .log
        .append(vec![event("d", EventKind::Response, Some("rd"))])
        .await
        .unwrap();
    assert_eq!(
        rule(
            stores
                .log
                .append(vec![event("d", EventKind::Response, Some("rd"))])
                .await
        ),
        RunRuleError::NotAwaiting("rd".into()),
        "a question is answered once"
    );
    let run = stores.runs.run("rd").await.unwrap().unwrap();
    assert!(run.question.is_none());
    assert_eq!(run.summary.status, protocol::AgentStatus::Running);
    stores
        .log
        .append(vec![event("d", EventKind::Done, Some("rd"))])
        .await
        .unwrap();
}

pub(super) async fn runs_are_listed_newest_first(stores: &Stores) {
    let ids = |runs: &[RunRecord]| {
        runs.iter()
            .map(|r| r.summary.run_id.clone())
            .collect::<Vec<_>>()
    };
    let runs = stores
        .runs
        .runs(page(Some("agent-a"), None, 10))
        .await
        .unwrap();
    assert_eq!(ids(&runs), ["ra3", "ra"]);
    let first = stores
        .runs
        .runs(page(Some("agent-a"), None, 1))
        .await
        .unwrap();
    let rest = stores
        .runs
        .runs(page(Some("agent-a"), Some(&first[0].cursor()), 10))
        .await
        .unwrap();
    assert_eq!(ids(&rest), ["ra"], "a cursor resumes after its run");
    assert_eq!(
        stores.runs.runs(page(None, None, 2)).await.unwrap().len(),
        2
    );
    assert!(
        stores
            .runs
            .runs(page(Some("nobody"), None, 10))
            .await
            .unwrap()
            .is_empty()
    );
    let all = stores.runs.runs(page(None, None, 1000)).await.unwrap();
    assert_eq!(
        stores.runs.runs_started_since(0).await.unwrap(),
        all.len() as u64
    );
    // Paging one at a time walks the same list, whatever ties in time.
    let mut walked = Vec::new();
    let mut cursor = None;
    loop {
        let next = stores
            .runs
            .runs(page(None, cursor.as_ref(), 1))
            .await
            .unwrap();
        let Some(run) = next.first() else { break };
        walked.push(run.summary.run_id.clone());
        cursor = Some(run.cursor());
    }
    assert_eq!(walked, ids(&all));
    let small = stores
        .runs
        .runs(RunQuery {
            max_bytes: 1,
            ..page(None, None, 1000)
        })
        .await
        .unwrap();
    assert_eq!(small.len(), 1, "a byte budget still lists one run");
    assert_eq!(
        stores
            .runs
            .runs_started_since(now_ms() + 60_000)
            .await
            .unwrap(),
        0,
        "none start in the future"
    );
}

/// What a run's events say it used adds up on its record, on every store,
/// and a run whose events say nothing has no usage; its duration is between
/// its events' own times.
pub(super) async fn usage_adds_up_and_times_are_the_events_own(stores: &Stores) {
    let mut opened = started("u", "ru");
    opened.ts = "2026-12-06T10:00:00Z".into();
    let mut step = event("u", EventKind::Step, Some("ru"));
    step.facts.usage = Some(Arc::new(protocol::Usage {
        input_tokens: 100,
        output_tokens: 20,
        cost_usd: 0.25,
        model: Some("m1".into()),
    }));
    let mut done = event("u", EventKind::Done, Some("ru"));
    done.ts = "2026-12-06T10:00:02.500Z".into();
    done.facts.usage = Some(Arc::new(protocol::Usage {
        input_tokens: 1,
        output_tokens: 2,
        cost_usd: 0.5,
        model: None,
    }));
    stores.log.append(vec![opened, step, done]).await.unwrap();
    let run = stores.runs.run("ru").await.unwrap().unwrap();
    assert_eq!(
        run.summary.usage,
        Some(protocol::Usage {
            input_tokens: 101,
            output_tokens: 22,
            cost_usd: 0.75,
            model: Some("m1".into()),
        })
    );
    assert_eq!(run.summary.duration_ms, Some(2500));
    stores.log.append(vec![started("v", "rv")]).await.unwrap();
    assert_eq!(
        stores.runs.run("rv").await.unwrap().unwrap().summary.usage,
        None
    );
}

/// Usage totals by the events' own times: runs started and usage reported,
/// per npc, over any range (whole hours and the minutes at its ends).
pub(super) async fn usage_totals_add_up_over_any_range(stores: &Stores) {
    let at = |ts: &str, mut event: NewEvent| {
        event.ts = ts.into();
        event
    };
    let with_usage = |mut event: NewEvent, cost: f64, tokens: u64| {
        event.facts.usage = Some(Arc::new(protocol::Usage {
            input_tokens: tokens,
            output_tokens: 1,
            cost_usd: cost,
            model: None,
        }));
        event
    };
    // 2030-01-01: far from the other checks' events.
    stores
        .log
        .append(vec![
            at("2030-01-01T09:59:30Z", started("t1", "rt1")),
            at(
                "2030-01-01T10:20:00Z",
                with_usage(event("t1", EventKind::Step, Some("rt1")), 0.5, 100),
            ),
            at(
                "2030-01-01T11:05:00Z",
                with_usage(event("t1", EventKind::Done, Some("rt1")), 0.25, 10),
            ),
            at("2030-01-01T10:30:00Z", started("t2", "rt2")),
            at(
                "2030-01-01T12:59:00Z",
                with_usage(event("t2", EventKind::Step, Some("rt2")), 2.0, 1),
            ),
        ])
        .await
        .unwrap();
    let ms = |ts: &str| ts_ms(ts).unwrap();
    let totals = |rows: Vec<UsageRow>| -> Vec<(String, u64, u64, f64)> {
        rows.into_iter()
            .filter(|r| r.npc.starts_with('t'))
            .map(|r| {
                (
                    r.npc,
                    r.runs,
                    r.input_tokens,
                    (r.cost_usd * 100.0).round() / 100.0,
                )
            })
            .collect()
    };
    let day = stores
        .runs
        .usage(ms("2030-01-01T00:00:00Z"), ms("2030-01-02T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(
        totals(day),
        [("t1".into(), 1, 110, 0.75), ("t2".into(), 1, 1, 2.0)]
    );
    // From the middle of an hour to the middle of another: minutes at both ends.
    let part = stores
        .runs
        .usage(ms("2030-01-01T10:00:00Z"), ms("2030-01-01T12:30:00Z"))
        .await
        .unwrap();
    assert_eq!(
        totals(part),
        [("t1".into(), 0, 110, 0.75), ("t2".into(), 1, 0, 0.0)]
    );
    let minute = stores
        .runs
        .usage(ms("2030-01-01T12:59:00Z"), ms("2030-01-01T13:00:00Z"))
        .await
        .unwrap();
    assert_eq!(totals(minute), [("t2".into(), 0, 1, 2.0)]);
    assert!(
        stores
            .runs
            .usage(ms("2030-01-02T00:00:00Z"), ms("2030-01-01T00:00:00Z"))
            .await
            .unwrap()
            .is_empty()
    );
}
