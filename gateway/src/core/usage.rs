//! What the runs cost: totals from the store (kept at append, so the same
//! on every gateway and after any restart), today per agent for the roster,
//! and the daily budgets that hold on them: a run over budget is refused and
//! its character benched until an operator lifts the bench for the day; a
//! budget crossed during a run is announced (and the run cancelled when the
//! budget is hard).

use super::{CoreError, Service};
use crate::auth::{Caller, Right};
use crate::registry::{Agent, Budget};
use crate::store::{StoredEvent, UsageRow};
use chrono::{Local, TimeZone};
use protocol::{
    AgentUsage, BudgetState, GatewayEvent, Roster, RunNote, UsageReport, UsageTotals,
    usage::dollars,
};
use std::collections::HashMap;
use std::sync::Arc;

/// The gateway's day so far: local midnight, now (Unix ms), and the UTC offset.
pub fn today() -> (i64, i64, String) {
    let now = Local::now();
    let midnight = now
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .and_then(|t| Local.from_local_datetime(&t).earliest())
        .unwrap_or(now);
    (
        midnight.timestamp_millis(),
        now.timestamp_millis(),
        now.format("%:z").to_string(),
    )
}

/// The gateway's date (the bench is lifted for one of these).
fn local_day() -> String {
    Local::now().date_naive().to_string()
}

fn parse_moment(name: &str, text: &str) -> Result<i64, CoreError> {
    crate::store::ts_ms(text).ok_or_else(|| {
        CoreError::InvalidRequest(format!(
            "`{name}` must be an RFC 3339 time such as 2026-12-06T00:00:00+01:00"
        ))
    })
}

fn rfc3339_local(ms: i64) -> String {
    Local
        .timestamp_millis_opt(ms)
        .single()
        .map(|t| t.to_rfc3339())
        .unwrap_or_default()
}

fn totals_of(row: &UsageRow) -> UsageTotals {
    UsageTotals {
        runs: row.runs,
        input_tokens: row.input_tokens,
        output_tokens: row.output_tokens,
        cost_usd: row.cost_usd,
    }
}

fn sum(total: &mut UsageTotals, row: &UsageTotals) {
    total.runs += row.runs;
    total.input_tokens += row.input_tokens;
    total.output_tokens += row.output_tokens;
    total.cost_usd += row.cost_usd;
}

impl Service {
    /// `GET /api/usage`: per agent and for the fleet, between `since` and
    /// `until` (RFC 3339; by default today in the gateway's time zone).
    pub async fn usage(
        &self,
        since: Option<&str>,
        until: Option<&str>,
    ) -> Result<UsageReport, CoreError> {
        let (midnight, now, offset) = today();
        let since_ms = since
            .map(|s| parse_moment("since", s))
            .transpose()?
            .unwrap_or(midnight);
        let until_ms = until
            .map(|u| parse_moment("until", u))
            .transpose()?
            .unwrap_or(now + 60_000);
        if until_ms <= since_ms {
            return Err(CoreError::InvalidRequest(
                "`until` must be after `since`".into(),
            ));
        }
        let rows = self.store.runs.usage(since_ms, until_ms).await?;
        let registry = self.registry();
        let mut total = UsageTotals::default();
        let mut agents = Vec::new();
        for row in &rows {
            let Some(agent) = registry.by_npc(&row.npc) else {
                continue;
            };
            let line = totals_of(row);
            sum(&mut total, &line);
            agents.push(AgentUsage {
                agent: agent.agent.clone(),
                npc: agent.npc.clone(),
                totals: line,
            });
        }
        Ok(UsageReport {
            since: rfc3339_local(since_ms),
            until: rfc3339_local(until_ms),
            time_zone: offset,
            agents,
            total,
        })
    }

    /// What each npc's runs used today.
    async fn usage_today(&self) -> Result<HashMap<String, UsageTotals>, CoreError> {
        let (midnight, now, _) = today();
        Ok(self
            .store
            .runs
            .usage(midnight, now + 60_000)
            .await?
            .iter()
            .map(|row| (row.npc.clone(), totals_of(row)))
            .collect())
    }

    /// The roster with today's usage and each budget's standing.
    pub async fn roster_with_usage(&self) -> Result<Roster, CoreError> {
        let mut roster = self.roster();
        let today = self.usage_today().await?;
        let registry = self.registry();
        for summary in &mut roster.agents {
            let used = today.get(&summary.npc).cloned();
            if let Some(budget) = registry.agent(&summary.agent).and_then(|a| a.budget) {
                let spent = used.as_ref().map_or(0.0, |u| u.cost_usd);
                summary.budget = Some(self.budget_state(&summary.agent, budget, spent).await?);
            }
            summary.usage_today = used
                .filter(|u| u.runs > 0 || u.cost_usd > 0.0 || u.input_tokens + u.output_tokens > 0);
        }
        Ok(roster)
    }

