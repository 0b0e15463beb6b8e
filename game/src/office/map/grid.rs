//! The grid the office stands on: tile positions and the way a character
//! faces.

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

    pub(super) fn parse(text: &str) -> Option<Facing> {
        match text {
            "down" => Some(Facing::Down),
            "up" => Some(Facing::Up),
            "left" => Some(Facing::Left),
            "right" => Some(Facing::Right),
            _ => None,
        }
    }
}
