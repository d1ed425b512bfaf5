//! Reading a JSON value as an instant, for the `timestamps` equivalence.

use serde_json::Value;

/// Epoch numbers at or above this are milliseconds, below it seconds: 1e11 s is
/// the year 5138, 1e11 ms is 1973, so real timestamps fall clearly on one side.
const MILLIS_FROM: f64 = 1e11;

/// Milliseconds since the epoch, for an RFC 3339 / ISO-8601 string with an
/// offset (`Z` or `+00:00`) or an epoch number in seconds or milliseconds.
pub(crate) fn instant_ms(value: &Value) -> Option<i64> {
    match value {
        Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.timestamp_millis()),
        Value::Number(n) => {
            let n = n.as_f64()?;
            if !n.is_finite() {
                return None;
            }
            let ms = if n.abs() >= MILLIS_FROM {
                n
            } else {
                n * 1000.0
            };
            Some(ms.round() as i64)
        }
        _ => None,
    }
}

/// Whether two values name the same instant within `tolerance_ms`. Two numbers
/// are never compared as instants: that would make `5` equal `5000`.
pub(crate) fn same_instant(legacy: &Value, candidate: &Value, tolerance_ms: u64) -> bool {
    if legacy.is_number() && candidate.is_number() {
        return false;
    }
    match (instant_ms(legacy), instant_ms(candidate)) {
        (Some(a), Some(b)) => a.abs_diff(b) <= tolerance_ms,
        _ => false,
    }
}

#[cfg(test)]
mod tests;
