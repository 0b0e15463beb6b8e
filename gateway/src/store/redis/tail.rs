//! Each gateway's one reader of the shared log: it follows the log on its own
//! connection (a blocking read would hold up every other command) and tells
//! the listener every commit, in id order, from whichever gateway it came.

use super::entry::entries_with_times;
use super::{Keys, RedisStore, unavailable};
use crate::store::{CommitListener, StoreError, StoredEvent, now_ms};
use redis::Value;
use redis::aio::ConnectionManager;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::watch;

/// Entries the tailer takes per read, and how long one read blocks.
const TAIL_BATCH: usize = 1024;
const TAIL_BLOCK_MS: usize = 2000;

impl RedisStore {
    pub(super) fn spawn_tailer(
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
