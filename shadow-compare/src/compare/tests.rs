use bytes::Bytes;
use http::HeaderMap;

use super::*;
use crate::rules::Rules;

fn json(status: u16, body: &'static str) -> Exchange {
    let mut h = HeaderMap::new();
    h.insert("content-type", "application/json".parse().unwrap());
    Exchange::new(status, h, Bytes::from_static(body.as_bytes()))
}

fn strict() -> RuleSet {
    Rules::default().resolve().unwrap()
}

#[test]
fn identical_exchanges_are_equal() {
    let c = compare(
        &json(200, r#"{"a":1}"#),
        &json(200, r#"{"a":1}"#),
        &strict(),
    );
    assert!(c.is_equal(), "{c:?}");
}

#[test]
fn status_class_change_is_high_and_within_class_medium() {
    let c = compare(&json(200, "{}"), &json(500, "{}"), &strict());
    assert_eq!(c.differences[0].path, "status");
    assert_eq!(c.differences[0].severity, Severity::High);
    let c = compare(&json(200, "{}"), &json(201, "{}"), &strict());
    assert_eq!(c.differences[0].severity, Severity::Medium);
}

#[test]
fn status_only_skips_headers_and_body() {
    let rules = Rules {
        status_only: true,
        ..Rules::default()
    }
    .resolve()
    .unwrap();
    let mut other = json(200, r#"{"b":2}"#);
    other.headers.insert("x-extra", "1".parse().unwrap());
    assert!(compare(&json(200, r#"{"a":1}"#), &other, &rules).is_equal());
    let c = compare(&json(200, "{}"), &json(404, "{}"), &rules);
    assert_eq!(c.counts.high, 1);
}

#[test]
fn truncated_bodies_are_unanalysed() {
    let mut cut = json(200, r#"{"a":"#);
    cut.truncated = true;
    let c = compare(&json(200, r#"{"a":1}"#), &cut, &strict());
    assert!(c.differences.is_empty());
    assert_eq!(c.counts.unanalysed, 1);
    assert!(!c.is_equal());
}

#[test]
fn json_against_invalid_json_is_a_type_change() {
    let c = compare(&json(200, r#"{"a":1}"#), &json(200, "<html>"), &strict());
    assert_eq!(c.differences.len(), 1);
    assert_eq!(c.differences[0].path, "body");
    assert_eq!(c.differences[0].kind, DiffKind::TypeChanged);
}
