//! The character sheet: twelve looks, each in every [`Pose`]: seated behind a
//! desk (its front hides the legs), standing and walking in four directions,
//! lounging on a sofa and talking.

use super::{Canvas, OUTLINE, Rgba, darker, rgb};
use crate::npc::animation::{POSES, Pose};

pub const CHAR_W: u32 = 16;
pub const CHAR_H: u32 = 24;
/// Distinct looks; the 13th agent reuses the first look.
pub const VARIANTS: usize = 12;

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
pub(super) const SHIRTS: [Rgba; 6] = [
    rgb(70, 130, 220),
    rgb(220, 90, 90),
    rgb(90, 180, 110),
    rgb(240, 170, 60),
    rgb(160, 100, 200),
    rgb(60, 170, 180),
];
const TROUSERS: [Rgba; 3] = [rgb(60, 70, 110), rgb(70, 60, 55), rgb(50, 50, 60)];
const SHOES: Rgba = rgb(40, 34, 40);

/// One look's colours.
#[derive(Clone, Copy)]
struct Look {
    variant: usize,
    skin: Rgba,
    hair: Rgba,
    shirt: Rgba,
    trousers: Rgba,
}

impl Look {
    fn of(variant: usize) -> Look {
        Look {
            variant,
            skin: SKINS[variant % SKINS.len()],
            hair: HAIRS[(variant * 5 + 1) % HAIRS.len()],
            shirt: SHIRTS[(variant * 7 + 2) % SHIRTS.len()],
            trousers: TROUSERS[variant % TROUSERS.len()],
        }
    }

    fn arm(&self) -> Rgba {
        darker(self.shirt, 25)
    }
}

/// The head seen from the front (or from behind, all hair), with the look's
/// hair style and accessory.
fn head_front(c: &mut Canvas, hx: i32, hy: i32, look: Look, from_behind: bool) {
    c.boxed(hx, hy, 8, 9, look.skin);
    if from_behind {
        c.rect(hx + 1, hy + 1, 6, 7, look.hair);
        if look.variant % 4 == 1 {
            c.rect(hx + 1, hy + 8, 6, 2, look.hair);
        }
        return;
    }
    match look.variant % 4 {
        0 => c.rect(hx, hy, 8, 3, look.hair),
        1 => {
            c.rect(hx, hy, 8, 3, look.hair);
            c.rect(hx, hy + 3, 1, 5, look.hair);
            c.rect(hx + 7, hy + 3, 1, 5, look.hair);
        }
        2 => {
            c.rect(hx, hy, 8, 2, look.hair);
            c.rect(hx + 2, hy - 2, 4, 2, look.hair);
        }
        _ => {
            c.rect(hx, hy, 8, 2, look.hair);
            for i in 0..4 {
                c.set(hx + i * 2, hy - 1, look.hair);
            }
        }
    }
    match look.variant / 4 {
        1 => c.rect(hx + 1, hy + 4, 6, 1, OUTLINE),
        2 => {
            c.rect(hx - 1, hy + 3, 1, 4, rgb(60, 60, 70));
            c.rect(hx + 8, hy + 3, 1, 4, rgb(60, 60, 70));
            c.rect(hx, hy - 1, 8, 1, rgb(60, 60, 70));
        }
        _ => {}
    }
}

fn eyes_front(c: &mut Canvas, hx: i32, hy: i32, closed: bool) {
    let y = hy + 5;
    if closed {
        c.rect(hx + 2, y, 2, 1, OUTLINE);
        c.rect(hx + 5, y, 2, 1, OUTLINE);
    } else {
        c.set(hx + 2, y, OUTLINE);
        c.set(hx + 5, y, OUTLINE);
    }
}

