//! egui: the NPC panel, the roster and the HUD. Panels are drawn after the
//! world input, and world input is off while the pointer is over egui.

mod hud;
mod panel;
mod roster;

use crate::gateway_link::LinkEvent;
use crate::npc::status::Npc;
use bevy::prelude::*;
use bevy_egui::{EguiPrimaryContextPass, egui};

pub use panel::PanelState;

/// Replies to the panel's commands, keyed by agent, shown inline.
#[derive(Resource, Default, Debug)]
pub struct CommandFeedback(pub std::collections::HashMap<String, Result<String, String>>);

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<PanelState>()
        .init_resource::<CommandFeedback>()
        .add_systems(Update, (collect_feedback, close_on_escape))
        .add_systems(
            EguiPrimaryContextPass,
            (hud::hud, roster::roster, panel::panel, tooltip).chain(),
        );
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

fn close_on_escape(
    keys: Res<ButtonInput<KeyCode>>,
    mut selected: ResMut<crate::npc::visuals_api::Selected>,
) {
    if keys.just_pressed(KeyCode::Escape) {
        selected.0 = None;
    }
}

/// Name, status and last message of the NPC under the pointer.
fn tooltip(
    mut contexts: bevy_egui::EguiContexts,
    hovered: Res<crate::npc::visuals_api::Hovered>,
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
    egui::Ui::new(
        ctx.clone(),
        id.into(),
        egui::UiBuilder::new()
            .layer_id(egui::LayerId::background())
            .max_rect(ctx.viewport_rect()),
    )
}
