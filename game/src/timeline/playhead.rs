//! The replay's rules apart from the ECS: a playhead that moves through the
//! past at a speed, the stored events loaded a little ahead of it and handed
//! out as it passes them, and the marks (errors, questions) to jump between.

use protocol::{EventEnvelope, Mark};
use std::collections::VecDeque;

/// The speeds offered (1×: as it happened; 3600×: a day in 24 seconds).
pub const SPEEDS: [f64; 5] = [1.0, 60.0, 600.0, 1800.0, 3600.0];
/// Events are loaded this many seconds of playing ahead of the playhead.
const LOOKAHEAD_SECS: f64 = 3.0;
/// The shortest window of time asked for at once (ms).
const SHORTEST_WINDOW_MS: i64 = 2_000;
/// Events queued at most ahead of the playhead (a very busy night at 3600×
/// waits for the office to catch up rather than fill memory).
const QUEUE_MOST: usize = 20_000;
/// A playhead this close to now has caught up (ms).
const CAUGHT_UP_MS: i64 = 2_000;
/// A jump lands this long after its mark: its event is stored by then
/// (event times are the publisher's, to the second at worst).
pub const JUMP_PAST_MS: i64 = 1_000;

/// A page of a window's events: the window (ms since the epoch, both ends
/// in) and the id it continues after.
pub type PageAsk = ((i64, i64), Option<u64>);

#[derive(Clone, Debug)]
pub struct Playhead {
    /// Where it started: the moment whose roster the office shows first.
    pub origin: i64,
    /// The moment shown (ms since the epoch).
    pub at_ms: f64,
    pub speed: f64,
    pub playing: bool,
    /// The origin's roster arrived: events after it may be handed out.
    pub ready: bool,
    /// Events stored up to this moment are queued or handed out.
    loaded_to: i64,
    asked: Option<PageAsk>,
    /// The rest of a window not read in one page.
    next: Option<PageAsk>,
    queue: VecDeque<(f64, EventEnvelope)>,
}

impl Playhead {
    /// Paused at `at_ms`, at 1×.
    pub fn at(at_ms: i64) -> Playhead {
        Playhead {
            origin: at_ms,
            at_ms: at_ms as f64,
            speed: 1.0,
            playing: false,
            ready: false,
            loaded_to: at_ms,
            asked: None,
            next: None,
            queue: VecDeque::new(),
        }
    }

    pub fn moment(&self) -> i64 {
        self.at_ms as i64
    }

    /// Moves `dt` seconds of the person's time on (at its speed, never past
    /// `now_ms` nor past what is loaded) and hands out the events it passed,
    /// oldest first.
    pub fn advance(&mut self, dt: f64, now_ms: i64) -> Vec<EventEnvelope> {
        if !self.playing || !self.ready {
            return Vec::new();
        }
        let mut limit = now_ms as f64;
        if self.asked.is_some() || self.next.is_some() || self.loaded_to < now_ms {
            limit = limit.min(self.loaded_to as f64);
        }
        self.at_ms = (self.at_ms + dt * self.speed * 1000.0).min(limit.max(self.at_ms));
        let mut passed = Vec::new();
        while self
            .queue
            .front()
            .is_some_and(|(when, _)| *when <= self.at_ms)
        {
            passed.extend(self.queue.pop_front().map(|(_, event)| event));
        }
        passed
    }

    /// It (nearly) reached now: the office can go live, and the live
    /// roster holds whatever the last seconds brought. (The window loaded
    /// ends at the moment it was asked for, so now is always a little ahead.)
    pub fn caught_up(&self, now_ms: i64) -> bool {
        self.playing && self.queue.is_empty() && self.at_ms + CAUGHT_UP_MS as f64 >= now_ms as f64
    }

    /// The page to load next, when the queue runs short of the lookahead;
    /// it counts as asked until [`Playhead::take_page`] has it.
    pub fn wanted(&mut self, now_ms: i64) -> Option<PageAsk> {
        if self.asked.is_some() || self.queue.len() >= QUEUE_MOST {
            return None;
        }
        if let Some(next) = self.next.take() {
            self.asked = Some(next);
            return self.asked;
        }
        let ahead_ms = (self.speed * LOOKAHEAD_SECS * 1000.0) as i64;
        let horizon = self.at_ms as i64 + ahead_ms.max(SHORTEST_WINDOW_MS);
        if self.loaded_to >= horizon || self.loaded_to >= now_ms {
            return None;
        }
        let end = (self.loaded_to + ahead_ms.max(SHORTEST_WINDOW_MS)).min(now_ms);
        self.asked = Some(((self.loaded_to + 1, end), None));
        self.asked
    }

    /// A page arrived; false (and nothing taken) when it is not the one
    /// asked for (an answer to a moment left since).
    pub fn take_page(
        &mut self,
        ask: PageAsk,
        events: Vec<EventEnvelope>,
        next_after: Option<u64>,
    ) -> bool {
        if self.asked != Some(ask) {
            return false;
        }
        self.asked = None;
        let ((from, to), _) = ask;
        for event in events {
            // Handed out at its own time, inside the window it was stored in.
            let when = ms_of(&event.ts).unwrap_or(to).clamp(from, to);
            self.queue.push_back((when as f64, event));
        }
        match next_after {
            Some(after) => self.next = Some(((from, to), Some(after))),
            None => self.loaded_to = to,
        }
        true
    }
}

