//! The engine layer: connect, introspect a table, read rows as [`Value`]s,
//! and run statements with [`Value`] binds, on SQLite, PostgreSQL and MySQL/MariaDB.
//!
//! Statements are built as text plus binds ([`Stmt`]) by engine-aware helpers;
//! only running them and decoding rows needs each engine's concrete driver
//! (sqlx's `Any` driver cannot decode native types such as TIMESTAMPTZ).

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, Utc};
use futures::FutureExt;
use sqlx::mysql::{
    MySql, MySqlArguments, MySqlConnectOptions, MySqlConnection, MySqlPoolOptions, MySqlRow,
};
use sqlx::postgres::{PgArguments, PgConnectOptions, PgConnection, PgPoolOptions, PgRow, Postgres};
use sqlx::query::Query;
use sqlx::sqlite::{
    Sqlite, SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow,
};
use sqlx::{AssertSqlSafe, Connection, Executor, Row, TypeInfo, ValueRef};

use crate::dsn::{Dsn, Engine};
use crate::error::{Error, Result};
use crate::payload::{Pass, Payload};
use crate::value::{Kind, Value, canonical_json, normalise_decimal};

/// A pool of connections to one database.
#[derive(Debug, Clone)]
pub(crate) enum Pool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
    MySql(sqlx::MySqlPool),
}

/// A connected database and the DSN that names it (password masked in messages).
#[derive(Debug, Clone)]
pub struct Db {
    pub(crate) pool: Pool,
    dsn: Dsn,
}

/// A database's place in replication.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Replication {
    /// Not a replica.
    Primary,
    /// A replica, this many seconds behind; `None` when unknown (replication
    /// stopped, nothing replayed yet).
    Replica(Option<f64>),
}

/// How a column is selected so that its driver can decode it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Read {
    /// As it is.
    Plain,
    /// Cast to text in SQL (numeric, json, uuid, enum, set…).
    AsText,
    /// MySQL `BIT`/`YEAR`: cast to an unsigned integer.
    AsUnsigned,
}

/// One column of a table.
#[derive(Debug, Clone)]
pub struct Column {
    /// Its name.
    pub name: String,
    /// Its declared type, as the engine shows it (`varchar(200)`, `timestamp with time zone`).
    pub decl: String,
    /// The canonical kind its values decode to.
    pub kind: Kind,
    /// Whether it accepts NULL.
    pub nullable: bool,
    /// PostgreSQL: the type name used to cast binds (`int8`, `timestamptz`).
    pub(crate) cast: String,
    pub(crate) read: Read,
    /// MySQL FLOAT / PostgreSQL real: decoded as f32.
    pub(crate) single: bool,
}

/// What we need to know about a table.
#[derive(Debug, Clone)]
pub struct TableSchema {
    /// Its name.
    pub name: String,
    /// Its columns, in table order.
    pub columns: Vec<Column>,
    /// The key rows are chunked and upserted by: the primary key, or else the
    /// first unique key whose columns are all NOT NULL. Indices into `columns`.
    pub key: Vec<usize>,
    /// Whether `key` is the primary key.
    pub key_is_primary: bool,
    /// Every unique key (primary included), as column indices.
    pub unique_keys: Vec<Vec<usize>>,
}

impl TableSchema {
    /// The index of a column by name.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }
}

/// A statement and its binds.
#[derive(Debug, Clone, Default)]
pub(crate) struct Stmt {
    pub(crate) sql: String,
    pub(crate) binds: Vec<Value>,
}

impl Stmt {
    pub(crate) fn new(sql: impl Into<String>) -> Self {
        Self {
            sql: sql.into(),
            binds: Vec::new(),
        }
    }
}

/// Builds SQL text with the engine's quoting and placeholders.
#[derive(Debug)]
pub(crate) struct SqlBuilder {
    engine: Engine,
    /// Integers written as literals, not bound: for statements that take no
    /// binds (`COPY (SELECT …) TO STDOUT`).
    inline_integers: bool,
    pub(crate) stmt: Stmt,
}

impl SqlBuilder {
    pub(crate) fn new(engine: Engine) -> Self {
        Self {
            engine,
            inline_integers: false,
            stmt: Stmt::default(),
        }
    }

    /// A builder that writes integer values as literals (other values are
    /// still bound).
    pub(crate) fn inlining_integers(engine: Engine) -> Self {
        Self {
            inline_integers: true,
            ..Self::new(engine)
        }
    }

    pub(crate) fn push(&mut self, text: &str) -> &mut Self {
        self.stmt.sql.push_str(text);
        self
    }

    pub(crate) fn ident(&mut self, name: &str) -> &mut Self {
        let quoted = quote(self.engine, name);
        self.stmt.sql.push_str(&quoted);
        self
    }

    /// A placeholder for a value bound to `column`'s type.
    pub(crate) fn param(&mut self, value: Value, column: &Column) -> &mut Self {
        if self.inline_integers {
            let literal = match &value {
                Value::Int(i) => Some(i.to_string()),
                Value::UInt(u) => Some(u.to_string()),
                _ => None,
            };
            if let Some(literal) = literal {
                self.stmt.sql.push_str(&literal);
                return self;
            }
        }
        self.stmt.binds.push(value);
        match self.engine {
            Engine::Postgres => {
                let n = self.stmt.binds.len();
                self.stmt.sql.push_str(&format!("${n}::{}", column.cast));
            }
            Engine::MySql | Engine::Sqlite => self.stmt.sql.push('?'),
        }
        self
    }

    /// `(k1, k2) <op> (?, ?)`.
    pub(crate) fn key_compare(&mut self, key: &[&Column], op: &str, values: &[Value]) -> &mut Self {
        self.push("(");
        for (i, column) in key.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.ident(&column.name);
        }
        self.push(") ").push(op).push(" (");
        for (i, (column, value)) in key.iter().zip(values).enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.param(value.clone(), column);
        }
        self.push(")")
    }

    pub(crate) fn finish(self) -> Stmt {
        self.stmt
    }
}

/// An identifier quoted for the engine.
pub(crate) fn quote(engine: Engine, name: &str) -> String {
    match engine {
        Engine::MySql => format!("`{}`", name.replace('`', "``")),
        Engine::Postgres | Engine::Sqlite => format!("\"{}\"", name.replace('"', "\"\"")),
    }
}

