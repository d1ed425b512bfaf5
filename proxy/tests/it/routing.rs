//! Modes, stickiness and header hygiene, over real sockets.

use std::collections::HashMap;

use futures::future::join_all;

use crate::support::{Upstream, client, get_json, start_proxy};

fn config(legacy: &Upstream, new: &Upstream, routes: &str) -> String {
    format!(
        "listen: 127.0.0.1:0\nworkers: 1\nlegacy: legacy\nupstreams:\n  legacy:\n    endpoints: [{}]\n  coupon:\n    endpoints: [{}]\nroutes:\n{routes}",
        legacy.addr, new.addr
    )
}

#[tokio::test]
async fn each_mode_sends_the_request_where_it_says() {
    let (legacy, new) = (
        Upstream::start("legacy").await,
        Upstream::start("coupon").await,
    );
    let routes = "
  - name: still-legacy
    path: /api/coupons/{id}
    upstream: coupon
  - name: cut-over
    methods: [POST]
    path: /api/coupons/{id}/issue
    upstream: coupon
    mode: cutover
  - name: all-users
    prefix: /api/users
    upstream: coupon
    mode: canary
    weight_bp: 10000
";
    let proxy = start_proxy(&config(&legacy, &new, routes)).await;
    let client = client();
    let served_by = |path: &str, method: reqwest::Method| {
        let request = client.request(method, format!("http://{proxy}{path}"));
        async move {
            let answer: serde_json::Value = request.send().await.unwrap().json().await.unwrap();
            answer["upstream"].as_str().unwrap().to_owned()
        }
    };
    assert_eq!(
        served_by("/api/coupons/1", reqwest::Method::GET).await,
        "legacy"
    );
    assert_eq!(
        served_by("/api/coupons/1/issue", reqwest::Method::POST).await,
        "coupon"
    );
    assert_eq!(
        served_by("/api/coupons/1/issue", reqwest::Method::GET).await,
        "legacy",
        "method not claimed"
    );
    assert_eq!(
        served_by("/api/users/3/coupons", reqwest::Method::GET).await,
        "coupon"
    );
    assert_eq!(
        served_by("/api/orders", reqwest::Method::POST).await,
        "legacy",
        "unclaimed"
    );
    assert_eq!(served_by("/", reqwest::Method::GET).await, "legacy");
}

#[tokio::test]
async fn a_ten_percent_canary_puts_nine_to_eleven_percent_of_users_on_new_and_keeps_them_there() {
    let (legacy, new) = (
        Upstream::start("legacy").await,
        Upstream::start("coupon").await,
    );
    let routes = "
  - name: coupon-read
    path: /api/coupons/{id}
    upstream: coupon
    mode: canary
    weight_bp: 1000
    sticky: header:X-User-Id
    shadow: {in_canary: false}
";
    let proxy = start_proxy(&config(&legacy, &new, routes)).await;
    let client = client();
    let mut side_of = HashMap::new();
    for batch in (0..10_000).collect::<Vec<u32>>().chunks(100) {
        let client = &client;
        let answers = join_all(batch.iter().map(|user| async move {
            let user = user.to_string();
            let answer =
                get_json(client, format!("http://{proxy}/api/coupons/7"), Some(&user)).await;
            (user, answer)
        }))
        .await;
        for (user, (status, answer)) in answers {
            assert_eq!(status, 200);
            side_of.insert(user, answer["upstream"].as_str().unwrap().to_owned());
        }
    }
    let on_new = side_of.values().filter(|side| *side == "coupon").count();
    assert!(
        (900..=1_100).contains(&on_new),
        "{on_new} of 10,000 users on the new side"
    );
    assert_eq!(new.hits(), on_new);

    // The same users ask again: each lands where it did before.
    for user in (0..10_000).step_by(97).map(|u: u32| u.to_string()) {
        let (_, answer) = get_json(
            &client,
            format!("http://{proxy}/api/coupons/8"),
            Some(&user),
        )
        .await;
        assert_eq!(
            answer["upstream"].as_str().unwrap(),
            side_of[&user],
            "user {user} switched sides"
        );
    }
}

