//! The link to the gateway: a background task (a thread with a tokio runtime
//! natively, a future in the browser) that loads the roster and history,
//! follows the SSE stream with reconnects and `Last-Event-ID`, and runs
//! commands. It talks to the ECS only through channels: a system drains the
//! crossbeam receiver every frame into [`LinkEvent`] messages.

mod client;
mod platform;

use bevy::prelude::*;
use crossbeam_channel::{Receiver, Sender};
use protocol::{EventEnvelope, Roster, RunSummary, SessionInfo};
use serde_json::Value;

/// Where the gateway is and how to authenticate.
#[derive(Resource, Clone, Debug)]
pub struct GatewaySettings {
    pub base_url: String,
    pub token: Option<String>,
    /// Show the office as it stood at this moment (ms since the epoch), not live.
    pub at: Option<i64>,
}

impl GatewaySettings {
    /// Turns a gateway-relative link (`/studio/`) into an absolute URL.
    pub fn absolute(&self, url: &str) -> String {
        if url.starts_with('/') {
            format!("{}{url}", self.base_url)
        } else {
            url.to_owned()
        }
    }
}

/// The link's health, for the HUD.
#[derive(Clone, Debug, PartialEq)]
pub enum LinkState {
    Connecting {
        url: String,
    },
    Connected,
    /// Retrying after `error`; `retry_in` seconds from when this was sent.
    Reconnecting {
        url: String,
        error: String,
        retry_in: f32,
        attempt: u32,
    },
}

/// What the link reports to the office.
#[derive(Message, Clone, Debug)]
pub enum LinkEvent {
    State(LinkState),
    Roster(Roster),
    History {
        npc: String,
        events: Vec<EventEnvelope>,
        more_before: bool,
    },
    Runs {
        agent: String,
        runs: Vec<RunSummary>,
    },
    Live(EventEnvelope),
    /// A command the gateway refused or that could not be sent.
    Refused {
        agent: String,
        message: String,
    },
    RunAccepted {
        agent: String,
        run_id: String,
    },
    /// The gateway's office map (`/office/office.tmj`) and its tileset image.
    Office {
        url: String,
        map: String,
        tileset: Vec<u8>,
    },
    /// Runs started since `since` (the office asks for local midnight).
    RunsToday {
        since: String,
        started: u64,
    },
    /// What the runs cost since `since` (the whiteboard asks for today and the last hour).
    Usage {
        since: String,
        report: Box<protocol::UsageReport>,
    },
    /// Who the gateway takes the office for (asked once at start).
    Session(SessionInfo),
    /// The office as it stood at `at` (ms since the epoch; `None`: now, on
    /// returning live): what it shows is replaced by this roster, and its
    /// logs start again (each agent's history up to then follows).
    Moment {
        at: Option<i64>,
        roster: Roster,
    },
    /// A page of the events stored in a window of time, oldest first, for
    /// replaying; `next_after` continues the window.
    Replay {
        window: (i64, i64),
        after: Option<u64>,
        events: Vec<EventEnvelope>,
        next_after: Option<u64>,
    },
    /// The errors and questions of a window, for the time slider.
    Marks {
        window: (i64, i64),
        marks: protocol::Marks,
    },
    /// What happened since a person's last visit.
    Away(Box<protocol::AwaySummary>),
    /// The gateway no longer accepts the office's credentials (expired
    /// session, revoked token) or the person signed out.
    SignedOut {
        reason: String,
    },
}

/// What the office asks of the gateway.
#[derive(Clone, Debug, PartialEq)]
pub enum LinkCommand {
    Run {
        agent: String,
        payload: Value,
    },
    Respond {
        agent: String,
        run_id: String,
        decision: String,
        comment: Option<String>,
        /// A form's fields, for a question with a form.
        input: Option<serde_json::Map<String, serde_json::Value>>,
    },
    Cancel {
        agent: String,
        run_id: String,
    },
    LoadRuns {
        agent: String,
    },
    /// Ends the browser session (the cookie).
    SignOut,
    /// How many runs started since `since` (RFC 3339).
    CountRuns {
        since: String,
    },
    /// What the runs cost since `since` (RFC 3339).
    FetchUsage {
        since: String,
    },
    /// An operator lifts the agent's budget bench for today.
    LiftBench {
        agent: String,
    },
    /// Show the office as it stood at `at` (ms since the epoch): live events
    /// wait until [`LinkCommand::GoLive`].
    ShowMoment {
        at: i64,
    },
    /// Back to now: the live roster, then the events that waited.
    GoLive,
    /// A page of a window's events (ms since the epoch), after `after`.
    LoadReplay {
        window: (i64, i64),
        after: Option<u64>,
    },
    /// The errors and questions of a window.
    LoadMarks {
        window: (i64, i64),
    },
    /// What happened since `since` (ms since the epoch).
    LoadAway {
        since: i64,
    },
}

