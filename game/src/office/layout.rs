//! The office layout from `office.ron`, and the plan that fits a roster into it:
//! named desks first, then extra desk rows in an annex, never two NPCs per desk.

use serde::Deserialize;
use std::collections::HashSet;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Facing {
    Down,
    Up,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Floor {
    Wood,
    Carpet,
    Tiles,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Decoration {
    Plant,
    Bookshelf,
    Rug,
    Window,
    Whiteboard,
    Coffee,
    Couch,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Room {
    pub name: String,
    pub x: i32,
    pub y: i32,
    pub w: i32,
    pub h: i32,
    pub floor: Floor,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Desk {
    pub name: String,
    /// The seat's tile; the desk is drawn in front of it.
    pub x: i32,
    pub y: i32,
    #[serde(default = "facing_down")]
    pub facing: Facing,
}

fn facing_down() -> Facing {
    Facing::Down
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Placed {
    pub kind: Decoration,
    pub x: i32,
    pub y: i32,
}

/// `data/office.ron`. Tile coordinates, y growing downwards.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename = "Office")]
pub struct OfficeLayout {
    /// Floor layer: rooms, each walled.
    pub rooms: Vec<Room>,
    /// Furniture layer: desks with a seat.
    pub desks: Vec<Desk>,
    /// Decoration layer.
    #[serde(default)]
    pub decorations: Vec<Placed>,
    /// Where newcomers walk in from.
    pub spawn: (i32, i32),
}

#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    Semantic { path: String, message: String },
}

/// The office that ships with the binary, so it runs with no files around it.
pub const EMBEDDED_OFFICE: &str = include_str!("../../../data/office.ron");

impl OfficeLayout {
    pub fn parse(path: &str, text: &str) -> Result<OfficeLayout, LayoutError> {
        let layout: OfficeLayout = ron::from_str(text).map_err(|e| LayoutError::Invalid {
            path: path.to_owned(),
            line: e.position.line,
            column: e.position.col,
            message: e.code.to_string(),
        })?;
        let semantic = |message: String| LayoutError::Semantic {
            path: path.to_owned(),
            message,
        };
        if layout.rooms.is_empty() {
            return Err(semantic(
                "field `rooms`: the office needs at least one room".into(),
            ));
        }
        for (i, room) in layout.rooms.iter().enumerate() {
            if room.w < 3 || room.h < 3 {
                return Err(semantic(format!(
                    "field `rooms[{i}]` ({}): a room is at least 3x3 tiles",
                    room.name
                )));
            }
        }
        let mut names = HashSet::new();
        for (i, desk) in layout.desks.iter().enumerate() {
            if !names.insert(desk.name.clone()) {
                return Err(semantic(format!(
                    "field `desks[{i}].name`: duplicate desk `{}`",
                    desk.name
                )));
            }
            if !layout
                .rooms
                .iter()
                .any(|r| r.contains(desk.x, desk.y) && r.contains(desk.x, desk.y + 1))
            {
                return Err(semantic(format!(
                    "field `desks[{i}]` ({}): seat ({}, {}) and its desk must be inside a room",
                    desk.name, desk.x, desk.y
                )));
            }
        }
        Ok(layout)
    }

    pub fn load(path: &Path) -> Result<OfficeLayout, LayoutError> {
        let text = std::fs::read_to_string(path).map_err(|e| LayoutError::Semantic {
            path: path.display().to_string(),
            message: format!("cannot read: {e}"),
        })?;
        OfficeLayout::parse(&path.display().to_string(), &text)
    }

    pub fn embedded() -> OfficeLayout {
        OfficeLayout::parse("data/office.ron (embedded)", EMBEDDED_OFFICE)
            .expect("the embedded office is valid")
    }
}

impl Room {
    /// Inside the walls (the outer ring of tiles is wall).
    pub fn contains(&self, x: i32, y: i32) -> bool {
        x > self.x && x < self.x + self.w - 1 && y > self.y && y < self.y + self.h - 1
    }
}

/// Where an NPC sits.
#[derive(Debug, Clone, PartialEq)]
pub struct Seat {
    pub npc: String,
    pub desk: String,
    pub x: i32,
    pub y: i32,
}

/// The office as drawn for a roster: the layout's rooms plus any annex.
#[derive(Debug, Clone, PartialEq)]
pub struct OfficePlan {
    pub rooms: Vec<Room>,
    pub desks: Vec<Desk>,
    pub decorations: Vec<Placed>,
    pub seats: Vec<Seat>,
    /// Size in tiles.
    pub width: i32,
    pub height: i32,
}

/// Desks per annex row and the spacing between them, in tiles.
const ANNEX_COLUMNS: i32 = 8;
const ANNEX_DESK_STEP: i32 = 3;
const ANNEX_ROW_STEP: i32 = 4;

/// Seats each npc: at the desk its agent names, else the next free desk, else
/// in an annex below the office that grows one desk row at a time.
pub fn plan(layout: &OfficeLayout, roster: &[(String, Option<String>)]) -> OfficePlan {
    let mut rooms = layout.rooms.clone();
    let mut desks = layout.desks.clone();
    let mut taken = HashSet::new();
    let mut seats: Vec<Option<Seat>> = vec![None; roster.len()];
    for (i, (npc, wanted)) in roster.iter().enumerate() {
        if let Some(desk) = wanted
            .as_ref()
            .and_then(|w| desks.iter().find(|d| &d.name == w))
        {
            if taken.insert(desk.name.clone()) {
                seats[i] = Some(Seat {
                    npc: npc.clone(),
                    desk: desk.name.clone(),
                    x: desk.x,
                    y: desk.y,
                });
            }
        }
    }
    let mut free = desks
        .iter()
        .filter(|d| !taken.contains(&d.name))
        .cloned()
        .collect::<Vec<_>>()
        .into_iter();
    let unseated: Vec<usize> = (0..roster.len()).filter(|i| seats[*i].is_none()).collect();
    let mut overflow = Vec::new();
    for i in unseated {
        match free.next() {
            Some(desk) => {
                seats[i] = Some(Seat {
                    npc: roster[i].0.clone(),
                    desk: desk.name,
                    x: desk.x,
                    y: desk.y,
                })
            }
            None => overflow.push(i),
        }
    }
    let (mut width, mut height) = extent(&rooms);
    if !overflow.is_empty() {
        let rows = (overflow.len() as i32 + ANNEX_COLUMNS - 1) / ANNEX_COLUMNS;
        let annex = Room {
            name: "Annex".into(),
            x: 0,
            y: height - 1,
            w: width.max(ANNEX_COLUMNS * ANNEX_DESK_STEP + 3),
            h: rows * ANNEX_ROW_STEP + 3,
            floor: Floor::Carpet,
        };
        for (n, i) in overflow.into_iter().enumerate() {
            let (col, row) = (n as i32 % ANNEX_COLUMNS, n as i32 / ANNEX_COLUMNS);
            let desk = Desk {
                name: format!("annex-{}", n + 1),
                x: annex.x + 2 + col * ANNEX_DESK_STEP,
                y: annex.y + 2 + row * ANNEX_ROW_STEP,
                facing: Facing::Down,
            };
            seats[i] = Some(Seat {
                npc: roster[i].0.clone(),
                desk: desk.name.clone(),
                x: desk.x,
                y: desk.y,
            });
            desks.push(desk);
        }
        rooms.push(annex);
        (width, height) = extent(&rooms);
    }
    OfficePlan {
        rooms,
        desks,
        decorations: layout.decorations.clone(),
        seats: seats
            .into_iter()
            .map(|s| s.expect("every npc is seated"))
            .collect(),
        width,
        height,
    }
}

fn extent(rooms: &[Room]) -> (i32, i32) {
    let width = rooms.iter().map(|r| r.x + r.w).max().unwrap_or(0);
    let height = rooms.iter().map(|r| r.y + r.h).max().unwrap_or(0);
    (width, height)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roster(n: usize) -> Vec<(String, Option<String>)> {
        (0..n).map(|i| (format!("npc{i}"), None)).collect()
    }

    #[test]
    fn named_desks_are_honoured_and_the_rest_fill_in_order() {
        let layout = OfficeLayout::embedded();
        let wanted = layout.desks[2].name.clone();
        let mut r = roster(3);
        r[1].1 = Some(wanted.clone());
        let plan = plan(&layout, &r);
        assert_eq!(plan.seats[1].desk, wanted);
        assert_eq!(plan.seats[0].desk, layout.desks[0].name);
        assert_eq!(plan.seats[2].desk, layout.desks[1].name);
    }

    #[test]
    fn more_agents_than_desks_grow_an_annex_without_overlap() {
        let layout = OfficeLayout::embedded();
        let n = layout.desks.len() + 30;
        let plan = plan(&layout, &roster(n));
        assert_eq!(plan.seats.len(), n);
        let positions: HashSet<_> = plan.seats.iter().map(|s| (s.x, s.y)).collect();
        assert_eq!(positions.len(), n, "no two NPCs share a seat");
        let annex = plan.rooms.last().unwrap();
        assert_eq!(annex.name, "Annex");
        assert!(
            plan.seats
                .iter()
                .all(|s| plan.rooms.iter().any(|r| r.contains(s.x, s.y)))
        );
        assert!(
            plan.height
                > OfficeLayout::embedded()
                    .rooms
                    .iter()
                    .map(|r| r.y + r.h)
                    .max()
                    .unwrap()
        );
    }

    #[test]
    fn a_bad_office_file_names_line_and_field() {
        let err = OfficeLayout::parse(
            "office.ron",
            "(\n  rooms: [],\n  desks: [],\n  spawn: (1, 1),\n  colour: 3,\n)",
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("office.ron:5:"), "{err}");
        let err =
            OfficeLayout::parse("office.ron", "(rooms: [], desks: [], spawn: (1, 1))").unwrap_err();
        assert!(err.to_string().contains("field `rooms`"), "{err}");
        let err = OfficeLayout::parse(
            "office.ron",
            "(rooms: [(name: \"a\", x: 0, y: 0, w: 5, h: 5, floor: Wood)], desks: [(name: \"d\", x: 9, y: 9)], spawn: (1, 1))",
        )
        .unwrap_err();
        assert!(err.to_string().contains("field `desks[0]`"), "{err}");
    }
}
