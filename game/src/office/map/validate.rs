//! A Tiled map checked into an [`OfficeMap`], or refused with a
//! [`MapProblem`] that names the layer and object at fault.

use super::grid::{Facing, Tile};
use super::model::{Desk, PixelRect, Place, PlaceKind, Room, TileLayer, Tileset};
use super::{OfficeMap, TILE_PX};
use crate::office::tiled::{TmjLayer, TmjMap, TmjObject, TmjTileLayer, TmjTileset};
use std::collections::HashSet;
use std::fmt;

const COLLISION_LAYER: &str = "collision";
const LARGEST_SIDE: u32 = 512;

/// An object of the map, as a problem names it: its layer, class, name and id.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectRef {
    pub layer: String,
    pub class: String,
    pub name: String,
    pub id: u32,
}

impl ObjectRef {
    fn of(layer: &str, object: &TmjObject) -> ObjectRef {
        ObjectRef {
            layer: layer.to_owned(),
            class: object.class.clone(),
            name: object.name.clone(),
            id: object.id,
        }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let layer = &self.layer;
        match (self.class.as_str(), self.name.as_str()) {
            ("", "") => write!(f, "layer {layer:?}: object {} (no class)", self.id),
            (class, "") => write!(f, "layer {layer:?}: {class} object {}", self.id),
            (class, name) => write!(f, "layer {layer:?}: {class} {name:?} (object {})", self.id),
        }
    }
}

/// Why a map cannot be the office, naming where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MapProblem {
    #[error("orientation is {0:?}; the office is drawn orthogonal")]
    Orientation(String),
    #[error("the map is infinite; save it with a fixed size (Map → Map Properties → Infinite off)")]
    Infinite,
    #[error("tiles are {0}×{1} px; the office's art is {TILE_PX}×{TILE_PX}")]
    TileSize(u32, u32),
    #[error("the map is {0}×{1} tiles; it must be between 1×1 and {LARGEST_SIDE}×{LARGEST_SIDE}")]
    MapSize(u32, u32),
    #[error("the map has no tileset")]
    NoTileset,
    #[error("the map has {0} tilesets; the office draws from one")]
    Tilesets(usize),
    #[error("tileset {0:?} is external; embed it in the map (Tiled: Map → Embed Tilesets)")]
    ExternalTileset(String),
    #[error("tileset {0:?} has no image; the office needs a single-image tileset")]
    NoTilesetImage(String),
    #[error(
        "tileset {name:?} has {w}×{h} tiles in {columns} columns; the office needs {TILE_PX}×{TILE_PX}"
    )]
    TilesetTiles {
        name: String,
        w: u32,
        h: u32,
        columns: u32,
    },
    #[error("layer {layer:?}: {message}")]
    LayerData { layer: String, message: String },
    #[error("layer {layer:?} has {found} tiles; the map is {w}×{h} = {}", w * h)]
    LayerSize {
        layer: String,
        found: usize,
        w: i32,
        h: i32,
    },
    #[error("layer {layer:?}: tile {},{} uses gid {gid}, which is not in the tileset", at.x, at.y)]
    UnknownGid { layer: String, at: Tile, gid: u32 },
    #[error(
        "the map has no tile layer named {COLLISION_LAYER:?} (paint walls and furniture on it)"
    )]
    NoCollision,
    #[error("{0} is outside the map")]
    OutsideMap(ObjectRef),
    #[error("{0} has no name (agents.json's `desk` names it)")]
    UnnamedDesk(ObjectRef),
    #[error("{0}: another desk is already named {name:?}", name = .0.name)]
    DuplicateDesk(ObjectRef),
    #[error("desk {0:?} reaches outside the map")]
    DeskOutside(String),
    #[error(
        "desk {desk:?} is inside a wall (layer {COLLISION_LAYER:?} blocks tile {},{})",
        at.x,
        at.y
    )]
    DeskInWall { desk: String, at: Tile },
    #[error(
        "{object} has class {class:?}; known classes: desk, room, entrance, whiteboard, clock, {}",
        PlaceKind::ALL.map(|(name, _)| name).join(", "),
        class = .object.class
    )]
    UnknownClass { object: ObjectRef },
    #[error("{object}: property `facing` is {value}; use up, down, left or right")]
    BadFacing { object: ObjectRef, value: String },
    #[error("the map has no object of class \"entrance\" (where newcomers walk in)")]
    NoEntrance,
    #[error("{0}: the map has more than one entrance")]
    Entrances(ObjectRef),
    #[error("the entrance is inside a wall")]
    EntranceInWall,
    #[error("the map has no desks (objects of class \"desk\")")]
    NoDesks,
    #[error("desk {0:?} cannot be reached from the entrance: it is walled in")]
    DeskWalledIn(String),
    #[error(
        "place {place:?} ({kind:?}) is inside a wall (layer {COLLISION_LAYER:?} blocks tile {},{})",
        at.x,
        at.y
    )]
    PlaceInWall {
        place: String,
        kind: PlaceKind,
        at: Tile,
    },
    #[error("place {0:?} cannot be reached from the entrance: it is walled in")]
    PlaceWalledIn(String),
}

