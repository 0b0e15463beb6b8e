//! The NPC panel: who, status, the question it waits on, Run with a payload,
//! Cancel, Open in Studio, its live log and its recent runs.

use super::form::FormDraft;
use super::{CommandFeedback, pill, screen_ui, title};
use crate::gateway_link::{GatewayLink, GatewaySettings, LinkCommand};
use crate::npc::status::{NpcLog, NpcRuns, NpcStatus, Shown};
use crate::roster::Npc;
use crate::selection::Selected;
use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};

/// Text the person is typing, kept across frames.
#[derive(Resource, Debug)]
pub struct PanelState {
    pub payload: String,
    pub comment: String,
    /// What is filled in for the question the run waits on.
    pub draft: FormDraft,
    pub payload_error: Option<String>,
    /// The phone layout's bottom sheet: its share of the free height.
    pub sheet: f32,
}

impl Default for PanelState {
    fn default() -> Self {
        PanelState {
            payload: "{}".into(),
            comment: String::new(),
            draft: FormDraft::default(),
            payload_error: None,
            sheet: SHEET_DEFAULT,
        }
    }
}

/// The bottom sheet opens at half height, drags up to nearly all of it, and
/// closes when dragged below a quarter.
const SHEET_DEFAULT: f32 = 0.5;
const SHEET_MAX: f32 = 0.92;
const SHEET_CLOSE: f32 = 0.25;
const SHEET_MIN: f32 = 0.1;

/// Validates the payload editor's text before anything is sent.
pub fn parse_payload(text: &str) -> Result<serde_json::Value, String> {
    if text.trim().is_empty() {
        return Ok(serde_json::json!({}));
    }
    serde_json::from_str(text).map_err(|e| format!("payload is not JSON: {e}"))
}

