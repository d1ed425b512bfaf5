//! `playbooks:` in the proxy's configuration: routes taken from playbook
//! files, merged with the written ones, conflicts refused naming both files.

use std::path::{Path, PathBuf};

use http::{HeaderMap, HeaderValue, Method, header};
use msa_shadow_compare::{Exchange, RuleSet, compare};

use crate::config::{ConfigError, PathMatch, ProxyConfig, Stage, parse};

/// A playbook of two routes; `coupon-issue` has rules of its own.
const PLAYBOOK: &str = "\
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
shadow:
  rules:
    string_number: true
  routes:
    coupon-issue:
      ignore: [\"$.issuedAt\"]
";

const HEAD: &str = "\
listen: 127.0.0.1:8000
legacy: monolith
upstreams:
  monolith:
    endpoints: [127.0.0.1:8080]
  coupon:
    endpoints: [127.0.0.1:8081]
playbooks: [coupon.yaml]
";

/// Writes `coupon.yaml` beside `proxy.yaml` and parses the configuration.
fn load(playbook: &str, config: &str) -> (tempfile::TempDir, Result<ProxyConfig, ConfigError>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("coupon.yaml"), playbook).unwrap();
    let path = dir.path().join("proxy.yaml");
    std::fs::write(&path, config).unwrap();
    let loaded = crate::config::load(&path);
    (dir, loaded)
}

fn problems(playbook: &str, config: &str) -> (PathBuf, String) {
    let (dir, loaded) = load(playbook, config);
    let err = loaded.expect_err("the configuration is refused");
    assert!(matches!(err, ConfigError::Invalid { .. }), "{err}");
    (dir.path().to_owned(), err.to_string())
}

fn route<'a>(config: &'a ProxyConfig, name: &str) -> &'a crate::config::RouteConfig {
    config
        .routes
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no route `{name}` in {:?}", config.routes))
}

fn json(body: &str) -> Exchange {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Exchange::new(200, headers, body.to_owned())
}

fn equal_under(rules: &RuleSet, legacy: &str, candidate: &str) -> bool {
    compare(&json(legacy), &json(candidate), rules).is_equal()
}

#[test]
fn a_playbooks_routes_become_legacy_routes_to_its_upstream_with_its_rules() {
    let (dir, loaded) = load(PLAYBOOK, HEAD);
    let config = loaded.unwrap();
    assert_eq!(config.playbooks, [dir.path().join("coupon.yaml")]);
    let names: Vec<&str> = config.routes.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["coupon-read", "coupon-issue"]);

    let read = route(&config, "coupon-read");
    assert_eq!(read.path, PathMatch::Template("/api/coupons/{id}".into()));
    assert_eq!(read.methods, Some(vec![Method::GET]));
    assert_eq!(read.upstream, "coupon");
    assert_eq!(read.split_seed, "coupon");
    assert_eq!(read.stage, Stage::Legacy, "a playbook never starts a stage");
    // The domain's rules: a number written as a string is equal.
    assert!(equal_under(
        &read.shadow.rules,
        r#"{"a":1}"#,
        r#"{"a":"1"}"#
    ));
    assert!(!equal_under(
        &read.shadow.rules,
        r#"{"issuedAt":"x"}"#,
        r#"{"issuedAt":"y"}"#
    ));

    // coupon-issue's own rules replace the domain's.
    let issue = route(&config, "coupon-issue");
    assert_eq!(issue.methods, Some(vec![Method::POST]));
    assert!(equal_under(
        &issue.shadow.rules,
        r#"{"issuedAt":"x"}"#,
        r#"{"issuedAt":"y"}"#
    ));
    assert!(!equal_under(
        &issue.shadow.rules,
        r#"{"a":1}"#,
        r#"{"a":"1"}"#
    ));
    assert_eq!(
        issue.shadow.methods,
        [Method::GET, Method::HEAD],
        "writes are mirrored only when the file lists them"
    );
}

