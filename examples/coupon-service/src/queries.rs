//! Read routes: a coupon, and the coupons a member holds.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use serde_json::Value;

use super::CouponService;
use super::views::{Coupon, ISSUED_COUPON_COLUMNS, IssuedCoupon, Views};
use crate::kit::{ApiError, parse_id};
use crate::with_pool;

/// `GET /api/coupons/{id}`
pub(super) async fn get_coupon(
    State(app): State<Arc<CouponService>>,
    Path(raw_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&raw_id, "coupon")?;
    let coupon = find_coupon(&app, id)
        .await?
        .ok_or_else(|| coupon_not_found(id))?;
    Ok(Json(Views { quirks: app.quirks }.coupon(&coupon)))
}

/// `GET /api/users/{id}/coupons`
pub(super) async fn member_coupons(
    State(app): State<Arc<CouponService>>,
    Path(raw_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let member_id = parse_id(&raw_id, "user")?;
    app.members.require(member_id).await?;
    let db = &app.db;
    let held: Vec<IssuedCoupon> = with_pool!(db, |pool| {
        sqlx::query_as(db.sql_owned(format!(
            "{ISSUED_COUPON_COLUMNS} WHERE i.member_id = ? ORDER BY i.issued_coupon_id"
        )))
        .bind(member_id)
        .fetch_all(pool)
        .await
    })?;
    Ok(Json(
        Views { quirks: app.quirks }.member_coupons(member_id, held),
    ))
}

pub(super) async fn find_coupon(app: &CouponService, id: i64) -> Result<Option<Coupon>, ApiError> {
    let db = &app.db;
    let coupon = with_pool!(db, |pool| {
        sqlx::query_as(db.sql(
            "SELECT coupon_id, title, discount_won, quantity_total, quantity_issued, state, created_at \
             FROM coupon WHERE coupon_id = ?",
        ))
        .bind(id)
        .fetch_optional(pool)
        .await
    })?;
    Ok(coupon)
}

pub(super) fn coupon_not_found(id: i64) -> ApiError {
    ApiError::not_found("COUPON_NOT_FOUND", format!("coupon {id} does not exist"))
}
