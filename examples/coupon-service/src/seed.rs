//! `--seed N`: the coupons the monolith's `--seed N` creates, in this schema.

use super::views::{STATE_ACTIVE, STATE_PAUSED};
use crate::kit::db::BeginWrite;
use crate::kit::{Db, seed};
use crate::with_pool;

/// Loads the seed into an empty database; one that has coupons is left alone.
pub(super) async fn load(db: &Db, n: u32) -> Result<(), sqlx::Error> {
    with_pool!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        let existing: i64 = sqlx::query_scalar(db.sql("SELECT COUNT(*) FROM coupon"))
            .fetch_one(&mut *tx)
            .await?;
        if existing > 0 {
            tracing::info!(existing, "database already has coupons; --seed ignored");
            return Ok(());
        }
        for coupon in seed::coupons(n) {
            sqlx::query(db.sql(
                "INSERT INTO coupon (title, discount_won, quantity_total, quantity_issued, state, created_at) \
                 VALUES (?, ?, ?, 0, ?, ?)",
            ))
            .bind(&coupon.name)
            .bind(coupon.discount_amount)
            .bind(coupon.max_issue)
            .bind(if coupon.active { STATE_ACTIVE } else { STATE_PAUSED })
            .bind(coupon.created_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
    });
    tracing::info!(coupons = seed::coupon_count(n), "seed loaded");
    Ok(())
}
