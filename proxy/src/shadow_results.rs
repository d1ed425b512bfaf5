//! What shadow traffic found, per route and per field path: counts only, no
//! body values, so no personal data is kept. Served by the admin API
//! (`GET /shadow`) and counted in metrics.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use arc_swap::ArcSwap;
use http::Method;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
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
    /// What the two values suggest (`string_number`, `timestamps`, `volatile`, …).
    pub hint: Option<&'static str>,
    /// The legacy value, shortened and with personal data masked.
    pub legacy: Option<Value>,
    /// The candidate's value, shortened and with personal data masked.
    pub candidate: Option<Value>,
}

/// How many examples a path keeps.
const EXAMPLES_PER_PATH: usize = 3;

/// One kept example of a difference: both values, redacted.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct Example {
    legacy: Option<Value>,
    candidate: Option<Value>,
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

/// Most distinct (path, kind) pairs kept per route; the rest are counted in
/// `other_paths`, so a route whose paths carry ids cannot grow without bound.
const MAX_PATHS_PER_ROUTE: usize = 1_000;

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(default)]
struct PathCount {
    path: String,
    kind: String,
    severity: Option<Severity>,
    count: u64,
    /// Of `count`, differences in requests that also had a baseline answer.
    with_baseline: u64,
    /// Of those, differences where the baseline agreed with legacy at this path.
    real: u64,
    /// Hints from the values' shapes, counted (see `hints.rs`).
    hints: BTreeMap<String, u64>,
    /// A uniform sample (reservoir) of redacted examples.
    examples: Vec<Example>,
}

/// One route's aggregate; also its stored form.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct RouteResults {
    compared: u64,
    equal: u64,
    by_severity: BTreeMap<String, u64>,
    unanalysed: u64,
    candidate_failed: u64,
    skipped: BTreeMap<String, u64>,
    /// `(path, kind)` → count; stored as a list.
    #[serde(with = "path_list")]
    paths: BTreeMap<(String, String), PathCount>,
    other_paths: u64,
    /// Compared pairs that also had a baseline (legacy vs legacy) answer.
    with_baseline: u64,
    /// Per path, how many of those baseline answers differed from legacy there.
    baseline_paths: BTreeMap<String, u64>,
    /// Pairs that differed only where the baseline differed too.
    noise_only: u64,
    /// Request paths seen (distinct, at most `MAX_PATHS_PER_ROUTE`), for
    /// inferring the route's templates when its configuration is a prefix.
    observed: BTreeMap<String, u64>,
}

impl RouteResults {
    /// Adds another aggregate of the same route (one restored from the store).
    pub(crate) fn absorb(&mut self, other: RouteResults) {
        self.compared += other.compared;
        self.equal += other.equal;
        self.unanalysed += other.unanalysed;
        self.candidate_failed += other.candidate_failed;
        self.other_paths += other.other_paths;
        self.with_baseline += other.with_baseline;
        self.noise_only += other.noise_only;
        for (path, n) in other.observed {
            *self.observed.entry(path).or_default() += n;
        }
        for (k, v) in other.baseline_paths {
            *self.baseline_paths.entry(k).or_default() += v;
        }
        for (k, v) in other.by_severity {
            *self.by_severity.entry(k).or_default() += v;
        }
        for (k, v) in other.skipped {
            *self.skipped.entry(k).or_default() += v;
        }
        for (key, theirs) in other.paths {
            let mine = self.paths.entry(key).or_insert_with(|| PathCount {
                count: 0,
                with_baseline: 0,
                real: 0,
                hints: BTreeMap::new(),
                ..theirs.clone()
            });
            mine.count += theirs.count;
            mine.with_baseline += theirs.with_baseline;
            mine.real += theirs.real;
            for (hint, n) in theirs.hints {
                *mine.hints.entry(hint).or_default() += n;
            }
        }
    }

