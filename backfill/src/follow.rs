//! `--follow`: catch-up of the source's changes after (and during) the copy.
//!
//! One design, exactly: an `updated_at` watermark with an overlap window, plus
//! a deletion sweep by key ranges.
//!
//! - Before a table's copy starts, the source's `MAX(updated_at)` is saved in
//!   its checkpoint as the watermark. Each pass then reads the rows with
//!   `updated_at >= watermark - overlap`, in `(updated_at, key)` order and pages,
//!   upserts them and moves the watermark in the same transaction.
//! - Each pass also takes the next range of target keys and deletes those the
//!   source no longer has (or that the filter now excludes); the sweep wraps
//!   around the table.
//!
//! - The lag each pass reports is the age, by the source's clock at the start
//!   of the pass, of the oldest change it found not yet applied (newer than
//!   the watermark): 0 when it found none, so it stays 0 on an idle source.
//!
//! Limits (documented in docs/backfill.md): every write to the source must set
//! the column (an indexed `updated_at`); a transaction that commits more than
//! the overlap after the time it wrote into `updated_at` is missed until a
//! verify; deletes are found at the sweep's cadence; rows with a NULL
//! `updated_at` are only copied by the initial copy.

use std::time::Duration;

use crate::db::{Column, Db, SqlBuilder, select_expr};
use crate::dsn::Engine;
use crate::error::{Error, Result};
use crate::event::{Event, Events, Stop};
use crate::lookup::{by_keys, encode_key, source_rows_by_key};
use crate::plan::{FollowOptions, TablePlan, select};
use crate::store;
use crate::value::{Kind, Value, parse_instant};
use crate::write::write_rows;

/// The column that dates each row's last write, checked.
fn updated_column<'a>(plan: &'a TablePlan, follow: &FollowOptions) -> Result<&'a Column> {
    let column = plan
        .read
        .iter()
        .find(|c| c.name == follow.column)
        .ok_or_else(|| Error::Plan {
            problems: vec![format!(
                "--follow needs column `{}` in source table `{}` (copied, not dropped), set on every write: name another with --updated-at",
                follow.column, plan.source.name
            )],
        })?;
    if !matches!(column.kind, Kind::DateTime | Kind::Timestamptz) {
        return Err(Error::Plan {
            problems: vec![format!(
                "--follow: column `{}.{}` is {} ({}), not a timestamp",
                plan.source.name, column.name, column.decl, column.kind
            )],
        });
    }
    Ok(column)
}

/// Whether a table can be followed: its `updated_at` column is read and a timestamp.
pub(crate) fn check(plan: &TablePlan, follow: &FollowOptions) -> Result<()> {
    updated_column(plan, follow).map(|_| ())
}

/// Microseconds since the epoch of a timestamp value.
fn micros(value: &Value) -> Option<i64> {
    match value {
        Value::DateTime(t) => Some(t.and_utc().timestamp_micros()),
        Value::Timestamptz(t) => Some(t.timestamp_micros()),
        _ => None,
    }
}

fn minus(value: &Value, by: Duration) -> Value {
    let by = chrono::Duration::from_std(by).unwrap_or_default();
    match value {
        Value::DateTime(t) => Value::DateTime(*t - by),
        Value::Timestamptz(t) => Value::Timestamptz(*t - by),
        other => other.clone(),
    }
}

/// The source's newest `updated_at` (the filter applied): where catch-up starts.
pub(crate) async fn source_watermark(
    source: &Db,
    plan: &TablePlan,
    follow: &FollowOptions,
) -> Result<Option<Value>> {
    let column = updated_column(plan, follow)?;
    let mut b = SqlBuilder::new(source.engine());
    b.push("SELECT MAX(")
        .push(&select_expr(source.engine(), column))
        .push(") FROM ")
        .ident(&plan.source.name);
    if let Some(filter) = &plan.filter {
        b.push(" WHERE (").push(filter).push(")");
    }
    let rows = source
        .fetch(&b.finish(), std::slice::from_ref(column))
        .await
        .map_err(|e| source.sql_error(format!("reading the newest `{}`", column.name), &e))?;
    Ok(rows
        .into_iter()
        .next()
        .and_then(|r| r.into_iter().next())
        .filter(|v| !matches!(v, Value::Null)))
}

