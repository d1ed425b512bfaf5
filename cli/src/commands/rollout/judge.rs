//! Judging a canary step, per window at one weight, on the proxies' own
//! evidence summed over every replica: performance with the readiness gate
//! ([`readiness::performance_gate`]: the new service's 5xx rate and latency
//! against the monolith's, from `/metrics`), and behaviour (new
//! high-severity shadow differences on the domain's routes, from `/shadow`,
//! see [`super::behaviour`]). Either failing fails the window.

use std::future::Future;

use msa_playbook::PerformanceGate;
use msa_playbook::readiness::{self, PerformanceEvidence, Proof, SideMetrics};
use msa_playbook::verdict::Outcome as Gate;
use msa_proxy::state::client::AdminClient;
use serde::{Deserialize, Serialize};

use super::behaviour::{self, ShadowTally};

/// One gate's part in a window's judgement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct GateResult {
    /// `performance` or `behaviour`.
    pub(super) gate: String,
    pub(super) outcome: Gate,
    /// Its evidence in words.
    pub(super) summary: String,
}

impl GateResult {
    fn new(gate: &str, (outcome, summary): &(Gate, String)) -> Self {
        Self {
            gate: gate.to_owned(),
            outcome: *outcome,
            summary: summary.clone(),
        }
    }
}

/// A window judged: the one outcome the walk takes, each gate's part, and
/// the evidence in words.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Judgement {
    pub(super) outcome: Gate,
    /// Every gate's evidence, and what could not be read, in words.
    pub(super) evidence: String,
    pub(super) gates: Vec<GateResult>,
    /// The replicas whose metrics or shadow results could not be read.
    pub(super) unreadable: Vec<String>,
    /// Judged at a look before the interval ended.
    pub(super) early: bool,
}

/// Judges a step: the gates' combined outcome, with the evidence.
pub(super) trait Judge {
    /// Starts a new window (at a new weight).
    fn rebaseline(&mut self) -> impl Future<Output = ()>;
    /// Judges the window since the last judgement or rebaseline.
    fn judge(&mut self) -> impl Future<Output = Judgement>;
    /// Looks at the window so far: `Some` only when it already fails beyond
    /// doubt (and then the window ends, as with [`Self::judge`]). Fail fast,
    /// pass slow: a dead new service is not left serving for a whole interval.
    fn peek(&mut self) -> impl Future<Output = Option<Judgement>>;
}

/// A step's window passes when the new service is not shown worse on enough
/// requests: each window is one look of several at a share of the traffic,
/// and readiness asks for the proof (shown not worse) before the cutover.
const PROOF: Proof = Proof::NotShownWorse;

/// The limits a look before the interval ends fails on: only beyond doubt.
fn peek_gate(gate: &PerformanceGate) -> PerformanceGate {
    PerformanceGate {
        // Ten requests a side already tell a dead service apart.
        min_requests: gate.min_requests.min(10),
        // It looks every second: a hundred times stricter, so that chance
        // over many looks does not roll back a healthy service.
        alpha: gate.alpha / 100.0,
        // The p99 of a few requests is their slowest one: no proof.
        max_p99: None,
        ..*gate
    }
}

#[allow(
    clippy::cast_precision_loss,
    reason = "rates of request counts; precision to 2^53 is plenty"
)]
fn rate(side: &SideMetrics) -> f64 {
    if side.requests == 0 {
        0.0
    } else {
        side.errors as f64 / side.requests as f64
    }
}

/// Judges one window with `gate`. When the monolith served fewer than
/// `min_requests` in it (at 100% it serves none), its traffic in the windows
/// judged before (`legacy_before`) is the reference.
fn judge_window(
    gate: &PerformanceGate,
    window: &PerformanceEvidence,
    legacy_before: &SideMetrics,
) -> (Gate, String) {
    let mut evidence = window.clone();
    let mut earlier = "";
    if window.legacy.requests < gate.min_requests && legacy_before.requests > 0 {
        evidence.legacy.add(legacy_before);
        earlier = " (with the earlier windows')";
    }
    let counts = format!(
        "new {} req, {:.2}% 5xx; legacy{earlier} {} req, {:.2}% 5xx",
        evidence.new.requests,
        rate(&evidence.new) * 100.0,
        evidence.legacy.requests,
        rate(&evidence.legacy) * 100.0
    );
    if evidence.new.requests == 0 {
        return (
            Gate::NoData,
            format!("{counts}: no request reached the new service"),
        );
    }
    let judgement = readiness::performance_gate(gate, PROOF, Some(&evidence));
    (
        judgement.outcome,
        format!("{counts}: {}", judgement.summary),
    )
}

