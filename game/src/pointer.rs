//! The pointer and touch on the office: hover, select with a click or tap,
//! follow with a double-click or double-tap. Hits are tested against the
//! characters' boxes in world space from the press and release themselves,
//! so a quick click selects at any frame rate. A tap on the UI never reaches
//! the office behind it.

use crate::camera::{CameraMode, OfficeCamera, ViewInsets};
use crate::roster::Npc;
use crate::selection::{Hovered, Selected};
use bevy::input::touch::Touches;
use bevy::prelude::*;
use bevy::window::PrimaryWindow;
use bevy_egui::input::egui_wants_any_pointer_input;
use bevy_egui::{EguiContexts, egui};

/// A character's box around its feet (world units): a little wider than its art.
const HIT_HALF_WIDTH: f32 = 10.0;
const HIT_BELOW: f32 = 3.0;
const HIT_ABOVE: f32 = 27.0;
/// Touch targets are at least this big on screen (CSS px), however far out the zoom.
const MIN_TOUCH_TARGET: f32 = 44.0;
/// Movement (screen px) that turns a press into a drag.
const DRAG_SLOP: f32 = 8.0;
const DOUBLE_CLICK_SECS: f64 = 0.45;

/// The character under a world point, nearest the front when several overlap.
pub fn hit<'a>(
    point: Vec2,
    min_half: f32,
    characters: impl Iterator<Item = (Entity, Vec3)> + 'a,
) -> Option<Entity> {
    characters
        .filter(|(_, feet)| {
            let half_w = HIT_HALF_WIDTH.max(min_half);
            let middle = feet.y + (HIT_ABOVE - HIT_BELOW) / 2.0;
            let half_h = ((HIT_ABOVE + HIT_BELOW) / 2.0).max(min_half);
            (point.x - feet.x).abs() <= half_w && (point.y - middle).abs() <= half_h
        })
        .max_by(|a, b| a.1.z.total_cmp(&b.1.z))
        .map(|(entity, _)| entity)
}

/// Where a press started, to tell clicks from drags.
#[derive(Default)]
struct Press {
    at: Option<Vec2>,
    moved: bool,
}

/// The last click, for double-clicks.
#[derive(Default)]
struct LastClick {
    entity: Option<Entity>,
    at: f64,
}

pub(super) fn plugin(app: &mut App) {
    app.add_systems(
        Update,
        (
            hover,
            click.run_if(not(egui_wants_any_pointer_input)),
            tap.run_if(not(egui_wants_any_pointer_input)),
        ),
    );
}

fn world_point(window: &Window, camera: (&Camera, &GlobalTransform), screen: Vec2) -> Option<Vec2> {
    let _ = window;
    camera.0.viewport_to_world_2d(camera.1, screen).ok()
}

fn hover(
    window: Single<&Window, With<PrimaryWindow>>,
    camera: Single<(&Camera, &GlobalTransform), With<OfficeCamera>>,
    npcs: Query<(Entity, &GlobalTransform), With<Npc>>,
    egui: Option<Res<bevy_egui::input::EguiWantsInput>>,
    mut hovered: ResMut<Hovered>,
) {
    let over_egui = egui.is_some_and(|e| e.wants_any_pointer_input());
    let now = window
        .cursor_position()
        .filter(|_| !over_egui)
        .and_then(|p| world_point(&window, (camera.0, camera.1), p))
        .and_then(|p| hit(p, 0.0, npcs.iter().map(|(e, t)| (e, t.translation()))));
    if hovered.0 != now {
        hovered.0 = now;
    }
}

fn click(
    buttons: Res<ButtonInput<MouseButton>>,
    window: Single<&Window, With<PrimaryWindow>>,
    camera: Single<(&Camera, &GlobalTransform), With<OfficeCamera>>,
    npcs: Query<(Entity, &GlobalTransform), With<Npc>>,
    mut office_camera: Single<&mut OfficeCamera>,
    mut selected: ResMut<Selected>,
    mut press: Local<Press>,
    mut last: Local<LastClick>,
    time: Res<Time>,
) {
    let cursor = window.cursor_position();
    if buttons.just_pressed(MouseButton::Left) {
        *press = Press {
            at: cursor,
            moved: false,
        };
    }
    if let (Some(start), Some(now)) = (press.at, cursor)
        && start.distance(now) > DRAG_SLOP
    {
        press.moved = true;
    }
    // Pressed and released in the same frame counts: the frame rate never eats a click.
    if !buttons.just_released(MouseButton::Left) {
        return;
    }
    let was_click = press.at.is_some() && !press.moved;
    *press = Press::default();
    let Some(point) = cursor
        .filter(|_| was_click)
        .and_then(|p| world_point(&window, (camera.0, camera.1), p))
    else {
        return;
    };
    let target = hit(point, 0.0, npcs.iter().map(|(e, t)| (e, t.translation())));
    chosen(
        target,
        &mut selected,
        &mut office_camera,
        &mut last,
        time.elapsed_secs_f64(),
    );
}

