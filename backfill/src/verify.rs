//! Verify: tiered by key-range chunks — exact counts, then an order-independent
//! hash over the canonical encoding of each row *after the mapping*, then row
//! by row only inside chunks whose count or hash differ. `--repair` re-copies
//! exactly the mismatched rows of each chunk, deletes extra ones, and checks
//! them again.
//!
//! Memory stays flat as tables grow: one source chunk and one page of target
//! rows at a time, repairs chunk by chunk, and at most [`DETAILS`] mismatches
//! of each kind kept per table (beyond that, counts). Progress is saved in the
//! target after every chunk, so a verify that is killed or stopped resumes.

mod compare;
mod pushdown;
mod repair;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use crate::db::{Db, Stmt};
use crate::error::{Error, Result};
use crate::event::{Event, Events, Stop};
use crate::plan::{TablePlan, VerifyPlan, describe};
use crate::resolve::resolve;
use crate::store::{self, VerifyProgress, VerifyRun};
use crate::value::Value;

use compare::Diff;

/// Mismatch details kept per table and kind for the report; beyond them,
/// mismatches are counted (and repaired) but not listed.
pub const DETAILS: usize = 1000;

/// What verify found.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// Per table.
    pub tables: Vec<TableReport>,
    /// Source rows checked, all tables.
    pub rows_checked: i64,
    /// Mismatching rows left (after a repair, those it could not fix).
    pub mismatches: i64,
    /// No mismatch left.
    pub clean: bool,
}

/// One table's verification.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TableReport {
    /// `source → target`.
    pub table: String,
    /// Source rows checked.
    pub rows_checked: i64,
    /// Key-range chunks compared.
    pub chunks: u64,
    /// Chunks whose count or hash differed.
    pub chunks_mismatched: u64,
    /// Rows in the source, not in the target (all of them).
    pub missing_rows: i64,
    /// Rows in the target, not in the source (all of them).
    pub extra_rows: i64,
    /// Rows in both, with different values (all of them).
    pub different_rows: i64,
    /// The first [`DETAILS`] missing rows.
    #[serde(default)]
    pub missing: Vec<RowDiff>,
    /// The first [`DETAILS`] extra rows.
    #[serde(default)]
    pub extra: Vec<RowDiff>,
    /// The first [`DETAILS`] different rows, with the columns that differ.
    #[serde(default)]
    pub different: Vec<RowDiff>,
    /// Mismatches found: missing, extra and different rows.
    pub mismatches: i64,
    /// Rows re-copied and deleted by `--repair`.
    pub repaired: i64,
    /// Mismatches left after the repair (equal to `mismatches` without one).
    pub remaining: i64,
    /// Whether this run resumed the table from saved progress.
    #[serde(default)]
    pub resumed: bool,
}

/// One mismatching row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RowDiff {
    /// The key, `(id=5)`.
    pub key: String,
    /// For a different row: the columns that differ.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<ColumnDiff>,
}

/// One differing column.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ColumnDiff {
    /// The target column.
    pub column: String,
    /// The source's value, after the mapping.
    pub source: serde_json::Value,
    /// The target's value.
    pub target: serde_json::Value,
}

/// The mismatch details of a table, as saved with its progress.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Details {
    missing: Vec<RowDiff>,
    extra: Vec<RowDiff>,
    different: Vec<RowDiff>,
}

/// What every table of a verify run shares.
struct Ctx {
    source: Db,
    target: Db,
    /// Source rows per chunk.
    chunk: usize,
    /// The time a range hashed in SQL should take (zero: ten chunks).
    range_time: std::time::Duration,
    repair: bool,
    restart: bool,
    events: Events,
    stop: Stop,
}

impl Ctx {
    fn stopped(&self) -> Result<()> {
        if self.stop.load(Ordering::SeqCst) {
            Err(Error::Stopped)
        } else {
            Ok(())
        }
    }
}

