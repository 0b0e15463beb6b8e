//! The office: `office.ron` laid out for the current roster, painted as one
//! pixel-perfect floor texture, with each NPC moved to its seat.

pub mod layout;

use crate::art::{TILE, paint_office};
use crate::npc::status::Npc;
use crate::npc::{NpcIndex, RosterChanged, RosterOrder};
use bevy::prelude::*;
use layout::{OfficeLayout, OfficePlan, plan};

/// The layout in use (embedded unless a file was given).
#[derive(Resource, Clone, Debug)]
pub struct Office(pub OfficeLayout);

/// The plan for the current roster.
#[derive(Resource, Clone, Debug)]
pub struct CurrentPlan(pub OfficePlan);

#[derive(Component)]
struct OfficeFloor;

pub(super) fn plugin(app: &mut App) {
    if !app.world().contains_resource::<Office>() {
        app.insert_resource(Office(OfficeLayout::embedded()));
    }
    app.add_systems(Startup, |mut commands: Commands, office: Res<Office>| {
        commands.insert_resource(CurrentPlan(plan(&office.0, &[])));
    });
    app.add_systems(Update, relayout.after(crate::npc::RosterSystems));
}

/// World position of a seat tile's centre (y up in the world, down in tiles).
pub fn seat_position(x: i32, y: i32) -> Vec2 {
    Vec2::new((x * TILE + TILE / 2) as f32, -(y * TILE) as f32 + 2.0)
}

fn relayout(
    mut commands: Commands,
    mut changed: MessageReader<RosterChanged>,
    office: Res<Office>,
    order: Res<RosterOrder>,
    index: Res<NpcIndex>,
    npcs: Query<&Npc>,
    mut transforms: Query<&mut Transform, With<Npc>>,
    images: Option<ResMut<Assets<Image>>>,
    floors: Query<Entity, With<OfficeFloor>>,
) {
    if changed.read().count() == 0 {
        return;
    }
    let roster: Vec<(String, Option<String>)> = order
        .0
        .iter()
        .map(|npc| {
            let desk = index
                .0
                .get(npc)
                .and_then(|e| npcs.get(*e).ok())
                .and_then(|n| n.desk.clone());
            (npc.clone(), desk)
        })
        .collect();
    let plan = plan(&office.0, &roster);
    for seat in &plan.seats {
        let Some(entity) = index.0.get(&seat.npc) else {
            continue;
        };
        if let Ok(mut transform) = transforms.get_mut(*entity) {
            // Lower rows draw in front of higher ones.
            let at = seat_position(seat.x, seat.y);
            transform.translation = at.extend(10.0 + seat.y as f32 * 0.01);
        } else {
            let at = seat_position(seat.x, seat.y);
            commands.entity(*entity).insert(Transform::from_translation(
                at.extend(10.0 + seat.y as f32 * 0.01),
            ));
        }
    }
    if let Some(mut images) = images {
        for floor in &floors {
            commands.entity(floor).despawn();
        }
        let (w, h) = ((plan.width * TILE) as f32, (plan.height * TILE) as f32);
        let image = images.add(paint_office(&plan).into_image());
        commands.spawn((
            Name::new("Office floor"),
            OfficeFloor,
            Sprite::from_image(image),
            Transform::from_xyz(w / 2.0, -h / 2.0, 0.0),
            Pickable::IGNORE,
        ));
    }
    commands.insert_resource(CurrentPlan(plan));
}