/// Applies the source's changes to one table until `stop` is set.
pub(crate) async fn follow_table(
    source: &Db,
    target: &Db,
    plan: &TablePlan,
    follow: &FollowOptions,
    events: &Events,
    stop: &Stop,
) -> Result<()> {
    let column = updated_column(plan, follow)?.clone();
    let position = plan
        .read
        .iter()
        .position(|c| c.name == column.name)
        .unwrap_or_default();
    let checkpoint = store::load_checkpoint(target, &plan.target.name)
        .await?
        .ok_or_else(|| Error::Plan {
            problems: vec![format!("no checkpoint for `{}`", plan.target.name)],
        })?;
    // A copy made without --follow has no watermark: start from its start time.
    let mut watermark = checkpoint.watermark.clone().or_else(|| {
        parse_instant(&checkpoint.started_at)
            .and_then(|t| Value::Timestamptz(t).coerce(column.kind).ok())
    });
    let key = plan.source_key_columns();
    let mut order = vec![&column];
    order.extend(key.iter().copied());
    let page = 5000;
    let mut sweep_after: Option<Vec<Value>> = None;
    loop {
        if stop.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(());
        }
        // Before reading: every change found after this instant is at most this old.
        let now = source_clock(source).await?;
        let applied_up_to = watermark.as_ref().and_then(micros);
        let mut oldest_new: Option<i64> = None;
        // 1. Rows written since the watermark, minus the overlap.
        let lower = watermark.as_ref().map(|w| minus(w, follow.overlap));
        let mut after: Option<Vec<Value>> = None;
        let mut applied = 0;
        loop {
            let columns: Vec<String> = plan
                .read
                .iter()
                .map(|c| select_expr(source.engine(), c))
                .collect();
            let mut stmt = select(
                source,
                &plan.source.name,
                &columns,
                &order,
                plan.filter.as_deref(),
                after.as_deref(),
                None,
                Some(page),
            );
            if let Some(lower) = &lower {
                // `AND updated_at >= ?`, inserted before ORDER BY.
                let mut b = SqlBuilder::new(source.engine());
                b.stmt.binds = stmt.binds.clone();
                b.push(" ")
                    .push(if stmt.sql.contains(" WHERE ") {
                        "AND"
                    } else {
                        "WHERE"
                    })
                    .push(" ")
                    .ident(&column.name)
                    .push(" >= ")
                    .param(lower.clone(), &column)
                    .push(" ");
                let extra = b.finish();
                let at = stmt.sql.find(" ORDER BY ").unwrap_or(stmt.sql.len());
                stmt.sql.replace_range(at..at, extra.sql.trim_end());
                stmt.binds = extra.binds;
            }
            let rows = source.fetch(&stmt, &plan.read).await.map_err(|e| {
                source.sql_error(format!("reading changes of `{}`", plan.source.name), &e)
            })?;
            let Some(last) = rows.last() else { break };
            let mapped: Vec<Vec<Value>> = rows
                .iter()
                .map(|row| {
                    plan.map_row(row).map_err(|message| Error::Row {
                        dsn: source.dsn().to_string(),
                        table: plan.source.name.clone(),
                        key: plan.show_key(&plan.key_of(row)),
                        message,
                    })
                })
                .collect::<Result<_>>()?;
            // Rows come in `updated_at` order: the first one past the
            // watermark is the oldest change not yet applied.
            if oldest_new.is_none() {
                oldest_new = rows
                    .iter()
                    .filter_map(|r| micros(&r[position]))
                    .find(|t| applied_up_to.is_none_or(|w| *t > w));
            }
            let newest = last[position].clone();
            let mut stmts = Vec::new();
            if micros(&newest) > watermark.as_ref().and_then(micros) {
                stmts.push(store::follow_checkpoint(
                    target.engine(),
                    &plan.target.name,
                    &newest,
                    lag(now, oldest_new),
                ));
                watermark = Some(newest.clone());
            }
            write_rows(target, plan, &mapped, stmts).await?;
            applied += rows.len();
            let mut next = vec![newest];
            next.extend(plan.key_of(last));
            after = Some(next);
            if rows.len() < page {
                break;
            }
        }
        // 2. The next range of target keys: delete those the source lost.
        let key_columns = plan.target_key_columns();
        let key_exprs: Vec<String> = key_columns
            .iter()
            .map(|c| select_expr(target.engine(), c))
            .collect();
        let owned: Vec<Column> = key_columns.iter().map(|c| (*c).clone()).collect();
        let stmt = select(
            target,
            &plan.target.name,
            &key_exprs,
            &key_columns,
            None,
            sweep_after.as_deref(),
            None,
            Some(follow.sweep_rows.max(1)),
        );
        let keys = target
            .fetch(&stmt, &owned)
            .await
            .map_err(|e| target.sql_error(format!("sweeping `{}`", plan.target.name), &e))?;
        let present = source_rows_by_key(source, plan, &keys).await?;
        let present: std::collections::HashSet<Vec<u8>> = present
            .iter()
            .map(|r| encode_key(&plan.target_key_of(r)))
            .collect();
        let gone: Vec<Vec<Value>> = keys
            .iter()
            .filter(|k| !present.contains(&encode_key(k)))
            .cloned()
            .collect();
        let mut stmts = Vec::new();
        for batch in gone.chunks(200) {
            let mut b = SqlBuilder::new(target.engine());
            b.push("DELETE FROM ").ident(&plan.target.name);
            by_keys(&mut b, &key_columns, batch);
            stmts.push(b.finish());
        }
        sweep_after = if keys.len() < follow.sweep_rows.max(1) {
            None
        } else {
            keys.last().cloned()
        };
        // 3. The lag, recorded and reported even when nothing changed.
        let lag = lag(now, oldest_new);
        if let Some(w) = &watermark {
            stmts.push(store::follow_checkpoint(
                target.engine(),
                &plan.target.name,
                w,
                lag,
            ));
        }
        if !stmts.is_empty() {
            target
                .transaction(&stmts)
                .await
                .map_err(|e| target.sql_error(format!("sweeping `{}`", plan.target.name), &e))?;
        }
        events(&Event::Lag {
            table: plan.label(),
            seconds: lag,
            applied,
            deleted: gone.len(),
        });
        let mut waited = Duration::ZERO;
        while waited < follow.interval {
            if stop.load(std::sync::atomic::Ordering::SeqCst) {
                return Ok(());
            }
            let step = Duration::from_millis(100).min(follow.interval - waited);
            tokio::time::sleep(step).await;
            waited += step;
        }
    }
}

