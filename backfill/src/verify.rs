//! Verify: tiered by key-range chunks — exact counts, then an order-independent
//! hash over the canonical encoding of each row *after the mapping*, then row
//! by row only inside chunks whose count or hash differ. `--repair` re-copies
//! exactly the mismatched rows, deletes extra ones, and checks them again.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::Utc;
use serde::Serialize;
use tokio::sync::Semaphore;
use xxhash_rust::xxh3::xxh3_128;

use crate::db::{Column, Db, SqlBuilder, quote, select_expr};
use crate::dsn::Engine;
use crate::error::{Error, Result};
use crate::event::{Event, Events};
use crate::plan::Feed;
use crate::plan::{TablePlan, VerifyPlan};
use crate::resolve::resolve;
use crate::store::{self, VerifyRun};
use crate::value::Value;
use crate::write::{culprit, upsert_statements};

/// Mismatch details kept per table for the report (all keys are still repaired).
const DETAILS: usize = 1000;

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
#[derive(Debug, Clone, Serialize)]
pub struct TableReport {
    /// `source → target`.
    pub table: String,
    /// Source rows checked.
    pub rows_checked: i64,
    /// Key-range chunks compared.
    pub chunks: u64,
    /// Chunks whose count or hash differed.
    pub chunks_mismatched: u64,
    /// Rows in the source, not in the target.
    pub missing: Vec<RowDiff>,
    /// Rows in the target, not in the source.
    pub extra: Vec<RowDiff>,
    /// Rows in both, with different values.
    pub different: Vec<RowDiff>,
    /// Mismatches found (may exceed the details listed).
    pub mismatches: i64,
    /// Rows re-copied and deleted by `--repair`.
    pub repaired: i64,
    /// Mismatches left after the repair (equal to `mismatches` without one).
    pub remaining: i64,
}

/// One mismatching row.
#[derive(Debug, Clone, Serialize)]
pub struct RowDiff {
    /// The key, `(id=5)`.
    pub key: String,
    /// For a different row: the columns that differ.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<ColumnDiff>,
}

/// One differing column.
#[derive(Debug, Clone, Serialize)]
pub struct ColumnDiff {
    /// The target column.
    pub column: String,
    /// The source's value, after the mapping.
    pub source: serde_json::Value,
    /// The target's value.
    pub target: serde_json::Value,
}

/// Rows keyed by the canonical encoding of their target key.
type Keyed = HashMap<Vec<u8>, Vec<Value>>;

fn encode_key(key: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in key {
        v.encode(&mut out);
    }
    out
}

/// Order-independent hash of rows: the wrapping sum of each row's xxh3-128.
fn chunk_hash(rows: &[Vec<Value>]) -> u128 {
    let mut buf = Vec::new();
    rows.iter().fold(0u128, |acc, row| {
        buf.clear();
        for v in row {
            v.encode(&mut buf);
        }
        acc.wrapping_add(xxh3_128(&buf))
    })
}

/// Verifies every table of the plan, records the run in the target, and
/// repairs when asked.
pub async fn verify(plan: &VerifyPlan, events: Events) -> Result<VerifyReport> {
    let started_at = Utc::now();
    let connections = u32::try_from(plan.jobs.max(1) + 1).unwrap_or(8);
    let source = Db::connect(&plan.source, connections, false).await?;
    let target = Db::connect(&plan.target, connections, false).await?;
    let tables = resolve(&source, &target, &plan.tables, &plan.mapping, false).await?;
    let permits = Arc::new(Semaphore::new(plan.jobs.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, table) in tables.iter().cloned().enumerate() {
        let (source, target, permits, events) = (
            source.clone(),
            target.clone(),
            permits.clone(),
            events.clone(),
        );
        let (chunk, repair) = (plan.chunk_rows.max(1), plan.repair);
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let report = verify_table(&source, &target, &table, chunk, repair).await;
            if let Ok(r) = &report {
                events(&Event::Verified {
                    table: r.table.clone(),
                    rows_checked: r.rows_checked,
                    mismatches: r.remaining,
                });
            }
            (index, report)
        });
    }
    let mut reports = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (index, report) = joined.map_err(|e| Error::Sql {
            dsn: plan.target.to_string(),
            context: "a verify task".to_owned(),
            message: e.to_string(),
        })?;
        reports.push((index, report?));
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
    store::record_verify(&target, &run).await?;
    Ok(VerifyReport {
        tables: reports,
        rows_checked,
        mismatches,
        clean: mismatches == 0,
    })
}