/// The expression that selects a column so its driver can decode it.
pub(crate) fn select_expr(engine: Engine, column: &Column) -> String {
    let name = quote(engine, &column.name);
    match (engine, column.read) {
        (_, Read::Plain) => name,
        (Engine::Postgres, _) => format!("{name}::text"),
        (Engine::MySql, Read::AsText) => format!("CAST({name} AS CHAR)"),
        (Engine::MySql, Read::AsUnsigned) => format!("CAST({name} AS UNSIGNED)"),
        (Engine::Sqlite, _) => name,
    }
}

macro_rules! with_pool {
    ($db:expr, |$pool:ident| $body:expr) => {
        match &$db.pool {
            Pool::Sqlite($pool) => $body,
            Pool::Postgres($pool) => $body,
            Pool::MySql($pool) => $body,
        }
    };
}

impl Db {
    /// Connects. A SQLite file must exist unless `create` is set.
    pub async fn connect(dsn: &Dsn, max_connections: u32, create: bool) -> Result<Self> {
        let connect_error = |err: sqlx::Error| Error::Connect {
            dsn: dsn.to_string(),
            message: strip_password(&err.to_string(), dsn),
        };
        let acquire = Duration::from_secs(30);
        let pool = match dsn.engine() {
            Engine::Sqlite => {
                let path = dsn.url().split_once("://").map_or("", |(_, p)| p);
                let path = path.split('?').next().unwrap_or(path);
                if !create && path != ":memory:" && !std::path::Path::new(path).exists() {
                    return Err(Error::Connect {
                        dsn: dsn.to_string(),
                        message: format!(
                            "the file {path} does not exist (sqlite://PATH is relative to the current directory; sqlite:///PATH is absolute)"
                        ),
                    });
                }
                let mut options = SqliteConnectOptions::from_str(dsn.url())
                    .map_err(connect_error)?
                    .create_if_missing(create)
                    .busy_timeout(Duration::from_secs(30))
                    // Tables copy in parallel, children before parents maybe.
                    .foreign_keys(false);
                // A database someone else writes keeps its journal mode:
                // changing it takes an exclusive lock that no busy timeout
                // waits for, so connecting fails ("database is locked")
                // whenever the monolith is writing, and would change the
                // monolith's file. Only a file this run may create gets WAL.
                if create {
                    options = options.journal_mode(SqliteJournalMode::Wal);
                }
                Pool::Sqlite(
                    SqlitePoolOptions::new()
                        .max_connections(max_connections)
                        .acquire_timeout(acquire)
                        .connect_with(options)
                        .await
                        .map_err(connect_error)?,
                )
            }
            Engine::Postgres => Pool::Postgres({
                // One connection first: a refused connection fails now, not
                // after the pool's acquire timeout.
                let options = PgConnectOptions::from_str(dsn.url()).map_err(connect_error)?;
                PgConnection::connect_with(&options)
                    .await
                    .map_err(connect_error)?
                    .close()
                    .await
                    .map_err(connect_error)?;
                PgPoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(acquire)
                    .after_connect(|conn, _| {
                        async move {
                            conn.execute("SET TIME ZONE 'UTC'").await?;
                            // Text a PostgreSQL server reads back exactly, whatever
                            // the server's defaults (COPY text passed through as is).
                            conn.execute("SET DateStyle = 'ISO, YMD'").await?;
                            conn.execute("SET IntervalStyle = 'postgres'").await?;
                            conn.execute("SET extra_float_digits = 3").await?;
                            // A generic plan for `key > $1 AND key <= $2 ORDER BY key
                            // LIMIT n` scans the whole remaining range for every chunk.
                            conn.execute("SET plan_cache_mode = force_custom_plan")
                                .await?;
                            // Without statistics (a freshly loaded table) the planner
                            // picks a bitmap scan and a sort over the whole range;
                            // a keyset chunk wants the ordered index scan.
                            conn.execute("SET enable_bitmapscan = off").await?;
                            // Tables copy in parallel: skip foreign-key triggers when
                            // allowed (superuser); otherwise copy parents first (--jobs 1).
                            let _ = conn.execute("SET session_replication_role = replica").await;
                            Ok(())
                        }
                        .boxed()
                    })
                    .connect_with(options)
                    .await
                    .map_err(connect_error)?
            }),
            Engine::MySql => {
                let options = MySqlConnectOptions::from_str(dsn.url())
                    .map_err(connect_error)?
                    .pipes_as_concat(false)
                    .timezone(Some("+00:00".to_owned()));
                MySqlConnection::connect_with(&options)
                    .await
                    .map_err(connect_error)?
                    .close()
                    .await
                    .map_err(connect_error)?;
                Pool::MySql(
                    MySqlPoolOptions::new()
                        .max_connections(max_connections)
                        .acquire_timeout(acquire)
                        .after_connect(|conn, _| {
                            async move {
                                // Strict: a value that does not fit is an error, never
                                // truncated; a 0 key stays 0 (not a new AUTO_INCREMENT).
                                conn.execute(
                                    "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION,ERROR_FOR_DIVISION_BY_ZERO'",
                                )
                                .await?;
                                // Tables copy in parallel, children before parents maybe.
                                conn.execute("SET SESSION foreign_key_checks = 0").await?;
                                Ok(())
                            }
                            .boxed()
                        })
                        .connect_with(options)
                        .await
                        .map_err(connect_error)?,
                )
            }
        };
        Ok(Self {
            pool,
            dsn: dsn.clone(),
        })
    }

    /// The engine.
    pub fn engine(&self) -> Engine {
        self.dsn.engine()
    }

    /// The DSN, for messages.
    pub fn dsn(&self) -> &Dsn {
        &self.dsn
    }

    /// What the driver said, the password removed.
    pub(crate) fn error_text(&self, err: &sqlx::Error) -> String {
        strip_password(&err.to_string(), &self.dsn)
    }

    pub(crate) fn sql_error(&self, context: impl Into<String>, err: &sqlx::Error) -> Error {
        Error::Sql {
            dsn: self.dsn.to_string(),
            context: context.into(),
            message: strip_password(&err.to_string(), &self.dsn),
        }
    }

