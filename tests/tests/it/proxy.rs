//! `msa-migrate proxy` in front of the real monolith and coupon service.

use std::io::Write;

use serde_json::{Value, json};

use std::time::Duration;

use crate::support::{Running, Users, chromium, msa_migrate, poll, start_services, stored_route};

/// Writes the proxy's configuration into the test's directory (its state file
/// and audit log land beside it) and returns its path.
fn config(dir: &tempfile::TempDir, monolith: &Running, coupon: &Running, mode: &str) -> String {
    let path = dir.path().join("proxy.yaml");
    let mut file = std::fs::File::create(&path).unwrap();
    write!(
        file,
        "listen: 127.0.0.1:0
workers: 1
legacy: monolith
admin:
  listen: 127.0.0.1:0
upstreams:
  monolith:
    endpoints: [{}]
  coupon:
    endpoints: [{}]
routes:
  - name: coupon-read
    methods: [GET]
    path: /api/coupons/{{id}}
    upstream: coupon
{mode}
  - name: coupon-issue
    methods: [POST]
    path: /api/coupons/{{id}}/issue
    upstream: coupon
{mode}
  - name: user-coupons
    methods: [GET]
    path: /api/users/{{id}}/coupons
    upstream: coupon
{mode}
",
        monolith.authority(),
        coupon.authority()
    )
    .unwrap();
    path.display().to_string()
}

/// The monolith and the coupon service with its quirks.
fn services(dir: &tempfile::TempDir) -> (Running, Running) {
    services_with(dir, &["--quirks"])
}

fn services_with(dir: &tempfile::TempDir, coupon_flags: &[&str]) -> (Running, Running) {
    start_services(dir.path(), Users::FromMonolith, coupon_flags)
}

fn get(url: String) -> Value {
    reqwest::blocking::get(url).unwrap().json().unwrap()
}

