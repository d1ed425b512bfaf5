//! Shadow results kept in SQLite (a file beside the proxy's state, the
//! default) or PostgreSQL (for several replicas and shared reports): restored
//! at start so counts survive restarts, written every few seconds while they
//! change (and at least once an hour) and at shutdown, and read by
//! `msa-migrate shadow report`. One row per route holds its aggregate
//! (counts, differing paths and redacted examples, per route and per
//! template, each capped). With PostgreSQL, each replica keeps its own
//! rows, keyed by replica name, and reports add them up.
//!
//! Bounded: a replica rewrites its own rows (one per route it holds) in
//! place, so its rows never grow; the rows of replicas gone (a Kubernetes
//! pod's name changes with every rollout) and of routes no replica holds any
//! more are deleted once nobody has written them for the retention
//! (`state.shadow_retention`, 7 days by default): see [`ShadowStore::prune`].

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use crate::shadow_results::{RouteResults, ShadowResults};

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

/// Where shadow results are kept.
#[derive(Debug, Clone)]
pub struct ShadowStore {
    pool: Pool,
    /// The file, or the database URL with its password masked: for messages.
    path: PathBuf,
    /// This replica's rows (PostgreSQL is shared by replicas).
    replica: String,
}

#[derive(Debug, Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl ShadowStore {
    /// Opens the store, creating the file (SQLite) and its table when missing.
    /// `location` is a file path or a `postgres://` URL (a password is better
    /// given in `PGPASSWORD` than in the URL).
    pub async fn open(location: &Path) -> Result<Self, StoreError> {
        Self::connect(location, true).await
    }

    /// Opens a store that must exist already (for reports).
    pub async fn open_existing(location: &Path) -> Result<Self, StoreError> {
        if !is_postgres(location) && !location.exists() {
            return Err(StoreError::Missing(location.to_owned()));
        }
        Self::connect(location, false).await
    }

    async fn connect(location: &Path, create: bool) -> Result<Self, StoreError> {
        let shown = shown(location);
        let failed = |source| StoreError::Sqlite {
            path: shown.clone(),
            source,
        };
        let pool = if is_postgres(location) {
            let url = location.to_string_lossy();
            Pool::Postgres(
                PgPoolOptions::new()
                    .max_connections(2)
                    .connect(&url)
                    .await
                    .map_err(failed)?,
            )
        } else {
            let options =
                SqliteConnectOptions::from_str(&format!("sqlite://{}", location.display()))
                    .map_err(failed)?
                    .create_if_missing(create)
                    .journal_mode(SqliteJournalMode::Wal)
                    .busy_timeout(Duration::from_secs(5));
            Pool::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(options)
                    .await
                    .map_err(failed)?,
            )
        };
        let create_table = "CREATE TABLE IF NOT EXISTS shadow_routes (\
               replica TEXT NOT NULL, route TEXT NOT NULL, results TEXT NOT NULL, updated_at TEXT NOT NULL, \
               PRIMARY KEY (replica, route))";
        match &pool {
            Pool::Sqlite(p) => sqlx::query(create_table).execute(p).await.map(drop),
            Pool::Postgres(p) => sqlx::query(create_table).execute(p).await.map(drop),
        }
        .map_err(failed)?;
        let replica = std::env::var("HOSTNAME")
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "local".to_owned());
        Ok(Self {
            pool,
            path: shown,
            replica,
        })
    }

    /// `(route, results)` rows; `mine` limits them to this replica's.
    async fn rows(&self, mine: bool) -> Result<Vec<(String, String)>, StoreError> {
        let failed = |source| StoreError::Sqlite {
            path: self.path.clone(),
            source,
        };
        let replica = if mine {
            Some(self.replica.as_str())
        } else {
            None
        };
        match &self.pool {
            Pool::Sqlite(p) => sqlx::query_as(
                "SELECT route, results FROM shadow_routes WHERE ? IS NULL OR replica = ? ORDER BY route, replica",
            )
            .bind(replica)
            .bind(replica)
            .fetch_all(p)
            .await,
            Pool::Postgres(p) => sqlx::query_as(
                "SELECT route, results FROM shadow_routes WHERE $1::text IS NULL OR replica = $1 ORDER BY route, replica",
            )
            .bind(replica)
            .fetch_all(p)
            .await,
        }
        .map_err(failed)
    }

    /// Every stored route's aggregate.
    pub(crate) async fn load(&self) -> Result<Vec<(String, RouteResults)>, StoreError> {
        self.rows(true)
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

    /// Replaces this replica's stored aggregates with these, in one transaction.
    pub(crate) async fn save(&self, routes: &[(String, RouteResults)]) -> Result<(), StoreError> {
        self.save_at(routes, SystemTime::now()).await
    }

    async fn save_at(
        &self,
        routes: &[(String, RouteResults)],
        now: SystemTime,
    ) -> Result<(), StoreError> {
        let failed = |source| StoreError::Sqlite {
            path: self.path.clone(),
            source,
        };
        let now = humantime::format_rfc3339_millis(now).to_string();
        let rows: Vec<(&str, String)> = routes
            .iter()
            .map(|(route, results)| {
                (
                    route.as_str(),
                    serde_json::to_string(results).expect("aggregates serialise"),
                )
            })
            .collect();
        // The same upsert on either engine, in its own placeholder syntax.
        macro_rules! upsert_all {
            ($pool:expr, $statement:literal) => {{
                let mut tx = $pool.begin().await.map_err(failed)?;
                for (route, text) in &rows {
                    sqlx::query($statement)
                        .bind(&self.replica)
                        .bind(route)
                        .bind(text)
                        .bind(&now)
                        .execute(&mut *tx)
                        .await
                        .map_err(failed)?;
                }
                tx.commit().await.map_err(failed)
            }};
        }
        match &self.pool {
            Pool::Sqlite(p) => upsert_all!(
                p,
                "INSERT INTO shadow_routes (replica, route, results, updated_at) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (replica, route) DO UPDATE SET results = excluded.results, updated_at = excluded.updated_at"
            ),
            Pool::Postgres(p) => upsert_all!(
                p,
                "INSERT INTO shadow_routes (replica, route, results, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (replica, route) DO UPDATE SET results = excluded.results, updated_at = excluded.updated_at"
            ),
        }
    }

    /// Deletes the rows nobody has written for `retention` (of any replica:
    /// a running one rewrites its own every few seconds); returns how many.
    pub async fn prune(&self, retention: Duration) -> Result<u64, StoreError> {
        let cutoff = SystemTime::now()
            .checked_sub(retention)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        self.prune_before(cutoff).await
    }

    async fn prune_before(&self, cutoff: SystemTime) -> Result<u64, StoreError> {
        let failed = |source| StoreError::Sqlite {
            path: self.path.clone(),
            source,
        };
        // RFC 3339 in UTC with milliseconds, as `save` writes it: ordered as text.
        let cutoff = humantime::format_rfc3339_millis(cutoff).to_string();
        match &self.pool {
            Pool::Sqlite(p) => sqlx::query("DELETE FROM shadow_routes WHERE updated_at < ?")
                .bind(&cutoff)
                .execute(p)
                .await
                .map(|done| done.rows_affected()),
            Pool::Postgres(p) => sqlx::query("DELETE FROM shadow_routes WHERE updated_at < $1")
                .bind(&cutoff)
                .execute(p)
                .await
                .map(|done| done.rows_affected()),
        }
        .map_err(failed)
    }

    /// The report, as `GET /shadow` gives it, for every route or one; the
    /// rows of all replicas added up.
    pub async fn report(&self, route: Option<&str>) -> Result<Value, StoreError> {
        let mut merged: std::collections::BTreeMap<String, RouteResults> =
            std::collections::BTreeMap::new();
        for (name, text) in self.rows(false).await? {
            if route.is_some_and(|wanted| wanted != name) {
                continue;
            }
            let results: RouteResults =
                serde_json::from_str(&text).map_err(|source| StoreError::Corrupt {
                    path: self.path.clone(),
                    route: name.clone(),
                    source,
                })?;
            merged.entry(name).or_default().absorb(results);
        }
        let routes: Vec<Value> = merged
            .iter()
            .map(|(name, results)| results.report(name))
            .collect();
        Ok(json!({ "routes": routes }))
    }
}

