//! The HUD: connection indicator and counts, top of the screen.

use crate::gateway_link::{GatewayLink, LinkCommand, LinkState, Session};
use crate::npc::status::{NpcStatus, Shown};
use crate::roster::Connection;
use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};
use protocol::AgentStatus;

/// What the HUD counts: agents by status, those the office can see.
struct Counts {
    agents: usize,
    by_status: std::collections::HashMap<AgentStatus, usize>,
}

impl Counts {
    fn of<'a>(statuses: impl Iterator<Item = &'a NpcStatus>) -> Counts {
        let mut counts = Counts {
            agents: 0,
            by_status: Default::default(),
        };
        for status in statuses {
            counts.agents += 1;
            if !status.offline {
                *counts.by_status.entry(status.status).or_default() += 1;
            }
        }
        counts
    }

    fn of_status(&self, status: AgentStatus) -> usize {
        self.by_status.get(&status).copied().unwrap_or(0)
    }
}

pub(super) fn hud(
    mut contexts: EguiContexts,
    connection: Res<Connection>,
    npcs: Query<&NpcStatus>,
    time: Res<Time>,
    session: Res<Session>,
    link: Option<Res<GatewayLink>>,
    map_problem: Res<crate::office::MapProblem>,
    mut minimap: ResMut<super::MinimapShown>,
    mut attention: ResMut<crate::attention::AttentionSettings>,
    mut chrome: ResMut<super::Chrome>,
    mut since: Local<(Option<LinkState>, f64)>,
    timeline: Res<crate::timeline::Timeline>,
) -> Result {
    let ctx = contexts.ctx_mut()?;
    if since.0.as_ref() != Some(&connection.0) {
        *since = (Some(connection.0.clone()), time.elapsed_secs_f64());
    }
    let waited = (time.elapsed_secs_f64() - since.1) as f32;
    let counts = Counts::of(npcs.iter());
    let link_state = match timeline.past() {
        Some(at) => past_words(at),
        None => connection_words(&connection.0, waited),
    };
    if chrome.compact {
        // One line across the top that covers nothing: the office starts below it.
        chrome.top = top_bar(ctx, &counts, link_state, &mut chrome.drawer_open);
        map_warning(ctx, &map_problem, chrome.top);
        return Ok(());
    }
    let (dot, long, _) = link_state;
    let shown = egui::Area::new("hud".into())
        .anchor(egui::Align2::CENTER_TOP, [0.0, 6.0])
        .show(ctx, |ui| {
            egui::Frame::popup(ui.style()).show(ui, |ui| {
                ui.horizontal(|ui| {
                    status_dot(ui, dot);
                    ui.label(long);
                    ui.separator();
                    for status in [
                        AgentStatus::Running,
                        AgentStatus::Awaiting,
                        AgentStatus::Error,
                    ] {
                        let [r, g, b] = Shown::of(status).colour();
                        ui.colored_label(
                            egui::Color32::from_rgb(r, g, b),
                            format!("{} {}", counts.of_status(status), status.as_str()),
                        );
                    }
                    ui.separator();
                    switches(ui, &mut minimap, &mut attention);
                    who(ui, &session, link.as_deref());
                });
            });
        });
    chrome.top = shown.response.rect.bottom() + 4.0;
    map_warning(ctx, &map_problem, chrome.top);
    Ok(())
}

fn status_dot(ui: &mut egui::Ui, colour: egui::Color32) {
    let (rect, _) = ui.allocate_exact_size(egui::vec2(10.0, 10.0), egui::Sense::hover());
    ui.painter().circle_filled(rect.center(), 5.0, colour);
}

/// The phone's top bar: the agents (opening the drawer), who waits, errors
/// and runs, and the link; returns where it ends.
fn top_bar(
    ctx: &mut egui::Context,
    counts: &Counts,
    (dot, long, short): (egui::Color32, String, String),
    drawer_open: &mut bool,
) -> f32 {
    let mut root = super::screen_ui(ctx, "top-bar-root");
    let shown = egui::Panel::top("top-bar")
        .resizable(false)
        .show(&mut root, |ui| {
            ui.horizontal(|ui| {
                let waiting = counts.of_status(AgentStatus::Awaiting);
                let label = if waiting > 0 {
                    egui::RichText::new(format!("☰ {} · {waiting} waiting for you", counts.agents))
                        .color(egui::Color32::from_rgb(240, 180, 40))
                } else {
                    egui::RichText::new(format!("☰ {} agents", counts.agents))
                };
                if ui
                    .selectable_label(*drawer_open, label)
                    .on_hover_text("Every agent and its status")
                    .clicked()
                {
                    *drawer_open = !*drawer_open;
                }
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    for status in [AgentStatus::Error, AgentStatus::Running] {
                        let n = counts.of_status(status);
                        if n > 0 {
                            let [r, g, b] = Shown::of(status).colour();
                            ui.colored_label(
                                egui::Color32::from_rgb(r, g, b),
                                format!("{n} {}", status.as_str()),
                            );
                        }
                    }
                    status_dot(ui, dot);
                    ui.label(short).on_hover_text(long);
                });
            });
        });
    shown.response.rect.bottom()
}

