//! A plain-text mirror of the office for screen readers, keyboards and page
//! tests: one entry per agent (name, status, last message, where it sits on
//! screen, whether it is selected), a sentence for each status change, and the
//! page's requests (select, run) coming back. The page side lives in `web.rs`;
//! this part is plain ECS so it is tested without a browser.

use crate::gateway_link::{GatewayLink, LinkCommand, LinkState};
use crate::npc::ShownBubbles;
use crate::npc::behaviour::{Activity, Behaviour};
use crate::npc::status::{NpcStatus, Shown};
use crate::roster::Npc;
use crate::roster::{Connection, NpcIndex, RosterOrder, RosterSystems};
use crate::selection::Selected;
use bevy::prelude::*;
use crossbeam_channel::{Receiver, Sender};
use protocol::PendingQuestion;

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
    /// The question it waits on, answerable from the page.
    pub question: Option<PendingQuestion>,
    /// Away from its desk (walking, at a place, chatting).
    pub away: bool,
    /// Its speech bubble: the lines shown and where (window pixels: left, top, right, bottom).
    pub bubble: Option<(Vec<String>, [i32; 4])>,
    /// Why its source is out of reach ("Sim unreachable since 14:02").
    pub out_of_reach: Option<String>,
    /// Its meter: cost today, tokens of the run, budget ("$0.42/$5.00").
    pub meter: String,
}

/// What the page shows; changes only when something shown changed.
#[derive(Resource, Default, Debug)]
pub struct Mirror {
    pub entries: Vec<MirrorEntry>,
    /// `connected`, `connecting` or `reconnecting`.
    pub connection: &'static str,
    /// Sentences not yet announced, oldest first; the page drains them.
    pub announcements: Vec<String>,
    /// The window's part the office is fitted into (left, top, right, bottom; window px).
    pub view: [i32; 4],
    /// Where the office's floor is drawn (left, top, right, bottom; window px,
    /// past the window's edges where the view crops it).
    pub office: [i32; 4],
    /// The phone layout is on.
    pub compact: bool,
    /// The moment shown (ms since the epoch), while the office shows the past.
    pub moment: Option<i64>,
    /// The replay plays (and how fast).
    pub playing: Option<f64>,
    /// The slider's marks: how many, and the moments of the first few.
    pub marks: usize,
    /// The summary card shown after an absence: runs started, failed,
    /// questions waiting, the cost (None while no card is up).
    pub away: Option<crate::away::AwayFacts>,
    /// The NPC panel's and the minimap's controls on the canvas
    /// ([`crate::ui::PanelControls`], [`crate::ui::MapControls`]).
    pub controls: Vec<(&'static str, [i32; 4])>,
}

/// What the page's buttons ask for.
#[derive(Clone, Debug, PartialEq)]
pub enum MirrorRequest {
    Select(String),
    Run(String),
    /// Answers the npc's pending question with one of its options.
    Answer {
        npc: String,
        decision: String,
    },
    /// The page's attention switches (chime, notifications).
    Attention(crate::attention::AttentionSettings),
    /// The page's time controls (Live, play, the marks, the speed).
    Timeline(crate::timeline::TimelineRequest),
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
        .add_systems(Update, (apply_requests.before(RosterSystems),))
        // After transforms are propagated, so screen positions are this frame's.
        .add_systems(
            PostUpdate,
            update_mirror.after(bevy::transform::TransformSystems::Propagate),
        );
}

fn connection_word(state: &LinkState) -> &'static str {
    match state {
        LinkState::Connected => "connected",
        LinkState::Connecting { .. } => "connecting",
        LinkState::Reconnecting { .. } => "reconnecting",
    }
}

/// The middle of a 16×24 character above its feet (world units).
const BODY_MIDDLE: f32 = 12.0;

