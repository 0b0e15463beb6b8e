//! egui: the NPC panel, the roster and the HUD. Panels are drawn after the
//! world input, and world input is off while the pointer is over egui.
//!
//! Below [`COMPACT_WIDTH`] (a phone) the layout changes: one top bar with the
//! counts, the roster in a drawer, the NPC panel as a bottom sheet, and a
//! banner that answers a waiting agent in one tap.

mod away;
mod banner;
pub mod form;
mod hud;
#[cfg(any(target_arch = "wasm32", test))]
mod keyboard;
mod minimap;
mod panel;
mod roster;
mod timeline;
mod world_text;

use crate::gateway_link::LinkEvent;
use crate::roster::Npc;
use bevy::prelude::*;
use bevy_egui::{EguiPrimaryContextPass, egui};

pub use hud::moment_words;
pub use minimap::MinimapShown;
pub use panel::PanelState;
pub use timeline::TimelineControls;

/// Replies to the panel's commands, keyed by agent, shown inline.
#[derive(Resource, Default, Debug)]
pub struct CommandFeedback(pub std::collections::HashMap<String, Result<String, String>>);

/// Narrower than this (logical px), the office uses its phone layout.
pub const COMPACT_WIDTH: f32 = 700.0;
/// Touch targets in the phone layout (CSS px).
const TOUCH_TARGET: f32 = 44.0;

/// What the UI covers this frame (logical px from each window edge), and
/// which layout it uses; the camera fits the office into what is left.
#[derive(Resource, Default, Debug, Clone, Copy, PartialEq)]
pub struct Chrome {
    pub compact: bool,
    pub drawer_open: bool,
    pub top: f32,
    pub left: f32,
    pub right: f32,
    pub bottom: f32,
}

