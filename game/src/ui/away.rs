//! The "while you were away" card over the top of the office (what it says
//! comes from [`crate::away`]).

use crate::away::{AwayCard, AwayControls, card_lines, duration_words};
use crate::timeline::{TimelineRequest, now_ms, playhead::speed_to_fit};
use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};

/// The card itself, over the top of the office.
pub(super) fn card(
    mut contexts: EguiContexts,
    mut card: ResMut<AwayCard>,
    npcs: Query<&crate::roster::Npc>,
    mut requests: MessageWriter<TimelineRequest>,
    mut controls: ResMut<AwayControls>,
) -> Result {
    let AwayCard::Shown(summary, since) = &*card else {
        controls.set_if_neq(AwayControls::default());
        return Ok(());
    };
    let since = *since;
    let ctx = contexts.ctx_mut()?;
    let now = now_ms();
    let names = |npc: &str| {
        npcs.iter()
            .find(|n| n.npc == npc)
            .map_or(npc.to_owned(), |n| n.name.clone())
    };
    let lines = card_lines(summary, &names, now);
    let (mut replay, mut close) = (None, None);
    egui::Window::new("While you were away")
        .id("away-card".into())
        .collapsible(false)
        .resizable(false)
        .anchor(egui::Align2::CENTER_TOP, [0.0, 48.0])
        .show(ctx, |ui| {
            ui.set_max_width((ctx.viewport_rect().width() - 40.0).min(440.0));
            ui.weak(format!(
                "Since {} ({} ago)",
                super::moment_words(since),
                duration_words(now - since)
            ));
            for line in &lines {
                ui.label(line);
            }
            ui.horizontal(|ui| {
                let button = ui.button("▶ Replay what I missed").on_hover_text(format!(
                    "Plays the time you were away at {}×",
                    speed_to_fit(now - since)
                ));
                if button.clicked() {
                    replay = Some(());
                }
                let dismiss = ui.button("Dismiss");
                if dismiss.clicked() {
                    close = Some(());
                }
                controls.set_if_neq(AwayControls(vec![
                    ("away-replay", super::corners(button.rect)),
                    ("away-dismiss", super::corners(dismiss.rect)),
                ]));
            });
        });
    if replay.is_some() {
        requests.write(TimelineRequest::Replay {
            since,
            speed: speed_to_fit(now - since),
        });
    }
    if replay.is_some() || close.is_some() {
        *card = AwayCard::Closed;
    }
    Ok(())
}
