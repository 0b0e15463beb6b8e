//! What an NPC looks like: copies the animation's frame, badge and desk light
//! into sprites, and draws the name label, the shadow and the speech bubble.
//! Thin adapters only; the bubble's geometry is in [`super::bubble`].

use super::Speech;
use super::animation::{Badge, Body, DeskLight, NpcAnimation};
use super::bubble::{BubbleSpot, place_bubbles, wrap};
use super::status::NpcStatus;
use super::walker::tile_at;
use crate::art::{Art, CHAR_H, VARIANTS};
use crate::office::map::{OfficeMap, Tile};
use crate::office::{CurrentPlan, DeskFurniture, PlanChanged};
use crate::roster::Npc;
use crate::roster::NpcIndex;
use crate::selection::{Hovered, Selected};
use crate::world_text::WorldText;
use bevy::prelude::*;
use bevy::sprite::Anchor;
use bevy_egui::egui::Align2;

/// Which look (row of the character sheet) an NPC wears.
#[derive(Component, Clone, Copy, Debug)]
pub struct Variant(pub usize);

#[derive(Component)]
struct BadgeSprite;
#[derive(Component)]
struct NameLabel;
#[derive(Component)]
struct ShadowSprite;

/// A speech bubble, drawn in world space above (or below) its speaker.
#[derive(Component)]
pub struct Bubble {
    pub owner: Entity,
}
#[derive(Component)]
struct BubbleText;

/// What each bubble shows and where (world units), for the page mirror.
#[derive(Resource, Default, Debug, Clone)]
pub struct ShownBubbles(pub Vec<ShownBubble>);

#[derive(Clone, Debug, PartialEq)]
pub struct ShownBubble {
    pub owner: Entity,
    pub lines: Vec<String>,
    pub rect: Rect,
}

/// The floor of each room (world units), where bubbles may go.
#[derive(Resource, Default, Debug, Clone)]
struct RoomFloors(Vec<(Vec<Tile>, Rect)>);

const LABEL_SIZE: f32 = 7.0;
/// The name sits below the feet, or below the desk's front when seated.
const LABEL_STANDING: f32 = -6.0;
const LABEL_SEATED: f32 = -12.0;
/// Names are drawn over the office (`world_text`), never hidden behind a
/// desk; their depth only orders them under the bubbles.
const LABEL_LAYER: f32 = 100.0;
const BUBBLE_SIZE: f32 = 7.0;
/// Advance of egui's monospace font (0.6 em) at `BUBBLE_SIZE`.
const CHAR_ADVANCE: f32 = 4.2;
const LINE_HEIGHT: f32 = 8.5;
const BUBBLE_CHARS: usize = 22;
const BUBBLE_LINES: usize = 3;
const BUBBLE_PAD: f32 = 3.0;
/// Above everything in the office, names included.
const BUBBLE_DEPTH: f32 = 400.0;

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<ShownBubbles>()
        .init_resource::<RoomFloors>()
        .add_systems(
            Update,
            (
                measure_rooms,
                attach_visuals,
                update_sprites,
                light_desks,
                update_bubbles,
            )
                .chain()
                .after(super::animate),
        );
}

fn attach_visuals(
    mut commands: Commands,
    art: Option<Res<Art>>,
    added: Query<(Entity, &Npc, &Variant), Added<Npc>>,
) {
    let Some(art) = art else { return };
    for (entity, npc, variant) in &added {
        let mut character = Sprite::from_atlas_image(
            art.sprites.clone(),
            TextureAtlas {
                layout: art.character_layout.clone(),
                index: (variant.0 % VARIANTS) * super::animation::POSES,
            },
        );
        character.color = Color::WHITE;
        commands
            .entity(entity)
            .insert((character, Anchor::BOTTOM_CENTER))
            .with_children(|parent| {
                parent.spawn((
                    ShadowSprite,
                    Sprite::from_atlas_image(
                        art.sprites.clone(),
                        TextureAtlas {
                            layout: art.shadow_layout.clone(),
                            index: 0,
                        },
                    ),
                    Transform::from_xyz(0.0, 1.0, -0.0005),
                    Visibility::Hidden,
                ));
                parent.spawn((
                    BadgeSprite,
                    Sprite::from_atlas_image(
                        art.sprites.clone(),
                        TextureAtlas {
                            layout: art.badge_layout.clone(),
                            index: 0,
                        },
                    ),
                    Transform::from_xyz(8.0, CHAR_H as f32 + 2.0, 0.002),
                    Visibility::Hidden,
                ));
                parent.spawn((
                    NameLabel,
                    WorldText::new(
                        npc.name.clone(),
                        LABEL_SIZE,
                        Color::srgb(1.0, 1.0, 1.0),
                        Align2::CENTER_CENTER,
                    ),
                    Transform::from_xyz(0.0, LABEL_STANDING, LABEL_LAYER),
                ));
                parent.spawn((
                    super::meter::Meter,
                    WorldText::new(
                        "",
                        super::meter::METER_SIZE,
                        Color::srgb(0.75, 0.95, 0.8),
                        Align2::CENTER_CENTER,
                    ),
                    Transform::from_xyz(
                        0.0,
                        LABEL_STANDING - super::meter::METER_BELOW,
                        LABEL_LAYER,
                    ),
                ));
            });
        commands
            .spawn((
                Name::new(format!("Bubble of {}", npc.npc)),
                Bubble { owner: entity },
                Sprite::from_color(Color::srgba(1.0, 1.0, 1.0, 0.95), Vec2::ONE),
                Anchor::BOTTOM_LEFT,
                Transform::from_xyz(0.0, 0.0, BUBBLE_DEPTH),
                Visibility::Hidden,
            ))
            .with_children(|bubble| {
                bubble.spawn((
                    BubbleText,
                    WorldText::new(
                        "",
                        BUBBLE_SIZE,
                        Color::srgb(0.1, 0.1, 0.15),
                        Align2::LEFT_BOTTOM,
                    ),
                    Transform::from_xyz(BUBBLE_PAD, BUBBLE_PAD - 1.0, 0.01),
                ));
            });
    }
}