/// A click or tap chose `target` (or nothing): select, or follow on a second one.
fn chosen(
    target: Option<Entity>,
    selected: &mut Selected,
    camera: &mut OfficeCamera,
    last: &mut LastClick,
    now: f64,
) {
    let Some(entity) = target else {
        *last = LastClick::default();
        return;
    };
    if last.entity == Some(entity) && now - last.at <= DOUBLE_CLICK_SECS {
        camera.mode = CameraMode::Follow(entity);
        *last = LastClick::default();
    } else {
        *last = LastClick {
            entity: Some(entity),
            at: now,
        };
    }
    if selected.0 != Some(entity) {
        selected.0 = Some(entity);
    }
}

/// Whether the UI covers a window point (logical px): the bars, panels,
/// sheet and banner (outside the office's free space), the phone's roster
/// drawer, or a floating area such as the minimap. A finger has no hover, so
/// egui may not claim a quick tap in time: the tap asks here instead.
fn ui_covers(
    point: Vec2,
    window: Vec2,
    insets: &ViewInsets,
    drawer_open: bool,
    ctx: Option<&egui::Context>,
) -> bool {
    let outside = !insets.free_area(window).contains(point);
    let floating = ctx.is_some_and(|ctx| {
        ctx.memory(|m| m.layer_id_at(egui::pos2(point.x, point.y)))
            .is_some_and(|layer| layer.order != egui::Order::Background)
    });
    outside || drawer_open || floating
}

/// One finger down and up without moving: a tap.
fn tap(
    touches: Res<Touches>,
    window: Single<&Window, With<PrimaryWindow>>,
    camera: Single<(&Camera, &GlobalTransform), With<OfficeCamera>>,
    npcs: Query<(Entity, &GlobalTransform), With<Npc>>,
    mut office_camera: Single<&mut OfficeCamera>,
    mut selected: ResMut<Selected>,
    mut last: Local<LastClick>,
    time: Res<Time>,
    insets: Res<ViewInsets>,
    chrome: Option<Res<crate::ui::Chrome>>,
    mut contexts: EguiContexts,
) {
    let ctx = contexts.ctx_mut().ok().map(|ctx| &*ctx);
    let drawer_open = chrome.is_some_and(|c| c.drawer_open);
    let covered = |p: Vec2| ui_covers(p, window.size(), &insets, drawer_open, ctx);
    for touch in touches.iter_just_released() {
        // A second finger makes it a pinch, not a tap.
        if touch.start_position().distance(touch.position()) > DRAG_SLOP
            || touches.iter().count() > 0
            || covered(touch.start_position())
            || covered(touch.position())
        {
            continue;
        }
        let Some(point) = world_point(&window, (camera.0, camera.1), touch.position()) else {
            continue;
        };
        let zoom = office_camera.zoom();
        let target = hit(
            point,
            MIN_TOUCH_TARGET / 2.0 / zoom,
            npcs.iter().map(|(e, t)| (e, t.translation())),
        );
        chosen(
            target,
            &mut selected,
            &mut office_camera,
            &mut last,
            time.elapsed_secs_f64(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tap_on_a_bar_a_panel_or_the_open_drawer_is_the_uis() {
        let phone = Vec2::new(390.0, 844.0);
        // A top bar, and a sheet over the lower half.
        let insets = ViewInsets {
            top: 44.0,
            bottom: 400.0,
            crop_to_fill: true,
            ..ViewInsets::default()
        };
        assert!(
            !ui_covers(Vec2::new(200.0, 200.0), phone, &insets, false, None),
            "the office"
        );
        assert!(
            ui_covers(Vec2::new(200.0, 20.0), phone, &insets, false, None),
            "the bar"
        );
        assert!(
            ui_covers(Vec2::new(40.0, 700.0), phone, &insets, false, None),
            "the sheet"
        );
        assert!(
            ui_covers(Vec2::new(200.0, 200.0), phone, &insets, true, None),
            "the drawer"
        );
    }

    #[test]
    fn a_hit_finds_the_frontmost_character_under_the_point() {
        let a = Entity::from_raw_u32(1).unwrap();
        let b = Entity::from_raw_u32(2).unwrap();
        let characters = [
            (a, Vec3::new(0.0, 0.0, 10.0)),
            (b, Vec3::new(6.0, -4.0, 10.5)),
        ];
        assert_eq!(
            hit(Vec2::new(2.0, 10.0), 0.0, characters.into_iter()),
            Some(b)
        );
        assert_eq!(
            hit(Vec2::new(-9.0, 20.0), 0.0, characters.into_iter()),
            Some(a)
        );
        assert_eq!(
            hit(Vec2::new(40.0, 10.0), 0.0, characters.into_iter()),
            None
        );
        assert_eq!(
            hit(Vec2::new(25.0, 10.0), 22.0, characters.into_iter()),
            Some(b),
            "a touch target is at least 44 px"
        );
    }
}
