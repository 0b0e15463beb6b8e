//! Sends the characters where their behaviour says: seats from the plan,
//! orders from [`Behaviour`] turned into paths on the map, [`Walker`]s
//! ticked, and the resulting [`Body`] handed to the animation. Thin adapters
//! between the pure machines (`behaviour.rs`, `occupancy.rs`, `walker.rs`)
//! and the world; no rules here.

use super::animation::{Body, NpcAnimation};
use super::behaviour::{Activity, Behaviour, Goal, Order};
use super::occupancy::{Occupancy, Occupant, beside};
use super::status::NpcStatus;
use super::walker::{HURRY, STROLL, Walker, seated_spot, standing_spot};
use crate::office::map::{Desk, Facing, OfficeMap, Tile};
use crate::office::{CurrentPlan, PlanChanged, depth, world};
use crate::roster::Npc;
use crate::roster::NpcIndex;
use bevy::prelude::*;
use protocol::AgentStatus;
use std::collections::HashMap;

/// The desk an NPC belongs at.
#[derive(Component, Clone, Debug, PartialEq)]
pub struct SeatAt(pub Desk);

/// Where a walk ends and how to stand there.
#[derive(Component, Clone, Debug, PartialEq)]
pub struct Destination {
    pub tile: Tile,
    pub facing: Facing,
    pub lounging: bool,
}

pub(super) fn plugin(app: &mut App) {
    app.add_systems(
        Update,
        (
            seat_npcs,
            behave,
            super::leaving::walk_out,
            walk,
            pose_bodies,
            place_sprites,
        )
            .chain()
            .in_set(crate::roster::SeatSystems),
    );
}

/// Seats everyone after a (re)layout: those of the first roster start at
/// their desks; later arrivals walk in from the entrance (a sub-agent
/// appears beside its parent); a moved desk is walked to.
fn seat_npcs(
    mut commands: Commands,
    mut changed: MessageReader<PlanChanged>,
    plan: Res<CurrentPlan>,
    index: Res<NpcIndex>,
    mut npcs: Query<(
        Entity,
        Option<&SeatAt>,
        Option<&mut Walker>,
        &mut Behaviour,
        Option<&Destination>,
        &Npc,
    )>,
    mut first_seating: Local<bool>,
    time: Res<Time>,
) {
    if changed.read().count() == 0 {
        return;
    }
    let now = time.elapsed_secs_f64();
    let arriving_now = !*first_seating;
    for seat in &plan.0.seats {
        let Some(entity) = index.0.get(&seat.npc).copied() else {
            continue;
        };
        let Ok((entity, current, walker, mut behaviour, destination, npc)) = npcs.get_mut(entity)
        else {
            continue;
        };
        *first_seating = true;
        if current.map(|c| &c.0) == Some(&seat.desk) {
            continue;
        }
        commands.entity(entity).insert(SeatAt(seat.desk.clone()));
        match walker {
            None if arriving_now => {
                commands
                    .entity(entity)
                    .insert(Walker::at(seated_spot(&seat.desk)));
            }
            None => {
                let mut walker = Walker::at(standing_spot(arrival_tile(&plan.0, npc)));
                walker.face(Facing::Up);
                if let Some(Order::Walk { goal, hurry }) = behaviour.desk_moved() {
                    if let Some(d) = route(
                        &plan.0.map,
                        &seat.desk,
                        &mut walker,
                        &goal,
                        hurry,
                        &HashMap::new(),
                    ) {
                        commands.entity(entity).insert(d);
                    }
                }
                commands.entity(entity).insert(walker);
            }
            Some(mut walker) => {
                // The map changed under everyone: step off anything now solid.
                if !plan.0.map.walkable(walker.tile())
                    && !matches!(behaviour.activity(), Activity::AtDesk)
                {
                    walker.place(standing_spot(seat.desk.seat()));
                }
                if let (Activity::AtDesk, None, Some(old)) =
                    (behaviour.activity(), destination, current)
                {
                    // Sitting at a desk that moved: get up from the old one.
                    walker.place(standing_spot(old.0.seat()));
                }
                if let Some(Order::Walk { goal, hurry }) = behaviour.desk_moved() {
                    match route(
                        &plan.0.map,
                        &seat.desk,
                        &mut walker,
                        &goal,
                        hurry,
                        &HashMap::new(),
                    ) {
                        Some(d) => {
                            commands.entity(entity).insert(d);
                        }
                        None => {
                            behaviour.arrived(now);
                            walker.place(seated_spot(&seat.desk));
                        }
                    }
                }
            }
        }
    }
}

