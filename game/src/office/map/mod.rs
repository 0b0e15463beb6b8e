//! The office map: a Tiled `.tmj` turned into what the office needs (tile
//! layers to draw, a walkable grid, named desks, places worth a walk, rooms),
//! validated once at load with errors that name the file, layer and object.
//! The grid is `grid.rs`, what stands on it `model.rs`, the checks
//! `validate.rs`; here is the map and the ways to walk it.
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

mod grid;
mod model;
mod validate;

pub use grid::{Facing, Tile};
pub use model::{Desk, PixelRect, Place, PlaceKind, Room, TileLayer, Tileset};
pub use validate::{MapProblem, ObjectRef};

use super::tiled::TmjMap;
use std::collections::HashSet;

/// The only tile size the office's art uses.
pub const TILE_PX: u32 = 16;

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
    #[error("{path}: {problem}")]
    Invalid {
        path: String,
        problem: Box<MapProblem>,
    },
}

/// The map shipped with the office, built in so it runs with no files around it.
pub const EMBEDDED_MAP: &str = include_str!("../../../../assets/office/office.tmj");
/// Its tileset image.
pub const EMBEDDED_TILESET: &[u8] = include_bytes!("../../../../assets/office/tiles.png");
/// The path both are served under (and found at in the repository).
pub const MAP_PATH: &str = "assets/office/office.tmj";

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
        validate::build(path, tmj).map_err(|problem| MapError::Invalid {
            path: path.to_owned(),
            problem: Box::new(problem),
        })
    }

    pub fn index(&self, tile: Tile) -> Option<usize> {
        (tile.x >= 0 && tile.y >= 0 && tile.x < self.width && tile.y < self.height)
            .then(|| (tile.y * self.width + tile.x) as usize)
    }

    pub fn walkable(&self, tile: Tile) -> bool {
        self.index(tile).is_some_and(|i| !self.blocked[i])
    }

    /// The place a character over its budget sits, if the map names one.
    pub fn bench(&self) -> Option<usize> {
        self.places.iter().position(|p| p.kind == PlaceKind::Bench)
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
        let MapError::Invalid { problem, .. } = err else {
            panic!("{text}")
        };
        let MapProblem::UnknownClass { object } = *problem else {
            panic!("{text}")
        };
        assert_eq!(
            (object.name.as_str(), object.class.as_str()),
            ("desk-2", "cofee")
        );
        assert!(!object.layer.is_empty(), "the problem names its layer");

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
