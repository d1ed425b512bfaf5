use super::*;

#[test]
fn decimals_normalise() {
    assert_eq!(normalise_decimal("-012.500").as_deref(), Some("-12.5"));
    assert_eq!(normalise_decimal("-0.000").as_deref(), Some("0"));
    assert_eq!(normalise_decimal("10").as_deref(), Some("10"));
    assert_eq!(normalise_decimal(".5").as_deref(), Some("0.5"));
    assert_eq!(normalise_decimal("1e5"), None);
}

#[test]
fn conversions_follow_the_rules() {
    assert_eq!(Value::Int(1).coerce(Kind::Bool), Ok(Value::Bool(true)));
    assert!(Value::Int(2).coerce(Kind::Bool).is_err());
    assert_eq!(
        Value::UInt(u64::MAX).coerce(Kind::Decimal),
        Ok(Value::Decimal(u64::MAX.to_string()))
    );
    assert!(Value::UInt(u64::MAX).coerce(Kind::Int).is_err());
    let t = Value::Text("2026-01-09 10:35:25.123456+00:00".to_owned()).coerce(Kind::Timestamptz);
    let naive = Value::Text("2026-01-09 10:35:25.123456".to_owned()).coerce(Kind::Timestamptz);
    assert_eq!(t, naive);
    assert_eq!(
        Value::Text("{\"b\": 1, \"a\": [1, 2]}".to_owned()).coerce(Kind::Json),
        Ok(Value::Json("{\"a\":[1,2],\"b\":1}".to_owned()))
    );
    assert!(Value::Text("ACTIVE".to_owned()).coerce(Kind::Int).is_err());
    assert_eq!(
        Value::Text("12.50".to_owned()).coerce(Kind::Decimal),
        Ok(Value::Decimal("12.5".to_owned()))
    );
}

#[test]
fn the_encoding_tells_kinds_and_values_apart() {
    assert_eq!(Value::Int(5), Value::UInt(5));
    assert_ne!(Value::Int(5), Value::Text("5".to_owned()));
    assert_ne!(Value::Null, Value::Text(String::new()));
    assert_ne!(Value::Float(1.0), Value::Float(1.000_000_1));
    let key: Vec<Value> = serde_json::from_str(
        &serde_json::to_string(&vec![Value::Int(-3), Value::Text("a".into())]).unwrap(),
    )
    .unwrap();
    assert_eq!(key, vec![Value::Int(-3), Value::Text("a".into())]);
}