impl LinkCommand {
    /// The agent a command acts on (runs, answers, cancels, lifts a bench);
    /// None for reads.
    pub fn agent(&self) -> Option<&str> {
        match self {
            LinkCommand::Run { agent, .. }
            | LinkCommand::Respond { agent, .. }
            | LinkCommand::Cancel { agent, .. }
            | LinkCommand::LiftBench { agent } => Some(agent),
            LinkCommand::LoadRuns { .. }
            | LinkCommand::SignOut
            | LinkCommand::CountRuns { .. }
            | LinkCommand::FetchUsage { .. }
            | LinkCommand::ShowMoment { .. }
            | LinkCommand::GoLive
            | LinkCommand::LoadReplay { .. }
            | LinkCommand::LoadMarks { .. }
            | LinkCommand::LoadAway { .. } => None,
        }
    }
}

/// The office's end of the link.
#[derive(Resource)]
pub struct GatewayLink {
    events: Receiver<LinkEvent>,
    commands: futures_channel::mpsc::UnboundedSender<LinkCommand>,
}

impl GatewayLink {
    /// Starts the background task.
    /// Starts the link; `wake` is called after each event is queued, so an
    /// office that renders on demand draws it on the next frame.
    pub fn start(settings: GatewaySettings, wake: Option<Waker>) -> GatewayLink {
        let (tx, rx) = crossbeam_channel::unbounded();
        let (commands, command_rx) = futures_channel::mpsc::unbounded();
        platform::spawn_link(client::run(settings, EventSink { tx, wake }, command_rx));
        GatewayLink {
            events: rx,
            commands,
        }
    }

    /// A link fed by hand, for tests.
    pub fn manual() -> (
        GatewayLink,
        Sender<LinkEvent>,
        futures_channel::mpsc::UnboundedReceiver<LinkCommand>,
    ) {
        let (tx, rx) = crossbeam_channel::unbounded();
        let (commands, command_rx) = futures_channel::mpsc::unbounded();
        (
            GatewayLink {
                events: rx,
                commands,
            },
            tx,
            command_rx,
        )
    }

    /// The raw receiver, for tests and tools that run without the ECS.
    pub fn events(&self) -> &Receiver<LinkEvent> {
        &self.events
    }

    pub fn send(&self, command: LinkCommand) {
        // The task only ends with the app.
        let _ = self.commands.unbounded_send(command);
    }
}

/// Who the office is signed in as, once the gateway said; `signed_out` once
/// it stopped accepting the office's credentials.
#[derive(Resource, Clone, Debug, Default)]
pub struct Session {
    pub info: Option<SessionInfo>,
    pub signed_out: Option<String>,
}

pub(super) fn plugin(app: &mut App) {
    app.add_message::<LinkEvent>()
        .init_resource::<Session>()
        .add_systems(PreUpdate, drain_link.run_if(resource_exists::<GatewayLink>))
        .add_systems(Update, remember_session);
}

fn remember_session(mut link: MessageReader<LinkEvent>, mut session: ResMut<Session>) {
    for event in link.read() {
        match event {
            LinkEvent::Session(info) => {
                session.info = Some(info.clone());
                session.signed_out = None;
            }
            LinkEvent::SignedOut { reason } => session.signed_out = Some(reason.clone()),
            _ => {}
        }
    }
}

/// Starts the real link (not part of the plugin, so tests can feed one by hand).
pub fn start_link(
    mut commands: Commands,
    settings: Res<GatewaySettings>,
    event_loop: Option<Res<bevy::winit::EventLoopProxyWrapper>>,
) {
    let wake = event_loop.map(|proxy| event_loop_waker(&proxy));
    commands.insert_resource(GatewayLink::start(settings.clone(), wake));
}

/// Wakes the app's event loop from the link's task.
pub type Waker = std::sync::Arc<dyn Fn() + Send + Sync>;

/// A function that wakes the app's event loop from any thread (or task):
/// the link calls it when it hands the office something.
pub fn event_loop_waker(proxy: &bevy::winit::EventLoopProxyWrapper) -> Waker {
    let proxy = (**proxy).clone();
    std::sync::Arc::new(move || {
        let _ = proxy.send_event(bevy::winit::WinitUserEvent::WakeUp);
    })
}

/// The link's side of the event channel.
#[derive(Clone)]
pub struct EventSink {
    tx: Sender<LinkEvent>,
    wake: Option<Waker>,
}

impl EventSink {
    pub fn send(&self, event: LinkEvent) -> Result<(), crossbeam_channel::SendError<LinkEvent>> {
        self.tx.send(event)?;
        if let Some(wake) = &self.wake {
            wake();
        }
        Ok(())
    }
}

fn drain_link(link: Res<GatewayLink>, mut writer: MessageWriter<LinkEvent>) {
    writer.write_batch(link.events.try_iter());
}

pub use client::{StreamItem, follow_stream};
