//! The office's rules in a headless app: roster, events, status, selection.

use bevy::prelude::*;
use game::OfficeCorePlugin;
use game::gateway_link::{GatewayLink, LinkCommand, LinkEvent, LinkState};
use game::npc::animation::{NpcAnimation, Pose};
use game::npc::status::{NpcLog, NpcStatus, Shown};
use game::roster::Npc;
use game::roster::NpcIndex;
use game::selection::Selected;
use protocol::{AgentStatus, AgentSummary, EventEnvelope, Roster};
use serde_json::json;

struct Harness {
    app: App,
    link: crossbeam_channel::Sender<LinkEvent>,
    commands: futures_channel::mpsc::UnboundedReceiver<LinkCommand>,
}

impl Harness {
    fn new() -> Harness {
        let mut app = App::new();
        app.add_plugins((MinimalPlugins, OfficeCorePlugin));
        let (link, tx, commands) = GatewayLink::manual();
        app.insert_resource(link);
        Harness {
            app,
            link: tx,
            commands,
        }
    }

    /// The next command the office sent, past the time slider's one ask
    /// for the last days' marks.
    fn next_command(&mut self) -> Option<LinkCommand> {
        std::iter::from_fn(|| self.commands.try_recv().ok())
            .find(|command| !matches!(command, LinkCommand::LoadMarks { .. }))
    }

    fn send(&mut self, event: LinkEvent) {
        self.link.send(event).unwrap();
        self.app.update();
    }

    fn npc(&mut self, id: &str) -> Entity {
        *self
            .app
            .world()
            .resource::<NpcIndex>()
            .0
            .get(id)
            .unwrap_or_else(|| panic!("npc {id}"))
    }

    fn status(&mut self, id: &str) -> NpcStatus {
        let entity = self.npc(id);
        self.app.world().get::<NpcStatus>(entity).unwrap().clone()
    }
}

fn summary(npc: &str, status: AgentStatus, last_event_id: Option<u64>) -> AgentSummary {
    AgentSummary {
        agent: npc.into(),
        npc: npc.into(),
        name: npc.to_uppercase(),
        role: None,
        desk: None,
        studio_url: "/studio/".into(),
        status,
        run_id: None,
        last_message: None,
        last_event_at: None,
        last_event_id,
        question: None,
        offline: None,
        usage_today: None,
        budget: None,
        visitor: None,
        observe_only: false,
    }
}

fn roster(npcs: &[&str]) -> LinkEvent {
    LinkEvent::Roster(Roster {
        agents: npcs
            .iter()
            .map(|n| summary(n, AgentStatus::Idle, None))
            .collect(),
        last_event_id: 0,
    })
}

fn event(id: u64, npc: &str, kind: &str, message: &str) -> EventEnvelope {
    serde_json::from_value(json!({"id": id, "type": kind, "ts": "2025-11-07T12:00:00Z", "npc": npc, "run_id": "r1", "message": message}))
        .unwrap()
}

#[test]
fn the_roster_spawns_npcs_at_distinct_desks_and_removes_them_again() {
    let mut h = Harness::new();
    h.send(roster(&["scheduler", "mailops", "deployer"]));
    h.app.update();
    let mut positions = Vec::new();
    let mut names = Vec::new();
    let world = h.app.world_mut();
    for (npc, transform) in world.query::<(&Npc, &Transform)>().iter(world) {
        names.push(npc.name.clone());
        positions.push(
            transform
                .translation
                .truncate()
                .to_array()
                .map(|v| v as i32),
        );
    }
    names.sort();
    assert_eq!(names, ["DEPLOYER", "MAILOPS", "SCHEDULER"]);
    positions.sort();
    positions.dedup();
    assert_eq!(positions.len(), 3, "every NPC at its own desk");

    // Out of the roster at once, out of the room through the front door.
    h.app
        .insert_resource(bevy::time::TimeUpdateStrategy::ManualDuration(
            std::time::Duration::from_millis(100),
        ));
    let mailops = h.npc("mailops");
    h.send(roster(&["scheduler", "deployer"]));
    assert!(
        !h.app
            .world()
            .resource::<NpcIndex>()
            .0
            .contains_key("mailops")
    );
    h.app.update();
    let walker = h
        .app
        .world()
        .get::<game::npc::walker::Walker>(mailops)
        .expect("still in the room");
    assert!(walker.is_walking(), "walking out");
    assert!(
        h.app
            .world()
            .get::<game::npc::leaving::Leaving>(mailops)
            .is_some()
    );
    let gone = (0..400).find(|_| {
        h.app.update();
        h.app.world().get_entity(mailops).is_err()
    });
    assert!(gone.is_some(), "gone once out of the door");
    let world = h.app.world_mut();
    assert_eq!(world.query::<&Npc>().iter(world).count(), 2);
}