pub(super) fn panel(
    mut contexts: EguiContexts,
    mut selected: ResMut<Selected>,
    npcs: Query<(&Npc, &NpcStatus, &NpcLog, &NpcRuns)>,
    mut state: ResMut<PanelState>,
    feedback: Res<CommandFeedback>,
    link: Option<Res<GatewayLink>>,
    settings: Option<Res<GatewaySettings>>,
    time: Res<Time>,
    mut chrome: ResMut<super::Chrome>,
    mut controls: ResMut<super::PanelControls>,
    timeline: Res<crate::timeline::Timeline>,
) -> Result {
    // Nothing is run or answered from the past.
    let past = timeline.is_past();
    let Some(entity) = selected.0 else {
        state.sheet = SHEET_DEFAULT;
        controls.set_if_neq(super::PanelControls::default());
        return Ok(());
    };
    let Ok((npc, status, log, runs)) = npcs.get(entity) else {
        selected.0 = None;
        return Ok(());
    };
    let ctx = contexts.ctx_mut()?;
    let viewport = ctx.viewport_rect();
    let send = |command: LinkCommand| {
        if let Some(link) = &link {
            link.send(command);
        }
    };
    let mut close = false;
    // On a phone: a sheet over the bottom of the office, above the banner.
    let free = egui::Rect::from_min_max(
        egui::pos2(viewport.left(), chrome.top),
        egui::pos2(viewport.right(), viewport.bottom() - chrome.bottom),
    );
    let sheet_height = (free.height() * state.sheet).round();
    let (mut root, panel) = if chrome.compact {
        (
            super::area_ui(ctx, "sheet-root", free),
            egui::Panel::bottom("npc-sheet")
                .exact_size(sheet_height)
                .resizable(false),
        )
    } else {
        (
            screen_ui(ctx, "panel-root"),
            egui::Panel::right("npc-panel")
                .default_size(360.0)
                .resizable(true),
        )
    };
    let compact = chrome.compact;
    let mut placed: Vec<(&'static str, egui::Rect)> = Vec::new();
    let shown = panel.show(&mut root, |ui| {
        if compact {
            close |= sheet_handle(ui, &mut state, free.height());
        }
        close |= header(ui, npc, status, time.elapsed_secs_f64());
        ui.add_space(4.0);
        if let Some(question) = &status.question {
            ui.add_enabled_ui(!past, |ui| ask(ui, npc, question, &mut state, &send));
        }
        family(ui, npc, npcs.iter().map(|(other, ..)| other));
        if !npc.observe_only {
            let studio = settings
                .as_ref()
                .map(|s| s.absolute(&npc.studio_url))
                .unwrap_or(npc.studio_url.clone());
            let acts = Acts { send: &send, past };
            run_controls(ui, npc, status, &mut state, &acts, &studio, &mut placed);
        }
        usage(ui, npc, status, &Acts { send: &send, past });
        said(ui, &state, feedback.0.get(&npc.agent));
        ui.separator();
        log_view(ui, log);
        ui.separator();
        recent_runs(ui, runs);
    });
    if compact {
        // The size asked for: the response's rect also spans content that overflows.
        chrome.bottom += sheet_height;
    } else {
        chrome.right = viewport.right() - shown.response.rect.left();
    }
    if close {
        selected.0 = None;
        state.sheet = SHEET_DEFAULT;
    }
    controls.set_if_neq(super::PanelControls(
        placed
            .into_iter()
            .map(|(name, r)| (name, super::corners(r)))
            .collect(),
    ));
    Ok(())
}

/// The bottom sheet's handle: drag up to expand, down to close; true when let go low.
fn sheet_handle(ui: &mut egui::Ui, state: &mut PanelState, free_height: f32) -> bool {
    let (handle, response) =
        ui.allocate_exact_size(egui::vec2(ui.available_width(), 20.0), egui::Sense::drag());
    ui.painter().rect_filled(
        egui::Rect::from_center_size(handle.center(), egui::vec2(48.0, 5.0)),
        3.0,
        ui.visuals().weak_text_color(),
    );
    if response.dragged() {
        state.sheet = (state.sheet - response.drag_delta().y / free_height.max(1.0))
            .clamp(SHEET_MIN, SHEET_MAX);
        false
    } else {
        state.sheet < SHEET_CLOSE
    }
}

/// Who, with a close button, and the status line; true when closed.
fn header(ui: &mut egui::Ui, npc: &Npc, status: &NpcStatus, now: f64) -> bool {
    let mut close = false;
    ui.horizontal(|ui| {
        ui.heading(title(npc));
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            close = ui.button("×").on_hover_text("Close (Esc)").clicked();
        });
    });
    ui.horizontal(|ui| {
        pill(ui, status.shown());
        if let Some(run_id) = &status.run_id {
            ui.monospace(run_id);
        }
        if let (Some(started), true) = (status.run_started_at, status.shown().is_busy()) {
            ui.label(format!("{:.0}s", now - started));
        }
    });
    if let Some(why) = status.out_of_reach() {
        ui.colored_label(egui::Color32::from_rgb(190, 190, 200), why);
    }
    close
}

/// Where a visitor came from, who spawned it and whom it spawned, and when
/// it leaves; nothing for an agent of agents.json or Sim with no sub-agents.
fn family<'a>(ui: &mut egui::Ui, npc: &Npc, everyone: impl Iterator<Item = &'a Npc> + Clone) {
    let name_of = |wanted: &str| {
        everyone
            .clone()
            .find(|other| other.npc == wanted)
            .map_or(wanted.to_owned(), |other| other.name.clone())
    };
    let sub_agents: Vec<String> = everyone
        .clone()
        .filter(|other| other.spawned_by() == Some(npc.npc.as_str()))
        .map(|other| other.name.clone())
        .collect();
    if let Some(visit) = &npc.visitor {
        let source = match visit.source.as_str() {
            "claude-code" => "Claude Code".to_owned(),
            _ => format!("OpenTelemetry from {}", visit.service),
        };
        ui.label(format!(
            "Reported by {source}; its runs start where it runs. Leaves after {} idle.",
            idle_words(visit.leaves_after_idle_secs)
        ));
        if let Some(parent) = &visit.spawned_by {
            ui.label(format!("Sub-agent of {}", name_of(parent)));
        }
    }
    if !sub_agents.is_empty() {
        ui.label(format!("Spawned: {}", sub_agents.join(", ")));
    }
}

