use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde_json::json;

use super::*;

fn playbook() -> Playbook {
    crate::parse(
        "coupon.yaml",
        "\
domain: coupon
owner: team-coupon
upstream: coupon
routes:
  - name: coupon-read
    methods: [GET]
    path: /api/coupons/{id}
  - name: coupon-issue
    methods: [POST]
    path: /api/coupons/{id}/issue
data:
  source: ${LEGACY_DATABASE_URL}
  target: ${COUPON_DATABASE_URL}
  verify_max_age: 1h
  max_lag: 30s
shadow:
  min_samples: 100
  match_rate: 0.95
gates:
  coupling: {max_foreign_keys: 1}
  performance: {min_requests: 100, max_p99: 50ms}
  stage: {critical: true, require: canary, min_weight_bp: 500}
",
    )
    .unwrap()
}

const NOW: Duration = Duration::from_secs(1_800_000_000);

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + NOW
}

// coupling

fn coupling_evidence(fks: usize, transactions: usize) -> CouplingEvidence {
    CouplingEvidence {
        source: "analysis/analysis.json".into(),
        domain_known: true,
        cross_domain_writes: Vec::new(),
        foreign_keys: (0..fks).map(|i| format!("fk{i}")).collect(),
        transactions: (0..transactions).map(|i| format!("tx{i}")).collect(),
    }
}

#[test]
fn coupling_has_four_outcomes() {
    let p = playbook();
    assert_eq!(
        coupling(&p, Some(&coupling_evidence(1, 0))).outcome,
        Outcome::Pass,
        "one FK is allowed"
    );
    let failed = coupling(&p, Some(&coupling_evidence(2, 1)));
    assert_eq!(failed.outcome, Outcome::Fail);
    assert!(
        failed
            .summary
            .contains("2 cross-domain foreign key(s) (limit 1)"),
        "{}",
        failed.summary
    );
    assert!(
        failed
            .summary
            .contains("1 cross-domain transaction(s) (limit 0)"),
        "{}",
        failed.summary
    );
    assert!(
        failed
            .details
            .contains(&"cross-domain transaction(s): tx0".to_owned())
    );
    let unknown = CouplingEvidence {
        domain_known: false,
        ..coupling_evidence(0, 0)
    };
    assert_eq!(coupling(&p, Some(&unknown)).outcome, Outcome::Inconclusive);
    assert_eq!(coupling(&p, None).outcome, Outcome::NoData);
}

// data

fn verified(ago: u64, mismatches: u64, rows: u64) -> VerifyRun {
    VerifyRun {
        finished_at: now() - Duration::from_secs(ago),
        clean: mismatches == 0,
        rows_checked: rows,
        mismatches,
    }
}

fn data_with(run: Option<VerifyRun>, lag: Option<u64>) -> Judgement {
    let e = DataEvidence {
        last_verify: run,
        lag: lag.map(Duration::from_secs),
        unavailable: None,
    };
    data(&playbook(), Some(&e), now())
}

#[test]
fn data_has_four_outcomes() {
    assert_eq!(
        data_with(Some(verified(600, 0, 1_000)), Some(2)).outcome,
        Outcome::Pass
    );
    let mismatch = data_with(Some(verified(600, 3, 1_000)), Some(2));
    assert_eq!(mismatch.outcome, Outcome::Fail);
    assert!(
        mismatch.summary.contains("3 mismatching row(s)"),
        "{}",
        mismatch.summary
    );
    let lagging = data_with(Some(verified(600, 0, 1_000)), Some(120));
    assert_eq!(lagging.outcome, Outcome::Fail);
    assert!(
        lagging.summary.contains("lags 120.0s"),
        "{}",
        lagging.summary
    );
    let stale = data_with(Some(verified(7_200, 0, 1_000)), Some(2));
    assert_eq!(stale.outcome, Outcome::Inconclusive);
    assert!(stale.summary.contains("2h old"), "{}", stale.summary);
    assert_eq!(
        data_with(Some(verified(600, 0, 0)), Some(2)).outcome,
        Outcome::Inconclusive
    );
    assert_eq!(
        data_with(Some(verified(600, 0, 10)), None).outcome,
        Outcome::Inconclusive
    );
    let none = data(
        &playbook(),
        Some(&DataEvidence {
            unavailable: Some("msa-backfill cannot tell yet".into()),
            ..DataEvidence::default()
        }),
        now(),
    );
    assert_eq!(none.outcome, Outcome::NoData);
    assert!(
        none.summary.contains("msa-backfill cannot tell yet"),
        "{}",
        none.summary
    );
    assert_eq!(data(&playbook(), None, now()).outcome, Outcome::NoData);
}

