//! Prometheus metrics. Per-route handles are resolved once per configuration
//! snapshot, so a request only increments atomics; the counters themselves
//! live in one registry for the process and survive reloads.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Which side served a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Legacy,
    New,
}

impl Side {
    fn label(self) -> &'static str {
        match self {
            Self::Legacy => "legacy",
            Self::New => "new",
        }
    }
}

/// The label given to requests no route claims.
pub(crate) const UNCLAIMED: &str = "_unclaimed";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    side: &'static str,
    upstream: String,
    class: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    route: String,
    side: &'static str,
    upstream: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamErrorLabels {
    upstream: String,
    kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabel {
    upstream: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

type LatencyFamily = Family<LatencyLabels, Histogram, fn() -> Histogram>;

/// Every metric the proxy exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: LatencyFamily,
    upstream_errors: Family<UpstreamErrorLabels, Counter>,
    fallbacks: Family<RouteLabel, Counter>,
    circuit_open: Family<UpstreamLabel, Gauge>,
    route_weight: Family<RouteLabel, Gauge>,
    reloads: Family<ResultLabel, Counter>,
    shadow: Family<ShadowLabels, Counter>,
    trace_spans: Family<OutcomeLabel, Counter>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ShadowLabels {
    route: String,
    outcome: &'static str,
}

const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

fn latency_histogram() -> Histogram {
    // 0.5 ms to about 16 s.
    Histogram::new(exponential_buckets(0.000_5, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// An empty registry with every family registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("msa_proxy");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = LatencyFamily::new_with_constructor(latency_histogram);
        let upstream_errors = Family::<UpstreamErrorLabels, Counter>::default();
        let fallbacks = Family::<RouteLabel, Counter>::default();
        let circuit_open = Family::<UpstreamLabel, Gauge>::default();
        let route_weight = Family::<RouteLabel, Gauge>::default();
        let reloads = Family::<ResultLabel, Counter>::default();
        let shadow = Family::<ShadowLabels, Counter>::default();
        let trace_spans = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "requests",
            "Requests answered, by route, side, upstream and status class",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time to the response head, by route, side and upstream",
            latency.clone(),
        );
        registry.register(
            "upstream_errors",
            "Requests an upstream gave no answer to, by kind",
            upstream_errors.clone(),
        );
        registry.register(
            "fallbacks",
            "Cutover requests served by legacy because the new service failed",
            fallbacks.clone(),
        );
        registry.register(
            "circuit_open",
            "1 while an upstream's circuit breaker is open",
            circuit_open.clone(),
        );
        registry.register(
            "route_weight_basis_points",
            "Share of users on the new service, per route (10000 = cutover)",
            route_weight.clone(),
        );
        registry.register(
            "config_reloads",
            "Configuration reloads, by result",
            reloads.clone(),
        );
        registry.register(
            "shadow",
            "Mirrored requests by outcome: equal, different, unanalysed, candidate_failed, or why skipped",
            shadow.clone(),
        );
        registry.register(
            "trace_spans",
            "Sampled spans by outcome: exported, dropped (the export queue was full) or failed (the collector did not take them)",
            trace_spans.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            upstream_errors,
            fallbacks,
            circuit_open,
            route_weight,
            reloads,
            shadow,
            trace_spans,
        }
    }

    /// The counter of spans with this outcome (`exported`, `dropped`, `failed`).
    pub(crate) fn trace_spans(&self, outcome: &'static str) -> Counter {
        self.trace_spans
            .get_or_create(&OutcomeLabel { outcome })
            .clone()
    }

    /// Handles for one route (or [`UNCLAIMED`]) served by `legacy` or `new`.
    pub(crate) fn route(&self, route: &str, legacy: &str, new: &str) -> RouteMetrics {
        let side = |side: Side, upstream: &str| SideMetrics {
            classes: CLASSES.map(|class| {
                self.requests
                    .get_or_create(&RequestLabels {
                        route: route.to_owned(),
                        side: side.label(),
                        upstream: upstream.to_owned(),
                        class,
                    })
                    .clone()
            }),
            latency: self
                .latency
                .get_or_create(&LatencyLabels {
                    route: route.to_owned(),
                    side: side.label(),
                    upstream: upstream.to_owned(),
                })
                .clone(),
        };
        RouteMetrics {
            legacy: side(Side::Legacy, legacy),
            new: side(Side::New, new),
            fallbacks: self
                .fallbacks
                .get_or_create(&RouteLabel {
                    route: route.to_owned(),
                })
                .clone(),
            weight: self
                .route_weight
                .get_or_create(&RouteLabel {
                    route: route.to_owned(),
                })
                .clone(),
        }
    }

    /// An upstream gave no answer (`connect`, `timeout`, `failed`, `circuit_open`).
    pub(crate) fn upstream_error(&self, upstream: &str, kind: &'static str) {
        self.upstream_errors
            .get_or_create(&UpstreamErrorLabels {
                upstream: upstream.to_owned(),
                kind,
            })
            .inc();
    }

    /// An upstream's circuit opened or closed.
    pub(crate) fn circuit(&self, upstream: &str, open: bool) {
        self.circuit_open
            .get_or_create(&UpstreamLabel {
                upstream: upstream.to_owned(),
            })
            .set(i64::from(open));
    }

    /// A configuration reload ended.
    pub(crate) fn reload(&self, ok: bool) {
        let result = if ok { "ok" } else { "refused" };
        self.reloads.get_or_create(&ResultLabel { result }).inc();
    }

    /// A mirrored request ended with this outcome.
    pub(crate) fn shadow(&self, route: &str, outcome: &'static str) {
        self.shadow
            .get_or_create(&ShadowLabels {
                route: route.to_owned(),
                outcome,
            })
            .inc();
    }

    /// `count` mirrored requests ended with this outcome.
    pub(crate) fn shadow_by(&self, route: &str, outcome: &'static str, count: u64) {
        self.shadow
            .get_or_create(&ShadowLabels {
                route: route.to_owned(),
                outcome,
            })
            .inc_by(count);
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

/// One route's handles.
#[derive(Debug, Clone)]
pub(crate) struct RouteMetrics {
    legacy: SideMetrics,
    new: SideMetrics,
    fallbacks: Counter,
    weight: Gauge,
}

#[derive(Debug, Clone)]
struct SideMetrics {
    classes: [Counter; 5],
    latency: Histogram,
}

impl RouteMetrics {
    pub(crate) fn observe(&self, side: Side, status: u16, elapsed: Duration) {
        let side = match side {
            Side::Legacy => &self.legacy,
            Side::New => &self.new,
        };
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        side.classes[class].inc();
        side.latency.observe(elapsed.as_secs_f64());
    }

    pub(crate) fn fallback(&self) {
        self.fallbacks.inc();
    }

    pub(crate) fn set_weight(&self, basis_points: u16) {
        self.weight.set(i64::from(basis_points));
    }

    /// Requests answered so far per side and status class, for the admin API.
    pub(crate) fn counts(&self) -> serde_json::Value {
        let side = |s: &SideMetrics| {
            let mut counts = serde_json::Map::new();
            for (class, counter) in CLASSES.iter().zip(&s.classes) {
                counts.insert((*class).to_owned(), counter.get().into());
            }
            serde_json::Value::Object(counts)
        };
        serde_json::json!({ "legacy": side(&self.legacy), "new": side(&self.new), "fallbacks": self.fallbacks.get() })
    }
}
