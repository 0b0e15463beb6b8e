//! Things on the office's walls that show live facts: the whiteboard (runs
//! today, running, waiting, errors) and the clock (the local time).

use crate::art::{Art, clock_face};
use crate::gateway_link::{GatewayLink, LinkCommand, LinkEvent, LinkState};
use crate::npc::status::NpcStatus;
use crate::office::{CurrentPlan, PlanChanged, depth, world};
use crate::roster::Connection;
use crate::world_text::WorldText;
use bevy::prelude::*;
use bevy_egui::egui::Align2;
use protocol::{AgentStatus, EventKind};

/// Runs started since local midnight, as the gateway counts them.
#[derive(Resource, Debug, Default, Clone)]
pub struct RunsToday {
    /// The local day counted (`YYYY-MM-DD`) and its count, once known.
    pub count: Option<(String, u64)>,
    /// A `started` arrived (or the day turned) since the last count was asked for.
    stale: bool,
    /// When the last count was asked for (office clock).
    asked_at: Option<f64>,
}

/// The whiteboard's letters (world px).
const BOARD_TEXT: f32 = 5.0;

/// Seconds between two counts, however many runs start.
const RECOUNT_EVERY: f64 = 2.0;

#[derive(Component)]
struct BoardLine(usize);

#[derive(Component)]
struct WallClock {
    shown: Option<(u32, u32)>,
}

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<RunsToday>().add_systems(
        Update,
        (
            spawn_fixtures,
            count_runs_today,
            write_whiteboard,
            tick_clock,
        )
            .chain()
            .after(crate::office::LayoutSystems),
    );
}

/// The local day and the RFC 3339 moment it began.
pub fn local_day() -> (String, String) {
    let now = chrono::Local::now();
    let day = now.date_naive();
    let midnight = day
        .and_hms_opt(0, 0, 0)
        .and_then(|t| t.and_local_timezone(chrono::Local).earliest())
        .map(|t| t.to_rfc3339())
        .unwrap_or_else(|| now.to_rfc3339());
    (day.to_string(), midnight)
}

fn spawn_fixtures(
    mut commands: Commands,
    mut changed: MessageReader<PlanChanged>,
    plan: Res<CurrentPlan>,
    art: Option<Res<Art>>,
    mut images: Option<ResMut<Assets<Image>>>,
    old: Query<Entity, Or<(With<BoardLine>, With<WallClock>)>>,
) {
    if changed.read().count() == 0 {
        return;
    }
    let (Some(_), Some(images)) = (art, images.as_mut()) else {
        return;
    };
    for entity in &old {
        commands.entity(entity).despawn();
    }
    if let Some(board) = plan.0.map.whiteboard {
        // Inside the board's white surface: the day's count on top, then
        // running and waiting side by side, then errors.
        let (left, right, top) = (board.x + 4.0, board.x + board.w - 4.0, board.y + 7.0);
        let items = [
            (left, 0.0, Align2::LEFT_TOP, Color::srgb(0.15, 0.15, 0.2)),
            (left, 6.0, Align2::LEFT_TOP, Color::srgb(0.18, 0.45, 0.85)),
            (right, 6.0, Align2::RIGHT_TOP, Color::srgb(0.8, 0.55, 0.05)),
            (left, 12.0, Align2::LEFT_TOP, Color::srgb(0.8, 0.2, 0.2)),
        ];
        for (line, (x, dy, anchor, colour)) in items.into_iter().enumerate() {
            let at = world(Vec2::new(x, top + dy));
            commands.spawn((
                Name::new("Whiteboard line"),
                BoardLine(line),
                WorldText::new("", BOARD_TEXT, colour, anchor),
                Transform::from_translation(at.extend(depth(board.y) + 0.5)),
            ));
        }
    }
    if let Some(clock) = plan.0.map.clock {
        let centre = Vec2::new(clock.x + clock.w / 2.0, clock.y + clock.h / 2.0);
        let handle = images.add(clock_face(0, 0).into_image());
        commands.spawn((
            Name::new("Wall clock"),
            WallClock { shown: None },
            Sprite::from_image(handle),
            Transform::from_translation(world(centre).extend(depth(clock.y) + 0.5)),
        ));
    }
}

