//! Resolving what to copy: the tables, their keys and the mapping, checked
//! against the real source and target schemas before any row moves.
//!
//! The source side of every table is checked first, so `--create-schema`
//! creates nothing for a plan that cannot run; when the target side then
//! fails, the tables this run created are dropped again.

use std::collections::BTreeMap;

use msa_playbook::mapping::{CastType, Mapping, TableMapping};

use crate::db::{Column, Db, Read, Stmt, TableSchema, quote, select_expr};
use crate::dsn::Engine;
use crate::error::{Error, Result};
use crate::plan::{Feed, PlanProblem, TablePlan, WriteColumn, select, zero_date_refused};
use crate::value::{Kind, Value};

/// Rows of each table run through the mapping before anything moves.
const SAMPLE_ROWS: usize = 1000;

pub(crate) fn cast_kind(cast: CastType) -> Kind {
    match cast {
        CastType::Text => Kind::Text,
        CastType::Integer => Kind::Int,
        CastType::Decimal => Kind::Decimal,
        CastType::Float => Kind::Float,
        CastType::Boolean => Kind::Bool,
        CastType::Date => Kind::Date,
        CastType::Time => Kind::Time,
        CastType::Timestamp => Kind::DateTime,
        CastType::Timestamptz => Kind::Timestamptz,
        CastType::Json => Kind::Json,
        CastType::Bytes => Kind::Bytes,
    }
}

/// Whether values of one kind can ever convert to another (text may need
/// parsing, checked on the rows themselves).
fn convertible(from: Kind, to: Kind) -> bool {
    use Kind::{
        Bool, Bytes, Date, DateTime, Decimal, Float, Int, Json, Text, Time, Timestamptz, UInt,
    };
    from == to
        || to == Text
        || from == Text
        || matches!(
            (from, to),
            (
                Bool | Int | UInt | Float | Decimal,
                Bool | Int | UInt | Float | Decimal | Json
            ) | (Date | DateTime | Timestamptz, Date | DateTime | Timestamptz)
                | (Json, Bytes)
        ) && !matches!((from, to), (Time, _) | (_, Time))
}

/// Resolves the tables of a plan against both databases; every problem at once.
/// With `create_schema`, missing target tables are created first.
pub async fn resolve(
    source: &Db,
    target: &Db,
    tables: &[String],
    mapping: &Mapping,
    create_schema: bool,
) -> Result<Vec<TablePlan>> {
    let create = if create_schema {
        Create::Apply
    } else {
        Create::No
    };
    Ok(resolve_with(source, target, tables, mapping, create)
        .await?
        .plans)
}

/// Whether missing target tables are created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Create {
    /// No: a missing target table is an error.
    No,
    /// Show the DDL; create nothing (the tables concerned get no plan).
    DryRun,
    /// Create them, then resolve against them.
    Apply,
}

/// Resolved tables, and the target tables created (or to create) with their DDL.
#[derive(Debug)]
pub(crate) struct Resolved {
    pub(crate) plans: Vec<TablePlan>,
    /// `(target table, CREATE TABLE …)`, in the order created.
    pub(crate) created: Vec<(String, String)>,
    /// Whether `created` exist (not a dry run).
    applied: bool,
}

impl Resolved {
    /// Drops the tables this run created: a run that fails before any row
    /// moves leaves nothing behind.
    pub(crate) async fn undo(&self, target: &Db) {
        if self.applied {
            drop_tables(target, &self.created).await;
        }
    }
}

/// Best effort: the error being reported matters more than a failed drop.
async fn drop_tables(target: &Db, created: &[(String, String)]) {
    for (name, _) in created.iter().rev() {
        let _ = target
            .execute(&Stmt::new(format!(
                "DROP TABLE {}",
                quote(target.engine(), name)
            )))
            .await;
    }
}

fn plan_error(problems: &[PlanProblem]) -> Error {
    Error::Plan {
        problems: problems.iter().map(ToString::to_string).collect(),
    }
}

