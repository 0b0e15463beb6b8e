//! The SSE hub: fans committed events out to subscribers through bounded
//! broadcast rings, and follows a subscriber from a stored position into the
//! live feed with no gap and no duplicate.

use crate::metrics;
use crate::store::{BROADCAST_NPC, EventStore, NpcFilter, StoredEvent};
use futures_util::Stream;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use tokio::sync::{broadcast, watch};

/// Events read from the store per replay query, and their most bytes: a
/// subscriber that stops reading pins at most one page.
const REPLAY_PAGE: usize = 256;
const REPLAY_PAGE_BYTES: usize = 128 * 1024;
/// Times a follower that lagged while replaying may re-read from the store before it is cut off.
const CATCH_UP_ATTEMPTS: u32 = 3;

/// One ring for everything (all-npc and multi-npc subscribers) and one per npc,
/// so a single-npc subscriber is only woken for its own npc.
pub struct EventHub {
    all: broadcast::Sender<Arc<StoredEvent>>,
    by_npc: RwLock<HashMap<String, broadcast::Sender<Arc<StoredEvent>>>>,
    capacity: usize,
    shutdown: watch::Sender<bool>,
    /// Bumped when the store stops telling of commits: live followers end.
    interruptions: watch::Sender<u64>,
}

/// What a follower yields.
#[derive(Debug, Clone)]
pub enum Followed {
    Event(Arc<StoredEvent>),
    /// The subscriber fell further behind than its queue: it should reconnect with `Last-Event-ID`.
    CutOff,
    /// The gateway is stopping.
    ShuttingDown,
}

impl EventHub {
    pub fn new(capacity: usize) -> EventHub {
        EventHub {
            all: broadcast::channel(capacity).0,
            by_npc: RwLock::new(HashMap::new()),
            capacity,
            shutdown: watch::channel(false).0,
            interruptions: watch::channel(0).0,
        }
    }

    /// Ends every live follower with a retry hint: the store's feed stopped,
    /// and they resume by replaying once it is back.
    pub fn interrupt(&self) {
        self.interruptions.send_modify(|n| *n += 1);
    }

    /// Ends every stream (with a retry hint) so a graceful shutdown can finish.
    pub fn shut_down(&self) {
        self.shutdown.send_replace(true);
    }

    fn npc_sender(&self, npc: &str) -> broadcast::Sender<Arc<StoredEvent>> {
        if let Some(tx) = self.by_npc.read().expect("hub lock").get(npc) {
            return tx.clone();
        }
        self.by_npc
            .write()
            .expect("hub lock")
            .entry(npc.to_owned())
            .or_insert_with(|| broadcast::channel(self.capacity).0)
            .clone()
    }

    fn subscribe(&self, filter: &NpcFilter) -> Subscription {
        match filter {
            NpcFilter::Only(npcs) if npcs.len() == 1 => {
                let npc = npcs.iter().next().expect("one npc");
                Subscription {
                    rx: self.npc_sender(npc).subscribe(),
                    filter: None,
                }
            }
            NpcFilter::All => Subscription {
                rx: self.all.subscribe(),
                filter: None,
            },
            only => Subscription {
                rx: self.all.subscribe(),
                filter: Some(only.clone()),
            },
        }
    }

    pub fn fan_out(&self, events: &[Arc<StoredEvent>]) {
        let by_npc = self.by_npc.read().expect("hub lock");
        for event in events {
            // A send error only means nobody is listening right now.
            let _ = self.all.send(event.clone());
            if event.npc == BROADCAST_NPC {
                for tx in by_npc.values() {
                    let _ = tx.send(event.clone());
                }
            } else if let Some(tx) = by_npc.get(&event.npc) {
                let _ = tx.send(event.clone());
            }
        }
        metrics::EVENTS_PUBLISHED.inc_by(events.len() as u64);
    }

    /// Everything after `after` that matches `filter`: first from the store, then live.
    ///
    /// The live ring is joined *before* the store is read, and events reach the
    /// ring only after they are durable, so every event is in the store read or
    /// in the ring (or both: those are skipped by id).
    pub fn follow(
        self: &Arc<Self>,
        store: Arc<dyn EventStore>,
        filter: NpcFilter,
        after: u64,
    ) -> impl Stream<Item = Followed> + Send + use<> {
        let hub = self.clone();
        let mut shutdown = self.shutdown.subscribe();
        let mut interruptions = self.interruptions.subscribe();
        async_stream::stream! {
            let _gauge = SubscriberGauge::new();
            let mut last = after;
            let mut catch_ups = 0;
            'follow: loop {
                let mut live = hub.subscribe(&filter);
                // Replay what the store has beyond `last`.
                loop {
                    let page = match store.read_since(&filter, last, REPLAY_PAGE, REPLAY_PAGE_BYTES).await {
                        Ok(page) => page,
                        Err(error) => {
                            tracing::warn!(%error, "replay failed; ending stream so the client retries");
                            yield Followed::CutOff;
                            break 'follow;
                        }
                    };
                    let full = page.len() == REPLAY_PAGE
                        || page.iter().map(|e| e.json.len()).sum::<usize>() >= REPLAY_PAGE_BYTES;
                    for event in page {
                        last = event.id;
                        yield Followed::Event(event);
                    }
                    if !full {
                        break;
                    }
                }
                // Live. A lag on the first receive means the ring overflowed during the replay.
                let mut first_live = true;
                loop {
                    let next = tokio::select! {
                        biased;
                        _ = async { let _ = shutdown.wait_for(|stopping| *stopping).await; } => {
                            yield Followed::ShuttingDown;
                            break 'follow;
                        }
                        _ = interruptions.changed() => {
                            yield Followed::CutOff;
                            break 'follow;
                        }
                        next = live.next() => next,
                    };
                    match next {
                        Ok(event) if event.id <= last => continue,
                        Ok(event) => {
                            first_live = false;
                            last = event.id;
                            yield Followed::Event(event);
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) if first_live && catch_ups < CATCH_UP_ATTEMPTS => {
                            // Fell behind while replaying a long backlog: read the rest from the store.
                            catch_ups += 1;
                            continue 'follow;
                        }
                        Err(broadcast::error::RecvError::Lagged(missed)) => {
                            tracing::info!(missed, last_event_id = last, "subscriber fell behind; cutting it off");
                            metrics::SUBSCRIBERS_CUT_OFF.inc();
                            yield Followed::CutOff;
                            break 'follow;
                        }
                        Err(broadcast::error::RecvError::Closed) => break 'follow,
                    }
                }
            }
        }
    }
}

struct Subscription {
    rx: broadcast::Receiver<Arc<StoredEvent>>,
    /// Set for multi-npc subscribers reading the shared ring.
    filter: Option<NpcFilter>,
}

impl Subscription {
    async fn next(&mut self) -> Result<Arc<StoredEvent>, broadcast::error::RecvError> {
        loop {
            let event = self.rx.recv().await?;
            match &self.filter {
                Some(filter) if !filter.matches(&event.npc) => continue,
                _ => return Ok(event),
            }
        }
    }
}

struct SubscriberGauge;

impl SubscriberGauge {
    fn new() -> Self {
        metrics::SUBSCRIBERS.inc();
        SubscriberGauge
    }
}

impl Drop for SubscriberGauge {
    fn drop(&mut self) {
        metrics::SUBSCRIBERS.dec();
    }
}
