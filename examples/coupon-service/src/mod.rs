//! coupon-service: the coupon domain extracted from the monolith.
//!
//! It serves the monolith's coupon routes with the same contract from its own
//! database, whose schema differs on purpose (see `schema/sqlite.sql`). With
//! `quirks` on it answers the way a real rewrite often does at first: amounts as
//! strings, timestamps with an offset, another array order, an extra field.
//! Shadow traffic must find exactly those differences.

mod issue;
mod members;
mod queries;
mod seed;
mod through;
mod views;

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::routing::{get, post};

use crate::kit::db::redact_dsn;
use crate::kit::{Db, api};
use members::Members;

/// How the service behaves beyond its database.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Answer with the rewrite differences described in the module docs.
    pub quirks: bool,
    /// Where to ask whether a member exists (`GET {url}/api/users/{id}`).
    pub users_url: Option<url::Url>,
    /// The monolith that decides every issue (`POST {url}/api/coupons/{id}/issue`),
    /// while it still owns the coupon data; see `through.rs`.
    pub issue_through: Option<url::Url>,
}

/// The service's state.
#[derive(Debug)]
pub struct CouponService {
    db: Db,
    quirks: bool,
    members: Members,
    through: Option<through::Through>,
}

/// Connects to the service's own database, creates its schema, and seeds an
/// empty database with the coupons the monolith's `--seed N` creates.
pub async fn open(
    dsn: &str,
    seed: Option<u32>,
    options: Options,
) -> anyhow::Result<Arc<CouponService>> {
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
    Ok(Arc::new(CouponService {
        db,
        quirks: options.quirks,
        members: Members::new(options.users_url)?,
        through: options
            .issue_through
            .map(through::Through::new)
            .transpose()?,
    }))
}

/// The coupon routes, under the same paths as in the monolith.
pub fn router(app: Arc<CouponService>) -> Router {
    Router::new()
        .route("/healthz", get(api::healthz))
        .route("/api/coupons/{id}", get(queries::get_coupon))
        .route("/api/coupons/{id}/issue", post(issue::issue))
        .route("/api/users/{id}/coupons", get(queries::member_coupons))
        .fallback(api::route_not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
        .with_state(app)
}