// behaviour

fn shadowed(route: &str, compared: u64, equal: u64, high: &[&str]) -> RouteShadow {
    RouteShadow {
        route: route.into(),
        compared,
        equal,
        candidate_failed: 0,
        high_unresolved: high.iter().map(|s| (*s).to_owned()).collect(),
        templates: Vec::new(),
    }
}

fn template(key: &str, compared: u64, equal: u64) -> TemplateShadow {
    TemplateShadow {
        template: key.into(),
        compared,
        equal,
        ..TemplateShadow::default()
    }
}

fn behaviour_of(routes: Vec<RouteShadow>) -> Judgement {
    behaviour(&playbook(), Some(&BehaviourEvidence { routes }))
}

#[test]
fn behaviour_has_four_outcomes() {
    let good = behaviour_of(vec![
        shadowed("coupon-read", 500, 500, &[]),
        shadowed("coupon-issue", 200, 199, &[]),
    ]);
    assert_eq!(good.outcome, Outcome::Pass, "{:?}", good.details);
    // 190/200 = 95% observed, but its lower bound is under 95%: more samples might lift it.
    let unsure = behaviour_of(vec![
        shadowed("coupon-read", 500, 500, &[]),
        shadowed("coupon-issue", 200, 190, &[]),
    ]);
    assert_eq!(
        unsure.outcome,
        Outcome::Inconclusive,
        "{:?}",
        unsure.details
    );
    let low = behaviour_of(vec![
        shadowed("coupon-read", 500, 500, &[]),
        shadowed("coupon-issue", 200, 150, &[]),
    ]);
    assert_eq!(low.outcome, Outcome::Fail);
    assert!(
        low.details[1].contains("150 of 200 equal (75.00%)"),
        "{:?}",
        low.details
    );
    let quirk = behaviour_of(vec![
        shadowed("coupon-read", 500, 500, &["$.discountAmount"]),
        shadowed("coupon-issue", 200, 200, &[]),
    ]);
    assert_eq!(quirk.outcome, Outcome::Fail);
    assert!(quirk.details[0].contains("$.discountAmount"));
    let few = behaviour_of(vec![
        shadowed("coupon-read", 500, 500, &[]),
        shadowed("coupon-issue", 20, 20, &[]),
    ]);
    assert_eq!(few.outcome, Outcome::Inconclusive);
    assert!(few.details[1].contains("20 of the 100 compared pairs needed"));
    // Copies the new service did not answer count as pairs that did not match.
    let mut failing = shadowed("coupon-issue", 200, 200, &[]);
    failing.candidate_failed = 60;
    let timeouts = behaviour_of(vec![shadowed("coupon-read", 500, 500, &[]), failing]);
    assert_eq!(timeouts.outcome, Outcome::Fail, "{:?}", timeouts.details);
    assert!(
        timeouts.details[1].contains("200 of 260 equal"),
        "{:?}",
        timeouts.details
    );
    let one_missing = behaviour_of(vec![shadowed("coupon-read", 500, 500, &[])]);
    assert_eq!(
        one_missing.outcome,
        Outcome::Inconclusive,
        "a route never shadowed is never a pass"
    );
    assert!(one_missing.details[1].contains("coupon-issue: never shadowed"));
    assert_eq!(behaviour_of(Vec::new()).outcome, Outcome::NoData);
    assert_eq!(behaviour(&playbook(), None).outcome, Outcome::NoData);
}

