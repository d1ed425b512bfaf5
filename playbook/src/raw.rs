//! A playbook as the user wrote it: serde types only, plus the JSON Schema
//! published for editors. Fields a later check may complain about are
//! `Spanned`, so the complaint names the line; `#[schemars(with = …)]` gives
//! the schema the plain type underneath.
//!
//! The doc comments here are the schema's descriptions and the reference in
//! docs/playbook.md: write them for the person editing the YAML.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

/// A playbook: everything msa-migrate needs to know about moving one domain
/// out of the monolith. One file per domain, `playbooks/<domain>.yaml`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "msa-migrate playbook")]
pub(crate) struct RawPlaybook {
    /// The domain's name: lowercase letters, digits, `-` and `_`, starting with a letter, e.g. `coupon`.
    #[schemars(with = "String")]
    pub(crate) domain: Spanned<String>,
    /// Who answers for this domain's migration: a team or a person.
    #[schemars(with = "String")]
    pub(crate) owner: Spanned<String>,
    /// The new service's upstream, named as in the proxy configuration's `upstreams`.
    #[schemars(with = "String")]
    pub(crate) upstream: Spanned<String>,
    /// The legacy routes this domain claims; each `name` is the proxy configuration's route name.
    #[schemars(with = "Vec<RawRoute>")]
    pub(crate) routes: Spanned<Vec<Spanned<RawRoute>>>,
    /// The tables this domain owns, by monolith table name, with how each maps
    /// to the service's database: the same vocabulary as `backfill --map`.
    #[serde(default)]
    pub(crate) tables: BTreeMap<String, crate::mapping::TableMapping>,
    /// Where the data lives: the monolith's database and the service's own.
    #[serde(default)]
    pub(crate) data: Option<RawData>,
    /// How shadow traffic is compared and how much of it is enough.
    #[serde(default)]
    pub(crate) shadow: Option<RawShadow>,
    /// How the canary walks from a few users to all of them.
    #[serde(default)]
    pub(crate) canary: Option<RawCanary>,
    /// The readiness gates: which are critical, and their limits.
    #[serde(default)]
    pub(crate) gates: Option<RawGates>,
    /// What happens when a gate fails during a rollout.
    #[serde(default)]
    pub(crate) rollback: Option<RawRollback>,
}

/// One route the domain claims: a method set and a path template.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Route")]
pub(crate) struct RawRoute {
    /// The route's name in the proxy configuration (its metrics, shadow results and stage go by it).
    #[schemars(with = "String")]
    pub(crate) name: Spanned<String>,
    /// HTTP methods claimed, e.g. `[GET]`; every method when omitted.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub(crate) methods: Option<Vec<Spanned<String>>>,
    /// The path: exact, or a template with `{name}` segments, e.g. `/api/coupons/{id}`.
    #[schemars(with = "String")]
    pub(crate) path: Spanned<String>,
}

/// The two databases. Credentials never appear here: write `${ENV_VAR}` for
/// the whole DSN or for its password.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Data")]
pub(crate) struct RawData {
    /// The monolith's database, e.g. `${LEGACY_DATABASE_URL}` or `postgres://app:${PGPASSWORD}@db/shop`.
    #[schemars(with = "String")]
    pub(crate) source: Spanned<String>,
    /// The service's own database, e.g. `${COUPON_DATABASE_URL}`.
    #[schemars(with = "String")]
    pub(crate) target: Spanned<String>,
    /// The last clean `verify` must be younger than this, e.g. `24h` (default 24h).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub(crate) verify_max_age: Option<Spanned<String>>,
    /// Catch-up may lag the monolith by at most this, e.g. `30s` (default 1m).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub(crate) max_lag: Option<Spanned<String>>,
}

