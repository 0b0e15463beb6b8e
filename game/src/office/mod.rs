//! The office: a Tiled map ([`map`]) seated for the roster ([`plan`]),
//! painted as one pixel-perfect texture, with a desk sprite per desk. What
//! hangs on its walls is `whiteboard.rs`.
//!
//! The map in use starts as the built-in one; the gateway's copy (served at
//! `/office/`, edited in Tiled) replaces it once loaded, or the HUD says why not.

pub mod map;
pub mod plan;
pub mod tiled;

use crate::art::{Art, Canvas, DESK_H, DESK_W, TILE};
use crate::gateway_link::LinkEvent;
use crate::roster::Npc;
use crate::roster::{NpcIndex, RosterChanged, RosterOrder};
use bevy::prelude::*;
use map::{OfficeMap, TILE_PX};
use plan::{OfficePlan, plan};
use std::sync::Arc;

/// The map the office is drawn from, with its tileset image.
#[derive(Resource, Clone)]
pub struct OfficeSource {
    pub map: OfficeMap,
    pub tiles: Arc<Canvas>,
}

impl OfficeSource {
    pub fn embedded() -> OfficeSource {
        OfficeSource {
            map: OfficeMap::embedded(),
            tiles: Arc::new(
                Canvas::from_png(map::EMBEDDED_TILESET).expect("the built-in tileset decodes"),
            ),
        }
    }

    /// Validates a map and its tileset image as served by the gateway.
    pub fn load(url: &str, text: &str, tileset: &[u8]) -> Result<OfficeSource, String> {
        let map = OfficeMap::parse(url, text).map_err(|e| e.to_string())?;
        let tiles = Canvas::from_png(tileset)
            .map_err(|e| format!("{url}: tileset {:?}: {e}", map.tileset.image))?;
        let needed = map
            .tileset
            .source(map.tileset.firstgid + map.tileset.tilecount - 1);
        if let Some((x, y)) = needed
            && (x + TILE_PX > tiles.w || y + TILE_PX > tiles.h)
        {
            return Err(format!(
                "{url}: tileset {:?} is {}×{} px, too small for {} tiles in {} columns",
                map.tileset.image, tiles.w, tiles.h, map.tileset.tilecount, map.tileset.columns
            ));
        }
        Ok(OfficeSource {
            map,
            tiles: Arc::new(tiles),
        })
    }
}

/// Why the gateway's map is not the one shown, for the HUD.
#[derive(Resource, Default, Debug, Clone)]
pub struct MapProblem(pub Option<String>);

/// The office as laid out for the current roster.
#[derive(Resource, Clone, Debug)]
pub struct CurrentPlan(pub OfficePlan);

/// Sent after the plan changed (seats, or the map itself).
#[derive(Message, Clone, Debug)]
pub struct PlanChanged;

/// A desk's sprite; `owner` is the npc seated there.
#[derive(Component, Clone, Debug)]
pub struct DeskFurniture {
    pub owner: Option<String>,
}

#[derive(Component)]
struct OfficeFloor;

pub(super) fn plugin(app: &mut App) {
    if !app.world().contains_resource::<OfficeSource>() {
        app.insert_resource(OfficeSource::embedded());
    }
    app.init_resource::<MapProblem>()
        .add_message::<PlanChanged>()
        .add_systems(
            Startup,
            |mut commands: Commands, source: Res<OfficeSource>| {
                commands.insert_resource(CurrentPlan(plan(&source.map, &[])));
            },
        )
        .add_systems(
            Update,
            (take_served_map, relayout)
                .chain()
                .in_set(LayoutSystems)
                .after(crate::roster::RosterSystems)
                .before(crate::roster::SeatSystems),
        );
}

/// Taking the gateway's map and laying the office out for the roster.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub struct LayoutSystems;

/// World position of a point in map pixels (x right, y down).
pub fn world(px: Vec2) -> Vec2 {
    Vec2::new(px.x, -px.y)
}

/// The whole floor's size in world px (it spans x 0..width, y 0..-height).
pub fn floor_size(map: &OfficeMap) -> Vec2 {
    Vec2::new((map.width * TILE) as f32, (map.height * TILE) as f32)
}

/// Draw order: lower on the map is nearer, so in front.
pub fn depth(bottom_px: f32) -> f32 {
    10.0 + bottom_px * 0.001
}

fn take_served_map(
    mut link: MessageReader<LinkEvent>,
    mut source: ResMut<OfficeSource>,
    mut problem: ResMut<MapProblem>,
) {
    for event in link.read() {
        let LinkEvent::Office { url, map, tileset } = event else {
            continue;
        };
        match OfficeSource::load(url, map, tileset) {
            Ok(loaded) => {
                if loaded.map != source.map || loaded.tiles.px != source.tiles.px {
                    *source = loaded;
                }
                problem.0 = None;
            }
            Err(e) => {
                warn!("office map not used: {e}");
                problem.0 = Some(e);
            }
        }
    }
}

