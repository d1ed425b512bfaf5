//! What to copy, resolved: the plans the command line and playbooks build, and
//! each table's columns, key and mapping once checked against both databases.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use msa_playbook::mapping::Mapping;

use crate::db::{Cells, Column, Db, SqlBuilder, Stmt, TableSchema, quote, select_expr};
use crate::dsn::Dsn;
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
    /// Workers copying at the same time: tables, and key ranges of a table.
    pub jobs: usize,
    /// Key ranges a large table is split into, each copied by its own worker
    /// with its own checkpoint (1: one range per table).
    pub ranges: usize,
    /// Tables with fewer rows than `ranges` times this are split into fewer
    /// ranges (a worker per few rows costs more than it gains).
    pub range_min_rows: i64,
    /// Upper bound on rows read from the source per second, across tables.
    pub rows_per_second: Option<u64>,
    /// Pauses that protect the source: probe latency and replica lag.
    pub throttle: ThrottleOptions,
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

/// When the copy pauses to protect the production source. Either check alone
/// or both; while one fails, no worker reads its next chunk.
#[derive(Debug, Clone)]
pub struct ThrottleOptions {
    /// Pause while the probe query takes longer than this on the source.
    pub max_latency: Option<Duration>,
    /// The probe query, run on a connection of its own (cheap, read-only).
    pub probe_query: String,
    /// Pause while replication lag is above this: on each of `replicas`, or on
    /// the source itself when it is a replica and none are named.
    pub max_replica_lag: Option<Duration>,
    /// The replicas to watch.
    pub replicas: Vec<Dsn>,
    /// How often the checks run (and are re-run while paused).
    pub interval: Duration,
}

impl Default for ThrottleOptions {
    fn default() -> Self {
        Self {
            max_latency: None,
            probe_query: "SELECT 1".to_owned(),
            max_replica_lag: None,
            replicas: Vec::new(),
            interval: Duration::from_secs(1),
        }
    }
}

impl ThrottleOptions {
    /// Whether any check is configured.
    pub fn enabled(&self) -> bool {
        self.max_latency.is_some() || self.max_replica_lag.is_some()
    }
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
            ranges: 1,
            range_min_rows: 10_000,
            rows_per_second: None,
            throttle: ThrottleOptions::default(),
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
    /// Ignore saved progress and verify every table from the start.
    pub restart: bool,
    /// Rows per verified chunk.
    pub chunk_rows: usize,
    /// The time a range hashed in SQL should take: ranges of a single
    /// integer key grow (or shrink) toward it; zero keeps every range at ten
    /// chunks.
    pub range_time: Duration,
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
        /// What a MySQL zero date becomes (`zero_dates` in the mapping);
        /// without it NULL, or an error into a NOT NULL column.
        zero_date: Option<Value>,
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

    /// When every target column is its source column as it is (same declared
    /// type, no value map, cast or constant): the source column (index into
    /// `read`) of each written column, in write order.
    pub(crate) fn copied_as_is(&self) -> Option<Vec<usize>> {
        self.write
            .iter()
            .map(|w| match &w.feed {
                Feed::Source {
                    index,
                    values: None,
                    cast: None,
                    ..
                } if self.read[*index].decl.eq_ignore_ascii_case(&w.column.decl) => Some(*index),
                _ => None,
            })
            .collect()
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

    /// The key of a source row as its driver returned it.
    pub(crate) fn raw_key_of(&self, row: &dyn Cells) -> Result<Vec<Value>, String> {
        self.source_key
            .iter()
            .map(|&i| row.cell(i, &self.read[i]))
            .collect()
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
            .map(|w| self.map_column(w, |index| Ok::<_, String>(row[index].clone())))
            .collect()
    }

    /// One target column's value: its source value (`read(index)` gives
    /// the source column `index` of the row), mapped and converted.
    pub(crate) fn map_column<E: From<String>>(
        &self,
        w: &WriteColumn,
        read: impl FnOnce(usize) -> Result<Value, E>,
    ) -> Result<Value, E> {
        let value = match &w.feed {
            Feed::Constant(v) => v.clone(),
            Feed::Source {
                index,
                values,
                cast,
                zero_date,
            } => {
                let mut value = read(*index)?;
                if let Value::ZeroDate(text) = &value {
                    // No calendar date to convert: the documented rule, before any other.
                    value =
                        zero_date_value(&self.read[*index], &w.column, text, zero_date.as_ref())?;
                } else {
                    if let Some(map) = values {
                        value = map_value(&self.read[*index], map, value)?;
                    }
                    if let Some(kind) = cast {
                        value = value.coerce(*kind).map_err(|e| {
                            format!("column `{}`: cast: {e}", self.read[*index].name)
                        })?;
                    }
                }
                value
            }
        };
        Ok(value
            .coerce(w.column.kind)
            .map_err(|e| format!("target column `{}`: {e}", w.column.name))?)
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

/// A value through a value map; a value the map does not list is an error.
fn map_value(
    column: &Column,
    map: &BTreeMap<String, Value>,
    value: Value,
) -> Result<Value, String> {
    let text = if matches!(value, Value::Null) {
        "null".to_owned()
    } else {
        value.as_text()
    };
    match map.get(&text) {
        Some(mapped) => Ok(mapped.clone()),
        None if matches!(value, Value::Null) => Ok(Value::Null),
        None => Err(format!(
            "column `{}`: value {value} is not in the value map",
            column.name
        )),
    }
}

/// What a MySQL zero date becomes: the column's `zero_dates` value, else NULL
/// when the target column takes it, else an error saying how to choose.
fn zero_date_value(
    source: &Column,
    target: &Column,
    text: &str,
    sentinel: Option<&Value>,
) -> Result<Value, String> {
    match sentinel {
        Some(value) => Ok(value.clone()),
        None if target.nullable => Ok(Value::Null),
        None => Err(zero_date_refused(&source.name, &target.name, text)),
    }
}

/// The error for a zero date bound for a NOT NULL column, with both fixes.
pub(crate) fn zero_date_refused(source: &str, target: &str, text: &str) -> String {
    format!(
        "column `{source}` holds the MySQL zero date {text}, which has no calendar date, and target column `{target}` is NOT NULL: \
         choose the value it becomes with `zero_dates: {{{source}: \"1970-01-01\"}}` in the mapping, or make `{target}` nullable (zero dates then become NULL)"
    )
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
    select_with(
        SqlBuilder::new(db.engine()),
        db,
        table,
        columns,
        key,
        filter,
        (after, upto),
        limit,
    )
}

/// [`select`] written by `b` (which may inline integer keys).
#[allow(clippy::too_many_arguments, reason = "one query shape, spelled out")]
pub(crate) fn select_with(
    mut b: SqlBuilder,
    db: &Db,
    table: &str,
    columns: &[String],
    key: &[&Column],
    filter: Option<&str>,
    (after, upto): (Option<&[Value]>, Option<&[Value]>),
    limit: Option<usize>,
) -> Stmt {
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
                    zero_date,
                } => {
                    let c = &plan.read[*index];
                    let mut how = Vec::new();
                    if let Some(value) = zero_date {
                        how.push(format!("zero dates → {value}"));
                    }
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
