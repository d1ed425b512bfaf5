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
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap};
use http::{Method, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Body;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::pool::Pool;
use crate::body::ProxyBody;
use crate::deadline::{Deadline, within};
use crate::headers::{Added, write_line};
use crate::upstream::Heads;

/// Largest response head accepted.
const MAX_HEAD_BYTES: usize = 64 * 1024;
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
    /// Bounds each exchange (`exchange`'s `until`) with one timer for the
    /// connection's life.
    clock: Deadline,
}

impl Conn {
    pub(crate) fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            read: BytesMut::new(),
            write: Vec::new(),
            idle_since: Instant::now(),
            clock: Deadline::default(),
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
    /// No response head came before the exchange's deadline.
    pub(crate) timed_out: bool,
}

impl ExchangeError {
    fn before_response(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            before_response: true,
            timed_out: false,
        }
    }

    fn malformed(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            before_response: false,
            timed_out: false,
        }
    }

    fn timed_out() -> Self {
        Self {
            reason: "no response head in time".to_owned(),
            before_response: false,
            timed_out: true,
        }
    }
}

/// How one request is sent, besides the request itself.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Terms<'a> {
    /// Used when the request carries no `Host`.
    pub(crate) host: &'a str,
    /// Headers sent beside the request's own.
    pub(crate) added: Option<&'a Added>,
    /// No response head after this: the connection is closed.
    pub(crate) until: tokio::time::Instant,
    /// How the caller takes the response's headers.
    pub(crate) heads: Heads,
}

/// Sends a request (whose URI holds the path and query) over `conn` and reads
/// the response head, within the `terms`. The request is borrowed so that a
/// bodyless one can be sent again elsewhere.
pub(crate) async fn exchange(
    mut conn: Conn,
    parts: &http::request::Parts,
    body: &mut ProxyBody,
    terms: Terms<'_>,
    pool: &Arc<Pool>,
) -> Result<Response<ResponseBody>, ExchangeError> {
    let Terms {
        host,
        added,
        until,
        heads,
    } = terms;
    let expects_body = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    let length = if body.is_end_stream() {
        Some(0)
    } else {
        body.size_hint().exact()
    };
    conn.write.clear();
    write_head(&mut conn.write, parts, host, added, length, expects_body);
    // Out of the connection while the exchange borrows it; back before the
    // connection can return to its pool.
    let mut clock = std::mem::take(&mut conn.clock);
    let head = within(&mut clock, until, async {
        match length {
            Some(0) => write_all(&mut conn, 0).await?,
            Some(length) => send_sized(&mut conn, body, length).await?,
            None => send_chunked(&mut conn, body).await?,
        }
        read_head(&mut conn).await
    })
    .await
    .ok_or_else(ExchangeError::timed_out)??;
    conn.clock = clock;
    respond(conn, head, parts.method == Method::HEAD, pool, heads)
}

/// `METHOD target HTTP/1.1`, the headers without any framing of their own,
/// then the framing this proxy chose.
fn write_head(
    out: &mut Vec<u8>,
    parts: &http::request::Parts,
    host: &str,
    added: Option<&Added>,
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
        write_line(out, name, value.as_bytes());
    }
    for (name, value) in added.into_iter().flat_map(Added::each) {
        write_line(out, &name, value);
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

/// Reads the response head, skipping interim 1xx answers.
async fn read_head(conn: &mut Conn) -> Result<head::Head, ExchangeError> {
    let mut received_any = false;
    loop {
        let parsed = head::parse(&mut conn.read)?;
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
        return Ok(head);
    }
}

/// The response for a head read off `conn`, its body read from `conn` next;
/// its headers in its map or kept raw in its body, as `heads` asks.
fn respond(
    conn: Conn,
    head: head::Head,
    head_request: bool,
    pool: &Arc<Pool>,
    heads: Heads,
) -> Result<Response<ResponseBody>, ExchangeError> {
    let mut headers = HeaderMap::new();
    let raw = match heads {
        Heads::Map => {
            // Checked before the body can hand the connection back.
            head.headers
                .into_map(&mut headers)
                .map_err(ExchangeError::malformed)?;
            None
        }
        Heads::Raw => Some(head.headers),
    };
    let framing = if head_request
        || head.status == StatusCode::NO_CONTENT
        || head.status == StatusCode::NOT_MODIFIED
    {
        Framing::Done
    } else {
        head.framing
    };
    let reusable = head.keep_alive && framing != Framing::UntilClose;
    let body = ResponseBody::new(conn, framing, reusable, pool, raw);
    let mut response = Response::new(body);
    *response.status_mut() = head.status;
    *response.version_mut() = head.version;
    *response.headers_mut() = headers;
    Ok(response)
}

mod body;
mod head;

use body::Framing;
pub(crate) use body::ResponseBody;

#[cfg(test)]
mod tests;
