//! Traces over real sockets: a stub OTLP/HTTP collector decodes what the
//! proxy exports, and the recording upstream shows the `traceparent` it got.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use prost::Message as _;
use tokio::net::TcpListener;

use crate::support::{DeadPort, Running, Upstream, client};

/// A collector that keeps every span posted to `/v1/traces`, with the
/// `service.name` of its resource.
struct Collector {
    addr: SocketAddr,
    received: Arc<parking_lot::Mutex<Vec<(String, Span)>>>,
    posts: Arc<std::sync::atomic::AtomicUsize>,
    /// The `x-api-key` of each post.
    keys: Arc<parking_lot::Mutex<Vec<String>>>,
}

impl Collector {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let posts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let keys = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let (kept, counted, keyed) = (Arc::clone(&received), Arc::clone(&posts), Arc::clone(&keys));
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (kept, counted, keyed) =
                    (Arc::clone(&kept), Arc::clone(&counted), Arc::clone(&keyed));
                let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                    let (kept, counted, keyed) =
                        (Arc::clone(&kept), Arc::clone(&counted), Arc::clone(&keyed));
                    async move {
                        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        if let Some(key) = request.headers().get("x-api-key") {
                            keyed.lock().push(key.to_str().unwrap().to_owned());
                        }
                        assert_eq!(request.uri().path(), "/v1/traces");
                        assert_eq!(request.headers()["content-type"], "application/x-protobuf");
                        let body = request.into_body().collect().await.unwrap().to_bytes();
                        let export = ExportTraceServiceRequest::decode(body).unwrap();
                        for resource_spans in export.resource_spans {
                            let service = resource_spans
                                .resource
                                .iter()
                                .flat_map(|r| &r.attributes)
                                .find(|kv| kv.key == "service.name")
                                .and_then(|kv| text(kv.value.as_ref()?.value.as_ref()?))
                                .unwrap_or_default();
                            for scope in resource_spans.scope_spans {
                                for span in scope.spans {
                                    kept.lock().push((service.clone(), span));
                                }
                            }
                        }
                        Ok::<_, Infallible>(
                            Response::builder()
                                .header("content-type", "application/x-protobuf")
                                .body(Full::new(Bytes::new()))
                                .unwrap(),
                        )
                    }
                });
                tokio::spawn(async move {
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            addr,
            received,
            posts,
            keys,
        }
    }

    fn spans(&self) -> Vec<(String, Span)> {
        self.received.lock().clone()
    }

    fn posts(&self) -> usize {
        self.posts.load(std::sync::atomic::Ordering::SeqCst)
    }
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::StringValue(s) => Some(s.clone()),
        _ => None,
    }
}

/// A span's attributes as text (integers written out).
fn attributes(span: &Span) -> HashMap<String, String> {
    span.attributes
        .iter()
        .filter_map(|kv| {
            let value = match kv.value.as_ref()?.value.as_ref()? {
                Value::StringValue(s) => s.clone(),
                Value::IntValue(i) => i.to_string(),
                Value::BoolValue(b) => b.to_string(),
                other => format!("{other:?}"),
            };
            Some((kv.key.clone(), value))
        })
        .collect()
}

