//! Issuing through the monolith (`--issue-through URL`): while the monolith
//! still holds the coupon data that the rest of it reads (orders use coupons
//! in the same transaction), it stays the one place that decides an issue.
//!
//! A client's issue is sent to the monolith's `POST /api/coupons/{id}/issue`;
//! its refusal is passed on as it is; its 201 is recorded here under the
//! monolith's own id and answered in this service's voice. The monolith's
//! conditional update is then the only check against the limit, wherever the
//! request arrived, so a coupon cannot be issued past its limit by the two
//! services deciding apart. (The monolith's answer gives the issue time to the
//! second; the copy that `msa-migrate backfill` keeps brings its exact value.)
//!
//! A shadow copy (`x-msa-shadow`, set only by the msa-migrate proxy) is the
//! monolith's own request already decided there: it is applied here as this
//! service's own issue, as without this option.

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::views::{ISSUED_COUPON_COLUMNS, IssuedCoupon};
use crate::kit::db::BeginWrite;
use crate::kit::{ApiError, Db, Engine, TxError, retry_tx};
use crate::with_pool;

/// The header the msa-migrate proxy puts on a shadow copy.
pub(super) const SHADOW_COPY: &str = "x-msa-shadow";

/// The monolith, asked to decide every issue.
#[derive(Debug)]
pub(super) struct Through {
    client: reqwest::Client,
    base: url::Url,
}

/// What the monolith said about an issue.
pub(super) enum Decided {
    /// Issued: the monolith's id, user, coupon and time.
    Issued {
        id: i64,
        member_id: i64,
        coupon_id: i64,
        issued_at: DateTime<Utc>,
    },
    /// Refused (or anything but a 201 below 500): passed on unchanged.
    Refused(Response),
}

impl Through {
    pub(super) fn new(base: url::Url) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?;
        Ok(Self { client, base })
    }

    /// Asks the monolith to issue coupon `coupon_id` to `member_id`.
    pub(super) async fn issue(&self, coupon_id: i64, member_id: i64) -> Result<Decided, ApiError> {
        let url = self
            .base
            .join(&format!("api/coupons/{coupon_id}/issue"))
            .map_err(|err| unavailable(&err.to_string()))?;
        let response = self
            .client
            .post(url)
            .json(&serde_json::json!({ "userId": member_id }))
            .send()
            .await
            .map_err(|err| unavailable(&err.to_string()))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|err| unavailable(&err.to_string()))?;
        if status.is_server_error() {
            return Err(unavailable(&format!("it answered {status}")));
        }
        if status != StatusCode::CREATED {
            let refusal = (
                status,
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                bytes,
            );
            return Ok(Decided::Refused(refusal.into_response()));
        }
        let answer: Value = serde_json::from_slice(&bytes)
            .map_err(|err| unavailable(&format!("its 201 is not JSON: {err}")))?;
        let field = |name: &str| {
            answer[name]
                .as_i64()
                .ok_or_else(|| unavailable(&format!("its 201 has no `{name}`")))
        };
        let issued_at = answer["issuedAt"]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .ok_or_else(|| unavailable("its 201 has no `issuedAt`"))?
            .with_timezone(&Utc);
        Ok(Decided::Issued {
            id: field("id")?,
            member_id: field("userId")?,
            coupon_id: field("couponId")?,
            issued_at,
        })
    }
}

/// Records an issue the monolith made, under its id (once: a second record of
/// the same id changes nothing), and recounts the coupon's issues.
pub(super) async fn record(
    db: &Db,
    id: i64,
    coupon_id: i64,
    member_id: i64,
    issued_at: DateTime<Utc>,
) -> Result<IssuedCoupon, ApiError> {
    let recorded = retry_tx(|| async {
        let issued = with_pool!(db, |pool| {
            let mut tx = pool.begin_write().await?;
            // The coupon's row first: records of one coupon queue here, so none
            // deadlocks on the issue rows and each counts the ones before it.
            sqlx::query(db.sql(
                "UPDATE coupon SET quantity_issued = quantity_issued WHERE coupon_id = ?",
            ))
            .bind(coupon_id)
            .execute(&mut *tx)
            .await?;
            // Already here when `msa-migrate backfill` copied it first: kept.
            let insert = match db.engine() {
                Engine::MySql => {
                    "INSERT INTO issued_coupon (issued_coupon_id, coupon_id, member_id, issued_at, used_at, order_ref) \
                     VALUES (?, ?, ?, ?, NULL, NULL) ON DUPLICATE KEY UPDATE issued_coupon_id = issued_coupon_id"
                }
                Engine::Sqlite | Engine::Postgres => {
                    "INSERT INTO issued_coupon (issued_coupon_id, coupon_id, member_id, issued_at, used_at, order_ref) \
                     VALUES (?, ?, ?, ?, NULL, NULL) ON CONFLICT DO NOTHING"
                }
            };
            sqlx::query(db.sql(insert))
                .bind(id)
                .bind(coupon_id)
                .bind(member_id)
                .bind(issued_at)
                .execute(&mut *tx)
                .await?;
            if let Engine::Postgres = db.engine() {
                // An explicit id does not move the identity: move it past, never
                // back, so this service's own issues (shadow copies) get new ids.
                sqlx::query(db.sql(
                    "SELECT setval(pg_get_serial_sequence('issued_coupon', 'issued_coupon_id'), \
                     GREATEST((SELECT MAX(issued_coupon_id) FROM issued_coupon), \
                     nextval(pg_get_serial_sequence('issued_coupon', 'issued_coupon_id'))))",
                ))
                .execute(&mut *tx)
                .await?;
            }
            let count: i64 = sqlx::query_scalar(db.sql(
                "SELECT COUNT(*) FROM issued_coupon WHERE coupon_id = ?",
            ))
            .bind(coupon_id)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query(db.sql("UPDATE coupon SET quantity_issued = ? WHERE coupon_id = ?"))
                .bind(count)
                .bind(coupon_id)
                .execute(&mut *tx)
                .await?;
            let issued: IssuedCoupon = sqlx::query_as(db.sql_owned(format!(
                "{ISSUED_COUPON_COLUMNS} WHERE i.issued_coupon_id = ?"
            )))
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            issued
        });
        Ok::<_, TxError>(issued)
    })
    .await?;
    Ok(recorded)
}

fn unavailable(why: &str) -> ApiError {
    tracing::warn!(why, "the monolith cannot decide an issue now");
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        "ISSUER_UNAVAILABLE",
        "the monolith, which decides issues, did not answer; the coupon may or may not be issued: ask for the user's coupons",
    )
}