/// Seated behind a desk that covers everything below y = 18.
fn draw_seated(c: &mut Canvas, ox: i32, oy: i32, look: Look, pose: Pose) {
    let slump = if pose == Pose::Slump { 3 } else { 0 };
    let bob = if pose == Pose::CheerUp { -1 } else { 0 };
    let (hx, hy) = (ox + 4, oy + 3 + slump + bob);
    c.boxed(ox + 3, oy + 12 + bob, 10, 10, look.shirt);
    c.rect(ox + 7, oy + 13 + bob, 2, 2, darker(look.shirt, 40));
    head_front(c, hx, hy, look, false);
    eyes_front(c, hx, hy, matches!(pose, Pose::Blink | Pose::Slump));
    if matches!(pose, Pose::CheerUp | Pose::CheerDown) {
        c.rect(hx + 3, hy + 7, 2, 1, rgb(150, 50, 50));
    }
    let (arm, hand) = (look.arm(), look.skin);
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
        Pose::Slump => c.rect(ox + 2, oy + 17, 12, 2, arm),
        _ => {
            c.rect(ox + 2, oy + 14, 2, 5, arm);
            c.rect(ox + 12, oy + 14, 2, 5, arm);
        }
    }
}

/// Standing or walking, seen from the front or the back. `step`: -1 left foot
/// forward, 0 standing, 1 right foot forward.
fn draw_upright(c: &mut Canvas, ox: i32, oy: i32, look: Look, from_behind: bool, step: i32) {
    let (hx, hy) = (ox + 4, oy + 2);
    // Legs first: the body covers their tops.
    let (left_len, right_len) = match step {
        -1 => (4, 5),
        1 => (5, 4),
        _ => (5, 5),
    };
    c.rect(ox + 5, oy + 18, 2, left_len, look.trousers);
    c.rect(ox + 9, oy + 18, 2, right_len, look.trousers);
    c.rect(ox + 5, oy + 18 + left_len - 1, 2, 1, SHOES);
    c.rect(ox + 9, oy + 18 + right_len - 1, 2, 1, SHOES);
    c.boxed(ox + 3, oy + 10, 10, 9, look.shirt);
    if !from_behind {
        c.rect(ox + 7, oy + 11, 2, 2, darker(look.shirt, 40));
    }
    head_front(c, hx, hy, look, from_behind);
    if !from_behind {
        eyes_front(c, hx, hy, false);
    }
    // Arms swing against the legs.
    let swing = step;
    c.rect(ox + 1, oy + 11 + swing.max(0), 2, 6, look.arm());
    c.rect(ox + 13, oy + 11 + (-swing).max(0), 2, 6, look.arm());
    c.rect(ox + 1, oy + 17 + swing.max(0), 2, 1, look.skin);
    c.rect(ox + 13, oy + 17 + (-swing).max(0), 2, 1, look.skin);
}

/// Seen from the side, facing right (the sheet mirrors it for left). `talk`
/// opens the mouth and lifts the hand.
fn draw_side(c: &mut Canvas, ox: i32, oy: i32, look: Look, step: i32, talk: bool, mirror: bool) {
    let mut frame = Canvas::new(CHAR_W, CHAR_H);
    let f = &mut frame;
    let (hx, hy) = (4, 2);
    let (front, back) = match step {
        -1 => ((9, 4), (5, 5)),
        1 => ((8, 5), (6, 4)),
        _ => ((7, 5), (7, 5)),
    };
    let back_trousers = darker(look.trousers, 20);
    f.rect(back.0, 18, 2, back.1, back_trousers);
    f.rect(back.0, 18 + back.1 - 1, 3, 1, SHOES);
    f.rect(front.0, 18, 2, front.1, look.trousers);
    f.rect(front.0, 18 + front.1 - 1, 3, 1, SHOES);
    f.boxed(5, 10, 7, 9, look.shirt);
    f.boxed(hx, hy, 8, 9, look.skin);
    // Hair over the back of the head.
    f.rect(hx, hy, 8, 3, look.hair);
    f.rect(hx, hy + 3, 3, 4, look.hair);
    if look.variant % 4 == 1 {
        f.rect(hx, hy + 7, 2, 3, look.hair);
    }
    if look.variant / 4 == 2 {
        f.rect(hx + 2, hy + 3, 2, 3, rgb(60, 60, 70));
    }
    f.set(hx + 6, hy + 5, OUTLINE);
    if look.variant / 4 == 1 {
        f.rect(hx + 5, hy + 4, 3, 1, OUTLINE);
    }
    f.set(hx + 8, hy + 6, look.skin);
    if talk {
        f.rect(hx + 6, hy + 7, 2, 1, rgb(150, 50, 50));
    }
    let arm = look.arm();
    if talk {
        f.rect(9, 11, 2, 3, arm);
        f.rect(11, 10, 2, 2, arm);
        f.rect(13, 9, 1, 2, look.skin);
    } else {
        let swing = -step;
        f.rect(7 + swing, 11, 2, 6, arm);
        f.rect(7 + swing, 17, 2, 1, look.skin);
    }
    for y in 0..CHAR_H as i32 {
        for x in 0..CHAR_W as i32 {
            let i = ((y as u32 * CHAR_W + x as u32) * 4) as usize;
            let px = [
                frame.px[i],
                frame.px[i + 1],
                frame.px[i + 2],
                frame.px[i + 3],
            ];
            if px[3] > 0 {
                let dx = if mirror { CHAR_W as i32 - 1 - x } else { x };
                c.set(ox + dx, oy + y, px);
            }
        }
    }
}

