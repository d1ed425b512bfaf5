//! `POST /api/coupons/{id}/issue`: first come, first served, one per member,
//! never over the limit; every issue is published through the outbox in the
//! same transaction, so no issue is ever lost to or invented for consumers.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::CouponService;
use super::queries::{coupon_not_found, find_coupon};
use super::through::{Decided, SHADOW_COPY, record};
use super::views::{ISSUED_COUPON_COLUMNS, IssuedCoupon, STATE_ACTIVE, Views};
use crate::kit::db::{BeginWrite, is_unique_violation};
use crate::kit::{ApiError, Db, TxError, parse_id, retry_tx, time, valid_id};
use crate::with_pool;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct IssueRequest {
    user_id: i64,
}

/// `POST /api/coupons/{id}/issue` `{"userId":1}`
pub(super) async fn issue(
    State(app): State<Arc<CouponService>>,
    Path(raw_id): Path<String>,
    headers: HeaderMap,
    body: Result<Json<IssueRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let coupon_id = parse_id(&raw_id, "coupon")?;
    let Json(request) = body?;
    let member_id = valid_id(request.user_id, "user")?;
    let views = Views { quirks: app.quirks };
    // With --issue-through, the monolith decides a client's issue (through.rs).
    if let Some(through) = &app.through
        && !headers.contains_key(SHADOW_COPY)
    {
        return match through.issue(coupon_id, member_id).await? {
            Decided::Refused(answer) => Ok(answer),
            Decided::Issued {
                id,
                member_id,
                coupon_id,
                issued_at,
            } => {
                let issued = record(&app.db, id, coupon_id, member_id, issued_at).await?;
                Ok((StatusCode::CREATED, Json(views.issued(&issued))).into_response())
            }
        };
    }
    // Refusals come in the monolith's order: coupon, then user, then the rest.
    // The member check is an HTTP call, so it happens before the transaction.
    let coupon = find_coupon(&app, coupon_id)
        .await?
        .ok_or_else(|| coupon_not_found(coupon_id))?;
    if coupon.state != STATE_ACTIVE {
        return Err(not_active(coupon_id));
    }
    app.members.require(member_id).await?;
    let issued = retry_tx(|| issue_once(&app.db, coupon_id, member_id)).await?;
    Ok((StatusCode::CREATED, Json(views.issued(&issued))).into_response())
}

async fn issue_once(db: &Db, coupon_id: i64, member_id: i64) -> Result<IssuedCoupon, TxError> {
    let now = time::now();
    let issued = with_pool!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        let held: Option<i64> = sqlx::query_scalar(db.sql(
            "SELECT issued_coupon_id FROM issued_coupon WHERE member_id = ? AND coupon_id = ?",
        ))
        .bind(member_id)
        .bind(coupon_id)
        .fetch_optional(&mut *tx)
        .await?;
        if held.is_some() {
            return Err(already_issued(coupon_id, member_id).into());
        }
        let counted = sqlx::query(db.sql(
            "UPDATE coupon SET quantity_issued = quantity_issued + 1 \
             WHERE coupon_id = ? AND state = ? AND quantity_issued < quantity_total",
        ))
        .bind(coupon_id)
        .bind(STATE_ACTIVE)
        .execute(&mut *tx)
        .await?;
        if counted.rows_affected() == 0 {
            return Err(sold_out(coupon_id).into());
        }
        let inserted: Result<i64, sqlx::Error> = sqlx::query_scalar(db.sql(
            "INSERT INTO issued_coupon (coupon_id, member_id, issued_at, used_at, order_ref) \
             VALUES (?, ?, ?, NULL, NULL) RETURNING issued_coupon_id",
        ))
        .bind(coupon_id)
        .bind(member_id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await;
        let id = match inserted {
            Ok(id) => id,
            Err(err) if is_unique_violation(&err) => {
                return Err(already_issued(coupon_id, member_id).into());
            }
            Err(err) => return Err(err.into()),
        };
        let event = json!({
            "issuedCouponId": id,
            "couponId": coupon_id,
            "memberId": member_id,
            "issuedAt": time::iso(now),
        });
        sqlx::query(db.sql(
            "INSERT INTO coupon_outbox_event (aggregate_id, event_type, payload, created_at, published_at) \
             VALUES (?, 'CouponIssued', ?, ?, NULL)",
        ))
        .bind(coupon_id)
        .bind(event.to_string())
        .bind(now)
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
    Ok(issued)
}

fn not_active(id: i64) -> ApiError {
    ApiError::conflict(
        "COUPON_NOT_ACTIVE",
        format!("coupon {id} is not being issued now"),
    )
}

fn already_issued(coupon_id: i64, member_id: i64) -> ApiError {
    ApiError::conflict(
        "COUPON_ALREADY_ISSUED",
        format!("user {member_id} already holds coupon {coupon_id}"),
    )
}

fn sold_out(id: i64) -> ApiError {
    ApiError::conflict(
        "COUPON_SOLD_OUT",
        format!("coupon {id} has been issued to its limit"),
    )
}
