//! Getting a person's attention when an agent starts waiting for them: a
//! message per new question, which the browser turns into an optional chime
//! and, while the tab is hidden, an opt-in notification (`web.rs` and the
//! page's loader). A question already pending when the office opened is not
//! news: the roster, the banner and the mirror show it.

use crate::npc::status::NpcStatus;
use crate::roster::Npc;
use bevy::prelude::*;
use std::collections::HashMap;

/// An agent has just asked a question.
#[derive(Message, Clone, Debug, PartialEq)]
pub struct AttentionWanted {
    pub npc: String,
    pub name: String,
    pub question: String,
}

/// What the person chose in the HUD (both off until they turn them on).
#[derive(Resource, Default, Debug, Clone, Copy, PartialEq)]
pub struct AttentionSettings {
    pub chime: bool,
    pub notify: bool,
}

pub(super) fn plugin(app: &mut App) {
    app.add_message::<AttentionWanted>()
        .init_resource::<AttentionSettings>()
        .add_systems(Update, notice_questions.after(crate::roster::RosterSystems));
}

/// Each npc's last seen question (run and event), so a question counts once.
fn notice_questions(
    npcs: Query<(Entity, &Npc, &NpcStatus), Changed<NpcStatus>>,
    mut seen: Local<HashMap<Entity, Option<(String, u64)>>>,
    mut wanted: MessageWriter<AttentionWanted>,
    timeline: Option<Res<crate::timeline::Timeline>>,
) {
    // A question replayed from the past is no news.
    let past = timeline.is_some_and(|t| t.is_past());
    for (entity, npc, status) in &npcs {
        // Keyed by the question, not the status: going offline and back is no news.
        let now = status
            .question
            .as_ref()
            .map(|q| (q.run_id.clone(), q.event_id));
        let Some(before) = seen.insert(entity, now.clone()) else {
            // Just arrived with the roster: pending, not new.
            continue;
        };
        if let (Some(question), false) = (&status.question, now == before || status.offline || past)
        {
            wanted.write(AttentionWanted {
                npc: npc.npc.clone(),
                name: npc.name.clone(),
                question: question.question.clone(),
            });
        }
    }
}