#[test]
fn cutover_sends_the_coupon_domain_to_the_new_service_and_the_rest_to_the_monolith() {
    let dir = tempfile::tempdir().unwrap();
    let (monolith, coupon) = services(&dir);
    let file = config(&dir, &monolith, &coupon, "    mode: cutover");
    let proxy = Running::start("msa-migrate", &["proxy", "--config", &file]);

    // The coupon service answers with its quirks: that is how we know who served.
    let coupon_view = get(format!("{}/api/coupons/1", proxy.url));
    assert_eq!(
        coupon_view["discountAmount"],
        json!("1000"),
        "served by the coupon service"
    );
    let issued: Value = reqwest::blocking::Client::new()
        .post(format!("{}/api/coupons/1/issue", proxy.url))
        .json(&json!({"userId": 3}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        (issued["couponId"].as_i64(), issued["userId"].as_i64()),
        (Some(1), Some(3))
    );
    assert!(
        issued["issuedAt"].as_str().unwrap().ends_with("+00:00"),
        "{issued}"
    );

    // Everything else is still the monolith's.
    let product = get(format!("{}/api/products/2", proxy.url));
    assert_eq!(product["id"], 2);
    let held_in_monolith = get(format!("{}/api/users/3/coupons", monolith.url));
    assert_eq!(
        held_in_monolith["coupons"],
        json!([]),
        "the issue went to the new service only"
    );
}

#[test]
fn legacy_mode_changes_nothing_for_clients() {
    let dir = tempfile::tempdir().unwrap();
    let (monolith, coupon) = services(&dir);
    let file = config(&dir, &monolith, &coupon, "    mode: legacy");
    let proxy = Running::start("msa-migrate", &["proxy", "--config", &file]);
    for path in [
        "/api/coupons/1",
        "/api/products/7",
        "/api/users/2/points",
        "/api/nope",
    ] {
        assert_eq!(
            get(format!("{}{path}", proxy.url)),
            get(format!("{}{path}", monolith.url)),
            "{path}"
        );
    }
}

/// Reads coupons 1 to 7 through the proxy with the coupon routes in shadow
/// mode and returns the shadow report for `coupon-read` once all are compared.
fn shadow_report_for_coupon_reads(coupon_flags: &[&str], rules: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let (monolith, coupon) = services_with(&dir, coupon_flags);
    let file = config(
        &dir,
        &monolith,
        &coupon,
        &format!("    mode: shadow\n{rules}"),
    );
    let mut proxy = Running::start("msa-migrate", &["proxy", "--config", &file]);
    let admin = proxy.next_url("admin");
    for id in 1..=7 {
        let through_proxy = get(format!("{}/api/coupons/{id}", proxy.url));
        let from_monolith = get(format!("{}/api/coupons/{id}", monolith.url));
        assert_eq!(
            through_proxy, from_monolith,
            "clients see the monolith's answer"
        );
    }
    poll(Duration::from_secs(5), Duration::from_millis(50), || {
        let report = get(format!("{admin}/shadow"));
        let route = report["routes"]
            .as_array()
            .and_then(|routes| routes.iter().find(|r| r["route"] == "coupon-read").cloned());
        route.filter(|r| r["compared"] == 7)
    })
    .unwrap_or_else(|| {
        panic!(
            "the shadow report never counted 7 pairs: {}",
            get(format!("{admin}/shadow"))
        )
    })
}

#[test]
fn shadowing_the_real_coupon_service_finds_no_difference_without_quirks() {
    let route = shadow_report_for_coupon_reads(&[], "");
    assert_eq!(route["equal"], 7, "{route}");
    assert_eq!(route["match_rate"], 1.0);
}

#[test]
fn shadowing_the_real_coupon_service_finds_its_quirks() {
    let route = shadow_report_for_coupon_reads(&["--quirks"], "");
    // Coupons 1 to 5 exist and differ; 6 and 7 are the same 404 on both sides.
    assert_eq!(
        (route["equal"].as_u64(), route["different"]["high"].as_u64()),
        (Some(2), Some(5)),
        "{route}"
    );
    let found: Vec<(&str, &str, &str, u64)> = route["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let field = |name: &str| p[name].as_str().unwrap();
            (
                field("path"),
                field("kind"),
                field("severity"),
                p["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("$.couponType", "extra", "low", 5),
            ("$.createdAt", "value_changed", "medium", 5),
            ("$.discountAmount", "type_changed", "high", 5),
        ],
        "every quirk at its path, and nothing else"
    );
}

#[test]
fn once_the_rules_for_its_quirks_are_accepted_the_coupon_service_matches() {
    let rules = "    shadow:
      rules:
        string_number: true
        timestamps: {tolerance_ms: 1000}
        ignore: [$.couponType]
";
    let route = shadow_report_for_coupon_reads(&["--quirks"], rules);
    assert_eq!(
        (route["equal"].as_u64(), route["compared"].as_u64()),
        (Some(7), Some(7)),
        "{route}"
    );
    assert_eq!(route["paths"], serde_json::json!([]));
}

#[test]
fn shadow_report_reads_what_the_running_proxy_stored() {
    let dir = tempfile::tempdir().unwrap();
    let (monolith, coupon) = services_with(&dir, &["--quirks"]);
    let file = config(&dir, &monolith, &coupon, "    mode: shadow");
    let proxy = Running::start("msa-migrate", &["proxy", "--config", &file]);
    for id in 1..=5 {
        get(format!("{}/api/coupons/{id}", proxy.url));
    }
    let store = dir.path().join("msa-shadow.db").display().to_string();
    stored_route(&store, "coupon-read", 5);
    let report = |format: &str| {
        msa_migrate(&[
            "shadow",
            "report",
            "coupon-read",
            "--store",
            &store,
            "--format",
            format,
        ])
    };

    let (code, markdown, stderr) = report("md");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        markdown.contains("| `$.discountAmount` | type_changed | high | 5 |"),
        "{markdown}"
    );
    assert!(
        markdown.contains("| coupon-read | 5 | 0 | 0.00% |"),
        "{markdown}"
    );
    let (code, html, _) = report("html");
    assert_eq!(code, Some(1));
    // Examples are a random sample of three of the five pairs.
    let example = |n: &str| format!("<pre>{n} / &quot;{n}&quot;</pre>");
    assert!(
        html.contains("<code>$.discountAmount</code>")
            && ["1000", "2000", "3000", "5000", "500"]
                .iter()
                .any(|n| html.contains(&example(n))),
        "{html}"
    );
}

#[test]
fn suggested_rules_once_accepted_leave_no_difference() {
    let dir = tempfile::tempdir().unwrap();
    let (monolith, coupon) = services_with(&dir, &["--quirks"]);
    let file = config(&dir, &monolith, &coupon, "    mode: shadow");
    let proxy = Running::start("msa-migrate", &["proxy", "--config", &file]);
    for id in 1..=5 {
        get(format!("{}/api/coupons/{id}", proxy.url));
    }
    let path = |name: &str| dir.path().join(name).display().to_string();
    let store = path("msa-shadow.db");
    let rules = path("suggested.yaml");
    stored_route(&store, "coupon-read", 5);
    let (code, _, stderr) = msa_migrate(&[
        "shadow",
        "suggest-rules",
        "coupon-read",
        "--store",
        &store,
        "--out",
        &rules,
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let suggested = std::fs::read_to_string(&rules).unwrap();
    for expected in [
        "string_number: true",
        "timestamps: {tolerance_ms: 1000}",
        "- \"$.couponType\"",
    ] {
        assert!(
            suggested.contains(expected),
            "missing `{expected}` in:\n{suggested}"
        );
    }

    // Accepting them: the same two answers, compared offline, are now equal.
    std::fs::write(
        path("legacy.json"),
        reqwest::blocking::get(format!("{}/api/coupons/3", monolith.url))
            .unwrap()
            .bytes()
            .unwrap(),
    )
    .unwrap();
    std::fs::write(
        path("coupon.json"),
        reqwest::blocking::get(format!("{}/api/coupons/3", coupon.url))
            .unwrap()
            .bytes()
            .unwrap(),
    )
    .unwrap();
    let (strict, _, _) = msa_migrate(&[
        "shadow",
        "diff",
        "--legacy",
        &path("legacy.json"),
        "--candidate",
        &path("coupon.json"),
    ]);
    assert_eq!(strict, Some(1), "without the rules the quirks differ");
    let (code, stdout, stderr) = msa_migrate(&[
        "shadow",
        "diff",
        "--legacy",
        &path("legacy.json"),
        "--candidate",
        &path("coupon.json"),
        "--rules",
        &rules,
    ]);
    assert_eq!(
        (code, stdout.as_str()),
        (Some(0), "equal\n"),
        "{stderr}\n{suggested}"
    );
}

#[test]
fn the_dashboard_in_headless_chromium_shows_routes_and_opens_a_field_with_redacted_examples() {
    let dir = tempfile::tempdir().unwrap();
    let (monolith, coupon) = services_with(&dir, &["--quirks"]);
    let file = config(&dir, &monolith, &coupon, "    mode: shadow");
    let mut proxy = Running::start("msa-migrate", &["proxy", "--config", &file]);
    let admin = proxy.next_url("admin");
    for id in 1..=3 {
        get(format!("{}/api/coupons/{id}", proxy.url));
    }
    // Not an assertion yet: the page below shows whatever has been compared.
    let _ = poll(Duration::from_secs(5), Duration::from_millis(50), || {
        let report = get(format!("{admin}/shadow"));
        report["routes"]
            .as_array()
            .is_some_and(|r| {
                r.iter()
                    .any(|r| r["route"] == "coupon-read" && r["compared"] == 3)
            })
            .then_some(())
    });
    let page = format!("{admin}/dashboard?route=coupon-read&path=%24.discountAmount");
    let out = chromium(&["--dump-dom", &page], &dir.path().join("chromium"));
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        dom.contains(r#"data-loaded="true""#),
        "the page did not load its data:\n{dom}"
    );
    for shown in [
        ">coupon-read<",
        r#"class="stage shadow">shadow<"#,
        ">$.discountAmount<",
        ">type_changed<",
        r#"class="legacy">1000<"#,
        r#"class="candidate">"1000"<"#,
    ] {
        assert!(
            dom.contains(shown),
            "the dashboard does not show `{shown}`:\n{dom}"
        );
    }
    // A picture for people, in the test's output directory.
    let picture = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    let out = chromium(
        &[
            "--window-size=1280,900",
            &format!("--screenshot={}", picture.display()),
            &page,
        ],
        &dir.path().join("chromium"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        std::fs::metadata(&picture).is_ok_and(|m| m.len() > 10_000),
        "no screenshot at {}",
        picture.display()
    );
}

/// One round of shadowing a user's coupon list through a fresh proxy whose
/// `user-coupons` route has `rules` (YAML, top level); returns the route's
/// stored report and the rules suggest-rules writes for it.
fn shadow_round(monolith: &Running, coupon: &Running, rules: &str) -> (Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let indented: String = rules.lines().map(|l| format!("        {l}\n")).collect();
    let mode = if rules.trim().is_empty() {
        "    mode: shadow".to_owned()
    } else {
        format!("    mode: shadow\n    shadow:\n      rules:\n{indented}")
    };
    let file = config(&dir, monolith, coupon, mode.trim_end());
    let proxy = Running::start("msa-migrate", &["proxy", "--config", &file]);
    for _ in 0..3 {
        get(format!("{}/api/users/5/coupons", proxy.url));
    }
    let store = dir.path().join("msa-shadow.db").display().to_string();
    let route = stored_route(&store, "user-coupons", 3);
    let (_, suggested, _) =
        msa_migrate(&["shadow", "suggest-rules", "user-coupons", "--store", &store]);
    (route, suggested)
}

#[test]
fn every_quirk_is_found_and_accepted_rules_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (monolith, coupon) = services_with(&dir, &["--quirks"]);
    // User 5 holds coupons 1, 2 and 3 in both services: the new service lists them newest first.
    let client = reqwest::blocking::Client::new();
    for id in 1..=3 {
        for service in [&monolith, &coupon] {
            let issued = client
                .post(format!("{}/api/coupons/{id}/issue", service.url))
                .json(&serde_json::json!({"userId": 5}))
                .send()
                .unwrap();
            assert_eq!(issued.status(), 201);
        }
    }
    let kinds = |route: &Value| -> Vec<String> {
        route["paths"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                format!(
                    "{} {}",
                    p["path"].as_str().unwrap(),
                    p["kind"].as_str().unwrap()
                )
            })
            .collect()
    };

    // Round 1, strict: the amounts as strings, the offset timestamps and the order.
    let (first, suggested_first) = shadow_round(&monolith, &coupon, "");
    assert_eq!(first["equal"], 0, "{first}");
    assert!(
        kinds(&first).contains(&"$.coupons[0].discountAmount type_changed".to_owned()),
        "{:?}",
        kinds(&first)
    );
    assert!(
        suggested_first.contains("string_number: true"),
        "{suggested_first}"
    );

    // Round 2 with those rules: what is left is the order alone.
    let (second, suggested_second) = shadow_round(&monolith, &coupon, &suggested_first);
    assert_eq!(kinds(&second), ["$.coupons order_only"], "{second}");
    assert!(
        suggested_second.contains("unordered:") && suggested_second.contains("- \"$.coupons\""),
        "{suggested_second}"
    );

    // Round 3 with every accepted rule: nothing else differs.
    let (third, _) = shadow_round(
        &monolith,
        &coupon,
        &format!("{suggested_first}{suggested_second}"),
    );
    assert_eq!(
        (third["equal"].as_u64(), third["compared"].as_u64()),
        (Some(3), Some(3)),
        "{third}"
    );
}