/// Where the NPC panel's controls are (name, then left, top, right, bottom in
/// logical px), for the page's mirror: the page can point at a control drawn
/// on the canvas.
#[derive(Resource, Default, Debug, Clone, PartialEq)]
pub struct PanelControls(pub Vec<(&'static str, [i32; 4])>);

/// The minimap's controls, the same way (`minimap`, and `fit` while the
/// camera is not fitted).
#[derive(Resource, Default, Debug, Clone, PartialEq)]
pub struct MapControls(pub Vec<(&'static str, [i32; 4])>);

/// An egui rectangle as whole logical px: left, top, right, bottom.
pub fn corners(r: egui::Rect) -> [i32; 4] {
    [r.left(), r.top(), r.right(), r.bottom()].map(|v| v.round() as i32)
}

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<PanelState>()
        .init_resource::<PanelControls>()
        .init_resource::<MapControls>()
        .init_resource::<TimelineControls>()
        .init_resource::<CommandFeedback>()
        .init_resource::<Chrome>()
        .init_resource::<MinimapShown>()
        .add_systems(Update, (collect_feedback, minimap::toggle_with_key))
        .add_systems(
            EguiPrimaryContextPass,
            (
                choose_layout,
                hud::hud,
                roster::roster,
                timeline::bar(true),
                banner::banner,
                panel::panel,
                timeline::bar(false),
                minimap::minimap,
                tooltip,
                cover_insets,
                world_text::paint,
                away::card,
            )
                .chain(),
        );
    #[cfg(target_arch = "wasm32")]
    app.add_systems(
        PostUpdate,
        keyboard::follow_text_focus.after(bevy_egui::EguiPostUpdateSet::ProcessOutput),
    );
}

/// Picks the layout for the window's width; the phone layout has 44 px
/// touch targets.
fn choose_layout(mut contexts: bevy_egui::EguiContexts, mut chrome: ResMut<Chrome>) -> Result {
    let ctx = contexts.ctx_mut()?;
    let compact = ctx.viewport_rect().width() < COMPACT_WIDTH;
    if compact != chrome.compact {
        ctx.all_styles_mut(|style| {
            let normal = egui::Style::default();
            if compact {
                style.spacing.interact_size.y = TOUCH_TARGET;
                style.spacing.button_padding = egui::vec2(12.0, 8.0);
                style.spacing.item_spacing = egui::vec2(8.0, 6.0);
            } else {
                style.spacing.interact_size = normal.spacing.interact_size;
                style.spacing.button_padding = normal.spacing.button_padding;
                style.spacing.item_spacing = normal.spacing.item_spacing;
            }
        });
    }
    let drawer_open = chrome.drawer_open && compact;
    *chrome = Chrome {
        compact,
        drawer_open,
        ..Chrome::default()
    };
    Ok(())
}

/// The camera's free space is what the UI left this frame.
fn cover_insets(chrome: Res<Chrome>, mut insets: ResMut<crate::camera::ViewInsets>) {
    insets.set_if_neq(crate::camera::ViewInsets {
        left: chrome.left,
        right: chrome.right,
        top: chrome.top,
        bottom: chrome.bottom,
        crop_to_fill: chrome.compact,
    });
}

fn collect_feedback(mut link: MessageReader<LinkEvent>, mut feedback: ResMut<CommandFeedback>) {
    for event in link.read() {
        match event {
            LinkEvent::Refused { agent, message } => {
                feedback.0.insert(agent.clone(), Err(message.clone()));
            }
            LinkEvent::RunAccepted { agent, run_id } => {
                feedback
                    .0
                    .insert(agent.clone(), Ok(format!("started {run_id}")));
            }
            _ => {}
        }
    }
}

/// Name, status and last message of the NPC under the pointer.
fn tooltip(
    mut contexts: bevy_egui::EguiContexts,
    hovered: Res<crate::selection::Hovered>,
    npcs: Query<(&Npc, &crate::npc::status::NpcStatus)>,
) -> Result {
    let Some(entity) = hovered.0 else {
        return Ok(());
    };
    let Ok((npc, status)) = npcs.get(entity) else {
        return Ok(());
    };
    let ctx = contexts.ctx_mut()?;
    let Some(pointer) = ctx.pointer_hover_pos() else {
        return Ok(());
    };
    egui::Area::new("npc-tooltip".into())
        .fixed_pos(pointer + egui::vec2(14.0, 14.0))
        .order(egui::Order::Tooltip)
        .interactable(false)
        .show(ctx, |ui| {
            egui::Frame::popup(ui.style()).show(ui, |ui| {
                ui.horizontal(|ui| {
                    ui.strong(title(npc));
                    pill(ui, status.shown());
                });
                if let Some(message) = &status.last_message {
                    ui.label(crate::npc::truncate(message, 60));
                }
            });
        });
    Ok(())
}

/// A coloured status pill.
pub fn pill(ui: &mut egui::Ui, status: crate::npc::status::Shown) {
    let [r, g, b] = status.colour();
    egui::Frame::new()
        .fill(egui::Color32::from_rgb(r, g, b))
        .corner_radius(8.0)
        .inner_margin(egui::Margin::symmetric(6, 1))
        .show(ui, |ui| {
            ui.label(
                egui::RichText::new(status.label())
                    .color(egui::Color32::BLACK)
                    .strong(),
            );
        });
}

/// The NPC's display line for lists.
pub fn title(npc: &Npc) -> String {
    match &npc.role {
        Some(role) => format!("{} · {role}", npc.name),
        None => npc.name.clone(),
    }
}

/// A root Ui over the whole screen that panels attach to.
pub fn screen_ui(ctx: &egui::Context, id: &'static str) -> egui::Ui {
    area_ui(ctx, id, ctx.viewport_rect())
}

/// A root Ui over part of the screen (what other panels left).
pub fn area_ui(ctx: &egui::Context, id: &'static str, rect: egui::Rect) -> egui::Ui {
    egui::Ui::new(
        ctx.clone(),
        id.into(),
        egui::UiBuilder::new()
            .layer_id(egui::LayerId::background())
            .max_rect(rect),
    )
}
