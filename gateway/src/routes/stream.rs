//! `GET /api/stream`: Server-Sent Events. Each event's frame is encoded once
//! and shared by every subscriber; whatever is ready at one wakeup goes out in
//! one write.

use super::edge::{Edge, StreamSlot};
use super::{ApiError, RouteSettings, SESSION_COOKIE, authorise_plain, bearer, reject};
use crate::auth::Right;
use crate::core::{Credentials, Service};
use crate::hub::Followed;
use crate::metrics;
use crate::server::{ClientAddr, StreamHandler};
use crate::store::StoredEvent;
use bytes::{Bytes, BytesMut};
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt};
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
/// Frames ready at once that go out in one write, and the most a write
/// gathers while it waits for more (bounded: a stalled reader pins one write).
const BATCH: usize = 16;
const GATHER: usize = 32;

/// Opens streams: for connections the server serves itself and for the
/// warp route (a stream asked on a connection that already served requests).
#[derive(Clone)]
pub struct StreamEndpoint {
    service: Arc<Service>,
    edge: Arc<Edge>,
    keepalive: Duration,
    linger: Duration,
}

impl StreamEndpoint {
    pub fn new(service: Arc<Service>, settings: &RouteSettings, edge: Arc<Edge>) -> StreamEndpoint {
        StreamEndpoint {
            service,
            edge,
            keepalive: settings.keepalive,
            linger: settings.linger,
        }
    }

    /// Checks the request (host, who is calling, which npcs, where to start)
    /// and opens the stream.
    pub async fn open_stream(
        &self,
        head: &warp::http::request::Parts,
    ) -> Result<BoxStream<'static, Bytes>, ApiError> {
        let header = |name: &str| head.headers.get(name).and_then(|v| v.to_str().ok());
        self.edge.check_request(
            &head.method,
            header("host"),
            header("origin"),
            header("sec-fetch-site"),
        )?;
        let query = StreamQuery::parse(head.uri.query().unwrap_or(""))?;
        // `EventSource` cannot send headers: the stream alone also takes `?access_token=`.
        let token = bearer(header("authorization")).or(query.access_token);
        let session = head
            .headers
            .get_all("cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(cookie::Cookie::split_parse)
            .filter_map(Result::ok)
            .find(|c| c.name() == SESSION_COOKIE)
            .map(|c| c.value().to_owned());
        let caller = self
            .service
            .caller_for(Credentials {
                bearer: token.as_deref(),
                session: session.as_deref(),
            })
            .await;
        authorise_plain(caller, Right::View)?;
        let filter = self.service.npc_filter(query.npc.as_deref())?;
        let after = self
            .service
            .stream_start(header("last-event-id"), query.since)?;
        let client = self.edge.client_ip(
            head.extensions.get::<ClientAddr>().copied(),
            header("x-forwarded-for"),
        );
        let slot = self.edge.open_stream(client)?;
        Ok(sse(
            self.service.follow(filter, after),
            self.keepalive,
            self.linger,
            slot,
        ))
    }
}

impl StreamHandler for StreamEndpoint {
    fn serves(&self, method: &warp::http::Method, path: &str) -> bool {
        method == warp::http::Method::GET && path == "/api/stream"
    }

    async fn open(
        &self,
        head: warp::http::request::Parts,
    ) -> Result<BoxStream<'static, Bytes>, warp::http::Response<Bytes>> {
        self.open_stream(&head).await.map_err(|error| {
            let status = error.status;
            let mut response = warp::http::Response::new(Bytes::from(
                serde_json::to_vec(&error.body()).expect("error bodies serialise"),
            ));
            *response.status_mut() = status;
            response
                .headers_mut()
                .insert("content-type", HeaderValue::from_static("application/json"));
            if let Some(secs) = error.retry_after {
                response
                    .headers_mut()
                    .insert("retry-after", HeaderValue::from(secs));
            }
            response
        })
    }
}

