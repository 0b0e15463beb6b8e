//! Rendering on demand: when nothing in the office moves, it does not redraw
//! at the display's rate. Input, the gateway's events (the link wakes the
//! event loop) and egui's own repaints draw a frame. Characters tell when
//! their picture next changes ([`NpcAnimation::next_change`]): a walk asks
//! for every frame (30 a second while the window is in the background),
//! typing for one per keystroke, a blink for its start and end, and an alarm
//! wakes the event loop for those moments, on a 50 ms grid so that many
//! characters share frames. A slow tick keeps clocks and idle characters'
//! patience going.

use crate::camera::{CameraMode, OfficeCamera};
use crate::gateway_link::{Waker, event_loop_waker};
use crate::npc::animation::NpcAnimation;
use bevy::platform::time::Instant;
use bevy::prelude::*;
use bevy::window::{PrimaryWindow, RequestRedraw};
use bevy::winit::{EventLoopProxyWrapper, UpdateMode, WinitSettings};
use bevy_egui::{EguiInput, EguiInputSet, EguiPreUpdateSet, egui};
use std::time::Duration;

/// How the office paces its frames.
#[derive(Resource, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RenderPace {
    /// Frames when something changes or moves (the default).
    #[default]
    OnDemand,
    /// A frame whenever the display can take one (for measuring frame cost).
    Continuous,
}

/// The longest the office waits between frames with nothing happening.
const QUIET_TICK: Duration = Duration::from_millis(500);
/// A change due sooner than this gets the next frame straight away.
const NEXT_FRAME: f32 = 1.0 / 120.0;
/// Wake-ups for pose changes land on a grid of this step, so characters
/// typing out of step share frames: at most 20 a second, each change at most
/// one step late.
const ANIMATION_STEP: Duration = Duration::from_millis(50);
/// Walking moves every frame in a window with focus; in the background it
/// moves at 30 frames a second.
const BACKGROUND_MOTION_STEP: Duration = Duration::from_micros(33_333);

pub(super) fn plugin(app: &mut App) {
    let pace = *app.world_mut().get_resource_or_init::<RenderPace>();
    if pace == RenderPace::OnDemand {
        // Frames a second apart must not slow the clock that idle
        // characters' patience and animations run on.
        if let Some(mut time) = app.world_mut().get_resource_mut::<Time<Virtual>>() {
            time.set_max_delta(QUIET_TICK * 4);
        }
        app.insert_resource(WinitSettings {
            focused_mode: UpdateMode::reactive(QUIET_TICK),
            unfocused_mode: UpdateMode::reactive_low_power(QUIET_TICK * 2),
        })
        .add_systems(Startup, set_alarm)
        .add_systems(Last, ask_for_frames)
        .add_systems(
            PreUpdate,
            drop_unchanged_modifiers
                .after(EguiInputSet::WriteEguiEvents)
                .before(EguiPreUpdateSet::BeginPass),
        );
    } else {
        app.insert_resource(WinitSettings::continuous());
    }
}

/// Wakes the event loop at the next moment a picture changes.
#[derive(Resource)]
struct Alarm {
    clock: AlarmClock,
    /// Where the grids the alarm rings on start.
    since: Instant,
    /// The wake-up already asked for, if it is still ahead.
    set_for: Option<Duration>,
}

impl Alarm {
    /// Rings at the first step of a grid of `step`s at least `delay` from now.
    fn ring_in(&mut self, delay: Duration, step: Duration) {
        let now = self.since.elapsed();
        let at = on_grid(now + delay, step);
        if self.set_for.is_some_and(|set| set > now && set <= at) {
            return;
        }
        self.set_for = Some(at);
        self.clock.ring_in(at - now);
    }
}

/// `at`, rounded up to a whole number of `step`s.
fn on_grid(at: Duration, step: Duration) -> Duration {
    let step = step.as_nanos().max(1);
    Duration::from_nanos((at.as_nanos().div_ceil(step) * step) as u64)
}

fn set_alarm(mut commands: Commands, event_loop: Option<Res<EventLoopProxyWrapper>>) {
    if let Some(proxy) = event_loop {
        let wake = event_loop_waker(&proxy);
        #[cfg(target_arch = "wasm32")]
        wake_on_typing(wake.clone());
        commands.insert_resource(Alarm {
            clock: AlarmClock::start(wake),
            since: Instant::now(),
            set_for: None,
        });
    }
}

/// On a phone, egui's text agent (a hidden `<input>` that brings up the
/// on-screen keyboard) queues what is typed for the next frame; without a
/// wake-up, letters would show only at the next quiet tick.
#[cfg(target_arch = "wasm32")]
fn wake_on_typing(wake: Waker) {
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;
    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    let on_typing = Closure::<dyn FnMut(web_sys::Event)>::new(move |_: web_sys::Event| wake());
    for kind in [
        "input",
        "keydown",
        "keyup",
        "compositionupdate",
        "compositionend",
    ] {
        // Bubbling up to the document: the agent's own listeners have run
        // by then, so the frame this wakes finds the typing queued.
        let _ = document.add_event_listener_with_callback_and_bool(
            kind,
            on_typing.as_ref().unchecked_ref(),
            false,
        );
    }
    on_typing.forget();
}

/// A thread that sleeps until the earliest wake-up asked of it.
#[cfg(not(target_arch = "wasm32"))]
struct AlarmClock(crossbeam_channel::Sender<std::time::Instant>);