#[derive(Default)]
struct Found {
    missing: Keyed,
    extra: Keyed,
    different: Vec<(Vec<Value>, Vec<Value>)>,
}

async fn verify_table(
    source: &Db,
    target: &Db,
    plan: &TablePlan,
    chunk: usize,
    repair: bool,
) -> Result<TableReport> {
    let write_columns = plan.write_columns();
    let mut found = Found::default();
    let mut report = TableReport {
        table: plan.label(),
        rows_checked: 0,
        chunks: 0,
        chunks_mismatched: 0,
        missing: Vec::new(),
        extra: Vec::new(),
        different: Vec::new(),
        mismatches: 0,
        repaired: 0,
        remaining: 0,
    };
    let mut after: Option<Vec<Value>> = None; // source key
    let mut after_target: Option<Vec<Value>> = None; // the same, as the target's key
    if pushdown_columns(source, target, plan).is_some() {
        verify_pushed_down(
            source,
            target,
            plan,
            chunk.saturating_mul(10),
            &mut report,
            &mut found,
        )
        .await?;
    } else {
        loop {
            let stmt = plan.source_select(source, after.as_deref(), None, Some(chunk));
            let rows = source.fetch(&stmt, &plan.read).await.map_err(|e| {
                source.sql_error(format!("reading a chunk of `{}`", plan.source.name), &e)
            })?;
            let mapped = map_rows(source, plan, &rows)?;
            let last = rows.len() < chunk;
            // The target range: (after, last key] — or everything after `after` at the end.
            let upto = if last {
                None
            } else {
                mapped.last().map(|r| plan.target_key_of(r))
            };
            let stmt = plan.target_select(target, after_target.as_deref(), upto.as_deref(), None);
            let target_rows = target.fetch(&stmt, &write_columns).await.map_err(|e| {
                target.sql_error(format!("reading a chunk of `{}`", plan.target.name), &e)
            })?;
            report.chunks += 1;
            report.rows_checked += i64::try_from(rows.len()).unwrap_or(i64::MAX);
            // Tier 1: counts; tier 2: hashes; tier 3: rows, only when one differs.
            if mapped.len() != target_rows.len() || chunk_hash(&mapped) != chunk_hash(&target_rows)
            {
                report.chunks_mismatched += 1;
                compare_rows(plan, mapped.clone(), target_rows, &mut found);
            }
            if last {
                break;
            }
            after = rows.last().map(|r| plan.key_of(r));
            after_target = upto;
        }
    }
    // A key filed in different chunks on the two sides (collations that order
    // text differently) shows as missing in one chunk and extra in another.
    let misfiled: Vec<Vec<u8>> = found
        .missing
        .keys()
        .filter(|k| found.extra.contains_key(*k))
        .cloned()
        .collect();
    for key in misfiled {
        if let (Some(s), Some(t)) = (found.missing.remove(&key), found.extra.remove(&key))
            && s != t
        {
            found.different.push((s, t));
        }
    }
    let mismatches = found.missing.len() + found.extra.len() + found.different.len();
    report.mismatches = i64::try_from(mismatches).unwrap_or(i64::MAX);
    fill_details(plan, &found, &mut report);
    report.remaining = report.mismatches;
    if repair && mismatches > 0 {
        report.repaired = report.mismatches;
        report.remaining = repair_rows(source, target, plan, &found).await?;
    }
    Ok(report)
}

