use std::path::Path;

use super::*;

fn parse_text(text: &str) -> Result<ProxyConfig, ConfigError> {
    parse(Path::new("proxy.yaml"), text)
}

const GOOD: &str = "\
listen: 127.0.0.1:8000
workers: 1
legacy: monolith
upstreams:
  monolith:
    endpoints: [127.0.0.1:8080]
  coupon:
    endpoints: [127.0.0.1:8081, 127.0.0.1:8082]
    balance: least_requests
    connect_timeout: 500ms
routes:
  - name: coupon-read
    methods: [GET]
    path: /api/coupons/{id}
    upstream: coupon
    mode: canary
    weight_bp: 1000
    sticky: header:X-User-Id
  - name: coupon-issue
    methods: [post]
    path: /api/coupons/{id}/issue
    upstream: coupon
    mode: cutover
    fallback: true
";

#[test]
fn a_valid_file_resolves_to_typed_values() {
    let config = parse_text(GOOD).unwrap();
    assert_eq!(config.workers, 1);
    assert_eq!(config.legacy, "monolith");
    let coupon = config
        .upstreams
        .iter()
        .find(|u| u.name == "coupon")
        .unwrap();
    assert_eq!(coupon.endpoints.len(), 2);
    assert_eq!(coupon.balance, Balance::LeastRequests);
    assert_eq!(coupon.connect_timeout, Duration::from_millis(500));
    assert_eq!(
        config.routes[0].path,
        PathMatch::Template("/api/coupons/{id}".into())
    );
    assert_eq!(config.routes[0].stage, Stage::Canary { weight_bp: 1000 });
    assert_eq!(
        config.routes[0].sticky,
        StickyKey::parse("header:X-User-Id").unwrap()
    );
    assert_eq!(config.routes[0].split_seed, "coupon");
    assert_eq!(config.routes[1].methods, Some(vec![Method::POST]));
    assert_eq!(
        (config.routes[1].stage, config.routes[1].fallback),
        (Stage::Cutover, true)
    );
}

#[test]
fn every_problem_is_reported_at_once_with_its_line() {
    let text = GOOD
        .replace("legacy: monolith", "legacy: monolit")
        .replace(
            "upstream: coupon\n    mode: canary",
            "upstream: cupon\n    mode: canary",
        )
        .replace("weight_bp: 1000", "weight_bp: 20000")
        .replace("mode: cutover", "mode: cutover-now");
    let ConfigError::Invalid { problems, .. } = parse_text(&text).unwrap_err() else {
        panic!("expected problems");
    };
    let found: Vec<(Option<u64>, &str)> = problems
        .iter()
        .map(|p| (p.line, p.field.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            (Some(3), "legacy"),
            (Some(15), "routes[0].upstream"),
            (Some(17), "routes[0].weight_bp"),
            (Some(23), "routes[1].mode"),
        ]
    );
    assert!(
        problems[0]
            .message
            .contains("the upstreams are: coupon, monolith"),
        "{}",
        problems[0].message
    );
}

#[test]
fn a_typo_in_a_field_name_is_an_error_not_a_default() {
    let text = GOOD.replace("balance: least_requests", "balanse: least_requests");
    let err = parse_text(&text).unwrap_err().to_string();
    assert!(err.starts_with("proxy.yaml: "), "{err}");
    assert!(err.contains("balanse") && err.contains("line 9"), "{err}");
}

#[test]
fn a_weight_belongs_to_the_canary_stage_only() {
    let text = GOOD.replace(
        "    mode: cutover\n    fallback: true\n",
        "    mode: cutover\n    weight_bp: 10\n",
    );
    let ConfigError::Invalid { problems, .. } = parse_text(&text).unwrap_err() else {
        panic!("expected problems");
    };
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(fields, ["routes[1].weight_bp"]);
}

