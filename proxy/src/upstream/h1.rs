//! HTTP/1.1 to an upstream without a connection task.
//!
//! hyper's client drives each upstream connection from a task of its own and
//! hands it every request and every body chunk through channels: three task
//! switches per request on the proxy's hot path. Here the request's own task
//! writes the request and reads the response head, and the response body
//! reads straight from the upstream socket as the client side takes it.
//! A connection goes back to its pool only once its response was read to the
//! exact end; anything unexpected (a framing error, bytes after the response,
//! a body dropped half-read) closes it, so a response can never be taken for
//! the next request's.
//!
//! Framing follows RFC 9112 §6.3, strictly: a response with both
//! `Transfer-Encoding` and `Content-Length`, conflicting lengths, or a
//! transfer coding other than a final `chunked` is refused, never guessed.

use std::io::Write as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Response, StatusCode, Version};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::pool::Pool;
use crate::body::{BodyError, ProxyBody};

/// Most headers an upstream response may carry.
const MAX_HEADERS: usize = 128;
/// Largest response head accepted.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Largest chunk-size line (the size and any extensions).
const MAX_CHUNK_LINE: usize = 1024;
/// Largest trailer section of a chunked body (read and dropped).
const MAX_TRAILER_BYTES: usize = 16 * 1024;
/// Room made in the read buffer before each read.
const READ_CHUNK: usize = 8 * 1024;

/// One keep-alive connection to an upstream endpoint.
#[derive(Debug)]
pub(crate) struct Conn {
    stream: TcpStream,
    /// Bytes read from the upstream and not yet consumed.
    read: BytesMut,
    /// The request head, built here to go out in one write; kept for its capacity.
    write: Vec<u8>,
    /// When it was last returned to its pool.
    pub(crate) idle_since: Instant,
}

impl Conn {
    pub(crate) fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            read: BytesMut::new(),
            write: Vec::new(),
            idle_since: Instant::now(),
        }
    }

    /// Whether an idle connection can carry another request: the upstream has
    /// neither closed it nor sent anything unasked. Costs a system call only
    /// when the reactor saw the socket readable.
    pub(crate) fn still_usable(&self) -> bool {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match self.stream.poll_read_ready(&mut cx) {
            Poll::Pending => true,
            Poll::Ready(Err(_)) => false,
            Poll::Ready(Ok(())) => {
                let mut probe = [0_u8; 1];
                matches!(
                    self.stream.try_read(&mut probe),
                    Err(err) if err.kind() == std::io::ErrorKind::WouldBlock
                )
            }
        }
    }
}

/// Why an exchange failed.
#[derive(Debug)]
pub(crate) struct ExchangeError {
    /// What happened, for the error message.
    pub(crate) reason: String,
    /// Nothing of a response arrived: on a reused connection the upstream may
    /// have closed it just before the request, so a replayable request may be
    /// sent again on a fresh one.
    pub(crate) before_response: bool,
}

impl ExchangeError {
    fn before_response(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            before_response: true,
        }
    }

    fn malformed(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            before_response: false,
        }
    }
}

/// Sends a request (whose URI holds the path and query) over `conn` and reads
/// the response head. `host` is used when the request carries no `Host`. The
/// request is borrowed so that a bodyless one can be sent again elsewhere.
pub(crate) async fn exchange(
    mut conn: Conn,
    parts: &http::request::Parts,
    body: &mut ProxyBody,
    host: &str,
    pool: &Arc<Pool>,
) -> Result<Response<ResponseBody>, ExchangeError> {
    let expects_body = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    let length = if body.is_end_stream() {
        Some(0)
    } else {
        body.size_hint().exact()
    };
    conn.write.clear();
    write_head(&mut conn.write, parts, host, length, expects_body);
    match length {
        Some(0) => write_all(&mut conn, 0).await?,
        Some(length) => send_sized(&mut conn, body, length).await?,
        None => send_chunked(&mut conn, body).await?,
    }
    read_response(conn, parts.method == Method::HEAD, pool).await
}

