//! Where a character wants to be, from its status and the clock: a pure state
//! machine beside the animation one, tested without a window.
//!
//! Work comes first: `started`, `step`, `awaiting` and `error` send the
//! character straight (and fast) to its desk from wherever it is. An idle
//! character, after a while, gets up for a place worth a walk (coffee, the
//! sofa, a window) or a chat at a colleague's desk, stays a little, and comes
//! back. Offline freezes it where it stands. None of this delays what the
//! office shows: the status, badge and panels never wait for a walk.

use super::status::Shown;
use bevy::prelude::Component;
use protocol::AgentStatus;

/// Where a character is going or staying.
#[derive(Clone, Debug, PartialEq)]
pub enum Goal {
    Desk,
    /// A place of the map, by index.
    Place(usize),
    /// Beside a colleague's desk, for a chat.
    Colleague(String),
    /// The map's bench: over its budget, it sits there until the bench is lifted.
    Bench,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Activity {
    /// Sitting at its desk.
    AtDesk,
    /// On the way; `hurry` when work called it back.
    Walking { goal: Goal, hurry: bool },
    /// Staying somewhere other than the desk until `until` (seconds).
    Away { goal: Goal, until: f64 },
}

/// What the machine asks the world to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Order {
    /// Find a way to `goal` and walk it.
    Walk { goal: Goal, hurry: bool },
    /// Stand still where you are (the gateway went away).
    Freeze,
    /// Carry on with what you were doing.
    Thaw,
}

/// What the world offers an idle character right now.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Places nobody is at or heading to.
    pub free_places: Vec<usize>,
    /// Colleagues idle at their desks with a free spot beside it.
    pub colleagues: Vec<String>,
}

/// Seconds an idle character stays at its desk before it may get up.
const PATIENCE: (f64, f64) = (25.0, 70.0);
/// Seconds it stays at a place.
const STAY: (f64, f64) = (8.0, 20.0);
/// Seconds a chat lasts.
const CHAT: (f64, f64) = (6.0, 12.0);
/// A finished run is celebrated at the desk before anyone wanders off.
const CELEBRATE: f64 = 3.0;
/// How often a chat is chosen over a place, out of 100.
const CHAT_ODDS: u32 = 30;

#[derive(Component, Clone, Debug)]
pub struct Behaviour {
    activity: Activity,
    status: Shown,
    frozen: bool,
    /// When it may next get up (while idle at its desk).
    restless_at: f64,
    /// Scales every wait (1 = the office's pace; small = restless, for benchmarks).
    tempo: f64,
    rng: u32,
    /// A sub-agent's parent: it walks back to report when its run is done.
    parent: Option<String>,
}

impl Behaviour {
    pub fn new(seed: u32, now: f64) -> Behaviour {
        let mut behaviour = Behaviour {
            activity: Activity::AtDesk,
            status: Shown::default(),
            frozen: false,
            restless_at: 0.0,
            tempo: 1.0,
            rng: seed | 1,
            parent: None,
        };
        behaviour.restless_at = now + behaviour.between(PATIENCE);
        behaviour
    }

    /// The same character with every wait scaled by `tempo` (0.01: up and
    /// about almost all the time, to measure a walking office).
    pub fn with_tempo(mut self, tempo: f64, now: f64) -> Behaviour {
        self.tempo = tempo;
        self.restless_at = now + self.between(PATIENCE);
        self
    }

    pub fn activity(&self) -> &Activity {
        &self.activity
    }

    /// Whose sub-agent it is (the roster's word), if anyone's.
    pub fn report_to(&mut self, parent: Option<&str>) {
        if self.parent.as_deref() != parent {
            self.parent = parent.map(str::to_owned);
        }
    }

    pub fn is_frozen(&self) -> bool {
        self.frozen
    }

    /// Whether the status keeps it at its desk.
    fn wants_desk(&self) -> bool {
        matches!(
            self.status.status,
            AgentStatus::Running | AgentStatus::Awaiting | AgentStatus::Error
        )
    }

