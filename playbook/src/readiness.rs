//! Readiness: one verdict per domain from five gates, each judged on evidence
//! the caller gathered (the CLI reads the proxy, the analysis and the
//! databases; this module only decides). Every judgement carries its inputs
//! and a sentence a person can read, so `readiness --explain` can say why.
//!
//! The rule that combines them is deliberately not a weighted score: a
//! critical gate that does not pass makes the domain not ready, whatever the
//! others say, and "inconclusive" or "no data" never counts as a pass.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde_json::{Value, json};

use crate::model::{Mode, PerformanceGate, Playbook};
use crate::stats::{self, Histogram};
use crate::verdict::Outcome;

/// The five gates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Gate {
    /// Coupling left in code and schema.
    Coupling,
    /// Data verified and caught up.
    Data,
    /// Shadow traffic coverage and match rate.
    Behaviour,
    /// New vs legacy error rate and latency.
    Performance,
    /// Current stage of the routes.
    Stage,
}

impl Gate {
    /// The gate's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Coupling => "coupling",
            Self::Data => "data",
            Self::Behaviour => "behaviour",
            Self::Performance => "performance",
            Self::Stage => "stage",
        }
    }
}

/// What the latest analysis says crosses the domain's boundary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CouplingEvidence {
    /// Where it came from (a file), for the explanation.
    pub source: String,
    /// Whether the analysis knows the domain at all.
    pub domain_known: bool,
    /// Writes crossing the boundary, one description each.
    pub cross_domain_writes: Vec<String>,
    /// Foreign keys crossing the boundary.
    pub foreign_keys: Vec<String>,
    /// Transactions spanning the domain and another.
    pub transactions: Vec<String>,
}

/// The last `verify` run of the domain's tables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyRun {
    /// When it finished.
    #[serde(serialize_with = "rfc3339")]
    pub finished_at: SystemTime,
    /// No mismatch found.
    pub clean: bool,
    /// Rows compared.
    pub rows_checked: u64,
    /// Rows that differed or were missing on one side.
    pub mismatches: u64,
}

fn rfc3339<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&humantime::format_rfc3339_seconds(*t).to_string())
}

/// Data evidence: the last verify and the catch-up lag.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DataEvidence {
    /// The last verify, if any ran.
    pub last_verify: Option<VerifyRun>,
    /// How far catch-up trails the monolith, if known.
    #[serde(serialize_with = "opt_secs")]
    pub lag: Option<Duration>,
    /// Why there is no evidence, when there is none (shown to the user).
    pub unavailable: Option<String>,
}

fn opt_secs<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_f64(d.as_secs_f64()),
        None => s.serialize_none(),
    }
}

/// One route's shadow results, as `shadow report --format json` gives them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RouteShadow {
    /// The route.
    pub route: String,
    /// Pairs compared.
    pub compared: u64,
    /// Pairs equal under the rules.
    pub equal: u64,
    /// Copies the new service did not answer.
    pub candidate_failed: u64,
    /// High-severity differing paths not shown to be noise.
    pub high_unresolved: Vec<String>,
    /// The same per template (`GET /api/coupons/{id}`), when the report has
    /// them (the proxy's since issue 4); empty in older reports.
    pub templates: Vec<TemplateShadow>,
}

/// One template's shadow results under a route.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TemplateShadow {
    /// `GET /api/coupons/{id}`, or `other` for the templates beyond the proxy's cap.
    pub template: String,
    /// Pairs compared.
    pub compared: u64,
    /// Pairs equal under the rules.
    pub equal: u64,
    /// Copies the new service did not answer.
    pub candidate_failed: u64,
    /// High-severity differing paths not shown to be noise.
    pub high_unresolved: Vec<String>,
}

/// High-severity paths of a report entry (route or template) not shown to be noise.
fn high_unresolved(entry: &Value) -> Vec<String> {
    entry["paths"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["severity"] == "high" && p["noise"]["verdict"] != "noise")
        .filter_map(|p| p["path"].as_str().map(str::to_owned))
        .collect()
}

/// Behaviour evidence: the shadow report, one entry per route found in it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BehaviourEvidence {
    /// Routes with results.
    pub routes: Vec<RouteShadow>,
}