/// The same endpoint as a warp route.
pub fn routes(
    endpoint: StreamEndpoint,
) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    warp::path!("api" / "stream")
        .and(warp::get())
        .and(warp::path::full())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(warp::header::headers_cloned())
        .and(warp::ext::optional::<ClientAddr>())
        .and_then(
            move |path: warp::path::FullPath,
                  query: String,
                  headers: warp::http::HeaderMap,
                  peer: Option<ClientAddr>| {
                let endpoint = endpoint.clone();
                async move {
                    let uri = if query.is_empty() {
                        path.as_str().to_owned()
                    } else {
                        format!("{}?{query}", path.as_str())
                    };
                    let mut head = warp::http::Request::get(uri)
                        .body(())
                        .map_err(|e| reject(ApiError::invalid_request(e.to_string())))?
                        .into_parts()
                        .0;
                    head.headers = headers;
                    if let Some(peer) = peer {
                        head.extensions.insert(peer);
                    }
                    let body = endpoint.open_stream(&head).await.map_err(reject)?;
                    Ok::<_, Rejection>(stream_reply(body))
                }
            },
        )
}

/// `npc`, `since` and `access_token` from a stream's query string.
#[derive(Default)]
struct StreamQuery {
    npc: Option<String>,
    since: Option<u64>,
    access_token: Option<String>,
}

impl StreamQuery {
    fn parse(query: &str) -> Result<StreamQuery, ApiError> {
        let mut parsed = StreamQuery::default();
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            match &*key {
                "npc" => parsed.npc = Some(value.into_owned()),
                "since" => {
                    parsed.since = Some(value.parse().map_err(|_| {
                        ApiError::invalid_request(format!(
                            "query string: `since` must be an event id, not `{}`",
                            value.chars().take(40).collect::<String>()
                        ))
                    })?)
                }
                "access_token" => parsed.access_token = Some(value.into_owned()),
                _ => {}
            }
        }
        Ok(parsed)
    }
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

/// The stream's bytes: a hello, then frames, keep-alives and, at the end, why.
fn sse(
    events: impl Stream<Item = Followed> + Send + 'static,
    keepalive: Duration,
    linger: Duration,
    slot: StreamSlot,
) -> BoxStream<'static, Bytes> {
    let body = async_stream::stream! {
        let _slot = slot;
        yield Bytes::from_static(HELLO);
        let mut events = std::pin::pin!(events.ready_chunks(BATCH));
        // Checked twice per keep-alive period; nothing to reset per event.
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + keepalive / 2, keepalive / 2);
        let mut wrote_at = tokio::time::Instant::now();
        // How far apart events arrive, smoothed: wait for more only when more will come.
        let mut arrived_at = tokio::time::Instant::now();
        let mut gap = linger * 2;
        loop {
            tokio::select! {
                batch = events.next() => {
                    let Some(mut batch) = batch else { break };
                    // When events come faster than the linger, wait for the ones
                    // right behind this one: one write for several costs the
                    // kernel far less. A quieter stream sends at once.
                    if batch.len() < BATCH && gap < linger && !linger.is_zero() {
                        // Keep taking from the ring meanwhile, so waiting never lags it.
                        let deadline = tokio::time::sleep(linger);
                        tokio::pin!(deadline);
                        loop {
                            tokio::select! {
                                biased;
                                more = events.next() => match more {
                                    Some(more) => {
                                        batch.extend(more);
                                        if batch.len() >= GATHER {
                                            break;
                                        }
                                    }
                                    None => break,
                                },
                                _ = &mut deadline => break,
                            }
                        }
                    }
                    let now = tokio::time::Instant::now();
                    let each = (now - arrived_at) / batch.len().max(1) as u32;
                    gap = (gap * 3 + each.min(keepalive)) / 4;
                    arrived_at = now;
                    let (bytes, ends) = encode(&batch);
                    wrote_at = now;
                    yield bytes;
                    if ends {
                        break;
                    }
                }
                _ = tick.tick() => {
                    if wrote_at.elapsed() >= keepalive {
                        wrote_at = tokio::time::Instant::now();
                        yield Bytes::from_static(KEEPALIVE);
                    }
                }
            }
        }
    };
    body.boxed()
}

/// A stream as a warp reply.
fn stream_reply(body: BoxStream<'static, Bytes>) -> warp::reply::Response {
    // warp wants a `Sync` stream; the wrapper gives that without a lock, since polling needs `&mut`.
    let body = body.map(Ok::<Bytes, Infallible>);
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
