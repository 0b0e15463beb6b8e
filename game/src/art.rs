//! Original pixel art, drawn by code at start-up: deterministic, no files to
//! ship, nothing borrowed. Characters are 16×24 frames (one row per look, one
//! column per [`Pose`]); furniture and badges are small sprites; the floor and
//! walls of a whole [`OfficePlan`] are painted into one texture.

use crate::npc::animation::{POSES, Pose};
use crate::office::layout::{Decoration, Floor, OfficePlan};
use bevy::asset::RenderAssetUsages;
use bevy::image::{ImageSampler, TextureAtlasLayout};
use bevy::prelude::*;
use bevy::render::render_resource::{Extent3d, TextureDimension, TextureFormat};

pub const TILE: i32 = 16;
pub const CHAR_W: u32 = 16;
pub const CHAR_H: u32 = 24;
/// Distinct looks; the 13th agent reuses the first look with another shirt.
pub const VARIANTS: usize = 12;

type Rgba = [u8; 4];

const fn rgb(r: u8, g: u8, b: u8) -> Rgba {
    [r, g, b, 255]
}

const OUTLINE: Rgba = rgb(34, 32, 52);
const SKINS: [Rgba; 4] = [
    rgb(255, 214, 170),
    rgb(233, 180, 135),
    rgb(190, 130, 90),
    rgb(120, 80, 55),
];
const HAIRS: [Rgba; 6] = [
    rgb(60, 40, 30),
    rgb(230, 200, 90),
    rgb(170, 60, 40),
    rgb(30, 30, 35),
    rgb(200, 200, 210),
    rgb(120, 70, 160),
];
const SHIRTS: [Rgba; 6] = [
    rgb(70, 130, 220),
    rgb(220, 90, 90),
    rgb(90, 180, 110),
    rgb(240, 170, 60),
    rgb(160, 100, 200),
    rgb(60, 170, 180),
];

/// A small RGBA canvas with the few strokes pixel art needs.
pub struct Canvas {
    pub w: u32,
    pub h: u32,
    pub px: Vec<u8>,
}

impl Canvas {
    pub fn new(w: u32, h: u32) -> Canvas {
        Canvas {
            w,
            h,
            px: vec![0; (w * h * 4) as usize],
        }
    }

    pub fn set(&mut self, x: i32, y: i32, c: Rgba) {
        if x >= 0 && y >= 0 && (x as u32) < self.w && (y as u32) < self.h {
            let i = ((y as u32 * self.w + x as u32) * 4) as usize;
            self.px[i..i + 4].copy_from_slice(&c);
        }
    }

    pub fn rect(&mut self, x: i32, y: i32, w: i32, h: i32, c: Rgba) {
        for yy in y..y + h {
            for xx in x..x + w {
                self.set(xx, yy, c);
            }
        }
    }

    /// A filled rectangle with a one-pixel outline.
    pub fn boxed(&mut self, x: i32, y: i32, w: i32, h: i32, fill: Rgba) {
        self.rect(x, y, w, h, OUTLINE);
        self.rect(x + 1, y + 1, w - 2, h - 2, fill);
    }

    pub fn into_image(self) -> Image {
        let mut image = Image::new(
            Extent3d {
                width: self.w,
                height: self.h,
                depth_or_array_layers: 1,
            },
            TextureDimension::D2,
            self.px,
            TextureFormat::Rgba8UnormSrgb,
            RenderAssetUsages::RENDER_WORLD | RenderAssetUsages::MAIN_WORLD,
        );
        image.sampler = ImageSampler::nearest();
        image
    }
}

fn darker(c: Rgba, by: u8) -> Rgba {
    [
        c[0].saturating_sub(by),
        c[1].saturating_sub(by),
        c[2].saturating_sub(by),
        c[3],
    ]
}