/// The window so far: each replica's scrape `now` since its `baseline`,
/// summed; and the errors of the replicas that could not be read. A replica
/// unread at the baseline, or restarted since, counts from 0.
fn window(
    now: &[Result<PerformanceEvidence, String>],
    baseline: &[Option<PerformanceEvidence>],
) -> (PerformanceEvidence, Vec<String>) {
    let mut window = PerformanceEvidence::default();
    let mut unreachable = Vec::new();
    for (i, scraped) in now.iter().enumerate() {
        match (scraped, baseline.get(i).and_then(Option::as_ref)) {
            (Ok(evidence), Some(earlier)) => window.add(&evidence.since(earlier)),
            (Ok(evidence), None) => window.add(evidence),
            (Err(err), _) => unreachable.push(err.clone()),
        }
    }
    (window, unreachable)
}

/// The window's two judgements as one: a failure of either fails it (a
/// behaviour failure rolls back like a performance failure); otherwise the
/// performance outcome decides: a window with no shadow pair (sampling, or
/// nothing left on the monolith at full weight) has no behaviour evidence.
fn combine(performance: (Gate, String), behaviour: (Gate, String)) -> (Gate, String) {
    let outcome = if behaviour.0 == Gate::Fail {
        Gate::Fail
    } else {
        performance.0
    };
    (
        outcome,
        format!("{}; behaviour: {}", performance.1, behaviour.1),
    )
}

/// Judges each window on the proxies' metrics and shadow results.
#[derive(Debug)]
pub(super) struct ProxyJudge {
    admins: Vec<AdminClient>,
    routes: Vec<String>,
    gate: PerformanceGate,
    /// Each replica's evidence when the window began (`None`: unreadable).
    baseline: Vec<Option<PerformanceEvidence>>,
    /// Each replica's shadow results when the window began.
    shadow_baseline: Vec<Option<ShadowTally>>,
    /// The monolith's traffic in the windows judged so far.
    legacy_before: SideMetrics,
}

/// One look at every replica: metrics, and shadow results when asked.
struct Scrape {
    metrics: Vec<Result<PerformanceEvidence, String>>,
    shadow: Option<Vec<Result<ShadowTally, String>>>,
}

impl ProxyJudge {
    pub(super) fn new(
        admins: Vec<AdminClient>,
        routes: Vec<String>,
        gate: PerformanceGate,
    ) -> Self {
        let baseline = vec![None; admins.len()];
        let shadow_baseline = vec![None; admins.len()];
        Self {
            admins,
            routes,
            gate,
            baseline,
            shadow_baseline,
            legacy_before: SideMetrics::default(),
        }
    }

    /// Every replica's metrics, and with `shadow` its shadow results, all
    /// asked at once: a slow replica does not delay the others', so a
    /// failure is seen as soon as it shows. (A shadow report is the heavier
    /// answer: it is asked at judgements, not at every look in between.)
    async fn scrape(&self, shadow: bool) -> Scrape {
        let routes: Vec<&str> = self.routes.iter().map(String::as_str).collect();
        let mut asked = tokio::task::JoinSet::new();
        for (i, admin) in self.admins.iter().enumerate() {
            let admin = admin.clone();
            asked.spawn(async move {
                let report = async {
                    if shadow {
                        Some(admin.shadow().await)
                    } else {
                        None
                    }
                };
                (i, tokio::join!(admin.metrics(), report))
            });
        }
        let mut answers = Vec::new();
        while let Some(answer) = asked.join_next().await {
            answers.push(answer.expect("a scrape does not panic"));
        }
        answers.sort_by_key(|(i, _)| *i);
        let mut metrics = Vec::new();
        let mut reports = Vec::new();
        for (_, (text, report)) in answers {
            metrics.push(
                text.map(|text| PerformanceEvidence::from_prometheus(&text, &routes))
                    .map_err(|e| e.to_string()),
            );
            if let Some(report) = report {
                reports.push(
                    report
                        .map(|report| ShadowTally::from_report(&report, &self.routes))
                        .map_err(|e| e.to_string()),
                );
            }
        }
        Scrape {
            metrics,
            shadow: shadow.then_some(reports),
        }
    }

    /// Ends the window: the next begins now. Without shadow results (a
    /// look between judgements), the next window's behaviour is counted
    /// from the same start as this one's.
    fn close(&mut self, now: Scrape, window: &PerformanceEvidence) {
        self.legacy_before.add(&window.legacy);
        self.baseline = now.metrics.into_iter().map(Result::ok).collect();
        if let Some(shadow) = now.shadow {
            self.shadow_baseline = shadow.into_iter().map(Result::ok).collect();
        }
    }
}

