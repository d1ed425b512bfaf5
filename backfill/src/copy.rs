//! The copy: keyset chunks by key, idempotent upserts, a checkpoint committed
//! with every chunk, adaptive chunk size, a rows/s limit, parallel tables.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Semaphore;

use crate::db::{Db, SqlBuilder, Stmt, quote};
use crate::dsn::Engine;
use crate::error::{Error, Result};
use crate::plan::{BackfillPlan, TablePlan, describe};
use crate::resolve::{Create, resolve_with};
use crate::store::{self, Checkpoint};
use crate::value::Value;

/// Something a run reports while it works (rendered by the CLI as progress
/// bars or JSON lines).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A table's copy starts or resumes.
    Start {
        /// `source → target`.
        table: String,
        /// Source rows in range when the copy started (exact).
        rows_total: i64,
        /// Rows already copied (resuming from a checkpoint).
        rows_copied: i64,
        /// Whether this resumes an interrupted copy.
        resumed: bool,
    },
    /// A chunk was committed.
    Progress {
        /// `source → target`.
        table: String,
        /// Rows copied so far.
        rows_copied: i64,
        /// Source rows in range.
        rows_total: i64,
        /// Rows in this chunk.
        chunk_rows: usize,
        /// Rows per second over this run.
        rows_per_second: f64,
    },
    /// A table's copy is complete.
    Done {
        /// `source → target`.
        table: String,
        /// Rows copied in total.
        rows_copied: i64,
        /// Seconds this run spent on it.
        seconds: f64,
    },
    /// A table was not copied again.
    Skipped {
        /// `source → target`.
        table: String,
        /// Why.
        reason: String,
    },
    /// `--follow` finished a pass over a table.
    Lag {
        /// `source → target`.
        table: String,
        /// Seconds between now and the newest change applied.
        seconds: i64,
        /// Rows upserted in this pass (the overlap window included).
        applied: usize,
        /// Target rows deleted in this pass (gone from the source).
        deleted: usize,
    },
    /// Verify finished a table.
    Verified {
        /// `source → target`.
        table: String,
        /// Rows checked.
        rows_checked: i64,
        /// Mismatching rows.
        mismatches: i64,
    },
}

/// Receives events; called from several tasks.
pub type Events = Arc<dyn Fn(&Event) + Send + Sync>;

/// Set to stop a run between chunks (the CLI sets it on SIGINT / SIGTERM).
pub type Stop = Arc<AtomicBool>;

/// What a backfill did.
#[derive(Debug, Clone, Serialize)]
pub struct BackfillReport {
    /// The plan, as text (`--dry-run` prints only this).
    pub plan: String,
    /// Per table: `source → target` and rows copied.
    pub tables: Vec<TableCopy>,
    /// Whether this was a dry run.
    pub dry_run: bool,
}

/// One table's copy.
#[derive(Debug, Clone, Serialize)]
pub struct TableCopy {
    /// `source → target`.
    pub table: String,
    /// Rows copied (all runs).
    pub rows_copied: i64,
    /// Whether it was already complete.
    pub skipped: bool,
}

/// Limits rows read per second across every table.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    rate: Option<u64>,
    next: parking_lot::Mutex<Instant>,
}

impl RateLimiter {
    pub(crate) fn new(rate: Option<u64>) -> Self {
        Self {
            rate: rate.filter(|r| *r > 0),
            next: parking_lot::Mutex::new(Instant::now()),
        }
    }

