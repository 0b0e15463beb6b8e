//! Speech bubble placement: neighbours' bubbles stack instead of overlapping.

/// A bubble wants to sit centred at `x` with its bottom at `y`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BubbleSpot {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
}

/// Returns how far up (world units, y up) each bubble must move so no two overlap.
pub fn stack_bubbles(spots: &[BubbleSpot]) -> Vec<f32> {
    let mut order: Vec<usize> = (0..spots.len()).collect();
    // Lower bubbles first, then left to right: the result does not depend on input order.
    order.sort_by(|&a, &b| {
        spots[a]
            .y
            .total_cmp(&spots[b].y)
            .then(spots[a].x.total_cmp(&spots[b].x))
    });
    let mut placed: Vec<(f32, f32, f32, f32)> = Vec::new();
    let mut lift = vec![0.0; spots.len()];
    for i in order {
        let s = spots[i];
        let (left, right) = (s.x - s.width / 2.0, s.x + s.width / 2.0);
        let mut bottom = s.y;
        loop {
            let top = bottom + s.height;
            let clash = placed
                .iter()
                .filter(|(l, r, b, t)| left < *r && right > *l && bottom < *t && top > *b)
                .map(|(_, _, _, t)| *t)
                .fold(None, |acc: Option<f32>, t| {
                    Some(acc.map_or(t, |a| a.max(t)))
                });
            match clash {
                Some(t) => bottom = t + 1.0,
                None => break,
            }
        }
        lift[i] = bottom - s.y;
        placed.push((left, right, bottom, bottom + s.height));
    }
    lift
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbours_stack_and_strangers_stay_put() {
        let spot = |x| BubbleSpot {
            x,
            y: 0.0,
            width: 100.0,
            height: 12.0,
        };
        let lifts = stack_bubbles(&[spot(0.0), spot(48.0), spot(500.0)]);
        assert_eq!(lifts[0], 0.0);
        assert_eq!(lifts[1], 13.0);
        assert_eq!(lifts[2], 0.0);
    }
}
