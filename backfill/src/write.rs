//! Writing mapped rows to the target, keyed on the target key: multi-row
//! upserts, or on PostgreSQL `COPY` (into the table itself while none of the
//! keys are there, else into a staging table and one merge), always in one
//! transaction with the checkpoint that records them.

use crate::db::{Db, SqlBuilder, Stmt, quote};
use crate::dsn::Engine;
use crate::error::{Error, Result};
use crate::payload::Payload;
use crate::plan::TablePlan;
use crate::value::Value;

/// The rows per statement each engine's bind limit allows.
fn rows_per_statement(engine: Engine, columns: usize) -> usize {
    let limit = match engine {
        Engine::Postgres | Engine::MySql => 65_000,
        Engine::Sqlite => 32_000,
    };
    (limit / columns.max(1)).clamp(1, 5000)
}

/// Upsert statements for mapped rows, keyed on the target key.
///
/// PostgreSQL and SQLite: `INSERT … ON CONFLICT (key) DO UPDATE`, where a
/// conflict on any other unique key is an error. MariaDB's `ON DUPLICATE KEY
/// UPDATE` fires on *any* unique key, so each key column is first set to
/// `IF(k <=> VALUES(k), k, NULL)`: when the duplicate was on another unique
/// key, the key becomes NULL and the strict session refuses the statement
/// (`Column … cannot be null`) instead of silently overwriting another row.
pub(crate) fn upsert_statements(
    engine: Engine,
    plan: &TablePlan,
    rows: &[Vec<Value>],
) -> Vec<Stmt> {
    let columns = plan.write_columns();
    let key: Vec<&str> = plan
        .target_key_columns()
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    let names: Vec<String> = columns.iter().map(|c| quote(engine, &c.name)).collect();
    let others: Vec<&String> = columns
        .iter()
        .zip(&names)
        .filter(|(c, _)| !key.contains(&c.name.as_str()))
        .map(|(_, n)| n)
        .collect();
    let key_quoted: Vec<String> = key.iter().map(|k| quote(engine, k)).collect();
    let suffix = match engine {
        Engine::Postgres | Engine::Sqlite => {
            let excluded = if engine == Engine::Postgres {
                "EXCLUDED"
            } else {
                "excluded"
            };
            if others.is_empty() {
                format!(" ON CONFLICT ({}) DO NOTHING", key_quoted.join(", "))
            } else {
                let sets: Vec<String> = others
                    .iter()
                    .map(|n| format!("{n} = {excluded}.{n}"))
                    .collect();
                format!(
                    " ON CONFLICT ({}) DO UPDATE SET {}",
                    key_quoted.join(", "),
                    sets.join(", ")
                )
            }
        }
        Engine::MySql => {
            let mut sets: Vec<String> = key_quoted
                .iter()
                .map(|k| format!("{k} = IF({k} <=> VALUES({k}), {k}, NULL)"))
                .collect();
            sets.extend(others.iter().map(|n| format!("{n} = VALUES({n})")));
            format!(" ON DUPLICATE KEY UPDATE {}", sets.join(", "))
        }
    };
    rows.chunks(rows_per_statement(engine, columns.len()))
        .map(|batch| {
            let mut b = SqlBuilder::new(engine);
            b.push("INSERT INTO ")
                .ident(&plan.target.name)
                .push(" (")
                .push(&names.join(", "))
                .push(") VALUES ");
            for (r, row) in batch.iter().enumerate() {
                b.push(if r == 0 { "(" } else { ", (" });
                for (i, (value, column)) in row.iter().zip(&columns).enumerate() {
                    if i > 0 {
                        b.push(", ");
                    }
                    b.param(value.clone(), column);
                }
                b.push(")");
            }
            b.push(&suffix);
            b.finish()
        })
        .collect()
}

/// Writes mapped rows and `after` (the checkpoint) in one transaction: on
/// PostgreSQL by `COPY` into a temporary staging table and one `INSERT … SELECT
/// … ON CONFLICT` merge, elsewhere by multi-row upserts.
pub(crate) async fn write_rows(
    target: &Db,
    plan: &TablePlan,
    rows: &[Vec<Value>],
    after: Vec<Stmt>,
) -> Result<()> {
    let result = if target.engine() == Engine::Postgres && !rows.is_empty() {
        let mut payload = Payload::with_capacity(rows.len() * 64);
        for row in rows {
            payload.push_row(row);
        }
        copy_rows(target, plan, &payload, after, Load::Staged).await
    } else {
        let mut stmts = upsert_statements(target.engine(), plan, rows);
        stmts.extend(after);
        target.transaction(&stmts).await.map(|_| ())
    };
    match result {
        Ok(()) => Ok(()),
        Err(err) => Err(culprit(target, plan, rows, &err).await),
    }
}

