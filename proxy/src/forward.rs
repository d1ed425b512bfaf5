//! One request through the proxy: refuse what is ambiguous, find the route,
//! pick the side, forward, fall back when allowed, answer errors as JSON.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Body as _;
use serde_json::json;
use tokio::sync::oneshot;

use crate::body::{self, ClientBody, ProxyBody};
use crate::config::{PathMatch, ProxyConfig, Stage};
use crate::headers;
use crate::metrics::{Metrics, RouteMetrics, Side, UNCLAIMED};
use crate::routes::RouteTable;
use crate::shadow::{Captured, Job, Mirror, RouteSlot, Tee};
use crate::split;
use crate::telemetry::{RequestFacts, RouteTrace, Telemetry};
use crate::upstream::{Heads, RawHead, Upstream, UpstreamBody, UpstreamError};

/// An immutable snapshot of everything a request needs: the route table, each
/// route's stage, the upstream pools and the metric handles. A reload or a
/// stage change builds a new snapshot and swaps it in; requests in flight
/// finish on the one they started with.
#[derive(Debug)]
pub struct Proxy {
    config: ProxyConfig,
    table: RouteTable,
    upstreams: HashMap<String, Arc<Upstream>>,
    /// Each route's new upstream and the legacy one, resolved once per
    /// snapshot rather than hashed per request.
    route_upstreams: Vec<Arc<Upstream>>,
    /// Each route's noise baseline (a second legacy instance), if it has one.
    route_baselines: Vec<Option<Arc<Upstream>>>,
    /// Copies of each route queued or in flight now, kept across reloads by route name.
    route_in_flight: Vec<Arc<AtomicUsize>>,
    legacy: Arc<Upstream>,
    /// The stage each route is in, by route index.
    stages: Vec<Stage>,
    route_metrics: Vec<RouteMetrics>,
    unclaimed: RouteMetrics,
    /// Where shadow-stage routes send their copies; without one they act as legacy.
    mirror: Option<Arc<Mirror>>,
    /// Traces, when configured (`telemetry.otlp`); without it requests make no spans.
    telemetry: Option<Arc<Telemetry>>,
    /// Each route as its spans name it (empty without telemetry).
    route_traces: Vec<RouteTrace>,
}

impl Proxy {
    /// A snapshot with the configuration's stages and metrics of its own.
    /// It makes no spans: traces are started by [`Live`](crate::Live).
    pub fn new(config: ProxyConfig) -> Self {
        Self::build(
            config,
            &BTreeMap::new(),
            &Arc::new(Metrics::new()),
            None,
            None,
            None,
        )
    }

    /// A snapshot where `saved` stages override the configuration's, reusing
    /// the connection pools of `previous` for upstreams whose settings did not change.
    pub(crate) fn build(
        config: ProxyConfig,
        saved: &BTreeMap<String, Stage>,
        metrics: &Arc<Metrics>,
        previous: Option<&Proxy>,
        mirror: Option<Arc<Mirror>>,
        telemetry: Option<Arc<Telemetry>>,
    ) -> Self {
        let table = RouteTable::new(&config.routes)
            .expect("a resolved configuration has a valid route table");
        let upstreams: HashMap<String, Arc<Upstream>> = config
            .upstreams
            .iter()
            .map(|u| {
                let kept = previous
                    .and_then(|p| p.upstreams.get(&u.name))
                    .filter(|old| old.config == *u);
                let upstream = kept
                    .cloned()
                    .unwrap_or_else(|| Arc::new(Upstream::new(u, Arc::clone(metrics))));
                (u.name.clone(), upstream)
            })
            .collect();
        let route_upstreams = config
            .routes
            .iter()
            .map(|r| Arc::clone(&upstreams[&r.upstream]))
            .collect();
        let route_baselines = config
            .routes
            .iter()
            .map(|r| {
                r.shadow
                    .noise_baseline
                    .as_ref()
                    .map(|name| Arc::clone(&upstreams[name]))
            })
            .collect();
        let route_in_flight = config
            .routes
            .iter()
            .map(|r| {
                let kept = previous.and_then(|p| {
                    let index = p.config.routes.iter().position(|old| old.name == r.name)?;
                    Some(Arc::clone(&p.route_in_flight[index]))
                });
                kept.unwrap_or_default()
            })
            .collect();
        let legacy = Arc::clone(&upstreams[&config.legacy]);
        let stages: Vec<Stage> = config
            .routes
            .iter()
            .map(|r| saved.get(&r.name).copied().unwrap_or(r.stage))
            .collect();
        let route_metrics = config
            .routes
            .iter()
            .zip(&stages)
            .map(|(route, stage)| {
                let handles = metrics.route(&route.name, &config.legacy, &route.upstream);
                handles.set_weight(match stage {
                    Stage::Legacy | Stage::Shadow => 0,
                    Stage::Canary { weight_bp } => *weight_bp,
                    Stage::Cutover => 10_000,
                });
                handles
            })
            .collect();
        let unclaimed = metrics.route(UNCLAIMED, &config.legacy, &config.legacy);
        let route_traces = if telemetry.is_some() {
            config.routes.iter().map(RouteTrace::new).collect()
        } else {
            Vec::new()
        };
        Self {
            config,
            table,
            upstreams,
            route_upstreams,
            route_baselines,
            route_in_flight,
            legacy,
            stages,
            route_metrics,
            unclaimed,
            mirror,
            telemetry,
            route_traces,
        }
    }

