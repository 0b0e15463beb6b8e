//! The phone's on-screen keyboard follows egui's text focus.
//!
//! bevy_egui opens the keyboard (focuses its hidden `<input>`, the text
//! agent) only while handling a finger's lift, and decides from the frame
//! before: a quick tap whose touch and lift land in one frame of a slow page
//! focuses the field but leaves the keyboard shut, and the person cannot
//! type. Here the keyboard opens on the frame a field starts editing, when a
//! finger lifted moments ago (the browser still counts it as the person's
//! gesture), and shuts when editing ends.

#[cfg(target_arch = "wasm32")]
use bevy::prelude::*;

/// How long after a finger's lift a field taking focus still counts as
/// tapped (frames on a slow phone are 100–300 ms apart).
const TAP_COUNTS_FOR: f32 = 1.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyboardChange {
    Open,
    Close,
    Keep,
}

/// What the keyboard does when egui's editing goes from `was` to `now`.
pub(crate) fn keyboard_change(was: bool, now: bool, tapped: bool) -> KeyboardChange {
    match (was, now) {
        (false, true) if tapped => KeyboardChange::Open,
        (true, false) => KeyboardChange::Close,
        _ => KeyboardChange::Keep,
    }
}

/// Whether a finger lifted within [`TAP_COUNTS_FOR`] seconds of `now`.
pub(crate) fn tapped_lately(last_lift: Option<f32>, now: f32) -> bool {
    last_lift.is_some_and(|at| now - at <= TAP_COUNTS_FOR)
}

/// Editing and the last lift, remembered between frames.
#[cfg(target_arch = "wasm32")]
#[derive(Default)]
pub(crate) struct Seen {
    editing: bool,
    last_lift: Option<f32>,
}

#[cfg(target_arch = "wasm32")]
pub(crate) fn follow_text_focus(
    touches: Res<Touches>,
    time: Res<Time<Real>>,
    outputs: Query<&bevy_egui::EguiOutput>,
    mut seen: Local<Seen>,
) {
    let now = time.elapsed_secs();
    if touches.any_just_released() {
        seen.last_lift = Some(now);
    }
    // egui names an input method's position exactly while a text field edits.
    let editing = outputs.iter().any(|o| o.platform_output.ime.is_some());
    match keyboard_change(seen.editing, editing, tapped_lately(seen.last_lift, now)) {
        KeyboardChange::Open => bevy_egui::text_agent::update_text_agent(true),
        // A no-op when the keyboard is not open (a mouse, a desktop).
        KeyboardChange::Close => bevy_egui::text_agent::update_text_agent(false),
        KeyboardChange::Keep => {}
    }
    seen.editing = editing;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_tapped_into_opens_the_keyboard_once() {
        assert_eq!(keyboard_change(false, true, true), KeyboardChange::Open);
        assert_eq!(keyboard_change(true, true, true), KeyboardChange::Keep);
    }

    #[test]
    fn focus_without_a_finger_leaves_the_keyboard_shut() {
        // A click or Tab on a desktop: the keyboard stays with the canvas.
        assert_eq!(keyboard_change(false, true, false), KeyboardChange::Keep);
    }

    #[test]
    fn editing_ends_and_the_keyboard_shuts() {
        assert_eq!(keyboard_change(true, false, true), KeyboardChange::Close);
        assert_eq!(keyboard_change(true, false, false), KeyboardChange::Close);
        assert_eq!(keyboard_change(false, false, true), KeyboardChange::Keep);
    }

    #[test]
    fn a_lift_counts_as_a_tap_for_a_second() {
        assert!(!tapped_lately(None, 5.0));
        assert!(tapped_lately(Some(4.2), 5.0));
        assert!(tapped_lately(Some(4.0), 5.0));
        assert!(!tapped_lately(Some(3.5), 5.0));
    }
}
