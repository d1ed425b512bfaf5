//! `msa-migrate proxy` in front of the real monolith and coupon service.

use std::io::Write;

use serde_json::{Value, json};

use crate::support::Running;

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

fn services(dir: &tempfile::TempDir) -> (Running, Running) {
    let db = |name: &str| format!("sqlite://{}", dir.path().join(name).display());
    let monolith = Running::start(
        "legacy-commerce",
        &[
            "--db",
            &db("monolith.db"),
            "--listen",
            "127.0.0.1:0",
            "--seed",
            "50",
        ],
    );
    let coupon = Running::start(
        "coupon-service",
        &[
            "--db",
            &db("coupon.db"),
            "--listen",
            "127.0.0.1:0",
            "--seed",
            "50",
            "--users-url",
            &monolith.url,
            "--quirks",
        ],
    );
    (monolith, coupon)
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