/// `METHOD target HTTP/1.1`, the headers without any framing of their own,
/// then the framing this proxy chose.
fn write_head(
    out: &mut Vec<u8>,
    parts: &http::request::Parts,
    host: &str,
    length: Option<u64>,
    expects_body: bool,
) {
    out.extend_from_slice(parts.method.as_str().as_bytes());
    out.push(b' ');
    let target = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    if !parts.headers.contains_key(header::HOST) {
        out.extend_from_slice(b"host: ");
        out.extend_from_slice(host.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    for (name, value) in &parts.headers {
        // The body's framing is this proxy's to say; `Expect` was answered
        // already (the body was read from the client before it is sent here).
        if name == header::CONTENT_LENGTH
            || name == header::TRANSFER_ENCODING
            || name == header::EXPECT
        {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    match length {
        Some(0) if !expects_body => {}
        Some(length) => {
            let _ = write!(out, "content-length: {length}\r\n");
        }
        None => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes what is in the write buffer. `sent` says how much of the request
/// went out before, so that a failure on the very first write can be told apart.
async fn write_all(conn: &mut Conn, sent: u64) -> Result<(), ExchangeError> {
    let Conn { stream, write, .. } = conn;
    stream.write_all(write).await.map_err(|err| {
        let reason = format!("sending the request: {err}");
        if sent == 0 {
            ExchangeError::before_response(reason)
        } else {
            ExchangeError::malformed(reason)
        }
    })?;
    write.clear();
    Ok(())
}

/// A body of known length; the head and a small body go out in one write.
async fn send_sized(
    conn: &mut Conn,
    body: &mut ProxyBody,
    length: u64,
) -> Result<(), ExchangeError> {
    let mut sent = 0_u64;
    let mut written = 0_u64;
    while let Some(data) = next_data(body).await? {
        sent += data.len() as u64;
        if sent > length {
            return Err(ExchangeError::malformed(format!(
                "the request body is longer than its declared {length} bytes"
            )));
        }
        conn.write.extend_from_slice(&data);
        if conn.write.len() >= READ_CHUNK || sent == length {
            write_all(conn, written).await?;
            written = sent;
        }
    }
    if sent < length {
        return Err(ExchangeError::malformed(format!(
            "the request body ended after {sent} of its declared {length} bytes"
        )));
    }
    write_all(conn, written).await
}

/// A body of unknown length, chunked.
async fn send_chunked(conn: &mut Conn, body: &mut ProxyBody) -> Result<(), ExchangeError> {
    let mut written = 0_u64;
    while let Some(data) = next_data(body).await? {
        if data.is_empty() {
            continue;
        }
        let _ = write!(conn.write, "{:x}\r\n", data.len());
        conn.write.extend_from_slice(&data);
        conn.write.extend_from_slice(b"\r\n");
        write_all(conn, written).await?;
        written += data.len() as u64;
    }
    conn.write.extend_from_slice(b"0\r\n\r\n");
    write_all(conn, written).await
}

/// The next data frame of a request body; trailers are dropped.
async fn next_data(body: &mut ProxyBody) -> Result<Option<Bytes>, ExchangeError> {
    loop {
        match body.frame().await {
            None => return Ok(None),
            Some(Err(err)) => {
                return Err(ExchangeError::malformed(format!(
                    "reading the request body: {err}"
                )));
            }
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    return Ok(Some(data));
                }
            }
        }
    }
}

/// Reads the response head (skipping interim 1xx answers) and sets up its body.
async fn read_response(
    mut conn: Conn,
    head_request: bool,
    pool: &Arc<Pool>,
) -> Result<Response<ResponseBody>, ExchangeError> {
    let mut received_any = false;
    loop {
        let parsed = parse_head(&mut conn.read)?;
        let Some(head) = parsed else {
            if conn.read.len() >= MAX_HEAD_BYTES {
                return Err(ExchangeError::malformed(format!(
                    "the response head is over {MAX_HEAD_BYTES} bytes"
                )));
            }
            conn.read.reserve(READ_CHUNK);
            let read = conn.stream.read_buf(&mut conn.read).await;
            match read {
                Ok(0) if !received_any => {
                    return Err(ExchangeError::before_response(
                        "the connection closed before a response",
                    ));
                }
                Ok(0) => {
                    return Err(ExchangeError::malformed(
                        "the connection closed inside the response head",
                    ));
                }
                Ok(_) => received_any = true,
                Err(err) if !received_any => {
                    return Err(ExchangeError::before_response(format!(
                        "reading the response: {err}"
                    )));
                }
                Err(err) => {
                    return Err(ExchangeError::malformed(format!(
                        "reading the response: {err}"
                    )));
                }
            }
            continue;
        };
        if head.status.is_informational() {
            if head.status == StatusCode::SWITCHING_PROTOCOLS {
                return Err(ExchangeError::malformed(
                    "the upstream switched protocols, which was not asked for",
                ));
            }
            continue;
        }
        return finish_head(conn, head, head_request, pool);
    }
}

/// A parsed response head.
struct Head {
    status: StatusCode,
    version: Version,
    headers: HeaderMap,
}

/// Parses a complete head off the front of `read`, or `None` when more bytes
/// are needed. Header values share the head's bytes instead of copying them.
fn parse_head(read: &mut BytesMut) -> Result<Option<Head>, ExchangeError> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut slots);
    let length = match response.parse(read) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(err) => {
            return Err(ExchangeError::malformed(format!(
                "malformed response head: {err}"
            )));
        }
    };
    let status = response
        .code
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or_else(|| ExchangeError::malformed("malformed response status"))?;
    let version = if response.version == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    let base = read.as_ptr() as usize;
    let spans: Vec<(HeaderName, std::ops::Range<usize>)> = response
        .headers
        .iter()
        .map(|h| {
            let name = HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| {
                ExchangeError::malformed(format!("malformed response header name `{}`", h.name))
            })?;
            let start = h.value.as_ptr() as usize - base;
            Ok((name, start..start + h.value.len()))
        })
        .collect::<Result<_, ExchangeError>>()?;
    let bytes = read.split_to(length).freeze();
    let mut headers = HeaderMap::with_capacity(spans.len());
    for (name, span) in spans {
        let value = HeaderValue::from_maybe_shared(bytes.slice(span))
            .map_err(|_| ExchangeError::malformed(format!("malformed value of `{name}`")))?;
        headers.append(name, value);
    }
    Ok(Some(Head {
        status,
        version,
        headers,
    }))
}

