//! Small sprites: desks (with their monitor and lamp), status badges, the
//! characters' shadow, the wall clock's face, the window icon and the
//! budget bench.

use super::characters::{CHAR_H, CHAR_W, character_sheet};
use super::{Canvas, OUTLINE, Rgba, darker, rgb};

pub const DESK_W: u32 = 32;
pub const DESK_H: u32 = 20;

/// The desk sheet: 32×20 frames: monitor off, monitor on, lamp red.
pub fn desk_sheet() -> Canvas {
    let mut c = Canvas::new(DESK_W * 3, DESK_H);
    for frame in 0..3 {
        let ox = frame * DESK_W as i32;
        let wood = rgb(150, 100, 60);
        // The monitor sits to the right so the person behind the desk stays visible.
        let screen = match frame {
            1 => rgb(120, 220, 255),
            _ => rgb(40, 50, 70),
        };
        c.boxed(ox + 19, 1, 12, 9, rgb(70, 70, 80));
        c.rect(ox + 20, 2, 10, 7, screen);
        if frame == 1 {
            for line in 0..3 {
                c.rect(ox + 21, 3 + line * 2, 3 + line * 2, 1, rgb(40, 90, 140));
            }
        }
        c.rect(ox + 24, 10, 2, 1, rgb(70, 70, 80));
        c.boxed(ox, 11, 32, 9, wood);
        c.rect(ox + 1, 12, 30, 1, darker(wood, 30));
        let lamp = if frame == 2 {
            rgb(255, 60, 60)
        } else {
            rgb(250, 230, 160)
        };
        c.rect(ox + 3, 6, 1, 5, OUTLINE);
        c.boxed(ox + 1, 3, 5, 4, lamp);
        if frame == 2 {
            c.rect(ox + 2, 7, 3, 1, rgb(255, 120, 120));
        }
    }
    c
}

/// The bench a character over its budget sits on (20×10): a plain wooden
/// bench, a coin on its backrest.
pub fn bench() -> Canvas {
    let mut c = Canvas::new(20, 10);
    let wood = rgb(130, 85, 50);
    c.boxed(0, 0, 20, 4, wood);
    c.rect(1, 1, 18, 1, darker(wood, 25));
    c.boxed(1, 5, 18, 3, wood);
    c.rect(2, 8, 2, 2, OUTLINE);
    c.rect(16, 8, 2, 2, OUTLINE);
    c.boxed(8, 0, 4, 4, rgb(240, 200, 60));
    c
}

/// Badges: `?`, check mark, `!` (12×12 each).
pub fn badge_sheet() -> Canvas {
    let mut c = Canvas::new(36, 12);
    let glyphs: [(Rgba, &[&str]); 3] = [
        (
            rgb(240, 180, 40),
            &[
                "  ###  ", " #   # ", "     # ", "   ##  ", "   #   ", "       ", "   #   ",
            ],
        ),
        (
            rgb(70, 190, 100),
            &[
                "      #", "     # ", "#   #  ", " # #   ", "  #    ", "       ", "       ",
            ],
        ),
        (
            rgb(225, 70, 70),
            &[
                "   #   ", "   #   ", "   #   ", "   #   ", "   #   ", "       ", "   #   ",
            ],
        ),
    ];
    for (i, (colour, rows)) in glyphs.iter().enumerate() {
        let ox = i as i32 * 12;
        c.boxed(ox, 0, 12, 12, rgb(255, 255, 255));
        c.rect(ox + 1, 1, 10, 10, *colour);
        for (y, row) in rows.iter().enumerate() {
            for (x, ch) in row.chars().enumerate() {
                if ch == '#' {
                    c.set(ox + 2 + x as i32, 2 + y as i32, rgb(255, 255, 255));
                }
            }
        }
    }
    c
}

/// A soft oval shadow for a character's feet (12×5).
pub fn shadow() -> Canvas {
    let mut c = Canvas::new(12, 5);
    for y in 0..5 {
        for x in 0..12 {
            let (dx, dy) = ((x as f32 - 5.5) / 6.0, (y as f32 - 2.0) / 2.5);
            let d = dx * dx + dy * dy;
            if d <= 1.0 {
                let alpha = (90.0 * (1.0 - d * 0.6)) as u8;
                c.set(x, y, [20, 18, 30, alpha]);
            }
        }
    }
    c
}

/// The wall clock's face (16×16) at a time of day.
pub fn clock_face(hour: u32, minute: u32) -> Canvas {
    let mut c = Canvas::new(16, 16);
    let centre = 7.5f32;
    for y in 0..16 {
        for x in 0..16 {
            let (dx, dy) = (x as f32 - centre, y as f32 - centre);
            let r = (dx * dx + dy * dy).sqrt();
            if r <= 7.6 {
                c.set(x, y, if r > 6.4 { OUTLINE } else { rgb(250, 248, 240) });
            }
        }
    }
    for mark in 0..12 {
        let angle = mark as f32 / 12.0 * std::f32::consts::TAU;
        let (x, y) = (centre + angle.sin() * 5.4, centre - angle.cos() * 5.4);
        c.set(x.round() as i32, y.round() as i32, rgb(150, 150, 160));
    }
    let hand = |c: &mut Canvas, turns: f32, length: f32, colour: Rgba| {
        let angle = turns * std::f32::consts::TAU;
        for step in 0..=(length * 2.0) as i32 {
            let t = step as f32 / 2.0;
            let (x, y) = (centre + angle.sin() * t, centre - angle.cos() * t);
            c.set(x.round() as i32, y.round() as i32, colour);
        }
    };
    let minutes = minute as f32 / 60.0;
    hand(&mut c, ((hour % 12) as f32 + minutes) / 12.0, 3.5, OUTLINE);
    hand(&mut c, minutes, 5.5, rgb(200, 60, 60));
    c
}

/// The window icon: the first look's idle frame, doubled, on a desk-blue tile.
pub fn window_icon() -> Canvas {
    const SIZE: u32 = 48;
    let sheet = character_sheet();
    let mut icon = Canvas::new(SIZE, SIZE);
    icon.boxed(0, 0, SIZE as i32, SIZE as i32, rgb(40, 60, 95));
    let left = (SIZE - CHAR_W * 2) / 2;
    for y in 0..CHAR_H {
        for x in 0..CHAR_W {
            let pixel = sheet.pixel(x, y);
            if pixel[3] > 0 {
                icon.rect((left + x * 2) as i32, (y * 2) as i32, 2, 2, pixel);
            }
        }
    }
    icon
}
