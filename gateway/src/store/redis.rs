//! Redis Streams event store, for several gateways sharing one log.
//!
//! - Every event is appended by one Lua script ([`APPEND`]): the run rules
//!   are checked and the batch written atomically; ids come from one counter
//!   (stream ids `0-<id>`), so they are global and increase in commit order.
//!   The script answers once Redis has the batch (with `appendfsync always`,
//!   once it is on disk).
//! - Each event goes to the shared log and to its npc's stream (filtered
//!   replay and history read only what they need).
//! - Each gateway tails the shared log once, on its own connection, and tells
//!   its listener (status board, run tokens, backends, hub) in id order:
//!   subscribers never poll Redis.
//! - Runs, open runs, callback tokens, sessions and live gateways are hashes,
//!   sorted sets and keys beside the log.

use super::{
    CommitListener, EventStore, NewEvent, NpcFilter, RetentionPolicy, RunMeta, RunRecord,
    RunRuleError, SessionRecord, StoreError, StoredEvent, now_ms,
};
use async_trait::async_trait;
use protocol::{AgentStatus, EventEnvelope, EventKind, RunSummary};
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Value};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::watch;

const APPEND: &str = include_str!("redis_append.lua");
/// Values per event the script takes.
const ARGS_PER_EVENT: usize = 13;
/// Entries the tailer takes per read, and how long one read blocks.
const TAIL_BATCH: usize = 1024;
const TAIL_BLOCK_MS: usize = 2000;

/// Where the store is and what it may assume.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    pub url: String,
    /// Prefix of every key (several deployments may share one Redis).
    pub prefix: String,
    /// This gateway.
    pub instance: String,
    /// A gateway that has not said it is alive for this long is gone.
    pub instance_ttl: Duration,
}

pub struct RedisStore {
    conn: ConnectionManager,
    keys: Keys,
    settings: RedisSettings,
    script: redis::Script,
    /// The tailer reads; when it cannot, this gateway is not ready.
    tailing: Arc<AtomicBool>,
    /// The newest id the tailer has delivered.
    tailed: Arc<AtomicU64>,
    stop: watch::Sender<bool>,
    /// What the reader needs, until `start_feed` starts it.
    feed: std::sync::Mutex<Option<(redis::Client, Arc<dyn CommitListener>)>>,
}

/// The store's key names.
#[derive(Clone, Debug)]
struct Keys {
    prefix: String,
}

impl Keys {
    fn log(&self) -> String {
        format!("{}:log", self.prefix)
    }
    fn npc(&self, npc: &str) -> String {
        format!("{}:npc:{npc}", self.prefix)
    }
    fn npcs(&self) -> String {
        format!("{}:npcs", self.prefix)
    }
    fn seq(&self) -> String {
        format!("{}:seq", self.prefix)
    }
    fn run(&self, run_id: &str) -> String {
        format!("{}:run:{run_id}", self.prefix)
    }
    fn open(&self) -> String {
        format!("{}:open", self.prefix)
    }
    fn runs(&self, agent: Option<&str>) -> String {
        match agent {
            Some(agent) => format!("{}:runs:{agent}", self.prefix),
            None => format!("{}:runs", self.prefix),
        }
    }
    fn tokens(&self) -> String {
        format!("{}:tokens", self.prefix)
    }
    fn session(&self, id: &[u8; 32]) -> String {
        format!("{}:session:{}", self.prefix, hex::encode(id))
    }
    fn instances(&self) -> String {
        format!("{}:instances", self.prefix)
    }
    fn probe(&self, instance: &str) -> String {
        format!("{}:probe:{instance}", self.prefix)
    }
    fn prune_lock(&self) -> String {
        format!("{}:prune-lock", self.prefix)
    }
}

fn unavailable(error: redis::RedisError) -> StoreError {
    StoreError::Unavailable(format!("redis: {error}"))
}

