//! One request through the proxy: refuse what is ambiguous, find the route,
//! pick the side, forward, fall back when allowed, answer errors as JSON.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use http::{HeaderMap, Method, Request, Response, StatusCode, header};
use http_body_util::Limited;
use hyper::body::Incoming;
use serde_json::json;

use crate::body::{self, ProxyBody};
use crate::config::{Mode, ProxyConfig};
use crate::headers;
use crate::routes::RouteTable;
use crate::split;
use crate::upstream::{Upstream, UpstreamError};

/// An immutable snapshot of everything a request needs: the route table and
/// the upstream pools. A reload swaps the whole snapshot.
#[derive(Debug)]
pub struct Proxy {
    config: ProxyConfig,
    table: RouteTable,
    upstreams: HashMap<String, Arc<Upstream>>,
}

/// Where one request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Legacy,
    New { fallback: bool },
}

impl Proxy {
    /// Builds the snapshot for a validated configuration.
    pub fn new(config: ProxyConfig) -> Self {
        let table = RouteTable::new(&config.routes)
            .expect("a resolved configuration has a valid route table");
        let upstreams = config
            .upstreams
            .iter()
            .map(|u| (u.name.clone(), Arc::new(Upstream::new(u))))
            .collect();
        Self {
            config,
            table,
            upstreams,
        }
    }

    /// The configuration this snapshot serves.
    pub fn config(&self) -> &ProxyConfig {
        &self.config
    }

    /// Serves one client request.
    pub async fn handle(
        &self,
        request: Request<Incoming>,
        client: SocketAddr,
    ) -> Response<ProxyBody> {
        let path = request.uri().path();
        if ambiguous(path) {
            return error(
                StatusCode::BAD_REQUEST,
                "AMBIGUOUS_PATH",
                "the path has dot segments, encoded slashes or backslashes; send it normalised",
            );
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
            );
        }

        let host = host_of(request.headers(), request.uri());
        let route = self
            .table
            .lookup(request.method(), host.as_deref(), path)
            .map(|id| &self.config.routes[id]);
        let side = match route.map(|r| &r.mode) {
            None | Some(Mode::Legacy) => Side::Legacy,
            Some(Mode::Canary {
                weight_bp,
                key,
                seed,
            }) => {
                let user = key.extract(request.headers(), client.ip());
                if split::to_new(*weight_bp, seed, &user) {
                    Side::New { fallback: false }
                } else {
                    Side::Legacy
                }
            }
            Some(Mode::Cutover { fallback }) => Side::New {
                fallback: *fallback,
            },
        };

        let (mut parts, incoming) = request.into_parts();
        headers::to_upstream(&mut parts.headers, client.ip(), "http");
        let bodyless =
            declared.unwrap_or(0) == 0 && !parts.headers.contains_key(header::TRANSFER_ENCODING);
        let upstream = match (side, route) {
            (Side::New { .. }, Some(route)) => &self.upstreams[&route.upstream],
            _ => &self.upstreams[&self.config.legacy],
        };
        // Only a request without a body can be sent twice; keep its head for that.
        let replay = match side {
            Side::New { fallback: true } if bodyless && idempotent(&parts.method) => {
                Some(parts.clone())
            }
            _ => None,
        };

        let body = body::boxed(Limited::new(incoming, max_body as usize));
        let answer = upstream.send(Request::from_parts(parts, body)).await;
        let answer = match (answer, replay) {
            (Err(err), Some(parts)) if err.allows_fallback() => {
                tracing::warn!(error = %err, route = route.map(|r| r.name.as_str()), "falling back to legacy");
                self.upstreams[&self.config.legacy]
                    .send(Request::from_parts(parts, body::empty()))
                    .await
            }
            (answer, _) => answer,
        };
        match answer {
            Ok(response) => {
                let (mut parts, incoming) = response.into_parts();
                headers::to_client(&mut parts.headers);
                Response::from_parts(parts, body::boxed(incoming))
            }
            Err(err) => upstream_error(&err),
        }
    }
}

/// Paths an upstream might read differently from the proxy: dot segments,
/// encoded slashes, dots or backslashes, raw backslashes. Refused, never guessed.
fn ambiguous(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    path.contains('\\')
        || ["%2f", "%2e", "%5c", "%00"]
            .iter()
            .any(|enc| lower.contains(enc))
        || path
            .split('/')
            .any(|segment| segment == "." || segment == "..")
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
