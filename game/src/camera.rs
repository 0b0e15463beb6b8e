//! The camera. It fits the office into the space the panels leave (and fits
//! again when a panel opens or closes, or the window resizes) until the
//! person moves it: WASD/arrows, right- or middle-drag, one-finger drag, the
//! wheel or a pinch (in whole zoom steps). Home fits again; a double-click
//! follows a character until Esc.
//!
//! The phone layout may crop: a whole office in a tall, narrow space would be
//! a strip in the middle, so there it fills the height instead and shows the
//! part that matters (the selected character, else those waiting, else the
//! desks); a drag pans along the rest and the minimap shows the whole floor.

use crate::art::TILE;
use crate::npc::dispatch::SeatAt;
use crate::npc::status::NpcStatus;
use crate::office::CurrentPlan;
use crate::selection::Selected;
use bevy::input::mouse::{AccumulatedMouseMotion, AccumulatedMouseScroll};
use bevy::input::touch::Touches;
use bevy::prelude::*;
use bevy::window::PrimaryWindow;
use bevy_egui::input::egui_wants_any_pointer_input;

/// Zoom levels in screen (device) pixels per world pixel: whole multiples keep
/// pixels square on any display; the fractions are for overviews, the large
/// ones for dense phone screens (3 device px per CSS px).
pub const ZOOM_STEPS: [f32; 12] = [
    0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 10.0, 12.0,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CameraMode {
    /// The whole office in the free space, kept so.
    Fit,
    /// Where the person put it.
    Manual,
    /// Centred on a character.
    Follow(Entity),
}

#[derive(Component, Debug)]
pub struct OfficeCamera {
    pub zoom_step: usize,
    pub mode: CameraMode,
    /// Device pixels per logical (CSS) pixel, from the window.
    pub scale_factor: f32,
}

impl OfficeCamera {
    /// Logical pixels per world pixel at the current step.
    pub fn zoom(&self) -> f32 {
        ZOOM_STEPS[self.zoom_step] / self.scale_factor
    }
}

/// Window edges covered by panels (logical px): the office fits between them.
/// The UI writes it every frame.
#[derive(Resource, Default, Debug, Clone, Copy, PartialEq)]
pub struct ViewInsets {
    pub left: f32,
    pub right: f32,
    pub top: f32,
    pub bottom: f32,
    /// The layout lets the camera crop the office's sides to fill a tall,
    /// narrow space (the phone layout).
    pub crop_to_fill: bool,
}

impl ViewInsets {
    /// The part of a `window`-sized view the panels leave free (logical px,
    /// y down); empty (`contains` nothing) when the panels cover it all.
    pub fn free_area(&self, window: Vec2) -> Rect {
        Rect {
            min: Vec2::new(self.left, self.top),
            max: Vec2::new(window.x - self.right, window.y - self.bottom),
        }
    }
}

/// Pixels of air around a fitted office.
const FIT_MARGIN: f32 = 16.0;
/// Under this share of its space covered, the phone layout crops the office to fill it.
const FILL_BELOW: f32 = 0.4;
/// A pinch changes the zoom a step each time the fingers' distance changes by this factor.
const PINCH_STEP: f32 = 1.3;

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<ViewInsets>()
        .add_systems(Startup, spawn_camera)
        .add_systems(
            Update,
            (
                (pan_with_keys, home_and_escape),
                (drag_and_zoom, touch_pan_and_pinch).run_if(not(egui_wants_any_pointer_input)),
                reveal_selected,
                aim,
            )
                .chain(),
        );
}

fn spawn_camera(mut commands: Commands) {
    commands.spawn((
        Name::new("Office camera"),
        Camera2d,
        // Pixel art is flat colours on axis-aligned quads sampled nearest:
        // multisampling and deband dithering add nothing to it but fill work.
        Msaa::Off,
        bevy::core_pipeline::tonemapping::DebandDither::Disabled,
        OfficeCamera {
            zoom_step: 3,
            mode: CameraMode::Fit,
            scale_factor: 1.0,
        },
        Projection::Orthographic(OrthographicProjection {
            scale: 1.0 / ZOOM_STEPS[3],
            ..OrthographicProjection::default_2d()
        }),
        Transform::from_xyz(15.0 * TILE as f32, -7.5 * TILE as f32, 100.0),
    ));
}

