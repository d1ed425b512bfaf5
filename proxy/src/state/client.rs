//! A small client for a running proxy's admin API, for the CLI: read the
//! routes and metrics, change a stage (audited by the proxy, under the
//! caller's name).

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

use crate::config::Stage;

/// Why a call to the admin API failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The URL is not an `http://HOST:PORT` address.
    #[error("`{0}` is not an admin API address: write e.g. http://127.0.0.1:9901")]
    Url(String),
    /// No answer.
    #[error("the proxy's admin API at {url} did not answer: {message}")]
    Unreachable {
        /// The admin URL.
        url: String,
        /// Why.
        message: String,
    },
    /// An answer other than success.
    #[error("the proxy's admin API at {url} answered {status}: {body}")]
    Refused {
        /// The admin URL and path.
        url: String,
        /// Its status.
        status: StatusCode,
        /// Its body (an error message).
        body: String,
    },
    /// A success whose body is not what the proxy sends.
    #[error("the proxy's admin API at {url} sent something unexpected: {message}")]
    Unexpected {
        /// The admin URL and path.
        url: String,
        /// What was wrong.
        message: String,
    },
}

/// A proxy's admin API.
#[derive(Debug, Clone)]
pub struct AdminClient {
    base: String,
    token: Option<String>,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl AdminClient {
    /// A client for the admin API at `base` (`http://HOST:PORT`), sending
    /// `token` as the bearer token for changes.
    pub fn new(base: &str, token: Option<String>) -> Result<Self, ClientError> {
        let base = base.trim_end_matches('/').to_owned();
        match base.parse::<http::Uri>() {
            Ok(uri) if uri.scheme_str() == Some("http") && uri.authority().is_some() => {}
            _ => return Err(ClientError::Url(base)),
        }
        let client = Client::builder(TokioExecutor::new()).build(HttpConnector::new());
        Ok(Self {
            base,
            token,
            client,
        })
    }

    /// The admin API's address.
    pub fn url(&self) -> &str {
        &self.base
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<(&Value, &str)>,
    ) -> Result<String, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut request = Request::builder().method(method).uri(&url);
        if let Some(token) = &self.token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let bytes = match body {
            Some((value, actor)) => {
                request = request
                    .header(header::CONTENT_TYPE, "application/json")
                    .header("x-msa-actor", actor);
                Bytes::from(value.to_string())
            }
            None => Bytes::new(),
        };
        let request = request
            .body(Full::new(bytes))
            .map_err(|err| ClientError::Url(err.to_string()))?;
        let unreachable = |message: String| ClientError::Unreachable {
            url: self.base.clone(),
            message,
        };
        let response = tokio::time::timeout(Duration::from_secs(10), self.client.request(request))
            .await
            .map_err(|_| unreachable("no answer within 10s".into()))?
            .map_err(|err| unreachable(err.to_string()))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|err| unreachable(err.to_string()))?
            .to_bytes();
        let body = String::from_utf8_lossy(&body).into_owned();
        if status.is_success() {
            Ok(body)
        } else {
            Err(ClientError::Refused { url, status, body })
        }
    }

    /// The Prometheus text of `GET /metrics`.
    pub async fn metrics(&self) -> Result<String, ClientError> {
        self.call(Method::GET, "/metrics", None).await
    }

    /// What shadow traffic found, per route, from `GET /shadow` (the JSON of
    /// `msa-migrate shadow report --format json`).
    pub async fn shadow(&self) -> Result<Value, ClientError> {
        let text = self.call(Method::GET, "/shadow", None).await?;
        serde_json::from_str(&text).map_err(|e| ClientError::Unexpected {
            url: format!("{}/shadow", self.base),
            message: e.to_string(),
        })
    }

    /// Every route's current stage, from `GET /routes`.
    pub async fn stages(&self) -> Result<BTreeMap<String, Stage>, ClientError> {
        let text = self.call(Method::GET, "/routes", None).await?;
        let unexpected = |message: String| ClientError::Unexpected {
            url: format!("{}/routes", self.base),
            message,
        };
        let view: Value = serde_json::from_str(&text).map_err(|e| unexpected(e.to_string()))?;
        let routes = view["routes"]
            .as_array()
            .ok_or_else(|| unexpected("no `routes` list".into()))?;
        routes
            .iter()
            .map(|route| {
                let name = route["name"]
                    .as_str()
                    .ok_or_else(|| unexpected("a route without a name".into()))?;
                let stage = serde_json::from_value(route["stage"].clone())
                    .map_err(|e| unexpected(format!("route `{name}`: {e}")))?;
                Ok((name.to_owned(), stage))
            })
            .collect()
    }

    /// Sets a route's stage through `PUT /routes/{name}`; the proxy audits it
    /// under `actor` with `reason`. Returns the stage before.
    pub async fn set_stage(
        &self,
        route: &str,
        stage: Stage,
        actor: &str,
        reason: &str,
    ) -> Result<Stage, ClientError> {
        let mut body = serde_json::to_value(stage).expect("stages serialise");
        body["reason"] = json!(reason);
        let text = self
            .call(
                Method::PUT,
                &format!("/routes/{route}"),
                Some((&body, actor)),
            )
            .await?;
        let answer: Value = serde_json::from_str(&text).map_err(|e| ClientError::Unexpected {
            url: format!("{}/routes/{route}", self.base),
            message: e.to_string(),
        })?;
        serde_json::from_value(answer["before"].clone()).map_err(|e| ClientError::Unexpected {
            url: format!("{}/routes/{route}", self.base),
            message: e.to_string(),
        })
    }

    /// Sets several routes' stages in one change through `PUT /routes`: the
    /// proxy makes all of them or none. Returns each route's stage before.
    pub async fn set_stages(
        &self,
        changes: &[(String, Stage)],
        actor: &str,
        reason: &str,
    ) -> Result<BTreeMap<String, Stage>, ClientError> {
        let routes: serde_json::Map<String, Value> = changes
            .iter()
            .map(|(route, stage)| {
                (
                    route.clone(),
                    serde_json::to_value(stage).expect("stages serialise"),
                )
            })
            .collect();
        let body = json!({"routes": routes, "reason": reason});
        let text = self
            .call(Method::PUT, "/routes", Some((&body, actor)))
            .await?;
        let unexpected = |message: String| ClientError::Unexpected {
            url: format!("{}/routes", self.base),
            message,
        };
        let answer: Value = serde_json::from_str(&text).map_err(|e| unexpected(e.to_string()))?;
        answer["changes"]
            .as_array()
            .ok_or_else(|| unexpected("no `changes` list".into()))?
            .iter()
            .map(|change| {
                let route = change["route"]
                    .as_str()
                    .ok_or_else(|| unexpected("a change without a route".into()))?;
                let before = serde_json::from_value(change["before"].clone())
                    .map_err(|e| unexpected(format!("route `{route}`: {e}")))?;
                Ok((route.to_owned(), before))
            })
            .collect()
    }
}
