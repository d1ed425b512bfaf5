//! A validated playbook: types that cannot hold an invalid value. Built by
//! [`crate::parse`]; the raw YAML shape is in `raw.rs`.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use msa_shadow_compare::Rules;

use crate::mapping::Mapping;
use serde::Serialize;

/// A validated playbook.
#[derive(Debug, Clone, Serialize)]
pub struct Playbook {
    /// The domain, e.g. `coupon`.
    pub domain: String,
    /// Who answers for the migration.
    pub owner: String,
    /// The new service's upstream in the proxy configuration.
    pub upstream: String,
    /// The routes claimed, in file order; names are unique.
    pub routes: Vec<Route>,
    /// The tables owned and how they map: what `backfill` and `verify` take.
    pub tables: Mapping,
    /// The two databases, when given.
    pub data: Option<DataConfig>,
    /// Shadow comparison rules and thresholds.
    pub shadow: ShadowPolicy,
    /// The canary's walk.
    pub canary: CanaryPolicy,
    /// The readiness gates.
    pub gates: Gates,
    /// What a failing gate does during a rollout.
    pub rollback: RollbackPolicy,
}

impl Playbook {
    /// The canary controller's plan (`canary::Plan`): the `canary` section,
    /// already checked by [`crate::parse`] against the same rules as
    /// `Plan::check`, and whether `rollback.automatic` lets it roll back.
    pub fn canary_plan(&self) -> crate::canary::Plan {
        crate::canary::Plan {
            steps_bp: self.canary.steps_bp.clone(),
            approval_bp: self.canary.approval_bp.clone(),
            advance_after: self.canary.advance_after,
            max_failures: self.canary.max_failures,
            automatic_rollback: self.rollback.automatic,
        }
    }

    /// The route with this name, if claimed.
    pub fn route(&self, name: &str) -> Option<&Route> {
        self.routes.iter().find(|r| r.name == name)
    }
}

/// A claimed route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Route {
    /// The proxy configuration's route name.
    pub name: String,
    /// Upper-case methods; empty claims every method.
    pub methods: Vec<String>,
    /// Exact path or `{name}` template.
    pub path: String,
}

/// The two databases.
#[derive(Debug, Clone, Serialize)]
pub struct DataConfig {
    /// The monolith's database.
    pub source: Dsn,
    /// The service's database.
    pub target: Dsn,
    /// Age after which a clean verify no longer counts.
    #[serde(with = "humantime_serde_secs")]
    pub verify_max_age: Duration,
    /// Catch-up lag allowed.
    #[serde(with = "humantime_serde_secs")]
    pub max_lag: Duration,
}

mod humantime_serde_secs {
    use std::time::Duration;

    pub(super) fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }
}

/// A DSN as written: literal text with `${ENV_VAR}` references, never a
/// literal password. [`Dsn::expand`] fills the references in; `Display` shows
/// the references, never their values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Dsn(pub(crate) String);

impl Dsn {
    /// The text as written, with its `${…}` references.
    pub fn as_written(&self) -> &str {
        &self.0
    }

    /// The environment variables it refers to, in order.
    pub fn variables(&self) -> Vec<&str> {
        let mut out = Vec::new();
        let mut rest = self.0.as_str();
        while let Some(start) = rest.find("${") {
            let after = &rest[start + 2..];
            match after.find('}') {
                Some(end) => {
                    out.push(&after[..end]);
                    rest = &after[end + 1..];
                }
                None => break,
            }
        }
        out
    }

    /// The DSN with every `${NAME}` replaced by `env(NAME)`; the names that
    /// `env` does not know are the error.
    pub fn expand(&self, env: impl Fn(&str) -> Option<String>) -> Result<String, Vec<String>> {
        let mut out = String::new();
        let mut missing = Vec::new();
        let mut rest = self.0.as_str();
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else { break };
            let name = &after[..end];
            match env(name) {
                Some(value) => out.push_str(&value),
                None => missing.push(name.to_owned()),
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        if missing.is_empty() {
            Ok(out)
        } else {
            Err(missing)
        }
    }
}

impl fmt::Display for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Shadow comparison and the behaviour gate's thresholds.
#[derive(Debug, Clone, Serialize)]
pub struct ShadowPolicy {
    /// Compared pairs each route needs.
    pub min_samples: u64,
    /// Threshold for the match rate's lower confidence bound.
    pub match_rate: f64,
    /// Confidence of that bound.
    pub confidence: f64,
    /// Rules for every route (already checked with `Rules::resolve`).
    pub rules: Rules,
    /// Per-route rules replacing `rules` (already checked).
    pub routes: BTreeMap<String, Rules>,
}

impl ShadowPolicy {
    /// The rules for one route.
    pub fn rules_for(&self, route: &str) -> &Rules {
        self.routes.get(route).unwrap_or(&self.rules)
    }
}

impl Default for ShadowPolicy {
    fn default() -> Self {
        Self {
            min_samples: 100,
            match_rate: 0.99,
            confidence: 0.95,
            rules: Rules::default(),
            routes: BTreeMap::new(),
        }
    }
}

/// The canary's walk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CanaryPolicy {
    /// Weight of each step in basis points, strictly increasing, each 1..=10000.
    pub steps_bp: Vec<u16>,
    /// Time between two checks.
    #[serde(with = "humantime_serde_secs")]
    pub interval: Duration,
    /// Consecutive passing checks to advance.
    pub advance_after: u32,
    /// Failing checks that roll back.
    pub max_failures: u32,
    /// Steps (basis points, among `steps_bp`) that wait for approval.
    pub approval_bp: Vec<u16>,
}

