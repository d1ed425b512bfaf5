//! The order and payment domains, and the transaction that spans every domain:
//! placing an order deducts stock, uses a coupon, deducts points, and records
//! the payment and the order, all in ONE database transaction. Any refusal
//! rolls all of it back. The seed documents' order saga replaces exactly this.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Monolith;
use super::products::product_not_found;
use super::users::user_not_found;
use crate::kit::db::BeginWrite;
use crate::kit::{ApiError, Db, TxError, parse_id, retry_tx, time, valid_id};
use crate::with_pool;

/// Most distinct products in one order.
const MAX_ITEMS: usize = 50;
/// Most units of one product in one order.
const MAX_QUANTITY: i64 = 1_000;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OrderRequest {
    user_id: i64,
    items: Vec<ItemRequest>,
    coupon_id: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ItemRequest {
    product_id: i64,
    quantity: i64,
}

/// A validated order: products in ascending id order, so that concurrent
/// orders lock stock rows in the same order and cannot deadlock.
#[derive(Debug)]
struct NewOrder {
    user_id: i64,
    quantities: BTreeMap<i64, i64>,
    coupon_id: Option<i64>,
}

#[derive(Debug, sqlx::FromRow)]
struct OrderRow {
    id: i64,
    user_id: i64,
    status: String,
    total_amount: i64,
    discount_amount: i64,
    paid_amount: i64,
    coupon_id: Option<i64>,
    created_at: DateTime<Utc>,
}

#[derive(Debug, sqlx::FromRow)]
struct ItemRow {
    product_id: i64,
    quantity: i64,
    unit_price: i64,
}

#[derive(Debug, sqlx::FromRow)]
struct PaymentRow {
    id: i64,
    amount: i64,
    method: String,
    status: String,
}

/// `POST /api/orders` `{"userId":1,"items":[{"productId":1,"quantity":2}],"couponId":3}`
pub(super) async fn place(
    State(app): State<Arc<Monolith>>,
    body: Result<Json<OrderRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(request) = body?;
    let order = validate(request)?;
    let order_id = retry_tx(|| place_once(&app.db, &order)).await?;
    let view = order_view(&app.db, order_id).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

fn validate(request: OrderRequest) -> Result<NewOrder, ApiError> {
    let invalid = |message: String| ApiError::bad_request("INVALID_ORDER", message);
    let user_id = valid_id(request.user_id, "user")?;
    let coupon_id = request
        .coupon_id
        .map(|id| valid_id(id, "coupon"))
        .transpose()?;
    if request.items.is_empty() || request.items.len() > MAX_ITEMS {
        return Err(invalid(format!("an order has 1 to {MAX_ITEMS} items")));
    }
    let mut quantities = BTreeMap::new();
    for item in request.items {
        let product_id = valid_id(item.product_id, "product")?;
        if !(1..=MAX_QUANTITY).contains(&item.quantity) {
            return Err(invalid(format!(
                "quantity of product {product_id} must be between 1 and {MAX_QUANTITY}"
            )));
        }
        if quantities.insert(product_id, item.quantity).is_some() {
            return Err(invalid(format!(
                "product {product_id} is listed twice; list it once with the total quantity"
            )));
        }
    }
    Ok(NewOrder {
        user_id,
        quantities,
        coupon_id,
    })
}

async fn place_once(db: &Db, order: &NewOrder) -> Result<i64, TxError> {
    let now = time::now();
    let order_id = with_pool!(db, |pool| {
        let mut tx = pool.begin_write().await?;

        // User.
        let user: Option<i64> = sqlx::query_scalar(db.sql("SELECT id FROM users WHERE id = ?"))
            .bind(order.user_id)
            .fetch_optional(&mut *tx)
            .await?;
        if user.is_none() {
            return Err(user_not_found(order.user_id).into());
        }

        // Coupon: the user must hold it, unused.
        let mut discount = 0;
        if let Some(coupon_id) = order.coupon_id {
            let held: Option<i64> = sqlx::query_scalar(db.sql(
                "SELECT c.discount_amount FROM user_coupons uc JOIN coupons c ON c.id = uc.coupon_id \
                 WHERE uc.user_id = ? AND uc.coupon_id = ? AND uc.used_at IS NULL",
            ))
            .bind(order.user_id)
            .bind(coupon_id)
            .fetch_optional(&mut *tx)
            .await?;
            discount = held.ok_or_else(|| coupon_not_usable(coupon_id, order.user_id))?;
        }

        // Stock: deduct each product, refusing when short.
        let mut unit_prices = BTreeMap::new();
        for (&product_id, &quantity) in &order.quantities {
            let price: Option<i64> =
                sqlx::query_scalar(db.sql("SELECT price FROM products WHERE id = ?"))
                    .bind(product_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let price = price.ok_or_else(|| product_not_found(product_id))?;
            let deducted = sqlx::query(
                db.sql("UPDATE products SET stock = stock - ? WHERE id = ? AND stock >= ?"),
            )
            .bind(quantity)
            .bind(product_id)
            .bind(quantity)
            .execute(&mut *tx)
            .await?;
            if deducted.rows_affected() == 0 {
                return Err(out_of_stock(product_id, quantity).into());
            }
            unit_prices.insert(product_id, price);
        }
        let total: i64 = order
            .quantities
            .iter()
            .map(|(id, q)| unit_prices[id] * q)
            .sum();
        let discount = discount.min(total);
        let paid = total - discount;

        // The order and its items.
        let order_id: i64 = sqlx::query_scalar(db.sql(
            "INSERT INTO orders (user_id, status, total_amount, discount_amount, paid_amount, coupon_id, created_at) \
             VALUES (?, 'COMPLETED', ?, ?, ?, ?, ?) RETURNING id",
        ))
        .bind(order.user_id)
        .bind(total)
        .bind(discount)
        .bind(paid)
        .bind(order.coupon_id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        for (&product_id, &quantity) in &order.quantities {
            sqlx::query(db.sql(
                "INSERT INTO order_items (order_id, product_id, quantity, unit_price) VALUES (?, ?, ?, ?)",
            ))
            .bind(order_id)
            .bind(product_id)
            .bind(quantity)
            .bind(unit_prices[&product_id])
            .execute(&mut *tx)
            .await?;
        }

        // Use the coupon.
        if let Some(coupon_id) = order.coupon_id {
            let used = sqlx::query(db.sql(
                "UPDATE user_coupons SET used_at = ?, order_id = ? \
                 WHERE user_id = ? AND coupon_id = ? AND used_at IS NULL",
            ))
            .bind(now)
            .bind(order_id)
            .bind(order.user_id)
            .bind(coupon_id)
            .execute(&mut *tx)
            .await?;
            if used.rows_affected() == 0 {
                return Err(coupon_not_usable(coupon_id, order.user_id).into());
            }
        }

        // Pay with points.
        let deducted = sqlx::query(db.sql(
            "UPDATE points SET balance = balance - ?, updated_at = ? WHERE user_id = ? AND balance >= ?",
        ))
        .bind(paid)
        .bind(now)
        .bind(order.user_id)
        .bind(paid)
        .execute(&mut *tx)
        .await?;
        if deducted.rows_affected() == 0 {
            return Err(insufficient_points(order.user_id, paid).into());
        }
        let balance: i64 =
            sqlx::query_scalar(db.sql("SELECT balance FROM points WHERE user_id = ?"))
                .bind(order.user_id)
                .fetch_one(&mut *tx)
                .await?;
        sqlx::query(db.sql(
            "INSERT INTO point_history (user_id, amount, type, balance_after, order_id, created_at) \
             VALUES (?, ?, 'USE', ?, ?, ?)",
        ))
        .bind(order.user_id)
        .bind(-paid)
        .bind(balance)
        .bind(order_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(db.sql(
            "INSERT INTO payments (order_id, user_id, amount, method, status, created_at) \
             VALUES (?, ?, ?, 'POINT', 'COMPLETED', ?)",
        ))
        .bind(order_id)
        .bind(order.user_id)
        .bind(paid)
        .bind(now)
        .execute(&mut *tx)
        .await?;

        tx.commit().await?;
        order_id
    });
    Ok(order_id)
}

/// `GET /api/orders/{id}`
pub(super) async fn get_order(
    State(app): State<Arc<Monolith>>,
    Path(raw_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&raw_id, "order")?;
    order_view(&app.db, id).await.map(Json)
}

async fn order_view(db: &Db, id: i64) -> Result<Value, ApiError> {
    let (order, items, payment): (Option<OrderRow>, Vec<ItemRow>, Option<PaymentRow>) = with_pool!(
        db,
        |pool| {
            let order = sqlx::query_as(db.sql(
            "SELECT id, user_id, status, total_amount, discount_amount, paid_amount, coupon_id, created_at \
             FROM orders WHERE id = ?",
        ))
        .bind(id)
        .fetch_optional(pool)
        .await?;
            let items = sqlx::query_as(db.sql(
            "SELECT product_id, quantity, unit_price FROM order_items WHERE order_id = ? ORDER BY product_id",
        ))
        .bind(id)
        .fetch_all(pool)
        .await?;
            let payment = sqlx::query_as(
                db.sql("SELECT id, amount, method, status FROM payments WHERE order_id = ?"),
            )
            .bind(id)
            .fetch_optional(pool)
            .await?;
            (order, items, payment)
        }
    );
    let order = order.ok_or_else(|| {
        ApiError::not_found("ORDER_NOT_FOUND", format!("order {id} does not exist"))
    })?;
    let items: Vec<Value> = items
        .iter()
        .map(|i| json!({ "productId": i.product_id, "quantity": i.quantity, "unitPrice": i.unit_price }))
        .collect();
    let payment = payment
        .map(|p| json!({ "id": p.id, "amount": p.amount, "method": p.method, "status": p.status }));
    Ok(json!({
        "id": order.id,
        "userId": order.user_id,
        "status": order.status,
        "items": items,
        "totalAmount": order.total_amount,
        "discountAmount": order.discount_amount,
        "paidAmount": order.paid_amount,
        "couponId": order.coupon_id,
        "payment": payment,
        "createdAt": time::iso(order.created_at),
    }))
}

fn coupon_not_usable(coupon_id: i64, user_id: i64) -> ApiError {
    ApiError::conflict(
        "COUPON_NOT_USABLE",
        format!("user {user_id} holds no unused coupon {coupon_id}"),
    )
}

fn out_of_stock(product_id: i64, quantity: i64) -> ApiError {
    ApiError::conflict(
        "OUT_OF_STOCK",
        format!("product {product_id} has fewer than {quantity} units in stock"),
    )
}

fn insufficient_points(user_id: i64, needed: i64) -> ApiError {
    ApiError::conflict(
        "INSUFFICIENT_POINTS",
        format!("user {user_id} has fewer than {needed} points"),
    )
}
