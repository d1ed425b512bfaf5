use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};

use super::Payload;
use crate::value::{Value, normalise_decimal};

/// What one value becomes in COPY text, as the writer wrote it before the
/// passthrough (chrono's formats, `as_text`): the reference.
fn reference(value: &Value) -> String {
    match value {
        Value::Null => "\\N".to_owned(),
        Value::Bool(b) => if *b { "t" } else { "f" }.to_owned(),
        Value::Bytes(bytes) => {
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            format!("\\\\x{hex}")
        }
        Value::Float(x) if x.is_nan() => "NaN".to_owned(),
        Value::Float(x) if x.is_infinite() => {
            if *x > 0.0 { "Infinity" } else { "-Infinity" }.to_owned()
        }
        Value::DateTime(t) => t.format("%F %T%.f").to_string(),
        Value::Timestamptz(t) => t.format("%F %T%.f+00").to_string(),
        other => other
            .as_text()
            .replace('\\', "\\\\")
            .replace('\t', "\\t")
            .replace('\n', "\\n")
            .replace('\r', "\\r"),
    }
}

fn written(value: &Value) -> String {
    let mut payload = Payload::default();
    payload.push_value(value);
    String::from_utf8(payload.data().to_vec()).expect("UTF-8")
}

#[test]
fn every_value_is_written_as_before() {
    let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).expect("a date");
    let time = |h, m, s, nano| NaiveTime::from_hms_nano_opt(h, m, s, nano).expect("a time");
    let mut values = vec![
        Value::Null,
        Value::Bool(true),
        Value::Bool(false),
        Value::Int(0),
        Value::Int(-42),
        Value::Int(i64::MIN),
        Value::Int(i64::MAX),
        Value::UInt(u64::MAX),
        Value::Float(1.5),
        Value::Float(-0.0),
        Value::Float(1e300),
        Value::Float(0.1 + 0.2),
        Value::Float(f64::NAN),
        Value::Float(f64::INFINITY),
        Value::Float(f64::NEG_INFINITY),
        Value::Decimal("-12.5".to_owned()),
        Value::Text("plain".to_owned()),
        Value::Text("tab\there\nnew\\line\rend".to_owned()),
        Value::Text("한국어 ✓".to_owned()),
        Value::Text(String::new()),
        Value::Json("{\"a\":\"b\\tc\"}".to_owned()),
        Value::Bytes(vec![0, 1, 0xab, 0xff, b'\\']),
        Value::Bytes(Vec::new()),
    ];
    let dates = [
        date(2026, 1, 2),
        date(1, 1, 1),
        date(0, 3, 4),
        date(9999, 12, 31),
        date(-5, 6, 7),
        date(12345, 1, 1),
    ];
    let times = [
        time(0, 0, 0, 0),
        time(23, 59, 59, 0),
        time(1, 2, 3, 400_000_000),
        time(1, 2, 3, 450_000),
        time(1, 2, 3, 123_456_789),
        time(1, 2, 3, 1_000),
        time(1, 2, 3, 1),
        time(23, 59, 59, 1_500_000_000),
    ];
    for d in dates {
        values.push(Value::Date(d));
        for t in times {
            let at = NaiveDateTime::new(d, t);
            values.push(Value::DateTime(at));
            values.push(Value::Timestamptz(Utc.from_utc_datetime(&at)));
        }
    }
    values.extend(times.map(Value::Time));
    for value in &values {
        assert_eq!(written(value), reference(value), "{value:?}");
    }
}

#[test]
fn rows_are_tab_separated_lines() {
    let mut payload = Payload::default();
    payload.push_row(&[Value::Int(1), Value::Null, Value::Text("a b".to_owned())]);
    payload.push_row(&[Value::Int(2), Value::Bool(true), Value::Text(String::new())]);
    assert_eq!(payload.data(), b"1\t\\N\ta b\n2\tt\t\n");
}

#[test]
fn decimals_are_normalised_as_values_are() {
    for text in [
        "0",
        "12.50",
        "-12.50",
        "-0.00",
        "0.00",
        "007.10",
        "+3.0",
        ".5",
        "5.",
        "-.5",
        "100",
        "12345678901234567890.000000000001",
        "-0",
        "00",
        "1.000",
    ] {
        let mut payload = Payload::default();
        assert!(payload.push_decimal(text.as_bytes()), "{text}");
        assert_eq!(
            std::str::from_utf8(payload.data()).expect("UTF-8"),
            normalise_decimal(text).expect("a decimal"),
            "{text}"
        );
    }
    for text in [
        "", ".", "-", "+", "1e5", "1.2.3", " 1", "NaN", "1,5", "--1", "٣",
    ] {
        let mut payload = Payload::default();
        assert!(!payload.push_decimal(text.as_bytes()), "{text}");
        assert!(payload.data().is_empty(), "{text}: nothing written");
        if text.trim() == text {
            assert_eq!(normalise_decimal(text), None, "{text}");
        }
    }
}
