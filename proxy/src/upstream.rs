//! Upstreams: keep-alive connection pools to a set of endpoints, endpoint
//! choice, and timeouts.
//!
//! Plain HTTP/1.1 upstreams, the common case inside a cluster, are spoken to
//! directly ([`h1`]) over this crate's own pools; TLS and HTTP/2 upstreams go
//! through hyper's pooled client.

mod h1;
mod pool;
mod raw_head;

pub(crate) use raw_head::{Heads, RawHead};

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::uri::{Authority, Scheme, Uri};
use http::{Method, Request, Response};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::body::{BodyError, ProxyBody};
use crate::config::{Balance, CircuitConfig, Protocol, UpstreamConfig};
use crate::headers::Added;
use crate::metrics::Metrics;

/// One upstream with its connection pool.
#[derive(Debug)]
pub(crate) struct Upstream {
    /// Its name in the configuration.
    pub(crate) name: String,
    endpoints: Vec<Endpoint>,
    balance: Balance,
    next: AtomicUsize,
    request_timeout: Duration,
    client: Client<HttpsConnector<HttpConnector>, ProxyBody>,
    scheme: Scheme,
    version: http::Version,
    circuit: Circuit,
    metrics: Arc<Metrics>,
    /// The configuration it was built from, to reuse its pool across reloads.
    pub(crate) config: UpstreamConfig,
}

#[derive(Debug)]
struct Endpoint {
    authority: Authority,
    in_flight: Arc<AtomicUsize>,
    /// Idle connections, for upstreams spoken to directly.
    pool: Arc<pool::Pool>,
}

/// Idle connections kept per endpoint at most; more are closed when returned.
const MAX_IDLE_PER_ENDPOINT: usize = 1024;

/// A response body from an upstream.
#[derive(Debug)]
pub(crate) enum UpstreamBody {
    /// Read straight from a connection of this crate's pool.
    Direct(h1::ResponseBody),
    /// From hyper's client (TLS and HTTP/2 upstreams).
    Hyper(Incoming),
}

impl UpstreamBody {
    /// The response's headers, if they were kept raw ([`Heads::Raw`]).
    pub(crate) fn take_raw(&mut self) -> Option<RawHead> {
        match self {
            Self::Direct(body) => body.take_raw(),
            Self::Hyper(_) => None,
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match self.get_mut() {
            Self::Direct(body) => Pin::new(body).poll_frame(cx),
            Self::Hyper(body) => Pin::new(body)
                .poll_frame(cx)
                .map(|frame| frame.map(|frame| frame.map_err(Into::into))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Direct(body) => body.is_end_stream(),
            Self::Hyper(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Direct(body) => body.size_hint(),
            Self::Hyper(body) => body.size_hint(),
        }
    }
}

/// Why an upstream gave no response.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpstreamError {
    /// No connection: refused, unreachable, or the connect timeout passed.
    #[error("upstream `{upstream}` ({endpoint}) could not be reached: {reason}")]
    Connect {
        /// The upstream's name.
        upstream: String,
        /// The endpoint tried.
        endpoint: Authority,
        /// What happened.
        reason: String,
    },
    /// No response head within the request timeout.
    #[error("upstream `{upstream}` ({endpoint}) did not answer within {after:?}")]
    Timeout {
        /// The upstream's name.
        upstream: String,
        /// The endpoint tried.
        endpoint: Authority,
        /// The timeout.
        after: Duration,
    },
    /// Its circuit is open: it failed too often lately and is left alone for a while.
    #[error("upstream `{upstream}` is failing; its circuit is open for a while")]
    CircuitOpen {
        /// The upstream's name.
        upstream: String,
    },
    /// The connection broke or the response was malformed.
    #[error("upstream `{upstream}` ({endpoint}) failed: {reason}")]
    Failed {
        /// The upstream's name.
        upstream: String,
        /// The endpoint tried.
        endpoint: Authority,
        /// What happened.
        reason: String,
    },
}

impl UpstreamError {
    /// Whether the request surely never reached the upstream's application, or
    /// the upstream is too slow: the cases where falling back is allowed.
    pub(crate) fn allows_fallback(&self) -> bool {
        matches!(
            self,
            Self::Connect { .. } | Self::Timeout { .. } | Self::CircuitOpen { .. }
        )
    }

    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Connect { .. } => "connect",
            Self::Timeout { .. } => "timeout",
            Self::CircuitOpen { .. } => "circuit_open",
            Self::Failed { .. } => "failed",
        }
    }
}

