//! The monolith's contract, on every engine.

use futures::future::join_all;
use msa_examples::kit::seed;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Backend, MONOLITH, Service, TestDb, error_code, on_every_engine};

on_every_engine!(
    catalogue_and_malformed_requests,
    charging_points_writes_history,
    coupon_issue_refusals,
    concurrent_issues_never_exceed_the_limit,
    an_order_commits_every_domain_at_once,
    a_refused_order_rolls_back_every_domain,
);

async fn start(backend: Backend, seed: u32) -> (TestDb, Service) {
    let db = TestDb::create(backend).await;
    let app = Service::start(MONOLITH, &db, &["--seed", &seed.to_string()]).await;
    (db, app)
}

async fn catalogue_and_malformed_requests(backend: Backend) {
    let (_db, app) = start(backend, 30).await;

    let (status, page) = app.get("/api/products?page=2&size=5").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["total"], 30);
    let ids: Vec<i64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [6, 7, 8, 9, 10]);

    let expected = seed::products(30).nth(2).unwrap();
    let (status, product) = app.get("/api/products/3").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        product,
        json!({
            "id": 3, "name": expected.name, "price": expected.price, "stock": expected.stock,
            "createdAt": "2026-01-01T00:06:00Z",
        })
    );
    let (status, user) = app.get("/api/users/1").await;
    assert_eq!(
        (status, user["email"].as_str()),
        (StatusCode::OK, Some("user1@example.com"))
    );

    let refusals = [
        (
            app.get("/api/products/9999").await,
            StatusCode::NOT_FOUND,
            "PRODUCT_NOT_FOUND",
        ),
        (
            app.get("/api/products/abc").await,
            StatusCode::BAD_REQUEST,
            "INVALID_ID",
        ),
        (
            app.get("/api/products/-1").await,
            StatusCode::BAD_REQUEST,
            "INVALID_ID",
        ),
        (
            app.get("/api/products/99999999999999999999").await,
            StatusCode::BAD_REQUEST,
            "INVALID_ID",
        ),
        (
            app.get("/api/products?size=0").await,
            StatusCode::BAD_REQUEST,
            "INVALID_QUERY",
        ),
        (
            app.get("/api/products?size=many").await,
            StatusCode::BAD_REQUEST,
            "INVALID_QUERY",
        ),
        (
            app.get("/api/products/top?days=0").await,
            StatusCode::BAD_REQUEST,
            "INVALID_QUERY",
        ),
        (
            app.get("/api/users/404").await,
            StatusCode::NOT_FOUND,
            "USER_NOT_FOUND",
        ),
        (
            app.get("/api/orders/1").await,
            StatusCode::NOT_FOUND,
            "ORDER_NOT_FOUND",
        ),
        (
            app.get("/api/no-such-route").await,
            StatusCode::NOT_FOUND,
            "ROUTE_NOT_FOUND",
        ),
        (
            app.post("/api/products/1", json!({})).await,
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
        ),
        (
            app.post_raw("/api/orders", "application/json", "{\"userId\":")
                .await,
            StatusCode::BAD_REQUEST,
            "INVALID_JSON",
        ),
        (
            app.post_raw("/api/orders", "application/json", "[1,2]")
                .await,
            StatusCode::BAD_REQUEST,
            "INVALID_BODY",
        ),
        (
            app.post_raw("/api/orders", "text/plain", "{}").await,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
    ];
    for ((status, body), want_status, want_code) in refusals {
        assert_eq!(
            (status, error_code(&body)),
            (want_status, want_code),
            "{body}"
        );
    }
    assert_eq!(
        app.get("/healthz").await,
        (StatusCode::OK, json!({"status": "ok"}))
    );
}

