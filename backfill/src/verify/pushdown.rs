//! Tiers 1 and 2 in SQL on both sides: when source and target are the same
//! engine (PostgreSQL, MariaDB/MySQL) and every column is copied as it is,
//! counts and row hashes are summed by the servers over key ranges, and rows
//! only leave them for ranges that differ. A single integer key is cut by
//! arithmetic into ranges sized by time, narrowed down sixteenth by sixteenth
//! when they differ; other keys into ranges of ten chunks by an index walk.
//!
//! On PostgreSQL 14 and later a row's hash combines each column's own 64-bit
//! hash function over its stored value (no text is formatted), when every
//! column's type has one and no column has a nondeterministic collation
//! (whose hash would take `'a'` and `'A'` for the same); see [`native_row_hash`].
//! Otherwise, and on MariaDB, it is a 60-bit slice of the md5 of the row's text.

use super::{Ctx, State};
use crate::db::{Column, Db, Stmt, quote, select_expr};
use crate::dsn::Engine;
use crate::error::Result;
use crate::plan::{Feed, TablePlan, select as select_stmt};
use crate::value::Kind;
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
    let sources = plan.copied_as_is()?;
    let source_columns = sources
        .iter()
        .map(|&i| quote(source.engine(), &plan.read[i].name))
        .collect();
    let target_columns = plan
        .write
        .iter()
        .map(|w| quote(target.engine(), &w.column.name))
        .collect();
    Some((source_columns, target_columns))
}

/// How the servers hash a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RowHash {
    /// Each column's own hash function: [`native_row_hash`].
    Native,
    /// A 60-bit slice of the md5 of the row's text.
    Md5,
}

/// A row's 64-bit hash in PostgreSQL from each column's own extended hash
/// function, XORed, with the column's position as its seed (so two columns
/// that swap values change the hash) and the seed standing for NULL.
/// Columns whose type has no function here, or differs between the two sides,
/// are hashed together by `hash_record_extended(ROW(…))`. Calling the
/// functions directly skips building a record per row: for 5 M rows of 11
/// columns one server took 2.0 s instead of 2.8–3.4 s (2026-12-07).
///
/// `columns` are (name, this side's type, the other side's type); both sides
/// give the same types in the same order, so both build the same expression.
fn native_row_hash(columns: &[(&str, &str, &str)]) -> String {
    let mut terms = Vec::new();
    let mut rest = Vec::new();
    for (position, &(name, own, other)) in columns.iter().enumerate() {
        let seed = position + 1;
        match column_hash(own, name, seed) {
            Some(hash) if own == other => terms.push(format!("coalesce({hash}, {seed})")),
            _ => rest.push(name),
        }
    }
    if !rest.is_empty() {
        terms.push(format!(
            "coalesce(hash_record_extended(ROW({}), 0), 0)",
            rest.join(", ")
        ));
    }
    terms.join(" # ")
}