impl Upstream {
    /// An upstream with an empty pool.
    pub(crate) fn new(config: &UpstreamConfig, metrics: Arc<Metrics>) -> Self {
        // Exported as closed from the start (a new table starts every circuit
        // closed), so a dashboard tells "closed" from "never reported".
        metrics.circuit(&config.name, false);
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(config.connect_timeout));
        http.set_nodelay(true);
        http.enforce_http(false);
        let ca = config.tls.as_ref().and_then(|tls| tls.ca.as_deref());
        let tls = crate::tls::client_config(ca).unwrap_or_else(|err| {
            // Checked when the configuration was loaded; the system's store could
            // only have changed since. Requests to TLS endpoints will fail verification.
            tracing::error!(upstream = %config.name, error = %err, "no TLS roots");
            crate::tls::client_config_without_roots()
        });
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let mut builder = Client::builder(TokioExecutor::new());
        builder
            .http1_writev(false)
            .pool_idle_timeout(config.idle_timeout)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new());
        if config.protocol == Protocol::Http2 {
            builder.http2_only(true);
        }
        let client = builder.build(connector);
        Self {
            name: config.name.clone(),
            endpoints: config
                .endpoints
                .iter()
                .map(|authority| Endpoint {
                    authority: authority.clone(),
                    in_flight: Arc::new(AtomicUsize::new(0)),
                    pool: Arc::new(pool::Pool::new(config.idle_timeout, MAX_IDLE_PER_ENDPOINT)),
                })
                .collect(),
            balance: config.balance,
            next: AtomicUsize::new(0),
            request_timeout: config.request_timeout,
            client,
            scheme: if config.tls.is_some() {
                Scheme::HTTPS
            } else {
                Scheme::HTTP
            },
            version: match config.protocol {
                Protocol::Http1 => http::Version::HTTP_11,
                Protocol::Http2 => http::Version::HTTP_2,
            },
            circuit: Circuit::new(config.circuit),
            metrics,
            config: config.clone(),
        }
    }

    /// Whether the circuit is open and not yet due for a probe: requests now
    /// would be refused at once.
    pub(crate) fn refusing(&self) -> bool {
        self.circuit.refusing()
    }

    /// Sends a request (whose URI holds the path and query) to one endpoint,
    /// unless the circuit is open.
    /// `added` are headers to send beside the request's own (see [`Added`]).
    /// `heads`: whether the caller takes a plain HTTP/1.1 upstream's headers
    /// raw (the response's map then starts empty; see [`RawHead`]).
    ///
    /// The head comes apart from the body and is moved in once: every layer
    /// of async functions keeps its own copy of what it is given, and a
    /// request head is a quarter of a kilobyte.
    pub(crate) async fn send(
        &self,
        parts: http::request::Parts,
        body: ProxyBody,
        added: Option<&Added>,
        heads: Heads,
    ) -> Result<Response<UpstreamBody>, UpstreamError> {
        let admission = self.circuit.admit();
        if admission == Admission::Refused {
            self.metrics.upstream_error(&self.name, "circuit_open");
            return Err(UpstreamError::CircuitOpen {
                upstream: self.name.clone(),
            });
        }
        let endpoint = self.pick();
        endpoint.in_flight.fetch_add(1, Ordering::Relaxed);
        let in_flight = InFlight(&endpoint.in_flight);
        let answer = if self.scheme == Scheme::HTTP && self.version == http::Version::HTTP_11 {
            self.send_direct(endpoint, &parts, body, added, heads).await
        } else {
            let mut request = Request::from_parts(parts, body);
            if let Some(added) = added {
                added.apply(request.headers_mut());
            }
            tokio::time::timeout(self.request_timeout, self.send_hyper(endpoint, request))
                .await
                .unwrap_or_else(|_| Err(self.timed_out(endpoint)))
        };
        drop(in_flight);
        let healthy = match &answer {
            Ok(response) => !matches!(response.status().as_u16(), 502..=504),
            Err(_) => false,
        };
        if let Some(open) = self.circuit.record(healthy, admission == Admission::Probe) {
            self.metrics.circuit(&self.name, open);
            if open {
                tracing::warn!(upstream = %self.name, "circuit opened after repeated failures");
            } else {
                tracing::info!(upstream = %self.name, "circuit closed: the probe succeeded");
            }
        }
        if let Err(err) = &answer {
            self.metrics.upstream_error(&self.name, err.kind());
        }
        answer
    }

    fn timed_out(&self, endpoint: &Endpoint) -> UpstreamError {
        UpstreamError::Timeout {
            upstream: self.name.clone(),
            endpoint: endpoint.authority.clone(),
            after: self.request_timeout,
        }
    }

    /// Over a connection of this crate's pool, within the request timeout
    /// (kept by the connection's own timer, see `h1::exchange`). A bodyless
    /// read whose reused connection turned out closed before any answer is
    /// sent again, once, on a fresh connection: the upstream cannot have
    /// acted on it.
    async fn send_direct(
        &self,
        endpoint: &Endpoint,
        parts: &http::request::Parts,
        mut body: ProxyBody,
        added: Option<&Added>,
        heads: Heads,
    ) -> Result<Response<UpstreamBody>, UpstreamError> {
        let until = tokio::time::Instant::now() + self.request_timeout;
        let host = parts
            .uri
            .authority()
            .map_or(endpoint.authority.as_str(), Authority::as_str);
        let replayable = body.is_end_stream()
            && matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        let pool = &endpoint.pool;
        let terms = h1::Terms {
            host,
            added,
            until,
            heads,
        };
        if let Some(conn) = pool.take() {
            match h1::exchange(conn, parts, &mut body, terms, pool).await {
                Ok(response) => return Ok(response.map(UpstreamBody::Direct)),
                Err(err) if err.before_response && replayable => {
                    tracing::debug!(upstream = %self.name, reason = %err.reason, "a kept-alive connection was closed; sending again on a new one");
                }
                Err(err) => return Err(self.exchange_failed(endpoint, err)),
            }
        }
        // Boxed: connecting is rare, and its future would otherwise widen
        // every request's.
        let conn = Box::pin(tokio::time::timeout_at(until, self.connect(endpoint)))
            .await
            .map_err(|_| self.timed_out(endpoint))??;
        h1::exchange(conn, parts, &mut body, terms, pool)
            .await
            .map(|response| response.map(UpstreamBody::Direct))
            .map_err(|err| self.exchange_failed(endpoint, err))
    }

    fn exchange_failed(&self, endpoint: &Endpoint, err: h1::ExchangeError) -> UpstreamError {
        if err.timed_out {
            self.timed_out(endpoint)
        } else {
            self.failed(endpoint, err.reason)
        }
    }

    async fn connect(&self, endpoint: &Endpoint) -> Result<h1::Conn, UpstreamError> {
        let unreachable = |reason: String| UpstreamError::Connect {
            upstream: self.name.clone(),
            endpoint: endpoint.authority.clone(),
            reason,
        };
        let connecting = tokio::net::TcpStream::connect(endpoint.authority.as_str());
        match tokio::time::timeout(self.config.connect_timeout, connecting).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                Ok(h1::Conn::new(stream))
            }
            Ok(Err(err)) => Err(unreachable(err.to_string())),
            Err(_) => Err(unreachable(format!(
                "no connection within {:?}",
                self.config.connect_timeout
            ))),
        }
    }

    fn failed(&self, endpoint: &Endpoint, reason: String) -> UpstreamError {
        UpstreamError::Failed {
            upstream: self.name.clone(),
            endpoint: endpoint.authority.clone(),
            reason,
        }
    }

    /// Through hyper's pooled client (TLS or HTTP/2 upstreams).
    async fn send_hyper(
        &self,
        endpoint: &Endpoint,
        mut request: Request<ProxyBody>,
    ) -> Result<Response<UpstreamBody>, UpstreamError> {
        let mut parts = request.uri().clone().into_parts();
        parts.scheme = Some(self.scheme.clone());
        parts.authority = Some(endpoint.authority.clone());
        if parts.path_and_query.is_none() {
            parts.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
        }
        *request.uri_mut() = Uri::from_parts(parts).expect("scheme, authority and path make a URI");
        // The client may speak h2 to us and the upstream HTTP/1.1, or the reverse.
        *request.version_mut() = self.version;
        match self.client.request(request).await {
            Ok(response) => Ok(response.map(UpstreamBody::Hyper)),
            Err(err) if err.is_connect() => Err(UpstreamError::Connect {
                upstream: self.name.clone(),
                endpoint: endpoint.authority.clone(),
                reason: source_text(&err),
            }),
            Err(err) => Err(self.failed(endpoint, source_text(&err))),
        }
    }

    fn pick(&self) -> &Endpoint {
        match self.balance {
            Balance::RoundRobin => {
                let i = self.next.fetch_add(1, Ordering::Relaxed) % self.endpoints.len();
                &self.endpoints[i]
            }
            Balance::LeastRequests => self
                .endpoints
                .iter()
                .min_by_key(|e| e.in_flight.load(Ordering::Relaxed))
                .expect("an upstream has at least one endpoint"),
        }
    }
}