/// Asks the gateway for today's count when connected, when a run starts
/// (at most every two seconds) and when the day turns.
fn count_runs_today(
    mut link_events: MessageReader<LinkEvent>,
    mut runs: ResMut<RunsToday>,
    connection: Res<Connection>,
    link: Option<Res<GatewayLink>>,
    time: Res<Time>,
) {
    let (day, midnight) = local_day();
    for event in link_events.read() {
        match event {
            LinkEvent::Live(e) if e.kind == EventKind::Started => runs.stale = true,
            LinkEvent::State(LinkState::Connected) => runs.stale = true,
            LinkEvent::RunsToday { since, started } if *since == midnight => {
                runs.count = Some((day.clone(), *started));
            }
            _ => {}
        }
    }
    if runs.count.as_ref().is_some_and(|(d, _)| *d != day) {
        runs.count = None;
        runs.stale = true;
    }
    let now = time.elapsed_secs_f64();
    let due = runs.asked_at.is_none_or(|at| now - at >= RECOUNT_EVERY);
    if runs.stale
        && due
        && connection.0 == LinkState::Connected
        && let Some(link) = link
    {
        link.send(LinkCommand::CountRuns { since: midnight });
        runs.stale = false;
        runs.asked_at = Some(now);
    }
}

/// The four numbers, in words that fit the board.
pub fn whiteboard_lines(runs_today: Option<u64>, statuses: &[AgentStatus]) -> [String; 4] {
    let count = |wanted: AgentStatus| statuses.iter().filter(|s| **s == wanted).count();
    [
        match runs_today {
            Some(n) => format!("{n} runs today"),
            None => "runs today: …".to_owned(),
        },
        format!("{} running", count(AgentStatus::Running)),
        format!("{} waiting", count(AgentStatus::Awaiting)),
        format!(
            "{} error{}",
            count(AgentStatus::Error),
            if count(AgentStatus::Error) == 1 {
                ""
            } else {
                "s"
            }
        ),
    ]
}

fn write_whiteboard(
    runs: Res<RunsToday>,
    npcs: Query<&NpcStatus>,
    mut lines: Query<(&BoardLine, &mut WorldText)>,
) {
    if lines.is_empty() {
        return;
    }
    let statuses: Vec<AgentStatus> = npcs
        .iter()
        .filter(|s| !s.offline)
        .map(|s| s.status)
        .collect();
    let text = whiteboard_lines(runs.count.as_ref().map(|(_, n)| *n), &statuses);
    for (line, mut shown) in &mut lines {
        if shown.text != text[line.0] {
            shown.text = text[line.0].clone();
        }
    }
}

fn tick_clock(
    mut clocks: Query<(&mut WallClock, &Sprite)>,
    mut images: Option<ResMut<Assets<Image>>>,
) {
    use chrono::Timelike;
    let Some(images) = images.as_mut() else {
        return;
    };
    let now = chrono::Local::now();
    let time = (now.hour(), now.minute());
    for (mut clock, sprite) in &mut clocks {
        if clock.shown != Some(time) {
            clock.shown = Some(time);
            if let Some(mut image) = images.get_mut(&sprite.image) {
                *image = clock_face(time.0, time.1).into_image();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_whiteboard_counts_what_the_office_shows() {
        let statuses = [
            AgentStatus::Running,
            AgentStatus::Running,
            AgentStatus::Awaiting,
            AgentStatus::Idle,
            AgentStatus::Error,
        ];
        assert_eq!(
            whiteboard_lines(Some(12), &statuses),
            ["12 runs today", "2 running", "1 waiting", "1 error"]
        );
        assert_eq!(whiteboard_lines(None, &[])[0], "runs today: …");
        assert_eq!(whiteboard_lines(None, &[])[3], "0 errors");
    }

    #[test]
    fn the_local_day_starts_at_midnight_with_its_offset() {
        let (day, midnight) = local_day();
        assert!(midnight.starts_with(&day), "{midnight} is on {day}");
        assert!(midnight.contains("T00:00:00"), "{midnight}");
    }
}
