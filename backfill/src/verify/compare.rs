//! One chunk of verify: mapped source rows against the target rows in the same
//! key range, the target read in pages so a range crowded with extra target
//! rows costs no more memory than a chunk.
//!
//! Every source row belongs to exactly one source chunk, but collations that
//! order text differently can file a key in another chunk on the target. So a
//! row missing from its chunk's target range is looked up by key in the whole
//! target, and a target row with no source row in the chunk is looked up by key
//! in the source: found there, it is compared in its own source chunk, so each
//! row is counted once, with no state kept across chunks.

use std::collections::{HashMap, HashSet};

use xxhash_rust::xxh3::xxh3_128;

use super::{ColumnDiff, RowDiff};
use crate::db::Db;
use crate::error::Result;
use crate::lookup::{encode_key, source_rows_by_key, target_rows_by_key};
use crate::plan::TablePlan;
use crate::value::Value;

/// Rows keyed by the canonical encoding of their target key.
type Keyed = HashMap<Vec<u8>, Vec<Value>>;

/// A chunk's mismatches: mapped source rows and target rows.
#[derive(Debug, Default)]
pub(super) struct Diff {
    /// In the source only.
    pub(super) missing: Vec<Vec<Value>>,
    /// In the target only.
    pub(super) extra: Vec<Vec<Value>>,
    /// In both, different: (source, target).
    pub(super) different: Vec<(Vec<Value>, Vec<Value>)>,
}

impl Diff {
    pub(super) fn len(&self) -> usize {
        self.missing.len() + self.extra.len() + self.different.len()
    }

    /// The target keys of every mismatching row.
    pub(super) fn keys(&self, plan: &TablePlan) -> Vec<Vec<Value>> {
        self.missing
            .iter()
            .chain(&self.extra)
            .chain(self.different.iter().map(|(s, _)| s))
            .map(|row| plan.target_key_of(row))
            .collect()
    }
}

/// Order-independent hash of rows: the wrapping sum of each row's xxh3-128.
fn hash(rows: &[Vec<Value>]) -> u128 {
    let mut buf = Vec::new();
    rows.iter().fold(0u128, |acc, row| {
        buf.clear();
        for v in row {
            v.encode(&mut buf);
        }
        acc.wrapping_add(xxh3_128(&buf))
    })
}

/// A different row for the report: its key and the columns that differ.
pub(super) fn row_diff(plan: &TablePlan, source: &[Value], target: &[Value]) -> RowDiff {
    RowDiff {
        key: plan.show_key(&plan.target_key_of(source)),
        columns: plan
            .write
            .iter()
            .zip(source.iter().zip(target))
            .filter(|(_, (a, b))| a != b)
            .map(|(w, (a, b))| ColumnDiff {
                column: w.column.name.clone(),
                source: a.to_json(),
                target: b.to_json(),
            })
            .collect(),
    }
}

/// Compares a chunk's mapped source rows with the target rows whose keys are
/// in `(after, upto]` (target keys; `None`: unbounded). `None` when counts and
/// hashes agree; else the rows that differ (possibly none, when only the
/// filing of keys did).
pub(super) async fn chunk(
    source: &Db,
    target: &Db,
    plan: &TablePlan,
    rows: Vec<Vec<Value>>,
    after: Option<&[Value]>,
    upto: Option<&[Value]>,
    page: usize,
) -> Result<Option<Diff>> {
    let columns = plan.write_columns();
    let columns = &columns;
    let read = |after: Option<Vec<Value>>, limit: usize| async move {
        let stmt = plan.target_select(target, after.as_deref(), upto, Some(limit));
        target
            .fetch(&stmt, columns)
            .await
            .map_err(|e| target.sql_error(format!("reading a chunk of `{}`", plan.target.name), &e))
    };
    // One row more than a page tells a complete range from a crowded one.
    let mut limit = page + 1;
    let mut target_rows = read(after.map(<[Value]>::to_vec), limit).await?;
    // Tier 1: counts; tier 2: hashes; tier 3 only when one differs.
    if target_rows.len() <= page
        && target_rows.len() == rows.len()
        && hash(&target_rows) == hash(&rows)
    {
        return Ok(None);
    }
    let mut diff = Diff::default();
    let mut pending: Keyed = rows
        .into_iter()
        .map(|r| (encode_key(&plan.target_key_of(&r)), r))
        .collect();
    loop {
        let full = target_rows.len() == limit;
        let next = target_rows.last().map(|r| plan.target_key_of(r));
        let mut candidates = Vec::new();
        for row in target_rows {
            match pending.remove(&encode_key(&plan.target_key_of(&row))) {
                Some(s) if s != row => diff.different.push((s, row)),
                Some(_) => {}
                None => candidates.push(row),
            }
        }
        extra(source, plan, candidates, &mut diff).await?;
        if !full {
            break;
        }
        limit = page;
        target_rows = read(next, limit).await?;
    }
    missing(target, plan, pending, &mut diff).await?;
    Ok(Some(diff))
}

/// Target rows with no source row in the chunk: extra unless the source has
/// them (filed in another chunk, compared there).
async fn extra(
    source: &Db,
    plan: &TablePlan,
    candidates: Vec<Vec<Value>>,
    diff: &mut Diff,
) -> Result<()> {
    if candidates.is_empty() {
        return Ok(());
    }
    let keys: Vec<Vec<Value>> = candidates.iter().map(|r| plan.target_key_of(r)).collect();
    let present: HashSet<Vec<u8>> = source_rows_by_key(source, plan, &keys)
        .await?
        .iter()
        .map(|r| encode_key(&plan.target_key_of(r)))
        .collect();
    diff.extra.extend(
        candidates
            .into_iter()
            .filter(|r| !present.contains(&encode_key(&plan.target_key_of(r)))),
    );
    Ok(())
}

/// Source rows of the chunk not in its target range: missing unless the
/// target has them elsewhere (then compared here).
async fn missing(target: &Db, plan: &TablePlan, pending: Keyed, diff: &mut Diff) -> Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    let keys: Vec<Vec<Value>> = pending.values().map(|r| plan.target_key_of(r)).collect();
    let mut found: Keyed = target_rows_by_key(target, plan, &keys)
        .await?
        .into_iter()
        .map(|r| (encode_key(&plan.target_key_of(&r)), r))
        .collect();
    for (key, row) in pending {
        match found.remove(&key) {
            None => diff.missing.push(row),
            Some(t) if t != row => diff.different.push((row, t)),
            Some(_) => {}
        }
    }
    Ok(())
}
