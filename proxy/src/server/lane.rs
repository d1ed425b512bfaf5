//! The HTTP/1.1 fast lane: the requests a monolith mostly gets (`GET` and
//! `HEAD` with no body and no connection options) served without hyper's
//! per-request machinery: a head parsed once into the request the proxy
//! routes, the answer written in one buffer, one timer per connection.
//!
//! hyper stays the judge of everything else. The first request the lane does
//! not take whole (a body, `Expect`, `Upgrade`, `Connection`, HTTP/1.0, a head
//! it cannot parse, more headers than its slots) hands the connection, with
//! every byte read so far, to hyper for the rest of its life; so malformed and
//! unusual requests get hyper's answers. The smuggling guard sits below
//! both and sees every byte once.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, StatusCode, Uri, Version};
use http_body_util::BodyExt;
use hyper::body::Body;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::body::{ClientBody, ProxyBody};
use crate::deadline::Deadline;
use crate::forward::Answer;
use crate::upstream::{Heads, RawHead};

/// Most headers a request in the lane may have; one with more goes to hyper,
/// which applies the configured limit.
const SLOTS: usize = 48;
/// A head still incomplete at this size goes to hyper, which has the limits
/// for large heads and the answers for heads over them.
const MAX_HEAD: usize = 16 * 1024;
/// Room made in the read buffer before each read.
const READ_CHUNK: usize = 8 * 1024;
/// Body bytes gathered before they are written; larger frames go out alone.
const WRITE_GATHER: usize = 16 * 1024;

/// How the lane ended.
pub(super) enum Ended<I> {
    /// The connection is done: closed, timed out, drained, or failed.
    Closed,
    /// A request for hyper: the connection and the bytes read but not served.
    Handoff { io: I, read: Bytes },
}

/// What the lane needs besides the connection.
pub(super) struct Lane<H> {
    pub(super) handle: H,
    pub(super) client: SocketAddr,
    pub(super) max_headers: usize,
    pub(super) header_read_timeout: Duration,
    /// Becomes true when the server drains: no request is started after it.
    pub(super) draining: watch::Receiver<bool>,
}

/// Serves requests off `io` until it closes or a request needs hyper.
pub(super) async fn serve<I, H, F>(mut io: I, mut lane: Lane<H>) -> io::Result<Ended<I>>
where
    I: AsyncRead + AsyncWrite + Unpin,
    H: Fn(Request<ClientBody>, SocketAddr, Heads) -> F,
    F: Future<Output = Answer> + Send + 'static,
{
    let mut read = BytesMut::new();
    let mut write = Vec::new();
    let mut clock = Deadline::default();
    loop {
        let wait_began = Instant::now();
        let request = loop {
            if !read.is_empty() {
                match parse(&mut read, lane.max_headers) {
                    Parsed::Request(request) => break request,
                    Parsed::Partial if read.len() < MAX_HEAD => {}
                    Parsed::Partial | Parsed::Other => {
                        return Ok(Ended::Handoff {
                            io,
                            read: read.freeze(),
                        });
                    }
                }
            }
            let deadline = wait_began + lane.header_read_timeout;
            let idle = read.is_empty();
            match next_bytes(
                &mut io,
                &mut read,
                &mut clock,
                deadline,
                idle,
                &mut lane.draining,
            )
            .await?
            {
                Waited::Read => {}
                Waited::Closed | Waited::TimedOut | Waited::Drained => return Ok(Ended::Closed),
            }
        };
        let head_only = request.method() == Method::HEAD;
        // Boxed: an idle connection then holds no room for a request's future.
        let answer = Box::pin((lane.handle)(request, lane.client, Heads::Raw)).await;
        write_response(&mut io, &mut write, answer, head_only).await?;
        if *lane.draining.borrow() {
            return Ok(Ended::Closed);
        }
        // A large answer's buffer is not kept by an idle connection.
        if write.capacity() > WRITE_GATHER * 2 {
            write = Vec::new();
        }
    }
}

/// A request head parsed, or why not.
#[allow(
    clippy::large_enum_variant,
    reason = "matched at once where it is made; a box would cost every request an allocation"
)]
enum Parsed {
    Request(Request<ClientBody>),
    Partial,
    /// Not the lane's: hyper reads it.
    Other,
}

