//! NPCs: one per agent in the roster. Events from the gateway become an
//! [`NpcStatus`] once; the behaviour and animation state machines and every
//! view read it.

pub mod animation;
pub mod behaviour;
pub mod bubble;
pub mod dispatch;
pub mod leaving;
pub mod meter;
pub mod occupancy;
pub mod status;
mod visuals;
pub mod walker;

use crate::gateway_link::{LinkEvent, LinkState};
use crate::roster::{
    Connection, Npc, NpcIndex, RosterChanged, RosterOrder, RosterSystems, SeatSystems,
};
use crate::selection::Selected;
use animation::NpcAnimation;
use behaviour::Behaviour;
use bevy::prelude::*;
use protocol::EventKind;
use status::{NpcLog, NpcRuns, NpcStatus};
use std::collections::HashMap;

pub use visuals::{Bubble, ShownBubble, ShownBubbles, Variant};

/// What the NPC said last, shown in a bubble for a few seconds.
#[derive(Component, Clone, Debug, Default)]
pub struct Speech {
    pub text: String,
    pub until: f64,
}

/// Scales how long characters wait before getting up and stay away (1: the
/// office's pace; `game --restless` sets 0.02 to measure a walking office).
#[derive(Resource, Clone, Copy, Debug)]
pub struct Tempo(pub f64);

impl Default for Tempo {
    fn default() -> Self {
        Tempo(1.0)
    }
}

const SPEECH_SECONDS: f64 = 5.0;
/// A question stays up longer: someone has to read it.
const QUESTION_SECONDS: f64 = 12.0;
/// The longest text a bubble takes (it wraps and cuts it further).
const SPEECH_CHARS: usize = 200;

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<Tempo>()
        .add_systems(
            Update,
            (sync_roster, apply_link_events)
                .chain()
                .in_set(RosterSystems),
        )
        .add_systems(Update, animate.after(SeatSystems))
        .add_systems(Update, meter::show_meters.after(RosterSystems))
        .add_systems(
            Update,
            (request_runs_on_select, refresh_runs_when_a_run_ends),
        );
    dispatch::plugin(app);
    visuals::plugin(app);
}

fn sync_roster(
    mut commands: Commands,
    mut link: MessageReader<LinkEvent>,
    mut index: ResMut<NpcIndex>,
    mut order: ResMut<RosterOrder>,
    mut npcs: Query<(&mut Npc, &mut NpcStatus, &mut NpcLog)>,
    mut changed: MessageWriter<RosterChanged>,
    time: Res<Time>,
    tempo: Res<Tempo>,
) {
    for event in link.read() {
        let roster = match event {
            LinkEvent::Roster(roster) => roster,
            LinkEvent::Moment { roster, .. } => {
                // Another moment: what each shows starts again from its roster.
                for (_, mut status, mut log) in &mut npcs {
                    *status = NpcStatus {
                        offline: status.offline,
                        ..NpcStatus::default()
                    };
                    *log = NpcLog::default();
                }
                roster
            }
            _ => continue,
        };
        let wanted: HashMap<&str, usize> = roster
            .agents
            .iter()
            .enumerate()
            .map(|(i, a)| (a.npc.as_str(), i))
            .collect();
        let before = index.0.len();
        let mut removed = false;
        let now = time.elapsed_secs_f64();
        index.0.retain(|npc, entity| {
            let keep = wanted.contains_key(npc.as_str());
            if !keep {
                // Out of the roster at once; out of the room through the door.
                commands
                    .entity(*entity)
                    .insert(leaving::Leaving::since(now))
                    .remove::<dispatch::SeatAt>();
                removed = true;
            }
            keep
        });
        for (i, summary) in roster.agents.iter().enumerate() {
            let npc = Npc {
                npc: summary.npc.clone(),
                agent: summary.agent.clone(),
                name: summary.name.clone(),
                role: summary.role.clone(),
                desk: summary.desk.clone(),
                studio_url: summary.studio_url.clone(),
                visitor: summary.visitor.clone(),
                observe_only: summary.observe_only,
            };
            // The roster is a snapshot at `last_event_id`; newer events already
            // applied win. Whether its source is in reach is always the roster's word.
            let snapshot = |status: &mut NpcStatus| {
                status.take_snapshot(summary, time.elapsed_secs_f64());
                if status.source != summary.offline {
                    status.source = summary.offline.clone();
                }
                // The bench is the roster's word too (lifted with no event after).
                if status.budget != summary.budget {
                    status.budget = summary.budget.clone();
                }
            };
            match index
                .0
                .get(&summary.npc)
                .and_then(|e| npcs.get_mut(*e).ok())
            {
                Some((mut existing, mut status, _)) => {
                    if *existing != npc {
                        *existing = npc;
                    }
                    snapshot(&mut status);
                }
                None => {
                    let mut status = NpcStatus::default();
                    snapshot(&mut status);
                    let entity = commands
                        .spawn((
                            Name::new(format!("NPC {}", summary.npc)),
                            npc,
                            status,
                            NpcLog::default(),
                            NpcRuns::default(),
                            NpcAnimation::new(stable_hash(&summary.npc)),
                            Behaviour::new(stable_hash(&summary.npc), time.elapsed_secs_f64())
                                .with_tempo(tempo.0, time.elapsed_secs_f64()),
                            Speech::default(),
                            Variant(i),
                            Transform::default(),
                            Visibility::default(),
                        ))
                        .id();
                    index.0.insert(summary.npc.clone(), entity);
                }
            }
        }
        let names: Vec<String> = roster.agents.iter().map(|a| a.npc.clone()).collect();
        if removed || index.0.len() != before || order.0 != names {
            order.0 = names;
            changed.write(RosterChanged);
        }
    }
}