impl RedisStore {
    /// Connects, checks Redis answers and starts the heartbeat; the reader of
    /// the shared log starts with [`EventStore::start_feed`].
    pub async fn open(
        settings: RedisSettings,
        listener: Arc<dyn CommitListener>,
    ) -> Result<RedisStore, StoreError> {
        let client = redis::Client::open(settings.url.as_str())
            .map_err(|e| StoreError::Unavailable(format!("STORE_URL: {e}")))?;
        // Fail fast while Redis is away (a publisher gets its 503 at once);
        // the next command tries to connect again.
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let conn = client
            .get_connection_manager_with_config(config)
            .await
            .map_err(unavailable)?;
        let keys = Keys {
            prefix: settings.prefix.clone(),
        };
        let (stop, stopped) = watch::channel(false);
        let store = RedisStore {
            conn,
            keys,
            script: redis::Script::new(APPEND),
            tailing: Arc::new(AtomicBool::new(false)),
            tailed: Arc::new(AtomicU64::new(0)),
            stop,
            settings,
            feed: std::sync::Mutex::new(Some((client, listener))),
        };
        store.beat().await?;
        store.spawn_heartbeat(stopped);
        Ok(store)
    }

    /// Says this gateway is alive (it owns its in-process runs).
    async fn beat(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let now = now_ms();
        let stale = now - self.settings.instance_ttl.as_millis() as i64 * 10;
        redis::pipe()
            .zadd(self.keys.instances(), &self.settings.instance, now)
            .ignore()
            .cmd("ZREMRANGEBYSCORE")
            .arg(self.keys.instances())
            .arg("-inf")
            .arg(stale)
            .ignore()
            .query_async::<()>(&mut conn)
            .await
            .map_err(unavailable)
    }

    fn spawn_heartbeat(&self, mut stopped: watch::Receiver<bool>) {
        let (conn, keys, settings) = (self.conn.clone(), self.keys.clone(), self.settings.clone());
        let every = (settings.instance_ttl / 3).max(Duration::from_millis(100));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stopped.changed() => break,
                }
                let mut conn = conn.clone();
                let beat: Result<(), _> = conn
                    .zadd(keys.instances(), &settings.instance, now_ms())
                    .await;
                if let Err(e) = beat {
                    tracing::warn!(error = %e, "redis: heartbeat failed");
                }
            }
        });
    }

    /// The one reader of the shared log in this gateway.
    fn spawn_tailer(
        &self,
        client: redis::Client,
        listener: Arc<dyn CommitListener>,
        mut stopped: watch::Receiver<bool>,
    ) {
        let (keys, tailing, tailed) =
            (self.keys.clone(), self.tailing.clone(), self.tailed.clone());
        tokio::spawn(async move {
            // Its own connection: a blocking read would hold up every command behind it.
            let config = redis::aio::ConnectionManagerConfig::new()
                .set_connection_timeout(Some(Duration::from_secs(2)))
                .set_response_timeout(Some(Duration::from_millis(TAIL_BLOCK_MS as u64 + 3000)))
                .set_number_of_retries(1)
                .set_max_delay(Duration::from_millis(200));
            let mut backoff = Duration::from_millis(100);
            let mut conn = None;
            loop {
                if *stopped.borrow() {
                    break;
                }
                let c = match &mut conn {
                    Some(c) => c,
                    None => match client
                        .get_connection_manager_with_config(config.clone())
                        .await
                    {
                        Ok(c) => conn.insert(c),
                        Err(e) => {
                            if tailing.swap(false, Ordering::Relaxed) {
                                listener.interrupted();
                            }
                            tracing::warn!(error = %e, "redis: cannot connect the log reader; retrying");
                            tokio::select! {
                                _ = tokio::time::sleep(backoff) => {}
                                _ = stopped.changed() => break,
                            }
                            backoff = (backoff * 2).min(Duration::from_secs(2));
                            continue;
                        }
                    },
                };
                let after = tailed.load(Ordering::Relaxed);
                let read = tokio::select! {
                    read = read_log(c, &keys, after) => read,
                    _ = stopped.changed() => break,
                };
                match read {
                    Ok(entries) => {
                        if !tailing.swap(true, Ordering::Relaxed) {
                            tracing::info!(after, "redis: the log reader is back");
                        }
                        backoff = Duration::from_millis(100);
                        if let Some((last, stored_ms)) = entries.last() {
                            tailed.store(last.id, Ordering::Relaxed);
                            let lag = (now_ms() - stored_ms).max(0) as f64 / 1000.0;
                            crate::metrics::TAIL_LAG_SECONDS.observe(lag);
                            let events: Vec<_> = entries.into_iter().map(|(e, _)| e).collect();
                            listener.committed(&events);
                        }
                    }
                    Err(e) => {
                        if tailing.swap(false, Ordering::Relaxed) {
                            tracing::warn!(error = %e, after, "redis: the log reader lost Redis; retrying");
                            listener.interrupted();
                        }
                        tokio::select! {
                            _ = tokio::time::sleep(backoff) => {}
                            _ = stopped.changed() => break,
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(2));
                    }
                }
            }
        });
    }

    /// The event id this gateway's tailer has delivered up to.
    pub fn tailed(&self) -> u64 {
        self.tailed.load(Ordering::Relaxed)
    }

    fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }
}