impl BehaviourEvidence {
    /// Reads the JSON that `shadow report --format json` prints (and the
    /// proxy's `GET /shadow` serves): `{"routes": [...]}`.
    pub fn from_report(report: &Value) -> Self {
        let routes = report["routes"]
            .as_array()
            .map(|routes| {
                routes
                    .iter()
                    .map(|r| RouteShadow {
                        route: r["route"].as_str().unwrap_or_default().to_owned(),
                        compared: r["compared"].as_u64().unwrap_or(0),
                        equal: r["equal"].as_u64().unwrap_or(0),
                        candidate_failed: r["candidate_failed"].as_u64().unwrap_or(0),
                        high_unresolved: high_unresolved(r),
                        templates: r["templates"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(|t| TemplateShadow {
                                template: t["template"].as_str().unwrap_or_default().to_owned(),
                                compared: t["compared"].as_u64().unwrap_or(0),
                                equal: t["equal"].as_u64().unwrap_or(0),
                                candidate_failed: t["candidate_failed"].as_u64().unwrap_or(0),
                                high_unresolved: high_unresolved(t),
                            })
                            .collect(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self { routes }
    }
}

/// One side's traffic over the domain's routes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SideMetrics {
    /// Requests answered.
    pub requests: u64,
    /// Of which 5xx.
    pub errors: u64,
    /// Time to the response head.
    pub latency: Histogram,
}

/// Performance evidence: both sides over the same routes and period.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PerformanceEvidence {
    /// The new service.
    pub new: SideMetrics,
    /// The monolith.
    pub legacy: SideMetrics,
}

impl PerformanceEvidence {
    /// Sums the proxy's Prometheus text over `routes`: the
    /// `msa_proxy_requests_total{route,side,upstream,class}` counters (class
    /// `5xx` are errors) and the `msa_proxy_request_duration_seconds`
    /// histograms, per `side` (`new` or `legacy`).
    pub fn from_prometheus(text: &str, routes: &[&str]) -> Self {
        let mut out = Self::default();
        // Per side, per series (its labels without `le`), the buckets.
        let mut histograms: BTreeMap<(String, String), Vec<(f64, u64)>> = BTreeMap::new();
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            let Some((name, labels, value)) = split_sample(line) else {
                continue;
            };
            let Some(route) = labels.get("route") else {
                continue;
            };
            if !routes.contains(&route.as_str()) {
                continue;
            }
            let side = labels.get("side").map(String::as_str);
            let target = match side {
                Some("new") => &mut out.new,
                Some("legacy") => &mut out.legacy,
                _ => continue,
            };
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "counters"
            )]
            let count = value.max(0.0) as u64;
            match name {
                "msa_proxy_requests_total" => {
                    target.requests += count;
                    if labels.get("class").map(String::as_str) == Some("5xx") {
                        target.errors += count;
                    }
                }
                "msa_proxy_request_duration_seconds_bucket" => {
                    let le = match labels.get("le").map(String::as_str) {
                        Some("+Inf") => f64::INFINITY,
                        Some(le) => match le.parse() {
                            Ok(le) => le,
                            Err(_) => continue,
                        },
                        None => continue,
                    };
                    let mut series: Vec<String> = labels
                        .iter()
                        .filter(|(k, _)| k.as_str() != "le")
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect();
                    series.sort();
                    histograms
                        .entry((side.unwrap_or_default().to_owned(), series.join(",")))
                        .or_default()
                        .push((le, count));
                }
                _ => {}
            }
        }
        for ((side, _), mut buckets) in histograms {
            buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            let h = Histogram { buckets };
            let target = if side == "new" {
                &mut out.new
            } else {
                &mut out.legacy
            };
            // Series with other bounds cannot be merged; the proxy uses one set.
            let _ = target.latency.add(&h);
        }
        out
    }
}

impl SideMetrics {
    /// This side's traffic since `earlier`, a scrape of the same proxy
    /// before: the counts and the histogram's cumulative buckets subtract.
    /// `None` when a counter went down or the bounds changed (the proxy
    /// restarted, so its counters start again from 0).
    pub fn since(&self, earlier: &Self) -> Option<Self> {
        let (now, before) = (&self.latency.buckets, &earlier.latency.buckets);
        let buckets = if before.is_empty() {
            now.clone()
        } else if now.len() != before.len()
            || now
                .iter()
                .zip(before)
                .any(|(a, b)| a.0.total_cmp(&b.0).is_ne())
        {
            return None;
        } else {
            now.iter()
                .zip(before)
                .map(|(a, b)| Some((a.0, a.1.checked_sub(b.1)?)))
                .collect::<Option<Vec<_>>>()?
        };
        Some(Self {
            requests: self.requests.checked_sub(earlier.requests)?,
            errors: self.errors.checked_sub(earlier.errors)?,
            latency: Histogram { buckets },
        })
    }

    /// Adds `other`'s traffic (another replica's, another window's); the
    /// histograms add when their bounds agree (the proxy uses one set).
    pub fn add(&mut self, other: &Self) {
        self.requests += other.requests;
        self.errors += other.errors;
        if other.latency.count() > 0 {
            let _ = self.latency.add(&other.latency);
        }
    }
}

impl PerformanceEvidence {
    /// The traffic since `earlier`, a scrape of the same proxy before, side
    /// by side (see [`SideMetrics::since`]). When a counter went down (a
    /// restarted proxy), everything counts from 0: `self` whole.
    pub fn since(&self, earlier: &Self) -> Self {
        match (
            self.new.since(&earlier.new),
            self.legacy.since(&earlier.legacy),
        ) {
            (Some(new), Some(legacy)) => Self { new, legacy },
            _ => self.clone(),
        }
    }

    /// Adds another proxy's (or window's) evidence, side by side.
    pub fn add(&mut self, other: &Self) {
        self.new.add(&other.new);
        self.legacy.add(&other.legacy);
    }
}

/// `name{a="x",b="y"} value` → (name, labels, value).
fn split_sample(line: &str) -> Option<(&str, BTreeMap<String, String>, f64)> {
    let (head, value) = line.rsplit_once(' ')?;
    let value: f64 = value.trim().parse().ok()?;
    let head = head.trim();
    let (name, labels) = match head.find('{') {
        Some(i) => (&head[..i], head[i + 1..].strip_suffix('}')?),
        None => (head, ""),
    };
    let mut map = BTreeMap::new();
    let mut rest = labels;
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq].trim().trim_start_matches(',').trim().to_owned();
        let after = rest[eq + 1..].strip_prefix('"')?;
        let mut end = None;
        let mut escaped = false;
        for (i, c) in after.char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => {
                    end = Some(i);
                    break;
                }
                _ => escaped = false,
            }
        }
        let end = end?;
        map.insert(
            key,
            after[..end].replace("\\\"", "\"").replace("\\\\", "\\"),
        );
        rest = &after[end + 1..];
    }
    Some((name, map, value))
}

