//! Operating the proxy: the admin API, stage changes that persist and are
//! audited, reloads that never drop a request, metrics, the circuit breaker.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{DeadPort, Running, Upstream, client};

const TOKEN: &str = "s3cret-admin-token";

/// Two upstreams, one route in `stage`, admin with a token file.
fn config(legacy: &str, coupon: &str, stage: &str) -> String {
    format!(
        "listen: 127.0.0.1:0
workers: 1
legacy: legacy
admin:
  listen: 127.0.0.1:0
  token_file: admin-token
upstreams:
  legacy:
    endpoints: [{legacy}]
  coupon:
    endpoints: [{coupon}]
    connect_timeout: 300ms
    circuit:
      consecutive_failures: 2
      open_for: 30s
routes:
  - name: coupon-read
    methods: [GET]
    path: /api/coupons/{{id}}
    upstream: coupon
    fallback: true
{stage}
  - name: coupon-issue
    methods: [POST]
    path: /api/coupons/{{id}}/issue
    upstream: coupon
    mode: cutover
"
    )
}

async fn start(yaml: &str) -> Running {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    std::fs::write(dir.path().join("admin-token"), format!("{TOKEN}\n")).unwrap();
    Running::start(yaml, Some(dir)).await
}

async fn served_by(proxy: &Running, path: &str) -> String {
    let answer: Value = client()
        .get(format!("http://{}{path}", proxy.addr))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["upstream"].as_str().unwrap_or("?").to_owned()
}

