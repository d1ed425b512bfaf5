//! What the proxy does when upstreams fail or clients misbehave.

use std::time::{Duration, Instant};

use crate::support::{DeadPort, Upstream, client, raw_exchange, raw_exchange_closing, start_proxy};

fn config(legacy: &str, new: &str, routes: &str) -> String {
    format!(
        "listen: 127.0.0.1:0\nworkers: 1\nlegacy: legacy\nlimits:\n  max_body_bytes: 1024\n  header_read_timeout: 300ms\nupstreams:\n  legacy:\n    endpoints: [{legacy}]\n    connect_timeout: 500ms\n  coupon:\n    endpoints: [{new}]\n    connect_timeout: 500ms\nroutes:\n{routes}"
    )
}

const CUTOVER_WITH_FALLBACK: &str = "
  - name: coupons
    prefix: /api/coupons
    upstream: coupon
    mode: cutover
    fallback: true
";

#[tokio::test]
async fn a_dead_upstream_gets_a_json_502_naming_it_without_hanging() {
    let dead_port = DeadPort::reserve();
    let dead = dead_port.addr.to_string();
    let proxy =
        start_proxy(&config(&dead, &dead, "  []\n").replace("routes:\n  []", "routes: []")).await;
    let started = Instant::now();
    let response = client()
        .get(format!("http://{proxy}/api/products"))
        .send()
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(response.status(), 502);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "UPSTREAM_UNAVAILABLE");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("upstream `legacy`") && message.contains(&dead),
        "{message}"
    );
}

#[tokio::test]
async fn cutover_falls_back_to_legacy_for_reads_only_when_the_new_service_is_down() {
    let legacy = Upstream::start("legacy").await;
    let dead_port = DeadPort::reserve();
    let dead = dead_port.addr.to_string();
    let proxy = start_proxy(&config(
        &legacy.addr.to_string(),
        &dead,
        CUTOVER_WITH_FALLBACK,
    ))
    .await;
    let client = client();
    let read = client
        .get(format!("http://{proxy}/api/coupons/1"))
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    let answer: serde_json::Value = read.json().await.unwrap();
    assert_eq!(answer["upstream"], "legacy");

    // A write could have reached the new service's application: never replayed.
    let write = client
        .post(format!("http://{proxy}/api/coupons/1/issue"))
        .json(&serde_json::json!({"userId": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), 502);
    assert_eq!(legacy.hits(), 1);
}

#[tokio::test]
async fn ambiguous_paths_and_oversized_bodies_never_reach_an_upstream() {
    let legacy = Upstream::start("legacy").await;
    let proxy = start_proxy(&config(
        &legacy.addr.to_string(),
        &legacy.addr.to_string(),
        CUTOVER_WITH_FALLBACK,
    ))
    .await;
    for path in [
        "/api/coupons/../users/1",
        "/api/coupons%2f..%2fusers",
        "/api/./coupons/1",
    ] {
        let answer = raw_exchange(
            proxy,
            format!("GET {path} HTTP/1.1\r\nHost: shop\r\n\r\n").as_bytes(),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{path}: {answer}");
        assert!(answer.contains("AMBIGUOUS_PATH"), "{answer}");
    }
    let big = "x".repeat(2048);
    let response = client()
        .post(format!("http://{proxy}/api/orders"))
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(legacy.hits(), 0);
}

#[tokio::test]
async fn malformed_framing_is_refused_with_the_connection_closed() {
    let legacy = Upstream::start("legacy").await;
    let proxy = start_proxy(
        &config(&legacy.addr.to_string(), &legacy.addr.to_string(), "  []\n")
            .replace("routes:\n  []", "routes: []"),
    )
    .await;
    let probes: [&[u8]; 7] = [
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +4\r\n\r\nabcd",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4, 4\r\n\r\nabcd",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ];
    for probe in probes {
        let (answer, closed) = raw_exchange_closing(proxy, probe).await;
        let shown = String::from_utf8_lossy(probe);
        assert!(answer.starts_with("HTTP/1.1 400"), "{shown:?} → {answer:?}");
        assert!(closed, "{shown:?}: the connection stayed open");
    }
    let huge = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX-Huge: {}\r\n\r\n",
        "v".repeat(512 * 1024)
    );
    let answer = raw_exchange(proxy, huge.as_bytes()).await;
    assert!(
        answer.starts_with("HTTP/1.1 431"),
        "a 512 KiB header: {}",
        &answer[..answer.len().min(80)]
    );
    let many_headers: String = (0..150).map(|i| format!("X-H{i}: v\r\n")).collect();
    let answer = raw_exchange(
        proxy,
        format!("GET / HTTP/1.1\r\nHost: a\r\n{many_headers}\r\n").as_bytes(),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    assert_eq!(legacy.hits(), 0, "a malformed request reached the upstream");
}

/// Both framings at once, or bare LF line endings: hyper's parser would accept
/// these, the guard below it refuses them before hyper can parse them.
#[tokio::test]
async fn smuggling_shapes_hyper_accepts_are_refused_by_the_guard() {
    let legacy = Upstream::start("legacy").await;
    let proxy = start_proxy(
        &config(&legacy.addr.to_string(), &legacy.addr.to_string(), "  []\n")
            .replace("routes:\n  []", "routes: []"),
    )
    .await;
    let probes: [&[u8]; 4] = [
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n",
        b"GET / HTTP/1.1\nHost: a\n\n",
        b"GET / HTTP/1.1\r\nHost: a\nX-Other: b\r\n\r\n",
    ];
    for probe in probes {
        let (answer, closed) = raw_exchange_closing(proxy, probe).await;
        let shown = String::from_utf8_lossy(probe);
        assert!(answer.starts_with("HTTP/1.1 400"), "{shown:?} → {answer:?}");
        assert!(answer.contains("MALFORMED_REQUEST"), "{answer}");
        assert!(closed, "{shown:?}: the connection stayed open");
    }
    // A clean request on a keep-alive connection before a bad one is still served.
    let answer = raw_exchange(
        proxy,
        b"GET /first HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\nHost: a\n\n",
    )
    .await;
    assert!(
        answer.starts_with("HTTP/1.1 200")
            && answer.contains("/first")
            && answer.contains("HTTP/1.1 400"),
        "{answer}"
    );
    assert_eq!(
        legacy.hits(),
        1,
        "only the clean request reached the upstream"
    );
}

#[tokio::test]
async fn a_client_that_sends_its_head_too_slowly_is_cut_off() {
    let legacy = Upstream::start("legacy").await;
    let proxy = start_proxy(
        &config(&legacy.addr.to_string(), &legacy.addr.to_string(), "  []\n")
            .replace("routes:\n  []", "routes: []"),
    )
    .await;
    let started = Instant::now();
    // Half a request head, then silence: the proxy must close within its header timeout.
    let answer = raw_exchange(proxy, b"GET / HTTP/1.1\r\nHost: a\r\n").await;
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_millis(1_500),
        "kept a slow client for {waited:?}: {answer:?}"
    );
    assert_eq!(legacy.hits(), 0);
}