#[cfg(not(target_arch = "wasm32"))]
impl AlarmClock {
    fn start(wake: Waker) -> AlarmClock {
        let (tx, rx) = crossbeam_channel::unbounded::<std::time::Instant>();
        std::thread::Builder::new()
            .name("office-alarm".into())
            .spawn(move || {
                use crossbeam_channel::RecvTimeoutError;
                let mut next: Option<std::time::Instant> = None;
                loop {
                    let asked = match next {
                        None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                        Some(at) => rx.recv_deadline(at),
                    };
                    match asked {
                        Ok(at) => next = Some(next.map_or(at, |n| n.min(at))),
                        Err(RecvTimeoutError::Timeout) => {
                            wake();
                            next = None;
                        }
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                }
            })
            .expect("the alarm thread starts");
        AlarmClock(tx)
    }

    fn ring_in(&self, delay: Duration) {
        let _ = self.0.send(std::time::Instant::now() + delay);
    }
}

/// The browser's timers.
#[cfg(target_arch = "wasm32")]
struct AlarmClock(Waker);

#[cfg(target_arch = "wasm32")]
impl AlarmClock {
    fn start(wake: Waker) -> AlarmClock {
        AlarmClock(wake)
    }

    fn ring_in(&self, delay: Duration) {
        let wake = self.0.clone();
        gloo_timers::callback::Timeout::new(delay.as_millis() as u32, move || wake()).forget();
    }
}

/// Asks for the next frame now if something moves every frame, or sets the
/// alarm for the next change.
fn ask_for_frames(
    animations: Query<&NpcAnimation>,
    camera: Query<&OfficeCamera>,
    windows: Query<&Window, With<PrimaryWindow>>,
    keys: Res<ButtonInput<KeyCode>>,
    alarm: Option<ResMut<Alarm>>,
    mut redraw: MessageWriter<RequestRedraw>,
) {
    let following = camera
        .iter()
        .any(|c| matches!(c.mode, CameraMode::Follow(_)));
    // Held keys pan the camera every frame, not only when a key event comes.
    let panning = keys.get_pressed().next().is_some();
    let focused = windows.iter().any(|w| w.focused);
    let soonest = animations
        .iter()
        .filter_map(NpcAnimation::next_change)
        .min_by(f32::total_cmp);
    let Some(mut alarm) = alarm else {
        // No event loop to wake (a headless app): keep drawing.
        redraw.write(RequestRedraw);
        return;
    };
    match soonest {
        _ if following || panning => {
            redraw.write(RequestRedraw);
        }
        Some(s) if s < NEXT_FRAME && focused => {
            redraw.write(RequestRedraw);
        }
        Some(s) if s < NEXT_FRAME => alarm.ring_in(Duration::ZERO, BACKGROUND_MOTION_STEP),
        Some(s) if s < QUIET_TICK.as_secs_f32() => {
            alarm.ring_in(Duration::from_secs_f32(s), ANIMATION_STEP)
        }
        _ => {}
    }
}

/// bevy_egui reports the modifier keys to egui on every frame, changed or
/// not; egui takes any input event as a reason to paint again, so the office
/// would redraw at the display's rate forever. Only a real change gets
/// through (egui keeps the last state it was told).
fn drop_unchanged_modifiers(
    mut inputs: Query<&mut EguiInput>,
    mut last: Local<Option<egui::Modifiers>>,
) {
    for mut input in &mut inputs {
        input.events.retain(|event| !is_repeat(event, &mut last));
    }
}

fn is_repeat(event: &egui::Event, last: &mut Option<egui::Modifiers>) -> bool {
    match event {
        egui::Event::ModifiersChanged(now) => last.replace(*now) == Some(*now),
        // Focus loss resets egui's modifiers; the next report must get through.
        egui::Event::WindowFocused(false) => {
            *last = None;
            false
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filtered(events: Vec<egui::Event>, last: &mut Option<egui::Modifiers>) -> Vec<egui::Event> {
        events.into_iter().filter(|e| !is_repeat(e, last)).collect()
    }

    #[test]
    fn wake_ups_round_up_onto_the_grid() {
        let ms = Duration::from_millis;
        assert_eq!(on_grid(ms(0), ANIMATION_STEP), ms(0));
        assert_eq!(on_grid(ms(1), ANIMATION_STEP), ms(50));
        assert_eq!(on_grid(ms(50), ANIMATION_STEP), ms(50));
        assert_eq!(on_grid(ms(51), ANIMATION_STEP), ms(100));
        assert_eq!(on_grid(ms(1_234), ANIMATION_STEP), ms(1_250));
    }

    #[test]
    fn only_a_change_of_modifiers_reaches_egui() {
        let none = egui::Event::ModifiersChanged(egui::Modifiers::NONE);
        let shift = egui::Event::ModifiersChanged(egui::Modifiers::SHIFT);
        let mut last = None;
        assert_eq!(filtered(vec![none.clone()], &mut last), vec![none.clone()]);
        assert!(
            filtered(vec![none.clone()], &mut last).is_empty(),
            "unchanged"
        );
        assert_eq!(
            filtered(vec![shift.clone()], &mut last),
            vec![shift.clone()]
        );
        assert!(filtered(vec![shift.clone(), shift.clone()], &mut last).is_empty());
        assert_eq!(filtered(vec![none.clone()], &mut last), vec![none.clone()]);
        let key = egui::Event::Text("a".into());
        assert_eq!(
            filtered(vec![key.clone(), none.clone()], &mut last),
            vec![key]
        );
    }

    #[test]
    fn after_the_window_loses_focus_the_next_report_gets_through() {
        let none = egui::Event::ModifiersChanged(egui::Modifiers::NONE);
        let mut last = Some(egui::Modifiers::NONE);
        let lost = egui::Event::WindowFocused(false);
        assert_eq!(
            filtered(vec![lost.clone(), none.clone()], &mut last),
            vec![lost, none]
        );
    }
}
