use http::HeaderValue;

use super::*;
use crate::rules::{HeaderRules, Rules};

fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut m = HeaderMap::new();
    for (k, v) in pairs {
        m.append(*k, HeaderValue::from_static(v));
    }
    m
}

fn default_ignored() -> HashSet<String> {
    Rules::default().resolve().unwrap().ignored_headers
}

#[test]
fn transport_headers_are_ignored_by_default() {
    let l = map(&[
        ("date", "Mon"),
        ("server", "nginx"),
        ("x-request-id", "1"),
        ("content-length", "10"),
    ]);
    let c = map(&[
        ("date", "Tue"),
        ("server", "axum"),
        ("x-request-id", "2"),
        ("transfer-encoding", "chunked"),
    ]);
    assert_eq!(compare(&l, &c, &default_ignored()), vec![]);
}

#[test]
fn missing_extra_and_changed_headers() {
    let l = map(&[
        ("content-type", "application/json"),
        ("cache-control", "no-store"),
    ]);
    let c = map(&[("content-type", "text/html"), ("x-new", "1")]);
    let d = compare(&l, &c, &default_ignored());
    let got: Vec<_> = d
        .iter()
        .map(|d| (d.path.as_str(), d.kind, d.severity))
        .collect();
    use crate::report::Severity::*;
    assert_eq!(
        got,
        [
            ("header:cache-control", DiffKind::Missing, High),
            ("header:content-type", DiffKind::ValueChanged, Medium),
            ("header:x-new", DiffKind::Extra, Low),
        ]
    );
}

#[test]
fn content_type_spelling_is_not_a_difference() {
    let l = map(&[("content-type", "application/json; charset=utf-8")]);
    let c = map(&[("content-type", "application/json;charset=UTF-8")]);
    assert_eq!(compare(&l, &c, &default_ignored()), vec![]);
}

#[test]
fn route_rules_add_and_remove_ignored_headers() {
    let rules = Rules {
        headers: HeaderRules {
            ignore: vec!["X-Cache".into()],
            compare: vec!["server".into()],
        },
        ..Rules::default()
    };
    let ignored = rules.resolve().unwrap().ignored_headers;
    let l = map(&[("x-cache", "HIT"), ("server", "nginx")]);
    let c = map(&[("x-cache", "MISS"), ("server", "axum")]);
    let d = compare(&l, &c, &ignored);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].path, "header:server");
}

#[test]
fn set_cookie_is_compared_by_name() {
    let l = map(&[
        ("set-cookie", "SESSION=abc; Path=/; HttpOnly"),
        ("set-cookie", "lang=ko"),
    ]);
    let same_names = map(&[
        ("set-cookie", "lang=en"),
        ("set-cookie", "SESSION=xyz; Secure"),
    ]);
    assert_eq!(compare(&l, &same_names, &default_ignored()), vec![]);
    let other = map(&[("set-cookie", "SESSION=xyz"), ("set-cookie", "theme=dark")]);
    let d = compare(&l, &other, &default_ignored());
    let got: Vec<_> = d.iter().map(|d| (d.path.as_str(), d.kind)).collect();
    assert_eq!(
        got,
        [
            ("header:set-cookie:lang", DiffKind::Missing),
            ("header:set-cookie:theme", DiffKind::Extra),
        ]
    );
}
