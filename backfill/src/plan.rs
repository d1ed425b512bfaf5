//! Resolving what to copy: the tables, their keys and the mapping, checked
//! against the real source and target schemas before any row moves.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use msa_playbook::mapping::{CastType, Mapping, TableMapping};

use crate::db::{Column, Db, SqlBuilder, Stmt, TableSchema, quote, select_expr};
use crate::dsn::Dsn;
use crate::error::{Error, Result};
use crate::value::{Kind, Value};

/// What `backfill` does: resolved input, from the command line or a playbook.
#[derive(Debug, Clone)]
pub struct BackfillPlan {
    /// The monolith's database.
    pub source: Dsn,
    /// The service's database.
    pub target: Dsn,
    /// Source table names, in the order given.
    pub tables: Vec<String>,
    /// How the tables map (the identity when empty).
    pub mapping: Mapping,
    /// How to copy.
    pub options: CopyOptions,
}

/// How `backfill` copies.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// Tables copied at the same time.
    pub jobs: usize,
    /// Upper bound on rows read from the source per second, across tables.
    pub rows_per_second: Option<u64>,
    /// The time a chunk should take; the chunk size adapts toward it.
    pub chunk_time: Duration,
    /// First chunk size, in rows.
    pub initial_chunk: usize,
    /// Largest chunk, in rows.
    pub max_chunk: usize,
    /// Ignore checkpoints and copy from the start.
    pub restart: bool,
    /// Resolve and print the plan; move nothing.
    pub dry_run: bool,
    /// Create missing target tables from the source's DDL.
    pub create_schema: bool,
    /// After the copy, keep applying the source's changes until stopped.
    pub follow: Option<FollowOptions>,
}

/// How `--follow` catches up: an `updated_at` watermark with an overlap window,
/// plus a deletion sweep by key ranges.
#[derive(Debug, Clone)]
pub struct FollowOptions {
    /// The source column every write sets to the time of the write (indexed).
    pub column: String,
    /// How far behind the watermark each pass starts again: covers clock skew
    /// and transactions that commit after rows with later timestamps.
    pub overlap: Duration,
    /// Pause between passes.
    pub interval: Duration,
    /// Target keys checked for deletion per pass.
    pub sweep_rows: usize,
}

impl Default for FollowOptions {
    fn default() -> Self {
        Self {
            column: "updated_at".to_owned(),
            overlap: Duration::from_secs(5),
            interval: Duration::from_secs(1),
            sweep_rows: 10_000,
        }
    }
}

impl Default for CopyOptions {
    fn default() -> Self {
        Self {
            jobs: 4,
            rows_per_second: None,
            chunk_time: Duration::from_millis(500),
            initial_chunk: 1000,
            max_chunk: 50_000,
            restart: false,
            dry_run: false,
            create_schema: false,
            follow: None,
        }
    }
}

/// What `verify` does.
#[derive(Debug, Clone)]
pub struct VerifyPlan {
    /// The monolith's database.
    pub source: Dsn,
    /// The service's database.
    pub target: Dsn,
    /// Source table names.
    pub tables: Vec<String>,
    /// How the tables map.
    pub mapping: Mapping,
    /// Re-copy mismatched rows, delete extra ones, and verify them again.
    pub repair: bool,
    /// Rows per verified chunk.
    pub chunk_rows: usize,
    /// Tables verified at the same time.
    pub jobs: usize,
}

/// One problem found while resolving, at a mapping field when it concerns one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanProblem {
    /// The mapping's field path (`tables.coupons.rename.id`), when the problem is in the map.
    pub field: Option<String>,
    /// The problem, naming the database, table and column, and the fix.
    pub message: String,
}

impl fmt::Display for PlanProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{field}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Where a written column's value comes from.
#[derive(Debug, Clone)]
pub enum Feed {
    /// A source column (index into [`TablePlan::read`]), through an optional
    /// value map and cast.
    Source {
        /// Index into the columns read.
        index: usize,
        /// Source value as text → target value.
        values: Option<BTreeMap<String, Value>>,
        /// A conversion before the target column's own.
        cast: Option<Kind>,
    },
    /// A constant.
    Constant(Value),
}

/// A target column and where its value comes from.
#[derive(Debug, Clone)]
pub struct WriteColumn {
    /// The target column.
    pub column: Column,
    /// Its value's origin.
    pub feed: Feed,
}

