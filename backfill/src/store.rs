//! The evidence kept in the target database: one checkpoint per copied table
//! (`msa_backfill_checkpoints`) and one row per verify run (`msa_verify_runs`).
//!
//! Times are stored as RFC 3339 text and keys as JSON, so the tables look the
//! same on every engine.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::db::{Db, SqlBuilder, Stmt};
use crate::dsn::{Dsn, Engine};
use crate::error::Result;
use crate::value::Value;

/// The checkpoint table's name.
pub const CHECKPOINTS: &str = "msa_backfill_checkpoints";
/// The verify-run table's name.
pub const VERIFY_RUNS: &str = "msa_verify_runs";
/// The key-range table's name: one row per range of a table copied in ranges.
pub const RANGES: &str = "msa_backfill_ranges";
/// The verify-progress table's name: where an interrupted verify resumes.
pub const VERIFY_PROGRESS: &str = "msa_verify_progress";

/// Where a table's copy stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Checkpoint {
    /// The target table (the checkpoint's key).
    pub target_table: String,
    /// The source table.
    pub source_table: String,
    /// The last source key copied; `None` before the first chunk.
    pub last_key: Option<Vec<Value>>,
    /// The largest source key when the copy started: the copy's upper bound.
    pub max_key: Option<Vec<Value>>,
    /// Source rows in range when the copy started.
    pub rows_total: i64,
    /// Rows written so far (committed with `last_key`).
    pub rows_copied: i64,
    /// `copying` or `copied`.
    pub status: String,
    /// When the copy started.
    pub started_at: String,
    /// When the checkpoint last moved.
    pub updated_at: String,
    /// `--follow`: the source's `updated_at` up to which changes are applied.
    pub watermark: Option<Value>,
    /// `--follow`: the last pass's lag: the age, by the source's clock, of the
    /// oldest change it found not yet applied (0 when it found none).
    pub lag_seconds: Option<i64>,
}

/// One verify run, as recorded in the target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerifyRun {
    /// When it started (RFC 3339).
    pub started_at: DateTime<Utc>,
    /// When it finished.
    pub finished_at: DateTime<Utc>,
    /// The target tables verified.
    pub tables: Vec<String>,
    /// Source rows checked.
    pub rows_checked: i64,
    /// Rows missing, extra or different (after any repair).
    pub mismatches: i64,
    /// No mismatch left.
    pub clean: bool,
}

/// The follow lag of one table: how far behind the source the target may be.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lag {
    /// The target table.
    pub table: String,
    /// `copying`, `copied` (no catch-up running), or `following`.
    pub status: String,
    /// Seconds since the checkpoint last moved.
    pub seconds_since_update: i64,
    /// `--follow`: the last pass's lag, the age by the source's clock of the
    /// oldest change it found not yet applied (0: caught up); `None` when no
    /// follower ran. Read with `seconds_since_update`: a follower that stopped
    /// keeps its last lag.
    pub lag_seconds: Option<i64>,
}

pub(crate) fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn text_type(engine: Engine) -> &'static str {
    match engine {
        Engine::MySql => "LONGTEXT",
        Engine::Postgres | Engine::Sqlite => "TEXT",
    }
}

/// Creates the checkpoint table when missing.
pub(crate) async fn ensure_checkpoints(db: &Db) -> Result<()> {
    let text = text_type(db.engine());
    let sql = format!(
        "CREATE TABLE IF NOT EXISTS {CHECKPOINTS} (\
         target_table VARCHAR(190) NOT NULL PRIMARY KEY, source_table VARCHAR(190) NOT NULL, \
         last_key {text} NULL, max_key {text} NULL, rows_total BIGINT NOT NULL, \
         rows_copied BIGINT NOT NULL, status VARCHAR(16) NOT NULL, \
         started_at VARCHAR(40) NOT NULL, updated_at VARCHAR(40) NOT NULL, \
         watermark {text} NULL, lag_seconds BIGINT NULL)"
    );
    db.execute(&Stmt::new(sql))
        .await
        .map_err(|e| db.sql_error(format!("creating {CHECKPOINTS}"), &e))?;
    let sql = format!(
        "CREATE TABLE IF NOT EXISTS {RANGES} (\
         target_table VARCHAR(190) NOT NULL, range_no INTEGER NOT NULL, lower_key {text} NULL, \
         upper_key {text} NOT NULL, last_key {text} NULL, rows_copied BIGINT NOT NULL, \
         status VARCHAR(16) NOT NULL, updated_at VARCHAR(40) NOT NULL, \
         PRIMARY KEY (target_table, range_no))"
    );
    db.execute(&Stmt::new(sql))
        .await
        .map_err(|e| db.sql_error(format!("creating {RANGES}"), &e))?;
    // Checkpoint tables made by older versions lack these columns.
    for column in [
        format!("watermark {text} NULL"),
        "lag_seconds BIGINT NULL".to_owned(),
        format!("deferred_key {text} NULL"),
    ] {
        let _ = db
            .execute(&Stmt::new(format!(
                "ALTER TABLE {CHECKPOINTS} ADD COLUMN {column}"
            )))
            .await;
    }
    Ok(())
}

