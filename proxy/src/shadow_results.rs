//! What shadow traffic found, per route, per template and per field path:
//! counts, and a few redacted examples per field. Served by the admin API
//! (`GET /shadow`) and counted in metrics.
//!
//! A route's pairs are also counted per template (method and path pattern),
//! so a regression on `POST /api/coupons/{id}/issue` is not hidden by
//! thousands of clean `GET /api/coupons/{id}`. A route's configured `path` is
//! its template; a `prefix` route's templates are inferred from the paths it
//! sees (`msa_shadow_compare::infer_each`). A path that fits a template known
//! already is counted there at once (`fit_template`); one of a new shape is
//! kept among the route's observed paths and the templates inferred again,
//! and a template that more paths generalise (`/api/coupons/WELCOME10` once
//! `/api/coupons/SPRING24` came too: `/api/coupons/{id}`) takes the counts it
//! had along. Everything is capped per route, the overflow counted as `other`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;
use http::Method;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::metrics::Metrics;
use crate::shadow::{Captured, ShadowSink};
use crate::shadow_skips::PendingSkips;

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
/// Most distinct (path, kind) pairs kept per template: a route's templates
/// share its bound in spirit, so each keeps fewer.
const MAX_PATHS_PER_TEMPLATE: usize = 100;
/// Most templates kept per route; pairs of any further one are counted under
/// [`OTHER`], so a prefix route over endless distinct paths stays bounded.
const MAX_TEMPLATES_PER_ROUTE: usize = 64;
/// Most request paths kept per route for inferring its templates. Only paths
/// that fit no template known yet are kept, so ids do not use them up.
const MAX_OBSERVED_PER_ROUTE: usize = 1_000;
/// The template key of pairs beyond [`MAX_TEMPLATES_PER_ROUTE`] or
/// [`MAX_OBSERVED_PER_ROUTE`]. A real key starts with a method, never this.
const OTHER: &str = "other";

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

/// What a set of pairs showed: a route's, or one template's under it.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Tally {
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
}

