//! What follows a commit, in id order, on every gateway sharing the store:
//! the status board, run callback tokens, the backends (answers and ends of
//! their runs), then the hub's subscribers.

use super::board::StatusBoard;
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
        }
    }
}

impl CommitListener for CommitFanout {
    fn committed(&self, events: &[Arc<StoredEvent>]) {
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
        self.backends.committed(events);
        self.hub.fan_out(events);
    }

    fn interrupted(&self) {
        self.hub.interrupt();
    }
}
