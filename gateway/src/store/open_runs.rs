//! The run rules, over the open runs the single SQLite writer keeps in
//! memory: a run id belongs to its npc, an npc is in one run at a time, only
//! an open run takes events, only an awaiting run takes an answer, and an
//! npc-level event joins the npc's open run. Runs that are not open are asked
//! of the database, which only a broken rule needs.

use super::{NewEvent, RunRuleError};
use protocol::EventKind;
use std::collections::HashMap;

/// An open run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenRun {
    pub npc: String,
    pub awaiting: bool,
}

/// A run that is not open, as the database knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Closed {
    Unknown,
    Ended { npc: String },
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct OpenRuns {
    by_npc: HashMap<String, String>,
    runs: HashMap<String, OpenRun>,
}

impl OpenRuns {
    pub fn insert(&mut self, run_id: String, run: OpenRun) {
        self.by_npc.insert(run.npc.clone(), run_id.clone());
        self.runs.insert(run_id, run);
    }

    /// The run each event belongs to, with these events applied; nothing
    /// changes when a rule breaks. `closed` answers for runs that are not open.
    pub fn apply<E>(
        &mut self,
        events: &[NewEvent],
        mut closed: impl FnMut(&str) -> Result<Closed, E>,
    ) -> Result<Result<Vec<Option<String>>, RunRuleError>, E> {
        let mut next = self.clone();
        let mut resolved = Vec::with_capacity(events.len());
        for event in events {
            match next.step(event, &mut closed)? {
                Ok(run) => resolved.push(run),
                Err(rule) => return Ok(Err(rule)),
            }
        }
        *self = next;
        Ok(Ok(resolved))
    }

    fn step<E>(
        &mut self,
        event: &NewEvent,
        closed: &mut impl FnMut(&str) -> Result<Closed, E>,
    ) -> Result<Result<Option<String>, RunRuleError>, E> {
        let npc = &event.npc;
        let run_id = match (&event.run_id, event.kind) {
            (Some(run_id), EventKind::Started) => {
                if self.runs.contains_key(run_id) || closed(run_id)? != Closed::Unknown {
                    return Ok(Err(RunRuleError::RunExists(run_id.clone())));
                }
                if let Some(open) = self.by_npc.get(npc) {
                    return Ok(Err(RunRuleError::Busy {
                        npc: npc.clone(),
                        run_id: open.clone(),
                    }));
                }
                self.insert(
                    run_id.clone(),
                    OpenRun {
                        npc: npc.clone(),
                        awaiting: false,
                    },
                );
                return Ok(Ok(Some(run_id.clone())));
            }
            (Some(run_id), kind) => match self.runs.get(run_id) {
                Some(run) if run.npc != *npc => {
                    return Ok(Err(RunRuleError::WrongNpc {
                        run_id: run_id.clone(),
                        npc: npc.clone(),
                        owner: run.npc.clone(),
                    }));
                }
                Some(run) if kind == EventKind::Response && !run.awaiting => {
                    return Ok(Err(RunRuleError::NotAwaiting(run_id.clone())));
                }
                Some(_) => run_id.clone(),
                None => {
                    return Ok(Err(match closed(run_id)? {
                        Closed::Unknown => RunRuleError::UnknownRun(run_id.clone()),
                        Closed::Ended { npc: owner } if owner != *npc => RunRuleError::WrongNpc {
                            run_id: run_id.clone(),
                            npc: npc.clone(),
                            owner,
                        },
                        Closed::Ended { .. } => RunRuleError::RunEnded(run_id.clone()),
                    }));
                }
            },
            // An npc-level event belongs to the npc's open run, if there is one.
            (None, EventKind::Step | EventKind::Awaiting | EventKind::Done | EventKind::Error) => {
                match self.by_npc.get(npc) {
                    Some(run_id) => run_id.clone(),
                    None => return Ok(Ok(None)),
                }
            }
            (None, _) => return Ok(Ok(None)),
        };
        if event.kind.is_terminal() {
            self.runs.remove(&run_id);
            self.by_npc.remove(npc);
        } else if let Some(run) = self.runs.get_mut(&run_id) {
            run.awaiting = event.kind == EventKind::Awaiting;
        }
        Ok(Ok(Some(run_id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance::{event, started};
    use std::convert::Infallible;

    fn none(_: &str) -> Result<Closed, Infallible> {
        Ok(Closed::Unknown)
    }

    #[test]
    fn a_failed_batch_changes_nothing() {
        let mut runs = OpenRuns::default();
        let batch = [
            started("a", "r1"),
            event("a", EventKind::Step, Some("missing")),
        ];
        assert_eq!(
            runs.apply(&batch, none).unwrap(),
            Err(RunRuleError::UnknownRun("missing".into()))
        );
        assert_eq!(runs, OpenRuns::default());
        let resolved = runs
            .apply(
                &[started("a", "r1"), event("a", EventKind::Awaiting, None)],
                none,
            )
            .unwrap()
            .unwrap();
        assert_eq!(resolved, [Some("r1".to_owned()), Some("r1".to_owned())]);
        assert_eq!(
            runs.apply(&[started("a", "r2")], none).unwrap(),
            Err(RunRuleError::Busy {
                npc: "a".into(),
                run_id: "r1".into()
            })
        );
    }

    #[test]
    fn ended_runs_are_asked_of_the_database() {
        let mut runs = OpenRuns::default();
        let ended = |run: &str| -> Result<Closed, Infallible> {
            Ok(if run == "old" {
                Closed::Ended { npc: "a".into() }
            } else {
                Closed::Unknown
            })
        };
        assert_eq!(
            runs.apply(&[event("a", EventKind::Done, Some("old"))], ended)
                .unwrap(),
            Err(RunRuleError::RunEnded("old".into()))
        );
        assert_eq!(
            runs.apply(&[event("b", EventKind::Done, Some("old"))], ended)
                .unwrap(),
            Err(RunRuleError::WrongNpc {
                run_id: "old".into(),
                npc: "b".into(),
                owner: "a".into()
            })
        );
        assert_eq!(
            runs.apply(&[started("c", "old")], ended).unwrap(),
            Err(RunRuleError::RunExists("old".into()))
        );
    }
}
