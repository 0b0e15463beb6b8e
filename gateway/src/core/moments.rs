//! The office as of any moment: the roster as it stood then, folded by the
//! same [`StatusBoard`] the live office uses, from the nearest checkpoint
//! (the board as it stood every [`CHECKPOINT_EVERY`] events, kept in the
//! store) forward; and the events of a window of time.

use super::board::StatusBoard;
use super::{CoreError, PAGE_BYTES, Service, StoredPage};
use crate::store::NpcFilter;
use protocol::{EventKind, Roster};
use std::ops::ControlFlow;

/// Events between two checkpoints: a moment folds at most this many.
pub const CHECKPOINT_EVERY: u64 = 10_000;
/// Checkpoints listed (the oldest go; their events may be pruned anyway).
const CHECKPOINTS_KEPT: usize = 5_000;
const CHECKPOINTS_KEY: &str = "checkpoints";
/// Events read per page while folding.
const FOLD_PAGE: usize = 2_000;

fn checkpoint_key(id: u64) -> String {
    format!("checkpoint.{id}")
}

impl Service {
    /// The newest event stored at or before `at_ms` (0: none). Ids grow with
    /// the time they were stored, so a binary search over ids finds it.
    pub async fn last_id_at(&self, at_ms: i64) -> Result<u64, CoreError> {
        let Some((first, first_ms)) = self.store.log.first_from(0).await? else {
            return Ok(0);
        };
        if first_ms > at_ms {
            return Ok(0);
        }
        let (mut low, mut high) = (first, self.store.log.last_id().await?);
        // `low` is stored at or before the moment; find the last such id.
        while low < high {
            let mid = low + (high - low).div_ceil(2);
            match self.store.log.first_from(mid).await? {
                Some((id, stored_ms)) if stored_ms <= at_ms => low = id.max(mid),
                _ => high = mid - 1,
            }
        }
        Ok(low)
    }

    /// The board as it stood once event `target` was folded.
    async fn board_at(&self, target: u64) -> Result<StatusBoard, CoreError> {
        let (after, board) = match self.checkpoint_at_or_before(target).await? {
            Some((id, board)) => (id, board),
            None => (0, StatusBoard::default()),
        };
        self.walk_log(after, target, |event| {
            board.apply(event);
            ControlFlow::Continue(())
        })
        .await?;
        Ok(board)
    }