#[test]
fn behaviour_reads_the_shadow_report_and_skips_high_differences_shown_to_be_noise() {
    let report = json!({"routes": [{
        "route": "coupon-read", "compared": 300, "equal": 280, "candidate_failed": 1,
        "paths": [
            {"path": "$.discountAmount", "kind": "type_changed", "severity": "high", "count": 20},
            {"path": "$.createdAt", "kind": "changed", "severity": "high", "count": 20, "noise": {"verdict": "noise"}},
            {"path": "$.couponType", "kind": "extra", "severity": "low", "count": 20}
        ]
    }]});
    let e = BehaviourEvidence::from_report(&report);
    assert_eq!(
        e.routes,
        vec![RouteShadow {
            route: "coupon-read".into(),
            compared: 300,
            equal: 280,
            candidate_failed: 1,
            high_unresolved: vec!["$.discountAmount".into()],
            templates: Vec::new(),
        }],
        "a report from before templates reads as before"
    );
}

/// Issue 4: a route's totals can hide one template's regression.
#[test]
fn a_template_clearly_under_the_threshold_fails_its_route() {
    let mut read = shadowed("coupon-read", 1000, 990, &[]);
    read.templates = vec![
        template("GET /api/coupons/{id}", 980, 980),
        template("POST /api/coupons/{id}/issue", 20, 10),
    ];
    let issue = shadowed("coupon-issue", 200, 200, &[]);
    let judged = behaviour_of(vec![read.clone(), issue.clone()]);
    assert_eq!(judged.outcome, Outcome::Fail, "{:?}", judged.details);
    assert!(
        judged.details[0].starts_with(
            "coupon-read: template POST /api/coupons/{id}/issue: 10 of 20 equal (50.00%)"
        ),
        "{:?}",
        judged.details
    );
    assert_eq!(
        judged.inputs["routes"][0]["templates"][1]["outcome"], "fail",
        "{}",
        judged.inputs
    );

    // The same totals without templates (an older report): the route passes.
    let mut totals_only = read.clone();
    totals_only.templates.clear();
    let judged = behaviour_of(vec![totals_only, issue.clone()]);
    assert_eq!(judged.outcome, Outcome::Pass, "{:?}", judged.details);

    // A rarely used template that matched so far does not hold the route back.
    read.templates[1] = template("POST /api/coupons/{id}/issue", 3, 3);
    read.equal = 983;
    read.compared = 983;
    let judged = behaviour_of(vec![read.clone(), issue.clone()]);
    assert_eq!(judged.outcome, Outcome::Pass, "{:?}", judged.details);

    // A high-severity difference on one template fails the route, named there.
    read.templates[1].high_unresolved = vec!["$.discountAmount".into()];
    let judged = behaviour_of(vec![read, issue]);
    assert_eq!(judged.outcome, Outcome::Fail, "{:?}", judged.details);
    assert!(
        judged.details[0].contains("template POST /api/coupons/{id}/issue: high-severity"),
        "{:?}",
        judged.details
    );
}

#[test]
fn behaviour_reads_each_templates_results() {
    let report = json!({"routes": [{
        "route": "coupons", "compared": 12, "equal": 10, "candidate_failed": 0, "paths": [],
        "templates": [
            {"template": "GET /api/coupons/{id}", "compared": 10, "equal": 10, "candidate_failed": 0, "paths": []},
            {"template": "POST /api/coupons/{id}/issue", "compared": 2, "equal": 0, "candidate_failed": 1,
             "paths": [{"path": "$.amount", "severity": "high", "count": 2}]}
        ]
    }]});
    let e = BehaviourEvidence::from_report(&report);
    let templates = &e.routes[0].templates;
    assert_eq!(templates.len(), 2);
    assert_eq!(
        templates[1],
        TemplateShadow {
            template: "POST /api/coupons/{id}/issue".into(),
            compared: 2,
            equal: 0,
            candidate_failed: 1,
            high_unresolved: vec!["$.amount".into()],
        }
    );
}

