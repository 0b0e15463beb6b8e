//! `--frame-stats SECS`: measures frame times after a warm-up, prints mean and
//! p99 (and the time to the first frame), then exits. Used by the benchmarks.
//! Live events that arrive meanwhile are timed too: from the gateway's
//! timestamp (when it accepted the event) to the end of the frame that shows
//! it (statuses, badges and the mirror change in the frame that reads it).

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
    /// Event accepted → frame that shows it (ms), for each live event.
    event_latencies: Vec<f32>,
}

impl FrameStats {
    pub fn new(started: Instant, measure_for: Duration) -> FrameStats {
        FrameStats {
            started,
            measure_for,
            first_frame: None,
            frames: Vec::new(),
            walking: 0,
            event_latencies: Vec::new(),
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
    mut link: MessageReader<crate::gateway_link::LinkEvent>,
    mut exit: MessageWriter<AppExit>,
) {
    let now = chrono::Utc::now();
    for event in link.read() {
        if let crate::gateway_link::LinkEvent::Live(event) = event
            && let Ok(accepted) = chrono::DateTime::parse_from_rfc3339(&event.ts)
        {
            let waited = now.signed_duration_since(accepted);
            stats
                .event_latencies
                .push(waited.num_microseconds().unwrap_or(i64::MAX) as f32 / 1000.0);
        }
    }
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
        if !stats.event_latencies.is_empty() {
            let mut waits = stats.event_latencies.clone();
            waits.sort_by(f32::total_cmp);
            let at = |q: f32| waits[((waits.len() as f32 * q) as usize).min(waits.len() - 1)];
            println!(
                "events {} accepted to shown p50 {:.2} ms p99 {:.2} ms max {:.2} ms",
                waits.len(),
                at(0.5),
                at(0.99),
                waits[waits.len() - 1]
            );
        }
        exit.write(AppExit::Success);
    }
}
