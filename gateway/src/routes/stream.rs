//! `GET /api/stream`: Server-Sent Events. Each event's frame is encoded once
//! and shared by every subscriber; whatever is ready at one wakeup goes out in
//! one write.

use super::edge::{Edge, StreamSlot, client};
use super::{RouteSettings, SESSION_COOKIE, authorise, bearer, reject, with_service};
use crate::auth::Right;
use crate::core::{Credentials, Service};
use crate::hub::Followed;
use crate::metrics;
use crate::store::StoredEvent;
use bytes::{Bytes, BytesMut};
use futures_util::{FutureExt, Stream, StreamExt};
use serde::Deserialize;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use warp::http::HeaderValue;
use warp::{Filter, Rejection, Reply};

/// The first frame: how long a client waits before reconnecting after the stream ends.
const HELLO: &[u8] = b"retry: 1000\n: esprit-hub\n\n";
const KEEPALIVE: &[u8] = b": keep-alive\n\n";
const CUT_OFF: &[u8] = b"retry: 1000\n: fell behind: reconnect with Last-Event-ID\n\n";
const RESTARTING: &[u8] = b"retry: 1000\n: gateway restarting\n\n";
/// Frames coalesced into one write at most.
const BATCH: usize = 32;

pub fn routes(
    service: Arc<Service>,
    settings: RouteSettings,
    edge: Arc<Edge>,
) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let (keepalive, linger) = (settings.keepalive, settings.linger);
    warp::path!("api" / "stream")
        .and(warp::get())
        .and(warp::query::<StreamQuery>())
        .and(warp::header::optional::<String>("authorization"))
        .and(warp::cookie::optional::<String>(SESSION_COOKIE))
        .and(warp::header::optional::<String>("last-event-id"))
        .and(client(edge.clone()))
        .and(with_service(service))
        .and_then(
            move |query: StreamQuery,
                  header: Option<String>,
                  session: Option<String>,
                  last_event_id: Option<String>,
                  client: std::net::IpAddr,
                  service: Arc<Service>| {
                let edge = edge.clone();
                async move {
                    // `EventSource` cannot send headers: the stream alone also takes `?access_token=`.
                    let token = bearer(header.as_deref()).or(query.access_token.clone());
                    let caller = service
                        .caller_for(Credentials {
                            bearer: token.as_deref(),
                            session: session.as_deref(),
                        })
                        .await;
                    authorise(caller, Right::View)?;
                    let filter = service.npc_filter(query.npc.as_deref()).map_err(reject)?;
                    let after = service
                        .stream_start(last_event_id.as_deref(), query.since)
                        .map_err(reject)?;
                    let slot = edge.open_stream(client).map_err(reject)?;
                    Ok::<_, Rejection>(sse(service.follow(filter, after), keepalive, linger, slot))
                }
            },
        )
}

#[derive(Deserialize)]
struct StreamQuery {
    npc: Option<String>,
    since: Option<u64>,
    access_token: Option<String>,
}

/// The wire frame of one event, encoded on first use.
fn frame(event: &StoredEvent) -> Bytes {
    event
        .frame
        .get_or_init(|| {
            Bytes::from(format!(
                "id: {}\nevent: {}\ndata: {}\n\n",
                event.id,
                event.kind.as_str(),
                event.json
            ))
        })
        .clone()
}

/// One write for everything ready; returns whether the stream should end.
fn encode(batch: &[Followed]) -> (Bytes, bool) {
    let piece = |followed: &Followed| match followed {
        Followed::Event(event) => frame(event),
        Followed::CutOff => Bytes::from_static(CUT_OFF),
        Followed::ShuttingDown => Bytes::from_static(RESTARTING),
    };
    let ends = batch
        .iter()
        .any(|f| matches!(f, Followed::CutOff | Followed::ShuttingDown));
    let events = batch
        .iter()
        .filter(|f| matches!(f, Followed::Event(_)))
        .count();
    metrics::DELIVERIES.inc_by(events as u64);
    if let [one] = batch {
        return (piece(one), ends);
    }
    let mut out = BytesMut::new();
    for followed in batch {
        out.extend_from_slice(&piece(followed));
    }
    (out.freeze(), ends)
}

fn sse(
    events: impl Stream<Item = Followed> + Send + 'static,
    keepalive: Duration,
    linger: Duration,
    slot: StreamSlot,
) -> warp::reply::Response {
    let body = async_stream::stream! {
        let _slot = slot;
        yield Ok::<Bytes, Infallible>(Bytes::from_static(HELLO));
        let mut events = std::pin::pin!(events.ready_chunks(BATCH));
        // Checked twice per keep-alive period; nothing to reset per event.
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + keepalive / 2, keepalive / 2);
        let mut wrote_at = tokio::time::Instant::now();
        loop {
            tokio::select! {
                batch = events.next() => {
                    let Some(mut batch) = batch else { break };
                    // When events come fast, wait a moment for the ones right
                    // behind this one: one write for several costs the kernel
                    // far less. A quiet stream sends at once.
                    let busy = wrote_at.elapsed() < linger * 4;
                    if batch.len() < BATCH && busy && !linger.is_zero() {
                        tokio::time::sleep(linger).await;
                        while batch.len() < BATCH * 4
                            && let Some(Some(more)) = events.next().now_or_never()
                        {
                            batch.extend(more);
                        }
                    }
                    let (bytes, ends) = encode(&batch);
                    wrote_at = tokio::time::Instant::now();
                    yield Ok(bytes);
                    if ends {
                        break;
                    }
                }
                _ = tick.tick() => {
                    if wrote_at.elapsed() >= keepalive {
                        wrote_at = tokio::time::Instant::now();
                        yield Ok(Bytes::from_static(KEEPALIVE));
                    }
                }
            }
        }
    };
    // warp wants a `Sync` stream; the wrapper gives that without a lock, since polling needs `&mut`.
    let mut response = warp::reply::stream(sync_wrapper::SyncStream::new(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        "content-type",
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert("cache-control", HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::EventKind;

    fn event(id: u64) -> Followed {
        Followed::Event(Arc::new(StoredEvent::new(
            id,
            EventKind::Step,
            "a".into(),
            None,
            "t".into(),
            None,
            Arc::from(format!(r#"{{"id":{id}}}"#).as_str()),
        )))
    }

    #[test]
    fn frames_are_sse_and_batches_are_one_write() {
        let (one, ends) = encode(&[event(7)]);
        assert_eq!(&one[..], b"id: 7\nevent: step\ndata: {\"id\":7}\n\n");
        assert!(!ends);
        let (two, ends) = encode(&[event(1), event(2), Followed::CutOff]);
        let text = std::str::from_utf8(&two).unwrap();
        assert!(text.starts_with("id: 1\n") && text.contains("id: 2\n"));
        assert!(text.ends_with("reconnect with Last-Event-ID\n\n"));
        assert!(ends, "a cut-off ends the stream");
    }

    #[test]
    fn a_frame_is_encoded_once() {
        let Followed::Event(stored) = event(3) else {
            unreachable!()
        };
        let first = frame(&stored);
        let second = frame(&stored);
        assert_eq!(first.as_ptr(), second.as_ptr(), "shared, not re-encoded");
    }
}