/// One character frame at (ox, oy). Seen from the front, seated behind a desk
/// that covers everything below y = 18.
fn draw_character(c: &mut Canvas, ox: i32, oy: i32, variant: usize, pose: Pose) {
    let skin = SKINS[variant % SKINS.len()];
    let hair = HAIRS[(variant * 5 + 1) % HAIRS.len()];
    let shirt = SHIRTS[(variant * 7 + 2) % SHIRTS.len()];
    let slump = if pose == Pose::Slump { 3 } else { 0 };
    let bob = if matches!(pose, Pose::CheerUp) { -1 } else { 0 };
    let (hx, hy) = (ox + 4, oy + 3 + slump + bob);
    // Body.
    c.boxed(ox + 3, oy + 12 + bob, 10, 10, shirt);
    c.rect(ox + 7, oy + 13 + bob, 2, 2, darker(shirt, 40));
    // Head.
    c.boxed(hx, hy, 8, 9, skin);
    // Hair styles: short, long, bun, spiky.
    match variant % 4 {
        0 => c.rect(hx, hy, 8, 3, hair),
        1 => {
            c.rect(hx, hy, 8, 3, hair);
            c.rect(hx, hy + 3, 1, 5, hair);
            c.rect(hx + 7, hy + 3, 1, 5, hair);
        }
        2 => {
            c.rect(hx, hy, 8, 2, hair);
            c.rect(hx + 2, hy - 2, 4, 2, hair);
        }
        _ => {
            c.rect(hx, hy, 8, 2, hair);
            for i in 0..4 {
                c.set(hx + i * 2, hy - 1, hair);
            }
        }
    }
    // Accessories tell the look apart: glasses, headphones, cap.
    match variant / 4 {
        1 => {
            c.rect(hx + 1, hy + 4, 6, 1, OUTLINE);
        }
        2 => {
            c.rect(hx - 1, hy + 3, 1, 4, rgb(60, 60, 70));
            c.rect(hx + 8, hy + 3, 1, 4, rgb(60, 60, 70));
            c.rect(hx, hy - 1, 8, 1, rgb(60, 60, 70));
        }
        _ => {}
    }
    // Eyes.
    let eye_y = hy + 5;
    if pose == Pose::Blink || pose == Pose::Slump {
        c.rect(hx + 2, eye_y, 2, 1, OUTLINE);
        c.rect(hx + 5, eye_y, 2, 1, OUTLINE);
    } else {
        c.set(hx + 2, eye_y, OUTLINE);
        c.set(hx + 5, eye_y, OUTLINE);
    }
    // Mouth: a smile when celebrating.
    if matches!(pose, Pose::CheerUp | Pose::CheerDown) {
        c.rect(hx + 3, hy + 7, 2, 1, rgb(150, 50, 50));
    }
    // Arms.
    let arm = darker(shirt, 25);
    let hand = skin;
    match pose {
        Pose::TypeLeft | Pose::TypeRight => {
            let lift = if pose == Pose::TypeLeft {
                (1, 0)
            } else {
                (0, 1)
            };
            c.rect(ox + 2, oy + 15 - lift.0, 2, 4, arm);
            c.rect(ox + 12, oy + 15 - lift.1, 2, 4, arm);
            c.rect(ox + 3, oy + 19 - lift.0, 2, 1, hand);
            c.rect(ox + 11, oy + 19 - lift.1, 2, 1, hand);
        }
        Pose::HandUp => {
            c.rect(ox + 2, oy + 14, 2, 5, arm);
            c.rect(ox + 12, oy + 2, 2, 11, arm);
            c.rect(ox + 12, oy, 2, 2, hand);
        }
        Pose::CheerUp | Pose::CheerDown => {
            let up = if pose == Pose::CheerUp { 0 } else { 3 };
            c.rect(ox + 1, oy + 3 + up, 2, 10 - up, arm);
            c.rect(ox + 13, oy + 3 + up, 2, 10 - up, arm);
            c.rect(ox + 1, oy + 1 + up, 2, 2, hand);
            c.rect(ox + 13, oy + 1 + up, 2, 2, hand);
        }
        Pose::Stretch => {
            c.rect(ox, oy + 12, 3, 2, arm);
            c.rect(ox + 13, oy + 12, 3, 2, arm);
        }
        Pose::Slump => {
            c.rect(ox + 2, oy + 17, 12, 2, arm);
        }
        Pose::Sit | Pose::Blink => {
            c.rect(ox + 2, oy + 14, 2, 5, arm);
            c.rect(ox + 12, oy + 14, 2, 5, arm);
        }
    }
}

