//! Traces of proxied requests, off unless `telemetry.otlp` is configured.
//!
//! Each request gets one server span, parented on the caller's `traceparent`
//! when it is valid; the `traceparent` sent upstream names this span, so the
//! upstream's spans nest under the proxy's. Sampling is parent-based: a
//! caller's decision is followed, and new traces are sampled at
//! `sample_ratio`.
//!
//! Finished spans go into a bounded queue (a full queue drops and counts,
//! never waits) that one task drains in batches to the collector over
//! OTLP/HTTP (protobuf), with the workspace's hyper and rustls. A failing
//! collector is logged, at most once a minute, and never fails a request.
//!
//! When telemetry is off the proxy holds no [`Telemetry`] and the request path
//! does none of this.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::HeaderValue;
use opentelemetry::trace::{
    Span as _, SpanContext, SpanId, SpanKind, Status, TraceContextExt as _, TraceFlags, TraceId,
    TraceState, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue, Value};
use opentelemetry_otlp::{Protocol, WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    Sampler, SdkTracer, SdkTracerProvider, Span, SpanData, SpanExporter as _, SpanProcessor,
};
use prometheus_client::metrics::counter::Counter;
use tokio::sync::{mpsc, oneshot};

use crate::config::{PathMatch, RouteConfig, Stage, TelemetryConfig};
use crate::metrics::{Metrics, Side};
use crate::upstream::UpstreamError;

/// The tracer and the queue to the exporter task.
#[derive(Debug)]
pub(crate) struct Telemetry {
    config: TelemetryConfig,
    tracer: SdkTracer,
    /// Kept so that the provider (and with it the queue) lives as long as this.
    _provider: SdkTracerProvider,
    /// Asks the exporter task to send everything queued now.
    flushes: mpsc::UnboundedSender<oneshot::Sender<()>>,
}

impl Telemetry {
    /// Builds the exporter and starts its task. Must be called within a Tokio runtime.
    pub(crate) fn start(config: &TelemetryConfig, metrics: &Metrics) -> Result<Arc<Self>, String> {
        if let Some(env) = &config.headers.env
            && std::env::var_os(env).is_none()
        {
            tracing::warn!(
                variable = env.as_str(),
                "telemetry.otlp.headers_env names an environment variable that is not set; exporting without its headers"
            );
        }
        let tls = crate::tls::client_config(None).unwrap_or_else(|err| {
            tracing::error!(error = %err, "no TLS roots for the trace collector");
            crate::tls::client_config_without_roots()
        });
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        let client = opentelemetry_http::hyper::HyperClient::new(connector, config.timeout, None);
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(client)
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(config.traces_url.to_string())
            .with_timeout(config.timeout)
            // The exporter percent-decodes values; these are decoded already.
            .with_headers(
                config
                    .headers
                    .pairs
                    .iter()
                    .map(|(name, value)| (name.clone(), value.replace('%', "%25")))
                    .collect(),
            )
            .build()
            .map_err(|err| format!("cannot build the OTLP exporter: {err}"))?;
        let resource = resource(config);
        let mut exporter = exporter;
        exporter.set_resource(&resource);
        let (spans, queued) = mpsc::channel(config.queue);
        let (flushes, flush_requests) = mpsc::unbounded_channel();
        let provider = SdkTracerProvider::builder()
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                config.sample_ratio,
            ))))
            .with_resource(resource)
            .with_span_processor(Queue {
                spans,
                dropped: metrics.trace_spans("dropped"),
            })
            .build();
        let tracer = provider.tracer("msa-proxy");
        tokio::spawn(
            Batches {
                exporter,
                batch: config.batch,
                interval: config.interval,
                exported: metrics.trace_spans("exported"),
                failed: metrics.trace_spans("failed"),
                failures: FailureLog::default(),
            }
            .run(queued, flush_requests),
        );
        tracing::info!(
            collector = %config.traces_url,
            sample_ratio = config.sample_ratio,
            "exporting traces"
        );
        Ok(Arc::new(Self {
            config: config.clone(),
            tracer,
            _provider: provider,
            flushes,
        }))
    }

    /// The settings it runs with.
    pub(crate) fn config(&self) -> &TelemetryConfig {
        &self.config
    }

    /// Starts a request's server span, parented on `parent` (the request's
    /// valid `traceparent`: trace id, parent id, flags) when there is one.
    pub(crate) fn server_span(&self, parent: Option<(u128, u64, u8)>) -> ServerSpan {
        let cx = match parent {
            Some((trace, span, flags)) => {
                Context::new().with_remote_span_context(SpanContext::new(
                    TraceId::from(trace),
                    SpanId::from(span),
                    TraceFlags::new(flags),
                    true,
                    TraceState::NONE,
                ))
            }
            None => Context::new(),
        };
        let span = self
            .tracer
            .span_builder("HTTP")
            .with_kind(SpanKind::Server)
            .start_with_context(&self.tracer, &cx);
        ServerSpan {
            span: Box::new(span),
        }
    }

    /// Sends every span queued so far; returns once the collector answered
    /// (or the export timed out).
    pub(crate) async fn flush(&self) {
        let (done, flushed) = oneshot::channel();
        if self.flushes.send(done).is_ok() {
            let _ = flushed.await;
        }
    }
}