impl Tally {
    /// Counts one pair: `verdict` is `None` when the new service gave no
    /// answer; `noise` the paths where the baseline differed from legacy on
    /// this very request, when there was a baseline answer.
    fn count(&mut self, verdict: Option<&Verdict>, noise: Option<&HashSet<String>>, max: usize) {
        if let Some(noise) = noise {
            self.with_baseline += 1;
            for path in noise {
                if self.baseline_paths.len() < max || self.baseline_paths.contains_key(path) {
                    *self.baseline_paths.entry(path.clone()).or_default() += 1;
                }
            }
        }
        match verdict {
            None => self.candidate_failed += 1,
            Some(Verdict::Unanalysed(_)) => self.unanalysed += 1,
            Some(Verdict::Equal) => {
                self.compared += 1;
                self.equal += 1;
            }
            Some(Verdict::Different(differences)) => {
                self.compared += 1;
                let worst = differences
                    .iter()
                    .map(|d| d.severity)
                    .max()
                    .unwrap_or(Severity::Low);
                *self
                    .by_severity
                    .entry(severity_name(worst).to_owned())
                    .or_default() += 1;
                if noise.is_some_and(|n| differences.iter().all(|d| n.contains(&d.path))) {
                    self.noise_only += 1;
                }
                for d in differences {
                    let real = noise.map(|n| !n.contains(&d.path));
                    let key = (d.path.clone(), d.kind.clone());
                    if self.paths.len() >= max && !self.paths.contains_key(&key) {
                        self.other_paths += 1;
                        continue;
                    }
                    let count = self.paths.entry(key).or_insert_with(|| PathCount {
                        path: d.path.clone(),
                        kind: d.kind.clone(),
                        severity: Some(d.severity),
                        ..PathCount::default()
                    });
                    count.count += 1;
                    keep_example(&mut count.examples, count.count, || Example {
                        legacy: d.legacy.clone(),
                        candidate: d.candidate.clone(),
                    });
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

    /// Adds another tally of the same pairs' kind (one restored from the
    /// store, another replica's, or a template generalised into this one).
    fn absorb(&mut self, other: Tally) {
        self.compared += other.compared;
        self.equal += other.equal;
        self.unanalysed += other.unanalysed;
        self.candidate_failed += other.candidate_failed;
        self.other_paths += other.other_paths;
        self.with_baseline += other.with_baseline;
        self.noise_only += other.noise_only;
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
                examples: Vec::new(),
                ..theirs.clone()
            });
            mine.count += theirs.count;
            mine.with_baseline += theirs.with_baseline;
            mine.real += theirs.real;
            for (hint, n) in theirs.hints {
                *mine.hints.entry(hint).or_default() += n;
            }
            for example in theirs.examples {
                if mine.examples.len() < EXAMPLES_PER_PATH {
                    mine.examples.push(example);
                }
            }
        }
    }

    /// The report's fields for these pairs; with a noise baseline, each path
    /// has the statistical verdict of [`crate::noise::decide`].
    fn report(&self) -> serde_json::Map<String, Value> {
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
        let fields = json!({
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
        });
        match fields {
            Value::Object(fields) => fields,
            _ => unreachable!("an object literal"),
        }
    }
}

/// One template's pairs under a route.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(default)]
struct TemplateTally {
    /// Inferred from the paths seen, so re-keyed when more paths generalise
    /// it; a template the configuration gives is never re-keyed.
    inferred: bool,
    #[serde(flatten)]
    tally: Tally,
}

/// What inference learnt from a route's observed paths; rebuilt from them,
/// never stored.
#[derive(Debug, Default, Clone)]
struct Learnt {
    /// Each observed path's template.
    of: HashMap<String, String>,
    /// The templates, sorted.
    patterns: Vec<String>,
}

impl Learnt {
    fn from_observed(observed: &BTreeMap<String, u64>) -> Self {
        let paths: Vec<&str> = observed.keys().map(String::as_str).collect();
        let each = msa_shadow_compare::infer_each(paths.iter().copied());
        let mut patterns: Vec<String> = each.clone();
        patterns.sort();
        patterns.dedup();
        Self {
            of: paths.into_iter().map(str::to_owned).zip(each).collect(),
            patterns,
        }
    }
}

/// One route's aggregate; also its stored form.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct RouteResults {
    /// Every pair of the route.
    #[serde(flatten)]
    total: Tally,
    /// Request paths that taught a template (distinct, at most
    /// `MAX_OBSERVED_PER_ROUTE`), with how often each was seen: what the
    /// templates of a route without configured ones are inferred from.
    observed: BTreeMap<String, u64>,
    /// Per template (`GET /api/coupons/{id}`: method, then pattern), the same
    /// counts; [`OTHER`] beyond the cap. Empty in stores written before
    /// templates were counted.
    templates: BTreeMap<String, TemplateTally>,
    #[serde(skip)]
    learnt: Option<Learnt>,
}

/// Where a pair goes: a template key, and whether it was inferred.
enum Placed {
    Template(String, bool),
    /// Not known without learning, which a skip does not do.
    Unknown,
}

impl RouteResults {
    /// Adds another aggregate of the same route (one restored from the store,
    /// or another replica's); templates one of them had not generalised yet
    /// are merged into the general one.
    pub(crate) fn absorb(&mut self, other: RouteResults) {
        self.total.absorb(other.total);
        for (path, n) in other.observed {
            *self.observed.entry(path).or_default() += n;
        }
        for (key, theirs) in other.templates {
            let mine = self.templates.entry(key).or_default();
            mine.inferred |= theirs.inferred;
            mine.tally.absorb(theirs.tally);
        }
        self.relearn();
    }