/// One blocking read of the shared log after `after`.
async fn read_log(
    conn: &mut ConnectionManager,
    keys: &Keys,
    after: u64,
) -> Result<Vec<(Arc<StoredEvent>, i64)>, StoreError> {
    let started = std::time::Instant::now();
    let reply: Value = redis::cmd("XREAD")
        .arg("COUNT")
        .arg(TAIL_BATCH)
        .arg("BLOCK")
        .arg(TAIL_BLOCK_MS)
        .arg("STREAMS")
        .arg(keys.log())
        .arg(format!("0-{after}"))
        .query_async(conn)
        .await
        .map_err(unavailable)?;
    if started.elapsed() < Duration::from_millis(TAIL_BLOCK_MS as u64) {
        crate::metrics::REDIS_SECONDS
            .with_label_values(&["tail"])
            .observe(started.elapsed().as_secs_f64());
    }
    let mut events = Vec::new();
    if let Value::Array(streams) = normalise_xread(reply) {
        for stream in streams {
            let Value::Array(mut pair) = stream else {
                continue;
            };
            if pair.len() != 2 {
                continue;
            }
            let entries = pair.pop().expect("two items");
            events.extend(entries_with_times(entries)?);
        }
    }
    Ok(events)
}

/// XREAD answers a map in RESP3 and an array of pairs in RESP2: make it pairs.
fn normalise_xread(reply: Value) -> Value {
    match reply {
        Value::Map(pairs) => Value::Array(
            pairs
                .into_iter()
                .map(|(k, v)| Value::Array(vec![k, v]))
                .collect(),
        ),
        other => other,
    }
}

/// Stream entries (`[[id, [field, value, …]], …]`) as events.
fn entries_to_events(entries: Value) -> Result<Vec<Arc<StoredEvent>>, StoreError> {
    Ok(entries_with_times(entries)?
        .into_iter()
        .map(|(event, _)| event)
        .collect())
}

/// Stream entries as events, each with when it was stored (ms).
fn entries_with_times(entries: Value) -> Result<Vec<(Arc<StoredEvent>, i64)>, StoreError> {
    let Value::Array(entries) = entries else {
        return Ok(Vec::new());
    };
    entries.into_iter().map(entry_to_event).collect()
}

fn text(value: &Value) -> Option<&str> {
    match value {
        Value::BulkString(bytes) => std::str::from_utf8(bytes).ok(),
        Value::SimpleString(s) => Some(s),
        _ => None,
    }
}

fn entry_to_event(entry: Value) -> Result<(Arc<StoredEvent>, i64), StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("redis log entry: {what}"));
    let Value::Array(mut parts) = entry else {
        return Err(corrupt("not an entry"));
    };
    if parts.len() != 2 {
        return Err(corrupt("not an entry"));
    }
    let fields = parts.pop().expect("two parts");
    let id = text(&parts[0])
        .and_then(|id| id.strip_prefix("0-"))
        .and_then(|seq| seq.parse::<u64>().ok())
        .ok_or_else(|| corrupt("id"))?;
    let Value::Array(fields) = fields else {
        return Err(corrupt("fields"));
    };
    let mut json = None;
    let (mut kind, mut npc, mut run, mut message, mut ts, mut digest) =
        (None, None, None, None, None, None);
    let mut stored_ms = 0;
    for pair in fields.chunks(2) {
        let [name, value] = pair else { continue };
        let value_text = text(value).unwrap_or("");
        match text(name).unwrap_or("") {
            "j" => json = Some(value_text),
            "k" => kind = value_text.parse::<EventKind>().ok(),
            "n" => npc = Some(value_text),
            "r" => run = Some(value_text).filter(|r| !r.is_empty()),
            "m" => message = Some(value_text).filter(|m| !m.is_empty()),
            "ts" => ts = Some(value_text),
            "d" => digest = hex::decode(value_text).ok().and_then(|d| d.try_into().ok()),
            "t" => stored_ms = value_text.parse().unwrap_or(0),
            _ => {}
        }
    }
    let mut event = StoredEvent::new(
        id,
        kind.ok_or_else(|| corrupt("kind"))?,
        npc.ok_or_else(|| corrupt("npc"))?.to_owned(),
        run.map(str::to_owned),
        ts.unwrap_or("").to_owned(),
        message.map(str::to_owned),
        Arc::from(json.ok_or_else(|| corrupt("json"))?),
    );
    event.callback_digest = digest;
    Ok((Arc::new(event), stored_ms))
}