    /// The report entry for this route; with a noise baseline, each path has
    /// the statistical verdict of [`crate::noise::decide`].
    pub(crate) fn report(&self, name: &str) -> Value {
        let mut paths: Vec<&PathCount> = self.paths.values().collect();
        paths.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.path.cmp(&b.path)));
        let paths: Vec<Value> = paths
            .into_iter()
            .map(|p| {
                let mut entry = json!({
                    "path": p.path, "kind": p.kind, "severity": p.severity, "count": p.count,
                    "hints": p.hints, "examples": p.examples,
                });
                let baseline = self.baseline_paths.get(&p.path).copied().unwrap_or(0);
                if let Some(decision) =
                    crate::noise::decide(p.with_baseline, baseline, self.with_baseline)
                {
                    entry["noise"] = json!(decision);
                    entry["real"] = json!(p.real);
                }
                entry
            })
            .collect();
        json!({
            "route": name,
            "compared": self.compared,
            "equal": self.equal,
            "different": self.by_severity,
            "unanalysed": self.unanalysed,
            "candidate_failed": self.candidate_failed,
            "skipped": self.skipped,
            "match_rate": rate(self.equal, self.compared),
            "match_rate_lower_95": wilson_lower(self.equal, self.compared),
            "with_baseline": self.with_baseline,
            "noise_only": self.noise_only,
            "match_rate_excluding_noise": (self.with_baseline > 0).then(|| rate(self.equal + self.noise_only, self.compared)).flatten(),
            "paths": paths,
            "other_paths": self.other_paths,
            "templates": msa_shadow_compare::infer_templates(self.observed.keys().map(String::as_str)),
        })
    }
}

mod path_list {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::PathCount;

    pub(super) fn serialize<S: Serializer>(
        paths: &BTreeMap<(String, String), PathCount>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        paths.values().collect::<Vec<_>>().serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<(String, String), PathCount>, D::Error> {
        let list = Vec::<PathCount>::deserialize(d)?;
        Ok(list
            .into_iter()
            .map(|p| ((p.path.clone(), p.kind.clone()), p))
            .collect())
    }
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
            .map(|name| routes[name].report(name))
            .collect();
        json!({ "routes": list })
    }

