//! legacy-commerce: the monolith. One HTTP server and one shared database for
//! every domain of the shop: users, products and stock, points, coupons,
//! orders, payments, best-sellers.
//!
//! Placing an order is the cross-domain transaction the migration must later
//! replace with a saga: it deducts stock, uses a coupon, deducts points and
//! records the payment and the order in ONE database transaction.

mod coupons;
mod orders;
mod points;
mod products;
mod seed;
mod users;

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::routing::{get, post};

use crate::kit::db::redact_dsn;
use crate::kit::{Db, api};

/// The monolith's state: one database for every domain.
#[derive(Debug)]
pub struct Monolith {
    db: Db,
}

/// Connects to the database, creates the schema, and seeds an empty database
/// with `seed` users and products when asked.
pub async fn open(dsn: &str, seed: Option<u32>) -> anyhow::Result<Arc<Monolith>> {
    let db = Db::connect(dsn).await?;
    db.apply_schema(
        include_str!("schema/sqlite.sql"),
        include_str!("schema/postgres.sql"),
        include_str!("schema/mysql.sql"),
    )
    .await
    .with_context(|| format!("cannot create the schema in {}", redact_dsn(dsn)))?;
    if let Some(n) = seed {
        seed::load(&db, n)
            .await
            .context("cannot load the seed data")?;
    }
    Ok(Arc::new(Monolith { db }))
}

/// Every route of the monolith.
pub fn router(app: Arc<Monolith>) -> Router {
    Router::new()
        .route("/healthz", get(api::healthz))
        .route("/api/users/{id}", get(users::get_user))
        .route("/api/products", get(products::list))
        .route("/api/products/top", get(products::top))
        .route("/api/products/{id}", get(products::get_product))
        .route("/api/users/{id}/points", get(points::get_points))
        .route("/api/users/{id}/points/charge", post(points::charge))
        .route("/api/coupons/{id}", get(coupons::get_coupon))
        .route("/api/coupons/{id}/issue", post(coupons::issue))
        .route("/api/users/{id}/coupons", get(coupons::user_coupons))
        .route("/api/orders", post(orders::place))
        .route("/api/orders/{id}", get(orders::get_order))
        .fallback(api::route_not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
        .with_state(app)
}