/// The minimap's switch and the alerts menu.
fn switches(
    ui: &mut egui::Ui,
    minimap: &mut ResMut<super::MinimapShown>,
    attention: &mut ResMut<crate::attention::AttentionSettings>,
) {
    if ui
        .selectable_label(minimap.0, "Map")
        .on_hover_text("Show or hide the minimap (M)")
        .clicked()
    {
        minimap.0 = !minimap.0;
    }
    ui.menu_button("Alerts", |ui| {
        let mut wanted = **attention;
        ui.checkbox(&mut wanted.chime, "Chime when an agent waits for you");
        // Notifications are the browser's.
        if cfg!(target_arch = "wasm32") {
            ui.checkbox(&mut wanted.notify, "Notify me while this tab is hidden");
        }
        attention.set_if_neq(wanted);
    });
}

/// Who is signed in (and Sign out in the browser), or why not.
fn who(ui: &mut egui::Ui, session: &Session, link: Option<&GatewayLink>) {
    if let Some(reason) = &session.signed_out {
        ui.separator();
        ui.colored_label(
            egui::Color32::from_rgb(225, 70, 70),
            format!("signed out: {reason}"),
        );
    } else if let Some(info) = session.info.as_ref().filter(|i| !i.open) {
        ui.separator();
        ui.label(format!("{} · {}", info.subject, info.role))
            .on_hover_text("Signed in; runs and answers are recorded under this name");
        // A browser session ends here; the desktop's token comes from its flags.
        if cfg!(target_arch = "wasm32")
            && ui.small_button("Sign out").clicked()
            && let Some(link) = link
        {
            link.send(LinkCommand::SignOut);
        }
    }
}

/// The gateway's office map was refused: say why, under the HUD, until a good one comes.
fn map_warning(ctx: &egui::Context, problem: &crate::office::MapProblem, top: f32) {
    let Some(problem) = &problem.0 else { return };
    egui::Area::new("map-problem".into())
        .anchor(egui::Align2::CENTER_TOP, [0.0, top + 4.0])
        .show(ctx, |ui| {
            egui::Frame::popup(ui.style()).show(ui, |ui| {
                ui.set_max_width((ctx.viewport_rect().width() - 32.0).min(640.0));
                ui.colored_label(
                    egui::Color32::from_rgb(235, 110, 110),
                    format!("Office map not used (the built-in one is shown): {problem}"),
                );
            });
        });
}

/// The violet of the past: the HUD's dot, the slider and the office's frame.
pub const PAST_COLOUR: egui::Color32 = egui::Color32::from_rgb(170, 140, 240);

/// A moment as a person reads it: "Dec 6 03:12:45".
pub fn moment_words(at_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(at_ms)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%b %-d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default()
}

/// Showing the past: what the HUD says instead of the connection.
fn past_words(at_ms: i64) -> (egui::Color32, String, String) {
    let when = moment_words(at_ms);
    (
        PAST_COLOUR,
        format!("the office as of {when}: a replay; nothing can be run or answered (Live returns)"),
        format!("as of {when}"),
    )
}

/// The connection's colour, its full description and one word for small screens.
fn connection_words(state: &LinkState, waited: f32) -> (egui::Color32, String, String) {
    let amber = egui::Color32::from_rgb(240, 180, 40);
    let red = egui::Color32::from_rgb(225, 70, 70);
    match state {
        LinkState::Connected => (
            egui::Color32::from_rgb(70, 190, 100),
            "connected".to_owned(),
            "live".to_owned(),
        ),
        LinkState::Connecting { url } => (
            amber,
            format!("connecting to {url}"),
            "connecting".to_owned(),
        ),
        LinkState::Reconnecting {
            url,
            error,
            retry_in,
            attempt,
        } => {
            let left = (retry_in - waited).max(0.0);
            let (colour, what) = if *attempt > 2 {
                (red, "gateway unreachable")
            } else {
                (amber, "reconnecting")
            };
            (
                colour,
                format!("{what}: {url} ({error}); retry in {left:.0}s"),
                format!("retry in {left:.0}s"),
            )
        }
    }
}