/// Whole seconds from the oldest change not yet applied to `now` (both in
/// microseconds since the epoch, by the source's clock); 0 without one, and
/// never below 0 (a writer's clock ahead of the source's).
pub(crate) fn lag(now: i64, oldest_new: Option<i64>) -> i64 {
    oldest_new.map_or(0, |t| (now - t).max(0) / 1_000_000)
}

/// The source's clock, in microseconds since the epoch (UTC), the way
/// `updated_at` values are read: zoneless ones as UTC.
async fn source_clock(source: &Db) -> Result<i64> {
    let sql = match source.engine() {
        Engine::Postgres => "SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint",
        // UNIX_TIMESTAMP reads NOW(6) in the session's zone (UTC): the epoch.
        Engine::MySql => "SELECT CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS SIGNED)",
        Engine::Sqlite => "SELECT CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)",
    };
    source
        .fetch_i64(&crate::db::Stmt::new(sql))
        .await
        .map_err(|e| source.sql_error("reading the source's clock", &e))
}

#[cfg(test)]
mod tests {
    use super::lag;

    #[test]
    fn lag_is_the_age_of_the_oldest_change_not_yet_applied() {
        let now = 1_800_000_000_000_000;
        assert_eq!(
            lag(now, None),
            0,
            "nothing new: caught up, however old the watermark"
        );
        assert_eq!(lag(now, Some(now - 30_500_000)), 30);
        assert_eq!(lag(now, Some(now + 2_000_000)), 0, "a writer's clock ahead");
    }
}