/// When both sides are the same engine (not SQLite) and every column is
/// copied as it is (same declared type, no value map, cast or constant), chunk
/// counts and hashes are computed in SQL on both sides: the source and target
/// column expressions, in write order.
fn pushdown_columns(
    source: &Db,
    target: &Db,
    plan: &TablePlan,
) -> Option<(Vec<String>, Vec<String>)> {
    if source.engine() != target.engine() || source.engine() == Engine::Sqlite {
        return None;
    }
    let mut source_columns = Vec::new();
    let mut target_columns = Vec::new();
    for w in &plan.write {
        let Feed::Source {
            index,
            values: None,
            cast: None,
            ..
        } = &w.feed
        else {
            return None;
        };
        let read = &plan.read[*index];
        if !read.decl.eq_ignore_ascii_case(&w.column.decl) {
            return None;
        }
        source_columns.push(quote(source.engine(), &read.name));
        target_columns.push(quote(target.engine(), &w.column.name));
    }
    Some((source_columns, target_columns))
}

/// `SELECT count, sum of a 60-bit row hash` over a key range, in the engine's SQL.
#[allow(clippy::too_many_arguments, reason = "one query, both sides")]
fn aggregate(
    db: &Db,
    table: &str,
    columns: &[String],
    key: &[&Column],
    filter: Option<&str>,
    after: Option<&[Value]>,
    upto: Option<&[Value]>,
) -> crate::db::Stmt {
    let select = match db.engine() {
        Engine::Postgres => format!(
            "count(*)::text, coalesce(sum(('x' || substr(md5(ROW({})::text), 1, 15))::bit(60)::bigint), 0)::text",
            columns.join(", ")
        ),
        _ => {
            let parts: Vec<String> = columns
                .iter()
                .map(|c| format!("IFNULL(CAST({c} AS CHAR), 0x00)"))
                .collect();
            format!(
                "CAST(COUNT(*) AS CHAR), CAST(COALESCE(SUM(CAST(CONV(SUBSTR(MD5(CONCAT_WS(0x1f, {})), 1, 15), 16, 10) AS UNSIGNED)), 0) AS CHAR)",
                parts.join(", ")
            )
        }
    };
    let mut stmt = crate::plan::select(db, table, &[select], key, filter, after, upto, None);
    // An aggregate needs no order.
    if let Some(at) = stmt.sql.rfind(" ORDER BY ") {
        stmt.sql.truncate(at);
    }
    stmt
}

/// Tiers 1 and 2 in SQL on both sides, by key ranges of `range` rows; tier 3
/// (rows) in Rust only inside ranges that differ.
async fn verify_pushed_down(
    source: &Db,
    target: &Db,
    plan: &TablePlan,
    range: usize,
    report: &mut TableReport,
    found: &mut Found,
) -> Result<()> {
    let Some((source_columns, target_columns)) = pushdown_columns(source, target, plan) else {
        return Ok(());
    };
    let source_key = plan.source_key_columns();
    let target_key = plan.target_key_columns();
    let key_exprs: Vec<String> = source_key
        .iter()
        .map(|c| select_expr(source.engine(), c))
        .collect();
    let key_owned: Vec<Column> = source_key.iter().map(|c| (*c).clone()).collect();
    let write_columns = plan.write_columns();
    let mut after: Option<Vec<Value>> = None;
    loop {
        // The range's upper key: the `range`-th key after `after` (an index walk).
        let mut stmt = crate::plan::select(
            source,
            &plan.source.name,
            &key_exprs,
            &source_key,
            plan.filter.as_deref(),
            after.as_deref(),
            None,
            None,
        );
        stmt.sql
            .push_str(&format!(" LIMIT 1 OFFSET {}", range.max(1) - 1));
        let upto = source
            .fetch(&stmt, &key_owned)
            .await
            .map_err(|e| {
                source.sql_error(format!("finding a key range of `{}`", plan.source.name), &e)
            })?
            .into_iter()
            .next();
        let s = aggregate(
            source,
            &plan.source.name,
            &source_columns,
            &source_key,
            plan.filter.as_deref(),
            after.as_deref(),
            upto.as_deref(),
        );
        let t = aggregate(
            target,
            &plan.target.name,
            &target_columns,
            &target_key,
            None,
            after.as_deref(),
            upto.as_deref(),
        );
        let (s, t) = tokio::join!(source.fetch_text(&s, 2), target.fetch_text(&t, 2));
        let s = s.map_err(|e| {
            source.sql_error(format!("hashing a chunk of `{}`", plan.source.name), &e)
        })?;
        let t = t.map_err(|e| {
            target.sql_error(format!("hashing a chunk of `{}`", plan.target.name), &e)
        })?;
        report.chunks += 1;
        report.rows_checked += s
            .first()
            .and_then(|r| r[0].as_deref())
            .and_then(|n| n.parse::<i64>().ok())
            .unwrap_or(0);
        if s != t {
            report.chunks_mismatched += 1;
            let stmt = plan.source_select(source, after.as_deref(), upto.as_deref(), None);
            let rows = source.fetch(&stmt, &plan.read).await.map_err(|e| {
                source.sql_error(format!("reading a chunk of `{}`", plan.source.name), &e)
            })?;
            let mapped = map_rows(source, plan, &rows)?;
            let stmt = plan.target_select(target, after.as_deref(), upto.as_deref(), None);
            let target_rows = target.fetch(&stmt, &write_columns).await.map_err(|e| {
                target.sql_error(format!("reading a chunk of `{}`", plan.target.name), &e)
            })?;
            compare_rows(plan, mapped, target_rows, found);
        }
        match upto {
            Some(upto) => after = Some(upto),
            None => return Ok(()),
        }
    }
}