/// An RFC 3339 time as ms since the epoch.
pub fn ms_of(ts: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(ts)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// The first mark after the moment shown (a jump to it lands past it, so
/// asking again moves on).
pub fn next_mark(marks: &[Mark], at_ms: i64) -> Option<&Mark> {
    marks.iter().find(|m| m.at_ms + JUMP_PAST_MS > at_ms)
}

/// The last mark before the moment shown.
pub fn previous_mark(marks: &[Mark], at_ms: i64) -> Option<&Mark> {
    marks.iter().rev().find(|m| m.at_ms + JUMP_PAST_MS < at_ms)
}

/// The speed that plays `span_ms` in about a minute (1× to 3600×).
pub fn speed_to_fit(span_ms: i64) -> f64 {
    (span_ms as f64 / 60_000.0)
        .clamp(1.0, SPEEDS[SPEEDS.len() - 1])
        .round()
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::EventKind;

    fn event(id: u64, at_ms: i64) -> EventEnvelope {
        let ts = chrono::DateTime::from_timestamp_millis(at_ms)
            .unwrap()
            .to_rfc3339();
        serde_json::from_value(serde_json::json!({
            "id": id, "type": "step", "ts": ts, "npc": "a", "run_id": "r", "message": format!("e{id}")
        }))
        .unwrap()
    }

    const T0: i64 = 1_800_000_000_000;

    #[test]
    fn the_playhead_hands_out_events_as_it_passes_them_at_its_speed() {
        let now = T0 + 3_600_000;
        let mut head = Playhead::at(T0);
        head.speed = 60.0;
        head.playing = true;
        let ask = head.wanted(now).expect("it loads ahead");
        assert_eq!(ask, ((T0 + 1, T0 + 180_000), None), "3 s at 60× ahead");
        assert_eq!(head.wanted(now), None, "one page at a time");
        assert!(
            head.advance(1.0, now).is_empty(),
            "not before its moment loaded"
        );
        head.ready = true;
        assert!(
            !head.take_page(((T0 + 5, T0 + 9), None), vec![event(1, T0 + 6)], None),
            "a page of another moment is dropped"
        );
        let page = vec![
            event(10, T0 + 30_000),
            event(11, T0 + 90_000),
            event(12, T0 + 150_000),
        ];
        assert!(head.take_page(ask, page, None));
        let first: Vec<u64> = head.advance(1.0, now).iter().map(|e| e.id).collect();
        assert_eq!(first, [10], "one second at 60× is a minute");
        assert_eq!(head.moment(), T0 + 60_000);
        let next: Vec<u64> = head.advance(1.5, now).iter().map(|e| e.id).collect();
        assert_eq!(next, [11, 12]);
        // Past what is loaded it waits for the next page instead of skipping events.
        head.advance(10.0, now);
        assert_eq!(head.moment(), T0 + 180_000);
        assert_eq!(head.wanted(now).unwrap().0, (T0 + 180_001, T0 + 360_000));
    }

    #[test]
    fn a_window_longer_than_a_page_is_read_on_and_events_keep_their_window() {
        let now = T0 + 10_000;
        let mut head = Playhead::at(T0);
        head.ready = true;
        head.playing = true;
        let ask = head.wanted(now).unwrap();
        assert_eq!(ask, ((T0 + 1, T0 + 3_000), None));
        // An event whose publisher's clock ran late is handed out by its window's end.
        assert!(head.take_page(ask, vec![event(1, T0 + 999_999)], Some(1)));
        assert_eq!(head.wanted(now), Some(((T0 + 1, T0 + 3_000), Some(1))));
        assert!(head.take_page(((T0 + 1, T0 + 3_000), Some(1)), vec![], None));
        assert_eq!(head.advance(2.9, now).len(), 0);
        assert_eq!(head.advance(0.2, now).len(), 1);
    }

    #[test]
    fn it_catches_up_with_now() {
        let now = T0 + 6_000;
        let mut head = Playhead::at(T0);
        head.ready = true;
        head.playing = true;
        let ask = head.wanted(now).unwrap();
        assert_eq!(ask.0, (T0 + 1, T0 + 3_000));
        head.take_page(ask, vec![], None);
        head.advance(5.0, now);
        assert!(!head.caught_up(now), "three seconds short");
        // Now moved on while the last window was read: close enough is caught up.
        let ask = head.wanted(now).unwrap();
        assert_eq!(ask.0, (T0 + 3_001, now), "never asks beyond now");
        head.take_page(ask, vec![], None);
        head.advance(5.0, now + 1_500);
        assert_eq!(head.moment(), now);
        assert!(head.caught_up(now + 1_500));
        assert!(!head.caught_up(now + 2_500));
    }

    #[test]
    fn marks_are_jumped_to_in_order_and_the_speed_fits_a_minute() {
        let mark = |id: u64, at_ms: i64| Mark {
            id,
            at_ms,
            npc: "a".into(),
            kind: EventKind::Error,
            text: None,
        };
        let marks = [mark(1, T0), mark(2, T0 + 60_000)];
        let first = next_mark(&marks, T0 - 5_000).unwrap();
        assert_eq!(first.id, 1);
        let landed = first.at_ms + JUMP_PAST_MS;
        assert_eq!(next_mark(&marks, landed).unwrap().id, 2);
        assert_eq!(previous_mark(&marks, landed), None);
        assert_eq!(
            previous_mark(&marks, T0 + 60_000 + JUMP_PAST_MS)
                .unwrap()
                .id,
            1
        );
        assert_eq!(next_mark(&marks, T0 + 60_000 + JUMP_PAST_MS), None);
        assert_eq!(speed_to_fit(8 * 3_600_000), 480.0, "a night in a minute");
        assert_eq!(speed_to_fit(10_000), 1.0);
        assert_eq!(speed_to_fit(10 * 86_400_000), 3600.0);
    }
}
