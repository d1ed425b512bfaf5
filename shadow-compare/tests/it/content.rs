//! Headers, text, HTML and opaque bodies through the public API.

use msa_shadow_compare::{DiffKind, HeaderRules, Rules, Severity, compare};

use crate::{exchange, strict};

#[test]
fn default_header_noise_is_ignored() {
    let legacy = exchange(
        &[
            ("content-type", "application/json"),
            ("date", "Sat, 21 Nov 2026 10:00:00 GMT"),
            ("server", "legacy"),
            ("x-request-id", "a1"),
            ("traceparent", "00-1-2-01"),
        ],
        "{}",
    );
    let candidate = exchange(
        &[
            ("content-type", "application/json"),
            ("date", "Sat, 21 Nov 2026 10:00:01 GMT"),
            ("server", "axum"),
            ("x-request-id", "b2"),
            ("via", "1.1 msa"),
        ],
        "{}",
    );
    assert!(compare(&legacy, &candidate, &strict()).is_equal());
}

#[test]
fn route_header_rules_apply() {
    let legacy = exchange(
        &[
            ("x-cache", "HIT"),
            ("server", "legacy"),
            ("cache-control", "no-store"),
        ],
        "",
    );
    let candidate = exchange(&[("x-cache", "MISS"), ("server", "axum")], "");
    let found = |rules: Rules| -> Vec<(String, DiffKind, Severity)> {
        compare(&legacy, &candidate, &rules.resolve().unwrap())
            .differences
            .into_iter()
            .map(|d| (d.path, d.kind, d.severity))
            .collect()
    };
    assert_eq!(
        found(Rules::default()),
        [
            (
                "header:cache-control".into(),
                DiffKind::Missing,
                Severity::High
            ),
            (
                "header:x-cache".into(),
                DiffKind::ValueChanged,
                Severity::Medium
            ),
        ]
    );
    let rules = Rules {
        headers: HeaderRules {
            ignore: vec!["x-cache".into(), "cache-control".into()],
            compare: vec!["server".into()],
        },
        ..Rules::default()
    };
    assert_eq!(
        found(rules),
        [(
            "header:server".into(),
            DiffKind::ValueChanged,
            Severity::Medium
        )]
    );
}

#[test]
fn set_cookie_by_name_only() {
    let legacy = exchange(
        &[
            ("set-cookie", "JSESSIONID=1; Path=/"),
            ("set-cookie", "cart=3"),
        ],
        "",
    );
    let renamed = exchange(
        &[
            ("set-cookie", "SESSION=9; Path=/"),
            ("set-cookie", "cart=7"),
        ],
        "",
    );
    let c = compare(&legacy, &renamed, &strict());
    let found: Vec<_> = c
        .differences
        .iter()
        .map(|d| (d.path.as_str(), d.kind))
        .collect();
    assert_eq!(
        found,
        [
            ("header:set-cookie:JSESSIONID", DiffKind::Missing),
            ("header:set-cookie:SESSION", DiffKind::Extra)
        ]
    );
    let same_names = exchange(
        &[
            ("set-cookie", "cart=8"),
            ("set-cookie", "JSESSIONID=2; Secure"),
        ],
        "",
    );
    assert!(compare(&legacy, &same_names, &strict()).is_equal());
}

#[test]
fn html_is_compared_by_lines() {
    let page = "<html>\n<h1>Coupons</h1>\n<p>1000 won</p>\n</html>\n";
    let legacy = exchange(&[("content-type", "text/html; charset=utf-8")], page);
    let same = exchange(&[("content-type", "text/html; charset=utf-8")], page);
    assert!(compare(&legacy, &same, &strict()).is_equal());
    let changed = exchange(
        &[("content-type", "text/html; charset=utf-8")],
        page.replace("1000", "2000"),
    );
    let c = compare(&legacy, &changed, &strict());
    assert_eq!(c.differences.len(), 1);
    let d = &c.differences[0];
    assert_eq!((d.path.as_str(), d.kind), ("body", DiffKind::ValueChanged));
    assert_eq!(d.legacy.as_ref().unwrap()["first"], "<p>1000 won</p>");
    assert_eq!(d.candidate.as_ref().unwrap()["first"], "<p>2000 won</p>");
}

#[test]
fn other_types_by_length_and_hash() {
    let legacy = exchange(
        &[("content-type", "image/png")],
        vec![0x89, b'P', b'N', b'G', 1],
    );
    let same = exchange(
        &[("content-type", "image/png")],
        vec![0x89, b'P', b'N', b'G', 1],
    );
    assert!(compare(&legacy, &same, &strict()).is_equal());
    let other = exchange(
        &[("content-type", "image/png")],
        vec![0x89, b'P', b'N', b'G', 2],
    );
    let c = compare(&legacy, &other, &strict());
    assert_eq!(c.differences.len(), 1);
    let d = &c.differences[0];
    assert_eq!(d.legacy.as_ref().unwrap()["length"], 5);
    assert_ne!(
        d.legacy.as_ref().unwrap()["xxh3"],
        d.candidate.as_ref().unwrap()["xxh3"]
    );
}

#[test]
fn another_kind_of_body_is_a_type_change() {
    let legacy = exchange(
        &[("content-type", "application/json")],
        r#"{"error":{"code":"COUPON_NOT_FOUND"}}"#,
    );
    let candidate = exchange(&[("content-type", "text/html")], "<h1>Not Found</h1>");
    let c = compare(&legacy, &candidate, &strict());
    let found: Vec<_> = c
        .differences
        .iter()
        .map(|d| (d.path.as_str(), d.kind, d.severity))
        .collect();
    assert_eq!(
        found,
        [
            (
                "header:content-type",
                DiffKind::ValueChanged,
                Severity::Medium
            ),
            ("body", DiffKind::TypeChanged, Severity::High),
        ]
    );
}