fn is_postgres(location: &Path) -> bool {
    let text = location.to_string_lossy();
    text.starts_with("postgres://") || text.starts_with("postgresql://")
}

/// The location for messages: a URL's password masked.
fn shown(location: &Path) -> PathBuf {
    let text = location.to_string_lossy();
    match url::Url::parse(&text) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            PathBuf::from(url.to_string())
        }
        _ => location.to_owned(),
    }
}

/// How often the rows nobody writes any more are looked for.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// How long a replica's rows go unwritten at most while its aggregates do not
/// change, so that they never look abandoned to [`ShadowStore::prune`].
const REWRITE_EVERY: Duration = Duration::from_secs(3600);

/// Writes the aggregates every `every` while they change (and now and then
/// when they do not, see [`REWRITE_EVERY`]) until the task is stopped, and
/// prunes the rows nobody wrote for `retention` every hour; the caller saves
/// once more at shutdown. An idle proxy does not rewrite every route's row
/// every few seconds: with several replicas on one PostgreSQL store, that
/// was every replica's every route, all day.
pub(crate) async fn keep(
    store: ShadowStore,
    results: Arc<ShadowResults>,
    every: Duration,
    retention: Duration,
) {
    let rewrite_every = (retention / 2).min(REWRITE_EVERY);
    let mut pruned = tokio::time::Instant::now();
    // The changes the store holds, and when it was written.
    let mut saved: Option<(u64, tokio::time::Instant)> = None;
    loop {
        tokio::time::sleep(every).await;
        let unchanged = saved.is_some_and(|(changes, at)| {
            changes == results.changes() && at.elapsed() < rewrite_every
        });
        if !unchanged {
            let (changes, routes) = results.snapshot();
            match store.save(&routes).await {
                Ok(()) => saved = Some((changes, tokio::time::Instant::now())),
                Err(err) => tracing::warn!(error = %err, "cannot write shadow results; will retry"),
            }
        }
        if pruned.elapsed() >= PRUNE_EVERY {
            pruned = tokio::time::Instant::now();
            prune_logged(&store, retention).await;
        }
    }
}