fn key_json(key: Option<&[Value]>) -> Value {
    key.map_or(Value::Null, |k| {
        Value::Text(serde_json::to_string(k).unwrap_or_default())
    })
}

fn parse_key(text: Option<String>) -> Option<Vec<Value>> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

/// The checkpoint of a target table, if any.
pub(crate) async fn load_checkpoint(db: &Db, target_table: &str) -> Result<Option<Checkpoint>> {
    let mut b = SqlBuilder::new(db.engine());
    b.push(&format!(
        "SELECT target_table, source_table, last_key, max_key, CAST(rows_total AS CHAR(20)), \
         CAST(rows_copied AS CHAR(20)), status, started_at, updated_at, watermark, \
         CAST(lag_seconds AS CHAR(20)) FROM {CHECKPOINTS} WHERE target_table = "
    ));
    b.push(placeholder(db.engine()));
    let mut stmt = b.finish();
    if db.engine() != Engine::MySql {
        stmt.sql = stmt.sql.replace("AS CHAR(20)", "AS TEXT");
    }
    stmt.binds.push(Value::Text(target_table.to_owned()));
    let rows = db
        .fetch_text(&stmt, 11)
        .await
        .map_err(|e| db.sql_error(format!("reading {CHECKPOINTS}"), &e))?;
    Ok(rows.into_iter().next().map(|r| {
        let s = |i: usize| r[i].clone().unwrap_or_default();
        Checkpoint {
            target_table: s(0),
            source_table: s(1),
            last_key: parse_key(r[2].clone()),
            max_key: parse_key(r[3].clone()),
            rows_total: s(4).parse().unwrap_or(0),
            rows_copied: s(5).parse().unwrap_or(0),
            status: s(6),
            started_at: s(7),
            updated_at: s(8),
            watermark: r[9]
                .as_deref()
                .and_then(|t| serde_json::from_str::<Value>(t).ok()),
            lag_seconds: r[10].as_deref().and_then(|t| t.parse().ok()),
        }
    }))
}

fn placeholder(engine: Engine) -> &'static str {
    match engine {
        Engine::Postgres => "$1",
        _ => "?",
    }
}

/// Numbered placeholders for PostgreSQL, `?` elsewhere.
fn placeholders(engine: Engine, sql: &str) -> String {
    if engine != Engine::Postgres {
        return sql.to_owned();
    }
    let mut n = 0;
    let mut out = String::with_capacity(sql.len());
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(c);
        }
    }
    out
}