/// Checks a parsed Tiled map and builds the office's map from it.
pub fn build(path: &str, tmj: TmjMap) -> Result<OfficeMap, MapProblem> {
    check_shape(&tmj)?;
    let tileset = tileset(&tmj)?;
    let (width, height) = (tmj.width as i32, tmj.height as i32);
    let mut map = OfficeMap {
        source: path.to_owned(),
        width,
        height,
        layers: Vec::new(),
        tileset,
        blocked: vec![false; (width * height) as usize],
        desks: Vec::new(),
        places: Vec::new(),
        rooms: Vec::new(),
        entrance: Tile::default(),
        whiteboard: None,
        clock: None,
    };
    let mut tile_layers = Vec::new();
    let mut objects = Vec::new();
    flatten(&tmj.layers, true, &mut tile_layers, &mut objects);
    read_tile_layers(&mut map, tile_layers)?;
    let entrances = read_objects(&mut map, objects)?;
    for desk in map.desks.clone() {
        for t in desk.tiles() {
            map.block(t);
        }
    }
    map.entrance = the_entrance(&map, entrances)?;
    check_reachable(&map)?;
    Ok(map)
}

/// Orientation, size and tile size: what the office's art can draw.
fn check_shape(tmj: &TmjMap) -> Result<(), MapProblem> {
    if tmj.orientation != "orthogonal" {
        return Err(MapProblem::Orientation(tmj.orientation.clone()));
    }
    if tmj.infinite {
        return Err(MapProblem::Infinite);
    }
    if tmj.tilewidth != TILE_PX || tmj.tileheight != TILE_PX {
        return Err(MapProblem::TileSize(tmj.tilewidth, tmj.tileheight));
    }
    let sides = 1..=LARGEST_SIDE;
    if !sides.contains(&tmj.width) || !sides.contains(&tmj.height) {
        return Err(MapProblem::MapSize(tmj.width, tmj.height));
    }
    Ok(())
}

/// The one embedded, single-image tileset of 16 px tiles.
fn tileset(tmj: &TmjMap) -> Result<Tileset, MapProblem> {
    let tileset: &TmjTileset = match tmj.tilesets.as_slice() {
        [one] => one,
        [] => return Err(MapProblem::NoTileset),
        more => return Err(MapProblem::Tilesets(more.len())),
    };
    if let Some(source) = &tileset.source {
        return Err(MapProblem::ExternalTileset(source.clone()));
    }
    let Some(image) = tileset.image.clone() else {
        return Err(MapProblem::NoTilesetImage(tileset.name.clone()));
    };
    if tileset.tilewidth != TILE_PX || tileset.tileheight != TILE_PX || tileset.columns == 0 {
        return Err(MapProblem::TilesetTiles {
            name: tileset.name.clone(),
            w: tileset.tilewidth,
            h: tileset.tileheight,
            columns: tileset.columns,
        });
    }
    Ok(Tileset {
        firstgid: tileset.firstgid,
        image,
        columns: tileset.columns,
        tilecount: tileset.tilecount,
        margin: tileset.margin,
        spacing: tileset.spacing,
        by_class: tileset
            .tiles
            .iter()
            .filter(|t| !t.class.is_empty())
            .map(|t| (t.class.clone(), tileset.firstgid + t.id))
            .collect(),
    })
}

