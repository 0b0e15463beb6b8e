//! The budget bench: the map's `bench` place gets a bench to sit on, where
//! characters over their daily budget wait until an operator lifts it
//! (their behaviour walks them there; see `npc/behaviour.rs`).

use crate::art::{Art, bench};
use crate::office::{CurrentPlan, PlanChanged, depth, world};
use bevy::prelude::*;

#[derive(Component)]
struct BenchProp;

pub(super) fn plugin(app: &mut App) {
    app.add_systems(Update, place_bench.after(crate::office::LayoutSystems));
}

fn place_bench(
    mut commands: Commands,
    mut changed: MessageReader<PlanChanged>,
    plan: Res<CurrentPlan>,
    art: Option<Res<Art>>,
    mut images: Option<ResMut<Assets<Image>>>,
    old: Query<Entity, With<BenchProp>>,
) {
    if changed.read().count() == 0 {
        return;
    }
    let (Some(_), Some(images)) = (art, images.as_mut()) else {
        return;
    };
    for entity in &old {
        commands.entity(entity).despawn();
    }
    let map = &plan.0.map;
    let Some(place) = map.bench().map(|i| &map.places[i]) else {
        return;
    };
    // Under the sitter: the tile's middle, a little above its feet.
    let at = Vec2::new(
        place.at.x as f32 * 16.0 + 8.0,
        place.at.y as f32 * 16.0 + 10.0,
    );
    commands.spawn((
        Name::new("Budget bench"),
        BenchProp,
        Sprite::from_image(images.add(bench().into_image())),
        Transform::from_translation(world(at).extend(depth(at.y - 1.0))),
    ));
}