/// `column`'s hash by its type's extended hash function (the one its hash
/// operator class uses), `None` for a type left to `hash_record_extended`.
fn column_hash(pg_type: &str, column: &str, seed: usize) -> Option<String> {
    let function = match pg_type {
        "int2" => "hashint2extended",
        "int4" => "hashint4extended",
        "int8" => "hashint8extended",
        "oid" => "hashoidextended",
        "numeric" => "hash_numeric_extended",
        "float4" => "hashfloat4extended",
        "float8" => "hashfloat8extended",
        "text" | "varchar" => "hashtextextended",
        "bpchar" => "hashbpcharextended",
        "name" => "hashnameextended",
        "char" => "hashcharextended",
        "uuid" => "uuid_hash_extended",
        "time" => "time_hash_extended",
        "timetz" => "timetz_hash_extended",
        "timestamp" => "timestamp_hash_extended",
        "interval" => "interval_hash_extended",
        "jsonb" => "jsonb_hash_extended",
        "inet" | "cidr" => "hashinetextended",
        "macaddr" => "hashmacaddrextended",
        // No function takes a boolean or a timestamptz as it is: a boolean as
        // a number; an instant as its UTC wall time, by arithmetic alone (no
        // time-zone rules per row; infinity stays infinity).
        "bool" => return Some(format!("hashint4extended({column}::int4, {seed})")),
        "timestamptz" => {
            return Some(format!(
                "timestamp_hash_extended({column} AT TIME ZONE INTERVAL '0', {seed})"
            ));
        }
        _ => return None,
    };
    Some(format!("{function}({column}, {seed})"))
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

/// The `SELECT` list of a range's row count and sum of row hashes in the
/// engine's SQL; `columns` as [`native_row_hash`] takes them.
fn sums_select(engine: Engine, hash: RowHash, columns: &[(&str, &str, &str)]) -> String {
    let names: Vec<&str> = columns.iter().map(|&(name, _, _)| name).collect();
    match engine {
        Engine::Postgres if hash == RowHash::Native => format!(
            "count(*)::text, coalesce(sum({}), 0)::text",
            native_row_hash(columns)
        ),
        Engine::Postgres => format!(
            "count(*)::text, coalesce(sum(('x' || substr(md5(ROW({})::text), 1, 15))::bit(60)::bigint), 0)::text",
            names.join(", ")
        ),
        _ => {
            let parts: Vec<String> = names
                .iter()
                .map(|c| format!("IFNULL(CAST({c} AS CHAR), 0x00)"))
                .collect();
            format!(
                "CAST(COUNT(*) AS CHAR), CAST(COALESCE(SUM(CAST(CONV(SUBSTR(MD5(CONCAT_WS(0x1f, {})), 1, 15), 16, 10) AS UNSIGNED)), 0) AS CHAR)",
                parts.join(", ")
            )
        }
    }
}

/// `SELECT count, sum of row hashes` over a key range.
fn aggregate(
    db: &Db,
    select: &str,
    table: &str,
    key: &[&Column],
    filter: Option<&str>,
    after: Option<&[Value]>,
    upto: Option<&[Value]>,
) -> Stmt {
    unordered(select_stmt(
        db,
        table,
        &[select.to_owned()],
        key,
        filter,
        after,
        upto,
        None,
    ))
}

/// An aggregate needs no order.
fn unordered(mut stmt: Stmt) -> Stmt {
    if let Some(at) = stmt.sql.rfind(" ORDER BY ") {
        stmt.sql.truncate(at);
    }
    stmt
}

/// Both sides' row count and hash sum over one key range.
struct Sums<'a> {
    ctx: &'a Ctx,
    plan: &'a TablePlan,
    /// Each side's [`sums_select`].
    source_select: String,
    target_select: String,
}

/// What [`Sums::compare`] found in a range.
#[derive(Debug, Clone, Copy)]
struct Outcome {
    source_rows: i64,
    target_rows: i64,
    equal: bool,
}

impl Sums<'_> {
    /// Hashes `(after, upto]` on both servers at once. Same engine, keys
    /// copied as they are: a source bound is the target's too.
    async fn compare(&self, after: Option<&[Value]>, upto: Option<&[Value]>) -> Result<Outcome> {
        let (ctx, plan) = (self.ctx, self.plan);
        let s = aggregate(
            &ctx.source,
            &self.source_select,
            &plan.source.name,
            &plan.source_key_columns(),
            plan.filter.as_deref(),
            after,
            upto,
        );
        let t = aggregate(
            &ctx.target,
            &self.target_select,
            &plan.target.name,
            &plan.target_key_columns(),
            None,
            after,
            upto,
        );
        let (s, t) = tokio::join!(ctx.source.fetch_text(&s, 2), ctx.target.fetch_text(&t, 2));
        let s = s.map_err(|e| {
            ctx.source
                .sql_error(format!("hashing a chunk of `{}`", plan.source.name), &e)
        })?;
        let t = t.map_err(|e| {
            ctx.target
                .sql_error(format!("hashing a chunk of `{}`", plan.target.name), &e)
        })?;
        let rows = |r: &[Vec<Option<String>>]| {
            r.first()
                .and_then(|r| r[0].as_deref())
                .and_then(|n| n.parse::<i64>().ok())
                .unwrap_or(0)
        };
        Ok(Outcome {
            source_rows: rows(&s),
            target_rows: rows(&t),
            equal: s == t,
        })
    }
}

