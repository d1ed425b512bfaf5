//! The proxy's side of comparing a shadowed pair: the one place that decides
//! how two captured answers are judged.
//!
//! For now: the status (a class change is high severity), then the body bytes
//! exactly. A body over the route's cap is not comparable and counts as
//! unanalysed, never as equal.

use std::sync::Arc;

use crate::config::ProxyConfig;
use crate::shadow::Captured;
use crate::shadow_results::{Comparator, Difference, Severity, Verdict};

/// The comparator for a configuration's routes.
pub(crate) fn comparator(_config: &ProxyConfig) -> Comparator {
    Arc::new(|_route: &str, legacy: &Captured, candidate: &Captured| exact(legacy, candidate))
}

fn exact(legacy: &Captured, candidate: &Captured) -> Verdict {
    let mut differences = Vec::new();
    if legacy.status != candidate.status {
        let class_changed = legacy.status.as_u16() / 100 != candidate.status.as_u16() / 100;
        differences.push(Difference {
            path: "status".into(),
            kind: "value_changed".into(),
            severity: if class_changed {
                Severity::High
            } else {
                Severity::Medium
            },
        });
    }
    if legacy.truncated || candidate.truncated {
        return if differences.is_empty() {
            Verdict::Unanalysed("a body is over the route's shadow.max_body_bytes".into())
        } else {
            Verdict::Different(differences)
        };
    }
    if legacy.body != candidate.body {
        differences.push(Difference {
            path: "body".into(),
            kind: "value_changed".into(),
            severity: Severity::Medium,
        });
    }
    if differences.is_empty() {
        Verdict::Equal
    } else {
        Verdict::Different(differences)
    }
}