    /// Runs statements in one write transaction (SQLite: `BEGIN IMMEDIATE`);
    /// returns rows affected per statement. Nothing is committed on error.
    /// A transaction the engine aborted to break a deadlock (or a serialization
    /// failure) is retried a few times: every write here is idempotent.
    pub(crate) async fn transaction(&self, stmts: &[Stmt]) -> Result<Vec<u64>, sqlx::Error> {
        let mut attempt = 0;
        loop {
            match self.transaction_with(stmts, true).await {
                Err(err) if attempt < 5 && is_retryable(&err) => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(20 * (1 << attempt))).await;
                }
                other => return other,
            }
        }
    }

    /// As [`Db::transaction`], but rolls back when `commit` is false (a dry run of writes).
    pub(crate) async fn transaction_with(
        &self,
        stmts: &[Stmt],
        commit: bool,
    ) -> Result<Vec<u64>, sqlx::Error> {
        // SQLite takes its write lock at the start, so a busy database fails
        // before any statement has run.
        let begin = match self.engine() {
            Engine::Sqlite => "BEGIN IMMEDIATE",
            Engine::Postgres | Engine::MySql => "BEGIN",
        };
        with_pool!(self, |pool| {
            let mut tx = pool.begin_with(begin).await?;
            let mut affected = Vec::with_capacity(stmts.len());
            for stmt in stmts {
                let q = bind_all(sqlx::query(AssertSqlSafe(stmt.sql.as_str())), &stmt.binds);
                affected.push(q.execute(&mut *tx).await?.rows_affected());
            }
            if commit {
                tx.commit().await?;
            } else {
                tx.rollback().await?;
            }
            Ok(affected)
        })
    }

    /// PostgreSQL's fast path, in one transaction: `setup` (a temporary staging
    /// table, when the data goes there), `COPY` of `data` (text format), then
    /// `stmts` (the merge, if staged, and the checkpoint).
    pub(crate) async fn pg_copy_transaction(
        &self,
        setup: Option<&str>,
        copy: &str,
        data: &[u8],
        stmts: &[Stmt],
    ) -> Result<(), sqlx::Error> {
        let Pool::Postgres(pool) = &self.pool else {
            return Err(sqlx::Error::Protocol("COPY needs PostgreSQL".into()));
        };
        let mut attempt = 0;
        loop {
            let result = async {
                let mut tx = pool.begin().await?;
                if let Some(setup) = setup {
                    sqlx::raw_sql(AssertSqlSafe(setup))
                        .execute(&mut *tx)
                        .await?;
                }
                let mut copy_in = tx.copy_in_raw(copy).await?;
                copy_in.send(data).await?;
                copy_in.finish().await?;
                for stmt in stmts {
                    let q = bind_all(sqlx::query(AssertSqlSafe(stmt.sql.as_str())), &stmt.binds);
                    q.execute(&mut *tx).await?;
                }
                tx.commit().await
            }
            .await;
            match result {
                Err(err) if attempt < 5 && is_retryable(&err) => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(20 * (1 << attempt))).await;
                }
                other => return other,
            }
        }
    }

    /// `COPY (query) TO STDOUT` in text format, appended to `into` as it
    /// arrives. The statement takes no binds.
    pub(crate) async fn pg_copy_out(
        &self,
        copy: &str,
        into: &mut Vec<u8>,
    ) -> Result<(), sqlx::Error> {
        use futures::TryStreamExt as _;
        use sqlx::postgres::PgPoolCopyExt as _;
        let Pool::Postgres(pool) = &self.pool else {
            return Err(sqlx::Error::Protocol("COPY needs PostgreSQL".into()));
        };
        let mut data = pool.copy_out_raw(copy).await?;
        while let Some(bytes) = data.try_next().await? {
            into.extend_from_slice(&bytes);
        }
        Ok(())
    }

    /// Runs one statement outside a transaction.
    pub(crate) async fn execute(&self, stmt: &Stmt) -> Result<u64, sqlx::Error> {
        with_pool!(self, |pool| {
            let q = bind_all(sqlx::query(AssertSqlSafe(stmt.sql.as_str())), &stmt.binds);
            Ok(q.execute(pool).await?.rows_affected())
        })
    }

    /// Runs a query and decodes each row's columns by `columns`' kinds.
    pub(crate) async fn fetch(
        &self,
        stmt: &Stmt,
        columns: &[Column],
    ) -> Result<Vec<Vec<Value>>, sqlx::Error> {
        let mut rows = Vec::new();
        self.fetch_each(stmt, |row| {
            rows.push(
                row_values(row, columns).map_err(|message| sqlx::Error::Decode(message.into()))?,
            );
            Ok::<_, sqlx::Error>(())
        })
        .await?;
        Ok(rows)
    }

    /// Runs a query and hands each row, as the driver returned it, to `each`
    /// while the next ones arrive; the last row, for its key. The first error
    /// `each` returns ends the query.
    pub(crate) async fn fetch_each<E: From<sqlx::Error>>(
        &self,
        stmt: &Stmt,
        mut each: impl FnMut(&dyn Cells) -> Result<(), E> + Send,
    ) -> Result<Option<RawRow>, E> {
        use futures::TryStreamExt as _;
        let sql = || AssertSqlSafe(stmt.sql.as_str());
        macro_rules! each_row {
            ($pool:expr, $variant:ident) => {{
                let mut rows = bind_all(sqlx::query(sql()), &stmt.binds).fetch($pool);
                let mut last = None;
                while let Some(row) = rows.try_next().await? {
                    each(&row)?;
                    last = Some(row);
                }
                Ok(last.map(RawRow::$variant))
            }};
        }
        match &self.pool {
            Pool::Sqlite(pool) => each_row!(pool, Sqlite),
            Pool::Postgres(pool) => each_row!(pool, Postgres),
            Pool::MySql(pool) => each_row!(pool, MySql),
        }
    }

    /// One integer from a query (a count).
    pub(crate) async fn fetch_i64(&self, stmt: &Stmt) -> Result<i64, sqlx::Error> {
        with_pool!(self, |pool| {
            let q = bind_all(sqlx::query(AssertSqlSafe(stmt.sql.as_str())), &stmt.binds);
            let row = q.fetch_one(pool).await?;
            row.try_get::<Option<i64>, _>(0)
                .map(Option::unwrap_or_default)
        })
    }

    /// Text rows of a query (introspection).
    pub(crate) async fn fetch_text(
        &self,
        stmt: &Stmt,
        width: usize,
    ) -> Result<Vec<Vec<Option<String>>>, sqlx::Error> {
        with_pool!(self, |pool| {
            let q = bind_all(sqlx::query(AssertSqlSafe(stmt.sql.as_str())), &stmt.binds);
            let rows = q.fetch_all(pool).await?;
            rows.iter()
                .map(|row| {
                    (0..width)
                        .map(|i| row.try_get::<Option<String>, _>(i))
                        .collect()
                })
                .collect()
        })
    }

    /// Runs a probe query to its end; how long it took.
    pub(crate) async fn probe(&self, sql: &str) -> Result<Duration, sqlx::Error> {
        let started = std::time::Instant::now();
        with_pool!(self, |pool| {
            sqlx::raw_sql(AssertSqlSafe(sql)).fetch_all(pool).await?;
        });
        Ok(started.elapsed())
    }

    /// Whether this database is a replica, and how far behind its primary.
    pub(crate) async fn replication(&self) -> Result<Replication, sqlx::Error> {
        match &self.pool {
            Pool::Sqlite(_) => Ok(Replication::Primary),
            Pool::Postgres(pool) => {
                // Caught up (all received WAL replayed) is 0 s, not the age of
                // the last replayed transaction, which grows on an idle primary.
                let row = sqlx::query(
                    "SELECT pg_is_in_recovery(), CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() \
                     THEN 0::float8 ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8 END",
                )
                .fetch_one(pool)
                .await?;
                if !row.try_get::<bool, _>(0)? {
                    return Ok(Replication::Primary);
                }
                Ok(Replication::Replica(row.try_get::<Option<f64>, _>(1)?))
            }
            Pool::MySql(pool) => {
                // MariaDB 10.5+ and MySQL 8.0.22+ know REPLICA; older servers SLAVE.
                let rows = match sqlx::raw_sql("SHOW REPLICA STATUS").fetch_all(pool).await {
                    Ok(rows) => rows,
                    Err(_) => sqlx::raw_sql("SHOW SLAVE STATUS").fetch_all(pool).await?,
                };
                if rows.is_empty() {
                    return Ok(Replication::Primary);
                }
                // Several sources (MariaDB multi-source): the worst lag counts;
                // NULL (replication stopped) makes it unknown.
                let mut worst = Some(0.0_f64);
                for row in &rows {
                    let lag = ["Seconds_Behind_Master", "Seconds_Behind_Source"]
                        .iter()
                        .find_map(|column| row.try_get_unchecked::<Option<String>, _>(*column).ok())
                        .flatten()
                        .and_then(|text| text.parse::<f64>().ok());
                    worst = worst.zip(lag).map(|(w, l)| w.max(l));
                }
                Ok(Replication::Replica(worst))
            }
        }
    }

    /// Whether a table exists.
    pub async fn has_table(&self, table: &str) -> Result<bool> {
        Ok(self.introspect(table).await?.is_some())
    }

    /// The schema of a table; `None` when it does not exist.
    pub async fn introspect(&self, table: &str) -> Result<Option<TableSchema>> {
        let context = format!("reading the schema of table `{table}`");
        let (columns, unique) = match self.engine() {
            Engine::Postgres => self.introspect_pg(table).await,
            Engine::MySql => self.introspect_mysql(table).await,
            Engine::Sqlite => self.introspect_sqlite(table).await,
        }
        .map_err(|err| self.sql_error(context, &err))?;
        if columns.is_empty() {
            return Ok(None);
        }
        let index = |name: &str| columns.iter().position(|c: &Column| c.name == name);
        let mut unique_keys = Vec::new();
        let mut primary = None;
        for (is_primary, names) in unique {
            let Some(key) = names.iter().map(|n| index(n)).collect::<Option<Vec<_>>>() else {
                continue;
            };
            if is_primary {
                primary = Some(key.clone());
            }
            unique_keys.push(key);
        }
        let (key, key_is_primary) = match primary {
            Some(key) => (key, true),
            None => (
                unique_keys
                    .iter()
                    .find(|k| k.iter().all(|&i| !columns[i].nullable))
                    .cloned()
                    .unwrap_or_default(),
                false,
            ),
        };
        Ok(Some(TableSchema {
            name: table.to_owned(),
            columns,
            key,
            key_is_primary,
            unique_keys,
        }))
    }

    async fn introspect_pg(
        &self,
        table: &str,
    ) -> Result<(Vec<Column>, Vec<(bool, Vec<String>)>), sqlx::Error> {
        let mut stmt = Stmt::new(
            "SELECT column_name::text, data_type::text, udt_name::text, is_nullable::text, \
             format_type(a.atttypid, a.atttypmod) \
             FROM information_schema.columns c \
             JOIN pg_attribute a ON a.attrelid = (quote_ident(c.table_schema) || '.' || quote_ident(c.table_name))::regclass \
              AND a.attname = c.column_name \
             WHERE c.table_schema = current_schema() AND c.table_name = $1 ORDER BY c.ordinal_position",
        );
        stmt.binds.push(Value::Text(table.to_owned()));
        let rows = self.fetch_text(&stmt, 5).await?;
        let columns = rows
            .into_iter()
            .map(|r| {
                let [name, data_type, udt, nullable, decl] =
                    <[Option<String>; 5]>::try_from(r).unwrap_or_default();
                let (name, data_type, udt) = (
                    name.unwrap_or_default(),
                    data_type.unwrap_or_default(),
                    udt.unwrap_or_default(),
                );
                let (kind, read) = pg_kind(&data_type);
                let cast = if udt
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                {
                    udt.clone()
                } else {
                    quote(Engine::Postgres, &udt)
                };
                Column {
                    name,
                    decl: decl.unwrap_or(data_type),
                    kind,
                    nullable: nullable.as_deref() == Some("YES"),
                    cast,
                    read,
                    single: udt == "float4",
                }
            })
            .collect();
        let mut stmt = Stmt::new(
            "SELECT CASE WHEN i.indisprimary THEN 'p' ELSE 'u' END, \
             string_agg(a.attname::text, chr(31) ORDER BY k.ord) \
             FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) \
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum \
             WHERE c.relname = $1 AND n.nspname = current_schema() AND i.indisunique \
               AND i.indpred IS NULL AND i.indexprs IS NULL \
             GROUP BY i.indexrelid, i.indisprimary ORDER BY i.indisprimary DESC, i.indexrelid",
        );
        stmt.binds.push(Value::Text(table.to_owned()));
        let keys = self
            .fetch_text(&stmt, 2)
            .await?
            .into_iter()
            .map(|r| {
                let names = r[1].clone().unwrap_or_default();
                (
                    r[0].as_deref() == Some("p"),
                    names.split('\u{1f}').map(str::to_owned).collect(),
                )
            })
            .collect();
        Ok((columns, keys))
    }

    async fn introspect_mysql(
        &self,
        table: &str,
    ) -> Result<(Vec<Column>, Vec<(bool, Vec<String>)>), sqlx::Error> {
        let mut stmt = Stmt::new(
            "SELECT CAST(column_name AS CHAR), CAST(data_type AS CHAR), CAST(column_type AS CHAR), \
             CAST(is_nullable AS CHAR) FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = ? ORDER BY ordinal_position",
        );
        stmt.binds.push(Value::Text(table.to_owned()));
        let rows = self.fetch_text(&stmt, 4).await?;
        let columns = rows
            .into_iter()
            .map(|r| {
                let [name, data_type, column_type, nullable] =
                    <[Option<String>; 4]>::try_from(r).unwrap_or_default();
                let data_type = data_type.unwrap_or_default().to_ascii_lowercase();
                let column_type = column_type.unwrap_or_default().to_ascii_lowercase();
                let (kind, read) = mysql_kind(&data_type, &column_type);
                Column {
                    name: name.unwrap_or_default(),
                    decl: column_type,
                    kind,
                    nullable: nullable.as_deref() == Some("YES"),
                    cast: String::new(),
                    read,
                    single: data_type == "float",
                }
            })
            .collect();
        let mut stmt = Stmt::new(
            "SELECT CAST(index_name AS CHAR), CAST(column_name AS CHAR) FROM information_schema.statistics \
             WHERE table_schema = DATABASE() AND table_name = ? AND non_unique = 0 \
             ORDER BY index_name = 'PRIMARY' DESC, index_name, seq_in_index",
        );
        stmt.binds.push(Value::Text(table.to_owned()));
        let mut keys: Vec<(String, Vec<String>)> = Vec::new();
        for r in self.fetch_text(&stmt, 2).await? {
            let (index, column) = (
                r[0].clone().unwrap_or_default(),
                r[1].clone().unwrap_or_default(),
            );
            match keys.last_mut() {
                Some((name, columns)) if *name == index => columns.push(column),
                _ => keys.push((index, vec![column])),
            }
        }
        Ok((
            columns,
            keys.into_iter()
                .map(|(name, cols)| (name == "PRIMARY", cols))
                .collect(),
        ))
    }

    async fn introspect_sqlite(
        &self,
        table: &str,
    ) -> Result<(Vec<Column>, Vec<(bool, Vec<String>)>), sqlx::Error> {
        let mut stmt = Stmt::new(
            "SELECT name, type, CAST(\"notnull\" AS TEXT), CAST(pk AS TEXT) FROM pragma_table_info(?) ORDER BY cid",
        );
        stmt.binds.push(Value::Text(table.to_owned()));
        let rows = self.fetch_text(&stmt, 4).await?;
        let mut pk: Vec<(i64, String)> = Vec::new();
        let columns = rows
            .into_iter()
            .map(|r| {
                let [name, decl, notnull, pk_pos] =
                    <[Option<String>; 4]>::try_from(r).unwrap_or_default();
                let name = name.unwrap_or_default();
                let decl = decl.unwrap_or_default();
                let pk_pos: i64 = pk_pos.as_deref().unwrap_or("0").parse().unwrap_or(0);
                if pk_pos > 0 {
                    pk.push((pk_pos, name.clone()));
                }
                Column {
                    kind: sqlite_kind(&decl),
                    decl,
                    // SQLite lets a non-INTEGER primary key hold NULL; we read it as declared.
                    nullable: notnull.as_deref() != Some("1") && pk_pos == 0,
                    name,
                    cast: String::new(),
                    read: Read::Plain,
                    single: false,
                }
            })
            .collect();
        pk.sort();
        let mut keys = Vec::new();
        if !pk.is_empty() {
            keys.push((true, pk.into_iter().map(|(_, n)| n).collect()));
        }
        let mut stmt = Stmt::new(
            "SELECT l.name, group_concat(i.name, char(31)) FROM pragma_index_list(?) l \
             JOIN pragma_index_info(l.name) i WHERE l.\"unique\" = 1 AND l.partial = 0 AND l.origin <> 'pk' \
             GROUP BY l.name ORDER BY l.name",
        );
        stmt.binds.push(Value::Text(table.to_owned()));
        for r in self.fetch_text(&stmt, 2).await? {
            let names = r[1].clone().unwrap_or_default();
            keys.push((false, names.split('\u{1f}').map(str::to_owned).collect()));
        }
        Ok((columns, keys))
    }
}