fn update_sprites(
    mut npcs: Query<
        (
            &NpcAnimation,
            &NpcStatus,
            &Variant,
            &mut Sprite,
            &Children,
            Entity,
        ),
        With<Npc>,
    >,
    mut badges: Query<
        (&mut Sprite, &mut Transform, &mut Visibility),
        (With<BadgeSprite>, Without<Npc>, Without<ShadowSprite>),
    >,
    mut shadows: Query<&mut Visibility, (With<ShadowSprite>, Without<BadgeSprite>)>,
    mut labels: Query<
        (&mut Transform, Has<super::meter::Meter>),
        (
            Or<(With<NameLabel>, With<super::meter::Meter>)>,
            Without<BadgeSprite>,
        ),
    >,
    hovered: Res<Hovered>,
    selected: Res<Selected>,
) {
    for (animation, status, variant, mut sprite, children, entity) in &mut npcs {
        let frame = animation.frame(variant.0 % VARIANTS);
        if let Some(atlas) = sprite.texture_atlas.as_mut()
            && atlas.index != frame
        {
            atlas.index = frame;
        }
        let highlight = hovered.0 == Some(entity) || selected.0 == Some(entity);
        let tint = match (status.shown(), highlight) {
            (shown, _) if shown.offline => Color::srgb(0.5, 0.5, 0.55),
            (_, true) => Color::srgb(1.25, 1.25, 1.1),
            _ => Color::WHITE,
        };
        if sprite.color != tint {
            sprite.color = tint;
        }
        let seated = matches!(animation.body(), Body::Seated);
        for child in children.iter() {
            if let Ok((mut label, meter)) = labels.get_mut(child) {
                let y = if seated { LABEL_SEATED } else { LABEL_STANDING };
                let y = if meter {
                    y - super::meter::METER_BELOW
                } else {
                    y
                };
                if label.translation.y != y {
                    label.translation.y = y;
                }
            }
            if let Ok(mut visibility) = shadows.get_mut(child) {
                visibility.set_if_neq(if seated {
                    Visibility::Hidden
                } else {
                    Visibility::Inherited
                });
            }
            if let Ok((mut badge, mut transform, mut visibility)) = badges.get_mut(child) {
                let (index, scale, alpha) = match animation.badge() {
                    Badge::None => {
                        visibility.set_if_neq(Visibility::Hidden);
                        continue;
                    }
                    Badge::Question { pulse } => (0, pulse, 1.0),
                    Badge::Check { alpha } => (1, 1.0, alpha),
                    Badge::Alert => (2, 1.0, 1.0),
                };
                visibility.set_if_neq(Visibility::Inherited);
                if let Some(atlas) = badge.texture_atlas.as_mut() {
                    atlas.index = index;
                }
                badge.color = Color::srgba(1.0, 1.0, 1.0, alpha);
                transform.scale = Vec3::splat(scale);
            }
        }
    }
}

/// Each desk shows its owner's monitor and lamp.
fn light_desks(
    mut desks: Query<(&DeskFurniture, &mut Sprite)>,
    index: Res<NpcIndex>,
    npcs: Query<&NpcAnimation>,
) {
    for (desk, mut sprite) in &mut desks {
        let light = desk
            .owner
            .as_ref()
            .and_then(|npc| index.0.get(npc))
            .and_then(|e| npcs.get(*e).ok())
            .map_or(DeskLight::Off, NpcAnimation::desk_light);
        let frame = match light {
            DeskLight::Off => 0,
            DeskLight::MonitorOn => 1,
            DeskLight::LampRed => 2,
        };
        if let Some(atlas) = sprite.texture_atlas.as_mut()
            && atlas.index != frame
        {
            atlas.index = frame;
        }
    }
}