pub(crate) async fn resolve_with(
    source: &Db,
    target: &Db,
    tables: &[String],
    mapping: &Mapping,
    create: Create,
) -> Result<Resolved> {
    let mut problems: Vec<PlanProblem> = Vec::new();
    if let Err(found) = mapping.validate() {
        problems.extend(found.into_iter().map(|p| PlanProblem {
            field: Some(p.field),
            message: p.message,
        }));
    }
    if tables.is_empty() {
        problems.push(PlanProblem {
            field: None,
            message: "no tables to copy: name them with --tables a,b".to_owned(),
        });
    }
    let mut sources = Vec::new();
    for name in tables {
        let table = mapping.table(name);
        match source_side(source, name, &table).await? {
            Ok(src) => sources.push((name.clone(), table, src)),
            Err(found) => problems.extend(found),
        }
    }
    if !problems.is_empty() {
        return Err(plan_error(&problems));
    }
    // The source side holds: create the missing target tables.
    let mut resolved = Resolved {
        plans: Vec::new(),
        created: Vec::new(),
        applied: create == Create::Apply,
    };
    if create != Create::No {
        for (name, table, src) in &sources {
            let target_name = table.target.clone().unwrap_or_else(|| name.clone());
            if target.has_table(&target_name).await? {
                continue;
            }
            let ddl = crate::schema::create_table(
                target.engine(),
                source.engine(),
                src,
                table,
                &target_name,
            );
            if create == Create::Apply
                && let Err(e) = target.execute(&Stmt::new(ddl.clone())).await
            {
                resolved.undo(target).await;
                return Err(target.sql_error(format!("creating table `{target_name}`"), &e));
            }
            resolved.created.push((target_name, ddl));
        }
    }
    for (name, table, src) in sources {
        let target_name = table.target.clone().unwrap_or_else(|| name.clone());
        if create == Create::DryRun && resolved.created.iter().any(|(t, _)| *t == target_name) {
            continue;
        }
        match target_side(source, target, &name, &table, src).await {
            Ok(Ok(plan)) => resolved.plans.push(plan),
            Ok(Err(found)) => problems.extend(found),
            Err(err) => {
                resolved.undo(target).await;
                return Err(err);
            }
        }
    }
    if !problems.is_empty() {
        resolved.undo(target).await;
        return Err(plan_error(&problems));
    }
    Ok(resolved)
}