/// Verifies every table of the plan, records the run in the target, and
/// repairs when asked. Stopped (`stop` set), it saves where each table stands
/// and returns `Error::Stopped`; the next run with the same plan resumes.
pub async fn verify(plan: &VerifyPlan, events: Events, stop: Stop) -> Result<VerifyReport> {
    let started_at = Utc::now();
    let connections = u32::try_from(plan.jobs.max(1) + 1).unwrap_or(8);
    let source = Db::connect(&plan.source, connections, false).await?;
    let target = Db::connect(&plan.target, connections, false).await?;
    let tables = resolve(&source, &target, &plan.tables, &plan.mapping, false).await?;
    store::ensure_verify_progress(&target).await?;
    let ctx = Arc::new(Ctx {
        source,
        target,
        chunk: plan.chunk_rows.max(1),
        range_time: plan.range_time,
        repair: plan.repair,
        restart: plan.restart,
        events,
        stop,
    });
    let permits = Arc::new(Semaphore::new(plan.jobs.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, table) in tables.iter().cloned().enumerate() {
        let (ctx, permits) = (ctx.clone(), permits.clone());
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let report = verify_table(&ctx, &table).await;
            if let Ok(r) = &report {
                (ctx.events)(&Event::Verified {
                    table: r.table.clone(),
                    rows_checked: r.rows_checked,
                    mismatches: r.remaining,
                });
            }
            (index, report)
        });
    }
    let mut reports = Vec::new();
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((index, Ok(report))) => reports.push((index, report)),
            Ok((_, Err(err))) => {
                // The other tables stop at their next chunk, their progress saved.
                ctx.stop.store(true, Ordering::SeqCst);
                if first_error.is_none() || matches!(first_error, Some(Error::Stopped)) {
                    first_error = Some(err);
                }
            }
            Err(join) => {
                first_error.get_or_insert(Error::Sql {
                    dsn: plan.target.to_string(),
                    context: "a verify task".to_owned(),
                    message: join.to_string(),
                });
            }
        }
    }
    if let Some(err) = first_error {
        return Err(err);
    }
    reports.sort_by_key(|(i, _)| *i);
    let reports: Vec<TableReport> = reports.into_iter().map(|(_, r)| r).collect();
    let rows_checked = reports.iter().map(|r| r.rows_checked).sum();
    let mismatches = reports.iter().map(|r| r.remaining).sum();
    let run = VerifyRun {
        started_at,
        finished_at: Utc::now(),
        tables: tables.iter().map(|t| t.target.name.clone()).collect(),
        rows_checked,
        mismatches,
        clean: mismatches == 0,
    };
    store::record_verify(&ctx.target, &run).await?;
    Ok(VerifyReport {
        tables: reports,
        rows_checked,
        mismatches,
        clean: mismatches == 0,
    })
}

/// A table's verify in progress: the report so far and where it stands.
struct State {
    report: TableReport,
    details: Details,
    /// The last source key verified, and the same bound as a target key.
    after: Option<Vec<Value>>,
    after_target: Option<Vec<Value>>,
    fingerprint: String,
    /// Details changed since the last save.
    dirty: bool,
}