#[tokio::test]
async fn internal_headers_are_stripped_and_forwarding_headers_set() {
    let (legacy, new) = (
        Upstream::start("legacy").await,
        Upstream::start("coupon").await,
    );
    let proxy =
        start_proxy(&config(&legacy, &new, "  []\n").replace("routes:\n  []", "routes: []")).await;
    let answer: serde_json::Value = client()
        .get(format!("http://{proxy}/api/products"))
        .header("X-Msa-Shadow", "1")
        .header("x-msa-canary-side", "new")
        .header("Connection", "keep-alive, X-Drop-Me")
        .header("X-Drop-Me", "hop-by-hop")
        .header("X-Forwarded-For", "203.0.113.5")
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let headers = &answer["headers"];
    for gone in ["x-msa-shadow", "x-msa-canary-side", "x-drop-me"] {
        assert!(
            headers.get(gone).is_none(),
            "{gone} reached the upstream: {headers}"
        );
    }
    assert_eq!(headers["x-forwarded-for"], "203.0.113.5, 127.0.0.1");
    assert_eq!(headers["x-forwarded-proto"], "http");
    assert_eq!(headers["x-forwarded-host"], format!("{proxy}"));
    assert_eq!(
        headers["traceparent"],
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    );
    assert_eq!(headers["x-request-id"].as_str().unwrap().len(), 32);
    assert!(headers.get("via").is_none(), "Via is off by default");
}

#[tokio::test]
async fn the_via_marker_is_added_both_ways_when_asked_for() {
    let (legacy, new) = (
        Upstream::start("legacy").await,
        Upstream::start("coupon").await,
    );
    let yaml = config(&legacy, &new, "  []\n")
        .replace("routes:\n  []", "routes: []")
        .replace("workers: 1\n", "workers: 1\nvia: true\n");
    let proxy = start_proxy(&yaml).await;
    let response = client()
        .get(format!("http://{proxy}/"))
        .header("via", "1.1 edge-lb")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["via"], "1.1 msa-migrate");
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        answer["headers"]["via"], "1.1 edge-lb, 1.1 msa-migrate",
        "appended to the chain"
    );
}

#[tokio::test]
async fn cleartext_http2_with_prior_knowledge_is_served_as_http2() {
    let (legacy, new) = (
        Upstream::start("legacy").await,
        Upstream::start("coupon").await,
    );
    let proxy =
        start_proxy(&config(&legacy, &new, "  []\n").replace("routes:\n  []", "routes: []")).await;
    let mut builder =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new());
    builder.http2_only(true);
    let h2 = builder.build_http::<http_body_util::Empty<bytes::Bytes>>();
    let response = h2
        .get(format!("http://{proxy}/api/products").parse().unwrap())
        .await
        .expect("the proxy speaks HTTP/2 to a client that starts with the preface");
    assert_eq!(response.version(), http::Version::HTTP_2);
    assert_eq!(response.status(), 200);
    assert_eq!(legacy.hits(), 1);
}

#[tokio::test]
async fn a_first_request_that_arrives_byte_by_byte_is_still_http1() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (legacy, new) = (
        Upstream::start("legacy").await,
        Upstream::start("coupon").await,
    );
    let proxy =
        start_proxy(&config(&legacy, &new, "  []\n").replace("routes:\n  []", "routes: []")).await;
    // "P" and "PR" could still be the HTTP/2 preface: the proxy must wait
    // for more, not decide on what it has.
    let mut stream = tokio::net::TcpStream::connect(proxy).await.unwrap();
    for byte in
        b"PRODUCT / HTTP/1.1\r\nHost: shop\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    {
        stream.write_all(&[*byte]).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(legacy.hits(), 1);
}