#[test]
fn an_event_changes_the_right_npcs_status_and_animation() {
    let mut h = Harness::new();
    h.send(roster(&["scheduler", "mailops"]));
    h.send(LinkEvent::Live(event(1, "scheduler", "started", "go")));
    h.send(LinkEvent::Live(event(
        2,
        "scheduler",
        "step",
        "Parsing calendar event...",
    )));
    let status = h.status("scheduler");
    assert_eq!(status.shown(), Shown::of(AgentStatus::Running));
    assert_eq!(
        status.last_message.as_deref(),
        Some("Parsing calendar event...")
    );
    assert_eq!(h.status("mailops").shown(), Shown::of(AgentStatus::Idle));
    let entity = h.npc("scheduler");
    let pose = h.app.world().get::<NpcAnimation>(entity).unwrap().pose();
    assert!(
        matches!(pose, Pose::TypeLeft | Pose::TypeRight),
        "typing while running"
    );

    h.send(LinkEvent::Live(event(
        3,
        "scheduler",
        "error",
        "API rate limit exceeded",
    )));
    let entity = h.npc("scheduler");
    assert_eq!(
        h.app.world().get::<NpcAnimation>(entity).unwrap().pose(),
        Pose::Slump
    );
}

#[test]
fn history_and_live_merge_without_duplicates_and_a_snapshot_never_goes_backwards() {
    let mut h = Harness::new();
    h.send(roster(&["a"]));
    h.send(LinkEvent::Live(event(6, "a", "step", "live")));
    h.send(LinkEvent::History {
        npc: "a".into(),
        events: (3..=6).map(|id| event(id, "a", "step", "past")).collect(),
        more_before: true,
    });
    let entity = h.npc("a");
    let log = h.app.world().get::<NpcLog>(entity).unwrap();
    assert_eq!(
        log.entries.keys().copied().collect::<Vec<_>>(),
        [3, 4, 5, 6]
    );
    assert!(log.more_before);
    assert_eq!(h.status("a").last_event_id, 6);
    // An older roster snapshot (taken at event 4) must not undo event 6.
    h.send(LinkEvent::Roster(Roster {
        agents: vec![summary("a", AgentStatus::Done, Some(4))],
        last_event_id: 4,
    }));
    assert_eq!(h.status("a").shown(), Shown::of(AgentStatus::Running));
    h.send(LinkEvent::Roster(Roster {
        agents: vec![summary("a", AgentStatus::Done, Some(9))],
        last_event_id: 9,
    }));
    assert_eq!(h.status("a").shown(), Shown::of(AgentStatus::Done));
}

