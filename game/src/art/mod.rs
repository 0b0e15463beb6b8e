//! Original pixel art, drawn by code: deterministic, nothing borrowed.
//! Characters are 16×24 frames (one row per look, one column per pose);
//! desks, badges and the clock are small sprites; the office's tileset is
//! drawn here too and saved as the PNG the Tiled map uses.

mod characters;
mod props;
pub mod tileset;

pub use characters::{CHAR_H, CHAR_W, VARIANTS, character_sheet};
pub use props::{DESK_H, DESK_W, badge_sheet, bench, clock_face, desk_sheet, shadow, window_icon};

use bevy::asset::RenderAssetUsages;
use bevy::image::{ImageSampler, TextureAtlasLayout};
use bevy::prelude::*;
use bevy::render::render_resource::{Extent3d, TextureDimension, TextureFormat};

pub const TILE: i32 = 16;

type Rgba = [u8; 4];

const fn rgb(r: u8, g: u8, b: u8) -> Rgba {
    [r, g, b, 255]
}

const OUTLINE: Rgba = rgb(34, 32, 52);
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

    pub fn pixel(&self, x: u32, y: u32) -> Rgba {
        let i = ((y * self.w + x) * 4) as usize;
        [self.px[i], self.px[i + 1], self.px[i + 2], self.px[i + 3]]
    }

    /// Copies all of `from` to (`x`, `y`) as it is, transparency included.
    /// The art is fixed, so a canvas that does not fit is a drawing bug.
    pub fn paste(&mut self, from: &Canvas, x: u32, y: u32) {
        assert!(
            x + from.w <= self.w && y + from.h <= self.h,
            "pasted art must fit"
        );
        let row = (from.w * 4) as usize;
        for line in 0..from.h {
            let source = (line * from.w * 4) as usize;
            let target = (((y + line) * self.w + x) * 4) as usize;
            self.px[target..target + row].copy_from_slice(&from.px[source..source + row]);
        }
    }

    /// Copies a `w × h` block of `from` at (`sx`, `sy`) to (`dx`, `dy`), blending by alpha.
    pub fn draw(&mut self, from: &Canvas, sx: u32, sy: u32, w: u32, h: u32, dx: i32, dy: i32) {
        for y in 0..h {
            for x in 0..w {
                let [r, g, b, a] = from.pixel(sx + x, sy + y);
                if a == 0 {
                    continue;
                }
                let (tx, ty) = (dx + x as i32, dy + y as i32);
                if tx < 0 || ty < 0 || tx as u32 >= self.w || ty as u32 >= self.h {
                    continue;
                }
                let under = self.pixel(tx as u32, ty as u32);
                let blend = |top: u8, bottom: u8| {
                    ((top as u32 * a as u32 + bottom as u32 * (255 - a as u32)) / 255) as u8
                };
                self.set(
                    tx,
                    ty,
                    [
                        blend(r, under[0]),
                        blend(g, under[1]),
                        blend(b, under[2]),
                        a.max(under[3]),
                    ],
                );
            }
        }
    }

    /// Reads a PNG (any colour type) as RGBA.
    pub fn from_png(bytes: &[u8]) -> Result<Canvas, String> {
        let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        decoder.set_transformations(png::Transformations::normalize_to_color8());
        let mut reader = decoder.read_info().map_err(|e| e.to_string())?;
        let mut buffer = vec![
            0;
            reader
                .output_buffer_size()
                .ok_or("the image is too large")?
        ];
        let info = reader.next_frame(&mut buffer).map_err(|e| e.to_string())?;
        let data = &buffer[..info.buffer_size()];
        let px = match info.color_type {
            png::ColorType::Rgba => data.to_vec(),
            png::ColorType::Rgb => data
                .chunks_exact(3)
                .flat_map(|p| [p[0], p[1], p[2], 255])
                .collect(),
            png::ColorType::GrayscaleAlpha => data
                .chunks_exact(2)
                .flat_map(|p| [p[0], p[0], p[0], p[1]])
                .collect(),
            png::ColorType::Grayscale => data.iter().flat_map(|g| [*g, *g, *g, 255]).collect(),
            png::ColorType::Indexed => return Err("indexed colour was not expanded".into()),
        };
        Ok(Canvas {
            w: info.width,
            h: info.height,
            px,
        })
    }

    /// Writes the canvas as an RGBA PNG.
    pub fn to_png(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, self.w, self.h);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::High);
        let mut writer = encoder.write_header().expect("an in-memory PNG header");
        writer
            .write_image_data(&self.px)
            .expect("an in-memory PNG body");
        writer.finish().expect("an in-memory PNG end");
        out
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

/// Handles to the generated textures. Characters, their shadows and badges,
/// and desks share one image: sprites of one image in a row of the depth
/// order draw in one batch, and a software rasteriser pays for every draw.
#[derive(Resource, Clone)]
pub struct Art {
    pub sprites: Handle<Image>,
    pub character_layout: Handle<TextureAtlasLayout>,
    pub desk_layout: Handle<TextureAtlasLayout>,
    pub badge_layout: Handle<TextureAtlasLayout>,
    pub shadow_layout: Handle<TextureAtlasLayout>,
}