/// The zoom step that fits `size` (world px) into `view` (device px).
pub fn fit_step(size: Vec2, view: Vec2) -> usize {
    let fits = |zoom: f32| size.x * zoom <= view.x && size.y * zoom <= view.y;
    (0..ZOOM_STEPS.len())
        .rev()
        .find(|&i| fits(ZOOM_STEPS[i]))
        .unwrap_or(0)
}

/// The zoom step that fills the height of `view` (device px) with an office
/// of `size` (world px) cropped at the sides, when the whole office would
/// cover less than [`FILL_BELOW`] of it; at least a third of the office's
/// width stays in view.
pub fn fill_step(size: Vec2, view: Vec2) -> Option<usize> {
    let whole = fit_step(size, view);
    let zoom = ZOOM_STEPS[whole];
    let covered = (size.x * zoom).min(view.x) * (size.y * zoom).min(view.y) / (view.x * view.y);
    if covered >= FILL_BELOW {
        return None;
    }
    (whole + 1..ZOOM_STEPS.len()).rev().find(|&i| {
        let zoom = ZOOM_STEPS[i];
        size.y * zoom <= view.y && size.x * zoom <= 3.0 * view.x
    })
}

/// Where the camera looks, and at which zoom step, to show the office
/// (`size` world px, top-left at the origin) in the window's free space
/// (`window` and `insets` in logical px, `scale_factor` device px per logical
/// px). When the office is cropped to fill the space, `focus_x` (world px) is
/// kept as near the middle as the office's edges allow.
pub fn fit(
    size: Vec2,
    window: Vec2,
    insets: ViewInsets,
    scale_factor: f32,
    focus_x: Option<f32>,
) -> (Vec2, usize) {
    let free = Vec2::new(
        window.x - insets.left - insets.right,
        window.y - insets.top - insets.bottom,
    )
    .max(Vec2::splat(1.0));
    let view = (free - Vec2::splat(2.0 * FIT_MARGIN)) * scale_factor;
    // A cropped office meets the space's sides: no air there.
    let fill_view = Vec2::new(free.x, free.y - 2.0 * FIT_MARGIN) * scale_factor;
    let filled = insets
        .crop_to_fill
        .then(|| fill_step(size, fill_view))
        .flatten();
    let step = filled.unwrap_or_else(|| fit_step(size, view));
    let zoom = ZOOM_STEPS[step] / scale_factor;
    // The free space's centre, relative to the window's (screen y down).
    let mut offset = Vec2::new(
        insets.left + free.x / 2.0 - window.x / 2.0,
        insets.top + free.y / 2.0 - window.y / 2.0,
    );
    if filled.is_some() {
        // On a phone the office sits under the top bar and the spare height
        // gathers at the bottom, where the minimap and the time slider are.
        let height = size.y * zoom;
        if height + 2.0 * FIT_MARGIN < free.y {
            offset.y = insets.top + FIT_MARGIN + height / 2.0 - window.y / 2.0;
        }
    }
    let mut centre = Vec2::new(size.x / 2.0, -size.y / 2.0);
    if filled.is_some() {
        // No empty band at either side: the office's edges stay at the space's.
        let half = free.x / 2.0 / zoom;
        let x = focus_x.unwrap_or(centre.x);
        centre.x = if size.x > 2.0 * half {
            x.clamp(half, size.x - half)
        } else {
            centre.x
        };
    }
    (centre - Vec2::new(offset.x, -offset.y) / zoom, step)
}

/// Keeps the camera on whole device pixels, so pixel art stays crisp
/// (`pixels`: device pixels per world pixel).
fn snap(at: Vec2, pixels: f32) -> Vec2 {
    (at * pixels).round() / pixels
}

fn set_zoom(projection: &mut Projection, office: &OfficeCamera) {
    if let Projection::Orthographic(ortho) = projection {
        let scale = 1.0 / office.zoom();
        if ortho.scale != scale {
            ortho.scale = scale;
        }
    }
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
        let speed = 400.0 / office.zoom();
        transform.translation += (direction.normalize() * speed * time.delta_secs()).extend(0.0);
        office.mode = CameraMode::Manual;
    }
}