/// One route's stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RouteStage {
    /// Its mode.
    pub mode: Mode,
    /// Canary weight in basis points (0 outside canary, 10000 in cutover).
    pub weight_bp: u16,
}

/// What the proxy's configuration says a route matches and where it sends it
/// (known from the admin API, not from the state file).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RouteTarget {
    /// The new service's upstream.
    pub upstream: String,
    /// The path or template.
    pub path: String,
}

/// Stage evidence: each route's stage, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StageEvidence {
    /// Where it came from (admin URL or state file).
    pub source: String,
    /// Stages by route name.
    pub routes: BTreeMap<String, RouteStage>,
    /// Upstream and path by route name, when the source tells.
    pub targets: BTreeMap<String, RouteTarget>,
}

impl StageEvidence {
    /// Reads a stage the proxy's way, `{"mode":"canary","weight_bp":500}`.
    pub fn stage_of(value: &Value) -> Option<RouteStage> {
        let mode = Mode::parse(value["mode"].as_str()?)?;
        let weight_bp = match mode {
            Mode::Canary => u16::try_from(value["weight_bp"].as_u64().unwrap_or(0)).ok()?,
            Mode::Cutover => 10_000,
            Mode::Legacy | Mode::Shadow => 0,
        };
        Some(RouteStage { mode, weight_bp })
    }

    /// From the admin API's `GET /routes` (`{"routes":[{"name","stage"}]}`)
    /// or the proxy's state file (`{"routes":{"name":{"mode"…}}}`).
    pub fn from_json(source: &str, value: &Value) -> Self {
        let mut routes = BTreeMap::new();
        let mut targets = BTreeMap::new();
        match &value["routes"] {
            Value::Array(list) => {
                for r in list {
                    if let (Some(name), Some(upstream), Some(path)) = (
                        r["name"].as_str(),
                        r["upstream"].as_str(),
                        r["path"].as_str(),
                    ) {
                        targets.insert(
                            name.to_owned(),
                            RouteTarget {
                                upstream: upstream.to_owned(),
                                path: path.to_owned(),
                            },
                        );
                    }
                    if let (Some(name), Some(stage)) =
                        (r["name"].as_str(), Self::stage_of(&r["stage"]))
                    {
                        routes.insert(name.to_owned(), stage);
                    }
                }
            }
            Value::Object(map) => {
                for (name, stage) in map {
                    if let Some(stage) = Self::stage_of(stage) {
                        routes.insert(name.clone(), stage);
                    }
                }
            }
            _ => {}
        }
        Self {
            source: source.to_owned(),
            routes,
            targets,
        }
    }
}

/// Everything the gates look at; `None` where nothing could be gathered.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Evidence {
    /// From the analysis.
    pub coupling: Option<CouplingEvidence>,
    /// From verify and catch-up.
    pub data: Option<DataEvidence>,
    /// From the shadow store.
    pub behaviour: Option<BehaviourEvidence>,
    /// From the proxy's metrics.
    pub performance: Option<PerformanceEvidence>,
    /// From the proxy's state.
    pub stage: Option<StageEvidence>,
}

/// How one gate judged, why, and on what.
#[derive(Debug, Clone, Serialize)]
pub struct Judgement {
    /// The gate.
    pub gate: Gate,
    /// Whether the verdict needs it to pass.
    pub critical: bool,
    /// Its outcome.
    pub outcome: Outcome,
    /// One sentence for a person.
    pub summary: String,
    /// Further sentences (per route, per test).
    pub details: Vec<String>,
    /// The numbers it was judged on, and the limits.
    pub inputs: Value,
}

/// The domain's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// The domain.
    pub domain: String,
    /// Pass only when every critical gate passes.
    pub outcome: Outcome,
    /// `outcome == Pass`.
    pub ready: bool,
    /// One sentence.
    pub summary: String,
    /// Every gate, in order coupling, data, behaviour, performance, stage.
    pub gates: Vec<Judgement>,
}

/// Judges every gate of `playbook` on `evidence`, at `now`.
pub fn judge(playbook: &Playbook, evidence: &Evidence, now: SystemTime) -> Verdict {
    let gates = vec![
        coupling(playbook, evidence.coupling.as_ref()),
        data(playbook, evidence.data.as_ref(), now),
        behaviour(playbook, evidence.behaviour.as_ref()),
        performance(playbook, evidence.performance.as_ref()),
        stage(playbook, evidence.stage.as_ref()),
    ];
    combine(&playbook.domain, gates)
}

