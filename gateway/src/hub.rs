//! The SSE hub: fans committed events out to subscribers through bounded
//! broadcast rings, and follows a subscriber from a stored position into the
//! live feed with no gap and no duplicate.

use crate::store::{BROADCAST_NPC, EventLog, NpcFilter, StoredEvent};
use futures_util::Stream;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use tokio::sync::broadcast;

/// Events read from the store per replay query, and their most bytes: a
/// subscriber that stops reading pins at most one page.
const REPLAY_PAGE: usize = 256;
const REPLAY_PAGE_BYTES: usize = 128 * 1024;
/// Times a follower that lagged while replaying may re-read from the store before it is cut off.
const CATCH_UP_ATTEMPTS: u32 = 3;

/// What a ring carries: events, and the word to stop, in line with them so a
/// follower waits on one thing only.
#[derive(Clone, Debug)]
enum Beat {
    Event(Arc<StoredEvent>),
    /// The gateway is stopping.
    ShuttingDown,
    /// The store's feed stopped (a shared log out of reach): resume by replaying.
    Interrupted,
}

/// One ring for everything (all-npc and multi-npc subscribers) and one per npc,
/// so a single-npc subscriber is only woken for its own npc.
pub struct EventHub {
    all: broadcast::Sender<Beat>,
    by_npc: RwLock<HashMap<String, broadcast::Sender<Beat>>>,
    capacity: usize,
}

/// What a follower yields.
#[derive(Debug, Clone)]
pub enum Followed {
    /// A live event, shared by every follower (its frame is encoded once for all).
    Event(Arc<StoredEvent>),
    /// An event read back from the store for this follower alone.
    Replayed(Arc<StoredEvent>),
    /// The subscriber fell further behind than its queue, or the store's feed
    /// stopped: it should reconnect with `Last-Event-ID`.
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
        }
    }

    /// Sends `beat` to every ring.
    fn tell_all(&self, beat: Beat) {
        let _ = self.all.send(beat.clone());
        for tx in self.by_npc.read().expect("hub lock").values() {
            let _ = tx.send(beat.clone());
        }
    }

    /// Ends every live follower with a retry hint: the store's feed stopped,
    /// and they resume by replaying once it is back.
    pub fn interrupt(&self) {
        self.tell_all(Beat::Interrupted);
    }

    /// Ends every stream (with a retry hint) so a graceful shutdown can finish.
    pub fn shut_down(&self) {
        self.tell_all(Beat::ShuttingDown);
    }

    fn npc_sender(&self, npc: &str) -> broadcast::Sender<Beat> {
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
            let _ = self.all.send(Beat::Event(event.clone()));
            if event.npc == BROADCAST_NPC {
                for tx in by_npc.values() {
                    let _ = tx.send(Beat::Event(event.clone()));
                }
            } else if let Some(tx) = by_npc.get(&event.npc) {
                let _ = tx.send(Beat::Event(event.clone()));
            }
        }
        crate::metrics::EVENTS_PUBLISHED.inc_by(events.len() as u64);
    }

    /// Everything after `after` that matches `filter`: first from the store, then live.
    ///
    /// The live ring is joined *before* the store is read, and events reach the
    /// ring only after they are durable, so every event is in the store read or
    /// in the ring (or both: those are skipped by id).
    pub fn follow(
        self: &Arc<Self>,
        store: Arc<dyn EventLog>,
        filter: NpcFilter,
        after: u64,
    ) -> impl Stream<Item = Followed> + Send + use<> {
        let hub = self.clone();
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
                        yield Followed::Replayed(event);
                    }
                    if !full {
                        break;
                    }
                }
                // Live. A lag on the first receive means the ring overflowed during the replay.
                let mut first_live = true;
                loop {
                    match live.next().await {
                        Ok(Beat::Event(event)) if event.id <= last => continue,
                        Ok(Beat::Event(event)) => {
                            first_live = false;
                            last = event.id;
                            yield Followed::Event(event);
                        }
                        Ok(Beat::ShuttingDown) => {
                            yield Followed::ShuttingDown;
                            break 'follow;
                        }
                        Ok(Beat::Interrupted) => {
                            yield Followed::CutOff;
                            break 'follow;
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) if first_live && catch_ups < CATCH_UP_ATTEMPTS => {
                            // Fell behind while replaying a long backlog: read the rest from the store.
                            catch_ups += 1;
                            continue 'follow;
                        }
                        Err(broadcast::error::RecvError::Lagged(missed)) => {
                            tracing::info!(missed, last_event_id = last, "subscriber fell behind; cutting it off");
                            crate::metrics::SUBSCRIBERS_CUT_OFF.inc();
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
    rx: broadcast::Receiver<Beat>,
    /// Set for multi-npc subscribers reading the shared ring.
    filter: Option<NpcFilter>,
}

impl Subscription {
    async fn next(&mut self) -> Result<Beat, broadcast::error::RecvError> {
        loop {
            let beat = self.rx.recv().await?;
            match (&self.filter, &beat) {
                (Some(filter), Beat::Event(event)) if !filter.matches(&event.npc) => continue,
                _ => return Ok(beat),
            }
        }
    }
}

struct SubscriberGauge;

impl SubscriberGauge {
    fn new() -> Self {
        crate::metrics::SUBSCRIBERS.inc();
        SubscriberGauge
    }
}

impl Drop for SubscriberGauge {
    fn drop(&mut self) {
        crate::metrics::SUBSCRIBERS.dec();
    }
}