/// `msa_proxy_trace_spans_total{outcome}` in the proxy's metrics text.
fn spans_counted(metrics: &str, outcome: &str) -> Option<u64> {
    let prefix = format!("msa_proxy_trace_spans_total{{outcome=\"{outcome}\"}} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map(|n| n.parse().unwrap())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn config(legacy: &Upstream, coupon: &str, telemetry: &str) -> String {
    format!(
        "listen: 127.0.0.1:0\nworkers: 1\nlegacy: legacy\nupstreams:\n  legacy:\n    endpoints: [{}]\n  coupon:\n    endpoints: [{coupon}]\n    connect_timeout: 500ms\nroutes:\n  - name: coupon-read\n    methods: [GET]\n    path: /api/coupons/{{id}}\n    upstream: coupon\n    mode: cutover\n{telemetry}",
        legacy.addr
    )
}

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// Sends a GET with `traceparent` and returns the status and the
/// `traceparent` the upstream received (when one answered).
async fn get(proxy: &Running, path: &str, traceparent: Option<&str>) -> (u16, Option<String>) {
    let mut request = client().get(format!("http://{}{path}", proxy.addr));
    if let Some(traceparent) = traceparent {
        request = request.header("traceparent", traceparent);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap();
    let seen = body["headers"]["traceparent"].as_str().map(str::to_owned);
    (status, seen)
}

#[tokio::test]
async fn each_request_is_a_server_span_under_the_callers_trace_and_the_upstream_nests_under_it() {
    let (legacy, coupon) = (
        Upstream::start("legacy").await,
        Upstream::start("coupon").await,
    );
    let collector = Collector::start().await;
    let telemetry = format!(
        "telemetry:\n  otlp:\n    endpoint: http://{}\n    protocol: http/protobuf\n    service_name: shop-proxy\n    sample_ratio: 1.0\n",
        collector.addr
    );
    let proxy = Running::start(&config(&legacy, &coupon.addr.to_string(), &telemetry), None).await;

    // A sampled caller: its trace goes on through the proxy.
    let (status, seen) = get(
        &proxy,
        "/api/coupons/7",
        Some(&format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01")),
    )
    .await;
    assert_eq!(status, 200);
    let seen = seen.expect("the upstream got a traceparent");
    // A caller that did not sample: followed, so nothing is exported.
    let unsampled = format!("00-{CALLER_TRACE}-{CALLER_SPAN}-00");
    let (_, unsampled_seen) = get(&proxy, "/api/coupons/8", Some(&unsampled)).await;
    let unsampled_seen = unsampled_seen.unwrap();
    // No caller trace, a request no route claims: a new trace.
    let (status, root_seen) = get(&proxy, "/api/products", None).await;
    assert_eq!(status, 200);
    let root_seen = root_seen.unwrap();

    // A graceful stop sends what is queued (the export interval is 5 s by default).
    let metrics = {
        let live = Arc::clone(&proxy.live);
        proxy.stop().await;
        live.metrics_text()
    };
    let spans = collector.spans();
    assert_eq!(
        spans.len(),
        2,
        "the unsampled request exports nothing: {spans:?}"
    );
    assert_eq!(spans_counted(&metrics, "exported"), Some(2), "{metrics}");
    assert_eq!(spans_counted(&metrics, "dropped"), Some(0), "{metrics}");

    let (service, span) = spans
        .iter()
        .find(|(_, span)| hex(&span.trace_id) == CALLER_TRACE)
        .expect("a span in the caller's trace");
    assert_eq!(service, "shop-proxy");
    assert_eq!(
        hex(&span.parent_span_id),
        CALLER_SPAN,
        "parented on the caller"
    );
    assert_eq!(span.kind, SpanKind::Server as i32);
    assert_eq!(span.name, "GET /api/coupons/{id}");
    assert_eq!(
        seen,
        format!("00-{CALLER_TRACE}-{}-01", hex(&span.span_id)),
        "the upstream's parent is the proxy's span"
    );
    let attributes = attributes(span);
    for (key, value) in [
        ("http.request.method", "GET"),
        ("url.path", "/api/coupons/7"),
        ("url.scheme", "http"),
        ("http.route", "/api/coupons/{id}"),
        ("http.response.status_code", "200"),
        ("server.address", "127.0.0.1"),
        ("network.protocol.version", "1.1"),
        ("msa.route", "coupon-read"),
        ("msa.stage", "cutover"),
        ("msa.side", "new"),
        ("msa.upstream", "coupon"),
    ] {
        assert_eq!(
            attributes.get(key).map(String::as_str),
            Some(value),
            "{key} in {attributes:?}"
        );
    }
    assert_eq!(
        span.status.as_ref().map_or(0, |s| s.code),
        StatusCode::Unset as i32
    );

    // The unsampled caller's trace goes on unsampled, under a new parent id.
    assert!(
        unsampled_seen.starts_with(&format!("00-{CALLER_TRACE}-"))
            && unsampled_seen.ends_with("-00")
            && unsampled_seen != unsampled,
        "{unsampled_seen}"
    );

    let (_, root) = spans
        .iter()
        .find(|(_, span)| hex(&span.trace_id) != CALLER_TRACE)
        .unwrap();
    assert!(root.parent_span_id.is_empty(), "a new trace has no parent");
    assert_eq!(
        root_seen,
        format!("00-{}-{}-01", hex(&root.trace_id), hex(&root.span_id))
    );
    let attributes = self::attributes(root);
    assert_eq!(attributes["msa.route"], "_unclaimed");
    assert_eq!(attributes["msa.upstream"], "legacy");
    assert!(!attributes.contains_key("http.route"), "{attributes:?}");
    assert_eq!(root.name, "GET");
}

#[tokio::test]
async fn an_upstream_that_cannot_be_reached_makes_an_error_span() {
    let legacy = Upstream::start("legacy").await;
    let dead = DeadPort::reserve();
    let collector = Collector::start().await;
    let telemetry = format!(
        "telemetry:\n  otlp:\n    endpoint: http://{}/\n",
        collector.addr
    );
    let proxy = Running::start(&config(&legacy, &dead.addr.to_string(), &telemetry), None).await;
    let response = client()
        .get(format!("http://{}/api/coupons/7", proxy.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    proxy.stop().await;

    let spans = collector.spans();
    let [(service, span)] = spans.as_slice() else {
        panic!("one span: {spans:?}");
    };
    assert_eq!(service, "msa-proxy", "the default service name");
    let status = span.status.as_ref().unwrap();
    assert_eq!(status.code, StatusCode::Error as i32);
    assert!(status.message.contains("coupon"), "{}", status.message);
    let attributes = attributes(span);
    assert_eq!(attributes["error.type"], "connect");
    assert_eq!(attributes["http.response.status_code"], "502");
    assert_eq!(attributes["msa.side"], "new");
}

#[tokio::test]
async fn without_telemetry_nothing_is_exported_and_requests_still_carry_a_traceparent() {
    let (legacy, coupon) = (
        Upstream::start("legacy").await,
        Upstream::start("coupon").await,
    );
    let collector = Collector::start().await;
    let proxy = Running::start(&config(&legacy, &coupon.addr.to_string(), ""), None).await;

    let (status, made_up) = get(&proxy, "/api/coupons/7", None).await;
    assert_eq!(status, 200);
    let made_up = made_up.expect("a traceparent is made up for a request without one");
    let parts: Vec<&str> = made_up.split('-').collect();
    assert!(
        matches!(parts.as_slice(), [version, trace, parent, _]
            if *version == "00" && trace.len() == 32 && parent.len() == 16),
        "{made_up}"
    );
    // A caller's valid traceparent passes unchanged: no span sits between.
    let caller = format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01");
    let (_, passed) = get(&proxy, "/api/products", Some(&caller)).await;
    assert_eq!(passed.as_deref(), Some(caller.as_str()));

    let live = Arc::clone(&proxy.live);
    proxy.stop().await;
    assert_eq!(collector.posts(), 0, "nothing was posted to the collector");
    assert!(
        !live.metrics_text().contains("msa_proxy_trace_spans_total{"),
        "no span was counted"
    );
}

#[tokio::test]
async fn a_collector_that_never_answers_costs_dropped_spans_not_requests() {
    let (legacy, coupon) = (
        Upstream::start("legacy").await,
        Upstream::start("coupon").await,
    );
    // Accepts connections and never answers them.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let telemetry = format!(
        "telemetry:\n  otlp:\n    endpoint: http://{silent_addr}\n    queue: 2\n    batch: 1\n    timeout: 60s\n"
    );
    let proxy = Running::start(&config(&legacy, &coupon.addr.to_string(), &telemetry), None).await;
    for i in 0..20 {
        let (status, seen) = get(&proxy, &format!("/api/coupons/{i}"), None).await;
        assert_eq!(status, 200);
        assert!(seen.is_some());
    }
    let metrics = proxy.live.metrics_text();
    let dropped = spans_counted(&metrics, "dropped").unwrap();
    // One span is being sent (forever), two wait in the queue: the rest are dropped.
    assert!(dropped >= 17, "dropped {dropped}:\n{metrics}");
    assert_eq!(spans_counted(&metrics, "exported"), Some(0), "{metrics}");
}

#[tokio::test]
async fn the_collector_gets_the_configured_headers_as_written() {
    let (legacy, coupon) = (
        Upstream::start("legacy").await,
        Upstream::start("coupon").await,
    );
    let collector = Collector::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("proxy.yaml");
    let yaml = config(
        &legacy,
        &coupon.addr.to_string(),
        &format!(
            "telemetry:\n  otlp:\n    endpoint: http://{}\nadmin:\n  listen: 127.0.0.1:0\n",
            collector.addr
        ),
    );
    std::fs::write(&path, yaml).unwrap();
    // As `headers_env` would give them (the environment is not the test's to set):
    // already decoded, so a `%` in a value is a `%`.
    let mut loaded = msa_proxy::config::load(&path).unwrap();
    loaded.telemetry.as_mut().unwrap().headers.pairs =
        vec![("x-api-key".to_owned(), "s3cret%41".to_owned())];
    let live = msa_proxy::Live::new(loaded, path).unwrap();
    let server = msa_proxy::Server::bind(Arc::clone(&live)).await.unwrap();
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(server.serve(
        async move {
            let _ = stopped.await;
        },
        std::time::Duration::from_secs(5),
    ));
    let response = client()
        .get(format!("http://{addr}/api/coupons/1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    stop.send(()).unwrap();
    served.await.unwrap();

    assert_eq!(collector.spans().len(), 1);
    assert_eq!(*collector.keys.lock(), ["s3cret%41"]);
}
