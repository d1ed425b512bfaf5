//! What a difference looks like, from the shapes of its two values: the
//! evidence `msa-migrate shadow suggest-rules` turns into rules for a person
//! to accept. Only the hint is kept, never the values.

use chrono::DateTime;
use msa_shadow_compare::{DiffKind, Difference};
use serde_json::Value;

/// The hint for one difference, if its values suggest a rule.
pub(crate) fn hint(difference: &Difference) -> Option<&'static str> {
    let (legacy, candidate) = (difference.legacy.as_ref(), difference.candidate.as_ref());
    match difference.kind {
        DiffKind::OrderOnly => Some("unordered"),
        DiffKind::Extra => Some("extra"),
        DiffKind::TypeChanged if same_number(legacy?, candidate?) => Some("string_number"),
        DiffKind::ValueChanged => {
            let (legacy, candidate) = (legacy?, candidate?);
            match (instant(legacy), instant(candidate)) {
                (Some(a), Some(b)) if (a - b).abs() <= 1_000 => Some("timestamps"),
                (Some(_), Some(_)) => Some("volatile"),
                _ if volatile(legacy) && volatile(candidate) => Some("volatile"),
                _ => None,
            }
        }
        _ => None,
    }
}

/// `1000` and `"1000"`, either way round.
fn same_number(a: &Value, b: &Value) -> bool {
    let number = |v: &Value| match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    matches!(
        (a, b),
        (Value::Number(_), Value::String(_)) | (Value::String(_), Value::Number(_))
    ) && number(a).is_some()
        && number(a) == number(b)
}

/// Milliseconds since the epoch of an RFC 3339 string.
fn instant(value: &Value) -> Option<i64> {
    DateTime::parse_from_rfc3339(value.as_str()?)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Values unique per request: UUIDs and long hex or base62-ish tokens.
fn volatile(value: &Value) -> bool {
    let Some(text) = value.as_str() else {
        return false;
    };
    let uuid = text.len() == 36
        && text.chars().enumerate().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        });
    let token = text.len() >= 16
        && text.chars().all(|c| c.is_ascii_alphanumeric())
        && text.chars().any(|c| c.is_ascii_digit());
    uuid || token
}

#[cfg(test)]
mod tests {
    use msa_shadow_compare::Severity;
    use serde_json::json;

    use super::*;

    fn diff(kind: DiffKind, legacy: Option<Value>, candidate: Option<Value>) -> Difference {
        Difference {
            path: "$.x".into(),
            kind,
            severity: Severity::Medium,
            legacy,
            candidate,
        }
    }

    #[test]
    fn shapes_give_hints() {
        let h = |kind, a, b| hint(&diff(kind, a, b));
        assert_eq!(
            h(
                DiffKind::TypeChanged,
                Some(json!(1000)),
                Some(json!("1000"))
            ),
            Some("string_number")
        );
        assert_eq!(
            h(
                DiffKind::TypeChanged,
                Some(json!(1000)),
                Some(json!("1001"))
            ),
            None
        );
        assert_eq!(
            h(
                DiffKind::ValueChanged,
                Some(json!("2026-01-01T01:00:00Z")),
                Some(json!("2026-01-01T01:00:00+00:00"))
            ),
            Some("timestamps")
        );
        assert_eq!(
            h(
                DiffKind::ValueChanged,
                Some(json!("2026-01-01T01:00:00Z")),
                Some(json!("2026-01-01T02:00:00Z"))
            ),
            Some("volatile")
        );
        assert_eq!(
            h(
                DiffKind::ValueChanged,
                Some(json!("0b7f2c1e-9d4a-4f6e-8a3b-2c1d0e9f8a7b")),
                Some(json!("5e8d7c6b-4a3f-4e2d-9c1b-0a9f8e7d6c5b"))
            ),
            Some("volatile")
        );
        assert_eq!(
            h(
                DiffKind::ValueChanged,
                Some(json!("ACTIVE")),
                Some(json!("PAUSED"))
            ),
            None,
            "a real change suggests nothing"
        );
        assert_eq!(h(DiffKind::OrderOnly, None, None), Some("unordered"));
        assert_eq!(
            h(DiffKind::Extra, None, Some(json!("FIXED"))),
            Some("extra")
        );
        assert_eq!(
            h(DiffKind::Missing, Some(json!(1)), None),
            None,
            "a removed field is never waved through"
        );
    }
}
