//! Speech bubbles, as plain geometry: text wrapped to at most three lines
//! (cut at a word with "…"), and placed above the speaker (or below, under a
//! wall), inside its room and clear of every other bubble.

use bevy::math::{Rect, Vec2};

/// Wraps `text` into lines of at most `width` characters, at most `lines`
/// of them; a cut ends at a word boundary with "…". Words longer than a line
/// are split.
pub fn wrap(text: &str, width: usize, lines: usize) -> Vec<String> {
    let width = width.max(2);
    let mut out: Vec<String> = Vec::new();
    let mut words = text.split_whitespace().peekable();
    let mut line = String::new();
    let mut cut = false;
    while let Some(word) = words.next() {
        let mut word = word.to_owned();
        loop {
            let len = line.chars().count();
            let need = word.chars().count() + usize::from(len > 0);
            if len + need <= width {
                if len > 0 {
                    line.push(' ');
                }
                line.push_str(&word);
                break;
            }
            if len == 0 {
                // A word longer than a line: split it.
                let head: String = word.chars().take(width).collect();
                word = word.chars().skip(width).collect();
                out.push(head);
            } else {
                out.push(std::mem::take(&mut line));
            }
            if out.len() == lines {
                cut = true;
                break;
            }
        }
        if cut {
            break;
        }
        if words.peek().is_none() && !line.is_empty() {
            out.push(std::mem::take(&mut line));
        }
    }
    if !line.is_empty() && out.len() < lines {
        out.push(line);
    }
    if cut || out.len() > lines {
        out.truncate(lines);
        if let Some(last) = out.last_mut() {
            // Make room for the ellipsis, dropping whole words where we can.
            while last.chars().count() + 1 > width {
                match last.rfind(' ') {
                    Some(space) => last.truncate(space),
                    None => {
                        let keep: String = last.chars().take(width - 1).collect();
                        *last = keep;
                    }
                }
            }
            last.push('…');
        }
    }
    out
}

/// One bubble to place. World units, y up.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BubbleSpot {
    /// The speaker's x, its head top and its feet.
    pub x: f32,
    pub head: f32,
    pub feet: f32,
    pub size: Vec2,
    /// Where the bubble may go (the floor of the speaker's room).
    pub bounds: Rect,
}

/// Bottom-left corners of the bubbles, in the order given.
pub fn place_bubbles(spots: &[BubbleSpot]) -> Vec<Vec2> {
    let gap = 2.0;
    let mut wanted: Vec<Rect> = spots
        .iter()
        .map(|s| {
            let half = s.size.x / 2.0;
            let x = s.x.clamp(
                s.bounds.min.x + half,
                (s.bounds.max.x - half).max(s.bounds.min.x + half),
            ) - half;
            let above = s.head + gap;
            // Under a wall there is no room above: speak below the feet.
            let y = if above + s.size.y <= s.bounds.max.y {
                above
            } else {
                (s.feet - gap - s.size.y).max(s.bounds.min.y)
            };
            Rect::from_corners(Vec2::new(x, y), Vec2::new(x, y) + s.size)
        })
        .collect();
    // Lower bubbles first, then left to right: the result does not depend on input order.
    let mut order: Vec<usize> = (0..spots.len()).collect();
    order.sort_by(|&a, &b| {
        wanted[a]
            .min
            .y
            .total_cmp(&wanted[b].min.y)
            .then(wanted[a].min.x.total_cmp(&wanted[b].min.x))
    });
    let mut placed: Vec<usize> = Vec::new();
    for i in order {
        let bounds = spots[i].bounds;
        let mut rect = wanted[i];
        // Move up past whatever it overlaps; if that leaves the room, try down.
        for _ in 0..spots.len() * 2 + 1 {
            let clash = placed
                .iter()
                .map(|&j| wanted[j])
                .filter(|other| overlaps(rect, *other))
                .fold(None::<Rect>, |acc, r| Some(acc.map_or(r, |a| a.union(r))));
            let Some(other) = clash else { break };
            let up = other.max.y + 1.0;
            let down = other.min.y - 1.0 - rect.height();
            let y = if up + rect.height() <= bounds.max.y || down < bounds.min.y {
                up
            } else {
                down
            };
            rect = Rect::from_corners(
                Vec2::new(rect.min.x, y),
                Vec2::new(rect.max.x, y + rect.height()),
            );
        }
        wanted[i] = rect;
        placed.push(i);
    }
    wanted.iter().map(|r| r.min).collect()
}

fn overlaps(a: Rect, b: Rect) -> bool {
    a.min.x < b.max.x && a.max.x > b.min.x && a.min.y < b.max.y && a.max.y > b.min.y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_keeps_words_whole_and_cuts_at_a_word_with_an_ellipsis() {
        assert_eq!(wrap("Booking room 4", 20, 3), ["Booking room 4"]);
        assert_eq!(
            wrap("Staging checks green (smoke, migrations, canary)", 16, 3),
            ["Staging checks", "green (smoke,", "migrations,…"]
        );
        let long = "Deploying version two point three point zero to the production cluster in three regions";
        let lines = wrap(long, 18, 3);
        assert_eq!(lines.len(), 3);
        assert!(lines.iter().all(|l| l.chars().count() <= 18), "{lines:?}");
        let last = lines.last().unwrap();
        assert!(last.ends_with('…'), "{lines:?}");
        let before = last.trim_end_matches('…').trim_end();
        assert!(
            long.split_whitespace().any(|w| before.ends_with(w)),
            "cut at a word boundary: {lines:?}"
        );
        assert_eq!(wrap("abcdefghijkl", 5, 3), ["abcde", "fghij", "kl"]);
        assert_eq!(wrap("", 10, 3), Vec::<String>::new());
    }

    fn spot(x: f32, head: f32, width: f32) -> BubbleSpot {
        BubbleSpot {
            x,
            head,
            feet: head - 24.0,
            size: Vec2::new(width, 12.0),
            bounds: Rect::new(0.0, -200.0, 400.0, 0.0),
        }
    }

    #[test]
    fn neighbours_stack_strangers_stay_put_and_all_stay_in_the_room() {
        let spots = [
            spot(100.0, -100.0, 80.0),
            spot(130.0, -100.0, 80.0),
            spot(390.0, -150.0, 60.0),
        ];
        let at = place_bubbles(&spots);
        let rects: Vec<Rect> = at
            .iter()
            .zip(&spots)
            .map(|(a, s)| Rect::from_corners(*a, *a + s.size))
            .collect();
        for (i, a) in rects.iter().enumerate() {
            assert!(
                a.min.x >= 0.0 && a.max.x <= 400.0 && a.min.y >= -200.0 && a.max.y <= 0.0,
                "{a:?}"
            );
            for b in &rects[i + 1..] {
                assert!(!overlaps(*a, *b), "{a:?} overlaps {b:?}");
            }
        }
        assert_eq!(at[0].y, -98.0, "the first sits right above the head");
        assert!(at[2].x + 60.0 <= 400.0, "pulled in from the wall");
    }

    #[test]
    fn under_a_wall_a_bubble_goes_below_the_feet() {
        let at = place_bubbles(&[spot(100.0, -4.0, 80.0)]);
        assert!(at[0].y + 12.0 <= 0.0, "stays off the wall: {at:?}");
        assert!(at[0].y + 12.0 <= -4.0 - 24.0, "below the feet");
    }
}