    async fn budget_state(
        &self,
        agent: &str,
        budget: Budget,
        spent: f64,
    ) -> Result<BudgetState, CoreError> {
        let lifted_by = self
            .store
            .followers
            .state(&format!("bench.{agent}.{}", local_day()))
            .await?;
        Ok(BudgetState {
            daily_usd: budget.daily_usd,
            spent_today_usd: spent,
            benched: spent >= budget.daily_usd && lifted_by.is_none(),
            lifted_by,
            hard: budget.hard,
        })
    }

    /// Refuses a run its agent's budget, or its starter's, has no room for.
    pub(super) async fn check_budget(
        &self,
        agent: &Agent,
        caller: &Caller,
    ) -> Result<(), CoreError> {
        if let Some(budget) = agent.budget {
            let spent = self
                .usage_today()
                .await?
                .get(&agent.npc)
                .map_or(0.0, |u| u.cost_usd);
            let state = self.budget_state(&agent.agent, budget, spent).await?;
            if state.benched {
                return Err(CoreError::OverBudget {
                    whose: format!("agent `{}`", agent.agent),
                    spent,
                    limit: budget.daily_usd,
                });
            }
        }
        if let Caller::Person(identity) = caller
            && let Some(budget) = self.auth.budget_of(&identity.subject)
        {
            let (midnight, _, _) = today();
            let spent = self
                .store
                .runs
                .spent_by(&identity.subject, midnight)
                .await?;
            if spent >= budget.daily_usd {
                return Err(CoreError::OverBudget {
                    whose: identity.subject.clone(),
                    spent,
                    limit: budget.daily_usd,
                });
            }
        }
        Ok(())
    }

    /// An operator lifts an agent's bench for the rest of the day; the
    /// office's history says who.
    pub async fn lift_bench(&self, agent_id: &str, caller: &Caller) -> Result<u64, CoreError> {
        let agent = self
            .registry()
            .agent(agent_id)
            .cloned()
            .ok_or_else(|| CoreError::UnknownAgent(agent_id.to_owned()))?;
        if !caller.may(Right::Operate) || !caller.may_act_on(&agent.agent) {
            return Err(CoreError::Forbidden(format!(
                "lift the budget bench of `{}`",
                agent.agent
            )));
        }
        let Some(budget) = agent.budget else {
            return Err(CoreError::InvalidRequest(format!(
                "agent `{}` has no budget",
                agent.agent
            )));
        };
        let by = caller.by();
        self.store
            .followers
            .put_state(&format!("bench.{}.{}", agent.agent, local_day()), &by)
            .await?;
        let spent = self
            .usage_today()
            .await?
            .get(&agent.npc)
            .map_or(0.0, |u| u.cost_usd);
        let note = GatewayEvent::Note(RunNote {
            message: format!(
                "{by} lifted {}'s budget bench for today ({} of {} spent)",
                agent.name,
                dollars(spent),
                dollars(budget.daily_usd)
            ),
            by: Some(by),
        });
        let id = self.record(note, &agent.npc, None).await?;
        // Offices reload the roster: the bench is gone.
        let count = self.registry().agents().len();
        self.record(
            GatewayEvent::Roster(protocol::RosterChanged { agents: count }),
            crate::store::BROADCAST_NPC,
            None,
        )
        .await?;
        Ok(id)
    }

    /// After events are stored: one that reports usage may take its agent
    /// over its budget; that is announced once, and a hard budget cancels
    /// the run it happened in.
    pub(super) async fn watch_budgets(&self, stored: &[Arc<StoredEvent>]) {
        let registry = self.registry();
        for event in stored {
            let Some(usage) = &event.facts.usage else {
                continue;
            };
            let Some(agent) = registry.by_npc(&event.npc) else {
                continue;
            };
            let Some(budget) = agent.budget else { continue };
            let Ok(today) = self.usage_today().await else {
                continue;
            };
            let after = today.get(&agent.npc).map_or(0.0, |u| u.cost_usd);
            let before = after - usage.cost_usd;
            if !(before < budget.daily_usd && after >= budget.daily_usd) {
                continue;
            }
            let mut message = format!(
                "{} is over its {} daily budget ({} spent)",
                agent.name,
                dollars(budget.daily_usd),
                dollars(after)
            );
            if budget.hard {
                message.push_str("; the run is cancelled");
            }
            let note = GatewayEvent::Note(RunNote { message, by: None });
            // In the run it happened in, unless that event ended it.
            let run = event
                .run_id
                .as_deref()
                .filter(|_| !event.kind.is_terminal());
            if let Err(e) = self.record(note, &agent.npc, run).await {
                tracing::warn!(error = %e, "cannot announce a budget crossed");
            }
            if budget.hard
                && let Some(run_id) = &event.run_id
            {
                if let Err(e) = self.cancel_as(run_id, "its daily budget").await {
                    tracing::warn!(run_id, error = %e, "cannot cancel a run over its hard budget");
                }
            }
        }
    }
}
