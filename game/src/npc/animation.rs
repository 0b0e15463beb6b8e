//! The animation state machine: what the body does ([`Body`], from the
//! behaviour and the walk) and what the status shows (seated poses, badge,
//! desk light). Plain Rust, tested without a renderer; systems copy
//! [`NpcAnimation::frame`] and [`NpcAnimation::badge`] into sprites.

use super::status::Shown;
use crate::office::map::Facing;
use bevy::prelude::Component;
use protocol::AgentStatus;

/// One pose of the character sheet (a column of the atlas).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pose {
    // Seated behind a desk.
    Sit = 0,
    Blink,
    Stretch,
    TypeLeft,
    TypeRight,
    HandUp,
    CheerUp,
    CheerDown,
    Slump,
    // Standing, and the two steps of each walk cycle.
    StandDown,
    StepDownA,
    StepDownB,
    StandUp,
    StepUpA,
    StepUpB,
    StandLeft,
    StepLeftA,
    StepLeftB,
    StandRight,
    StepRightA,
    StepRightB,
    TalkLeft,
    TalkRight,
    /// Sitting on a sofa.
    Lounge,
}

pub const POSES: usize = 24;

impl Pose {
    pub const ALL: [Pose; POSES] = {
        use Pose::*;
        [
            Sit, Blink, Stretch, TypeLeft, TypeRight, HandUp, CheerUp, CheerDown, Slump, StandDown,
            StepDownA, StepDownB, StandUp, StepUpA, StepUpB, StandLeft, StepLeftA, StepLeftB,
            StandRight, StepRightA, StepRightB, TalkLeft, TalkRight, Lounge,
        ]
    };

    /// Standing still, facing `facing`.
    fn stand(facing: Facing) -> Pose {
        match facing {
            Facing::Down => Pose::StandDown,
            Facing::Up => Pose::StandUp,
            Facing::Left => Pose::StandLeft,
            Facing::Right => Pose::StandRight,
        }
    }

    /// The walk cycle: step, stand, the other step, stand.
    fn walk(facing: Facing, stride: u32) -> Pose {
        let (a, b) = match facing {
            Facing::Down => (Pose::StepDownA, Pose::StepDownB),
            Facing::Up => (Pose::StepUpA, Pose::StepUpB),
            Facing::Left => (Pose::StepLeftA, Pose::StepLeftB),
            Facing::Right => (Pose::StepRightA, Pose::StepRightB),
        };
        match stride % 4 {
            0 => a,
            2 => b,
            _ => Pose::stand(facing),
        }
    }
}

/// What the body is doing, whatever the status.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum Body {
    /// At its desk: the status chooses the pose.
    #[default]
    Seated,
    Standing(Facing),
    /// `distance` walked so far, in pixels, picks the step.
    Walking {
        facing: Facing,
        distance: f32,
    },
    Lounging,
    Talking(Facing),
}

/// Pixels per walk-cycle frame.
const STRIDE_PX: f32 = 5.0;
const TALK_FRAME: f32 = 0.3;

/// What floats above the NPC's head.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Badge {
    None,
    /// `?`, with a pulse scale in 0.85..1.15.
    Question {
        pulse: f32,
    },
    /// A check mark fading out (alpha 0..1).
    Check {
        alpha: f32,
    },
    /// A red `!`.
    Alert,
}

/// How the desk around the NPC looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeskLight {
    Off,
    MonitorOn,
    LampRed,
}

const TYPE_FRAME: f32 = 0.14;
const CHEER_FRAME: f32 = 0.22;
const CHEER_FOR: f32 = 2.0;
const CHECK_FADE: f32 = 6.0;
const BLINK_FOR: f32 = 0.15;
const STRETCH_FOR: f32 = 1.2;
/// Seconds of an idle character's blink-and-stretch cycle.
const IDLE_CYCLE: f32 = 13.0;
/// Seconds between steps of the badge's pulse and fade.
const BADGE_STEP: f32 = 0.1;

/// Seconds from `t` to the next multiple of `step`.
fn until_next(t: f32, step: f32) -> f32 {
    step - t.rem_euclid(step)
}

/// Seconds from `at` (within a cycle of [`IDLE_CYCLE`]) to the next of `marks`.
fn until_in_cycle(at: f32, marks: &[f32]) -> f32 {
    marks
        .iter()
        .find(|m| **m > at)
        .map_or(IDLE_CYCLE - at + marks[0], |m| m - at)
}