/// The problems in `problems` as structured values, for callers that locate fields.
pub fn plan_problems(err: &Error) -> Vec<PlanProblem> {
    match err {
        Error::Plan { problems } => problems
            .iter()
            .map(|p| match p.split_once(": ") {
                Some((field, message)) if field.starts_with("tables.") && !field.contains(' ') => {
                    PlanProblem {
                        field: Some(field.to_owned()),
                        message: message.to_owned(),
                    }
                }
                _ => PlanProblem {
                    field: None,
                    message: p.clone(),
                },
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Everything about a table that only the source decides: it exists, has a
/// key, the mapping names its columns, the filter runs, value maps are
/// complete. Nothing is created before every table passes.
async fn source_side(
    source: &Db,
    name: &str,
    mapping: &TableMapping,
) -> Result<Result<TableSchema, Vec<PlanProblem>>> {
    let mut problems = Vec::new();
    let at = |field: &str| Some(format!("tables.{name}{field}"));
    let Some(src) = source.introspect(name).await? else {
        problems.push(PlanProblem {
            field: None,
            message: format!(
                "table `{name}` does not exist in {} (source): check --tables",
                source.dsn()
            ),
        });
        return Ok(Err(problems));
    };
    if src.key.is_empty() {
        // One problem: without a key nothing else about the table matters.
        problems.push(PlanProblem {
            field: None,
            message: format!(
                "table `{name}` in {} has no primary key and no unique NOT NULL key: rows could not be chunked or upserted exactly; add one (ALTER TABLE {name} ADD PRIMARY KEY (…))",
                source.dsn()
            ),
        });
        return Ok(Err(problems));
    }
    let source_names: Vec<&str> = src.columns.iter().map(|c| c.name.as_str()).collect();
    let missing = |field: String, column: &str| PlanProblem {
        field: Some(field),
        message: format!(
            "column `{column}` does not exist in source table `{name}` of {} (it has: {})",
            source.dsn(),
            source_names.join(", ")
        ),
    };
    let named = [
        ("rename", mapping.rename.keys().collect::<Vec<_>>()),
        ("cast", mapping.cast.keys().collect()),
        ("values", mapping.values.keys().collect()),
        ("zero_dates", mapping.zero_dates.keys().collect()),
    ];
    for (kind, columns) in named {
        for column in columns {
            if src.column(column).is_none() {
                problems.push(missing(format!("tables.{name}.{kind}.{column}"), column));
            }
        }
    }
    for (i, column) in mapping.drop.iter().enumerate() {
        if src.column(column).is_none() {
            problems.push(missing(format!("tables.{name}.drop[{i}]"), column));
        }
    }
    for column in mapping.zero_dates.keys() {
        if let Some(c) = src.column(column).map(|i| &src.columns[i])
            && !matches!(c.kind, Kind::Date | Kind::DateTime | Kind::Timestamptz)
        {
            problems.push(PlanProblem {
                field: at(&format!(".zero_dates.{column}")),
                message: format!(
                    "`{name}.{column}` is {} ({}), not a date: only date and time columns hold zero dates",
                    c.decl, c.kind
                ),
            });
        }
    }
    for &k in &src.key {
        let column = &src.columns[k].name;
        if mapping.drop.contains(column) {
            problems.push(PlanProblem {
                field: at(".drop"),
                message: format!("`{column}` is part of the key of `{name}` and cannot be dropped"),
            });
        }
        if mapping.values.contains_key(column) || mapping.cast.contains_key(column) {
            problems.push(PlanProblem {
                field: at(""),
                message: format!(
                    "`{column}` is part of the key of `{name}`: keys are copied as they are (rename only), without value maps or casts"
                ),
            });
        }
    }
    if !problems.is_empty() {
        return Ok(Err(problems));
    }
    let filter = mapping
        .filter
        .as_deref()
        .filter(|f| msa_playbook::mapping::check_filter(f).is_ok());
    if let Some(filter) = filter {
        // `AND 1 = 0`: the source parses and checks the filter without a scan.
        let stmt = Stmt::new(format!(
            "SELECT COUNT(*) FROM {} WHERE ({filter}) AND 1 = 0",
            quote(source.engine(), name)
        ));
        if let Err(err) = source.fetch_i64(&stmt).await {
            problems.push(PlanProblem {
                field: at(".filter"),
                message: format!(
                    "the source refused the filter `{filter}`: {}",
                    source
                        .sql_error("", &err)
                        .to_string()
                        .rsplit(": ")
                        .next()
                        .unwrap_or_default()
                ),
            });
            return Ok(Err(problems));
        }
    }
    for column in &src.columns {
        let Some(map) = mapping.values.get(&column.name) else {
            continue;
        };
        let stmt = Stmt::new(format!(
            "SELECT DISTINCT {} FROM {}{} LIMIT 10001",
            select_expr(source.engine(), column),
            quote(source.engine(), name),
            filter.map(|f| format!(" WHERE ({f})")).unwrap_or_default()
        ));
        let rows = source
            .fetch(&stmt, std::slice::from_ref(column))
            .await
            .map_err(|e| {
                source.sql_error(
                    format!("reading the values of `{name}.{}`", column.name),
                    &e,
                )
            })?;
        let unmapped: Vec<String> = rows
            .iter()
            .filter(|r| !matches!(r[0], Value::Null) && !map.contains_key(&r[0].as_text()))
            .map(|r| r[0].to_string())
            .take(10)
            .collect();
        if !unmapped.is_empty() {
            problems.push(PlanProblem {
                field: Some(format!("tables.{name}.values.{}", column.name)),
                message: format!(
                    "source table `{name}` has values of `{}` the map does not list: {}; add them",
                    column.name,
                    unmapped.join(", ")
                ),
            });
        }
    }
    if problems.is_empty() {
        Ok(Ok(src))
    } else {
        Ok(Err(problems))
    }
}

/// The table against the target: its columns receive the mapped source
/// columns, the keys match, and real rows convert.
async fn target_side(
    source: &Db,
    target: &Db,
    name: &str,
    mapping: &TableMapping,
    src: TableSchema,
) -> Result<Result<TablePlan, Vec<PlanProblem>>> {
    let mut problems = Vec::new();
    let at = |field: &str| Some(format!("tables.{name}{field}"));
    let target_name = mapping.target.clone().unwrap_or_else(|| name.to_owned());
    let Some(mut tgt) = target.introspect(&target_name).await? else {
        problems.push(PlanProblem {
            field: if mapping.target.is_some() { at(".target") } else { None },
            message: format!(
                "table `{target_name}` does not exist in {} (target): create it first (or let --create-schema create it), or map `{name}` to another table with `target:`",
                target.dsn()
            ),
        });
        return Ok(Err(problems));
    };
    if tgt.key.is_empty()
        && let Some(key) = crate::store::deferred_key(target, &target_name).await
        && let Some(key) = key
            .iter()
            .map(|k| tgt.column(k))
            .collect::<Option<Vec<_>>>()
    {
        // A copy into a table it created builds the primary key at its end.
        tgt.key = key;
    }
    // Columns read and written.
    let mut read = Vec::new();
    let mut write = Vec::new();
    let mut fed: BTreeMap<String, String> = BTreeMap::new();
    for column in &src.columns {
        let Some(target_column) = mapping.target_column(&column.name) else {
            continue;
        };
        let index = read.len();
        read.push(column.clone());
        let Some(t) = tgt.column(target_column) else {
            problems.push(PlanProblem {
                field: mapping.rename.contains_key(&column.name).then(|| format!("tables.{name}.rename.{}", column.name)),
                message: format!(
                    "source column `{name}.{}` goes to `{target_name}.{target_column}`, which does not exist in {}: rename it (rename: {{{}: …}}) or drop it (drop: [{}])",
                    column.name,
                    target.dsn(),
                    column.name,
                    column.name
                ),
            });
            continue;
        };
        let t = tgt.columns[t].clone();
        let values = mapping.values.get(&column.name).map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), Value::from_scalar(v)))
                .collect::<BTreeMap<_, _>>()
        });
        let cast = mapping.cast.get(&column.name).map(|c| cast_kind(*c));
        let from_kind = match (&values, cast) {
            (_, Some(kind)) => kind,
            (Some(_), None) => Kind::Text,
            (None, None) => column.kind,
        };
        if !convertible(from_kind, t.kind) {
            problems.push(PlanProblem {
                field: None,
                message: format!(
                    "source column `{name}.{}` ({}, {}) cannot be written to `{target_name}.{}` ({}, {}): add a cast or a value map",
                    column.name, column.decl, column.kind, t.name, t.decl, t.kind
                ),
            });
        }
        let zero_date = mapping.zero_dates.get(&column.name).map(Value::from_scalar);
        if let Some(value) = &zero_date
            && let Err(e) = value.clone().coerce(t.kind)
        {
            problems.push(PlanProblem {
                field: Some(format!("tables.{name}.zero_dates.{}", column.name)),
                message: format!("{e} for column `{target_name}.{}` ({})", t.name, t.decl),
            });
        }
        fed.insert(t.name.clone(), column.name.clone());
        write.push(WriteColumn {
            column: t,
            feed: Feed::Source {
                index,
                values,
                cast,
                zero_date,
            },
        });
    }
    for (column, value) in &mapping.defaults {
        match tgt.column(column) {
            Some(t) if !fed.contains_key(column) => {
                let t = tgt.columns[t].clone();
                let value = Value::from_scalar(value);
                if let Err(e) = value.clone().coerce(t.kind) {
                    problems.push(PlanProblem {
                        field: Some(format!("tables.{name}.defaults.{column}")),
                        message: format!("{e} for column `{target_name}.{column}` ({})", t.decl),
                    });
                }
                write.push(WriteColumn {
                    column: t,
                    feed: Feed::Constant(value),
                });
            }
            Some(_) => {}
            None => problems.push(PlanProblem {
                field: Some(format!("tables.{name}.defaults.{column}")),
                message: format!(
                    "target table `{target_name}` in {} has no column `{column}`",
                    target.dsn()
                ),
            }),
        }
    }
    // The key: the source key's columns must be exactly the target's key.
    let source_key: Vec<usize> = src
        .key
        .iter()
        .filter_map(|&k| read.iter().position(|c| c.name == src.columns[k].name))
        .collect();
    let target_key: Vec<usize> = source_key
        .iter()
        .filter_map(|&i| {
            write
                .iter()
                .position(|w| matches!(w.feed, Feed::Source { index, .. } if index == i))
        })
        .collect();
    let mut target_key_names: Vec<&str> = target_key
        .iter()
        .map(|&i| write[i].column.name.as_str())
        .collect();
    let mut key_names: Vec<&str> = tgt
        .key
        .iter()
        .map(|&i| tgt.columns[i].name.as_str())
        .collect();
    target_key_names.sort_unstable();
    key_names.sort_unstable();
    if tgt.key.is_empty() {
        problems.push(PlanProblem {
            field: None,
            message: format!(
                "target table `{target_name}` in {} has no primary key and no unique NOT NULL key: upserts need one; add a primary key on ({})",
                target.dsn(),
                target_key_names.join(", ")
            ),
        });
    } else if target_key.len() != source_key.len() || target_key_names != key_names {
        problems.push(PlanProblem {
            field: None,
            message: format!(
                "the key of source table `{name}` ({}) maps to ({}) but the key of target table `{target_name}` is ({}): rename the key columns to match",
                src.key.iter().map(|&i| src.columns[i].name.as_str()).collect::<Vec<_>>().join(", "),
                target_key_names.join(", "),
                key_names.join(", ")
            ),
        });
    }
    if !problems.is_empty() {
        return Ok(Err(problems));
    }
    let plan = TablePlan {
        source: src,
        target: tgt,
        read,
        source_key,
        write,
        target_key,
        filter: mapping.filter.clone(),
    };
    let zero_dates = zero_dates_refused(source, &plan).await?;
    let sampled = sample_rows(source, &plan).await?;
    // The scan names a zero date already; the sample would name it again.
    let scanned = !zero_dates.is_empty();
    problems.extend(zero_dates);
    problems.extend(
        sampled
            .into_iter()
            .filter(|p| !(scanned && p.message.contains("zero date"))),
    );
    if problems.is_empty() {
        Ok(Ok(plan))
    } else {
        Ok(Err(problems))
    }
}

