//! Seating a roster: each agent at the desk `agents.json` names, the rest at
//! free desks in map order, and when the map runs out of desks, an annex of
//! desk rows below it (one row of eight at a time), reached through a door.

use super::map::{Desk, OfficeMap, Room, Tile, TileLayer};
use std::collections::HashSet;

/// Where an NPC sits.
#[derive(Debug, Clone, PartialEq)]
pub struct Seat {
    pub npc: String,
    pub desk: Desk,
}

/// The office as laid out for a roster: the map (grown by an annex if
/// needed) and everyone's seat.
#[derive(Debug, Clone, PartialEq)]
pub struct OfficePlan {
    pub map: OfficeMap,
    pub seats: Vec<Seat>,
}

impl OfficePlan {
    pub fn seat_of(&self, npc: &str) -> Option<&Seat> {
        self.seats.iter().find(|s| s.npc == npc)
    }
}

const ANNEX_COLUMNS: i32 = 8;
const ANNEX_DESK_STEP: i32 = 3;
const ANNEX_ROW_STEP: i32 = 4;

/// Seats each `(npc, wanted desk)` of the roster, in roster order.
pub fn plan(map: &OfficeMap, roster: &[(String, Option<String>)]) -> OfficePlan {
    let mut taken = HashSet::new();
    let mut seats: Vec<Option<Desk>> = vec![None; roster.len()];
    for (i, (_, wanted)) in roster.iter().enumerate() {
        if let Some(desk) = wanted.as_deref().and_then(|w| map.desk(w))
            && taken.insert(desk.name.clone())
        {
            seats[i] = Some(desk.clone());
        }
    }
    let mut free = map.desks.iter().filter(|d| !taken.contains(&d.name));
    let mut overflow = Vec::new();
    for (i, seat) in seats.iter_mut().enumerate() {
        if seat.is_none() {
            match free.next() {
                Some(desk) => *seat = Some(desk.clone()),
                None => overflow.push(i),
            }
        }
    }
    let mut map = map.clone();
    if !overflow.is_empty() {
        let desks = grow_annex(&mut map, overflow.len());
        for (i, desk) in overflow.into_iter().zip(desks) {
            seats[i] = Some(desk);
        }
    }
    OfficePlan {
        seats: roster
            .iter()
            .zip(seats)
            .map(|((npc, _), desk)| Seat {
                npc: npc.clone(),
                desk: desk.expect("every npc is seated"),
            })
            .collect(),
        map,
    }
}

/// Adds an annex with `count` desks below the map; returns the new desks.
fn grow_annex(map: &mut OfficeMap, count: usize) -> Vec<Desk> {
    let rows = (count as i32 + ANNEX_COLUMNS - 1) / ANNEX_COLUMNS;
    let old = (map.width, map.height);
    let width = old.0.max(ANNEX_COLUMNS * ANNEX_DESK_STEP + 3);
    let top = old.1;
    let height = top + rows * ANNEX_ROW_STEP + 2;
    let resize = |cells: &[u32]| -> Vec<u32> {
        let mut out = vec![0; (width * height) as usize];
        for y in 0..old.1 {
            for x in 0..old.0 {
                out[(y * width + x) as usize] = cells[(y * old.0 + x) as usize];
            }
        }
        out
    };
    for layer in &mut map.layers {
        layer.gids = resize(&layer.gids);
    }
    let mut blocked = vec![true; (width * height) as usize];
    for y in 0..old.1 {
        for x in 0..old.0 {
            blocked[(y * width + x) as usize] = map.blocked[(y * old.0 + x) as usize];
        }
    }
    map.blocked = blocked;
    map.width = width;
    map.height = height;

    // The door: through the bottom wall where it is already open (an
    // entrance), else where the floor above reaches it, nearest the middle.
    let bottom = old.1 - 1;
    let door = (1..old.0 - 1)
        .find(|&x| map.walkable(Tile::new(x, bottom)))
        .or_else(|| {
            (1..old.0 - 1)
                .filter(|&x| map.walkable(Tile::new(x, bottom - 1)))
                .min_by_key(|&x| (x - old.0 / 2).abs())
        })
        .unwrap_or(old.0 / 2);

    let class = |name: &str| map.tileset.by_class.get(name).copied().unwrap_or(0);
    let (floor, wall, face) = (class("floor"), class("wall"), class("wall-face"));
    let mut annex = vec![0; (width * height) as usize];
    for y in top..height {
        for x in 0..width {
            let edge = x == 0 || x == width - 1 || y == height - 1;
            let gid = if edge {
                wall
            } else if y == top {
                face
            } else {
                floor
            };
            annex[(y * width + x) as usize] = gid;
            map.blocked[(y * width + x) as usize] = edge || y == top;
        }
    }
    for y in [bottom, top] {
        annex[(y * width + door) as usize] = floor;
        map.blocked[(y * width + door) as usize] = false;
    }
    map.layers.push(TileLayer {
        name: "annex".into(),
        gids: annex,
    });
    map.rooms.push(Room {
        name: "Annex".into(),
        x: 0,
        y: top,
        w: width,
        h: height - top,
    });

    let mut desks = Vec::with_capacity(count);
    for n in 0..count as i32 {
        let (col, row) = (n % ANNEX_COLUMNS, n / ANNEX_COLUMNS);
        let desk = Desk {
            name: format!("annex-{}", n + 1),
            at: Tile::new(2 + col * ANNEX_DESK_STEP, top + 3 + row * ANNEX_ROW_STEP),
        };
        for t in desk.tiles() {
            if let Some(i) = map.index(t) {
                map.blocked[i] = true;
            }
        }
        map.desks.push(desk.clone());
        desks.push(desk);
    }
    desks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roster(n: usize) -> Vec<(String, Option<String>)> {
        (0..n).map(|i| (format!("npc{i}"), None)).collect()
    }

    #[test]
    fn named_desks_are_honoured_and_the_rest_fill_in_order() {
        let map = OfficeMap::embedded();
        let wanted = map.desks[2].name.clone();
        let mut r = roster(3);
        r[1].1 = Some(wanted.clone());
        r[2].1 = Some(wanted.clone());
        let plan = plan(&map, &r);
        assert_eq!(plan.seats[1].desk.name, wanted);
        assert_eq!(plan.seats[0].desk.name, map.desks[0].name);
        assert_eq!(
            plan.seats[2].desk.name, map.desks[1].name,
            "a taken desk is not shared"
        );
        assert_eq!(plan.map, map, "no annex needed");
    }

    #[test]
    fn more_agents_than_desks_grow_a_reachable_annex_without_overlap() {
        let map = OfficeMap::embedded();
        let n = map.desks.len() + 20;
        let plan = plan(&map, &roster(n));
        assert_eq!(plan.seats.len(), n);
        let seats: HashSet<Tile> = plan.seats.iter().map(|s| s.desk.seat()).collect();
        assert_eq!(seats.len(), n, "no two NPCs share a seat");
        assert!(plan.map.height > map.height);
        assert_eq!(plan.map.rooms.last().unwrap().name, "Annex");
        let reachable = plan.map.reachable_from(plan.map.entrance);
        for seat in &plan.seats {
            assert!(
                reachable.contains(&seat.desk.seat()),
                "{} at {:?} is reachable",
                seat.npc,
                seat.desk
            );
            for t in seat.desk.tiles() {
                assert!(!plan.map.walkable(t), "desks block");
            }
        }
        for layer in &plan.map.layers {
            assert_eq!(
                layer.gids.len(),
                (plan.map.width * plan.map.height) as usize
            );
        }
    }
}
