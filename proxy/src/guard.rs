//! Refuses the two request-smuggling shapes hyper's HTTP/1 parser accepts: a
//! head with both `Content-Length` and `Transfer-Encoding` (hyper lets the
//! chunked framing win and drops the length before any handler sees it), and
//! a head with a bare LF line ending. Both get 400 `MALFORMED_REQUEST` and the
//! connection closed; neither is ever parsed into a request, so never
//! forwarded. Everything else malformed is hyper's to refuse.
//!
//! [`Guarded`] wraps the client's stream, below hyper, and scans what the
//! client sends request by request, following HTTP/1 framing: a head line by
//! line, a `Content-Length` body by count, a chunked body by its chunk sizes.
//! So nothing inside a body is ever inspected. Empty lines before a request
//! line are no part of its head (httparse skips them, LF alone included), so
//! they pass.
//!
//! It holds nothing back: a byte is handed to hyper once scanned, except the
//! byte at which a rule breaks and everything after it. hyper cannot act on a
//! head before its final line ending, so a refused head reaches it at most in
//! part and is never parsed. This also keeps a connection free of buffers and
//! leaves no size past which heads go unchecked. When a rule breaks, the guard
//! lets hyper take the bytes before it (earlier pipelined requests included),
//! writes the 400 once hyper has flushed what it wrote, then reports end of
//! input so hyper ends the connection; hyper's later writes are discarded.
//!
//! It stops scanning, for the rest of the connection, at the HTTP/2
//! prior-knowledge preface, and where framing is something hyper refuses (an
//! invalid length, a broken chunk): hyper reads no further there. It does not
//! stop at `Upgrade` or `CONNECT`: hyper stays in HTTP/1 unless the answer is
//! 101 (or 2xx to `CONNECT`), and `serve_connection` ends the connection after
//! such an answer; stopping at the request's header would let any client
//! switch the guard off for the requests behind it. If upgrades are ever
//! served, the switch has to come from the answer, not the request.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What an HTTP/2 prior-knowledge connection starts with.
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The longest header name the guard reads (`transfer-encoding`).
const NAME_MAX: usize = 17;

/// Wraps a client connection so hyper reads it through the guard.
pub(crate) fn guard<S>(stream: S) -> Guarded<S> {
    Guarded {
        inner: stream,
        read: Read::Scanning(Flow::Preface(0)),
        unflushed: false,
        waiting: None,
    }
}

/// A client connection whose request heads are checked before hyper sees
/// them; see the module documentation.
#[derive(Debug)]
pub(crate) struct Guarded<S> {
    inner: S,
    read: Read,
    /// hyper wrote bytes it has not flushed yet: a refusal waits for them,
    /// so it never lands inside an earlier answer.
    unflushed: bool,
    /// The reader parked until that flush.
    waiting: Option<Waker>,
}

#[derive(Debug)]
enum Read {
    Scanning(Flow),
    /// A rule broke: the answer is written before anything else is read.
    /// `begun` once writing it started; from then on hyper's writes are
    /// discarded.
    Refusing {
        answer: Vec<u8>,
        written: usize,
        begun: bool,
    },
    /// The answer went out (or could not): reads see end of input for good,
    /// writes are discarded.
    Refused,
}

/// Where the client's byte stream is, in HTTP/1 framing.
#[derive(Debug)]
enum Flow {
    /// The start of the connection, matching the HTTP/2 preface so far.
    Preface(usize),
    Head(Head),
    /// Body bytes left to pass.
    Body(u64),
    Chunked(Chunk),
    /// Not scanned any more.
    PassThrough,
}

/// The rule a request head broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    BothLengths,
    BareLf,
}

impl Rule {
    fn message(self) -> &'static str {
        match self {
            Self::BothLengths => {
                "the request has both Content-Length and Transfer-Encoding; send only one"
            }
            Self::BareLf => "the request head has a bare LF line ending; end every line with CR LF",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::BothLengths => "content_length_and_transfer_encoding",
            Self::BareLf => "bare_lf",
        }
    }
}