/// PostgreSQL's `information_schema` type → kind and how to read it.
fn pg_kind(data_type: &str) -> (Kind, Read) {
    match data_type {
        "smallint" | "integer" | "bigint" => (Kind::Int, Read::Plain),
        "numeric" => (Kind::Decimal, Read::AsText),
        "real" | "double precision" => (Kind::Float, Read::Plain),
        "boolean" => (Kind::Bool, Read::Plain),
        "bytea" => (Kind::Bytes, Read::Plain),
        "date" => (Kind::Date, Read::Plain),
        "time without time zone" => (Kind::Time, Read::Plain),
        "timestamp without time zone" => (Kind::DateTime, Read::Plain),
        "timestamp with time zone" => (Kind::Timestamptz, Read::Plain),
        "json" | "jsonb" => (Kind::Json, Read::AsText),
        _ => (Kind::Text, Read::AsText),
    }
}

/// MySQL/MariaDB type → kind and how to read it.
fn mysql_kind(data_type: &str, column_type: &str) -> (Kind, Read) {
    let unsigned = column_type.contains("unsigned");
    match data_type {
        "tinyint" if column_type.starts_with("tinyint(1)") && !unsigned => {
            (Kind::Bool, Read::Plain)
        }
        "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" => {
            (if unsigned { Kind::UInt } else { Kind::Int }, Read::Plain)
        }
        "bit" => (Kind::UInt, Read::AsUnsigned),
        "year" => (Kind::Int, Read::AsUnsigned),
        "decimal" | "numeric" => (Kind::Decimal, Read::AsText),
        "float" | "double" | "real" => (Kind::Float, Read::Plain),
        "binary" | "varbinary" | "blob" | "tinyblob" | "mediumblob" | "longblob" => {
            (Kind::Bytes, Read::Plain)
        }
        "date" => (Kind::Date, Read::Plain),
        "time" => (Kind::Time, Read::Plain),
        "datetime" => (Kind::DateTime, Read::Plain),
        "timestamp" => (Kind::Timestamptz, Read::Plain),
        "json" => (Kind::Json, Read::AsText),
        "set" | "enum" => (Kind::Text, Read::AsText),
        _ => (Kind::Text, Read::AsText),
    }
}