/// Verifies a table by key ranges, resuming after `state.after`; a range
/// whose count or hash differs is narrowed down to its rows. Progress is
/// saved after every range but the last.
///
/// A single integer key is cut by arithmetic, with ranges sized by time (see
/// [`by_key_arithmetic`]); any other key by an index walk, ten chunks a range.
pub(super) async fn verify(
    ctx: &Ctx,
    plan: &TablePlan,
    (source_columns, target_columns): &(Vec<String>, Vec<String>),
    state: &mut State,
) -> Result<()> {
    let hash = row_hash(ctx, plan).await;
    // Each column's type on both sides, in write order; every column is
    // copied as it is from a source column (see [`columns`]).
    let types: Vec<(&str, &str)> = plan
        .write
        .iter()
        .map(|w| match &w.feed {
            Feed::Source { index, .. } => (plan.read[*index].cast.as_str(), w.column.cast.as_str()),
            _ => ("", ""),
        })
        .collect();
    // Each side's columns as `native_row_hash` takes them: (name, own type, other side's type).
    let source_side: Vec<(&str, &str, &str)> = source_columns
        .iter()
        .zip(&types)
        .map(|(name, &(source, target))| (name.as_str(), source, target))
        .collect();
    let target_side: Vec<(&str, &str, &str)> = target_columns
        .iter()
        .zip(&types)
        .map(|(name, &(source, target))| (name.as_str(), target, source))
        .collect();
    let sums = Sums {
        ctx,
        plan,
        source_select: sums_select(ctx.source.engine(), hash, &source_side),
        target_select: sums_select(ctx.target.engine(), hash, &target_side),
    };
    if state.after.is_none() && whole_table_first(ctx, plan).await {
        let outcome = sums.compare(None, None).await?;
        if outcome.equal {
            state.report.chunks += 1;
            state.report.rows_checked += outcome.source_rows;
            return Ok(());
        }
        // Somewhere it differs: find where by ranges, as if this pass had not run.
    }
    match integer_key(plan) {
        Some(kind) => by_key_arithmetic(&sums, kind, state).await,
        None => by_index_walk(&sums, state).await,
    }
}

/// Tables the source's statistics put at no more rows than this are hashed
/// whole first: about five seconds on both servers at 2 M rows/s, which a
/// verify killed meanwhile starts again.
const WHOLE_TABLE_ROWS: i64 = 10_000_000;

/// Whether to hash the whole table at once before any range: one sequential
/// scan per server, where ranges read the key index too (about 1.4× the work
/// per row), and a clean table, the usual case, is then done. Not with
/// `range_time` zero (ranges of ten chunks), nor when the statistics are
/// missing or put the table above [`WHOLE_TABLE_ROWS`].
async fn whole_table_first(ctx: &Ctx, plan: &TablePlan) -> bool {
    if ctx.range_time.is_zero() {
        return false;
    }
    let source = &ctx.source;
    let mut stmt = match source.engine() {
        Engine::Postgres => {
            Stmt::new("SELECT reltuples::bigint::text FROM pg_class WHERE oid = $1::regclass")
        }
        _ => Stmt::new(
            "SELECT CAST(table_rows AS CHAR) FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_name = ?",
        ),
    };
    stmt.binds.push(Value::Text(match source.engine() {
        Engine::Postgres => quote(Engine::Postgres, &plan.source.name),
        _ => plan.source.name.clone(),
    }));
    let estimate = source
        .fetch_text(&stmt, 1)
        .await
        .ok()
        .and_then(|rows| rows.into_iter().next())
        .and_then(|row| row.into_iter().next().flatten())
        .and_then(|n| n.parse::<i64>().ok());
    // PostgreSQL says -1 for a table never analysed.
    estimate.is_some_and(|rows| (0..=WHOLE_TABLE_ROWS).contains(&rows))
}

/// The kind of a single-column integer key.
fn integer_key(plan: &TablePlan) -> Option<Kind> {
    match plan.source_key_columns().as_slice() {
        [column] if matches!(column.kind, Kind::Int | Kind::UInt) => Some(column.kind),
        _ => None,
    }
}

/// An integer key as a number wide enough for every key and sum of two.
fn key_number(key: &[Value]) -> Option<i128> {
    match key {
        [Value::Int(i)] => Some(i128::from(*i)),
        [Value::UInt(u)] => Some(i128::from(*u)),
        _ => None,
    }
}

/// A number between two keys of the table, as a key of `kind`.
fn key_value(kind: Kind, n: i128) -> Vec<Value> {
    vec![match kind {
        Kind::UInt => Value::UInt(u64::try_from(n).unwrap_or(u64::MAX)),
        _ => Value::Int(i64::try_from(n).unwrap_or(i64::MAX)),
    }]
}

/// The source's smallest and largest key, `None` when it has no rows.
async fn key_bounds(ctx: &Ctx, plan: &TablePlan) -> Result<Option<(i128, i128)>> {
    let source = &ctx.source;
    let key = plan.source_key_columns();
    let name = quote(source.engine(), &key[0].name);
    let columns = match source.engine() {
        Engine::Postgres => [format!("min({name})::text"), format!("max({name})::text")],
        _ => [
            format!("CAST(MIN({name}) AS CHAR)"),
            format!("CAST(MAX({name}) AS CHAR)"),
        ],
    };
    let stmt = unordered(select_stmt(
        source,
        &plan.source.name,
        &columns,
        &key,
        plan.filter.as_deref(),
        None,
        None,
        None,
    ));
    let rows = source.fetch_text(&stmt, 2).await.map_err(|e| {
        source.sql_error(
            format!("finding the key bounds of `{}`", plan.source.name),
            &e,
        )
    })?;
    let number = |i: usize| {
        rows.first()
            .and_then(|r| r[i].as_deref())
            .and_then(|n| n.parse::<i128>().ok())
    };
    Ok(number(0).zip(number(1)))
}