    /// Infers the templates again from the observed paths, and merges each
    /// inferred template that is now generalised (`/api/coupons/WELCOME10`
    /// once `/api/coupons/SPRING24` was seen too) into its general form, so
    /// no pair's counts are lost or counted twice.
    fn relearn(&mut self) {
        let learnt = Learnt::from_observed(&self.observed);
        let stale: Vec<(String, String)> = self
            .templates
            .iter()
            .filter(|(_, t)| t.inferred)
            .filter_map(|(key, _)| {
                let (method, pattern) = key.split_once(' ')?;
                if learnt
                    .patterns
                    .binary_search_by(|p| p.as_str().cmp(pattern))
                    .is_ok()
                {
                    return None;
                }
                let general = msa_shadow_compare::template_of(pattern, &learnt.patterns)?;
                Some((key.clone(), format!("{method} {general}")))
            })
            .collect();
        for (from, to) in stale {
            if let Some(moved) = self.templates.remove(&from) {
                let into = self.templates.entry(to).or_default();
                into.inferred = true;
                into.tally.absorb(moved.tally);
            }
        }
        self.learnt = Some(learnt);
    }

    /// The template a request falls under: the configured one (`fixed`), or
    /// one inferred from the paths seen; a path of a new shape is observed
    /// and the templates inferred again (`learn`), or, when the route has
    /// seen too many shapes or holds too many templates, it is [`OTHER`].
    fn place(&mut self, method: &Method, path: &str, fixed: Option<&str>, learn: bool) -> Placed {
        let (pattern, inferred) = match fixed {
            Some(pattern) => (Some(pattern.to_owned()), false),
            None => (self.inferred_pattern(path, learn), true),
        };
        let Some(pattern) = pattern else {
            return if learn {
                Placed::Template(OTHER.to_owned(), false)
            } else {
                Placed::Unknown
            };
        };
        let key = format!("{method} {pattern}");
        let kept = self.templates.len() - usize::from(self.templates.contains_key(OTHER));
        if self.templates.contains_key(&key) || kept < MAX_TEMPLATES_PER_ROUTE {
            Placed::Template(key, inferred)
        } else {
            Placed::Template(OTHER.to_owned(), false)
        }
    }

    /// The inferred template of `path`; `None` past the observed paths' cap
    /// (or, without `learn`, for a path of a new shape).
    fn inferred_pattern(&mut self, path: &str, learn: bool) -> Option<String> {
        if self.learnt.is_none() {
            self.relearn();
        }
        let learnt = self.learnt.as_ref()?;
        if let Some(pattern) = learnt.of.get(path) {
            let pattern = pattern.clone();
            if let Some(seen) = self.observed.get_mut(path) {
                *seen += 1;
            }
            return Some(pattern);
        }
        if let Some(pattern) = msa_shadow_compare::fit_template(path, &learnt.patterns) {
            return Some(pattern.to_owned());
        }
        if !learn {
            return None;
        }
        if self.observed.len() >= MAX_OBSERVED_PER_ROUTE {
            self.compact_observed();
            if self.observed.len() >= MAX_OBSERVED_PER_ROUTE {
                return None;
            }
        }
        self.observed.insert(path.to_owned(), 1);
        self.relearn();
        self.learnt.as_ref()?.of.get(path).cloned()
    }

    /// Keeps a few observed paths per template, the most seen: enough for
    /// the inference to reach the same templates again (two varying codes
    /// make `{id}`), and room for paths of new shapes. Stores written before
    /// templates were counted kept every path, ids too, up to the cap.
    fn compact_observed(&mut self) {
        const KEPT_PER_TEMPLATE: usize = 4;
        let Some(learnt) = &self.learnt else {
            return;
        };
        let mut by_template: HashMap<&str, Vec<(&String, u64)>> = HashMap::new();
        for (path, seen) in &self.observed {
            if let Some(pattern) = learnt.of.get(path) {
                by_template.entry(pattern).or_default().push((path, *seen));
            }
        }
        let mut kept = BTreeMap::new();
        for mut paths in by_template.into_values() {
            paths.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
            for (path, seen) in paths.into_iter().take(KEPT_PER_TEMPLATE) {
                kept.insert(path.clone(), seen);
            }
        }
        self.observed = kept;
        self.relearn();
    }

