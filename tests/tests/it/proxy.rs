//! `msa-migrate proxy` in front of the real monolith and coupon service.

use std::io::Write;

use serde_json::{Value, json};

use std::time::Duration;

use crate::support::{Running, Users, msa_migrate, poll, start_services, stored_route};

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

/// Issue #8: the dashboard in headless Chromium, driven as a person uses it:
/// the coupon domain (its routes from the playbook) is opened by a click,
/// shows its routes' stages, the canary's walk and the last readiness verdict;
/// a field's diff is opened by a click; a screenshot lands in the test output.
#[test]
fn the_dashboard_in_headless_chromium_shows_a_domain_and_opens_a_diff_by_clicking() {
    let dir = tempfile::tempdir().unwrap();
    let (monolith, coupon) = services_with(&dir, &["--quirks"]);
    // The coupon routes are the coupon domain's: the bundled playbook claims
    // them. A route no playbook claims is unassigned.
    let playbooks = dir.path().join("playbooks");
    std::fs::create_dir_all(&playbooks).unwrap();
    std::fs::copy(
        crate::support::workspace().join("playbooks/coupon.yaml"),
        playbooks.join("coupon.yaml"),
    )
    .unwrap();
    let file = config(&dir, &monolith, &coupon, "    mode: shadow");
    let mut text = std::fs::read_to_string(&file).unwrap();
    text = text.replace(
        "routes:\n",
        "playbooks: [playbooks/coupon.yaml]\nroutes:\n  - name: user-points\n    methods: [GET]\n    path: /api/users/{id}/points\n    upstream: coupon\n",
    );
    std::fs::write(&file, text).unwrap();
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

    // A readiness verdict, logged where the proxy reads it: the command's
    // default log, run from the configuration's directory.
    let playbooks_dir = playbooks.display().to_string();
    let log = dir.path().join(".msa/readiness-log.jsonl");
    let (code, verdict, errors) = msa_migrate(&[
        "readiness",
        "coupon",
        "--playbooks",
        &playbooks_dir,
        "--admin",
        &admin,
        "--no-data",
        "--log",
        &log.display().to_string(),
    ]);
    assert_eq!(code, Some(1), "not ready yet:\n{verdict}\n{errors}");
    // A canary walk in progress: the controller starts (routes to 10%), its
    // walk is in the state store, and it is stopped there.
    let state = dir
        .path()
        .join("msa-proxy-state.json")
        .display()
        .to_string();
    let mut controller =
        std::process::Command::new(crate::support::workspace_binary("msa-migrate"))
            .args([
                "canary",
                "coupon",
                "--playbooks",
                &playbooks_dir,
                "--state",
                &state,
                "--admin",
                &admin,
                "--steps",
                "10,50,100",
                "--interval",
                "1h",
                "--reason",
                "dashboard test",
            ])
            .stdout(std::fs::File::create(dir.path().join("canary.out")).unwrap())
            .stderr(std::fs::File::create(dir.path().join("canary.err")).unwrap())
            .spawn()
            .unwrap();
    let walking = poll(Duration::from_secs(20), Duration::from_millis(100), || {
        let domains = get(format!("{admin}/domains"));
        let routes = get(format!("{admin}/routes"));
        let at_ten = routes["routes"]
            .as_array()?
            .iter()
            .filter(|r| r["name"] != "user-points")
            .all(|r| r["stage"] == json!({"mode": "canary", "weight_bp": 1000}));
        (at_ten && !domains["domains"][0]["canary"].is_null()).then_some(domains)
    });
    let _ = controller.kill();
    let _ = controller.wait();
    let domains = walking.unwrap_or_else(|| {
        panic!(
            "the canary's walk is not in GET /domains with its routes at 10%: {}\n{}\n{}{}",
            get(format!("{admin}/domains")),
            get(format!("{admin}/routes")),
            std::fs::read_to_string(dir.path().join("canary.out")).unwrap_or_default(),
            std::fs::read_to_string(dir.path().join("canary.err")).unwrap_or_default(),
        )
    });
    assert_eq!(domains["domains"][0]["name"], "coupon", "{domains}");
    assert_eq!(
        domains["domains"][0]["routes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].clone())
            .collect::<Vec<_>>(),
        [
            json!("coupon-read"),
            json!("coupon-issue"),
            json!("user-coupons")
        ]
    );
    assert_eq!(
        domains["domains"][0]["readiness"]["verdict"]["ready"],
        false
    );
    assert_eq!(domains["unassigned"][0]["name"], "user-points", "{domains}");

    let mut browser = crate::support::Browser::start();
    browser.navigate(&format!("{admin}/dashboard"));
    browser.wait_for(
        "document.body.dataset.loaded === 'true'",
        "the page did not load its data",
    );
    let nav = browser
        .eval("[...document.querySelectorAll('nav#domains button')].map((b) => b.textContent)");
    assert_eq!(
        nav,
        json!(["All routes", "couponNOT READY", "unassigned"]),
        "the domains to choose from"
    );
    assert_eq!(
        browser.eval("document.getElementById('domain').hidden"),
        true,
        "no domain is open before a click"
    );

    // To the coupon domain, by a click.
    browser.click("nav#domains button[data-domain='coupon']");
    browser.wait_for(
        "document.getElementById('domain-name').textContent === 'Domain coupon'",
        "the click did not open the coupon domain",
    );
    assert_eq!(browser.eval("location.hash"), "#domain=coupon");
    let rows = browser.eval(
        "[...document.querySelectorAll('#routes tbody tr')].map((r) => [...r.cells].map((c) => c.textContent))",
    );
    let rows = rows.as_array().unwrap();
    assert_eq!(
        rows.iter().map(|r| r[0].clone()).collect::<Vec<_>>(),
        [
            json!("coupon-read"),
            json!("coupon-issue"),
            json!("user-coupons")
        ],
        "only the domain's routes: {rows:?}"
    );
    for row in rows {
        assert_eq!(
            (&row[1], &row[5]),
            (&json!("coupon"), &json!("canary 10.00%")),
            "{row}"
        );
    }
    let canary = browser.eval(
        "({ steps: [...document.querySelectorAll('#canary ol.steps li')].map((l) => [l.textContent, l.className]),
            phase: document.querySelector('#canary .canary-phase').textContent })",
    );
    assert_eq!(
        canary["steps"],
        json!([["10%", "current"], ["50%", "todo"], ["100%", "todo"]]),
        "{canary}"
    );
    assert!(
        canary["phase"]
            .as_str()
            .unwrap()
            .starts_with("step 1 of 3 (10%): "),
        "{canary}"
    );
    let readiness = browser.eval(
        "({ verdict: document.querySelector('#readiness .verdict').textContent,
            gates: [...document.querySelectorAll('#readiness tr[data-gate]')].map((r) => r.dataset.gate) })",
    );
    assert_eq!(readiness["verdict"], "NOT READY", "{readiness}");
    assert_eq!(
        readiness["gates"],
        json!(["coupling", "data", "behaviour", "performance", "stage"]),
        "{readiness}"
    );

    // A field's diff, by a click on the field.
    let field = "section.route[data-route='coupon-read'] button.path";
    let fields = browser.eval(&format!(
        "[...document.querySelectorAll(\"{field}\")].map((b) => b.textContent)"
    ));
    assert!(
        fields
            .as_array()
            .unwrap()
            .contains(&json!("$.discountAmount")),
        "{fields}"
    );
    assert_eq!(
        browser.eval("document.querySelectorAll('.examples').length"),
        0,
        "no diff is open before a click"
    );
    let index = fields
        .as_array()
        .unwrap()
        .iter()
        .position(|f| f == "$.discountAmount")
        .unwrap();
    browser.click(&format!(
        "section.route[data-route='coupon-read'] tr:nth-child({}) button.path",
        index + 1
    ));
    browser.wait_for(
        "document.querySelector(\".examples[data-field='$.discountAmount'] pre.candidate\")",
        "the click did not open the field's examples",
    );
    let diff = browser.eval(
        "({ legacy: document.querySelector(\".examples[data-field='$.discountAmount'] pre.legacy\").textContent,
            candidate: document.querySelector(\".examples[data-field='$.discountAmount'] pre.candidate\").textContent,
            expanded: document.querySelector(\"section.route[data-route='coupon-read'] button.path[aria-expanded='true']\").textContent })",
    );
    assert_eq!(
        diff,
        json!({"legacy": "1000", "candidate": "\"1000\"", "expanded": "$.discountAmount"})
    );

    // A picture for people, in the test's output directory.
    let picture = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    let _ = std::fs::remove_file(&picture);
    browser.screenshot(&picture);
    let png = std::fs::read(&picture).unwrap();
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
        "no screenshot at {}",
        picture.display()
    );

    // The routes no playbook claims, by a click too.
    browser.click("nav#domains button[data-domain='unassigned']");
    browser.wait_for(
        "document.getElementById('domain-name').textContent === 'Routes no playbook claims'",
        "the click did not open the unassigned routes",
    );
    assert_eq!(
        browser.eval(
            "[...document.querySelectorAll('#routes tbody tr')].map((r) => r.cells[0].textContent)"
        ),
        json!(["user-points"])
    );
}