/// The layers to draw, and the collision layer's walls and furniture.
fn read_tile_layers(
    map: &mut OfficeMap,
    layers: Vec<(&TmjTileLayer, bool)>,
) -> Result<(), MapProblem> {
    let mut collision = None;
    for (layer, visible) in layers {
        let gids = layer_gids(map, layer)?;
        if layer.name.eq_ignore_ascii_case(COLLISION_LAYER) {
            collision = Some(gids);
        } else if visible {
            map.layers.push(TileLayer {
                name: layer.name.clone(),
                gids,
            });
        }
    }
    let collision = collision.ok_or(MapProblem::NoCollision)?;
    for (i, gid) in collision.iter().enumerate() {
        map.blocked[i] = *gid != 0;
    }
    Ok(())
}

/// Desks, rooms, places, the whiteboard and the clock; returns the entrances.
fn read_objects(
    map: &mut OfficeMap,
    objects: Vec<(&str, &TmjObject)>,
) -> Result<Vec<(ObjectRef, Tile)>, MapProblem> {
    let mut names = HashSet::new();
    let mut entrances = Vec::new();
    for (layer, object) in objects {
        let named = ObjectRef::of(layer, object);
        let tile = object_tile(object);
        if !matches!(object.class.as_str(), "room" | "whiteboard" | "clock")
            && map.index(tile).is_none()
        {
            return Err(MapProblem::OutsideMap(named));
        }
        match object.class.as_str() {
            "desk" => map.desks.push(desk(map, &mut names, named, tile)?),
            "room" => map.rooms.push(room(object, tile)),
            "entrance" => entrances.push((named, tile)),
            "whiteboard" => map.whiteboard = Some(pixel_rect(object)),
            "clock" => map.clock = Some(pixel_rect(object)),
            _ => map.places.push(place(object, named, tile)?),
        }
    }
    Ok(entrances)
}

fn desk(
    map: &OfficeMap,
    names: &mut HashSet<String>,
    named: ObjectRef,
    at: Tile,
) -> Result<Desk, MapProblem> {
    if named.name.is_empty() {
        return Err(MapProblem::UnnamedDesk(named));
    }
    if !names.insert(named.name.clone()) {
        return Err(MapProblem::DuplicateDesk(named));
    }
    let desk = Desk {
        name: named.name,
        at,
    };
    for t in desk.tiles().into_iter().chain([desk.seat()]) {
        if map.index(t).is_none() {
            return Err(MapProblem::DeskOutside(desk.name));
        }
        if !map.walkable(t) {
            return Err(MapProblem::DeskInWall {
                desk: desk.name,
                at: t,
            });
        }
    }
    Ok(desk)
}

fn room(object: &TmjObject, at: Tile) -> Room {
    Room {
        name: if object.name.is_empty() {
            format!("room {}", object.id)
        } else {
            object.name.clone()
        },
        x: at.x,
        y: at.y,
        w: ((object.width / TILE_PX as f64).round() as i32).max(1),
        h: ((object.height / TILE_PX as f64).round() as i32).max(1),
    }
}

