//! One database handle over SQLite, PostgreSQL and MariaDB.
//!
//! The services write each statement once, with `?` placeholders, and run it
//! through [`with_pool!`](crate::with_pool), which expands the same code for each
//! engine's concrete pool type. That keeps real, engine-native column types
//! (TIMESTAMPTZ, DATETIME(6), …) that sqlx's `Any` driver cannot decode.

use std::str::FromStr;
use std::time::Duration;

use sqlx::mysql::{MySqlPool, MySqlPoolOptions};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{AssertSqlSafe, SqlSafeStr, SqlStr, Transaction};

/// The database engines the examples run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// SQLite, the embedded default.
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MariaDB (10.5 or newer: the services use `INSERT … RETURNING`).
    MySql,
}

impl Engine {
    /// The engine a database URL names, by its scheme.
    pub fn of_dsn(dsn: &str) -> Result<Self, DbError> {
        let scheme = dsn.split_once("://").map(|(scheme, _)| scheme);
        match scheme {
            Some("sqlite") => Ok(Self::Sqlite),
            Some("postgres" | "postgresql") => Ok(Self::Postgres),
            Some("mysql" | "mariadb") => Ok(Self::MySql),
            _ => Err(DbError::UnsupportedScheme {
                dsn: redact_dsn(dsn),
            }),
        }
    }

    /// The integer type a `CAST(… AS …)` to a 64-bit integer names on this engine.
    pub fn bigint_cast(self) -> &'static str {
        match self {
            Self::MySql => "SIGNED",
            Self::Sqlite | Self::Postgres => "BIGINT",
        }
    }
}

/// A pool of connections to one of the supported engines.
#[derive(Debug, Clone)]
pub enum Db {
    /// SQLite, in WAL mode, with foreign keys on.
    Sqlite(SqlitePool),
    /// PostgreSQL.
    Postgres(PgPool),
    /// MariaDB.
    MySql(MySqlPool),
}

/// Failures to open or prepare a database; every message names the database
/// with its password masked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// The URL's scheme is not one we speak.
    #[error(
        "unsupported database URL `{dsn}`: use sqlite://FILE, postgres://USER@HOST:PORT/DB or mysql://USER@HOST:PORT/DB"
    )]
    UnsupportedScheme {
        /// The URL, password masked.
        dsn: String,
    },
    /// The server did not accept us (down, wrong credentials, missing database).
    #[error("cannot connect to {dsn}: {source}")]
    Connect {
        /// The URL, password masked.
        dsn: String,
        /// What the driver said.
        source: sqlx::Error,
    },
    /// A schema statement failed.
    #[error("cannot create the schema in {dsn}: {source}")]
    Schema {
        /// The URL, password masked.
        dsn: String,
        /// What the driver said.
        source: sqlx::Error,
    },
}

/// Expands `$body` once per engine with `$pool` bound to that engine's pool, so
/// the same query code type-checks against each driver.
#[macro_export]
macro_rules! with_pool {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::kit::Db::Sqlite($pool) => $body,
            $crate::kit::Db::Postgres($pool) => $body,
            $crate::kit::Db::MySql($pool) => $body,
        }
    };
}

impl Db {
    /// Connects to the database a URL names. A SQLite file is created when missing.
    pub async fn connect(dsn: &str) -> Result<Self, DbError> {
        let connect_error = |source| DbError::Connect {
            dsn: redact_dsn(dsn),
            source,
        };
        let acquire_timeout = Duration::from_secs(10);
        match Engine::of_dsn(dsn)? {
            Engine::Sqlite => {
                let options = SqliteConnectOptions::from_str(dsn)
                    .map_err(connect_error)?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .busy_timeout(Duration::from_secs(30))
                    .foreign_keys(true);
                SqlitePoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(acquire_timeout)
                    .connect_with(options)
                    .await
                    .map(Db::Sqlite)
                    .map_err(connect_error)
            }
            Engine::Postgres => PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(acquire_timeout)
                .connect(dsn)
                .await
                .map(Db::Postgres)
                .map_err(connect_error),
            Engine::MySql => MySqlPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(acquire_timeout)
                .connect(dsn)
                .await
                .map(Db::MySql)
                .map_err(connect_error),
        }
    }

    /// Which engine this is.
    pub fn engine(&self) -> Engine {
        match self {
            Db::Sqlite(_) => Engine::Sqlite,
            Db::Postgres(_) => Engine::Postgres,
            Db::MySql(_) => Engine::MySql,
        }
    }

    /// A statement written with `?` placeholders, in this engine's syntax
    /// (`$1, $2, …` on PostgreSQL). The statements must not contain `?` elsewhere.
    pub fn sql(&self, statement: &'static str) -> SqlStr {
        match self.engine() {
            Engine::Postgres => AssertSqlSafe(number_placeholders(statement)).into_sql_str(),
            Engine::Sqlite | Engine::MySql => statement.into_sql_str(),
        }
    }

