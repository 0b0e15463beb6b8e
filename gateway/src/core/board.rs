//! The status board: what each npc is doing, kept current by every commit in
//! id order, so the roster is one lock away and never a store query. Each
//! npc's state is the one status fold ([`AgentState`]) of its events; the
//! board adds only that a roster line stays short.

use crate::store::{BROADCAST_NPC, StoredEvent};
use protocol::{AgentState, PendingQuestion};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(serde::Serialize, serde::Deserialize)]
struct Snapshot {
    last_id: u64,
    npcs: HashMap<String, AgentState>,
}

#[derive(Default)]
pub struct StatusBoard {
    npcs: Mutex<HashMap<String, AgentState>>,
    last_id: AtomicU64,
}

/// The roster's line of an npc: the full text is in its history; the
/// roster stays small however long a message was.
const ROSTER_MESSAGE_CHARS: usize = 1000;

fn shortened(message: &str) -> String {
    match message.char_indices().nth(ROSTER_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &message[..cut]),
        None => message.to_owned(),
    }
}

impl StatusBoard {
    pub fn apply(&self, event: &StoredEvent) {
        self.last_id.fetch_max(event.id, Ordering::Relaxed);
        if event.npc == BROADCAST_NPC {
            return;
        }
        let mut npcs = self.npcs.lock().expect("status lock");
        let state = npcs.entry(event.npc.clone()).or_default();
        let mut fold = event.fold_event();
        let short = fold.message.map(shortened);
        fold.message = short.as_deref();
        state.apply(fold);
    }

    /// Restores an open run after a restart (its events may have been pruned).
    pub fn restore_open_run(&self, npc: &str, run_id: &str, question: Option<PendingQuestion>) {
        let mut npcs = self.npcs.lock().expect("status lock");
        npcs.entry(npc.to_owned())
            .or_default()
            .restore_open_run(run_id, question);
    }

    pub fn get(&self, npc: &str) -> AgentState {
        self.npcs
            .lock()
            .expect("status lock")
            .get(npc)
            .cloned()
            .unwrap_or_default()
    }

    pub fn last_id(&self) -> u64 {
        self.last_id.load(Ordering::Relaxed)
    }

    pub fn note_last_id(&self, id: u64) {
        self.last_id.fetch_max(id, Ordering::Relaxed);
    }

    /// Every npc's state and the last id folded, as a checkpoint keeps them.
    pub fn snapshot(&self) -> String {
        let npcs = self.npcs.lock().expect("status lock");
        serde_json::to_string(&Snapshot {
            last_id: self.last_id(),
            npcs: npcs.clone(),
        })
        .expect("states serialize")
    }

    /// A board as a checkpoint kept it.
    pub fn from_snapshot(text: &str) -> Result<StatusBoard, serde_json::Error> {
        let snapshot: Snapshot = serde_json::from_str(text)?;
        Ok(StatusBoard {
            npcs: Mutex::new(snapshot.npcs),
            last_id: AtomicU64::new(snapshot.last_id),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::EventFacts;
    use protocol::{AgentStatus, EventKind, Question};
    use std::sync::Arc;

    fn stored(
        id: u64,
        kind: EventKind,
        run_id: Option<&str>,
        message: Option<&str>,
    ) -> StoredEvent {
        StoredEvent::new(
            id,
            kind,
            "a".into(),
            run_id.map(Into::into),
            format!("t{id}"),
            message.map(Into::into),
            Arc::from("{}"),
        )
    }

    #[test]
    fn a_run_opens_asks_and_closes_from_the_events_facts() {
        let board = StatusBoard::default();
        board.apply(&stored(1, EventKind::Started, Some("r1"), None));
        assert_eq!(board.get("a").open_run.as_deref(), Some("r1"));
        let mut asked = stored(2, EventKind::Awaiting, Some("r1"), Some("Ship?"));
        asked.facts = EventFacts {
            question: Some(Arc::new(Question {
                question: "Ship?".into(),
                options: vec!["yes".into(), "no".into()],
                ..Question::default()
            })),
            ..EventFacts::default()
        };
        board.apply(&asked);
        let state = board.get("a");
        assert_eq!(state.status, AgentStatus::Awaiting);
        let question = state.question.unwrap();
        assert_eq!(
            (question.question.as_str(), question.event_id),
            ("Ship?", 2)
        );
        assert_eq!(question.options, ["yes", "no"]);
        board.apply(&stored(3, EventKind::Response, Some("r1"), None));
        assert_eq!(board.get("a").question, None);
        board.apply(&stored(4, EventKind::Done, Some("r1"), None));
        let done = board.get("a");
        assert_eq!((done.status, done.open_run), (AgentStatus::Done, None));
        assert_eq!(board.last_id(), 4);
    }

    #[test]
    fn the_roster_keeps_a_long_message_short() {
        let board = StatusBoard::default();
        let long = "é".repeat(5000);
        board.apply(&stored(1, EventKind::Step, None, Some(&long)));
        let shown = board.get("a").last_message.unwrap();
        assert_eq!(shown.chars().count(), ROSTER_MESSAGE_CHARS + 1);
        assert!(shown.ends_with('…'));
    }
}
