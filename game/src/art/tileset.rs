//! The office tileset (`assets/office/tiles.png`): floors, walls, windows,
//! the whiteboard and furniture as 16×16 tiles for maps drawn in Tiled.
//!
//! The PNG is generated from this code so the art stays ours:
//! `cargo run -p game --example office-tileset` rewrites it, and a test
//! checks that the committed file matches.

use super::characters::SHIRTS;
use super::{Canvas, OUTLINE, Rgba, darker, rgb};

pub const COLUMNS: u32 = 8;
pub const ROWS: u32 = 5;
const T: i32 = 16;

/// Every tile, by its index in the tileset (gid − 1 in the shipped map).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TileArt {
    WoodA = 0,
    WoodB,
    CarpetA,
    CarpetB,
    KitchenA,
    KitchenB,
    Rug,
    Doormat,
    WallTop = 8,
    WallUpper,
    WallLower,
    WindowUpperLeft,
    WindowUpperRight,
    WindowLowerLeft,
    WindowLowerRight,
    Picture,
    BoardUpperLeft = 16,
    BoardUpper,
    BoardUpperRight,
    BoardLowerLeft,
    BoardLower,
    BoardLowerRight,
    Plant,
    Collision,
    ShelfUpperLeft = 24,
    ShelfUpperRight,
    ShelfLowerLeft,
    ShelfLowerRight,
    CoffeeTop,
    CoffeeBottom,
    CoolerTop,
    CoolerBottom,
    SofaLeft = 32,
    SofaMiddle,
    SofaRight,
    Table,
}

impl TileArt {
    pub const ALL: [TileArt; 36] = {
        use TileArt::*;
        [
            WoodA,
            WoodB,
            CarpetA,
            CarpetB,
            KitchenA,
            KitchenB,
            Rug,
            Doormat,
            WallTop,
            WallUpper,
            WallLower,
            WindowUpperLeft,
            WindowUpperRight,
            WindowLowerLeft,
            WindowLowerRight,
            Picture,
            BoardUpperLeft,
            BoardUpper,
            BoardUpperRight,
            BoardLowerLeft,
            BoardLower,
            BoardLowerRight,
            Plant,
            Collision,
            ShelfUpperLeft,
            ShelfUpperRight,
            ShelfLowerLeft,
            ShelfLowerRight,
            CoffeeTop,
            CoffeeBottom,
            CoolerTop,
            CoolerBottom,
            SofaLeft,
            SofaMiddle,
            SofaRight,
            Table,
        ]
    };

    /// The class the tileset gives this tile, for tools that draw an annex.
    pub fn class(self) -> Option<&'static str> {
        match self {
            TileArt::CarpetA => Some("floor"),
            TileArt::WallTop => Some("wall"),
            TileArt::WallLower => Some("wall-face"),
            TileArt::Collision => Some("collision"),
            _ => None,
        }
    }
}

fn wood(x: i32, y: i32) -> Rgba {
    let plank = (y / 4 + if (x / 8 + y / 4) % 2 == 0 { 0 } else { 1 }) % 2;
    let base = if plank == 0 {
        rgb(196, 150, 100)
    } else {
        rgb(184, 140, 92)
    };
    if y % 4 == 3 || (x + (y / 4) * 5) % 16 == 0 {
        darker(base, 22)
    } else {
        base
    }
}

fn carpet(x: i32, y: i32) -> Rgba {
    if (x + y) % 4 == 0 {
        rgb(110, 120, 150)
    } else {
        rgb(120, 130, 160)
    }
}

fn kitchen(x: i32, y: i32) -> Rgba {
    if x % 8 == 0 || y % 8 == 0 {
        rgb(200, 205, 210)
    } else {
        rgb(230, 232, 236)
    }
}

const WALL_DARK: Rgba = rgb(90, 86, 120);
const WALL_FACE: Rgba = rgb(150, 145, 175);
const WALL_BASE: Rgba = rgb(110, 105, 140);

fn fill(c: &mut Canvas, ox: i32, oy: i32, colour: impl Fn(i32, i32) -> Rgba) {
    for y in 0..T {
        for x in 0..T {
            c.set(ox + x, oy + y, colour(x, y));
        }
    }
}

/// The upper wall face (a band of trim on top), and the lower one (with a baseboard).
fn wall_upper(c: &mut Canvas, ox: i32, oy: i32) {
    fill(c, ox, oy, |_, y| if y < 4 { WALL_DARK } else { WALL_FACE });
}

fn wall_lower(c: &mut Canvas, ox: i32, oy: i32) {
    fill(
        c,
        ox,
        oy,
        |_, y| if y >= 13 { WALL_BASE } else { WALL_FACE },
    );
}

