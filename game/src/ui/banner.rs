//! The phone layout's approval banner: when an agent waits for the person,
//! its question and one button per answer sit at the bottom of the screen,
//! answerable in one tap without opening anything (a form with more to fill
//! in opens the agent's sheet).

use super::Chrome;
use super::form::FormDraft;
use crate::gateway_link::{GatewayLink, LinkCommand};
use crate::npc::status::NpcStatus;
use crate::roster::Npc;
use crate::roster::{NpcIndex, RosterOrder};
use crate::selection::Selected;
use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};

pub(super) fn banner(
    mut contexts: EguiContexts,
    order: Res<RosterOrder>,
    index: Res<NpcIndex>,
    npcs: Query<(&Npc, &NpcStatus)>,
    mut selected: ResMut<Selected>,
    link: Option<Res<GatewayLink>>,
    mut chrome: ResMut<Chrome>,
    timeline: Res<crate::timeline::Timeline>,
) -> Result {
    if !chrome.compact {
        return Ok(());
    }
    // The selected agent's sheet shows its own question.
    let waiting: Vec<_> = order
        .0
        .iter()
        .filter_map(|id| index.0.get(id))
        .filter(|&&entity| selected.0 != Some(entity))
        .filter_map(|&entity| npcs.get(entity).ok())
        .filter_map(|(npc, status)| {
            let question = status.question.as_ref().filter(|_| !status.offline)?;
            Some((npc, question))
        })
        .collect();
    let Some((npc, question)) = waiting.first() else {
        return Ok(());
    };
    let ctx = contexts.ctx_mut()?;
    let mut opened = None;
    let mut root = super::screen_ui(ctx, "approval-banner-root");
    let shown = egui::Panel::bottom("approval-banner")
        .resizable(false)
        .frame(
            egui::Frame::side_top_panel(&ctx.global_style())
                .fill(egui::Color32::from_rgb(60, 50, 20))
                .inner_margin(egui::Margin::same(10)),
        )
        .show(&mut root, |ui| {
            ui.horizontal_wrapped(|ui| {
                ui.label(egui::RichText::new(format!("{} asks:", npc.name)).strong());
                ui.label(&question.question);
                if waiting.len() > 1 {
                    ui.weak(format!("(+{} more waiting)", waiting.len() - 1));
                }
            });
            // Nothing is answered from the past.
            ui.add_enabled_ui(!timeline.is_past(), |ui| {
                ui.horizontal_wrapped(|ui| {
                    let buttons = FormDraft::buttons(question);
                    // A form to fill opens the agent's sheet; one tap answers the rest.
                    if buttons == ["Send"] {
                        let button = egui::Button::new(egui::RichText::new("Answer…").strong())
                            .min_size(egui::vec2(88.0, super::TOUCH_TARGET));
                        if ui.add(button).clicked() {
                            opened = index.0.get(&npc.npc).copied();
                        }
                        return;
                    }
                    for choice in buttons {
                        let button = egui::Button::new(egui::RichText::new(&choice).strong())
                            .min_size(egui::vec2(88.0, super::TOUCH_TARGET));
                        if ui.add(button).clicked()
                            && let Some(link) = &link
                            && let Ok(answer) = FormDraft::default().answer(question, &choice)
                        {
                            link.send(LinkCommand::Respond {
                                agent: npc.agent.clone(),
                                run_id: question.run_id.clone(),
                                decision: answer.decision,
                                comment: None,
                                input: answer.input,
                            });
                        }
                    }
                })
            });
        });
    chrome.bottom = ctx.viewport_rect().bottom() - shown.response.rect.top();
    if let Some(entity) = opened {
        selected.0 = Some(entity);
    }
    Ok(())
}
