//! `msa-migrate playbook check` and `readiness`, against the real monolith,
//! coupon service and proxy.

use std::io::Write;

use serde_json::Value;

use crate::support::{
    Running, Users, msa_migrate, sqlite_url, start_services, stored_route, workspace,
};

#[test]
fn playbook_check_accepts_the_bundled_playbook() {
    let coupon = workspace().join("playbooks/coupon.yaml");
    let (code, stdout, stderr) = msa_migrate(&["playbook", "check", coupon.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains("valid: domain coupon, 3 route(s), 2 table(s)"),
        "{stdout}"
    );
}

#[test]
fn playbook_check_lists_every_problem_with_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("coupon.yaml");
    std::fs::write(
        &bad,
        "domain: coupon
owner: team-coupon
upstream: coupon
routes:
  - name: coupon-read
    methods: [GET, FETCH]
    path: /api/coupons/{id}
data:
  source: postgres://app:hunter2@db/shop
  target: ${COUPON_DATABASE_URL}
canary:
  steps: [5, 1]
",
    )
    .unwrap();
    let file = bad.display().to_string();
    let (code, stdout, stderr) = msa_migrate(&["playbook", "check", &file]);
    assert_eq!(code, Some(2), "{stdout}");
    assert!(stdout.is_empty(), "{stdout}");
    for expected in [
        format!("error: {file} has 3 problem(s):"),
        format!("  {file}:6: routes[0].methods[1]: `FETCH` is not an HTTP method"),
        format!("  {file}:9: data.source: has a literal password"),
        format!("  {file}:12: canary.steps[1]: 1 does not go up"),
    ] {
        assert!(
            stderr.contains(&expected),
            "{expected:?} missing from:\n{stderr}"
        );
    }
    assert!(!stderr.contains("hunter2"), "a password is never repeated");

    // A typo is an error, never a silent default; every shape problem comes
    // in one run, with the rules' problems in what is left.
    std::fs::write(
        &bad,
        "domain: coupon
owner: x
upstream: coupon
route: []
routes:
  - name: coupon-read
    path: /api/coupons/{id}
canary:
  intervall: 10m
  advance_after: often
  steps: [5, 1]
",
    )
    .unwrap();
    let (code, _, stderr) = msa_migrate(&["playbook", "check", &file]);
    assert_eq!(code, Some(2));
    for expected in [
        format!("error: {file} has 4 problem(s):"),
        format!("  {file}:4: route: unknown field `route`: did you mean `routes`?"),
        format!(
            "  {file}:9: canary.intervall: unknown field `intervall`: did you mean `interval`?"
        ),
        format!("  {file}:10: canary.advance_after: `often` is text, not a whole number"),
        format!("  {file}:11: canary.steps[1]: 1 does not go up"),
    ] {
        assert!(
            stderr.contains(&expected),
            "{expected:?} missing from:\n{stderr}"
        );
    }
}

/// The monolith and the coupon service on SQLite, seeded alike; the coupon
/// service with its quirks when `quirks`.
fn services(dir: &tempfile::TempDir, quirks: bool) -> (Running, Running) {
    let flags: &[&str] = if quirks { &["--quirks"] } else { &[] };
    start_services(dir.path(), Users::Standalone, flags)
}

/// A proxy with the coupon-read route in `mode`, its admin API on a free port.
fn proxy(
    dir: &tempfile::TempDir,
    monolith: &Running,
    coupon: &Running,
    mode: &str,
) -> (Running, String) {
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
    sticky: header:X-User-Id
{mode}
",
        monolith.authority(),
        coupon.authority()
    )
    .unwrap();
    let mut running = Running::start(
        "msa-migrate",
        &["proxy", "--config", path.to_str().unwrap()],
    );
    let admin = running.next_url("admin");
    (running, admin)
}