/// 20 → "20 s", 600 → "10 min", 7200 → "2 h".
fn idle_words(secs: u64) -> String {
    match secs {
        0..120 => format!("{secs} s"),
        120..7200 => format!("{} min", secs / 60),
        _ => format!("{} h", secs / 3600),
    }
}

/// How the panel acts: what sends a command, and whether the office shows
/// the past (where nothing is run, cancelled or lifted).
struct Acts<'a> {
    send: &'a dyn Fn(LinkCommand),
    past: bool,
}

/// Why an action is greyed out in the past.
const PAST_HINT: &str = "This is the office as it was: go Live to act";

/// What the runs cost: the run in progress (or the last), today, and the
/// daily budget, with "Lift the bench" when it is over. Nothing when the
/// agent reported no usage and has no budget.
fn usage(ui: &mut egui::Ui, npc: &Npc, status: &NpcStatus, acts: &Acts) {
    use protocol::usage::{dollars, thousands};
    if let Some(run) = status
        .run_usage
        .as_ref()
        .filter(|u| !u.summary().is_empty())
    {
        ui.label(format!("This run: {}", run.summary()));
    }
    if let Some(today) = status
        .usage_today
        .as_ref()
        .filter(|u| u.cost_usd > 0.0 || u.runs > 0)
    {
        let tokens = today.input_tokens + today.output_tokens;
        let mut line = format!("Today: {} · {} runs", dollars(today.cost_usd), today.runs);
        if tokens > 0 {
            line.push_str(&format!(" · {} tokens", thousands(tokens)));
        }
        ui.label(line);
    }
    let Some(budget) = &status.budget else { return };
    ui.horizontal_wrapped(|ui| {
        let spent = status
            .usage_today
            .as_ref()
            .map_or(budget.spent_today_usd, |u| u.cost_usd);
        ui.label(format!(
            "Budget: {} of {} today",
            dollars(spent),
            dollars(budget.daily_usd)
        ));
        if budget.hard {
            ui.weak("(hard: a run that crosses it is cancelled)");
        }
    });
    if budget.benched {
        ui.colored_label(
            egui::Color32::from_rgb(255, 140, 120),
            "Over budget: new runs are refused today.",
        );
        let lift = ui
            .add_enabled(!acts.past, egui::Button::new("Lift the bench for today"))
            .on_disabled_hover_text(PAST_HINT);
        if lift.clicked() {
            (acts.send)(LinkCommand::LiftBench {
                agent: npc.agent.clone(),
            });
        }
    } else if let Some(by) = &budget.lifted_by {
        ui.weak(format!("Bench lifted for today by {by}"));
    }
}

/// The question the run waits on: what it shows, its form, one button per answer.
fn ask(
    ui: &mut egui::Ui,
    npc: &Npc,
    question: &protocol::PendingQuestion,
    state: &mut PanelState,
    send: &dyn Fn(LinkCommand),
) {
    state.draft.follow(question);
    egui::Frame::group(ui.style())
        .fill(egui::Color32::from_rgb(60, 50, 20))
        .show(ui, |ui| {
            ui.label(egui::RichText::new(&question.question).strong());
            if !question.details.is_empty() {
                egui::Grid::new("question-details")
                    .num_columns(2)
                    .show(ui, |ui| {
                        for detail in &question.details {
                            ui.weak(&detail.label);
                            ui.label(&detail.value);
                            ui.end_row();
                        }
                    });
            }
            for field in FormDraft::shown_fields(question) {
                form_field(ui, field, &mut state.draft);
            }
            if question.form.is_empty() {
                let comment_field = ui.add(
                    egui::TextEdit::singleline(&mut state.comment).hint_text("comment (optional)"),
                );
                focus_on_lift(ui, &comment_field);
            }
            ui.horizontal(|ui| {
                for choice in FormDraft::buttons(question) {
                    if !ui.button(&choice).clicked() {
                        continue;
                    }
                    match state.draft.answer(question, &choice) {
                        Ok(answer) => {
                            let comment =
                                (!state.comment.trim().is_empty()).then(|| state.comment.clone());
                            send(LinkCommand::Respond {
                                agent: npc.agent.clone(),
                                run_id: question.run_id.clone(),
                                decision: answer.decision,
                                comment,
                                input: answer.input,
                            });
                            state.comment.clear();
                            state.draft.problem = None;
                        }
                        Err(problem) => state.draft.problem = Some(problem),
                    }
                }
            });
            if let Some(problem) = &state.draft.problem {
                ui.colored_label(egui::Color32::from_rgb(255, 140, 120), problem);
            }
        });
}

