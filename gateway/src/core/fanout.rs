//! What follows a commit, in id order, on every gateway sharing the store:
//! the status board, run callback tokens, the backends (answers and ends of
//! their runs), then the hub's subscribers.

use super::board::StatusBoard;
use super::moments::CHECKPOINT_EVERY;
use crate::auth::RunTokens;
use crate::backends::Backends;
use crate::hub::EventHub;
use crate::store::{CommitListener, StoredEvent};
use protocol::EventKind;
use std::sync::Arc;

pub struct CommitFanout {
    board: Arc<StatusBoard>,
    hub: Arc<EventHub>,
    run_tokens: RunTokens,
    backends: Arc<Backends>,
    /// Told of a roster change (agents.json reloaded, or a synced workspace
    /// changed, perhaps on another gateway).
    on_roster: std::sync::OnceLock<Box<dyn Fn() + Send + Sync>>,
    /// Given the board's snapshot when a commit crosses a checkpoint.
    on_checkpoint: std::sync::OnceLock<Box<dyn Fn(u64, String) + Send + Sync>>,
}

impl CommitFanout {
    pub fn new(
        board: Arc<StatusBoard>,
        hub: Arc<EventHub>,
        run_tokens: RunTokens,
        backends: Arc<Backends>,
    ) -> CommitFanout {
        CommitFanout {
            board,
            hub,
            run_tokens,
            backends,
            on_roster: std::sync::OnceLock::new(),
            on_checkpoint: std::sync::OnceLock::new(),
        }
    }

    /// What to do with the board's state every [`CHECKPOINT_EVERY`] events.
    pub fn on_checkpoint(&self, keep: impl Fn(u64, String) + Send + Sync + 'static) {
        let _ = self.on_checkpoint.set(Box::new(keep));
    }

    /// What to do when a roster change commits (set once, after the core exists).
    pub fn on_roster(&self, then: impl Fn() + Send + Sync + 'static) {
        let _ = self.on_roster.set(Box::new(then));
    }
}

impl CommitListener for CommitFanout {
    fn committed(&self, events: &[Arc<StoredEvent>]) {
        if events.iter().any(|e| e.kind == EventKind::Roster)
            && let Some(then) = self.on_roster.get()
        {
            then();
        }
        let before = self.board.last_id();
        for event in events {
            self.board.apply(event);
            let Some(run_id) = &event.run_id else {
                continue;
            };
            match (event.kind, event.facts.callback_digest) {
                (EventKind::Started, Some(digest)) => {
                    self.run_tokens.remember(digest, run_id, &event.npc);
                }
                (kind, _) if kind.is_terminal() => self.run_tokens.revoke(run_id),
                _ => {}
            }
        }
        let after = self.board.last_id();
        if after / CHECKPOINT_EVERY > before / CHECKPOINT_EVERY
            && let Some(keep) = self.on_checkpoint.get()
        {
            keep(after, self.board.snapshot());
        }
        self.backends.committed(events);
        self.hub.fan_out(events);
    }

    fn interrupted(&self) {
        self.hub.interrupt();
    }
}
