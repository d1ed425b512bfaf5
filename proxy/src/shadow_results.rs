//! What shadow traffic found, per route and per field path: counts only, no
//! body values, so no personal data is kept. Served by the admin API
//! (`GET /shadow`) and counted in metrics.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arc_swap::ArcSwap;
use http::Method;
use parking_lot::Mutex;
use serde::Serialize;
use serde_json::{Value, json};

use crate::metrics::Metrics;
use crate::shadow::{Captured, ShadowSink};

pub use msa_shadow_compare::Severity;

/// One difference between the two answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// Where: `status`, a header, `$.items[2].price`.
    pub path: String,
    /// What: `missing`, `extra`, `type_changed`, `value_changed`, `order_only`.
    pub kind: String,
    /// How much it matters.
    pub severity: Severity,
}

/// The outcome of comparing one pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Equal under the route's rules.
    Equal,
    /// These differences.
    Different(Vec<Difference>),
    /// The content could not be compared (a type it cannot read, a truncated body).
    Unanalysed(String),
}

/// Compares a pair under a route's rules.
pub type Comparator = Arc<dyn Fn(&str, &Captured, &Captured) -> Verdict + Send + Sync>;

#[derive(Debug, Default, Serialize)]
struct PathCount {
    kind: String,
    severity: Option<Severity>,
    count: u64,
}

#[derive(Debug, Default)]
struct RouteResults {
    compared: u64,
    equal: u64,
    by_severity: BTreeMap<&'static str, u64>,
    unanalysed: u64,
    candidate_failed: u64,
    skipped: BTreeMap<&'static str, u64>,
    /// `(path, kind)` → count.
    paths: BTreeMap<(String, String), PathCount>,
}

/// The sink that compares and aggregates.
pub struct ShadowResults {
    routes: Mutex<HashMap<String, RouteResults>>,
    /// Swapped when a reload brings new rules.
    compare: ArcSwap<Comparator>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for ShadowResults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShadowResults").finish_non_exhaustive()
    }
}

impl ShadowResults {
    /// Aggregates what `compare` finds.
    pub fn new(compare: Comparator, metrics: Arc<Metrics>) -> Self {
        Self {
            routes: Mutex::new(HashMap::new()),
            compare: ArcSwap::from_pointee(compare),
            metrics,
        }
    }

    /// Compares from now on with `compare` (a reload's rules).
    pub fn set_comparator(&self, compare: Comparator) {
        self.compare.store(Arc::new(compare));
    }

    /// Per route: counts, the match rate with its 95% Wilson lower bound, and
    /// the differing paths, most frequent first.
    pub fn report(&self) -> Value {
        let routes = self.routes.lock();
        let mut names: Vec<&String> = routes.keys().collect();
        names.sort();
        let list: Vec<Value> = names
            .into_iter()
            .map(|name| {
                let r = &routes[name];
                let mut paths: Vec<(&(String, String), &PathCount)> = r.paths.iter().collect();
                paths.sort_by(|a, b| b.1.count.cmp(&a.1.count).then_with(|| a.0.cmp(b.0)));
                let paths: Vec<Value> = paths
                    .into_iter()
                    .map(|((path, _), c)| json!({ "path": path, "kind": c.kind, "severity": c.severity, "count": c.count }))
                    .collect();
                json!({
                    "route": name,
                    "compared": r.compared,
                    "equal": r.equal,
                    "different": r.by_severity,
                    "unanalysed": r.unanalysed,
                    "candidate_failed": r.candidate_failed,
                    "skipped": r.skipped,
                    "match_rate": rate(r.equal, r.compared),
                    "match_rate_lower_95": wilson_lower(r.equal, r.compared),
                    "paths": paths,
                })
            })
            .collect();
        json!({ "routes": list })
    }
}

impl ShadowSink for ShadowResults {
    fn record(
        &self,
        route: &str,
        _method: &Method,
        _path: &str,
        legacy: Captured,
        candidate: Result<Captured, String>,
    ) {
        let verdict = match &candidate {
            Err(_) => None,
            Ok(candidate) => Some((self.compare.load())(route, &legacy, candidate)),
        };
        let outcome = match &verdict {
            None => "candidate_failed",
            Some(Verdict::Equal) => "equal",
            Some(Verdict::Different(_)) => "different",
            Some(Verdict::Unanalysed(_)) => "unanalysed",
        };
        self.metrics.shadow(route, outcome);
        let mut routes = self.routes.lock();
        let r = routes.entry(route.to_owned()).or_default();
        match verdict {
            None => r.candidate_failed += 1,
            Some(Verdict::Unanalysed(_)) => r.unanalysed += 1,
            Some(Verdict::Equal) => {
                r.compared += 1;
                r.equal += 1;
            }
            Some(Verdict::Different(differences)) => {
                r.compared += 1;
                let worst = differences
                    .iter()
                    .map(|d| d.severity)
                    .max()
                    .unwrap_or(Severity::Low);
                *r.by_severity.entry(severity_name(worst)).or_default() += 1;
                for d in differences {
                    let count = r.paths.entry((d.path, d.kind.clone())).or_default();
                    count.kind = d.kind;
                    count.severity = Some(d.severity);
                    count.count += 1;
                }
            }
        }
    }

    fn skipped(&self, route: &str, reason: &'static str) {
        self.metrics.shadow(route, reason);
        *self
            .routes
            .lock()
            .entry(route.to_owned())
            .or_default()
            .skipped
            .entry(reason)
            .or_default() += 1;
    }
}

fn severity_name(severity: Severity) -> &'static str {
    match severity {
        Severity::Low => "low",
        Severity::Medium => "medium",
        Severity::High => "high",
    }
}

fn rate(successes: u64, trials: u64) -> Option<f64> {
    (trials > 0).then(|| successes as f64 / trials as f64)
}

/// The lower end of the 95% Wilson score interval: how low the true match rate
/// may plausibly be, given few samples (100% of 3 is not 100% of 3,000).
pub fn wilson_lower(successes: u64, trials: u64) -> Option<f64> {
    if trials == 0 {
        return None;
    }
    let (n, z) = (trials as f64, 1.959_963_984_540_054_f64);
    let p = successes as f64 / n;
    let centre = p + z * z / (2.0 * n);
    let margin = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    Some((centre - margin) / (1.0 + z * z / n))
}

#[cfg(test)]
mod tests {
    use super::wilson_lower;

    #[test]
    fn the_wilson_bound_is_humble_with_few_samples() {
        assert_eq!(wilson_lower(0, 0), None);
        let three = wilson_lower(3, 3).unwrap();
        let thousands = wilson_lower(3_000, 3_000).unwrap();
        assert!(three < 0.5, "3 of 3 proves little: {three}");
        assert!(thousands > 0.998, "3000 of 3000 proves a lot: {thousands}");
        let half = wilson_lower(50, 100).unwrap();
        assert!((0.40..0.41).contains(&half), "{half}");
    }
}
