//! While you were away: the office remembers each person's last visit (per
//! browser in the page's local storage, per desktop in a small file, keyed
//! by who is signed in) and, opened after an absence, shows a short card:
//! the runs since, the errors by whom, the questions still waiting and for
//! how long, the cost; "Replay what I missed" plays the interval in about a
//! minute.

use crate::gateway_link::{GatewayLink, LinkCommand, LinkEvent, Session};
use crate::timeline::{Timeline, now_ms};
use bevy::prelude::*;
use protocol::AwaySummary;

/// Away at least this long (ms) before the card shows.
pub const ABSENCE_MS: i64 = 15 * 60_000;
/// The visit is written down this often while the office is open (seconds).
const REMEMBER_EVERY: f64 = 30.0;

/// Where last visits are kept, by who visited.
pub trait VisitBook: Send + Sync + 'static {
    fn last_visit(&self, who: &str) -> Option<i64>;
    fn remember(&self, who: &str, at_ms: i64);
}

/// The office's visit book (the platform's, or one a test hands in).
#[derive(Resource)]
pub struct Visits(pub Box<dyn VisitBook>);

/// A book kept in memory only (headless tests, or nowhere to write).
#[derive(Default)]
pub struct VisitsInMemory(std::sync::Mutex<std::collections::HashMap<String, i64>>);

impl VisitBook for VisitsInMemory {
    fn last_visit(&self, who: &str) -> Option<i64> {
        self.0.lock().ok()?.get(who).copied()
    }
    fn remember(&self, who: &str, at_ms: i64) {
        if let Ok(mut book) = self.0.lock() {
            book.insert(who.to_owned(), at_ms);
        }
    }
}

/// The card: not decided yet, asked for, shown, or not wanted.
#[derive(Resource, Default, Debug, Clone, PartialEq)]
pub enum AwayCard {
    #[default]
    Undecided,
    Asked {
        since: i64,
    },
    Shown(Box<AwaySummary>, i64),
    Closed,
}

/// What the card says, in numbers (the page's mirror carries them).
#[derive(Debug, Clone, PartialEq)]
pub struct AwayFacts {
    pub since_ms: i64,
    pub runs: u64,
    pub failed: u64,
    pub waiting: usize,
    pub cost_usd: f64,
}

impl AwayCard {
    pub fn facts(&self) -> Option<AwayFacts> {
        let AwayCard::Shown(summary, since_ms) = self else {
            return None;
        };
        Some(AwayFacts {
            since_ms: *since_ms,
            runs: summary.runs_started,
            failed: summary.runs_failed,
            waiting: summary.waiting.len(),
            cost_usd: summary.usage.cost_usd,
        })
    }
}

/// Where the card's buttons are, for the page's mirror.
#[derive(Resource, Default, Debug, Clone, PartialEq)]
pub struct AwayControls(pub Vec<(&'static str, [i32; 4])>);

/// The office keeps visits in memory unless the app handed in its
/// platform's book (the page's local storage, the desktop's file) first.
pub fn plugin(app: &mut App) {
    if !app.world().contains_resource::<Visits>() {
        app.insert_resource(Visits(Box::new(VisitsInMemory::default())));
    }
    app.init_resource::<AwayCard>()
        .init_resource::<AwayControls>()
        .add_systems(Update, (notice_absence, take_summary, remember_visit));
}

/// The desktop's book: `<config dir>/esprit-hub/visits.ron`, who → ms.
#[cfg(not(target_arch = "wasm32"))]
pub struct VisitsFile(pub std::path::PathBuf);

#[cfg(not(target_arch = "wasm32"))]
impl VisitsFile {
    fn read(&self) -> std::collections::BTreeMap<String, i64> {
        std::fs::read_to_string(&self.0)
            .ok()
            .and_then(|text| ron::from_str(&text).ok())
            .unwrap_or_default()
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl VisitBook for VisitsFile {
    fn last_visit(&self, who: &str) -> Option<i64> {
        self.read().get(who).copied()
    }

    fn remember(&self, who: &str, at_ms: i64) {
        let mut book = self.read();
        book.insert(who.to_owned(), at_ms);
        let Ok(text) = ron::to_string(&book) else {
            return;
        };
        // A new file renamed over the old: a crash never leaves half of one.
        let fresh = self.0.with_extension("ron.new");
        let written = self
            .0
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&fresh, text))
            .and_then(|()| std::fs::rename(&fresh, &self.0));
        if let Err(e) = written {
            tracing::warn!(file = %self.0.display(), error = %e, "visit not remembered");
        }
    }
}

/// Who the visit is kept for: the signed-in person, or "" on an open gateway.
fn visitor(session: &Session) -> Option<String> {
    let info = session.info.as_ref()?;
    Some(if info.open {
        String::new()
    } else {
        info.subject.clone()
    })
}

/// Once the gateway said who this is: after an absence, ask what happened.
fn notice_absence(
    session: Res<Session>,
    visits: Res<Visits>,
    timeline: Res<Timeline>,
    link: Option<Res<GatewayLink>>,
    mut card: ResMut<AwayCard>,
) {
    if *card != AwayCard::Undecided {
        return;
    }
    let (Some(who), Some(link)) = (visitor(&session), link) else {
        return;
    };
    let now = now_ms();
    *card = match visits.0.last_visit(&who) {
        // A shared moment shows the past already.
        Some(last) if now - last >= ABSENCE_MS && !timeline.is_past() => {
            link.send(LinkCommand::LoadAway { since: last });
            AwayCard::Asked { since: last }
        }
        _ => AwayCard::Closed,
    };
    visits.0.remember(&who, now);
}

fn take_summary(mut link_events: MessageReader<LinkEvent>, mut card: ResMut<AwayCard>) {
    for event in link_events.read() {
        if let (LinkEvent::Away(summary), AwayCard::Asked { since }) = (event, &*card) {
            let since = *since;
            *card = AwayCard::Shown(summary.clone(), since);
        }
    }
}

/// Writes the visit down while the office is open.
fn remember_visit(
    session: Res<Session>,
    visits: Res<Visits>,
    time: Res<Time<Real>>,
    mut written: Local<f64>,
) {
    let clock = time.elapsed_secs_f64();
    if clock - *written < REMEMBER_EVERY {
        return;
    }
    if let Some(who) = visitor(&session) {
        *written = clock;
        visits.0.remember(&who, now_ms());
    }
}

/// "3 h 20 min", "12 min", "40 s".
pub fn duration_words(ms: i64) -> String {
    let secs = ms.max(0) / 1000;
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs / 60),
        3600..86_400 => match (secs % 3600) / 60 {
            0 => format!("{} h", secs / 3600),
            min => format!("{} h {min} min", secs / 3600),
        },
        _ => format!("{} d {} h", secs / 86_400, (secs % 86_400) / 3600),
    }
}