/// A configuration with one route, `users`: the `/api/users` prefix shadowed
/// to the coupon service, so its templates are inferred from the paths seen.
fn users_prefix_config(dir: &tempfile::TempDir, monolith: &Running, coupon: &Running) -> String {
    let path = dir.path().join("proxy.yaml");
    std::fs::write(
        &path,
        format!(
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
  - name: users
    methods: [GET]
    prefix: /api/users
    upstream: coupon
    mode: shadow
",
            monolith.authority(),
            coupon.authority()
        ),
    )
    .unwrap();
    path.display().to_string()
}

/// The cells' text of each template row of `route` on the dashboard.
fn template_rows(browser: &mut crate::support::Browser, route: &str) -> Value {
    browser.eval(&format!(
        "[...document.querySelectorAll(\"section.route[data-route='{route}'] table.templates tr[data-template]\")]
            .map((r) => [...r.cells].map((c) => c.textContent))"
    ))
}

/// The field buttons shown under an opened template.
fn template_fields(browser: &mut crate::support::Browser, template: &str) -> Vec<String> {
    let fields = browser.eval(&format!(
        "[...document.querySelectorAll(\"tr.template-detail[data-template='{template}'] button.path\")]
            .map((b) => b.textContent)"
    ));
    serde_json::from_value(fields).unwrap()
}

