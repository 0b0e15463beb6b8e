//! The run book on Redis: one hash per run (written by `append.lua` with the
//! run's events), sorted sets of runs by start, the open run per npc and the
//! live callback tokens.

use super::{READ_SLICE, RedisStore, unavailable};
use crate::store::{
    Asked, RunBook, RunMeta, RunQuery, RunRecord, StoreError, UsageRow, now_ms, run_duration,
    status_named, summary_bytes,
};
use async_trait::async_trait;
use protocol::{Question, RunSummary};
use redis::AsyncCommands;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// The question a run's hash says it waits on.
fn asked_of(hash: &HashMap<String, String>) -> Option<Asked> {
    let get = |k: &str| hash.get(k).filter(|v| !v.is_empty());
    if let (Some(id), Some(since), Some(question)) =
        (get("asked_id"), get("asked_at"), get("asked"))
    {
        return Some(Asked {
            event_id: id.parse().ok()?,
            since: since.clone(),
            question: Arc::new(serde_json::from_str(question).ok()?),
        });
    }
    // An older gateway kept the asking event's whole JSON: read it once more.
    let old: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(get("question")?).ok()?;
    Some(Asked {
        event_id: old.get("id")?.as_u64()?,
        since: old.get("ts")?.as_str()?.to_owned(),
        question: Arc::new(Question::from_fields(&old)),
    })
}

/// The bucket keys a usage total over `since_ms..until_ms` reads: whole
/// hours from the hour buckets, the ends from the minute buckets.
fn usage_keys(
    since_ms: i64,
    until_ms: i64,
    minute: impl Fn(i64) -> String,
    hour: impl Fn(i64) -> String,
) -> Vec<String> {
    const MINUTE: i64 = 60_000;
    const HOUR: i64 = 3_600_000;
    let (first_minute, end_minute) = (since_ms.div_euclid(MINUTE), until_ms.div_euclid(MINUTE));
    let (first_hour, end_hour) = (
        (since_ms + HOUR - 1).div_euclid(HOUR),
        until_ms.div_euclid(HOUR),
    );
    if first_hour >= end_hour {
        return (first_minute..end_minute).map(minute).collect();
    }
    (first_minute..first_hour * 60)
        .map(&minute)
        .chain((first_hour..end_hour).map(hour))
        .chain((end_hour * 60..end_minute).map(&minute))
        .collect()
}

/// A run's hash as a record.
fn run_from_hash(run_id: &str, hash: &HashMap<String, String>) -> Option<RunRecord> {
    let get = |k: &str| hash.get(k).filter(|v| !v.is_empty()).cloned();
    let number = |k: &str| get(k).and_then(|v| v.parse::<i64>().ok());
    let started_ms = number("started_ms")?;
    let ended_ms = number("ended_ms");
    Some(RunRecord {
        summary: RunSummary {
            run_id: run_id.to_owned(),
            agent: get("agent")?,
            npc: get("npc")?,
            status: status_named(&get("status").unwrap_or_default()),
            started_at: get("started_at").unwrap_or_default(),
            started_by: get("by"),
            ended_at: get("ended_at"),
            duration_ms: run_duration(
                &get("started_at").unwrap_or_default(),
                get("ended_at").as_deref(),
                started_ms,
                ended_ms,
            ),
            result: get("result").and_then(|r| serde_json::from_str(&r).ok()),
            error: get("error"),
            usage: get("cost_usd").map(|cost| protocol::Usage {
                input_tokens: number("in_tokens").unwrap_or(0).max(0) as u64,
                output_tokens: number("out_tokens").unwrap_or(0).max(0) as u64,
                cost_usd: cost.parse().unwrap_or(0.0),
                model: get("model"),
            }),
        },
        meta: RunMeta {
            agent: get("agent")?,
            by: get("by"),
            callback_digest: get("digest")
                .and_then(|d| hex::decode(d).ok())
                .and_then(|d| d.try_into().ok()),
            owner: get("owner"),
            deadline_ms: number("deadline_ms").unwrap_or(0).max(0) as u64,
        },
        last_event_ms: number("last_ms").unwrap_or(started_ms),
        started_ms,
        question: asked_of(hash),
    })
}

impl RedisStore {
    async fn runs_by_id(&self, ids: Vec<String>) -> Result<Vec<RunRecord>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.hgetall(self.keys.run(id));
        }
        let hashes: Vec<HashMap<String, String>> = pipe
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        Ok(ids
            .iter()
            .zip(hashes)
            .filter_map(|(id, hash)| run_from_hash(id, &hash))
            .collect())
    }

    /// Forgets ended runs that started before `cutoff` (retention).
    pub(super) async fn drop_runs_ended_before(&self, cutoff: i64) -> Result<(), StoreError> {
        let old: Vec<String> = self
            .conn()
            .zrangebyscore(self.keys.runs(None), "-inf", cutoff)
            .await
            .map_err(unavailable)?;
        for run in self.runs_by_id(old).await? {
            if run.is_open() {
                continue;
            }
            let id = &run.summary.run_id;
            redis::pipe()
                .del(self.keys.run(id))
                .ignore()
                .zrem(self.keys.runs(None), id)
                .ignore()
                .zrem(self.keys.runs(Some(&run.summary.agent)), id)
                .ignore()
                .query_async::<()>(&mut self.conn())
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }
}