    /// Hands `each` every event stored after id `after` up to id `end`,
    /// oldest first, reading a page at a time; `each` may end the walk.
    async fn walk_log(
        &self,
        mut after: u64,
        end: u64,
        mut each: impl FnMut(&crate::store::StoredEvent) -> ControlFlow<()>,
    ) -> Result<(), CoreError> {
        while after < end {
            let page = self
                .store
                .log
                .read_since(&NpcFilter::All, after, FOLD_PAGE, usize::MAX)
                .await?;
            if page.is_empty() {
                break;
            }
            for event in &page {
                if event.id > end {
                    return Ok(());
                }
                after = event.id;
                if each(event).is_break() {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    async fn checkpoint_at_or_before(
        &self,
        target: u64,
    ) -> Result<Option<(u64, StatusBoard)>, CoreError> {
        let ids = self.checkpoint_ids().await?;
        for id in ids.iter().rev().filter(|id| **id <= target) {
            let Some(text) = self.store.followers.state(&checkpoint_key(*id)).await? else {
                continue;
            };
            match StatusBoard::from_snapshot(&text) {
                Ok(board) => return Ok(Some((*id, board))),
                Err(e) => {
                    tracing::warn!(id, error = %e, "checkpoint unreadable; folding from an older one")
                }
            }
        }
        Ok(None)
    }

    async fn checkpoint_ids(&self) -> Result<Vec<u64>, CoreError> {
        let Some(text) = self.store.followers.state(CHECKPOINTS_KEY).await? else {
            return Ok(Vec::new());
        };
        Ok(serde_json::from_str(&text).unwrap_or_default())
    }

    /// Keeps the live board's state as of event `id` (after the commit that
    /// crossed a multiple of [`CHECKPOINT_EVERY`]). Every gateway on a shared
    /// store folds the same events in the same order, so theirs agree.
    pub async fn keep_checkpoint(&self, id: u64, snapshot: String) -> Result<(), CoreError> {
        self.store
            .followers
            .put_state(&checkpoint_key(id), &snapshot)
            .await?;
        let mut ids = self.checkpoint_ids().await?;
        if !ids.contains(&id) {
            ids.push(id);
            ids.sort_unstable();
        }
        let gone = ids.len().saturating_sub(CHECKPOINTS_KEPT);
        ids.drain(..gone);
        let text = serde_json::to_string(&ids).expect("ids serialize");
        self.store
            .followers
            .put_state(CHECKPOINTS_KEY, &text)
            .await?;
        Ok(())
    }

    /// `GET /api/agents?at=`: the roster as it stood at `at_ms` (Unix ms):
    /// every agent's status, last message, run and pending question.
    pub async fn roster_at(&self, at_ms: i64) -> Result<Roster, CoreError> {
        if at_ms < 0 {
            return Err(CoreError::InvalidRequest(
                "`at` is milliseconds since the epoch".into(),
            ));
        }
        let target = self.last_id_at(at_ms).await?;
        let board = self.board_at(target).await?;
        let mut roster = self.roster_of(&board);
        roster.last_event_id = target;
        Ok(roster)
    }

    /// `GET /api/history?from=&to=`: the events stored in a window of time,
    /// oldest first, a page at a time (`after` continues from a page's end).
    pub async fn history_window(
        &self,
        npc: Option<&str>,
        window: (i64, i64),
        after: Option<u64>,
        limit: Option<usize>,
    ) -> Result<StoredPage, CoreError> {
        let (from_ms, to_ms) = window;
        if to_ms < from_ms {
            return Err(CoreError::InvalidRequest(
                "`to` must not be before `from`".into(),
            ));
        }
        let filter = self.npc_filter(npc)?;
        let start = self.last_id_at(from_ms - 1).await?;
        let end = self.last_id_at(to_ms).await?;
        let after = after.unwrap_or(start).max(start);
        let limit = limit.unwrap_or(100).clamp(1, super::MAX_HISTORY_PAGE);
        let mut events = if after < end {
            self.store
                .log
                .read_since(&filter, after, limit, PAGE_BYTES)
                .await?
        } else {
            Vec::new()
        };
        events.retain(|e| e.id <= end);
        // Short of the window's end: ask again after it (an empty page ends it).
        let next_after = events.last().map(|e| e.id).filter(|last| *last < end);
        Ok(StoredPage {
            events,
            next_before: None,
            next_after,
        })
    }
}

/// Events read at most for one window's marks (the slider asks again from
/// where a partial answer ended).
const MARKS_SCAN: usize = 200_000;
/// Marks listed at most in one answer.
const MARKS_LISTED: usize = 2_000;

impl Service {
    /// `GET /api/marks?from=&to=`: every error and every question asked in a
    /// window of time, oldest first, and where the stored log begins.
    pub async fn marks(&self, from_ms: i64, to_ms: i64) -> Result<protocol::Marks, CoreError> {
        if to_ms < from_ms {
            return Err(CoreError::InvalidRequest(
                "`to` must not be before `from`".into(),
            ));
        }
        let first_ms = self.store.log.first_from(0).await?.map(|(_, ms)| ms);
        let after = self.last_id_at(from_ms.saturating_sub(1)).await?;
        let end = self.last_id_at(to_ms).await?;
        let (mut marks, mut read, mut partial) = (Vec::new(), 0, false);
        self.walk_log(after, end, |event| {
            if read >= MARKS_SCAN || marks.len() >= MARKS_LISTED {
                partial = true;
                return ControlFlow::Break(());
            }
            read += 1;
            if matches!(event.kind, EventKind::Error | EventKind::Awaiting) {
                marks.push(protocol::Mark {
                    id: event.id,
                    at_ms: ms_of(&event.ts).unwrap_or(to_ms).clamp(from_ms, to_ms),
                    npc: event.npc.clone(),
                    kind: event.kind,
                    text: event.message.clone(),
                });
            }
            ControlFlow::Continue(())
        })
        .await?;
        Ok(protocol::Marks {
            first_ms,
            marks,
            partial,
        })
    }
}

/// An RFC 3339 time as ms since the epoch.
fn ms_of(ts: &str) -> Option<i64> {
    let at =
        time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Runs read at most for one summary (newest first).
const SUMMARY_RUNS: usize = 5_000;
/// Errors listed in a summary.
const SUMMARY_ERRORS: usize = 20;

impl Service {
    /// `GET /api/summary?since=`: what happened while a person was away: the
    /// runs started since (how many ended done or in error, the errors), the
    /// questions waiting now, and what the window's runs used.
    pub async fn away_summary(&self, since_ms: i64) -> Result<protocol::AwaySummary, CoreError> {
        let now = crate::store::now_ms();
        if !(0..=now).contains(&since_ms) {
            return Err(CoreError::InvalidRequest(
                "`since` is a past moment, in milliseconds since the epoch".into(),
            ));
        }
        let mut summary = protocol::AwaySummary {
            since: super::rfc3339_at(since_ms),
            until: super::rfc3339_at(now),
            runs_started: 0,
            runs_done: 0,
            runs_failed: 0,
            errors: Vec::new(),
            waiting: Vec::new(),
            usage: self
                .usage(Some(&super::rfc3339_at(since_ms)), None)
                .await?
                .total,
            partial: false,
        };
        self.count_runs_since(since_ms, &mut summary).await?;
        let mut waiting: Vec<protocol::AwayQuestion> = self
            .roster()
            .agents
            .into_iter()
            .filter_map(|agent| {
                let question = agent.question?;
                Some(protocol::AwayQuestion {
                    agent: agent.agent,
                    npc: agent.npc,
                    run_id: question.run_id,
                    question: question.question,
                    since: question.since,
                })
            })
            .collect();
        waiting.sort_by(|a, b| a.since.cmp(&b.since));
        summary.waiting = waiting;
        Ok(summary)
    }

    async fn count_runs_since(
        &self,
        since_ms: i64,
        summary: &mut protocol::AwaySummary,
    ) -> Result<(), CoreError> {
        let mut cursor: Option<crate::store::RunCursor> = None;
        let mut read = 0;
        loop {
            let page = self
                .store
                .runs
                .runs(crate::store::RunQuery {
                    agent: None,
                    before: cursor.as_ref(),
                    limit: 500,
                    max_bytes: usize::MAX,
                })
                .await?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            for run in &page {
                if run.started_ms < since_ms {
                    return Ok(());
                }
                if read == SUMMARY_RUNS {
                    summary.partial = true;
                    return Ok(());
                }
                read += 1;
                summary.runs_started += 1;
                match run.summary.status {
                    protocol::AgentStatus::Done => summary.runs_done += 1,
                    protocol::AgentStatus::Error => {
                        summary.runs_failed += 1;
                        if summary.errors.len() < SUMMARY_ERRORS {
                            summary.errors.push(protocol::AwayError {
                                agent: run.summary.agent.clone(),
                                npc: run.summary.npc.clone(),
                                run_id: run.summary.run_id.clone(),
                                error: run.summary.error.clone().unwrap_or_default(),
                                at: run
                                    .summary
                                    .ended_at
                                    .clone()
                                    .unwrap_or_else(|| run.summary.started_at.clone()),
                            });
                        }
                    }
                    _ => {}
                }
            }
            cursor = Some(crate::store::RunCursor {
                started_ms: last.started_ms,
                run_id: last.summary.run_id.clone(),
            });
        }
    }
}