/// Whether a request may go to the upstream now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admission {
    /// The circuit is closed.
    Allowed,
    /// The circuit has been open long enough: this one request tests the upstream.
    Probe,
    /// The circuit is open.
    Refused,
}

/// A circuit breaker shared by every request to one upstream, lock-free.
#[derive(Debug)]
struct Circuit {
    config: CircuitConfig,
    failures: AtomicU32,
    /// Milliseconds since `epoch()` when it opened; 0 while closed.
    opened_at: AtomicU64,
    probing: AtomicBool,
}

impl Circuit {
    fn new(config: CircuitConfig) -> Self {
        Self {
            config,
            failures: AtomicU32::new(0),
            opened_at: AtomicU64::new(0),
            probing: AtomicBool::new(false),
        }
    }

    fn refusing(&self) -> bool {
        let opened = self.opened_at.load(Ordering::Acquire);
        let open_for = u64::try_from(self.config.open_for.as_millis()).unwrap_or(u64::MAX);
        opened != 0 && now_ms().saturating_sub(opened) < open_for
    }

    fn admit(&self) -> Admission {
        let opened = self.opened_at.load(Ordering::Acquire);
        if opened == 0 {
            return Admission::Allowed;
        }
        let open_for = u64::try_from(self.config.open_for.as_millis()).unwrap_or(u64::MAX);
        if now_ms().saturating_sub(opened) < open_for {
            return Admission::Refused;
        }
        // One probe at a time; the others are still refused.
        match self
            .probing
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => Admission::Probe,
            Err(_) => Admission::Refused,
        }
    }

    /// Records an outcome; returns `Some(open)` when the circuit changed state.
    fn record(&self, healthy: bool, probe: bool) -> Option<bool> {
        if healthy {
            self.failures.store(0, Ordering::Release);
            self.probing.store(false, Ordering::Release);
            return (self.opened_at.swap(0, Ordering::AcqRel) != 0).then_some(false);
        }
        if probe {
            // Still failing: open for another period.
            self.opened_at.store(now_ms(), Ordering::Release);
            self.probing.store(false, Ordering::Release);
            return None;
        }
        let failures = self.failures.fetch_add(1, Ordering::AcqRel) + 1;
        let threshold = self.config.consecutive_failures;
        if threshold > 0 && failures >= threshold {
            let opened =
                self.opened_at
                    .compare_exchange(0, now_ms(), Ordering::AcqRel, Ordering::Acquire);
            return opened.is_ok().then_some(true);
        }
        None
    }
}

