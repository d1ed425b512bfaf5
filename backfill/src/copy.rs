//! The copy: keyset chunks by key, idempotent upserts, a checkpoint committed
//! with every chunk, adaptive chunk size, throttling, and parallel workers
//! across tables and across key ranges of a large table.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Semaphore;

use crate::db::{Cells, Db, Stmt, quote, row_values};
use crate::dsn::Engine;
use crate::error::{Error, Result};
use crate::event::{Event, Events, Stop};
use crate::payload::{Pass, Payload, RowError, passthrough};
use crate::pgcopy::TextCopy;
use crate::plan::{BackfillPlan, CopyOptions, TablePlan, describe, select};
use crate::resolve::{Create, resolve_with};
use crate::store::{self, Checkpoint, Range};
use crate::throttle::Throttle;
use crate::value::Value;
use crate::write::{Load, copy_rows, culprit, is_unique_violation, write_rows};

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
    // Before anything is created: a probe the source refuses, a replica that is not one.
    let throttle = Throttle::new(
        &plan.source,
        plan.options.rows_per_second,
        &plan.options.throttle,
    )
    .await?;
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
    let created = resolved.created.iter().map(|(t, _)| t.clone()).collect();
    let tables = resolved.plans;
    if plan.options.dry_run {
        return Ok(BackfillReport {
            plan: text,
            tables: Vec::new(),
            dry_run: true,
        });
    }
    store::ensure_checkpoints(&target).await?;
    let run = Arc::new(Run {
        source,
        target,
        options: plan.options.clone(),
        throttle,
        permits: Semaphore::new(plan.options.jobs.max(1)),
        created,
        events,
        stop: stop.clone(),
    });
    let mut tasks = tokio::task::JoinSet::new();
    for (index, table) in tables.into_iter().enumerate() {
        let run = run.clone();
        tasks.spawn(async move {
            let table = Arc::new(table);
            let copy = copy_table(&run, &table).await?;
            if let Some(follow) = &run.options.follow {
                crate::follow::follow_table(
                    &run.source,
                    &run.target,
                    &table,
                    follow,
                    &run.events,
                    &run.stop,
                )
                .await?;
            }
            Ok((index, copy))
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
    copies.sort_by_key(|(index, _)| *index);
    let copies = copies.into_iter().map(|(_, copy)| copy).collect();
    Ok(BackfillReport {
        plan: text,
        tables: copies,
        dry_run: false,
    })
}

/// What every worker of a run shares.
struct Run {
    source: Db,
    target: Db,
    options: CopyOptions,
    throttle: Throttle,
    /// One per worker (`--jobs`): a table's preparation, or one key range.
    permits: Semaphore,
    /// Target tables this run created (empty until copied into).
    created: Vec<String>,
    events: Events,
    stop: Stop,
}

/// A table's copy: starts or resumes its checkpoint, then copies its key
/// range(s), each in its own worker.
async fn copy_table(run: &Arc<Run>, plan: &Arc<TablePlan>) -> Result<TableCopy> {
    let target = &run.target;
    let label = plan.label();
    let permit = run.permits.acquire().await.map_err(|_| Error::Stopped)?;
    let existing = store::load_checkpoint(target, &plan.target.name).await?;
    let exists = existing.is_some();
    let (checkpoint, deferred) = match existing {
        Some(cp) if !run.options.restart && cp.source_table == plan.source.name => {
            if cp.status == "copied" || cp.status == "following" {
                (run.events)(&Event::Skipped {
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
            let deferred = store::deferred_key(target, &plan.target.name).await;
            (cp, deferred)
        }
        _ => start(run, plan, exists).await?,
    };
    (run.events)(&Event::Start {
        table: label.clone(),
        rows_total: checkpoint.rows_total,
        rows_copied: checkpoint.rows_copied,
        resumed: checkpoint.rows_copied > 0,
    });
    let started = Instant::now();
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
        (run.events)(&Event::Done {
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
    let progress = Arc::new(Tally {
        copied: AtomicI64::new(checkpoint.rows_copied),
        copied_now: AtomicI64::new(0),
        total: checkpoint.rows_total,
        started,
    });
    let ranges = store::load_ranges(target, &plan.target.name).await?;
    if ranges.is_empty() {
        // One range, recorded in the table's checkpoint; the permit is its worker's.
        copy_range(
            run,
            plan,
            Part::Table {
                closes: deferred.is_none(),
            },
            checkpoint.last_key.clone(),
            max_key,
            &progress,
        )
        .await?;
        if deferred.is_some() {
            close(run, plan, deferred.as_deref()).await?;
        }
        drop(permit);
    } else {
        // Each range takes a worker of its own; this task only waits for them.
        drop(permit);
        let mut workers = tokio::task::JoinSet::new();
        for range in ranges.into_iter().filter(|r| r.status != "copied") {
            let (run, plan, progress) = (run.clone(), plan.clone(), progress.clone());
            workers.spawn(async move {
                let _permit = run.permits.acquire().await.map_err(|_| Error::Stopped)?;
                let after = range.last_key.clone().or(range.lower.clone());
                copy_range(
                    &run,
                    &plan,
                    Part::Range(range.number),
                    after,
                    range.upper,
                    &progress,
                )
                .await
            });
        }
        let mut first_error = None;
        while let Some(joined) = workers.join_next().await {
            let result = joined.unwrap_or_else(|join| {
                Err(Error::Sql {
                    dsn: target.dsn().to_string(),
                    context: format!("a key range of `{}`", plan.target.name),
                    message: join.to_string(),
                })
            });
            if let Err(err) = result {
                // The other ranges stop at their next chunk; their checkpoints hold.
                run.stop.store(true, Ordering::SeqCst);
                if first_error.is_none() || matches!(first_error, Some(Error::Stopped)) {
                    first_error = Some(err);
                }
            }
        }
        if let Some(err) = first_error {
            return Err(err);
        }
        close(run, plan, deferred.as_deref()).await?;
    }
    let copied = progress.copied.load(Ordering::SeqCst);
    (run.events)(&Event::Done {
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

/// A fresh copy of a table: the follow watermark first (every change after it
/// is caught up), the exact count and largest key, the key ranges, and the
/// checkpoint with its ranges in one transaction.
///
/// Into a PostgreSQL table this run created, the primary key is dropped in
/// that transaction and built when the copy ends ([`close`]), as `pg_restore`
/// does: loading a table is faster without an index to keep, and the
/// checkpoints, not the key, are what keep rows from doubling (each chunk and
/// its checkpoint commit together; a resumed copy starts after the
/// checkpoint). Returns the deferred key's columns.
async fn start(
    run: &Run,
    plan: &TablePlan,
    exists: bool,
) -> Result<(Checkpoint, Option<Vec<String>>)> {
    let (source, target) = (&run.source, &run.target);
    let watermark = match &run.options.follow {
        Some(follow) => crate::follow::source_watermark(source, plan, follow).await?,
        None => None,
    };
    let count = source_count(source, plan).await?;
    let max_key = source_max_key(source, plan).await?;
    let ranges = match &max_key {
        Some(max_key) => {
            let wanted = range_count(count, run.options.ranges, run.options.range_min_rows);
            split_points(source, plan, max_key, count, wanted).await?
        }
        None => Vec::new(),
    };
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
    let table = &plan.target.name;
    let primary = primary_key_constraint(target, table).await?;
    let mut stmts = Vec::new();
    if exists
        && primary.is_none()
        && let Some(key) = store::deferred_key(target, table).await
    {
        // Started over before an earlier copy built its key: build it first.
        stmts.push(add_primary_key(table, &key));
    }
    stmts.extend(store::start_checkpoint(target.engine(), &cp, exists));
    stmts.extend(store::start_ranges(target.engine(), table, &ranges));
    let deferred = match primary {
        Some(constraint) if cp.max_key.is_some() && defers_key(run, plan) => {
            let key: Vec<String> = plan
                .target_key_columns()
                .iter()
                .map(|c| c.name.clone())
                .collect();
            stmts.push(Stmt::new(format!(
                "ALTER TABLE {} DROP CONSTRAINT {}",
                quote(Engine::Postgres, table),
                quote(Engine::Postgres, &constraint)
            )));
            stmts.push(store::defer_key(target.engine(), table, &key));
            Some(key)
        }
        _ => None,
    };
    target
        .transaction(&stmts)
        .await
        .map_err(|e| target.sql_error("starting the checkpoint", &e))?;
    Ok((cp, deferred))
}

/// Whether a table's primary key is built after its copy: a PostgreSQL
/// table this run created, with no other unique key (whose conflicts a copy
/// must report row by row as they happen).
fn defers_key(run: &Run, plan: &TablePlan) -> bool {
    run.target.engine() == Engine::Postgres
        && run.created.contains(&plan.target.name)
        && plan
            .target
            .unique_keys
            .iter()
            .all(|unique| *unique == plan.target.key)
}

/// The name of a PostgreSQL table's primary-key constraint; `None` when it
/// has none, and on other engines.
async fn primary_key_constraint(target: &Db, table: &str) -> Result<Option<String>> {
    if target.engine() != Engine::Postgres {
        return Ok(None);
    }
    let mut stmt = Stmt::new(
        "SELECT conname::text FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'p'",
    );
    stmt.binds.push(Value::Text(quote(Engine::Postgres, table)));
    let rows = target
        .fetch_text(&stmt, 1)
        .await
        .map_err(|e| target.sql_error(format!("reading the primary key of `{table}`"), &e))?;
    Ok(rows
        .into_iter()
        .next()
        .and_then(|r| r.into_iter().next().flatten()))
}

/// `ALTER TABLE … ADD PRIMARY KEY (…)` in PostgreSQL.
fn add_primary_key(table: &str, key: &[String]) -> Stmt {
    let columns: Vec<String> = key.iter().map(|c| quote(Engine::Postgres, c)).collect();
    Stmt::new(format!(
        "ALTER TABLE {} ADD PRIMARY KEY ({})",
        quote(Engine::Postgres, table),
        columns.join(", ")
    ))
}

/// Marks a table's copy `copied`, in one transaction with building its
/// deferred primary key, if any: killed before it commits, the next run
/// finds every chunk copied and closes it again. A key that doubled, which
/// the checkpoints rule out, would fail it, naming the key.
async fn close(run: &Run, plan: &TablePlan, deferred: Option<&[String]>) -> Result<()> {
    let (target, table) = (&run.target, &plan.target.name);
    let mut stmts = Vec::new();
    if let Some(key) = deferred {
        stmts.push(add_primary_key(table, key));
        stmts.push(store::key_built(target.engine(), table));
    }
    stmts.push(store::advance_checkpoint(
        target.engine(),
        table,
        None,
        0,
        "copied",
    ));
    target
        .transaction(&stmts)
        .await
        .map_err(|e| target.sql_error(format!("closing the copy of `{table}`"), &e))?;
    Ok(())
}

/// How many ranges a table of `rows` rows is split into: `wanted`, fewer when
/// each would hold less than `min_rows`, at least one.
pub(crate) fn range_count(rows: i64, wanted: usize, min_rows: i64) -> usize {
    let most = usize::try_from(rows / min_rows.max(1)).unwrap_or(usize::MAX);
    wanted.min(most).max(1)
}

/// Key ranges holding about `rows / n` rows each: the upper bounds are the
/// keys after every `rows / n` keys, found by walking the key index once
/// (`LIMIT 1 OFFSET step - 1` from the previous bound), so they are exact
/// quantiles for any key: integer, text or composite. One range: none.
async fn split_points(
    source: &Db,
    plan: &TablePlan,
    max_key: &[Value],
    rows: i64,
    n: usize,
) -> Result<Vec<Range>> {
    if n < 2 {
        return Ok(Vec::new());
    }
    let step = u64::try_from(rows).unwrap_or(0).div_ceil(n as u64).max(1);
    let key = plan.source_key_columns();
    let columns: Vec<String> = key
        .iter()
        .map(|c| crate::db::select_expr(source.engine(), c))
        .collect();
    let decode: Vec<_> = key.iter().map(|c| (*c).clone()).collect();
    let mut bounds: Vec<Vec<Value>> = Vec::new();
    while bounds.len() + 1 < n {
        let mut stmt = select(
            source,
            &plan.source.name,
            &columns,
            &key,
            plan.filter.as_deref(),
            bounds.last().map(Vec::as_slice),
            Some(max_key),
            None,
        );
        stmt.sql.push_str(&format!(" LIMIT 1 OFFSET {}", step - 1));
        let found = source.fetch(&stmt, &decode).await.map_err(|e| {
            source.sql_error(
                format!("splitting `{}` into key ranges", plan.source.name),
                &e,
            )
        })?;
        match found.into_iter().next() {
            Some(bound) if bound.as_slice() != max_key => bounds.push(bound),
            _ => break,
        }
    }
    bounds.push(max_key.to_vec());
    let mut lower = None;
    Ok(bounds
        .into_iter()
        .enumerate()
        .map(|(number, upper)| Range {
            number: i64::try_from(number).unwrap_or(i64::MAX),
            lower: lower.replace(upper.clone()),
            upper,
            last_key: None,
            status: "copying".to_owned(),
        })
        .collect())
}

/// Rows copied, shared by the ranges of a table.
struct Tally {
    /// All runs (from the checkpoint on).
    copied: AtomicI64,
    /// This run.
    copied_now: AtomicI64,
    /// Source rows in range at the start.
    total: i64,
    started: Instant,
}

/// Which checkpoint a chunk moves.
#[derive(Debug, Clone, Copy)]
enum Part {
    /// The table's own (one range); `closes`: its last chunk marks the table
    /// copied (not when the primary key is built after, by [`close`]).
    Table { closes: bool },
    /// A range's, and the table's row count.
    Range(i64),
}

/// The statements that record a chunk, run in its transaction. The table's
/// count moves last, so concurrent ranges hold its row lock only to commit.
fn checkpoint_stmts(
    engine: Engine,
    table: &str,
    part: Part,
    last: Option<&[Value]>,
    rows: i64,
    end: bool,
) -> Vec<Stmt> {
    let status = if end { "copied" } else { "copying" };
    match part {
        Part::Table { closes } => {
            let status = if closes { status } else { "copying" };
            vec![store::advance_checkpoint(engine, table, last, rows, status)]
        }
        Part::Range(number) => vec![
            store::advance_range(engine, table, number, last, rows, status),
            store::advance_checkpoint(engine, table, None, rows, "copying"),
        ],
    }
}

/// The next chunk size: toward `target` time per chunk given the time the
/// last one took (`took`: the slower of reading and writing it), at most
/// doubling or halving, between 100 rows (or `max`, if smaller) and `max`.
pub(crate) fn next_chunk(current: usize, target: Duration, took: Duration, max: usize) -> usize {
    let max = max.max(1);
    let took = took.as_secs_f64().max(0.001);
    let factor = (target.as_secs_f64() / took).clamp(0.5, 2.0);
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "bounded chunk sizes"
    )]
    let next = (current as f64 * factor) as usize;
    next.clamp(100.min(max), max)
}

/// Copies the source keys in `(after, upto]`: a reader task and a writer, at
/// most two chunks in flight between them (memory stays flat), each chunk
/// committed with the checkpoint of `part`. The reader runs as a task of its
/// own so that reading and encoding the next chunk overlaps writing this one
/// on another thread.
///
/// Into PostgreSQL, the reader encodes each chunk as COPY data straight from
/// the source rows (columns that need no conversion pass through without a
/// [`Value`]), and the writer copies it into the table itself while none of
/// its keys are there; at the first key that is, the range's remaining
/// chunks are staged and merged (see [`Load`]).
async fn copy_range(
    run: &Arc<Run>,
    plan: &Arc<TablePlan>,
    part: Part,
    after: Option<Vec<Value>>,
    upto: Vec<Value>,
    tally: &Tally,
) -> Result<()> {
    let (source, target) = (&run.source, &run.target);
    let label = plan.label();
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Chunk>>(2);
    let write_micros = Arc::new(AtomicU64::new(0));
    let reader = {
        let (run, plan, write_micros) = (run.clone(), plan.clone(), write_micros.clone());
        let label = label.clone();
        tokio::spawn(async move {
            let (source, options) = (&run.source, &run.options);
            let passes = (run.target.engine() == Engine::Postgres).then(|| passthrough(&plan));
            let text_copy = TextCopy::for_plan(source, &run.target, &plan);
            let mut chunk = options.initial_chunk.clamp(1, options.max_chunk.max(1));
            // Owned, so the writer sees the channel close when the reader ends.
            let sender = sender;
            let mut after = after;
            // COPY bytes per row of the last chunk: the next one's buffer.
            let mut row_bytes = 128;
            loop {
                if run.stop.load(Ordering::SeqCst) {
                    let _ = sender.send(Err(Error::Stopped)).await;
                    return;
                }
                if let Err(err) = run
                    .throttle
                    .admit(chunk, &label, &run.events, &run.stop)
                    .await
                {
                    let _ = sender.send(Err(err)).await;
                    return;
                }
                let requested = chunk;
                let read_started = Instant::now();
                let bytes = requested * row_bytes;
                let read = match &text_copy {
                    Some(text_copy) => {
                        read_text_chunk(
                            text_copy,
                            source,
                            &plan,
                            after.clone(),
                            &upto,
                            chunk,
                            bytes,
                        )
                        .await
                    }
                    None => {
                        let stmt =
                            plan.source_select(source, after.as_deref(), Some(&upto), Some(chunk));
                        read_chunk(
                            source,
                            &plan,
                            passes.as_deref(),
                            &stmt,
                            after.clone(),
                            bytes,
                        )
                        .await
                    }
                };
                let message = read.map(|chunk| {
                    let end =
                        chunk.count < requested || chunk.last.as_deref() == Some(upto.as_slice());
                    Chunk { end, ..chunk }
                });
                let (end, last) = match &message {
                    Ok(chunk) => {
                        if let Rows::Copy(payload) = &chunk.rows
                            && chunk.count > 0
                        {
                            row_bytes = payload.data().len() / chunk.count + 1;
                        }
                        (chunk.end, chunk.last.clone())
                    }
                    Err(_) => (true, None),
                };
                if sender.send(message).await.is_err() || end {
                    return;
                }
                after = last;
                let wrote = Duration::from_micros(write_micros.load(Ordering::Relaxed));
                chunk = next_chunk(
                    chunk,
                    options.chunk_time,
                    read_started.elapsed().max(wrote),
                    options.max_chunk,
                );
            }
        })
    };
    let writer = async {
        // Owned, so the reader sees the channel close when the writer stops.
        let mut receiver = receiver;
        // Into the table itself until a key is found there already.
        let mut load = Load::Direct;
        while let Some(received) = receiver.recv().await {
            let chunk = received?;
            if run.stop.load(Ordering::SeqCst) {
                // Chunks read ahead are dropped; the checkpoint holds.
                return Err(Error::Stopped);
            }
            let write_started = Instant::now();
            let n = i64::try_from(chunk.count).unwrap_or(i64::MAX);
            let stmts = checkpoint_stmts(
                target.engine(),
                &plan.target.name,
                part,
                chunk.last.as_deref(),
                n,
                chunk.end,
            );
            match &chunk.rows {
                Rows::Values(rows) => write_rows(target, plan, rows, stmts).await?,
                Rows::Copy(_) if chunk.count == 0 => {
                    target
                        .transaction(&stmts)
                        .await
                        .map_err(|e| target.sql_error("moving the checkpoint", &e))?;
                }
                Rows::Copy(payload) => {
                    let mut written = copy_rows(target, plan, payload, stmts.clone(), load).await;
                    if load == Load::Direct && written.as_ref().is_err_and(is_unique_violation) {
                        load = Load::Staged;
                        written = copy_rows(target, plan, payload, stmts, load).await;
                    }
                    if let Err(err) = written {
                        return Err(copy_culprit(source, target, plan, &chunk, &err).await);
                    }
                }
            }
            write_micros.store(
                u64::try_from(write_started.elapsed().as_micros()).unwrap_or(u64::MAX),
                Ordering::Relaxed,
            );
            let copied = tally.copied.fetch_add(n, Ordering::SeqCst) + n;
            let copied_now = tally.copied_now.fetch_add(n, Ordering::SeqCst) + n;
            if n > 0 {
                #[allow(clippy::cast_precision_loss, reason = "a rate for people")]
                let rate = copied_now as f64 / tally.started.elapsed().as_secs_f64().max(0.001);
                (run.events)(&Event::Progress {
                    table: label.clone(),
                    rows_copied: copied,
                    rows_total: tally.total,
                    chunk_rows: chunk.count,
                    rows_per_second: rate,
                });
            }
            if chunk.end {
                return Ok(());
            }
        }
        Ok(())
    };
    let written = writer.await;
    // The reader ends at its next chunk when the writer stopped early (the
    // channel is closed); a panic in it is an error of the copy.
    let read = reader.await;
    written?;
    read.map_err(|join| Error::Sql {
        dsn: source.dsn().to_string(),
        context: format!("reading `{}`", plan.source.name),
        message: join.to_string(),
    })
}

/// A chunk read from the source and mapped as its rows arrive: COPY data
/// when `passes` is given (the target is PostgreSQL; `bytes` reserved), else
/// rows of values.
async fn read_chunk(
    source: &Db,
    plan: &TablePlan,
    passes: Option<&[Option<(usize, Pass)>]>,
    stmt: &Stmt,
    after: Option<Vec<Value>>,
    bytes: usize,
) -> Result<Chunk> {
    let read_error = |message: String| {
        source.sql_error(
            format!("reading a chunk of `{}`", plan.source.name),
            &sqlx::Error::Decode(message.into()),
        )
    };
    let row_error = |row: &dyn Cells, message: String| match plan.raw_key_of(row) {
        Ok(key) => Error::Row {
            dsn: source.dsn().to_string(),
            table: plan.source.name.clone(),
            key: plan.show_key(&key),
            message,
        },
        Err(message) => read_error(message),
    };
    let mut count = 0;
    let (rows, last) = match passes {
        Some(passes) => {
            let mut payload = Payload::with_capacity(bytes);
            let last = source
                .fetch_each(stmt, |row| {
                    count += 1;
                    payload
                        .push_source_row(plan, passes, row)
                        .map_err(|e| match e {
                            RowError::Decode(message) => ReadError::Done(read_error(message)),
                            RowError::Map(message) => ReadError::Done(row_error(row, message)),
                        })
                })
                .await;
            (Rows::Copy(payload), last)
        }
        None => {
            let mut mapped = Vec::new();
            let last = source
                .fetch_each(stmt, |row| {
                    count += 1;
                    let values = row_values(row, &plan.read)
                        .map_err(|message| ReadError::Done(read_error(message)))?;
                    mapped.push(
                        plan.map_row(&values)
                            .map_err(|message| ReadError::Done(row_error(row, message)))?,
                    );
                    Ok(())
                })
                .await;
            (Rows::Values(mapped), last)
        }
    };
    let last = match last {
        Ok(last) => last,
        Err(ReadError::Done(err)) => return Err(err),
        Err(ReadError::Sql(e)) => {
            return Err(source.sql_error(format!("reading a chunk of `{}`", plan.source.name), &e));
        }
    };
    let last = last
        .map(|row| plan.raw_key_of(row.cells()))
        .transpose()
        .map_err(read_error)?;
    Ok(Chunk {
        rows,
        count,
        after,
        last,
        end: false,
    })
}

/// A chunk read as COPY text (see [`TextCopy`]).
async fn read_text_chunk(
    text_copy: &TextCopy,
    source: &Db,
    plan: &TablePlan,
    after: Option<Vec<Value>>,
    upto: &[Value],
    limit: usize,
    bytes: usize,
) -> Result<Chunk> {
    let chunk = text_copy
        .read(source, plan, (after.as_deref(), upto), limit, bytes)
        .await
        .map_err(|e| source.sql_error(format!("reading a chunk of `{}`", plan.source.name), &e))?;
    Ok(Chunk {
        rows: Rows::Copy(Payload::from_text(chunk.data)),
        count: chunk.rows,
        after,
        last: chunk.last,
        end: false,
    })
}

/// Why reading a chunk stopped: the query failed, or a row did.
enum ReadError {
    Sql(sqlx::Error),
    Done(Error),
}

impl From<sqlx::Error> for ReadError {
    fn from(err: sqlx::Error) -> Self {
        Self::Sql(err)
    }
}

/// The row at fault in a chunk whose COPY failed: the chunk's rows read again
/// as values and written one by one, none committed.
async fn copy_culprit(
    source: &Db,
    target: &Db,
    plan: &TablePlan,
    chunk: &Chunk,
    err: &sqlx::Error,
) -> Error {
    let stmt = plan.source_select(source, chunk.after.as_deref(), chunk.last.as_deref(), None);
    let rows = match source.fetch(&stmt, &plan.read).await {
        Ok(rows) => rows,
        Err(_) => {
            return target.sql_error(format!("writing a chunk of `{}`", plan.target.name), err);
        }
    };
    match crate::lookup::map_rows(source, plan, &rows) {
        Ok(mapped) => culprit(target, plan, &mapped, err).await,
        Err(map_error) => map_error,
    }
}

/// One chunk on its way from the reader to the writer.
struct Chunk {
    /// Mapped rows.
    rows: Rows,
    /// How many.
    count: usize,
    /// The source key before the chunk; `None` at the start.
    after: Option<Vec<Value>>,
    /// The last source key in the chunk; `None` when the chunk is empty.
    last: Option<Vec<Value>>,
    /// Whether it is the last chunk of its range.
    end: bool,
}

/// A chunk's rows, mapped to the target's columns.
enum Rows {
    /// As values (a MariaDB or SQLite target: upserts).
    Values(Vec<Vec<Value>>),
    /// As PostgreSQL COPY data.
    Copy(Payload),
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

#[cfg(test)]
mod tests;