#[test]
fn losing_the_gateway_shows_everyone_offline_until_it_is_back() {
    let mut h = Harness::new();
    h.send(roster(&["a", "b"]));
    h.send(LinkEvent::State(LinkState::Connected));
    assert_eq!(h.status("a").shown(), Shown::of(AgentStatus::Idle));
    h.send(LinkEvent::State(LinkState::Reconnecting {
        url: "x".into(),
        error: "refused".into(),
        retry_in: 1.0,
        attempt: 1,
    }));
    assert_eq!(h.status("a").shown(), Shown::OFFLINE);
    assert_eq!(h.status("b").shown(), Shown::OFFLINE);
    h.send(LinkEvent::State(LinkState::Connected));
    assert_eq!(h.status("b").shown(), Shown::of(AgentStatus::Idle));
}

#[test]
fn selecting_an_npc_asks_for_its_runs() {
    let mut h = Harness::new();
    h.send(roster(&["scheduler"]));
    let entity = h.npc("scheduler");
    h.app.world_mut().resource_mut::<Selected>().0 = Some(entity);
    h.app.update();
    assert_eq!(
        h.next_command(),
        Some(LinkCommand::LoadRuns {
            agent: "scheduler".into()
        })
    );
}

#[test]
fn the_page_mirror_follows_statuses_and_its_buttons_select_and_run() {
    use game::mirror::{Mirror, MirrorInbox, MirrorRequest};
    let mut h = Harness::new();
    h.send(roster(&["a", "b"]));
    h.send(LinkEvent::State(LinkState::Connected));
    let entries = |h: &Harness| {
        let mirror = h.app.world().resource::<Mirror>();
        mirror
            .entries
            .iter()
            .map(|e| (e.npc.clone(), e.status, e.selected))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        entries(&h),
        [
            ("a".into(), Shown::of(AgentStatus::Idle), false),
            ("b".into(), Shown::of(AgentStatus::Idle), false)
        ]
    );
    h.send(LinkEvent::Live(event(1, "b", "started", "go")));
    assert_eq!(entries(&h)[1].1, Shown::of(AgentStatus::Running));
    assert!(
        h.app
            .world()
            .resource::<Mirror>()
            .announcements
            .contains(&"B: running".to_owned())
    );

    let inbox = h.app.world().resource::<MirrorInbox>().sender.clone();
    inbox.send(MirrorRequest::Select("a".into())).unwrap();
    inbox.send(MirrorRequest::Select("nobody".into())).unwrap();
    h.app.update();
    let a = h.npc("a");
    assert_eq!(h.app.world().resource::<Selected>().0, Some(a));
    assert!(entries(&h)[0].2, "the mirror marks the selection");

    inbox.send(MirrorRequest::Run("b".into())).unwrap();
    h.app.update();
    let sent: Vec<LinkCommand> = std::iter::from_fn(|| h.next_command()).collect();
    assert!(
        sent.contains(&LinkCommand::Run {
            agent: "b".into(),
            payload: json!({})
        }),
        "{sent:?}"
    );
}

#[test]
fn the_selected_npcs_runs_reload_when_its_run_ends() {
    let mut h = Harness::new();
    h.send(roster(&["a", "b"]));
    let a = h.npc("a");
    h.app.world_mut().resource_mut::<Selected>().0 = Some(a);
    h.app.update();
    let drain = |h: &mut Harness| std::iter::from_fn(|| h.next_command()).collect::<Vec<_>>();
    drain(&mut h);
    h.send(LinkEvent::Live(event(1, "b", "done", "other npc")));
    h.send(LinkEvent::Live(event(2, "a", "step", "working")));
    assert!(
        drain(&mut h).is_empty(),
        "only the selected NPC's run end reloads"
    );
    h.send(LinkEvent::Live(event(3, "a", "done", "finished")));
    assert_eq!(drain(&mut h), [LinkCommand::LoadRuns { agent: "a".into() }]);
}

fn activity(h: &Harness, entity: Entity) -> game::npc::behaviour::Activity {
    h.app
        .world()
        .get::<game::npc::behaviour::Behaviour>(entity)
        .expect("a behaviour")
        .activity()
        .clone()
}