/// `service.name` and `service.version` of every span.
fn resource(config: &TelemetryConfig) -> Resource {
    Resource::builder_empty()
        .with_service_name(config.service_name.clone())
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build()
}

/// One request's span. Ends when [`finish`](Self::finish)ed or dropped.
/// Boxed: a request's future holds an `Option` of it across its awaits, and
/// so stays one pointer larger, not a span larger, when telemetry is off.
#[derive(Debug)]
pub(crate) struct ServerSpan {
    span: Box<Span>,
}

/// What a span says of the request, before it is forwarded.
#[derive(Debug)]
pub(crate) struct RequestFacts<'a> {
    pub(crate) parts: &'a http::request::Parts,
    pub(crate) scheme: &'static str,
    pub(crate) client: std::net::IpAddr,
    pub(crate) route: Option<&'a RouteTrace>,
    pub(crate) stage: Option<Stage>,
}

impl ServerSpan {
    /// The `traceparent` for the upstream: this span as the parent.
    pub(crate) fn traceparent(&self) -> HeaderValue {
        let context = self.span.span_context();
        crate::headers::traceparent(
            u128::from_be_bytes(context.trace_id().to_bytes()),
            u64::from_be_bytes(context.span_id().to_bytes()),
            context.trace_flags().to_u8(),
        )
    }

    /// The request's attributes (OpenTelemetry HTTP semantic conventions),
    /// when the span is sampled.
    pub(crate) fn describe(&mut self, facts: &RequestFacts<'_>) {
        if !self.span.is_recording() {
            return;
        }
        let parts = facts.parts;
        let method = known_method(&parts.method);
        self.span.update_name(match facts.route {
            Some(route) => format!("{} {}", method.unwrap_or("HTTP"), route.template),
            None => method.unwrap_or("HTTP").to_owned(),
        });
        let mut attributes = Vec::with_capacity(16);
        match method {
            Some(method) => attributes.push(KeyValue::new("http.request.method", method)),
            None => {
                attributes.push(KeyValue::new("http.request.method", "_OTHER"));
                attributes.push(KeyValue::new(
                    "http.request.method_original",
                    parts.method.as_str().to_owned(),
                ));
            }
        }
        attributes.push(KeyValue::new("url.path", parts.uri.path().to_owned()));
        attributes.push(KeyValue::new("url.scheme", facts.scheme));
        attributes.push(KeyValue::new(
            "network.protocol.version",
            protocol_version(parts.version),
        ));
        attributes.push(KeyValue::new("client.address", facts.client.to_string()));
        let host = parts
            .headers
            .get(http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .or_else(|| parts.uri.authority().map(http::uri::Authority::as_str));
        if let Some((address, port)) = host.and_then(split_host) {
            attributes.push(KeyValue::new("server.address", address.to_owned()));
            if let Some(port) = port {
                attributes.push(KeyValue::new("server.port", i64::from(port)));
            }
        }
        if let Some(agent) = parts
            .headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
        {
            attributes.push(KeyValue::new("user_agent.original", agent.to_owned()));
        }
        match facts.route {
            Some(route) => {
                attributes.push(KeyValue::new("http.route", route.template.clone()));
                attributes.push(KeyValue::new("msa.route", route.name.clone()));
            }
            None => attributes.push(KeyValue::new("msa.route", crate::metrics::UNCLAIMED)),
        }
        if let Some(stage) = facts.stage {
            attributes.push(KeyValue::new("msa.stage", stage_name(stage)));
        }
        self.span.set_attributes(attributes);
    }

    /// The new service failed and the request went to legacy instead.
    pub(crate) fn fell_back(&mut self, err: &UpstreamError) {
        if self.span.is_recording() {
            self.span.add_event(
                "fallback to legacy",
                vec![
                    KeyValue::new("error.type", err.kind()),
                    KeyValue::new("exception.message", err.to_string()),
                ],
            );
        }
    }

    /// Ends the span with the answer: its status, the side and upstream that
    /// served it, and the upstream's failure if it gave no answer.
    pub(crate) fn finish(
        mut self,
        status: u16,
        side: Side,
        upstream: &str,
        failure: Option<&UpstreamError>,
    ) {
        if !self.span.is_recording() {
            return;
        }
        let mut attributes = vec![
            KeyValue::new("http.response.status_code", i64::from(status)),
            KeyValue::new(
                "msa.side",
                match side {
                    Side::Legacy => "legacy",
                    Side::New => "new",
                },
            ),
            KeyValue::new("msa.upstream", upstream.to_owned()),
        ];
        match failure {
            Some(err) => {
                attributes.push(KeyValue::new("error.type", err.kind()));
                self.span.set_status(Status::error(err.to_string()));
            }
            None if status >= 500 => {
                attributes.push(KeyValue::new("error.type", status.to_string()));
                self.span.set_status(Status::error(""));
            }
            None => {}
        }
        self.span.set_attributes(attributes);
        self.span.end();
    }
}

/// A route as its spans name it, worked out once per configuration snapshot.
#[derive(Debug, Clone)]
pub(crate) struct RouteTrace {
    name: Value,
    /// `http.route`: the path template (`/api/coupons/{id}`, `/api/users/**`).
    template: Value,
}

impl RouteTrace {
    pub(crate) fn new(route: &RouteConfig) -> Self {
        let template = match &route.path {
            PathMatch::Exact(p) | PathMatch::Template(p) => p.clone(),
            PathMatch::Prefix(p) if p == "/" => "/**".to_owned(),
            PathMatch::Prefix(p) => format!("{p}/**"),
        };
        Self {
            name: Value::from(Arc::<str>::from(route.name.as_str())),
            template: Value::from(Arc::<str>::from(template)),
        }
    }
}

/// The method as the semantic conventions name it; `None` for one they do not know.
fn known_method(method: &http::Method) -> Option<&'static str> {
    use http::Method;
    Some(match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::CONNECT => "CONNECT",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::PATCH => "PATCH",
        _ => return None,
    })
}