/// The verdict from the judgements: any critical fail → fail; else any
/// critical inconclusive → inconclusive; else any critical no-data → no data;
/// else pass. Non-critical gates are reported, never decisive.
pub fn combine(domain: &str, gates: Vec<Judgement>) -> Verdict {
    let critical: Vec<&Judgement> = gates.iter().filter(|j| j.critical).collect();
    let named = |outcome: Outcome| -> Vec<&str> {
        critical
            .iter()
            .filter(|j| j.outcome == outcome)
            .map(|j| j.gate.as_str())
            .collect()
    };
    let (failed, inconclusive, missing) = (
        named(Outcome::Fail),
        named(Outcome::Inconclusive),
        named(Outcome::NoData),
    );
    let (outcome, summary) = if !failed.is_empty() {
        (
            Outcome::Fail,
            format!(
                "{domain} is not ready: critical gate(s) failed: {}",
                failed.join(", ")
            ),
        )
    } else if !inconclusive.is_empty() {
        (
            Outcome::Inconclusive,
            format!(
                "{domain} is not ready: not enough evidence yet for {}",
                inconclusive.join(", ")
            ),
        )
    } else if !missing.is_empty() {
        (
            Outcome::NoData,
            format!(
                "{domain} is not ready: no evidence for {}",
                missing.join(", ")
            ),
        )
    } else {
        let warnings: Vec<&str> = gates
            .iter()
            .filter(|j| !j.critical && j.outcome != Outcome::Pass)
            .map(|j| j.gate.as_str())
            .collect();
        let summary = if warnings.is_empty() {
            format!("{domain} is ready: every critical gate passes")
        } else {
            format!(
                "{domain} is ready: every critical gate passes (not passing, non-critical: {})",
                warnings.join(", ")
            )
        };
        (Outcome::Pass, summary)
    };
    Verdict {
        domain: domain.to_owned(),
        outcome,
        ready: outcome == Outcome::Pass,
        summary,
        gates,
    }
}

/// Worst of several outcomes for one gate: fail, then inconclusive (some
/// evidence, not enough), then no data (none at all), then pass.
fn worst(outcomes: impl IntoIterator<Item = Outcome>) -> Outcome {
    let list: Vec<Outcome> = outcomes.into_iter().collect();
    if list.contains(&Outcome::Fail) {
        Outcome::Fail
    } else if list.is_empty() || list.iter().all(|o| *o == Outcome::NoData) {
        Outcome::NoData
    } else if list.iter().all(|o| *o == Outcome::Pass) {
        Outcome::Pass
    } else {
        Outcome::Inconclusive
    }
}

fn judgement(
    gate: Gate,
    critical: bool,
    outcome: Outcome,
    summary: String,
    details: Vec<String>,
    inputs: Value,
) -> Judgement {
    Judgement {
        gate,
        critical,
        outcome,
        summary,
        details,
        inputs,
    }
}

/// The first sentence whose outcome is the gate's.
fn headline(outcomes: &[Outcome], details: &[String], outcome: Outcome) -> String {
    outcomes
        .iter()
        .position(|o| *o == outcome)
        .and_then(|i| details.get(i))
        .cloned()
        .unwrap_or_default()
}

/// Coupling: cross-domain writes, foreign keys and transactions within the limits.
pub fn coupling(playbook: &Playbook, evidence: Option<&CouplingEvidence>) -> Judgement {
    let g = playbook.gates.coupling;
    let limits = json!({
        "max_cross_domain_writes": g.max_cross_domain_writes,
        "max_foreign_keys": g.max_foreign_keys,
        "max_transactions": g.max_transactions,
    });
    let Some(e) = evidence else {
        return judgement(
            Gate::Coupling,
            g.critical,
            Outcome::NoData,
            "no analysis: run `msa-migrate analyze … --out DIR` and pass `--analysis DIR`"
                .to_owned(),
            Vec::new(),
            json!({ "limits": limits }),
        );
    };
    let inputs = json!({ "evidence": e, "limits": limits });
    if !e.domain_known {
        return judgement(
            Gate::Coupling,
            g.critical,
            Outcome::Inconclusive,
            format!(
                "the analysis in {} does not know domain `{}`: name it in domains.yaml and analyze again",
                e.source, playbook.domain
            ),
            Vec::new(),
            inputs,
        );
    }
    let checks = [
        (
            "cross-domain write(s)",
            &e.cross_domain_writes,
            g.max_cross_domain_writes,
        ),
        (
            "cross-domain foreign key(s)",
            &e.foreign_keys,
            g.max_foreign_keys,
        ),
        (
            "cross-domain transaction(s)",
            &e.transactions,
            g.max_transactions,
        ),
    ];
    let mut details = Vec::new();
    let mut over = Vec::new();
    for (what, list, limit) in checks {
        let n = list.len() as u64;
        if n > limit {
            over.push(format!("{n} {what} (limit {limit})"));
        }
        details.extend(list.iter().map(|item| format!("{what}: {item}")));
    }
    let (outcome, summary) = if over.is_empty() {
        (
            Outcome::Pass,
            format!(
                "coupling within limits: {} write(s), {} foreign key(s), {} transaction(s) cross the boundary",
                e.cross_domain_writes.len(),
                e.foreign_keys.len(),
                e.transactions.len()
            ),
        )
    } else {
        (Outcome::Fail, format!("coupling left: {}", over.join(", ")))
    };
    judgement(
        Gate::Coupling,
        g.critical,
        outcome,
        summary,
        details,
        inputs,
    )
}