/// The card's lines: what happened, who failed, who still waits, the cost.
pub fn card_lines(summary: &AwaySummary, names: &dyn Fn(&str) -> String, now: i64) -> Vec<String> {
    let mut lines = vec![format!(
        "{} runs started · {} done · {} failed",
        summary.runs_started, summary.runs_done, summary.runs_failed
    )];
    let mut by_whom: Vec<(String, usize, &str)> = Vec::new();
    for error in &summary.errors {
        let name = names(&error.npc);
        match by_whom.iter_mut().find(|(n, ..)| *n == name) {
            Some((_, count, _)) => *count += 1,
            None => by_whom.push((name, 1, &error.error)),
        }
    }
    for (name, count, last) in by_whom {
        let times = if count == 1 {
            String::new()
        } else {
            format!(" ×{count}")
        };
        lines.push(format!(
            "✖ {name}{times}: {}",
            crate::npc::truncate(last, 60)
        ));
    }
    for question in &summary.waiting {
        let waited = crate::timeline::playhead::ms_of(&question.since)
            .map(|at| format!(" (waiting {})", duration_words(now - at)))
            .unwrap_or_default();
        lines.push(format!(
            "? {} asks: {}{waited}",
            names(&question.npc),
            crate::npc::truncate(&question.question, 60)
        ));
    }
    let usage = &summary.usage;
    if usage.cost_usd > 0.0 {
        lines.push(format!(
            "Cost: {}",
            protocol::usage::dollars(usage.cost_usd)
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_card_says_what_happened_by_whom_and_how_long_they_wait() {
        let summary: AwaySummary = serde_json::from_value(serde_json::json!({
            "since": "2026-12-06T01:00:00Z", "until": "2026-12-06T09:00:00Z",
            "runs_started": 12, "runs_done": 9, "runs_failed": 3,
            "errors": [
                {"agent": "dex", "npc": "dex", "run_id": "r3", "error": "disk full", "at": "2026-12-06T05:00:00Z"},
                {"agent": "dex", "npc": "dex", "run_id": "r2", "error": "timeout", "at": "2026-12-06T04:00:00Z"},
                {"agent": "ana", "npc": "ana", "run_id": "r1", "error": "bad key", "at": "2026-12-06T03:00:00Z"}
            ],
            "waiting": [{"agent": "bo", "npc": "bo", "run_id": "r9", "question": "Ship it?", "since": "2026-12-06T07:00:00Z"}],
            "usage": {"input_tokens": 0, "output_tokens": 0, "cost_usd": 1.25, "runs": 12}
        }))
        .unwrap();
        let now = crate::timeline::playhead::ms_of("2026-12-06T09:30:00Z").unwrap();
        let names = |npc: &str| npc.to_uppercase();
        assert_eq!(
            card_lines(&summary, &names, now),
            [
                "12 runs started · 9 done · 3 failed",
                "✖ DEX ×2: disk full",
                "✖ ANA: bad key",
                "? BO asks: Ship it? (waiting 2 h 30 min)",
                "Cost: $1.25",
            ]
        );
        assert_eq!(duration_words(45_000), "45 s");
        assert_eq!(duration_words(3 * 86_400_000 + 7_200_000), "3 d 2 h");
    }

    #[test]
    fn visits_are_kept_per_person_in_the_desktop_file() {
        let dir = std::env::temp_dir().join(format!("esprit-visits-{}", std::process::id()));
        let book = VisitsFile(dir.join("visits.ron"));
        assert_eq!(book.last_visit("ana"), None);
        book.remember("ana", 1_000);
        book.remember("bo", 2_000);
        book.remember("ana", 3_000);
        let again = VisitsFile(dir.join("visits.ron"));
        assert_eq!(
            (again.last_visit("ana"), again.last_visit("bo")),
            (Some(3_000), Some(2_000))
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