#[test]
fn a_written_route_of_the_same_name_wins_where_it_speaks_and_takes_the_rest() {
    let config = format!(
        "{HEAD}routes:
  - name: coupon-issue
    mode: shadow
    shadow:
      methods: [POST]
      sample_bp: 5000
  - name: coupon-read
    methods: [get]
    mode: canary
    weight_bp: 100
    shadow:
      rules:
        ignore: [\"$.name\"]
"
    );
    let (_dir, loaded) = load(PLAYBOOK, &config);
    let config = loaded.unwrap();
    let names: Vec<&str> = config.routes.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["coupon-issue", "coupon-read"], "no route twice");

    let issue = route(&config, "coupon-issue");
    assert_eq!(issue.stage, Stage::Shadow);
    assert_eq!(issue.upstream, "coupon");
    assert_eq!(
        issue.path,
        PathMatch::Template("/api/coupons/{id}/issue".into())
    );
    assert_eq!(issue.methods, Some(vec![Method::POST]));
    assert_eq!(
        (issue.shadow.sample_bp, issue.shadow.methods.clone()),
        (5000, vec![Method::POST])
    );
    // No `rules` written: the playbook's fill them in.
    assert!(equal_under(
        &issue.shadow.rules,
        r#"{"issuedAt":"x"}"#,
        r#"{"issuedAt":"y"}"#
    ));

    let read = route(&config, "coupon-read");
    assert_eq!(read.stage, Stage::Canary { weight_bp: 100 });
    // Written rules win whole: the playbook's `string_number` is not added.
    assert!(equal_under(
        &read.shadow.rules,
        r#"{"name":"a"}"#,
        r#"{"name":"b"}"#
    ));
    assert!(!equal_under(
        &read.shadow.rules,
        r#"{"a":1}"#,
        r#"{"a":"1"}"#
    ));
}

#[test]
fn a_written_route_that_contradicts_the_playbook_is_refused_naming_both_files() {
    let config = format!(
        "{HEAD}routes:
  - name: coupon-read
    path: /api/coupon/{{id}}
    upstream: coupon
  - name: coupon-issue
    methods: [POST, PUT]
  - name: my-read
    methods: [GET]
    path: /api/coupons/{{code}}
    upstream: coupon
"
    );
    let (dir, message) = problems(PLAYBOOK, &config);
    let playbook = dir.join("coupon.yaml").display().to_string();
    let proxy = dir.join("proxy.yaml").display().to_string();
    for expected in [
        format!(
            "{proxy}:11: routes[0].path: `/api/coupon/{{id}}` is not the path {playbook}:7 gives route `coupon-read` (`/api/coupons/{{id}}`)"
        ),
        format!(
            "{proxy}:14: routes[1].methods: [POST, PUT] is not what {playbook}:8 gives route `coupon-issue` ([POST])"
        ),
        format!(
            "{proxy}:17: routes[2].path: route `my-read` claims `/api/coupons/{{code}}`, which {playbook}:5 gives route `coupon-read`"
        ),
    ] {
        assert!(
            message.contains(&expected),
            "missing\n  {expected}\nin\n{message}"
        );
    }
    assert!(message.contains("has 3 problem(s)"), "{message}");
}

#[test]
fn a_prefix_for_a_playbooks_path_is_refused() {
    let config = format!(
        "{HEAD}routes:
  - name: coupon-read
    prefix: /api/coupons
"
    );
    let (dir, message) = problems(PLAYBOOK, &config);
    let expected = format!(
        "{}:11: routes[0].prefix: {}:7 gives route `coupon-read` the path `/api/coupons/{{id}}`, not a prefix",
        dir.join("proxy.yaml").display(),
        dir.join("coupon.yaml").display()
    );
    assert!(
        message.contains(&expected),
        "missing\n  {expected}\nin\n{message}"
    );
}