fn paint(c: &mut Canvas, tile: TileArt, ox: i32, oy: i32) {
    use TileArt::*;
    match tile {
        WoodA | WoodB | CarpetA | CarpetB | KitchenA | KitchenB | Rug | Doormat | Collision => {
            floor(c, tile, ox, oy)
        }
        WallTop | WallUpper | WallLower | Picture => wall(c, tile, ox, oy),
        WindowUpperLeft | WindowUpperRight | WindowLowerLeft | WindowLowerRight => {
            window(c, tile, ox, oy)
        }
        BoardUpperLeft | BoardUpper | BoardUpperRight | BoardLowerLeft | BoardLower
        | BoardLowerRight => whiteboard(c, tile, ox, oy),
        ShelfUpperLeft | ShelfUpperRight | ShelfLowerLeft | ShelfLowerRight => {
            shelf(c, tile, ox, oy)
        }
        Plant | CoffeeTop | CoffeeBottom | CoolerTop | CoolerBottom | Table => {
            kitchen_and_plants(c, tile, ox, oy)
        }
        SofaLeft | SofaMiddle | SofaRight => sofa(c, tile, ox, oy),
    }
}

fn rug(x: i32, y: i32) -> Rgba {
    if (x + y) % 6 == 0 {
        rgb(190, 90, 100)
    } else {
        rgb(170, 70, 80)
    }
}

/// Floors, the rug and the doormat, and the collision layer's marking.
fn floor(c: &mut Canvas, tile: TileArt, ox: i32, oy: i32) {
    use TileArt::*;
    match tile {
        WoodA => fill(c, ox, oy, wood),
        WoodB => fill(c, ox, oy, |x, y| wood(x + 8, y + 4)),
        CarpetA => fill(c, ox, oy, carpet),
        CarpetB => fill(c, ox, oy, |x, y| carpet(x + 1, y)),
        KitchenA => fill(c, ox, oy, kitchen),
        KitchenB => fill(c, ox, oy, |x, y| kitchen(x + 4, y + 4)),
        Rug => fill(c, ox, oy, rug),
        Doormat => {
            fill(c, ox, oy, |_, _| rgb(120, 90, 60));
            c.rect(ox + 2, oy + 3, 12, 10, rgb(95, 70, 45));
        }
        _ => fill(c, ox, oy, |x, y| {
            // Collision: red stripes.
            if (x + y) % 4 < 2 {
                [220, 40, 40, 150]
            } else {
                [220, 40, 40, 70]
            }
        }),
    }
}

/// Walls, and the picture hanging on one.
fn wall(c: &mut Canvas, tile: TileArt, ox: i32, oy: i32) {
    use TileArt::*;
    match tile {
        WallTop => fill(c, ox, oy, |x, y| {
            if (x + y * 3) % 11 == 0 {
                darker(WALL_DARK, 10)
            } else {
                WALL_DARK
            }
        }),
        WallUpper => wall_upper(c, ox, oy),
        WallLower => wall_lower(c, ox, oy),
        _ => {
            // Picture.
            wall_upper(c, ox, oy);
            c.boxed(ox + 3, oy + 6, 10, 9, rgb(230, 200, 120));
            c.rect(ox + 5, oy + 8, 6, 5, rgb(90, 160, 200));
            c.rect(ox + 5, oy + 11, 6, 2, rgb(90, 170, 100));
        }
    }
}

/// A window's four quarters, two wall tiles high.
fn window(c: &mut Canvas, tile: TileArt, ox: i32, oy: i32) {
    use TileArt::*;
    let left = matches!(tile, WindowUpperLeft | WindowLowerLeft);
    let (x0, w) = if left { (2, 14) } else { (0, 14) };
    if matches!(tile, WindowUpperLeft | WindowUpperRight) {
        wall_upper(c, ox, oy);
        c.rect(ox + x0, oy + 6, w, 10, OUTLINE);
        c.rect(ox + x0 + 1, oy + 7, w - 1, 9, rgb(170, 220, 250));
        c.rect(ox + x0 + 3, oy + 9, 3, 1, rgb(230, 245, 255));
        if !left {
            c.rect(ox, oy + 6, 1, 10, OUTLINE);
        }
    } else {
        wall_lower(c, ox, oy);
        c.rect(ox + x0, oy, w, 10, OUTLINE);
        c.rect(ox + x0 + 1, oy, w - 1, 9, rgb(160, 210, 245));
        if !left {
            c.rect(ox, oy, 1, 10, OUTLINE);
        }
        // The sill.
        c.rect(ox + x0, oy + 10, w, 2, rgb(235, 235, 240));
    }
}

/// The whiteboard: three tiles wide, two high, markers in its tray.
fn whiteboard(c: &mut Canvas, tile: TileArt, ox: i32, oy: i32) {
    use TileArt::*;
    let first = matches!(tile, BoardUpperLeft | BoardLowerLeft);
    let last = matches!(tile, BoardUpperRight | BoardLowerRight);
    let (left, right) = (i32::from(first), 16 - i32::from(last));
    let inner = left + i32::from(first);
    let inner_w = right - i32::from(last) - inner;
    if matches!(tile, BoardUpperLeft | BoardUpper | BoardUpperRight) {
        wall_upper(c, ox, oy);
        c.rect(ox + left, oy + 5, right - left, 11, OUTLINE);
        c.rect(ox + inner, oy + 6, inner_w, 10, rgb(245, 245, 245));
        return;
    }
    wall_lower(c, ox, oy);
    c.rect(ox + left, oy, right - left, 10, OUTLINE);
    c.rect(ox + inner, oy, inner_w, 9, rgb(245, 245, 245));
    // The marker tray.
    c.rect(ox + left, oy + 10, right - left, 1, rgb(120, 120, 130));
    if tile == BoardLower {
        c.rect(ox + 3, oy + 9, 3, 1, rgb(220, 90, 90));
        c.rect(ox + 8, oy + 9, 3, 1, rgb(70, 130, 220));
    }
}

