//! Bodies that are not JSON: text and HTML by lines, anything else by length and hash.

use std::collections::HashMap;

use serde_json::{Value, json};
use xxhash_rust::xxh3::xxh3_64;

use crate::report::{DiffKind, Difference};

/// Compares two texts line by line. Lines are counted as multisets (linear
/// work, unlike a longest-common-subsequence diff): the same lines in another
/// order are `order_only`; otherwise one `value_changed` at `body` gives how
/// many lines went and came, and the first of each. `\r\n` and `\n` endings
/// are one line break: a rewrite's line endings are not its content.
pub(crate) fn lines(legacy: &str, candidate: &str) -> Option<Difference> {
    if legacy == candidate || legacy.lines().eq(candidate.lines()) {
        return None;
    }
    let mut count: HashMap<&str, i64> = HashMap::new();
    for line in legacy.lines() {
        *count.entry(line).or_default() += 1;
    }
    for line in candidate.lines() {
        *count.entry(line).or_default() -= 1;
    }
    // Only in legacy: count > 0 left over; only in the candidate: < 0.
    let removed: Vec<&str> = legacy.lines().filter(|l| take(&mut count, l, 1)).collect();
    let added: Vec<&str> = candidate
        .lines()
        .filter(|l| take(&mut count, l, -1))
        .collect();
    if removed.is_empty() && added.is_empty() {
        // The same lines, in another order.
        return Some(Difference::new(
            "body".into(),
            DiffKind::OrderOnly,
            None,
            None,
        ));
    }
    let side = |lines: &[&str]| json!({ "lines": lines.len(), "first": lines.first() });
    Some(Difference::new(
        "body".into(),
        DiffKind::ValueChanged,
        Some(&side(&removed)),
        Some(&side(&added)),
    ))
}

/// Counts a line as surplus on the side `sign` points to, once per surplus occurrence.
fn take(count: &mut HashMap<&str, i64>, line: &str, sign: i64) -> bool {
    match count.get_mut(line) {
        Some(n) if *n * sign > 0 => {
            *n -= sign;
            true
        }
        _ => false,
    }
}

/// Compares opaque bodies by length and hash.
pub(crate) fn bytes(legacy: &[u8], candidate: &[u8]) -> Option<Difference> {
    if legacy == candidate {
        return None;
    }
    let side = |b: &[u8]| -> Value {
        json!({ "length": b.len(), "xxh3": format!("{:016x}", xxh3_64(b)) })
    };
    Some(Difference::new(
        "body".into(),
        DiffKind::ValueChanged,
        Some(&side(legacy)),
        Some(&side(candidate)),
    ))
}

#[cfg(test)]
mod tests;
