//! A small meter under each name: what the agent's runs cost today, the
//! tokens of the run in progress, and its daily budget when it has one
//! ("$0.42/$5"). Absent while the agent reported no usage and has no
//! budget, so a quiet office stays quiet.

use super::status::NpcStatus;
use crate::world_text::WorldText;
use bevy::prelude::*;
use protocol::usage::{dollars, thousands};

/// Under the name (world px below it) and smaller.
pub const METER_BELOW: f32 = 6.0;
pub const METER_SIZE: f32 = 5.5;

/// The meter's words on an NPC's label row.
#[derive(Component)]
pub struct Meter;

/// "1.5k tok · $0.42", "$0.42/$5", "over budget · $5.20/$5", or nothing.
pub fn meter_text(status: &NpcStatus) -> String {
    let today = status.usage_today.as_ref().map_or(0.0, |u| u.cost_usd);
    let mut parts = Vec::new();
    if status.shown().is_busy()
        && let Some(run) = status.run_usage.as_ref().filter(|u| u.tokens() > 0)
    {
        parts.push(format!("{} tok", short_count(run.tokens())));
    }
    match &status.budget {
        Some(budget) => {
            if budget.benched {
                parts.push("over budget".to_owned());
            }
            parts.push(format!("{}/{}", dollars(today), dollars(budget.daily_usd)));
        }
        None if today > 0.0 => parts.push(dollars(today)),
        None => {}
    }
    parts.join(" · ")
}

/// 1540 → "1.5k", 2_300_000 → "2.3M".
fn short_count(n: u64) -> String {
    match n {
        0..1000 => thousands(n),
        1000..1_000_000 => format!("{:.1}k", n as f64 / 1000.0),
        _ => format!("{:.1}M", n as f64 / 1_000_000.0),
    }
}

/// The meter follows its NPC's status.
pub(super) fn show_meters(
    npcs: Query<(&NpcStatus, &Children), Changed<NpcStatus>>,
    mut meters: Query<&mut WorldText, With<Meter>>,
) {
    for (status, children) in &npcs {
        let text = meter_text(status);
        for child in children.iter() {
            if let Ok(mut meter) = meters.get_mut(child)
                && meter.text != text
            {
                meter.text = text.clone();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{AgentStatus, BudgetState, Usage, UsageTotals};

    #[test]
    fn the_meter_says_cost_tokens_and_budget_and_nothing_when_quiet() {
        let mut status = NpcStatus::default();
        assert_eq!(meter_text(&status), "");
        status.usage_today = Some(UsageTotals {
            cost_usd: 0.42,
            ..Default::default()
        });
        assert_eq!(meter_text(&status), "$0.420");
        status.state.status = AgentStatus::Running;
        status.run_usage = Some(Usage {
            input_tokens: 1200,
            output_tokens: 340,
            ..Default::default()
        });
        assert_eq!(meter_text(&status), "1.5k tok · $0.420");
        status.state.status = AgentStatus::Done;
        status.budget = Some(BudgetState {
            daily_usd: 5.0,
            spent_today_usd: 5.2,
            benched: true,
            lifted_by: None,
            hard: false,
        });
        status.usage_today.as_mut().unwrap().cost_usd = 5.2;
        assert_eq!(meter_text(&status), "over budget · $5.20/$5.00");
        assert_eq!(short_count(2_300_000), "2.3M");
    }
}
