//! A plain-text mirror of the office for screen readers, keyboards and page
//! tests: one entry per agent (name, status, last message, where it sits on
//! screen, whether it is selected), a sentence for each status change, and the
//! page's requests (select, run) coming back. The page side lives in `web.rs`;
//! this part is plain ECS so it is tested without a browser.

use crate::gateway_link::{GatewayLink, LinkCommand, LinkState};
use crate::npc::status::{Npc, NpcStatus, Shown};
use crate::npc::visuals_api::Selected;
use crate::npc::{Connection, NpcIndex, RosterOrder, RosterSystems};
use bevy::prelude::*;
use crossbeam_channel::{Receiver, Sender};

/// One agent as the page lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct MirrorEntry {
    pub npc: String,
    pub name: String,
    pub status: Shown,
    pub message: Option<String>,
    pub selected: bool,
    /// The NPC's centre in window (CSS) pixels, when a camera shows it.
    pub screen: Option<[i32; 2]>,
}

/// What the page shows; changes only when something shown changed.
#[derive(Resource, Default, Debug)]
pub struct Mirror {
    pub entries: Vec<MirrorEntry>,
    /// `connected`, `connecting` or `reconnecting`.
    pub connection: &'static str,
    /// Sentences not yet announced, oldest first; the page drains them.
    pub announcements: Vec<String>,
}

/// What the page's buttons ask for.
#[derive(Clone, Debug, PartialEq)]
pub enum MirrorRequest {
    Select(String),
    Run(String),
}

/// The page's end of the request channel (DOM listeners hold a `Sender`).
#[derive(Resource, Clone)]
pub struct MirrorInbox {
    pub sender: Sender<MirrorRequest>,
    receiver: Receiver<MirrorRequest>,
}

impl Default for MirrorInbox {
    fn default() -> Self {
        let (sender, receiver) = crossbeam_channel::unbounded();
        MirrorInbox { sender, receiver }
    }
}

/// Most sentences kept for a page that is not draining them.
const ANNOUNCEMENT_BACKLOG: usize = 50;

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<Mirror>()
        .init_resource::<MirrorInbox>()
        .add_systems(
            Update,
            (
                apply_requests.before(RosterSystems),
                update_mirror.after(RosterSystems),
            ),
        );
}

fn connection_word(state: &LinkState) -> &'static str {
    match state {
        LinkState::Connected => "connected",
        LinkState::Connecting { .. } => "connecting",
        LinkState::Reconnecting { .. } => "reconnecting",
    }
}

fn update_mirror(
    order: Res<RosterOrder>,
    index: Res<NpcIndex>,
    npcs: Query<(&Npc, &NpcStatus, Option<&GlobalTransform>)>,
    selected: Res<Selected>,
    connection: Res<Connection>,
    camera: Query<(&Camera, &GlobalTransform), With<Camera2d>>,
    mut mirror: ResMut<Mirror>,
) {
    let camera = camera.iter().next();
    let entries: Vec<MirrorEntry> = order
        .0
        .iter()
        .filter_map(|id| {
            let entity = *index.0.get(id)?;
            let (npc, status, transform) = npcs.get(entity).ok()?;
            let screen = camera
                .zip(transform)
                .and_then(|((camera, at), npc_at)| {
                    camera.world_to_viewport(at, npc_at.translation()).ok()
                })
                .map(|p| [p.x.round() as i32, p.y.round() as i32]);
            Some(MirrorEntry {
                npc: npc.npc.clone(),
                name: npc.name.clone(),
                status: status.shown(),
                message: status.last_message.clone(),
                selected: selected.0 == Some(entity),
                screen,
            })
        })
        .collect();
    let word = connection_word(&connection.0);
    if entries == mirror.entries && word == mirror.connection {
        return;
    }
    let mut sentences = announcements(&mirror.entries, &entries);
    if word != mirror.connection && !mirror.connection.is_empty() {
        sentences.push(format!("office: {word}"));
    }
    let mirror = mirror.as_mut();
    mirror.announcements.extend(sentences);
    let overflow = mirror
        .announcements
        .len()
        .saturating_sub(ANNOUNCEMENT_BACKLOG);
    mirror.announcements.drain(..overflow);
    mirror.entries = entries;
    mirror.connection = word;
}

/// "scheduler: done" for each agent whose status changed; an agent seen for
/// the first time, and the whole office going offline (said once as the
/// connection), are not announced per agent.
pub fn announcements(before: &[MirrorEntry], after: &[MirrorEntry]) -> Vec<String> {
    after
        .iter()
        .filter_map(|entry| {
            let old = before.iter().find(|b| b.npc == entry.npc)?;
            let changed =
                old.status != entry.status && !entry.status.offline && !old.status.offline;
            changed.then(|| format!("{}: {}", entry.name, entry.status.label()))
        })
        .collect()
}

fn apply_requests(
    inbox: Res<MirrorInbox>,
    index: Res<NpcIndex>,
    npcs: Query<&Npc>,
    mut selected: ResMut<Selected>,
    focus: Option<ResMut<crate::camera::FocusRequest>>,
    link: Option<Res<GatewayLink>>,
) {
    let mut focus = focus;
    for request in inbox.receiver.try_iter() {
        let (MirrorRequest::Select(id) | MirrorRequest::Run(id)) = &request;
        let Some(&entity) = index.0.get(id) else {
            continue;
        };
        match request {
            MirrorRequest::Select(_) => {
                selected.0 = Some(entity);
                if let Some(focus) = focus.as_mut() {
                    focus.0 = Some(entity);
                }
            }
            MirrorRequest::Run(_) => {
                if let (Ok(npc), Some(link)) = (npcs.get(entity), &link) {
                    link.send(LinkCommand::Run {
                        agent: npc.agent.clone(),
                        payload: serde_json::json!({}),
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::AgentStatus;

    fn entry(npc: &str, status: Shown) -> MirrorEntry {
        MirrorEntry {
            npc: npc.into(),
            name: npc.to_uppercase(),
            status,
            message: None,
            selected: false,
            screen: None,
        }
    }

    #[test]
    fn only_real_status_changes_are_announced() {
        let before = [
            entry("a", Shown::of(AgentStatus::Running)),
            entry("b", Shown::of(AgentStatus::Idle)),
        ];
        let after = [
            entry("a", Shown::of(AgentStatus::Done)),
            entry("b", Shown::of(AgentStatus::Idle)),
            entry("c", Shown::of(AgentStatus::Error)),
        ];
        assert_eq!(announcements(&before, &after), ["A: done"]);
        let offline = [entry("a", Shown::OFFLINE), entry("b", Shown::OFFLINE)];
        assert!(announcements(&after, &offline).is_empty());
        assert!(announcements(&offline, &after).is_empty());
    }
}
