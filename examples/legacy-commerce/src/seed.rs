//! `--seed N`: deterministic users (with their points), products and coupons.

use crate::kit::db::BeginWrite;
use crate::kit::{Db, seed};
use crate::with_pool;

/// Loads the seed into an empty database; a database that already has users is
/// left as it is, so restarting with the same flags is harmless.
pub(super) async fn load(db: &Db, n: u32) -> Result<(), sqlx::Error> {
    with_pool!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        let existing: i64 = sqlx::query_scalar(db.sql("SELECT COUNT(*) FROM users"))
            .fetch_one(&mut *tx)
            .await?;
        if existing > 0 {
            tracing::info!(existing, "database already has users; --seed ignored");
            return Ok(());
        }
        for user in seed::users(n) {
            let id: i64 = sqlx::query_scalar(
                db.sql("INSERT INTO users (name, email, created_at) VALUES (?, ?, ?) RETURNING id"),
            )
            .bind(&user.name)
            .bind(&user.email)
            .bind(user.created_at)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query(
                db.sql("INSERT INTO points (user_id, balance, updated_at) VALUES (?, ?, ?)"),
            )
            .bind(id)
            .bind(user.points)
            .bind(user.created_at)
            .execute(&mut *tx)
            .await?;
            sqlx::query(db.sql(
                "INSERT INTO point_history (user_id, amount, type, balance_after, order_id, created_at) \
                 VALUES (?, ?, 'CHARGE', ?, NULL, ?)",
            ))
            .bind(id)
            .bind(user.points)
            .bind(user.points)
            .bind(user.created_at)
            .execute(&mut *tx)
            .await?;
        }
        for product in seed::products(n) {
            sqlx::query(
                db.sql("INSERT INTO products (name, price, stock, created_at) VALUES (?, ?, ?, ?)"),
            )
            .bind(&product.name)
            .bind(product.price)
            .bind(product.stock)
            .bind(product.created_at)
            .execute(&mut *tx)
            .await?;
        }
        for coupon in seed::coupons(n) {
            sqlx::query(db.sql(
                "INSERT INTO coupons (name, discount_amount, max_issue, issued_count, status, created_at) \
                 VALUES (?, ?, ?, 0, ?, ?)",
            ))
            .bind(&coupon.name)
            .bind(coupon.discount_amount)
            .bind(coupon.max_issue)
            .bind(if coupon.active { "ACTIVE" } else { "PAUSED" })
            .bind(coupon.created_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
    });
    tracing::info!(
        users = n,
        products = n,
        coupons = seed::coupon_count(n),
        "seed loaded"
    );
    Ok(())
}
