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
