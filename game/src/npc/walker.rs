//! Walking: a character follows a path of waypoints at a steady speed, in map
//! pixels (x right, y down, the character's feet). Pure, tested without a window.

use crate::office::map::{Desk, Facing, TILE_PX, Tile};
use bevy::math::Vec2;
use bevy::prelude::Component;
use std::collections::VecDeque;

/// Pixels per second: strolling, and hurrying back to work.
pub const STROLL: f32 = 40.0;
pub const HURRY: f32 = 96.0;

/// Where the feet are when standing on a tile.
pub fn standing_spot(tile: Tile) -> Vec2 {
    let t = TILE_PX as f32;
    Vec2::new(tile.x as f32 * t + t / 2.0, tile.y as f32 * t + t)
}

/// Where the feet (the sprite's bottom) are when seated at a desk: centred on
/// it, the desk's front hiding the legs.
pub fn seated_spot(desk: &Desk) -> Vec2 {
    let t = TILE_PX as f32;
    Vec2::new(desk.at.x as f32 * t + t, desk.at.y as f32 * t + 10.0)
}

/// The tile under a point (feet rest on the bottom edge of their tile).
pub fn tile_at(spot: Vec2) -> Tile {
    let t = TILE_PX as f32;
    Tile::new(
        (spot.x / t).floor() as i32,
        ((spot.y - 1.0) / t).floor() as i32,
    )
}

#[derive(Component, Clone, Debug, PartialEq)]
pub struct Walker {
    position: Vec2,
    waypoints: VecDeque<Vec2>,
    speed: f32,
    facing: Facing,
    /// Pixels walked on the current walk (drives the walk cycle).
    distance: f32,
}

impl Walker {
    pub fn at(position: Vec2) -> Walker {
        Walker {
            position: position.round(),
            waypoints: VecDeque::new(),
            speed: STROLL,
            facing: Facing::Down,
            distance: 0.0,
        }
    }

    /// Where it is now: whole pixels at rest, so pixel art stays crisp.
    pub fn position(&self) -> Vec2 {
        if self.is_walking() {
            self.position
        } else {
            self.position.round()
        }
    }

    pub fn is_walking(&self) -> bool {
        !self.waypoints.is_empty()
    }

    pub fn facing(&self) -> Facing {
        self.facing
    }

    pub fn face(&mut self, facing: Facing) {
        self.facing = facing;
    }

    pub fn distance(&self) -> f32 {
        self.distance
    }

    /// The tile it stands on (or is crossing).
    pub fn tile(&self) -> Tile {
        tile_at(self.position)
    }

    /// Sets off along `waypoints` (the first may be where it already is).
    pub fn walk(&mut self, waypoints: impl IntoIterator<Item = Vec2>, speed: f32) {
        self.waypoints = waypoints
            .into_iter()
            .filter(|w| *w != self.position)
            .collect();
        self.speed = speed;
        self.distance = 0.0;
    }

    /// Stops where it is, on a whole pixel.
    pub fn stop(&mut self) {
        self.waypoints.clear();
        self.position = self.position.round();
    }

    /// Puts it somewhere at once (a newcomer, a lost way home).
    pub fn place(&mut self, position: Vec2) {
        self.waypoints.clear();
        self.position = position.round();
    }

    /// Walks for `dt` seconds; returns true on the tick it arrives.
    pub fn tick(&mut self, dt: f32) -> bool {
        if self.waypoints.is_empty() {
            return false;
        }
        let mut budget = self.speed * dt;
        while let Some(next) = self.waypoints.front().copied() {
            let to = next - self.position;
            let length = to.length();
            if length > 0.0 {
                self.facing = facing_of(to);
            }
            if length <= budget {
                self.position = next;
                self.distance += length;
                budget -= length;
                self.waypoints.pop_front();
            } else {
                self.position += to / length * budget;
                self.distance += budget;
                return false;
            }
        }
        self.position = self.position.round();
        true
    }
}

fn facing_of(direction: Vec2) -> Facing {
    if direction.x.abs() > direction.y.abs() {
        if direction.x < 0.0 {
            Facing::Left
        } else {
            Facing::Right
        }
    } else if direction.y < 0.0 {
        Facing::Up
    } else {
        Facing::Down
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_walk_follows_the_waypoints_at_its_speed_and_rests_on_whole_pixels() {
        let start = standing_spot(Tile::new(1, 1));
        let mut walker = Walker::at(start);
        let path = [Tile::new(1, 1), Tile::new(2, 1), Tile::new(2, 2)];
        walker.walk(path.iter().map(|t| standing_spot(*t)), 32.0);
        assert!(walker.is_walking());
        assert!(!walker.tick(0.25), "8 px of 32");
        assert_eq!(walker.position(), start + Vec2::new(8.0, 0.0));
        assert_eq!(walker.facing(), Facing::Right);
        assert!(!walker.tick(0.5));
        assert_eq!(walker.facing(), Facing::Down, "turned the corner");
        assert!(walker.tick(1.0), "arrives");
        assert_eq!(walker.position(), standing_spot(Tile::new(2, 2)));
        assert_eq!(walker.position(), walker.position().round());
        assert_eq!(walker.tile(), Tile::new(2, 2));
        assert!(!walker.tick(1.0), "arrives once");
        assert_eq!(walker.distance(), 32.0);
    }

    #[test]
    fn stopping_mid_walk_rests_on_a_whole_pixel() {
        let mut walker = Walker::at(standing_spot(Tile::new(0, 0)));
        walker.walk([standing_spot(Tile::new(3, 0))], 10.0);
        walker.tick(0.33);
        walker.stop();
        assert!(!walker.is_walking());
        assert_eq!(walker.position(), walker.position().round());
    }

    #[test]
    fn seats_and_tiles_agree() {
        let desk = Desk {
            name: "d".into(),
            at: Tile::new(4, 6),
        };
        assert_eq!(tile_at(standing_spot(desk.seat())), desk.seat());
        let seated = seated_spot(&desk);
        assert_eq!(
            tile_at(seated).y,
            desk.at.y,
            "the seated body overlaps the desk's row"
        );
        assert_eq!(
            seated.x,
            (desk.at.x + 1) as f32 * TILE_PX as f32,
            "centred on the desk"
        );
    }
}