fn protocol_version(version: http::Version) -> &'static str {
    match version {
        http::Version::HTTP_09 => "0.9",
        http::Version::HTTP_10 => "1.0",
        http::Version::HTTP_2 => "2",
        http::Version::HTTP_3 => "3",
        _ => "1.1",
    }
}

pub(crate) fn stage_name(stage: Stage) -> &'static str {
    match stage {
        Stage::Legacy => "legacy",
        Stage::Shadow => "shadow",
        Stage::Canary { .. } => "canary",
        Stage::Cutover => "cutover",
    }
}

/// `host[:port]` or `[v6][:port]`, split.
fn split_host(host: &str) -> Option<(&str, Option<u16>)> {
    let (address, port) = match host.strip_prefix('[') {
        Some(v6) => {
            let (address, rest) = v6.split_once(']')?;
            (address, rest.strip_prefix(':'))
        }
        None => match host.rsplit_once(':') {
            Some((address, port)) => (address, Some(port)),
            None => (host, None),
        },
    };
    if address.is_empty() {
        return None;
    }
    Some((address, port.and_then(|p| p.parse().ok())))
}

/// The span processor: a finished, sampled span joins the bounded queue, or
/// is dropped and counted when the queue is full. Never waits.
#[derive(Debug)]
struct Queue {
    spans: mpsc::Sender<SpanData>,
    dropped: Counter,
}

impl SpanProcessor for Queue {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        if span.span_context.is_sampled() && self.spans.try_send(span).is_err() {
            self.dropped.inc();
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        // Flushing is the exporter task's (`Telemetry::flush`), which is async.
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}

/// The exporter task's state.
struct Batches {
    exporter: opentelemetry_otlp::SpanExporter,
    batch: usize,
    interval: Duration,
    exported: Counter,
    failed: Counter,
    failures: FailureLog,
}

impl Batches {
    /// Sends a batch when it fills, when `interval` passes, and when asked to
    /// flush; ends, after sending what is left, once the queue's sender is gone.
    async fn run(
        mut self,
        mut queued: mpsc::Receiver<SpanData>,
        mut flushes: mpsc::UnboundedReceiver<oneshot::Sender<()>>,
    ) {
        let mut pending = Vec::with_capacity(self.batch);
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut flushing = true;
        loop {
            // Below the batch size here: a full batch is sent at once.
            let room = self.batch - pending.len();
            tokio::select! {
                received = queued.recv_many(&mut pending, room) => {
                    if received == 0 {
                        self.send(&mut pending).await;
                        return;
                    }
                    if pending.len() >= self.batch {
                        self.send(&mut pending).await;
                    }
                }
                _ = tick.tick() => self.send(&mut pending).await,
                request = flushes.recv(), if flushing => {
                    let Some(done) = request else {
                        flushing = false;
                        continue;
                    };
                    while let Ok(span) = queued.try_recv() {
                        pending.push(span);
                        if pending.len() >= self.batch {
                            self.send(&mut pending).await;
                        }
                    }
                    self.send(&mut pending).await;
                    let _ = done.send(());
                }
            }
        }
    }