/// A bookshelf's four quarters.
fn shelf(c: &mut Canvas, tile: TileArt, ox: i32, oy: i32) {
    use TileArt::*;
    let left = matches!(tile, ShelfUpperLeft | ShelfLowerLeft);
    let upper = matches!(tile, ShelfUpperLeft | ShelfUpperRight);
    let (x0, w) = if left { (1, 15) } else { (0, 15) };
    let (y0, h) = if upper { (2, 14) } else { (0, 13) };
    c.rect(ox + x0, oy + y0, w, h, OUTLINE);
    c.rect(
        ox + x0 + 1,
        oy + y0 + if upper { 1 } else { 0 },
        w - 1,
        h - 1,
        rgb(120, 80, 50),
    );
    for shelf in 0..2 {
        let sy = oy + y0 + 2 + shelf * 6;
        if sy + 4 >= oy + y0 + h {
            continue;
        }
        for book in 0..4 {
            let colour = SHIRTS
                [(book + shelf + i32::from(left) * 2 + i32::from(upper)) as usize % SHIRTS.len()];
            c.rect(ox + x0 + 2 + book * 3, sy, 2, 4, colour);
        }
    }
}

/// The plant, the coffee machine, the water cooler and the table.
fn kitchen_and_plants(c: &mut Canvas, tile: TileArt, ox: i32, oy: i32) {
    use TileArt::*;
    match tile {
        Plant => {
            c.boxed(ox + 4, oy + 9, 8, 7, rgb(170, 90, 60));
            c.boxed(ox + 2, oy, 12, 10, rgb(70, 160, 80));
            c.rect(ox + 5, oy + 2, 2, 2, rgb(110, 200, 110));
            c.rect(ox + 9, oy + 5, 2, 2, rgb(110, 200, 110));
        }
        CoffeeTop => {
            c.boxed(ox + 2, oy + 4, 12, 12, rgb(90, 90, 100));
            c.rect(ox + 4, oy + 7, 8, 3, rgb(200, 60, 60));
            c.set(ox + 11, oy + 12, rgb(120, 230, 120));
        }
        CoffeeBottom => {
            c.boxed(ox + 2, oy, 12, 12, rgb(90, 90, 100));
            c.rect(ox + 5, oy + 3, 6, 5, rgb(250, 250, 250));
            c.rect(ox + 6, oy + 4, 4, 2, rgb(110, 70, 40));
        }
        CoolerTop => {
            c.boxed(ox + 4, oy + 3, 8, 13, rgb(150, 200, 240));
            c.rect(ox + 6, oy + 5, 2, 6, rgb(210, 235, 255));
        }
        CoolerBottom => {
            c.boxed(ox + 3, oy, 10, 13, rgb(235, 235, 240));
            c.rect(ox + 6, oy + 3, 4, 2, rgb(70, 130, 220));
        }
        _ => {
            // The table, on the rug.
            fill(c, ox, oy, rug);
            c.boxed(ox + 2, oy + 3, 12, 10, rgb(160, 110, 70));
            c.rect(ox + 5, oy + 6, 3, 3, rgb(250, 250, 250));
        }
    }
}

/// A sofa three tiles wide, armrests at both ends.
fn sofa(c: &mut Canvas, tile: TileArt, ox: i32, oy: i32) {
    use TileArt::*;
    let seat = rgb(70, 110, 170);
    let (x0, x1) = match tile {
        SofaLeft => (1, 16),
        SofaRight => (0, 15),
        _ => (0, 16),
    };
    let width = x1 - x0 - 2 + i32::from(tile != SofaRight);
    c.rect(ox + x0, oy + 1, x1 - x0, 14, OUTLINE);
    c.rect(ox + x0 + 1, oy + 2, width, 5, darker(seat, 20));
    c.rect(ox + x0 + 1, oy + 7, width, 7, seat);
    if tile == SofaLeft {
        c.rect(ox + 1, oy + 4, 3, 11, darker(seat, 30));
    }
    if tile == SofaRight {
        c.rect(ox + 12, oy + 4, 3, 11, darker(seat, 30));
    }
}

/// The whole tileset image.
pub fn office_tileset() -> Canvas {
    let mut c = Canvas::new(COLUMNS * T as u32, ROWS * T as u32);
    for tile in TileArt::ALL {
        let index = tile as u32;
        paint(
            &mut c,
            tile,
            (index % COLUMNS) as i32 * T,
            (index / COLUMNS) as i32 * T,
        );
    }
    c
}
