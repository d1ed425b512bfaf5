//! A response body read straight from the upstream connection, and the
//! connection's return to its pool once the body was read to its exact end.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use hyper::body::{Body, Frame, SizeHint};

use super::Conn;
use crate::body::BodyError;
use crate::upstream::RawHead;
use crate::upstream::pool::Pool;

/// Largest chunk-size line (the size and any extensions).
const MAX_CHUNK_LINE: usize = 1024;
/// Largest trailer section of a chunked body (read and dropped).
const MAX_TRAILER_BYTES: usize = 16 * 1024;
/// Room made in the read buffer before each read.
const READ_CHUNK: usize = super::READ_CHUNK;

/// How a response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
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
pub(crate) enum Chunk {
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk's data, this many bytes left.
    Data(u64),
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one.
    Trailers,
}

/// A response body read straight from the upstream connection, which goes
/// back to its pool once the body was read to its exact end.
#[derive(Debug)]
pub(crate) struct ResponseBody {
    conn: Option<Conn>,
    framing: Framing,
    reusable: bool,
    pool: Arc<Pool>,
    /// The response's headers, when the caller asked for them raw.
    raw: Option<RawHead>,
}

impl ResponseBody {
    /// The body of a response just read off `conn`; an empty one hands the
    /// connection back at once.
    pub(super) fn new(
        conn: Conn,
        framing: Framing,
        reusable: bool,
        pool: &Arc<Pool>,
        raw: Option<RawHead>,
    ) -> Self {
        let mut body = Self {
            conn: Some(conn),
            framing,
            reusable,
            pool: Arc::clone(pool),
            raw,
        };
        body.release_if_done();
        body
    }

    /// The response's headers, if they were kept raw ([`Heads::Raw`](crate::upstream::Heads)).
    pub(crate) fn take_raw(&mut self) -> Option<RawHead> {
        self.raw.take()
    }

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
