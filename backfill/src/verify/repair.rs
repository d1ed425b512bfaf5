//! `--repair`: exactly the mismatching rows of a chunk, fixed from the source
//! as it is now, then checked again.

use std::collections::{BTreeMap, HashSet};

use super::compare::Diff;
use crate::db::{Db, SqlBuilder};
use crate::error::Result;
use crate::lookup::{by_keys, encode_key, source_rows_by_key, target_rows_by_key};
use crate::plan::TablePlan;
use crate::value::Value;
use crate::write::{culprit, upsert_statements};

/// Re-copies the rows of `keys` (target keys) from the source as it is now
/// and deletes those the source does not have (or its filter excludes), in one
/// transaction; then compares those keys again. Returns the mismatches left.
pub(super) async fn repair(
    source: &Db,
    target: &Db,
    plan: &TablePlan,
    keys: Vec<Vec<Value>>,
) -> Result<i64> {
    let keys: Vec<Vec<Value>> = keys
        .into_iter()
        .map(|k| (encode_key(&k), k))
        .collect::<BTreeMap<_, _>>()
        .into_values()
        .collect();
    let rows = source_rows_by_key(source, plan, &keys).await?;
    let present: HashSet<Vec<u8>> = rows
        .iter()
        .map(|r| encode_key(&plan.target_key_of(r)))
        .collect();
    let gone: Vec<Vec<Value>> = keys
        .iter()
        .filter(|k| !present.contains(&encode_key(k)))
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
    let mut targets: BTreeMap<Vec<u8>, Vec<Value>> = again_target
        .into_iter()
        .map(|r| (encode_key(&plan.target_key_of(&r)), r))
        .collect();
    let mut left = Diff::default();
    for row in again_source {
        match targets.remove(&encode_key(&plan.target_key_of(&row))) {
            None => left.missing.push(row),
            Some(t) if t != row => left.different.push((row, t)),
            Some(_) => {}
        }
    }
    left.extra.extend(targets.into_values());
    Ok(i64::try_from(left.len()).unwrap_or(i64::MAX))
}
