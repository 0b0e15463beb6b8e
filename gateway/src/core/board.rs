//! The status board: what each npc is doing, kept current by every commit in
//! id order, so the roster is one lock away and never a store query.

use crate::store::{BROADCAST_NPC, StoredEvent};
use protocol::{AgentStatus, EventKind, PendingQuestion};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// What the roster shows of one npc.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NpcState {
    pub status: AgentStatus,
    /// The run in progress, if any (a second Run is refused while it is set).
    pub open_run: Option<String>,
    /// The latest run, open or ended.
    pub run_id: Option<String>,
    pub last_message: Option<String>,
    pub last_event_at: Option<String>,
    pub last_event_id: Option<u64>,
    /// The unanswered question of the open run.
    pub question: Option<PendingQuestion>,
}

#[derive(Default)]
pub struct StatusBoard {
    npcs: Mutex<HashMap<String, NpcState>>,
    last_id: AtomicU64,
}

impl StatusBoard {
    pub fn apply(&self, event: &StoredEvent) {
        self.last_id.fetch_max(event.id, Ordering::Relaxed);
        if event.npc == BROADCAST_NPC {
            return;
        }
        let mut npcs = self.npcs.lock().expect("status lock");
        let state = npcs.entry(event.npc.clone()).or_default();
        // Told twice (a restore overlapping the live feed): once counts.
        if state.last_event_id.is_some_and(|seen| seen >= event.id) {
            return;
        }
        state.status = state.status.after(event.kind);
        if let Some(run_id) = &event.run_id {
            state.run_id = Some(run_id.clone());
            match event.kind {
                EventKind::Started => state.open_run = Some(run_id.clone()),
                kind if kind.is_terminal() && state.open_run.as_ref() == Some(run_id) => {
                    state.open_run = None;
                }
                _ => {}
            }
        }
        state.question = match event.kind {
            EventKind::Awaiting if event.run_id.is_some() => event
                .envelope()
                .ok()
                .and_then(|e| PendingQuestion::from_event(&e)),
            EventKind::Roster => state.question.take(),
            _ => None,
        };
        if event.message.is_some() {
            state.last_message = event.message.clone();
        }
        state.last_event_at = Some(event.ts.clone());
        state.last_event_id = Some(event.id);
    }

    /// Restores an open run after a restart (its events may have been pruned).
    pub fn restore_open_run(&self, npc: &str, run_id: &str, question: Option<PendingQuestion>) {
        let mut npcs = self.npcs.lock().expect("status lock");
        let state = npcs.entry(npc.to_owned()).or_default();
        state.open_run = Some(run_id.to_owned());
        state.run_id = Some(run_id.to_owned());
        if !state.status.is_busy() {
            state.status = if question.is_some() {
                AgentStatus::Awaiting
            } else {
                AgentStatus::Running
            };
        }
        state.question = question;
    }

    pub fn get(&self, npc: &str) -> NpcState {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn stored(id: u64, kind: EventKind, run_id: Option<&str>, extra: &str) -> StoredEvent {
        let run = run_id.map_or(String::new(), |r| format!(r#","run_id":"{r}""#));
        let json = format!(r#"{{"id":{id},"type":"{kind}","ts":"t{id}","npc":"a"{run}{extra}}}"#);
        let envelope: protocol::EventEnvelope = serde_json::from_str(&json).unwrap();
        StoredEvent::new(
            id,
            kind,
            "a".into(),
            run_id.map(Into::into),
            format!("t{id}"),
            envelope.message().map(str::to_owned),
            Arc::from(json.as_str()),
        )
    }

    #[test]
    fn a_run_opens_asks_and_closes() {
        let board = StatusBoard::default();
        board.apply(&stored(1, EventKind::Started, Some("r1"), ""));
        assert_eq!(board.get("a").open_run.as_deref(), Some("r1"));
        board.apply(&stored(
            2,
            EventKind::Awaiting,
            Some("r1"),
            r#","question":"Ship?","options":["yes","no"]"#,
        ));
        let asked = board.get("a");
        assert_eq!(asked.status, AgentStatus::Awaiting);
        let question = asked.question.unwrap();
        assert_eq!(
            (question.question.as_str(), question.event_id),
            ("Ship?", 2)
        );
        assert_eq!(question.options, ["yes", "no"]);
        board.apply(&stored(3, EventKind::Response, Some("r1"), ""));
        assert_eq!(board.get("a").question, None);
        board.apply(&stored(4, EventKind::Done, Some("r1"), ""));
        let done = board.get("a");
        assert_eq!((done.status, done.open_run), (AgentStatus::Done, None));
        assert_eq!(done.run_id.as_deref(), Some("r1"));
        assert_eq!(board.last_id(), 4);
    }

    #[test]
    fn a_bare_step_shows_but_opens_no_run() {
        let board = StatusBoard::default();
        board.apply(&stored(1, EventKind::Step, None, r#","message":"hi""#));
        let state = board.get("a");
        assert_eq!(state.status, AgentStatus::Running);
        assert_eq!(state.open_run, None);
        assert_eq!(state.last_message.as_deref(), Some("hi"));
    }
}