#[test]
fn an_idle_character_wanders_off_and_hurries_back_when_work_arrives() {
    use game::npc::animation::Badge;
    use game::npc::behaviour::Activity;
    use game::npc::dispatch::SeatAt;
    use game::npc::walker::{Walker, seated_spot};

    let mut h = Harness::new();
    // A tenth of a second of game time per frame.
    h.app
        .insert_resource(bevy::time::TimeUpdateStrategy::ManualDuration(
            std::time::Duration::from_millis(100),
        ));
    h.send(roster(&["scheduler", "mailops", "deployer"]));
    let entity = h.npc("scheduler");
    let desk = h
        .app
        .world()
        .get::<SeatAt>(entity)
        .expect("seated")
        .0
        .clone();
    let distance_from_desk = |h: &Harness| {
        let walker = h.app.world().get::<Walker>(entity).unwrap();
        walker.position().distance(seated_spot(&desk))
    };

    // Idle for long enough, it gets up (at most ~70 s of patience) and goes
    // somewhere at least three tiles away.
    let frames_to_leave = (0..3000)
        .find(|_| {
            h.app.update();
            activity(&h, entity) != Activity::AtDesk && distance_from_desk(&h) > 48.0
        })
        .expect("an idle character walks away from its desk within 300 s");
    assert!(frames_to_leave > 0);
    // Work arrives: on this very frame the status shows and it hurries back.
    h.send(LinkEvent::Live(event(1, "scheduler", "started", "go")));
    let animation = h.app.world().get::<NpcAnimation>(entity).unwrap();
    assert_eq!(animation.status(), Shown::of(AgentStatus::Running));
    assert!(
        matches!(activity(&h, entity), Activity::Walking { hurry: true, .. }),
        "{:?}",
        activity(&h, entity)
    );
    // A question on the way: the badge is up on the frame it arrives, mid-walk.
    h.send(LinkEvent::Live(event(2, "scheduler", "awaiting", "Ship?")));
    let animation = h.app.world().get::<NpcAnimation>(entity).unwrap();
    assert!(matches!(animation.badge(), Badge::Question { .. }));
    assert_ne!(activity(&h, entity), Activity::AtDesk, "still walking");

    let back = (0..2000).find(|_| {
        h.app.update();
        activity(&h, entity) == Activity::AtDesk
    });
    assert!(back.is_some(), "back at its desk");
    let walker = h.app.world().get::<Walker>(entity).unwrap();
    assert_eq!(walker.position(), seated_spot(&desk), "in its own chair");
}

#[test]
fn a_new_question_asks_for_attention_once_and_a_pending_one_does_not() {
    use game::attention::AttentionWanted;
    let mut h = Harness::new();
    let mut pending = summary("deployer", AgentStatus::Awaiting, Some(5));
    pending.question = Some(protocol::PendingQuestion {
        run_id: "r0".into(),
        event_id: 5,
        question: "Old question?".into(),
        options: vec![],
        since: "2025-11-07T11:00:00Z".into(),
        timeout_secs: None,
        details: vec![],
        form: vec![],
    });
    h.send(LinkEvent::Roster(Roster {
        agents: vec![summary("scheduler", AgentStatus::Idle, None), pending],
        last_event_id: 5,
    }));
    h.app.update();
    let wanted = |h: &mut Harness| -> Vec<AttentionWanted> {
        h.app
            .world_mut()
            .resource_mut::<Messages<AttentionWanted>>()
            .drain()
            .collect()
    };
    assert!(wanted(&mut h).is_empty(), "pending at start-up is not news");

    h.send(LinkEvent::Live(event(6, "scheduler", "started", "go")));
    h.send(LinkEvent::Live(event(
        7,
        "scheduler",
        "awaiting",
        "Book room 4?",
    )));
    h.send(LinkEvent::Live(event(
        8,
        "scheduler",
        "step",
        "still asking",
    )));
    let asked = wanted(&mut h);
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(asked[0].npc, "scheduler");
    assert_eq!(asked[0].question, "Book room 4?");

    // The gateway goes away and comes back: the same questions are no news.
    h.send(LinkEvent::State(LinkState::Reconnecting {
        url: "x".into(),
        error: "gone".into(),
        retry_in: 1.0,
        attempt: 1,
    }));
    assert!(wanted(&mut h).is_empty());
    h.send(LinkEvent::State(LinkState::Connected));
    assert!(wanted(&mut h).is_empty());
    h.app.update();
    assert!(wanted(&mut h).is_empty());
}

