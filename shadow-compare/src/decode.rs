//! Undoing `Content-Encoding` (gzip, deflate, br, zstd) and reading a declared
//! charset, so that two answers are compared by content, not by transport.

use std::borrow::Cow;
use std::io::{self, Read};

use bytes::Bytes;
use http::HeaderMap;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE};

/// Decoded bodies larger than this are not compared: a small compressed body
/// can expand enormously, and the comparison must stay cheap.
pub const MAX_DECODED_BYTES: usize = 32 << 20;

/// Why a body could not be decoded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DecodeError {
    #[error("unsupported content-encoding `{0}`")]
    UnsupportedEncoding(String),
    #[error("corrupt {encoding} body: {source}")]
    Corrupt {
        encoding: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("decoded body is over {MAX_DECODED_BYTES} bytes")]
    TooLarge,
    #[error("unknown charset `{0}`")]
    UnknownCharset(String),
    #[error("body is not valid {0}")]
    Malformed(&'static str),
}

/// The body with every listed content coding undone, last applied first.
pub(crate) fn content(headers: &HeaderMap, body: &Bytes) -> Result<Bytes, DecodeError> {
    let mut codings = Vec::new();
    for value in headers.get_all(CONTENT_ENCODING) {
        let value = value.to_str().map_err(|_| {
            DecodeError::UnsupportedEncoding(String::from_utf8_lossy(value.as_bytes()).into_owned())
        })?;
        codings.extend(
            value
                .split(',')
                .map(|c| c.trim().to_ascii_lowercase())
                .filter(|c| !c.is_empty() && c != "identity"),
        );
    }
    let mut data = body.clone();
    for coding in codings.iter().rev() {
        data = Bytes::from(decode_one(coding, &data)?);
    }
    Ok(data)
}

fn decode_one(coding: &str, data: &[u8]) -> Result<Vec<u8>, DecodeError> {
    match coding {
        "gzip" | "x-gzip" => read_all("gzip", flate2::read::MultiGzDecoder::new(data)),
        // RFC 9110 says zlib-wrapped, but some servers send raw deflate: try both.
        "deflate" => read_all("deflate", flate2::read::ZlibDecoder::new(data))
            .or_else(|_| read_all("deflate", flate2::read::DeflateDecoder::new(data))),
        "br" => read_all("br", brotli::Decompressor::new(data, 8192)),
        "zstd" => {
            let decoder =
                zstd::stream::read::Decoder::new(data).map_err(|source| DecodeError::Corrupt {
                    encoding: "zstd",
                    source,
                })?;
            read_all("zstd", decoder)
        }
        other => Err(DecodeError::UnsupportedEncoding(other.to_owned())),
    }
}

fn read_all(encoding: &'static str, reader: impl Read) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    reader
        .take(MAX_DECODED_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|source| DecodeError::Corrupt { encoding, source })?;
    if out.len() > MAX_DECODED_BYTES {
        return Err(DecodeError::TooLarge);
    }
    Ok(out)
}

/// The media type (`application/json`), lowercased, without parameters.
pub(crate) fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    let media = value.split(';').next()?.trim().to_ascii_lowercase();
    (!media.is_empty()).then_some(media)
}

fn charset(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    value.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches('"').to_ascii_lowercase())
    })
}

/// The body as text in its declared charset (UTF-8 when none is declared).
pub(crate) fn text<'b>(headers: &HeaderMap, body: &'b [u8]) -> Result<Cow<'b, str>, DecodeError> {
    let label = charset(headers);
    let encoding = match label.as_deref() {
        None | Some("utf-8" | "utf8" | "us-ascii") => encoding_rs::UTF_8,
        Some(label) => encoding_rs::Encoding::for_label(label.as_bytes())
            .ok_or_else(|| DecodeError::UnknownCharset(label.to_owned()))?,
    };
    encoding
        .decode_without_bom_handling_and_without_replacement(body)
        .ok_or(DecodeError::Malformed(encoding.name()))
}

#[cfg(test)]
mod tests;
