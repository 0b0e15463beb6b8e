//! Rendering on demand: when nothing in the office moves, it does not redraw
//! at the display's rate. Input, the gateway's events (the link wakes the
//! event loop) and egui's own repaints draw a frame; while something
//! animates (a character typing, walking, cheering; the camera gliding) the
//! office asks for the next frame itself. A slow tick keeps clocks and idle
//! characters' patience going.

use crate::camera::{CameraMode, OfficeCamera};
use crate::npc::animation::NpcAnimation;
use bevy::prelude::*;
use bevy::window::RequestRedraw;
use bevy::winit::{UpdateMode, WinitSettings};
use std::time::Duration;

/// How the office paces its frames.
#[derive(Resource, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RenderPace {
    /// Frames when something changes or moves (the default).
    #[default]
    OnDemand,
    /// A frame whenever the display can take one (for measuring frame cost).
    Continuous,
}

/// The longest the office waits between frames with nothing happening.
const QUIET_TICK: Duration = Duration::from_millis(500);

pub(super) fn plugin(app: &mut App) {
    let pace = *app.world_mut().get_resource_or_init::<RenderPace>();
    if pace == RenderPace::OnDemand {
        app.insert_resource(WinitSettings {
            focused_mode: UpdateMode::reactive(QUIET_TICK),
            unfocused_mode: UpdateMode::reactive_low_power(QUIET_TICK * 2),
        })
        .add_systems(Last, keep_drawing_while_moving);
    } else {
        app.insert_resource(WinitSettings::continuous());
    }
}

fn keep_drawing_while_moving(
    animations: Query<&NpcAnimation>,
    camera: Query<&OfficeCamera>,
    keys: Res<ButtonInput<KeyCode>>,
    mut redraw: MessageWriter<RequestRedraw>,
) {
    let following = camera
        .iter()
        .any(|c| matches!(c.mode, CameraMode::Follow(_)));
    // Held keys pan the camera every frame, not only when a key event comes.
    let panning = keys.get_pressed().next().is_some();
    if following || panning || animations.iter().any(NpcAnimation::is_animating) {
        redraw.write(RequestRedraw);
    }
}