/// Home fits the office again; Esc stops following (the panel closes on the next Esc).
fn home_and_escape(
    keys: Res<ButtonInput<KeyCode>>,
    mut camera: Single<&mut OfficeCamera>,
    mut selected: ResMut<Selected>,
) {
    if keys.just_pressed(KeyCode::Home) {
        camera.mode = CameraMode::Fit;
    }
    if keys.just_pressed(KeyCode::Escape) {
        if matches!(camera.mode, CameraMode::Follow(_)) {
            camera.mode = CameraMode::Fit;
        } else if selected.0.is_some() {
            selected.0 = None;
        }
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
        let zoom = office.zoom();
        transform.translation += Vec3::new(-motion.delta.x, motion.delta.y, 0.0) / zoom;
        office.mode = CameraMode::Manual;
    }
    if scroll.delta.y != 0.0 {
        office.zoom_step = if scroll.delta.y > 0.0 {
            (office.zoom_step + 1).min(ZOOM_STEPS.len() - 1)
        } else {
            office.zoom_step.saturating_sub(1)
        };
        set_zoom(projection, office);
        if office.mode == CameraMode::Fit {
            office.mode = CameraMode::Manual;
        }
    }
}

/// One finger drags the office; two pinch the zoom, a whole step at a time.
fn touch_pan_and_pinch(
    touches: Res<Touches>,
    mut camera: Single<(&mut Transform, &mut Projection, &mut OfficeCamera)>,
    mut pinch_from: Local<Option<f32>>,
) {
    let (transform, projection, office) = &mut *camera;
    let fingers: Vec<_> = touches.iter().collect();
    match fingers.as_slice() {
        [one] => {
            *pinch_from = None;
            let moved = one.position().distance(one.start_position()) > 8.0;
            if moved && one.delta() != Vec2::ZERO {
                let zoom = office.zoom();
                transform.translation += Vec3::new(-one.delta().x, one.delta().y, 0.0) / zoom;
                office.mode = CameraMode::Manual;
            }
        }
        [a, b, ..] => {
            let distance = a.position().distance(b.position()).max(1.0);
            let from = *pinch_from.get_or_insert(distance);
            let step = if distance / from >= PINCH_STEP {
                Some((office.zoom_step + 1).min(ZOOM_STEPS.len() - 1))
            } else if from / distance >= PINCH_STEP {
                Some(office.zoom_step.saturating_sub(1))
            } else {
                None
            };
            if let Some(step) = step {
                office.zoom_step = step;
                set_zoom(projection, office);
                office.mode = CameraMode::Manual;
                *pinch_from = Some(distance);
            }
        }
        [] => *pinch_from = None,
    }
}

/// A character selected from the roster or the page comes into view if it is
/// outside the free space.
fn reveal_selected(
    selected: Res<Selected>,
    targets: Query<&GlobalTransform>,
    window: Single<&Window, With<PrimaryWindow>>,
    insets: Res<ViewInsets>,
    mut camera: Single<(&Camera, &GlobalTransform, &mut Transform, &mut OfficeCamera)>,
) {
    if !selected.is_changed() {
        return;
    }
    let Some(Ok(target)) = selected.0.map(|e| targets.get(e)) else {
        return;
    };
    let (camera, at, transform, office) = &mut *camera;
    let Ok(screen) = camera.world_to_viewport(at, target.translation()) else {
        return;
    };
    let inside = insets.free_area(window.size()).contains(screen);
    if !inside && office.mode != CameraMode::Fit {
        transform.translation = target
            .translation()
            .truncate()
            .extend(transform.translation.z);
        office.mode = CameraMode::Manual;
    }
}

/// A desk's seat on a cropped view: the selected character's, else the
/// middle of those waiting for a person, else the middle of all desks.
#[derive(Clone, Copy, Debug)]
pub struct SeatInView {
    pub x: f32,
    pub selected: bool,
    pub waiting: bool,
}

/// The world x a cropped view keeps in its middle (see [`SeatInView`]).
pub fn focus_x(seats: &[SeatInView]) -> Option<f32> {
    let middle = |xs: &mut dyn Iterator<Item = f32>| {
        let (low, high) = xs.fold((f32::MAX, f32::MIN), |(l, h), x| (l.min(x), h.max(x)));
        (low <= high).then_some((low + high) / 2.0)
    };
    if let Some(chosen) = seats.iter().find(|s| s.selected) {
        return Some(chosen.x);
    }
    middle(&mut seats.iter().filter(|s| s.waiting).map(|s| s.x))
        .or_else(|| middle(&mut seats.iter().map(|s| s.x)))
}

