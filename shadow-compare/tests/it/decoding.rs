//! Content-Encoding undone before comparing: round trips built here.

use std::io::Write;

use msa_shadow_compare::{DiffKind, compare};
use serde_json::json;

use crate::{exchange, strict};

const VIEW: &str = r#"{"id":1,"discountAmount":1000,"createdAt":"2026-01-01T01:00:00Z"}"#;
const QUIRKY: &str = r#"{"createdAt":"2026-01-01T01:00:00Z","id":1,"discountAmount":"1000"}"#;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn br(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
    w.write_all(data).unwrap();
    drop(w);
    out
}

fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).unwrap()
}

/// Each coding, as the candidate's only difference from an identity legacy
/// body: equal when the content is; the content's difference found when not.
fn round_trip(coding: &'static str, encode: fn(&[u8]) -> Vec<u8>) {
    let legacy = exchange(&[("content-type", "application/json")], VIEW);
    let encoded = encode(VIEW.as_bytes());
    assert_ne!(&encoded[..], VIEW.as_bytes());
    let same = exchange(
        &[
            ("content-type", "application/json"),
            ("content-encoding", coding),
        ],
        encoded,
    );
    let c = compare(&legacy, &same, &strict());
    assert!(c.is_equal(), "{coding}: {c:#?}");

    let quirky = exchange(
        &[
            ("content-type", "application/json"),
            ("content-encoding", coding),
        ],
        encode(QUIRKY.as_bytes()),
    );
    let c = compare(&legacy, &quirky, &strict());
    let found: Vec<_> = c
        .differences
        .iter()
        .map(|d| (d.path.as_str(), d.kind))
        .collect();
    assert_eq!(
        found,
        [("$.discountAmount", DiffKind::TypeChanged)],
        "{coding}"
    );
}

#[test]
fn gzip_is_decoded() {
    round_trip("gzip", gzip);
}

#[test]
fn deflate_is_decoded() {
    round_trip("deflate", deflate);
}

#[test]
fn br_is_decoded() {
    round_trip("br", br);
}

#[test]
fn zstd_is_decoded() {
    round_trip("zstd", zstd);
}

#[test]
fn both_sides_encoded_differently() {
    let legacy = exchange(
        &[
            ("content-type", "application/json"),
            ("content-encoding", "br"),
        ],
        br(VIEW.as_bytes()),
    );
    let candidate = exchange(
        &[
            ("content-type", "application/json"),
            ("content-encoding", "zstd"),
        ],
        zstd(VIEW.as_bytes()),
    );
    assert!(compare(&legacy, &candidate, &strict()).is_equal());
}

#[test]
fn unknown_coding_is_unanalysed_not_equal() {
    let legacy = exchange(&[("content-type", "application/json")], VIEW);
    let candidate = exchange(
        &[
            ("content-type", "application/json"),
            ("content-encoding", "compress"),
        ],
        b"\x1f\x9d".to_vec(),
    );
    let c = compare(&legacy, &candidate, &strict());
    assert!(c.differences.is_empty());
    assert_eq!(
        c.unanalysed,
        ["candidate body: unsupported content-encoding `compress`"]
    );
    assert_eq!(c.counts.unanalysed, 1);
    assert!(!c.is_equal());
}

#[test]
fn corrupt_bodies_are_unanalysed() {
    let legacy = exchange(
        &[
            ("content-type", "application/json"),
            ("content-encoding", "gzip"),
        ],
        "not gzip",
    );
    let candidate = exchange(
        &[
            ("content-type", "application/json"),
            ("content-encoding", "br"),
        ],
        "not br",
    );
    let c = compare(&legacy, &candidate, &strict());
    assert_eq!(c.counts.unanalysed, 2, "{:?}", c.unanalysed);
    assert!(c.unanalysed[0].starts_with("legacy body: corrupt gzip"));
    assert!(c.unanalysed[1].starts_with("candidate body: corrupt br"));
}

#[test]
fn declared_charset_is_decoded() {
    let legacy = exchange(
        &[("content-type", "application/json")],
        json!({"name": "쿠폰"}).to_string(),
    );
    let mut euc_kr = b"{\"name\":\"".to_vec();
    euc_kr.extend_from_slice(b"\xc4\xed\xc6\xf9\"}");
    let candidate = exchange(
        &[("content-type", "application/json; charset=euc-kr")],
        euc_kr,
    );
    let c = compare(&legacy, &candidate, &strict());
    // The declared type differs; the body, read in its charset, does not.
    let found: Vec<_> = c.differences.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(found, ["header:content-type"], "{c:#?}");
    assert!(c.unanalysed.is_empty());
}

#[test]
fn undecodable_text_is_unanalysed() {
    let legacy = exchange(&[("content-type", "text/plain")], "ok");
    let candidate = exchange(&[("content-type", "text/plain")], b"\xff\xfe".to_vec());
    let c = compare(&legacy, &candidate, &strict());
    assert_eq!(c.unanalysed, ["candidate body: body is not valid UTF-8"]);
}