/// Sitting on a sofa, seen from the front: knees forward, feet down.
fn draw_lounging(c: &mut Canvas, ox: i32, oy: i32, look: Look) {
    let (hx, hy) = (ox + 4, oy + 5);
    c.rect(ox + 4, oy + 19, 3, 3, look.trousers);
    c.rect(ox + 9, oy + 19, 3, 3, look.trousers);
    c.rect(ox + 4, oy + 22, 3, 1, SHOES);
    c.rect(ox + 9, oy + 22, 3, 1, SHOES);
    c.boxed(ox + 3, oy + 13, 10, 7, look.shirt);
    head_front(c, hx, hy, look, false);
    eyes_front(c, hx, hy, true);
    c.rect(ox + 2, oy + 14, 2, 5, look.arm());
    c.rect(ox + 12, oy + 14, 2, 5, look.arm());
}

fn draw_pose(c: &mut Canvas, ox: i32, oy: i32, look: Look, pose: Pose) {
    use Pose::*;
    match pose {
        Sit | Blink | Stretch | TypeLeft | TypeRight | HandUp | CheerUp | CheerDown | Slump => {
            draw_seated(c, ox, oy, look, pose)
        }
        StandDown => draw_upright(c, ox, oy, look, false, 0),
        StepDownA => draw_upright(c, ox, oy, look, false, -1),
        StepDownB => draw_upright(c, ox, oy, look, false, 1),
        StandUp => draw_upright(c, ox, oy, look, true, 0),
        StepUpA => draw_upright(c, ox, oy, look, true, -1),
        StepUpB => draw_upright(c, ox, oy, look, true, 1),
        StandRight => draw_side(c, ox, oy, look, 0, false, false),
        StepRightA => draw_side(c, ox, oy, look, -1, false, false),
        StepRightB => draw_side(c, ox, oy, look, 1, false, false),
        StandLeft => draw_side(c, ox, oy, look, 0, false, true),
        StepLeftA => draw_side(c, ox, oy, look, -1, false, true),
        StepLeftB => draw_side(c, ox, oy, look, 1, false, true),
        TalkRight => draw_side(c, ox, oy, look, 0, true, false),
        TalkLeft => draw_side(c, ox, oy, look, 0, true, true),
        Lounge => draw_lounging(c, ox, oy, look),
    }
}

/// Every look × every pose in one sheet: a row per look, a column per pose.
pub fn character_sheet() -> Canvas {
    let mut canvas = Canvas::new(CHAR_W * POSES as u32, CHAR_H * VARIANTS as u32);
    for variant in 0..VARIANTS {
        for pose in Pose::ALL {
            draw_pose(
                &mut canvas,
                pose as i32 * CHAR_W as i32,
                variant as i32 * CHAR_H as i32,
                Look::of(variant),
                pose,
            );
        }
    }
    canvas
}