    /// The tracer this snapshot's requests use, if any.
    pub(crate) fn telemetry(&self) -> Option<&Arc<Telemetry>> {
        self.telemetry.as_ref()
    }

    /// The stage of a route, by name.
    pub fn stage(&self, route: &str) -> Option<Stage> {
        let index = self.config.routes.iter().position(|r| r.name == route)?;
        Some(self.stages[index])
    }

    /// Every route with its stage and live counters, for the admin API.
    pub(crate) fn routes_view(&self) -> serde_json::Value {
        let routes: Vec<serde_json::Value> = self
            .config
            .routes
            .iter()
            .zip(&self.stages)
            .zip(&self.route_metrics)
            .map(|((route, stage), metrics)| {
                let path = match &route.path {
                    PathMatch::Exact(p) | PathMatch::Template(p) => p.clone(),
                    PathMatch::Prefix(p) => format!("{p}/**"),
                };
                json!({
                    "name": route.name,
                    "methods": route.methods.as_ref().map(|m| m.iter().map(Method::as_str).collect::<Vec<_>>()),
                    "host": route.host,
                    "path": path,
                    "upstream": route.upstream,
                    "stage": stage,
                    "fallback": route.fallback,
                    "requests": metrics.counts(),
                })
            })
            .collect();
        json!({ "legacy": self.config.legacy, "routes": routes, "unclaimed": self.unclaimed.counts() })
    }

    /// The configuration this snapshot serves.
    pub fn config(&self) -> &ProxyConfig {
        &self.config
    }

    /// Serves one client request that arrived over `scheme` (`http` or `https`).
    /// Takes the snapshot itself, so that this future is the request's whole
    /// future rather than moved into another one.
    ///
    /// `heads`: whether the caller can write an upstream's header lines
    /// through ([`Answer::raw`]); they are kept raw unless a `Via` header
    /// is added to them (a mirrored answer's copy keeps the raw lines too).
    pub(crate) async fn handle(
        self: Arc<Self>,
        request: Request<ClientBody>,
        client: SocketAddr,
        scheme: &'static str,
        heads: Heads,
    ) -> Answer {
        let path = request.uri().path();
        if ambiguous(path) {
            return error(
                StatusCode::BAD_REQUEST,
                "AMBIGUOUS_PATH",
                "the path has dot segments, encoded slashes or backslashes; send it normalised",
            )
            .into();
        }
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let max_body = self.config.limits.max_body_bytes;
        if declared.is_some_and(|len| len > max_body) {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "BODY_TOO_LARGE",
                format!("request bodies are limited to {max_body} bytes"),
            )
            .into();
        }

        let started = Instant::now();
        // Only routes bound to a host need it: skip the work otherwise.
        let host = if self.table.has_hosts() {
            host_of(request.headers(), request.uri())
        } else {
            None
        };
        let route = self.table.lookup(request.method(), host.as_deref(), path);
        let (side, fallback) = self.side_for(route, request.headers(), client);
        let metrics = route.map_or(&self.unclaimed, |id| &self.route_metrics[id]);
        let access = self
            .config
            .access_log
            .then(|| (request.method().clone(), path.to_owned()));