fn relayout(
    mut commands: Commands,
    mut roster_changed: MessageReader<RosterChanged>,
    mut plan_changed: MessageWriter<PlanChanged>,
    source: Res<OfficeSource>,
    order: Res<RosterOrder>,
    index: Res<NpcIndex>,
    npcs: Query<&Npc>,
    images: Option<ResMut<Assets<Image>>>,
    art: Option<Res<Art>>,
    old: Query<Entity, Or<(With<OfficeFloor>, With<DeskFurniture>)>>,
) {
    if roster_changed.read().count() == 0 && !source.is_changed() {
        return;
    }
    let roster: Vec<(String, Option<String>)> = order
        .0
        .iter()
        .map(|npc| {
            let desk = index
                .0
                .get(npc)
                .and_then(|e| npcs.get(*e).ok())
                .and_then(|n| n.desk.clone());
            (npc.clone(), desk)
        })
        .collect();
    let plan = plan(&source.map, &roster);
    if let (Some(mut images), Some(art)) = (images, art) {
        for entity in &old {
            commands.entity(entity).despawn();
        }
        let Vec2 { x: w, y: h } = floor_size(&plan.map);
        let image = images.add(paint(&plan.map, &source.tiles).into_image());
        commands.spawn((
            Name::new("Office floor"),
            OfficeFloor,
            Sprite::from_image(image),
            Transform::from_xyz(w / 2.0, -h / 2.0, 0.0),
        ));
        for desk in &plan.map.desks {
            let owner = plan
                .seats
                .iter()
                .find(|s| s.desk.name == desk.name)
                .map(|s| s.npc.clone());
            let bottom = ((desk.at.y + 1) * TILE) as f32;
            let centre = Vec2::new(
                (desk.at.x * TILE) as f32 + DESK_W as f32 / 2.0,
                bottom - DESK_H as f32 / 2.0,
            );
            commands.spawn((
                Name::new(format!("Desk {}", desk.name)),
                DeskFurniture { owner },
                Sprite::from_atlas_image(
                    art.sprites.clone(),
                    TextureAtlas {
                        layout: art.desk_layout.clone(),
                        index: 0,
                    },
                ),
                Transform::from_translation(world(centre).extend(depth(bottom))),
            ));
        }
    }
    commands.insert_resource(CurrentPlan(plan));
    plan_changed.write(PlanChanged);
}

/// Every tile layer of the map, in order, into one image.
pub fn paint(map: &OfficeMap, tiles: &Canvas) -> Canvas {
    let (w, h) = ((map.width * TILE) as u32, (map.height * TILE) as u32);
    let mut canvas = Canvas::new(w, h);
    canvas.rect(0, 0, w as i32, h as i32, [44, 42, 60, 255]);
    for layer in &map.layers {
        for (i, gid) in layer.gids.iter().enumerate() {
            let Some((sx, sy)) = (*gid != 0).then(|| map.tileset.source(*gid)).flatten() else {
                continue;
            };
            let (x, y) = (i as i32 % map.width, i as i32 / map.width);
            canvas.draw(tiles, sx, sy, TILE_PX, TILE_PX, x * TILE, y * TILE);
        }
    }
    canvas
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_painted_office_shows_its_floor_walls_and_furniture() {
        let source = OfficeSource::embedded();
        let canvas = paint(&source.map, &source.tiles);
        assert_eq!(
            (canvas.w, canvas.h),
            (
                (source.map.width * TILE) as u32,
                (source.map.height * TILE) as u32
            )
        );
        let colours: std::collections::HashSet<[u8; 4]> = canvas
            .px
            .chunks(4)
            .map(|p| [p[0], p[1], p[2], p[3]])
            .collect();
        assert!(colours.len() > 40, "{} colours", colours.len());
        // The collision layer is never drawn: its red stripes appear nowhere.
        assert!(!colours.iter().any(|c| c[0] > 200 && c[1] < 60 && c[2] < 60));
    }

    #[test]
    fn a_served_map_with_a_tileset_too_small_is_refused() {
        let tiny = Canvas::new(16, 16).to_png();
        let err = OfficeSource::load("http://gw/office/office.tmj", map::EMBEDDED_MAP, &tiny)
            .err()
            .unwrap();
        assert!(err.contains("too small"), "{err}");
        let err = OfficeSource::load("http://gw/office/office.tmj", map::EMBEDDED_MAP, b"nope")
            .err()
            .unwrap();
        assert!(err.contains("tileset \"tiles.png\""), "{err}");
    }
}
