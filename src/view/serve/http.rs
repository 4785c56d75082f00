//! The server's HTTP engine: hyper's HTTP/1 connections on a tokio runtime, with every limit
//! a hostile client could otherwise push on, and the same security headers on every answer.
//!
//! Invariant: nothing a client sends or fails to read grows without bound or holds another
//! client up. At most [`Limits::connections`] connections are open (one more is answered 503
//! and closed); a request head is at most [`Limits::header_bytes`] (hyper answers 431) and
//! must arrive within [`Limits::header_timeout`] (idle keep-alive connections included); a
//! request with a body is answered 413 and its body never read; a write the client does not
//! take for [`Limits::write_stall`] ends its connection, and no connection lives longer than
//! [`Limits::lifetime`] (then it is closed gracefully). Handlers run on blocking threads, at
//! most [`Limits::handlers`] at once, so a slow bundle holds one slot, never the accept loop.
//!
//! Why hyper: it is the HTTP implementation most of the Rust ecosystem runs on, it parses
//! with `httparse` into bounded buffers and lets a server set the header size, header count
//! and header read timeout; tokio adds a task per connection (a stalled client costs a task,
//! not a thread) and the timers for the bounds hyper leaves to its user (write stalls,
//! lifetime). tiny_http, before, was one thread over blocking sockets with no such limits.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Sleep;

use super::access::Access;
use super::message::{Request, Response, TEXT};

/// The bounds the engine keeps.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Connections open at once.
    pub(crate) connections: usize,
    /// Handlers running at once (each on a blocking thread).
    pub(crate) handlers: usize,
    /// Bytes of a request head (request line and headers).
    pub(crate) header_bytes: usize,
    /// Headers in a request.
    pub(crate) headers: usize,
    /// Time to receive a whole request head, from when the server starts waiting for it.
    pub(crate) header_timeout: Duration,
    /// Time a response write may wait for the client to read.
    pub(crate) write_stall: Duration,
    /// Time a connection may stay open.
    pub(crate) lifetime: Duration,
    /// Time a connection past its lifetime gets to finish its request.
    pub(crate) grace: Duration,
}

/// The server's limits (documented in the README's `serve` section and RELIABILITY.md).
pub(crate) const LIMITS: Limits = Limits {
    connections: 256,
    handlers: 4,
    header_bytes: 16 << 10,
    headers: 64,
    header_timeout: Duration::from_secs(10),
    write_stall: Duration::from_secs(10),
    lifetime: Duration::from_secs(300),
    grace: Duration::from_secs(10),
};

/// hyper's read buffer per connection (its minimum is 8 KiB): the head limit plus room.
const READ_BUFFER: usize = 32 << 10;

/// Headers on every response. The policy allows scripts and styles from this server only:
/// no inline script or handler runs even if markup got into a page.
const SECURITY_HEADERS: &[(&str, &str)] = &[
    (
        "content-security-policy",
        super::super::SERVED_POLICY_HEADER,
    ),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("cache-control", "no-store"),
    ("cross-origin-resource-policy", "same-origin"),
    ("cross-origin-opener-policy", "same-origin"),
];

/// A page handler behind the engine: an admitted request in, a whole response out.
pub(crate) type Answer = dyn Fn(&Request) -> Response + Send + Sync;

/// What every connection shares.
pub(crate) struct Engine {
    answer: Box<Answer>,
    access: Access,
    limits: Limits,
    handlers: Arc<Semaphore>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("access", &self.access)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine answering through `answer`, admitting by `access`, within `limits`.
    pub(crate) fn new(answer: Box<Answer>, access: Access, limits: Limits) -> Engine {
        Engine {
            answer,
            access,
            handlers: Arc::new(Semaphore::new(limits.handlers)),
            limits,
        }
    }
}

/// Accepts connections until the listener fails, each on its own task.
pub(crate) async fn accept(listener: TcpListener, engine: Arc<Engine>) -> io::Result<()> {
    let connections = Arc::new(Semaphore::new(engine.limits.connections));
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Out of descriptors or a connection reset before accept: wait a little, go on.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&connections).try_acquire_owned() else {
            // Full: say so without waiting (the socket's buffer is empty), then close.
            let _ = stream.try_write(
                b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\nretry-after: 1\r\ncontent-length: 0\r\n\r\n",
            );
            continue;
        };
        let engine = Arc::clone(&engine);
        tokio::spawn(async move {
            connection(stream, engine).await;
            drop(permit);
        });
    }
}