/// Replaces a table's checkpoint with a fresh one (a new copy starting).
pub(crate) fn start_checkpoint(engine: Engine, cp: &Checkpoint, exists: bool) -> Vec<Stmt> {
    let mut delete = Stmt::new(placeholders(
        engine,
        &format!("DELETE FROM {CHECKPOINTS} WHERE target_table = ?"),
    ));
    delete.binds.push(Value::Text(cp.target_table.clone()));
    let mut insert = Stmt::new(placeholders(
        engine,
        &format!(
            "INSERT INTO {CHECKPOINTS} (target_table, source_table, last_key, max_key, rows_total, \
             rows_copied, status, started_at, updated_at, watermark) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ),
    ));
    insert.binds = vec![
        Value::Text(cp.target_table.clone()),
        Value::Text(cp.source_table.clone()),
        key_json(cp.last_key.as_deref()),
        key_json(cp.max_key.as_deref()),
        Value::Int(cp.rows_total),
        Value::Int(cp.rows_copied),
        Value::Text(cp.status.clone()),
        Value::Text(cp.started_at.clone()),
        Value::Text(cp.updated_at.clone()),
        cp.watermark.as_ref().map_or(Value::Null, |w| {
            Value::Text(serde_json::to_string(w).unwrap_or_default())
        }),
    ];
    if exists {
        vec![delete, insert]
    } else {
        vec![insert]
    }
}

/// One key range of a table copied by several workers: rows in
/// `(lower, upper]`, copied up to `last_key`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Range {
    /// Its number, from 0 in key order.
    pub(crate) number: i64,
    /// The exclusive lower bound; `None`: from the first key.
    pub(crate) lower: Option<Vec<Value>>,
    /// The inclusive upper bound.
    pub(crate) upper: Vec<Value>,
    /// The last key copied; `None` before the range's first chunk.
    pub(crate) last_key: Option<Vec<Value>>,
    /// `copying` or `copied`.
    pub(crate) status: String,
}

/// Replaces a table's ranges (none: copied as one range, by its checkpoint):
/// run in the transaction that starts the table's checkpoint.
pub(crate) fn start_ranges(engine: Engine, target_table: &str, ranges: &[Range]) -> Vec<Stmt> {
    let mut delete = Stmt::new(placeholders(
        engine,
        &format!("DELETE FROM {RANGES} WHERE target_table = ?"),
    ));
    delete.binds.push(Value::Text(target_table.to_owned()));
    let mut stmts = vec![delete];
    for range in ranges {
        let mut insert = Stmt::new(placeholders(
            engine,
            &format!(
                "INSERT INTO {RANGES} (target_table, range_no, lower_key, upper_key, last_key, \
                 rows_copied, status, updated_at) VALUES (?, ?, ?, ?, NULL, 0, 'copying', ?)"
            ),
        ));
        insert.binds = vec![
            Value::Text(target_table.to_owned()),
            Value::Int(range.number),
            key_json(range.lower.as_deref()),
            key_json(Some(&range.upper)),
            Value::Text(now()),
        ];
        stmts.push(insert);
    }
    stmts
}

/// A table's ranges, in key order; empty when it is copied as one range.
pub(crate) async fn load_ranges(db: &Db, target_table: &str) -> Result<Vec<Range>> {
    let mut stmt = Stmt::new(placeholders(
        db.engine(),
        &format!(
            "SELECT CAST(range_no AS CHAR(20)), lower_key, upper_key, last_key, status FROM {RANGES} \
             WHERE target_table = ? ORDER BY range_no"
        ),
    ));
    if db.engine() != Engine::MySql {
        stmt.sql = stmt.sql.replace("AS CHAR(20)", "AS TEXT");
    }
    stmt.binds.push(Value::Text(target_table.to_owned()));
    let rows = db
        .fetch_text(&stmt, 5)
        .await
        .map_err(|e| db.sql_error(format!("reading {RANGES}"), &e))?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            Some(Range {
                number: r[0].as_deref()?.parse().ok()?,
                lower: parse_key(r[1].clone()),
                upper: parse_key(r[2].clone())?,
                last_key: parse_key(r[3].clone()),
                status: r[4].clone().unwrap_or_default(),
            })
        })
        .collect())
}

/// Moves a range: run in the same transaction as the chunk it records.
pub(crate) fn advance_range(
    engine: Engine,
    target_table: &str,
    number: i64,
    last_key: Option<&[Value]>,
    rows_added: i64,
    status: &str,
) -> Stmt {
    let mut stmt = Stmt::new(placeholders(
        engine,
        &format!(
            "UPDATE {RANGES} SET last_key = COALESCE(?, last_key), rows_copied = rows_copied + ?, \
             status = ?, updated_at = ? WHERE target_table = ? AND range_no = ?"
        ),
    ));
    stmt.binds = vec![
        key_json(last_key),
        Value::Int(rows_added),
        Value::Text(status.to_owned()),
        Value::Text(now()),
        Value::Text(target_table.to_owned()),
        Value::Int(number),
    ];
    stmt
}

