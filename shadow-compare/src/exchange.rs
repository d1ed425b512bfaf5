//! One side's captured answer.

use bytes::Bytes;
use http::HeaderMap;

/// A captured HTTP response: what the comparison reads of each side.
#[derive(Debug, Clone, Default)]
pub struct Exchange {
    /// The status code.
    pub status: u16,
    /// The response headers, `Content-Encoding` and `Content-Type` included.
    pub headers: HeaderMap,
    /// The body as received, still content-encoded.
    pub body: Bytes,
    /// Whether the body was cut at a capture limit: then it is not compared
    /// (counted as unanalysed), since a prefix can neither match nor differ.
    pub truncated: bool,
}

impl Exchange {
    /// A complete (not truncated) response.
    pub fn new(status: u16, headers: HeaderMap, body: impl Into<Bytes>) -> Self {
        Exchange {
            status,
            headers,
            body: body.into(),
            truncated: false,
        }
    }
}

/// Why saved bytes are not a response.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    /// The status line is not `HTTP/x.y CODE [reason]`.
    #[error("the first line `{0}` is not an HTTP status line like `HTTP/1.1 200 OK`")]
    StatusLine(String),
    /// A header line has no `:` or an invalid name or value.
    #[error("line {line}: `{text}` is not a header line like `Content-Type: application/json`")]
    Header {
        /// 1-based line number in the saved response.
        line: usize,
        /// The line as written.
        text: String,
    },
    /// The head never ends with an empty line.
    #[error("the headers never end: add an empty line before the body")]
    NoBlankLine,
    /// A chunked body is cut or malformed.
    #[error(
        "the chunked body is malformed; save the decoded body, or the response with Content-Length"
    )]
    Chunked,
}

impl Exchange {
    /// Reads a saved answer: a raw HTTP response (`HTTP/1.1 200 OK`, headers,
    /// empty line, body; a chunked body is de-chunked), or else a bare body,
    /// taken as a `200` with `Content-Type: application/json` when it parses
    /// as JSON and `text/plain` otherwise.
    pub fn parse(saved: &[u8]) -> Result<Self, ParseError> {
        if !saved.starts_with(b"HTTP/") {
            let kind = if serde_json::from_slice::<serde::de::IgnoredAny>(saved).is_ok() {
                "application/json"
            } else {
                "text/plain; charset=utf-8"
            };
            let mut headers = HeaderMap::new();
            headers.insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static(kind),
            );
            return Ok(Self::new(200, headers, Bytes::copy_from_slice(saved)));
        }
        let (head, body) = split_head(saved).ok_or(ParseError::NoBlankLine)?;
        let head = String::from_utf8_lossy(head);
        let mut lines = head.lines();
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse::<u16>().ok())
            .filter(|code| (100..=999).contains(code))
            .ok_or_else(|| ParseError::StatusLine(status_line.to_owned()))?;
        let mut headers = HeaderMap::new();
        for (index, line) in lines.enumerate() {
            let bad = || ParseError::Header {
                line: index + 2,
                text: line.to_owned(),
            };
            let (name, value) = line.split_once(':').ok_or_else(bad)?;
            let name = http::HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| bad())?;
            let value = http::HeaderValue::from_str(value.trim()).map_err(|_| bad())?;
            headers.append(name, value);
        }
        let chunked = headers
            .get(http::header::TRANSFER_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        let body = if chunked {
            dechunk(body).ok_or(ParseError::Chunked)?
        } else {
            body.to_vec()
        };
        headers.remove(http::header::TRANSFER_ENCODING);
        Ok(Self::new(status, headers, body))
    }
}

/// The head and body of a saved response, split at the first empty line
/// (CRLF or bare LF line endings: saved files are often edited by hand).
fn split_head(saved: &[u8]) -> Option<(&[u8], &[u8])> {
    let crlf = saved
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, i + 4));
    let lf = saved
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|i| (i, i + 2));
    let (end, body) = match (crlf, lf) {
        (Some(a), Some(b)) => {
            if a.0 <= b.0 {
                a
            } else {
                b
            }
        }
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => return None,
    };
    Some((&saved[..end], &saved[body..]))
}

fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests;
