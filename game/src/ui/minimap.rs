//! The minimap: the whole floor in a corner, walls and rooms, every character
//! as a dot in its status colour, and the camera's view as a frame. Click or
//! drag in it to move the camera there; M (or the HUD's Map button) shows or
//! hides it. The phone layout shows it while the office is cropped.

use super::Chrome;
use crate::art::TILE;
use crate::camera::{CameraMode, OfficeCamera};
use crate::npc::status::NpcStatus;
use crate::office::map::Tile;
use crate::office::{CurrentPlan, floor_size};
use crate::roster::Npc;
use crate::selection::Selected;
use bevy::prelude::*;
use bevy::window::PrimaryWindow;
use bevy_egui::{EguiContexts, egui};

/// Whether the minimap is shown (on by default on a wide screen).
#[derive(Resource, Debug, Clone, Copy, PartialEq)]
pub struct MinimapShown(pub bool);

impl Default for MinimapShown {
    fn default() -> Self {
        MinimapShown(true)
    }
}

/// Screen pixels per tile on the minimap, within these bounds.
const TILE_PX: (f32, f32) = (2.0, 6.0);
/// The largest the minimap gets (logical px).
const MAX_SIZE: egui::Vec2 = egui::vec2(180.0, 110.0);

pub(super) fn toggle_with_key(
    keys: Res<ButtonInput<KeyCode>>,
    egui: Option<Res<bevy_egui::input::EguiWantsInput>>,
    mut shown: ResMut<MinimapShown>,
) {
    if egui.is_some_and(|e| e.wants_any_keyboard_input()) {
        return;
    }
    if keys.just_pressed(KeyCode::KeyM) {
        shown.0 = !shown.0;
    }
}

pub(super) fn minimap(
    mut contexts: EguiContexts,
    shown: Res<MinimapShown>,
    chrome: Res<Chrome>,
    plan: Option<Res<CurrentPlan>>,
    npcs: People,
    selected: Res<Selected>,
    window: Single<&Window, With<PrimaryWindow>>,
    mut camera: Single<(&mut Transform, &mut OfficeCamera)>,
    mut controls: ResMut<super::MapControls>,
) -> Result {
    let Some(plan) = plan else {
        controls.set_if_neq(super::MapControls::default());
        return Ok(());
    };
    let map = &plan.0.map;
    // What the camera shows of the world.
    let seen = {
        let (transform, office) = &*camera;
        let half = window.size() / 2.0 / office.zoom();
        Rect::from_center_half_size(transform.translation.truncate(), half)
    };
    // On a phone it shows only while the office does not fit (cropped or zoomed in).
    let floor = Rect::from_corners(Vec2::ZERO, crate::office::world(floor_size(map)));
    let cropped = seen.intersect(floor) != floor;
    if !shown.0 || (chrome.compact && (!cropped || chrome.drawer_open)) {
        controls.set_if_neq(super::MapControls::default());
        return Ok(());
    }
    let mut placed = Vec::new();
    let ctx = contexts.ctx_mut()?;
    let scale = (MAX_SIZE.x / map.width as f32)
        .min(MAX_SIZE.y / map.height as f32)
        .clamp(TILE_PX.0, TILE_PX.1)
        .floor();
    let size = egui::vec2(map.width as f32, map.height as f32) * scale;
    let corner = egui::pos2(
        chrome.left + 10.0,
        ctx.viewport_rect().bottom() - chrome.bottom - 10.0,
    );
    egui::Area::new("minimap".into())
        .fixed_pos(corner - egui::vec2(0.0, size.y + 12.0))
        .show(ctx, |ui| {
            egui::Frame::popup(ui.style())
                .inner_margin(egui::Margin::same(4))
                .show(ui, |ui| {
                    ui.horizontal_top(|ui| {
                        let (rect, response) =
                            ui.allocate_exact_size(size, egui::Sense::click_and_drag());
                        placed.push(("minimap", super::corners(rect)));
                        let sheet = Sheet { rect, scale };
                        sheet.floor(ui, map);
                        sheet.view(ui, seen);
                        sheet.people(ui, &npcs, selected.0);
                        let response = match sheet.who_is_at(&npcs, response.hover_pos()) {
                            Some(npc) => response.on_hover_text(super::title(npc)),
                            None => response.on_hover_text("Click to look there (M hides the map)"),
                        };
                        if (response.clicked() || response.dragged())
                            && let Some(pointer) = response.interact_pointer_pos()
                        {
                            let (transform, office) = &mut *camera;
                            transform.translation =
                                sheet.world_at(pointer).extend(transform.translation.z);
                            office.mode = CameraMode::Manual;
                        }
                        // The way back to the whole office (Home on a keyboard).
                        let office = &mut camera.1;
                        if office.mode != CameraMode::Fit {
                            let fit = ui
                                .button("Fit")
                                .on_hover_text("Back to the fitted view (Home)");
                            placed.push(("fit", super::corners(fit.rect)));
                            if fit.clicked() {
                                office.mode = CameraMode::Fit;
                            }
                        }
                    })
                });
        });
    controls.set_if_neq(super::MapControls(placed));
    Ok(())
}