/// Every look × every pose in one sheet.
pub fn character_sheet() -> Canvas {
    let mut canvas = Canvas::new(CHAR_W * POSES as u32, CHAR_H * VARIANTS as u32);
    let poses = [
        Pose::Sit,
        Pose::Blink,
        Pose::Stretch,
        Pose::TypeLeft,
        Pose::TypeRight,
        Pose::HandUp,
        Pose::CheerUp,
        Pose::CheerDown,
        Pose::Slump,
    ];
    for variant in 0..VARIANTS {
        for pose in poses {
            draw_character(
                &mut canvas,
                pose as i32 * CHAR_W as i32,
                variant as i32 * CHAR_H as i32,
                variant,
                pose,
            );
        }
    }
    canvas
}

/// The desk sheet: 32×20 frames: monitor off, monitor on, lamp red.
pub fn desk_sheet() -> Canvas {
    let mut c = Canvas::new(32 * 3, 20);
    for frame in 0..3 {
        let ox = frame * 32;
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
        // Lamp.
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

fn floor_colour(floor: Floor, x: i32, y: i32) -> Rgba {
    match floor {
        Floor::Wood => {
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
        Floor::Carpet => {
            if (x + y) % 4 == 0 {
                rgb(110, 120, 150)
            } else {
                rgb(120, 130, 160)
            }
        }
        Floor::Tiles => {
            if x % 8 == 0 || y % 8 == 0 {
                rgb(200, 205, 210)
            } else {
                rgb(230, 232, 236)
            }
        }
    }
}

fn draw_decoration(c: &mut Canvas, kind: Decoration, tx: i32, ty: i32) {
    let (x, y) = (tx * TILE, ty * TILE);
    match kind {
        Decoration::Plant => {
            c.boxed(x + 4, y + 9, 8, 7, rgb(170, 90, 60));
            c.boxed(x + 2, y, 12, 10, rgb(70, 160, 80));
            c.rect(x + 5, y + 2, 2, 2, rgb(110, 200, 110));
        }
        Decoration::Bookshelf => {
            c.boxed(x, y, 2 * TILE, TILE + 8, rgb(120, 80, 50));
            for shelf in 0..3i32 {
                for book in 0..7i32 {
                    let colour = SHIRTS[(book + shelf) as usize % SHIRTS.len()];
                    c.rect(x + 2 + book * 4, y + 2 + shelf * 7, 3, 5, colour);
                }
            }
        }
        Decoration::Rug => c.boxed(x, y, 4 * TILE, 3 * TILE, rgb(170, 70, 80)),
        Decoration::Window => {
            c.boxed(x, y + 2, 2 * TILE, 11, rgb(170, 220, 250));
            c.rect(x + TILE, y + 2, 1, 11, OUTLINE);
        }
        Decoration::Whiteboard => {
            c.boxed(x, y + 1, 3 * TILE, 13, rgb(245, 245, 245));
            c.rect(x + 4, y + 5, 20, 1, rgb(70, 130, 220));
            c.rect(x + 4, y + 8, 30, 1, rgb(220, 90, 90));
        }
        Decoration::Coffee => {
            c.boxed(x, y, TILE, TILE + 4, rgb(90, 90, 100));
            c.rect(x + 5, y + 12, 6, 5, rgb(250, 250, 250));
            c.rect(x + 3, y + 3, 10, 4, rgb(200, 60, 60));
        }
        Decoration::Couch => {
            c.boxed(x, y, 3 * TILE, TILE, rgb(70, 110, 170));
            c.rect(x + 2, y + 2, 3 * TILE - 4, 5, rgb(90, 130, 190));
        }
    }
}

/// Floor, walls and decorations of the whole plan, one pixel per pixel.
pub fn paint_office(plan: &OfficePlan) -> Canvas {
    let (w, h) = ((plan.width * TILE) as u32, (plan.height * TILE) as u32);
    let mut c = Canvas::new(w, h);
    c.rect(0, 0, w as i32, h as i32, rgb(44, 42, 60));
    for room in &plan.rooms {
        for ty in room.y..room.y + room.h {
            for tx in room.x..room.x + room.w {
                let inside = room.contains(tx, ty);
                let shared = plan.rooms.iter().any(|r| r.contains(tx, ty));
                for py in 0..TILE {
                    for px in 0..TILE {
                        let (x, y) = (tx * TILE + px, ty * TILE + py);
                        let colour = if inside {
                            floor_colour(room.floor, x, y)
                        } else if shared {
                            continue; // a doorway where rooms overlap
                        } else if ty == room.y {
                            // The top wall shows its face.
                            if py < 4 {
                                rgb(90, 86, 120)
                            } else {
                                rgb(150, 145, 175)
                            }
                        } else {
                            rgb(90, 86, 120)
                        };
                        c.set(x, y, colour);
                    }
                }
            }
        }
        // Room name on the floor as a small plaque.
        c.boxed(
            room.x * TILE + TILE + 2,
            (room.y + room.h - 1) * TILE - 6,
            10,
            4,
            rgb(230, 210, 140),
        );
    }
    for deco in &plan.decorations {
        draw_decoration(&mut c, deco.kind, deco.x, deco.y);
    }
    c
}

/// Handles to the generated textures.
#[derive(Resource, Clone)]
pub struct Art {
    pub characters: Handle<Image>,
    pub character_layout: Handle<TextureAtlasLayout>,
    pub desks: Handle<Image>,
    pub desk_layout: Handle<TextureAtlasLayout>,
    pub badges: Handle<Image>,
    pub badge_layout: Handle<TextureAtlasLayout>,
}

pub(super) fn plugin(app: &mut App) {
    app.add_systems(PreStartup, generate);
}

fn generate(
    mut commands: Commands,
    mut images: ResMut<Assets<Image>>,
    mut layouts: ResMut<Assets<TextureAtlasLayout>>,
) {
    let art = Art {
        characters: images.add(character_sheet().into_image()),
        character_layout: layouts.add(TextureAtlasLayout::from_grid(
            UVec2::new(CHAR_W, CHAR_H),
            POSES as u32,
            VARIANTS as u32,
            None,
            None,
        )),
        desks: images.add(desk_sheet().into_image()),
        desk_layout: layouts.add(TextureAtlasLayout::from_grid(
            UVec2::new(32, 20),
            3,
            1,
            None,
            None,
        )),
        badges: images.add(badge_sheet().into_image()),
        badge_layout: layouts.add(TextureAtlasLayout::from_grid(
            UVec2::new(12, 12),
            3,
            1,
            None,
            None,
        )),
    };
    commands.insert_resource(art);
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
            let i = ((y * sheet.w + x) * 4) as usize;
            let pixel = [
                sheet.px[i],
                sheet.px[i + 1],
                sheet.px[i + 2],
                sheet.px[i + 3],
            ];
            if pixel[3] > 0 {
                icon.rect((left + x * 2) as i32, (y * 2) as i32, 2, 2, pixel);
            }
        }
    }
    icon
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_pixels(sheet: &Canvas, col: u32, row: u32) -> Vec<u8> {
        let mut out = Vec::new();
        for y in row * CHAR_H..(row + 1) * CHAR_H {
            let start = ((y * sheet.w + col * CHAR_W) * 4) as usize;
            out.extend_from_slice(&sheet.px[start..start + (CHAR_W * 4) as usize]);
        }
        out
    }

    #[test]
    fn the_window_icon_shows_a_character() {
        let icon = window_icon();
        assert_eq!((icon.w, icon.h), (48, 48));
        assert_eq!(icon.px, window_icon().px);
        let character = frame_pixels(&character_sheet(), 0, 0);
        let drawn = character.chunks(4).filter(|p| p[3] > 0).count();
        let background = [40, 60, 95, 255];
        let covered = icon
            .px
            .chunks(4)
            .filter(|p| *p != background && p[3] == 255)
            .count();
        assert!(
            covered >= drawn * 4,
            "{covered} icon pixels for {drawn} character pixels"
        );
    }

    #[test]
    fn every_look_and_pose_is_distinct_and_the_art_is_deterministic() {
        let sheet = character_sheet();
        assert_eq!(sheet.px, character_sheet().px);
        let mut looks = std::collections::HashSet::new();
        for variant in 0..VARIANTS as u32 {
            looks.insert(frame_pixels(&sheet, 0, variant));
        }
        assert_eq!(looks.len(), VARIANTS, "twelve agents are told apart");
        let mut poses = std::collections::HashSet::new();
        for pose in 0..POSES as u32 {
            poses.insert(frame_pixels(&sheet, pose, 0));
        }
        assert_eq!(poses.len(), POSES);
    }
}