/// Shadow comparison rules and the behaviour gate's thresholds.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Shadow")]
pub(crate) struct RawShadow {
    /// Compared pairs each route needs before its match rate counts (default 100).
    #[serde(default)]
    #[schemars(with = "Option<u64>")]
    pub(crate) min_samples: Option<Spanned<u64>>,
    /// The match rate's lower confidence bound must reach this, between 0 and 1 (default 0.99).
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub(crate) match_rate: Option<Spanned<f64>>,
    /// Confidence of that bound, between 0.5 and 1 exclusive (default 0.95).
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub(crate) confidence: Option<Spanned<f64>>,
    /// Comparison rules for every route of the domain (shadow-compare's vocabulary).
    #[serde(default)]
    #[schemars(with = "Option<RulesSchema>")]
    pub(crate) rules: Option<Spanned<msa_shadow_compare::Rules>>,
    /// Rules for one route, by route name; they replace `rules` for that route.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, RulesSchema>")]
    pub(crate) routes: BTreeMap<String, Spanned<msa_shadow_compare::Rules>>,
}

/// How the two answers to a shadowed request are compared; nothing is relaxed
/// unless a rule says so. The same vocabulary as the proxy's `shadow.rules`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Rules")]
#[allow(
    dead_code,
    reason = "describes msa_shadow_compare::Rules for the schema only"
)]
pub(crate) struct RulesSchema {
    /// JSON paths not compared at all: `$.items[*].createdAt`.
    #[serde(default)]
    ignore: Vec<String>,
    /// Arrays compared as multisets: `$.coupons`.
    #[serde(default)]
    unordered: Vec<String>,
    /// Arrays whose elements are matched by a key field: `{"$.coupons": couponId}`.
    #[serde(default)]
    keyed: BTreeMap<String, String>,
    /// Absolute tolerance for numbers at a path: `{"$.total": 0.01}`.
    #[serde(default)]
    numeric_tolerance: BTreeMap<String, f64>,
    /// `"100"` and `100` are equal.
    #[serde(default)]
    string_number: bool,
    /// ISO-8601 and epoch timestamps naming the same instant (within the tolerance) are equal.
    #[serde(default)]
    timestamps: Option<TimestampSchema>,
    /// Compare the status only.
    #[serde(default)]
    status_only: bool,
    /// Which headers are compared, beyond the default ignore list.
    #[serde(default)]
    headers: Option<HeadersSchema>,
}

/// Timestamp equivalence.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "TimestampRule")]
#[allow(
    dead_code,
    reason = "describes msa_shadow_compare::TimestampRule for the schema only"
)]
pub(crate) struct TimestampSchema {
    /// How far apart two instants may be and still be equal, in milliseconds.
    #[serde(default)]
    tolerance_ms: u64,
}

/// Header rules.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "HeaderRules")]
#[allow(
    dead_code,
    reason = "describes msa_shadow_compare::HeaderRules for the schema only"
)]
pub(crate) struct HeadersSchema {
    /// More headers not to compare.
    #[serde(default)]
    ignore: Vec<String>,
    /// Headers from the default ignore list to compare after all.
    #[serde(default)]
    compare: Vec<String>,
}

/// The canary's walk.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Canary")]
pub(crate) struct RawCanary {
    /// Share of users on the new service at each step, in percent, increasing, e.g. `[1, 5, 25, 50, 100]` (the default).
    #[serde(default)]
    #[schemars(with = "Option<Vec<f64>>")]
    pub(crate) steps: Option<Spanned<Vec<Spanned<f64>>>>,
    /// Time between two checks of the gates, e.g. `10m` (default 10m).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub(crate) interval: Option<Spanned<String>>,
    /// Consecutive passing checks needed to move to the next step (default 3).
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub(crate) advance_after: Option<Spanned<u32>>,
    /// Failing checks that roll back (default 1: the first failure).
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub(crate) max_failures: Option<Spanned<u32>>,
    /// Steps (percent, among `steps`) that wait for a person's approval before they start.
    #[serde(default)]
    #[schemars(with = "Vec<f64>")]
    pub(crate) approval: Vec<Spanned<f64>>,
}