/// One field of a question's form: yes/no and choices picked, the rest typed.
fn form_field(ui: &mut egui::Ui, field: &protocol::FormField, draft: &mut FormDraft) {
    let label = if field.required {
        format!("{} *", field.shown_name())
    } else {
        field.shown_name().to_owned()
    };
    ui.horizontal_wrapped(|ui| {
        ui.label(&label);
        match field.kind {
            protocol::FieldKind::Boolean => {
                let mut value = draft.flag(&field.name);
                ui.selectable_value(&mut value, Some(true), "yes");
                ui.selectable_value(&mut value, Some(false), "no");
                if !field.required {
                    ui.selectable_value(&mut value, None, "—");
                }
                draft.set_flag(&field.name, value);
            }
            protocol::FieldKind::Text if !field.options.is_empty() => {
                let chosen = draft.text(&field.name);
                egui::ComboBox::from_id_salt(("form-choice", &field.name))
                    .selected_text(chosen.as_str())
                    .show_ui(ui, |ui| {
                        for option in &field.options {
                            ui.selectable_value(chosen, option.clone(), option);
                        }
                    });
            }
            kind => {
                let hint = field.placeholder.as_deref().unwrap_or(match kind {
                    protocol::FieldKind::Number => "a number",
                    protocol::FieldKind::Json => "JSON",
                    _ => "",
                });
                let text = draft.text(&field.name);
                let editor = if kind == protocol::FieldKind::Json {
                    egui::TextEdit::multiline(text)
                        .code_editor()
                        .desired_rows(2)
                } else {
                    egui::TextEdit::singleline(text)
                };
                let edited = ui.add(editor.hint_text(hint));
                focus_on_lift(ui, &edited);
            }
        }
    });
    if let Some(description) = &field.description {
        ui.weak(description);
    }
}

