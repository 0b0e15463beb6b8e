//! A character whose agent left the roster (a workflow undeployed, an entry
//! removed) walks out through the front door before it goes, instead of
//! vanishing mid-step.

use super::walker::{STROLL, Walker, standing_spot};
use crate::office::CurrentPlan;
use bevy::prelude::*;

/// On its way out: no longer in the roster, still in the room.
#[derive(Component, Clone, Debug, PartialEq)]
pub struct Leaving {
    /// When it was told to go (office clock, seconds).
    pub since: f64,
    heading_out: bool,
}

impl Leaving {
    pub fn since(now: f64) -> Leaving {
        Leaving {
            since: now,
            heading_out: false,
        }
    }
}

/// The longest a leaver takes before it is gone anyway (a door it cannot reach).
const GIVE_UP_SECS: f64 = 30.0;

/// Sends leavers to the door; gone once there.
pub(super) fn walk_out(
    mut commands: Commands,
    plan: Res<CurrentPlan>,
    mut leavers: Query<(Entity, &mut Leaving, Option<&mut Walker>)>,
    time: Res<Time>,
) {
    let now = time.elapsed_secs_f64();
    let map = &plan.0.map;
    for (entity, mut leaving, walker) in &mut leavers {
        let Some(mut walker) = walker else {
            commands.entity(entity).despawn();
            continue;
        };
        if !leaving.heading_out {
            leaving.heading_out = true;
            let start = walker.tile();
            match map.path(start, map.entrance) {
                Some(path) => walker.walk(path.into_iter().map(standing_spot), STROLL),
                None => {
                    commands.entity(entity).despawn();
                }
            }
            continue;
        }
        let out = !walker.is_walking() && walker.tile() == map.entrance;
        if out || now - leaving.since > GIVE_UP_SECS {
            commands.entity(entity).despawn();
        }
    }
}
