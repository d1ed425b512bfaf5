//! An upstream response's header lines kept as the bytes it sent.
//!
//! Building a `HeaderMap` of a response's headers costs more than the rest
//! of reading its head. Where nothing reads them as a map (a response the
//! HTTP/1 fast lane writes straight to its client, not mirrored, no `Via`),
//! they are written through as they came: already checked by the parser,
//! hop-by-hop headers already left out.

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};

/// How the caller wants a response's headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Heads {
    /// In the response's `HeaderMap`.
    Map,
    /// As a [`RawHead`] the body hands over (`UpstreamBody::take_raw`); the
    /// response's map starts empty.
    Raw,
}

/// The end-to-end header lines of one response head.
#[derive(Debug, Clone)]
pub(crate) struct RawHead {
    bytes: Bytes,
    /// Each header's name and value: offset and length in `bytes`.
    spans: Vec<[u32; 4]>,
}

impl RawHead {
    pub(crate) fn new(bytes: Bytes, spans: Vec<[u32; 4]>) -> Self {
        Self { bytes, spans }
    }

    fn lines(&self) -> impl Iterator<Item = (&[u8], std::ops::Range<usize>)> {
        self.spans
            .iter()
            .map(|&[name_at, name_len, value_at, value_len]| {
                let name = &self.bytes[name_at as usize..(name_at + name_len) as usize];
                (name, value_at as usize..(value_at + value_len) as usize)
            })
    }

    /// Appends the headers to `headers`; the values share the head's bytes.
    pub(crate) fn into_map(self, headers: &mut HeaderMap) -> Result<(), String> {
        headers.reserve(self.spans.len());
        for (name, value) in self.lines() {
            let name = HeaderName::from_bytes(name)
                .map_err(|_| "malformed response header name".to_owned())?;
            let value = HeaderValue::from_maybe_shared(self.bytes.slice(value))
                .map_err(|_| format!("malformed value of `{name}`"))?;
            headers.append(name, value);
        }
        Ok(())
    }

    /// Writes each header as `name: value` and CRLF, the name in lowercase
    /// (as hyper writes a map), leaving out `Content-Length` when the writer
    /// frames the body itself. Returns whether a `Date` header was among them.
    pub(crate) fn write(&self, out: &mut Vec<u8>, framing_is_ours: bool) -> bool {
        let mut dated = false;
        for (name, value) in self.lines() {
            if framing_is_ours && name.eq_ignore_ascii_case(b"content-length") {
                continue;
            }
            dated |= name.eq_ignore_ascii_case(b"date");
            let at = out.len();
            out.extend_from_slice(name);
            out[at..].make_ascii_lowercase();
            out.extend_from_slice(b": ");
            out.extend_from_slice(&self.bytes[value]);
            out.extend_from_slice(b"\r\n");
        }
        dated
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RawHead {
        let bytes = Bytes::from_static(b"Server: x\r\nContent-Length: 4\r\nDate: today\r\n");
        RawHead::new(bytes, vec![[0, 6, 8, 1], [11, 14, 27, 1], [30, 4, 36, 5]])
    }

    #[test]
    fn lines_are_written_through_with_lowercase_names_and_framing_left_to_the_writer() {
        let mut out = Vec::new();
        assert!(sample().write(&mut out, true), "a Date header is reported");
        assert_eq!(out, b"server: x\r\ndate: today\r\n");
        let mut out = Vec::new();
        sample().write(&mut out, false);
        assert_eq!(out, b"server: x\r\ncontent-length: 4\r\ndate: today\r\n");
    }

    #[test]
    fn as_a_map_every_header_is_there() {
        let mut headers = HeaderMap::new();
        sample().into_map(&mut headers).expect("valid");
        assert_eq!(headers.len(), 3);
        assert_eq!(headers["content-length"], "4");
        assert_eq!(headers["date"], "today");
    }
}