    /// Counts a pair under the route and under its template.
    fn count(
        &mut self,
        placed: Placed,
        verdict: Option<&Verdict>,
        noise: Option<&HashSet<String>>,
    ) {
        self.total.count(verdict, noise, MAX_PATHS_PER_ROUTE);
        if let Placed::Template(key, inferred) = placed {
            let template = self.templates.entry(key).or_default();
            template.inferred = inferred;
            template.tally.count(verdict, noise, MAX_PATHS_PER_TEMPLATE);
        }
    }

    /// The report entry for this route: its totals, then each template's.
    pub(crate) fn report(&self, name: &str) -> Value {
        let mut entry = serde_json::Map::new();
        entry.insert("route".to_owned(), json!(name));
        entry.extend(self.total.report());
        // Templates by key, `other` last.
        let mut keys: Vec<&String> = self.templates.keys().filter(|k| *k != OTHER).collect();
        keys.extend(self.templates.keys().filter(|k| *k == OTHER));
        let templates: Vec<Value> = keys
            .into_iter()
            .map(|key| {
                let t = &self.templates[key];
                let (method, pattern) = match key.split_once(' ') {
                    Some((method, pattern)) => (json!(method), json!(pattern)),
                    None => (Value::Null, Value::Null),
                };
                let mut fields = serde_json::Map::new();
                fields.insert("template".to_owned(), json!(key));
                fields.insert("method".to_owned(), method);
                fields.insert("pattern".to_owned(), pattern);
                fields.insert("inferred".to_owned(), json!(t.inferred));
                fields.extend(t.tally.report());
                Value::Object(fields)
            })
            .collect();
        entry.insert("templates".to_owned(), Value::Array(templates));
        Value::Object(entry)
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

/// The template each route's configuration gives: its `path` (exact, or a
/// template with `{name}` segments); a `prefix` route gives none, and its
/// templates are inferred from the paths it sees.
pub(crate) fn configured_templates(config: &crate::config::ProxyConfig) -> HashMap<String, String> {
    config
        .routes
        .iter()
        .filter_map(|route| match &route.path {
            crate::config::PathMatch::Exact(path) | crate::config::PathMatch::Template(path) => {
                Some((route.name.clone(), path.clone()))
            }
            crate::config::PathMatch::Prefix(_) => None,
        })
        .collect()
}

/// The sink that compares and aggregates.
pub struct ShadowResults {
    routes: Mutex<HashMap<String, RouteResults>>,
    /// Swapped when a reload brings new rules.
    compare: ArcSwap<Comparator>,
    /// Route → its configured template; swapped on reload.
    templates: ArcSwap<HashMap<String, String>>,
    metrics: Arc<Metrics>,
    /// Mirrors skipped on the request path, not yet counted here.
    skips: PendingSkips,
    /// Bumped, under the `routes` lock, by every change to them: the store
    /// writes the aggregates only when this has moved (see [`Self::changes`]).
    changes: AtomicU64,
}

impl std::fmt::Debug for ShadowResults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShadowResults").finish_non_exhaustive()
    }
}

impl ShadowResults {
    /// Aggregates what `compare` finds; every route's templates are inferred
    /// until [`set_templates`](Self::set_templates) gives some.
    pub fn new(compare: Comparator, metrics: Arc<Metrics>) -> Self {
        Self {
            routes: Mutex::new(HashMap::new()),
            compare: ArcSwap::from_pointee(compare),
            templates: ArcSwap::from_pointee(HashMap::new()),
            metrics,
            skips: PendingSkips::default(),
            changes: AtomicU64::new(0),
        }
    }

    /// Compares from now on with `compare` (a reload's rules).
    pub fn set_comparator(&self, compare: Comparator) {
        self.compare.store(Arc::new(compare));
    }

    /// The routes' configured templates (route → template), from now on.
    pub(crate) fn set_templates(&self, templates: HashMap<String, String>) {
        self.templates.store(Arc::new(templates));
    }