#[test]
fn the_desktop_chimes_for_a_new_question_only_when_the_person_asked_for_it() {
    use bevy::audio::{AudioPlayer, AudioSource};
    let mut h = Harness::new();
    h.app
        .add_plugins(AssetPlugin::default())
        .init_asset::<AudioSource>()
        .add_plugins(game::chime::plugin);
    h.send(LinkEvent::Roster(Roster {
        agents: vec![summary("scheduler", AgentStatus::Idle, None)],
        last_event_id: 0,
    }));
    h.app.update();
    let chimes = |h: &mut Harness| {
        h.app
            .world_mut()
            .query::<&AudioPlayer>()
            .iter(h.app.world())
            .count()
    };
    h.send(LinkEvent::Live(event(1, "scheduler", "started", "go")));
    h.send(LinkEvent::Live(event(
        2,
        "scheduler",
        "awaiting",
        "Book room 4?",
    )));
    h.app.update();
    assert_eq!(chimes(&mut h), 0, "off until the person turns it on");

    h.app
        .world_mut()
        .resource_mut::<game::attention::AttentionSettings>()
        .chime = true;
    h.send(LinkEvent::Live(event(
        3,
        "scheduler",
        "awaiting",
        "And room 5?",
    )));
    h.app.update();
    assert_eq!(chimes(&mut h), 1, "one chime for the new question");
    h.send(LinkEvent::Live(event(
        4,
        "scheduler",
        "step",
        "still asking",
    )));
    h.app.update();
    assert_eq!(chimes(&mut h), 1, "the same question does not chime again");
}

#[test]
fn a_character_over_its_budget_sits_on_the_bench_until_it_is_lifted() {
    use game::npc::walker::Walker;
    use game::office::CurrentPlan;
    let mut h = Harness::new();
    h.app
        .insert_resource(bevy::time::TimeUpdateStrategy::ManualDuration(
            std::time::Duration::from_millis(100),
        ));
    let budget = |benched: bool| protocol::BudgetState {
        daily_usd: 5.0,
        spent_today_usd: 5.2,
        benched,
        lifted_by: (!benched).then(|| "alice".to_owned()),
        hard: false,
    };
    let roster_with = |benched: bool| {
        let mut mail = summary("mailops", AgentStatus::Idle, None);
        mail.budget = Some(budget(benched));
        LinkEvent::Roster(Roster {
            agents: vec![summary("scheduler", AgentStatus::Idle, None), mail],
            last_event_id: 0,
        })
    };
    h.send(roster_with(false));
    h.app.update();
    let mailops = h.npc("mailops");
    let bench = {
        let plan = h.app.world().resource::<CurrentPlan>();
        plan.0.map.places[plan.0.map.bench().expect("the map names a bench")].at
    };
    h.send(roster_with(true));
    assert_eq!(h.status("mailops").shown().label(), "benched");
    let on_bench = (0..600).find(|_| {
        h.app.update();
        let walker = h.app.world().get::<Walker>(mailops).unwrap();
        !walker.is_walking() && walker.tile() == bench
    });
    assert!(on_bench.is_some(), "it walks to the bench and sits there");
    for _ in 0..100 {
        h.app.update();
    }
    assert_eq!(
        h.app.world().get::<Walker>(mailops).unwrap().tile(),
        bench,
        "and stays"
    );
    // Lifted: back to its desk.
    h.send(roster_with(false));
    let left = (0..600).find(|_| {
        h.app.update();
        h.app.world().get::<Walker>(mailops).unwrap().tile() != bench
    });
    assert!(left.is_some(), "the bench lifted, it goes back to work");
}

