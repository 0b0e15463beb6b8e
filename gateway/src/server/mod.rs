//! The HTTP/1 server loop: accepts connections and serves them under the
//! gateway's limits, so no client can hold more than its share:
//!
//! - a connection must send its request head within `header_read_timeout`
//!   (idle keep-alive connections included);
//! - a connection that does not take what it is sent for `write_timeout` (a
//!   stalled SSE reader) is closed;
//! - per-connection buffers stop at `max_buf_size`;
//! - at most `max_connections` are open, and at most
//!   `max_connections_per_client` from one address (the reverse proxies in
//!   `proxies` excepted); more are refused at accept;
//! - a graceful shutdown waits at most `shutdown_grace`.
//!
//! A connection that opens with a stream request (`GET /api/stream`) is
//! served here, without hyper: its head is parsed, and the stream is written
//! straight to the socket, so an open stream costs its socket, its follower
//! and little else. It is written from the stream writers' threads
//! ([`writers`]). Every other connection goes to hyper, head included.

mod writers;

pub use writers::StreamWriters;

use crate::metrics;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// The peer's address, as a request extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

#[derive(Clone, Debug)]
pub struct ServerLimits {
    pub header_read_timeout: Duration,
    pub write_timeout: Duration,
    pub max_buf_size: usize,
    pub max_connections: usize,
    pub max_connections_per_client: usize,
    /// Our own reverse proxies: many clients share their address.
    pub proxies: Vec<ipnet::IpNet>,
    pub shutdown_grace: Duration,
}

/// Open connections per client address.
#[derive(Clone, Default)]
struct PerClient(Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>);

/// One connection of a client; counted until dropped.
struct ClientSlot {
    table: PerClient,
    ip: std::net::IpAddr,
}

impl PerClient {
    fn take(&self, ip: std::net::IpAddr, max: usize) -> Option<ClientSlot> {
        let mut table = self.0.lock().expect("connections lock");
        let open = table.entry(ip).or_default();
        if *open >= max {
            return None;
        }
        *open += 1;
        Some(ClientSlot {
            table: self.clone(),
            ip,
        })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut table = self.table.0.lock().expect("connections lock");
        if let Some(open) = table.get_mut(&self.ip) {
            *open -= 1;
            if *open == 0 {
                table.remove(&self.ip);
            }
        }
    }
}

/// Opens streams for the connections the server serves itself.
pub trait StreamHandler: Clone + Send + Sync + 'static {
    /// Whether a request for `path` is a stream this handler serves.
    fn serves(&self, method: &http::Method, path: &str) -> bool;
    /// The stream's body, or the whole answer that refuses it.
    fn open(
        &self,
        head: http::request::Parts,
    ) -> impl Future<Output = Result<BoxStream<'static, Bytes>, http::Response<Bytes>>> + Send;
}

/// Headers of every stream the server writes itself (it ends when the connection does).
const STREAM_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nx-accel-buffering: no\r\nx-content-type-options: nosniff\r\nconnection: close\r\n\r\n";
/// Request head fields read at most.
const MAX_HEADERS: usize = 64;

/// Serves until `shutdown` resolves, then drains connections for at most the
/// grace period. Streams are written on `writers`.
pub async fn serve<S, B, H>(
    listener: TcpListener,
    service: S,
    streams: H,
    writers: tokio::runtime::Handle,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()>,
) where
    S: tower_service::Service<
            http::Request<Incoming>,
            Response = http::Response<B>,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    H: StreamHandler,
{
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut connections = tokio::task::JoinSet::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let per_client = PerClient::default();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        while connections.try_join_next().is_some() {}
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            metrics::CONNECTIONS_REFUSED.inc();
            tracing::warn!(%peer, max = limits.max_connections, "connection refused: too many open");
            drop(stream);
            continue;
        };
        let client_slot = if limits.proxies.iter().any(|p| p.contains(&peer.ip())) {
            None
        } else {
            match per_client.take(peer.ip(), limits.max_connections_per_client) {
                Some(slot) => Some(slot),
                None => {
                    metrics::CONNECTIONS_REFUSED.inc();
                    tracing::debug!(%peer, max = limits.max_connections_per_client, "connection refused: too many from this address");
                    drop(stream);
                    continue;
                }
            }
        };
        let _ = stream.set_nodelay(true);
        let (service, streams, writers, limits, watcher) = (
            service.clone(),
            streams.clone(),
            writers.clone(),
            limits.clone(),
            graceful.watcher(),
        );
        let held = Held {
            _server: slot,
            _client: client_slot,
        };
        connections.spawn(connection(
            stream, peer, service, streams, writers, limits, watcher, held,
        ));
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(limits.shutdown_grace) => {
            tracing::warn!(grace_secs = limits.shutdown_grace.as_secs(), "connections still open after the grace period; closing them");
        }
    }
    connections.abort_all();
}

