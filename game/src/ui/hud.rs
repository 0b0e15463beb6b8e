//! The HUD: connection indicator and counts, top of the screen.

use crate::gateway_link::LinkState;
use crate::npc::Connection;
use crate::npc::status::{NpcStatus, Shown};
use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};
use protocol::AgentStatus;

pub(super) fn hud(
    mut contexts: EguiContexts,
    connection: Res<Connection>,
    npcs: Query<&NpcStatus>,
    time: Res<Time>,
    mut since: Local<(Option<LinkState>, f64)>,
) -> Result {
    let ctx = contexts.ctx_mut()?;
    if since.0.as_ref() != Some(&connection.0) {
        *since = (Some(connection.0.clone()), time.elapsed_secs_f64());
    }
    let waited = (time.elapsed_secs_f64() - since.1) as f32;
    let count = |wanted: AgentStatus| {
        npcs.iter()
            .filter(|s| !s.offline && s.status == wanted)
            .count()
    };
    egui::Area::new("hud".into())
        .anchor(egui::Align2::CENTER_TOP, [0.0, 6.0])
        .show(ctx, |ui| {
            egui::Frame::popup(ui.style()).show(ui, |ui| {
                ui.horizontal(|ui| {
                    let (dot, text) = match &connection.0 {
                        LinkState::Connected => (
                            egui::Color32::from_rgb(70, 190, 100),
                            "connected".to_owned(),
                        ),
                        LinkState::Connecting { url } => (
                            egui::Color32::from_rgb(240, 180, 40),
                            format!("connecting to {url}"),
                        ),
                        LinkState::Reconnecting {
                            url,
                            error,
                            retry_in,
                            attempt,
                        } => {
                            let left = (retry_in - waited).max(0.0);
                            let colour = if *attempt > 2 {
                                egui::Color32::from_rgb(225, 70, 70)
                            } else {
                                egui::Color32::from_rgb(240, 180, 40)
                            };
                            let what = if *attempt > 2 {
                                "gateway unreachable"
                            } else {
                                "reconnecting"
                            };
                            (
                                colour,
                                format!("{what}: {url} ({error}); retry in {left:.0}s"),
                            )
                        }
                    };
                    let (rect, _) =
                        ui.allocate_exact_size(egui::vec2(10.0, 10.0), egui::Sense::hover());
                    ui.painter().circle_filled(rect.center(), 5.0, dot);
                    ui.label(text);
                    ui.separator();
                    for status in [
                        AgentStatus::Running,
                        AgentStatus::Awaiting,
                        AgentStatus::Error,
                    ] {
                        let [r, g, b] = Shown::of(status).colour();
                        ui.colored_label(
                            egui::Color32::from_rgb(r, g, b),
                            format!("{} {}", count(status), status.as_str()),
                        );
                    }
                });
            });
        });
    Ok(())
}
