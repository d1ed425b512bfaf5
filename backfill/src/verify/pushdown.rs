//! Tiers 1 and 2 in SQL on both sides: when source and target are the same
//! engine (PostgreSQL, MariaDB/MySQL) and every column is copied as it is,
//! counts and row hashes are summed by the servers over key ranges of ten
//! chunks, and rows only leave them for ranges that differ.
//!
//! On PostgreSQL 14 and later a row's hash is `hash_record_extended` (each
//! column's own 64-bit hash function over its stored value: no text is
//! formatted) when every column's type has one and no column has a
//! nondeterministic collation (whose hash would take `'a'` and `'A'` for the
//! same); otherwise, and on MariaDB, a 60-bit slice of the md5 of the row's text.

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

/// How the servers hash a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RowHash {
    /// PostgreSQL's `hash_record_extended(ROW(…), 0)`.
    Native,
    /// A 60-bit slice of the md5 of the row's text.
    Md5,
}

/// PostgreSQL types whose values `hash_record_extended` hashes (a hash
/// operator class with an extended hash function), equal values alike.
const HASHABLE: &[&str] = &[
    "int2",
    "int4",
    "int8",
    "numeric",
    "float4",
    "float8",
    "bool",
    "text",
    "varchar",
    "bpchar",
    "name",
    "char",
    "bytea",
    "uuid",
    "date",
    "time",
    "timetz",
    "timestamp",
    "timestamptz",
    "interval",
    "jsonb",
    "inet",
    "cidr",
    "macaddr",
    "oid",
];

/// [`RowHash::Native`] when both sides are PostgreSQL 14 or later, every
/// column's type is [`HASHABLE`] and no column of either table has a
/// nondeterministic collation.
async fn row_hash(ctx: &Ctx, plan: &TablePlan) -> RowHash {
    if ctx.source.engine() != Engine::Postgres {
        return RowHash::Md5;
    }
    let hashable = plan.write.iter().all(|w| {
        let Feed::Source { index, .. } = &w.feed else {
            return false;
        };
        HASHABLE.contains(&w.column.cast.as_str())
            && HASHABLE.contains(&plan.read[*index].cast.as_str())
    });
    if !hashable {
        return RowHash::Md5;
    }
    let check = |table: &str| {
        let mut stmt = Stmt::new(
            "SELECT (current_setting('server_version_num')::int >= 140000 AND NOT EXISTS ( \
             SELECT 1 FROM pg_attribute a JOIN pg_collation c ON c.oid = a.attcollation \
             WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT c.collisdeterministic))::text",
        );
        stmt.binds.push(Value::Text(quote(Engine::Postgres, table)));
        stmt
    };
    let (s, t) = (check(&plan.source.name), check(&plan.target.name));
    let (s, t) = tokio::join!(ctx.source.fetch_text(&s, 1), ctx.target.fetch_text(&t, 1));
    let yes = |rows: std::result::Result<Vec<Vec<Option<String>>>, sqlx::Error>| {
        rows.ok()
            .and_then(|rows| rows.into_iter().next())
            .and_then(|row| row.into_iter().next().flatten())
            .is_some_and(|v| v == "true")
    };
    if yes(s) && yes(t) {
        RowHash::Native
    } else {
        RowHash::Md5
    }
}

/// `SELECT count, sum of row hashes` over a key range, in the engine's SQL.
#[allow(clippy::too_many_arguments, reason = "one query, both sides")]
fn aggregate(
    db: &Db,
    hash: RowHash,
    table: &str,
    columns: &[String],
    key: &[&Column],
    filter: Option<&str>,
    after: Option<&[Value]>,
    upto: Option<&[Value]>,
) -> Stmt {
    let select = match db.engine() {
        Engine::Postgres if hash == RowHash::Native => format!(
            "count(*)::text, coalesce(sum(hash_record_extended(ROW({}), 0)), 0)::text",
            columns.join(", ")
        ),
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
///
/// Pipelined: while both servers hash a range, the source also finds the
/// next range's upper key and the target saves the progress of the range
/// before, so neither waits on those between ranges.
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
    // The upper key of the range after `after`: the `range`-th key (an index walk).
    let upper = |after: Option<Vec<Value>>| {
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
        let key_owned = &key_owned;
        async move {
            source
                .fetch(&stmt, key_owned)
                .await
                .map(|rows| rows.into_iter().next())
                .map_err(|e| {
                    source.sql_error(format!("finding a key range of `{}`", plan.source.name), &e)
                })
        }
    };
    let hash = row_hash(ctx, plan).await;
    let mut upto = upper(state.after.clone()).await?;
    // The previous range's progress, saved while this one is hashed.
    let mut saving: Option<Stmt> = None;
    loop {
        ctx.stopped()?;
        let after = state.after.clone();
        let s = aggregate(
            source,
            hash,
            &plan.source.name,
            source_columns,
            &source_key,
            plan.filter.as_deref(),
            after.as_deref(),
            upto.as_deref(),
        );
        let t = aggregate(
            target,
            hash,
            &plan.target.name,
            target_columns,
            &target_key,
            None,
            after.as_deref(),
            upto.as_deref(),
        );
        let next = async {
            match &upto {
                Some(upto) => upper(Some(upto.clone())).await,
                None => Ok(None),
            }
        };
        let save = async {
            match saving.take() {
                Some(stmt) => super::save_progress(ctx, stmt).await.map(|()| true),
                None => Ok(false),
            }
        };
        let (s, t, next, saved) = tokio::join!(
            source.fetch_text(&s, 2),
            target.fetch_text(&t, 2),
            next,
            save
        );
        if saved? {
            state.checked(ctx);
        }
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
        let Some(done) = upto else {
            // The caller saves the end.
            return Ok(());
        };
        state.after = Some(done.clone());
        state.after_target = Some(done);
        saving = Some(state.progress(ctx, plan, "verifying"));
        upto = next?;
    }
}