    /// Like [`Db::sql`], for a statement assembled from constants of our own code
    /// (never from user input).
    pub fn sql_owned(&self, statement: String) -> SqlStr {
        match self.engine() {
            Engine::Postgres => AssertSqlSafe(number_placeholders(&statement)).into_sql_str(),
            Engine::Sqlite | Engine::MySql => AssertSqlSafe(statement).into_sql_str(),
        }
    }

    /// Creates the schema: one script per engine, statements separated by `;`.
    /// Scripts use `IF NOT EXISTS`, so this is safe on every start.
    pub async fn apply_schema(
        &self,
        sqlite: &str,
        postgres: &str,
        mysql: &str,
    ) -> Result<(), sqlx::Error> {
        let script = match self.engine() {
            Engine::Sqlite => sqlite,
            Engine::Postgres => postgres,
            Engine::MySql => mysql,
        };
        let statements = script.split(';').map(str::trim).filter(|s| !s.is_empty());
        for statement in statements {
            let statement = AssertSqlSafe(statement.to_owned());
            with_pool!(self, |pool| sqlx::query(statement)
                .execute(pool)
                .await
                .map(drop))?;
        }
        Ok(())
    }
}

/// Beginning a transaction that will write.
pub trait BeginWrite {
    /// The driver.
    type Database: sqlx::Database;

    /// Begins a transaction that takes the write lock up front where the engine
    /// needs it: SQLite's default deferred transaction fails with SQLITE_BUSY
    /// when it upgrades from reading to writing under concurrency.
    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<Transaction<'static, Self::Database>, sqlx::Error>> + Send;
}

impl BeginWrite for SqlitePool {
    type Database = sqlx::Sqlite;

    async fn begin_write(&self) -> Result<Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.begin_with("BEGIN IMMEDIATE").await
    }
}

impl BeginWrite for PgPool {
    type Database = sqlx::Postgres;

    async fn begin_write(&self) -> Result<Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        self.begin().await
    }
}

impl BeginWrite for MySqlPool {
    type Database = sqlx::MySql;

    async fn begin_write(&self) -> Result<Transaction<'static, sqlx::MySql>, sqlx::Error> {
        self.begin().await
    }
}

/// Whether the error is a unique-constraint violation.
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Whether the transaction lost a race the engine resolved by aborting it
/// (deadlock, serialization failure, busy SQLite file) and can simply be retried.
pub fn is_retryable(err: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = err else {
        return false;
    };
    // SQLSTATE 40001 serialization failure / MariaDB deadlock (1213 reports it),
    // 40P01 PostgreSQL deadlock; 5 and 517 are SQLITE_BUSY and SQLITE_BUSY_SNAPSHOT.
    matches!(
        db.code().as_deref(),
        Some("40001" | "40P01" | "5" | "517" | "1213")
    )
}

/// A database URL with its password masked, fit for logs and error messages.
pub fn redact_dsn(dsn: &str) -> String {
    match url::Url::parse(dsn) {
        Ok(mut url) if url.password().is_some() => {
            // Setting a password only fails for URLs that cannot carry one.
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        Ok(url) => url.to_string(),
        Err(_) => "<unparseable database URL>".to_owned(),
    }
}

fn number_placeholders(statement: &str) -> String {
    let mut numbered = String::with_capacity(statement.len() + 8);
    let mut next = 1;
    for c in statement.chars() {
        if c == '?' {
            numbered.push('$');
            numbered.push_str(&next.to_string());
            next += 1;
        } else {
            numbered.push(c);
        }
    }
    numbered
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_in_order() {
        assert_eq!(
            number_placeholders("UPDATE t SET a = ? WHERE id = ? AND b < ?"),
            "UPDATE t SET a = $1 WHERE id = $2 AND b < $3"
        );
    }

    #[test]
    fn passwords_never_leave_a_dsn() {
        let shown = redact_dsn("postgres://app:s3cret@db.internal:5432/shop");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("app:***@db.internal"), "{shown}");
        assert_eq!(redact_dsn("not a url"), "<unparseable database URL>");
    }

    #[test]
    fn engine_is_chosen_by_scheme() {
        assert_eq!(Engine::of_dsn("sqlite://x.db").unwrap(), Engine::Sqlite);
        assert_eq!(
            Engine::of_dsn("postgresql://h/db").unwrap(),
            Engine::Postgres
        );
        assert_eq!(Engine::of_dsn("mysql://h/db").unwrap(), Engine::MySql);
        let err = Engine::of_dsn("oracle://u:pw@h/db")
            .unwrap_err()
            .to_string();
        assert!(err.contains("oracle://u:***@h/db"), "{err}");
    }
}
