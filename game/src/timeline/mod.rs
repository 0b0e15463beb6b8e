//! The office remembers: it shows any past moment (the roster as it stood
//! then), plays the stored events on from there at 1× to 3600×, and jumps
//! between the errors and questions marked on the slider. "Live" returns to
//! now. Replayed events reach the characters exactly as live ones do (as
//! [`LinkEvent::Live`] messages), so statuses, bubbles and walks follow.

pub mod playhead;

use crate::gateway_link::{GatewayLink, GatewaySettings, LinkCommand, LinkEvent};
use crate::roster::RosterSystems;
use bevy::prelude::*;
use bevy::window::RequestRedraw;
use playhead::{JUMP_PAST_MS, Playhead};
use protocol::{EventKind, Mark};

/// How far back the slider reaches at most.
pub const SLIDER_DAYS: i64 = 7;
const DAY_MS: i64 = 86_400_000;
/// Seeks while the slider is dragged go out at most this often (seconds).
const SEEK_EVERY: f64 = 0.2;
/// A seek this close to now is a return to live (ms).
const LIVE_WITHIN_MS: i64 = 1_000;
/// Marks kept (the oldest go).
const MARKS_KEPT: usize = 5_000;

/// What the office shows: live, or a moment of the past being replayed.
#[derive(Resource, Default, Debug)]
pub struct Timeline {
    /// `None` while live.
    pub playhead: Option<Playhead>,
    /// Errors and questions asked, oldest first.
    pub marks: Vec<Mark>,
    /// When the oldest stored event was stored (ms since the epoch).
    pub first_ms: Option<i64>,
    marks_asked: bool,
    /// A moment to load, not sent yet (the slider moves faster than moments load).
    seek: Option<i64>,
    seek_sent_at: Option<f64>,
}

impl Timeline {
    /// The moment shown (ms since the epoch), or `None` while live.
    pub fn past(&self) -> Option<i64> {
        self.playhead.as_ref().map(Playhead::moment)
    }

    pub fn is_past(&self) -> bool {
        self.playhead.is_some()
    }

    /// Where the slider starts: the oldest stored event, at most
    /// [`SLIDER_DAYS`] ago (an hour ago when nothing is stored yet).
    pub fn slider_start(&self, now_ms: i64) -> i64 {
        let oldest = now_ms - SLIDER_DAYS * DAY_MS;
        self.first_ms
            .unwrap_or(now_ms - 3_600_000)
            .clamp(oldest, now_ms - 60_000)
    }
}

/// What the slider, its buttons, the summary card and the page ask for.
#[derive(Message, Clone, Debug, PartialEq)]
pub enum TimelineRequest {
    /// Show this moment (ms since the epoch); near now, go live.
    Seek(i64),
    Play,
    Pause,
    Speed(f64),
    Live,
    NextMark,
    PreviousMark,
    /// Play from `since` at `speed` (the summary card's "replay what I missed").
    Replay {
        since: i64,
        speed: f64,
    },
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<Timeline>()
        .add_message::<TimelineRequest>()
        // Headless offices have no window plugin to add it.
        .add_message::<RequestRedraw>()
        .add_systems(Startup, open_at_the_shared_moment)
        .add_systems(
            Update,
            (take_requests, follow_link, send_seeks, play)
                .chain()
                .before(RosterSystems),
        );
}

/// A page opened with `?at=` (a shared moment) starts there.
fn open_at_the_shared_moment(
    settings: Option<Res<GatewaySettings>>,
    mut requests: MessageWriter<TimelineRequest>,
) {
    if let Some(at) = settings.and_then(|s| s.at) {
        requests.write(TimelineRequest::Seek(at));
    }
}

fn take_requests(
    mut requests: MessageReader<TimelineRequest>,
    mut timeline: ResMut<Timeline>,
    link: Option<Res<GatewayLink>>,
) {
    let now = now_ms();
    for request in requests.read() {
        let shown = timeline.past().unwrap_or(now);
        let target = match request {
            TimelineRequest::Seek(at) => Some(*at),
            TimelineRequest::Replay { since, .. } => Some(*since),
            TimelineRequest::NextMark => {
                playhead::next_mark(&timeline.marks, shown).map(|m| m.at_ms + JUMP_PAST_MS)
            }
            TimelineRequest::PreviousMark => {
                playhead::previous_mark(&timeline.marks, shown).map(|m| m.at_ms + JUMP_PAST_MS)
            }
            TimelineRequest::Live => Some(now),
            TimelineRequest::Play | TimelineRequest::Pause | TimelineRequest::Speed(_) => None,
        };
        if let Some(at) = target {
            seek(&mut timeline, at, now, link.as_deref());
        }
        let Some(head) = timeline.playhead.as_mut() else {
            continue;
        };
        match request {
            TimelineRequest::Play => head.playing = true,
            TimelineRequest::Pause => head.playing = false,
            TimelineRequest::Speed(speed) => head.speed = speed.clamp(1.0, 3600.0),
            TimelineRequest::Replay { speed, .. } => {
                head.speed = speed.clamp(1.0, 3600.0);
                head.playing = true;
            }
            _ => {}
        }
    }
}

