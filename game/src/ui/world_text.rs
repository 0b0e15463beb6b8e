//! Paints the office's words ([`WorldText`]) with egui at their entity's
//! place: rasterised at their size on screen, so sharp at every zoom, and
//! with egui's fonts, so the office builds no second text stack (Bevy's text
//! and its font crates).

use crate::camera::{OfficeCamera, ViewInsets};
use crate::world_text::WorldText;
use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};

/// Below this many logical pixels, letters are too small to read: left out.
const SMALLEST: f32 = 3.0;

/// Paints every visible `WorldText`, the deepest first (a bubble covers a
/// name), under egui's windows and clipped to the space its panels leave
/// (`ViewInsets`, written by the UI just before).
pub fn paint(
    mut contexts: EguiContexts,
    camera: Single<(&Camera, &GlobalTransform, &OfficeCamera)>,
    texts: Query<(&WorldText, &GlobalTransform, &InheritedVisibility)>,
    insets: Res<ViewInsets>,
) -> Result {
    let ctx = contexts.ctx_mut()?;
    let (camera, at, office) = *camera;
    let zoom = office.zoom();
    let mut shown: Vec<_> = texts
        .iter()
        .filter(|(text, _, visible)| visible.get() && !text.text.is_empty())
        .collect();
    shown.sort_by(|a, b| a.1.translation().z.total_cmp(&b.1.translation().z));
    let view = ctx.viewport_rect().max;
    let free = insets.free_area(Vec2::new(view.x, view.y));
    let free = egui::Rect::from_min_max(
        egui::pos2(free.min.x, free.min.y),
        egui::pos2(free.max.x, free.max.y),
    );
    let painter = ctx
        .layer_painter(egui::LayerId::background())
        .with_clip_rect(free);
    for (text, place, _) in shown {
        let Some(size) = on_screen_size(text.size, zoom) else {
            continue;
        };
        let Ok(spot) = camera.world_to_viewport(at, place.translation()) else {
            continue;
        };
        let [r, g, b, a] = text.colour.to_srgba().to_u8_array();
        painter.text(
            egui::pos2(spot.x, spot.y),
            text.anchor,
            &text.text,
            egui::FontId::monospace(size),
            egui::Color32::from_rgba_unmultiplied(r, g, b, a),
        );
    }
    Ok(())
}

/// Letter size on screen (logical px) for `size` world px, or `None` when too
/// small to read.
fn on_screen_size(size: f32, zoom: f32) -> Option<f32> {
    let on_screen = size * zoom;
    (on_screen >= SMALLEST).then_some(on_screen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_grow_with_the_zoom_and_vanish_when_unreadable() {
        assert_eq!(on_screen_size(7.0, 2.0), Some(14.0));
        assert_eq!(on_screen_size(5.0, 1.0), Some(5.0));
        assert_eq!(on_screen_size(5.0, 0.5), None);
    }
}
