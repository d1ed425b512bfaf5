use std::io::Write;

use http::HeaderValue;

use super::*;

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in pairs {
        map.append(*k, HeaderValue::from_static(v));
    }
    map
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn no_encoding_leaves_the_body_alone() {
    let body = Bytes::from_static(b"{\"a\":1}");
    let out = content(&headers(&[("content-encoding", "identity")]), &body).unwrap();
    assert_eq!(out, body);
}

#[test]
fn raw_deflate_is_accepted_as_well_as_zlib() {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b"raw").unwrap();
    let body = Bytes::from(e.finish().unwrap());
    let out = content(&headers(&[("content-encoding", "deflate")]), &body).unwrap();
    assert_eq!(&out[..], b"raw");
}

#[test]
fn stacked_codings_are_undone_last_first() {
    let body = Bytes::from(gzip(&gzip(b"twice")));
    let out = content(&headers(&[("content-encoding", "gzip, gzip")]), &body).unwrap();
    assert_eq!(&out[..], b"twice");
}

#[test]
fn unknown_and_corrupt_codings_are_errors() {
    let body = Bytes::from_static(b"xx");
    let err = content(&headers(&[("content-encoding", "compress")]), &body).unwrap_err();
    assert_eq!(err.to_string(), "unsupported content-encoding `compress`");
    let err = content(&headers(&[("content-encoding", "gzip")]), &body).unwrap_err();
    assert!(err.to_string().starts_with("corrupt gzip body"), "{err}");
}

#[test]
fn a_bomb_is_refused() {
    let body = Bytes::from(gzip(&vec![0u8; MAX_DECODED_BYTES + 1]));
    let err = content(&headers(&[("content-encoding", "gzip")]), &body).unwrap_err();
    assert!(matches!(err, DecodeError::TooLarge));
}

#[test]
fn charsets_are_read_when_declared() {
    let h = headers(&[("content-type", "text/plain; charset=ISO-8859-1")]);
    assert_eq!(text(&h, b"caf\xe9").unwrap(), "café");
    let h = headers(&[("content-type", "text/plain; charset=\"euc-kr\"")]);
    assert_eq!(text(&h, b"\xc7\xd1").unwrap(), "한");
    let h = headers(&[("content-type", "text/plain")]);
    assert!(matches!(
        text(&h, b"\xff"),
        Err(DecodeError::Malformed("UTF-8"))
    ));
    let h = headers(&[("content-type", "text/plain; charset=klingon")]);
    assert!(matches!(
        text(&h, b"x"),
        Err(DecodeError::UnknownCharset(_))
    ));
}

#[test]
fn media_type_drops_parameters() {
    let h = headers(&[("content-type", "Application/JSON; charset=utf-8")]);
    assert_eq!(media_type(&h).as_deref(), Some("application/json"));
    assert_eq!(media_type(&HeaderMap::new()), None);
}