/// The examples of `field` under an opened template: (legacy, new service) texts.
fn template_examples(
    browser: &mut crate::support::Browser,
    template: &str,
    field: &str,
) -> Vec<(String, String)> {
    let pairs = browser.eval(&format!(
        "[...document.querySelectorAll(\"tr.template-detail[data-template='{template}'] .examples[data-field='{field}']\")]
            .flatMap((box) => [...box.querySelectorAll('pre.legacy')].map((legacy, i) =>
                [legacy.textContent, box.querySelectorAll('pre.candidate')[i].textContent]))"
    ));
    serde_json::from_value(pairs).unwrap()
}

/// Issue #4: a prefix route's templates on the dashboard in headless Chromium.
/// Real traffic through the proxy falls under two inferred templates, one
/// that differs everywhere (the coupon service has no user profiles) and one
/// that differs once in two; each template shows its own counts, opens on a
/// click to its own fields, and a field to its own redacted examples.
#[test]
fn the_dashboard_in_headless_chromium_opens_a_template_and_its_own_redacted_examples() {
    let dir = tempfile::tempdir().unwrap();
    let (monolith, coupon) = services_with(&dir, &["--quirks"]);
    // User 5 holds coupons 1 and 2 in both services (the new service lists
    // them newest first, amounts as strings); user 6 holds none.
    let client = reqwest::blocking::Client::new();
    for id in 1..=2 {
        for service in [&monolith, &coupon] {
            let issued = client
                .post(format!("{}/api/coupons/{id}/issue", service.url))
                .json(&json!({"userId": 5}))
                .send()
                .unwrap();
            assert_eq!(issued.status(), 201);
        }
    }
    let file = users_prefix_config(&dir, &monolith, &coupon);
    let mut proxy = Running::start("msa-migrate", &["proxy", "--config", &file]);
    let admin = proxy.next_url("admin");
    // Three profiles, each with an e-mail address the monolith answers with.
    for id in 1..=3 {
        let user = get(format!("{}/api/users/{id}", proxy.url));
        assert_eq!(
            user["email"],
            format!("user{id}@example.com"),
            "the monolith's"
        );
    }
    for id in [5, 6] {
        get(format!("{}/api/users/{id}/coupons", proxy.url));
    }
    let profile = "GET /api/users/{id}";
    let lists = "GET /api/users/{id}/coupons";
    let route = poll(Duration::from_secs(5), Duration::from_millis(50), || {
        let report = get(format!("{admin}/shadow"));
        report["routes"]
            .as_array()?
            .iter()
            .find(|r| r["route"] == "users" && r["compared"] == 5)
            .cloned()
    })
    .unwrap_or_else(|| panic!("5 pairs never compared: {}", get(format!("{admin}/shadow"))));
    let keys: Vec<&str> = route["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["template"].as_str().unwrap())
        .collect();
    assert_eq!(keys, [profile, lists], "{route:#}");

    let mut browser = crate::support::Browser::start();
    browser.navigate(&format!("{admin}/dashboard"));
    browser.wait_for(
        "document.body.dataset.loaded === 'true'",
        "the page did not load its data",
    );
    // Each template's own counts: 0 of 3 profiles match, 1 of 2 lists; the
    // Wilson lower bound of 1 in 2 is 9.45%.
    assert_eq!(
        template_rows(&mut browser, "users"),
        json!([
            [profile, "3", "0.00%", "0.00%", "3", "0", "0", "0 / 0"],
            [lists, "2", "50.00%", "9.45%", "1", "0", "0", "0 / 0"],
        ])
    );
    assert_eq!(
        browser.eval(
            "document.querySelectorAll(\"section.route[data-route='users'] button.path\").length"
        ),
        0,
        "a split route's fields are under its templates, shown once one is opened"
    );

    // The profiles' template, by a click: its fields, and the e-mail's examples.
    browser.click(&format!(
        "section.route[data-route='users'] tr[data-template='{profile}'] button.template"
    ));
    browser.wait_for(
        &format!(
            "document.querySelector(\"tr.template-detail[data-template='{profile}'] button.path\")"
        ),
        "the click did not open the template's fields",
    );
    let fields = template_fields(&mut browser, profile);
    assert!(fields.contains(&"$.email".to_owned()), "{fields:?}");
    assert!(
        !fields.iter().any(|f| f.starts_with("$.coupons")),
        "another template's fields: {fields:?}"
    );
    let index = fields.iter().position(|f| f == "$.email").unwrap();
    browser.click(&format!(
        "tr.template-detail[data-template='{profile}'] table.paths > tbody > tr:nth-child({}) button.path",
        index + 1
    ));
    browser.wait_for(
        &format!("document.querySelector(\"tr.template-detail[data-template='{profile}'] .examples[data-field='$.email'] pre.legacy\")"),
        "the click did not open the e-mail's examples",
    );
    let examples = template_examples(&mut browser, profile, "$.email");
    assert!(!examples.is_empty(), "no examples");
    for (legacy, candidate) in &examples {
        assert_eq!(
            (legacy.as_str(), candidate.as_str()),
            ("\"[email]\"", "null"),
            "the monolith's e-mail, redacted; none from the new service"
        );
    }

    // The lists' template too: its own fields and examples, none of the profiles'.
    browser.click(&format!(
        "section.route[data-route='users'] tr[data-template='{lists}'] button.template"
    ));
    browser.wait_for(
        &format!(
            "document.querySelector(\"tr.template-detail[data-template='{lists}'] button.path\")"
        ),
        "the click did not open the second template's fields",
    );
    let fields = template_fields(&mut browser, lists);
    assert!(
        fields.contains(&"$.coupons[0].discountAmount".to_owned()),
        "{fields:?}"
    );
    assert!(
        !fields.contains(&"$.email".to_owned()),
        "the profiles' field under the lists: {fields:?}"
    );
    let index = fields
        .iter()
        .position(|f| f == "$.coupons[0].discountAmount")
        .unwrap();
    browser.click(&format!(
        "tr.template-detail[data-template='{lists}'] table.paths > tbody > tr:nth-child({}) button.path",
        index + 1
    ));
    browser.wait_for(
        &format!("document.querySelector(\"tr.template-detail[data-template='{lists}'] .examples pre.candidate\")"),
        "the click did not open the list field's examples",
    );
    assert_eq!(
        template_examples(&mut browser, lists, "$.coupons[0].discountAmount"),
        [("1000".to_owned(), "\"2000\"".to_owned())],
        "user 5's list: coupon 1 first in the monolith's, coupon 2 (its amount a string) in the new service's"
    );
    assert_eq!(
        template_examples(&mut browser, profile, "$.email"),
        examples,
        "the first template's examples stay as they were"
    );
    let text = browser.eval("document.body.innerText");
    assert!(
        !text.as_str().unwrap().contains("@example.com"),
        "an e-mail address is shown: {text}"
    );
    let picture = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-templates.png");
    browser.screenshot(&picture);

    // A template's field from the address, as a link would open it.
    browser.navigate(&format!(
        "{admin}/dashboard?route=users&template={}&path=%24.email",
        profile.replace(' ', "%20")
    ));
    browser.wait_for(
        &format!("document.querySelector(\"tr.template-detail[data-template='{profile}'] .examples[data-field='$.email'] pre.legacy\")"),
        "?route=R&template=T&path=P did not open the template's field",
    );

    // The HTML report of the stored results splits the route the same way.
    let store = dir.path().join("msa-shadow.db").display().to_string();
    stored_route(&store, "users", 5);
    let (code, html, stderr) = msa_migrate(&[
        "shadow", "report", "users", "--store", &store, "--format", "html",
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        html.contains(&format!(
            "<tr><td>{profile}</td><td>3</td><td>0</td><td>0.00%</td>"
        )) && html.contains(&format!(
            "<tr><td>{lists}</td><td>2</td><td>1</td><td>50.00%</td>"
        )),
        "{html}"
    );
    let section = |template: &str| {
        let start = html
            .find(&format!("<h3>{template}</h3>"))
            .unwrap_or_else(|| panic!("no section for {template}: {html}"));
        let rest = &html[start + 4..];
        rest[..rest.find("<h3>").unwrap_or(rest.len())].to_owned()
    };
    let profiles = section(profile);
    assert!(
        profiles.contains("<code>$.email</code>")
            && profiles.contains("&quot;[email]&quot; / null")
            && !profiles.contains("$.coupons"),
        "{profiles}"
    );
    assert!(
        !section(lists).contains("$.email") && !html.contains("@example.com"),
        "{html}"
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
