//! The roster: every agent with its status pill; a click selects and focuses it.

use super::{pill, screen_ui, title};
use crate::gateway_link::{GatewayLink, LinkCommand, Session};
use crate::npc::status::NpcStatus;
use crate::roster::Npc;
use crate::roster::{NpcIndex, RosterOrder};
use crate::selection::Selected;
use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};
use protocol::AgentStatus;

pub(super) fn roster(
    mut contexts: EguiContexts,
    order: Res<RosterOrder>,
    index: Res<NpcIndex>,
    npcs: Query<(&Npc, &NpcStatus)>,
    mut selected: ResMut<Selected>,
    session: Res<Session>,
    link: Option<Res<GatewayLink>>,
    mut chrome: ResMut<super::Chrome>,
) -> Result {
    let ctx = contexts.ctx_mut()?;
    if chrome.compact && !chrome.drawer_open {
        return Ok(());
    }
    let viewport = ctx.viewport_rect();
    let mut root = if chrome.compact {
        // The drawer opens under the top bar, over the office.
        let area = egui::Rect::from_min_max(
            egui::pos2(viewport.left(), chrome.top),
            viewport.right_bottom(),
        );
        super::area_ui(ctx, "roster-drawer-root", area)
    } else {
        screen_ui(ctx, "roster-root")
    };
    let waiting = npcs
        .iter()
        .filter(|(_, s)| !s.offline && s.status == AgentStatus::Awaiting)
        .count();
    let panel = egui::Panel::left("roster");
    let panel = if chrome.compact {
        panel
            .exact_size((viewport.width() * 0.8).min(280.0))
            .resizable(false)
    } else {
        panel.default_size(190.0).resizable(true)
    };
    let mut chose = false;
    let shown = panel.show(&mut root, |ui| {
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
                        chose = true;
                    }
                });
            }
            if chrome.compact {
                // The desktop HUD's session line lives here on a phone.
                ui.separator();
                if let Some(reason) = &session.signed_out {
                    ui.colored_label(
                        egui::Color32::from_rgb(225, 70, 70),
                        format!("signed out: {reason}"),
                    );
                } else if let Some(info) = session.info.as_ref().filter(|i| !i.open) {
                    ui.label(format!("{} · {}", info.subject, info.role));
                    if cfg!(target_arch = "wasm32")
                        && ui.button("Sign out").clicked()
                        && let Some(link) = &link
                    {
                        link.send(LinkCommand::SignOut);
                    }
                }
            }
        });
    });
    if chrome.compact {
        // A choice closes the drawer; the drawer floats over the office, which keeps its fit.
        if chose {
            chrome.drawer_open = false;
        }
    } else {
        chrome.left = shown.response.rect.right();
    }
    Ok(())
}
