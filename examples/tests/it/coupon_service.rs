//! The coupon service: the monolith's coupon contract from its own database,
//! and, with `--quirks`, exactly the documented rewrite differences.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::monolith::assert_exactly_100_of_200_win_coupon_1;
use crate::support::{
    Backend, COUPON_SERVICE, MONOLITH, Service, TestDb, error_code, on_every_engine, without,
};

on_every_engine!(
    answers_like_the_monolith,
    concurrent_issues_never_exceed_the_limit,
    quirks_differ_only_where_documented,
);

/// The monolith and the coupon service side by side on the same seed, each on
/// its own database; the service asks the monolith whether users exist.
struct Pair {
    monolith: Service,
    service: Service,
    _dbs: (TestDb, TestDb),
}

async fn pair(backend: Backend, seed: u32, quirks: bool) -> Pair {
    let seed = seed.to_string();
    let monolith_db = TestDb::create(backend).await;
    let monolith = Service::start(MONOLITH, &monolith_db, &["--seed", &seed]).await;
    let service_db = TestDb::create(backend).await;
    let mut args = vec!["--seed", &seed, "--users-url", &monolith.url];
    if quirks {
        args.push("--quirks");
    }
    let service = Service::start(COUPON_SERVICE, &service_db, &args).await;
    Pair {
        monolith,
        service,
        _dbs: (monolith_db, service_db),
    }
}

/// The same request to both: the same status, and the same body but for the
/// time of issue, which differs between any two runs.
async fn same_answer(
    pair: &Pair,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let (legacy_status, legacy) = ask(&pair.monolith, path, body.clone()).await;
    let (status, answer) = ask(&pair.service, path, body).await;
    assert_eq!(
        (status, without(answer.clone(), &["issuedAt"])),
        (legacy_status, without(legacy, &["issuedAt"])),
        "{method} {path}"
    );
    (status, answer)
}

async fn ask(app: &Service, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    match body {
        Some(body) => app.post(path, body).await,
        None => app.get(path).await,
    }
}

async fn answers_like_the_monolith(backend: Backend) {
    let pair = pair(backend, 140, false).await;
    for coupon in 1..=8 {
        same_answer(&pair, "GET", &format!("/api/coupons/{coupon}"), None).await;
    }
    let issues = [
        (1, json!({"userId": 1})),
        (1, json!({"userId": 2})),
        (1, json!({"userId": 1})),
        (4, json!({"userId": 1})),
        (7, json!({"userId": 1})),
        (9, json!({"userId": 1})),
        (1, json!({"userId": 9999})),
        (1, json!({"userId": -3})),
        (1, json!({"member": 1})),
    ];
    for (coupon, body) in issues {
        let (status, answer) = same_answer(
            &pair,
            "POST",
            &format!("/api/coupons/{coupon}/issue"),
            Some(body),
        )
        .await;
        if status == StatusCode::CREATED {
            let issued_at = answer["issuedAt"].as_str().unwrap();
            assert!(
                chrono::DateTime::parse_from_rfc3339(issued_at).is_ok() && issued_at.ends_with('Z')
            );
        }
    }
    for path in [
        "/api/users/1/coupons",
        "/api/users/2/coupons",
        "/api/users/3/coupons",
        "/api/users/9999/coupons",
    ] {
        same_answer(&pair, "GET", path, None).await;
    }
    for path in [
        "/api/coupons/1",
        "/api/coupons/x",
        "/api/coupons/0",
        "/api/nothing-here",
    ] {
        same_answer(&pair, "GET", path, None).await;
    }
    let (status, body) = pair
        .service
        .post_raw("/api/coupons/1/issue", "application/json", "{oops")
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::BAD_REQUEST, "INVALID_JSON")
    );
}

async fn concurrent_issues_never_exceed_the_limit(backend: Backend) {
    let db = TestDb::create(backend).await;
    let service = Service::start(COUPON_SERVICE, &db, &["--seed", "200"]).await;
    assert_exactly_100_of_200_win_coupon_1(&service).await;

    // Every issue, and nothing else, was published through the outbox.
    let mut conn = db.connect().await;
    let count = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql);
    let issued = count("SELECT COUNT(*) FROM issued_coupon WHERE coupon_id = 1")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let events = count("SELECT COUNT(*) FROM coupon_outbox_event WHERE aggregate_id = 1 AND event_type = 'CouponIssued'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!((issued, events), (100, 100));
}

async fn quirks_differ_only_where_documented(backend: Backend) {
    let pair = pair(backend, 20, true).await;
    let (_, legacy) = pair.monolith.get("/api/coupons/1").await;
    let (_, quirky) = pair.service.get("/api/coupons/1").await;
    let mut expected = legacy.clone();
    expected["discountAmount"] = json!("1000");
    expected["createdAt"] = json!("2026-01-01T01:00:00+00:00");
    expected["couponType"] = json!("FIXED_AMOUNT");
    assert_eq!(quirky, expected);

    for coupon in [1, 2, 3] {
        let path = format!("/api/coupons/{coupon}/issue");
        let (status, _) = pair.monolith.post(&path, json!({"userId": 5})).await;
        assert_eq!(status, StatusCode::CREATED);
        let (status, issued) = pair.service.post(&path, json!({"userId": 5})).await;
        assert_eq!(status, StatusCode::CREATED);
        assert!(issued["discountAmount"].is_string(), "{issued}");
        assert!(
            issued["issuedAt"].as_str().unwrap().ends_with("+00:00"),
            "{issued}"
        );
    }
    let (_, legacy) = pair.monolith.get("/api/users/5/coupons").await;
    let (_, quirky) = pair.service.get("/api/users/5/coupons").await;
    let order = |list: &Value| -> Vec<Value> {
        list["coupons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["couponId"].clone())
            .collect()
    };
    assert_eq!(order(&legacy), [json!(1), json!(2), json!(3)]);
    assert_eq!(
        order(&quirky),
        [json!(3), json!(2), json!(1)],
        "newest first"
    );

    // Refusals keep the contract even with quirks on.
    let (status, refused) = pair
        .service
        .post("/api/coupons/1/issue", json!({"userId": 5}))
        .await;
    assert_eq!(
        (status, error_code(&refused)),
        (StatusCode::CONFLICT, "COUPON_ALREADY_ISSUED")
    );
}