/// How a response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// This many bytes are left.
    Length(u64),
    /// Chunked, at the given point of the chunk grammar.
    Chunked(Chunk),
    /// Until the upstream closes the connection (which is then not reused).
    UntilClose,
    /// The body is over.
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk's data, this many bytes left.
    Data(u64),
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one.
    Trailers,
}

fn finish_head(
    conn: Conn,
    head: Head,
    head_request: bool,
    pool: &Arc<Pool>,
) -> Result<Response<ResponseBody>, ExchangeError> {
    let Head {
        status,
        version,
        headers,
    } = head;
    let keep_alive = keep_alive(version, &headers);
    let framing =
        if head_request || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
            Framing::Done
        } else {
            framing(&headers)?
        };
    let reusable = keep_alive && framing != Framing::UntilClose;
    let mut body = ResponseBody {
        conn: Some(conn),
        framing,
        reusable,
        pool: Arc::clone(pool),
    };
    body.release_if_done();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.version_mut() = version;
    *response.headers_mut() = headers;
    Ok(response)
}

fn keep_alive(version: Version, headers: &HeaderMap) -> bool {
    let says = |token: &str| {
        headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    match version {
        Version::HTTP_10 => says("keep-alive"),
        _ => !says("close"),
    }
}

/// The body's framing from its headers (RFC 9112 §6.3), refusing ambiguity.
fn framing(headers: &HeaderMap) -> Result<Framing, ExchangeError> {
    let encodings: Vec<&HeaderValue> = headers.get_all(header::TRANSFER_ENCODING).iter().collect();
    if !encodings.is_empty() {
        if headers.contains_key(header::CONTENT_LENGTH) {
            return Err(ExchangeError::malformed(
                "the response has both Transfer-Encoding and Content-Length",
            ));
        }
        let codings: Vec<String> = encodings
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().to_ascii_lowercase())
            .filter(|t| !t.is_empty())
            .collect();
        return match codings.split_last() {
            Some((last, rest)) if last == "chunked" && !rest.iter().any(|c| c == "chunked") => {
                Ok(Framing::Chunked(Chunk::Size))
            }
            _ => Err(ExchangeError::malformed(format!(
                "unsupported response Transfer-Encoding `{}`",
                codings.join(", ")
            ))),
        };
    }
    let mut length: Option<u64> = None;
    for value in headers.get_all(header::CONTENT_LENGTH) {
        for item in value.as_bytes().split(|b| *b == b',') {
            let item = item.trim_ascii();
            let parsed =
                (!item.is_empty() && item.len() <= 19 && item.iter().all(u8::is_ascii_digit))
                    .then(|| std::str::from_utf8(item).ok()?.parse::<u64>().ok())
                    .flatten()
                    .ok_or_else(|| ExchangeError::malformed("malformed response Content-Length"))?;
            if length.is_some_and(|earlier| earlier != parsed) {
                return Err(ExchangeError::malformed(
                    "the response has conflicting Content-Length values",
                ));
            }
            length = Some(parsed);
        }
    }
    Ok(match length {
        Some(0) => Framing::Done,
        Some(length) => Framing::Length(length),
        None => Framing::UntilClose,
    })
}