/// SQLite declared type → kind, by SQLite's affinity rules plus the usual names.
fn sqlite_kind(decl: &str) -> Kind {
    let d = decl.to_ascii_uppercase();
    if d.contains("BOOL") {
        Kind::Bool
    } else if d.contains("INT") {
        Kind::Int
    } else if d.contains("CHAR") || d.contains("CLOB") || d.contains("TEXT") {
        Kind::Text
    } else if d.contains("BLOB") || d.is_empty() {
        Kind::Bytes
    } else if d.contains("REAL") || d.contains("FLOA") || d.contains("DOUB") {
        Kind::Float
    } else if d.contains("TIMESTAMPTZ") || d.contains("WITH TIME ZONE") {
        Kind::Timestamptz
    } else if d.contains("DATETIME") || d.contains("TIMESTAMP") {
        Kind::DateTime
    } else if d.contains("DATE") {
        Kind::Date
    } else if d.contains("TIME") {
        Kind::Time
    } else if d.contains("JSON") {
        Kind::Json
    } else if d.contains("DEC") || d.contains("NUM") {
        Kind::Decimal
    } else {
        Kind::Text
    }
}

/// Deadlocks and serialization failures: PostgreSQL 40001/40P01, MySQL 1213
/// (SQLSTATE 40001), SQLite busy.
fn is_retryable(err: &sqlx::Error) -> bool {
    err.as_database_error().is_some_and(|e| {
        matches!(
            e.code().as_deref(),
            Some("40001" | "40P01" | "1213" | "5" | "517")
        )
    })
}

