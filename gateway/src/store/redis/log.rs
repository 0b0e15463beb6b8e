//! The event log on Redis Streams: appended by `append.lua` under the run
//! rules, read back a slice at a time, trimmed by one gateway at a time.

use super::entry::{entries_to_events, entries_with_times, integer, text};
use super::{READ_SLICE, RedisStore, unavailable};
use crate::store::{
    EventLog, NewEvent, NpcFilter, RetentionPolicy, RunRuleError, StoreError, StoredEvent,
    envelope_json, envelope_rest, human_line, now_ms,
};
use async_trait::async_trait;
use redis::{AsyncCommands, Value};
use std::sync::Arc;
use std::sync::atomic::Ordering;

pub(super) const APPEND: &str = include_str!("append.lua");
/// Values per event the script takes (see `append.lua`).
const ARGS_PER_EVENT: usize = 19;

/// The script's arguments for one event.
fn push_event_args(invocation: &mut redis::ScriptInvocation<'_>, event: &NewEvent, rest: &str) {
    let meta = event.run.clone().unwrap_or_default();
    let ending = |key: &str| {
        event
            .fields
            .get(key)
            .filter(|_| event.kind.is_terminal())
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
    };
    // A result is stored as JSON; an error as its text.
    let result = event
        .fields
        .get("result")
        .filter(|_| event.kind.is_terminal())
        .map(|v| v.to_string());
    let facts = &event.facts;
    let json_of = |value: Option<String>| value.unwrap_or_default();
    invocation
        .arg(event.kind.as_str())
        .arg(&event.npc)
        .arg(event.run_id.as_deref().unwrap_or(""))
        .arg(&event.ts)
        .arg(rest)
        .arg(human_line(&event.fields).unwrap_or_default())
        .arg(if meta.agent.is_empty() {
            &event.npc
        } else {
            &meta.agent
        })
        .arg(meta.by.as_deref().unwrap_or(""))
        .arg(facts.callback_digest.map(hex::encode).unwrap_or_default())
        .arg(meta.owner.as_deref().unwrap_or(""))
        .arg(meta.deadline_ms)
        .arg(result.unwrap_or_default())
        .arg(ending("error").unwrap_or_default())
        .arg(json_of(facts.question.as_ref().map(|q| {
            serde_json::to_string(q.as_ref()).expect("a question serialises")
        })))
        .arg(json_of(facts.answer.as_ref().map(|a| {
            serde_json::to_string(a.as_ref()).expect("an answer serialises")
        })))
        .arg(if facts.cancelled { "1" } else { "" })
        .arg(json_of(facts.usage.as_ref().map(|u| {
            serde_json::to_string(u.as_ref()).expect("usage serialises")
        })))
        .arg(crate::store::ts_ms(&event.ts).unwrap_or_else(now_ms))
        .arg(event.key.as_deref().unwrap_or(""));
}

fn rule_error(parts: &[Value]) -> StoreError {
    let field = |i: usize| parts.get(i).and_then(text).unwrap_or("").to_owned();
    let rule = match field(1).as_str() {
        "RunExists" => RunRuleError::RunExists(field(2)),
        "Busy" => RunRuleError::Busy {
            npc: field(2),
            run_id: field(3),
        },
        "UnknownRun" => RunRuleError::UnknownRun(field(2)),
        "WrongNpc" => RunRuleError::WrongNpc {
            run_id: field(2),
            npc: field(3),
            owner: field(4),
        },
        "RunEnded" => RunRuleError::RunEnded(field(2)),
        "NotAwaiting" => RunRuleError::NotAwaiting(field(2)),
        other => return StoreError::Corrupt(format!("redis append: unknown rule {other}")),
    };
    StoreError::Rule(rule)
}

impl RedisStore {
    /// XRANGE `from`..`to`, or XREVRANGE from `from` (the high end) down to `to`.
    async fn range(
        &self,
        key: String,
        from: String,
        to: &str,
        count: usize,
        reverse: bool,
    ) -> Result<Vec<Arc<StoredEvent>>, StoreError> {
        let command = if reverse { "XREVRANGE" } else { "XRANGE" };
        let reply: Value = redis::cmd(command)
            .arg(key)
            .arg(from)
            .arg(to)
            .arg("COUNT")
            .arg(count)
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        entries_to_events(reply)
    }