/// One table, resolved.
#[derive(Debug, Clone)]
pub struct TablePlan {
    /// The source table's schema.
    pub source: TableSchema,
    /// The target table's schema.
    pub target: TableSchema,
    /// Source columns read, in order (the key's columns included).
    pub read: Vec<Column>,
    /// Positions of the key's columns in `read`, in key order.
    pub source_key: Vec<usize>,
    /// Target columns written.
    pub write: Vec<WriteColumn>,
    /// Positions of the key's columns in `write`, in the source key's order.
    pub target_key: Vec<usize>,
    /// The row filter applied at the source.
    pub filter: Option<String>,
}

impl TablePlan {
    /// The name people know the copy by: `source → target`.
    pub fn label(&self) -> String {
        if self.source.name == self.target.name {
            self.source.name.clone()
        } else {
            format!("{} → {}", self.source.name, self.target.name)
        }
    }

    /// Source key columns.
    pub(crate) fn source_key_columns(&self) -> Vec<&Column> {
        self.source_key.iter().map(|&i| &self.read[i]).collect()
    }

    /// Target key columns, in source key order.
    pub(crate) fn target_key_columns(&self) -> Vec<&Column> {
        self.target_key
            .iter()
            .map(|&i| &self.write[i].column)
            .collect()
    }

    /// Target columns written.
    pub(crate) fn write_columns(&self) -> Vec<Column> {
        self.write.iter().map(|w| w.column.clone()).collect()
    }

    /// The key of a source row.
    pub(crate) fn key_of(&self, row: &[Value]) -> Vec<Value> {
        self.source_key.iter().map(|&i| row[i].clone()).collect()
    }

    /// The target key of a mapped row.
    pub(crate) fn target_key_of(&self, row: &[Value]) -> Vec<Value> {
        self.target_key.iter().map(|&i| row[i].clone()).collect()
    }

    /// A key for messages: `(id=5)`.
    pub(crate) fn show_key(&self, key: &[Value]) -> String {
        let parts: Vec<String> = self
            .source_key_columns()
            .iter()
            .zip(key)
            .map(|(c, v)| format!("{}={v}", c.name))
            .collect();
        format!("({})", parts.join(", "))
    }

    /// A source row, mapped and converted to the target's columns.
    pub fn map_row(&self, row: &[Value]) -> Result<Vec<Value>, String> {
        self.write
            .iter()
            .map(|w| {
                let value = match &w.feed {
                    Feed::Constant(v) => v.clone(),
                    Feed::Source {
                        index,
                        values,
                        cast,
                    } => {
                        let mut value = row[*index].clone();
                        if let Some(map) = values {
                            let text = if matches!(value, Value::Null) {
                                "null".to_owned()
                            } else {
                                value.as_text()
                            };
                            value = match map.get(&text) {
                                Some(mapped) => mapped.clone(),
                                None if matches!(value, Value::Null) => Value::Null,
                                None => {
                                    return Err(format!(
                                        "column `{}`: value {value} is not in the value map",
                                        self.read[*index].name
                                    ));
                                }
                            };
                        }
                        if let Some(kind) = cast {
                            value = value.coerce(*kind).map_err(|e| {
                                format!("column `{}`: cast: {e}", self.read[*index].name)
                            })?;
                        }
                        value
                    }
                };
                value
                    .coerce(w.column.kind)
                    .map_err(|e| format!("target column `{}`: {e}", w.column.name))
            })
            .collect()
    }

    /// `SELECT <read> FROM source WHERE filter AND key > after AND key <= upto ORDER BY key LIMIT n`.
    pub(crate) fn source_select(
        &self,
        db: &Db,
        after: Option<&[Value]>,
        upto: Option<&[Value]>,
        limit: Option<usize>,
    ) -> Stmt {
        let key = self.source_key_columns();
        let columns: Vec<String> = self
            .read
            .iter()
            .map(|c| select_expr(db.engine(), c))
            .collect();
        select(
            db,
            &self.source.name,
            &columns,
            &key,
            self.filter.as_deref(),
            after,
            upto,
            limit,
        )
    }

    /// The same range on the target, by the mapped key.
    pub(crate) fn target_select(
        &self,
        db: &Db,
        after: Option<&[Value]>,
        upto: Option<&[Value]>,
        limit: Option<usize>,
    ) -> Stmt {
        let key = self.target_key_columns();
        let columns: Vec<String> = self
            .write
            .iter()
            .map(|w| select_expr(db.engine(), &w.column))
            .collect();
        select(
            db,
            &self.target.name,
            &columns,
            &key,
            None,
            after,
            upto,
            limit,
        )
    }
}