/// One sheet cut into a grid: where it sits in the shared image.
struct Placed {
    at: UVec2,
    cell: UVec2,
    columns: u32,
    rows: u32,
}

/// The sheets stacked in one image (a pixel of air between them, so no
/// sampling ever reaches a neighbour), and each one's grid.
fn sprite_sheet() -> (Canvas, [Placed; 4]) {
    let sheets = [
        (character_sheet(), UVec2::new(CHAR_W, CHAR_H)),
        (desk_sheet(), UVec2::new(DESK_W, DESK_H)),
        (badge_sheet(), UVec2::splat(12)),
        (shadow(), UVec2::new(12, 5)),
    ];
    let width = sheets.iter().map(|(c, _)| c.w).max().unwrap_or(1);
    let height = sheets.iter().map(|(c, _)| c.h + 1).sum();
    let mut canvas = Canvas::new(width, height);
    let mut top = 0;
    let placed = sheets.map(|(sheet, cell)| {
        canvas.paste(&sheet, 0, top);
        let placed = Placed {
            at: UVec2::new(0, top),
            cell,
            columns: sheet.w / cell.x,
            rows: sheet.h / cell.y,
        };
        top += sheet.h + 1;
        placed
    });
    (canvas, placed)
}

/// A grid layout over part of an image, cells numbered row by row (as
/// [`TextureAtlasLayout::from_grid`] numbers them).
fn grid_layout(size: UVec2, placed: &Placed) -> TextureAtlasLayout {
    let mut layout = TextureAtlasLayout::new_empty(size);
    for row in 0..placed.rows {
        for column in 0..placed.columns {
            let min = placed.at + placed.cell * UVec2::new(column, row);
            layout.add_texture(URect::from_corners(min, min + placed.cell));
        }
    }
    layout
}

pub(super) fn plugin(app: &mut App) {
    app.add_systems(PreStartup, generate);
}

fn generate(
    mut commands: Commands,
    mut images: ResMut<Assets<Image>>,
    mut layouts: ResMut<Assets<TextureAtlasLayout>>,
) {
    let (canvas, [characters, desks, badges, shadow]) = sprite_sheet();
    let size = UVec2::new(canvas.w, canvas.h);
    let art = Art {
        sprites: images.add(canvas.into_image()),
        character_layout: layouts.add(grid_layout(size, &characters)),
        desk_layout: layouts.add(grid_layout(size, &desks)),
        badge_layout: layouts.add(grid_layout(size, &badges)),
        shadow_layout: layouts.add(grid_layout(size, &shadow)),
    };
    commands.insert_resource(art);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::npc::animation::{POSES, Pose};

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
        for pose in Pose::ALL {
            poses.insert(frame_pixels(&sheet, pose as u32, 0));
        }
        assert_eq!(poses.len(), POSES, "every pose looks different");
    }

    #[test]
    fn the_committed_tileset_is_the_one_this_code_draws() {
        let committed = Canvas::from_png(crate::office::map::EMBEDDED_TILESET).unwrap();
        let drawn = tileset::office_tileset();
        assert_eq!((committed.w, committed.h), (drawn.w, drawn.h));
        assert!(
            committed.px == drawn.px,
            "assets/office/tiles.png is stale: cargo run -p game --example office-tileset"
        );
    }

    #[test]
    fn every_sprite_cell_shows_its_own_sheet_in_the_shared_image() {
        let (canvas, placed) = sprite_sheet();
        let size = UVec2::new(canvas.w, canvas.h);
        let sheets = [character_sheet(), desk_sheet(), badge_sheet(), shadow()];
        for (sheet, placed) in sheets.iter().zip(&placed) {
            let layout = grid_layout(size, placed);
            assert_eq!(layout.len() as u32, placed.columns * placed.rows);
            for (index, cell) in layout.textures.iter().enumerate() {
                let index = index as u32;
                let from = placed.cell * UVec2::new(index % placed.columns, index / placed.columns);
                for y in 0..placed.cell.y {
                    for x in 0..placed.cell.x {
                        assert_eq!(
                            canvas.pixel(cell.min.x + x, cell.min.y + y),
                            sheet.pixel(from.x + x, from.y + y),
                        );
                    }
                }
            }
        }
        // The same numbering as a grid over the sheet alone: the animation's indices hold.
        let characters = grid_layout(size, &placed[0]);
        let alone = TextureAtlasLayout::from_grid(
            UVec2::new(CHAR_W, CHAR_H),
            POSES as u32,
            VARIANTS as u32,
            None,
            None,
        );
        assert_eq!(characters.textures, alone.textures);
    }

    #[test]
    fn png_round_trips() {
        let clock = clock_face(10, 30);
        assert_eq!(Canvas::from_png(&clock.to_png()).unwrap().px, clock.px);
    }
}
