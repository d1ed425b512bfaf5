//! Timestamps: stored at microsecond precision (what every engine keeps), shown
//! as ISO-8601 UTC with a `Z`.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

/// Now, truncated to microseconds so a value reads back exactly as written.
pub fn now() -> DateTime<Utc> {
    Utc::now()
        .duration_trunc(TimeDelta::microseconds(1))
        .unwrap_or_else(|_| Utc::now())
}

/// `2026-01-09T10:35:25Z`: the monolith's timestamp format.
pub fn iso(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}