/// The envelope's JSON after `{"id":N,` and an optional `"run_id":…,` — the
/// script puts those in front once it knows the id and the run.
fn envelope_rest(event: &NewEvent) -> Result<String, StoreError> {
    let envelope = EventEnvelope {
        id: 0,
        kind: event.kind,
        ts: event.ts.clone(),
        npc: event.npc.clone(),
        run_id: None,
        fields: event.fields.clone(),
    };
    let json = serde_json::to_string(&envelope).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(json
        .strip_prefix(r#"{"id":0,"#)
        .expect("the envelope serialises its id first")
        .to_owned())
}

/// What the script wrote, as the client can rebuild it.
fn assemble(id: u64, run: Option<&str>, rest: &str) -> String {
    match run {
        Some(run) => format!(
            r#"{{"id":{id},"run_id":{},{rest}"#,
            serde_json::Value::from(run)
        ),
        None => format!(r#"{{"id":{id},{rest}"#),
    }
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

fn integer(value: &Value) -> Option<u64> {
    match value {
        Value::Int(i) => u64::try_from(*i).ok(),
        other => text(other).and_then(|t| t.parse().ok()),
    }
}

fn status_of(text: &str) -> AgentStatus {
    match text {
        "running" => AgentStatus::Running,
        "awaiting" => AgentStatus::Awaiting,
        "done" => AgentStatus::Done,
        "error" => AgentStatus::Error,
        _ => AgentStatus::Idle,
    }
}

/// A run's hash as a record.
fn run_from_hash(run_id: &str, hash: &HashMap<String, String>) -> Option<RunRecord> {
    let get = |k: &str| hash.get(k).filter(|v| !v.is_empty()).cloned();
    let number = |k: &str| get(k).and_then(|v| v.parse::<i64>().ok());
    let started_ms = number("started_ms")?;
    let ended_ms = number("ended_ms");
    let question = get("question").and_then(|json| {
        let envelope: EventEnvelope = serde_json::from_str(&json).ok()?;
        Some(Arc::new(StoredEvent::new(
            envelope.id,
            envelope.kind,
            envelope.npc.clone(),
            envelope.run_id.clone(),
            envelope.ts.clone(),
            envelope.message().map(str::to_owned),
            Arc::from(json.as_str()),
        )))
    });
    Some(RunRecord {
        summary: RunSummary {
            run_id: run_id.to_owned(),
            agent: get("agent")?,
            npc: get("npc")?,
            status: status_of(&get("status").unwrap_or_default()),
            started_at: get("started_at").unwrap_or_default(),
            started_by: get("by"),
            ended_at: get("ended_at"),
            duration_ms: ended_ms.map(|end| (end - started_ms).max(0) as u64),
            result: get("result").and_then(|r| serde_json::from_str(&r).ok()),
            error: get("error"),
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
        question,
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
}

#[async_trait]
impl EventStore for RedisStore {
    async fn append(&self, events: Vec<NewEvent>) -> Result<Vec<Arc<StoredEvent>>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let started = std::time::Instant::now();
        let now = now_ms();
        let mut invocation = self.script.key(&self.keys.prefix);
        invocation.arg(now).arg(events.len());
        let mut rests = Vec::with_capacity(events.len());
        for event in &events {
            let rest = envelope_rest(event)?;
            let meta = event.run.clone().unwrap_or_default();
            let message = EventEnvelope {
                id: 0,
                kind: event.kind,
                ts: String::new(),
                npc: String::new(),
                run_id: None,
                fields: event.fields.clone(),
            }
            .message()
            .map(str::to_owned);
            let result = event
                .fields
                .get("result")
                .filter(|_| event.kind.is_terminal())
                .map(|v| v.to_string());
            let error = event
                .fields
                .get("error")
                .filter(|_| event.kind.is_terminal())
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned));
            invocation
                .arg(event.kind.as_str())
                .arg(&event.npc)
                .arg(event.run_id.as_deref().unwrap_or(""))
                .arg(&event.ts)
                .arg(&rest)
                .arg(message.as_deref().unwrap_or(""))
                .arg(if meta.agent.is_empty() {
                    &event.npc
                } else {
                    &meta.agent
                })
                .arg(meta.by.as_deref().unwrap_or(""))
                .arg(meta.callback_digest.map(hex::encode).unwrap_or_default())
                .arg(meta.owner.as_deref().unwrap_or(""))
                .arg(meta.deadline_ms)
                .arg(result.unwrap_or_default())
                .arg(error.unwrap_or_default());
            rests.push((rest, message));
        }
        debug_assert_eq!(ARGS_PER_EVENT, 13);
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
        for ((event, (rest, message)), pair) in events.iter().zip(rests).zip(parts[1..].chunks(2)) {
            let id = pair
                .first()
                .and_then(integer)
                .ok_or_else(|| StoreError::Corrupt("redis append: no id".into()))?;
            let run = pair.get(1).and_then(text).filter(|r| !r.is_empty());
            let mut event_out = StoredEvent::new(
                id,
                event.kind,
                event.npc.clone(),
                run.map(str::to_owned),
                event.ts.clone(),
                message,
                Arc::from(assemble(id, run, &rest).as_str()),
            );
            if event.kind == EventKind::Started {
                event_out.callback_digest = event.run.as_ref().and_then(|m| m.callback_digest);
            }
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
                    .chain([super::BROADCAST_NPC])
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
    ) -> Result<Vec<Arc<StoredEvent>>, StoreError> {
        let key = match npc {
            Some(npc) => self.keys.npc(npc),
            None => self.keys.log(),
        };
        let start = match before {
            Some(before) => format!("(0-{before}"),
            None => "+".to_owned(),
        };
        let mut events = self.range(key, start, "-", limit, true).await?;
        events.reverse();
        Ok(events)
    }

    async fn runs(&self, agent: Option<&str>, limit: usize) -> Result<Vec<RunSummary>, StoreError> {
        let ids: Vec<String> = self
            .conn()
            .zrevrange(self.keys.runs(agent), 0, limit as isize - 1)
            .await
            .map_err(unavailable)?;
        Ok(self
            .runs_by_id(ids)
            .await?
            .into_iter()
            .map(|r| r.summary)
            .collect())
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

    async fn live_instances(&self) -> Result<HashSet<String>, StoreError> {
        let since = now_ms() - self.settings.instance_ttl.as_millis() as i64;
        let live: Vec<String> = self
            .conn()
            .zrangebyscore(self.keys.instances(), since, "+inf")
            .await
            .map_err(unavailable)?;
        Ok(live.into_iter().collect())
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

    async fn put_session(&self, id: [u8; 32], session: SessionRecord) -> Result<(), StoreError> {
        let key = self.keys.session(&id);
        let agents = session
            .agents
            .map(|a| serde_json::Value::from(a).to_string())
            .unwrap_or_default();
        redis::pipe()
            .atomic()
            .hset_multiple(
                &key,
                &[
                    ("subject", session.subject),
                    ("role", session.role),
                    ("agents", agents),
                    ("source", hex::encode(session.source)),
                    ("via_jwt", u8::from(session.via_jwt).to_string()),
                    ("expires_ms", session.expires_ms.to_string()),
                ],
            )
            .ignore()
            .cmd("PEXPIREAT")
            .arg(&key)
            .arg(session.expires_ms)
            .ignore()
            .query_async::<()>(&mut self.conn())
            .await
            .map_err(unavailable)
    }

    async fn session(&self, id: [u8; 32]) -> Result<Option<SessionRecord>, StoreError> {
        let hash: HashMap<String, String> = self
            .conn()
            .hgetall(self.keys.session(&id))
            .await
            .map_err(unavailable)?;
        let expires_ms: i64 = match hash.get("expires_ms").and_then(|v| v.parse().ok()) {
            Some(ms) if ms > now_ms() => ms,
            _ => return Ok(None),
        };
        Ok(Some(SessionRecord {
            subject: hash.get("subject").cloned().unwrap_or_default(),
            role: hash.get("role").cloned().unwrap_or_default(),
            agents: hash
                .get("agents")
                .filter(|a| !a.is_empty())
                .and_then(|a| serde_json::from_str(a).ok()),
            source: hash
                .get("source")
                .and_then(|s| hex::decode(s).ok())
                .and_then(|d| d.try_into().ok())
                .unwrap_or_default(),
            via_jwt: hash.get("via_jwt").map(String::as_str) == Some("1"),
            expires_ms,
        }))
    }

    async fn drop_session(&self, id: [u8; 32]) -> Result<(), StoreError> {
        self.conn()
            .del::<_, ()>(self.keys.session(&id))
            .await
            .map_err(unavailable)
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
        let mut conn = self.conn();
        // One gateway prunes at a time.
        let locked: Option<String> = redis::cmd("SET")
            .arg(self.keys.prune_lock())
            .arg(&self.settings.instance)
            .arg("NX")
            .arg("PX")
            .arg(60_000)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        if locked.is_none() {
            return Ok(0);
        }
        let cutoff = now_ms() - policy.max_age_secs as i64 * 1000;
        // Trim below the first entry young enough to keep, or past the last
        // old one seen: never past what was read (appends go on meanwhile).
        let mut trim_below = None;
        let mut start = "-".to_owned();
        'scan: loop {
            let page: Value = redis::cmd("XRANGE")
                .arg(self.keys.log())
                .arg(&start)
                .arg("+")
                .arg("COUNT")
                .arg(512)
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            let page = entries_with_times(page)?;
            let Some(last) = page.last().map(|(e, _)| e.id) else {
                break;
            };
            for (event, stored_ms) in &page {
                if *stored_ms >= cutoff {
                    trim_below = Some(event.id);
                    break 'scan;
                }
                trim_below = Some(event.id + 1);
            }
            start = format!("(0-{last}");
        }
        let npcs: Vec<String> = conn.smembers(self.keys.npcs()).await.map_err(unavailable)?;
        // Counted in the shared log; each npc's stream holds the same events.
        let mut removed = 0;
        if let Some(id) = trim_below {
            let minid = format!("0-{id}");
            let mut pipe = redis::pipe();
            for npc in &npcs {
                pipe.cmd("XTRIM")
                    .arg(self.keys.npc(npc))
                    .arg("MINID")
                    .arg(&minid)
                    .ignore();
            }
            pipe.cmd("XTRIM")
                .arg(self.keys.log())
                .arg("MINID")
                .arg(&minid);
            let (by_age,): (u64,) = pipe.query_async(&mut conn).await.map_err(unavailable)?;
            removed += by_age;
        }
        let mut pipe = redis::pipe();
        for npc in &npcs {
            pipe.cmd("XTRIM")
                .arg(self.keys.npc(npc))
                .arg("MAXLEN")
                .arg(policy.events_per_npc)
                .ignore();
        }
        pipe.cmd("XTRIM").arg(self.keys.log()).arg("MAXLEN").arg(
            policy
                .events_per_npc
                .saturating_mul(npcs.len().max(1) as u64),
        );
        let (by_count,): (u64,) = pipe.query_async(&mut conn).await.map_err(unavailable)?;
        removed += by_count;
        let old_runs: Vec<String> = conn
            .zrangebyscore(self.keys.runs(None), "-inf", cutoff)
            .await
            .map_err(unavailable)?;
        for run in self.runs_by_id(old_runs).await? {
            if !run.is_open() {
                redis::pipe()
                    .del(self.keys.run(&run.summary.run_id))
                    .ignore()
                    .zrem(self.keys.runs(None), &run.summary.run_id)
                    .ignore()
                    .zrem(
                        self.keys.runs(Some(&run.summary.agent)),
                        &run.summary.run_id,
                    )
                    .ignore()
                    .query_async::<()>(&mut conn)
                    .await
                    .map_err(unavailable)?;
            }
        }
        let _: Result<(), _> = conn.del(self.keys.prune_lock()).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_rebuilds_what_the_script_writes() {
        let event = super::super::conformance::event("a", EventKind::Step, None);
        let rest = envelope_rest(&event).unwrap();
        assert!(rest.starts_with(r#""type":"step""#), "{rest}");
        let json = assemble(7, Some("run_\"1"), &rest);
        let envelope: EventEnvelope = serde_json::from_str(&json).unwrap();
        assert_eq!(envelope.id, 7);
        assert_eq!(envelope.run_id.as_deref(), Some("run_\"1"));
        assert_eq!(envelope.message(), Some("a step"));
    }
}
