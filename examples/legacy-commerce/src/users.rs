//! The user domain: who shops here.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::Monolith;
use crate::kit::{ApiError, parse_id, time};
use crate::with_pool;

#[derive(Debug, sqlx::FromRow)]
struct User {
    id: i64,
    name: String,
    email: String,
    created_at: DateTime<Utc>,
}

/// `GET /api/users/{id}`
pub(super) async fn get_user(
    State(app): State<Arc<Monolith>>,
    Path(raw_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&raw_id, "user")?;
    let db = &app.db;
    let user: Option<User> = with_pool!(db, |pool| {
        sqlx::query_as(db.sql("SELECT id, name, email, created_at FROM users WHERE id = ?"))
            .bind(id)
            .fetch_optional(pool)
            .await
    })?;
    let user = user.ok_or_else(|| user_not_found(id))?;
    Ok(Json(json!({
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "createdAt": time::iso(user.created_at),
    })))
}

pub(super) fn user_not_found(id: i64) -> ApiError {
    ApiError::not_found("USER_NOT_FOUND", format!("user {id} does not exist"))
}
