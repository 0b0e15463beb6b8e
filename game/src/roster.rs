//! The roster's shared words: who each character is ([`Npc`]), the npc →
//! entity index, the roster's order, when it changed, and the link's state.
//! The office, the characters and every view use them; they depend on
//! nothing above the link.

use crate::gateway_link::LinkState;
use bevy::prelude::*;
use std::collections::HashMap;

/// Who an NPC is.
#[derive(Component, Clone, Debug, PartialEq)]
pub struct Npc {
    pub npc: String,
    pub agent: String,
    pub name: String,
    pub role: Option<String>,
    pub desk: Option<String>,
    pub studio_url: String,
    /// It walked in because its telemetry named it (and whose sub-agent it is).
    pub visitor: Option<protocol::Visit>,
    /// Its runs start where it runs: no Run button.
    pub observe_only: bool,
}

impl Npc {
    /// The npc of the agent that spawned it, when it is a sub-agent.
    pub fn spawned_by(&self) -> Option<&str> {
        self.visitor.as_ref()?.spawned_by.as_deref()
    }
}

/// The npc id → entity map.
#[derive(Resource, Default, Debug)]
pub struct NpcIndex(pub HashMap<String, Entity>);

/// The roster order (for layout and the roster panel).
#[derive(Resource, Default, Debug, Clone)]
pub struct RosterOrder(pub Vec<String>);

/// Roster sync, event folding and animation, in that order.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub struct RosterSystems;

/// Seating, behaviour and walking, after the office is laid out.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub struct SeatSystems;

/// Sent when NPCs were added or removed, so the office lays out desks again.
#[derive(Message, Clone, Debug)]
pub struct RosterChanged;

/// The link's state, for the HUD and the offline look.
#[derive(Resource, Clone, Debug)]
pub struct Connection(pub LinkState);

impl Default for Connection {
    fn default() -> Self {
        Connection(LinkState::Connecting { url: String::new() })
    }
}

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<NpcIndex>()
        .init_resource::<RosterOrder>()
        .init_resource::<Connection>()
        .add_message::<RosterChanged>()
        .configure_sets(Update, SeatSystems.after(RosterSystems));
}