#[test]
fn a_sub_agent_appears_beside_its_parent_and_takes_its_result_back() {
    use game::npc::occupancy::beside;
    use game::npc::walker::Walker;
    use game::office::CurrentPlan;
    let mut h = Harness::new();
    h.app
        .insert_resource(bevy::time::TimeUpdateStrategy::ManualDuration(
            std::time::Duration::from_millis(100),
        ));
    let visit = |spawned_by: Option<&str>| protocol::Visit {
        source: "opentelemetry".into(),
        service: "trips".into(),
        spawned_by: spawned_by.map(Into::into),
        leaves_after_idle_secs: 20,
    };
    let planner = |status| {
        let mut planner = summary("planner", status, None);
        planner.visitor = Some(visit(None));
        planner.observe_only = true;
        planner
    };
    h.send(LinkEvent::Roster(Roster {
        agents: vec![planner(AgentStatus::Running)],
        last_event_id: 0,
    }));
    h.app.update();
    // The researcher walks in: it appears beside the planner's desk.
    let mut researcher = summary("researcher", AgentStatus::Running, None);
    researcher.visitor = Some(visit(Some("planner")));
    researcher.observe_only = true;
    h.send(LinkEvent::Roster(Roster {
        agents: vec![planner(AgentStatus::Running), researcher],
        last_event_id: 0,
    }));
    h.app.update();
    h.app.update();
    let (beside_parent, entrance) = {
        let plan = &h.app.world().resource::<CurrentPlan>().0;
        let desk = &plan.seats.iter().find(|s| s.npc == "planner").unwrap().desk;
        (beside(&plan.map, desk).unwrap(), plan.map.entrance)
    };
    let sub = h.npc("researcher");
    let appeared = h.app.world().get::<Walker>(sub).unwrap().tile();
    assert_ne!(appeared, entrance, "not through the front door");
    assert!(
        (appeared.x - beside_parent.x).abs() <= 1 && (appeared.y - beside_parent.y).abs() <= 1,
        "beside its parent: {appeared:?} vs {beside_parent:?}"
    );
    // It works at its own desk, then takes the result back.
    let at_own_desk = (0..600).find(|_| {
        h.app.update();
        !h.app.world().get::<Walker>(sub).unwrap().is_walking()
    });
    assert!(at_own_desk.is_some());
    let own_desk = h.app.world().get::<Walker>(sub).unwrap().tile();
    h.send(LinkEvent::Live(event(
        1,
        "researcher",
        "done",
        "found 3 flights",
    )));
    let reported = (0..600).find(|_| {
        h.app.update();
        let walker = h.app.world().get::<Walker>(sub).unwrap();
        !walker.is_walking() && walker.tile() == beside_parent
    });
    assert!(
        reported.is_some(),
        "it walks back to its parent (from {own_desk:?})"
    );
}

fn event_at(id: u64, npc: &str, kind: &str, message: &str, at_ms: i64) -> EventEnvelope {
    let ts = chrono::DateTime::from_timestamp_millis(at_ms)
        .unwrap()
        .to_rfc3339();
    serde_json::from_value(
        json!({"id": id, "type": kind, "ts": ts, "npc": npc, "run_id": "r1", "message": message}),
    )
    .unwrap()
}