/// Data: last verify clean, recent, over at least one row; catch-up lag under the limit.
pub fn data(playbook: &Playbook, evidence: Option<&DataEvidence>, now: SystemTime) -> Judgement {
    let critical = playbook.gates.data.critical;
    let Some(config) = &playbook.data else {
        return judgement(
            Gate::Data,
            critical,
            Outcome::NoData,
            "the playbook has no `data` section: add the source and target DSNs".to_owned(),
            Vec::new(),
            Value::Null,
        );
    };
    let limits = json!({
        "verify_max_age_seconds": config.verify_max_age.as_secs(),
        "max_lag_seconds": config.max_lag.as_secs_f64(),
    });
    let e = evidence.cloned().unwrap_or_default();
    let inputs = json!({ "evidence": e, "limits": limits });
    let Some(run) = &e.last_verify else {
        let why = e
            .unavailable
            .clone()
            .unwrap_or_else(|| "no verify has run".to_owned());
        return judgement(
            Gate::Data,
            critical,
            Outcome::NoData,
            format!(
                "no verify result: {why}; run `msa-migrate verify` on the {} tables",
                playbook.domain
            ),
            Vec::new(),
            inputs,
        );
    };
    let age = now.duration_since(run.finished_at).unwrap_or_default();
    let age_text = humantime::format_duration(Duration::from_secs(age.as_secs()));
    let mut outcomes = Vec::new();
    let mut details = Vec::new();
    if !run.clean || run.mismatches > 0 {
        outcomes.push(Outcome::Fail);
        details.push(format!(
            "the last verify ({age_text} ago) found {} mismatching row(s) in {}: run `msa-migrate verify --repair`",
            run.mismatches, run.rows_checked
        ));
    } else if run.rows_checked == 0 {
        outcomes.push(Outcome::Inconclusive);
        details.push("the last verify checked no rows: is the mapping right?".to_owned());
    } else if age > config.verify_max_age {
        outcomes.push(Outcome::Inconclusive);
        details.push(format!(
            "the last clean verify is {age_text} old, over the {} allowed: verify again",
            humantime::format_duration(config.verify_max_age)
        ));
    } else {
        outcomes.push(Outcome::Pass);
        details.push(format!(
            "the last verify ({age_text} ago) checked {} row(s), all equal",
            run.rows_checked
        ));
    }
    match e.lag {
        Some(lag) if lag > config.max_lag => {
            outcomes.push(Outcome::Fail);
            details.push(format!(
                "catch-up lags {:.1}s behind the monolith, over the {:.1}s allowed",
                lag.as_secs_f64(),
                config.max_lag.as_secs_f64()
            ));
        }
        Some(lag) => {
            outcomes.push(Outcome::Pass);
            details.push(format!(
                "catch-up lags {:.1}s, within {:.1}s",
                lag.as_secs_f64(),
                config.max_lag.as_secs_f64()
            ));
        }
        None => {
            outcomes.push(Outcome::Inconclusive);
            details.push("catch-up lag unknown: is `backfill --follow` running?".to_owned());
        }
    }
    let outcome = worst(outcomes.iter().copied());
    let summary = match outcome {
        Outcome::Pass => "data verified and caught up".to_owned(),
        _ => headline(&outcomes, &details, outcome),
    };
    judgement(Gate::Data, critical, outcome, summary, details, inputs)
}

/// One template's verdict under its route.
struct TemplateJudgement {
    outcome: Outcome,
    detail: String,
    input: Value,
}

/// The templates of a route with several (one alone is the route itself).
/// A template fails when even its match rate's upper bound is under the
/// threshold (few pairs, but clearly wrong), or, with enough pairs, when its
/// rate is under and its lower bound too; anything else leaves the verdict to
/// the route's totals, so a rarely used template does not hold a route back.
fn judge_templates(route: &RouteShadow, policy: &crate::ShadowPolicy) -> Vec<TemplateJudgement> {
    if route.templates.len() < 2 {
        return Vec::new();
    }
    route
        .templates
        .iter()
        .map(|t| {
            let trials = t.compared + t.candidate_failed;
            let bounds = stats::wilson(t.equal, trials, policy.confidence);
            let rate = if trials == 0 {
                0.0
            } else {
                t.equal as f64 / trials as f64
            };
            let (lower, upper) = bounds.unwrap_or((0.0, 1.0));
            let clearly_under = trials > 0 && upper < policy.match_rate;
            let under_with_enough =
                trials >= policy.min_samples && lower < policy.match_rate && rate < policy.match_rate;
            let outcome = if !t.high_unresolved.is_empty() || clearly_under || under_with_enough {
                Outcome::Fail
            } else {
                Outcome::Pass
            };
            let detail = if t.high_unresolved.is_empty() {
                format!(
                    "template {}: {} of {} equal ({:.2}%), {:.0}% bounds {:.2}%–{:.2}% against the {:.2}% required",
                    t.template,
                    t.equal,
                    trials,
                    rate * 100.0,
                    policy.confidence * 100.0,
                    lower * 100.0,
                    upper * 100.0,
                    policy.match_rate * 100.0
                )
            } else {
                format!(
                    "template {}: high-severity difference(s) not explained by noise at {}",
                    t.template,
                    t.high_unresolved.join(", ")
                )
            };
            TemplateJudgement {
                outcome,
                detail,
                input: json!({
                    "template": t.template, "compared": t.compared, "equal": t.equal,
                    "candidate_failed": t.candidate_failed, "match_rate_lower": bounds.map(|b| b.0),
                    "match_rate_upper": bounds.map(|b| b.1), "high_unresolved": t.high_unresolved,
                    "outcome": outcome,
                }),
            }
        })
        .collect()
}

