//! The result of comparing two exchanges: what differs, where, and how much it matters.

use serde::Serialize;
use serde_json::Value;

/// How much a difference matters.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// An added field, an order change.
    Low,
    /// A changed value, a status change within its class.
    Medium,
    /// A removed field, a type change, a status class change.
    High,
}

/// What kind of difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DiffKind {
    /// In the legacy answer, not in the candidate's.
    Missing,
    /// Only in the candidate's answer.
    Extra,
    /// Another JSON type (or another kind of body).
    TypeChanged,
    /// The same type, another value.
    ValueChanged,
    /// The same elements (or lines) in another order.
    OrderOnly,
}

impl DiffKind {
    /// The severity a difference of this kind has in a body or a header.
    pub fn severity(self) -> Severity {
        match self {
            DiffKind::Missing | DiffKind::TypeChanged => Severity::High,
            DiffKind::ValueChanged => Severity::Medium,
            DiffKind::Extra | DiffKind::OrderOnly => Severity::Low,
        }
    }
}

/// One difference between the two answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Difference {
    /// Where: `status`, `header:content-type`, `header:set-cookie:SESSION`,
    /// `body`, or a JSON path such as `$.coupons[0].issuedAt`.
    pub path: String,
    /// What kind of difference.
    pub kind: DiffKind,
    /// How much it matters.
    pub severity: Severity,
    /// The legacy side's value, shortened (see [`MAX_VALUE_CHARS`]); absent for `extra`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub legacy: Option<Value>,
    /// The candidate's value, shortened; absent for `missing`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidate: Option<Value>,
}

/// Values longer than this (as JSON text) are replaced by a string holding
/// their beginning and `…`, so one huge array cannot swamp a report.
pub const MAX_VALUE_CHARS: usize = 200;

impl Difference {
    pub(crate) fn new(
        path: String,
        kind: DiffKind,
        legacy: Option<&Value>,
        candidate: Option<&Value>,
    ) -> Self {
        Difference {
            path,
            kind,
            severity: kind.severity(),
            legacy: legacy.map(shorten),
            candidate: candidate.map(shorten),
        }
    }
}

fn shorten(value: &Value) -> Value {
    match value {
        Value::String(s) if s.chars().count() > MAX_VALUE_CHARS => Value::String(cut(s)),
        Value::Array(_) | Value::Object(_) => {
            let text = value.to_string();
            if text.chars().count() > MAX_VALUE_CHARS {
                Value::String(cut(&text))
            } else {
                value.clone()
            }
        }
        _ => value.clone(),
    }
}

fn cut(s: &str) -> String {
    let mut out: String = s.chars().take(MAX_VALUE_CHARS).collect();
    out.push('…');
    out
}

/// Differences per severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// High-severity differences.
    pub high: usize,
    /// Medium-severity differences.
    pub medium: usize,
    /// Low-severity differences.
    pub low: usize,
    /// Parts that could not be compared (see [`Comparison::unanalysed`]).
    pub unanalysed: usize,
}

/// The comparison of a legacy exchange with a candidate's.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Comparison {
    /// Every difference found, in the order found: status, headers, body.
    pub differences: Vec<Difference>,
    /// Why a part (a body) could not be compared: counted, never taken as equal.
    pub unanalysed: Vec<String>,
    /// Totals of the above.
    pub counts: Counts,
}

impl Comparison {
    pub(crate) fn finish(differences: Vec<Difference>, unanalysed: Vec<String>) -> Self {
        let mut counts = Counts {
            unanalysed: unanalysed.len(),
            ..Counts::default()
        };
        for d in &differences {
            match d.severity {
                Severity::High => counts.high += 1,
                Severity::Medium => counts.medium += 1,
                Severity::Low => counts.low += 1,
            }
        }
        Comparison {
            differences,
            unanalysed,
            counts,
        }
    }

    /// Whether everything was compared and nothing differs.
    pub fn is_equal(&self) -> bool {
        self.differences.is_empty() && self.unanalysed.is_empty()
    }

    /// The highest severity found, if any difference was.
    pub fn max_severity(&self) -> Option<Severity> {
        self.differences.iter().map(|d| d.severity).max()
    }
}

#[cfg(test)]
mod tests;