/// Applies the mode: fit, follow, or leave it where the person put it.
fn aim(
    plan: Option<Res<CurrentPlan>>,
    window: Single<&Window, With<PrimaryWindow>>,
    insets: Res<ViewInsets>,
    seats: Query<(Entity, &SeatAt, &NpcStatus)>,
    selected: Res<Selected>,
    targets: Query<&GlobalTransform>,
    mut camera: Single<(&mut Transform, &mut Projection, &mut OfficeCamera)>,
    time: Res<Time>,
) {
    let (transform, projection, office) = &mut *camera;
    let scale_factor = window.scale_factor();
    if office.scale_factor != scale_factor {
        office.scale_factor = scale_factor;
    }
    match office.mode {
        CameraMode::Fit => {
            let Some(plan) = plan else { return };
            let size = crate::office::floor_size(&plan.0.map);
            let focus = insets
                .crop_to_fill
                .then(|| {
                    let seats = seats.iter().map(|(entity, seat, status)| SeatInView {
                        x: (seat.0.seat().x as f32 + 0.5) * TILE as f32,
                        selected: selected.0 == Some(entity),
                        waiting: status.question.is_some() && !status.offline,
                    });
                    focus_x(&seats.collect::<Vec<_>>())
                })
                .flatten();
            let (at, step) = fit(size, window.size(), *insets, scale_factor, focus);
            let at = snap(at, ZOOM_STEPS[step]).extend(transform.translation.z);
            if transform.translation != at {
                transform.translation = at;
            }
            if office.zoom_step != step {
                office.zoom_step = step;
            }
            set_zoom(projection, office);
        }
        CameraMode::Follow(entity) => {
            let Ok(target) = targets.get(entity) else {
                office.mode = CameraMode::Fit;
                return;
            };
            let zoom = office.zoom();
            // The character sits in the middle of the free space.
            let offset = Vec2::new(
                (insets.left - insets.right) / 2.0,
                (insets.top - insets.bottom) / 2.0,
            );
            let goal = target.translation().truncate() - Vec2::new(offset.x, -offset.y) / zoom;
            let current = transform.translation.truncate();
            let next = current.lerp(goal, (time.delta_secs() * 8.0).min(1.0));
            transform.translation =
                snap(next, ZOOM_STEPS[office.zoom_step]).extend(transform.translation.z);
        }
        CameraMode::Manual => {}
    }
    // A new display (another monitor, a browser zoom) keeps the step crisp.
    set_zoom(projection, office);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_free_area_keeps_its_edges_and_is_empty_when_the_panels_cover_all() {
        let insets = ViewInsets {
            left: 200.0,
            right: 300.0,
            top: 40.0,
            ..default()
        };
        let free = insets.free_area(Vec2::new(1280.0, 760.0));
        assert!(free.contains(Vec2::new(200.0, 40.0)));
        assert!(free.contains(Vec2::new(980.0, 760.0)));
        assert!(!free.contains(Vec2::new(199.0, 400.0)));
        assert!(!free.contains(Vec2::new(981.0, 400.0)));
        let covered = insets.free_area(Vec2::new(400.0, 760.0));
        assert!(!covered.contains(Vec2::new(150.0, 400.0)));
        assert!(!covered.contains(Vec2::new(250.0, 400.0)));
    }

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

    #[test]
    fn the_office_centres_in_the_space_the_panels_leave() {
        let office = Vec2::new(480.0, 240.0);
        let window = Vec2::new(1280.0, 760.0);
        let (centre, step) = fit(office, window, ViewInsets::default(), 1.0, None);
        assert_eq!(ZOOM_STEPS[step], 2.0);
        assert_eq!(centre, Vec2::new(240.0, -120.0), "no panels: the middle");
        let panels = ViewInsets {
            left: 200.0,
            right: 380.0,
            top: 40.0,
            bottom: 0.0,
            crop_to_fill: false,
        };
        let (shifted, step) = fit(office, window, panels, 1.0, None);
        let zoom = ZOOM_STEPS[step];
        assert_eq!(zoom, 1.0, "a narrower space, a smaller zoom");
        // The office's middle lands in the middle of the free space on screen.
        let on_screen = (Vec2::new(240.0, -120.0) - shifted) * zoom;
        assert_eq!(on_screen.x, (200.0 + (1280.0 - 380.0)) / 2.0 - 640.0);
        assert_eq!(-on_screen.y, (40.0 + 760.0) / 2.0 - 380.0);
    }

    #[test]
    fn on_a_dense_phone_screen_the_fit_counts_device_pixels() {
        // 390×844 CSS px at 3 device px each, a 44 px bar on top.
        let bar = ViewInsets {
            top: 44.0,
            ..ViewInsets::default()
        };
        let office = Vec2::new(480.0, 240.0);
        let (_, step) = fit(office, Vec2::new(390.0, 844.0), bar, 3.0, None);
        // 2 device px per world px: 320 CSS px wide, every pixel square.
        assert_eq!(ZOOM_STEPS[step], 2.0);
    }

    #[test]
    fn a_phone_held_upright_fills_its_width_keeps_the_focus_in_the_middle_and_sits_under_the_bar() {
        let phone = Vec2::new(390.0, 844.0);
        let bar = ViewInsets {
            top: 44.0,
            crop_to_fill: true,
            ..ViewInsets::default()
        };
        let office = Vec2::new(480.0, 240.0);
        let (centre, step) = fit(office, phone, bar, 3.0, Some(100.0));
        // 7 device px per world px: 560 CSS px of the 800 left, over a third of the width.
        assert_eq!(ZOOM_STEPS[step], 7.0);
        let zoom = 7.0 / 3.0;
        let half = 390.0 / 2.0 / zoom;
        assert_eq!(centre.x, 100.0, "the focus in the middle");
        // The office's top edge (world y 0) just under the bar; the spare
        // height below it, for the minimap and the time slider.
        let top_on_screen = 844.0 / 2.0 + centre.y * zoom;
        assert!(
            (top_on_screen - (44.0 + FIT_MARGIN)).abs() < 1e-3,
            "the office under the bar, not in the middle ({top_on_screen})"
        );
        // A focus near an edge: the office's edge meets the window's, no empty band.
        let (at_edge, _) = fit(office, phone, bar, 3.0, Some(10.0));
        assert_eq!(at_edge.x, half);
        let (at_far_edge, _) = fit(office, phone, bar, 3.0, Some(470.0));
        assert_eq!(at_far_edge.x, 480.0 - half);
        // No focus: the office's middle.
        assert_eq!(fit(office, phone, bar, 3.0, None).0.x, 240.0);
    }

    #[test]
    fn a_space_the_whole_office_fills_well_is_never_cropped() {
        let office = Vec2::new(480.0, 240.0);
        // The desktop at 1280×760: half the space covered, all of it shown.
        assert_eq!(fill_step(office, Vec2::new(1280.0, 728.0)), None);
        // A phone on its side shows it whole too.
        assert_eq!(fill_step(office, Vec2::new(2532.0, 1074.0)), None);
        // Upright, under a half-height sheet: filled at 4 (61% of its width).
        assert_eq!(
            fill_step(office, Vec2::new(1170.0, 1104.0)).map(|s| ZOOM_STEPS[s]),
            Some(4.0)
        );
    }

    #[test]
    fn the_focus_is_the_selected_seat_else_the_waiting_else_all() {
        let seat = |x, selected, waiting| SeatInView {
            x,
            selected,
            waiting,
        };
        assert_eq!(focus_x(&[]), None);
        let desks = [
            seat(40.0, false, false),
            seat(200.0, false, true),
            seat(300.0, false, true),
            seat(400.0, false, false),
        ];
        assert_eq!(
            focus_x(&desks),
            Some(250.0),
            "the middle of the two waiting"
        );
        let mut quiet = desks;
        quiet[1].waiting = false;
        quiet[2].waiting = false;
        assert_eq!(focus_x(&quiet), Some(220.0), "the middle of all desks");
        let mut chosen = desks;
        chosen[3].selected = true;
        assert_eq!(
            focus_x(&chosen),
            Some(400.0),
            "the selected one, waiting or not"
        );
    }
}
