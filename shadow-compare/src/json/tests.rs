use serde_json::{Value, json};

use super::*;
use crate::report::Severity;
use crate::rules::{Rules, TimestampRule};

fn run(l: Value, c: Value, rules: Rules) -> Vec<(String, DiffKind)> {
    diff(&l, &c, &rules.resolve().unwrap())
        .into_iter()
        .map(|d| (d.path, d.kind))
        .collect()
}

fn strict(l: Value, c: Value) -> Vec<(String, DiffKind)> {
    run(l, c, Rules::default())
}

fn p(path: &str, kind: DiffKind) -> (String, DiffKind) {
    (path.to_owned(), kind)
}

#[test]
fn equal_documents_differ_nowhere() {
    let doc = json!({"a": [1, {"b": null}], "c": "x", "d": 1.5, "e": true});
    assert_eq!(strict(doc.clone(), doc), vec![]);
    // Key order is not a difference; 1 and 1.0 are one number.
    assert_eq!(
        strict(json!({"a": 1, "b": 2}), json!({"b": 2.0, "a": 1})),
        vec![]
    );
}

#[test]
fn every_kind_with_its_path() {
    let l = json!({"items": [{"price": 10, "name": "a"}], "gone": 1, "n": null});
    let c = json!({"items": [{"price": 11, "name": 5}], "new": 2, "n": null});
    assert_eq!(
        strict(l, c),
        vec![
            p("$.items[0].price", DiffKind::ValueChanged),
            p("$.items[0].name", DiffKind::TypeChanged),
            p("$.gone", DiffKind::Missing),
            p("$.new", DiffKind::Extra),
        ]
    );
}

#[test]
fn values_are_kept_with_the_difference() {
    let d = diff(
        &json!({"a": 1}),
        &json!({"a": 2}),
        &Rules::default().resolve().unwrap(),
    );
    assert_eq!(d[0].legacy, Some(json!(1)));
    assert_eq!(d[0].candidate, Some(json!(2)));
    assert_eq!(d[0].severity, Severity::Medium);
}

#[test]
fn array_length_changes_are_missing_or_extra_elements() {
    assert_eq!(
        strict(json!([1, 2, 3]), json!([1, 2])),
        vec![p("$[2]", DiffKind::Missing)]
    );
    assert_eq!(
        strict(json!([1]), json!([1, 9])),
        vec![p("$[1]", DiffKind::Extra)]
    );
}

#[test]
fn reordered_arrays_are_order_only() {
    let l = json!({"xs": [{"id": 1}, {"id": 2}, {"id": 2}, {"id": 3}]});
    let c = json!({"xs": [{"id": 3}, {"id": 2}, {"id": 1}, {"id": 2}]});
    assert_eq!(strict(l, c), vec![p("$.xs", DiffKind::OrderOnly)]);
    // Not the same multiset: element differences, not order.
    let l = json!([1, 1, 2]);
    let c = json!([2, 1, 2]);
    assert_eq!(strict(l, c), vec![p("$[0]", DiffKind::ValueChanged)]);
}

#[test]
fn ignore_with_wildcards() {
    let l = json!({"items": [{"createdAt": "x", "p": 1}, {"createdAt": "y", "p": 2}], "m": {"a": {"etag": 1}}});
    let c = json!({"items": [{"createdAt": "z", "p": 1}, {"p": 3}], "m": {"a": {"etag": 2}}});
    let rules = Rules {
        ignore: vec!["$.items[*].createdAt".into(), "$.m.*.etag".into()],
        ..Rules::default()
    };
    assert_eq!(
        run(l, c, rules),
        vec![p("$.items[1].p", DiffKind::ValueChanged)]
    );
    // An ignored field may also be missing or extra.
    let rules = Rules {
        ignore: vec!["$.new".into(), "$.old".into()],
        ..Rules::default()
    };
    assert_eq!(run(json!({"old": 1}), json!({"new": 1}), rules), vec![]);
}

#[test]
fn ignore_by_index_touches_only_that_element() {
    let rules = Rules {
        ignore: vec!["$.xs[1]".into()],
        ..Rules::default()
    };
    assert_eq!(
        run(json!({"xs": [1, 2, 3]}), json!({"xs": [0, 9, 3]}), rules),
        vec![p("$.xs[0]", DiffKind::ValueChanged)]
    );
}

#[test]
fn unordered_arrays_match_as_multisets() {
    let rules = || Rules {
        unordered: vec!["$.tags".into()],
        ..Rules::default()
    };
    assert_eq!(
        run(
            json!({"tags": ["a", "b", "c"]}),
            json!({"tags": ["c", "a", "b"]}),
            rules()
        ),
        vec![]
    );
    // The unmatched elements are diffed against each other, surplus is extra.
    assert_eq!(
        run(
            json!({"tags": ["a", "b"]}),
            json!({"tags": ["x", "a", "y"]}),
            rules()
        ),
        vec![
            p("$.tags[1]", DiffKind::ValueChanged),
            p("$.tags[2]", DiffKind::Extra)
        ]
    );
}