fn map_rows(source: &Db, plan: &TablePlan, rows: &[Vec<Value>]) -> Result<Vec<Vec<Value>>> {
    rows.iter()
        .map(|row| {
            plan.map_row(row).map_err(|message| Error::Row {
                dsn: source.dsn().to_string(),
                table: plan.source.name.clone(),
                key: plan.show_key(&plan.key_of(row)),
                message,
            })
        })
        .collect()
}

fn compare_rows(
    plan: &TablePlan,
    mapped: Vec<Vec<Value>>,
    target_rows: Vec<Vec<Value>>,
    found: &mut Found,
) {
    let mut targets: Keyed = target_rows
        .into_iter()
        .map(|r| (encode_key(&plan.target_key_of(&r)), r))
        .collect();
    for row in mapped {
        let key = encode_key(&plan.target_key_of(&row));
        match targets.remove(&key) {
            None => {
                found.missing.insert(key, row);
            }
            Some(t) if t != row => found.different.push((row, t)),
            Some(_) => {}
        }
    }
    found.extra.extend(targets);
}

fn fill_details(plan: &TablePlan, found: &Found, report: &mut TableReport) {
    let diff = |row: &Vec<Value>| RowDiff {
        key: plan.show_key(&plan.target_key_of(row)),
        columns: Vec::new(),
    };
    report.missing = found.missing.values().take(DETAILS).map(diff).collect();
    report.extra = found.extra.values().take(DETAILS).map(diff).collect();
    report.different = found
        .different
        .iter()
        .take(DETAILS)
        .map(|(s, t)| RowDiff {
            key: plan.show_key(&plan.target_key_of(s)),
            columns: plan
                .write
                .iter()
                .zip(s.iter().zip(t))
                .filter(|(_, (a, b))| a != b)
                .map(|(w, (a, b))| ColumnDiff {
                    column: w.column.name.clone(),
                    source: a.to_json(),
                    target: b.to_json(),
                })
                .collect(),
        })
        .collect();
    for list in [
        &mut report.missing,
        &mut report.extra,
        &mut report.different,
    ] {
        list.sort_by(|a, b| a.key.cmp(&b.key));
    }
}

/// `WHERE (k = ? AND …) OR (…)` over a list of keys.
pub(crate) fn by_keys(b: &mut SqlBuilder, key: &[&Column], keys: &[Vec<Value>]) {
    b.push(" WHERE ");
    for (i, k) in keys.iter().enumerate() {
        b.push(if i == 0 { "(" } else { " OR (" });
        for (j, (column, value)) in key.iter().zip(k).enumerate() {
            if j > 0 {
                b.push(" AND ");
            }
            b.ident(&column.name).push(" = ");
            b.param(value.clone(), column);
        }
        b.push(")");
    }
}