/// A place worth a walk: its class is one of [`PlaceKind`]'s.
fn place(object: &TmjObject, named: ObjectRef, at: Tile) -> Result<Place, MapProblem> {
    let class = object.class.as_str();
    let Some((_, kind)) = PlaceKind::ALL.iter().find(|(name, _)| *name == class) else {
        return Err(MapProblem::UnknownClass { object: named });
    };
    let facing = match object.property("facing") {
        None => Facing::Up,
        Some(value) => {
            value
                .as_str()
                .and_then(Facing::parse)
                .ok_or_else(|| MapProblem::BadFacing {
                    object: named,
                    value: value.to_string(),
                })?
        }
    };
    Ok(Place {
        name: if object.name.is_empty() {
            class.to_owned()
        } else {
            object.name.clone()
        },
        kind: *kind,
        at,
        facing,
    })
}

fn the_entrance(map: &OfficeMap, entrances: Vec<(ObjectRef, Tile)>) -> Result<Tile, MapProblem> {
    let mut entrances = entrances.into_iter();
    let Some((_, tile)) = entrances.next() else {
        return Err(MapProblem::NoEntrance);
    };
    if let Some((second, _)) = entrances.next() {
        return Err(MapProblem::Entrances(second));
    }
    if !map.walkable(tile) {
        return Err(MapProblem::EntranceInWall);
    }
    Ok(tile)
}

/// Every desk and place can be walked to from the entrance.
fn check_reachable(map: &OfficeMap) -> Result<(), MapProblem> {
    if map.desks.is_empty() {
        return Err(MapProblem::NoDesks);
    }
    let reachable = map.reachable_from(map.entrance);
    if let Some(desk) = map.desks.iter().find(|d| !reachable.contains(&d.seat())) {
        return Err(MapProblem::DeskWalledIn(desk.name.clone()));
    }
    for place in &map.places {
        if !map.walkable(place.at) {
            return Err(MapProblem::PlaceInWall {
                place: place.name.clone(),
                kind: place.kind,
                at: place.at,
            });
        }
        if !reachable.contains(&place.at) {
            return Err(MapProblem::PlaceWalledIn(place.name.clone()));
        }
    }
    Ok(())
}

/// Tile layers (with whether they are shown) and objects, groups unfolded.
fn flatten<'a>(
    layers: &'a [TmjLayer],
    visible: bool,
    tiles: &mut Vec<(&'a TmjTileLayer, bool)>,
    objects: &mut Vec<(&'a str, &'a TmjObject)>,
) {
    for layer in layers {
        match layer {
            TmjLayer::Tiles(t) => tiles.push((t, visible && t.visible)),
            TmjLayer::Objects(o) => {
                objects.extend(o.objects.iter().map(|obj| (o.name.as_str(), obj)))
            }
            TmjLayer::Group {
                layers, visible: v, ..
            } => flatten(layers, visible && *v, tiles, objects),
            TmjLayer::Image { .. } => {}
        }
    }
}

fn layer_gids(map: &OfficeMap, layer: &TmjTileLayer) -> Result<Vec<u32>, MapProblem> {
    let gids = layer.gids().map_err(|message| MapProblem::LayerData {
        layer: layer.name.clone(),
        message,
    })?;
    if gids.len() != (map.width * map.height) as usize {
        return Err(MapProblem::LayerSize {
            layer: layer.name.clone(),
            found: gids.len(),
            w: map.width,
            h: map.height,
        });
    }
    if let Some((i, gid)) = gids
        .iter()
        .enumerate()
        .find(|(_, g)| **g != 0 && map.tileset.source(**g).is_none())
    {
        return Err(MapProblem::UnknownGid {
            layer: layer.name.clone(),
            at: Tile::new(i as i32 % map.width, i as i32 / map.width),
            gid: *gid,
        });
    }
    Ok(gids)
}

/// The tile an object stands for: its top-left corner's tile (or the point's).
fn object_tile(object: &TmjObject) -> Tile {
    Tile::new(
        (object.x / TILE_PX as f64).floor() as i32,
        (object.y / TILE_PX as f64).floor() as i32,
    )
}

fn pixel_rect(object: &TmjObject) -> PixelRect {
    PixelRect {
        x: object.x as f32,
        y: object.y as f32,
        w: object.width.max(TILE_PX as f64) as f32,
        h: object.height.max(TILE_PX as f64) as f32,
    }
}
