//! `GET /api/stream`: Server-Sent Events. Each event's frame is encoded once
//! and shared by every subscriber; whatever is ready at one wakeup goes out in
//! one write.

use super::edge::{Edge, StreamSlot};
use super::{ApiError, RouteSettings, SESSION_COOKIE, authorise_plain, bearer, identify, reject};
use crate::auth::Right;
use crate::core::{Credentials, Service};
use crate::hub::Followed;
use crate::metrics;
use crate::server::{ClientAddr, StreamHandler};
use crate::store::StoredEvent;
use bytes::{Bytes, BytesMut};
use futures_util::stream::BoxStream;
use futures_util::{FutureExt, Stream, StreamExt};
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
/// The most events and bytes one write gathers (always at least one event):
/// a reader that stops reading pins one write and nothing more.
const GATHER: usize = 32;
const WRITE_BYTES: usize = 64 * 1024;

/// Opens streams: for connections the server serves itself and for the
/// warp route (a stream asked on a connection that already served requests).
#[derive(Clone)]
pub struct StreamEndpoint {
    service: Arc<Service>,
    edge: Arc<Edge>,
    keepalive: Duration,
    gathering: crate::config::Gathering,
}

impl StreamEndpoint {
    pub fn new(service: Arc<Service>, settings: &RouteSettings, edge: Arc<Edge>) -> StreamEndpoint {
        StreamEndpoint {
            service,
            edge,
            keepalive: settings.keepalive,
            gathering: settings.gathering,
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
        let client = self.edge.client_ip(
            head.extensions.get::<ClientAddr>().copied(),
            header("x-forwarded-for"),
        );
        let caller = identify(
            &self.service,
            &self.edge,
            client,
            Credentials {
                bearer: token.as_deref(),
                session: session.as_deref(),
            },
        )
        .await?;
        authorise_plain(caller, Right::View)?;
        let filter = self.service.npc_filter(query.npc.as_deref())?;
        let after = self
            .service
            .stream_start(header("last-event-id"), query.since)?;
        let slot = self.edge.open_stream(client)?;
        Ok(sse(
            self.service.follow(filter, after),
            self.keepalive,
            self.gathering,
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

/// The wire frame of a live event, encoded on first use and shared.
fn frame(event: &StoredEvent) -> Bytes {
    event.frame.get_or_init(|| encode_frame(event)).clone()
}

fn encode_frame(event: &StoredEvent) -> Bytes {
    Bytes::from(format!(
        "id: {}\nevent: {}\ndata: {}\n\n",
        event.id,
        event.kind.as_str(),
        event.json
    ))
}

/// What one write takes: whatever is ready, up to [`GATHER`] events and
/// [`WRITE_BYTES`] of them.
struct Batch {
    items: Vec<Followed>,
    bytes: usize,
}

impl Batch {
    fn new() -> Batch {
        Batch {
            items: Vec::new(),
            bytes: 0,
        }
    }

    fn push(&mut self, followed: Followed) {
        if let Followed::Event(event) | Followed::Replayed(event) = &followed {
            self.bytes += event.json.len() + 48;
        }
        self.items.push(followed);
    }

    fn is_full(&self) -> bool {
        self.items.len() >= GATHER || self.bytes >= WRITE_BYTES
    }

    /// Takes what the stream has ready without waiting; false once it ended.
    fn take_ready(&mut self, events: &mut (impl Stream<Item = Followed> + Unpin)) -> bool {
        while !self.is_full() {
            match events.next().now_or_never() {
                Some(Some(followed)) => self.push(followed),
                Some(None) => return false,
                None => break,
            }
        }
        true
    }
}

/// One write for a batch; returns whether the stream should end. A replayed
/// event's frame is written here and kept nowhere else.
fn encode(batch: &[Followed]) -> (Bytes, bool) {
    let piece = |followed: &Followed| match followed {
        Followed::Event(event) => frame(event),
        Followed::Replayed(event) => encode_frame(event),
        Followed::CutOff => Bytes::from_static(CUT_OFF),
        Followed::ShuttingDown => Bytes::from_static(RESTARTING),
    };
    let ends = batch
        .iter()
        .any(|f| matches!(f, Followed::CutOff | Followed::ShuttingDown));
    let events = batch
        .iter()
        .filter(|f| matches!(f, Followed::Event(_) | Followed::Replayed(_)))
        .count();
    metrics::DELIVERIES.inc_by(events as u64);
    if let [one] = batch {
        return (piece(one), ends);
    }
    let mut out = BytesMut::new();
    for followed in batch {
        match followed {
            Followed::Replayed(event) => {
                use std::fmt::Write;
                let _ = write!(
                    FmtBytes(&mut out),
                    "id: {}\nevent: {}\ndata: {}\n\n",
                    event.id,
                    event.kind.as_str(),
                    event.json
                );
            }
            other => out.extend_from_slice(&piece(other)),
        }
    }
    (out.freeze(), ends)
}

/// `fmt::Write` into a byte buffer.
struct FmtBytes<'a>(&'a mut BytesMut);

impl std::fmt::Write for FmtBytes<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// The gateway's deliveries per second across every stream, as one stream
/// sees it: sampled from the deliveries counter at most every [`RATE_EVERY`].
struct DeliveryRate {
    at: std::time::Instant,
    count: u64,
    per_second: f64,
}

/// How long a stream waits for the events behind one, at the gateway's
/// delivery rate: nothing below `above` deliveries a second; above it a
/// quarter of the linger at first, the whole linger from four times `above`
/// (`above` 0: the whole linger always). A moderately busy gateway keeps its
/// delay small; a busier one saves more writes.
fn gathering_wait(linger: Duration, above: f64, per_second: f64) -> Duration {
    if above <= 0.0 {
        return linger;
    }
    if per_second < above {
        return Duration::ZERO;
    }
    let share = (0.25 + 0.75 * (per_second / above - 1.0) / 3.0).min(1.0);
    linger.mul_f64(share)
}

/// How often a stream samples the gateway's delivery rate.
const RATE_EVERY: Duration = Duration::from_millis(100);

impl DeliveryRate {
    fn new() -> DeliveryRate {
        DeliveryRate {
            at: std::time::Instant::now(),
            count: metrics::DELIVERIES.get(),
            per_second: 0.0,
        }
    }

    fn now(&mut self) -> f64 {
        let elapsed = self.at.elapsed();
        if elapsed >= RATE_EVERY {
            let count = metrics::DELIVERIES.get();
            self.per_second = count.saturating_sub(self.count) as f64 / elapsed.as_secs_f64();
            (self.at, self.count) = (std::time::Instant::now(), count);
        }
        self.per_second
    }
}

/// The stream's bytes: a hello, then frames, keep-alives and, at the end, why.
fn sse(
    events: impl Stream<Item = Followed> + Send + 'static,
    keepalive: Duration,
    gathering: crate::config::Gathering,
    slot: StreamSlot,
) -> BoxStream<'static, Bytes> {
    let crate::config::Gathering {
        linger,
        above_per_second: gather_above,
    } = gathering;
    let body = async_stream::stream! {
        let _slot = slot;
        yield Bytes::from_static(HELLO);
        let mut events = std::pin::pin!(events);
        // Checked twice per keep-alive period; nothing to reset per event.
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + keepalive / 2, keepalive / 2);
        let mut wrote_at = tokio::time::Instant::now();
        // How far apart events arrive, smoothed: wait for more only when more will come.
        let mut arrived_at = tokio::time::Instant::now();
        let mut gap = linger * 2;
        let mut rate = DeliveryRate::new();
        loop {
            tokio::select! {
                first = events.next() => {
                    let Some(first) = first else { break };
                    let picked = std::time::Instant::now();
                    let late = match &first {
                        Followed::Event(event) => Some(picked.duration_since(event.made)),
                        _ => None,
                    };
                    if let Some(late) = late {
                        metrics::STAGE_SECONDS.with_label_values(&["to_stream"]).observe(late.as_secs_f64());
                    }
                    let mut batch = Batch::new();
                    batch.push(first);
                    let mut open = batch.take_ready(&mut events);
                    // When events come faster than the linger and the gateway
                    // delivers more than it can write one by one, wait for the
                    // ones right behind this one: one write for several costs
                    // the kernel far less. Otherwise (a quieter stream, or a
                    // gateway with time to spare) it sends at once.
                    let wait = gathering_wait(linger, gather_above, rate.now());
                    if open && !batch.is_full() && gap < wait && !wait.is_zero() {
                        // Keep taking from the ring meanwhile, so waiting never lags it.
                        let deadline = tokio::time::sleep(wait);
                        tokio::pin!(deadline);
                        while !batch.is_full() {
                            tokio::select! {
                                biased;
                                more = events.next() => match more {
                                    Some(more) => {
                                        batch.push(more);
                                        open = batch.take_ready(&mut events);
                                        if !open {
                                            break;
                                        }
                                    }
                                    None => {
                                        open = false;
                                        break;
                                    }
                                },
                                _ = &mut deadline => break,
                            }
                        }
                    }
                    let now = tokio::time::Instant::now();
                    let each = (now - arrived_at) / batch.items.len().max(1) as u32;
                    gap = (gap * 3 + each.min(keepalive)) / 4;
                    arrived_at = now;
                    let (bytes, ends) = encode(&batch.items);
                    drop(batch);
                    if late.is_some() {
                        metrics::STAGE_SECONDS.with_label_values(&["in_stream"]).observe(picked.elapsed().as_secs_f64());
                    }
                    wrote_at = now;
                    yield bytes;
                    if ends || !open {
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

    #[test]
    fn streams_wait_for_more_only_as_the_gateway_gets_busy() {
        let linger = Duration::from_millis(20);
        let wait = |per_second| gathering_wait(linger, 100_000.0, per_second);
        assert_eq!(
            wait(80_000.0),
            Duration::ZERO,
            "a write per event costs little"
        );
        assert_eq!(
            wait(100_000.0),
            Duration::from_millis(5),
            "then a quarter of it"
        );
        assert_eq!(wait(250_000.0), Duration::from_micros(12_500));
        assert_eq!(wait(400_000.0), linger);
        assert_eq!(wait(2_000_000.0), linger, "never more than the linger");
        assert_eq!(gathering_wait(linger, 0.0, 10.0), linger, "0: always");
    }
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
    fn replayed_frames_are_not_kept_and_a_write_is_bounded_by_bytes() {
        let big = Arc::new(StoredEvent::new(
            1,
            EventKind::Step,
            "a".into(),
            None,
            "t".into(),
            None,
            Arc::from(format!(r#"{{"m":"{}"}}"#, "x".repeat(40_000)).as_str()),
        ));
        let (bytes, _) = encode(&[Followed::Replayed(big.clone())]);
        assert!(bytes.starts_with(b"id: 1\nevent: step\ndata: {"));
        assert!(
            big.frame.get().is_none(),
            "nothing cached for a replayed event"
        );
        let mut batch = Batch::new();
        batch.push(Followed::Replayed(big.clone()));
        assert!(!batch.is_full());
        batch.push(Followed::Replayed(big));
        assert!(batch.is_full(), "two 40 KB events fill a 64 KiB write");
        let mut small = Batch::new();
        for id in 0..GATHER as u64 {
            small.push(event(id));
        }
        assert!(small.is_full(), "and so do {GATHER} small ones");
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