async fn charging_points_writes_history(backend: Backend) {
    let (_db, app) = start(backend, 5).await;
    let start_balance = seed::users(5).nth(1).unwrap().points;

    let (status, points) = app
        .post("/api/users/2/points/charge", json!({"amount": 1500}))
        .await;
    assert_eq!(status, StatusCode::OK, "{points}");
    assert_eq!(points["balance"], start_balance + 1500);
    let newest = &points["history"][0];
    assert_eq!(
        (newest["type"].as_str(), &newest["amount"]),
        (Some("CHARGE"), &json!(1500))
    );
    assert_eq!(newest["balanceAfter"], start_balance + 1500);
    assert!(newest["createdAt"].as_str().unwrap().ends_with('Z'));

    for (body, code) in [
        (json!({"amount": 0}), "INVALID_AMOUNT"),
        (json!({"amount": -5}), "INVALID_AMOUNT"),
        (json!({"amount": "1000"}), "INVALID_BODY"),
        (json!({}), "INVALID_BODY"),
    ] {
        let (status, answer) = app.post("/api/users/2/points/charge", body).await;
        assert_eq!(
            (status, error_code(&answer)),
            (StatusCode::BAD_REQUEST, code)
        );
    }
    let (status, answer) = app
        .post("/api/users/77/points/charge", json!({"amount": 10}))
        .await;
    assert_eq!(
        (status, error_code(&answer)),
        (StatusCode::NOT_FOUND, "USER_NOT_FOUND")
    );

    let (_, after) = app.get("/api/users/2/points").await;
    assert_eq!(
        after["balance"],
        start_balance + 1500,
        "refused charges changed nothing"
    );
    assert_eq!(
        after["history"].as_array().unwrap().len(),
        2,
        "the seed's charge and ours"
    );
}

