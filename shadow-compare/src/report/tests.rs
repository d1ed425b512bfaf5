use serde_json::json;

use super::*;

#[test]
fn severity_follows_the_kind() {
    assert_eq!(DiffKind::Missing.severity(), Severity::High);
    assert_eq!(DiffKind::TypeChanged.severity(), Severity::High);
    assert_eq!(DiffKind::ValueChanged.severity(), Severity::Medium);
    assert_eq!(DiffKind::Extra.severity(), Severity::Low);
    assert_eq!(DiffKind::OrderOnly.severity(), Severity::Low);
}

#[test]
fn long_values_are_shortened() {
    let long = json!("x".repeat(1000));
    let d = Difference::new("$.a".into(), DiffKind::ValueChanged, Some(&long), None);
    let Some(Value::String(s)) = &d.legacy else {
        panic!("expected a string, got {:?}", d.legacy)
    };
    assert_eq!(s.chars().count(), MAX_VALUE_CHARS + 1);
    assert!(s.ends_with('…'));
    let big = json!((0..500).collect::<Vec<_>>());
    let d = Difference::new("$.a".into(), DiffKind::Missing, Some(&big), None);
    assert!(matches!(d.legacy, Some(Value::String(_))));
    let small = json!({"a": 1});
    let d = Difference::new("$.a".into(), DiffKind::Extra, None, Some(&small));
    assert_eq!(d.candidate, Some(small));
}

#[test]
fn counts_and_serialised_form() {
    let c = Comparison::finish(
        vec![
            Difference::new("$.a".into(), DiffKind::Missing, Some(&json!(1)), None),
            Difference::new("$.b".into(), DiffKind::Extra, None, Some(&json!(2))),
        ],
        vec!["candidate body: unsupported".into()],
    );
    assert_eq!(c.counts.high, 1);
    assert_eq!(c.counts.low, 1);
    assert_eq!(c.counts.unanalysed, 1);
    assert!(!c.is_equal());
    assert_eq!(c.max_severity(), Some(Severity::High));
    let v = serde_json::to_value(&c).unwrap();
    assert_eq!(v["differences"][0]["kind"], "missing");
    assert_eq!(v["differences"][0]["severity"], "high");
    assert!(v["differences"][0].get("candidate").is_none());
}