// performance

fn side(requests: u64, errors: u64, cumulative: &[u64]) -> SideMetrics {
    SideMetrics {
        requests,
        errors,
        latency: Histogram {
            buckets: [0.01, 0.02, 0.04, 0.08, f64::INFINITY]
                .into_iter()
                .zip(cumulative.iter().copied())
                .collect(),
        },
    }
}

fn performance_of(new: SideMetrics, legacy: SideMetrics) -> Judgement {
    performance(&playbook(), Some(&PerformanceEvidence { new, legacy }))
}

#[test]
fn performance_has_four_outcomes() {
    let fast = [800, 990, 1_000, 1_000, 1_000];
    let pass = performance_of(side(1_000, 1, &fast), side(1_000, 1, &fast));
    assert_eq!(pass.outcome, Outcome::Pass, "{:?}", pass.details);

    let errors = performance_of(side(1_000, 40, &fast), side(1_000, 1, &fast));
    assert_eq!(errors.outcome, Outcome::Fail);
    assert!(
        errors.summary.contains("5xx rate 4.000%"),
        "{}",
        errors.summary
    );

    let slow = [100, 400, 990, 1_000, 1_000];
    let slower = performance_of(side(1_000, 1, &slow), side(1_000, 1, &fast));
    assert_eq!(slower.outcome, Outcome::Fail, "{:?}", slower.details);
    assert!(
        slower.summary.contains("Mann-Whitney"),
        "{}",
        slower.summary
    );

    let over_p99 = performance_of(
        side(1_000, 1, &[0, 0, 0, 900, 1_000]),
        side(1_000, 1, &[0, 0, 0, 900, 1_000]),
    );
    assert_eq!(
        over_p99.outcome,
        Outcome::Fail,
        "p99 above 80 ms, limit 50 ms: {:?}",
        over_p99.details
    );

    let few = performance_of(side(50, 0, &[50, 50, 50, 50, 50]), side(1_000, 1, &fast));
    assert_eq!(few.outcome, Outcome::Inconclusive);
    // Enough traffic, no worse, but too few to rule out a 0.5-point rise.
    let wide = performance(
        &playbook(),
        Some(&PerformanceEvidence {
            new: side(150, 1, &[150, 150, 150, 150, 150]),
            legacy: side(150, 1, &[150, 150, 150, 150, 150]),
        }),
    );
    assert_eq!(wide.outcome, Outcome::Inconclusive, "{:?}", wide.details);

    assert_eq!(
        performance_of(side(0, 0, &[0; 5]), side(1_000, 1, &fast)).outcome,
        Outcome::NoData
    );
    assert_eq!(performance(&playbook(), None).outcome, Outcome::NoData);
}

#[test]
fn performance_reads_the_proxys_prometheus_text() {
    let text = r#"# HELP msa_proxy_requests Requests answered
# TYPE msa_proxy_requests counter
msa_proxy_requests_total{route="coupon-read",side="new",upstream="coupon",class="2xx"} 90
msa_proxy_requests_total{route="coupon-read",side="new",upstream="coupon",class="5xx"} 10
msa_proxy_requests_total{route="coupon-read",side="legacy",upstream="monolith",class="2xx"} 400
msa_proxy_requests_total{route="coupon-issue",side="new",upstream="coupon",class="2xx"} 5
msa_proxy_requests_total{route="product-read",side="new",upstream="product",class="5xx"} 999
msa_proxy_request_duration_seconds_bucket{route="coupon-read",side="new",upstream="coupon",le="0.0005"} 0
msa_proxy_request_duration_seconds_bucket{route="coupon-read",side="new",upstream="coupon",le="0.001"} 60
msa_proxy_request_duration_seconds_bucket{route="coupon-read",side="new",upstream="coupon",le="+Inf"} 100
msa_proxy_request_duration_seconds_bucket{route="coupon-issue",side="new",upstream="coupon",le="0.0005"} 1
msa_proxy_request_duration_seconds_bucket{route="coupon-issue",side="new",upstream="coupon",le="0.001"} 5
msa_proxy_request_duration_seconds_bucket{route="coupon-issue",side="new",upstream="coupon",le="+Inf"} 5
msa_proxy_request_duration_seconds_sum{route="coupon-read",side="new",upstream="coupon"} 0.5
"#;
    let e = PerformanceEvidence::from_prometheus(text, &["coupon-read", "coupon-issue"]);
    assert_eq!((e.new.requests, e.new.errors), (105, 10));
    assert_eq!((e.legacy.requests, e.legacy.errors), (400, 0));
    assert_eq!(
        e.new.latency.buckets,
        vec![(0.0005, 1), (0.001, 65), (f64::INFINITY, 105)]
    );
    assert_eq!(e.legacy.latency.count(), 0);
}