/// How COPY data reaches a PostgreSQL table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Load {
    /// `COPY` into the table itself: for rows none of whose keys are there
    /// yet. A key that is there fails the whole transaction on the key's
    /// unique index (nothing is written twice or overwritten); the rows then
    /// go [`Load::Staged`].
    Direct,
    /// `COPY` into a temporary staging table, then one `INSERT … SELECT … ON
    /// CONFLICT (key) DO UPDATE` merge: rows already there are overwritten.
    Staged,
}

/// Writes COPY data to a PostgreSQL table and `after` (the checkpoint) in one
/// transaction; nothing is committed on error.
pub(crate) async fn copy_rows(
    target: &Db,
    plan: &TablePlan,
    payload: &Payload,
    after: Vec<Stmt>,
    load: Load,
) -> Result<(), sqlx::Error> {
    let columns = plan.write_columns();
    let names: Vec<String> = columns
        .iter()
        .map(|c| quote(Engine::Postgres, &c.name))
        .collect();
    let table = quote(Engine::Postgres, &plan.target.name);
    if load == Load::Direct {
        let copy = format!("COPY {table} ({}) FROM STDIN", names.join(", "));
        return target
            .pg_copy_transaction(None, &copy, payload.data(), &after)
            .await;
    }
    let stage = format!(
        "msa_stage_{:016x}",
        xxhash_rust::xxh3::xxh3_64(plan.target.name.as_bytes())
    );
    let setup = format!(
        "CREATE TEMPORARY TABLE IF NOT EXISTS {stage} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    );
    let copy = format!("COPY {stage} ({}) FROM STDIN", names.join(", "));
    let key: Vec<&str> = plan
        .target_key_columns()
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    let others: Vec<String> = columns
        .iter()
        .filter(|c| !key.contains(&c.name.as_str()))
        .map(|c| {
            let n = quote(Engine::Postgres, &c.name);
            format!("{n} = EXCLUDED.{n}")
        })
        .collect();
    let key_quoted: Vec<String> = key.iter().map(|k| quote(Engine::Postgres, k)).collect();
    let conflict = if others.is_empty() {
        format!("ON CONFLICT ({}) DO NOTHING", key_quoted.join(", "))
    } else {
        format!(
            "ON CONFLICT ({}) DO UPDATE SET {}",
            key_quoted.join(", "),
            others.join(", ")
        )
    };
    let merge = Stmt::new(format!(
        "INSERT INTO {table} ({cols}) SELECT {cols} FROM {stage} {conflict}",
        cols = names.join(", ")
    ));
    let mut stmts = vec![merge];
    stmts.extend(after);
    target
        .pg_copy_transaction(Some(&setup), &copy, payload.data(), &stmts)
        .await
}

/// Whether an error is a unique violation: a direct COPY met a key already there.
pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|e| e.kind() == sqlx::error::ErrorKind::UniqueViolation)
}

/// Finds the row of a failed batch that fails alone; the batch is never committed.
pub(crate) async fn culprit(
    target: &Db,
    plan: &TablePlan,
    rows: &[Vec<Value>],
    err: &sqlx::Error,
) -> Error {
    for row in rows {
        let stmts = upsert_statements(target.engine(), plan, std::slice::from_ref(row));
        if let Err(e) = target.transaction_with(&stmts, false).await {
            let message = target.sql_error("", &e).to_string();
            let message = message.split(": : ").nth(1).unwrap_or(&message).to_owned();
            return Error::Row {
                dsn: target.dsn().to_string(),
                table: plan.target.name.clone(),
                key: plan.show_key(&plan.target_key_of(row)),
                message: if is_secondary_conflict(&e, plan) {
                    format!(
                        "conflicts with another row on a unique key other than the primary key ({message}); it was not overwritten"
                    )
                } else {
                    message
                },
            };
        }
    }
    target.sql_error(format!("writing a chunk of `{}`", plan.target.name), err)
}

/// A conflict on a unique key other than the upsert's key: a unique violation
/// (PostgreSQL, SQLite), or MariaDB refusing the NULL our guard assigns to a
/// key column when the duplicate was on another unique key.
fn is_secondary_conflict(err: &sqlx::Error, plan: &TablePlan) -> bool {
    err.as_database_error().is_some_and(|e| {
        e.kind() == sqlx::error::ErrorKind::UniqueViolation
            || plan.target_key_columns().iter().any(|c| {
                e.message()
                    .contains(&format!("Column '{}' cannot be null", c.name))
            })
    })
}
