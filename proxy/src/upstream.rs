//! Upstreams: keep-alive connection pools to a set of endpoints, endpoint
//! choice, and timeouts.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http::uri::{Authority, Scheme, Uri};
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::body::ProxyBody;
use crate::config::{Balance, UpstreamConfig};

/// One upstream with its connection pool.
#[derive(Debug)]
pub(crate) struct Upstream {
    /// Its name in the configuration.
    pub(crate) name: String,
    endpoints: Vec<Endpoint>,
    balance: Balance,
    next: AtomicUsize,
    request_timeout: Duration,
    client: Client<HttpConnector, ProxyBody>,
}

#[derive(Debug)]
struct Endpoint {
    authority: Authority,
    in_flight: Arc<AtomicUsize>,
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
        matches!(self, Self::Connect { .. } | Self::Timeout { .. })
    }
}

impl Upstream {
    /// An upstream with an empty pool.
    pub(crate) fn new(config: &UpstreamConfig) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(config.connect_timeout));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(config.idle_timeout)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(connector);
        Self {
            name: config.name.clone(),
            endpoints: config
                .endpoints
                .iter()
                .map(|authority| Endpoint {
                    authority: authority.clone(),
                    in_flight: Arc::new(AtomicUsize::new(0)),
                })
                .collect(),
            balance: config.balance,
            next: AtomicUsize::new(0),
            request_timeout: config.request_timeout,
            client,
        }
    }

    /// Sends a request (whose URI holds the path and query) to one endpoint.
    pub(crate) async fn send(
        &self,
        mut request: Request<ProxyBody>,
    ) -> Result<Response<Incoming>, UpstreamError> {
        let endpoint = self.pick();
        let mut parts = request.uri().clone().into_parts();
        parts.scheme = Some(Scheme::HTTP);
        parts.authority = Some(endpoint.authority.clone());
        if parts.path_and_query.is_none() {
            parts.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
        }
        *request.uri_mut() = Uri::from_parts(parts).expect("scheme, authority and path make a URI");

        endpoint.in_flight.fetch_add(1, Ordering::Relaxed);
        let _done = InFlight(&endpoint.in_flight);
        let fail = |reason: String| (endpoint.authority.clone(), reason);
        match tokio::time::timeout(self.request_timeout, self.client.request(request)).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(err)) if err.is_connect() => {
                let (endpoint, reason) = fail(source_text(&err));
                Err(UpstreamError::Connect {
                    upstream: self.name.clone(),
                    endpoint,
                    reason,
                })
            }
            Ok(Err(err)) => {
                let (endpoint, reason) = fail(source_text(&err));
                Err(UpstreamError::Failed {
                    upstream: self.name.clone(),
                    endpoint,
                    reason,
                })
            }
            Err(_) => Err(UpstreamError::Timeout {
                upstream: self.name.clone(),
                endpoint: endpoint.authority.clone(),
                after: self.request_timeout,
            }),
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