#[test]
fn evidence_since_an_earlier_scrape_subtracts_counts_and_buckets() {
    let earlier = PerformanceEvidence {
        new: side(100, 10, &[50, 80, 100, 100, 100]),
        legacy: side(400, 0, &[]),
    };
    let now = PerformanceEvidence {
        new: side(160, 11, &[60, 120, 150, 160, 160]),
        legacy: side(500, 2, &[300, 500, 500, 500, 500]),
    };
    let window = now.since(&earlier);
    assert_eq!(
        window,
        PerformanceEvidence {
            new: side(60, 1, &[10, 40, 50, 60, 60]),
            // No histogram at the baseline: all of it is new.
            legacy: side(100, 2, &[300, 500, 500, 500, 500]),
        }
    );
    // A restarted proxy counts from 0: the scrape is taken whole.
    let restarted = PerformanceEvidence {
        new: side(30, 0, &[30, 30, 30, 30, 30]),
        legacy: side(600, 2, &[600, 600, 600, 600, 600]),
    };
    assert_eq!(restarted.since(&earlier), restarted);
    let mut fewer_in_a_bucket = now.clone();
    fewer_in_a_bucket.new.latency.buckets[0].1 = 40;
    assert_eq!(fewer_in_a_bucket.since(&earlier), fewer_in_a_bucket);

    // Replicas add up, side by side; an empty histogram adds nothing.
    let mut sum = window.clone();
    sum.add(&window);
    assert_eq!(
        (sum.new.requests, sum.new.errors, sum.legacy.requests),
        (120, 2, 200)
    );
    assert_eq!(sum.new.latency.buckets[1], (0.02, 80));
    let mut legacy = side(10, 0, &[10, 10, 10, 10, 10]);
    legacy.add(&side(0, 0, &[]));
    assert_eq!(legacy, side(10, 0, &[10, 10, 10, 10, 10]));
}

#[test]
fn a_canary_window_passes_when_not_shown_worse_and_readiness_when_shown_not_worse() {
    let g = playbook().gates.performance;
    let flat = |n| side(n, 0, &[n, n, n, n, n]);
    let evidence = PerformanceEvidence {
        new: flat(150),
        legacy: flat(150),
    };
    // 0 of 150: the upper bound (about 1.8%) does not rule out a 0.5-point rise.
    let readiness = performance_gate(&g, Proof::ShownNotWorse, Some(&evidence));
    assert_eq!(
        readiness.outcome,
        Outcome::Inconclusive,
        "{:?}",
        readiness.details
    );
    let canary = performance_gate(&g, Proof::NotShownWorse, Some(&evidence));
    assert_eq!(canary.outcome, Outcome::Pass, "{:?}", canary.details);
    assert!(
        canary.summary.contains("not shown worse"),
        "{}",
        canary.summary
    );
    // Fails fail, and too few requests tell nothing, whatever the proof.
    let failing = PerformanceEvidence {
        new: side(150, 30, &[150, 150, 150, 150, 150]),
        legacy: flat(150),
    };
    assert_eq!(
        performance_gate(&g, Proof::NotShownWorse, Some(&failing)).outcome,
        Outcome::Fail
    );
    let few = PerformanceEvidence {
        new: flat(20),
        legacy: flat(150),
    };
    assert_eq!(
        performance_gate(&g, Proof::NotShownWorse, Some(&few)).outcome,
        Outcome::Inconclusive
    );
}