#[test]
fn a_playbooks_problems_are_reported_with_the_configurations_own_all_at_once() {
    let broken = PLAYBOOK
        .replace("methods: [GET]", "methods: [FETCH]")
        .replace("domain: coupon", "domain: Coupon");
    let config = HEAD.replace("legacy: monolith", "legacy: monolit");
    let (dir, message) = problems(&broken, &config);
    let playbook = dir.join("coupon.yaml").display().to_string();
    let proxy = dir.join("proxy.yaml").display().to_string();
    assert!(message.contains("has 3 problem(s)"), "{message}");
    for expected in [
        format!("{proxy}:2: legacy: no upstream is named `monolit`"),
        format!("{proxy}:8: playbooks[0]: {playbook}:1: domain: `Coupon` is not a domain name"),
        format!(
            "{proxy}:8: playbooks[0]: {playbook}:6: routes[0].methods[0]: `FETCH` is not an HTTP method"
        ),
    ] {
        assert!(
            message.contains(&expected),
            "missing\n  {expected}\nin\n{message}"
        );
    }
}

#[test]
fn a_missing_playbook_an_unknown_upstream_and_a_route_claimed_twice_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("coupon.yaml"),
        PLAYBOOK.replace("upstream: coupon", "upstream: cupon"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("again.yaml"),
        PLAYBOOK
            .replace("domain: coupon", "domain: again")
            .replace("  - name: coupon-issue", "  - name: again-issue")
            .replace("    coupon-issue:", "    again-issue:"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("other.yaml"),
        PLAYBOOK.replace("domain: coupon", "domain: other"),
    )
    .unwrap();
    let text = HEAD.replace(
        "playbooks: [coupon.yaml]",
        "playbooks: [coupon.yaml, other.yaml, again.yaml, nope.yaml]",
    );
    let err = parse(&dir.path().join("proxy.yaml"), &text)
        .unwrap_err()
        .to_string();
    let file = |name: &str| dir.path().join(name).display().to_string();
    for expected in [
        format!(
            "playbooks[0]: {}:3: upstream: no upstream of this configuration is named `cupon`; the upstreams are: coupon, monolith",
            file("coupon.yaml")
        ),
        format!(
            "playbooks[2]: route `coupon-read` at {}:5 is also claimed at {}:5",
            file("again.yaml"),
            file("other.yaml")
        ),
        format!(
            "playbooks[2]: route `again-issue` at {}:8 claims `/api/coupons/{{id}}/issue`, as route `coupon-issue` at {}:8 does",
            file("again.yaml"),
            file("other.yaml")
        ),
        format!("playbooks[3]: cannot read {}", file("nope.yaml")),
    ] {
        assert!(err.contains(&expected), "missing\n  {expected}\nin\n{err}");
    }
    assert!(err.contains("has 4 problem(s)"), "{err}");
}

#[test]
fn a_playbook_makes_its_routes_a_domain_with_its_readiness_log() {
    let written = format!(
        "{HEAD}routes:\n  - name: user-points\n    path: /api/users/{{id}}/points\n    upstream: coupon\n"
    );
    let (dir, loaded) = load(PLAYBOOK, &written);
    let config = loaded.unwrap();
    assert_eq!(
        config.domains,
        [crate::config::DomainConfig {
            name: "coupon".into(),
            playbook: dir.path().join("coupon.yaml"),
            routes: vec!["coupon-read".into(), "coupon-issue".into()],
            // Where `msa-migrate readiness --playbooks DIR` writes it.
            readiness_log: dir.path().join(".msa/readiness-log.jsonl"),
        }]
    );
    let elsewhere = written.replace(
        "playbooks: [coupon.yaml]\n",
        "playbooks: [coupon.yaml]\nstate:\n  readiness_log: logs/readiness.jsonl\n",
    );
    let (dir, loaded) = load(PLAYBOOK, &elsewhere);
    assert_eq!(
        loaded.unwrap().domains[0].readiness_log,
        dir.path().join("logs/readiness.jsonl")
    );
}