/// A keyset range query.
#[allow(clippy::too_many_arguments, reason = "one query shape, spelled out")]
pub(crate) fn select(
    db: &Db,
    table: &str,
    columns: &[String],
    key: &[&Column],
    filter: Option<&str>,
    after: Option<&[Value]>,
    upto: Option<&[Value]>,
    limit: Option<usize>,
) -> Stmt {
    let mut b = SqlBuilder::new(db.engine());
    b.push("SELECT ")
        .push(&columns.join(", "))
        .push(" FROM ")
        .ident(table);
    let mut first = true;
    let mut and = |b: &mut SqlBuilder| {
        b.push(if first { " WHERE " } else { " AND " });
        first = false;
    };
    if let Some(filter) = filter {
        and(&mut b);
        b.push("(").push(filter).push(")");
    }
    if let Some(after) = after {
        and(&mut b);
        b.key_compare(key, ">", after);
    }
    if let Some(upto) = upto {
        and(&mut b);
        b.key_compare(key, "<=", upto);
    }
    b.push(" ORDER BY ");
    let order: Vec<String> = key.iter().map(|c| quote(db.engine(), &c.name)).collect();
    b.push(&order.join(", "));
    if let Some(limit) = limit {
        b.push(&format!(" LIMIT {limit}"));
    }
    b.finish()
}

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

/// Resolved tables, and the DDL of the target tables created (or to create).
#[derive(Debug)]
pub(crate) struct Resolved {
    pub(crate) plans: Vec<TablePlan>,
    pub(crate) created: Vec<String>,
}