impl State {
    /// Counts a chunk's mismatches, keeps the first [`DETAILS`] of each
    /// kind, and with `--repair` fixes them now (memory stays one chunk).
    async fn record(&mut self, ctx: &Ctx, plan: &TablePlan, diff: Diff) -> Result<()> {
        let found = i64::try_from(diff.len()).unwrap_or(i64::MAX);
        if found == 0 {
            return Ok(());
        }
        let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.report.missing_rows += count(diff.missing.len());
        self.report.extra_rows += count(diff.extra.len());
        self.report.different_rows += count(diff.different.len());
        self.report.mismatches += found;
        let keyed = |row: &Vec<Value>| RowDiff {
            key: plan.show_key(&plan.target_key_of(row)),
            columns: Vec::new(),
        };
        let room = |list: &Vec<RowDiff>| DETAILS.saturating_sub(list.len());
        let missing = room(&self.details.missing);
        self.details
            .missing
            .extend(diff.missing.iter().take(missing).map(keyed));
        let extra = room(&self.details.extra);
        self.details
            .extra
            .extend(diff.extra.iter().take(extra).map(keyed));
        let different = room(&self.details.different);
        self.details.different.extend(
            diff.different
                .iter()
                .take(different)
                .map(|(s, t)| compare::row_diff(plan, s, t)),
        );
        self.dirty = true;
        if ctx.repair {
            let left = repair::repair(&ctx.source, &ctx.target, plan, diff.keys(plan)).await?;
            self.report.repaired += found;
            self.report.remaining += left;
        } else {
            self.report.remaining += found;
        }
        Ok(())
    }

    /// Saves the progress in the target.
    async fn save(&mut self, ctx: &Ctx, plan: &TablePlan, status: &str) -> Result<()> {
        let stmt = self.progress(ctx, plan, status);
        save_progress(ctx, stmt).await?;
        self.checked(ctx);
        Ok(())
    }

    /// The statement that saves the progress as it stands (run it with
    /// [`save_progress`], then tell [`State::checked`]).
    fn progress(&mut self, ctx: &Ctx, plan: &TablePlan, status: &str) -> Stmt {
        let mut counts = self.report.clone();
        counts.resumed = false;
        let progress = VerifyProgress {
            fingerprint: self.fingerprint.clone(),
            after: self.after.clone(),
            after_target: self.after_target.clone(),
            status: status.to_owned(),
            counts: serde_json::to_string(&counts).unwrap_or_default(),
            details: serde_json::to_string(&self.details).unwrap_or_default(),
        };
        let stmt = store::save_verify_progress(
            ctx.target.engine(),
            &plan.target.name,
            &progress,
            self.dirty,
        );
        self.dirty = false;
        stmt
    }

    /// Tells the progress saved.
    fn checked(&self, ctx: &Ctx) {
        (ctx.events)(&Event::Checked {
            table: self.report.table.clone(),
            rows_checked: self.report.rows_checked,
            mismatches: self.report.mismatches,
            resumed: self.report.resumed,
        });
    }

    /// The report, details sorted by key.
    fn finish(mut self) -> TableReport {
        let mut details = std::mem::take(&mut self.details);
        for list in [
            &mut details.missing,
            &mut details.extra,
            &mut details.different,
        ] {
            list.sort_by(|a, b| a.key.cmp(&b.key));
        }
        self.report.missing = details.missing;
        self.report.extra = details.extra;
        self.report.different = details.different;
        self.report
    }
}

/// Runs a statement from [`State::progress`].
async fn save_progress(ctx: &Ctx, stmt: Stmt) -> Result<()> {
    ctx.target
        .transaction(&[stmt])
        .await
        .map(|_| ())
        .map_err(|e| ctx.target.sql_error("saving the verify progress", &e))
}

/// What saved progress must match to be resumed: the resolved plan (tables,
/// mapping, types), the databases, the chunk size and whether it repairs.
fn fingerprint(ctx: &Ctx, plan: &TablePlan) -> String {
    let text = format!(
        "{}\n{}\n{}\n{}\n{}",
        describe(std::slice::from_ref(plan)),
        ctx.source.dsn(),
        ctx.target.dsn(),
        ctx.chunk,
        ctx.repair
    );
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes()))
}