/// A playbook claiming coupon-read, and an analysis that knows the domain.
/// Data is not critical here: its evidence needs `backfill`/`verify` runs.
fn playbook_and_analysis(dir: &tempfile::TempDir, stage: &str) -> (String, String) {
    let playbooks = dir.path().join("playbooks");
    std::fs::create_dir(&playbooks).unwrap();
    std::fs::write(
        playbooks.join("coupon.yaml"),
        format!(
            "domain: coupon
owner: team-coupon
upstream: coupon
routes:
  - name: coupon-read
    methods: [GET]
    path: /api/coupons/{{id}}
shadow:
  min_samples: 20
  match_rate: 0.8
gates:
  coupling: {{max_foreign_keys: 1}}
  data: {{critical: false}}
  performance: {{critical: false, min_requests: 20}}
  stage: {{critical: true, require: {stage}}}
"
        ),
    )
    .unwrap();
    let analysis = dir.path().join("analysis");
    std::fs::create_dir(&analysis).unwrap();
    std::fs::write(
        analysis.join("analysis.json"),
        r#"{"schema_version": 1,
            "domains": [{"name": "coupon", "routes": ["GET /api/coupons/{id}"], "tables": ["coupons"]},
                        {"name": "order", "routes": [], "tables": ["orders"]}],
            "findings": [{"kind": "cross_domain_foreign_key", "domains": ["order", "coupon"],
                          "subject": "orders.coupon_id → coupons.id", "detail": "", "evidence": [], "suggestion": ""}]}"#,
    )
    .unwrap();
    (
        playbooks.display().to_string(),
        analysis.display().to_string(),
    )
}

/// Where a test's readiness verdicts go: its own directory, never the
/// default `.msa/` of the directory the tests run in.
fn readiness_log(dir: &tempfile::TempDir) -> String {
    dir.path().join("readiness-log.jsonl").display().to_string()
}

fn gate<'a>(verdict: &'a Value, name: &str) -> &'a Value {
    verdict["gates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["gate"] == name)
        .unwrap()
}

/// Shadows 30 coupon reads, then asks readiness.
fn shadow_round(quirks: bool) -> (Option<i32>, Value, tempfile::TempDir, String) {
    // Returns the readiness log's path last.
    let dir = tempfile::tempdir().unwrap();
    let (monolith, coupon) = services(&dir, quirks);
    let (running, admin) = proxy(&dir, &monolith, &coupon, "    mode: shadow");
    for i in 0..30 {
        let id = i % 5 + 1;
        let answer = reqwest::blocking::get(format!("{}/api/coupons/{id}", running.url)).unwrap();
        assert_eq!(answer.status(), 200);
    }
    let store = dir.path().join("msa-shadow.db").display().to_string();
    stored_route(&store, "coupon-read", 30);
    let (playbooks, analysis) = playbook_and_analysis(&dir, "shadow");
    let log = readiness_log(&dir);
    let (code, stdout, stderr) = msa_migrate(&[
        "readiness",
        "coupon",
        "--playbooks",
        &playbooks,
        "--admin",
        &admin,
        "--shadow-store",
        &store,
        "--analysis",
        &analysis,
        "--format",
        "json",
        "--log",
        &log,
    ]);
    let report: Value =
        serde_json::from_str(&stdout).unwrap_or_else(|_| panic!("{stdout}\n{stderr}"));
    (code, report["domains"][0].clone(), dir, log)
}

