//! Comparing a legacy response with a candidate's, as a strangler proxy's
//! shadow mode needs: pure functions over captured exchanges, no I/O.
//!
//! ```
//! use msa_shadow_compare::{Exchange, Rules, compare};
//!
//! let json = || {
//!     let mut h = http::HeaderMap::new();
//!     h.insert("content-type", "application/json".parse().unwrap());
//!     h
//! };
//! let legacy = Exchange::new(200, json(), r#"{"id":1,"discountAmount":1000}"#);
//! let candidate = Exchange::new(200, json(), r#"{"id":1,"discountAmount":"1000"}"#);
//!
//! let strict = compare(&legacy, &candidate, &Rules::default().resolve().unwrap());
//! assert_eq!(strict.differences[0].path, "$.discountAmount");
//!
//! let rules = Rules { string_number: true, ..Rules::default() };
//! assert!(compare(&legacy, &candidate, &rules.resolve().unwrap()).is_equal());
//! ```
//!
//! Rules are written as [`Rules`] (YAML in a playbook) and checked once with
//! [`Rules::resolve`] into a [`RuleSet`]; nothing is relaxed unless a rule says so.
#![deny(missing_docs)]

mod body;
mod compare;
mod decode;
mod exchange;
mod headers;
mod json;
mod path;
mod redact;
mod report;
mod rules;
mod templates;
mod text;
mod timestamp;

pub use compare::compare;
pub use decode::MAX_DECODED_BYTES;
pub use exchange::{Exchange, ParseError};
pub use redact::{REDACTED, RedactPaths, redact_headers, redact_json, redact_text};
pub use report::{Comparison, Counts, DiffKind, Difference, MAX_VALUE_CHARS, Severity};
pub use rules::{
    DEFAULT_IGNORED_HEADERS, HeaderRules, RuleProblem, RuleSet, Rules, RulesError, TimestampRule,
};
pub use templates::{Template, fit_template, infer_each, infer_templates, template_of};
