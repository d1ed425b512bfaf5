//! The admin API, on its own listener (loopback by default):
//!
//! | route | what |
//! | --- | --- |
//! | `GET /` or `/dashboard` | the dashboard: domains, routes, stages, canary, readiness, shadow results, redacted examples |
//! | `GET /healthz` | liveness |
//! | `GET /readyz` | readiness: 503 once draining |
//! | `GET /metrics` | Prometheus text |
//! | `GET /routes` | routes with stage and live counters |
//! | `GET /status` | configuration source and the last reload |
//! | `GET /shadow` | what shadow traffic found, per route and field path |
//! | `GET /domains` | routes by domain (from playbooks), with the canary's walk and the last readiness verdict |
//! | `PUT /routes/{name}` | change a route's stage (token) |
//! | `PUT /routes` | change several routes' stages, all or nothing (token) |
//! | `POST /reload` | re-read the configuration (token) |
//!
//! Changes need `Authorization: Bearer TOKEN`, compared in constant time; with
//! no token configured, changes are refused. `X-Msa-Actor` names the person
//! for the audit log.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use serde::Deserialize;
use serde_json::json;

use crate::body::{self, ClientBody, ProxyBody};
use crate::config::Stage;
use crate::forward::error;
use crate::live::{Live, StageError};

/// The admin API's state.
#[derive(Debug)]
pub(crate) struct Admin {
    live: Arc<Live>,
    token: Option<String>,
    /// Where the token would come from, to say so when none is set.
    token_source: String,
}

/// A stage change body: a [`Stage`] plus an optional `reason` for the audit log.
fn stage_change(bytes: &[u8]) -> Result<(Stage, Option<String>), String> {
    let mut fields: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(bytes).map_err(|err| err.to_string())?;
    let reason = match fields.remove("reason") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(reason)) => Some(reason),
        Some(_) => return Err("`reason` must be a string".to_owned()),
    };
    // Serde cannot refuse unknown fields next to a flattened tagged enum, so
    // the stage is read on its own, strictly.
    let stage =
        Stage::deserialize(serde_json::Value::Object(fields)).map_err(|err| err.to_string())?;
    Ok((stage, reason))
}

/// Routes and their new stages, with the reason for the audit log.
type Batch = (Vec<(String, Stage)>, Option<String>);

/// A batch body: `{"routes": {"NAME": STAGE, …}, "reason": "…"}`.
fn stages_change(bytes: &[u8]) -> Result<Batch, String> {
    let mut fields: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(bytes).map_err(|err| err.to_string())?;
    let reason = match fields.remove("reason") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(reason)) => Some(reason),
        Some(_) => return Err("`reason` must be a string".to_owned()),
    };
    let Some(serde_json::Value::Object(routes)) = fields.remove("routes") else {
        return Err("`routes` must be an object of route name to stage".to_owned());
    };
    if let Some(unknown) = fields.keys().next() {
        return Err(format!(
            "unknown field `{unknown}`: send `routes` and `reason`"
        ));
    }
    if routes.is_empty() {
        return Err("`routes` is empty: name at least one route".to_owned());
    }
    let changes = routes
        .into_iter()
        .map(|(route, stage)| {
            Stage::deserialize(stage)
                .map(|stage| (route.clone(), stage))
                .map_err(|err| format!("route `{route}`: {err}"))
        })
        .collect::<Result<_, _>>()?;
    Ok((changes, reason))
}

impl Admin {
    pub(crate) fn new(live: Arc<Live>, token: Option<String>, token_source: String) -> Self {
        Self {
            live,
            token,
            token_source,
        }
    }