    async fn send(&mut self, pending: &mut Vec<SpanData>) {
        if pending.is_empty() {
            return;
        }
        let count = pending.len() as u64;
        let batch = std::mem::replace(pending, Vec::with_capacity(self.batch));
        match self.exporter.export(batch).await {
            Ok(()) => {
                self.exported.inc_by(count);
                self.failures.recovered();
            }
            Err(err) => {
                self.failed.inc_by(count);
                self.failures.failed(&err.to_string(), count);
            }
        }
    }
}

/// Export failures, logged at most once a minute with how many there were.
#[derive(Debug, Default)]
struct FailureLog {
    last_logged: Option<Instant>,
    /// Failed exports and their spans since the last line.
    unlogged: (u64, u64),
    failing: bool,
}

const FAILURE_LOG_EVERY: Duration = Duration::from_secs(60);

impl FailureLog {
    fn failed(&mut self, error: &str, spans: u64) {
        self.failing = true;
        self.unlogged.0 += 1;
        self.unlogged.1 += spans;
        if self
            .last_logged
            .is_some_and(|at| at.elapsed() < FAILURE_LOG_EVERY)
        {
            return;
        }
        let (exports, spans) = std::mem::take(&mut self.unlogged);
        tracing::warn!(
            error,
            failed_exports = exports,
            spans_lost = spans,
            "the trace collector did not take spans; requests are unaffected (logged at most once a minute)"
        );
        self.last_logged = Some(Instant::now());
    }

    fn recovered(&mut self) {
        if std::mem::take(&mut self.failing) {
            tracing::info!("the trace collector takes spans again");
            self.unlogged = (0, 0);
            self.last_logged = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_split_into_address_and_port() {
        assert_eq!(split_host("shop.example"), Some(("shop.example", None)));
        assert_eq!(
            split_host("shop.example:8443"),
            Some(("shop.example", Some(8443)))
        );
        assert_eq!(split_host("[::1]:80"), Some(("::1", Some(80))));
        assert_eq!(split_host("[::1]"), Some(("::1", None)));
        assert_eq!(split_host(""), None);
    }

    fn telemetry(sample_ratio: f64) -> Arc<Telemetry> {
        let config = crate::config::parse(
            std::path::Path::new("proxy.yaml"),
            &format!(
                "listen: 127.0.0.1:0\nlegacy: m\nupstreams:\n  m:\n    endpoints: [127.0.0.1:1]\ntelemetry:\n  otlp:\n    endpoint: http://127.0.0.1:1\n    sample_ratio: {sample_ratio}\n"
            ),
        )
        .unwrap();
        Telemetry::start(config.telemetry.as_ref().unwrap(), &Metrics::new()).unwrap()
    }

    #[tokio::test]
    async fn sampling_follows_the_caller_and_the_ratio_decides_new_traces() {
        let never = telemetry(0.0);
        let new = never.server_span(None);
        assert!(!new.span.is_recording());
        let sent = new.traceparent();
        assert!(sent.to_str().unwrap().ends_with("-00"), "{sent:?}");

        let caller = (
            0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736,
            0x00f0_67aa_0ba9_02b7,
            1,
        );
        let continued = never.server_span(Some(caller));
        assert!(
            continued.span.is_recording(),
            "a sampled caller is followed"
        );
        let sent = continued.traceparent();
        let sent = sent.to_str().unwrap();
        assert!(
            sent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-") && sent.ends_with("-01"),
            "{sent}"
        );
        assert!(
            !sent.contains("00f067aa0ba902b7"),
            "the parent is the proxy's span: {sent}"
        );

        let always = telemetry(1.0);
        assert!(always.server_span(None).span.is_recording());
        let unsampled_caller = (caller.0, caller.1, 0);
        let skipped = always.server_span(Some(unsampled_caller));
        assert!(
            !skipped.span.is_recording(),
            "an unsampled caller is followed"
        );
        assert!(skipped.traceparent().to_str().unwrap().ends_with("-00"));
    }

    #[test]
    fn a_prefix_route_is_named_by_its_template() {
        let config = crate::config::parse(
            std::path::Path::new("proxy.yaml"),
            "listen: 127.0.0.1:0\nlegacy: m\nupstreams:\n  m:\n    endpoints: [127.0.0.1:1]\nroutes:\n  - name: users\n    prefix: /api/users/\n    upstream: m\n",
        )
        .unwrap();
        let trace = RouteTrace::new(&config.routes[0]);
        assert_eq!(trace.template.as_str(), "/api/users/**");
        assert_eq!(trace.name.as_str(), "users");
    }
}