/// Serves one connection within the header, write and lifetime limits.
async fn connection(stream: TcpStream, engine: Arc<Engine>) {
    let _ = stream.set_nodelay(true);
    let limits = engine.limits;
    let io = TokioIo::new(Guarded {
        io: stream,
        stall: limits.write_stall,
        timer: None,
    });
    let service = hyper::service::service_fn(move |request| {
        let engine = Arc::clone(&engine);
        async move { Ok::<_, Infallible>(respond(&engine, request).await) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_header_size(limits.header_bytes)
        .max_headers(limits.headers)
        .max_buf_size(READ_BUFFER)
        .keep_alive(true);
    let mut conn = Box::pin(builder.serve_connection(io, service));
    if tokio::time::timeout(limits.lifetime, conn.as_mut())
        .await
        .is_err()
    {
        conn.as_mut().graceful_shutdown();
        let _ = tokio::time::timeout(limits.grace, conn).await;
    }
}

/// The answer to one request: refused before any handler runs if it is not a GET or HEAD,
/// carries a body, or fails the access rules.
async fn respond(
    engine: &Arc<Engine>,
    request: hyper::Request<Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let (parts, _body) = request.into_parts();
    if parts.method != Method::GET && parts.method != Method::HEAD {
        let mut response = finish(Response::text(405, "only GET and HEAD"), false, None);
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let has_body = parts.headers.contains_key(header::TRANSFER_ENCODING)
        || parts
            .headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    if has_body {
        // The body is never read; hyper drains a little of it or closes the connection.
        return finish(
            Response::text(413, "requests carry no body here"),
            true,
            None,
        );
    }
    let hosts: Vec<&HeaderValue> = parts.headers.get_all(header::HOST).iter().collect();
    if hosts.len() > 1 {
        return finish(Response::text(400, "more than one Host header"), true, None);
    }
    let host = match (hosts.first(), parts.uri.authority()) {
        (Some(value), _) => match value.to_str() {
            Ok(host) => Some(host.to_owned()),
            Err(_) => return finish(Response::text(400, "a Host that is not text"), true, None),
        },
        (None, Some(authority)) => Some(authority.as_str().to_owned()),
        (None, None) => None,
    };
    let request = Request {
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
    };
    let cookies: Vec<&str> = parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let cookies = cookies.join("; ");
    let admitted = match engine.access.admit(
        host.as_deref(),
        request.query_param("token"),
        (!cookies.is_empty()).then_some(cookies.as_str()),
    ) {
        Ok(admitted) => admitted,
        Err(refused) => return finish(refused, false, None),
    };
    let cookie = admitted
        .set_cookie
        .then(|| engine.access.cookie())
        .flatten();
    let Ok(permit) = Arc::clone(&engine.handlers).acquire_owned().await else {
        return finish(Response::text(503, "shutting down"), true, None);
    };
    let handling = Arc::clone(engine);
    // The permit goes with the handler: a client that leaves does not free its slot before
    // the handler is done.
    let answered = tokio::task::spawn_blocking(move || {
        let response = (handling.answer)(&request);
        drop(permit);
        response
    })
    .await;
    let response = answered.unwrap_or_else(|_| Response::text(500, "the handler failed"));
    finish(response, false, cookie)
}

/// The hyper response of `response`, with the security headers (and `connection: close`,
/// a token cookie, when asked).
fn finish(response: Response, close: bool, cookie: Option<String>) -> hyper::Response<Full<Bytes>> {
    let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let content_type = if response.body.as_bytes().is_empty() {
        TEXT
    } else {
        response.content_type
    };
    let body = match response.body {
        super::message::Body::Static(bytes) => Bytes::from_static(bytes),
        super::message::Body::Owned(bytes) => Bytes::from(bytes),
    };
    let mut out = hyper::Response::new(Full::new(body));
    *out.status_mut() = status;
    let headers = out.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    for (name, value) in SECURITY_HEADERS {
        headers.insert(*name, HeaderValue::from_static(value));
    }
    if close {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if let Some(value) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.insert(header::SET_COOKIE, value);
    }
    out
}

/// A client socket whose writes fail once the client has not read for `stall`.
struct Guarded {
    io: TcpStream,
    stall: Duration,
    /// Armed while a write waits for the client.
    timer: Option<Pin<Box<Sleep>>>,
}

impl Guarded {
    /// A write is waiting: pending until the stall timer fires, then an error.
    fn stalled<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let stall = self.stall;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(stall)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    /// A write got through: the next wait starts its own timer.
    fn progressed<T>(&mut self, result: io::Result<T>) -> Poll<io::Result<T>> {
        self.timer = None;
        Poll::Ready(result)
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.io).poll_write(cx, buf) {
            Poll::Ready(result) => this.progressed(result),
            Poll::Pending => this.stalled(cx),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.io).poll_write_vectored(cx, bufs) {
            Poll::Ready(result) => this.progressed(result),
            Poll::Pending => this.stalled(cx),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.io).poll_flush(cx) {
            Poll::Ready(result) => this.progressed(result),
            Poll::Pending => this.stalled(cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