        let (mut parts, incoming) = request.into_parts();
        // Asked of the body itself: a chunked body declares no length, and
        // its Transfer-Encoding header is gone once the head is cleaned.
        let bodyless = incoming.is_end_stream();
        let mut added = headers::to_upstream(
            &mut parts.headers,
            parts.uri.authority(),
            client.ip(),
            scheme,
        );
        // The server span, parented on the caller's (valid) traceparent; the
        // upstream gets this span as its parent.
        let mut span = self.telemetry.as_deref().map(|telemetry| {
            let mut span = telemetry.server_span(headers::traceparent_of(&parts.headers));
            span.describe(&RequestFacts {
                parts: &parts,
                scheme,
                client: client.ip(),
                route: route.map(|id| &self.route_traces[id]),
                stage: route.map(|id| self.stages[id]),
            });
            added.set_traceparent(&mut parts.headers, span.traceparent());
            span
        });
        if self.config.via {
            headers::add_via(&mut parts.headers);
        }
        let upstream = match (side, route) {
            (Side::New, Some(id)) => &self.route_upstreams[id],
            _ => &self.legacy,
        };
        // Only a request without a body can be sent twice; keep its head for that.
        let replay = (fallback && bodyless && idempotent(&parts.method)).then(|| parts.clone());

        // In the canary stage, what the monolith still serves keeps being
        // mirrored and compared, so behaviour evidence goes on until cutover.
        let compared_stage = |id: usize| match self.stages[id] {
            Stage::Shadow => true,
            Stage::Canary { .. } => side == Side::Legacy && self.config.routes[id].shadow.in_canary,
            Stage::Legacy | Stage::Cutover => false,
        };
        let shadowed = route.filter(|id| compared_stage(*id) && self.mirrored(*id, &parts, client));
        let (body, keep_copy) = match (shadowed, &self.mirror) {
            (Some(id), Some(mirror)) => match self
                .mirror_request(id, mirror, &parts, &added, incoming)
                .await
            {
                Ok(split) => split,
                Err(response) => {
                    if let Some(span) = span {
                        span.finish(response.status().as_u16(), side, &upstream.name, None);
                    }
                    return response.into();
                }
            },
            _ => (
                body::boxed(Limited::new(
                    incoming,
                    usize::try_from(max_body).unwrap_or(usize::MAX),
                )),
                None,
            ),
        };
        let heads = if self.config.via { Heads::Map } else { heads };
        let mut served_by = side;
        let answer = match (
            upstream.send(parts, body, Some(&added), heads).await,
            replay,
        ) {
            (Err(err), Some(parts)) if err.allows_fallback() => {
                tracing::warn!(error = %err, route = route.map(|id| self.config.routes[id].name.as_str()), "falling back to legacy");
                metrics.fallback();
                if let Some(span) = &mut span {
                    span.fell_back(&err);
                }
                served_by = Side::Legacy;
                // Boxed: a fallback is rare, and its future would otherwise
                // widen every request's.
                Box::pin(self.legacy.send(parts, body::empty(), Some(&added), heads)).await
            }
            (answer, _) => answer,
        };
        let mut failure = None;
        let (response, raw) = match answer {
            Ok(response) => self.to_client(response, keep_copy),
            Err(err) => {
                let response = upstream_error(&err);
                failure = Some(err);
                (response, None)
            }
        };
        let elapsed = started.elapsed();
        metrics.observe(served_by, response.status().as_u16(), elapsed);
        if let Some((method, path)) = access {
            tracing::info!(
                target: "msa_proxy::access",
                %client, %method, path, status = response.status().as_u16(),
                route = route.map_or(UNCLAIMED, |id| self.config.routes[id].name.as_str()),
                side = ?served_by, micros = elapsed.as_micros() as u64,
                "request"
            );
        }
        if let Some(span) = span {
            let served = match served_by {
                Side::New => upstream,
                Side::Legacy => &self.legacy,
            };
            span.finish(
                response.status().as_u16(),
                served_by,
                &served.name,
                failure.as_ref(),
            );
        }
        Answer { response, raw }
    }
}

/// What serving a request gave: the response, and the upstream's header
/// lines when they were kept raw, to be written before the response's own.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) response: Response<ProxyBody>,
    pub(crate) raw: Option<RawHead>,
}

impl From<Response<ProxyBody>> for Answer {
    fn from(response: Response<ProxyBody>) -> Self {
        Self {
            response,
            raw: None,
        }
    }
}

impl Answer {
    /// The response with every header in its map, as hyper writes it.
    pub(crate) fn into_response(self) -> Response<ProxyBody> {
        let Self { mut response, raw } = self;
        if let Some(raw) = raw {
            let mut headers = HeaderMap::new();
            match raw.into_map(&mut headers) {
                Ok(()) => {
                    headers.extend(std::mem::take(response.headers_mut()));
                    *response.headers_mut() = headers;
                }
                // The parser checked every line already; never seen.
                Err(reason) => return error(StatusCode::BAD_GATEWAY, "UPSTREAM_FAILED", reason),
            }
        }
        response
    }
}