/// Resumes a table from its saved progress when it matches, else starts it.
async fn begin(ctx: &Ctx, plan: &TablePlan) -> Result<(State, bool)> {
    let fingerprint = fingerprint(ctx, plan);
    let saved = if ctx.restart {
        None
    } else {
        store::load_verify_progress(&ctx.target, &plan.target.name)
            .await?
            .filter(|p| p.fingerprint == fingerprint)
    };
    if let Some(saved) = saved
        && let (Ok(mut report), Ok(details)) = (
            serde_json::from_str::<TableReport>(&saved.counts),
            serde_json::from_str::<Details>(&saved.details),
        )
    {
        report.resumed = true;
        let state = State {
            report,
            details,
            after: saved.after,
            after_target: saved.after_target,
            fingerprint,
            dirty: false,
        };
        return Ok((state, saved.status == "verified"));
    }
    ctx.target
        .transaction(&store::start_verify_progress(
            ctx.target.engine(),
            &plan.target.name,
            &fingerprint,
        ))
        .await
        .map_err(|e| ctx.target.sql_error("starting the verify progress", &e))?;
    let state = State {
        report: TableReport {
            table: plan.label(),
            ..TableReport::default()
        },
        details: Details::default(),
        after: None,
        after_target: None,
        fingerprint,
        dirty: false,
    };
    Ok((state, false))
}

async fn verify_table(ctx: &Ctx, plan: &TablePlan) -> Result<TableReport> {
    let (mut state, done) = begin(ctx, plan).await?;
    if done {
        return Ok(state.finish());
    }
    match pushdown::columns(&ctx.source, &ctx.target, plan) {
        Some(columns) => pushdown::verify(ctx, plan, &columns, &mut state).await?,
        None => {
            let after = (state.after.clone(), state.after_target.clone());
            chunks(ctx, plan, &mut state, after, (None, None), true).await?;
        }
    }
    state.save(ctx, plan, "verified").await?;
    Ok(state.finish())
}

/// Row by row in Rust: the source keys in `(after, upto]` in chunks of
/// `ctx.chunk` rows, each against the target rows in the same key range.
/// Each chunk is counted and, with `save`, its progress saved. `after` and
/// `upto` are each a source key and the same bound as a target key.
async fn chunks(
    ctx: &Ctx,
    plan: &TablePlan,
    state: &mut State,
    after: (Option<Vec<Value>>, Option<Vec<Value>>),
    upto: (Option<Vec<Value>>, Option<Vec<Value>>),
    save: bool,
) -> Result<()> {
    let (mut after, mut after_target) = after;
    loop {
        ctx.stopped()?;
        let stmt = plan.source_select(
            &ctx.source,
            after.as_deref(),
            upto.0.as_deref(),
            Some(ctx.chunk),
        );
        let rows = ctx.source.fetch(&stmt, &plan.read).await.map_err(|e| {
            ctx.source
                .sql_error(format!("reading a chunk of `{}`", plan.source.name), &e)
        })?;
        let mapped = crate::lookup::map_rows(&ctx.source, plan, &rows)?;
        let last = rows.len() < ctx.chunk;
        // The target range: up to this chunk's last key — or to the range's
        // own bound for the last chunk, so extra target rows are seen too.
        let upto_target = if last {
            upto.1.clone()
        } else {
            mapped.last().map(|r| plan.target_key_of(r))
        };
        let rows_checked = i64::try_from(rows.len()).unwrap_or(i64::MAX);
        let next_after = rows.last().map(|r| plan.key_of(r));
        let diff = compare::chunk(
            &ctx.source,
            &ctx.target,
            plan,
            mapped,
            after_target.as_deref(),
            upto_target.as_deref(),
            ctx.chunk,
        )
        .await?;
        if save {
            state.report.chunks += 1;
            state.report.rows_checked += rows_checked;
            if diff.is_some() {
                state.report.chunks_mismatched += 1;
            }
        }
        if let Some(diff) = diff {
            state.record(ctx, plan, diff).await?;
        }
        if last {
            // The caller saves the end: a save here, with no bound left,
            // would read as "start over" to a run that resumes.
            return Ok(());
        }
        after = next_after;
        after_target = upto_target;
        if save {
            state.after = after.clone();
            state.after_target = after_target.clone();
            state.save(ctx, plan, "verifying").await?;
        }
    }
}
