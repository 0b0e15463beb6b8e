//! What a map holds besides its grid: desks, places worth a walk, rooms,
//! pixel rectangles, tile layers and the tileset.

use super::TILE_PX;
use super::grid::{Facing, Tile};
use std::collections::HashMap;

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
    /// Where a character over its daily budget sits until the bench is lifted.
    Bench,
}

impl PlaceKind {
    pub(super) const ALL: [(&'static str, PlaceKind); 7] = [
        ("coffee", PlaceKind::Coffee),
        ("water", PlaceKind::Water),
        ("sofa", PlaceKind::Sofa),
        ("window", PlaceKind::Window),
        ("bookshelf", PlaceKind::Bookshelf),
        ("plant", PlaceKind::Plant),
        ("bench", PlaceKind::Bench),
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
            PlaceKind::Bench => "over budget",
        }
    }

    /// Sat on, not stood at.
    pub fn is_seat(self) -> bool {
        matches!(self, PlaceKind::Sofa | PlaceKind::Bench)
    }

    /// Somewhere an idle character may wander to (the bench is not).
    pub fn is_pastime(self) -> bool {
        self != PlaceKind::Bench
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