impl Proxy {
    /// Which side serves a request, and whether it may fall back to legacy.
    fn side_for(
        &self,
        route: Option<usize>,
        headers: &http::HeaderMap,
        client: SocketAddr,
    ) -> (Side, bool) {
        let Some(id) = route else {
            return (Side::Legacy, false);
        };
        let config = &self.config.routes[id];
        match self.stages[id] {
            Stage::Legacy | Stage::Shadow => (Side::Legacy, false),
            Stage::Canary { weight_bp } => {
                let user = config.sticky.extract(headers, client.ip());
                let on_new = split::to_new(weight_bp, &config.split_seed, &user);
                (if on_new { Side::New } else { Side::Legacy }, false)
            }
            Stage::Cutover => (Side::New, config.fallback),
        }
    }

    /// The upstream's answer as the client gets it: hop-by-hop headers gone,
    /// and, for a mirrored request, a capped copy kept for the comparison
    /// while the body streams unchanged.
    fn to_client(
        &self,
        response: Response<UpstreamBody>,
        keep_copy: Option<(oneshot::Sender<Captured>, usize)>,
    ) -> (Response<ProxyBody>, Option<RawHead>) {
        let (mut parts, mut incoming) = response.into_parts();
        let raw = incoming.take_raw();
        headers::to_client(&mut parts.headers);
        let body = match keep_copy {
            Some((done, cap)) => body::boxed(Tee::new(
                body::boxed(incoming),
                (parts.status, parts.headers.clone(), raw.clone()),
                cap,
                done,
            )),
            None => body::boxed(incoming),
        };
        if self.config.via {
            headers::add_via(&mut parts.headers);
        }
        (Response::from_parts(parts, body), raw)
    }

    /// Whether this request of a shadow-stage route is mirrored: its method
    /// is allowed and its user is in the sample (sticky, like the canary split).
    fn mirrored(&self, id: usize, parts: &http::request::Parts, client: SocketAddr) -> bool {
        let route = &self.config.routes[id];
        let shadow = &route.shadow;
        if !shadow.methods.contains(&parts.method) {
            return false;
        }
        shadow.sample_bp >= 10_000 || {
            let user = route.sticky.extract(&parts.headers, client.ip());
            split::to_new(shadow.sample_bp, &route.split_seed, &user)
        }
    }

    /// Queues the copy of a request for the new service and returns the body
    /// for the monolith, plus where the monolith's answer goes to be compared.
    /// A body is read once (it is at most the route's cap) so both get it; a
    /// larger or unsized one is not mirrored.
    async fn mirror_request(
        &self,
        id: usize,
        mirror: &Mirror,
        parts: &http::request::Parts,
        added: &headers::Added,
        incoming: ClientBody,
    ) -> Result<(ProxyBody, Option<(oneshot::Sender<Captured>, usize)>), Response<ProxyBody>> {
        let route = &self.config.routes[id];
        let bodyless = incoming.is_end_stream();
        // The Content-Length a client declared, as hyper framed its body.
        let declared = incoming.size_hint().exact();
        let max = usize::try_from(self.config.limits.max_body_bytes).unwrap_or(usize::MAX);
        // While the new service's circuit is open a copy would only be refused:
        // skip the copying altogether.
        if self.route_upstreams[id].refusing() {
            mirror.skip(&route.name, parts, "circuit_open");
            return Ok((body::boxed(Limited::new(incoming, max)), None));
        }
        let Some(slot) = RouteSlot::take(&self.route_in_flight[id], route.shadow.max_in_flight)
        else {
            mirror.skip(&route.name, parts, "route_full");
            return Ok((body::boxed(Limited::new(incoming, max)), None));
        };
        let cap = route.shadow.max_body_bytes;
        let cap_usize = usize::try_from(cap).unwrap_or(usize::MAX);
        if !bodyless && declared.is_none_or(|len| len > cap) {
            mirror.skip(&route.name, parts, "body_too_large");
            return Ok((body::boxed(Limited::new(incoming, max)), None));
        }
        let Some(place) = mirror.reserve() else {
            mirror.skip(&route.name, parts, "queue_full");
            return Ok((body::boxed(Limited::new(incoming, max)), None));
        };
        let bytes = if bodyless {
            Bytes::new()
        } else {
            match Limited::new(incoming, cap_usize).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(_) => {
                    return Err(error(
                        StatusCode::BAD_REQUEST,
                        "BODY_UNREADABLE",
                        "the request body could not be read",
                    ));
                }
            }
        };
        // The added headers go beside the copy's own, as the primary's do:
        // putting them into its map would cost a rehash per copy.
        let mut copy = parts.clone();
        if let Some(host) = route
            .shadow
            .host
            .as_deref()
            .and_then(|h| header::HeaderValue::from_str(h).ok())
        {
            copy.headers.insert(header::HOST, host);
        }
        let (done, primary) = oneshot::channel();
        let job = Job {
            route: Arc::from(route.name.as_str()),
            request: Request::from_parts(copy, bytes.clone()),
            added: added.for_mirror(),
            upstream: Arc::clone(&self.route_upstreams[id]),
            baseline: self.route_baselines[id].clone(),
            timeout: route.shadow.timeout,
            max_body: cap_usize,
            primary,
            slot,
        };
        place.queue(job);
        Ok((body::full(bytes), Some((done, cap_usize))))
    }
}