// stage

fn staged(routes: &[(&str, Mode, u16)]) -> Judgement {
    let e = StageEvidence {
        source: "admin".into(),
        targets: BTreeMap::new(),
        routes: routes
            .iter()
            .map(|(n, mode, weight_bp)| {
                (
                    (*n).to_owned(),
                    RouteStage {
                        mode: *mode,
                        weight_bp: *weight_bp,
                    },
                )
            })
            .collect(),
    };
    stage(&playbook(), Some(&e))
}

#[test]
fn stage_has_its_outcomes() {
    let pass = staged(&[
        ("coupon-read", Mode::Canary, 500),
        ("coupon-issue", Mode::Cutover, 10_000),
    ]);
    assert_eq!(pass.outcome, Outcome::Pass, "{}", pass.summary);
    let low = staged(&[
        ("coupon-read", Mode::Canary, 100),
        ("coupon-issue", Mode::Cutover, 10_000),
    ]);
    assert_eq!(low.outcome, Outcome::Fail);
    assert!(
        low.summary.contains("coupon-read: canary at 1.00%"),
        "{}",
        low.summary
    );
    let missing = staged(&[("coupon-read", Mode::Canary, 500)]);
    assert_eq!(
        missing.outcome,
        Outcome::Fail,
        "a claimed route the proxy does not know"
    );
    assert_eq!(stage(&playbook(), None).outcome, Outcome::NoData);
    let from_admin = StageEvidence::from_json(
        "admin",
        &json!({"routes": [{"name": "coupon-read", "stage": {"mode": "canary", "weight_bp": 500}}]}),
    );
    let from_file = StageEvidence::from_json(
        "state",
        &json!({"routes": {"coupon-read": {"mode": "canary", "weight_bp": 500}}}),
    );
    assert_eq!(from_admin.routes, from_file.routes);
    assert!(from_file.targets.is_empty(), "the state file does not say");
    // A route the proxy sends elsewhere than the playbook says fails.
    let wrong = StageEvidence::from_json(
        "admin",
        &json!({"routes": [
            {"name": "coupon-read", "path": "/api/coupons/{code}", "upstream": "coupon", "stage": {"mode": "canary", "weight_bp": 500}},
            {"name": "coupon-issue", "path": "/api/coupons/{id}/issue", "upstream": "monolith-b", "stage": {"mode": "cutover"}}
        ]}),
    );
    let judged = stage(&playbook(), Some(&wrong));
    assert_eq!(judged.outcome, Outcome::Fail);
    assert_eq!(
        judged.details[0], "coupon-read: canary at 5.00%",
        "another parameter name is the same template"
    );
    assert!(
        judged.details[1].contains("upstream `monolith-b`"),
        "{:?}",
        judged.details
    );
    assert_eq!(
        from_admin.routes["coupon-read"],
        RouteStage {
            mode: Mode::Canary,
            weight_bp: 500
        }
    );
}

// the verdict

fn all_passing() -> Evidence {
    let fast = [800, 990, 1_000, 1_000, 1_000];
    Evidence {
        coupling: Some(coupling_evidence(0, 0)),
        data: Some(DataEvidence {
            last_verify: Some(verified(60, 0, 500)),
            lag: Some(Duration::from_secs(1)),
            unavailable: None,
        }),
        behaviour: Some(BehaviourEvidence {
            routes: vec![
                shadowed("coupon-read", 500, 500, &[]),
                shadowed("coupon-issue", 500, 500, &[]),
            ],
        }),
        performance: Some(PerformanceEvidence {
            new: side(1_000, 0, &fast),
            legacy: side(1_000, 0, &fast),
        }),
        stage: Some(StageEvidence {
            source: "admin".into(),
            targets: BTreeMap::new(),
            routes: [("coupon-read", 500), ("coupon-issue", 500)]
                .into_iter()
                .map(|(n, w)| {
                    (
                        n.to_owned(),
                        RouteStage {
                            mode: Mode::Canary,
                            weight_bp: w,
                        },
                    )
                })
                .collect(),
        }),
    }
}

