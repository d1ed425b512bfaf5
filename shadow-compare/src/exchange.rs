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