/// Shows `at` (keeping the speed and whether it plays), or goes live when
/// `at` is now.
fn seek(timeline: &mut Timeline, at: i64, now: i64, link: Option<&GatewayLink>) {
    if at >= now - LIVE_WITHIN_MS {
        if timeline.playhead.take().is_some() {
            timeline.seek = None;
            if let Some(link) = link {
                link.send(LinkCommand::GoLive);
            }
        }
        return;
    }
    let at = at.max(0);
    let mut head = Playhead::at(at);
    if let Some(before) = &timeline.playhead {
        head.speed = before.speed;
        head.playing = before.playing;
    }
    timeline.playhead = Some(head);
    timeline.seek = Some(at);
}

fn follow_link(mut link_events: MessageReader<LinkEvent>, mut timeline: ResMut<Timeline>) {
    for event in link_events.read() {
        match event {
            LinkEvent::Moment { at: Some(at), .. } => {
                if let Some(head) = timeline.playhead.as_mut().filter(|h| h.origin == *at) {
                    head.ready = true;
                }
            }
            LinkEvent::Replay {
                window,
                after,
                events,
                next_after,
            } => {
                if let Some(head) = timeline.playhead.as_mut() {
                    head.take_page((*window, *after), events.clone(), *next_after);
                }
            }
            LinkEvent::Marks { window, marks } => {
                // Marks seen live since the window's end stay.
                let newer: Vec<Mark> = timeline
                    .marks
                    .drain(..)
                    .filter(|m| m.at_ms > window.1)
                    .collect();
                timeline.marks = marks.marks.clone();
                timeline.marks.extend(newer);
                timeline.first_ms = marks.first_ms;
            }
            LinkEvent::Live(event) if !timeline.is_past() => {
                let marked = matches!(event.kind, EventKind::Error | EventKind::Awaiting);
                let newest = timeline.marks.last().map_or(0, |m| m.id);
                if marked && event.id > newest {
                    timeline.marks.push(Mark {
                        id: event.id,
                        at_ms: playhead::ms_of(&event.ts).unwrap_or_else(now_ms),
                        npc: event.npc.clone(),
                        kind: event.kind,
                        text: event.message().map(str::to_owned),
                    });
                    let gone = timeline.marks.len().saturating_sub(MARKS_KEPT);
                    timeline.marks.drain(..gone);
                }
                timeline.first_ms.get_or_insert_with(now_ms);
            }
            _ => {}
        }
    }
}

/// Loads the slider's marks once, and the moment dragged to (not more often
/// than [`SEEK_EVERY`]).
fn send_seeks(
    mut timeline: ResMut<Timeline>,
    link: Option<Res<GatewayLink>>,
    time: Res<Time<Real>>,
    mut redraw: MessageWriter<RequestRedraw>,
) {
    let Some(link) = link else { return };
    if !timeline.marks_asked {
        timeline.marks_asked = true;
        let now = now_ms();
        link.send(LinkCommand::LoadMarks {
            window: (now - SLIDER_DAYS * DAY_MS, now),
        });
    }
    let Some(at) = timeline.seek else { return };
    let clock = time.elapsed_secs_f64();
    if timeline
        .seek_sent_at
        .is_none_or(|sent| clock - sent >= SEEK_EVERY)
    {
        timeline.seek = None;
        timeline.seek_sent_at = Some(clock);
        link.send(LinkCommand::ShowMoment { at });
    } else {
        // Rendering on demand: come back for it.
        redraw.write(RequestRedraw);
    }
}

/// Moves the playhead and hands the events it passes to the office; at now,
/// goes live.
fn play(
    mut timeline: ResMut<Timeline>,
    link: Option<Res<GatewayLink>>,
    time: Res<Time<Real>>,
    mut out: MessageWriter<LinkEvent>,
    mut redraw: MessageWriter<RequestRedraw>,
) {
    let now = now_ms();
    let Some(head) = timeline.playhead.as_mut() else {
        return;
    };
    let passed = head.advance(time.delta_secs_f64(), now);
    out.write_batch(passed.into_iter().map(LinkEvent::Live));
    if let (Some(link), Some((window, after))) = (&link, head.wanted(now)) {
        link.send(LinkCommand::LoadReplay { window, after });
    }
    if head.playing {
        redraw.write(RequestRedraw);
    }
    if head.caught_up(now) {
        timeline.playhead = None;
        if let Some(link) = link {
            link.send(LinkCommand::GoLive);
        }
    }
}
