//! The proxy's side of comparing a shadowed pair: picks the route's rules and
//! asks `msa-shadow-compare`, then keeps only what the aggregate needs (paths,
//! kinds, severities: no values, so no personal data).

use std::collections::HashMap;
use std::sync::Arc;

use msa_shadow_compare::{Exchange, REDACTED, RedactPaths, RuleSet, compare, redact_json};
use serde_json::Value;

use crate::config::ProxyConfig;
use crate::shadow::Captured;
use crate::shadow_results::{Comparator, Difference, Verdict};

/// The comparator for a configuration's routes, each with its own rules.
pub(crate) fn comparator(config: &ProxyConfig) -> Comparator {
    let routes: HashMap<String, (Arc<RuleSet>, Arc<RedactPaths>)> = config
        .routes
        .iter()
        .map(|route| {
            (
                route.name.clone(),
                (
                    Arc::clone(&route.shadow.rules),
                    Arc::clone(&route.shadow.redact),
                ),
            )
        })
        .collect();
    let fallback = (
        Arc::new(RuleSet::default()),
        Arc::new(RedactPaths::default()),
    );
    Arc::new(
        move |route: &str, legacy: &Captured, candidate: &Captured| {
            let (rules, redact) = routes.get(route).unwrap_or(&fallback);
            verdict(
                &compare(&exchange(legacy), &exchange(candidate), rules),
                redact,
            )
        },
    )
}

fn exchange(captured: &Captured) -> Exchange {
    Exchange {
        status: captured.status.as_u16(),
        headers: captured.every_header(),
        body: captured.body.clone(),
        truncated: captured.truncated,
    }
}

fn verdict(comparison: &msa_shadow_compare::Comparison, redact: &RedactPaths) -> Verdict {
    if comparison.differences.is_empty() {
        return match comparison.unanalysed.first() {
            None => Verdict::Equal,
            Some(why) => Verdict::Unanalysed(why.clone()),
        };
    }
    let differences = comparison
        .differences
        .iter()
        .map(|d| Difference {
            path: d.path.clone(),
            kind: serde_json::to_value(d.kind)
                .ok()
                .and_then(|kind| kind.as_str().map(str::to_owned))
                .unwrap_or_else(|| format!("{:?}", d.kind)),
            severity: d.severity,
            hint: crate::hints::hint(d),
            // Examples keep the values, so personal data is masked before anything is kept.
            legacy: d.legacy.as_ref().map(|v| redacted(&d.path, v, redact)),
            candidate: d.candidate.as_ref().map(|v| redacted(&d.path, v, redact)),
        })
        .collect();
    Verdict::Different(differences)
}

/// A value taken out of its document at `path`: replaced whole when a
/// configured path covers it, else with personal-data patterns masked inside.
fn redacted(path: &str, value: &Value, redact: &RedactPaths) -> Value {
    if redact.covers(path) {
        Value::from(REDACTED)
    } else {
        redact_json(value, redact)
    }
}