/// Removes a DSN's password from a driver message, should it quote the URL.
fn strip_password(message: &str, dsn: &Dsn) -> String {
    let url = dsn.url();
    match url::Url::parse(url)
        .ok()
        .and_then(|u| u.password().map(str::to_owned))
    {
        Some(password) if !password.is_empty() => message.replace(&password, "***"),
        _ => message.to_owned(),
    }
}

/// Binds every value of a statement.
fn bind_all<'q, Q: BindValue<'q>>(mut q: Q, values: &'q [Value]) -> Q {
    for value in values {
        q = q.bind_value(value);
    }
    q
}

/// Binding a [`Value`] the way each driver wants it.
trait BindValue<'q>: Sized {
    fn bind_value(self, value: &'q Value) -> Self;
}

impl<'q> BindValue<'q> for Query<'q, Postgres, PgArguments> {
    fn bind_value(self, value: &'q Value) -> Self {
        match value {
            Value::Null => self.bind(None::<&str>),
            Value::Bool(b) => self.bind(*b),
            Value::Int(i) => self.bind(*i),
            Value::UInt(u) => match i64::try_from(*u) {
                Ok(i) => self.bind(i),
                Err(_) => self.bind(u.to_string()),
            },
            Value::Float(x) => self.bind(*x),
            Value::Decimal(s) | Value::Text(s) | Value::Json(s) | Value::ZeroDate(s) => {
                self.bind(s.as_str())
            }
            Value::Bytes(b) => self.bind(b.as_slice()),
            Value::Date(d) => self.bind(*d),
            Value::Time(t) => self.bind(*t),
            Value::DateTime(t) => self.bind(*t),
            Value::Timestamptz(t) => self.bind(*t),
        }
    }
}

impl<'q> BindValue<'q> for Query<'q, MySql, MySqlArguments> {
    fn bind_value(self, value: &'q Value) -> Self {
        match value {
            Value::Null => self.bind(None::<&str>),
            Value::Bool(b) => self.bind(*b),
            Value::Int(i) => self.bind(*i),
            Value::UInt(u) => self.bind(*u),
            Value::Float(x) => self.bind(*x),
            Value::Decimal(s) | Value::Text(s) | Value::Json(s) | Value::ZeroDate(s) => {
                self.bind(s.as_str())
            }
            Value::Bytes(b) => self.bind(b.as_slice()),
            Value::Date(d) => self.bind(*d),
            Value::Time(t) => self.bind(*t),
            Value::DateTime(t) => self.bind(*t),
            Value::Timestamptz(t) => self.bind(*t),
        }
    }
}

impl<'q> BindValue<'q> for Query<'q, Sqlite, SqliteArguments> {
    fn bind_value(self, value: &'q Value) -> Self {
        match value {
            Value::Null => self.bind(None::<&str>),
            Value::Bool(b) => self.bind(i64::from(*b)),
            Value::Int(i) => self.bind(*i),
            Value::UInt(u) => match i64::try_from(*u) {
                Ok(i) => self.bind(i),
                Err(_) => self.bind(u.to_string()),
            },
            Value::Float(x) => self.bind(*x),
            Value::Decimal(s) | Value::Text(s) | Value::Json(s) | Value::ZeroDate(s) => {
                self.bind(s.as_str())
            }
            Value::Bytes(b) => self.bind(b.as_slice()),
            Value::Date(d) => self.bind(d.format("%F").to_string()),
            Value::Time(t) => self.bind(t.format("%T%.f").to_string()),
            Value::DateTime(t) => self.bind(t.format("%F %T%.f").to_string()),
            Value::Timestamptz(t) => self.bind(t.to_rfc3339_opts(SecondsFormat::AutoSi, false)),
        }
    }
}