/// Moves a checkpoint: run in the same transaction as the chunk it records.
pub(crate) fn advance_checkpoint(
    engine: Engine,
    target_table: &str,
    last_key: Option<&[Value]>,
    rows_added: i64,
    status: &str,
) -> Stmt {
    let mut stmt = Stmt::new(placeholders(
        engine,
        &format!(
            "UPDATE {CHECKPOINTS} SET last_key = COALESCE(?, last_key), rows_copied = rows_copied + ?, \
             status = ?, updated_at = ? WHERE target_table = ?"
        ),
    ));
    stmt.binds = vec![
        key_json(last_key),
        Value::Int(rows_added),
        Value::Text(status.to_owned()),
        Value::Text(now()),
        Value::Text(target_table.to_owned()),
    ];
    stmt
}

/// Records that a table's primary key is built after its copy (on `key`'s
/// columns): run in the transaction that drops it.
pub(crate) fn defer_key(engine: Engine, target_table: &str, key: &[String]) -> Stmt {
    let mut stmt = Stmt::new(placeholders(
        engine,
        &format!("UPDATE {CHECKPOINTS} SET deferred_key = ? WHERE target_table = ?"),
    ));
    stmt.binds = vec![
        Value::Text(serde_json::to_string(key).unwrap_or_default()),
        Value::Text(target_table.to_owned()),
    ];
    stmt
}

/// Records that a table's deferred primary key is built: run in the
/// transaction that builds it.
pub(crate) fn key_built(engine: Engine, target_table: &str) -> Stmt {
    let mut stmt = Stmt::new(placeholders(
        engine,
        &format!("UPDATE {CHECKPOINTS} SET deferred_key = NULL WHERE target_table = ?"),
    ));
    stmt.binds = vec![Value::Text(target_table.to_owned())];
    stmt
}

/// The key columns of a table whose primary key a copy deferred and has not
/// built yet; `None` otherwise (or when there is no checkpoint table).
pub(crate) async fn deferred_key(db: &Db, target_table: &str) -> Option<Vec<String>> {
    let mut stmt = Stmt::new(placeholders(
        db.engine(),
        &format!("SELECT deferred_key FROM {CHECKPOINTS} WHERE target_table = ?"),
    ));
    stmt.binds.push(Value::Text(target_table.to_owned()));
    let rows = db.fetch_text(&stmt, 1).await.ok()?;
    let text = rows.into_iter().next()?.into_iter().next()??;
    serde_json::from_str(&text).ok()
}

/// Moves a table's follow watermark: run in the same transaction as the
/// changes it covers.
pub(crate) fn follow_checkpoint(
    engine: Engine,
    target_table: &str,
    watermark: &Value,
    lag_seconds: i64,
) -> Stmt {
    let mut stmt = Stmt::new(placeholders(
        engine,
        &format!(
            "UPDATE {CHECKPOINTS} SET watermark = ?, lag_seconds = ?, status = 'following', \
             updated_at = ? WHERE target_table = ?"
        ),
    ));
    stmt.binds = vec![
        Value::Text(serde_json::to_string(watermark).unwrap_or_default()),
        Value::Int(lag_seconds),
        Value::Text(now()),
        Value::Text(target_table.to_owned()),
    ];
    stmt
}

/// Creates the verify-run table when missing.
pub(crate) async fn ensure_verify_runs(db: &Db) -> Result<()> {
    let id = match db.engine() {
        Engine::Postgres => "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
        Engine::MySql => "BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY",
        Engine::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
    };
    let text = text_type(db.engine());
    let sql = format!(
        "CREATE TABLE IF NOT EXISTS {VERIFY_RUNS} (id {id}, started_at VARCHAR(40) NOT NULL, \
         finished_at VARCHAR(40) NOT NULL, tables {text} NOT NULL, rows_checked BIGINT NOT NULL, \
         mismatches BIGINT NOT NULL, clean SMALLINT NOT NULL)"
    );
    db.execute(&Stmt::new(sql))
        .await
        .map_err(|e| db.sql_error(format!("creating {VERIFY_RUNS}"), &e))?;
    Ok(())
}