/// Prunes, saying what was pruned; a failure only warns (the next prune retries).
pub(crate) async fn prune_logged(store: &ShadowStore, retention: Duration) {
    match store.prune(retention).await {
        Ok(0) => {}
        Ok(rows) => tracing::info!(
            rows,
            retention = %humantime::format_duration(retention),
            "pruned shadow results nobody has written within the retention"
        ),
        Err(err) => tracing::warn!(error = %err, "cannot prune old shadow results; will retry"),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use std::sync::Arc;

    use http::Method;

    use super::ShadowStore;
    use crate::metrics::Metrics;
    use crate::shadow::{Captured, ShadowSink};
    use crate::shadow_results::{RouteResults, ShadowResults, Verdict};

    fn results(compared: u64) -> RouteResults {
        serde_json::from_value(serde_json::json!({"compared": compared, "equal": compared}))
            .unwrap()
    }

    /// When `route`'s row was last written, once it exists.
    async fn written_at(store: &ShadowStore, route: &str) -> String {
        let super::Pool::Sqlite(pool) = &store.pool else {
            unreachable!("a file store")
        };
        for _ in 0..100 {
            let at: Option<String> =
                sqlx::query_scalar("SELECT updated_at FROM shadow_routes WHERE route = ?")
                    .bind(route)
                    .fetch_optional(pool)
                    .await
                    .unwrap();
            if let Some(at) = at {
                return at;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{route}'s row was never written");
    }

    #[tokio::test]
    async fn unchanged_aggregates_are_not_written_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = ShadowStore::open(&dir.path().join("shadow.db"))
            .await
            .unwrap();
        let results = Arc::new(ShadowResults::new(
            Arc::new(|_: &str, _: &Captured, _: &Captured| Verdict::Equal),
            Arc::new(Metrics::new()),
        ));
        let every = Duration::from_millis(20);
        let keeping = tokio::spawn(super::keep(
            store.clone(),
            Arc::clone(&results),
            every,
            Duration::from_secs(7 * 24 * 3600),
        ));
        let skip = || results.skipped("coupons", &Method::GET, "/api/coupons/1", "queue_full");
        skip();
        let first = written_at(&store, "coupons").await;
        tokio::time::sleep(every * 10).await;
        assert_eq!(
            written_at(&store, "coupons").await,
            first,
            "ten periods without a change: not written again"
        );
        skip();
        let mut later = first.clone();
        for _ in 0..100 {
            later = written_at(&store, "coupons").await;
            if later != first {
                break;
            }
            tokio::time::sleep(every).await;
        }
        assert!(later > first, "a change is written: {first} then {later}");
        keeping.abort();
    }

    #[tokio::test]
    async fn rows_nobody_writes_any_more_are_pruned_after_the_retention() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = ShadowStore::open(&dir.path().join("shadow.db"))
            .await
            .unwrap();
        let day = Duration::from_secs(24 * 3600);
        let now = SystemTime::now();
        // A replica gone ten days ago (a pod of an earlier rollout) …
        store.replica = "coupon-proxy-old".to_owned();
        store
            .save_at(&[("coupons".to_owned(), results(40))], now - 10 * day)
            .await
            .unwrap();
        // … and one still running, which rewrote its rows a moment ago,
        // among them a route it has held for weeks.
        store.replica = "coupon-proxy-new".to_owned();
        store
            .save_at(
                &[
                    ("coupons".to_owned(), results(3)),
                    ("old-route".to_owned(), results(7)),
                ],
                now,
            )
            .await
            .unwrap();
        let total = |report: serde_json::Value, route: &str| {
            report["routes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["route"] == route)
                .map(|r| r["compared"].as_u64().unwrap())
        };
        assert_eq!(
            total(store.report(None).await.unwrap(), "coupons"),
            Some(43)
        );

        assert_eq!(
            store.prune(7 * day).await.unwrap(),
            1,
            "the gone replica's row"
        );
        let report = store.report(None).await.unwrap();
        assert_eq!(total(report.clone(), "coupons"), Some(3), "{report}");
        assert_eq!(total(report, "old-route"), Some(7), "written lately: kept");
        assert_eq!(store.prune(7 * day).await.unwrap(), 0);
        assert_eq!(store.prune(Duration::MAX).await.unwrap(), 0, "no overflow");
    }
}