    /// The first id the age policy keeps: below the first entry young
    /// enough, or past the last old one seen; never past what was read
    /// (appends go on meanwhile).
    async fn first_young_id(&self, cutoff: i64) -> Result<Option<u64>, StoreError> {
        let mut trim_below = None;
        let mut start = "-".to_owned();
        loop {
            let page: Value = redis::cmd("XRANGE")
                .arg(self.keys.log())
                .arg(&start)
                .arg("+")
                .arg("COUNT")
                .arg(512)
                .query_async(&mut self.conn())
                .await
                .map_err(unavailable)?;
            let page = entries_with_times(page)?;
            let Some(last) = page.last().map(|(e, _)| e.id) else {
                return Ok(trim_below);
            };
            for (event, stored_ms) in &page {
                if *stored_ms >= cutoff {
                    return Ok(Some(event.id));
                }
                trim_below = Some(event.id + 1);
            }
            start = format!("(0-{last}");
        }
    }

    /// Trims every stream (`MINID` or `MAXLEN`, per npc and the shared log);
    /// returns what left the shared log (each npc's stream holds the same events).
    async fn trim(
        &self,
        npcs: &[String],
        how: &str,
        per_npc: String,
        log: String,
    ) -> Result<u64, StoreError> {
        let mut pipe = redis::pipe();
        for npc in npcs {
            pipe.cmd("XTRIM")
                .arg(self.keys.npc(npc))
                .arg(how)
                .arg(&per_npc)
                .ignore();
        }
        pipe.cmd("XTRIM").arg(self.keys.log()).arg(how).arg(log);
        let (removed,): (u64,) = pipe
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        Ok(removed)
    }
}