/// Runs a statement from [`State::progress`] when there is one.
async fn save(ctx: &Ctx, saving: Option<Stmt>) -> Result<bool> {
    match saving {
        Some(stmt) => super::save_progress(ctx, stmt).await.map(|()| true),
        None => Ok(false),
    }
}

/// A single integer key: each range's upper key is the one before plus a
/// width, so no range costs an index walk. The width starts at ten chunks'
/// worth of keys and moves toward `ctx.range_time` from the keys per second
/// the range before was hashed at (at most four times wider each time, never
/// narrower than ten chunks), which also steps over gaps in the keys. While
/// both servers hash a range, the target saves the range before's progress.
async fn by_key_arithmetic(sums: &Sums<'_>, kind: Kind, state: &mut State) -> Result<()> {
    let (ctx, plan) = (sums.ctx, sums.plan);
    let base = i128::try_from(ctx.chunk.saturating_mul(10)).unwrap_or(i128::MAX);
    let Some((min, max)) = key_bounds(ctx, plan).await? else {
        // No source rows: one range, so rows only the target has still show.
        let outcome = sums.compare(state.after.as_deref(), None).await?;
        state.report.chunks += 1;
        if !outcome.equal {
            state.report.chunks_mismatched += 1;
            let after = state.after.clone();
            super::chunks(
                ctx,
                plan,
                state,
                (after.clone(), after),
                (None, None),
                false,
            )
            .await?;
        }
        return Ok(());
    };
    let mut width = base;
    let mut saving = None;
    loop {
        ctx.stopped()?;
        let after = state.after.clone();
        let lo = after.as_deref().and_then(key_number).unwrap_or(min - 1);
        // The last range has no upper bound, so target rows past the source's last key show.
        let upto = (lo + width < max).then(|| key_value(kind, lo + width));
        let started = std::time::Instant::now();
        let (outcome, saved) = tokio::join!(
            sums.compare(after.as_deref(), upto.as_deref()),
            save(ctx, saving.take())
        );
        if saved? {
            state.checked(ctx);
        }
        let outcome = outcome?;
        let took = started.elapsed();
        state.report.chunks += 1;
        state.report.rows_checked += outcome.source_rows;
        if !outcome.equal {
            state.report.chunks_mismatched += 1;
            let range = Range {
                after,
                upto: upto.clone(),
                lo,
                hi: if upto.is_some() {
                    lo + width
                } else {
                    max.max(lo)
                },
                rows: outcome.source_rows.max(outcome.target_rows),
            };
            narrow(sums, kind, state, range).await?;
        }
        let Some(done) = upto else {
            // The caller saves the end.
            return Ok(());
        };
        width = next_width(width, base, ctx.range_time, took);
        state.after = Some(done.clone());
        state.after_target = Some(done);
        saving = Some(state.progress(ctx, plan, "verifying"));
    }
}

/// The next range's width in keys: what the last range's keys per second
/// cover in `target`, at most four times the last width and at least `base`;
/// always `base` when `target` is zero.
fn next_width(
    width: i128,
    base: i128,
    target: std::time::Duration,
    took: std::time::Duration,
) -> i128 {
    if target.is_zero() {
        return base;
    }
    let wanted = width as f64 * target.as_secs_f64() / took.as_secs_f64().max(1e-4);
    // `as` saturates a float too large for the integer.
    (wanted as i128).clamp(base, width.saturating_mul(4).max(base))
}

/// A range of a single integer key: `(after, upto]` as bounds (`None`:
/// unbounded), `(lo, hi]` as numbers, and the most rows either side has in it.
#[derive(Debug, Clone)]
struct Range {
    after: Option<Vec<Value>>,
    upto: Option<Vec<Value>>,
    lo: i128,
    hi: i128,
    rows: i64,
}

/// Ranges a mismatched range is cut into when narrowing it down.
const SPLIT: i128 = 16;

