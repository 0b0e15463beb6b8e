//! The office map: a Tiled `.tmj` turned into what the office needs (tile
//! layers to draw, a walkable grid, named desks, places worth a walk, rooms),
//! validated once at load with errors that name the file, layer and object.
//!
//! Conventions a map follows (the shipped `assets/office/office.tmj` shows them):
//! - 16×16 tiles, orthogonal, one tileset embedded in the map;
//! - a tile layer named `collision`: any tile on it is a wall or furniture;
//! - objects (in any object layer), told apart by their class:
//!   `desk` (2×1 tiles, the person sits on the row above it), `room`
//!   (a named rectangle), `entrance` (where newcomers walk in), `whiteboard`
//!   and `clock` (where the live numbers and the time are drawn), and places
//!   worth a walk: `coffee`, `water`, `sofa`, `window`, `bookshelf`, `plant`
//!   (the tile to stand on; an optional `facing` property: up, down, left, right).

use super::tiled::{TmjLayer, TmjMap, TmjObject, TmjTileLayer};
use std::collections::{HashMap, HashSet};

/// The only tile size the office's art uses.
pub const TILE_PX: u32 = 16;

/// A tile position: x to the right, y downwards (Tiled's convention).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Tile {
    pub x: i32,
    pub y: i32,
}

impl Tile {
    pub const fn new(x: i32, y: i32) -> Tile {
        Tile { x, y }
    }

    pub fn manhattan(self, other: Tile) -> u32 {
        self.x.abs_diff(other.x) + self.y.abs_diff(other.y)
    }

    pub fn step(self, facing: Facing) -> Tile {
        match facing {
            Facing::Up => Tile::new(self.x, self.y - 1),
            Facing::Down => Tile::new(self.x, self.y + 1),
            Facing::Left => Tile::new(self.x - 1, self.y),
            Facing::Right => Tile::new(self.x + 1, self.y),
        }
    }
}

/// Which way a character looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Facing {
    #[default]
    Down,
    Up,
    Left,
    Right,
}

impl Facing {
    /// The direction of one step from `from` to a neighbouring `to`.
    pub fn towards(from: Tile, to: Tile) -> Facing {
        let (dx, dy) = (to.x - from.x, to.y - from.y);
        if dx.abs() >= dy.abs() {
            if dx < 0 { Facing::Left } else { Facing::Right }
        } else if dy < 0 {
            Facing::Up
        } else {
            Facing::Down
        }
    }

    fn parse(text: &str) -> Option<Facing> {
        match text {
            "down" => Some(Facing::Down),
            "up" => Some(Facing::Up),
            "left" => Some(Facing::Left),
            "right" => Some(Facing::Right),
            _ => None,
        }
    }
}

/// A desk: two tiles of furniture; its person sits on the row above.
#[derive(Clone, Debug, PartialEq)]
pub struct Desk {
    pub name: String,
    /// The desk's left tile (it also covers the tile to its right).
    pub at: Tile,
}

impl Desk {
    /// Where its person sits (and walks to).
    pub fn seat(&self) -> Tile {
        Tile::new(self.at.x, self.at.y - 1)
    }

    pub fn tiles(&self) -> [Tile; 2] {
        [self.at, Tile::new(self.at.x + 1, self.at.y)]
    }
}

/// Somewhere an idle character likes to go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PlaceKind {
    Coffee,
    Water,
    Sofa,
    Window,
    Bookshelf,
    Plant,
}