/// Paths an upstream might read differently from the proxy: dot segments,
/// encoded slashes, dots or backslashes, raw backslashes. Refused, never guessed.
fn ambiguous(path: &str) -> bool {
    let bytes = path.as_bytes();
    let dot_segment = |segment: &[u8]| segment == b"." || segment == b"..";
    let mut segment_start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'\\' => return true,
            b'%' => {
                let code = bytes.get(i + 1..i + 3).map(<[u8]>::to_ascii_lowercase);
                if matches!(code.as_deref(), Some(b"2f" | b"2e" | b"5c" | b"00")) {
                    return true;
                }
            }
            b'/' => {
                if dot_segment(&bytes[segment_start..i]) {
                    return true;
                }
                segment_start = i + 1;
            }
            _ => {}
        }
    }
    dot_segment(&bytes[segment_start..])
}

fn idempotent(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The request's host, lowercase, without port.
fn host_of(headers: &HeaderMap, uri: &http::Uri) -> Option<String> {
    let raw = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| uri.host())?;
    // `[v6]:port` or `name:port`.
    let host = match raw.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => raw.split(':').next().unwrap_or(raw),
    };
    Some(host.to_ascii_lowercase())
}

fn upstream_error(err: &UpstreamError) -> Response<ProxyBody> {
    tracing::warn!(error = %err, "upstream error");
    match err {
        UpstreamError::Timeout { .. } => error(
            StatusCode::GATEWAY_TIMEOUT,
            "UPSTREAM_TIMEOUT",
            err.to_string(),
        ),
        UpstreamError::Connect { .. } => error(
            StatusCode::BAD_GATEWAY,
            "UPSTREAM_UNAVAILABLE",
            err.to_string(),
        ),
        UpstreamError::CircuitOpen { .. } => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "CIRCUIT_OPEN",
            err.to_string(),
        ),
        UpstreamError::Failed { .. } => {
            error(StatusCode::BAD_GATEWAY, "UPSTREAM_FAILED", err.to_string())
        }
    }
}

/// An answer from the proxy itself, in the same JSON shape as the services'.
pub(crate) fn error(
    status: StatusCode,
    code: &str,
    message: impl Into<String>,
) -> Response<ProxyBody> {
    let body = json!({ "error": { "code": code, "message": message.into(), "source": "proxy" } });
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body::full(body.to_string()))
        .expect("a static response is valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ambiguous_paths_are_recognised() {
        for path in [
            "/api/coupons/../users",
            "/api/./x",
            "/api%2Fcoupons",
            "/a/%2e%2e/b",
            "/a\\b",
            "/a%00",
            "/api/..",
            "..",
        ] {
            assert!(ambiguous(path), "{path}");
        }
        for path in ["/api/coupons/1", "/", "/a..b/c", "/files/v1.2"] {
            assert!(!ambiguous(path), "{path}");
        }
    }

    #[test]
    fn host_loses_port_and_case() {
        let uri = http::Uri::from_static("/");
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "Shop.Example:8443".parse().unwrap());
        assert_eq!(host_of(&headers, &uri).as_deref(), Some("shop.example"));
        headers.insert(header::HOST, "[::1]:80".parse().unwrap());
        assert_eq!(host_of(&headers, &uri).as_deref(), Some("::1"));
    }
}