/// Behaviour: every claimed route shadowed with enough samples, the match
/// rate's Wilson lower bound at or above the threshold, and no high-severity
/// difference that is not noise; with templates, none of them clearly under
/// the threshold.
pub fn behaviour(playbook: &Playbook, evidence: Option<&BehaviourEvidence>) -> Judgement {
    let critical = playbook.gates.behaviour.critical;
    let policy = &playbook.shadow;
    let limits = json!({
        "min_samples": policy.min_samples,
        "match_rate": policy.match_rate,
        "confidence": policy.confidence,
    });
    let Some(e) = evidence else {
        return judgement(
            Gate::Behaviour,
            critical,
            Outcome::NoData,
            "no shadow results: put the routes in `shadow` and pass `--shadow-store`".to_owned(),
            Vec::new(),
            json!({ "limits": limits }),
        );
    };
    let mut outcomes = Vec::new();
    let mut details = Vec::new();
    let mut per_route = Vec::new();
    for route in &playbook.routes {
        let Some(r) = e.routes.iter().find(|r| r.route == route.name) else {
            outcomes.push(Outcome::NoData);
            details.push(format!("{}: never shadowed", route.name));
            per_route.push(json!({ "route": route.name, "compared": 0 }));
            continue;
        };
        // A copy the new service did not answer is a pair that did not match.
        let trials = r.compared + r.candidate_failed;
        let bound = stats::wilson(r.equal, trials, policy.confidence).map(|(lower, _)| lower);
        let templates = judge_templates(r, policy);
        per_route.push(json!({
            "route": r.route, "compared": r.compared, "equal": r.equal,
            "candidate_failed": r.candidate_failed, "match_rate_lower": bound,
            "high_unresolved": r.high_unresolved,
            "templates": templates.iter().map(|t| &t.input).collect::<Vec<_>>(),
        }));
        // A template clearly under the threshold fails the route, however
        // well the route's other templates hide it in its totals.
        let failing: Vec<&TemplateJudgement> = templates
            .iter()
            .filter(|t| t.outcome == Outcome::Fail)
            .collect();
        if !failing.is_empty() && r.high_unresolved.is_empty() {
            outcomes.push(Outcome::Fail);
            for t in failing {
                details.push(format!("{}: {}", r.route, t.detail));
            }
            continue;
        }
        let rate = if trials == 0 {
            0.0
        } else {
            r.equal as f64 / trials as f64
        };
        let lower = bound.unwrap_or(0.0);
        if !r.high_unresolved.is_empty() {
            outcomes.push(Outcome::Fail);
            details.push(format!(
                "{}: high-severity difference(s) not explained by noise at {}: fix the service or add a rule",
                r.route,
                r.high_unresolved.join(", ")
            ));
        } else if trials < policy.min_samples {
            outcomes.push(if trials == 0 {
                Outcome::NoData
            } else {
                Outcome::Inconclusive
            });
            details.push(format!(
                "{}: {} of the {} compared pairs needed",
                r.route, trials, policy.min_samples
            ));
        } else if lower < policy.match_rate {
            // With enough samples, a bound below the threshold fails only
            // when the rate itself is below; otherwise more samples may lift it.
            let o = if rate < policy.match_rate {
                Outcome::Fail
            } else {
                Outcome::Inconclusive
            };
            outcomes.push(o);
            details.push(format!(
                "{}: {} of {} equal ({:.2}%), lower {:.0}% bound {:.2}% under the {:.2}% required",
                r.route,
                r.equal,
                trials,
                rate * 100.0,
                policy.confidence * 100.0,
                lower * 100.0,
                policy.match_rate * 100.0
            ));
        } else {
            outcomes.push(Outcome::Pass);
            details.push(format!(
                "{}: {} of {} equal, lower {:.0}% bound {:.2}% ≥ {:.2}%",
                r.route,
                r.equal,
                trials,
                policy.confidence * 100.0,
                lower * 100.0,
                policy.match_rate * 100.0
            ));
        }
    }
    let outcome = worst(outcomes);
    let summary = match outcome {
        Outcome::Pass => format!(
            "every one of the {} route(s) matches",
            playbook.routes.len()
        ),
        Outcome::Fail => "shadow traffic shows differences".to_owned(),
        Outcome::Inconclusive => "not enough shadow traffic yet on every route".to_owned(),
        Outcome::NoData => "no claimed route has shadow results".to_owned(),
    };
    judgement(
        Gate::Behaviour,
        critical,
        outcome,
        summary,
        details,
        json!({ "routes": per_route, "limits": limits }),
    )
}