impl Judge for ProxyJudge {
    async fn rebaseline(&mut self) {
        let now = self.scrape(true).await;
        self.baseline = now.metrics.into_iter().map(Result::ok).collect();
        self.shadow_baseline = now.shadow.into_iter().flatten().map(Result::ok).collect();
    }

    async fn peek(&mut self) -> Option<Judgement> {
        let now = self.scrape(false).await;
        let (window, _) = window(&now.metrics, &self.baseline);
        let performance = judge_window(&peek_gate(&self.gate), &window, &self.legacy_before);
        if performance.0 != Gate::Fail {
            return None;
        }
        self.close(now, &window);
        Some(Judgement {
            outcome: Gate::Fail,
            evidence: format!("{}, seen before the interval ended", performance.1),
            gates: vec![GateResult::new("performance", &performance)],
            unreadable: Vec::new(),
            early: true,
        })
    }

    async fn judge(&mut self) -> Judgement {
        let now = self.scrape(true).await;
        let (window, mut unreachable) = window(&now.metrics, &self.baseline);
        let (shadowed, unshadowed) = behaviour::window(
            now.shadow.as_deref().unwrap_or_default(),
            &self.shadow_baseline,
        );
        unreachable.extend(unshadowed);
        let performance = judge_window(&self.gate, &window, &self.legacy_before);
        let behaviour = behaviour::judge(&shadowed);
        let gates = vec![
            GateResult::new("performance", &performance),
            GateResult::new("behaviour", &behaviour),
        ];
        let (mut outcome, mut evidence) = combine(performance, behaviour);
        self.close(now, &window);
        if !unreachable.is_empty() && outcome != Gate::Fail {
            // Part of the evidence is missing: never a pass on what is left.
            outcome = Gate::Inconclusive;
            evidence = format!("{evidence}; no evidence from: {}", unreachable.join("; "));
        }
        Judgement {
            outcome,
            evidence,
            gates,
            unreadable: unreachable,
            early: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use msa_playbook::stats::Histogram;

    use super::*;

    /// One side: `requests`, `errors`, and how many answered within each of
    /// 5, 10, 20, 40 ms and +Inf (cumulative).
    fn side(requests: u64, errors: u64, cumulative: [u64; 5]) -> SideMetrics {
        SideMetrics {
            requests,
            errors,
            latency: Histogram {
                buckets: [0.005, 0.01, 0.02, 0.04, f64::INFINITY]
                    .into_iter()
                    .zip(cumulative)
                    .collect(),
            },
        }
    }

    /// `requests` answered within 5 ms, `errors` of them 5xx.
    fn fast(requests: u64, errors: u64) -> SideMetrics {
        side(requests, errors, [requests; 5])
    }

    fn evidence(new: SideMetrics, legacy: SideMetrics) -> PerformanceEvidence {
        PerformanceEvidence { new, legacy }
    }

    /// The CLI's limits for `--routes` without a playbook, `--min-requests 10`.
    fn gate() -> PerformanceGate {
        PerformanceGate {
            min_requests: 10,
            max_error_rate_delta: 0.005,
            ..PerformanceGate::default()
        }
    }

    fn none() -> SideMetrics {
        SideMetrics::default()
    }

    #[test]
    fn a_healthy_window_on_light_traffic_passes() {
        // The demo's first step: 10% of a few hundred requests.
        let (outcome, said) = judge_window(&gate(), &evidence(fast(30, 0), fast(191, 0)), &none());
        assert_eq!(outcome, Gate::Pass, "{said}");
        assert!(
            said.starts_with("new 30 req, 0.00% 5xx; legacy 191 req, 0.00% 5xx: "),
            "{said}"
        );
        assert!(said.contains("not shown worse"), "{said}");
    }

    #[test]
    fn a_window_whose_new_side_is_clearly_slower_fails_on_latency() {
        // No error anywhere; legacy answers within 5 ms, new mostly in 20-40 ms.
        let slow = side(200, 0, [0, 10, 40, 200, 200]);
        let (outcome, said) = judge_window(&gate(), &evidence(slow, fast(400, 0)), &none());
        assert_eq!(outcome, Gate::Fail, "{said}");
        assert!(said.contains("latency"), "{said}");
        assert!(said.contains("Mann-Whitney"), "{said}");
        // The same traffic answered as fast as legacy passes.
        let (outcome, said) = judge_window(&gate(), &evidence(fast(200, 0), fast(400, 0)), &none());
        assert_eq!(outcome, Gate::Pass, "{said}");
    }

    #[test]
    fn a_window_with_too_few_requests_is_inconclusive() {
        let (outcome, said) = judge_window(&gate(), &evidence(fast(9, 0), fast(400, 0)), &none());
        assert_eq!(outcome, Gate::Inconclusive, "{said}");
        assert!(said.contains("each side needs 10"), "{said}");
        let (outcome, said) = judge_window(&gate(), &evidence(none(), fast(400, 0)), &none());
        assert_eq!(outcome, Gate::NoData, "{said}");
        assert!(
            said.contains("no request reached the new service"),
            "{said}"
        );
    }

    #[test]
    fn more_errors_than_legacy_fail_and_a_dead_service_fails_at_a_peek() {
        let (outcome, said) =
            judge_window(&gate(), &evidence(fast(200, 20), fast(400, 1)), &none());
        assert_eq!(outcome, Gate::Fail, "{said}");
        assert!(said.contains("5xx rate 10.000%"), "{said}");
        assert_eq!(
            judge_window(&gate(), &evidence(fast(200, 1), fast(400, 2)), &none()).0,
            Gate::Pass,
            "as many errors as legacy"
        );
        // A peek fails only beyond doubt: 20 dead requests do, ...
        let production = PerformanceGate::default();
        let peek = peek_gate(&production);
        let dead = evidence(fast(20, 20), fast(2_000, 2));
        assert_eq!(
            judge_window(&production, &dead, &none()).0,
            Gate::Inconclusive
        );
        assert_eq!(judge_window(&peek, &dead, &none()).0, Gate::Fail);
        // ... a few errors more than legacy's do not, until the interval ends.
        let worse = evidence(fast(200, 6), fast(400, 2));
        assert_eq!(judge_window(&production, &worse, &none()).0, Gate::Fail);
        assert_eq!(judge_window(&peek, &worse, &none()).0, Gate::Pass);
    }

    #[test]
    fn at_full_weight_the_monoliths_earlier_windows_are_the_reference() {
        let alone = evidence(fast(300, 0), fast(2, 0));
        assert_eq!(judge_window(&gate(), &alone, &none()).0, Gate::Inconclusive);
        let (outcome, said) = judge_window(&gate(), &alone, &fast(500, 0));
        assert_eq!(outcome, Gate::Pass, "{said}");
        assert!(
            said.contains("legacy (with the earlier windows') 502 req"),
            "{said}"
        );
        let failing = evidence(fast(300, 60), none());
        assert_eq!(judge_window(&gate(), &failing, &fast(500, 0)).0, Gate::Fail);
    }

    #[test]
    fn the_window_sums_every_replica_since_its_baseline() {
        let at = |new: SideMetrics, legacy: SideMetrics| Ok(evidence(new, legacy));
        let baseline = vec![
            Some(evidence(fast(100, 1), fast(1_000, 0))),
            None,
            Some(evidence(fast(50, 0), fast(50, 0))),
            Some(evidence(fast(500, 0), fast(500, 0))),
        ];
        let now = vec![
            at(fast(130, 3), fast(1_100, 1)),
            at(fast(5, 0), fast(5, 0)),
            Err("replica 3: connection refused".to_owned()),
            // Restarted: fewer than at the baseline, counted from 0.
            at(fast(7, 1), fast(8, 0)),
        ];
        let (sum, unreachable) = window(&now, &baseline);
        assert_eq!(sum, evidence(fast(42, 3), fast(113, 1)));
        assert_eq!(
            unreachable,
            vec!["replica 3: connection refused".to_owned()]
        );
    }

    #[test]
    fn a_behaviour_failure_fails_the_window_whatever_performance_says() {
        let pass = (Gate::Pass, "perf ok".to_owned());
        let fail = (Gate::Fail, "new diffs".to_owned());
        let none = (Gate::NoData, "no pair".to_owned());
        assert_eq!(combine(pass.clone(), fail.clone()).0, Gate::Fail);
        assert_eq!(
            combine((Gate::Inconclusive, "few".to_owned()), fail).0,
            Gate::Fail
        );
        // No shadow pairs in the window: performance decides.
        let (outcome, said) = combine(pass, none);
        assert_eq!(outcome, Gate::Pass);
        assert_eq!(said, "perf ok; behaviour: no pair");
        assert_eq!(
            combine(
                (Gate::Fail, "5xx".to_owned()),
                (Gate::Pass, "ok".to_owned())
            )
            .0,
            Gate::Fail
        );
    }
}