    /// Waits until `rows` more rows are allowed.
    pub(crate) async fn acquire(&self, rows: usize) {
        let Some(rate) = self.rate else { return };
        let wait = {
            let mut next = self.next.lock();
            let now = Instant::now();
            let start = (*next).max(now);
            #[allow(
                clippy::cast_precision_loss,
                reason = "rates and chunk sizes are small"
            )]
            let cost = Duration::from_secs_f64(rows as f64 / rate as f64);
            *next = start + cost;
            start - now
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// The rows per statement each engine's bind limit allows.
fn rows_per_statement(engine: Engine, columns: usize) -> usize {
    let limit = match engine {
        Engine::Postgres | Engine::MySql => 65_000,
        Engine::Sqlite => 32_000,
    };
    (limit / columns.max(1)).clamp(1, 5000)
}

/// Upsert statements for mapped rows, keyed on the target key.
///
/// PostgreSQL and SQLite: `INSERT … ON CONFLICT (key) DO UPDATE`, where a
/// conflict on any other unique key is an error. MariaDB's `ON DUPLICATE KEY
/// UPDATE` fires on *any* unique key, so each key column is first set to
/// `IF(k <=> VALUES(k), k, NULL)`: when the duplicate was on another unique
/// key, the key becomes NULL and the strict session refuses the statement
/// (`Column … cannot be null`) instead of silently overwriting another row.
pub(crate) fn upsert_statements(
    engine: Engine,
    plan: &TablePlan,
    rows: &[Vec<Value>],
) -> Vec<Stmt> {
    let columns = plan.write_columns();
    let key: Vec<&str> = plan
        .target_key_columns()
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    let names: Vec<String> = columns.iter().map(|c| quote(engine, &c.name)).collect();
    let others: Vec<&String> = columns
        .iter()
        .zip(&names)
        .filter(|(c, _)| !key.contains(&c.name.as_str()))
        .map(|(_, n)| n)
        .collect();
    let key_quoted: Vec<String> = key.iter().map(|k| quote(engine, k)).collect();
    let suffix = match engine {
        Engine::Postgres | Engine::Sqlite => {
            let excluded = if engine == Engine::Postgres {
                "EXCLUDED"
            } else {
                "excluded"
            };
            if others.is_empty() {
                format!(" ON CONFLICT ({}) DO NOTHING", key_quoted.join(", "))
            } else {
                let sets: Vec<String> = others
                    .iter()
                    .map(|n| format!("{n} = {excluded}.{n}"))
                    .collect();
                format!(
                    " ON CONFLICT ({}) DO UPDATE SET {}",
                    key_quoted.join(", "),
                    sets.join(", ")
                )
            }
        }
        Engine::MySql => {
            let mut sets: Vec<String> = key_quoted
                .iter()
                .map(|k| format!("{k} = IF({k} <=> VALUES({k}), {k}, NULL)"))
                .collect();
            sets.extend(others.iter().map(|n| format!("{n} = VALUES({n})")));
            format!(" ON DUPLICATE KEY UPDATE {}", sets.join(", "))
        }
    };
    rows.chunks(rows_per_statement(engine, columns.len()))
        .map(|batch| {
            let mut b = SqlBuilder::new(engine);
            b.push("INSERT INTO ")
                .ident(&plan.target.name)
                .push(" (")
                .push(&names.join(", "))
                .push(") VALUES ");
            for (r, row) in batch.iter().enumerate() {
                b.push(if r == 0 { "(" } else { ", (" });
                for (i, (value, column)) in row.iter().zip(&columns).enumerate() {
                    if i > 0 {
                        b.push(", ");
                    }
                    b.param(value.clone(), column);
                }
                b.push(")");
            }
            b.push(&suffix);
            b.finish()
        })
        .collect()
}

/// Writes mapped rows and `after` (the checkpoint) in one transaction: on
/// PostgreSQL by `COPY` into a temporary staging table and one `INSERT … SELECT
/// … ON CONFLICT` merge, elsewhere by multi-row upserts.
pub(crate) async fn write_rows(
    target: &Db,
    plan: &TablePlan,
    rows: &[Vec<Value>],
    after: Vec<Stmt>,
) -> Result<()> {
    let result = if target.engine() == Engine::Postgres && !rows.is_empty() {
        let columns = plan.write_columns();
        let names: Vec<String> = columns
            .iter()
            .map(|c| quote(Engine::Postgres, &c.name))
            .collect();
        let table = quote(Engine::Postgres, &plan.target.name);
        let stage = format!(
            "msa_stage_{:016x}",
            xxhash_rust::xxh3::xxh3_64(plan.target.name.as_bytes())
        );
        let setup = format!(
            "CREATE TEMPORARY TABLE IF NOT EXISTS {stage} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        );
        let copy = format!("COPY {stage} ({}) FROM STDIN", names.join(", "));
        let mut data = Vec::with_capacity(rows.len() * 64);
        for row in rows {
            for (i, value) in row.iter().enumerate() {
                if i > 0 {
                    data.push(b'\t');
                }
                copy_text(value, &mut data);
            }
            data.push(b'\n');
        }
        let key: Vec<&str> = plan
            .target_key_columns()
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        let others: Vec<String> = columns
            .iter()
            .filter(|c| !key.contains(&c.name.as_str()))
            .map(|c| {
                let n = quote(Engine::Postgres, &c.name);
                format!("{n} = EXCLUDED.{n}")
            })
            .collect();
        let key_quoted: Vec<String> = key.iter().map(|k| quote(Engine::Postgres, k)).collect();
        let conflict = if others.is_empty() {
            format!("ON CONFLICT ({}) DO NOTHING", key_quoted.join(", "))
        } else {
            format!(
                "ON CONFLICT ({}) DO UPDATE SET {}",
                key_quoted.join(", "),
                others.join(", ")
            )
        };
        let merge = Stmt::new(format!(
            "INSERT INTO {table} ({cols}) SELECT {cols} FROM {stage} {conflict}",
            cols = names.join(", ")
        ));
        let mut stmts = vec![merge];
        stmts.extend(after);
        target
            .pg_copy_transaction(&setup, &copy, &data, &stmts)
            .await
    } else {
        let mut stmts = upsert_statements(target.engine(), plan, rows);
        stmts.extend(after);
        target.transaction(&stmts).await.map(|_| ())
    };
    match result {
        Ok(()) => Ok(()),
        Err(err) => Err(culprit(target, plan, rows, &err).await),
    }
}

/// One value in `COPY … FROM STDIN` text format.
fn copy_text(value: &Value, out: &mut Vec<u8>) {
    fn escaped(text: &str, out: &mut Vec<u8>) {
        for b in text.bytes() {
            match b {
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\t' => out.extend_from_slice(b"\\t"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                _ => out.push(b),
            }
        }
    }
    match value {
        Value::Null => out.extend_from_slice(b"\\N"),
        Value::Bool(b) => out.push(if *b { b't' } else { b'f' }),
        Value::Bytes(bytes) => {
            out.extend_from_slice(b"\\\\x");
            for byte in bytes {
                out.extend_from_slice(format!("{byte:02x}").as_bytes());
            }
        }
        Value::Float(x) if x.is_nan() => out.extend_from_slice(b"NaN"),
        Value::Float(x) if x.is_infinite() => {
            out.extend_from_slice(if *x > 0.0 { b"Infinity" } else { b"-Infinity" });
        }
        Value::DateTime(t) => out.extend_from_slice(t.format("%F %T%.f").to_string().as_bytes()),
        Value::Timestamptz(t) => {
            out.extend_from_slice(t.format("%F %T%.f+00").to_string().as_bytes());
        }
        other => escaped(&other.as_text(), out),
    }
}

/// Finds the row of a failed batch that fails alone; the batch is never committed.
pub(crate) async fn culprit(
    target: &Db,
    plan: &TablePlan,
    rows: &[Vec<Value>],
    err: &sqlx::Error,
) -> Error {
    for row in rows {
        let stmts = upsert_statements(target.engine(), plan, std::slice::from_ref(row));
        if let Err(e) = target.transaction_with(&stmts, false).await {
            let message = target.sql_error("", &e).to_string();
            let message = message.split(": : ").nth(1).unwrap_or(&message).to_owned();
            return Error::Row {
                dsn: target.dsn().to_string(),
                table: plan.target.name.clone(),
                key: plan.show_key(&plan.target_key_of(row)),
                message: if is_secondary_conflict(&e, plan) {
                    format!(
                        "conflicts with another row on a unique key other than the primary key ({message}); it was not overwritten"
                    )
                } else {
                    message
                },
            };
        }
    }
    target.sql_error(format!("writing a chunk of `{}`", plan.target.name), err)
}

/// A conflict on a unique key other than the upsert's key: a unique violation
/// (PostgreSQL, SQLite), or MariaDB refusing the NULL our guard assigns to a
/// key column when the duplicate was on another unique key.
fn is_secondary_conflict(err: &sqlx::Error, plan: &TablePlan) -> bool {
    err.as_database_error().is_some_and(|e| {
        e.kind() == sqlx::error::ErrorKind::UniqueViolation
            || plan.target_key_columns().iter().any(|c| {
                e.message()
                    .contains(&format!("Column '{}' cannot be null", c.name))
            })
    })
}

/// Copies every table of the plan. Returns the plan text alone on a dry run.
pub async fn backfill(plan: &BackfillPlan, events: Events, stop: Stop) -> Result<BackfillReport> {
    let connections = u32::try_from(plan.options.jobs.max(1) + 1).unwrap_or(8);
    let source = Db::connect(&plan.source, connections, false).await?;
    let target = Db::connect(&plan.target, connections, false).await?;
    let create = match (plan.options.create_schema, plan.options.dry_run) {
        (false, _) => Create::No,
        (true, true) => Create::DryRun,
        (true, false) => Create::Apply,
    };
    let resolved = resolve_with(&source, &target, &plan.tables, &plan.mapping, create).await?;
    if let Some(follow) = &plan.options.follow {
        // A missing or non-timestamp column is refused before anything moves.
        let problems: Vec<String> = resolved
            .plans
            .iter()
            .filter_map(|t| crate::follow::check(t, follow).err())
            .flat_map(|e| match e {
                Error::Plan { problems } => problems,
                other => vec![other.to_string()],
            })
            .collect();
        if !problems.is_empty() {
            resolved.undo(&target).await;
            return Err(Error::Plan { problems });
        }
    }
    let mut text = String::new();
    for (_, ddl) in &resolved.created {
        text.push_str(&format!(
            "{} in the target:\n{ddl};\n",
            if plan.options.dry_run {
                "would create"
            } else {
                "created"
            }
        ));
    }
    text.push_str(&describe(&resolved.plans));
    let tables = resolved.plans;
    if plan.options.dry_run {
        return Ok(BackfillReport {
            plan: text,
            tables: Vec::new(),
            dry_run: true,
        });
    }
    store::ensure_checkpoints(&target).await?;
    let limiter = Arc::new(RateLimiter::new(plan.options.rows_per_second));
    let permits = Arc::new(Semaphore::new(plan.options.jobs.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for table in tables {
        let (source, target, limiter, permits) = (
            source.clone(),
            target.clone(),
            limiter.clone(),
            permits.clone(),
        );
        let (events, stop, options) = (events.clone(), stop.clone(), plan.options.clone());
        tasks.spawn(async move {
            let permit = permits.acquire_owned().await;
            let copy =
                copy_table(&source, &target, &table, &options, &limiter, &events, &stop).await?;
            drop(permit);
            if let Some(follow) = &options.follow {
                crate::follow::follow_table(&source, &target, &table, follow, &events, &stop)
                    .await?;
            }
            Ok(copy)
        });
    }
    let mut copies = Vec::new();
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(copy)) => copies.push(copy),
            Ok(Err(err)) => {
                // Stop the other tables at their next chunk; their checkpoints hold.
                stop.store(true, Ordering::SeqCst);
                if first_error.is_none() || matches!(first_error, Some(Error::Stopped)) {
                    first_error = Some(err);
                }
            }
            Err(join) => {
                first_error.get_or_insert(Error::Sql {
                    dsn: plan.target.to_string(),
                    context: "a copy task".to_owned(),
                    message: join.to_string(),
                });
            }
        }
    }
    if let Some(err) = first_error {
        return Err(err);
    }
    Ok(BackfillReport {
        plan: text,
        tables: copies,
        dry_run: false,
    })
}

async fn copy_table(
    source: &Db,
    target: &Db,
    plan: &TablePlan,
    options: &crate::plan::CopyOptions,
    limiter: &RateLimiter,
    events: &Events,
    stop: &Stop,
) -> Result<TableCopy> {
    let label = plan.label();
    let existing = store::load_checkpoint(target, &plan.target.name).await?;
    let exists = existing.is_some();
    let checkpoint = match existing {
        Some(cp) if !options.restart && cp.source_table == plan.source.name => {
            if cp.status == "copied" || cp.status == "following" {
                events(&Event::Skipped {
                    table: label.clone(),
                    reason: format!(
                        "already copied ({} rows, {}); verify it, or copy again with --restart",
                        cp.rows_copied, cp.updated_at
                    ),
                });
                return Ok(TableCopy {
                    table: label,
                    rows_copied: cp.rows_copied,
                    skipped: true,
                });
            }
            cp
        }
        _ => {
            // The watermark comes first: every change after it is caught up.
            let watermark = match &options.follow {
                Some(follow) => crate::follow::source_watermark(source, plan, follow).await?,
                None => None,
            };
            let count = source_count(source, plan).await?;
            let max_key = source_max_key(source, plan).await?;
            let now = store::now();
            let cp = Checkpoint {
                target_table: plan.target.name.clone(),
                source_table: plan.source.name.clone(),
                last_key: None,
                max_key,
                rows_total: count,
                rows_copied: 0,
                status: "copying".to_owned(),
                started_at: now.clone(),
                updated_at: now,
                watermark,
                lag_seconds: None,
            };
            target
                .transaction(&store::start_checkpoint(target.engine(), &cp, exists))
                .await
                .map_err(|e| target.sql_error("starting the checkpoint", &e))?;
            cp
        }
    };
    let resumed = checkpoint.last_key.is_some();
    events(&Event::Start {
        table: label.clone(),
        rows_total: checkpoint.rows_total,
        rows_copied: checkpoint.rows_copied,
        resumed,
    });
    let started = Instant::now();
    let mut copied = checkpoint.rows_copied;
    let mut copied_now: i64 = 0;
    let last_key = checkpoint.last_key.clone();
    let mut chunk = options.initial_chunk.clamp(1, options.max_chunk.max(1));
    let Some(max_key) = checkpoint.max_key.clone() else {
        // An empty table: nothing to copy.
        target
            .transaction(&[store::advance_checkpoint(
                target.engine(),
                &plan.target.name,
                None,
                0,
                "copied",
            )])
            .await
            .map_err(|e| target.sql_error("closing the checkpoint", &e))?;
        events(&Event::Done {
            table: label.clone(),
            rows_copied: 0,
            seconds: 0.0,
        });
        return Ok(TableCopy {
            table: label,
            rows_copied: 0,
            skipped: false,
        });
    };
    // Reading the next chunk overlaps writing this one: a reader and a writer
    // joined in this task, with at most two chunks in flight between them.
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Chunk>>(2);
    let write_micros = AtomicU64::new(0);
    let reader = async {
        // Owned, so the writer sees the channel close when the reader ends.
        let sender = sender;
        let mut after = last_key.clone();
        loop {
            if stop.load(Ordering::SeqCst) {
                let _ = sender.send(Err(Error::Stopped)).await;
                return;
            }
            limiter.acquire(chunk).await;
            let requested = chunk;
            let read_started = Instant::now();
            let stmt = plan.source_select(source, after.as_deref(), Some(&max_key), Some(chunk));
            let rows = match source.fetch(&stmt, &plan.read).await {
                Ok(rows) => rows,
                Err(e) => {
                    let err =
                        source.sql_error(format!("reading a chunk of `{}`", plan.source.name), &e);
                    let _ = sender.send(Err(err)).await;
                    return;
                }
            };
            let mapped: Result<Vec<Vec<Value>>> = rows
                .iter()
                .map(|row| {
                    plan.map_row(row).map_err(|message| Error::Row {
                        dsn: source.dsn().to_string(),
                        table: plan.source.name.clone(),
                        key: plan.show_key(&plan.key_of(row)),
                        message,
                    })
                })
                .collect();
            let last = rows.last().map(|r| plan.key_of(r));
            let end = rows.len() < requested || last.as_deref() == Some(max_key.as_slice());
            let failed = mapped.is_err();
            let chunk_msg = mapped.map(|rows| Chunk {
                rows,
                last: last.clone(),
                end,
            });
            if sender.send(chunk_msg).await.is_err() || end || failed {
                return;
            }
            after = last;
            // Adapt toward the target time per chunk (the slower of reading and
            // writing), at most doubling or halving.
            #[allow(clippy::cast_precision_loss, reason = "durations")]
            let wrote = write_micros.load(Ordering::Relaxed) as f64 / 1e6;
            let took = read_started.elapsed().as_secs_f64().max(wrote).max(0.001);
            let factor = (options.chunk_time.as_secs_f64() / took).clamp(0.5, 2.0);
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss,
                reason = "bounded chunk sizes"
            )]
            {
                chunk = ((chunk as f64 * factor) as usize)
                    .clamp(100.min(options.max_chunk), options.max_chunk.max(1));
            }
        }
    };
    let writer = async {
        // Owned, so the reader sees the channel close when the writer stops.
        let mut receiver = receiver;
        while let Some(received) = receiver.recv().await {
            let chunk = received?;
            if stop.load(Ordering::SeqCst) {
                // Chunks read ahead are dropped; the checkpoint holds.
                return Err(Error::Stopped);
            }
            let write_started = Instant::now();
            let n = i64::try_from(chunk.rows.len()).unwrap_or(i64::MAX);
            let mut stmts = Vec::new();
            if let Some(last) = &chunk.last {
                stmts.push(store::advance_checkpoint(
                    target.engine(),
                    &plan.target.name,
                    Some(last),
                    n,
                    if chunk.end { "copied" } else { "copying" },
                ));
            } else {
                stmts.push(store::advance_checkpoint(
                    target.engine(),
                    &plan.target.name,
                    None,
                    0,
                    "copied",
                ));
            }
            write_rows(target, plan, &chunk.rows, stmts).await?;
            write_micros.store(
                u64::try_from(write_started.elapsed().as_micros()).unwrap_or(u64::MAX),
                Ordering::Relaxed,
            );
            copied += n;
            copied_now += n;
            if n > 0 {
                #[allow(clippy::cast_precision_loss, reason = "a rate for people")]
                let rate = copied_now as f64 / started.elapsed().as_secs_f64().max(0.001);
                events(&Event::Progress {
                    table: label.clone(),
                    rows_copied: copied,
                    rows_total: checkpoint.rows_total,
                    chunk_rows: chunk.rows.len(),
                    rows_per_second: rate,
                });
            }
            if chunk.end {
                return Ok(());
            }
        }
        Ok(())
    };
    let ((), written) = tokio::join!(reader, writer);
    written?;
    events(&Event::Done {
        table: label.clone(),
        rows_copied: copied,
        seconds: started.elapsed().as_secs_f64(),
    });
    Ok(TableCopy {
        table: label,
        rows_copied: copied,
        skipped: false,
    })
}

