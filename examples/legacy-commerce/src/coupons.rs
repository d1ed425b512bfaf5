//! The coupon domain: first-come coupons with a limited number of issues, and
//! the coupons each user holds. This is the domain extracted first.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Monolith;
use super::users::user_not_found;
use crate::kit::db::{BeginWrite, is_unique_violation};
use crate::kit::{ApiError, Db, TxError, parse_id, retry_tx, time, valid_id};
use crate::with_pool;

#[derive(Debug, sqlx::FromRow)]
struct Coupon {
    id: i64,
    name: String,
    discount_amount: i64,
    max_issue: i64,
    issued_count: i64,
    status: String,
    created_at: DateTime<Utc>,
}

/// A coupon as a user holds it.
#[derive(Debug, sqlx::FromRow)]
struct UserCoupon {
    id: i64,
    user_id: i64,
    coupon_id: i64,
    name: String,
    discount_amount: i64,
    issued_at: DateTime<Utc>,
    used_at: Option<DateTime<Utc>>,
    order_id: Option<i64>,
}

const USER_COUPON_COLUMNS: &str = "SELECT uc.id, uc.user_id, uc.coupon_id, c.name, c.discount_amount, \
     uc.issued_at, uc.used_at, uc.order_id \
     FROM user_coupons uc JOIN coupons c ON c.id = uc.coupon_id";

impl UserCoupon {
    fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "userId": self.user_id,
            "couponId": self.coupon_id,
            "name": self.name,
            "discountAmount": self.discount_amount,
            "issuedAt": time::iso(self.issued_at),
            "usedAt": self.used_at.map(time::iso),
            "orderId": self.order_id,
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct IssueRequest {
    user_id: i64,
}

/// `GET /api/coupons/{id}`
pub(super) async fn get_coupon(
    State(app): State<Arc<Monolith>>,
    Path(raw_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&raw_id, "coupon")?;
    let db = &app.db;
    let coupon: Option<Coupon> = with_pool!(db, |pool| {
        sqlx::query_as(db.sql(
            "SELECT id, name, discount_amount, max_issue, issued_count, status, created_at \
             FROM coupons WHERE id = ?",
        ))
        .bind(id)
        .fetch_optional(pool)
        .await
    })?;
    let c = coupon.ok_or_else(|| coupon_not_found(id))?;
    Ok(Json(json!({
        "id": c.id,
        "name": c.name,
        "discountAmount": c.discount_amount,
        "maxIssue": c.max_issue,
        "issuedCount": c.issued_count,
        "remaining": c.max_issue - c.issued_count,
        "status": c.status,
        "createdAt": time::iso(c.created_at),
    })))
}

/// `POST /api/coupons/{id}/issue` `{"userId":1}`: first come, first served;
/// one per user; never more than the coupon's maximum, however many race.
pub(super) async fn issue(
    State(app): State<Arc<Monolith>>,
    Path(raw_id): Path<String>,
    body: Result<Json<IssueRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let coupon_id = parse_id(&raw_id, "coupon")?;
    let Json(request) = body?;
    let user_id = valid_id(request.user_id, "user")?;
    let issued = retry_tx(|| issue_once(&app.db, coupon_id, user_id)).await?;
    Ok((StatusCode::CREATED, Json(issued.to_json())))
}

async fn issue_once(db: &Db, coupon_id: i64, user_id: i64) -> Result<UserCoupon, TxError> {
    let now = time::now();
    let issued = with_pool!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        let status: Option<String> =
            sqlx::query_scalar(db.sql("SELECT status FROM coupons WHERE id = ?"))
                .bind(coupon_id)
                .fetch_optional(&mut *tx)
                .await?;
        match status.as_deref() {
            None => return Err(coupon_not_found(coupon_id).into()),
            Some("ACTIVE") => {}
            Some(_) => return Err(coupon_not_active(coupon_id).into()),
        }
        let user: Option<i64> = sqlx::query_scalar(db.sql("SELECT id FROM users WHERE id = ?"))
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
        if user.is_none() {
            return Err(user_not_found(user_id).into());
        }
        let held: Option<i64> = sqlx::query_scalar(
            db.sql("SELECT id FROM user_coupons WHERE user_id = ? AND coupon_id = ?"),
        )
        .bind(user_id)
        .bind(coupon_id)
        .fetch_optional(&mut *tx)
        .await?;
        if held.is_some() {
            return Err(already_issued(coupon_id, user_id).into());
        }
        // The conditional increment is what keeps concurrent issues within the
        // maximum: the row lock serialises them and the WHERE re-checks the count.
        let counted = sqlx::query(db.sql(
            "UPDATE coupons SET issued_count = issued_count + 1 WHERE id = ? AND issued_count < max_issue",
        ))
        .bind(coupon_id)
        .execute(&mut *tx)
        .await?;
        if counted.rows_affected() == 0 {
            return Err(sold_out(coupon_id).into());
        }
        let inserted: Result<i64, sqlx::Error> = sqlx::query_scalar(db.sql(
            "INSERT INTO user_coupons (user_id, coupon_id, issued_at, used_at, order_id) \
             VALUES (?, ?, ?, NULL, NULL) RETURNING id",
        ))
        .bind(user_id)
        .bind(coupon_id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await;
        let id = match inserted {
            Ok(id) => id,
            // The same user racing themself: the unique key decides.
            Err(err) if is_unique_violation(&err) => {
                return Err(already_issued(coupon_id, user_id).into());
            }
            Err(err) => return Err(err.into()),
        };
        let issued: UserCoupon =
            sqlx::query_as(db.sql_owned(format!("{USER_COUPON_COLUMNS} WHERE uc.id = ?")))
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
        tx.commit().await?;
        issued
    });
    Ok(issued)
}

/// `GET /api/users/{id}/coupons`: the user's coupons, oldest first.
pub(super) async fn user_coupons(
    State(app): State<Arc<Monolith>>,
    Path(raw_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let user_id = parse_id(&raw_id, "user")?;
    let db = &app.db;
    let (user, held): (Option<i64>, Vec<UserCoupon>) = with_pool!(db, |pool| {
        let user = sqlx::query_scalar(db.sql("SELECT id FROM users WHERE id = ?"))
            .bind(user_id)
            .fetch_optional(pool)
            .await?;
        let held = sqlx::query_as(db.sql_owned(format!(
            "{USER_COUPON_COLUMNS} WHERE uc.user_id = ? ORDER BY uc.id"
        )))
        .bind(user_id)
        .fetch_all(pool)
        .await?;
        (user, held)
    });
    if user.is_none() {
        return Err(user_not_found(user_id));
    }
    let coupons: Vec<Value> = held.iter().map(UserCoupon::to_json).collect();
    Ok(Json(json!({ "userId": user_id, "coupons": coupons })))
}

fn coupon_not_found(id: i64) -> ApiError {
    ApiError::not_found("COUPON_NOT_FOUND", format!("coupon {id} does not exist"))
}

fn coupon_not_active(id: i64) -> ApiError {
    ApiError::conflict(
        "COUPON_NOT_ACTIVE",
        format!("coupon {id} is not being issued now"),
    )
}

fn already_issued(coupon_id: i64, user_id: i64) -> ApiError {
    ApiError::conflict(
        "COUPON_ALREADY_ISSUED",
        format!("user {user_id} already holds coupon {coupon_id}"),
    )
}

fn sold_out(id: i64) -> ApiError {
    ApiError::conflict(
        "COUPON_SOLD_OUT",
        format!("coupon {id} has been issued to its limit"),
    )
}