#[test]
fn two_playbooks_of_one_domain_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("coupon.yaml"), PLAYBOOK).unwrap();
    std::fs::write(
        dir.path().join("again.yaml"),
        PLAYBOOK
            .replace("  - name: coupon-read", "  - name: again-read")
            .replace("{id}", "{code}/again")
            .replace("coupon-issue", "again-issue"),
    )
    .unwrap();
    let text = HEAD.replace(
        "playbooks: [coupon.yaml]",
        "playbooks: [coupon.yaml, again.yaml]",
    );
    let err = parse(&dir.path().join("proxy.yaml"), &text)
        .unwrap_err()
        .to_string();
    let expected = format!(
        "playbooks[1]: {} is domain `coupon`, as {} is: a domain has one playbook",
        dir.path().join("again.yaml").display(),
        dir.path().join("coupon.yaml").display()
    );
    assert!(err.contains(&expected), "missing\n  {expected}\nin\n{err}");
}

#[test]
fn a_route_without_an_upstream_or_a_playbook_says_how_to_give_one() {
    let text = "listen: 127.0.0.1:8000
legacy: monolith
upstreams:
  monolith:
    endpoints: [127.0.0.1:8080]
routes:
  - name: coupon-read
    path: /api/coupons/{id}
";
    let err = parse(Path::new("proxy.yaml"), text)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("proxy.yaml:7: routes[0].upstream: name the new service's `upstream`, or list a playbook"),
        "{err}"
    );
}

#[test]
fn the_bundled_coupon_playbook_loads_into_a_proxy_configuration() {
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("../playbooks/coupon.yaml");
    let text = std::fs::read_to_string(bundled).unwrap();
    let (_dir, loaded) = load(&text, HEAD);
    let config = loaded.unwrap();
    let names: Vec<&str> = config.routes.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["coupon-read", "coupon-issue", "user-coupons"]);
    assert!(config.routes.iter().all(|r| r.upstream == "coupon"));
}

#[tokio::test]
async fn a_reload_re_reads_the_playbooks() {
    let (dir, loaded) = load(PLAYBOOK, HEAD);
    loaded.unwrap();
    let live = crate::Live::load(&dir.path().join("proxy.yaml")).unwrap();
    let paths = |live: &crate::Live| -> Vec<PathMatch> {
        live.snapshot()
            .config()
            .routes
            .iter()
            .map(|r| r.path.clone())
            .collect()
    };
    assert_eq!(
        paths(&live)[0],
        PathMatch::Template("/api/coupons/{id}".into())
    );
    std::fs::write(
        dir.path().join("coupon.yaml"),
        PLAYBOOK.replace("path: /api/coupons/{id}\n", "path: /api/v2/coupons/{id}\n"),
    )
    .unwrap();
    live.reload("test").await.unwrap();
    assert_eq!(
        paths(&live)[0],
        PathMatch::Template("/api/v2/coupons/{id}".into())
    );

    // A broken playbook is refused like a broken file; the last good one serves.
    std::fs::write(dir.path().join("coupon.yaml"), "domain: [").unwrap();
    let err = live.reload("test").await.unwrap_err().to_string();
    assert!(err.contains("playbooks[0]"), "{err}");
    assert_eq!(
        paths(&live)[0],
        PathMatch::Template("/api/v2/coupons/{id}".into())
    );
}

#[tokio::test]
async fn the_file_watcher_reloads_when_only_a_playbook_changes() {
    let (dir, loaded) = load(PLAYBOOK, HEAD);
    loaded.unwrap();
    let live = crate::Live::load(&dir.path().join("proxy.yaml")).unwrap();
    let watcher = tokio::spawn(
        live.clone()
            .watch_file(std::time::Duration::from_millis(20)),
    );
    // Let the watcher take its first look before the change.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    // Another length, so the change shows even within one mtime tick.
    std::fs::write(
        dir.path().join("coupon.yaml"),
        PLAYBOOK.replace("path: /api/coupons/{id}\n", "path: /api/v2/coupons/{id}\n"),
    )
    .unwrap();
    let first_path = || live.snapshot().config().routes[0].path.clone();
    for _ in 0..250 {
        if first_path() == PathMatch::Template("/api/v2/coupons/{id}".into()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    watcher.abort();
    assert_eq!(
        first_path(),
        PathMatch::Template("/api/v2/coupons/{id}".into())
    );
}