    pub(crate) async fn handle(
        &self,
        request: Request<ClientBody>,
        client: SocketAddr,
    ) -> Response<ProxyBody> {
        let path = request.uri().path().to_owned();
        match (request.method().clone(), path.as_str()) {
            (Method::GET, "/" | "/dashboard") => Response::builder()
                .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
                // The page only talks to this listener; nothing else may load into it.
                .header(
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'",
                )
                .body(body::full(include_str!("dashboard.html")))
                .expect("a static response is valid"),
            (Method::GET, "/healthz") => json_response(StatusCode::OK, &json!({"status": "ok"})),
            (Method::GET, "/readyz") if self.live.is_draining() => json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &json!({"status": "draining"}),
            ),
            (Method::GET, "/readyz") => json_response(StatusCode::OK, &json!({"status": "ready"})),
            (Method::GET, "/metrics") => Response::builder()
                .header(
                    header::CONTENT_TYPE,
                    "text/plain; version=0.0.4; charset=utf-8",
                )
                .body(body::full(self.live.metrics_text()))
                .expect("a static response is valid"),
            (Method::GET, "/routes") => {
                json_response(StatusCode::OK, &self.live.snapshot().routes_view())
            }
            (Method::GET, "/status") => json_response(StatusCode::OK, &self.live.status()),
            (Method::GET, "/shadow") => json_response(StatusCode::OK, &self.live.shadow_report()),
            (Method::GET, "/domains") => {
                json_response(StatusCode::OK, &crate::domains::view(&self.live).await)
            }
            (Method::POST, "/reload") => match self.authorise(&request, client) {
                Err(refusal) => self.refuse(refusal),
                Ok(actor) => match self.live.reload(&actor).await {
                    Ok(()) => json_response(StatusCode::OK, &json!({"reloaded": true})),
                    Err(err) => error(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "CONFIG_REFUSED",
                        format!("{err}; the previous configuration keeps serving"),
                    ),
                },
            },
            (Method::PUT, "/routes") => match self.authorise(&request, client) {
                Err(refusal) => self.refuse(refusal),
                Ok(actor) => self.set_stages(request, &actor).await,
            },
            (Method::PUT, route) if route.starts_with("/routes/") => {
                let name = route.trim_start_matches("/routes/").to_owned();
                match self.authorise(&request, client) {
                    Err(refusal) => self.refuse(refusal),
                    Ok(actor) => self.set_stage(request, &name, &actor).await,
                }
            }
            _ => error(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "no such admin route; see /routes, /domains, /shadow, /status, /metrics",
            ),
        }
    }

    async fn set_stage(
        &self,
        request: Request<ClientBody>,
        route: &str,
        actor: &str,
    ) -> Response<ProxyBody> {
        let bytes = match body_of(request).await {
            Ok(bytes) => bytes,
            Err(refusal) => return refusal,
        };
        let (stage, reason) = match stage_change(&bytes) {
            Ok(change) => change,
            Err(err) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_STAGE",
                    format!(
                        "{err}; send e.g. {{\"mode\":\"canary\",\"weight_bp\":500,\"reason\":\"…\"}}, {{\"mode\":\"cutover\"}} or {{\"mode\":\"legacy\"}}"
                    ),
                );
            }
        };
        match self.live.set_stage(route, stage, actor, reason).await {
            Ok((before, after)) => json_response(
                StatusCode::OK,
                &json!({"route": route, "before": before, "after": after}),
            ),
            Err(err) => stage_refused(&err),
        }
    }

    /// `PUT /routes`: several routes in one change, so a domain never stays
    /// half moved because one of its routes was refused.
    async fn set_stages(&self, request: Request<ClientBody>, actor: &str) -> Response<ProxyBody> {
        let bytes = match body_of(request).await {
            Ok(bytes) => bytes,
            Err(refusal) => return refusal,
        };
        let (changes, reason) = match stages_change(&bytes) {
            Ok(change) => change,
            Err(err) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_STAGE",
                    format!(
                        "{err}; send e.g. {{\"routes\":{{\"coupon-read\":{{\"mode\":\"cutover\"}},\"user-coupons\":{{\"mode\":\"cutover\"}}}},\"reason\":\"…\"}}"
                    ),
                );
            }
        };
        match self.live.set_stages(changes, actor, reason).await {
            Ok(changed) => {
                let changes: Vec<serde_json::Value> = changed
                    .into_iter()
                    .map(|(route, before, after)| {
                        json!({"route": route, "before": before, "after": after})
                    })
                    .collect();
                json_response(StatusCode::OK, &json!({ "changes": changes }))
            }
            Err(err) => stage_refused(&err),
        }
    }

    /// The actor's name when the bearer token matches.
    fn authorise(
        &self,
        request: &Request<ClientBody>,
        client: SocketAddr,
    ) -> Result<String, Refusal> {
        let Some(token) = &self.token else {
            return Err(Refusal::NoToken);
        };
        let offered = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !constant_time_eq(offered.as_bytes(), token.as_bytes()) {
            return Err(Refusal::BadToken);
        }
        let actor = request
            .headers()
            .get("x-msa-actor")
            .and_then(|v| v.to_str().ok());
        Ok(actor.map_or_else(|| format!("admin@{}", client.ip()), str::to_owned))
    }

    fn refuse(&self, refusal: Refusal) -> Response<ProxyBody> {
        match refusal {
            Refusal::NoToken => error(
                StatusCode::FORBIDDEN,
                "CHANGES_DISABLED",
                format!(
                    "no admin token is configured: set {} and restart the proxy to enable changes",
                    self.token_source
                ),
            ),
            Refusal::BadToken => {
                let mut refusal = error(
                    StatusCode::UNAUTHORIZED,
                    "UNAUTHORIZED",
                    "send `Authorization: Bearer TOKEN` with the admin token",
                );
                refusal.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer"),
                );
                refusal
            }
        }
    }
}

