//! Things on the office's walls that show live facts: the whiteboard (runs
//! today, running, waiting, errors; what the fleet spent today, its burn
//! rate and where that pace leads) and the clock (the local time). While
//! the office shows the past, both show that moment: the clock its time, the
//! board that day's runs up to it (the money lines, which are about now, rest).

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
    /// The past moment's count: that day's runs up to it.
    past: Option<PastCount>,
}

/// Runs of a past day up to a moment: those started since its midnight less
/// those started since the moment (the gateway counts from a moment on).
#[derive(Debug, Default, Clone)]
struct PastCount {
    midnight: String,
    moment: String,
    moment_ms: i64,
    since_midnight: Option<u64>,
    since_moment: Option<u64>,
}

impl RunsToday {
    /// The count the board shows: today's, or the shown past day's up to its moment.
    fn shown(&self, past: bool) -> Option<u64> {
        if past {
            let count = self.past.as_ref()?;
            Some(count.since_midnight?.saturating_sub(count.since_moment?))
        } else {
            self.count.as_ref().map(|(_, n)| *n)
        }
    }
}

/// A past moment's count is asked again once the replay moved this far (ms).
const PAST_RECOUNT_MS: i64 = 60_000;

/// What the fleet's runs cost, as the gateway totals it: today, and the
/// last hour (its burn rate).
#[derive(Resource, Debug, Default, Clone)]
pub struct FleetUsage {
    /// The local day and its total, once known.
    pub today: Option<(String, protocol::UsageTotals)>,
    /// Dollars spent in the last hour.
    pub last_hour_usd: Option<f64>,
    /// Usage was reported (or the day turned) since the last read.
    stale: bool,
    asked_at: Option<f64>,
    /// The `since` asked for the last hour, to tell its answer apart.
    hour_since: Option<String>,
}

/// Seconds between two reads of the fleet's usage: its burn rate moves with time too.
const REREAD_USAGE_EVERY: f64 = 60.0;
/// Seconds each of the usage line's two sayings stays up.
const USAGE_LINE_TURN: f64 = 5.0;

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
    app.init_resource::<RunsToday>()
        .init_resource::<FleetUsage>()
        .add_systems(
            Update,
            (
                spawn_fixtures,
                count_runs_today,
                read_fleet_usage,
                write_whiteboard,
                tick_clock,
            )
                .chain()
                .after(crate::office::LayoutSystems),
        );
}

/// The local day and the RFC 3339 moment it began.
pub fn local_day() -> (String, String) {
    day_of(chrono::Local::now())
}