/// Reads source rows by key (the filter applied), mapped.
pub(crate) async fn source_rows_by_key(
    source: &Db,
    plan: &TablePlan,
    keys: &[Vec<Value>],
) -> Result<Vec<Vec<Value>>> {
    let mut out = Vec::new();
    for batch in keys.chunks(200) {
        let mut b = SqlBuilder::new(source.engine());
        let columns: Vec<String> = plan
            .read
            .iter()
            .map(|c| crate::db::select_expr(source.engine(), c))
            .collect();
        b.push("SELECT ")
            .push(&columns.join(", "))
            .push(" FROM ")
            .ident(&plan.source.name);
        by_keys(&mut b, &plan.source_key_columns(), batch);
        let mut stmt = b.finish();
        if let Some(filter) = &plan.filter {
            stmt.sql = stmt
                .sql
                .replacen(" WHERE ", &format!(" WHERE ({filter}) AND ("), 1)
                + ")";
        }
        let rows = source.fetch(&stmt, &plan.read).await.map_err(|e| {
            source.sql_error(format!("reading rows of `{}` by key", plan.source.name), &e)
        })?;
        out.extend(map_rows(source, plan, &rows)?);
    }
    Ok(out)
}

async fn target_rows_by_key(
    target: &Db,
    plan: &TablePlan,
    keys: &[Vec<Value>],
) -> Result<Vec<Vec<Value>>> {
    let mut out = Vec::new();
    let write_columns = plan.write_columns();
    for batch in keys.chunks(200) {
        let mut b = SqlBuilder::new(target.engine());
        let columns: Vec<String> = write_columns
            .iter()
            .map(|c| crate::db::select_expr(target.engine(), c))
            .collect();
        b.push("SELECT ")
            .push(&columns.join(", "))
            .push(" FROM ")
            .ident(&plan.target.name);
        by_keys(&mut b, &plan.target_key_columns(), batch);
        let rows = target
            .fetch(&b.finish(), &write_columns)
            .await
            .map_err(|e| {
                target.sql_error(format!("reading rows of `{}` by key", plan.target.name), &e)
            })?;
        out.extend(rows);
    }
    Ok(out)
}

/// Re-copies missing and different rows from the source as it is now, deletes
/// rows the source does not have, then compares those keys again. Returns the
/// mismatches left.
async fn repair_rows(source: &Db, target: &Db, plan: &TablePlan, found: &Found) -> Result<i64> {
    let mut keys: BTreeMap<Vec<u8>, Vec<Value>> = BTreeMap::new();
    for row in found
        .missing
        .values()
        .chain(found.extra.values())
        .chain(found.different.iter().map(|(s, _)| s))
    {
        let key = plan.target_key_of(row);
        keys.insert(encode_key(&key), key);
    }
    let keys: Vec<Vec<Value>> = keys.into_values().collect();
    let rows = source_rows_by_key(source, plan, &keys).await?;
    let present: HashMap<Vec<u8>, ()> = rows
        .iter()
        .map(|r| (encode_key(&plan.target_key_of(r)), ()))
        .collect();
    let gone: Vec<Vec<Value>> = keys
        .iter()
        .filter(|k| !present.contains_key(&encode_key(k)))
        .cloned()
        .collect();
    let mut stmts = upsert_statements(target.engine(), plan, &rows);
    let key_columns = plan.target_key_columns();
    for batch in gone.chunks(200) {
        let mut b = SqlBuilder::new(target.engine());
        b.push("DELETE FROM ").ident(&plan.target.name);
        by_keys(&mut b, &key_columns, batch);
        stmts.push(b.finish());
    }
    if let Err(err) = target.transaction(&stmts).await {
        return Err(culprit(target, plan, &rows, &err).await);
    }
    // Check exactly those keys again.
    let again_source = source_rows_by_key(source, plan, &keys).await?;
    let again_target = target_rows_by_key(target, plan, &keys).await?;
    let mut left = Found::default();
    compare_rows(plan, again_source, again_target, &mut left);
    Ok(
        i64::try_from(left.missing.len() + left.extra.len() + left.different.len())
            .unwrap_or(i64::MAX),
    )
}
