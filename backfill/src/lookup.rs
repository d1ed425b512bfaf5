//! Reading rows by their keys, in batches: what verify compares and repairs
//! inside a chunk that differs, and what the follower's deletion sweep checks.

use crate::db::{Column, Db, SqlBuilder};
use crate::error::{Error, Result};
use crate::plan::TablePlan;
use crate::value::Value;

/// Keys per statement.
const BATCH: usize = 200;

/// The canonical encoding of a key: equal keys, equal bytes, across engines.
pub(crate) fn encode_key(key: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in key {
        v.encode(&mut out);
    }
    out
}

/// Source rows through the mapping; a row that does not map is an error naming it.
pub(crate) fn map_rows(
    source: &Db,
    plan: &TablePlan,
    rows: &[Vec<Value>],
) -> Result<Vec<Vec<Value>>> {
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

/// `WHERE (k = ? AND …) OR (…)` over a list of keys, each value converted to
/// its column's kind first (a target's NUMERIC key looked up in a source's
/// BIGINT UNSIGNED column binds as an integer, not as text).
pub(crate) fn by_keys(b: &mut SqlBuilder, key: &[&Column], keys: &[Vec<Value>]) {
    b.push(" WHERE ");
    for (i, k) in keys.iter().enumerate() {
        b.push(if i == 0 { "(" } else { " OR (" });
        for (j, (column, value)) in key.iter().zip(k).enumerate() {
            if j > 0 {
                b.push(" AND ");
            }
            b.ident(&column.name).push(" = ");
            let bound = value
                .clone()
                .coerce(column.kind)
                .unwrap_or_else(|_| value.clone());
            b.param(bound, column);
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
    for batch in keys.chunks(BATCH) {
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

pub(crate) async fn target_rows_by_key(
    target: &Db,
    plan: &TablePlan,
    keys: &[Vec<Value>],
) -> Result<Vec<Vec<Value>>> {
    let mut out = Vec::new();
    let write_columns = plan.write_columns();
    for batch in keys.chunks(BATCH) {
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