/// What a pass of the performance gate must show about the 5xx rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    /// Shown not worse than the margin: the Wilson upper bound of the new
    /// rate within legacy's + `max_error_rate_delta` (readiness, the last
    /// word before a cutover).
    ShownNotWorse,
    /// Not shown worse: no significant rise over the margin on enough
    /// requests (a canary window: one look of many at a small share of the
    /// traffic; `advance_after` passes, and readiness before the cutover,
    /// ask for more).
    NotShownWorse,
}

/// Performance: the new side's 5xx rate against legacy's (one-sided Fisher
/// exact test, plus a Wilson bound so a pass means "shown not worse than the
/// margin", not merely "not shown worse"), and latency (one-sided
/// Mann-Whitney U over the histograms, and an optional p99 limit).
pub fn performance(playbook: &Playbook, evidence: Option<&PerformanceEvidence>) -> Judgement {
    performance_gate(&playbook.gates.performance, Proof::ShownNotWorse, evidence)
}

/// [`performance`] on limits given directly (a playbook's
/// `gates.performance`, or ones a caller built), with the `proof` a pass needs.
pub fn performance_gate(
    g: &PerformanceGate,
    proof: Proof,
    evidence: Option<&PerformanceEvidence>,
) -> Judgement {
    let g = *g;
    let limits = json!({
        "min_requests": g.min_requests,
        "max_error_rate_delta": g.max_error_rate_delta,
        "alpha": g.alpha,
        "max_latency_shift": g.max_latency_shift,
        "max_p99_seconds": g.max_p99.map(|d| d.as_secs_f64()),
    });
    let Some(e) = evidence else {
        return judgement(
            Gate::Performance,
            g.critical,
            Outcome::NoData,
            "no metrics: pass `--admin URL` (or `--metrics FILE`) of the proxy".to_owned(),
            Vec::new(),
            json!({ "limits": limits }),
        );
    };
    let (new, legacy) = (&e.new, &e.legacy);
    if new.requests == 0 || legacy.requests == 0 {
        let side = if new.requests == 0 {
            "the new service"
        } else {
            "the monolith"
        };
        return judgement(
            Gate::Performance,
            g.critical,
            Outcome::NoData,
            format!(
                "{side} served none of the domain's requests: a canary step gives both sides traffic"
            ),
            Vec::new(),
            json!({ "new": new, "legacy": legacy, "limits": limits }),
        );
    }
    let mut outcomes = Vec::new();
    let mut details = Vec::new();
    let mut tests = serde_json::Map::new();
    if new.requests < g.min_requests || legacy.requests < g.min_requests {
        outcomes.push(Outcome::Inconclusive);
        details.push(format!(
            "{} new and {} legacy request(s); each side needs {}",
            new.requests, legacy.requests, g.min_requests
        ));
    } else {
        // Error rate.
        let new_rate = new.errors as f64 / new.requests as f64;
        let legacy_rate = legacy.errors as f64 / legacy.requests as f64;
        let p = stats::fisher_greater(
            new.errors,
            new.requests - new.errors.min(new.requests),
            legacy.errors,
            legacy.requests - legacy.errors.min(legacy.requests),
        );
        let confidence = 1.0 - 2.0 * g.alpha;
        let new_upper = stats::wilson(new.errors, new.requests, confidence).map_or(1.0, |(_, u)| u);
        tests.insert(
            "error_rate".into(),
            json!({ "new_rate": new_rate, "legacy_rate": legacy_rate, "fisher_p": p, "new_rate_upper": new_upper }),
        );
        let delta = new_rate - legacy_rate;
        if p < g.alpha && delta > g.max_error_rate_delta {
            outcomes.push(Outcome::Fail);
            details.push(format!(
                "5xx rate {:.3}% against legacy {:.3}%: worse by more than {:.3} points (Fisher p = {p:.4} < {})",
                new_rate * 100.0,
                legacy_rate * 100.0,
                g.max_error_rate_delta * 100.0,
                g.alpha
            ));
        } else if proof == Proof::ShownNotWorse && new_upper > legacy_rate + g.max_error_rate_delta
        {
            outcomes.push(Outcome::Inconclusive);
            details.push(format!(
                "5xx rate {:.3}% against legacy {:.3}%: not shown worse, but its upper bound {:.3}% is over legacy + {:.3} points; more traffic will tell",
                new_rate * 100.0,
                legacy_rate * 100.0,
                new_upper * 100.0,
                g.max_error_rate_delta * 100.0
            ));
        } else {
            outcomes.push(Outcome::Pass);
            details.push(format!(
                "5xx rate {:.3}% against legacy {:.3}% (Fisher p = {p:.4}; upper bound {:.3}%)",
                new_rate * 100.0,
                legacy_rate * 100.0,
                new_upper * 100.0
            ));
        }
        // Latency.
        match stats::mann_whitney_histograms(&new.latency, &legacy.latency) {
            None => {
                outcomes.push(Outcome::NoData);
                details.push("no comparable latency histograms for both sides".to_owned());
            }
            Some(test) => {
                tests.insert("latency_rank".into(), json!(test));
                let shift = test.probability_slower - 0.5;
                if test.p_value < g.alpha && shift > g.max_latency_shift {
                    outcomes.push(Outcome::Fail);
                    details.push(format!(
                        "latency: a new request is slower than a legacy one {:.0}% of the time (Mann-Whitney p = {:.4}), over the {:.0}% allowed",
                        test.probability_slower * 100.0,
                        test.p_value,
                        (0.5 + g.max_latency_shift) * 100.0
                    ));
                } else {
                    outcomes.push(Outcome::Pass);
                    details.push(format!(
                        "latency: a new request is slower than a legacy one {:.0}% of the time (Mann-Whitney p = {:.4})",
                        test.probability_slower * 100.0,
                        test.p_value
                    ));
                }
            }
        }
        if let Some(limit) = g.max_p99 {
            let bucket = new.latency.quantile_bucket(0.99);
            tests.insert(
                "new_p99_bucket_seconds".into(),
                json!(bucket.map(|(l, u)| [
                    json!(l),
                    if u.is_finite() {
                        json!(u)
                    } else {
                        json!("+Inf")
                    }
                ])),
            );
            let limit_ms = limit.as_secs_f64() * 1e3;
            match bucket {
                None => {
                    outcomes.push(Outcome::NoData);
                    details.push("no latency histogram for the new service".to_owned());
                }
                Some((_, upper)) if upper <= limit.as_secs_f64() => {
                    outcomes.push(Outcome::Pass);
                    details.push(format!(
                        "p99 at most {:.1} ms, within {limit_ms:.1} ms",
                        upper * 1e3
                    ));
                }
                Some((lower, _)) if lower >= limit.as_secs_f64() => {
                    outcomes.push(Outcome::Fail);
                    details.push(format!(
                        "p99 over {:.1} ms; the limit is {limit_ms:.1} ms",
                        lower * 1e3
                    ));
                }
                Some((lower, upper)) => {
                    outcomes.push(Outcome::Inconclusive);
                    details.push(format!(
                        "p99 is between {:.1} and {:.1} ms, a histogram bucket that straddles the {limit_ms:.1} ms limit",
                        lower * 1e3,
                        upper * 1e3
                    ));
                }
            }
        }
    }
    let outcome = worst(outcomes.iter().copied());
    let summary = match outcome {
        Outcome::Pass if proof == Proof::NotShownWorse => {
            "the new service is not shown worse than the monolith".to_owned()
        }
        Outcome::Pass => "the new service is not worse than the monolith".to_owned(),
        _ => headline(&outcomes, &details, outcome),
    };
    judgement(
        Gate::Performance,
        g.critical,
        outcome,
        summary,
        details,
        json!({ "new": new, "legacy": legacy, "tests": tests, "limits": limits }),
    )
}