#[test]
fn the_office_replays_a_past_moment_and_returns_live() {
    use game::timeline::{Timeline, TimelineRequest, now_ms};
    let mut h = Harness::new();
    h.send(roster(&["ana", "bo"]));
    h.send(LinkEvent::Live(event(50, "ana", "error", "live failure")));
    assert_eq!(h.status("ana").shown(), Shown::of(AgentStatus::Error));

    // Drag to an hour ago: the office asks for that moment.
    let then = now_ms() - 3_600_000;
    h.app.world_mut().write_message(TimelineRequest::Seek(then));
    h.app.update();
    assert_eq!(h.next_command(), Some(LinkCommand::ShowMoment { at: then }));
    assert_eq!(h.app.world().resource::<Timeline>().past(), Some(then));

    // The moment's roster replaces what is shown, live events or not.
    let mut ana = summary("ana", AgentStatus::Running, Some(10));
    ana.run_id = Some("r1".into());
    h.send(LinkEvent::Moment {
        at: Some(then),
        roster: Roster {
            agents: vec![ana, summary("bo", AgentStatus::Idle, Some(5))],
            last_event_id: 10,
        },
    });
    assert_eq!(h.status("ana").shown(), Shown::of(AgentStatus::Running));
    let ana_entity = h.npc("ana");
    let log = h.app.world().get::<NpcLog>(ana_entity).unwrap();
    assert!(log.entries.is_empty(), "the log starts again at the moment");

    // Play at 60×, 10 ms a frame: the office loads the window ahead and
    // hands its events out as the playhead passes them.
    h.app
        .insert_resource(bevy::time::TimeUpdateStrategy::ManualDuration(
            std::time::Duration::from_millis(10),
        ));
    h.app
        .world_mut()
        .write_message(TimelineRequest::Speed(60.0));
    h.app.world_mut().write_message(TimelineRequest::Play);
    h.app.update();
    let Some(LinkCommand::LoadReplay { window, after }) = h.next_command() else {
        panic!("the replay loads ahead");
    };
    assert_eq!((window, after), ((then + 1, then + 3_000), None));
    let head = h
        .app
        .world()
        .resource::<Timeline>()
        .playhead
        .clone()
        .unwrap();
    assert!(head.playing && head.speed == 60.0);
    assert_eq!(head.moment(), then, "it waits for what it hands out");
    h.send(LinkEvent::Replay {
        window,
        after,
        events: vec![
            event_at(11, "ana", "awaiting", "Ship it?", then + 1_000),
            event_at(12, "bo", "started", "on it", then + 3_000),
        ],
        next_after: None,
    });
    h.app.update();
    // Two frames of 10 ms at 60× are 1.2 s: the question is out, bo not yet.
    assert_eq!(
        h.app.world().resource::<Timeline>().past(),
        Some(then + 1_200)
    );
    assert_eq!(h.status("ana").shown(), Shown::of(AgentStatus::Awaiting));
    assert_eq!(h.status("bo").shown(), Shown::of(AgentStatus::Idle));
    for _ in 0..3 {
        h.app.update();
    }
    assert_eq!(h.status("bo").shown(), Shown::of(AgentStatus::Running));
    let attention = h
        .app
        .world_mut()
        .resource_mut::<Messages<game::attention::AttentionWanted>>()
        .drain()
        .count();
    assert_eq!(attention, 0, "a question replayed is no news");

    // Live: the office asks for now and shows what the link hands back.
    h.app.world_mut().write_message(TimelineRequest::Live);
    h.app.update();
    let sent: Vec<LinkCommand> = std::iter::from_fn(|| h.next_command()).collect();
    assert!(sent.contains(&LinkCommand::GoLive), "{sent:?}");
    assert_eq!(h.app.world().resource::<Timeline>().past(), None);
    let mut ana = summary("ana", AgentStatus::Error, Some(50));
    ana.last_message = Some("live failure".into());
    h.send(LinkEvent::Moment {
        at: None,
        roster: Roster {
            agents: vec![ana, summary("bo", AgentStatus::Idle, None)],
            last_event_id: 50,
        },
    });
    assert_eq!(h.status("ana").shown(), Shown::of(AgentStatus::Error));
    assert_eq!(
        h.status("ana").last_message.as_deref(),
        Some("live failure")
    );
}
