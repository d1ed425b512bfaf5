//! Comparing two exchanges: status, then headers, then body.

use serde_json::Value;

use crate::exchange::Exchange;
use crate::report::{Comparison, DiffKind, Difference, Severity};
use crate::rules::RuleSet;
use crate::{body, headers};

/// Compares a candidate's answer with the legacy one under a route's rules.
///
/// The status is always compared (a change of class, `2xx` → `5xx`, is high
/// severity); with `status_only` nothing else is. Headers are compared except
/// the ignored ones; bodies are decoded, then compared as JSON, text or bytes
/// by their content type. A body that cannot be decoded is listed in
/// [`Comparison::unanalysed`], never taken as equal.
pub fn compare(legacy: &Exchange, candidate: &Exchange, rules: &RuleSet) -> Comparison {
    let mut differences = Vec::new();
    let mut unanalysed = Vec::new();
    if legacy.status != candidate.status {
        let mut d = Difference::new(
            "status".into(),
            DiffKind::ValueChanged,
            Some(&Value::from(legacy.status)),
            Some(&Value::from(candidate.status)),
        );
        if legacy.status / 100 != candidate.status / 100 {
            d.severity = Severity::High;
        }
        differences.push(d);
    }
    if !rules.status_only {
        differences.extend(headers::compare(
            &legacy.headers,
            &candidate.headers,
            &rules.ignored_headers,
        ));
        body::compare(legacy, candidate, rules, &mut differences, &mut unanalysed);
    }
    Comparison::finish(differences, unanalysed)
}

#[cfg(test)]
mod tests;
