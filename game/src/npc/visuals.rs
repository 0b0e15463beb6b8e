//! What an NPC looks like: copies the animation's frame, badge and desk light
//! into sprites, and draws the name label and speech bubble. Thin adapters only.

use super::Speech;
use super::animation::{Badge, DeskLight, NpcAnimation};
use super::bubble::{BubbleSpot, stack_bubbles};
use super::status::{Npc, NpcStatus};
use crate::art::{Art, CHAR_H, VARIANTS};
use bevy::prelude::*;
use bevy::sprite::Anchor;

/// Which look (row of the character sheet) an NPC wears.
#[derive(Component, Clone, Copy, Debug)]
pub struct Variant(pub usize);

#[derive(Component)]
struct DeskSprite;
#[derive(Component)]
struct BadgeSprite;
#[derive(Component)]
struct BubbleText;
#[derive(Component)]
struct BubbleBack;

/// The NPC under the pointer, for the tooltip.
#[derive(Resource, Default, Debug)]
pub struct Hovered(pub Option<Entity>);

/// The selected NPC (panel open), shared by clicks, the roster and the page.
#[derive(Resource, Default, Debug, Clone, Copy, PartialEq)]
pub struct Selected(pub Option<Entity>);

const LABEL_SIZE: f32 = 7.0;
const BUBBLE_SIZE: f32 = 7.0;
/// Approximate advance of the default font at `BUBBLE_SIZE`, for bubble widths.
const CHAR_ADVANCE: f32 = 4.3;

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<Hovered>()
        .init_resource::<Selected>()
        .add_systems(
            Update,
            (attach_visuals, update_sprites, update_bubbles)
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
        let character = Sprite::from_atlas_image(
            art.characters.clone(),
            TextureAtlas {
                layout: art.character_layout.clone(),
                index: (variant.0 % VARIANTS) * super::animation::POSES,
            },
        );
        commands
            .entity(entity)
            .insert((character, Pickable::default()))
            .observe(
                |click: On<Pointer<Click>>, mut selected: ResMut<Selected>| {
                    selected.0 = Some(click.entity);
                },
            )
            .observe(|over: On<Pointer<Over>>, mut hovered: ResMut<Hovered>| {
                hovered.0 = Some(over.entity);
            })
            .observe(|out: On<Pointer<Out>>, mut hovered: ResMut<Hovered>| {
                if hovered.0 == Some(out.entity) {
                    hovered.0 = None;
                }
            })
            .with_children(|parent| {
                parent.spawn((
                    DeskSprite,
                    Sprite::from_atlas_image(
                        art.desks.clone(),
                        TextureAtlas {
                            layout: art.desk_layout.clone(),
                            index: 0,
                        },
                    ),
                    Transform::from_xyz(0.0, -8.0, 0.5),
                    Pickable::IGNORE,
                ));
                parent.spawn((
                    BadgeSprite,
                    Sprite::from_atlas_image(
                        art.badges.clone(),
                        TextureAtlas {
                            layout: art.badge_layout.clone(),
                            index: 0,
                        },
                    ),
                    Transform::from_xyz(9.0, CHAR_H as f32 / 2.0 + 2.0, 2.0),
                    Visibility::Hidden,
                    Pickable::IGNORE,
                ));
                parent.spawn((
                    Text2d::new(npc.name.clone()),
                    TextFont::from_font_size(LABEL_SIZE),
                    TextColor(Color::srgb(0.95, 0.95, 1.0)),
                    Transform::from_xyz(0.0, -22.0, 3.0),
                    Pickable::IGNORE,
                ));
                parent.spawn((
                    BubbleBack,
                    Sprite::from_color(Color::srgba(1.0, 1.0, 1.0, 0.95), Vec2::ONE),
                    Anchor::BOTTOM_CENTER,
                    Transform::from_xyz(0.0, 20.0, 4.0),
                    Visibility::Hidden,
                    Pickable::IGNORE,
                ));
                parent.spawn((
                    BubbleText,
                    Text2d::new(""),
                    TextFont::from_font_size(BUBBLE_SIZE),
                    TextColor(Color::srgb(0.1, 0.1, 0.15)),
                    Anchor::BOTTOM_CENTER,
                    Transform::from_xyz(0.0, 22.0, 5.0),
                    Visibility::Hidden,
                    Pickable::IGNORE,
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
    mut desks: Query<&mut Sprite, (With<DeskSprite>, Without<Npc>, Without<BadgeSprite>)>,
    mut badges: Query<
        (&mut Sprite, &mut Transform, &mut Visibility),
        (With<BadgeSprite>, Without<Npc>, Without<DeskSprite>),
    >,
    hovered: Res<Hovered>,
    selected: Res<Selected>,
) {
    for (animation, status, variant, mut sprite, children, entity) in &mut npcs {
        let frame = animation.frame(variant.0 % VARIANTS);
        if let Some(atlas) = sprite.texture_atlas.as_mut() {
            if atlas.index != frame {
                atlas.index = frame;
            }
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
        for child in children.iter() {
            if let Ok(mut desk) = desks.get_mut(child) {
                let index = match animation.desk_light() {
                    DeskLight::Off => 0,
                    DeskLight::MonitorOn => 1,
                    DeskLight::LampRed => 2,
                };
                if let Some(atlas) = desk.texture_atlas.as_mut() {
                    if atlas.index != index {
                        atlas.index = index;
                    }
                }
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

#[allow(clippy::type_complexity)]
fn update_bubbles(
    npcs: Query<(&Speech, &NpcStatus, &GlobalTransform, &Children), With<Npc>>,
    mut texts: Query<
        (&mut Text2d, &mut Transform, &mut Visibility),
        (With<BubbleText>, Without<BubbleBack>),
    >,
    mut backs: Query<
        (&mut Sprite, &mut Transform, &mut Visibility),
        (With<BubbleBack>, Without<BubbleText>),
    >,
    time: Res<Time>,
) {
    let now = time.elapsed_secs_f64();
    let mut shown = Vec::new();
    for (speech, status, global, children) in &npcs {
        let visible = now < speech.until && !speech.text.is_empty() && !status.offline;
        let width = speech.text.chars().count() as f32 * CHAR_ADVANCE + 6.0;
        if visible {
            let at = global.translation();
            shown.push((
                children,
                BubbleSpot {
                    x: at.x,
                    y: at.y + 20.0,
                    width,
                    height: BUBBLE_SIZE + 5.0,
                },
                &speech.text,
            ));
        } else {
            for child in children.iter() {
                if let Ok((_, _, mut v)) = texts.get_mut(child) {
                    v.set_if_neq(Visibility::Hidden);
                }
                if let Ok((_, _, mut v)) = backs.get_mut(child) {
                    v.set_if_neq(Visibility::Hidden);
                }
            }
        }
    }
    let lifts = stack_bubbles(&shown.iter().map(|(_, spot, _)| *spot).collect::<Vec<_>>());
    for ((children, spot, text), lift) in shown.into_iter().zip(lifts) {
        for child in children.iter() {
            if let Ok((mut content, mut transform, mut v)) = texts.get_mut(child) {
                if content.0 != *text {
                    content.0 = text.clone();
                }
                transform.translation.y = 22.0 + lift;
                v.set_if_neq(Visibility::Inherited);
            }
            if let Ok((mut back, mut transform, mut v)) = backs.get_mut(child) {
                back.custom_size = Some(Vec2::new(spot.width, spot.height));
                transform.translation.y = 20.0 + lift;
                v.set_if_neq(Visibility::Inherited);
            }
        }
    }
}
