//! The desktop's edge: the window icon (winit's windows live on the main thread).

use bevy::ecs::system::NonSendMarker;
use bevy::prelude::*;

pub fn plugin(app: &mut App) {
    app.add_systems(Update, set_window_icon);
}

/// Sets the icon once the window exists (winit creates it after startup).
fn set_window_icon(_main_thread: NonSendMarker, mut done: Local<bool>) {
    if *done {
        return;
    }
    bevy::winit::WINIT_WINDOWS.with_borrow(|windows| {
        if windows.windows.is_empty() {
            return;
        }
        let canvas = crate::art::window_icon();
        match winit::window::Icon::from_rgba(canvas.px, canvas.w, canvas.h) {
            Ok(icon) => {
                for window in windows.windows.values() {
                    window.set_window_icon(Some(icon.clone()));
                }
            }
            Err(e) => warn!("window icon refused: {e}"),
        }
        *done = true;
    });
}