/// The floor of every room, measured again when the plan changes.
fn measure_rooms(
    mut changed: MessageReader<PlanChanged>,
    plan: Option<Res<CurrentPlan>>,
    mut floors: ResMut<RoomFloors>,
) {
    if changed.read().count() == 0 {
        return;
    }
    let Some(plan) = plan else { return };
    floors.0 = room_floors(&plan.0.map);
}

fn room_floors(map: &OfficeMap) -> Vec<(Vec<Tile>, Rect)> {
    let t = crate::art::TILE as f32;
    let mut rooms: Vec<(Vec<Tile>, Rect)> = map
        .rooms
        .iter()
        .filter_map(|room| {
            let tiles: Vec<Tile> = (room.y..room.y + room.h)
                .flat_map(|y| (room.x..room.x + room.w).map(move |x| Tile::new(x, y)))
                .filter(|t| map.walkable(*t) && map.room_of(*t) == Some(room))
                .collect();
            let min_x = tiles.iter().map(|t| t.x).min()?;
            let max_x = tiles.iter().map(|t| t.x).max()?;
            let min_y = tiles.iter().map(|t| t.y).min()?;
            let max_y = tiles.iter().map(|t| t.y).max()?;
            Some((
                tiles,
                Rect::new(
                    min_x as f32 * t,
                    -((max_y + 1) as f32 * t),
                    (max_x + 1) as f32 * t,
                    -(min_y as f32 * t),
                ),
            ))
        })
        .collect();
    // Anything outside the rooms: the whole map.
    rooms.push((
        Vec::new(),
        Rect::new(0.0, -(map.height as f32 * t), map.width as f32 * t, 0.0),
    ));
    rooms
}

#[allow(clippy::type_complexity)]
fn update_bubbles(
    npcs: Query<(Entity, &Speech, &NpcStatus, &NpcAnimation, &Transform), With<Npc>>,
    mut bubbles: Query<
        (
            Entity,
            &Bubble,
            &mut Sprite,
            &mut Transform,
            &mut Visibility,
            &Children,
        ),
        Without<Npc>,
    >,
    mut texts: Query<&mut WorldText, With<BubbleText>>,
    floors: Res<RoomFloors>,
    mut shown: ResMut<ShownBubbles>,
    mut commands: Commands,
    time: Res<Time>,
) {
    let now = time.elapsed_secs_f64();
    let mut wanted = Vec::new();
    for (entity, speech, status, animation, transform) in &npcs {
        if status.offline {
            continue;
        }
        let text = if now < speech.until && !speech.text.is_empty() {
            speech.text.as_str()
        } else if matches!(animation.body(), Body::Talking(_)) {
            "…"
        } else {
            continue;
        };
        let lines = wrap(text, BUBBLE_CHARS, BUBBLE_LINES);
        let longest = lines.iter().map(|l| l.chars().count()).max().unwrap_or(1);
        let size = Vec2::new(
            longest as f32 * CHAR_ADVANCE + 2.0 * BUBBLE_PAD,
            lines.len() as f32 * LINE_HEIGHT + 2.0 * BUBBLE_PAD - 2.0,
        );
        let feet = transform.translation.truncate();
        let tile = tile_at(Vec2::new(feet.x, -feet.y));
        let bounds = floors
            .0
            .iter()
            .find(|(tiles, _)| tiles.contains(&tile))
            .or(floors.0.last())
            .map_or(Rect::new(-1e6, -1e6, 1e6, 1e6), |(_, r)| *r);
        wanted.push((
            entity,
            lines,
            BubbleSpot {
                x: feet.x,
                head: feet.y + CHAR_H as f32,
                feet: feet.y,
                size,
                bounds,
            },
        ));
    }
    let corners = place_bubbles(&wanted.iter().map(|(_, _, s)| *s).collect::<Vec<_>>());
    let mut now_shown = Vec::with_capacity(wanted.len());
    for ((owner, lines, spot), corner) in wanted.into_iter().zip(corners) {
        now_shown.push(ShownBubble {
            owner,
            lines,
            rect: Rect::from_corners(corner, corner + spot.size),
        });
    }
    for (entity, bubble, mut sprite, mut transform, mut visibility, children) in &mut bubbles {
        if npcs.get(bubble.owner).is_err() {
            commands.entity(entity).despawn();
            continue;
        }
        let Some(shown) = now_shown.iter().find(|s| s.owner == bubble.owner) else {
            visibility.set_if_neq(Visibility::Hidden);
            continue;
        };
        visibility.set_if_neq(Visibility::Inherited);
        let at = shown.rect.min.round().extend(BUBBLE_DEPTH);
        if transform.translation != at {
            transform.translation = at;
        }
        let size = shown.rect.size();
        if sprite.custom_size != Some(size) {
            sprite.custom_size = Some(size);
        }
        let text = shown.lines.join("\n");
        for child in children.iter() {
            if let Ok(mut content) = texts.get_mut(child)
                && content.text != text
            {
                content.text = text.clone();
            }
        }
    }
    if shown.0 != now_shown {
        shown.0 = now_shown;
    }
}
