//! An upstream's response head: parsed with httparse, its framing decided
//! from the raw header lines (RFC 9112 §6.3, strictly), and its hop-by-hop
//! headers left out of the map handed on, so nothing reads them twice.

use bytes::BytesMut;
use http::{StatusCode, Version};

use super::ExchangeError;
use super::body::{Chunk, Framing};
use crate::headers::is_hop_by_hop;
use crate::upstream::RawHead;

/// Most headers an upstream response may carry.
const MAX_HEADERS: usize = 128;

/// A parsed response head.
#[derive(Debug)]
pub(super) struct Head {
    pub(super) status: StatusCode,
    pub(super) version: Version,
    /// End-to-end headers only, as sent.
    pub(super) headers: RawHead,
    /// The connection may carry another request after this response.
    pub(super) keep_alive: bool,
    /// How the body is delimited, before the request method or status is considered.
    pub(super) framing: Framing,
}

/// What the framing and connection headers said, read line by line.
#[derive(Debug, Default)]
struct Facts {
    close: bool,
    keep_alive: bool,
    /// Tokens of `Connection` that name other headers, rare: they end here too.
    named: Vec<String>,
    /// The last transfer coding seen, and whether `chunked` came before it.
    last_coding: Option<String>,
    chunked_not_last: bool,
    length: Option<u64>,
    conflicting_lengths: bool,
    bad_length: bool,
}

impl Facts {
    fn connection(&mut self, value: &[u8]) {
        for token in tokens(value) {
            if token.eq_ignore_ascii_case(b"close") {
                self.close = true;
            } else if token.eq_ignore_ascii_case(b"keep-alive") {
                self.keep_alive = true;
            } else if !is_hop_by_hop(token) {
                self.named
                    .push(String::from_utf8_lossy(token).to_ascii_lowercase());
            }
        }
    }

    fn transfer_encoding(&mut self, value: &[u8]) {
        for token in tokens(value) {
            if self.last_coding.as_deref() == Some("chunked") {
                self.chunked_not_last = true;
            }
            self.last_coding = Some(String::from_utf8_lossy(token).to_ascii_lowercase());
        }
        if self.last_coding.is_none() {
            // `Transfer-Encoding:` with no coding at all: not chunked either.
            self.last_coding = Some(String::new());
        }
    }

    fn content_length(&mut self, value: &[u8]) {
        for item in value.split(|b| *b == b',') {
            let item = item.trim_ascii();
            let parsed =
                (!item.is_empty() && item.len() <= 19 && item.iter().all(u8::is_ascii_digit))
                    .then(|| std::str::from_utf8(item).ok()?.parse::<u64>().ok())
                    .flatten();
            match parsed {
                None => self.bad_length = true,
                Some(length) if self.length.is_some_and(|earlier| earlier != length) => {
                    self.conflicting_lengths = true;
                }
                Some(length) => self.length = Some(length),
            }
        }
    }

    fn framing(&self) -> Result<Framing, ExchangeError> {
        if let Some(last) = &self.last_coding {
            if self.length.is_some() || self.bad_length {
                return Err(ExchangeError::malformed(
                    "the response has both Transfer-Encoding and Content-Length",
                ));
            }
            if last != "chunked" || self.chunked_not_last {
                return Err(ExchangeError::malformed(format!(
                    "unsupported response Transfer-Encoding (last coding `{last}`)"
                )));
            }
            return Ok(Framing::Chunked(Chunk::Size));
        }
        if self.bad_length {
            return Err(ExchangeError::malformed(
                "malformed response Content-Length",
            ));
        }
        if self.conflicting_lengths {
            return Err(ExchangeError::malformed(
                "the response has conflicting Content-Length values",
            ));
        }
        Ok(match self.length {
            Some(0) => Framing::Done,
            Some(length) => Framing::Length(length),
            None => Framing::UntilClose,
        })
    }
}

/// The comma-separated, trimmed, non-empty tokens of a header value.
fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|b| *b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|token| !token.is_empty())
}

/// Parses a complete head off the front of `read`, or `None` when more bytes
/// are needed. Header values share the head's bytes instead of copying them.
pub(super) fn parse(read: &mut BytesMut) -> Result<Option<Head>, ExchangeError> {
    // Uninitialised slots: filling 128 of them first would cost more than the parse.
    let mut slots = [const { std::mem::MaybeUninit::uninit() }; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut response,
        read,
        &mut slots,
    );
    let length = match parsed {
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

    // Where each end-to-end header's name and value sit in the head (which is
    // far under 4 GiB), so that once the head is split off the buffer the
    // values can share its bytes.
    let base = read.as_ptr() as usize;
    let offset = |part: &[u8]| (part.as_ptr() as usize - base) as u32;
    // Sized to the headers seen: a zeroed array for the most allowed cost
    // more than the whole parse of a typical head.
    let mut spans = Vec::with_capacity(response.headers.len());
    let mut facts = Facts::default();
    for h in response.headers.iter() {
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"content-length") {
            facts.content_length(h.value);
        } else if is_hop_by_hop(name) {
            if name.eq_ignore_ascii_case(b"connection") {
                facts.connection(h.value);
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                facts.transfer_encoding(h.value);
            }
            continue;
        }
        spans.push([
            offset(name),
            name.len() as u32,
            offset(h.value),
            h.value.len() as u32,
        ]);
    }
    let framing = facts.framing()?;
    let keep_alive = match version {
        Version::HTTP_10 => facts.keep_alive && !facts.close,
        _ => !facts.close,
    };

    let bytes = read.split_to(length).freeze();
    if !facts.named.is_empty() {
        spans.retain(|&[name_at, name_len, ..]| {
            let name = &bytes[name_at as usize..(name_at + name_len) as usize];
            !facts
                .named
                .iter()
                .any(|named| named.as_bytes().eq_ignore_ascii_case(name))
        });
    }
    let headers = RawHead::new(bytes, spans);
    Ok(Some(Head {
        status,
        version,
        headers,
        keep_alive,
        framing,
    }))
}
