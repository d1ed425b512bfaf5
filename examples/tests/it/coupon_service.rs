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
    issues_through_the_monolith_never_exceed_the_limit,
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

/// `--issue-through`: the monolith decides every client's issue, wherever it
/// arrived, and the service records the monolith's. 200 users race for coupon
/// 1 (limit 100), half of them at the monolith and half at the service:
/// exactly 100 win. A shadow copy is decided by the service itself.
async fn issues_through_the_monolith_never_exceed_the_limit(backend: Backend) {
    let monolith_db = TestDb::create(backend).await;
    let monolith = Service::start(MONOLITH, &monolith_db, &["--seed", "200"]).await;
    let service_db = TestDb::create(backend).await;
    let through = format!("{}/", monolith.url);
    let service = Service::start(
        COUPON_SERVICE,
        &service_db,
        &["--seed", "200", "--issue-through", &through],
    )
    .await;
    let requests = (1..=200).map(|user| {
        let app = if user % 2 == 0 { &monolith } else { &service };
        async move {
            let (status, body) = app
                .post("/api/coupons/1/issue", json!({"userId": user}))
                .await;
            (user, status, body)
        }
    });
    let answers = futures::future::join_all(requests).await;
    let won: Vec<&(i64, StatusCode, Value)> = answers
        .iter()
        .filter(|(_, status, _)| *status == StatusCode::CREATED)
        .collect();
    let sold_out = answers
        .iter()
        .filter(|(_, s, body)| *s == StatusCode::CONFLICT && error_code(body) == "COUPON_SOLD_OUT")
        .count();
    let others: Vec<_> = answers
        .iter()
        .filter(|(_, s, body)| {
            *s != StatusCode::CREATED
                && !(*s == StatusCode::CONFLICT && error_code(body) == "COUPON_SOLD_OUT")
        })
        .collect();
    assert_eq!(
        (won.len(), sold_out),
        (100, 100),
        "every answer is a win or sold out, wherever it was asked; others: {others:?}"
    );
    let (_, legacy) = monolith.get("/api/coupons/1").await;
    assert_eq!(legacy["issuedCount"], 100, "{legacy}");

    // The service holds exactly the issues it answered, under the monolith's ids.
    let mut conn = service_db.connect().await;
    let held: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT issued_coupon_id, member_id FROM issued_coupon WHERE coupon_id = 1 ORDER BY issued_coupon_id",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut answered: Vec<(i64, i64)> = won
        .iter()
        .filter(|(user, _, _)| user % 2 == 1)
        .map(|(user, _, body)| (body["id"].as_i64().unwrap(), *user))
        .collect();
    answered.sort_unstable();
    assert_eq!(held, answered);
    for (id, user) in &held {
        let (_, theirs) = monolith.get(&format!("/api/users/{user}/coupons")).await;
        let (_, ours) = service.get(&format!("/api/users/{user}/coupons")).await;
        assert_eq!(ours, theirs, "user {user}");
        assert_eq!(theirs["coupons"][0]["id"], *id);
    }
    let (_, ours) = service.get("/api/coupons/1").await;
    assert_eq!(ours["issuedCount"], held.len(), "{ours}");

    // The monolith's refusal is passed on as it is.
    let (status, refused) = service
        .post("/api/coupons/1/issue", json!({"userId": 1}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, again) = monolith
        .post("/api/coupons/1/issue", json!({"userId": 1}))
        .await;
    assert_eq!(refused, again);

    // A shadow copy is the monolith's request, already decided there: the
    // service decides it itself and does not ask the monolith again.
    let copy = reqwest::Client::new()
        .post(format!("{}/api/coupons/2/issue", service.url))
        .header("x-msa-shadow", "1")
        .json(&json!({"userId": 7}))
        .send()
        .await
        .unwrap();
    assert_eq!(copy.status(), StatusCode::CREATED);
    let holds_coupon_2 = |list: &Value| {
        list["coupons"]
            .as_array()
            .is_some_and(|held| held.iter().any(|c| c["couponId"] == 2))
    };
    let (_, theirs) = monolith.get("/api/users/7/coupons").await;
    assert!(!holds_coupon_2(&theirs), "the monolith was asked: {theirs}");
    let (_, ours) = service.get("/api/users/7/coupons").await;
    assert!(holds_coupon_2(&ours), "{ours}");
}