/// One chunk on its way from the reader to the writer.
struct Chunk {
    /// Mapped rows.
    rows: Vec<Vec<Value>>,
    /// The last source key in the chunk; `None` when the chunk is empty.
    last: Option<Vec<Value>>,
    /// Whether it is the last chunk.
    end: bool,
}

/// Source rows in range (the filter applied).
async fn source_count(source: &Db, plan: &TablePlan) -> Result<i64> {
    let stmt = Stmt::new(format!(
        "SELECT COUNT(*) FROM {}{}",
        quote(source.engine(), &plan.source.name),
        plan.filter
            .as_ref()
            .map(|f| format!(" WHERE ({f})"))
            .unwrap_or_default()
    ));
    source
        .fetch_i64(&stmt)
        .await
        .map_err(|e| source.sql_error(format!("counting `{}`", plan.source.name), &e))
}

/// The largest key in range, the copy's upper bound.
async fn source_max_key(source: &Db, plan: &TablePlan) -> Result<Option<Vec<Value>>> {
    let key = plan.source_key_columns();
    let columns: Vec<String> = key
        .iter()
        .map(|c| crate::db::select_expr(source.engine(), c))
        .collect();
    let order: Vec<String> = key
        .iter()
        .map(|c| format!("{} DESC", quote(source.engine(), &c.name)))
        .collect();
    let stmt = Stmt::new(format!(
        "SELECT {} FROM {}{} ORDER BY {} LIMIT 1",
        columns.join(", "),
        quote(source.engine(), &plan.source.name),
        plan.filter
            .as_ref()
            .map(|f| format!(" WHERE ({f})"))
            .unwrap_or_default(),
        order.join(", ")
    ));
    let key_columns: Vec<_> = key.into_iter().cloned().collect();
    let rows = source.fetch(&stmt, &key_columns).await.map_err(|e| {
        source.sql_error(
            format!("finding the largest key of `{}`", plan.source.name),
            &e,
        )
    })?;
    Ok(rows.into_iter().next())
}