/// Milliseconds on tokio's clock (so tests can pause time), never 0.
fn now_ms() -> u64 {
    static EPOCH: std::sync::OnceLock<tokio::time::Instant> = std::sync::OnceLock::new();
    let epoch = *EPOCH.get_or_init(|| tokio::time::Instant::now() - Duration::from_millis(1));
    u64::try_from(epoch.elapsed().as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The innermost cause, which says what really happened ("Connection refused").
fn source_text(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn circuit(failures: u32) -> Circuit {
        Circuit::new(CircuitConfig {
            consecutive_failures: failures,
            open_for: Duration::from_secs(10),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn consecutive_failures_open_the_circuit_and_a_good_probe_closes_it() {
        let c = circuit(3);
        assert_eq!(c.record(false, false), None);
        assert_eq!(c.record(true, false), None, "a success resets the count");
        assert_eq!(c.record(false, false), None);
        assert_eq!(c.record(false, false), None);
        assert_eq!(
            c.record(false, false),
            Some(true),
            "third failure in a row opens it"
        );
        assert_eq!(c.admit(), Admission::Refused);

        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(c.admit(), Admission::Probe);
        assert_eq!(c.admit(), Admission::Refused, "one probe at a time");
        assert_eq!(
            c.record(true, true),
            Some(false),
            "the probe succeeded: closed"
        );
        assert_eq!(c.admit(), Admission::Allowed);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_probe_keeps_it_open_for_another_period() {
        let c = circuit(1);
        assert_eq!(c.record(false, false), Some(true));
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(c.admit(), Admission::Probe);
        assert_eq!(c.record(false, true), None);
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(c.admit(), Admission::Refused);
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(c.admit(), Admission::Probe);
    }

    #[test]
    fn zero_failures_means_never_open() {
        let c = circuit(0);
        for _ in 0..100 {
            assert_eq!(c.record(false, false), None);
        }
        assert_eq!(c.admit(), Admission::Allowed);
    }
}