/// FNV-1a: a stable per-npc seed (animation phase), the same on every run.
fn stable_hash(s: &str) -> u32 {
    s.bytes().fold(0x811c9dc5u32, |h, b| {
        (h ^ b as u32).wrapping_mul(0x01000193)
    })
}

fn apply_link_events(
    mut link: MessageReader<LinkEvent>,
    index: Res<NpcIndex>,
    mut connection: ResMut<Connection>,
    mut npcs: Query<(&mut NpcStatus, &mut NpcLog, &mut NpcRuns, &mut Speech, &Npc)>,
    time: Res<Time>,
) {
    let now = time.elapsed_secs_f64();
    for event in link.read() {
        match event {
            LinkEvent::Live(envelope) => {
                let Some(entity) = index.0.get(&envelope.npc) else {
                    continue;
                };
                let Ok((mut status, mut log, _, mut speech, _)) = npcs.get_mut(*entity) else {
                    continue;
                };
                if status.apply(envelope, now) {
                    let seconds = match envelope.kind {
                        EventKind::Step | EventKind::Started => Some(SPEECH_SECONDS),
                        EventKind::Awaiting => Some(QUESTION_SECONDS),
                        _ => None,
                    };
                    if let (Some(seconds), Some(message)) = (seconds, envelope.message()) {
                        speech.text = truncate(message, SPEECH_CHARS);
                        speech.until = now + seconds;
                    } else {
                        // A run that ended says nothing more.
                        speech.until = now;
                    }
                }
                log.insert(envelope.clone());
            }
            LinkEvent::History {
                npc,
                events,
                more_before,
            } => {
                let Some(entity) = index.0.get(npc) else {
                    continue;
                };
                let Ok((mut status, mut log, ..)) = npcs.get_mut(*entity) else {
                    continue;
                };
                log.more_before |= *more_before;
                for envelope in events {
                    status.apply(envelope, now);
                    log.insert(envelope.clone());
                }
            }
            LinkEvent::Runs { agent, runs } => {
                for (_, _, mut npc_runs, _, npc) in &mut npcs {
                    if &npc.agent == agent {
                        npc_runs.0 = runs.clone();
                    }
                }
            }
            LinkEvent::State(state) => {
                let offline = !matches!(state, LinkState::Connected);
                for (mut status, ..) in &mut npcs {
                    if status.offline != offline {
                        status.offline = offline;
                    }
                }
                connection.0 = state.clone();
            }
            LinkEvent::Roster(_)
            | LinkEvent::Refused { .. }
            | LinkEvent::RunAccepted { .. }
            | LinkEvent::Session(_)
            | LinkEvent::SignedOut { .. }
            | LinkEvent::Office { .. }
            | LinkEvent::RunsToday { .. }
            | LinkEvent::Usage { .. }
            | LinkEvent::Moment { .. }
            | LinkEvent::Replay { .. }
            | LinkEvent::Marks { .. }
            | LinkEvent::Away(_) => {}
        }
    }
}

fn animate(mut npcs: Query<(&NpcStatus, &mut NpcAnimation)>, time: Res<Time>) {
    let dt = time.delta_secs();
    for (status, mut animation) in &mut npcs {
        animation.set_status(status.shown());
        animation.tick(dt);
    }
}

/// Selecting an NPC loads its agent's recent runs for the panel.
fn request_runs_on_select(
    selected: Res<Selected>,
    npcs: Query<&Npc>,
    link: Option<Res<crate::gateway_link::GatewayLink>>,
) {
    if !selected.is_changed() {
        return;
    }
    if let (Some(entity), Some(link)) = (selected.0, link)
        && let Ok(npc) = npcs.get(entity)
    {
        link.send(crate::gateway_link::LinkCommand::LoadRuns {
            agent: npc.agent.clone(),
        });
    }
}

/// A run of the selected NPC ended: its recent runs change, so load them again.
fn refresh_runs_when_a_run_ends(
    mut link_events: MessageReader<LinkEvent>,
    selected: Res<Selected>,
    npcs: Query<&Npc>,
    link: Option<Res<crate::gateway_link::GatewayLink>>,
) {
    let Some(npc) = selected.0.and_then(|e| npcs.get(e).ok()) else {
        link_events.clear();
        return;
    };
    let ended = link_events.read().any(|event| {
        matches!(event, LinkEvent::Live(e)
            if e.npc == npc.npc && matches!(e.kind, EventKind::Done | EventKind::Error))
    });
    if let (true, Some(link)) = (ended, link) {
        link.send(crate::gateway_link::LinkCommand::LoadRuns {
            agent: npc.agent.clone(),
        });
    }
}

pub fn truncate(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or("");
    if line.chars().count() <= max {
        line.to_owned()
    } else {
        let cut: String = line.chars().take(max.saturating_sub(1)).collect();
        format!("{}…", cut.trim_end())
    }
}
