//! Per-route comparison rules: what the user wrote ([`Rules`], YAML-friendly, the
//! vocabulary playbooks reuse) and the checked form the diff runs on ([`RuleSet`]).
//!
//! A rule only applies when written down: nothing is relaxed by default except the
//! header ignore list ([`DEFAULT_IGNORED_HEADERS`]), which is about transport, not content.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::path::Pattern;

/// Response headers that differ between any two servers and say nothing about
/// the answer; not compared unless a route lists them in `headers.compare`.
pub const DEFAULT_IGNORED_HEADERS: &[&str] = &[
    "date",
    "server",
    "x-request-id",
    "x-correlation-id",
    "x-trace-id",
    "traceparent",
    "tracestate",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "via",
    "age",
    "etag",
    "last-modified",
    "expires",
    "x-powered-by",
    "alt-svc",
    "strict-transport-security",
    "x-runtime",
    "x-response-time",
    "server-timing",
    "content-encoding",
    "vary",
];

/// The rules for one route, as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rules {
    /// JSON paths not compared at all: `$.items[*].createdAt`, `$.*.etag`.
    pub ignore: Vec<String>,
    /// Arrays compared as multisets: `$.coupons`.
    pub unordered: Vec<String>,
    /// Arrays whose elements are matched by a key field: `{"$.coupons": "couponId"}`.
    pub keyed: BTreeMap<String, String>,
    /// Absolute tolerance for numbers at a path: `{"$.total": 0.01}`.
    pub numeric_tolerance: BTreeMap<String, f64>,
    /// `"100"` and `100` are equal.
    pub string_number: bool,
    /// Timestamps as ISO-8601 (`Z` or an offset) or epoch seconds / milliseconds
    /// are equal when they name the same instant within the tolerance.
    pub timestamps: Option<TimestampRule>,
    /// Compare the status only (for a route whose bodies cannot match).
    pub status_only: bool,
    /// Which headers are compared.
    pub headers: HeaderRules,
}

/// Timestamp equivalence.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimestampRule {
    /// How far apart two instants may be and still be equal, in milliseconds.
    #[serde(default)]
    pub tolerance_ms: u64,
}

/// Header rules for a route, on top of [`DEFAULT_IGNORED_HEADERS`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeaderRules {
    /// More headers not to compare.
    pub ignore: Vec<String>,
    /// Headers from the default ignore list to compare after all.
    pub compare: Vec<String>,
}

/// What a matched path pattern asks for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Action {
    Ignore,
    Unordered,
    Keyed(String),
    Tolerance(f64),
}

/// Rules checked and compiled: every pattern parsed, every value sane.
/// `RuleSet::default()` is the empty [`Rules`] resolved: strict, but with the
/// default transport headers ignored.
#[derive(Debug, Clone)]
pub struct RuleSet {
    pub(crate) patterns: Vec<Pattern>,
    pub(crate) actions: Vec<Action>,
    pub(crate) string_number: bool,
    pub(crate) timestamp_tolerance_ms: Option<u64>,
    pub(crate) status_only: bool,
    pub(crate) ignored_headers: HashSet<String>,
}

impl RuleSet {
    /// Whether no rule can make two different JSON values compare equal (no
    /// paths, no equivalences): then "equivalent" simply means "equal".
    pub(crate) fn relaxes_nothing(&self) -> bool {
        self.patterns.is_empty() && !self.string_number && self.timestamp_tolerance_ms.is_none()
    }
}

impl Default for RuleSet {
    fn default() -> Self {
        Rules::default()
            .resolve()
            .expect("empty rules always resolve")
    }
}

/// One problem in a [`Rules`]: the field, the offending entry, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: `{entry}`: {problem}")]
pub struct RuleProblem {
    /// The field: `ignore`, `keyed`, `numeric_tolerance`, `headers.ignore`, …
    pub field: &'static str,
    /// The entry as written.
    pub entry: String,
    /// What is wrong and how to fix it.
    pub problem: String,
}

/// Every problem found in a [`Rules`], not just the first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid shadow rules: {}", list(.problems))]
#[non_exhaustive]
pub struct RulesError {
    /// The problems, in field order.
    pub problems: Vec<RuleProblem>,
}

fn list(problems: &[RuleProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl Rules {
    /// Checks the rules and compiles their paths, reporting all problems at once.
    pub fn resolve(&self) -> Result<RuleSet, RulesError> {
        let mut problems = Vec::new();
        let mut set = RuleSet {
            string_number: self.string_number,
            timestamp_tolerance_ms: self.timestamps.map(|t| t.tolerance_ms),
            status_only: self.status_only,
            patterns: Vec::new(),
            actions: Vec::new(),
            ignored_headers: HashSet::new(),
        };
        let mut add =
            |field, text: &str, action, problems: &mut Vec<RuleProblem>| match Pattern::parse(text)
            {
                Ok(p) => {
                    set.patterns.push(p);
                    set.actions.push(action);
                }
                Err(e) => problems.push(RuleProblem {
                    field,
                    entry: text.to_owned(),
                    problem: format!("not a path pattern ({e}); write e.g. `$.items[*].createdAt`"),
                }),
            };
        for p in &self.ignore {
            add("ignore", p, Action::Ignore, &mut problems);
        }
        for p in &self.unordered {
            if self.keyed.contains_key(p) {
                problems.push(RuleProblem {
                    field: "unordered",
                    entry: p.clone(),
                    problem: "also listed under `keyed`; keep one".into(),
                });
                continue;
            }
            add("unordered", p, Action::Unordered, &mut problems);
        }
        for (p, key) in &self.keyed {
            if key.is_empty() {
                problems.push(RuleProblem {
                    field: "keyed",
                    entry: p.clone(),
                    problem: "the key field is empty; name the field that identifies an element"
                        .into(),
                });
                continue;
            }
            add("keyed", p, Action::Keyed(key.clone()), &mut problems);
        }
        for (p, &tolerance) in &self.numeric_tolerance {
            if !tolerance.is_finite() || tolerance < 0.0 {
                problems.push(RuleProblem {
                    field: "numeric_tolerance",
                    entry: p.clone(),
                    problem: format!("{tolerance} is not a tolerance; use a number >= 0"),
                });
                continue;
            }
            add(
                "numeric_tolerance",
                p,
                Action::Tolerance(tolerance),
                &mut problems,
            );
        }
        let mut check_header = |field, name: &str| {
            let valid = http::HeaderName::from_bytes(name.as_bytes()).is_ok();
            if !valid {
                problems.push(RuleProblem {
                    field,
                    entry: name.to_owned(),
                    problem: "not a header name".into(),
                });
            }
            valid
        };
        let compare: HashSet<String> = (self.headers.compare.iter())
            .filter(|h| check_header("headers.compare", h))
            .map(|h| h.to_ascii_lowercase())
            .collect();
        set.ignored_headers = (DEFAULT_IGNORED_HEADERS.iter())
            .map(|h| (*h).to_owned())
            .filter(|h| !compare.contains(h))
            .collect();
        for h in &self.headers.ignore {
            if check_header("headers.ignore", h) {
                set.ignored_headers.insert(h.to_ascii_lowercase());
            }
        }
        if problems.is_empty() {
            Ok(set)
        } else {
            Err(RulesError { problems })
        }
    }
}

#[cfg(test)]
mod tests;