/// The minimap's drawing: the floor scaled into `rect`.
struct Sheet {
    rect: egui::Rect,
    /// Screen pixels per tile.
    scale: f32,
}

impl Sheet {
    /// A world point on the sheet (world y points up; the map's rows go down).
    fn to_screen(&self, world: Vec2) -> egui::Pos2 {
        self.rect.min + egui::vec2(world.x, -world.y) * self.scale / TILE as f32
    }

    /// The world point under a place on the sheet.
    fn world_at(&self, pointer: egui::Pos2) -> Vec2 {
        let tiles = (pointer - self.rect.min) / self.scale;
        Vec2::new(tiles.x, -tiles.y) * TILE as f32
    }

    /// The floor, the rooms' walls and every blocked tile.
    fn floor(&self, ui: &egui::Ui, map: &crate::office::map::OfficeMap) {
        let painter = ui.painter_at(self.rect);
        painter.rect_filled(self.rect, 0.0, egui::Color32::from_rgb(150, 120, 85));
        let tiles = |x: i32, y: i32| self.rect.min + egui::vec2(x as f32, y as f32) * self.scale;
        for room in &map.rooms {
            painter.rect_stroke(
                egui::Rect::from_min_size(
                    tiles(room.x, room.y),
                    egui::vec2(room.w as f32, room.h as f32) * self.scale,
                ),
                0.0,
                egui::Stroke::new(1.0, egui::Color32::from_rgb(110, 120, 150)),
                egui::StrokeKind::Inside,
            );
        }
        for y in 0..map.height {
            for x in 0..map.width {
                if !map.walkable(Tile::new(x, y)) {
                    painter.rect_filled(
                        egui::Rect::from_min_size(tiles(x, y), egui::vec2(self.scale, self.scale)),
                        0.0,
                        egui::Color32::from_rgb(70, 66, 96),
                    );
                }
            }
        }
    }

    /// The camera's view as a frame.
    fn view(&self, ui: &egui::Ui, seen: Rect) {
        ui.painter_at(self.rect).rect_stroke(
            egui::Rect::from_two_pos(self.to_screen(seen.min), self.to_screen(seen.max)),
            0.0,
            egui::Stroke::new(1.0, egui::Color32::WHITE),
            egui::StrokeKind::Middle,
        );
    }

    /// Where a character's dot goes: its middle, not its feet.
    fn dot(&self, at: &GlobalTransform) -> egui::Pos2 {
        self.to_screen(at.translation().truncate() + Vec2::Y * 8.0)
    }

    /// Every character as a dot in its status colour, the selected one larger.
    fn people(&self, ui: &egui::Ui, npcs: &People, selected: Option<Entity>) {
        let painter = ui.painter_at(self.rect);
        for (entity, _, status, at) in npcs {
            let [r, g, b] = status.shown().colour();
            let radius = if selected == Some(entity) { 3.5 } else { 2.5 };
            painter.circle(
                self.dot(at),
                radius,
                egui::Color32::from_rgb(r, g, b),
                egui::Stroke::new(1.0, egui::Color32::BLACK),
            );
        }
    }

    /// The character whose dot is under the pointer.
    fn who_is_at<'a>(&self, npcs: &'a People, pointer: Option<egui::Pos2>) -> Option<&'a Npc> {
        let pointer = pointer?;
        npcs.iter()
            .find(|(_, _, _, at)| pointer.distance(self.dot(at)) < 5.0)
            .map(|(_, npc, _, _)| npc)
    }
}

type People<'w, 's> = Query<
    'w,
    's,
    (
        Entity,
        &'static Npc,
        &'static NpcStatus,
        &'static GlobalTransform,
    ),
>;