/// Stage: every route at least in the required mode (and weight).
pub fn stage(playbook: &Playbook, evidence: Option<&StageEvidence>) -> Judgement {
    let g = playbook.gates.stage;
    let limits = json!({ "require": g.require, "min_weight_bp": g.min_weight_bp });
    let Some(e) = evidence else {
        return judgement(
            Gate::Stage,
            g.critical,
            Outcome::NoData,
            "no route state: pass `--admin URL` or `--state FILE` of the proxy".to_owned(),
            Vec::new(),
            json!({ "limits": limits }),
        );
    };
    let mut outcomes = Vec::new();
    let mut details = Vec::new();
    for route in &playbook.routes {
        match e.routes.get(&route.name) {
            None => {
                outcomes.push(Outcome::Fail);
                details.push(format!(
                    "{}: not in the proxy's configuration: add the route",
                    route.name
                ));
            }
            Some(_)
                if e.targets.get(&route.name).is_some_and(|t| {
                    t.upstream != playbook.upstream
                        || crate::parse::path_shape(&t.path)
                            != crate::parse::path_shape(&route.path)
                }) =>
            {
                let t = &e.targets[&route.name];
                outcomes.push(Outcome::Fail);
                details.push(format!(
                    "{}: the proxy sends `{}` to upstream `{}`; the playbook claims `{}` for `{}`: make them agree",
                    route.name, t.path, t.upstream, route.path, playbook.upstream
                ));
            }
            Some(s) => {
                let enough = s.mode > g.require
                    || (s.mode == g.require
                        && (s.mode != Mode::Canary || s.weight_bp >= g.min_weight_bp));
                outcomes.push(if enough { Outcome::Pass } else { Outcome::Fail });
                let weight = if s.mode == Mode::Canary {
                    format!(" at {:.2}%", f64::from(s.weight_bp) / 100.0)
                } else {
                    String::new()
                };
                details.push(format!("{}: {}{weight}", route.name, s.mode));
            }
        }
    }
    let outcome = worst(outcomes);
    let required = if g.require == Mode::Canary && g.min_weight_bp > 0 {
        format!(
            "canary at {:.2}% or beyond",
            f64::from(g.min_weight_bp) / 100.0
        )
    } else {
        format!("{} or beyond", g.require)
    };
    let summary = match outcome {
        Outcome::Pass => format!("every route is {required}: {}", details.join("; ")),
        _ => format!("not every route is {required}: {}", details.join("; ")),
    };
    let routes: BTreeMap<&str, Option<&RouteStage>> = playbook
        .routes
        .iter()
        .map(|r| (r.name.as_str(), e.routes.get(&r.name)))
        .collect();
    judgement(
        Gate::Stage,
        g.critical,
        outcome,
        summary,
        details,
        json!({ "source": e.source, "routes": routes, "limits": limits }),
    )
}

#[cfg(test)]
mod tests;