impl PlaceKind {
    const ALL: [(&'static str, PlaceKind); 6] = [
        ("coffee", PlaceKind::Coffee),
        ("water", PlaceKind::Water),
        ("sofa", PlaceKind::Sofa),
        ("window", PlaceKind::Window),
        ("bookshelf", PlaceKind::Bookshelf),
        ("plant", PlaceKind::Plant),
    ];

    /// What a bubble says there, now and then.
    pub fn remark(self) -> &'static str {
        match self {
            PlaceKind::Coffee => "☕",
            PlaceKind::Water => "💧",
            PlaceKind::Sofa => "zzz",
            PlaceKind::Window => "nice view",
            PlaceKind::Bookshelf => "hmm…",
            PlaceKind::Plant => "🌱",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Place {
    pub name: String,
    pub kind: PlaceKind,
    /// The tile to stand (or sit, on a sofa) on.
    pub at: Tile,
    pub facing: Facing,
}

/// A named rectangle of tiles (inclusive of its walls).
#[derive(Clone, Debug, PartialEq)]
pub struct Room {
    pub name: String,
    pub x: i32,
    pub y: i32,
    pub w: i32,
    pub h: i32,
}

impl Room {
    pub fn contains(&self, tile: Tile) -> bool {
        tile.x >= self.x && tile.x < self.x + self.w && tile.y >= self.y && tile.y < self.y + self.h
    }
}

/// A rectangle in map pixels (y downwards).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PixelRect {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}

/// One tile layer to draw, in order.
#[derive(Clone, Debug, PartialEq)]
pub struct TileLayer {
    pub name: String,
    /// Row by row, `width × height`; 0 is empty.
    pub gids: Vec<u32>,
}

/// The map's one tileset.
#[derive(Clone, Debug, PartialEq)]
pub struct Tileset {
    pub firstgid: u32,
    /// Relative to the map file.
    pub image: String,
    pub columns: u32,
    pub tilecount: u32,
    pub margin: u32,
    pub spacing: u32,
    /// Tiles by class (`floor`, `wall`, `wall-face`), for drawing an annex.
    pub by_class: HashMap<String, u32>,
}

impl Tileset {
    /// The pixel origin of a gid's tile in the tileset image.
    pub fn source(&self, gid: u32) -> Option<(u32, u32)> {
        let id = gid.checked_sub(self.firstgid)?;
        (id < self.tilecount).then(|| {
            let (col, row) = (id % self.columns, id / self.columns);
            (
                self.margin + col * (TILE_PX + self.spacing),
                self.margin + row * (TILE_PX + self.spacing),
            )
        })
    }
}

/// A validated office map.
#[derive(Clone, Debug, PartialEq)]
pub struct OfficeMap {
    /// Where it came from, for messages.
    pub source: String,
    pub width: i32,
    pub height: i32,
    pub layers: Vec<TileLayer>,
    pub tileset: Tileset,
    /// Walls and furniture, `width × height` (desks included).
    pub blocked: Vec<bool>,
    pub desks: Vec<Desk>,
    pub places: Vec<Place>,
    pub rooms: Vec<Room>,
    pub entrance: Tile,
    pub whiteboard: Option<PixelRect>,
    pub clock: Option<PixelRect>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MapError {
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

/// The map shipped with the office, built in so it runs with no files around it.
pub const EMBEDDED_MAP: &str = include_str!("../../../assets/office/office.tmj");
/// Its tileset image.
pub const EMBEDDED_TILESET: &[u8] = include_bytes!("../../../assets/office/tiles.png");
/// The path both are served under (and found at in the repository).
pub const MAP_PATH: &str = "assets/office/office.tmj";

const COLLISION_LAYER: &str = "collision";

impl OfficeMap {
    /// The built-in office.
    pub fn embedded() -> OfficeMap {
        OfficeMap::parse(&format!("{MAP_PATH} (built in)"), EMBEDDED_MAP)
            .expect("the built-in map is valid")
    }

    pub fn parse(path: &str, text: &str) -> Result<OfficeMap, MapError> {
        let tmj: TmjMap = serde_json::from_str(text).map_err(|e| MapError::Syntax {
            path: path.to_owned(),
            line: e.line(),
            column: e.column(),
            message: e
                .to_string()
                .split(" at line ")
                .next()
                .unwrap_or("")
                .to_owned(),
        })?;
        build(path, tmj).map_err(|message| MapError::Invalid {
            path: path.to_owned(),
            message,
        })
    }

    pub fn index(&self, tile: Tile) -> Option<usize> {
        (tile.x >= 0 && tile.y >= 0 && tile.x < self.width && tile.y < self.height)
            .then(|| (tile.y * self.width + tile.x) as usize)
    }

    pub fn walkable(&self, tile: Tile) -> bool {
        self.index(tile).is_some_and(|i| !self.blocked[i])
    }

    pub fn desk(&self, name: &str) -> Option<&Desk> {
        self.desks.iter().find(|d| d.name == name)
    }

    /// The room a tile is in (the smallest, where rooms overlap at doors).
    pub fn room_of(&self, tile: Tile) -> Option<&Room> {
        self.rooms
            .iter()
            .filter(|r| r.contains(tile))
            .min_by_key(|r| r.w * r.h)
    }

    /// Walkable neighbours, for path search.
    pub fn neighbours(&self, tile: Tile) -> impl Iterator<Item = Tile> + '_ {
        [Facing::Up, Facing::Down, Facing::Left, Facing::Right]
            .into_iter()
            .map(move |f| tile.step(f))
            .filter(|t| self.walkable(*t))
    }

    /// Every tile reachable on foot from `from`.
    pub fn reachable_from(&self, from: Tile) -> HashSet<Tile> {
        pathfinding::directed::bfs::bfs_reach(from, |t| self.neighbours(*t).collect::<Vec<_>>())
            .collect()
    }

    /// The shortest walk from `from` to `to` (both included), if there is one.
    pub fn path(&self, from: Tile, to: Tile) -> Option<Vec<Tile>> {
        if from == to {
            return Some(vec![from]);
        }
        // Starting on a blocked tile (a desk moved under someone) is allowed: step off it.
        pathfinding::directed::astar::astar(
            &from,
            |t| self.neighbours(*t).map(|n| (n, 1u32)).collect::<Vec<_>>(),
            |t| t.manhattan(to),
            |t| *t == to,
        )
        .map(|(path, _)| path)
    }

    fn block(&mut self, tile: Tile) {
        if let Some(i) = self.index(tile) {
            self.blocked[i] = true;
        }
    }
}

fn build(path: &str, tmj: TmjMap) -> Result<OfficeMap, String> {
    if tmj.orientation != "orthogonal" {
        return Err(format!(
            "orientation is {:?}; the office is drawn orthogonal",
            tmj.orientation
        ));
    }
    if tmj.infinite {
        return Err(
            "the map is infinite; save it with a fixed size (Map → Map Properties → Infinite off)"
                .into(),
        );
    }
    if tmj.tilewidth != TILE_PX || tmj.tileheight != TILE_PX {
        return Err(format!(
            "tiles are {}×{} px; the office's art is {TILE_PX}×{TILE_PX}",
            tmj.tilewidth, tmj.tileheight
        ));
    }
    if tmj.width == 0 || tmj.height == 0 || tmj.width > 512 || tmj.height > 512 {
        return Err(format!(
            "the map is {}×{} tiles; it must be between 1×1 and 512×512",
            tmj.width, tmj.height
        ));
    }
    let tileset = match tmj.tilesets.as_slice() {
        [one] => one,
        [] => return Err("the map has no tileset".into()),
        more => {
            return Err(format!(
                "the map has {} tilesets; the office draws from one",
                more.len()
            ));
        }
    };
    if let Some(source) = &tileset.source {
        return Err(format!(
            "tileset {source:?} is external; embed it in the map (Tiled: Map → Embed Tilesets)"
        ));
    }
    let Some(image) = tileset.image.clone() else {
        return Err(format!(
            "tileset {:?} has no image; the office needs a single-image tileset",
            tileset.name
        ));
    };
    if tileset.tilewidth != TILE_PX || tileset.tileheight != TILE_PX || tileset.columns == 0 {
        return Err(format!(
            "tileset {:?} has {}×{} tiles in {} columns; the office needs {TILE_PX}×{TILE_PX}",
            tileset.name, tileset.tilewidth, tileset.tileheight, tileset.columns
        ));
    }
    let tiles = Tileset {
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
    };
    let (width, height) = (tmj.width as i32, tmj.height as i32);
    let mut map = OfficeMap {
        source: path.to_owned(),
        width,
        height,
        layers: Vec::new(),
        tileset: tiles,
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
    let mut collision = None;
    for (layer, visible) in tile_layers {
        let gids = layer_gids(&map, layer)?;
        if layer.name.eq_ignore_ascii_case(COLLISION_LAYER) {
            collision = Some(gids);
        } else if visible {
            map.layers.push(TileLayer {
                name: layer.name.clone(),
                gids,
            });
        }
    }
    let Some(collision) = collision else {
        return Err(format!(
            "the map has no tile layer named {COLLISION_LAYER:?} (paint walls and furniture on it)"
        ));
    };
    for (i, gid) in collision.iter().enumerate() {
        map.blocked[i] = *gid != 0;
    }

    let mut names = HashSet::new();
    let mut entrances = Vec::new();
    for (layer, object) in objects {
        let label = describe(layer, object);
        let tile = object_tile(object);
        if !matches!(object.class.as_str(), "room" | "whiteboard" | "clock")
            && map.index(tile).is_none()
        {
            return Err(format!("{label} is outside the map"));
        }
        match object.class.as_str() {
            "desk" => {
                if object.name.is_empty() {
                    return Err(format!(
                        "{label} has no name (agents.json's `desk` names it)"
                    ));
                }
                if !names.insert(object.name.clone()) {
                    return Err(format!(
                        "{label}: another desk is already named {:?}",
                        object.name
                    ));
                }
                let desk = Desk {
                    name: object.name.clone(),
                    at: tile,
                };
                for t in desk.tiles().into_iter().chain([desk.seat()]) {
                    if map.index(t).is_none() {
                        return Err(format!("desk {:?} reaches outside the map", desk.name));
                    }
                    if !map.walkable(t) {
                        return Err(format!(
                            "desk {:?} is inside a wall (layer {COLLISION_LAYER:?} blocks tile {},{})",
                            desk.name, t.x, t.y
                        ));
                    }
                }
                map.desks.push(desk);
            }
            "room" => map.rooms.push(Room {
                name: if object.name.is_empty() {
                    format!("room {}", object.id)
                } else {
                    object.name.clone()
                },
                x: tile.x,
                y: tile.y,
                w: ((object.width / TILE_PX as f64).round() as i32).max(1),
                h: ((object.height / TILE_PX as f64).round() as i32).max(1),
            }),
            "entrance" => entrances.push((label, tile)),
            "whiteboard" => map.whiteboard = Some(pixel_rect(object)),
            "clock" => map.clock = Some(pixel_rect(object)),
            class => {
                let Some((_, kind)) = PlaceKind::ALL.iter().find(|(name, _)| *name == class) else {
                    let known: Vec<&str> = PlaceKind::ALL.iter().map(|(n, _)| *n).collect();
                    return Err(format!(
                        "{label} has class {class:?}; known classes: desk, room, entrance, whiteboard, clock, {}",
                        known.join(", ")
                    ));
                };
                let facing = match object.property("facing") {
                    None => Facing::Up,
                    Some(value) => value.as_str().and_then(Facing::parse).ok_or_else(|| {
                        format!(
                            "{label}: property `facing` is {value}; use up, down, left or right"
                        )
                    })?,
                };
                map.places.push(Place {
                    name: if object.name.is_empty() {
                        class.to_owned()
                    } else {
                        object.name.clone()
                    },
                    kind: *kind,
                    at: tile,
                    facing,
                });
            }
        }
    }
    for desk in map.desks.clone() {
        for t in desk.tiles() {
            map.block(t);
        }
    }
    match entrances.as_slice() {
        [(_, tile)] => map.entrance = *tile,
        [] => {
            return Err(
                "the map has no object of class \"entrance\" (where newcomers walk in)".into(),
            );
        }
        [_, (label, _), ..] => return Err(format!("{label}: the map has more than one entrance")),
    }
    if !map.walkable(map.entrance) {
        return Err("the entrance is inside a wall".into());
    }
    if map.desks.is_empty() {
        return Err("the map has no desks (objects of class \"desk\")".into());
    }
    let reachable = map.reachable_from(map.entrance);
    for desk in &map.desks {
        if !reachable.contains(&desk.seat()) {
            return Err(format!(
                "desk {:?} cannot be reached from the entrance: it is walled in",
                desk.name
            ));
        }
    }
    for place in &map.places {
        if !map.walkable(place.at) {
            return Err(format!(
                "place {:?} ({:?}) is inside a wall (layer {COLLISION_LAYER:?} blocks tile {},{})",
                place.name, place.kind, place.at.x, place.at.y
            ));
        }
        if !reachable.contains(&place.at) {
            return Err(format!(
                "place {:?} cannot be reached from the entrance: it is walled in",
                place.name
            ));
        }
    }
    Ok(map)
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

fn layer_gids(map: &OfficeMap, layer: &TmjTileLayer) -> Result<Vec<u32>, String> {
    let name = &layer.name;
    let gids = layer.gids().map_err(|e| format!("layer {name:?}: {e}"))?;
    if gids.len() != (map.width * map.height) as usize {
        return Err(format!(
            "layer {name:?} has {} tiles; the map is {}×{} = {}",
            gids.len(),
            map.width,
            map.height,
            map.width * map.height
        ));
    }
    if let Some((i, gid)) = gids
        .iter()
        .enumerate()
        .find(|(_, g)| **g != 0 && map.tileset.source(**g).is_none())
    {
        return Err(format!(
            "layer {name:?}: tile {},{} uses gid {gid}, which is not in the tileset",
            i as i32 % map.width,
            i as i32 / map.width
        ));
    }
    Ok(gids)
}

fn describe(layer: &str, object: &TmjObject) -> String {
    match (object.class.as_str(), object.name.as_str()) {
        ("", "") => format!("layer {layer:?}: object {} (no class)", object.id),
        (class, "") => format!("layer {layer:?}: {class} object {}", object.id),
        (class, name) => format!("layer {layer:?}: {class} {name:?} (object {})", object.id),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_map_is_valid_and_every_desk_and_place_reaches_every_other() {
        let map = OfficeMap::embedded();
        assert!(map.desks.len() >= 10, "{} desks", map.desks.len());
        assert!(map.places.len() >= 4, "{} places", map.places.len());
        assert!(map.whiteboard.is_some() && map.clock.is_some());
        let spots: Vec<Tile> = map
            .desks
            .iter()
            .map(Desk::seat)
            .chain(map.places.iter().map(|p| p.at))
            .collect();
        for from in &spots {
            for to in &spots {
                let path = map
                    .path(*from, *to)
                    .unwrap_or_else(|| panic!("no way from {from:?} to {to:?}"));
                assert!(path.windows(2).all(|w| w[0].manhattan(w[1]) == 1));
                assert!(path.iter().skip(1).all(|t| map.walkable(*t)));
            }
        }
    }

    /// The shipped map with one edit to its JSON.
    fn edited(edit: impl FnOnce(&mut serde_json::Value)) -> Result<OfficeMap, MapError> {
        let mut json: serde_json::Value = serde_json::from_str(EMBEDDED_MAP).unwrap();
        edit(&mut json);
        OfficeMap::parse("office.tmj", &json.to_string())
    }

    fn collision_layer(json: &mut serde_json::Value) -> &mut Vec<serde_json::Value> {
        json["layers"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|l| l["name"] == "collision")
            .unwrap()["data"]
            .as_array_mut()
            .unwrap()
    }

    fn desk_object<'a>(json: &'a mut serde_json::Value, name: &str) -> &'a mut serde_json::Value {
        json["layers"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .filter_map(|l| l["objects"].as_array_mut())
            .flatten()
            .find(|o| o["name"] == name)
            .unwrap()
    }

    #[test]
    fn a_desk_inside_a_wall_or_walled_in_fails_with_its_name() {
        let map = OfficeMap::embedded();
        let width = map.width;
        let seat = map.desk("desk-9").unwrap().seat();
        let err = edited(|json| {
            collision_layer(json)[(seat.y * width + seat.x) as usize] = 1.into();
        })
        .unwrap_err();
        assert!(
            err.to_string().contains("desk \"desk-9\" is inside a wall"),
            "{err}"
        );

        // Walls all around the desk and its seat, none on them.
        let desk = map.desk("desk-9").unwrap().clone();
        let err = edited(|json| {
            let inside: Vec<Tile> = desk.tiles().into_iter().chain([desk.seat()]).collect();
            let layer = collision_layer(json);
            for y in desk.seat().y - 1..=desk.at.y + 1 {
                for x in desk.at.x - 1..=desk.at.x + 2 {
                    if !inside.contains(&Tile::new(x, y)) {
                        layer[(y * width + x) as usize] = 1.into();
                    }
                }
            }
        })
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("desk \"desk-9\" cannot be reached from the entrance"),
            "{err}"
        );
    }

    #[test]
    fn broken_maps_say_file_line_layer_and_object() {
        let err =
            OfficeMap::parse("office.tmj", "{\n  \"width\": 3,\n  \"height\": }").unwrap_err();
        assert!(err.to_string().starts_with("office.tmj:3:"), "{err}");

        let err = edited(|json| {
            desk_object(json, "desk-2")["type"] = "cofee".into();
        })
        .unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("office.tmj: layer "), "{text}");
        assert!(
            text.contains("\"desk-2\"") && text.contains("\"cofee\""),
            "{text}"
        );

        let err = edited(|json| {
            desk_object(json, "desk-2")["name"] = "desk-1".into();
        })
        .unwrap_err();
        assert!(
            err.to_string().contains("already named \"desk-1\""),
            "{err}"
        );

        let err = edited(|json| {
            json["layers"]
                .as_array_mut()
                .unwrap()
                .retain(|l| l["name"] != "collision");
        })
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("no tile layer named \"collision\""),
            "{err}"
        );

        let err = edited(|json| {
            json["tilesets"][0] = serde_json::json!({"firstgid": 1, "source": "tiles.tsj"});
        })
        .unwrap_err();
        assert!(err.to_string().contains("embed it"), "{err}");
    }

    #[test]
    fn paths_go_around_furniture() {
        let map = OfficeMap::embedded();
        let a = map.desks[0].seat();
        let b = map.desks[map.desks.len() - 1].seat();
        let path = map.path(a, b).unwrap();
        assert_eq!(path.first(), Some(&a));
        assert_eq!(path.last(), Some(&b));
        assert!(path.len() as u32 > a.manhattan(b), "detours around desks");
        for desk in &map.desks {
            for t in desk.tiles() {
                assert!(!path.contains(&t), "walked over {}", desk.name);
            }
        }
    }
}