/// A connection's places among the server's and its client's; freed when dropped.
struct Held {
    _server: tokio::sync::OwnedSemaphorePermit,
    _client: Option<ClientSlot>,
}

/// One connection: a stream served here, or anything else by hyper. `held`
/// lasts as long as the connection, in this task or in its stream's.
async fn connection<S, B, H>(
    mut stream: TcpStream,
    peer: SocketAddr,
    service: S,
    streams: H,
    writers: tokio::runtime::Handle,
    limits: ServerLimits,
    graceful: hyper_util::server::graceful::Watcher,
    held: Held,
) where
    S: tower_service::Service<
            http::Request<Incoming>,
            Response = http::Response<B>,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    H: StreamHandler,
{
    let head = match tokio::time::timeout(
        limits.header_read_timeout,
        read_head(&mut stream, limits.max_buf_size),
    )
    .await
    {
        Ok(Ok(Some(head))) => head,
        // Timed out, closed, or not HTTP: hyper would answer nothing useful either.
        Ok(Ok(None)) | Ok(Err(_)) | Err(_) => return,
    };
    if let Some(parts) = stream_request(&head, &streams, peer) {
        // The stream moves to a writer thread with the connection's places,
        // and this task ends: an open stream keeps only what it needs. A
        // shutdown ends it through its follower, or with the writers' runtime.
        let Ok(socket) = stream.into_std() else {
            return;
        };
        let write_timeout = limits.write_timeout;
        writers.spawn(async move {
            let _held = held;
            if let Ok(socket) = TcpStream::from_std(socket) {
                serve_stream(socket, parts, streams, write_timeout).await;
            }
        });
        return;
    }
    let io = TokioIo::new(Prefixed {
        prefix: head.freeze(),
        inner: WriteDeadline::new(stream, limits.write_timeout),
    });
    let per_request = hyper::service::service_fn(move |mut request: http::Request<Incoming>| {
        request.extensions_mut().insert(ClientAddr(peer));
        let mut service = service.clone();
        tower_service::Service::call(&mut service, request)
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_buf_size)
        // One flat buffer, bounded by max_buf_size: a queue of body chunks
        // would let a stalled reader pin many of them.
        .writev(false)
        .keep_alive(true)
        .serve_connection(io, per_request);
    if let Err(e) = graceful.watch(connection).await {
        // Clients hanging up and timeouts are ordinary; they are not errors of ours.
        tracing::debug!(%peer, error = %e, "connection ended");
    }
}

/// Reads until a complete request head (or `limit` bytes); `None` if the peer
/// closed first or sent something that is not HTTP.
async fn read_head(stream: &mut TcpStream, limit: usize) -> std::io::Result<Option<BytesMut>> {
    let mut head = BytesMut::with_capacity(1024);
    loop {
        if stream.read_buf(&mut head).await? == 0 {
            return Ok(None);
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        match httparse::Request::new(&mut headers).parse(&head) {
            Ok(httparse::Status::Complete(_)) => return Ok(Some(head)),
            // Too many headers or a bad line: hyper answers that properly.
            Err(_) => return Ok(Some(head)),
            Ok(httparse::Status::Partial) if head.len() >= limit => return Ok(Some(head)),
            Ok(httparse::Status::Partial) => {}
        }
    }
}

/// The head as a request, when it asks for a stream the handler serves.
fn stream_request<H: StreamHandler>(
    head: &[u8],
    streams: &H,
    peer: SocketAddr,
) -> Option<http::request::Parts> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let httparse::Status::Complete(_) = request.parse(head).ok()? else {
        return None;
    };
    let method = http::Method::from_bytes(request.method?.as_bytes()).ok()?;
    let target = request.path?;
    let path = target.split('?').next().unwrap_or(target);
    if !streams.serves(&method, path) {
        return None;
    }
    let mut builder = http::Request::builder().method(method).uri(target);
    for header in request.headers.iter() {
        builder = builder.header(header.name, header.value);
    }
    let (mut parts, ()) = builder.body(()).ok()?.into_parts();
    parts.extensions.insert(ClientAddr(peer));
    Some(parts)
}

/// Writes a stream (or its refusal) straight to the socket until either side ends it.
async fn serve_stream<H: StreamHandler>(
    mut socket: TcpStream,
    head: http::request::Parts,
    streams: H,
    write_timeout: Duration,
) {
    let mut body = match streams.open(head).await {
        Ok(body) => body,
        Err(refusal) => {
            let _ = write_refusal(&mut socket, refusal, write_timeout).await;
            return;
        }
    };
    if write_all(&socket, STREAM_HEAD, write_timeout)
        .await
        .is_err()
    {
        return;
    }
    {
        let gone = client_gone(&socket);
        tokio::pin!(gone);
        loop {
            tokio::select! {
                chunk = body.next() => {
                    let Some(chunk) = chunk else { break };
                    if write_all(&socket, &chunk, write_timeout).await.is_err() {
                        break;
                    }
                }
                _ = &mut gone => break,
            }
        }
    }
    let _ = socket.shutdown().await;
}

/// Resolves when the client closes its end (it has nothing else to say).
async fn client_gone(socket: &TcpStream) {
    let mut probe = [0u8; 64];
    loop {
        if socket.readable().await.is_err() {
            return;
        }
        match socket.try_read(&mut probe) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return,
        }
    }
}

