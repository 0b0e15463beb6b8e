//! Who is where in the office, as the behaviour machine needs it to choose
//! where an idle character may go: tiles somebody rests at or walks to,
//! everyone's desk, who sits idle (a colleague to visit), who is being
//! visited. Plain Rust, tested without a world.

use super::behaviour::{Activity, Goal, Options};
use crate::office::map::{Desk, OfficeMap, Tile};
use std::collections::{HashMap, HashSet};

/// One character, as the occupancy counts it.
#[derive(Clone, Debug)]
pub struct Occupant<'a> {
    pub npc: &'a str,
    /// Where its walk ends (nobody else may rest there).
    pub heading_to: Option<Tile>,
    pub desk: Option<&'a Desk>,
    /// Idle at its desk, and the office can tell: a colleague to visit.
    pub idle_at_desk: bool,
    pub activity: &'a Activity,
}

#[derive(Clone, Debug, Default)]
pub struct Occupancy {
    taken: HashSet<Tile>,
    pub desks_of: HashMap<String, Desk>,
    idle_at_desk: Vec<String>,
    /// Colleagues somebody visits or walks to: nobody else goes there.
    hosts: HashSet<String>,
    free_places: Vec<usize>,
}

impl Occupancy {
    pub fn of<'a>(map: &OfficeMap, people: impl IntoIterator<Item = Occupant<'a>>) -> Occupancy {
        let mut occupancy = Occupancy::default();
        for person in people {
            if let Some(tile) = person.heading_to {
                occupancy.taken.insert(tile);
            }
            if let Some(desk) = person.desk {
                occupancy
                    .desks_of
                    .insert(person.npc.to_owned(), desk.clone());
                if person.idle_at_desk {
                    occupancy.idle_at_desk.push(person.npc.to_owned());
                }
            }
            if let Activity::Walking {
                goal: Goal::Colleague(host),
                ..
            }
            | Activity::Away {
                goal: Goal::Colleague(host),
                ..
            } = person.activity
            {
                occupancy.hosts.insert(host.clone());
            }
        }
        occupancy.free_places = map
            .places
            .iter()
            .enumerate()
            .filter(|(_, p)| p.kind.is_pastime() && !occupancy.taken.contains(&p.at))
            .map(|(i, _)| i)
            .collect();
        occupancy
    }

    /// Where `npc` may go now: free places, and idle colleagues nobody
    /// visits, with room beside their desk.
    pub fn options_for(&self, map: &OfficeMap, npc: &str) -> Options {
        Options {
            free_places: self.free_places.clone(),
            colleagues: self
                .idle_at_desk
                .iter()
                .filter(|c| *c != npc && !self.hosts.contains(*c))
                .filter(|c| {
                    self.desks_of
                        .get(*c)
                        .and_then(|d| beside(map, d))
                        .is_some_and(|t| !self.taken.contains(&t))
                })
                .cloned()
                .collect(),
        }
    }

    /// `host` is being visited now: nobody else goes there.
    pub fn visiting(&mut self, host: &str) {
        self.hosts.insert(host.to_owned());
    }
}

/// A free tile beside a colleague's seat, to stand and chat.
pub fn beside(map: &OfficeMap, desk: &Desk) -> Option<Tile> {
    let seat = desk.seat();
    [
        Tile::new(seat.x - 1, seat.y),
        Tile::new(seat.x + 2, seat.y),
        Tile::new(seat.x, seat.y - 1),
        Tile::new(seat.x + 1, seat.y - 1),
    ]
    .into_iter()
    .find(|t| map.walkable(*t))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person<'a>(
        npc: &'a str,
        desk: &'a Desk,
        idle: bool,
        activity: &'a Activity,
    ) -> Occupant<'a> {
        Occupant {
            npc,
            heading_to: None,
            desk: Some(desk),
            idle_at_desk: idle,
            activity,
        }
    }

    #[test]
    fn a_place_somebody_walks_to_and_a_visited_colleague_are_not_offered() {
        let map = OfficeMap::embedded();
        let (ada_desk, bo_desk, cy_desk) = (
            map.desks[0].clone(),
            map.desks[1].clone(),
            map.desks[2].clone(),
        );
        let at_desk = Activity::AtDesk;
        let visiting_cy = Activity::Walking {
            goal: Goal::Colleague("cy".into()),
            hurry: false,
        };
        let mut bo = person("bo", &bo_desk, false, &visiting_cy);
        bo.heading_to = Some(map.places[0].at);
        let occupancy = Occupancy::of(
            &map,
            [
                person("ada", &ada_desk, true, &at_desk),
                bo,
                person("cy", &cy_desk, true, &at_desk),
            ],
        );
        let options = occupancy.options_for(&map, "ada");
        assert!(
            !options.free_places.contains(&0),
            "somebody is heading there"
        );
        // Every place but the one taken and the budget bench (not a pastime).
        assert_eq!(options.free_places.len(), map.places.len() - 2);
        assert!(!options.free_places.contains(&map.bench().unwrap()));
        assert!(
            options.colleagues.is_empty(),
            "cy has a visitor, ada is herself"
        );
        let for_cy = occupancy.options_for(&map, "cy");
        assert_eq!(for_cy.colleagues, ["ada"]);
        let mut later = occupancy.clone();
        later.visiting("ada");
        assert!(later.options_for(&map, "cy").colleagues.is_empty());
    }

    #[test]
    fn there_is_room_beside_every_shipped_desk() {
        let map = OfficeMap::embedded();
        for desk in &map.desks {
            assert!(beside(&map, desk).is_some(), "{}", desk.name);
        }
    }
}
