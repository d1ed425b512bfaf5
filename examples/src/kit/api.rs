//! The JSON error contract both services share:
//! `{"error":{"code":"COUPON_SOLD_OUT","message":"…"}}` with a fitting status.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error answer: an HTTP status, a stable machine-readable code, and a message for people.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    /// An error with any status.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400: the request itself is wrong.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404: the thing asked for does not exist.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 409: the request is valid but the current state refuses it (sold out, no stock, …).
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// The stable code, e.g. `COUPON_SOLD_OUT`.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "code": self.code, "message": self.message } });
        (self.status, Json(body)).into_response()
    }
}

impl From<sqlx::Error> for ApiError {
    /// A database failure is ours, not the client's: log it, answer 500 without details.
    fn from(err: sqlx::Error) -> Self {
        tracing::error!(error = %err, "database error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "internal error; the request was not applied",
        )
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                "send the body as JSON with `Content-Type: application/json`",
            ),
            JsonRejection::JsonDataError(err) => Self::bad_request("INVALID_BODY", err.body_text()),
            JsonRejection::JsonSyntaxError(err) => {
                Self::bad_request("INVALID_JSON", err.body_text())
            }
            other => Self::new(other.status(), "INVALID_BODY", other.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::bad_request("INVALID_QUERY", rejection.body_text())
    }
}

/// Parses an id from a path segment: a positive integer, else 400 naming what it is.
pub fn parse_id(raw: &str, what: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| invalid_id(raw, what))
}

/// Checks an id given in a JSON body: a positive integer, else 400 naming what it is.
pub fn valid_id(id: i64, what: &str) -> Result<i64, ApiError> {
    if id > 0 {
        Ok(id)
    } else {
        Err(invalid_id(&id.to_string(), what))
    }
}

fn invalid_id(raw: &str, what: &str) -> ApiError {
    ApiError::bad_request(
        "INVALID_ID",
        format!("`{raw}` is not a valid {what} id: ids are positive integers"),
    )
}

/// The answer for a path no route claims.
pub async fn route_not_found() -> ApiError {
    ApiError::not_found("ROUTE_NOT_FOUND", "no such route")
}

/// The answer for a known path with a method it does not serve.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "this route does not serve that method",
    )
}

/// `GET /healthz`.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// What can end a transaction early: a business refusal (answered as is) or a
/// database failure (retried when the engine aborted us to break a race).
#[derive(Debug)]
pub enum TxError {
    /// The request is refused; the transaction rolls back.
    Api(ApiError),
    /// The database failed.
    Db(sqlx::Error),
}

impl From<ApiError> for TxError {
    fn from(err: ApiError) -> Self {
        Self::Api(err)
    }
}

impl From<sqlx::Error> for TxError {
    fn from(err: sqlx::Error) -> Self {
        Self::Db(err)
    }
}

impl From<TxError> for ApiError {
    fn from(err: TxError) -> Self {
        match err {
            TxError::Api(err) => err,
            TxError::Db(err) => err.into(),
        }
    }
}

/// Runs a transaction, again when the engine aborted it to break a deadlock or
/// a write race (a few times, with a short growing pause), never on a refusal.
pub async fn retry_tx<T, F, Fut>(mut attempt: F) -> Result<T, ApiError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, TxError>>,
{
    const ATTEMPTS: u64 = 5;
    for n in 1.. {
        match attempt().await {
            Err(TxError::Db(err)) if n < ATTEMPTS && crate::kit::db::is_retryable(&err) => {
                tracing::debug!(error = %err, attempt = n, "transaction lost a race; retrying");
                tokio::time::sleep(std::time::Duration::from_millis(10 * n)).await;
            }
            other => return other.map_err(ApiError::from),
        }
    }
    unreachable!("the loop returns on the last attempt")
}
