use serde_json::json;

use super::*;

#[test]
fn reads_iso_and_epoch_forms() {
    let z = instant_ms(&json!("2026-01-01T01:00:00Z")).unwrap();
    assert_eq!(instant_ms(&json!("2026-01-01T01:00:00+00:00")), Some(z));
    assert_eq!(instant_ms(&json!("2026-01-01T10:00:00+09:00")), Some(z));
    assert_eq!(instant_ms(&json!(z / 1000)), Some(z));
    assert_eq!(instant_ms(&json!(z)), Some(z));
    assert_eq!(instant_ms(&json!("yesterday")), None);
    assert_eq!(instant_ms(&json!(true)), None);
}

#[test]
fn same_instant_respects_the_tolerance() {
    let a = json!("2026-01-01T01:00:00Z");
    assert!(same_instant(
        &a,
        &json!("2026-01-01T01:00:00.900+00:00"),
        1000
    ));
    assert!(!same_instant(&a, &json!("2026-01-01T01:00:01.001Z"), 1000));
    assert!(same_instant(&a, &json!(1_767_229_200), 0));
    assert!(!same_instant(&json!(5), &json!(5000), 1000));
}