    /// Per route: counts, the match rate with its 95% Wilson lower bound, and
    /// the differing paths, most frequent first; then the same per template.
    pub fn report(&self) -> Value {
        self.settle_skips();
        let routes = self.routes.lock();
        let mut names: Vec<&String> = routes.keys().collect();
        names.sort();
        let list: Vec<Value> = names
            .into_iter()
            .map(|name| routes[name].report(name))
            .collect();
        json!({ "routes": list })
    }

    /// Every route's aggregate, for the store, and the count of changes it holds.
    pub(crate) fn snapshot(&self) -> (u64, Vec<(String, RouteResults)>) {
        self.settle_skips();
        let routes = self.routes.lock();
        let changes = self.changes.load(Ordering::Relaxed);
        let all = routes.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        (changes, all)
    }

    /// How many changes the aggregates have had: unchanged since a
    /// [`snapshot`](Self::snapshot) that returned the same count. A change
    /// still being made may not show yet; it shows at the next call.
    pub(crate) fn changes(&self) -> u64 {
        self.settle_skips();
        self.changes.load(Ordering::Relaxed)
    }

    /// Adds aggregates restored from the store.
    pub(crate) fn restore(&self, stored: Vec<(String, RouteResults)>) {
        let mut routes = self.routes.lock();
        for (name, results) in stored {
            routes.entry(name).or_default().absorb(results);
        }
        self.changes.fetch_add(1, Ordering::Relaxed);
    }
}

impl ShadowSink for ShadowResults {
    fn record(
        &self,
        route: &str,
        method: &Method,
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
        let templates = self.templates.load();
        let fixed = templates.get(route).map(String::as_str);
        let mut routes = self.routes.lock();
        let r = routes.entry(route.to_owned()).or_default();
        let placed = r.place(method, path, fixed, true);
        r.count(placed, verdict.as_ref(), noise.as_ref());
        self.changes.fetch_add(1, Ordering::Relaxed);
    }

    fn skipped(&self, route: &str, method: &Method, path: &str, reason: &'static str) {
        if self.skips.add(route, method, path, reason) {
            self.settle_skips();
        }
    }
}

impl ShadowResults {
    /// Counts the skips held since the last time in the routes, their
    /// templates and the metrics; done before every read of the results.
    /// Only templates known by then are counted, never ones that would need
    /// inferring.
    pub(crate) fn settle_skips(&self) {
        let skips = self.skips.take();
        if skips.is_empty() {
            return;
        }
        let templates = self.templates.load();
        let mut routes = self.routes.lock();
        self.changes.fetch_add(1, Ordering::Relaxed);
        for skip in skips {
            self.metrics.shadow_by(&skip.route, skip.reason, skip.count);
            let fixed = templates.get(&skip.route).map(String::as_str);
            let r = routes.entry(skip.route).or_default();
            *r.total.skipped.entry(skip.reason.to_owned()).or_default() += skip.count;
            if let Placed::Template(key, inferred) = r.place(&skip.method, &skip.path, fixed, false)
            {
                let template = r.templates.entry(key).or_default();
                template.inferred = inferred;
                *template
                    .tally
                    .skipped
                    .entry(skip.reason.to_owned())
                    .or_default() += skip.count;
            }
        }
    }
}