/// A change's body, at most 64 KiB.
async fn body_of(request: Request<ClientBody>) -> Result<Bytes, Response<ProxyBody>> {
    match Limited::new(request.into_body(), 64 * 1024).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(_) => Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "BODY_TOO_LARGE",
            "send at most 64 KiB",
        )),
    }
}

/// The answer to a stage change the proxy did not make.
fn stage_refused(err: &StageError) -> Response<ProxyBody> {
    match err {
        StageError::UnknownRoute(_) => {
            error(StatusCode::NOT_FOUND, "UNKNOWN_ROUTE", err.to_string())
        }
        StageError::Invalid(_) => error(StatusCode::BAD_REQUEST, "INVALID_STAGE", err.to_string()),
        _ => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "NOT_RECORDED",
            err.to_string(),
        ),
    }
}

/// Why a change was not authorised.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    NoToken,
    BadToken,
}

/// Compares without an early exit, so the time taken does not tell an
/// attacker how much of a guess was right. (Length is not secret.)
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

fn json_response(status: StatusCode, value: &serde_json::Value) -> Response<ProxyBody> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body::full(Bytes::from(value.to_string())))
        .expect("a static response is valid")
}

#[cfg(test)]
mod tests {
    use super::{constant_time_eq, stages_change};
    use crate::config::Stage;

    #[test]
    fn a_batch_body_names_every_route_and_refuses_anything_else() {
        let (changes, reason) = stages_change(
            br#"{"routes": {"a": {"mode": "cutover"}, "b": {"mode": "canary", "weight_bp": 500}}, "reason": "CAB-1"}"#,
        )
        .unwrap();
        assert_eq!(
            changes,
            vec![
                ("a".to_owned(), Stage::Cutover),
                ("b".to_owned(), Stage::Canary { weight_bp: 500 })
            ]
        );
        assert_eq!(reason.as_deref(), Some("CAB-1"));
        for (bad, says) in [
            (&br#"{"routes": {}}"#[..], "is empty"),
            (br#"{"routes": {"a": {"mode": "sideways"}}}"#, "route `a`"),
            (
                br#"{"routes": {"a": {"mode": "legacy"}}, "why": "x"}"#,
                "unknown field `why`",
            ),
            (
                br#"{"route": {"a": {"mode": "legacy"}}}"#,
                "`routes` must be an object",
            ),
            (
                br#"{"routes": {"a": {"mode": "legacy"}}, "reason": 1}"#,
                "`reason` must be a string",
            ),
        ] {
            let err = stages_change(bad).unwrap_err();
            assert!(err.contains(says), "{err}");
        }
    }

    #[test]
    fn tokens_compare_exactly() {
        assert!(constant_time_eq(b"s3cret", b"s3cret"));
        assert!(!constant_time_eq(b"s3cret", b"s3creT"));
        assert!(!constant_time_eq(b"s3cret", b"s3cret "));
        assert!(!constant_time_eq(b"", b"x"));
    }
}
