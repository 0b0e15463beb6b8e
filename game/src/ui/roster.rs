//! The roster: every agent with its status pill; a click selects and focuses it.

use super::{pill, screen_ui, title};
use crate::npc::status::{Npc, NpcStatus};
use crate::npc::visuals_api::Selected;
use crate::npc::{NpcIndex, RosterOrder};
use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};
use protocol::AgentStatus;

pub(super) fn roster(
    mut contexts: EguiContexts,
    order: Res<RosterOrder>,
    index: Res<NpcIndex>,
    npcs: Query<(&Npc, &NpcStatus)>,
    mut selected: ResMut<Selected>,
    mut focus: ResMut<crate::camera::FocusRequest>,
) -> Result {
    let ctx = contexts.ctx_mut()?;
    let mut root = screen_ui(ctx, "roster-root");
    let waiting = npcs
        .iter()
        .filter(|(_, s)| !s.offline && s.status == AgentStatus::Awaiting)
        .count();
    egui::Panel::left("roster")
        .default_size(190.0)
        .resizable(true)
        .show(&mut root, |ui| {
            ui.heading("Office");
            if waiting > 0 {
                ui.colored_label(
                    egui::Color32::from_rgb(240, 180, 40),
                    format!("{waiting} waiting for you"),
                );
            }
            ui.separator();
            egui::ScrollArea::vertical().show(ui, |ui| {
                for npc_id in &order.0 {
                    let Some(&entity) = index.0.get(npc_id) else {
                        continue;
                    };
                    let Ok((npc, status)) = npcs.get(entity) else {
                        continue;
                    };
                    ui.horizontal(|ui| {
                        pill(ui, status.shown());
                        let is_selected = selected.0 == Some(entity);
                        if ui.selectable_label(is_selected, title(npc)).clicked() {
                            selected.0 = Some(entity);
                            focus.0 = Some(entity);
                        }
                    });
                }
            });
        });
    Ok(())
}