/// Where a newcomer appears: beside its parent's desk for a sub-agent, else
/// at the front door.
fn arrival_tile(plan: &crate::office::plan::OfficePlan, npc: &Npc) -> Tile {
    npc.spawned_by()
        .and_then(|parent| plan.seats.iter().find(|s| s.npc == parent))
        .and_then(|seat| beside(&plan.map, &seat.desk))
        .unwrap_or(plan.map.entrance)
}

/// Turns a goal into a walk; returns where it ends, or `None` if there is no way.
fn route(
    map: &OfficeMap,
    desk: &Desk,
    walker: &mut Walker,
    goal: &Goal,
    hurry: bool,
    desks_of: &HashMap<String, Desk>,
) -> Option<Destination> {
    let start = if map.walkable(walker.tile()) {
        walker.tile()
    } else {
        desk.seat()
    };
    let (target, facing, lounging, finish) = match goal {
        Goal::Desk => (desk.seat(), Facing::Down, false, seated_spot(desk)),
        Goal::Bench => {
            let Some(i) = map.bench() else {
                return route(map, desk, walker, &Goal::Desk, hurry, desks_of);
            };
            return route(map, desk, walker, &Goal::Place(i), hurry, desks_of);
        }
        Goal::Place(i) => {
            let place = map.places.get(*i)?;
            let lounging = place.kind.is_seat();
            (place.at, place.facing, lounging, standing_spot(place.at))
        }
        Goal::Colleague(npc) => {
            let host = desks_of.get(npc)?;
            let spot = beside(map, host)?;
            let facing = Facing::towards(spot, host.seat());
            (spot, facing, false, standing_spot(spot))
        }
    };
    let path = map.path(start, target)?;
    let mut waypoints: Vec<Vec2> = Vec::with_capacity(path.len() + 2);
    if start != walker.tile() {
        waypoints.push(standing_spot(start));
    }
    waypoints.extend(path.iter().map(|t| standing_spot(*t)));
    waypoints.push(finish);
    walker.walk(waypoints, if hurry { HURRY } else { STROLL });
    Some(Destination {
        tile: target,
        facing,
        lounging,
    })
}

/// Statuses and the clock become orders; orders become walks (not for
/// those on their way out).
fn behave(
    mut commands: Commands,
    plan: Res<CurrentPlan>,
    mut npcs: Query<
        (
            Entity,
            &Npc,
            &NpcStatus,
            &mut Behaviour,
            Option<&mut Walker>,
            Option<&SeatAt>,
            Option<&Destination>,
        ),
        Without<super::leaving::Leaving>,
    >,
    time: Res<Time>,
) {
    let now = time.elapsed_secs_f64();
    let map = &plan.0.map;
    // Who is where, and who is going where: nobody shares a resting tile.
    let mut occupancy = Occupancy::of(
        map,
        npcs.iter()
            .map(
                |(_, npc, status, behaviour, _, seat, destination)| Occupant {
                    npc: &npc.npc,
                    heading_to: destination.map(|d| d.tile),
                    desk: seat.map(|s| &s.0),
                    idle_at_desk: matches!(status.status, AgentStatus::Idle | AgentStatus::Done)
                        && !status.offline
                        && behaviour.activity() == &Activity::AtDesk,
                    activity: behaviour.activity(),
                },
            )
            .collect::<Vec<_>>(),
    );
    for (entity, npc, status, mut behaviour, walker, seat, _) in &mut npcs {
        let (Some(mut walker), Some(seat)) = (walker, seat) else {
            continue;
        };
        behaviour.report_to(npc.spawned_by());
        let mut orders = Vec::new();
        if let Some(order) = behaviour.on_status(status.shown(), now) {
            orders.push(order);
        }
        if let Some(order) = behaviour.tick(now, || occupancy.options_for(map, &npc.npc)) {
            orders.push(order);
        }
        for order in orders {
            let (goal, hurry) = match order {
                Order::Freeze => {
                    walker.stop();
                    continue;
                }
                Order::Thaw => match behaviour.activity().clone() {
                    Activity::Walking { goal, hurry } if !walker.is_walking() => (goal, hurry),
                    _ => continue,
                },
                Order::Walk { goal, hurry } => {
                    if let Goal::Colleague(host) = &goal {
                        occupancy.visiting(host);
                    }
                    (goal, hurry)
                }
            };
            let ending = walk_or_give_up(WalkRequest {
                map,
                desk: &seat.0,
                walker: &mut walker,
                behaviour: &mut behaviour,
                goal: &goal,
                hurry,
                desks_of: &occupancy.desks_of,
                now,
            });
            match ending {
                Some(destination) => commands.entity(entity).insert(destination),
                None => commands.entity(entity).remove::<Destination>(),
            };
        }
    }
}

