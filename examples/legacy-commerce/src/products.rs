//! The product domain: the catalogue, stock, and the best-seller ranking.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Monolith;
use crate::kit::{ApiError, parse_id, time};
use crate::with_pool;

#[derive(Debug, sqlx::FromRow)]
struct Product {
    id: i64,
    name: String,
    price: i64,
    stock: i64,
    created_at: DateTime<Utc>,
}

impl Product {
    fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "price": self.price,
            "stock": self.stock,
            "createdAt": time::iso(self.created_at),
        })
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct PageParams {
    page: Option<i64>,
    size: Option<i64>,
}

/// `GET /api/products?page=1&size=20`
pub(super) async fn list(
    State(app): State<Arc<Monolith>>,
    params: Result<Query<PageParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(params) = params?;
    let page = bounded("page", params.page.unwrap_or(1), 1, 1_000_000)?;
    let size = bounded("size", params.size.unwrap_or(20), 1, 100)?;
    let db = &app.db;
    let (products, total): (Vec<Product>, i64) = with_pool!(db, |pool| {
        let products = sqlx::query_as(db.sql(
            "SELECT id, name, price, stock, created_at FROM products ORDER BY id LIMIT ? OFFSET ?",
        ))
        .bind(size)
        .bind((page - 1) * size)
        .fetch_all(pool)
        .await?;
        let total = sqlx::query_scalar(db.sql("SELECT COUNT(*) FROM products"))
            .fetch_one(pool)
            .await?;
        (products, total)
    });
    Ok(Json(json!({
        "items": products.iter().map(Product::to_json).collect::<Vec<_>>(),
        "page": page,
        "size": size,
        "total": total,
    })))
}

/// `GET /api/products/{id}`
pub(super) async fn get_product(
    State(app): State<Arc<Monolith>>,
    Path(raw_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&raw_id, "product")?;
    let db = &app.db;
    let product: Option<Product> = with_pool!(db, |pool| {
        sqlx::query_as(
            db.sql("SELECT id, name, price, stock, created_at FROM products WHERE id = ?"),
        )
        .bind(id)
        .fetch_optional(pool)
        .await
    })?;
    let product = product.ok_or_else(|| product_not_found(id))?;
    Ok(Json(product.to_json()))
}

#[derive(Debug, Deserialize)]
pub(super) struct TopParams {
    days: Option<i64>,
    limit: Option<i64>,
}

#[derive(Debug, sqlx::FromRow)]
struct BestSeller {
    product_id: i64,
    name: String,
    price: i64,
    sold: i64,
}

/// `GET /api/products/top?days=3&limit=5`: best-sellers by quantity sold in
/// completed orders of the last `days` days; ties go to the lower product id.
pub(super) async fn top(
    State(app): State<Arc<Monolith>>,
    params: Result<Query<TopParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(params) = params?;
    let days = bounded("days", params.days.unwrap_or(3), 1, 365)?;
    let limit = bounded("limit", params.limit.unwrap_or(5), 1, 100)?;
    let since = time::now() - TimeDelta::days(days);
    let db = &app.db;
    // SUM over BIGINT is NUMERIC/DECIMAL on PostgreSQL/MariaDB: cast it back.
    let statement = format!(
        "SELECT p.id AS product_id, p.name, p.price, CAST(SUM(oi.quantity) AS {int}) AS sold \
         FROM order_items oi \
         JOIN orders o ON o.id = oi.order_id \
         JOIN products p ON p.id = oi.product_id \
         WHERE o.created_at >= ? AND o.status = 'COMPLETED' \
         GROUP BY p.id, p.name, p.price \
         ORDER BY sold DESC, p.id \
         LIMIT ?",
        int = db.engine().bigint_cast()
    );
    let best: Vec<BestSeller> = with_pool!(db, |pool| {
        sqlx::query_as(db.sql_owned(statement))
            .bind(since)
            .bind(limit)
            .fetch_all(pool)
            .await
    })?;
    let items: Vec<Value> = best
        .iter()
        .map(|b| json!({ "productId": b.product_id, "name": b.name, "price": b.price, "sold": b.sold }))
        .collect();
    Ok(Json(json!({ "days": days, "items": items })))
}

pub(super) fn product_not_found(id: i64) -> ApiError {
    ApiError::not_found("PRODUCT_NOT_FOUND", format!("product {id} does not exist"))
}

fn bounded(name: &str, value: i64, min: i64, max: i64) -> Result<i64, ApiError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(ApiError::bad_request(
            "INVALID_QUERY",
            format!("`{name}` must be between {min} and {max}, not {value}"),
        ))
    }
}
