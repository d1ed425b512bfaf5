//! The time as the CLI writes it, in output, audit reasons and logs.

use std::time::SystemTime;

/// Now, in RFC 3339 to the second (`2026-11-22T02:30:00Z`).
pub(crate) fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}
