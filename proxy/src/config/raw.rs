//! The proxy's YAML file as the user wrote it: serde types only. Fields that a
//! later check may complain about are `Spanned`, so the complaint names the line.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_saphyr::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub(crate) listen: Spanned<String>,
    #[serde(default)]
    pub(crate) workers: Option<Spanned<usize>>,
    /// The upstream that serves every request no route claims: the monolith.
    pub(crate) legacy: Spanned<String>,
    #[serde(default)]
    pub(crate) limits: RawLimits,
    #[serde(default)]
    pub(crate) tls: Option<RawTls>,
    #[serde(default)]
    pub(crate) admin: Option<RawAdmin>,
    #[serde(default)]
    pub(crate) state: Option<RawState>,
    /// Reload when the file changes (default true).
    #[serde(default)]
    pub(crate) watch: Option<bool>,
    /// One log line per request (default false).
    #[serde(default)]
    pub(crate) access_log: Option<bool>,
    /// The mirror's queue and workers, shared by every shadowed route.
    #[serde(default)]
    pub(crate) mirror: Option<RawMirror>,
    /// Add `Via: 1.1 msa-migrate` to requests and responses (default false).
    #[serde(default)]
    pub(crate) via: Option<bool>,
    pub(crate) upstreams: BTreeMap<String, Spanned<RawUpstream>>,
    #[serde(default)]
    pub(crate) routes: Vec<Spanned<RawRoute>>,
    /// Playbook files (relative to this file) whose routes become routes here.
    #[serde(default)]
    pub(crate) playbooks: Vec<Spanned<String>>,
    /// Traces of proxied requests; off when absent.
    #[serde(default)]
    pub(crate) telemetry: Option<RawTelemetry>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTelemetry {
    /// Export spans over OTLP; no spans at all without it.
    pub(crate) otlp: Option<Spanned<RawOtlp>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOtlp {
    /// The collector's base URL; `/v1/traces` is added.
    pub(crate) endpoint: Option<Spanned<String>>,
    /// Only `http/protobuf`.
    pub(crate) protocol: Option<Spanned<String>>,
    pub(crate) service_name: Option<Spanned<String>>,
    /// Share of new traces sampled, 0.0 to 1.0; a caller's decision is followed.
    pub(crate) sample_ratio: Option<Spanned<f64>>,
    /// An environment variable holding `name=value,…` headers for the collector.
    pub(crate) headers_env: Option<Spanned<String>>,
    /// Time one export may take, retries included.
    pub(crate) timeout: Option<Spanned<String>>,
    /// Spans waiting at most; a full queue drops and counts.
    pub(crate) queue: Option<Spanned<usize>>,
    /// Spans per export at most.
    pub(crate) batch: Option<Spanned<usize>>,
    /// How often a partial batch is sent.
    pub(crate) interval: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLimits {
    pub(crate) max_body_bytes: Option<u64>,
    pub(crate) header_read_timeout: Option<Spanned<String>>,
    pub(crate) max_headers: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTls {
    pub(crate) cert: Spanned<String>,
    pub(crate) key: Spanned<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUpstreamTls {
    pub(crate) ca: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMirror {
    pub(crate) queue: Option<usize>,
    pub(crate) concurrency: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawShadow {
    pub(crate) sample_bp: Option<Spanned<u32>>,
    pub(crate) methods: Option<Vec<Spanned<String>>>,
    pub(crate) max_body_bytes: Option<u64>,
    pub(crate) timeout: Option<Spanned<String>>,
    pub(crate) host: Option<Spanned<String>>,
    /// How the two answers are compared (the playbooks' vocabulary).
    pub(crate) rules: Option<Spanned<msa_shadow_compare::Rules>>,
    /// A second legacy upstream answering the same copies, to measure noise.
    pub(crate) noise_baseline: Option<Spanned<String>>,
    /// Paths whose values are always replaced in kept examples (beyond the
    /// personal-data patterns masked everywhere).
    pub(crate) redact: Option<Spanned<Vec<String>>>,
    /// Copies of this route queued or in flight at most.
    pub(crate) max_in_flight: Option<usize>,
    /// In the canary stage, mirror what the monolith still serves.
    pub(crate) in_canary: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAdmin {
    pub(crate) listen: Option<Spanned<String>>,
    pub(crate) token_env: Option<String>,
    pub(crate) token_file: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawState {
    pub(crate) store: Option<Spanned<String>>,
    pub(crate) file: Option<String>,
    pub(crate) audit_log: Option<String>,
    pub(crate) shadow_store: Option<String>,
    /// How long the shadow store keeps the rows of a replica that stopped
    /// writing them (default 7d).
    pub(crate) shadow_retention: Option<Spanned<String>>,
    /// Where `msa-migrate readiness` logs its verdicts, for the dashboard
    /// (default: `.msa/readiness-log.jsonl` beside this file, where
    /// `msa-migrate readiness` writes it when run from here).
    pub(crate) readiness_log: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCircuit {
    pub(crate) consecutive_failures: Option<u32>,
    pub(crate) open_for: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUpstream {
    pub(crate) endpoints: Vec<Spanned<String>>,
    #[serde(default)]
    pub(crate) balance: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) connect_timeout: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) request_timeout: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) idle_timeout: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) circuit: Option<RawCircuit>,
    #[serde(default)]
    pub(crate) tls: Option<Spanned<RawUpstreamTls>>,
    #[serde(default)]
    pub(crate) protocol: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRoute {
    pub(crate) name: Spanned<String>,
    #[serde(default)]
    pub(crate) methods: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub(crate) host: Option<String>,
    /// Exact path, or a template with `{name}` segments.
    #[serde(default)]
    pub(crate) path: Option<Spanned<String>>,
    /// Every path under this one.
    #[serde(default)]
    pub(crate) prefix: Option<Spanned<String>>,
    /// The new service's upstream; a playbook's route may leave it to the playbook.
    #[serde(default)]
    pub(crate) upstream: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) mode: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) weight_bp: Option<Spanned<u32>>,
    #[serde(default)]
    pub(crate) sticky: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) split_seed: Option<String>,
    #[serde(default)]
    pub(crate) fallback: Option<bool>,
    #[serde(default)]
    pub(crate) shadow: Option<Spanned<RawShadow>>,
}