impl Default for CanaryPolicy {
    fn default() -> Self {
        Self {
            steps_bp: vec![100, 500, 2_500, 5_000, 10_000],
            interval: Duration::from_secs(600),
            advance_after: 3,
            max_failures: 1,
            approval_bp: Vec::new(),
        }
    }
}

/// The readiness gates and their limits.
#[derive(Debug, Clone, Serialize)]
pub struct Gates {
    /// Coupling left.
    pub coupling: CouplingGate,
    /// Data verified.
    pub data: GateFlag,
    /// Shadow behaviour (thresholds in [`ShadowPolicy`]).
    pub behaviour: GateFlag,
    /// Error rate and latency.
    pub performance: PerformanceGate,
    /// Current stage.
    pub stage: StageGate,
}

impl Default for Gates {
    fn default() -> Self {
        Self {
            coupling: CouplingGate::default(),
            data: GateFlag { critical: true },
            behaviour: GateFlag { critical: true },
            performance: PerformanceGate::default(),
            stage: StageGate::default(),
        }
    }
}

/// A gate whose only setting is whether it is critical.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct GateFlag {
    /// The verdict needs it to pass.
    pub critical: bool,
}

/// Coupling limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CouplingGate {
    /// The verdict needs it to pass.
    pub critical: bool,
    /// Cross-domain writes allowed.
    pub max_cross_domain_writes: u64,
    /// Cross-domain foreign keys allowed.
    pub max_foreign_keys: u64,
    /// Cross-domain transactions allowed.
    pub max_transactions: u64,
}

impl Default for CouplingGate {
    fn default() -> Self {
        Self {
            critical: true,
            max_cross_domain_writes: 0,
            max_foreign_keys: 0,
            max_transactions: 0,
        }
    }
}

/// Performance limits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PerformanceGate {
    /// The verdict needs it to pass.
    pub critical: bool,
    /// Requests per side before judging.
    pub min_requests: u64,
    /// Allowed absolute increase of the 5xx rate.
    pub max_error_rate_delta: f64,
    /// Significance level.
    pub alpha: f64,
    /// Allowed P(new slower than legacy) − ½.
    pub max_latency_shift: f64,
    /// Absolute limit on the new side's 99th percentile.
    #[serde(with = "opt_duration")]
    pub max_p99: Option<Duration>,
}

mod opt_duration {
    use std::time::Duration;

    pub(super) fn serialize<S: serde::Serializer>(
        d: &Option<Duration>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&humantime::format_duration(*d).to_string()),
            None => s.serialize_none(),
        }
    }
}

impl Default for PerformanceGate {
    fn default() -> Self {
        Self {
            critical: true,
            min_requests: 200,
            max_error_rate_delta: 0.005,
            alpha: 0.05,
            max_latency_shift: 0.1,
            max_p99: None,
        }
    }
}

/// A route's stage, as the proxy names it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Served by the monolith.
    Legacy,
    /// Served by the monolith, mirrored to the new service.
    Shadow,
    /// Split by weight.
    Canary,
    /// Served by the new service.
    Cutover,
}

impl Mode {
    /// Parses the proxy's name for it.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "legacy" => Some(Self::Legacy),
            "shadow" => Some(Self::Shadow),
            "canary" => Some(Self::Canary),
            "cutover" => Some(Self::Cutover),
            _ => None,
        }
    }

    /// The proxy's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Legacy => "legacy",
            Self::Shadow => "shadow",
            Self::Canary => "canary",
            Self::Cutover => "cutover",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The stage requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StageGate {
    /// The verdict needs it to pass.
    pub critical: bool,
    /// Least mode every route must be in.
    pub require: Mode,
    /// Least canary weight, basis points.
    pub min_weight_bp: u16,
}

impl Default for StageGate {
    fn default() -> Self {
        Self {
            critical: false,
            require: Mode::Canary,
            min_weight_bp: 0,
        }
    }
}

/// Rollback policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RollbackPolicy {
    /// Roll back without a person when the canary's gates fail up to
    /// `max_failures`; when false, the controller halts and waits for one.
    pub automatic: bool,
    /// The stage rolled back to: `Legacy` or `Shadow`.
    pub to: Mode,
}

impl Default for RollbackPolicy {
    fn default() -> Self {
        Self {
            automatic: true,
            to: Mode::Legacy,
        }
    }
}