#[async_trait]
impl EventLog for RedisStore {
    async fn append(&self, events: Vec<NewEvent>) -> Result<Vec<Arc<StoredEvent>>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let started = std::time::Instant::now();
        let mut invocation = self.script.key(&self.keys.prefix);
        invocation
            .arg(now_ms())
            .arg(events.len())
            .arg(ARGS_PER_EVENT);
        let rests: Vec<String> = events.iter().map(envelope_rest).collect();
        for (event, rest) in events.iter().zip(&rests) {
            push_event_args(&mut invocation, event, rest);
        }
        let reply: Value = invocation
            .invoke_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        crate::metrics::REDIS_SECONDS
            .with_label_values(&["append"])
            .observe(started.elapsed().as_secs_f64());
        let Value::Array(parts) = reply else {
            return Err(StoreError::Corrupt("redis append: odd answer".into()));
        };
        if parts.first().and_then(text) == Some("rule") {
            return Err(rule_error(&parts));
        }
        let mut stored = Vec::with_capacity(events.len());
        for ((event, rest), pair) in events.into_iter().zip(rests).zip(parts[1..].chunks(2)) {
            let id = pair
                .first()
                .and_then(integer)
                .ok_or_else(|| StoreError::Corrupt("redis append: no id".into()))?;
            let run = pair.get(1).and_then(text).filter(|r| !r.is_empty());
            let mut event_out = StoredEvent::new(
                id,
                event.kind,
                event.npc,
                run.map(str::to_owned),
                event.ts,
                human_line(&event.fields),
                Arc::from(envelope_json(id, run, &rest).as_str()),
            );
            event_out.facts = event.facts;
            stored.push(Arc::new(event_out));
        }
        Ok(stored)
    }

    async fn read_since(
        &self,
        filter: &NpcFilter,
        after: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<Arc<StoredEvent>>, StoreError> {
        let start = format!("(0-{after}");
        let mut events = match filter {
            NpcFilter::All => {
                self.range(self.keys.log(), start, "+", limit, false)
                    .await?
            }
            NpcFilter::Only(npcs) => {
                let mut pipe = redis::pipe();
                for npc in npcs
                    .iter()
                    .map(String::as_str)
                    .chain([crate::store::BROADCAST_NPC])
                {
                    pipe.cmd("XRANGE")
                        .arg(self.keys.npc(npc))
                        .arg(&start)
                        .arg("+")
                        .arg("COUNT")
                        .arg(limit);
                }
                let replies: Vec<Value> = pipe
                    .query_async(&mut self.conn())
                    .await
                    .map_err(unavailable)?;
                let mut merged = Vec::new();
                for reply in replies {
                    merged.extend(entries_to_events(reply)?);
                }
                merged.sort_by_key(|e| e.id);
                merged.truncate(limit);
                merged
            }
        };
        let mut bytes = 0;
        let keep = events
            .iter()
            .position(|e| {
                bytes += e.json.len();
                bytes >= max_bytes
            })
            .map_or(events.len(), |at| at + 1);
        events.truncate(keep);
        Ok(events)
    }

    async fn history(
        &self,
        npc: Option<&str>,
        before: Option<u64>,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<Arc<StoredEvent>>, StoreError> {
        let key = match npc {
            Some(npc) => self.keys.npc(npc),
            None => self.keys.log(),
        };
        let mut start = match before {
            Some(before) => format!("(0-{before}"),
            None => "+".to_owned(),
        };
        // Read in small slices, so a page of large events never sits in memory whole.
        let mut page = Vec::new();
        let mut bytes = 0;
        while page.len() < limit && bytes < max_bytes {
            let slice = READ_SLICE.min(limit - page.len());
            let events = self.range(key.clone(), start, "-", slice, true).await?;
            let Some(oldest) = events.last().map(|e| e.id) else {
                break;
            };
            let full = events.len() == slice;
            for event in events {
                bytes += event.json.len();
                page.push(event);
                if bytes >= max_bytes {
                    break;
                }
            }
            if !full {
                break;
            }
            start = format!("(0-{oldest}");
        }
        page.reverse();
        Ok(page)
    }

    async fn latest_per_npc(&self) -> Result<Vec<Arc<StoredEvent>>, StoreError> {
        let npcs: Vec<String> = self
            .conn()
            .smembers(self.keys.npcs())
            .await
            .map_err(unavailable)?;
        if npcs.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for npc in &npcs {
            pipe.cmd("XREVRANGE")
                .arg(self.keys.npc(npc))
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(1);
        }
        let replies: Vec<Value> = pipe
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        let mut latest = Vec::new();
        for reply in replies {
            latest.extend(entries_to_events(reply)?);
        }
        latest.sort_by_key(|e| e.id);
        Ok(latest)
    }

    async fn last_id(&self) -> Result<u64, StoreError> {
        let last: Option<u64> = self
            .conn()
            .get(self.keys.seq())
            .await
            .map_err(unavailable)?;
        Ok(last.unwrap_or(0))
    }

    async fn first_from(&self, id: u64) -> Result<Option<(u64, i64)>, StoreError> {
        let page: Value = redis::cmd("XRANGE")
            .arg(self.keys.log())
            .arg(format!("0-{id}"))
            .arg("+")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        Ok(entries_with_times(page)?
            .first()
            .map(|(event, stored_ms)| (event.id, *stored_ms)))
    }

    async fn check_writable(&self) -> Result<(), StoreError> {
        if !self.tailing.load(Ordering::Relaxed) {
            return Err(StoreError::Unavailable(
                "redis: this gateway cannot read the shared log".into(),
            ));
        }
        // A real write: Redis refuses them when it cannot persist (MISCONF).
        self.conn()
            .set_ex::<_, _, ()>(self.keys.probe(&self.settings.instance), now_ms(), 60)
            .await
            .map_err(unavailable)
    }

    async fn prune(&self, policy: RetentionPolicy) -> Result<u64, StoreError> {
        // One gateway prunes at a time.
        let locked: Option<String> = redis::cmd("SET")
            .arg(self.keys.prune_lock())
            .arg(&self.settings.instance)
            .arg("NX")
            .arg("PX")
            .arg(60_000)
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        if locked.is_none() {
            return Ok(0);
        }
        let cutoff = now_ms() - policy.max_age_secs as i64 * 1000;
        let npcs: Vec<String> = self
            .conn()
            .smembers(self.keys.npcs())
            .await
            .map_err(unavailable)?;
        let mut removed = 0;
        if let Some(id) = self.first_young_id(cutoff).await? {
            let minid = format!("0-{id}");
            removed += self.trim(&npcs, "MINID", minid.clone(), minid).await?;
        }
        let log_cap = policy
            .events_per_npc
            .saturating_mul(npcs.len().max(1) as u64);
        removed += self
            .trim(
                &npcs,
                "MAXLEN",
                policy.events_per_npc.to_string(),
                log_cap.to_string(),
            )
            .await?;
        self.drop_runs_ended_before(cutoff).await?;
        let _: Result<(), _> = self.conn().del(self.keys.prune_lock()).await;
        Ok(removed)
    }

    fn start_feed(&self, after: u64) {
        let Some((client, listener)) = self.feed.lock().expect("feed lock").take() else {
            return;
        };
        self.tailed.store(after, Ordering::Relaxed);
        self.tailing.store(true, Ordering::Relaxed);
        self.spawn_tailer(client, listener, self.stop.subscribe());
    }

    async fn close(&self) {
        self.stop.send_replace(true);
        let _: Result<(), _> = self
            .conn()
            .zrem(self.keys.instances(), &self.settings.instance)
            .await;
    }
}