/// The first rows run through the mapping into the target's types: a value
/// that does not convert is refused here, naming its row, before any row moves.
async fn sample_rows(source: &Db, plan: &TablePlan) -> Result<Vec<PlanProblem>> {
    let name = &plan.source.name;
    let mut problems: Vec<PlanProblem> = Vec::new();
    let sample = plan.source_select(source, None, None, Some(SAMPLE_ROWS));
    let rows = source
        .fetch(&sample, &plan.read)
        .await
        .map_err(|e| source.sql_error(format!("reading table `{name}`"), &e))?;
    for row in rows {
        let error = match plan.map_row(&row) {
            Err(e) => Some(e),
            Ok(mapped) => plan
                .write
                .iter()
                .zip(&mapped)
                .find(|(w, v)| !w.column.nullable && matches!(v, Value::Null))
                .map(|(w, _)| {
                    format!(
                        "target column `{}` is NOT NULL but gets NULL",
                        w.column.name
                    )
                }),
        };
        let Some(e) = error else { continue };
        if problems.iter().all(|p| !p.message.contains(&e)) {
            // A zero date's message carries its own fixes.
            let fix = if e.contains("zero date") {
                ""
            } else {
                "; add a cast or a value map, or fix the target's type"
            };
            problems.push(PlanProblem {
                field: None,
                message: format!(
                    "row {} of source table `{name}` cannot be written to `{}`: {e}{fix}",
                    plan.show_key(&plan.key_of(&row)),
                    plan.target.name
                ),
            });
        }
        if problems.len() >= 5 {
            break;
        }
    }
    Ok(problems)
}