/// A row as its driver returned it, each cell decoded when asked.
pub(crate) trait Cells {
    /// Cell `i` decoded into a [`Value`] by `column`'s kind.
    fn cell(&self, i: usize, column: &Column) -> Result<Value, String>;

    /// Cell `i` written into `out` as `pass` says, with no [`Value`] in
    /// between; false, with nothing written, when this value needs
    /// [`Cells::cell`] (a MySQL zero date, a driver that has no passthrough).
    fn pass(&self, _i: usize, _column: &Column, _pass: Pass, _out: &mut Payload) -> bool {
        false
    }
}

/// A row's cells decoded by `columns`' kinds.
pub(crate) fn row_values(row: &dyn Cells, columns: &[Column]) -> Result<Vec<Value>, String> {
    columns
        .iter()
        .enumerate()
        .map(|(i, column)| row.cell(i, column))
        .collect()
}

/// A row as its driver returned it.
pub(crate) enum RawRow {
    Sqlite(SqliteRow),
    Postgres(PgRow),
    MySql(MySqlRow),
}

impl RawRow {
    pub(crate) fn cells(&self) -> &dyn Cells {
        match self {
            Self::Sqlite(row) => row,
            Self::Postgres(row) => row,
            Self::MySql(row) => row,
        }
    }
}

fn column_error(column: &Column, err: &sqlx::Error) -> String {
    format!("column `{}` ({}): {err}", column.name, column.decl)
}

fn text_value(kind: Kind, text: String) -> Value {
    match kind {
        Kind::Decimal => normalise_decimal(&text).map_or(Value::Text(text), Value::Decimal),
        Kind::Json => match canonical_json(&text) {
            Some(json) => Value::Json(json),
            None => Value::Text(text),
        },
        Kind::UInt => text.parse().map_or(Value::Text(text), Value::UInt),
        _ => Value::Text(text),
    }
}

impl Cells for PgRow {
    fn cell(&self, i: usize, column: &Column) -> Result<Value, String> {
        let value = match column.kind {
            Kind::Bool => self
                .try_get::<Option<bool>, _>(i)
                .map(|v| v.map(Value::Bool)),
            Kind::Int => match column.cast.as_str() {
                "int2" => self
                    .try_get::<Option<i16>, _>(i)
                    .map(|v| v.map(|x| Value::Int(x.into()))),
                "int4" => self
                    .try_get::<Option<i32>, _>(i)
                    .map(|v| v.map(|x| Value::Int(x.into()))),
                _ => self.try_get::<Option<i64>, _>(i).map(|v| v.map(Value::Int)),
            },
            Kind::Float if column.single => self
                .try_get::<Option<f32>, _>(i)
                .map(|v| v.map(|x| Value::Float(x.into()))),
            Kind::Float => self
                .try_get::<Option<f64>, _>(i)
                .map(|v| v.map(Value::Float)),
            Kind::Bytes => self
                .try_get::<Option<Vec<u8>>, _>(i)
                .map(|v| v.map(Value::Bytes)),
            Kind::Date => self
                .try_get::<Option<NaiveDate>, _>(i)
                .map(|v| v.map(Value::Date)),
            Kind::Time => self
                .try_get::<Option<NaiveTime>, _>(i)
                .map(|v| v.map(Value::Time)),
            Kind::DateTime => self
                .try_get::<Option<NaiveDateTime>, _>(i)
                .map(|v| v.map(Value::DateTime)),
            Kind::Timestamptz => self
                .try_get::<Option<DateTime<Utc>>, _>(i)
                .map(|v| v.map(Value::Timestamptz)),
            kind @ (Kind::Text | Kind::Decimal | Kind::Json | Kind::UInt) => self
                .try_get::<Option<String>, _>(i)
                .map(|v| v.map(|s| text_value(kind, s))),
        };
        value
            .map(|v| v.unwrap_or(Value::Null))
            .map_err(|err| column_error(column, &err))
    }

    fn pass(&self, i: usize, column: &Column, pass: Pass, out: &mut Payload) -> bool {
        match self.try_get_raw(i) {
            Ok(raw) if raw.is_null() => {
                out.push_null();
                return true;
            }
            Ok(_) => {}
            Err(_) => return false,
        }
        match (pass, column.cast.as_str()) {
            (Pass::Int, "int2") => self
                .try_get::<i16, _>(i)
                .map(|x| out.push_int(x.into()))
                .is_ok(),
            (Pass::Int, "int4") => self
                .try_get::<i32, _>(i)
                .map(|x| out.push_int(x.into()))
                .is_ok(),
            _ => pass_decoded(self, i, column, pass, out),
        }
    }
}

impl Cells for MySqlRow {
    fn cell(&self, i: usize, column: &Column) -> Result<Value, String> {
        let value = match column.kind {
            Kind::Bool => self
                .try_get::<Option<bool>, _>(i)
                .map(|v| v.map(Value::Bool)),
            Kind::Int if column.read == Read::AsUnsigned => self
                .try_get::<Option<u64>, _>(i)
                .map(|v| v.map(|x| i64::try_from(x).map_or(Value::UInt(x), Value::Int))),
            Kind::Int => self.try_get::<Option<i64>, _>(i).map(|v| v.map(Value::Int)),
            Kind::UInt => self
                .try_get::<Option<u64>, _>(i)
                .map(|v| v.map(Value::UInt)),
            Kind::Float if column.single => self
                .try_get::<Option<f32>, _>(i)
                .map(|v| v.map(|x| Value::Float(x.into()))),
            Kind::Float => self
                .try_get::<Option<f64>, _>(i)
                .map(|v| v.map(Value::Float)),
            Kind::Bytes => self
                .try_get::<Option<Vec<u8>>, _>(i)
                .map(|v| v.map(Value::Bytes)),
            Kind::Date => mysql_dated(
                self,
                i,
                false,
                self.try_get::<Option<NaiveDate>, _>(i)
                    .map(|v| v.map(Value::Date)),
            ),
            Kind::Time => self
                .try_get::<Option<NaiveTime>, _>(i)
                .map(|v| v.map(Value::Time)),
            Kind::DateTime => mysql_dated(
                self,
                i,
                true,
                self.try_get::<Option<NaiveDateTime>, _>(i)
                    .map(|v| v.map(Value::DateTime)),
            ),
            Kind::Timestamptz => mysql_dated(
                self,
                i,
                true,
                self.try_get::<Option<DateTime<Utc>>, _>(i)
                    .map(|v| v.map(Value::Timestamptz)),
            ),
            kind @ (Kind::Text | Kind::Decimal | Kind::Json) => self
                .try_get::<Option<String>, _>(i)
                .map(|v| v.map(|s| text_value(kind, s))),
        };
        value
            .map(|v| v.unwrap_or(Value::Null))
            .map_err(|err| column_error(column, &err))
    }