#[test]
fn readiness_fails_when_shadow_finds_a_quirk_and_says_why() {
    let (code, verdict, _dir, log) = shadow_round(true);
    assert_eq!(code, Some(1), "{verdict:#}");
    assert_eq!(verdict["outcome"], "fail");
    assert_eq!(
        verdict["summary"],
        "coupon is not ready: critical gate(s) failed: behaviour"
    );
    let behaviour = gate(&verdict, "behaviour");
    assert_eq!(behaviour["outcome"], "fail");
    assert!(
        behaviour["details"][0]
            .as_str()
            .unwrap()
            .contains("$.discountAmount"),
        "{behaviour:#}"
    );
    assert_eq!(behaviour["inputs"]["routes"][0]["compared"], 30);
    // The other gates are judged on their own evidence.
    assert_eq!(
        gate(&verdict, "coupling")["outcome"],
        "pass",
        "one FK, one allowed"
    );
    assert_eq!(gate(&verdict, "stage")["outcome"], "pass", "{verdict:#}");
    assert_eq!(gate(&verdict, "data")["outcome"], "no_data");
    assert_eq!(
        gate(&verdict, "performance")["outcome"],
        "no_data",
        "shadow mode serves no new traffic"
    );

    // The verdict was stored with its inputs: --last --explain shows why, without asking anyone again.
    let (code, stdout, stderr) = msa_migrate(&["readiness", "--last", "--explain", "--log", &log]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stdout.starts_with("coupon: NOT READY (fail) at "),
        "{stdout}"
    );
    assert!(
        stdout.contains("high-severity difference(s) not explained by noise at $.discountAmount"),
        "{stdout}"
    );
    assert!(stdout.contains("inputs: {"), "{stdout}");
}

#[test]
fn readiness_passes_once_the_service_answers_like_the_monolith() {
    let (code, verdict, _dir, log) = shadow_round(false);
    assert_eq!(code, Some(0), "{verdict:#}");
    assert_eq!(verdict["outcome"], "pass");
    assert_eq!(gate(&verdict, "behaviour")["outcome"], "pass");
    assert!(
        verdict["summary"]
            .as_str()
            .unwrap()
            .contains("not passing, non-critical: data, performance"),
        "{verdict:#}"
    );
    let log = std::fs::read_to_string(log).unwrap();
    let entry: Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    assert_eq!(entry["verdict"]["ready"], true);
    assert!(
        entry["sources"]["shadow_store"]
            .as_str()
            .unwrap()
            .ends_with("msa-shadow.db")
    );
}

#[test]
fn readiness_compares_both_sides_of_a_canary_from_the_proxys_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let (monolith, coupon) = services(&dir, false);
    let (running, admin) = proxy(
        &dir,
        &monolith,
        &coupon,
        "    mode: canary\n    weight_bp: 5000",
    );
    let client = reqwest::blocking::Client::new();
    for user in 0..120 {
        let answer = client
            .get(format!("{}/api/coupons/{}", running.url, user % 5 + 1))
            .header("X-User-Id", user.to_string())
            .send()
            .unwrap();
        assert_eq!(answer.status(), 200);
    }
    let (playbooks, analysis) = playbook_and_analysis(&dir, "canary");
    let log = readiness_log(&dir);
    let (code, stdout, stderr) = msa_migrate(&[
        "readiness",
        "coupon",
        "--playbooks",
        &playbooks,
        "--admin",
        &admin,
        "--analysis",
        &analysis,
        "--format",
        "json",
        "--log",
        &log,
    ]);
    assert_eq!(
        code,
        Some(1),
        "no shadow store given: behaviour has no data\n{stderr}"
    );
    let verdict = &serde_json::from_str::<Value>(&stdout).unwrap()["domains"][0];
    assert_eq!(gate(verdict, "behaviour")["outcome"], "no_data");
    let stage = gate(verdict, "stage");
    assert_eq!(stage["outcome"], "pass", "{stage:#}");
    assert_eq!(stage["details"][0], "coupon-read: canary at 50.00%");
    let performance = gate(verdict, "performance");
    let (new, legacy) = (
        performance["inputs"]["new"]["requests"].as_u64().unwrap(),
        performance["inputs"]["legacy"]["requests"]
            .as_u64()
            .unwrap(),
    );
    assert_eq!(new + legacy, 120, "{performance:#}");
    assert!(
        new >= 20 && legacy >= 20,
        "a 50% canary splits users: {new} / {legacy}"
    );
    assert_eq!(performance["inputs"]["new"]["errors"], 0);
    assert_ne!(performance["outcome"], "no_data", "{performance:#}");
    assert!(
        performance["inputs"]["tests"]["error_rate"]["fisher_p"].is_number(),
        "{performance:#}"
    );
    assert!(
        performance["inputs"]["tests"]["latency_rank"]["p_value"].is_number(),
        "{performance:#}"
    );

    // The same verdict as Markdown and HTML, for a pull request or a page.
    let (_, md, _) = msa_migrate(&[
        "readiness",
        "coupon",
        "--playbooks",
        &playbooks,
        "--admin",
        &admin,
        "--format",
        "md",
        "--log",
        &log,
    ]);
    assert!(
        md.contains("| stage | yes | pass | every route is canary or beyond"),
        "{md}"
    );
    let (_, html, _) = msa_migrate(&[
        "readiness",
        "coupon",
        "--playbooks",
        &playbooks,
        "--admin",
        &admin,
        "--format",
        "html",
        "--explain",
        "--log",
        &log,
    ]);
    assert!(
        html.starts_with("<!doctype html>") && html.contains("<details>"),
        "{html}"
    );
}