#[derive(Component, Clone, Debug)]
pub struct NpcAnimation {
    status: Shown,
    body: Body,
    /// Seconds in the current status.
    elapsed: f32,
    /// Seconds in the current body state (not reset by walking on).
    body_elapsed: f32,
    /// Per-NPC offset so a room of idle NPCs doesn't blink in unison.
    phase: f32,
}

impl NpcAnimation {
    pub fn new(seed: u32) -> NpcAnimation {
        NpcAnimation {
            status: Shown::default(),
            body: Body::Seated,
            elapsed: 0.0,
            body_elapsed: 0.0,
            phase: (seed % 997) as f32 * 0.37,
        }
    }

    pub fn body(&self) -> Body {
        self.body
    }

    pub fn set_body(&mut self, body: Body) {
        if std::mem::discriminant(&body) != std::mem::discriminant(&self.body) {
            self.body_elapsed = 0.0;
        }
        self.body = body;
    }

    /// Seconds until this character's picture next changes by itself (pose
    /// or badge): `Some(0.0)` while it changes every frame (walking), `None`
    /// while it holds still until something happens. On-demand rendering
    /// wakes for exactly these moments.
    pub fn next_change(&self) -> Option<f32> {
        let body = match self.body {
            Body::Walking { .. } => return Some(0.0),
            Body::Talking(_) => Some(until_next(self.body_elapsed, TALK_FRAME)),
            Body::Seated => self.next_seated_change(),
            Body::Standing(_) | Body::Lounging => None,
        };
        let badge = match self.status.status {
            _ if self.status.offline => None,
            AgentStatus::Awaiting => Some(until_next(self.elapsed, BADGE_STEP)),
            AgentStatus::Done if self.elapsed < CHECK_FADE => {
                Some(until_next(self.elapsed, BADGE_STEP))
            }
            _ => None,
        };
        match (body, badge) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn next_seated_change(&self) -> Option<f32> {
        let t = self.elapsed;
        let in_cycle = (t + self.phase) % IDLE_CYCLE;
        if self.status.offline {
            return Some(until_in_cycle(in_cycle, &[4.0, 4.0 + BLINK_FOR]));
        }
        match self.status.status {
            AgentStatus::Idle => Some(until_in_cycle(
                in_cycle,
                &[
                    4.0,
                    4.0 + BLINK_FOR,
                    9.0,
                    9.0 + BLINK_FOR,
                    11.0,
                    11.0 + STRETCH_FOR,
                ],
            )),
            AgentStatus::Running => Some(until_next(t, TYPE_FRAME)),
            AgentStatus::Done if t < CHEER_FOR => {
                Some(until_next(t, CHEER_FRAME).min(CHEER_FOR - t))
            }
            AgentStatus::Awaiting | AgentStatus::Done | AgentStatus::Error => None,
        }
    }

    pub fn status(&self) -> Shown {
        self.status
    }

    /// Switches status; the animation restarts only on a real change.
    pub fn set_status(&mut self, status: Shown) {
        if status != self.status {
            self.status = status;
            self.elapsed = 0.0;
        }
    }

    pub fn tick(&mut self, dt: f32) {
        self.elapsed += dt;
        self.body_elapsed += dt;
    }

    pub fn pose(&self) -> Pose {
        match self.body {
            Body::Seated => self.seated_pose(),
            Body::Standing(facing) => Pose::stand(facing),
            Body::Walking { facing, distance } => Pose::walk(facing, (distance / STRIDE_PX) as u32),
            Body::Lounging => Pose::Lounge,
            Body::Talking(facing) => {
                let talking = ((self.body_elapsed / TALK_FRAME) as u32).is_multiple_of(2);
                match (facing, talking) {
                    (Facing::Left, true) => Pose::TalkLeft,
                    (Facing::Right, true) => Pose::TalkRight,
                    _ => Pose::stand(facing),
                }
            }
        }
    }

    fn seated_pose(&self) -> Pose {
        let t = self.elapsed;
        if self.status.offline {
            let cycle = (t + self.phase) % IDLE_CYCLE;
            return if (4.0..4.0 + BLINK_FOR).contains(&cycle) {
                Pose::Blink
            } else {
                Pose::Sit
            };
        }
        match self.status.status {
            AgentStatus::Idle => {
                let cycle = (t + self.phase) % IDLE_CYCLE;
                if (4.0..4.0 + BLINK_FOR).contains(&cycle)
                    || (9.0..9.0 + BLINK_FOR).contains(&cycle)
                {
                    Pose::Blink
                } else if (11.0..11.0 + STRETCH_FOR).contains(&cycle) {
                    Pose::Stretch
                } else {
                    Pose::Sit
                }
            }
            AgentStatus::Running => {
                if ((t / TYPE_FRAME) as u32).is_multiple_of(2) {
                    Pose::TypeLeft
                } else {
                    Pose::TypeRight
                }
            }
            AgentStatus::Awaiting => Pose::HandUp,
            AgentStatus::Done if t < CHEER_FOR => {
                if ((t / CHEER_FRAME) as u32).is_multiple_of(2) {
                    Pose::CheerUp
                } else {
                    Pose::CheerDown
                }
            }
            AgentStatus::Done => Pose::Sit,
            AgentStatus::Error => Pose::Slump,
        }
    }

    /// The atlas index for a character `variant` (one row per variant).
    pub fn frame(&self, variant: usize) -> usize {
        variant * POSES + self.pose() as usize
    }

    pub fn badge(&self) -> Badge {
        if self.status.offline {
            return Badge::None;
        }
        // In steps, so an office with a question up draws ten frames a
        // second, not the display's rate.
        let t = (self.elapsed / BADGE_STEP).floor() * BADGE_STEP;
        match self.status.status {
            AgentStatus::Awaiting => Badge::Question {
                pulse: 1.0 + 0.15 * (t * 5.0).sin(),
            },
            AgentStatus::Done if self.elapsed < CHECK_FADE => Badge::Check {
                alpha: (1.0 - t / CHECK_FADE).clamp(0.0, 1.0),
            },
            AgentStatus::Error => Badge::Alert,
            _ => Badge::None,
        }
    }

    pub fn desk_light(&self) -> DeskLight {
        if self.status.offline {
            return DeskLight::Off;
        }
        match self.status.status {
            AgentStatus::Running | AgentStatus::Awaiting => DeskLight::MonitorOn,
            AgentStatus::Error => DeskLight::LampRed,
            _ => DeskLight::Off,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_types_with_alternating_hands() {
        let mut anim = NpcAnimation::new(0);
        anim.set_status(Shown::of(AgentStatus::Running));
        let first = anim.pose();
        anim.tick(TYPE_FRAME);
        assert_ne!(anim.pose(), first);
        assert!(matches!(first, Pose::TypeLeft | Pose::TypeRight));
        assert_eq!(anim.desk_light(), DeskLight::MonitorOn);
    }

    #[test]
    fn done_celebrates_then_sits_with_a_fading_check() {
        let mut anim = NpcAnimation::new(0);
        anim.set_status(Shown::of(AgentStatus::Done));
        assert!(matches!(anim.pose(), Pose::CheerUp | Pose::CheerDown));
        let Badge::Check { alpha: early } = anim.badge() else {
            panic!("check badge")
        };
        anim.tick(CHEER_FOR + 1.0);
        assert_eq!(anim.pose(), Pose::Sit);
        let Badge::Check { alpha: later } = anim.badge() else {
            panic!("check badge")
        };
        assert!(later < early);
        anim.tick(CHECK_FADE);
        assert_eq!(anim.badge(), Badge::None);
    }

    #[test]
    fn awaiting_raises_a_hand_under_a_pulsing_question() {
        let mut anim = NpcAnimation::new(3);
        anim.set_status(Shown::of(AgentStatus::Awaiting));
        assert_eq!(anim.pose(), Pose::HandUp);
        let Badge::Question { pulse: a } = anim.badge() else {
            panic!()
        };
        anim.tick(0.3);
        let Badge::Question { pulse: b } = anim.badge() else {
            panic!()
        };
        assert_ne!(a, b);
    }

    #[test]
    fn error_slumps_under_a_red_lamp_and_idle_blinks_sometimes() {
        let mut anim = NpcAnimation::new(0);
        anim.set_status(Shown::of(AgentStatus::Error));
        assert_eq!(
            (anim.pose(), anim.badge(), anim.desk_light()),
            (Pose::Slump, Badge::Alert, DeskLight::LampRed)
        );
        let mut idle = NpcAnimation::new(0);
        let mut poses = std::collections::HashSet::new();
        for _ in 0..1400 {
            idle.tick(0.01);
            poses.insert(idle.pose() as u8);
        }
        assert!(poses.contains(&(Pose::Blink as u8)) && poses.contains(&(Pose::Sit as u8)));
    }

    #[test]
    fn walking_cycles_through_steps_by_distance_and_the_status_keeps_its_badge() {
        let mut anim = NpcAnimation::new(0);
        anim.set_status(Shown::of(AgentStatus::Awaiting));
        let poses: Vec<Pose> = (0..4)
            .map(|i| {
                anim.set_body(Body::Walking {
                    facing: Facing::Left,
                    distance: i as f32 * STRIDE_PX,
                });
                anim.pose()
            })
            .collect();
        assert_eq!(
            poses,
            [
                Pose::StepLeftA,
                Pose::StandLeft,
                Pose::StepLeftB,
                Pose::StandLeft
            ]
        );
        assert!(
            matches!(anim.badge(), Badge::Question { .. }),
            "the badge shows mid-walk"
        );
        assert!(anim.next_change().is_some(), "the badge pulses");
        anim.set_body(Body::Seated);
        assert_eq!(anim.pose(), Pose::HandUp);
    }

    #[test]
    fn an_idle_office_stops_animating() {
        let mut anim = NpcAnimation::new(0);
        anim.set_status(Shown::of(AgentStatus::Error));
        assert_eq!(anim.next_change(), None, "slumped under the red lamp");
        anim.set_status(Shown::of(AgentStatus::Done));
        assert!(anim.next_change().is_some(), "the check mark fades");
        anim.tick(CHECK_FADE + 0.1);
        assert_eq!(anim.next_change(), None);
        anim.set_body(Body::Talking(Facing::Right));
        assert!(anim.next_change().is_some());
        anim.set_body(Body::Walking {
            facing: Facing::Left,
            distance: 3.0,
        });
        assert_eq!(anim.next_change(), Some(0.0), "every frame while walking");
    }

    /// What a frame shows of a character.
    fn picture(anim: &NpcAnimation) -> (Pose, String) {
        (anim.pose(), format!("{:?}", anim.badge()))
    }

    #[test]
    fn the_picture_changes_only_when_announced_and_announced_moments_are_kept() {
        let cases = [
            (AgentStatus::Idle, false, Body::Seated),
            (AgentStatus::Idle, true, Body::Seated),
            (AgentStatus::Running, false, Body::Seated),
            (AgentStatus::Awaiting, false, Body::Seated),
            (AgentStatus::Awaiting, false, Body::Standing(Facing::Down)),
            (AgentStatus::Done, false, Body::Seated),
            (AgentStatus::Error, false, Body::Seated),
            (AgentStatus::Idle, false, Body::Talking(Facing::Left)),
            (AgentStatus::Idle, false, Body::Lounging),
        ];
        for (status, offline, body) in cases {
            for seed in [0, 5, 41] {
                let mut anim = NpcAnimation::new(seed);
                anim.set_body(body);
                let mut shown = Shown::of(status);
                shown.offline = offline;
                anim.set_status(shown);
                let step = 0.005;
                let mut now = 0.0_f32;
                let mut due = anim.next_change().map(|s| now + s);
                let mut before = picture(&anim);
                while now < 30.0 {
                    anim.tick(step);
                    now += step;
                    let after = picture(&anim);
                    if after != before {
                        let due = due.unwrap_or_else(|| {
                            panic!("{status:?} {body:?}: changed at {now} though still")
                        });
                        assert!(
                            now >= due - 1e-3,
                            "{status:?} {body:?} seed {seed}: changed at {now}, announced for {due}"
                        );
                    }
                    if due.is_some_and(|d| now >= d - 1e-3) || after != before {
                        due = anim.next_change().map(|s| now + s);
                    }
                    before = after;
                }
            }
        }
    }

    #[test]
    fn setting_the_same_status_does_not_restart_it() {
        let mut anim = NpcAnimation::new(0);
        anim.set_status(Shown::of(AgentStatus::Done));
        anim.tick(CHEER_FOR + 0.5);
        anim.set_status(Shown::of(AgentStatus::Done));
        assert_eq!(anim.pose(), Pose::Sit);
        assert_eq!(anim.frame(2), 2 * POSES);
    }
}