fn msa_playbook_with_manual_rollback() -> crate::Playbook {
    crate::parse(
        "manual.yaml",
        "domain: coupon\nowner: o\nupstream: coupon\nroutes:\n  - name: r\n    path: /r\nrollback:\n  automatic: false\n",
    )
    .unwrap()
}

#[test]
fn the_playbooks_canary_policy_is_a_plan_the_controller_accepts() {
    let p = playbook();
    let plan = p.canary_plan().check().unwrap();
    assert_eq!(plan.steps_bp, p.canary.steps_bp);
    assert_eq!(plan.advance_after, 3);
    assert!(plan.automatic_rollback, "the default");
    let manual = msa_playbook_with_manual_rollback();
    assert!(!manual.canary_plan().automatic_rollback);
}

#[test]
fn the_verdict_passes_only_when_every_critical_gate_passes() {
    let p = playbook();
    let ready = judge(&p, &all_passing(), now());
    assert_eq!(ready.outcome, Outcome::Pass, "{ready:#?}");
    assert!(ready.ready);
    let gates: Vec<Gate> = ready.gates.iter().map(|j| j.gate).collect();
    assert_eq!(
        gates,
        [
            Gate::Coupling,
            Gate::Data,
            Gate::Behaviour,
            Gate::Performance,
            Gate::Stage
        ]
    );

    // One failing critical gate fails it, however well the rest do.
    let mut e = all_passing();
    e.data.as_mut().unwrap().last_verify = Some(verified(60, 1, 500));
    let failed = judge(&p, &e, now());
    assert_eq!(failed.outcome, Outcome::Fail);
    assert!(!failed.ready);
    assert_eq!(
        failed.summary,
        "coupon is not ready: critical gate(s) failed: data"
    );

    // Missing evidence is never a pass.
    let mut e = all_passing();
    e.performance = None;
    let missing = judge(&p, &e, now());
    assert_eq!(missing.outcome, Outcome::NoData);
    assert_eq!(
        missing.summary,
        "coupon is not ready: no evidence for performance"
    );

    // Fail outranks inconclusive, inconclusive outranks no data.
    let mut e = all_passing();
    e.coupling = None;
    e.behaviour.as_mut().unwrap().routes.pop();
    assert_eq!(judge(&p, &e, now()).outcome, Outcome::Inconclusive);
    e.stage = Some(StageEvidence::default());
    assert_eq!(judge(&p, &e, now()).outcome, Outcome::Fail);
}

#[test]
fn a_non_critical_gate_is_reported_but_not_decisive() {
    let mut p = playbook();
    p.gates.stage.critical = false;
    let mut e = all_passing();
    e.stage = None;
    let verdict = judge(&p, &e, now());
    assert_eq!(verdict.outcome, Outcome::Pass);
    assert!(
        verdict.summary.contains("not passing, non-critical: stage"),
        "{}",
        verdict.summary
    );
    assert_eq!(verdict.gates[4].outcome, Outcome::NoData);
}

#[test]
fn every_judgement_carries_its_inputs_and_limits() {
    let verdict = judge(&playbook(), &all_passing(), now());
    let json = serde_json::to_value(&verdict).unwrap();
    assert_eq!(
        json["gates"][1]["inputs"]["evidence"]["last_verify"]["rows_checked"],
        500
    );
    assert_eq!(
        json["gates"][1]["inputs"]["limits"]["verify_max_age_seconds"],
        3_600
    );
    assert_eq!(json["gates"][2]["inputs"]["routes"][0]["compared"], 500);
    assert_eq!(json["gates"][3]["inputs"]["new"]["requests"], 1_000);
    assert!(json["gates"][3]["inputs"]["tests"]["error_rate"]["fisher_p"].is_number());
    assert_eq!(json["outcome"], "pass");
}
