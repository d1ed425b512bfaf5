//! Judging a canary window's behaviour: the high-severity shadow differences
//! the proxies found on the domain's routes since the window began, from
//! each replica's `GET /shadow` (the JSON of `shadow report --format json`).
//! Totals since each proxy started, so a window is the difference of two
//! scrapes, as with the metrics.

use std::collections::BTreeMap;

use msa_playbook::verdict::Outcome as Gate;
use serde_json::Value;

/// One replica's shadow results for the domain's routes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct ShadowTally {
    /// Pairs compared.
    compared: u64,
    /// Pairs differing at each high-severity path not shown to be noise, by
    /// (route, path): what fails the readiness behaviour gate.
    high: BTreeMap<(String, String), u64>,
}

impl ShadowTally {
    /// The domain's routes in a shadow report.
    pub(super) fn from_report(report: &Value, routes: &[String]) -> Self {
        let mut tally = Self::default();
        for route in report["routes"].as_array().into_iter().flatten() {
            let Some(name) = route["route"].as_str() else {
                continue;
            };
            if !routes.iter().any(|r| r == name) {
                continue;
            }
            tally.compared += route["compared"].as_u64().unwrap_or(0);
            for path in route["paths"].as_array().into_iter().flatten() {
                // The readiness gate's rule (BehaviourEvidence::from_report):
                // high severity, and not noise by the baseline's measure.
                if path["severity"] != "high" || path["noise"]["verdict"] == "noise" {
                    continue;
                }
                if let Some(at) = path["path"].as_str() {
                    *tally
                        .high
                        .entry((name.to_owned(), at.to_owned()))
                        .or_default() += path["count"].as_u64().unwrap_or(0);
                }
            }
        }
        tally
    }

    /// What was added since `earlier`; a proxy restarted since (fewer pairs
    /// than then) counts from 0.
    fn since(&self, earlier: &Self) -> Self {
        if self.compared < earlier.compared {
            return self.clone();
        }
        Self {
            compared: self.compared - earlier.compared,
            high: self
                .high
                .iter()
                .map(|(key, count)| {
                    let before = earlier.high.get(key).copied().unwrap_or(0);
                    (key.clone(), count.saturating_sub(before))
                })
                .filter(|(_, added)| *added > 0)
                .collect(),
        }
    }

    fn add(&mut self, other: &Self) {
        self.compared += other.compared;
        for (key, count) in &other.high {
            *self.high.entry(key.clone()).or_default() += count;
        }
    }
}

/// The window so far: each replica's tally `now` since its `baseline`,
/// summed; and the errors of the replicas that could not be read.
pub(super) fn window(
    now: &[Result<ShadowTally, String>],
    baseline: &[Option<ShadowTally>],
) -> (ShadowTally, Vec<String>) {
    let mut sum = ShadowTally::default();
    let mut unreadable = Vec::new();
    for (i, scraped) in now.iter().enumerate() {
        match (scraped, baseline.get(i).and_then(Option::as_ref)) {
            (Ok(tally), Some(earlier)) => sum.add(&tally.since(earlier)),
            (Ok(tally), None) => sum.add(tally),
            (Err(err), _) => unreadable.push(err.clone()),
        }
    }
    (sum, unreadable)
}

/// A window's behaviour: a new high-severity difference fails it (beyond
/// doubt: one is a wrong answer a user got from the comparison's other
/// side); pairs without one pass; no pair at all is no data.
pub(super) fn judge(window: &ShadowTally) -> (Gate, String) {
    if !window.high.is_empty() {
        let found: Vec<String> = window
            .high
            .iter()
            .map(|((route, path), count)| format!("{route} {path} ({count})"))
            .collect();
        return (
            Gate::Fail,
            format!(
                "{} shadow pair(s), new high-severity difference(s) at {}",
                window.compared,
                found.join(", ")
            ),
        );
    }
    if window.compared == 0 {
        return (Gate::NoData, "no shadow pair compared".to_owned());
    }
    (
        Gate::Pass,
        format!(
            "{} shadow pair(s), no new high-severity difference",
            window.compared
        ),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn routes() -> Vec<String> {
        vec!["coupon-read".to_owned(), "user-coupons".to_owned()]
    }

    /// A report as `GET /shadow` serves it.
    fn report(compared: u64, discount: u64, noise: u64, other_domain: u64) -> Value {
        json!({"routes": [
            {"route": "coupon-read", "compared": compared, "paths": [
                {"path": "$.discountAmount", "severity": "high", "count": discount},
                {"path": "$.issuedAt", "severity": "high", "count": noise, "noise": {"verdict": "noise"}},
                {"path": "$.note", "severity": "low", "count": 7},
            ]},
            {"route": "order-read", "compared": 50, "paths": [
                {"path": "$.total", "severity": "high", "count": other_domain},
            ]},
        ]})
    }

    #[test]
    fn a_new_high_severity_difference_in_the_window_fails_it() {
        let before = ShadowTally::from_report(&report(100, 2, 5, 0), &routes());
        let clean = ShadowTally::from_report(&report(140, 2, 9, 3), &routes());
        let (sum, unreadable) = window(&[Ok(clean)], &[Some(before.clone())]);
        assert!(unreadable.is_empty());
        // Old differences, noise and another domain's routes do not count.
        let (outcome, said) = judge(&sum);
        assert_eq!(outcome, Gate::Pass, "{said}");
        assert_eq!(said, "40 shadow pair(s), no new high-severity difference");

        let worse = ShadowTally::from_report(&report(140, 4, 9, 3), &routes());
        let (outcome, said) = judge(&window(&[Ok(worse)], &[Some(before)]).0);
        assert_eq!(outcome, Gate::Fail, "{said}");
        assert_eq!(
            said,
            "40 shadow pair(s), new high-severity difference(s) at coupon-read $.discountAmount (2)"
        );
    }

    #[test]
    fn replicas_are_summed_and_a_window_without_pairs_is_no_data() {
        let at = |compared, discount| {
            Ok(ShadowTally::from_report(
                &report(compared, discount, 0, 0),
                &routes(),
            ))
        };
        let baseline = vec![
            Some(ShadowTally::from_report(&report(10, 0, 0, 0), &routes())),
            None,
            // Restarted since: fewer pairs than at the baseline, counted from 0.
            Some(ShadowTally::from_report(&report(500, 9, 0, 0), &routes())),
        ];
        let (sum, unreadable) = window(
            &[
                at(15, 0),
                at(3, 1),
                at(4, 0),
                Err("replica 4: refused".to_owned()),
            ],
            &baseline,
        );
        assert_eq!(sum.compared, 5 + 3 + 4);
        assert_eq!(
            sum.high,
            [(("coupon-read".to_owned(), "$.discountAmount".to_owned()), 1)].into()
        );
        assert_eq!(unreadable, ["replica 4: refused"]);
        assert_eq!(judge(&ShadowTally::default()).0, Gate::NoData);
    }
}
