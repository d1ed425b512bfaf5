//! Tiers 1 and 2 in SQL on both sides: when source and target are the same
//! engine (PostgreSQL, MariaDB/MySQL) and every column is copied as it is,
//! counts and row hashes are summed by the servers over key ranges of ten
//! chunks, and rows only leave them for ranges that differ.

use super::{Ctx, State};
use crate::db::{Column, Db, Stmt, quote, select_expr};
use crate::dsn::Engine;
use crate::error::Result;
use crate::plan::{Feed, TablePlan, select};
use crate::value::Value;

/// When both sides are the same engine (not SQLite) and every column is
/// copied as it is (same declared type, no value map, cast or constant), chunk
/// counts and hashes are computed in SQL on both sides: the source and target
/// column expressions, in write order.
pub(super) fn columns(
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
) -> Stmt {
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

/// Verifies a table by key ranges of ten chunks, resuming after
/// `state.after`; a range whose count or hash differs is compared row by row,
/// chunk by chunk. Progress is saved after every range but the last.
pub(super) async fn verify(
    ctx: &Ctx,
    plan: &TablePlan,
    (source_columns, target_columns): &(Vec<String>, Vec<String>),
    state: &mut State,
) -> Result<()> {
    let (source, target) = (&ctx.source, &ctx.target);
    let range = ctx.chunk.saturating_mul(10);
    let source_key = plan.source_key_columns();
    let target_key = plan.target_key_columns();
    let key_exprs: Vec<String> = source_key
        .iter()
        .map(|c| select_expr(source.engine(), c))
        .collect();
    let key_owned: Vec<Column> = source_key.iter().map(|c| (*c).clone()).collect();
    loop {
        ctx.stopped()?;
        let after = state.after.clone();
        // The range's upper key: the `range`-th key after `after` (an index walk).
        let mut stmt = select(
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
            source_columns,
            &source_key,
            plan.filter.as_deref(),
            after.as_deref(),
            upto.as_deref(),
        );
        let t = aggregate(
            target,
            &plan.target.name,
            target_columns,
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
        state.report.chunks += 1;
        state.report.rows_checked += s
            .first()
            .and_then(|r| r[0].as_deref())
            .and_then(|n| n.parse::<i64>().ok())
            .unwrap_or(0);
        if s != t {
            state.report.chunks_mismatched += 1;
            // Same engine, keys copied as they are: a source bound is the target's too.
            super::chunks(
                ctx,
                plan,
                state,
                (after.clone(), after),
                (upto.clone(), upto.clone()),
                false,
            )
            .await?;
        }
        let Some(upto) = upto else {
            // The caller saves the end.
            return Ok(());
        };
        state.after = Some(upto.clone());
        state.after_target = Some(upto);
        state.save(ctx, plan, "verifying").await?;
    }
}
