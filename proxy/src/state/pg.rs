//! The state in PostgreSQL, shared by several proxy replicas and the CLI.
//!
//! One row holds the version; a change takes that row's lock, bumps it, writes
//! the stages and their audit entries and sends `NOTIFY msa_state, 'VERSION'`,
//! all in one transaction, so writers are serialised, readers see a change
//! with its record or not at all, and the notification arrives only once the
//! change is visible. Locks are session advisory locks on a connection of
//! their own: a controller that dies releases its lock with its session.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Row};

use super::{AuditEntry, BoxFuture, Change, Held, Saved, StateError, StateStore, StoreLock};
use crate::config::Stage;

/// The channel every change is announced on, with the new version as payload.
pub(crate) const CHANNEL: &str = "msa_state";

const SCHEMA: &str = "BEGIN;
SELECT pg_advisory_xact_lock(7007700770077);
CREATE TABLE IF NOT EXISTS msa_state_version (
    id INT PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL);
INSERT INTO msa_state_version (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
CREATE TABLE IF NOT EXISTS msa_route_stages (
    route TEXT PRIMARY KEY,
    stage TEXT NOT NULL,
    version BIGINT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS msa_audit (
    id BIGSERIAL PRIMARY KEY,
    version BIGINT,
    time TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    domain TEXT,
    route TEXT,
    entry TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS msa_records (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now());
COMMIT;";

/// Route stages, audit log, records and locks in a PostgreSQL database.
#[derive(Debug)]
pub struct PgStore {
    pool: PgPool,
    /// The URL with its password masked: for messages and status.
    shown: String,
    schema: tokio::sync::OnceCell<()>,
    changes: tokio::sync::watch::Sender<u64>,
    listening: Arc<AtomicBool>,
}

impl PgStore {
    /// A store at `url`; connects on first use (a password is better given in
    /// `PGPASSWORD` than in the URL). Must be used within a Tokio runtime.
    pub fn new(url: &str) -> Result<Self, StateError> {
        let shown = super::masked(url);
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(3))
            .connect_lazy(url)
            .map_err(|_| StateError::Location(shown.clone()))?;
        Ok(Self {
            pool,
            shown,
            schema: tokio::sync::OnceCell::new(),
            changes: tokio::sync::watch::Sender::new(0),
            listening: Arc::new(AtomicBool::new(false)),
        })
    }

    fn failed(&self) -> impl Fn(sqlx::Error) -> StateError + '_ {
        |source| StateError::Database {
            store: self.shown.clone(),
            source,
        }
    }

    /// Creates the tables once per process (and again after a failure).
    async fn ready(&self) -> Result<&PgPool, StateError> {
        self.schema
            .get_or_try_init(|| async {
                sqlx::raw_sql(SCHEMA)
                    .execute(&self.pool)
                    .await
                    .map(drop)
                    .map_err(self.failed())
            })
            .await?;
        Ok(&self.pool)
    }

    async fn read(&self) -> Result<Saved, StateError> {
        let pool = self.ready().await?;
        // One statement: one snapshot of the version and the stages together.
        let rows = sqlx::query(
            "SELECT v.version, s.route, s.stage FROM msa_state_version v \
             LEFT JOIN msa_route_stages s ON true WHERE v.id = 1",
        )
        .fetch_all(pool)
        .await
        .map_err(self.failed())?;
        let mut saved = Saved::default();
        for row in rows {
            saved.version = u64::try_from(row.get::<i64, _>(0)).unwrap_or(0);
            let (Some(route), Some(stage)) = (
                row.get::<Option<String>, _>(1),
                row.get::<Option<String>, _>(2),
            ) else {
                continue;
            };
            let stage: Stage =
                serde_json::from_str(&stage).map_err(|err| StateError::Unreadable {
                    store: self.shown.clone(),
                    key: route.clone(),
                    message: err.to_string(),
                })?;
            saved.stages.insert(route, stage);
        }
        Ok(saved)
    }

    async fn write(&self, changes: Vec<Change>) -> Result<u64, StateError> {
        let pool = self.ready().await?;
        let mut tx = pool.begin().await.map_err(self.failed())?;
        // The version row's lock serialises writers from every process.
        let version: i64 = sqlx::query_scalar(
            "UPDATE msa_state_version SET version = version + 1 WHERE id = 1 RETURNING version",
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(self.failed())?;
        for change in &changes {
            insert_audit(&mut tx, Some(version), &change.entry)
                .await
                .map_err(self.failed())?;
            sqlx::query(
                "INSERT INTO msa_route_stages (route, stage, version) VALUES ($1, $2, $3) \
                 ON CONFLICT (route) DO UPDATE SET stage = excluded.stage, \
                 version = excluded.version, updated_at = now()",
            )
            .bind(&change.route)
            .bind(serde_json::to_string(&change.stage).expect("stages serialise"))
            .bind(version)
            .execute(&mut *tx)
            .await
            .map_err(self.failed())?;
        }
        // Delivered at commit, and only if it commits.
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(version.to_string())
            .execute(&mut *tx)
            .await
            .map_err(self.failed())?;
        tx.commit().await.map_err(self.failed())?;
        Ok(u64::try_from(version).unwrap_or(0))
    }

    /// Follows `NOTIFY` on its own connection until nobody listens, reconnecting
    /// after a failure; a missed notification is found by the follower's poll.
    fn listen(&self) {
        if self.listening.swap(true, Ordering::AcqRel) {
            return;
        }
        let (pool, changes, listening, shown) = (
            self.pool.clone(),
            self.changes.clone(),
            Arc::clone(&self.listening),
            self.shown.clone(),
        );
        tokio::spawn(async move {
            let follow = async {
                loop {
                    let mut listener = match PgListener::connect_with(&pool).await {
                        Ok(listener) => listener,
                        Err(err) => {
                            tracing::debug!(store = %shown, error = %err, "cannot listen for state changes; retrying");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            continue;
                        }
                    };
                    if let Err(err) = listener.listen(CHANNEL).await {
                        tracing::debug!(store = %shown, error = %err, "cannot listen for state changes; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                    loop {
                        match listener.recv().await {
                            Ok(notification) => {
                                if let Ok(version) = notification.payload().parse::<u64>() {
                                    changes.send_if_modified(|known| {
                                        let newer = version > *known;
                                        if newer {
                                            *known = version;
                                        }
                                        newer
                                    });
                                }
                            }
                            Err(err) => {
                                tracing::debug!(store = %shown, error = %err, "state change notifications interrupted; reconnecting");
                                tokio::time::sleep(Duration::from_secs(1)).await;
                                break;
                            }
                        }
                    }
                }
            };
            tokio::select! {
                () = follow => {}
                () = changes.closed() => {}
            }
            listening.store(false, Ordering::Release);
        });
    }
}

async fn insert_audit(
    tx: &mut sqlx::PgConnection,
    version: Option<i64>,
    entry: &AuditEntry,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO msa_audit (version, time, actor, action, domain, route, entry) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(version)
    .bind(&entry.time)
    .bind(&entry.actor)
    .bind(&entry.action)
    .bind(&entry.domain)
    .bind(&entry.route)
    .bind(serde_json::to_string(entry).expect("audit entries serialise"))
    .execute(tx)
    .await
    .map(drop)
}

impl StateStore for PgStore {
    fn load(&self) -> BoxFuture<'_, Result<Saved, StateError>> {
        Box::pin(self.read())
    }

    fn apply(&self, changes: Vec<Change>) -> BoxFuture<'_, Result<u64, StateError>> {
        Box::pin(self.write(changes))
    }

    fn audit(&self, entry: AuditEntry) -> BoxFuture<'_, Result<(), StateError>> {
        Box::pin(async move {
            let pool = self.ready().await?;
            let mut conn = pool.acquire().await.map_err(self.failed())?;
            insert_audit(&mut conn, None, &entry)
                .await
                .map_err(self.failed())
        })
    }

    fn audit_log(&self) -> BoxFuture<'_, Result<Vec<AuditEntry>, StateError>> {
        Box::pin(async move {
            let pool = self.ready().await?;
            let rows: Vec<(i64, String)> =
                sqlx::query_as("SELECT id, entry FROM msa_audit ORDER BY id")
                    .fetch_all(pool)
                    .await
                    .map_err(self.failed())?;
            rows.into_iter()
                .map(|(id, text)| {
                    serde_json::from_str(&text).map_err(|err| StateError::Unreadable {
                        store: self.shown.clone(),
                        key: format!("msa_audit.id={id}"),
                        message: err.to_string(),
                    })
                })
                .collect()
        })
    }

    fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        let receiver = self.changes.subscribe();
        self.listen();
        receiver
    }

    fn poll_every(&self) -> Duration {
        Duration::from_secs(2)
    }

    fn record(&self, key: &str) -> BoxFuture<'_, Result<Option<String>, StateError>> {
        let key = key.to_owned();
        Box::pin(async move {
            let pool = self.ready().await?;
            sqlx::query_scalar("SELECT value FROM msa_records WHERE key = $1")
                .bind(key)
                .fetch_optional(pool)
                .await
                .map_err(self.failed())
        })
    }

    fn put_record(&self, key: &str, value: String) -> BoxFuture<'_, Result<(), StateError>> {
        let key = key.to_owned();
        Box::pin(async move {
            let pool = self.ready().await?;
            sqlx::query(
                "INSERT INTO msa_records (key, value) VALUES ($1, $2) ON CONFLICT (key) \
                 DO UPDATE SET value = excluded.value, updated_at = now()",
            )
            .bind(key)
            .bind(value)
            .execute(pool)
            .await
            .map(drop)
            .map_err(self.failed())
        })
    }

    fn append_record(&self, key: &str, line: &str) -> BoxFuture<'_, Result<(), StateError>> {
        let key = key.to_owned();
        let line = format!("{}\n", line.trim_end_matches('\n'));
        Box::pin(async move {
            let pool = self.ready().await?;
            // One statement: the row lock of ON CONFLICT orders it with other
            // appends and with take_record's DELETE.
            sqlx::query(
                "INSERT INTO msa_records (key, value) VALUES ($1, $2) ON CONFLICT (key) \
                 DO UPDATE SET value = msa_records.value || excluded.value, updated_at = now()",
            )
            .bind(key)
            .bind(line)
            .execute(pool)
            .await
            .map(drop)
            .map_err(self.failed())
        })
    }

    fn take_record(&self, key: &str) -> BoxFuture<'_, Result<Option<String>, StateError>> {
        let key = key.to_owned();
        Box::pin(async move {
            let pool = self.ready().await?;
            sqlx::query_scalar("DELETE FROM msa_records WHERE key = $1 RETURNING value")
                .bind(key)
                .fetch_optional(pool)
                .await
                .map_err(self.failed())
        })
    }

    fn try_lock(&self, name: &str) -> BoxFuture<'_, Result<Option<StoreLock>, StateError>> {
        let key = lock_key(name);
        Box::pin(async move {
            self.ready().await?;
            // A session of its own: the lock lives exactly as long as it.
            let mut conn = self
                .pool
                .connect_options()
                .connect()
                .await
                .map_err(self.failed())?;
            let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                .bind(key)
                .fetch_one(&mut conn)
                .await
                .map_err(self.failed())?;
            Ok(taken.then_some(StoreLock {
                held: Held::Postgres(conn),
            }))
        })
    }

    fn describe(&self) -> String {
        self.shown.clone()
    }
}

/// A stable 64-bit key for a lock name, the same in every process.
fn lock_key(name: &str) -> i64 {
    i64::from_ne_bytes(
        xxhash_rust::xxh3::xxh3_64(format!("msa-migrate:{name}").as_bytes()).to_ne_bytes(),
    )
}