    /// Every route's aggregate, for the store.
    pub(crate) fn snapshot(&self) -> Vec<(String, RouteResults)> {
        self.routes
            .lock()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Adds aggregates restored from the store.
    pub(crate) fn restore(&self, stored: Vec<(String, RouteResults)>) {
        let mut routes = self.routes.lock();
        for (name, results) in stored {
            routes.entry(name).or_default().absorb(results);
        }
    }
}

impl ShadowSink for ShadowResults {
    fn record(
        &self,
        route: &str,
        _method: &Method,
        path: &str,
        legacy: Captured,
        candidate: Result<Captured, String>,
        baseline: Option<Result<Captured, String>>,
    ) {
        let compare = self.compare.load();
        let verdict = candidate
            .as_ref()
            .ok()
            .map(|candidate| compare(route, &legacy, candidate));
        // Where a second legacy instance differs from the first on this very
        // request: noise, for this request.
        let noise: Option<HashSet<String>> = match (&verdict, &baseline) {
            (Some(Verdict::Equal | Verdict::Different(_)), Some(Ok(baseline))) => {
                Some(match compare(route, &legacy, baseline) {
                    Verdict::Different(differences) => {
                        differences.into_iter().map(|d| d.path).collect()
                    }
                    Verdict::Equal | Verdict::Unanalysed(_) => HashSet::new(),
                })
            }
            _ => None,
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
        if r.observed.len() < MAX_PATHS_PER_ROUTE || r.observed.contains_key(path) {
            *r.observed.entry(path.to_owned()).or_default() += 1;
        }
        if let Some(noise) = &noise {
            r.with_baseline += 1;
            for path in noise {
                if r.baseline_paths.len() < MAX_PATHS_PER_ROUTE
                    || r.baseline_paths.contains_key(path)
                {
                    *r.baseline_paths.entry(path.clone()).or_default() += 1;
                }
            }
        }
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
                *r.by_severity
                    .entry(severity_name(worst).to_owned())
                    .or_default() += 1;
                if noise
                    .as_ref()
                    .is_some_and(|n| differences.iter().all(|d| n.contains(&d.path)))
                {
                    r.noise_only += 1;
                }
                for d in differences {
                    let real = noise.as_ref().map(|n| !n.contains(&d.path));
                    let key = (d.path, d.kind);
                    if r.paths.len() >= MAX_PATHS_PER_ROUTE && !r.paths.contains_key(&key) {
                        r.other_paths += 1;
                        continue;
                    }
                    let count = r.paths.entry(key.clone()).or_insert_with(|| PathCount {
                        path: key.0,
                        kind: key.1,
                        severity: Some(d.severity),
                        ..PathCount::default()
                    });
                    count.count += 1;
                    keep_example(
                        &mut count.examples,
                        count.count,
                        Example {
                            legacy: d.legacy,
                            candidate: d.candidate,
                        },
                    );
                    if let Some(hint) = d.hint {
                        *count.hints.entry(hint.to_owned()).or_default() += 1;
                    }
                    if let Some(real) = real {
                        count.with_baseline += 1;
                        count.real += u64::from(real);
                    }
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
            .entry(reason.to_owned())
            .or_default() += 1;
    }
}

/// Reservoir sampling: after `seen` differences, each has had the same chance
/// to be among the kept examples.
fn keep_example(examples: &mut Vec<Example>, seen: u64, example: Example) {
    if examples.len() < EXAMPLES_PER_PATH {
        examples.push(example);
    } else if let Ok(slot) = usize::try_from(fastrand::u64(0..seen))
        && slot < EXAMPLES_PER_PATH
    {
        examples[slot] = example;
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
    use std::path::Path;
    use std::sync::Arc;

    use http::{HeaderMap, Method, StatusCode};

    use super::{PathCount, RouteResults, ShadowResults, wilson_lower};
    use crate::metrics::Metrics;
    use crate::shadow::{Captured, ShadowSink};

    fn answer(body: &str) -> Captured {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", "application/json".parse().unwrap());
        Captured {
            status: StatusCode::OK,
            headers,
            body: body.to_owned().into(),
            truncated: false,
            elapsed: std::time::Duration::ZERO,
        }
    }

    #[test]
    fn kept_examples_never_hold_personal_data() {
        let yaml = "listen: 127.0.0.1:0\nlegacy: l\nupstreams:\n  l:\n    endpoints: [127.0.0.1:1]\nroutes:\n  - name: users\n    prefix: /api/users\n    upstream: l\n    mode: shadow\n    shadow:\n      redact: [\"$.name\"]\n";
        let config = crate::config::parse(Path::new("t.yaml"), yaml).unwrap();
        let results = ShadowResults::new(
            crate::compare::comparator(&config),
            Arc::new(Metrics::new()),
        );
        let legacy = answer(
            r#"{"name":"Kim Minjun","email":"kim@example.com","phone":"010-1234-5678","tier":1}"#,
        );
        let candidate = answer(
            r#"{"name":"Kim Min-jun","email":"minjun.kim@example.com","phone":"01098765432","tier":2}"#,
        );
        results.record(
            "users",
            &Method::GET,
            "/api/users/1",
            legacy,
            Ok(candidate),
            None,
        );
        let report = results.report().to_string();
        for secret in ["Kim", "kim@example.com", "minjun", "1234-5678", "98765432"] {
            assert!(!report.contains(secret), "`{secret}` was kept: {report}");
        }
        for mask in ["[redacted]", "[email]", "[phone]"] {
            assert!(report.contains(mask), "no `{mask}` in {report}");
        }
        assert!(
            report.contains(r#""legacy":1"#) && report.contains(r#""candidate":2"#),
            "other values are kept: {report}"
        );
    }

    #[test]
    fn restoring_into_existing_counts_adds_every_field() {
        let mut path = PathCount {
            path: "$.a".into(),
            kind: "value_changed".into(),
            count: 2,
            with_baseline: 2,
            real: 1,
            ..PathCount::default()
        };
        path.hints.insert("volatile".into(), 2);
        let mut stored = RouteResults {
            compared: 2,
            with_baseline: 2,
            ..RouteResults::default()
        };
        stored
            .paths
            .insert(("$.a".into(), "value_changed".into()), path);
        let mut live = stored.clone();
        live.absorb(stored);
        let merged = &live.paths[&("$.a".to_owned(), "value_changed".to_owned())];
        assert_eq!((live.compared, live.with_baseline), (4, 4));
        assert_eq!(
            (
                merged.count,
                merged.with_baseline,
                merged.real,
                merged.hints["volatile"]
            ),
            (4, 4, 2, 4)
        );
    }

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
