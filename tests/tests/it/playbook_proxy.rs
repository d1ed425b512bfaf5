//! `msa-migrate proxy` reading playbooks: the coupon playbook's routes, rules
//! and upstream, with no route written in the proxy's configuration.

use std::io::Write;

use serde_json::{Value, json};

use crate::support::{Running, Users, msa_migrate, start_services, stored_route, workspace};

const TOKEN: &str = "playbook-test-token";

/// The monolith and the coupon service with its quirks, on SQLite in `dir`.
fn services(dir: &tempfile::TempDir) -> (Running, Running) {
    start_services(dir.path(), Users::FromMonolith, &["--quirks"])
}

/// The bundled coupon playbook, with the domain rules that accept the coupon
/// service's three quirks, written as `coupon.yaml` in `dir`.
fn playbook(dir: &tempfile::TempDir) -> String {
    let bundled = std::fs::read_to_string(workspace().join("playbooks/coupon.yaml")).unwrap();
    let with_rules = bundled.replacen(
        "\nshadow:\n",
        "\nshadow:\n  rules:\n    string_number: true\n    timestamps: {tolerance_ms: 1000}\n    ignore: [\"$.couponType\"]\n",
        1,
    );
    assert_ne!(
        with_rules, bundled,
        "the bundled playbook has a `shadow:` section"
    );
    let path = dir.path().join("coupon.yaml");
    std::fs::write(&path, with_rules).unwrap();
    path.display().to_string()
}

/// A proxy configuration that writes no route: they all come from the playbook.
fn config(dir: &tempfile::TempDir, monolith: &Running, coupon: &Running) -> String {
    std::fs::write(dir.path().join("admin-token"), TOKEN).unwrap();
    let path = dir.path().join("proxy.yaml");
    let mut file = std::fs::File::create(&path).unwrap();
    write!(
        file,
        "listen: 127.0.0.1:0
workers: 1
legacy: monolith
admin:
  listen: 127.0.0.1:0
  token_file: admin-token
upstreams:
  monolith:
    endpoints: [{}]
  coupon:
    endpoints: [{}]
playbooks: [coupon.yaml]
",
        monolith.authority(),
        coupon.authority()
    )
    .unwrap();
    path.display().to_string()
}

fn get(url: String) -> Value {
    reqwest::blocking::get(url).unwrap().json().unwrap()
}

#[test]
fn the_proxy_takes_routes_and_shadow_rules_from_a_playbook_and_reports_by_domain() {
    let dir = tempfile::tempdir().unwrap();
    let (monolith, coupon) = services(&dir);
    let playbook = playbook(&dir);
    let file = config(&dir, &monolith, &coupon);
    let (code, _, stderr) = msa_migrate(&["proxy", "--config", &file, "--check"]);
    assert_eq!(code, Some(0), "{stderr}");
    let mut proxy = Running::start("msa-migrate", &["proxy", "--config", &file]);
    let admin = proxy.next_url("admin");

    // The playbook's routes start in `legacy`: nothing is mirrored yet.
    get(format!("{}/api/coupons/1", proxy.url));
    let moved: Value = reqwest::blocking::Client::new()
        .put(format!("{admin}/routes/coupon-read"))
        .bearer_auth(TOKEN)
        .header("x-msa-actor", "e2e")
        .json(&json!({"mode": "shadow", "reason": "playbook e2e"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        (&moved["before"], &moved["after"]),
        (&json!({"mode": "legacy"}), &json!({"mode": "shadow"})),
        "{moved}"
    );

    for id in 1..=7 {
        assert_eq!(
            get(format!("{}/api/coupons/{id}", proxy.url)),
            get(format!("{}/api/coupons/{id}", monolith.url)),
            "clients see the monolith's answer"
        );
    }
    // Without the playbook's rules coupons 1 to 5 differ at three paths (see
    // proxy.rs); with them every pair is equal.
    let store = dir.path().join("msa-shadow.db").display().to_string();
    let route = stored_route(&store, "coupon-read", 7);
    assert_eq!(
        (route["equal"].as_u64(), route["paths"].clone()),
        (Some(7), json!([])),
        "{route}"
    );

    // The report for the domain lists every route the playbook claims.
    let (code, table, stderr) = msa_migrate(&[
        "shadow",
        "report",
        "--playbook",
        &playbook,
        "--store",
        &store,
    ]);
    assert_eq!(code, Some(1), "two routes have no evidence yet: {stderr}");
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    assert_eq!(lines[0], format!("domain coupon ({playbook}): 3 route(s)"));
    assert!(
        lines[1].starts_with("  coupon-read: 7 compared, 7 equal (100.00%"),
        "{table}"
    );
    assert_eq!(
        lines[2..],
        [
            "  coupon-issue: no shadow results yet",
            "  user-coupons: no shadow results yet"
        ]
    );
    let (_, json_report, _) = msa_migrate(&[
        "shadow",
        "report",
        "--playbook",
        &playbook,
        "--store",
        &store,
        "--format",
        "json",
    ]);
    let report: Value = serde_json::from_str(&json_report).unwrap();
    assert_eq!(report["domain"], "coupon");
    assert_eq!(report["routes"][0]["route"], "coupon-read");
    assert_eq!(
        report["without_results"],
        json!(["coupon-issue", "user-coupons"])
    );

    let (code, _, stderr) = msa_migrate(&[
        "shadow",
        "report",
        "product-read",
        "--playbook",
        &playbook,
        "--store",
        &store,
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("does not claim route `product-read`; it claims: coupon-read, coupon-issue, user-coupons"),
        "{stderr}"
    );

    // Suggestions for the route keep the playbook's rules instead of losing them.
    let (code, suggested, stderr) = msa_migrate(&[
        "shadow",
        "suggest-rules",
        "coupon-read",
        "--playbook",
        &playbook,
        "--store",
        &store,
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    for kept in [
        "string_number: true",
        "timestamps: {tolerance_ms: 1000}",
        "- \"$.couponType\"",
    ] {
        assert!(suggested.contains(kept), "`{kept}` missing:\n{suggested}");
    }
    assert!(
        suggested.contains(&format!("# already in {playbook}")),
        "{suggested}"
    );
}