/// The whole response to a refused head, in the proxy's JSON error shape.
fn answer(rule: Rule) -> Vec<u8> {
    let body = serde_json::json!({
        "error": { "code": "MALFORMED_REQUEST", "message": rule.message(), "source": "proxy" }
    })
    .to_string();
    format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

impl Flow {
    /// Follows `bytes`; on a broken rule, returns the offset of the byte at
    /// which it broke (nothing from there on may reach hyper).
    fn scan(&mut self, bytes: &[u8]) -> Option<(usize, Rule)> {
        let mut at = 0;
        while at < bytes.len() {
            match self {
                Self::Preface(matched) => {
                    let matched_len = *matched;
                    if bytes[at] == PREFACE[matched_len] {
                        *matched += 1;
                        at += 1;
                        if *matched == PREFACE.len() {
                            *self = Self::PassThrough;
                        }
                    } else {
                        // HTTP/1 after all: the bytes matched so far start its
                        // first head. They are CRLF-only lines with no length
                        // headers, so replaying them cannot break a rule.
                        let mut flow = Self::Head(Head::default());
                        let refused = flow.scan(&PREFACE[..matched_len]);
                        debug_assert!(refused.is_none(), "a preface prefix broke a rule");
                        *self = flow;
                    }
                }
                Self::Head(head) => {
                    // Inside the request line or a header line that decides
                    // nothing, only CR and LF matter: go straight to the next.
                    match head.whole_line(&bytes[at..]) {
                        Some(Whole::Line(used)) => {
                            at += used;
                            continue;
                        }
                        Some(Whole::Refused(colon, rule)) => return Some((at + colon, rule)),
                        Some(Whole::HeadEnd(used, next)) => {
                            at += used;
                            *self = next;
                            continue;
                        }
                        None => {}
                    }
                    if head.skipping() {
                        match memchr::memchr2(b'\r', b'\n', &bytes[at..]) {
                            Some(offset) => at += offset,
                            None => {
                                at = bytes.len();
                                continue;
                            }
                        }
                    }
                    match head.push(bytes[at]) {
                        Step::More => {}
                        Step::Refuse(rule) => return Some((at, rule)),
                        Step::End(next) => *self = next,
                    }
                    at += 1;
                }
                Self::Body(left) => {
                    at += take(left, bytes.len() - at);
                    if *left == 0 {
                        *self = Self::Head(Head::default());
                    }
                }
                Self::Chunked(Chunk::Data(left)) => {
                    at += take(left, bytes.len() - at);
                    if *left == 0 {
                        *self = Self::Chunked(Chunk::DataCr);
                    }
                }
                Self::Chunked(chunk) => {
                    match chunk.push(bytes[at]) {
                        ChunkStep::Next(next) => *chunk = next,
                        ChunkStep::Done => *self = Self::Head(Head::default()),
                        // hyper's decoder refuses the same byte and reads no
                        // further on this connection.
                        ChunkStep::Invalid => *self = Self::PassThrough,
                    }
                    at += 1;
                }
                Self::PassThrough => return None,
            }
        }
        None
    }
}

/// Passes up to `left` of the `available` bytes, by count; returns how many.
fn take(left: &mut u64, available: usize) -> usize {
    let taken = usize::try_from(*left).map_or(available, |left| left.min(available));
    *left -= taken as u64;
    taken
}

/// What reading a whole line at once came to.
enum Whole {
    /// The line was read; this many bytes.
    Line(usize),
    /// A rule broke at this offset (the header name's `:`).
    Refused(usize, Rule),
    /// The head ended after this many bytes; the flow goes on with its body.
    HeadEnd(usize, Flow),
}

enum Step {
    More,
    Refuse(Rule),
    /// The head ended; the flow continues with its body, or the next head.
    End(Flow),
}

/// A request head, read line by line without keeping the lines.
#[derive(Debug, Default)]
struct Head {
    line: Line,
    /// The last byte was CR; whether it ends the line depends on the next.
    cr: bool,
    /// The request line is complete: lines from here on are header lines.
    started: bool,
    length: Length,
    transfer_encoding: bool,
}

#[derive(Debug, Default)]
enum Line {
    #[default]
    Empty,
    Request,
    /// A header name, lowercased, while it fits.
    Name {
        lower: [u8; NAME_MAX],
        len: usize,
    },
    Length(Digits),
    /// The rest of a line that decides nothing.
    Skip,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Length {
    #[default]
    Absent,
    Valid(u64),
    /// Not digits, or two different values: hyper refuses the head.
    Invalid,
}

/// A `Content-Length` value as hyper reads it: digits between optional
/// spaces and tabs.
#[derive(Debug, Default)]
struct Digits {
    value: u64,
    seen: bool,
    done: bool,
    bad: bool,
}

impl Digits {
    fn push(&mut self, b: u8) {
        match b {
            b' ' | b'\t' => self.done |= self.seen,
            b'0'..=b'9' if !self.done => {
                match self
                    .value
                    .checked_mul(10)
                    .and_then(|v| v.checked_add(u64::from(b - b'0')))
                {
                    Some(value) => {
                        self.value = value;
                        self.seen = true;
                    }
                    None => self.bad = true,
                }
            }
            _ => self.bad = true,
        }
    }

    fn value(&self) -> Option<u64> {
        (self.seen && !self.bad).then_some(self.value)
    }
}

impl Head {
    /// At the start of a line that is whole in `bytes` (ended by CR LF, with
    /// no other CR and no bare LF in it): reads it at once instead of byte by
    /// byte, with the same outcome. `None` when the line is not so simple.
    fn whole_line(&mut self, bytes: &[u8]) -> Option<Whole> {
        if self.cr || !matches!(self.line, Line::Empty) {
            return None;
        }
        // The line is simple when its first CR or LF is a CR right before an LF.
        let end = memchr::memchr2(b'\r', b'\n', bytes)?;
        if bytes[end] != b'\r' || bytes.get(end + 1) != Some(&b'\n') {
            return None;
        }
        let line = &bytes[..end];
        let used = end + 2;
        if !self.started {
            // An empty line before the request line is no part of the head.
            self.started = !line.is_empty();
            return Some(Whole::Line(used));
        }
        if line.is_empty() {
            return Some(Whole::HeadEnd(used, self.framing()));
        }
        // Only a name the guard reads can matter: look for its `:` no further.
        let name_room = &line[..line.len().min(NAME_MAX + 1)];
        let Some(colon) = name_room.iter().position(|&b| b == b':') else {
            return Some(Whole::Line(used));
        };
        let mut lower = [0; NAME_MAX];
        lower[..colon].copy_from_slice(&line[..colon]);
        lower[..colon].make_ascii_lowercase();
        if let Some(rule) = self.name_ended(&lower[..colon]) {
            return Some(Whole::Refused(colon, rule));
        }
        if let Line::Length(mut digits) = std::mem::take(&mut self.line) {
            for &b in &line[colon + 1..] {
                digits.push(b);
            }
            self.add_length(&digits);
        }
        Some(Whole::Line(used))
    }

    /// A header name ended with its `:`: what the rest of the line means.
    fn name_ended(&mut self, lower: &[u8]) -> Option<Rule> {
        match lower {
            b"content-length" => {
                self.line = Line::Length(Digits::default());
                if self.transfer_encoding {
                    return Some(Rule::BothLengths);
                }
            }
            b"transfer-encoding" => {
                self.line = Line::Skip;
                self.transfer_encoding = true;
                if self.length != Length::Absent {
                    return Some(Rule::BothLengths);
                }
            }
            _ => self.line = Line::Skip,
        }
        None
    }

    /// Whether the bytes up to the next CR or LF change nothing.
    fn skipping(&self) -> bool {
        !self.cr && matches!(self.line, Line::Request | Line::Skip)
    }

    fn push(&mut self, b: u8) -> Step {
        if std::mem::take(&mut self.cr) {
            if b == b'\n' {
                return self.end_line();
            }
            // A CR alone, which hyper refuses; read it as text meanwhile.
            if let Some(rule) = self.text(b'\r') {
                return Step::Refuse(rule);
            }
        }
        match b {
            b'\r' => {
                self.cr = true;
                Step::More
            }
            // An empty line before the request line is no part of the head:
            // httparse skips it, LF alone included.
            b'\n' if !self.started && matches!(self.line, Line::Empty) => Step::More,
            b'\n' => Step::Refuse(Rule::BareLf),
            _ => self.text(b).map_or(Step::More, Step::Refuse),
        }
    }

    /// A byte inside a line.
    fn text(&mut self, b: u8) -> Option<Rule> {
        if let Line::Empty = self.line {
            self.line = if self.started {
                Line::Name {
                    lower: [0; NAME_MAX],
                    len: 0,
                }
            } else {
                Line::Request
            };
        }
        match &mut self.line {
            Line::Name { lower, len } if b == b':' => {
                let (lower, len) = (*lower, *len);
                return self.name_ended(&lower[..len]);
            }
            Line::Name { lower, len } => match lower.get_mut(*len) {
                Some(slot) => {
                    *slot = b.to_ascii_lowercase();
                    *len += 1;
                }
                None => self.line = Line::Skip,
            },
            Line::Length(digits) => digits.push(b),
            Line::Empty | Line::Request | Line::Skip => {}
        }
        None
    }

    fn end_line(&mut self) -> Step {
        match std::mem::take(&mut self.line) {
            Line::Empty if self.started => return Step::End(self.framing()),
            Line::Request => self.started = true,
            Line::Length(digits) => self.add_length(&digits),
            Line::Empty | Line::Name { .. } | Line::Skip => {}
        }
        Step::More
    }

    /// A `Content-Length` line ended: one value, or the same value again, is
    /// a length; anything else makes the head one hyper refuses.
    fn add_length(&mut self, digits: &Digits) {
        self.length = match (self.length, digits.value()) {
            (Length::Absent, Some(value)) => Length::Valid(value),
            (Length::Valid(before), Some(value)) if before == value => self.length,
            _ => Length::Invalid,
        };
    }

    /// What follows a complete head, as hyper frames it. With
    /// `Transfer-Encoding` the body is chunked: hyper refuses any head where
    /// `chunked` is not the final coding.
    fn framing(&self) -> Flow {
        if self.transfer_encoding {
            return Flow::Chunked(Chunk::Start);
        }
        match self.length {
            Length::Absent | Length::Valid(0) => Flow::Head(Head::default()),
            Length::Valid(left) => Flow::Body(left),
            Length::Invalid => Flow::PassThrough,
        }
    }
}

/// A chunked body, step for step as hyper's decoder reads it
/// (`hyper::proto::h1::decode::ChunkedState`), so both agree on where it ends.
#[derive(Debug, Clone, Copy)]
enum Chunk {
    Start,
    Size(u64),
    SizeSpace(u64),
    Extension(u64),
    SizeLf(u64),
    Data(u64),
    DataCr,
    DataLf,
    /// After the last chunk: CR for the end, anything else starts a trailer.
    EndCr,
    Trailer,
    TrailerLf,
    EndLf,
}

enum ChunkStep {
    Next(Chunk),
    Done,
    Invalid,
}

impl Chunk {
    fn push(self, b: u8) -> ChunkStep {
        use ChunkStep::{Done, Invalid, Next};
        let hex = |size: u64| {
            let digit = char::from(b).to_digit(16)?;
            size.checked_mul(16)?.checked_add(u64::from(digit))
        };
        match (self, b) {
            (Self::Start, _) => hex(0).map_or(Invalid, |size| Next(Self::Size(size))),
            (Self::Size(size), b' ' | b'\t') | (Self::SizeSpace(size), b' ' | b'\t') => {
                Next(Self::SizeSpace(size))
            }
            (Self::Size(size) | Self::SizeSpace(size), b';') => Next(Self::Extension(size)),
            (Self::Size(size) | Self::SizeSpace(size) | Self::Extension(size), b'\r') => {
                Next(Self::SizeLf(size))
            }
            (Self::Size(size), _) => hex(size).map_or(Invalid, |size| Next(Self::Size(size))),
            (Self::Extension(_), b'\n') => Invalid,
            (Self::Extension(_), _) => Next(self),
            (Self::SizeLf(0), b'\n') => Next(Self::EndCr),
            (Self::SizeLf(size), b'\n') => Next(Self::Data(size)),
            (Self::DataCr, b'\r') => Next(Self::DataLf),
            (Self::DataLf, b'\n') => Next(Self::Start),
            (Self::EndCr, b'\r') => Next(Self::EndLf),
            (Self::Trailer, b'\r') => Next(Self::TrailerLf),
            (Self::EndCr | Self::Trailer, _) => Next(Self::Trailer),
            (Self::TrailerLf, b'\n') => Next(Self::EndCr),
            (Self::EndLf, b'\n') => Done,
            (
                Self::SizeSpace(_)
                | Self::SizeLf(_)
                | Self::DataCr
                | Self::DataLf
                | Self::TrailerLf
                | Self::EndLf,
                _,
            ) => Invalid,
            // Data is passed by count in `Flow::scan`, never byte by byte.
            (Self::Data(_), _) => Next(self),
        }
    }
}

impl<S: AsyncWrite + Unpin> Guarded<S> {
    /// Writes the refusal, then ends reading for good.
    fn poll_answer(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Self { inner, read, .. } = self;
        let Read::Refusing {
            answer,
            written,
            begun,
        } = read
        else {
            return Poll::Ready(Ok(()));
        };
        *begun = true;
        while *written < answer.len() {
            match ready!(Pin::new(&mut *inner).poll_write(cx, &answer[*written..])) {
                Ok(0) => {
                    *read = Read::Refused;
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                Ok(n) => *written += n,
                Err(err) => {
                    *read = Read::Refused;
                    return Poll::Ready(Err(err));
                }
            }
        }
        let flushed = ready!(Pin::new(inner).poll_flush(cx));
        *read = Read::Refused;
        Poll::Ready(flushed)
    }

    fn discards_writes(&self) -> bool {
        matches!(
            self.read,
            Read::Refusing { begun: true, .. } | Read::Refused
        )
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            match &mut this.read {
                Read::Scanning(flow) => {
                    let start = buf.filled().len();
                    ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
                    let Some((at, rule)) = flow.scan(&buf.filled()[start..]) else {
                        return Poll::Ready(Ok(()));
                    };
                    buf.set_filled(start + at);
                    tracing::debug!(rule = rule.name(), "refused a request head");
                    this.read = Read::Refusing {
                        answer: answer(rule),
                        written: 0,
                        begun: false,
                    };
                    if at > 0 {
                        // hyper takes what came before first: it may finish
                        // earlier requests, to be answered ahead of the 400.
                        return Poll::Ready(Ok(()));
                    }
                }
                Read::Refusing { begun: false, .. } if this.unflushed => {
                    this.waiting = Some(cx.waker().clone());
                    return Poll::Pending;
                }
                Read::Refusing { .. } => {
                    ready!(this.poll_answer(cx))?;
                }
                // End of input: hyper ends the connection.
                Read::Refused => return Poll::Ready(Ok(())),
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.discards_writes() {
            return Poll::Ready(Ok(buf.len()));
        }
        this.unflushed = true;
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.discards_writes() {
            return Poll::Ready(Ok(bufs.iter().map(|buf| buf.len()).sum()));
        }
        this.unflushed = true;
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(Pin::new(&mut this.inner).poll_flush(cx))?;
        this.unflushed = false;
        if let Some(waiting) = this.waiting.take() {
            waiting.wake();
        }
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.read {
            // Finish a refusal under way rather than cut it short.
            Read::Refusing { begun: true, .. } => ready!(this.poll_answer(cx))?,
            // hyper closes without reading on: it answered those bytes itself.
            Read::Refusing { begun: false, .. } => this.read = Read::Refused,
            Read::Scanning(_) | Read::Refused => {}
        }
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests;
