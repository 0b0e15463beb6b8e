//! The time slider under the office: Live, the previous and next mark,
//! play/pause and the speed, then the slider itself over the last days with
//! a tick for every error (red) and every question (amber), and the moment
//! shown. While the office shows the past, a violet frame runs round it.

use super::Chrome;
use super::hud::{PAST_COLOUR, moment_words};
use crate::timeline::playhead::SPEEDS;
use crate::timeline::{Timeline, TimelineRequest, now_ms};
use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};
use protocol::EventKind;

/// Where the slider's controls are, for the page's mirror.
#[derive(Resource, Default, Debug, Clone, PartialEq)]
pub struct TimelineControls(pub Vec<(&'static str, [i32; 4])>);

const TRACK_HEIGHT: f32 = 18.0;
const ERROR_COLOUR: egui::Color32 = egui::Color32::from_rgb(225, 70, 70);
const WAIT_COLOUR: egui::Color32 = egui::Color32::from_rgb(240, 180, 40);

/// "3600×", "60×".
fn speed_words(speed: f64) -> String {
    format!("{speed:.0}×")
}

/// The bar in one of its two places: on a phone (`phone_slot`) at the very
/// bottom, under the approval banner and the agent's sheet; on a wide screen
/// between the roster and the agent's panel.
pub(super) fn bar(
    phone_slot: bool,
) -> impl FnMut(
    EguiContexts,
    Res<Timeline>,
    ResMut<Chrome>,
    MessageWriter<TimelineRequest>,
    ResMut<TimelineControls>,
    Local<Option<i64>>,
) -> Result {
    move |contexts, timeline, chrome, requests, controls, dragged| {
        if chrome.compact != phone_slot {
            return Ok(());
        }
        draw_bar(contexts, timeline, chrome, requests, controls, dragged)
    }
}

fn draw_bar(
    mut contexts: EguiContexts,
    timeline: Res<Timeline>,
    mut chrome: ResMut<Chrome>,
    mut requests: MessageWriter<TimelineRequest>,
    mut controls: ResMut<TimelineControls>,
    mut dragged: Local<Option<i64>>,
) -> Result {
    let ctx = contexts.ctx_mut()?;
    let viewport = ctx.viewport_rect();
    let now = now_ms();
    let start = timeline.slider_start(now);
    let shown = timeline.past();
    let area = egui::Rect::from_min_max(
        egui::pos2(viewport.left() + chrome.left, chrome.top),
        egui::pos2(
            viewport.right() - chrome.right,
            viewport.bottom() - chrome.bottom,
        ),
    );
    let mut root = super::area_ui(ctx, "timeline-root", area);
    let mut placed: Vec<(&'static str, egui::Rect)> = Vec::new();
    let mut asked = Vec::new();
    let compact = chrome.compact;
    let frame = egui::Frame::side_top_panel(&ctx.global_style())
        .inner_margin(egui::Margin::symmetric(8, 4));
    let panel = egui::Panel::bottom("timeline")
        .resizable(false)
        .frame(frame)
        .show(&mut root, |ui| {
            let colour = if shown.is_some() {
                PAST_COLOUR
            } else {
                ui.visuals().text_color()
            };
            let words = shown.map_or_else(|| "now".to_owned(), moment_words);
            ui.horizontal(|ui| {
                time_buttons(ui, &timeline, compact, &mut asked, &mut placed);
                // A phone has one row: its HUD says the moment.
                let label_width = if compact { 0.0 } else { 130.0 };
                let size = egui::vec2(ui.available_width() - label_width, TRACK_HEIGHT + 6.0);
                ui.allocate_ui(size, |ui| {
                    let span = (start, now);
                    slider(ui, &timeline, span, &mut dragged, &mut asked, &mut placed);
                });
                if !compact {
                    ui.colored_label(colour, &words);
                }
            });
        });
    let bar_top = panel.response.rect.top();
    chrome.bottom = viewport.bottom() - bar_top;
    if shown.is_some() {
        // The office, framed in violet: what it shows is not now.
        let office = egui::Rect::from_min_max(
            egui::pos2(viewport.left() + chrome.left, chrome.top),
            egui::pos2(viewport.right() - chrome.right, bar_top),
        );
        let painter = ctx.layer_painter(egui::LayerId::new(
            egui::Order::Background,
            "past-frame".into(),
        ));
        painter.rect_stroke(
            office.shrink(2.0),
            0.0,
            egui::Stroke::new(4.0, PAST_COLOUR),
            egui::StrokeKind::Inside,
        );
    }
    for request in asked {
        requests.write(request);
    }
    controls.set_if_neq(TimelineControls(
        placed
            .into_iter()
            .map(|(name, r)| (name, super::corners(r)))
            .collect(),
    ));
    Ok(())
}

/// Live, the previous mark, play/pause, the next mark and (room allowing)
/// the speed.
fn time_buttons(
    ui: &mut egui::Ui,
    timeline: &Timeline,
    compact: bool,
    asked: &mut Vec<TimelineRequest>,
    placed: &mut Vec<(&'static str, egui::Rect)>,
) {
    let past = timeline.is_past();
    let live = ui
        .selectable_label(!past, "Live")
        .on_hover_text("Back to now");
    placed.push(("timeline-live", live.rect));
    if live.clicked() && past {
        asked.push(TimelineRequest::Live);
    }
    let previous = ui
        .button("⏮")
        .on_hover_text("The previous error or question");
    placed.push(("timeline-previous", previous.rect));
    if previous.clicked() {
        asked.push(TimelineRequest::PreviousMark);
    }
    let playing = timeline.playhead.as_ref().is_some_and(|h| h.playing);
    let play = ui.add_enabled(past, egui::Button::new(if playing { "⏸" } else { "▶" }));
    placed.push(("timeline-play", play.rect));
    if play.clicked() {
        asked.push(if playing {
            TimelineRequest::Pause
        } else {
            TimelineRequest::Play
        });
    }
    let next = ui.button("⏭").on_hover_text("The next error or question");
    placed.push(("timeline-next", next.rect));
    if next.clicked() {
        asked.push(TimelineRequest::NextMark);
    }
    if compact {
        // A phone keeps one row (the page's mirror sets the speed there).
        return;
    }
    let speed = timeline.playhead.as_ref().map_or(1.0, |h| h.speed);
    let menu = egui::ComboBox::from_id_salt("timeline-speed")
        .width(64.0)
        .selected_text(speed_words(speed))
        .show_ui(ui, |ui| {
            for choice in SPEEDS {
                if ui
                    .selectable_label(choice == speed, speed_words(choice))
                    .clicked()
                {
                    asked.push(TimelineRequest::Speed(choice));
                }
            }
        });
    placed.push(("timeline-speed", menu.response.rect));
}

/// The track over `span` (ms since the epoch), its marks and the playhead;
/// a drag or a click asks for the moment under the pointer.
fn slider(
    ui: &mut egui::Ui,
    timeline: &Timeline,
    span: (i64, i64),
    dragged: &mut Option<i64>,
    asked: &mut Vec<TimelineRequest>,
    placed: &mut Vec<(&'static str, egui::Rect)>,
) {
    let (start, end) = span;
    let width = ui.available_width().max(60.0);
    let (rect, response) = ui.allocate_exact_size(
        egui::vec2(width, TRACK_HEIGHT),
        egui::Sense::click_and_drag(),
    );
    placed.push(("timeline", rect));
    let length = (end - start).max(1) as f32;
    let x_of =
        |ms: i64| rect.left() + rect.width() * ((ms - start) as f32 / length).clamp(0.0, 1.0);
    let ms_of =
        |x: f32| start + (((x - rect.left()) / rect.width()).clamp(0.0, 1.0) * length) as i64;
    let painter = ui.painter_at(rect.expand(2.0));
    let track = egui::Rect::from_center_size(rect.center(), egui::vec2(rect.width(), 6.0));
    painter.rect_filled(track, 3.0, ui.visuals().widgets.inactive.bg_fill);
    for mark in &timeline.marks {
        if mark.at_ms < start {
            continue;
        }
        let colour = if mark.kind == EventKind::Error {
            ERROR_COLOUR
        } else {
            WAIT_COLOUR
        };
        let x = x_of(mark.at_ms);
        painter.line_segment(
            [
                egui::pos2(x, rect.top() + 2.0),
                egui::pos2(x, rect.bottom() - 2.0),
            ],
            egui::Stroke::new(2.0, colour),
        );
    }
    let at = dragged.or(timeline.past()).unwrap_or(end);
    let knob = egui::pos2(x_of(at), rect.center().y);
    let colour = if at < end {
        PAST_COLOUR
    } else {
        egui::Color32::from_rgb(70, 190, 100)
    };
    painter.circle(
        knob,
        7.0,
        colour,
        egui::Stroke::new(1.5, egui::Color32::WHITE),
    );
    if let Some(pointer) = response.interact_pointer_pos()
        && (response.dragged() || response.clicked())
    {
        let wanted = ms_of(pointer.x);
        if *dragged != Some(wanted) {
            *dragged = Some(wanted);
            asked.push(TimelineRequest::Seek(wanted));
        }
    }
    if !response.dragged() {
        *dragged = None;
    }
    let hover = response.hover_pos().map(|p| ms_of(p.x));
    if let Some(hovered) = hover {
        let near = timeline
            .marks
            .iter()
            .filter(|m| m.at_ms >= start)
            .min_by_key(|m| (x_of(m.at_ms) - x_of(hovered)).abs() as i64)
            .filter(|m| (x_of(m.at_ms) - x_of(hovered)).abs() < 4.0);
        let text = match near {
            Some(mark) => format!(
                "{} · {} {}: {}",
                moment_words(mark.at_ms),
                mark.npc,
                if mark.kind == EventKind::Error {
                    "failed"
                } else {
                    "asked"
                },
                mark.text.as_deref().unwrap_or("")
            ),
            None => moment_words(hovered),
        };
        response.on_hover_text_at_pointer(text);
    }
}