/// A response body read straight from the upstream connection, which goes
/// back to its pool once the body was read to its exact end.
#[derive(Debug)]
pub(crate) struct ResponseBody {
    conn: Option<Conn>,
    framing: Framing,
    reusable: bool,
    pool: Arc<Pool>,
}

impl ResponseBody {
    /// Once the body is over, returns the connection to the pool if it can
    /// carry another request: kept alive, and nothing read beyond the response.
    fn release_if_done(&mut self) {
        if self.framing != Framing::Done {
            return;
        }
        if let Some(conn) = self.conn.take()
            && self.reusable
            && conn.read.is_empty()
        {
            self.pool.put(conn);
        }
    }

    fn fail(&mut self, reason: impl Into<String>) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        self.conn = None;
        self.framing = Framing::Done;
        Poll::Ready(Some(Err(reason.into().into())))
    }

    /// Reads more from the upstream; `Ok(false)` at the end of the stream.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<bool>> {
        let conn = self
            .conn
            .as_mut()
            .expect("a body being read has its connection");
        loop {
            conn.read.reserve(READ_CHUNK);
            match conn.stream.try_read_buf(&mut conn.read) {
                Ok(read) => return Poll::Ready(Ok(read > 0)),
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
                    ready!(conn.stream.poll_read_ready(cx))?;
                }
                Err(err) => return Poll::Ready(Err(err)),
            }
        }
    }

    /// Advances the chunk grammar over buffered bytes: a data frame, the end,
    /// or `None` when more bytes are needed.
    fn step_chunked(&mut self, state: Chunk) -> Result<Option<Option<Bytes>>, String> {
        let read = &mut self.conn.as_mut().expect("connection").read;
        match state {
            Chunk::Size => {
                let Some(end) = find_crlf(read, MAX_CHUNK_LINE)? else {
                    return Ok(None);
                };
                let line = &read[..end];
                let digits = line
                    .iter()
                    .position(|b| !b.is_ascii_hexdigit())
                    .unwrap_or(line.len());
                if digits == 0
                    || digits > 16
                    || !matches!(line.get(digits), None | Some(b';' | b' ' | b'\t'))
                {
                    return Err("malformed chunk size in the response".to_owned());
                }
                let size = std::str::from_utf8(&line[..digits])
                    .ok()
                    .and_then(|hex| u64::from_str_radix(hex, 16).ok())
                    .ok_or("malformed chunk size in the response")?;
                read.advance(end + 2);
                self.framing = Framing::Chunked(if size == 0 {
                    Chunk::Trailers
                } else {
                    Chunk::Data(size)
                });
                Ok(Some(Some(Bytes::new())))
            }
            Chunk::Data(left) => {
                if read.is_empty() {
                    return Ok(None);
                }
                let take = usize::try_from(left).unwrap_or(usize::MAX).min(read.len());
                let data = read.split_to(take).freeze();
                let left = left - take as u64;
                self.framing = Framing::Chunked(if left == 0 {
                    Chunk::DataEnd
                } else {
                    Chunk::Data(left)
                });
                Ok(Some(Some(data)))
            }
            Chunk::DataEnd => {
                if read.len() < 2 {
                    return Ok(None);
                }
                if &read[..2] != b"\r\n" {
                    return Err("a response chunk does not end with CRLF".to_owned());
                }
                read.advance(2);
                self.framing = Framing::Chunked(Chunk::Size);
                Ok(Some(Some(Bytes::new())))
            }
            Chunk::Trailers => {
                let Some(end) = find_crlf(read, MAX_TRAILER_BYTES)? else {
                    return Ok(None);
                };
                read.advance(end + 2);
                if end == 0 {
                    self.framing = Framing::Done;
                    return Ok(Some(None));
                }
                Ok(Some(Some(Bytes::new())))
            }
        }
    }
}