#[test]
fn unordered_matching_uses_the_rules_inside_elements() {
    let rules = Rules {
        unordered: vec!["$.xs".into()],
        string_number: true,
        ..Rules::default()
    };
    let l = json!({"xs": [{"id": 1, "v": 5}, {"id": 2, "v": 6}]});
    let c = json!({"xs": [{"id": 2, "v": "6"}, {"id": 1, "v": "5"}]});
    assert_eq!(run(l, c, rules), vec![]);
}

#[test]
fn keyed_arrays_match_by_key_and_report_inside() {
    let rules = || Rules {
        keyed: [("$.coupons".into(), "couponId".into())].into(),
        ..Rules::default()
    };
    let l = json!({"coupons": [{"couponId": 1, "v": "a"}, {"couponId": 2, "v": "b"}, {"couponId": 3, "v": "c"}]});
    let c = json!({"coupons": [{"couponId": 4, "v": "d"}, {"couponId": 2, "v": "B"}, {"couponId": 1, "v": "a"}]});
    assert_eq!(
        run(l, c, rules()),
        vec![
            p("$.coupons[1].v", DiffKind::ValueChanged),
            p("$.coupons[2]", DiffKind::Missing),
            p("$.coupons[0]", DiffKind::Extra),
        ]
    );
    // Without a unique key the array is compared as unordered.
    let l = json!({"coupons": [{"v": 1}, {"v": 2}]});
    let c = json!({"coupons": [{"v": 2}, {"v": 1}]});
    assert_eq!(run(l, c, rules()), vec![]);
}

#[test]
fn keyed_with_string_number_keys() {
    let rules = Rules {
        keyed: [("$.xs".into(), "id".into())].into(),
        string_number: true,
        ..Rules::default()
    };
    let l = json!({"xs": [{"id": 1}, {"id": 2}]});
    let c = json!({"xs": [{"id": "2"}, {"id": "1"}]});
    assert_eq!(run(l, c, rules), vec![]);
}

#[test]
fn numeric_tolerance_is_absolute_and_per_path() {
    let rules = || Rules {
        numeric_tolerance: [("$.total".into(), 0.01)].into(),
        ..Rules::default()
    };
    assert_eq!(
        run(json!({"total": 10.0}), json!({"total": 10.005}), rules()),
        vec![]
    );
    assert_eq!(
        run(json!({"total": 10.0}), json!({"total": 10.02}), rules()),
        vec![p("$.total", DiffKind::ValueChanged)]
    );
    assert_eq!(
        run(json!({"other": 10.0}), json!({"other": 10.005}), rules()),
        vec![p("$.other", DiffKind::ValueChanged)]
    );
}

#[test]
fn string_number_only_when_asked() {
    let (l, c) = (json!({"a": 100, "b": "1.5"}), json!({"a": "100", "b": 1.5}));
    assert_eq!(
        strict(l.clone(), c.clone()),
        vec![
            p("$.a", DiffKind::TypeChanged),
            p("$.b", DiffKind::TypeChanged)
        ]
    );
    let rules = Rules {
        string_number: true,
        ..Rules::default()
    };
    assert_eq!(run(l, c, rules), vec![]);
    let rules = Rules {
        string_number: true,
        ..Rules::default()
    };
    // Not a number at all, or a different one: still a difference.
    assert_eq!(
        run(
            json!({"a": 100, "b": 1}),
            json!({"a": "1OO", "b": "2"}),
            rules
        ),
        vec![
            p("$.a", DiffKind::TypeChanged),
            p("$.b", DiffKind::TypeChanged)
        ]
    );
}

#[test]
fn timestamps_only_when_asked_and_within_tolerance() {
    let l = json!({"t": "2026-01-01T01:00:00Z", "e": "2026-01-01T01:00:00Z", "far": "2026-01-01T01:00:00Z"});
    let c = json!({"t": "2026-01-01T01:00:00+00:00", "e": 1_767_229_200_000_i64, "far": "2026-01-01T01:00:02Z"});
    assert_eq!(
        strict(l.clone(), c.clone()),
        vec![
            p("$.t", DiffKind::ValueChanged),
            p("$.e", DiffKind::TypeChanged),
            p("$.far", DiffKind::ValueChanged),
        ]
    );
    let rules = Rules {
        timestamps: Some(TimestampRule { tolerance_ms: 1000 }),
        ..Rules::default()
    };
    assert_eq!(run(l, c, rules), vec![p("$.far", DiffKind::ValueChanged)]);
}

#[test]
fn odd_keys_are_quoted_in_paths() {
    assert_eq!(
        strict(json!({"a.b": 1, "": 1}), json!({"a.b": 2, "": 2})),
        vec![
            p(r#"$["a.b"]"#, DiffKind::ValueChanged),
            p(r#"$[""]"#, DiffKind::ValueChanged)
        ]
    );
}

#[test]
fn large_unordered_arrays_stay_fast() {
    // 20,000 elements reversed: hash matching, not pairwise comparison.
    let l: Vec<Value> = (0..20_000).map(|i| json!({"id": i, "v": i * 2})).collect();
    let mut c = l.clone();
    c.reverse();
    let started = std::time::Instant::now();
    assert_eq!(
        strict(json!(l), json!(c)),
        vec![p("$", DiffKind::OrderOnly)]
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}
