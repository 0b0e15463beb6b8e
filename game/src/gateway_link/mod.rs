//! The link to the gateway: a background task (a thread with a tokio runtime
//! natively, a future in the browser) that loads the roster and history,
//! follows the SSE stream with reconnects and `Last-Event-ID`, and runs
//! commands. It talks to the ECS only through channels: a system drains the
//! crossbeam receiver every frame into [`LinkEvent`] messages.

mod client;
mod platform;

use bevy::prelude::*;
use crossbeam_channel::{Receiver, Sender};
use protocol::{EventEnvelope, Roster, RunSummary};
use serde_json::Value;

/// Where the gateway is and how to authenticate.
#[derive(Resource, Clone, Debug)]
pub struct GatewaySettings {
    pub base_url: String,
    pub token: Option<String>,
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
    },
    Cancel {
        agent: String,
        run_id: String,
    },
    LoadRuns {
        agent: String,
    },
}

/// The office's end of the link.
#[derive(Resource)]
pub struct GatewayLink {
    events: Receiver<LinkEvent>,
    commands: futures_channel::mpsc::UnboundedSender<LinkCommand>,
}

impl GatewayLink {
    /// Starts the background task.
    pub fn start(settings: GatewaySettings) -> GatewayLink {
        let (tx, rx) = crossbeam_channel::unbounded();
        let (commands, command_rx) = futures_channel::mpsc::unbounded();
        platform::spawn_link(client::run(settings, tx, command_rx));
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

pub(super) fn plugin(app: &mut App) {
    app.add_message::<LinkEvent>();
    app.add_systems(PreUpdate, drain_link.run_if(resource_exists::<GatewayLink>));
}

/// Starts the real link (not part of the plugin, so tests can feed one by hand).
pub fn start_link(mut commands: Commands, settings: Res<GatewaySettings>) {
    commands.insert_resource(GatewayLink::start(settings.clone()));
}

fn drain_link(link: Res<GatewayLink>, mut writer: MessageWriter<LinkEvent>) {
    writer.write_batch(link.events.try_iter());
}

pub use client::{StreamItem, follow_stream};
