//! The shadow stage: the monolith answers, a copy goes to the new service off
//! the request path, and the pair is compared.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{DeadPort, Running, Upstream, client, eventually};

fn config(legacy: &str, coupon: &str, shadow: &str, mirror: &str) -> String {
    format!(
        "listen: 127.0.0.1:0
workers: 1
legacy: legacy
{mirror}upstreams:
  legacy:
    endpoints: [{legacy}]
  coupon:
    endpoints: [{coupon}]
    connect_timeout: 200ms
routes:
  - name: coupons
    prefix: /api/coupons
    upstream: coupon
    mode: shadow
{shadow}"
    )
}

#[tokio::test]
async fn reads_are_mirrored_with_the_marker_and_compared_while_clients_see_legacy() {
    let (legacy, coupon) = (
        Upstream::start("legacy").await,
        Upstream::start("coupon").await,
    );
    let proxy = Running::start(
        &config(&legacy.addr.to_string(), &coupon.addr.to_string(), "", ""),
        None,
    )
    .await;
    let client = client();
    for id in 1..=5 {
        let answer: Value = client
            .get(format!("http://{}/api/coupons/{id}", proxy.addr))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            answer["upstream"], "legacy",
            "clients only ever see the monolith's answer"
        );
    }
    // A write is not mirrored unless the route lists its method.
    let write = client
        .post(format!("http://{}/api/coupons/1/issue", proxy.addr))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), 200);

    let route = eventually(&proxy, |r| r["compared"] == 5).await;
    // The two recording upstreams echo the request with their own names: every
    // pair differs at `$.upstream`, and the copy carried the marker header.
    assert_eq!(route["different"]["medium"], 5, "{route}");
    assert_eq!(
        differing_paths(&route),
        [
            ("$.headers.x-msa-shadow", "extra", 5),
            ("$.upstream", "value_changed", 5)
        ],
        "{route}"
    );
    let templates: Vec<(&str, u64)> = route["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["template"].as_str().unwrap(),
                t["compared"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        templates,
        [("GET /api/coupons/{id}", 5)],
        "inferred from the prefix route's traffic: {route}"
    );
    assert_eq!(legacy.hits(), 6);
    assert_eq!(coupon.hits(), 5, "GETs only");
    assert_eq!(
        coupon.marked.load(Ordering::SeqCst),
        5,
        "every mirrored request carries the marker"
    );
    assert_eq!(legacy.marked.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn response_headers_are_compared_for_plain_and_hyper_served_clients() {
    let legacy = Upstream::start_with_header("legacy", ("x-build", "1")).await;
    let coupon = Upstream::start_with_header("coupon", ("x-build", "2")).await;
    let yaml = config(
        &legacy.addr.to_string(),
        &coupon.addr.to_string(),
        "    shadow:\n      rules:\n        ignore: [\"$.upstream\", \"$.headers.x-msa-shadow\"]\n",
        "",
    );
    let proxy = Running::start(&yaml, None).await;
    // A plain GET takes the HTTP/1 fast lane, where both answers' header
    // lines are kept as sent; a request with `Expect` is served by hyper,
    // where they are in maps.
    let client = client();
    for expect in [false, true] {
        let mut request = client.get(format!("http://{}/api/coupons/1", proxy.addr));
        if expect {
            request = request.header("expect", "100-continue");
        }
        let response = request.send().await.unwrap();
        assert_eq!(
            response.headers()["x-build"],
            "1",
            "the client gets legacy's"
        );
        response.bytes().await.unwrap();
    }
    let route = eventually(&proxy, |r| r["compared"] == 2).await;
    assert_eq!(
        differing_paths(&route),
        [("header:x-build", "value_changed", 2)],
        "{route}"
    );
}

#[tokio::test]
async fn a_slow_or_dead_new_service_does_not_slow_the_primary() {
    let legacy = Upstream::start("legacy").await;
    // The shadow answers after 10 s: a primary that waited for it would take
    // that long, far beyond any scheduling noise on a loaded machine.
    let shadow_delay = Duration::from_secs(10);
    let slow = Upstream::start_with_delay("coupon", shadow_delay).await;
    let dead_port = DeadPort::reserve();
    let dead = dead_port.addr.to_string();
    let dead_suffix = dead.clone();
    for shadow in [slow.addr.to_string(), dead] {
        let proxy = Running::start(
            &config(
                &legacy.addr.to_string(),
                &shadow,
                "    shadow:\n      timeout: 30s\n",
                "",
            ),
            None,
        )
        .await;
        let client = client();
        let mut slowest = Duration::ZERO;
        for id in 0..20 {
            let started = Instant::now();
            let response = client
                .get(format!("http://{}/api/coupons/{id}", proxy.addr))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            response.bytes().await.unwrap();
            slowest = slowest.max(started.elapsed());
        }
        assert!(
            slowest < shadow_delay / 2,
            "shadow {shadow}: a primary took {slowest:?}"
        );
        if shadow == dead_suffix {
            // Five refused copies open the circuit (copies queued before that
            // fail too); from then on no copies are made at all.
            tokio::time::sleep(Duration::from_millis(200)).await;
            for id in 0..3 {
                let url = format!("http://{}/api/coupons/{id}", proxy.addr);
                assert_eq!(client.get(url).send().await.unwrap().status(), 200);
            }
            let route = eventually(&proxy, |r| {
                r["skipped"]["circuit_open"].as_u64().unwrap_or(0) >= 3
            })
            .await;
            assert!(route["candidate_failed"].as_u64().unwrap() >= 5, "{route}");
        }
    }
    assert!(slow.hits() > 0, "the slow service was mirrored to");
}

#[tokio::test]
async fn a_copy_unanswered_within_the_shadow_timeout_counts_as_the_candidate_failing() {
    let legacy = Upstream::start("legacy").await;
    let slow = Upstream::start_with_delay("coupon", Duration::from_secs(3)).await;
    // One mirror worker: the copies take their turns, each cut at its own timeout.
    let yaml = config(
        &legacy.addr.to_string(),
        &slow.addr.to_string(),
        "    shadow:\n      timeout: 200ms\n",
        "mirror:\n  concurrency: 1\n",
    );
    let proxy = Running::start(&yaml, None).await;
    let client = client();
    let started = Instant::now();
    for id in 0..3 {
        let url = format!("http://{}/api/coupons/{id}", proxy.addr);
        assert_eq!(client.get(url).send().await.unwrap().status(), 200);
    }
    let route = eventually(&proxy, |r| r["candidate_failed"] == 3).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "each copy was cut at 200 ms, not answered after 3 s: {:?}, {route}",
        started.elapsed()
    );
    assert_eq!(route["compared"], 0, "{route}");
}

#[tokio::test]
async fn a_full_queue_drops_copies_and_counts_them_without_failing_clients() {
    let legacy = Upstream::start("legacy").await;
    let slow = Upstream::start_with_delay("coupon", Duration::from_millis(500)).await;
    let yaml = config(
        &legacy.addr.to_string(),
        &slow.addr.to_string(),
        "",
        "mirror:\n  queue: 1\n  concurrency: 1\n",
    );
    let proxy = Running::start(&yaml, None).await;
    let client = client();
    for id in 0..10 {
        let response = client
            .get(format!("http://{}/api/coupons/{id}", proxy.addr))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let route = eventually(&proxy, |r| {
        r["skipped"]["queue_full"].as_u64().unwrap_or(0) > 0
    })
    .await;
    let dropped = route["skipped"]["queue_full"].as_u64().unwrap();
    assert!(dropped >= 5, "{route}");
    assert!(
        slow.hits() <= 3,
        "only what the one worker and the one queue slot took: {}",
        slow.hits()
    );
}

#[tokio::test]
async fn with_the_queue_full_a_body_streams_to_the_monolith_instead_of_being_copied_first() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let legacy = Upstream::start("legacy").await;
    let slow = Upstream::start_with_delay("coupon", Duration::from_secs(10)).await;
    let yaml = config(
        &legacy.addr.to_string(),
        &slow.addr.to_string(),
        "    shadow:\n      methods: [POST]\n      timeout: 30s\n",
        "mirror:\n  queue: 1\n  concurrency: 1\n",
    );
    let proxy = Running::start(&yaml, None).await;
    let client = client();
    // One copy held by the only worker, one waiting: the queue is full.
    let mut sent = 0;
    while sent < 10 {
        let response = client
            .post(format!("http://{}/api/coupons/{sent}/issue", proxy.addr))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        sent += 1;
        let report = crate::support::shadow_report(&proxy).await;
        if report["routes"][0]["skipped"]["queue_full"]
            .as_u64()
            .unwrap_or(0)
            > 0
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before = legacy.hits();

    // More than the proxy gathers before its first write upstream, and less
    // than the whole body: a copy made first would hold all of it back.
    let (length, first) = (16 * 1024, 9 * 1024);
    let mut stream = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
    let head = format!(
        "POST /api/coupons/1/issue HTTP/1.1\r\nHost: shop\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&vec![b'a'; first]).await.unwrap();
    let started = Instant::now();
    while legacy.hits() == before {
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "the monolith saw nothing of the request before its body was complete"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stream.write_all(&vec![b'a'; length - first]).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains(&"a".repeat(length)),
        "the monolith got the whole body"
    );
    assert_eq!(slow.hits(), 1, "the one copy the worker took");
}

#[tokio::test]
async fn bodies_are_mirrored_up_to_the_cap_and_the_primary_always_gets_them_whole() {
    let (legacy, coupon) = (
        Upstream::start("legacy").await,
        Upstream::start("coupon").await,
    );
    let shadow = "    shadow:\n      methods: [POST]\n      max_body_bytes: 64\n";
    let proxy = Running::start(
        &config(
            &legacy.addr.to_string(),
            &coupon.addr.to_string(),
            shadow,
            "",
        ),
        None,
    )
    .await;
    let client = client();
    for body in ["{\"userId\":1}".to_owned(), "x".repeat(1_000)] {
        let answer: Value = client
            .post(format!("http://{}/api/coupons/1/issue", proxy.addr))
            .body(body.clone())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            answer["body"].as_str().unwrap().len(),
            body.len(),
            "the monolith got the whole body"
        );
    }
    // A chunked body has no declared length: not mirrored, and the monolith
    // still gets all of it (a regression: it was once taken for no body).
    let answer = crate::support::raw_exchange(
        proxy.addr,
        b"POST /api/coupons/1/issue HTTP/1.1\r\nHost: shop\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    )
    .await;
    assert!(answer.contains(r#""body":"hello world""#), "{answer}");
    // The answers (echoes of the request) are over the 64-byte cap too, so the
    // pair is unanalysed: never counted as equal.
    let route = eventually(&proxy, |r| {
        r["unanalysed"] == 1 && r["skipped"]["body_too_large"] == 2
    })
    .await;
    assert_eq!(route["compared"], 0);
    assert_eq!(
        coupon.hits(),
        1,
        "only the small body was mirrored: {route}"
    );
}

#[tokio::test]
async fn counts_survive_a_restart() {
    let (legacy, coupon) = (
        Upstream::start("legacy").await,
        Upstream::start("coupon").await,
    );
    let yaml = config(&legacy.addr.to_string(), &coupon.addr.to_string(), "", "");
    let proxy = Running::start(&yaml, None).await;
    for id in 0..3 {
        let response = client()
            .get(format!("http://{}/api/coupons/{id}", proxy.addr))
            .send()
            .await
            .unwrap();
        response.bytes().await.unwrap();
    }
    eventually(&proxy, |r| r["compared"] == 3).await;
    let dir = std::sync::Arc::clone(&proxy.dir);
    proxy.stop().await;

    let store =
        msa_proxy::shadow_store::ShadowStore::open_existing(&dir.path().join("msa-shadow.db"))
            .await
            .unwrap();
    let stored = store.report(Some("coupons")).await.unwrap();
    assert_eq!(stored["routes"][0]["compared"], 3, "{stored}");

    let restarted = Running::start(&yaml, Some(dir)).await;
    let response = client()
        .get(format!("http://{}/api/coupons/9", restarted.addr))
        .send()
        .await
        .unwrap();
    response.bytes().await.unwrap();
    let route = eventually(&restarted, |r| r["compared"] == 4).await;
    assert_eq!(route["paths"][1]["count"], 4, "counting goes on: {route}");
}

/// Legacy, a second legacy instance and a candidate, all noisy; the candidate
/// named `candidate_name`. Returns the report once 40 pairs are compared.
async fn with_noise_baseline(candidate_name: &'static str) -> Value {
    let legacy = Upstream::start_noisy("legacy").await;
    let baseline = Upstream::start_noisy("legacy").await;
    let candidate = Upstream::start_noisy(candidate_name).await;
    let yaml = config(
        &legacy.addr.to_string(),
        &candidate.addr.to_string(),
        "    shadow:\n      noise_baseline: legacy-b\n",
        "",
    )
    .replace(
        "upstreams:\n",
        &format!(
            "upstreams:\n  legacy-b:\n    endpoints: [{}]\n",
            baseline.addr
        ),
    );
    let proxy = Running::start(&yaml, None).await;
    let client = client();
    for id in 0..40 {
        let response = client
            .get(format!("http://{}/api/coupons/{id}", proxy.addr))
            .send()
            .await
            .unwrap();
        response.bytes().await.unwrap();
    }
    eventually(&proxy, |r| r["compared"] == 40 && r["with_baseline"] == 40).await
}

/// A route's differing paths as (path, kind, count), in the report's order.
fn differing_paths(route: &Value) -> Vec<(&str, &str, u64)> {
    route["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["path"].as_str().unwrap(),
                p["kind"].as_str().unwrap(),
                p["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn path<'a>(route: &'a Value, name: &str) -> &'a Value {
    route["paths"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["path"] == name)
        .unwrap_or_else(|| panic!("no {name} in {route}"))
}

#[tokio::test]
async fn a_noise_baseline_tells_noise_from_a_regression() {
    let route = with_noise_baseline("coupon").await;
    // Legacy differs from itself at $.nonce on every request: noise.
    let nonce = path(&route, "$.nonce");
    assert_eq!(nonce["noise"]["verdict"], "noise", "{route}");
    assert_eq!(nonce["real"], 0);
    // Only the candidate gets $.upstream wrong: a regression, on every request.
    let upstream = path(&route, "$.upstream");
    assert_eq!(upstream["noise"]["verdict"], "regression", "{route}");
    assert_eq!(upstream["real"], 40);
    assert_eq!(route["noise_only"], 0);
}

#[tokio::test]
async fn pairs_that_differ_only_in_noise_are_counted_as_such() {
    let route = with_noise_baseline("legacy").await;
    assert_eq!(
        (route["equal"].as_u64(), route["noise_only"].as_u64()),
        (Some(0), Some(40)),
        "{route}"
    );
    assert_eq!(route["match_rate_excluding_noise"], 1.0);
    assert_eq!(path(&route, "$.nonce")["noise"]["verdict"], "noise");
}

#[tokio::test]
async fn a_route_takes_at_most_its_own_share_of_the_mirror() {
    let legacy = Upstream::start("legacy").await;
    let slow = Upstream::start_with_delay("coupon", Duration::from_millis(500)).await;
    // The shared mirror has room; the route allows one copy at a time.
    let yaml = config(
        &legacy.addr.to_string(),
        &slow.addr.to_string(),
        "    shadow:\n      max_in_flight: 1\n",
        "mirror:\n  queue: 100\n  concurrency: 8\n",
    );
    let proxy = Running::start(&yaml, None).await;
    let client = client();
    for id in 0..10 {
        let response = client
            .get(format!("http://{}/api/coupons/{id}", proxy.addr))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let route = eventually(&proxy, |r| {
        r["skipped"]["route_full"].as_u64().unwrap_or(0) > 0
    })
    .await;
    assert!(
        route["skipped"]["route_full"].as_u64().unwrap() >= 5,
        "{route}"
    );
    assert!(slow.hits() <= 3, "one copy at a time: {}", slow.hits());
}

#[tokio::test]
async fn in_the_canary_stage_what_the_monolith_serves_is_still_compared() {
    let (legacy, coupon) = (
        Upstream::start("legacy").await,
        Upstream::start("coupon").await,
    );
    let yaml = config(&legacy.addr.to_string(), &coupon.addr.to_string(), "", "").replace(
        "    mode: shadow\n",
        "    mode: canary\n    weight_bp: 5000\n    sticky: header:x-user\n",
    );
    let proxy = Running::start(&yaml, None).await;
    let client = client();
    let mut on_legacy = 0;
    for user in 0..40 {
        let answer: Value = client
            .get(format!("http://{}/api/coupons/7", proxy.addr))
            .header("x-user", format!("user-{user}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if answer["upstream"] == "legacy" {
            on_legacy += 1;
        }
    }
    assert!(
        (1..40).contains(&on_legacy),
        "the canary splits: {on_legacy} on legacy"
    );
    // Every request the monolith served was mirrored and compared; those the
    // new service served were not sent twice.
    let route = eventually(&proxy, |r| r["compared"] == on_legacy).await;
    assert_eq!(route["compared"], on_legacy, "{route}");
    assert_eq!(
        coupon.hits(),
        40,
        "new-served plus mirrored copies of the rest"
    );
}

/// Issue 4: a prefix route's pairs are counted per template too, so a new
/// service wrong on one endpoint shows there, not diluted by the clean ones.
#[tokio::test]
async fn a_prefix_routes_results_are_split_per_template() {
    let (legacy, coupon) = (
        Upstream::start("legacy").await,
        Upstream::start_with_quirk_under("coupon", "/issue").await,
    );
    let shadow = "    shadow:\n      methods: [GET, POST]\n      rules:\n        ignore: [\"$.upstream\", \"$.headers.x-msa-shadow\"]\n";
    let proxy = Running::start(
        &config(
            &legacy.addr.to_string(),
            &coupon.addr.to_string(),
            shadow,
            "",
        ),
        None,
    )
    .await;
    let client = client();
    for id in 1..=6 {
        let response = client
            .get(format!("http://{}/api/coupons/{id}", proxy.addr))
            .send()
            .await
            .unwrap();
        response.bytes().await.unwrap();
    }
    for id in 1..=2 {
        let response = client
            .post(format!("http://{}/api/coupons/{id}/issue", proxy.addr))
            .body("{}")
            .send()
            .await
            .unwrap();
        response.bytes().await.unwrap();
    }
    let route = eventually(&proxy, |r| r["compared"] == 8).await;
    assert_eq!(route["equal"], 6, "{route}");
    let templates: Vec<(&str, u64, u64, f64)> = route["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["template"].as_str().unwrap(),
                t["compared"].as_u64().unwrap(),
                t["equal"].as_u64().unwrap(),
                t["match_rate"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        templates,
        [
            ("GET /api/coupons/{id}", 6, 6, 1.0),
            ("POST /api/coupons/{id}/issue", 2, 0, 0.0),
        ],
        "{route}"
    );
    assert_eq!(route["templates"][1]["paths"][0]["path"], "$.quirk");
    assert_eq!(route["templates"][0]["paths"], serde_json::json!([]));
}