    /// A new status (or the office going offline or coming back).
    pub fn on_status(&mut self, status: Shown, now: f64) -> Option<Order> {
        let before = self.status;
        self.status = status;
        if status.offline {
            if self.frozen {
                return None;
            }
            self.frozen = true;
            return Some(Order::Freeze);
        }
        let thawed = std::mem::take(&mut self.frozen);
        if status.benched && !self.wants_desk() {
            return match &self.activity {
                Activity::Away {
                    goal: Goal::Bench, ..
                }
                | Activity::Walking {
                    goal: Goal::Bench, ..
                } => thawed.then_some(Order::Thaw),
                _ => {
                    self.activity = Activity::Walking {
                        goal: Goal::Bench,
                        hurry: false,
                    };
                    Some(Order::Walk {
                        goal: Goal::Bench,
                        hurry: false,
                    })
                }
            };
        }
        if before.benched && !status.benched && self.on_the_bench() && !self.wants_desk() {
            // The bench lifted: back to work.
            self.activity = Activity::Walking {
                goal: Goal::Desk,
                hurry: false,
            };
            return Some(Order::Walk {
                goal: Goal::Desk,
                hurry: false,
            });
        }
        if self.wants_desk() {
            return match &self.activity {
                Activity::AtDesk => thawed.then_some(Order::Thaw),
                Activity::Walking {
                    goal: Goal::Desk,
                    hurry: true,
                } => thawed.then_some(Order::Thaw),
                _ => {
                    self.activity = Activity::Walking {
                        goal: Goal::Desk,
                        hurry: true,
                    };
                    Some(Order::Walk {
                        goal: Goal::Desk,
                        hurry: true,
                    })
                }
            };
        }
        if let (AgentStatus::Done, Some(parent)) = (status.status, &self.parent)
            && before.status != AgentStatus::Done
        {
            // A sub-agent's work is done: it takes the result to its parent.
            let goal = Goal::Colleague(parent.clone());
            self.activity = Activity::Walking {
                goal: goal.clone(),
                hurry: false,
            };
            return Some(Order::Walk { goal, hurry: false });
        }
        if before.status != status.status || before.offline {
            // Back to idle (or done): stay a while before getting up.
            let celebrate = if status.status == AgentStatus::Done {
                CELEBRATE
            } else {
                0.0
            };
            self.restless_at = self
                .restless_at
                .max(now + celebrate + self.between(PATIENCE));
        }
        thawed.then_some(Order::Thaw)
    }

    fn on_the_bench(&self) -> bool {
        matches!(
            &self.activity,
            Activity::Away {
                goal: Goal::Bench,
                ..
            } | Activity::Walking {
                goal: Goal::Bench,
                ..
            }
        )
    }

    /// Time passing: an idle character may get up, a visit may end.
    /// The clock moves on. `options` is asked for only when the character
    /// gets up, since what the world offers costs a look at everyone.
    pub fn tick(&mut self, now: f64, options: impl FnOnce() -> Options) -> Option<Order> {
        if self.frozen || self.wants_desk() || self.status.benched {
            return None;
        }
        match &self.activity {
            Activity::AtDesk if now >= self.restless_at => {
                let options = options();
                let chat = !options.colleagues.is_empty()
                    && (options.free_places.is_empty() || self.roll(100) < CHAT_ODDS);
                let goal = if chat {
                    let i = self.roll(options.colleagues.len() as u32) as usize;
                    Goal::Colleague(options.colleagues[i].clone())
                } else if !options.free_places.is_empty() {
                    let i = self.roll(options.free_places.len() as u32) as usize;
                    Goal::Place(options.free_places[i])
                } else {
                    // Nowhere to go: try again later.
                    self.restless_at = now + self.between(PATIENCE);
                    return None;
                };
                self.activity = Activity::Walking {
                    goal: goal.clone(),
                    hurry: false,
                };
                Some(Order::Walk { goal, hurry: false })
            }
            Activity::Away { until, .. } if now >= *until => {
                self.activity = Activity::Walking {
                    goal: Goal::Desk,
                    hurry: false,
                };
                Some(Order::Walk {
                    goal: Goal::Desk,
                    hurry: false,
                })
            }
            _ => None,
        }
    }

    /// The walk reached its goal.
    pub fn arrived(&mut self, now: f64) {
        let Activity::Walking { goal, .. } = &self.activity else {
            return;
        };
        self.activity = match goal {
            Goal::Desk => {
                self.restless_at = now + self.between(PATIENCE);
                Activity::AtDesk
            }
            Goal::Colleague(_) => Activity::Away {
                goal: goal.clone(),
                until: now + self.between(CHAT),
            },
            Goal::Place(_) => Activity::Away {
                goal: goal.clone(),
                until: now + self.between(STAY),
            },
            // Until the bench is lifted (a new status says so).
            Goal::Bench => Activity::Away {
                goal: Goal::Bench,
                until: f64::INFINITY,
            },
        };
    }