pub(crate) async fn resolve_with(
    source: &Db,
    target: &Db,
    tables: &[String],
    mapping: &Mapping,
    create: Create,
) -> Result<Resolved> {
    let mut created = Vec::new();
    let mut skip = Vec::new();
    if create != Create::No && mapping.validate().is_ok() {
        for name in tables {
            let table = mapping.table(name);
            let target_name = table.target.clone().unwrap_or_else(|| name.clone());
            if target.has_table(&target_name).await? {
                continue;
            }
            let Some(src) = source.introspect(name).await? else {
                continue;
            };
            if src.key.is_empty() {
                continue;
            }
            let ddl = crate::schema::create_table(
                target.engine(),
                source.engine(),
                &src,
                &table,
                &target_name,
            );
            if create == Create::Apply {
                target
                    .execute(&Stmt::new(ddl.clone()))
                    .await
                    .map_err(|e| target.sql_error(format!("creating table `{target_name}`"), &e))?;
            } else {
                skip.push(name.clone());
            }
            created.push(ddl);
        }
    }
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
    let mut plans = Vec::new();
    for name in tables {
        if skip.contains(name) {
            continue;
        }
        let table = mapping.table(name);
        match resolve_table(source, target, name, &table, create != Create::No).await? {
            Ok(plan) => plans.push(plan),
            Err(found) => problems.extend(found),
        }
    }
    if problems.is_empty() {
        Ok(Resolved { plans, created })
    } else {
        Err(Error::Plan {
            problems: problems.iter().map(ToString::to_string).collect(),
        })
    }
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

async fn resolve_table(
    source: &Db,
    target: &Db,
    name: &str,
    mapping: &TableMapping,
    create_schema: bool,
) -> Result<Result<TablePlan, Vec<PlanProblem>>> {
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
        problems.push(PlanProblem {
            field: None,
            message: format!(
                "table `{name}` in {} has no primary key and no unique NOT NULL key: rows could not be chunked or upserted exactly; add one (ALTER TABLE {name} ADD PRIMARY KEY (…))",
                source.dsn()
            ),
        });
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
    for column in mapping.rename.keys() {
        if src.column(column).is_none() {
            problems.push(missing(format!("tables.{name}.rename.{column}"), column));
        }
    }
    for (i, column) in mapping.drop.iter().enumerate() {
        if src.column(column).is_none() {
            problems.push(missing(format!("tables.{name}.drop[{i}]"), column));
        }
    }
    for column in mapping.cast.keys() {
        if src.column(column).is_none() {
            problems.push(missing(format!("tables.{name}.cast.{column}"), column));
        }
    }
    for column in mapping.values.keys() {
        if src.column(column).is_none() {
            problems.push(missing(format!("tables.{name}.values.{column}"), column));
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
    let target_name = mapping.target.clone().unwrap_or_else(|| name.to_owned());
    let tgt = match target.introspect(&target_name).await? {
        Some(tgt) => tgt,
        None if create_schema => {
            problems.push(PlanProblem {
                field: None,
                message: "--create-schema is not built yet: create the target tables first"
                    .to_owned(),
            });
            return Ok(Err(problems));
        }
        None => {
            problems.push(PlanProblem {
                field: if mapping.target.is_some() { at(".target") } else { None },
                message: format!(
                    "table `{target_name}` does not exist in {} (target): create it first, or map `{name}` to another table with `target:`",
                    target.dsn()
                ),
            });
            return Ok(Err(problems));
        }
    };
    if !problems.is_empty() {
        return Ok(Err(problems));
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
        fed.insert(t.name.clone(), column.name.clone());
        write.push(WriteColumn {
            column: t,
            feed: Feed::Source {
                index,
                values,
                cast,
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
    if let Some(filter) = &mapping.filter
        && let Err(e) = msa_playbook::mapping::check_filter(filter)
    {
        problems.push(PlanProblem {
            field: at(".filter"),
            message: e,
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
    // Check the filter and the conversions on real rows before any row moves.
    if let Some(filter) = &plan.filter {
        let stmt = Stmt::new(format!(
            "SELECT COUNT(*) FROM {} WHERE ({filter})",
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
    for column in &plan.read {
        let Some(map) = mapping.values.get(&column.name) else {
            continue;
        };
        let stmt = Stmt::new(format!(
            "SELECT DISTINCT {} FROM {}{} LIMIT 10001",
            select_expr(source.engine(), column),
            quote(source.engine(), name),
            plan.filter
                .as_ref()
                .map(|f| format!(" WHERE ({f})"))
                .unwrap_or_default()
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
    if !problems.is_empty() {
        return Ok(Err(problems));
    }
    let sample = plan.source_select(source, None, None, Some(1000));
    let rows = source
        .fetch(&sample, &plan.read)
        .await
        .map_err(|e| source.sql_error(format!("reading table `{name}`"), &e))?;
    for row in rows {
        let mapped = plan.map_row(&row);
        let error = match mapped {
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
        if let Some(e) = error {
            if problems.iter().all(|p| !p.message.contains(&e)) {
                problems.push(PlanProblem {
                    field: None,
                    message: format!(
                        "row {} of source table `{name}` cannot be written to `{}`: {e}; add a cast or a value map, or fix the target's type",
                        plan.show_key(&plan.key_of(&row)),
                        plan.target.name
                    ),
                });
            }
            if problems.len() >= 5 {
                break;
            }
        }
    }
    if problems.is_empty() {
        Ok(Ok(plan))
    } else {
        Ok(Err(problems))
    }
}

/// The plan as text: per table, the key, the filter and each column's type mapping.
pub fn describe(plans: &[TablePlan]) -> String {
    let mut out = String::new();
    for plan in plans {
        out.push_str(&format!("table {}\n", plan.label()));
        let key: Vec<&str> = plan
            .source_key_columns()
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        out.push_str(&format!(
            "  key: ({}){}\n",
            key.join(", "),
            if plan.source.key_is_primary {
                ""
            } else {
                " (unique NOT NULL key)"
            }
        ));
        if let Some(filter) = &plan.filter {
            out.push_str(&format!("  filter: {filter}\n"));
        }
        for w in &plan.write {
            let (from, how) = match &w.feed {
                Feed::Source {
                    index,
                    values,
                    cast,
                } => {
                    let c = &plan.read[*index];
                    let mut how = Vec::new();
                    if let Some(map) = values {
                        let pairs: Vec<String> =
                            map.iter().map(|(k, v)| format!("{k}→{v}")).collect();
                        how.push(format!("values {}", pairs.join(", ")));
                    }
                    if let Some(kind) = cast {
                        how.push(format!("cast {kind}"));
                    }
                    (format!("{} {} ({})", c.name, c.decl, c.kind), how)
                }
                Feed::Constant(v) => (format!("constant {v}"), Vec::new()),
            };
            out.push_str(&format!(
                "  {from} → {} {} ({}){}\n",
                w.column.name,
                w.column.decl,
                w.column.kind,
                if how.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", how.join("; "))
                }
            ));
        }
        for c in &plan.source.columns {
            if !plan.read.iter().any(|r| r.name == c.name) {
                out.push_str(&format!("  {} {} dropped\n", c.name, c.decl));
            }
        }
    }
    out
}