/// The payload, then Run, Cancel and Open in Studio (the payload first:
/// typing that lands in the same frame as a tap on Run is in the payload sent).
fn run_controls(
    ui: &mut egui::Ui,
    npc: &Npc,
    status: &NpcStatus,
    state: &mut PanelState,
    acts: &Acts,
    studio: &str,
    placed: &mut Vec<(&'static str, egui::Rect)>,
) {
    let payload = egui::CollapsingHeader::new("Payload (JSON)")
        .default_open(false)
        .show(ui, |ui| {
            let editor = ui.add(
                egui::TextEdit::multiline(&mut state.payload)
                    .code_editor()
                    .desired_rows(3),
            );
            focus_on_lift(ui, &editor);
            editor.rect
        });
    placed.push(("payload-toggle", payload.header_response.rect));
    if let Some(editor) = payload.body_returned {
        placed.push(("payload", editor));
    }
    ui.horizontal(|ui| {
        let busy = status.shown().is_busy();
        let benched = status.shown().benched;
        let run = ui
            .add_enabled(!busy && !benched && !acts.past, egui::Button::new("▶ Run"))
            .on_disabled_hover_text(if acts.past {
                PAST_HINT
            } else if benched {
                "Over its daily budget: lift the bench to run it today"
            } else {
                "A run is in progress"
            });
        placed.push(("run", run.rect));
        if run.clicked() {
            match parse_payload(&state.payload) {
                Ok(payload) => {
                    state.payload_error = None;
                    (acts.send)(LinkCommand::Run {
                        agent: npc.agent.clone(),
                        payload,
                    });
                }
                Err(e) => state.payload_error = Some(e),
            }
        }
        if busy
            && ui
                .add_enabled(!acts.past, egui::Button::new("■ Cancel"))
                .clicked()
            && let Some(run_id) = &status.run_id
        {
            (acts.send)(LinkCommand::Cancel {
                agent: npc.agent.clone(),
                run_id: run_id.clone(),
            });
        }
        if ui.button("Open in Studio ↗").clicked() {
            ui.ctx().open_url(egui::OpenUrl::new_tab(studio));
        }
    });
}

/// What went wrong with the payload, and what the gateway last said about
/// this agent's commands.
fn said(ui: &mut egui::Ui, state: &PanelState, feedback: Option<&Result<String, String>>) {
    if let Some(error) = &state.payload_error {
        ui.colored_label(egui::Color32::from_rgb(225, 90, 90), error);
    }
    match feedback {
        Some(Err(message)) => {
            ui.colored_label(egui::Color32::from_rgb(225, 90, 90), message);
        }
        Some(Ok(message)) => {
            ui.weak(message);
        }
        None => {}
    }
}

/// The agent's events, newest last.
fn log_view(ui: &mut egui::Ui, log: &NpcLog) {
    ui.label(egui::RichText::new("Log").strong());
    egui::ScrollArea::vertical()
        .id_salt("log")
        .max_height(ui.available_height() * 0.6)
        .stick_to_bottom(true)
        .auto_shrink([false, false])
        .show(ui, |ui| {
            if log.more_before {
                ui.weak("… older events in /api/history");
            }
            for event in log.entries.values() {
                let time = event.ts.get(11..19).unwrap_or(&event.ts);
                let line = format!(
                    "{time} {:<8} {}",
                    event.kind.as_str(),
                    event.message().unwrap_or("")
                );
                let colour = match event.kind {
                    protocol::EventKind::Error => egui::Color32::from_rgb(235, 110, 110),
                    protocol::EventKind::Done => egui::Color32::from_rgb(110, 210, 130),
                    protocol::EventKind::Awaiting => egui::Color32::from_rgb(240, 190, 80),
                    _ => ui.visuals().text_color(),
                };
                ui.add(
                    egui::Label::new(egui::RichText::new(line).monospace().color(colour))
                        .selectable(true),
                );
            }
        });
}

/// The agent's recent runs, newest first.
fn recent_runs(ui: &mut egui::Ui, runs: &NpcRuns) {
    ui.label(egui::RichText::new("Recent runs").strong());
    egui::ScrollArea::vertical().id_salt("runs").show(ui, |ui| {
        if runs.0.is_empty() {
            ui.weak("no runs yet");
        }
        for run in &runs.0 {
            let status = Shown::of(run.status);
            ui.horizontal(|ui| {
                pill(ui, status);
                ui.monospace(run.started_at.get(11..19).unwrap_or(&run.started_at));
                if let Some(ms) = run.duration_ms {
                    ui.label(format!("{:.1}s", ms as f64 / 1000.0));
                }
                if let Some(error) = &run.error {
                    ui.colored_label(
                        egui::Color32::from_rgb(235, 110, 110),
                        crate::npc::truncate(error, 40),
                    );
                }
            });
        }
    });
}

/// A finger lifted on a text field focuses it, whichever frames the touch
/// began and ended in: egui alone misses a tap whose press and release land
/// in different frames of a slow page, and the phone's keyboard then types
/// into nothing. The release's own position decides: when the lift and the
/// pointer leaving arrive in one frame, egui has already forgotten where the
/// pointer was.
fn focus_on_lift(ui: &egui::Ui, field: &egui::Response) {
    let lifted_on_it = ui.input(|i| {
        i.events.iter().any(|event| {
            matches!(event, egui::Event::PointerButton { pos, pressed: false, .. }
                if field.rect.contains(*pos))
        })
    });
    if lifted_on_it && !ui.memory(|m| m.has_focus(field.id)) {
        field.request_focus();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_times_read_as_people_say_them() {
        assert_eq!(idle_words(20), "20 s");
        assert_eq!(idle_words(600), "10 min");
        assert_eq!(idle_words(7200), "2 h");
    }

    #[test]
    fn payloads_are_validated_before_sending() {
        assert_eq!(parse_payload("").unwrap(), serde_json::json!({}));
        assert_eq!(
            parse_payload(r#"{"x": 1}"#).unwrap(),
            serde_json::json!({"x": 1})
        );
        assert!(
            parse_payload("{x: 1}")
                .unwrap_err()
                .starts_with("payload is not JSON")
        );
    }
}