#[async_trait]
impl RunBook for RedisStore {
    async fn runs(&self, query: RunQuery<'_>) -> Result<Vec<RunRecord>, StoreError> {
        let key = self.keys.runs(query.agent);
        let max = match query.before {
            Some(cursor) => cursor.started_ms.to_string(),
            None => "+inf".to_owned(),
        };
        let mut page = Vec::new();
        let mut bytes = 0;
        let mut offset = 0;
        'slices: while page.len() < query.limit && bytes < query.max_bytes {
            let ids: Vec<(String, i64)> = redis::cmd("ZREVRANGEBYSCORE")
                .arg(&key)
                .arg(&max)
                .arg("-inf")
                .arg("WITHSCORES")
                .arg("LIMIT")
                .arg(offset)
                .arg(READ_SLICE)
                .query_async(&mut self.conn())
                .await
                .map_err(unavailable)?;
            offset += READ_SLICE;
            let full = ids.len() == READ_SLICE;
            // Runs of the cursor's millisecond with a larger id come first: skip them.
            let wanted: Vec<String> = ids
                .into_iter()
                .filter(|(id, ms)| query.before.is_none_or(|c| c.is_before(*ms, id)))
                .map(|(id, _)| id)
                .collect();
            for run in self.runs_by_id(wanted).await? {
                bytes += summary_bytes(&run.summary);
                page.push(run);
                if page.len() >= query.limit || bytes >= query.max_bytes {
                    break 'slices;
                }
            }
            if !full {
                break;
            }
        }
        Ok(page)
    }

    async fn runs_started_since(&self, since_ms: i64) -> Result<u64, StoreError> {
        self.conn()
            .zcount(self.keys.runs(None), since_ms, "+inf")
            .await
            .map_err(unavailable)
    }

    async fn run(&self, run_id: &str) -> Result<Option<RunRecord>, StoreError> {
        Ok(self
            .runs_by_id(vec![run_id.to_owned()])
            .await?
            .into_iter()
            .next())
    }

    async fn open_runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        let ids: Vec<String> = self
            .conn()
            .hvals(self.keys.open())
            .await
            .map_err(unavailable)?;
        Ok(self
            .runs_by_id(ids)
            .await?
            .into_iter()
            .filter(RunRecord::is_open)
            .collect())
    }

    async fn run_for_token(
        &self,
        digest: [u8; 32],
    ) -> Result<Option<(String, String)>, StoreError> {
        let run: Option<String> = self
            .conn()
            .hget(self.keys.tokens(), hex::encode(digest))
            .await
            .map_err(unavailable)?;
        let Some(run) = run else { return Ok(None) };
        Ok(self
            .run(&run)
            .await?
            .filter(RunRecord::is_open)
            .map(|r| (r.summary.run_id, r.summary.npc)))
    }

    async fn usage(&self, since_ms: i64, until_ms: i64) -> Result<Vec<UsageRow>, StoreError> {
        if until_ms <= since_ms {
            return Ok(Vec::new());
        }
        let keys = usage_keys(
            since_ms,
            until_ms,
            |m| self.keys.usage_minute(m),
            |h| self.keys.usage_hour(h),
        );
        let mut pipe = redis::pipe();
        for key in &keys {
            pipe.hgetall(key);
        }
        let buckets: Vec<HashMap<String, String>> = pipe
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        let mut by_npc: std::collections::BTreeMap<String, UsageRow> = Default::default();
        for bucket in buckets {
            for (field, value) in bucket {
                let Some((npc, part)) = field.rsplit_once('|') else {
                    continue;
                };
                let row = by_npc.entry(npc.to_owned()).or_insert_with(|| UsageRow {
                    npc: npc.to_owned(),
                    ..UsageRow::default()
                });
                match part {
                    "runs" => row.runs += value.parse::<u64>().unwrap_or(0),
                    "in" => row.input_tokens += value.parse::<u64>().unwrap_or(0),
                    "out" => row.output_tokens += value.parse::<u64>().unwrap_or(0),
                    "cost" => row.cost_usd += value.parse::<f64>().unwrap_or(0.0),
                    _ => {}
                }
            }
        }
        Ok(by_npc.into_values().collect())
    }

    async fn spent_by(&self, by: &str, since_ms: i64) -> Result<f64, StoreError> {
        let runs: Vec<String> = self
            .conn()
            .zrangebyscore(self.keys.runs(None), since_ms, "+inf")
            .await
            .map_err(unavailable)?;
        let mut pipe = redis::pipe();
        for run in &runs {
            pipe.cmd("HMGET")
                .arg(self.keys.run(run))
                .arg("by")
                .arg("cost_usd");
        }
        let fields: Vec<(Option<String>, Option<String>)> = pipe
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        Ok(fields
            .into_iter()
            .filter(|(who, _)| who.as_deref() == Some(by))
            .filter_map(|(_, cost)| cost?.parse::<f64>().ok())
            .sum())
    }

    async fn live_instances(&self) -> Result<HashSet<String>, StoreError> {
        let since = now_ms() - self.settings.instance_ttl.as_millis() as i64;
        let live: Vec<String> = self
            .conn()
            .zrangebyscore(self.keys.instances(), since, "+inf")
            .await
            .map_err(unavailable)?;
        Ok(live.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runs_question_is_read_typed_or_from_an_older_gateways_event() {
        let mut hash: HashMap<String, String> = [
            ("asked_id", "9"),
            ("asked_at", "2026-01-01T00:00:00Z"),
            ("asked", r#"{"question":"Ship?","options":["yes"]}"#),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let asked = asked_of(&hash).unwrap();
        assert_eq!((asked.event_id, asked.question.options.len()), (9, 1));
        hash.clear();
        hash.insert(
            "question".into(),
            r#"{"id":4,"type":"awaiting","ts":"t","npc":"a","question":"Old?"}"#.into(),
        );
        let old = asked_of(&hash).unwrap();
        assert_eq!((old.event_id, old.question.question.as_str()), (4, "Old?"));
        assert!(asked_of(&HashMap::new()).is_none());
    }
}