/// Where the first CRLF in `buf` is, if within `limit` bytes. A bare LF is refused.
fn find_crlf(buf: &[u8], limit: usize) -> Result<Option<usize>, String> {
    match buf.iter().take(limit + 2).position(|b| *b == b'\n') {
        Some(0) => Err("a bare LF in the response body's framing".to_owned()),
        Some(lf) if buf[lf - 1] == b'\r' => Ok(Some(lf - 1)),
        Some(_) => Err("a bare LF in the response body's framing".to_owned()),
        None if buf.len() > limit => Err("a response chunk line is too long".to_owned()),
        None => Ok(None),
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        loop {
            match this.framing {
                Framing::Done => {
                    this.release_if_done();
                    return Poll::Ready(None);
                }
                Framing::Length(left) => {
                    let read = &mut this.conn.as_mut().expect("connection").read;
                    if !read.is_empty() {
                        let take = usize::try_from(left).unwrap_or(usize::MAX).min(read.len());
                        let data = read.split_to(take).freeze();
                        let left = left - take as u64;
                        this.framing = if left == 0 {
                            Framing::Done
                        } else {
                            Framing::Length(left)
                        };
                        this.release_if_done();
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                }
                Framing::UntilClose => {
                    let read = &mut this.conn.as_mut().expect("connection").read;
                    if !read.is_empty() {
                        let data = read.split().freeze();
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                }
                Framing::Chunked(state) => match this.step_chunked(state) {
                    Err(reason) => return this.fail(reason),
                    Ok(Some(Some(data))) if !data.is_empty() => {
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                    // A step of the grammar with nothing to hand out: go on.
                    Ok(Some(_)) => continue,
                    Ok(None) => {}
                },
            }
            // The buffer holds nothing usable: read more.
            match ready!(this.poll_fill(cx)) {
                Ok(true) => {}
                Ok(false) if this.framing == Framing::UntilClose => {
                    this.conn = None;
                    this.framing = Framing::Done;
                }
                Ok(false) => {
                    return this.fail("the upstream closed the connection inside the body");
                }
                Err(err) => return this.fail(format!("reading the response body: {err}")),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.framing == Framing::Done
    }

    fn size_hint(&self) -> SizeHint {
        match self.framing {
            Framing::Done => SizeHint::with_exact(0),
            Framing::Length(left) => SizeHint::with_exact(left),
            _ => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests;