    /// No way to the goal (or the colleague left): head back to the desk.
    pub fn lost_way(&mut self, now: f64) -> Option<Order> {
        match &self.activity {
            Activity::Walking {
                goal: Goal::Desk, ..
            } => {
                // Nowhere to walk from: the world puts it at its desk.
                self.arrived(now);
                None
            }
            _ => Some(self.head_to_desk()),
        }
    }

    /// Back to the desk, hurrying if work waits there.
    fn head_to_desk(&mut self) -> Order {
        let hurry = self.wants_desk();
        self.activity = Activity::Walking {
            goal: Goal::Desk,
            hurry,
        };
        Order::Walk {
            goal: Goal::Desk,
            hurry,
        }
    }

    /// The desk moved (a new map, a roster change): walk to the new one.
    pub fn desk_moved(&mut self) -> Option<Order> {
        if self.frozen {
            return None;
        }
        match &self.activity {
            Activity::AtDesk
            | Activity::Walking {
                goal: Goal::Desk, ..
            } => Some(self.head_to_desk()),
            _ => None,
        }
    }

    /// xorshift32: deterministic per character, so tests and replays agree.
    fn roll(&mut self, below: u32) -> u32 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng = x;
        x % below.max(1)
    }

    fn between(&mut self, (low, high): (f64, f64)) -> f64 {
        (low + (high - low) * self.roll(1000) as f64 / 1000.0) * self.tempo
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(s: AgentStatus) -> Shown {
        Shown::of(s)
    }

    fn places() -> Options {
        Options {
            free_places: vec![0, 1, 2],
            colleagues: vec![],
        }
    }

    /// An idle character that got up and is on its way to a place.
    fn wandering(now: f64) -> Behaviour {
        let mut b = Behaviour::new(7, 0.0);
        b.on_status(status(AgentStatus::Idle), 0.0);
        assert!(b.tick(now, places).is_some());
        b
    }

    #[test]
    fn an_idle_character_gets_up_after_a_while_and_comes_back() {
        let mut b = Behaviour::new(7, 0.0);
        let asked_early = || -> Options { panic!("the world is looked at only when it gets up") };
        assert_eq!(b.tick(PATIENCE.0 - 1.0, asked_early), None, "not yet");
        let Some(Order::Walk { goal, hurry }) = b.tick(PATIENCE.1, places) else {
            panic!("gets up");
        };
        assert!(matches!(goal, Goal::Place(0..=2)));
        assert!(!hurry);
        b.arrived(PATIENCE.1 + 5.0);
        assert!(matches!(b.activity(), Activity::Away { .. }));
        assert_eq!(
            b.tick(PATIENCE.1 + 6.0, asked_early),
            None,
            "stays a little"
        );
        assert_eq!(
            b.tick(PATIENCE.1 + 5.0 + STAY.1, places),
            Some(Order::Walk {
                goal: Goal::Desk,
                hurry: false
            })
        );
        b.arrived(200.0);
        assert_eq!(b.activity(), &Activity::AtDesk);
    }

    #[test]
    fn work_sends_it_to_its_desk_from_every_activity_including_mid_walk() {
        for work in [
            AgentStatus::Running,
            AgentStatus::Awaiting,
            AgentStatus::Error,
        ] {
            // Mid-walk to a place.
            let mut b = wandering(100.0);
            assert_eq!(
                b.on_status(status(work), 101.0),
                Some(Order::Walk {
                    goal: Goal::Desk,
                    hurry: true
                }),
                "{work:?} mid-walk"
            );
            // Away at a place.
            let mut b = wandering(100.0);
            b.arrived(102.0);
            assert!(b.on_status(status(work), 103.0).is_some(), "{work:?} away");
            // Walking back slowly: hurries.
            let mut b = wandering(100.0);
            b.arrived(102.0);
            b.tick(1000.0, places);
            assert_eq!(
                b.on_status(status(work), 1001.0),
                Some(Order::Walk {
                    goal: Goal::Desk,
                    hurry: true
                })
            );
            // Already at the desk: nothing to do.
            let mut b = Behaviour::new(3, 0.0);
            assert_eq!(b.on_status(status(work), 1.0), None, "{work:?} at desk");
            // And while busy it never wanders off.
            assert_eq!(b.tick(10_000.0, places), None);
        }
    }

    #[test]
    fn done_celebrates_at_the_desk_then_idles_like_idle() {
        let mut b = Behaviour::new(5, 0.0);
        b.on_status(status(AgentStatus::Running), 0.0);
        b.on_status(status(AgentStatus::Done), 50.0);
        assert_eq!(b.tick(50.0 + CELEBRATE, places), None, "celebrating");
        assert!(
            b.tick(50.0 + CELEBRATE + PATIENCE.1 + PATIENCE.1, places)
                .is_some()
        );
    }

    #[test]
    fn a_benched_character_sits_on_the_bench_until_it_is_lifted() {
        let mut b = Behaviour::new(7, 0.0);
        let benched = Shown {
            benched: true,
            ..Shown::of(AgentStatus::Done)
        };
        assert_eq!(
            b.on_status(benched, 1.0),
            Some(Order::Walk {
                goal: Goal::Bench,
                hurry: false
            })
        );
        b.arrived(5.0);
        assert!(
            b.tick(10_000.0, Options::default).is_none(),
            "it does not wander off"
        );
        assert_eq!(b.on_status(benched, 20.0), None, "told again: stays");
        // Lifted: back to the desk.
        assert_eq!(
            b.on_status(Shown::of(AgentStatus::Done), 30.0),
            Some(Order::Walk {
                goal: Goal::Desk,
                hurry: false
            })
        );
        // Work while benched (a run it was already in) still calls it to the desk.
        let mut busy = Behaviour::new(8, 0.0);
        busy.on_status(benched, 1.0);
        let running = Shown {
            benched: true,
            ..Shown::of(AgentStatus::Running)
        };
        assert!(matches!(
            busy.on_status(running, 2.0),
            Some(Order::Walk {
                goal: Goal::Desk,
                hurry: true
            })
        ));
    }

    #[test]
    fn offline_freezes_where_it_stands_and_online_carries_on() {
        let mut b = wandering(100.0);
        assert_eq!(b.on_status(Shown::OFFLINE, 101.0), Some(Order::Freeze));
        assert_eq!(b.on_status(Shown::OFFLINE, 102.0), None, "once");
        assert_eq!(b.tick(10_000.0, places), None, "frozen");
        assert_eq!(
            b.on_status(status(AgentStatus::Idle), 103.0),
            Some(Order::Thaw)
        );
        assert!(matches!(b.activity(), Activity::Walking { .. }));
        // Back online with work waiting: straight to the desk.
        let mut b = wandering(100.0);
        b.on_status(Shown::OFFLINE, 101.0);
        assert!(matches!(
            b.on_status(status(AgentStatus::Running), 102.0),
            Some(Order::Walk { hurry: true, .. })
        ));
    }

    #[test]
    fn chats_go_to_idle_colleagues_and_nowhere_to_go_waits() {
        let mut b = Behaviour::new(11, 0.0);
        let only_chat = Options {
            free_places: vec![],
            colleagues: vec!["milo".into()],
        };
        assert_eq!(
            b.tick(PATIENCE.1, || only_chat.clone()),
            Some(Order::Walk {
                goal: Goal::Colleague("milo".into()),
                hurry: false
            })
        );
        b.arrived(PATIENCE.1 + 3.0);
        let Activity::Away { until, .. } = b.activity().clone() else {
            panic!()
        };
        assert!(until - (PATIENCE.1 + 3.0) <= CHAT.1);
        let mut lonely = Behaviour::new(11, 0.0);
        assert_eq!(lonely.tick(PATIENCE.1, Options::default), None);
        assert_eq!(lonely.activity(), &Activity::AtDesk);
    }

    #[test]
    fn a_lost_way_heads_back_and_a_lost_way_home_sits_down() {
        let mut b = wandering(100.0);
        assert_eq!(
            b.lost_way(101.0),
            Some(Order::Walk {
                goal: Goal::Desk,
                hurry: false
            })
        );
        assert_eq!(b.lost_way(102.0), None);
        assert_eq!(b.activity(), &Activity::AtDesk);
    }

    #[test]
    fn a_moved_desk_is_walked_to() {
        let mut b = Behaviour::new(1, 0.0);
        assert!(matches!(
            b.desk_moved(),
            Some(Order::Walk {
                goal: Goal::Desk,
                ..
            })
        ));
        let mut away = wandering(100.0);
        away.arrived(101.0);
        assert_eq!(away.desk_moved(), None, "comes back to the new desk later");
    }
}
