//! `--frame-stats SECS`: measures frame times after a warm-up, prints mean and
//! p99 (and the time to the first frame), then exits. Used by the benchmarks.

use bevy::prelude::*;
use std::time::{Duration, Instant};

const WARM_UP: Duration = Duration::from_secs(3);

#[derive(Resource)]
pub struct FrameStats {
    pub started: Instant,
    pub measure_for: Duration,
    first_frame: Option<Duration>,
    frames: Vec<f32>,
    /// Characters walking, summed over measured frames.
    walking: usize,
}

impl FrameStats {
    pub fn new(started: Instant, measure_for: Duration) -> FrameStats {
        FrameStats {
            started,
            measure_for,
            first_frame: None,
            frames: Vec::new(),
            walking: 0,
        }
    }
}

pub fn plugin(app: &mut App) {
    app.add_systems(Last, record);
}

fn record(
    mut stats: ResMut<FrameStats>,
    time: Res<Time<Real>>,
    npcs: Query<&crate::npc::animation::NpcAnimation>,
    mut exit: MessageWriter<AppExit>,
) {
    let since_start = stats.started.elapsed();
    if stats.first_frame.is_none() {
        stats.first_frame = Some(since_start);
    }
    let first = stats.first_frame.unwrap_or_default();
    if since_start < first + WARM_UP {
        return;
    }
    stats.frames.push(time.delta_secs() * 1000.0);
    stats.walking += npcs
        .iter()
        .filter(|a| matches!(a.body(), crate::npc::animation::Body::Walking { .. }))
        .count();
    if since_start >= first + WARM_UP + stats.measure_for {
        let mut frames = stats.frames.clone();
        frames.sort_by(f32::total_cmp);
        let mean = frames.iter().sum::<f32>() / frames.len().max(1) as f32;
        let p99 = frames[((frames.len() as f32 * 0.99) as usize).min(frames.len() - 1)];
        println!(
            "npcs {} walking {:.1} frames {} mean {:.2} ms p99 {:.2} ms first frame after {} ms",
            npcs.iter().count(),
            stats.walking as f32 / frames.len().max(1) as f32,
            frames.len(),
            mean,
            p99,
            first.as_millis()
        );
        exit.write(AppExit::Success);
    }
}