#[test]
fn readiness_without_a_playbook_is_an_error_that_says_what_to_write() {
    let dir = tempfile::tempdir().unwrap();
    let playbooks = dir.path().display().to_string();
    let (code, stdout, stderr) = msa_migrate(&["readiness", "ranking", "--playbooks", &playbooks]);
    assert_eq!(code, Some(2), "{stdout}");
    assert!(
        stderr.contains("no playbook for domain `ranking`"),
        "{stderr}"
    );
}

#[test]
fn readiness_fails_when_verify_finds_a_mismatch_and_passes_after_repair() {
    let dir = tempfile::tempdir().unwrap();
    let (_monolith, coupon) = services(&dir, false);
    let (source, target) = (
        sqlite_url(dir.path(), "monolith.db"),
        sqlite_url(dir.path(), "coupon.db"),
    );
    let mapping = "tables:
  coupons:
    target: coupon
    rename: {id: coupon_id, name: title, discount_amount: discount_won, max_issue: quantity_total, issued_count: quantity_issued, status: state}
    values:
      status: {ACTIVE: 1, PAUSED: 2}
  user_coupons:
    target: issued_coupon
    rename: {id: issued_coupon_id, user_id: member_id, order_id: order_ref}
";
    let map = dir.path().join("map.yaml");
    std::fs::write(&map, mapping).unwrap();
    let playbooks = dir.path().join("playbooks");
    std::fs::create_dir(&playbooks).unwrap();
    // The playbook's `tables` is the same vocabulary as `--map`; only data is critical here.
    std::fs::write(
        playbooks.join("coupon.yaml"),
        format!(
            "domain: coupon
owner: team-coupon
upstream: coupon
routes:
  - name: coupon-read
    path: /api/coupons/{{id}}
{mapping}data:
  source: {source}
  target: {target}
  max_lag: 10m
gates:
  coupling: {{critical: false}}
  behaviour: {{critical: false}}
  performance: {{critical: false}}
"
        ),
    )
    .unwrap();
    let playbooks = playbooks.display().to_string();
    let log = readiness_log(&dir);
    let data_args = |command: &str| -> Vec<String> {
        [
            command,
            "--source",
            &source,
            "--target",
            &target,
            "--tables",
            "coupons,user_coupons",
            "--map",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .chain([map.display().to_string()])
        .collect()
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, stdout, stderr) = msa_migrate(&args);
        assert!(matches!(code, Some(0 | 1)), "{args:?}: {stdout}\n{stderr}");
    };
    let readiness = || {
        let (code, stdout, stderr) = msa_migrate(&[
            "readiness",
            "coupon",
            "--playbooks",
            &playbooks,
            "--format",
            "json",
            "--log",
            &log,
        ]);
        let report: Value =
            serde_json::from_str(&stdout).unwrap_or_else(|_| panic!("{stdout}\n{stderr}"));
        (code, gate(&report["domains"][0], "data").clone())
    };

    let (code, data) = readiness();
    assert_eq!(
        (code, data["outcome"].as_str()),
        (Some(1), Some("no_data")),
        "{data:#}"
    );

    run(data_args("backfill"));
    // A write that only the new service saw: the copy no longer matches.
    let issued = reqwest::blocking::Client::new()
        .post(format!("{}/api/coupons/1/issue", coupon.url))
        .json(&serde_json::json!({"userId": 1}))
        .send()
        .unwrap();
    assert_eq!(issued.status(), 201);
    run(data_args("verify"));
    let (code, data) = readiness();
    assert_eq!(
        (code, data["outcome"].as_str()),
        (Some(1), Some("fail")),
        "{data:#}"
    );
    assert!(
        data["summary"]
            .as_str()
            .unwrap()
            .contains("mismatching row(s)"),
        "{data:#}"
    );
    assert_eq!(data["inputs"]["evidence"]["last_verify"]["clean"], false);

    let mut repair = data_args("verify");
    repair.push("--repair".to_owned());
    run(repair);
    let (code, data) = readiness();
    assert_eq!(
        (code, data["outcome"].as_str()),
        (Some(0), Some("pass")),
        "{data:#}"
    );
    assert_eq!(data["inputs"]["evidence"]["last_verify"]["mismatches"], 0);
}