/// The readiness gates. A critical gate that does not pass makes the domain not ready.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Gates")]
pub(crate) struct RawGates {
    /// Coupling left in the code and schema (from the latest `analyze`).
    #[serde(default)]
    pub(crate) coupling: Option<RawCouplingGate>,
    /// Data copied and verified.
    #[serde(default)]
    pub(crate) data: Option<RawPlainGate>,
    /// Shadow traffic: coverage and match rate (thresholds under `shadow`).
    #[serde(default)]
    pub(crate) behaviour: Option<RawPlainGate>,
    /// New against legacy error rate and latency, from the proxy's metrics.
    #[serde(default)]
    pub(crate) performance: Option<RawPerformanceGate>,
    /// The routes' current stage.
    #[serde(default)]
    pub(crate) stage: Option<RawStageGate>,
}

/// A gate with no settings of its own.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Gate")]
pub(crate) struct RawPlainGate {
    /// Whether the verdict needs this gate to pass (default true).
    #[serde(default)]
    pub(crate) critical: Option<bool>,
}

/// Limits on what the analysis still finds crossing the domain's boundary.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "CouplingGate")]
pub(crate) struct RawCouplingGate {
    /// Whether the verdict needs this gate to pass (default true).
    #[serde(default)]
    pub(crate) critical: Option<bool>,
    /// Writes by other domains' code to this domain's tables, or by this domain to theirs (default 0).
    #[serde(default)]
    pub(crate) max_cross_domain_writes: Option<u64>,
    /// Foreign keys between this domain's tables and other domains' (default 0).
    #[serde(default)]
    pub(crate) max_foreign_keys: Option<u64>,
    /// Transactions spanning this domain and another (default 0; each is a saga to design).
    #[serde(default)]
    pub(crate) max_transactions: Option<u64>,
}

/// Limits comparing the new service with the monolith on live traffic.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "PerformanceGate")]
pub(crate) struct RawPerformanceGate {
    /// Whether the verdict needs this gate to pass (default true).
    #[serde(default)]
    pub(crate) critical: Option<bool>,
    /// Requests each side needs before it is judged (default 200).
    #[serde(default)]
    #[schemars(with = "Option<u64>")]
    pub(crate) min_requests: Option<Spanned<u64>>,
    /// How much higher the new service's 5xx rate may be, absolute, e.g. `0.005` for half a point (default 0.005).
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub(crate) max_error_rate_delta: Option<Spanned<f64>>,
    /// Significance level of the error-rate and latency tests (default 0.05).
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub(crate) alpha: Option<Spanned<f64>>,
    /// How far above one half the chance that a new request is slower than a legacy one may be (default 0.1: 60%).
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub(crate) max_latency_shift: Option<Spanned<f64>>,
    /// The new service's 99th percentile must be under this, e.g. `500ms` (no limit when omitted).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub(crate) max_p99: Option<Spanned<String>>,
}

/// Which stage the routes must have reached.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "StageGate")]
pub(crate) struct RawStageGate {
    /// Whether the verdict needs this gate to pass (default false: the stage is reported, not required).
    #[serde(default)]
    pub(crate) critical: Option<bool>,
    /// The least stage every route must be in: `legacy`, `shadow`, `canary` (the default) or `cutover`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub(crate) require: Option<Spanned<String>>,
    /// In canary, the least weight in basis points (0–10000; default 0).
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub(crate) min_weight_bp: Option<Spanned<u32>>,
}

/// What happens when a gate fails during a rollout.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Rollback")]
pub(crate) struct RawRollback {
    /// When the canary's gates fail `canary.max_failures` times: roll back on its own (true, the default), or halt at the weight and wait for a person's `canary abort` or `canary resume` (false).
    #[serde(default)]
    pub(crate) automatic: Option<bool>,
    /// The stage a rollback returns the routes to: `legacy` (default) or `shadow`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub(crate) to: Option<Spanned<String>>,
}