/// Finds the rows behind a mismatched range: cuts it into [`SPLIT`] ranges
/// by key arithmetic, hashes each on both sides, and goes on into those that
/// differ until a range holds at most ten chunks of rows on either side,
/// which are compared row by row. A corrupted row in a range of millions
/// costs a few aggregate queries, not a read of the whole range.
async fn narrow(sums: &Sums<'_>, kind: Kind, state: &mut State, range: Range) -> Result<()> {
    let (ctx, plan) = (sums.ctx, sums.plan);
    let base = i64::try_from(ctx.chunk.saturating_mul(10)).unwrap_or(i64::MAX);
    let mut pending = vec![range];
    while let Some(range) = pending.pop() {
        ctx.stopped()?;
        if range.rows <= base || range.hi - range.lo <= SPLIT {
            let (after, upto) = (range.after, range.upto);
            super::chunks(
                ctx,
                plan,
                state,
                (after.clone(), after),
                (upto.clone(), upto),
                false,
            )
            .await?;
            continue;
        }
        let width = (range.hi - range.lo + SPLIT - 1) / SPLIT;
        let mut differing = Vec::new();
        let (mut lo, mut after) = (range.lo, range.after.clone());
        while lo < range.hi {
            let hi = (lo + width).min(range.hi);
            let upto = if hi == range.hi {
                range.upto.clone()
            } else {
                Some(key_value(kind, hi))
            };
            let outcome = sums.compare(after.as_deref(), upto.as_deref()).await?;
            if !outcome.equal {
                differing.push(Range {
                    after: after.clone(),
                    upto: upto.clone(),
                    lo,
                    hi,
                    rows: outcome.source_rows.max(outcome.target_rows),
                });
            }
            after = Some(key_value(kind, hi));
            lo = hi;
        }
        // In key order: the stack pops the first range first.
        pending.extend(differing.into_iter().rev());
    }
    Ok(())
}

/// Any other key: each range holds ten chunks of source rows; its upper key
/// is found by an index walk. A range that differs is compared row by row.
///
/// Pipelined: while both servers hash a range, the source also finds the
/// next range's upper key and the target saves the progress of the range
/// before, so neither waits on those between ranges.
async fn by_index_walk(sums: &Sums<'_>, state: &mut State) -> Result<()> {
    let (ctx, plan) = (sums.ctx, sums.plan);
    let source = &ctx.source;
    let range = ctx.chunk.saturating_mul(10);
    let source_key = plan.source_key_columns();
    let key_exprs: Vec<String> = source_key
        .iter()
        .map(|c| select_expr(source.engine(), c))
        .collect();
    let key_owned: Vec<Column> = source_key.iter().map(|c| (*c).clone()).collect();
    // The upper key of the range after `after`: the `range`-th key (an index walk).
    let upper = |after: Option<Vec<Value>>| {
        let mut stmt = select_stmt(
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
    let mut upto = upper(state.after.clone()).await?;
    // The previous range's progress, saved while this one is hashed.
    let mut saving: Option<Stmt> = None;
    loop {
        ctx.stopped()?;
        let after = state.after.clone();
        let next = async {
            match &upto {
                Some(upto) => upper(Some(upto.clone())).await,
                None => Ok(None),
            }
        };
        let (outcome, next, saved) = tokio::join!(
            sums.compare(after.as_deref(), upto.as_deref()),
            next,
            save(ctx, saving.take())
        );
        if saved? {
            state.checked(ctx);
        }
        let outcome = outcome?;
        state.report.chunks += 1;
        state.report.rows_checked += outcome.source_rows;
        if !outcome.equal {
            state.report.chunks_mismatched += 1;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_column_is_hashed_by_its_type_with_its_position_as_seed() {
        let sql = native_row_hash(&[
            ("id", "int8", "int8"),
            ("paid", "bool", "bool"),
            ("at", "timestamptz", "timestamptz"),
        ]);
        assert_eq!(
            sql,
            "coalesce(hashint8extended(id, 1), 1) # coalesce(hashint4extended(paid::int4, 2), 2) # \
             coalesce(timestamp_hash_extended(at AT TIME ZONE INTERVAL '0', 3), 3)"
        );
    }

    #[test]
    fn types_without_a_function_or_differing_between_sides_share_one_record_hash() {
        let source = native_row_hash(&[
            ("id", "int8", "int8"),
            ("day", "date", "date"),
            ("n", "int4", "int8"),
        ]);
        let target = native_row_hash(&[
            ("id", "int8", "int8"),
            ("day", "date", "date"),
            ("n", "int8", "int4"),
        ]);
        let want = "coalesce(hashint8extended(id, 1), 1) # coalesce(hash_record_extended(ROW(day, n), 0), 0)";
        assert_eq!((source.as_str(), target.as_str()), (want, want));
    }
}