#[test]
fn plan_writes_a_first_playbook_from_the_real_analysis_and_readiness_reads_its_coupling() {
    let dir = tempfile::tempdir().unwrap();
    let analysis = dir.path().join("analysis").display().to_string();
    let source = workspace()
        .join("examples/legacy-commerce")
        .display()
        .to_string();
    let (code, _, stderr) = msa_migrate(&["analyze", "--source", &source, "--out", &analysis]);
    assert!(matches!(code, Some(0 | 1)), "{stderr}");
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{analysis}/analysis.json")).unwrap(),
    )
    .unwrap();
    // The domain that holds the coupons table, whatever analyze named it.
    let domain = report["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| {
            d["tables"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t == "coupons")
        })
        .expect("a domain owns the coupons table")["name"]
        .as_str()
        .unwrap()
        .to_owned();

    let playbooks = dir.path().join("playbooks");
    std::fs::create_dir(&playbooks).unwrap();
    let out = playbooks
        .join(format!("{domain}.yaml"))
        .display()
        .to_string();
    let (code, _, stderr) = msa_migrate(&[
        "plan",
        "--analysis",
        &analysis,
        "--domain",
        &domain,
        "--out",
        &out,
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let (code, stdout, stderr) = msa_migrate(&["playbook", "check", &out]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("table(s)"), "{stdout}");
    let written = std::fs::read_to_string(&out).unwrap();
    assert!(written.contains("path: \"/api/coupons/{id}\""), "{written}");
    assert!(written.contains("  coupons:\n"), "{written}");
    // Never overwritten by accident.
    let (code, _, stderr) = msa_migrate(&[
        "plan",
        "--analysis",
        &analysis,
        "--domain",
        &domain,
        "--out",
        &out,
    ]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("pass --force"), "{stderr}");

    // The monolith's order transaction still spans the coupon domain: coupling fails.
    let playbooks = playbooks.display().to_string();
    let (code, stdout, _) = msa_migrate(&[
        "readiness",
        &domain,
        "--playbooks",
        &playbooks,
        "--analysis",
        &analysis,
        "--no-data",
        "--format",
        "json",
        "--log",
        &readiness_log(&dir),
    ]);
    assert_eq!(code, Some(1));
    let verdict = &serde_json::from_str::<Value>(&stdout).unwrap()["domains"][0];
    let coupling = gate(verdict, "coupling");
    assert_eq!(coupling["outcome"], "fail", "{coupling:#}");
    assert!(
        coupling["details"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d.as_str().unwrap().contains("POST /api/orders")),
        "{coupling:#}"
    );
}
