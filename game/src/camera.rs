//! The camera: WASD/arrows or drag to pan, wheel to zoom in pixel-perfect
//! steps, Home to fit the office, and it follows the selected NPC.

use crate::art::TILE;
use crate::npc::visuals_api::Selected;
use crate::office::CurrentPlan;
use bevy::input::mouse::{AccumulatedMouseMotion, AccumulatedMouseScroll};
use bevy::prelude::*;
use bevy_egui::input::egui_wants_any_pointer_input;

/// Zoom levels: whole multiples keep pixels square; the fractions are for overviews.
pub const ZOOM_STEPS: [f32; 8] = [0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0];

#[derive(Component)]
pub struct OfficeCamera {
    pub zoom_step: usize,
    pub follow: bool,
}

/// Centre the camera on this NPC next frame (roster clicks).
#[derive(Resource, Default)]
pub struct FocusRequest(pub Option<Entity>);

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<FocusRequest>()
        .add_systems(Startup, spawn_camera)
        .add_systems(
            Update,
            (
                (pan_with_keys, fit_on_home),
                (drag_and_zoom, select_follows).run_if(not(egui_wants_any_pointer_input)),
                follow_selected,
            )
                .chain(),
        );
}

fn spawn_camera(mut commands: Commands) {
    commands.spawn((
        Name::new("Office camera"),
        Camera2d,
        // Pixel art is flat colours on axis-aligned quads sampled nearest:
        // multisampling and deband dithering add nothing to it but fill work
        // (four samples per pixel, and a full-screen pass) on every frame.
        Msaa::Off,
        bevy::core_pipeline::tonemapping::DebandDither::Disabled,
        OfficeCamera {
            zoom_step: 3,
            follow: false,
        },
        Projection::Orthographic(OrthographicProjection {
            scale: 1.0 / ZOOM_STEPS[3],
            ..OrthographicProjection::default_2d()
        }),
        Transform::from_xyz(15.0 * TILE as f32, -6.5 * TILE as f32, 100.0),
    ));
}

/// The zoom step that fits `size` (world px) into `view` (screen px).
pub fn fit_step(size: Vec2, view: Vec2) -> usize {
    let fits = |zoom: f32| size.x * zoom <= view.x && size.y * zoom <= view.y;
    (0..ZOOM_STEPS.len())
        .rev()
        .find(|&i| fits(ZOOM_STEPS[i]))
        .unwrap_or(0)
}

fn pan_with_keys(
    keys: Res<ButtonInput<KeyCode>>,
    time: Res<Time>,
    mut camera: Single<(&mut Transform, &mut OfficeCamera)>,
    egui: Option<Res<bevy_egui::input::EguiWantsInput>>,
) {
    if egui.is_some_and(|e| e.wants_any_keyboard_input()) {
        return;
    }
    let mut direction = Vec2::ZERO;
    for (key, dir) in [
        (KeyCode::KeyW, Vec2::Y),
        (KeyCode::ArrowUp, Vec2::Y),
        (KeyCode::KeyS, Vec2::NEG_Y),
        (KeyCode::ArrowDown, Vec2::NEG_Y),
        (KeyCode::KeyA, Vec2::NEG_X),
        (KeyCode::ArrowLeft, Vec2::NEG_X),
        (KeyCode::KeyD, Vec2::X),
        (KeyCode::ArrowRight, Vec2::X),
    ] {
        if keys.pressed(key) {
            direction += dir;
        }
    }
    if direction != Vec2::ZERO {
        let (transform, office) = &mut *camera;
        let speed = 400.0 / ZOOM_STEPS[office.zoom_step];
        transform.translation += (direction.normalize() * speed * time.delta_secs()).extend(0.0);
        office.follow = false;
    }
}

fn fit_on_home(
    keys: Res<ButtonInput<KeyCode>>,
    plan: Option<Res<CurrentPlan>>,
    window: Single<&Window>,
    mut camera: Single<(&mut Transform, &mut Projection, &mut OfficeCamera)>,
) {
    let Some(plan) = plan else { return };
    if !keys.just_pressed(KeyCode::Home) && !plan.is_changed() {
        return;
    }
    let size = Vec2::new((plan.0.width * TILE) as f32, (plan.0.height * TILE) as f32);
    let (transform, projection, office) = &mut *camera;
    // Leave room for the roster on the left and the HUD on top.
    office.zoom_step = fit_step(size, window.size() - Vec2::new(200.0, 60.0));
    office.follow = false;
    // Shift right by half the roster's width so the office centres in the free space.
    let shift = 100.0 / ZOOM_STEPS[office.zoom_step];
    transform.translation = Vec3::new(size.x / 2.0 - shift, -size.y / 2.0, transform.translation.z);
    if let Projection::Orthographic(ortho) = &mut **projection {
        ortho.scale = 1.0 / ZOOM_STEPS[office.zoom_step];
    }
}

fn drag_and_zoom(
    buttons: Res<ButtonInput<MouseButton>>,
    motion: Res<AccumulatedMouseMotion>,
    scroll: Res<AccumulatedMouseScroll>,
    mut camera: Single<(&mut Transform, &mut Projection, &mut OfficeCamera)>,
) {
    let (transform, projection, office) = &mut *camera;
    if (buttons.pressed(MouseButton::Right) || buttons.pressed(MouseButton::Middle))
        && motion.delta != Vec2::ZERO
    {
        let zoom = ZOOM_STEPS[office.zoom_step];
        transform.translation += Vec3::new(-motion.delta.x, motion.delta.y, 0.0) / zoom;
        office.follow = false;
    }
    if scroll.delta.y != 0.0 {
        office.zoom_step = if scroll.delta.y > 0.0 {
            (office.zoom_step + 1).min(ZOOM_STEPS.len() - 1)
        } else {
            office.zoom_step.saturating_sub(1)
        };
        if let Projection::Orthographic(ortho) = &mut **projection {
            ortho.scale = 1.0 / ZOOM_STEPS[office.zoom_step];
        }
    }
}

fn select_follows(selected: Res<Selected>, mut camera: Single<&mut OfficeCamera>) {
    if selected.is_changed() && selected.0.is_some() {
        camera.follow = true;
    }
}

fn follow_selected(
    selected: Res<Selected>,
    mut focus: ResMut<FocusRequest>,
    targets: Query<&GlobalTransform>,
    mut camera: Single<(&mut Transform, &mut OfficeCamera)>,
    time: Res<Time>,
) {
    let (transform, office) = &mut *camera;
    if let Some(entity) = focus.0.take() {
        office.follow = true;
        if let Ok(target) = targets.get(entity) {
            transform.translation = target
                .translation()
                .truncate()
                .extend(transform.translation.z);
        }
        return;
    }
    if !office.follow {
        return;
    }
    let Some(Ok(target)) = selected.0.map(|e| targets.get(e)) else {
        return;
    };
    let goal = target.translation().truncate();
    let current = transform.translation.truncate();
    let next = current.lerp(goal, (time.delta_secs() * 6.0).min(1.0));
    transform.translation = next.extend(transform.translation.z);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_picks_the_largest_zoom_that_shows_everything() {
        assert_eq!(
            ZOOM_STEPS[fit_step(Vec2::new(560.0, 208.0), Vec2::new(1280.0, 720.0))],
            2.0
        );
        assert_eq!(
            ZOOM_STEPS[fit_step(Vec2::new(5600.0, 4000.0), Vec2::new(1280.0, 720.0))],
            0.25
        );
    }
}