    fn pass(&self, i: usize, column: &Column, pass: Pass, out: &mut Payload) -> bool {
        let dated = matches!(
            pass,
            Pass::Date | Pass::DateTime { .. } | Pass::Instant { .. }
        );
        match self.try_get_raw(i) {
            // The driver takes a zero date for NULL: `cell` tells them apart.
            Ok(raw) if raw.is_null() && dated => return false,
            Ok(raw) if raw.is_null() => {
                out.push_null();
                return true;
            }
            Ok(_) => {}
            Err(_) => return false,
        }
        pass_decoded(self, i, column, pass, out)
    }
}

/// A non-null passthrough cell decoded straight into the COPY data, the same
/// way for every driver (PostgreSQL's narrower integers are read by the caller).
fn pass_decoded<'r, R: Row>(
    row: &'r R,
    i: usize,
    column: &Column,
    pass: Pass,
    out: &mut Payload,
) -> bool
where
    usize: sqlx::ColumnIndex<R>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    f32: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    f64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    &'r str: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    NaiveDate: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    NaiveDateTime: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    DateTime<Utc>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    match pass {
        Pass::Int => row.try_get::<i64, _>(i).map(|x| out.push_int(x)).is_ok(),
        Pass::Bool => row.try_get::<bool, _>(i).map(|b| out.push_bool(b)).is_ok(),
        Pass::Float if column.single => row
            .try_get::<f32, _>(i)
            .map(|x| out.push_float(x.into()))
            .is_ok(),
        Pass::Float => row.try_get::<f64, _>(i).map(|x| out.push_float(x)).is_ok(),
        Pass::Text => row.try_get::<&str, _>(i).map(|s| out.push_text(s)).is_ok(),
        Pass::Decimal => row
            .try_get::<&str, _>(i)
            .is_ok_and(|s| out.push_decimal(s.as_bytes())),
        Pass::Date => row
            .try_get::<NaiveDate, _>(i)
            .map(|d| out.push_date(d))
            .is_ok(),
        Pass::DateTime { zone } => row
            .try_get::<NaiveDateTime, _>(i)
            .map(|t| out.push_datetime(t, zone))
            .is_ok(),
        Pass::Instant { zone } => row
            .try_get::<DateTime<Utc>, _>(i)
            .map(|t| out.push_instant(t, zone))
            .is_ok(),
    }
}

/// A MySQL date or time value, zero dates told apart: sqlx reads a zero date
/// (`0000-00-00`) as NULL and a zero month or day as an error.
fn mysql_dated(
    row: &MySqlRow,
    i: usize,
    with_time: bool,
    decoded: Result<Option<Value>, sqlx::Error>,
) -> Result<Option<Value>, sqlx::Error> {
    match decoded {
        Ok(Some(value)) => Ok(Some(value)),
        Ok(None) => Ok(mysql_zero_date(row, i, with_time)),
        Err(err) => mysql_zero_date(row, i, with_time).map(Some).ok_or(err),
    }
}

/// A MySQL zero date (`0000-00-00`, a zero month or day), which chrono cannot
/// hold, in the server's spelling; `None` for NULL or any other value.
fn mysql_zero_date(row: &MySqlRow, i: usize, with_time: bool) -> Option<Value> {
    // Unchecked: the raw bytes, which NULL alone lacks.
    let raw: &[u8] = row.try_get_unchecked(i).ok()?;
    let text = match *raw.first()? {
        // The text protocol: the server's own spelling.
        b'0'..=b'9' => {
            let zero = raw.get(5..7) == Some(b"00") || raw.get(8..10) == Some(b"00");
            return zero.then(|| Value::ZeroDate(String::from_utf8_lossy(raw).into_owned()));
        }
        // The binary protocol: a length byte, then year (u16 LE), month, day,
        // and with a time hour, minute, second and microseconds (u32 LE).
        len => {
            let at = |n: usize| raw.get(1 + n).copied().unwrap_or(0);
            if len >= 4 && at(2) != 0 && at(3) != 0 {
                return None;
            }
            let mut text = format!(
                "{:04}-{:02}-{:02}",
                u16::from_le_bytes([at(0), at(1)]),
                at(2),
                at(3)
            );
            if with_time {
                text.push_str(&format!(" {:02}:{:02}:{:02}", at(4), at(5), at(6)));
                let micros = u32::from_le_bytes([at(7), at(8), at(9), at(10)]);
                if len >= 11 && micros > 0 {
                    text.push_str(&format!(".{micros:06}"));
                }
            }
            text
        }
    };
    Some(Value::ZeroDate(text))
}

impl Cells for SqliteRow {
    fn cell(&self, i: usize, column: &Column) -> Result<Value, String> {
        let raw = self
            .try_get_raw(i)
            .map_err(|err| column_error(column, &err))?;
        let storage = if raw.is_null() {
            "NULL".to_owned()
        } else {
            raw.type_info().name().to_owned()
        };
        let value = match storage.as_str() {
            "NULL" => Ok(Value::Null),
            "INTEGER" => self.try_get::<i64, _>(i).map(Value::Int),
            "REAL" => self.try_get::<f64, _>(i).map(Value::Float),
            "BLOB" => self.try_get::<Vec<u8>, _>(i).map(Value::Bytes),
            _ => self.try_get::<String, _>(i).map(Value::Text),
        }
        .map_err(|err| column_error(column, &err))?;
        // SQLite is dynamically typed: read by the declared kind when the
        // stored value converts, else keep what is stored.
        Ok(value.clone().coerce(column.kind).unwrap_or(value))
    }
}
