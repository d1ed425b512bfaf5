use serde_json::json;

use super::*;

#[test]
fn equal_texts_have_no_difference() {
    assert_eq!(lines("a\nb\n", "a\nb\n"), None);
}

#[test]
fn counts_lines_that_went_and_came() {
    let d = lines(
        "<p>a</p>\n<p>b</p>\n<p>c</p>\n",
        "<p>a</p>\n<p>B</p>\n<p>c</p>\n<p>d</p>\n",
    )
    .unwrap();
    assert_eq!(d.path, "body");
    assert_eq!(d.kind, DiffKind::ValueChanged);
    assert_eq!(d.legacy, Some(json!({"lines": 1, "first": "<p>b</p>"})));
    assert_eq!(d.candidate, Some(json!({"lines": 2, "first": "<p>B</p>"})));
}

#[test]
fn repeated_lines_count_each_time() {
    let d = lines("x\nx\nx\n", "x\n").unwrap();
    assert_eq!(d.legacy, Some(json!({"lines": 2, "first": "x"})));
    assert_eq!(d.candidate, Some(json!({"lines": 0, "first": null})));
}

#[test]
fn line_endings_are_not_content() {
    assert_eq!(lines("a\r\nb\r\n", "a\nb\n"), None);
}

#[test]
fn reordered_lines_are_order_only() {
    let d = lines("a\nb\n", "b\na\n").unwrap();
    assert_eq!(d.kind, DiffKind::OrderOnly);
}

#[test]
fn bytes_by_length_and_hash() {
    assert_eq!(bytes(b"\x00\x01", b"\x00\x01"), None);
    let d = bytes(b"\x00\x01", b"\x00\x02\x03").unwrap();
    assert_eq!(d.legacy.unwrap()["length"], 2);
    assert_eq!(d.candidate.unwrap()["length"], 3);
}