/// Reservoir sampling: after `seen` differences, each has had the same chance
/// to be among the kept examples.
/// The example is made only when it is kept: most differences of a frequent
/// path are not.
fn keep_example(examples: &mut Vec<Example>, seen: u64, example: impl FnOnce() -> Example) {
    if examples.len() < EXAMPLES_PER_PATH {
        examples.push(example());
    } else if let Ok(slot) = usize::try_from(fastrand::u64(0..seen))
        && slot < EXAMPLES_PER_PATH
    {
        examples[slot] = example();
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
    use serde_json::{Value, json};

    use super::{PathCount, RouteResults, ShadowResults, Tally, Verdict, wilson_lower};
    use crate::metrics::Metrics;
    use crate::shadow::{Captured, ShadowSink};

    fn answer(body: &str) -> Captured {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", "application/json".parse().unwrap());
        Captured {
            status: StatusCode::OK,
            headers,
            raw: None,
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
            total: Tally {
                compared: 2,
                with_baseline: 2,
                ..Tally::default()
            },
            ..RouteResults::default()
        };
        stored
            .total
            .paths
            .insert(("$.a".into(), "value_changed".into()), path);
        let mut live = stored.clone();
        live.absorb(stored);
        let merged = &live.total.paths[&("$.a".to_owned(), "value_changed".to_owned())];
        assert_eq!((live.total.compared, live.total.with_baseline), (4, 4));
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

    fn prefix_route() -> ShadowResults {
        let yaml = "listen: 127.0.0.1:0\nlegacy: l\nupstreams:\n  l:\n    endpoints: [127.0.0.1:1]\nroutes:\n  - name: coupons\n    prefix: /api/coupons\n    upstream: l\n    mode: shadow\n  - name: coupon-read\n    path: /api/coupon/{couponId}\n    upstream: l\n    mode: shadow\n";
        let config = crate::config::parse(Path::new("t.yaml"), yaml).unwrap();
        let results = ShadowResults::new(
            crate::compare::comparator(&config),
            Arc::new(Metrics::new()),
        );
        results.set_templates(super::configured_templates(&config));
        results
    }

    /// Records a pair on `route`: equal answers, or a number sent as a string.
    fn pair(results: &ShadowResults, route: &str, method: Method, path: &str, equal: bool) {
        let candidate = if equal {
            r#"{"amount":1000}"#
        } else {
            r#"{"amount":"1000"}"#
        };
        results.record(
            route,
            &method,
            path,
            answer(r#"{"amount":1000}"#),
            Ok(answer(candidate)),
            None,
        );
    }

    fn template<'a>(route: &'a Value, key: &str) -> &'a Value {
        route["templates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["template"] == key)
            .unwrap_or_else(|| panic!("no template `{key}` in {route:#}"))
    }

    #[test]
    fn a_regression_on_one_template_is_not_hidden_by_the_routes_clean_traffic() {
        let results = prefix_route();
        for id in 1..=200 {
            pair(
                &results,
                "coupons",
                Method::GET,
                &format!("/api/coupons/{id}"),
                true,
            );
        }
        for id in 1..=5 {
            let path = format!("/api/coupons/{id}/issue");
            pair(&results, "coupons", Method::POST, &path, false);
        }
        let report = results.report();
        let route = &report["routes"][0];
        assert_eq!(
            (route["compared"].as_u64(), route["equal"].as_u64()),
            (Some(205), Some(200))
        );
        assert!(
            route["match_rate_lower_95"].as_f64().unwrap() > 0.94,
            "{route}"
        );

        let read = template(route, "GET /api/coupons/{id}");
        assert_eq!(
            (read["compared"].as_u64(), read["equal"].as_u64()),
            (Some(200), Some(200))
        );
        assert_eq!(read["match_rate"], 1.0);
        assert_eq!(read["paths"], json!([]), "the reads differ nowhere");
        assert_eq!(
            (read["method"].as_str(), read["pattern"].as_str()),
            (Some("GET"), Some("/api/coupons/{id}"))
        );

        let issue = template(route, "POST /api/coupons/{id}/issue");
        assert_eq!(
            (issue["compared"].as_u64(), issue["equal"].as_u64()),
            (Some(5), Some(0))
        );
        assert_eq!(issue["match_rate"], 0.0);
        assert_eq!(issue["different"]["high"], 5, "{issue}");
        assert_eq!(issue["paths"][0]["path"], "$.amount");
        assert_eq!(issue["paths"][0]["count"], 5);
        assert_eq!(
            issue["paths"][0]["examples"][0]["candidate"], "1000",
            "its own examples"
        );
        assert_eq!(route["templates"].as_array().unwrap().len(), 2, "{route:#}");
    }

    #[test]
    fn a_template_generalised_later_keeps_the_counts_of_the_paths_it_had() {
        let results = prefix_route();
        // An opaque code seen alone is its own template…
        pair(
            &results,
            "coupons",
            Method::GET,
            "/api/coupons/WELCOME10",
            true,
        );
        pair(
            &results,
            "coupons",
            Method::GET,
            "/api/coupons/WELCOME10",
            false,
        );
        let report = results.report();
        assert_eq!(
            template(&report["routes"][0], "GET /api/coupons/WELCOME10")["compared"],
            2
        );
        // …until another one shows the segment varies: both are `{id}`, and
        // the counts made under the narrow template are carried over.
        pair(
            &results,
            "coupons",
            Method::GET,
            "/api/coupons/SPRING24",
            true,
        );
        pair(
            &results,
            "coupons",
            Method::GET,
            "/api/coupons/SUMMER25",
            true,
        );
        let report = results.report();
        let route = &report["routes"][0];
        let keys: Vec<&str> = route["templates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["template"].as_str().unwrap())
            .collect();
        assert_eq!(keys, ["GET /api/coupons/{id}"], "{route:#}");
        let merged = template(route, "GET /api/coupons/{id}");
        assert_eq!(
            (merged["compared"].as_u64(), merged["equal"].as_u64()),
            (Some(4), Some(3))
        );
        assert_eq!(merged["paths"][0]["count"], 1);
        assert_eq!(merged["inferred"], true);

        // Two replicas that each saw one code: merged the same way when added up.
        let (mut one, mut two) = (RouteResults::default(), RouteResults::default());
        let verdict = Verdict::Equal;
        let placed = one.place(&Method::GET, "/api/coupons/WELCOME10", None, true);
        one.count(placed, Some(&verdict), None);
        let placed = two.place(&Method::GET, "/api/coupons/SPRING24", None, true);
        two.count(placed, Some(&verdict), None);
        let stored: RouteResults =
            serde_json::from_str(&serde_json::to_string(&two).unwrap()).unwrap();
        one.absorb(stored);
        let keys: Vec<&String> = one.templates.keys().collect();
        assert_eq!(keys, ["GET /api/coupons/{id}"]);
        assert_eq!(one.templates["GET /api/coupons/{id}"].tally.compared, 2);
        assert_eq!(one.total.compared, 2);
    }

    #[test]
    fn words_stay_templates_of_their_own_and_ids_fit_the_known_ones() {
        let results = prefix_route();
        pair(&results, "coupons", Method::GET, "/api/coupons/7", true);
        pair(&results, "coupons", Method::GET, "/api/coupons/top", false);
        pair(&results, "coupons", Method::GET, "/api/coupons/CODE9", true);
        let report = results.report();
        let route = &report["routes"][0];
        assert_eq!(template(route, "GET /api/coupons/{id}")["compared"], 2);
        assert_eq!(template(route, "GET /api/coupons/top")["compared"], 1);
        assert_eq!(template(route, "GET /api/coupons/top")["equal"], 0);
    }

    #[test]
    fn a_configured_template_is_used_as_written() {
        let results = prefix_route();
        for id in ["1", "2", "top"] {
            pair(
                &results,
                "coupon-read",
                Method::GET,
                &format!("/api/coupon/{id}"),
                true,
            );
        }
        let report = results.report();
        let route = &report["routes"][0];
        assert_eq!(route["route"], "coupon-read");
        let only = template(route, "GET /api/coupon/{couponId}");
        assert_eq!(
            (only["compared"].as_u64(), only["inferred"].as_bool()),
            (Some(3), Some(false))
        );
        assert_eq!(route["templates"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn templates_beyond_the_cap_are_counted_as_other() {
        let results = prefix_route();
        // Words of letters never fold: each is a template of its own.
        let word = |n: usize| {
            let letters = |n: usize| char::from(b'a' + u8::try_from(n % 26).unwrap());
            format!("/api/coupons/page{}{}", letters(n / 26), letters(n))
        };
        let beyond = super::MAX_TEMPLATES_PER_ROUTE + 6;
        for n in 0..beyond {
            pair(&results, "coupons", Method::GET, &word(n), n % 2 == 0);
        }
        // A template kept before the cap is still counted after it.
        pair(&results, "coupons", Method::GET, &word(0), true);
        let report = results.report();
        let route = &report["routes"][0];
        let templates = route["templates"].as_array().unwrap();
        assert_eq!(templates.len(), super::MAX_TEMPLATES_PER_ROUTE + 1);
        let other = templates.last().unwrap();
        assert_eq!(
            (other["template"].as_str(), other["compared"].as_u64()),
            (Some(super::OTHER), Some(6))
        );
        assert_eq!(other["pattern"], Value::Null);
        assert_eq!(template(route, &format!("GET {}", word(0)))["compared"], 2);
        let sum: u64 = templates
            .iter()
            .map(|t| t["compared"].as_u64().unwrap())
            .sum();
        assert_eq!(
            sum,
            route["compared"].as_u64().unwrap(),
            "every pair in one template"
        );
    }

    #[test]
    fn a_full_list_of_observed_paths_is_compacted_not_closed_to_new_shapes() {
        // A store written before templates were counted: every id a path.
        let mut results = RouteResults::default();
        for id in 0..super::MAX_OBSERVED_PER_ROUTE {
            results.observed.insert(format!("/api/coupons/{id}"), 1);
        }
        results
            .observed
            .insert("/api/coupons/WELCOME10/issue".to_owned(), 1);
        results
            .observed
            .insert("/api/coupons/SPRING24/issue".to_owned(), 1);
        let placed = results.place(&Method::GET, "/api/coupons/top", None, true);
        let super::Placed::Template(key, true) = placed else {
            panic!("a new shape is a template of its own, not `other`");
        };
        assert_eq!(key, "GET /api/coupons/top");
        assert!(results.observed.len() <= 9, "{:?}", results.observed.keys());
        // The templates learnt before are learnt again from what was kept.
        let super::Placed::Template(key, _) =
            results.place(&Method::GET, "/api/coupons/SUMMER25/issue", None, true)
        else {
            panic!("not placed");
        };
        assert_eq!(key, "GET /api/coupons/{id}/issue");
    }

    #[test]
    fn skips_are_counted_under_a_known_template_only() {
        let results = prefix_route();
        pair(&results, "coupons", Method::GET, "/api/coupons/1", true);
        results.skipped("coupons", &Method::GET, "/api/coupons/2", "queue_full");
        results.skipped("coupons", &Method::GET, "/api/coupons/top", "queue_full");
        let report = results.report();
        let route = &report["routes"][0];
        assert_eq!(route["skipped"]["queue_full"], 2);
        assert_eq!(
            template(route, "GET /api/coupons/{id}")["skipped"]["queue_full"],
            1
        );
        assert_eq!(
            route["templates"].as_array().unwrap().len(),
            1,
            "no template learnt from a skip"
        );
    }

    #[test]
    fn stores_written_before_templates_still_load() {
        let old = r#"{"compared":3,"equal":2,"by_severity":{"high":1},"unanalysed":0,"candidate_failed":0,
            "skipped":{},"paths":[{"path":"$.a","kind":"type_changed","severity":"high","count":1,"hints":{},"examples":[]}],
            "other_paths":0,"with_baseline":0,"baseline_paths":{},"noise_only":0,"observed":{"/api/coupons/1":3}}"#;
        let mut results: RouteResults = serde_json::from_str(old).unwrap();
        assert_eq!((results.total.compared, results.total.paths.len()), (3, 1));
        assert!(results.templates.is_empty());
        // Counting goes on, per template from now on.
        let placed = results.place(&Method::GET, "/api/coupons/2", None, true);
        results.count(placed, Some(&Verdict::Equal), None);
        let again: RouteResults =
            serde_json::from_str(&serde_json::to_string(&results).unwrap()).unwrap();
        assert_eq!(again.total.compared, 4);
        assert_eq!(again.templates["GET /api/coupons/{id}"].tally.compared, 1);
        assert!(again.templates["GET /api/coupons/{id}"].inferred);
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