/// Parses a complete head off the front of `read` when it is one the lane takes.
fn parse(read: &mut BytesMut, max_headers: usize) -> Parsed {
    let mut slots = [const { std::mem::MaybeUninit::uninit() }; SLOTS];
    let mut request = httparse::Request::new(&mut []);
    let length = match httparse::ParserConfig::default().parse_request_with_uninit_headers(
        &mut request,
        read,
        &mut slots,
    ) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::Other,
    };
    let method = match request.method {
        Some("GET") => Method::GET,
        Some("HEAD") => Method::HEAD,
        _ => return Parsed::Other,
    };
    let path = request.path.unwrap_or_default();
    if request.version != Some(1)
        || !path.starts_with('/')
        || request.headers.len() > max_headers
        || request.headers.iter().any(|h| not_for_lane(h.name))
    {
        return Parsed::Other;
    }
    // Where the path and each header sit in the head, so that once the head
    // is split off the buffer they can share its bytes.
    let base = read.as_ptr() as usize;
    let span = |part: &[u8]| (part.as_ptr() as usize - base, part.len());
    let path_at = span(path.as_bytes());
    let spans: Vec<_> = request
        .headers
        .iter()
        .map(|h| (span(h.name.as_bytes()), span(h.value)))
        .collect();
    let head = read.split_to(length).freeze();
    match request_of(&head, method, path_at, &spans) {
        Some(request) => Parsed::Request(request),
        None => {
            // httparse takes some paths `http` does not (`<`, `>`, a
            // backquote): the head goes back in front for hyper to answer.
            let mut whole = BytesMut::with_capacity(head.len() + read.len());
            whole.extend_from_slice(&head);
            whole.extend_from_slice(read);
            *read = whole;
            Parsed::Other
        }
    }
}

/// Where a part of a head sits in it: offset and length.
type Span = (usize, usize);

/// The request a parsed head stands for; its path and headers share the
/// head's bytes. `None` when `http` refuses a part httparse took.
fn request_of(
    head: &Bytes,
    method: Method,
    path_at: Span,
    spans: &[(Span, Span)],
) -> Option<Request<ClientBody>> {
    let slice = |(at, len): Span| head.slice(at..at + len);
    let uri = Uri::from_maybe_shared(slice(path_at)).ok()?;
    let mut headers = HeaderMap::with_capacity(spans.len());
    for &(name, value) in spans {
        let name = HeaderName::from_bytes(&head[name.0..name.0 + name.1]).ok()?;
        headers.append(name, HeaderValue::from_maybe_shared(slice(value)).ok()?);
    }
    let mut request = Request::new(ClientBody::Empty);
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = Version::HTTP_11;
    *request.headers_mut() = headers;
    Some(request)
}

/// Headers that give a request a body or change the connection: hyper's.
/// Every header of every request is asked, so the length decides first.
fn not_for_lane(name: &str) -> bool {
    let is = |special: &str| name.eq_ignore_ascii_case(special);
    match name.len() {
        6 => is("expect"),
        7 => is("upgrade"),
        10 => is("connection"),
        14 => is("content-length"),
        17 => is("transfer-encoding"),
        _ => false,
    }
}

/// What waiting for request bytes ended with.
enum Waited {
    Read,
    Closed,
    TimedOut,
    Drained,
}

/// Reads more of a request head, within `deadline`; while the connection is
/// idle (`idle`: nothing of a head read yet) a drain ends the wait.
async fn next_bytes<I: AsyncRead + Unpin>(
    io: &mut I,
    read: &mut BytesMut,
    clock: &mut Deadline,
    deadline: Instant,
    idle: bool,
    draining: &mut watch::Receiver<bool>,
) -> io::Result<Waited> {
    if idle && *draining.borrow() {
        return Ok(Waited::Drained);
    }
    read.reserve(READ_CHUNK);
    let reading = io.read_buf(read);
    let mut reading = std::pin::pin!(reading);
    let drained = draining.wait_for(|draining| *draining);
    let mut drained = std::pin::pin!(drained);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(read) = reading.as_mut().poll(cx) {
            return Poll::Ready(read.map(|n| if n == 0 { Waited::Closed } else { Waited::Read }));
        }
        if clock.poll_passed(cx, deadline).is_ready() {
            return Poll::Ready(Ok(Waited::TimedOut));
        }
        if idle && drained.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Ok(Waited::Drained));
        }
        Poll::Pending
    })
    .await
}