/// Where one table's verify stands, as stored: keys and the report as JSON.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct VerifyProgress {
    /// What the saved progress is valid for (the plan, the chunk size).
    pub(crate) fingerprint: String,
    /// The last source key verified.
    pub(crate) after: Option<Vec<Value>>,
    /// The same bound as a target key.
    pub(crate) after_target: Option<Vec<Value>>,
    /// `verifying` or `verified`.
    pub(crate) status: String,
    /// The table's report so far, without its mismatch details (JSON).
    pub(crate) counts: String,
    /// The mismatch details kept so far, bounded (JSON).
    pub(crate) details: String,
}

/// Creates the verify-progress table when missing.
pub(crate) async fn ensure_verify_progress(db: &Db) -> Result<()> {
    let text = text_type(db.engine());
    let sql = format!(
        "CREATE TABLE IF NOT EXISTS {VERIFY_PROGRESS} (\
         target_table VARCHAR(190) NOT NULL PRIMARY KEY, fingerprint VARCHAR(40) NOT NULL, \
         after_key {text} NULL, after_target {text} NULL, status VARCHAR(16) NOT NULL, \
         counts {text} NOT NULL, details {text} NOT NULL, updated_at VARCHAR(40) NOT NULL)"
    );
    db.execute(&Stmt::new(sql))
        .await
        .map_err(|e| db.sql_error(format!("creating {VERIFY_PROGRESS}"), &e))?;
    Ok(())
}

/// A table's saved verify progress, if any.
pub(crate) async fn load_verify_progress(
    db: &Db,
    target_table: &str,
) -> Result<Option<VerifyProgress>> {
    let mut stmt = Stmt::new(placeholders(
        db.engine(),
        &format!(
            "SELECT fingerprint, after_key, after_target, status, counts, details \
             FROM {VERIFY_PROGRESS} WHERE target_table = ?"
        ),
    ));
    stmt.binds.push(Value::Text(target_table.to_owned()));
    let rows = db
        .fetch_text(&stmt, 6)
        .await
        .map_err(|e| db.sql_error(format!("reading {VERIFY_PROGRESS}"), &e))?;
    Ok(rows.into_iter().next().map(|r| VerifyProgress {
        fingerprint: r[0].clone().unwrap_or_default(),
        after: parse_key(r[1].clone()),
        after_target: parse_key(r[2].clone()),
        status: r[3].clone().unwrap_or_default(),
        counts: r[4].clone().unwrap_or_default(),
        details: r[5].clone().unwrap_or_default(),
    }))
}

/// Starts a table's verify progress afresh (replacing any saved for another plan).
pub(crate) fn start_verify_progress(
    engine: Engine,
    target_table: &str,
    fingerprint: &str,
) -> Vec<Stmt> {
    let mut delete = Stmt::new(placeholders(
        engine,
        &format!("DELETE FROM {VERIFY_PROGRESS} WHERE target_table = ?"),
    ));
    delete.binds.push(Value::Text(target_table.to_owned()));
    let mut insert = Stmt::new(placeholders(
        engine,
        &format!(
            "INSERT INTO {VERIFY_PROGRESS} (target_table, fingerprint, after_key, after_target, status, \
             counts, details, updated_at) VALUES (?, ?, NULL, NULL, 'verifying', '{{}}', '{{}}', ?)"
        ),
    ));
    insert.binds = vec![
        Value::Text(target_table.to_owned()),
        Value::Text(fingerprint.to_owned()),
        Value::Text(now()),
    ];
    vec![delete, insert]
}

/// Saves a table's verify progress; `details` only when they changed (they
/// can be large, the counts are small).
pub(crate) fn save_verify_progress(
    engine: Engine,
    target_table: &str,
    progress: &VerifyProgress,
    with_details: bool,
) -> Stmt {
    let details = if with_details { ", details = ?" } else { "" };
    let mut update = Stmt::new(placeholders(
        engine,
        &format!(
            "UPDATE {VERIFY_PROGRESS} SET after_key = ?, after_target = ?, status = ?, counts = ?, \
             updated_at = ?{details} WHERE target_table = ?"
        ),
    ));
    update.binds = vec![
        key_json(progress.after.as_deref()),
        key_json(progress.after_target.as_deref()),
        Value::Text(progress.status.clone()),
        Value::Text(progress.counts.clone()),
        Value::Text(now()),
    ];
    if with_details {
        update.binds.push(Value::Text(progress.details.clone()));
    }
    update.binds.push(Value::Text(target_table.to_owned()));
    update
}

