//! Usage totals in SQLite: kept at append, in the event's own transaction,
//! per npc and per minute and per hour of the event's time, so a total over
//! any range reads a few hundred rows however many events are stored.

use crate::store::{NewEvent, UsageRow};
use protocol::EventKind;
use r2d2_sqlite::rusqlite::{self, Connection, params};
use std::collections::{BTreeMap, HashMap};

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;

/// What a transaction adds to the buckets, summed before it is written: a
/// batch of a hundred events of one npc in one minute is two upserts.
#[derive(Default)]
pub(super) struct Tally {
    buckets: HashMap<(&'static str, String, i64), (i64, i64, i64, f64)>,
}

impl Tally {
    /// Adds what an event says to its npc's buckets: a run started, usage reported.
    pub(super) fn add(&mut self, event: &NewEvent, now: i64) {
        let started = event.kind == EventKind::Started && event.run_id.is_some();
        let usage = event.facts.usage.as_deref();
        if !started && usage.is_none() {
            return;
        }
        let at = crate::store::ts_ms(&event.ts).unwrap_or(now);
        let (input, output, cost) = usage.map_or((0, 0, 0.0), |u| {
            (u.input_tokens as i64, u.output_tokens as i64, u.cost_usd)
        });
        for (table, bucket) in [
            ("usage_minutes", at.div_euclid(MINUTE_MS)),
            ("usage_hours", at.div_euclid(HOUR_MS)),
        ] {
            let sums = self
                .buckets
                .entry((table, event.npc.clone(), bucket))
                .or_default();
            sums.0 += i64::from(started);
            sums.1 += input;
            sums.2 += output;
            sums.3 += cost;
        }
    }

    /// Writes the sums, in the transaction the events are in.
    pub(super) fn write(self, conn: &Connection) -> Result<(), rusqlite::Error> {
        for ((table, npc, bucket), (runs, input, output, cost)) in self.buckets {
            conn.prepare_cached(&format!(
                "INSERT INTO {table} (npc, bucket, runs, input_tokens, output_tokens, cost_usd)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(npc, bucket) DO UPDATE SET runs = runs + excluded.runs,
                    input_tokens = input_tokens + excluded.input_tokens,
                    output_tokens = output_tokens + excluded.output_tokens,
                    cost_usd = cost_usd + excluded.cost_usd"
            ))?
            .execute(params![npc, bucket, runs, input, output, cost])?;
        }
        Ok(())
    }
}

/// A file written before usage was counted: its runs are counted once, by
/// when they started (they reported no usage then).
pub(super) fn count_older_runs(conn: &Connection) -> Result<(), rusqlite::Error> {
    let counted: i64 = conn.query_row("SELECT COUNT(*) FROM usage_hours", [], |r| r.get(0))?;
    if counted > 0 {
        return Ok(());
    }
    for (table, size) in [("usage_minutes", MINUTE_MS), ("usage_hours", HOUR_MS)] {
        conn.execute(
            &format!(
                "INSERT INTO {table} (npc, bucket, runs, input_tokens, output_tokens, cost_usd)
                 SELECT npc, started_ms / ?1, COUNT(*), 0, 0, 0 FROM runs GROUP BY npc, started_ms / ?1"
            ),
            params![size],
        )?;
    }
    Ok(())
}

/// Totals per npc for events at `since_ms` ≤ t < `until_ms` (to the minute):
/// whole hours from the hour buckets, the ends from the minute buckets.
pub(super) fn totals(
    conn: &Connection,
    since_ms: i64,
    until_ms: i64,
) -> Result<Vec<UsageRow>, rusqlite::Error> {
    let mut by_npc: BTreeMap<String, UsageRow> = BTreeMap::new();
    if until_ms <= since_ms {
        return Ok(Vec::new());
    }
    let (first_minute, end_minute) = (
        since_ms.div_euclid(MINUTE_MS),
        until_ms.div_euclid(MINUTE_MS),
    );
    let first_hour = (since_ms + HOUR_MS - 1).div_euclid(HOUR_MS);
    let end_hour = until_ms.div_euclid(HOUR_MS);
    let mut ranges = Vec::new();
    if first_hour < end_hour {
        ranges.push(("usage_hours", first_hour, end_hour));
        ranges.push(("usage_minutes", first_minute, first_hour * 60));
        ranges.push(("usage_minutes", end_hour * 60, end_minute));
    } else {
        ranges.push(("usage_minutes", first_minute, end_minute));
    }
    for (table, from, to) in ranges {
        if from >= to {
            continue;
        }
        let mut statement = conn.prepare_cached(&format!(
            "SELECT npc, SUM(runs), SUM(input_tokens), SUM(output_tokens), SUM(cost_usd)
             FROM {table} WHERE bucket >= ?1 AND bucket < ?2 GROUP BY npc"
        ))?;
        let rows = statement.query_map(params![from, to], |row| {
            Ok(UsageRow {
                npc: row.get(0)?,
                runs: row.get::<_, i64>(1)?.max(0) as u64,
                input_tokens: row.get::<_, i64>(2)?.max(0) as u64,
                output_tokens: row.get::<_, i64>(3)?.max(0) as u64,
                cost_usd: row.get(4)?,
            })
        })?;
        for row in rows {
            let row = row?;
            by_npc
                .entry(row.npc.clone())
                .and_modify(|sum| sum.add(&row))
                .or_insert(row);
        }
    }
    Ok(by_npc.into_values().collect())
}