/// MySQL sources: a zero date anywhere in a column bound for a NOT NULL
/// target column without a `zero_dates` value would stop the copy midway, so
/// each such column is searched (one scan) before anything moves.
async fn zero_dates_refused(source: &Db, plan: &TablePlan) -> Result<Vec<PlanProblem>> {
    let mut problems = Vec::new();
    if source.engine() != Engine::MySql {
        return Ok(problems);
    }
    let key = plan.source_key_columns();
    let zero = |column: &Column| {
        let quoted = quote(Engine::MySql, &column.name);
        format!("(MONTH({quoted}) = 0 OR DAYOFMONTH({quoted}) = 0)")
    };
    let checked: Vec<(&WriteColumn, &Column)> = plan
        .write
        .iter()
        .filter_map(|w| match &w.feed {
            Feed::Source {
                index,
                zero_date: None,
                ..
            } => Some((w, &plan.read[*index])),
            _ => None,
        })
        .filter(|(w, column)| {
            !w.column.nullable
                && matches!(column.kind, Kind::Date | Kind::DateTime | Kind::Timestamptz)
        })
        .collect();
    if checked.len() > 1 {
        // One scan for all columns first: where none holds a zero date (the
        // usual case), the table is read once, not once per column.
        let any: Vec<String> = checked.iter().map(|(_, c)| zero(c)).collect();
        let stmt = Stmt::new(format!(
            "SELECT COUNT(*) FROM (SELECT 1 FROM {} WHERE {}({}) LIMIT 1) AS found",
            quote(Engine::MySql, &plan.source.name),
            plan.filter
                .as_ref()
                .map(|f| format!("({f}) AND "))
                .unwrap_or_default(),
            any.join(" OR ")
        ));
        let found = source.fetch_i64(&stmt).await.map_err(|e| {
            source.sql_error(
                format!("looking for zero dates in `{}`", plan.source.name),
                &e,
            )
        })?;
        if found == 0 {
            return Ok(problems);
        }
    }
    for (w, column) in checked {
        let quoted = quote(Engine::MySql, &column.name);
        let condition = zero(column);
        let filter = match &plan.filter {
            Some(f) => format!("({f}) AND {condition}"),
            None => condition,
        };
        let mut columns: Vec<String> = key.iter().map(|c| select_expr(Engine::MySql, c)).collect();
        columns.push(format!("CAST({quoted} AS CHAR)"));
        let mut decode: Vec<Column> = key.iter().map(|c| (*c).clone()).collect();
        decode.push(Column {
            name: column.name.clone(),
            decl: "char".to_owned(),
            kind: Kind::Text,
            nullable: true,
            cast: String::new(),
            read: Read::AsText,
            single: false,
        });
        let stmt = select(
            source,
            &plan.source.name,
            &columns,
            &key,
            Some(&filter),
            None,
            None,
            Some(1),
        );
        let rows = source.fetch(&stmt, &decode).await.map_err(|e| {
            source.sql_error(
                format!(
                    "looking for zero dates in `{}.{}`",
                    plan.source.name, column.name
                ),
                &e,
            )
        })?;
        if let Some(row) = rows.first() {
            let (key, text) = row.split_at(key.len());
            problems.push(PlanProblem {
                field: None,
                message: format!(
                    "row {} of source table `{}`: {}",
                    plan.show_key(key),
                    plan.source.name,
                    zero_date_refused(&column.name, &w.column.name, &text[0].as_text())
                ),
            });
        }
    }
    Ok(problems)
}