/// Writes an answer: the head and what of the body is ready in one write,
/// the rest as it comes; framed by its length when known, chunked otherwise.
async fn write_response<I: AsyncWrite + Unpin>(
    io: &mut I,
    out: &mut Vec<u8>,
    answer: Answer,
    head_only: bool,
) -> io::Result<()> {
    let (parts, mut body) = answer.response.into_parts();
    let status = parts.status;
    // No body follows these, whatever the headers say (RFC 9112 §6.3).
    let bodyless = head_only
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let length = if bodyless {
        None
    } else {
        body.size_hint().exact()
    };
    out.clear();
    write_head(
        out,
        status,
        answer.raw.as_ref(),
        &parts.headers,
        bodyless,
        length,
    );
    if bodyless {
        return send(io, out).await;
    }
    let chunked = length.is_none();
    let mut sent = 0_u64;
    loop {
        // What is ready now joins the head; only a body that makes the
        // client wait gets the head sent ahead of it.
        let frame = match frame_ready(&mut body) {
            Poll::Ready(frame) => frame,
            Poll::Pending => {
                send(io, out).await?;
                body.frame().await
            }
        };
        let data = match frame {
            None => break,
            Some(Err(err)) => return Err(io::Error::other(err)),
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) if !data.is_empty() => data,
                // Trailers are not sent over HTTP/1.1 here; empty frames carry nothing.
                _ => continue,
            },
        };
        sent += data.len() as u64;
        if chunked {
            let _ = std::io::Write::write_fmt(out, format_args!("{:x}\r\n", data.len()));
        }
        if data.len() >= WRITE_GATHER {
            send(io, out).await?;
            io.write_all(&data).await?;
        } else {
            out.extend_from_slice(&data);
        }
        if chunked {
            out.extend_from_slice(b"\r\n");
        }
        if out.len() >= WRITE_GATHER {
            send(io, out).await?;
        }
    }
    if chunked {
        out.extend_from_slice(b"0\r\n\r\n");
    } else if length != Some(sent) {
        // The body broke its own length: the client cannot frame what
        // follows, so the connection ends.
        return Err(io::Error::other(
            "the answer's body did not match its length",
        ));
    }
    send(io, out).await
}

/// The body's next frame if it is there without waiting.
fn frame_ready(
    body: &mut ProxyBody,
) -> Poll<Option<Result<hyper::body::Frame<Bytes>, crate::body::BodyError>>> {
    Pin::new(body).poll_frame(&mut Context::from_waker(Waker::noop()))
}

/// The status line and headers (the upstream's raw lines first, then the
/// map's); the framing is the lane's to say.
fn write_head(
    out: &mut Vec<u8>,
    status: StatusCode,
    raw: Option<&RawHead>,
    headers: &HeaderMap,
    bodyless: bool,
    length: Option<u64>,
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    let dated = raw.is_some_and(|raw| raw.write(out, !bodyless));
    for (name, value) in headers {
        // A bodyless answer keeps the length of what it stands for (HEAD, 304).
        if !bodyless && (name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING) {
            continue;
        }
        crate::headers::write_line(out, name, value.as_bytes());
    }
    if !dated && !headers.contains_key(header::DATE) {
        out.extend_from_slice(b"date: ");
        out.extend_from_slice(&now_in_http_date());
        out.extend_from_slice(b"\r\n");
    }
    if !bodyless {
        match length {
            Some(length) => {
                out.extend_from_slice(b"content-length: ");
                out.extend_from_slice(itoa::Buffer::new().format(length).as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            None => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes and flushes what `out` holds, then empties it.
async fn send<I: AsyncWrite + Unpin>(io: &mut I, out: &mut Vec<u8>) -> io::Result<()> {
    if !out.is_empty() {
        io.write_all(out).await?;
        out.clear();
    }
    // The guard below waits for a flush before it may answer a refused head.
    io.flush().await
}

/// Now as an HTTP date, formatted once a second.
fn now_in_http_date() -> [u8; 29] {
    thread_local! {
        static CACHED: std::cell::Cell<(u64, [u8; 29])> = const { std::cell::Cell::new((u64::MAX, [0; 29])) };
    }
    let now = std::time::SystemTime::now();
    let second = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    CACHED.with(|cached| {
        let (at, text) = cached.get();
        if at == second {
            return text;
        }
        let mut text = [0_u8; 29];
        let formatted = httpdate::fmt_http_date(now);
        text.copy_from_slice(&formatted.as_bytes()[..29]);
        cached.set((second, text));
        text
    })
}

/// A connection whose first bytes were already read: they are read again
/// first. How the lane hands a connection to hyper.
pub(super) struct Rewind<I> {
    read: Bytes,
    inner: I,
}

impl<I> Rewind<I> {
    pub(super) fn new(read: Bytes, inner: I) -> Self {
        Self { read, inner }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Rewind<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.read.is_empty() {
            return Pin::new(&mut self.inner).poll_read(cx, buf);
        }
        let n = self.read.len().min(buf.remaining());
        buf.put_slice(&self.read[..n]);
        self.read.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Rewind<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests;