fn update_mirror(
    order: Res<RosterOrder>,
    index: Res<NpcIndex>,
    npcs: Query<(
        &Npc,
        &NpcStatus,
        Option<&GlobalTransform>,
        Option<&Behaviour>,
    )>,
    selected: Res<Selected>,
    connection: Res<Connection>,
    bubbles: Res<ShownBubbles>,
    camera: Query<(&Camera, &GlobalTransform), With<Camera2d>>,
    insets: Option<Res<crate::camera::ViewInsets>>,
    chrome: Option<Res<crate::ui::Chrome>>,
    controls: (
        Option<Res<crate::ui::PanelControls>>,
        Option<Res<crate::ui::MapControls>>,
        Option<Res<crate::ui::TimelineControls>>,
        Option<Res<crate::away::AwayControls>>,
    ),
    (timeline, away): (
        Option<Res<crate::timeline::Timeline>>,
        Option<Res<crate::away::AwayCard>>,
    ),
    windows: Query<&Window, With<bevy::window::PrimaryWindow>>,
    plan: Option<Res<crate::office::CurrentPlan>>,
    mut mirror: ResMut<Mirror>,
) {
    let camera = camera.iter().next();
    let to_screen =
        |world: Vec3| camera.and_then(|(camera, at)| camera.world_to_viewport(at, world).ok());
    let entries: Vec<MirrorEntry> = order
        .0
        .iter()
        .filter_map(|id| {
            let entity = *index.0.get(id)?;
            let (npc, status, transform, behaviour) = npcs.get(entity).ok()?;
            let screen = transform
                .and_then(|t| to_screen(t.translation() + Vec3::Y * BODY_MIDDLE))
                .map(|p| [p.x.round() as i32, p.y.round() as i32]);
            let bubble = bubbles.0.iter().find(|b| b.owner == entity).and_then(|b| {
                let top_left = to_screen(Vec3::new(b.rect.min.x, b.rect.max.y, 0.0))?;
                let bottom_right = to_screen(Vec3::new(b.rect.max.x, b.rect.min.y, 0.0))?;
                Some((
                    b.lines.clone(),
                    [
                        top_left.x.round() as i32,
                        top_left.y.round() as i32,
                        bottom_right.x.round() as i32,
                        bottom_right.y.round() as i32,
                    ],
                ))
            });
            Some(MirrorEntry {
                npc: npc.npc.clone(),
                name: npc.name.clone(),
                status: status.shown(),
                message: status.last_message.clone(),
                selected: selected.0 == Some(entity),
                screen,
                question: status.question.clone().filter(|_| !status.shown().offline),
                away: behaviour.is_some_and(|b| b.activity() != &Activity::AtDesk),
                bubble,
                out_of_reach: status.out_of_reach(),
                meter: crate::npc::meter::meter_text(status),
            })
        })
        .collect();
    let timeline = timeline.as_deref();
    let moment = timeline.and_then(|t| t.past());
    let word = match moment {
        Some(_) => "past",
        None => connection_word(&connection.0),
    };
    let playing = timeline
        .and_then(|t| t.playhead.as_ref())
        .filter(|head| head.playing)
        .map(|head| head.speed);
    let marks = timeline.map_or(0, |t| t.marks.len());
    let away = away.and_then(|card| card.facts());
    if mirror.moment != moment
        || mirror.playing != playing
        || mirror.marks != marks
        || mirror.away != away
    {
        mirror.moment = moment;
        mirror.playing = playing;
        mirror.marks = marks;
        mirror.away = away;
    }
    let size = windows.iter().next().map(|w| w.size()).unwrap_or_default();
    let insets = insets.map(|i| *i).unwrap_or_default();
    let free = insets.free_area(size);
    let view = [free.min.x, free.min.y, free.max.x, free.max.y].map(|v| v.round() as i32);
    let compact = chrome.is_some_and(|c| c.compact);
    let floor =
        plan.map(|plan| crate::office::world(crate::office::floor_size(&plan.0.map)).extend(0.0));
    let office = match floor.and_then(|far| Some((to_screen(Vec3::ZERO)?, to_screen(far)?))) {
        Some((near, far)) => [near.x, near.y, far.x, far.y].map(|v| v.round() as i32),
        None => [0; 4],
    };
    if mirror.view != view || mirror.compact != compact || mirror.office != office {
        mirror.view = view;
        mirror.compact = compact;
        mirror.office = office;
    }
    let (panel_controls, map_controls, timeline_controls, away_controls) = controls;
    let on_canvas = panel_controls.iter().flat_map(|c| &c.0);
    let on_canvas = on_canvas.chain(map_controls.iter().flat_map(|c| &c.0));
    let on_canvas = on_canvas.chain(timeline_controls.iter().flat_map(|c| &c.0));
    let on_canvas = on_canvas.chain(away_controls.iter().flat_map(|c| &c.0));
    if !on_canvas.clone().eq(&mirror.controls) {
        mirror.controls = on_canvas.cloned().collect();
    }
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
    npcs: Query<(&Npc, &NpcStatus)>,
    mut selected: ResMut<Selected>,
    link: Option<Res<GatewayLink>>,
    mut attention: ResMut<crate::attention::AttentionSettings>,
    mut timeline: MessageWriter<crate::timeline::TimelineRequest>,
) {
    for request in inbox.receiver.try_iter() {
        let (MirrorRequest::Select(id)
        | MirrorRequest::Run(id)
        | MirrorRequest::Answer { npc: id, .. }) = &request
        else {
            match request {
                MirrorRequest::Attention(wanted) => {
                    attention.set_if_neq(wanted);
                }
                MirrorRequest::Timeline(asked) => {
                    timeline.write(asked);
                }
                _ => {}
            }
            continue;
        };
        let Some(&entity) = index.0.get(id) else {
            continue;
        };
        match request {
            MirrorRequest::Select(_) => selected.0 = Some(entity),
            MirrorRequest::Run(_) => {
                if let (Ok((npc, _)), Some(link)) = (npcs.get(entity), &link) {
                    link.send(LinkCommand::Run {
                        agent: npc.agent.clone(),
                        payload: serde_json::json!({}),
                    });
                }
            }
            MirrorRequest::Attention(_) | MirrorRequest::Timeline(_) => {}
            MirrorRequest::Answer { decision, .. } => {
                if let (Ok((npc, status)), Some(link)) = (npcs.get(entity), &link)
                    && let Some(question) = &status.question
                {
                    link.send(LinkCommand::Respond {
                        agent: npc.agent.clone(),
                        run_id: question.run_id.clone(),
                        decision,
                        comment: None,
                        input: None,
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
            question: None,
            away: false,
            bubble: None,
            out_of_reach: None,
            meter: String::new(),
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