#[test]
fn shadow_rules_are_checked_when_the_file_is_loaded() {
    let text = GOOD.replace(
        "    mode: cutover\n    fallback: true\n",
        "    mode: shadow\n    shadow:\n      rules:\n        ignore: [\"$.items[\"]\n        numeric_tolerance: {\"$.total\": -1}\n",
    );
    let ConfigError::Invalid { problems, .. } = parse_text(&text).unwrap_err() else {
        panic!("expected problems");
    };
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "routes[1].shadow.rules.ignore",
            "routes[1].shadow.rules.numeric_tolerance"
        ],
        "{problems:?}"
    );
    assert!(
        problems.iter().all(|p| p.line == Some(26)),
        "the rules begin on line 26: {problems:?}"
    );
}

#[test]
fn a_shared_state_store_is_a_postgresql_url_and_its_password_never_shows() {
    let shared = format!("{GOOD}state:\n  store: postgres://msa@db.internal/msa\n");
    let config = parse_text(&shared).unwrap();
    assert_eq!(
        config.state_store.as_deref(),
        Some("postgres://msa@db.internal/msa")
    );
    assert_eq!(
        parse_text(GOOD).unwrap().state_store,
        None,
        "a file by default"
    );

    let wrong = format!("{GOOD}state:\n  store: mysql://root:hunter2@db/msa\n");
    let err = parse_text(&wrong).unwrap_err().to_string();
    assert!(err.contains("state.store"), "{err}");
    assert!(err.contains("postgres://"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn telemetry_is_off_unless_configured_and_takes_the_collectors_base_url() {
    assert!(
        parse_text(GOOD).unwrap().telemetry.is_none(),
        "off by default"
    );

    let on = format!(
        "{GOOD}telemetry:\n  otlp:\n    endpoint: http://127.0.0.1:4318\n    protocol: http/protobuf\n    service_name: shop-proxy\n    sample_ratio: 0.25\n    interval: 100ms\n"
    );
    let telemetry = parse_text(&on).unwrap().telemetry.unwrap();
    assert_eq!(telemetry.traces_url, "http://127.0.0.1:4318/v1/traces");
    assert_eq!(telemetry.service_name, "shop-proxy");
    assert!((telemetry.sample_ratio - 0.25).abs() < f64::EPSILON);
    assert_eq!(telemetry.interval, Duration::from_millis(100));
    assert_eq!((telemetry.queue, telemetry.batch), (2048, 512));

    let defaults = parse_text(&format!("{GOOD}telemetry:\n  otlp: {{}}\n"))
        .unwrap()
        .telemetry
        .unwrap();
    assert_eq!(defaults.traces_url, "http://localhost:4318/v1/traces");
    assert_eq!(defaults.service_name, "msa-proxy");
    assert!((defaults.sample_ratio - 1.0).abs() < f64::EPSILON);
    assert!(
        parse_text(&format!("{GOOD}telemetry: {{}}\n"))
            .unwrap()
            .telemetry
            .is_none(),
        "no exporter without `otlp`"
    );

    for (endpoint, url) in [
        ("https://otel.example/", "https://otel.example/v1/traces"),
        (
            "http://collector:4318/otlp",
            "http://collector:4318/otlp/v1/traces",
        ),
        (
            "http://collector:4318/v1/traces",
            "http://collector:4318/v1/traces",
        ),
    ] {
        let text = format!("{GOOD}telemetry:\n  otlp:\n    endpoint: {endpoint}\n");
        assert_eq!(
            parse_text(&text).unwrap().telemetry.unwrap().traces_url,
            url,
            "{endpoint}"
        );
    }
}

#[test]
fn telemetry_problems_name_their_line_and_field() {
    let text = format!(
        "{GOOD}telemetry:\n  otlp:\n    endpoint: ftp://collector\n    protocol: grpc\n    sample_ratio: 1.5\n    queue: 0\n    interval: soon\n"
    );
    let ConfigError::Invalid { problems, .. } = parse_text(&text).unwrap_err() else {
        panic!("expected problems");
    };
    let found: Vec<(Option<u64>, &str)> = problems
        .iter()
        .map(|p| (p.line, p.field.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            (Some(27), "telemetry.otlp.endpoint"),
            (Some(28), "telemetry.otlp.protocol"),
            (Some(29), "telemetry.otlp.sample_ratio"),
            (Some(30), "telemetry.otlp.queue"),
            (Some(31), "telemetry.otlp.interval"),
        ],
        "{problems:?}"
    );
    assert!(
        problems[1].message.contains("http/protobuf"),
        "{problems:?}"
    );

    let typo = format!("{GOOD}telemetry:\n  otlp:\n    endpiont: http://c:4318\n");
    let err = parse_text(&typo).unwrap_err().to_string();
    assert!(err.contains("endpiont") && err.contains("line 27"), "{err}");
}

#[test]
fn collector_headers_are_read_as_otel_writes_them_and_never_shown() {
    assert_eq!(
        collector_headers("api-key=abc%3D%3D, X-Tenant = shop ,").unwrap(),
        [
            ("api-key".to_owned(), "abc==".to_owned()),
            ("x-tenant".to_owned(), "shop".to_owned())
        ]
    );
    let err = collector_headers("api-key=s3cret,broken").unwrap_err();
    assert!(err.contains("entry 2") && !err.contains("s3cret"), "{err}");
    let err = collector_headers("api-key=s3cret\u{7f}").unwrap_err();
    assert!(err.contains("api-key") && !err.contains("s3cret"), "{err}");

    let headers = CollectorHeaders {
        env: Some("OTLP_HEADERS".into()),
        pairs: vec![("api-key".into(), "s3cret".into())],
    };
    let shown = format!("{headers:?}");
    assert!(
        shown.contains("api-key") && !shown.contains("s3cret"),
        "{shown}"
    );

    // A variable that is not set gives no headers (the proxy warns when it starts).
    let text =
        format!("{GOOD}telemetry:\n  otlp:\n    headers_env: MSA_TEST_SURELY_UNSET_OTLP_HEADERS\n");
    let telemetry = parse_text(&text).unwrap().telemetry.unwrap();
    assert_eq!(
        telemetry.headers.env.as_deref(),
        Some("MSA_TEST_SURELY_UNSET_OTLP_HEADERS")
    );
    assert!(telemetry.headers.pairs.is_empty());
}

#[test]
fn the_full_examples_telemetry_section_in_the_docs_is_valid() {
    let docs = include_str!("../../../docs/proxy.md");
    let start = docs
        .find("\ntelemetry:")
        .expect("docs/proxy.md's full example has a telemetry section");
    let section = &docs[start + 1..];
    let section = &section[..section.find("\n\n").unwrap()];
    let telemetry = parse_text(&format!("{GOOD}{section}\n"))
        .unwrap_or_else(|err| panic!("{err}"))
        .telemetry
        .unwrap();
    assert_eq!(telemetry.traces_url, "http://otel-collector:4318/v1/traces");
    assert_eq!(telemetry.headers.env.as_deref(), Some("OTLP_HEADERS"));
}

#[test]
fn the_shadow_stores_retention_is_a_duration_of_an_hour_or_more() {
    assert_eq!(
        parse_text(GOOD).unwrap().shadow_retention,
        Duration::from_secs(7 * 24 * 3600),
        "a week by default"
    );
    let set = format!("{GOOD}state:\n  shadow_retention: 30d\n");
    assert_eq!(
        parse_text(&set).unwrap().shadow_retention,
        Duration::from_secs(30 * 24 * 3600)
    );
    for (written, says) in [("10s", "too short"), ("a week", "not a duration")] {
        let wrong = format!("{GOOD}state:\n  shadow_retention: {written}\n");
        let err = parse_text(&wrong).unwrap_err().to_string();
        assert!(
            err.contains("state.shadow_retention") && err.contains(says),
            "{written}: {err}"
        );
    }
}