/// Writes all of `bytes`; only a write that has to wait starts a timer.
async fn write_all(socket: &TcpStream, mut bytes: &[u8], limit: Duration) -> std::io::Result<()> {
    let mut deadline = None;
    while !bytes.is_empty() {
        match socket.try_write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let until = *deadline.get_or_insert_with(|| tokio::time::Instant::now() + limit);
                if tokio::time::timeout_at(until, socket.writable())
                    .await
                    .is_err()
                {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the client took nothing for the write timeout",
                    ));
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

async fn write_refusal(
    socket: &mut TcpStream,
    refusal: http::Response<Bytes>,
    limit: Duration,
) -> std::io::Result<()> {
    let (parts, body) = refusal.into_parts();
    let mut out = format!(
        "HTTP/1.1 {} {}\r\ncontent-length: {}\r\nconnection: close\r\n",
        parts.status.as_u16(),
        parts.status.canonical_reason().unwrap_or(""),
        body.len()
    )
    .into_bytes();
    for (name, value) in &parts.headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
    write_all(socket, &out, limit).await?;
    socket.shutdown().await
}

/// A connection whose first bytes were already read (the request head).
struct Prefixed<S> {
    prefix: Bytes,
    inner: S,
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix.split_to(n));
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A connection whose writes may wait at most `limit`: a reader that takes
/// nothing for that long is dropped. The timer starts only when a write has
/// to wait, so writes that go straight out cost no timer at all.
struct WriteDeadline {
    stream: TcpStream,
    limit: Duration,
    waiting: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl WriteDeadline {
    fn new(stream: TcpStream, limit: Duration) -> WriteDeadline {
        WriteDeadline {
            stream,
            limit,
            waiting: None,
        }
    }

    /// After a write came back `Pending`: has the reader stalled past the limit?
    fn stalled(&mut self, cx: &mut Context<'_>) -> bool {
        let limit = self.limit;
        let deadline = self
            .waiting
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        deadline.as_mut().poll(cx).is_ready()
    }

    fn settle<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<std::io::Result<T>>,
    ) -> Poll<std::io::Result<T>> {
        match poll {
            Poll::Pending if self.stalled(cx) => Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client took nothing for the write timeout",
            ))),
            Poll::Pending => Poll::Pending,
            ready => {
                self.waiting = None;
                ready
            }
        }
    }
}

impl AsyncRead for WriteDeadline {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for WriteDeadline {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.settle(cx, poll)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let poll = Pin::new(&mut self.stream).poll_flush(cx);
        self.settle(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
