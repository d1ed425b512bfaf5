//! The point domain: a balance per user and a history row for every change.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Monolith;
use super::users::user_not_found;
use crate::kit::db::BeginWrite;
use crate::kit::{ApiError, Db, TxError, parse_id, retry_tx, time};
use crate::with_pool;

/// The most a single charge may add, in won.
const MAX_CHARGE: i64 = 10_000_000;
/// How many history rows an answer shows, newest first.
const HISTORY_SHOWN: i64 = 20;

#[derive(Debug, sqlx::FromRow)]
struct HistoryRow {
    id: i64,
    amount: i64,
    #[sqlx(rename = "type")]
    kind: String,
    balance_after: i64,
    order_id: Option<i64>,
    created_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize)]
pub(super) struct ChargeRequest {
    amount: i64,
}

/// `GET /api/users/{id}/points`
pub(super) async fn get_points(
    State(app): State<Arc<Monolith>>,
    Path(raw_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let user_id = parse_id(&raw_id, "user")?;
    points_view(&app.db, user_id).await.map(Json)
}

/// `POST /api/users/{id}/points/charge` `{"amount":1000}`
pub(super) async fn charge(
    State(app): State<Arc<Monolith>>,
    Path(raw_id): Path<String>,
    body: Result<Json<ChargeRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let user_id = parse_id(&raw_id, "user")?;
    let Json(request) = body?;
    if !(1..=MAX_CHARGE).contains(&request.amount) {
        return Err(ApiError::bad_request(
            "INVALID_AMOUNT",
            format!("`amount` must be between 1 and {MAX_CHARGE} won"),
        ));
    }
    retry_tx(|| charge_once(&app.db, user_id, request.amount)).await?;
    points_view(&app.db, user_id).await.map(Json)
}

async fn charge_once(db: &Db, user_id: i64, amount: i64) -> Result<(), TxError> {
    let now = time::now();
    with_pool!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        let updated = sqlx::query(
            db.sql("UPDATE points SET balance = balance + ?, updated_at = ? WHERE user_id = ?"),
        )
        .bind(amount)
        .bind(now)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(user_not_found(user_id).into());
        }
        let balance: i64 =
            sqlx::query_scalar(db.sql("SELECT balance FROM points WHERE user_id = ?"))
                .bind(user_id)
                .fetch_one(&mut *tx)
                .await?;
        sqlx::query(db.sql(
            "INSERT INTO point_history (user_id, amount, type, balance_after, order_id, created_at) \
             VALUES (?, ?, 'CHARGE', ?, NULL, ?)",
        ))
        .bind(user_id)
        .bind(amount)
        .bind(balance)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    });
    Ok(())
}

async fn points_view(db: &Db, user_id: i64) -> Result<Value, ApiError> {
    let (balance, history): (Option<i64>, Vec<HistoryRow>) = with_pool!(db, |pool| {
        let balance = sqlx::query_scalar(db.sql("SELECT balance FROM points WHERE user_id = ?"))
            .bind(user_id)
            .fetch_optional(pool)
            .await?;
        let history = sqlx::query_as(db.sql(
            "SELECT id, amount, type, balance_after, order_id, created_at \
             FROM point_history WHERE user_id = ? ORDER BY id DESC LIMIT ?",
        ))
        .bind(user_id)
        .bind(HISTORY_SHOWN)
        .fetch_all(pool)
        .await?;
        (balance, history)
    });
    let balance = balance.ok_or_else(|| user_not_found(user_id))?;
    let history: Vec<Value> = history
        .iter()
        .map(|h| {
            json!({
                "id": h.id,
                "amount": h.amount,
                "type": h.kind,
                "balanceAfter": h.balance_after,
                "orderId": h.order_id,
                "createdAt": time::iso(h.created_at),
            })
        })
        .collect();
    Ok(json!({ "userId": user_id, "balance": balance, "history": history }))
}