async fn coupon_issue_refusals(backend: Backend) {
    // 140 users make 7 coupons: coupon 4 sells out after 5, coupon 7 is paused.
    let (_db, app) = start(backend, 140).await;
    for user in 1..=5 {
        let (status, issued) = app
            .post("/api/coupons/4/issue", json!({"userId": user}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{issued}");
        assert_eq!(
            (issued["couponId"].as_i64(), issued["userId"].as_i64()),
            (Some(4), Some(user))
        );
        assert!(issued["usedAt"].is_null());
    }
    let refusals = [
        (
            4,
            json!({"userId": 6}),
            StatusCode::CONFLICT,
            "COUPON_SOLD_OUT",
        ),
        (
            4,
            json!({"userId": 1}),
            StatusCode::CONFLICT,
            "COUPON_ALREADY_ISSUED",
        ),
        (
            7,
            json!({"userId": 1}),
            StatusCode::CONFLICT,
            "COUPON_NOT_ACTIVE",
        ),
        (
            999,
            json!({"userId": 1}),
            StatusCode::NOT_FOUND,
            "COUPON_NOT_FOUND",
        ),
        (
            1,
            json!({"userId": 9999}),
            StatusCode::NOT_FOUND,
            "USER_NOT_FOUND",
        ),
        (
            1,
            json!({"userId": 0}),
            StatusCode::BAD_REQUEST,
            "INVALID_ID",
        ),
        (
            1,
            json!({"user": 1}),
            StatusCode::BAD_REQUEST,
            "INVALID_BODY",
        ),
    ];
    for (coupon, body, want_status, want_code) in refusals {
        let (status, answer) = app
            .post(&format!("/api/coupons/{coupon}/issue"), body)
            .await;
        assert_eq!(
            (status, error_code(&answer)),
            (want_status, want_code),
            "{answer}"
        );
    }
    let (_, coupon) = app.get("/api/coupons/4").await;
    assert_eq!(
        (coupon["issuedCount"].as_i64(), coupon["remaining"].as_i64()),
        (Some(5), Some(0))
    );
    let (_, held) = app.get("/api/users/1/coupons").await;
    let held: Vec<_> = held["coupons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["couponId"].clone())
        .collect();
    assert_eq!(held, [json!(4)]);
    let (status, answer) = app.get("/api/users/9999/coupons").await;
    assert_eq!(
        (status, error_code(&answer)),
        (StatusCode::NOT_FOUND, "USER_NOT_FOUND")
    );
}

async fn concurrent_issues_never_exceed_the_limit(backend: Backend) {
    let (db, app) = start(backend, 200).await;
    assert_exactly_100_of_200_win_coupon_1(&app).await;

    // One user racing themself gets the coupon once.
    let same_user = (0..10).map(|_| app.post("/api/coupons/3/issue", json!({"userId": 7})));
    let statuses: Vec<StatusCode> = join_all(same_user)
        .await
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CONFLICT)
            .count(),
        9,
        "{statuses:?}"
    );

    let mut conn = db.connect().await;
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM user_coupons WHERE coupon_id = 1")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(rows, 100);
}

/// 200 users ask for coupon 1 (limit 100) at once: exactly 100 get it.
pub(crate) async fn assert_exactly_100_of_200_win_coupon_1(app: &Service) {
    let requests = (1..=200).map(|user| app.post("/api/coupons/1/issue", json!({"userId": user})));
    let answers = join_all(requests).await;
    let won = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    let sold_out = answers
        .iter()
        .filter(|(s, body)| *s == StatusCode::CONFLICT && error_code(body) == "COUPON_SOLD_OUT")
        .count();
    assert_eq!(
        (won, sold_out),
        (100, 100),
        "every answer is a win or sold out"
    );
    let (_, coupon) = app.get("/api/coupons/1").await;
    assert_eq!(
        (coupon["issuedCount"].as_i64(), coupon["remaining"].as_i64()),
        (Some(100), Some(0))
    );
}

async fn an_order_commits_every_domain_at_once(backend: Backend) {
    let (_db, app) = start(backend, 10).await;
    let product = seed::products(10).nth(2).unwrap();
    let (_, before) = app.get("/api/users/2/points").await;
    let balance = before["balance"].as_i64().unwrap();
    let (status, _) = app.post("/api/coupons/1/issue", json!({"userId": 2})).await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, order) = app
        .post(
            "/api/orders",
            json!({"userId": 2, "items": [{"productId": 3, "quantity": 2}], "couponId": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let total = product.price * 2;
    let paid = total - 1_000;
    assert_eq!(
        order["items"],
        json!([{"productId": 3, "quantity": 2, "unitPrice": product.price}])
    );
    assert_eq!(
        (
            order["totalAmount"].as_i64(),
            order["discountAmount"].as_i64()
        ),
        (Some(total), Some(1_000))
    );
    assert_eq!(order["paidAmount"], paid);
    assert_eq!(order["payment"]["amount"], paid);
    assert_eq!(
        (
            order["status"].as_str(),
            order["payment"]["status"].as_str()
        ),
        (Some("COMPLETED"), Some("COMPLETED"))
    );
    let order_id = order["id"].as_i64().unwrap();
    assert_eq!(
        app.get(&format!("/api/orders/{order_id}")).await,
        (StatusCode::OK, order)
    );

    let (_, stocked) = app.get("/api/products/3").await;
    assert_eq!(stocked["stock"], product.stock - 2);
    let (_, points) = app.get("/api/users/2/points").await;
    assert_eq!(points["balance"], balance - paid);
    assert_eq!(points["history"][0]["type"], "USE");
    assert_eq!(points["history"][0]["amount"], -paid);
    assert_eq!(points["history"][0]["orderId"], order_id);
    let (_, held) = app.get("/api/users/2/coupons").await;
    assert_eq!(held["coupons"][0]["orderId"], order_id);
    assert!(held["coupons"][0]["usedAt"].is_string());
    let (_, top) = app.get("/api/products/top?days=3&limit=5").await;
    assert_eq!(
        top["items"],
        json!([{"productId": 3, "name": product.name, "price": product.price, "sold": 2}])
    );

    // A used coupon cannot pay twice.
    let (status, again) = app
        .post(
            "/api/orders",
            json!({"userId": 2, "items": [{"productId": 3, "quantity": 1}], "couponId": 1}),
        )
        .await;
    assert_eq!(
        (status, error_code(&again)),
        (StatusCode::CONFLICT, "COUPON_NOT_USABLE")
    );
}

async fn a_refused_order_rolls_back_every_domain(backend: Backend) {
    let (_db, app) = start(backend, 10).await;
    let (status, _) = app.post("/api/coupons/1/issue", json!({"userId": 2})).await;
    assert_eq!(status, StatusCode::CREATED);
    let snapshot = || async { state_of_every_domain(&app).await };
    let before = snapshot().await;

    // The most expensive product, in a quantity the user cannot pay for but
    // the stock can serve: stock, coupon and order rows are written before the
    // points step refuses, and all of it must roll back.
    let products: Vec<_> = seed::products(10).collect();
    let (index, dear) = products
        .iter()
        .enumerate()
        .max_by_key(|(_, p)| p.price)
        .unwrap();
    let balance = before["points"]["balance"].as_i64().unwrap();
    let quantity = (balance + 1_000) / dear.price + 1;
    assert!(
        quantity <= dear.stock,
        "the seed must leave stock for this test"
    );
    let items =
        json!([{"productId": 1, "quantity": 1}, {"productId": index + 1, "quantity": quantity}]);
    let (status, refused) = app
        .post(
            "/api/orders",
            json!({"userId": 2, "items": items, "couponId": 1}),
        )
        .await;
    assert_eq!(
        (status, error_code(&refused)),
        (StatusCode::CONFLICT, "INSUFFICIENT_POINTS"),
        "{refused}"
    );
    assert_eq!(snapshot().await, before);

    // Out of stock on the second product: the first one's deduction rolls back.
    let items = json!([{"productId": 1, "quantity": 1}, {"productId": 2, "quantity": products[1].stock + 1}]);
    let (status, refused) = app
        .post(
            "/api/orders",
            json!({"userId": 2, "items": items, "couponId": 1}),
        )
        .await;
    assert_eq!(
        (status, error_code(&refused)),
        (StatusCode::CONFLICT, "OUT_OF_STOCK")
    );
    assert_eq!(snapshot().await, before);

    for (body, want_status, want_code) in [
        (
            json!({"userId": 2, "items": [{"productId": 99, "quantity": 1}]}),
            StatusCode::NOT_FOUND,
            "PRODUCT_NOT_FOUND",
        ),
        (
            json!({"userId": 2, "items": [{"productId": 1, "quantity": 1}], "couponId": 2}),
            StatusCode::CONFLICT,
            "COUPON_NOT_USABLE",
        ),
        (
            json!({"userId": 99, "items": [{"productId": 1, "quantity": 1}]}),
            StatusCode::NOT_FOUND,
            "USER_NOT_FOUND",
        ),
        (
            json!({"userId": 2, "items": []}),
            StatusCode::BAD_REQUEST,
            "INVALID_ORDER",
        ),
        (
            json!({"userId": 2, "items": [{"productId": 1, "quantity": 0}]}),
            StatusCode::BAD_REQUEST,
            "INVALID_ORDER",
        ),
        (
            json!({"userId": 2, "items": [{"productId": 1, "quantity": 1}, {"productId": 1, "quantity": 2}]}),
            StatusCode::BAD_REQUEST,
            "INVALID_ORDER",
        ),
    ] {
        let (status, refused) = app.post("/api/orders", body).await;
        assert_eq!(
            (status, error_code(&refused)),
            (want_status, want_code),
            "{refused}"
        );
    }
    assert_eq!(snapshot().await, before);
}

/// What an order touches, as the API shows it: stock, the user's points and
/// history, their coupons, orders and best-sellers.
async fn state_of_every_domain(app: &Service) -> Value {
    let (_, products) = app.get("/api/products?size=100").await;
    let stock: Vec<Value> = products["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["stock"].clone())
        .collect();
    json!({
        "stock": stock,
        "points": app.get("/api/users/2/points").await.1,
        "coupons": app.get("/api/users/2/coupons").await.1,
        "order 1": app.get("/api/orders/1").await.0.as_u16(),
        "top": app.get("/api/products/top").await.1,
    })
}