/// A walk to start: where, for whom, and what they know of the office.
struct WalkRequest<'a> {
    map: &'a OfficeMap,
    desk: &'a Desk,
    walker: &'a mut Walker,
    behaviour: &'a mut Behaviour,
    goal: &'a Goal,
    hurry: bool,
    desks_of: &'a HashMap<String, Desk>,
    now: f64,
}

/// Starts the walk; where there is no way, heads home, and if even that
/// fails, sits down at once. Returns where the walk ends, if it walks.
fn walk_or_give_up(request: WalkRequest<'_>) -> Option<Destination> {
    let WalkRequest {
        map,
        desk,
        walker,
        behaviour,
        goal,
        hurry,
        desks_of,
        now,
    } = request;
    if let Some(destination) = route(map, desk, walker, goal, hurry, desks_of) {
        return Some(destination);
    }
    if let Some(Order::Walk { goal, hurry }) = behaviour.lost_way(now) {
        if let Some(destination) = route(map, desk, walker, &goal, hurry, desks_of) {
            return Some(destination);
        }
        behaviour.lost_way(now);
    }
    walker.place(seated_spot(desk));
    None
}

fn walk(
    mut commands: Commands,
    mut npcs: Query<(Entity, &mut Walker, &mut Behaviour, Option<&Destination>)>,
    time: Res<Time>,
) {
    let (dt, now) = (time.delta_secs(), time.elapsed_secs_f64());
    for (entity, mut walker, mut behaviour, destination) in &mut npcs {
        if behaviour.is_frozen() {
            continue;
        }
        if walker.tick(dt) {
            behaviour.arrived(now);
            if let Some(destination) = destination {
                walker.face(destination.facing);
            }
            if behaviour.activity() == &Activity::AtDesk {
                commands.entity(entity).remove::<Destination>();
            }
        }
    }
}

/// What each body does, from the activity and the walk; a colleague being
/// visited turns to the visitor.
fn pose_bodies(
    mut npcs: Query<(
        &Npc,
        &Behaviour,
        &Walker,
        Option<&Destination>,
        &mut NpcAnimation,
    )>,
) {
    let mut visited: HashMap<String, Vec2> = HashMap::new();
    for (_, behaviour, walker, _, _) in &npcs {
        if let Activity::Away {
            goal: Goal::Colleague(host),
            ..
        } = behaviour.activity()
        {
            visited.insert(host.clone(), walker.position());
        }
    }
    for (npc, behaviour, walker, destination, mut animation) in &mut npcs {
        let body = if walker.is_walking() {
            Body::Walking {
                facing: walker.facing(),
                distance: walker.distance(),
            }
        } else {
            match behaviour.activity() {
                Activity::AtDesk => match visited.get(&npc.npc) {
                    Some(visitor) if !animation.status().is_busy() && !behaviour.is_frozen() => {
                        let facing = if visitor.x < walker.position().x {
                            Facing::Left
                        } else {
                            Facing::Right
                        };
                        Body::Talking(facing)
                    }
                    _ => Body::Seated,
                },
                Activity::Away {
                    goal: Goal::Colleague(_),
                    ..
                } if !behaviour.is_frozen() => Body::Talking(walker.facing()),
                _ if destination.is_some_and(|d| d.lounging) => Body::Lounging,
                _ => Body::Standing(walker.facing()),
            }
        };
        if animation.body() != body {
            animation.set_body(body);
        }
    }
}

/// Copies positions into transforms: feet on the map, nearer rows in front.
fn place_sprites(mut npcs: Query<(&Walker, &mut Transform), With<Npc>>) {
    for (walker, mut transform) in &mut npcs {
        let feet = walker.position();
        let at = world(feet).extend(depth(feet.y));
        if transform.translation != at {
            transform.translation = at;
        }
    }
}
