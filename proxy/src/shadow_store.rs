//! Shadow results kept in SQLite, a file beside the proxy's state: restored at
//! start so counts survive restarts, written every few seconds and at
//! shutdown, and read by `msa-migrate shadow report`. One row per route holds
//! its aggregate (counts and differing paths, capped per route; no body values).

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use crate::shadow_results::{RouteResults, ShadowResults, stored_report};

/// Why the store could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No store at that path (the proxy has not written one yet).
    #[error("no shadow results at {}: start the proxy with a route in the shadow stage, or give its `state.shadow_store` path", .0.display())]
    Missing(PathBuf),
    /// SQLite refused.
    #[error("the shadow store {}: {source}", path.display())]
    Sqlite {
        /// The file.
        path: PathBuf,
        /// What SQLite said.
        source: sqlx::Error,
    },
    /// A stored row is not what this version writes.
    #[error("the shadow store {} has a row for `{route}` this version cannot read ({source}); move the file away to start afresh", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The route.
        route: String,
        /// Why.
        source: serde_json::Error,
    },
}

/// The SQLite file of shadow results.
#[derive(Debug, Clone)]
pub struct ShadowStore {
    pool: SqlitePool,
    path: PathBuf,
}

impl ShadowStore {
    /// Opens the store, creating the file and its table when missing.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        Self::connect(path, true).await
    }

    /// Opens a store that must exist already (for reports).
    pub async fn open_existing(path: &Path) -> Result<Self, StoreError> {
        if !path.exists() {
            return Err(StoreError::Missing(path.to_owned()));
        }
        Self::connect(path, false).await
    }

    async fn connect(path: &Path, create: bool) -> Result<Self, StoreError> {
        let failed = |source| StoreError::Sqlite {
            path: path.to_owned(),
            source,
        };
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .map_err(failed)?
            .create_if_missing(create)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(failed)?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS shadow_routes (\
               route TEXT PRIMARY KEY, results TEXT NOT NULL, updated_at TEXT NOT NULL)",
        )
        .execute(&pool)
        .await
        .map_err(failed)?;
        Ok(Self {
            pool,
            path: path.to_owned(),
        })
    }

    async fn rows(&self) -> Result<Vec<(String, String)>, StoreError> {
        sqlx::query_as("SELECT route, results FROM shadow_routes ORDER BY route")
            .fetch_all(&self.pool)
            .await
            .map_err(|source| StoreError::Sqlite {
                path: self.path.clone(),
                source,
            })
    }

    /// Every stored route's aggregate.
    pub(crate) async fn load(&self) -> Result<Vec<(String, RouteResults)>, StoreError> {
        self.rows()
            .await?
            .into_iter()
            .map(|(route, text)| match serde_json::from_str(&text) {
                Ok(results) => Ok((route, results)),
                Err(source) => Err(StoreError::Corrupt {
                    path: self.path.clone(),
                    route,
                    source,
                }),
            })
            .collect()
    }

    /// Replaces the stored aggregates with these, in one transaction.
    pub(crate) async fn save(&self, routes: &[(String, RouteResults)]) -> Result<(), StoreError> {
        let failed = |source| StoreError::Sqlite {
            path: self.path.clone(),
            source,
        };
        let now = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
        let mut tx = self.pool.begin().await.map_err(failed)?;
        for (route, results) in routes {
            let text = serde_json::to_string(results).expect("aggregates serialise");
            sqlx::query(
                "INSERT INTO shadow_routes (route, results, updated_at) VALUES (?, ?, ?) \
                 ON CONFLICT (route) DO UPDATE SET results = excluded.results, updated_at = excluded.updated_at",
            )
            .bind(route)
            .bind(text)
            .bind(&now)
            .execute(&mut *tx)
            .await
            .map_err(failed)?;
        }
        tx.commit().await.map_err(failed)
    }

    /// The report, as `GET /shadow` gives it, for every route or one.
    pub async fn report(&self, route: Option<&str>) -> Result<Value, StoreError> {
        let mut routes = Vec::new();
        for (name, text) in self.rows().await? {
            if route.is_some_and(|wanted| wanted != name) {
                continue;
            }
            let entry = stored_report(&name, &text).map_err(|source| StoreError::Corrupt {
                path: self.path.clone(),
                route: name.clone(),
                source,
            })?;
            routes.push(entry);
        }
        Ok(json!({ "routes": routes }))
    }
}

/// Writes the aggregates every `every` until the task is stopped; the caller
/// saves once more at shutdown.
pub(crate) async fn keep(store: ShadowStore, results: Arc<ShadowResults>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        if let Err(err) = store.save(&results.snapshot()).await {
            tracing::warn!(error = %err, "cannot write shadow results; will retry");
        }
    }
}