/// The local day of a moment and the RFC 3339 moment it began.
fn day_of(now: chrono::DateTime<chrono::Local>) -> (String, String) {
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
        // running and waiting side by side, then errors, then the money.
        let (left, right, top) = (board.x + 4.0, board.x + board.w - 4.0, board.y + 7.0);
        let items = [
            (left, 0.0, Align2::LEFT_TOP, Color::srgb(0.15, 0.15, 0.2)),
            (left, 6.0, Align2::LEFT_TOP, Color::srgb(0.18, 0.45, 0.85)),
            (right, 6.0, Align2::RIGHT_TOP, Color::srgb(0.8, 0.55, 0.05)),
            (left, 12.0, Align2::LEFT_TOP, Color::srgb(0.8, 0.2, 0.2)),
            (left, 18.0, Align2::LEFT_TOP, Color::srgb(0.1, 0.45, 0.25)),
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
    timeline: Res<crate::timeline::Timeline>,
) {
    let (day, midnight) = local_day();
    for event in link_events.read() {
        if let (LinkEvent::RunsToday { since, started }, Some(past)) = (event, runs.past.as_mut()) {
            if *since == past.midnight {
                past.since_midnight = Some(*started);
            }
            if *since == past.moment {
                past.since_moment = Some(*started);
            }
        }
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
    if let Some(at) = timeline.past() {
        let moved = runs
            .past
            .as_ref()
            .is_none_or(|p| (p.moment_ms - at).abs() >= PAST_RECOUNT_MS);
        if let (true, true, Some(link), Some(then)) = (
            moved,
            due,
            &link,
            chrono::DateTime::from_timestamp_millis(at),
        ) {
            let then = then.with_timezone(&chrono::Local);
            let (_, midnight) = day_of(then);
            let moment = then.to_rfc3339();
            link.send(LinkCommand::CountRuns {
                since: midnight.clone(),
            });
            link.send(LinkCommand::CountRuns {
                since: moment.clone(),
            });
            runs.past = Some(PastCount {
                midnight,
                moment,
                moment_ms: at,
                ..PastCount::default()
            });
            runs.asked_at = Some(now);
        }
        return;
    }
    runs.past = None;
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

/// Reads the fleet's usage today and in the last hour when connected, when
/// usage is reported (at most every two seconds), every minute (the burn
/// rate moves), and when the day turns.
fn read_fleet_usage(
    mut link_events: MessageReader<LinkEvent>,
    mut usage: ResMut<FleetUsage>,
    connection: Res<Connection>,
    link: Option<Res<GatewayLink>>,
    time: Res<Time>,
) {
    let (day, midnight) = local_day();
    for event in link_events.read() {
        match event {
            LinkEvent::Live(e) if e.fields.contains_key("usage") => usage.stale = true,
            LinkEvent::State(LinkState::Connected) => usage.stale = true,
            LinkEvent::Usage { since, report } if *since == midnight => {
                usage.today = Some((day.clone(), report.total.clone()));
            }
            LinkEvent::Usage { since, report } if Some(since) == usage.hour_since.as_ref() => {
                usage.last_hour_usd = Some(report.total.cost_usd);
            }
            _ => {}
        }
    }
    if usage.today.as_ref().is_some_and(|(d, _)| *d != day) {
        usage.today = None;
        usage.stale = true;
    }
    let now = time.elapsed_secs_f64();
    let since_asked = usage.asked_at.map_or(f64::INFINITY, |at| now - at);
    let due = (usage.stale && since_asked >= RECOUNT_EVERY) || since_asked >= REREAD_USAGE_EVERY;
    if due
        && connection.0 == LinkState::Connected
        && let Some(link) = link
    {
        let hour_ago = (chrono::Local::now() - chrono::Duration::hours(1)).to_rfc3339();
        link.send(LinkCommand::FetchUsage { since: midnight });
        link.send(LinkCommand::FetchUsage {
            since: hour_ago.clone(),
        });
        usage.hour_since = Some(hour_ago);
        usage.stale = false;
        usage.asked_at = Some(now);
    }
}

/// Where today's spending is headed at the last hour's pace: by 18:00 while
/// the working day lasts, else by midnight. `now` is the local time of day
/// in hours.
pub fn forecast(spent: f64, per_hour: f64, now: f64) -> (f64, &'static str) {
    let (until, label) = if now < 18.0 {
        (18.0, "18:00")
    } else {
        (24.0, "midnight")
    };
    (spent + per_hour.max(0.0) * (until - now), label)
}

/// The money line, one of its two sayings by the clock (`turn`): what the
/// fleet spent today and its burn rate, or where that pace leads. Empty
/// while nothing reported a cost today.
pub fn usage_line(usage: &FleetUsage, hour_of_day: f64, turn: u64) -> String {
    use protocol::usage::dollars;
    let Some((_, today)) = &usage.today else {
        return String::new();
    };
    if today.cost_usd <= 0.0 {
        return String::new();
    }
    let rate = usage.last_hour_usd.unwrap_or(0.0);
    if turn % 2 == 1 && rate > 0.0 {
        let (total, by) = forecast(today.cost_usd, rate, hour_of_day);
        return format!("at this pace {} by {by}", dollars(total));
    }
    format!("{} today · {}/h", dollars(today.cost_usd), dollars(rate))
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
    usage: Res<FleetUsage>,
    npcs: Query<&NpcStatus>,
    mut lines: Query<(&BoardLine, &mut WorldText)>,
    time: Res<Time>,
    timeline: Res<crate::timeline::Timeline>,
) {
    use chrono::Timelike;
    if lines.is_empty() {
        return;
    }
    let statuses: Vec<AgentStatus> = npcs
        .iter()
        .filter(|s| !s.offline)
        .map(|s| s.status)
        .collect();
    let past = timeline.is_past();
    let counts = whiteboard_lines(runs.shown(past), &statuses);
    let now = chrono::Local::now();
    let hour = f64::from(now.hour()) + f64::from(now.minute()) / 60.0;
    let turn = (time.elapsed_secs_f64() / USAGE_LINE_TURN) as u64;
    let money = if past {
        String::new()
    } else {
        usage_line(&usage, hour, turn)
    };
    for (line, mut shown) in &mut lines {
        let text = counts.get(line.0).unwrap_or(&money);
        if shown.text != *text {
            shown.text = text.clone();
        }
    }
}

fn tick_clock(
    mut clocks: Query<(&mut WallClock, &Sprite)>,
    mut images: Option<ResMut<Assets<Image>>>,
    timeline: Res<crate::timeline::Timeline>,
) {
    use chrono::Timelike;
    let Some(images) = images.as_mut() else {
        return;
    };
    // The replayed moment's time while the office shows the past.
    let shown = timeline
        .past()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|at| at.with_timezone(&chrono::Local));
    let now = shown.unwrap_or_else(chrono::Local::now);
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
    fn the_money_line_says_the_day_and_where_its_pace_leads() {
        let usage = FleetUsage {
            today: Some((
                "2026-12-06".into(),
                protocol::UsageTotals {
                    cost_usd: 3.41,
                    ..Default::default()
                },
            )),
            last_hour_usd: Some(0.85),
            ..Default::default()
        };
        assert_eq!(usage_line(&usage, 14.0, 0), "$3.41 today · $0.850/h");
        assert_eq!(usage_line(&usage, 14.0, 1), "at this pace $6.81 by 18:00");
        assert_eq!(
            usage_line(&usage, 20.0, 1),
            "at this pace $6.81 by midnight"
        );
        assert_eq!(
            usage_line(&FleetUsage::default(), 14.0, 0),
            "",
            "quiet without usage"
        );
        assert_eq!(forecast(1.0, -2.0, 17.0), (1.0, "18:00"));
    }

    #[test]
    fn the_local_day_starts_at_midnight_with_its_offset() {
        let (day, midnight) = local_day();
        assert!(midnight.starts_with(&day), "{midnight} is on {day}");
        assert!(midnight.contains("T00:00:00"), "{midnight}");
    }
}