/// Records a verify run and clears the progress of its tables, in one
/// transaction: the next verify starts afresh.
pub(crate) async fn record_verify(db: &Db, run: &VerifyRun) -> Result<()> {
    ensure_verify_runs(db).await?;
    let mut stmt = Stmt::new(placeholders(
        db.engine(),
        &format!(
            "INSERT INTO {VERIFY_RUNS} (started_at, finished_at, tables, rows_checked, mismatches, clean) \
             VALUES (?, ?, ?, ?, ?, ?)"
        ),
    ));
    stmt.binds = vec![
        Value::Text(run.started_at.to_rfc3339_opts(SecondsFormat::Micros, true)),
        Value::Text(run.finished_at.to_rfc3339_opts(SecondsFormat::Micros, true)),
        Value::Text(serde_json::to_string(&run.tables).unwrap_or_default()),
        Value::Int(run.rows_checked),
        Value::Int(run.mismatches),
        Value::Int(i64::from(run.clean)),
    ];
    let mut stmts = vec![stmt];
    for table in &run.tables {
        let mut clear = Stmt::new(placeholders(
            db.engine(),
            &format!("DELETE FROM {VERIFY_PROGRESS} WHERE target_table = ?"),
        ));
        clear.binds.push(Value::Text(table.clone()));
        stmts.push(clear);
    }
    db.transaction(&stmts)
        .await
        .map_err(|e| db.sql_error(format!("recording the run in {VERIFY_RUNS}"), &e))?;
    Ok(())
}

/// The last verify run recorded in a target database; `None` when there is none.
pub async fn last_verify(target: &Dsn) -> Result<Option<VerifyRun>> {
    let db = Db::connect(target, 1, false).await?;
    if !db.has_table(VERIFY_RUNS).await? {
        return Ok(None);
    }
    let cast = if db.engine() == Engine::MySql {
        "CHAR(20)"
    } else {
        "TEXT"
    };
    let stmt = Stmt::new(format!(
        "SELECT started_at, finished_at, tables, CAST(rows_checked AS {cast}), \
         CAST(mismatches AS {cast}), CAST(clean AS {cast}) FROM {VERIFY_RUNS} ORDER BY id DESC LIMIT 1"
    ));
    let rows = db
        .fetch_text(&stmt, 6)
        .await
        .map_err(|e| db.sql_error(format!("reading {VERIFY_RUNS}"), &e))?;
    Ok(rows.into_iter().next().map(|r| {
        let s = |i: usize| r[i].clone().unwrap_or_default();
        let time = |i: usize| {
            DateTime::parse_from_rfc3339(&s(i))
                .map_or(DateTime::UNIX_EPOCH, |t| t.with_timezone(&Utc))
        };
        VerifyRun {
            started_at: time(0),
            finished_at: time(1),
            tables: serde_json::from_str(&s(2)).unwrap_or_default(),
            rows_checked: s(3).parse().unwrap_or(0),
            mismatches: s(4).parse().unwrap_or(0),
            clean: s(5) == "1",
        }
    }))
}

/// How far behind each table's copy is, from the checkpoints in the target.
pub async fn catch_up_lag(target: &Dsn, tables: &[String]) -> Result<Vec<Lag>> {
    let db = Db::connect(target, 1, false).await?;
    let mut lags = Vec::new();
    if !db.has_table(CHECKPOINTS).await? {
        return Ok(lags);
    }
    for table in tables {
        if let Some(cp) = load_checkpoint(&db, table).await? {
            let updated = DateTime::parse_from_rfc3339(&cp.updated_at)
                .map_or(DateTime::UNIX_EPOCH, |t| t.with_timezone(&Utc));
            lags.push(Lag {
                table: cp.target_table,
                status: cp.status,
                seconds_since_update: (Utc::now() - updated).num_seconds(),
                lag_seconds: cp.lag_seconds,
            });
        }
    }
    Ok(lags)
}