async fn admin(
    proxy: &Running,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = client()
        .request(method, format!("http://{}{path}", proxy.admin))
        .header("x-msa-actor", "alice");
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn a_stage_change_takes_effect_at_once_survives_a_restart_and_is_audited() {
    let (legacy, coupon) = (
        Upstream::start("legacy").await,
        Upstream::start("coupon").await,
    );
    let yaml = config(
        &legacy.addr.to_string(),
        &coupon.addr.to_string(),
        "    mode: legacy",
    );
    let proxy = start(&yaml).await;
    assert_eq!(served_by(&proxy, "/api/coupons/1").await, "legacy");

    let cutover = Some(json!({"mode": "cutover", "reason": "shadow clean for a week"}));
    let put = reqwest::Method::PUT;
    let (status, refused) = admin(
        &proxy,
        put.clone(),
        "/routes/coupon-read",
        Some("wrong"),
        cutover.clone(),
    )
    .await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (401, Some("UNAUTHORIZED"))
    );
    let (status, _) = admin(
        &proxy,
        put.clone(),
        "/routes/coupon-read",
        None,
        cutover.clone(),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(
        served_by(&proxy, "/api/coupons/1").await,
        "legacy",
        "a refused change changed nothing"
    );

    let (status, changed) = admin(
        &proxy,
        put.clone(),
        "/routes/coupon-read",
        Some(TOKEN),
        cutover,
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(
        changed,
        json!({"route": "coupon-read", "before": {"mode": "legacy"}, "after": {"mode": "cutover"}})
    );
    assert_eq!(served_by(&proxy, "/api/coupons/1").await, "coupon");

    for (route, body, want) in [
        (
            "coupon-read",
            json!({"mode": "canary", "weight_bp": 20_000}),
            400,
        ),
        ("coupon-read", json!({"mode": "sideways"}), 400),
        ("no-such-route", json!({"mode": "legacy"}), 404),
    ] {
        let (status, answer) = admin(
            &proxy,
            put.clone(),
            &format!("/routes/{route}"),
            Some(TOKEN),
            Some(body),
        )
        .await;
        assert_eq!(status, want, "{answer}");
    }

    let (_, routes) = admin(&proxy, reqwest::Method::GET, "/routes", None, None).await;
    let read = &routes["routes"][0];
    assert_eq!(
        (read["name"].as_str(), &read["stage"]),
        (Some("coupon-read"), &json!({"mode": "cutover"}))
    );
    assert_eq!(read["requests"]["new"]["2xx"], 1);
    assert_eq!(read["requests"]["legacy"]["2xx"], 2);

    // A restart keeps the stage: it is state, not configuration.
    let dir = Arc::clone(&proxy.dir);
    proxy.stop().await;
    let restarted = Running::start(&yaml, Some(Arc::clone(&dir))).await;
    assert_eq!(served_by(&restarted, "/api/coupons/1").await, "coupon");

    let audit = std::fs::read_to_string(dir.path().join("msa-proxy-audit.jsonl")).unwrap();
    let entries: Vec<Value> = audit
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(entries.len(), 1, "one change, one entry: {audit}");
    assert_eq!(entries[0]["actor"], "alice");
    assert_eq!(entries[0]["route"], "coupon-read");
    assert_eq!(
        (&entries[0]["before"], &entries[0]["after"]),
        (&json!({"mode": "legacy"}), &json!({"mode": "cutover"}))
    );
    assert_eq!(entries[0]["reason"], "shadow clean for a week");
}

#[tokio::test]
async fn without_a_token_changes_are_disabled_and_say_how_to_enable_them() {
    let (legacy, coupon) = (
        Upstream::start("legacy").await,
        Upstream::start("coupon").await,
    );
    let yaml = config(
        &legacy.addr.to_string(),
        &coupon.addr.to_string(),
        "    mode: legacy",
    )
    .replace(
        "  token_file: admin-token\n",
        "  token_env: MSA_TEST_TOKEN_THAT_IS_NEVER_SET\n",
    );
    let proxy = start(&yaml).await;
    let (status, answer) = admin(
        &proxy,
        reqwest::Method::POST,
        "/reload",
        Some("anything"),
        None,
    )
    .await;
    assert_eq!(status, 403);
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("MSA_TEST_TOKEN_THAT_IS_NEVER_SET"),
        "{answer}"
    );
    assert_eq!(
        admin(&proxy, reqwest::Method::GET, "/healthz", None, None)
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn a_bad_file_is_refused_and_the_old_configuration_keeps_serving() {
    let (legacy, coupon) = (
        Upstream::start("legacy").await,
        Upstream::start("coupon").await,
    );
    let yaml = config(
        &legacy.addr.to_string(),
        &coupon.addr.to_string(),
        "    mode: legacy",
    )
    .replace("workers: 1\n", "workers: 1\nwatch: false\n");
    let proxy = start(&yaml).await;

    std::fs::write(
        proxy.config_path(),
        yaml.replace(
            "upstream: coupon\n    fallback",
            "upstream: cupon\n    fallback",
        ),
    )
    .unwrap();
    let (status, answer) = admin(&proxy, reqwest::Method::POST, "/reload", Some(TOKEN), None).await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no upstream is named `cupon`"),
        "{answer}"
    );
    assert_eq!(served_by(&proxy, "/api/coupons/1").await, "legacy");
    let (_, status) = admin(&proxy, reqwest::Method::GET, "/status", None, None).await;
    assert_eq!(status["last_reload"]["ok"], false);
    let (_, metrics) = admin(&proxy, reqwest::Method::GET, "/metrics", None, None).await;
    assert!(
        metrics
            .as_str()
            .unwrap()
            .contains("msa_proxy_config_reloads_total{result=\"refused\"} 1"),
        "{metrics}"
    );

    std::fs::write(
        proxy.config_path(),
        yaml.replace("    mode: legacy", "    mode: cutover"),
    )
    .unwrap();
    let (status, _) = admin(&proxy, reqwest::Method::POST, "/reload", Some(TOKEN), None).await;
    assert_eq!(status, 200);
    assert_eq!(served_by(&proxy, "/api/coupons/1").await, "coupon");
}

#[tokio::test]
async fn a_changed_file_is_picked_up_on_its_own() {
    let (legacy, coupon) = (
        Upstream::start("legacy").await,
        Upstream::start("coupon").await,
    );
    let yaml = config(
        &legacy.addr.to_string(),
        &coupon.addr.to_string(),
        "    mode: legacy",
    );
    let proxy = start(&yaml).await;
    assert_eq!(served_by(&proxy, "/api/coupons/1").await, "legacy");
    // Different length as well as mtime, so coarse file systems notice too.
    std::fs::write(
        proxy.config_path(),
        yaml.replace("    mode: legacy", "    mode: cutover   "),
    )
    .unwrap();
    for _ in 0..50 {
        if served_by(&proxy, "/api/coupons/1").await == "coupon" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the proxy did not pick up the changed file within 5 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloading_under_load_fails_no_request() {
    let (legacy, coupon) = (
        Upstream::start("legacy").await,
        Upstream::start("coupon").await,
    );
    let yaml = config(
        &legacy.addr.to_string(),
        &coupon.addr.to_string(),
        "    mode: legacy",
    );
    let proxy = start(&yaml).await;
    let (stop, sent, failed) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let mut load = Vec::new();
    for _ in 0..16 {
        let (stop, sent, failed, addr) = (
            Arc::clone(&stop),
            Arc::clone(&sent),
            Arc::clone(&failed),
            proxy.addr,
        );
        load.push(tokio::spawn(async move {
            let client = client();
            while !stop.load(Ordering::Relaxed) {
                let ok = client
                    .get(format!("http://{addr}/api/coupons/1"))
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 200);
                sent.fetch_add(1, Ordering::Relaxed);
                if !ok {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for round in 0..20 {
        let stage = if round % 2 == 0 {
            "    mode: cutover"
        } else {
            "    mode: legacy"
        };
        std::fs::write(proxy.config_path(), yaml.replace("    mode: legacy", stage)).unwrap();
        proxy.live.reload("test").await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    let (sent, failed) = (sent.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    assert!(sent > 200, "only {sent} requests were sent");
    assert_eq!(
        failed, 0,
        "{failed} of {sent} requests failed during 20 reloads"
    );
    assert!(
        legacy.hits() > 0 && coupon.hits() > 0,
        "both configurations served"
    );
}

#[tokio::test]
async fn an_open_circuit_fails_fast_and_cutover_reads_fall_back() {
    let legacy = Upstream::start("legacy").await;
    let dead_port = DeadPort::reserve();
    let dead = dead_port.addr.to_string();
    let proxy = start(&config(
        &legacy.addr.to_string(),
        &dead,
        "    mode: cutover",
    ))
    .await;
    for _ in 0..5 {
        assert_eq!(
            served_by(&proxy, "/api/coupons/1").await,
            "legacy",
            "reads fall back"
        );
    }
    let write = client()
        .post(format!("http://{}/api/coupons/1/issue", proxy.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), 503);
    let answer: Value = write.json().await.unwrap();
    assert_eq!(answer["error"]["code"], "CIRCUIT_OPEN");

    let (_, metrics) = admin(&proxy, reqwest::Method::GET, "/metrics", None, None).await;
    let metrics = metrics.as_str().unwrap();
    for line in [
        "msa_proxy_circuit_open{upstream=\"coupon\"} 1",
        "msa_proxy_upstream_errors_total{upstream=\"coupon\",kind=\"connect\"} 2",
        "msa_proxy_fallbacks_total{route=\"coupon-read\"} 5",
        "msa_proxy_requests_total{route=\"coupon-read\",side=\"legacy\",upstream=\"legacy\",class=\"2xx\"} 5",
    ] {
        assert!(metrics.contains(line), "missing `{line}` in:\n{metrics}");
    }
    assert!(
        metrics.contains(
            "msa_proxy_upstream_errors_total{upstream=\"coupon\",kind=\"circuit_open\"} 4"
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn readiness_fails_once_draining_while_liveness_holds() {
    let legacy = Upstream::start("legacy").await;
    let proxy = start(&config(
        &legacy.addr.to_string(),
        &legacy.addr.to_string(),
        "    mode: legacy",
    ))
    .await;
    assert_eq!(
        admin(&proxy, reqwest::Method::GET, "/readyz", None, None)
            .await
            .0,
        200
    );
    proxy.live.start_draining();
    assert_eq!(
        admin(&proxy, reqwest::Method::GET, "/readyz", None, None)
            .await
            .0,
        503
    );
    assert_eq!(
        admin(&proxy, reqwest::Method::GET, "/healthz", None, None)
            .await
            .0,
        200
    );
}
