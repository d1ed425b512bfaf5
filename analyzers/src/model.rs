//! `analysis.json`: the stable, documented result of `msa-migrate analyze`
//! (docs/analyze.md describes every field). Adding a field is compatible;
//! renaming or removing one raises [`SCHEMA_VERSION`].

use serde::{Deserialize, Serialize};

use crate::facts::Access;
use crate::schema::Schema;

/// The version of the `analysis.json` layout.
pub const SCHEMA_VERSION: u32 = 1;

/// Everything `analyze` found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    pub schema_version: u32,
    /// What was read.
    pub inputs: Inputs,
    /// Modules, routes and tables.
    pub nodes: Vec<Node>,
    /// Imports, calls, reads, writes, foreign keys, co-change, transactions, route handlers.
    pub edges: Vec<Edge>,
    /// Every function that runs a database transaction, with what it touches.
    pub transactions: Vec<Transaction>,
    /// SQL the parser could not read completely, or that is built at run time.
    pub unresolved_sql: Vec<UnresolvedSql>,
    /// Calls that name no function of the source tree (libraries) are not
    /// listed; this counts them.
    pub unresolved_calls: usize,
    /// The domains: declared by `--domains` or proposed.
    pub domains: Vec<Domain>,
    /// Modules, tables and routes in no domain.
    pub unassigned: Vec<String>,
    /// Whole-partition metrics.
    pub metrics: PartitionMetrics,
    /// What crosses a domain boundary, each with a suggested next step.
    pub findings: Vec<Finding>,
    /// The database schema read with `--db`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<Schema>,
}

/// What was read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Inputs {
    pub source: String,
    pub files: usize,
    /// Non-blank lines of the files a frontend read.
    pub lines: usize,
    /// Files per language.
    pub languages: std::collections::BTreeMap<String, usize>,
    /// The database, password masked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// Commits read for co-change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git_commits: Option<usize>,
    /// Requests read from access logs, and how many matched a route.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_log: Option<AccessLogSummary>,
    /// `declared` (from `--domains FILE`) or `proposed` (community detection).
    pub domains: String,
}

/// Requests read from access logs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AccessLogSummary {
    pub requests: u64,
    pub matched: u64,
    /// Lines that were neither combined log format nor JSON.
    pub skipped_lines: u64,
    /// The most frequent paths that matched no route, with their counts.
    pub unmatched: Vec<(String, u64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    Module,
    Route,
    Table,
}

/// A module (package / namespace / file's module), a route, or a table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// `module:<name>`, `route:<METHOD> <path>`, `table:<name>`.
    pub id: String,
    pub kind: NodeKind,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Modules: the files; routes: the handler's file; tables: empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// Modules: non-blank lines.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub lines: usize,
    /// Routes: the handler function.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handler: Option<String>,
    /// Routes: requests counted in access logs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests: Option<u64>,
    /// Tables: whether the live schema has it (`None` without `--db`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_schema: Option<bool>,
    /// Routes: the tables the handler and its callees read / write.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reads: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub writes: Vec<String>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EdgeKind {
    Import,
    Call,
    Read,
    Write,
    ForeignKey,
    CoChange,
    Transaction,
    /// Route → the module of its handler.
    Handles,
}

/// A dependency, with where it was seen and how sure we are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub kind: EdgeKind,
    /// Sites seen (calls, statements), commits weighted by recency, 1 for a key.
    pub weight: f64,
    /// 0..1: 1 for what the code or schema states, less for what was inferred.
    pub confidence: f64,
    /// Up to five places it was seen.
    pub provenance: Vec<Provenance>,
}

/// Where a fact came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Provenance {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// A schema object (`foreign key orders.user_id → users.id`) or a rule
    /// (`naming: user_id → users.id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
}

impl Provenance {
    pub fn at(file: &str, line: usize) -> Self {
        Self {
            file: Some(file.to_owned()),
            line: Some(line),
            ..Self::default()
        }
    }

    /// `file:line`, the commit, or the schema object.
    pub fn describe(&self) -> String {
        match (&self.file, self.line, &self.commit, &self.schema) {
            (Some(f), Some(l), _, _) => format!("{f}:{l}"),
            (Some(f), None, _, _) => f.clone(),
            (_, _, Some(c), _) => format!("commit {c}"),
            (_, _, _, Some(s)) => s.clone(),
            _ => String::new(),
        }
    }
}

/// A function that runs a database transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transaction {
    pub function: String,
    pub file: String,
    pub line: usize,
    /// Routes whose handler reaches this function (`POST /api/orders`).
    pub entry_routes: Vec<String>,
    /// Call path from each entry route's handler to the function (first found).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub call_path: Vec<String>,
    /// Tables read or written inside it, its callees included.
    pub tables: Vec<TableAccess>,
    /// Seed, fixture or test code (by its module's name) that no route
    /// enters: listed here, but never a finding nor a `--check` violation.
    #[serde(default, skip_serializing_if = "is_false")]
    pub support_code: bool,
    /// The domains of those tables, sorted.
    pub domains: Vec<String>,
}

/// One table a transaction touches.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TableAccess {
    pub table: String,
    #[serde(deserialize_with = "access")]
    pub access: Access,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// The first statement seen.
    pub at: String,
}

/// SQL that could not be read completely.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnresolvedSql {
    pub file: String,
    pub line: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    /// The text (first 200 characters).
    pub text: String,
    /// `dynamic` (built at run time), `parse error: …`, or `unknown entity X`.
    pub reason: String,
    /// Tables found anyway by a keyword scan (low confidence).
    pub tables: Vec<String>,
}

/// A domain, with what it holds and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Domain {
    pub name: String,
    pub modules: Vec<String>,
    pub tables: Vec<String>,
    pub routes: Vec<String>,
    /// Why each module, table and route is here.
    pub reasons: Vec<Assignment>,
    pub metrics: DomainMetrics,
}

/// Why an item belongs to a domain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    /// A node id.
    pub item: String,
    pub reason: String,
}

/// Per-domain metrics (docs/analyze.md defines each).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DomainMetrics {
    pub modules: usize,
    pub files: usize,
    pub lines: usize,
    pub functions: usize,
    pub tables: usize,
    pub routes: usize,
    /// Mono2Micro structural cohesiveness: linked file pairs inside / files².
    pub cohesion: f64,
    /// Distinct dependencies from this domain's modules on other domains'
    /// modules and tables.
    pub coupling_out: usize,
    /// Distinct dependencies of other domains' modules on this domain.
    pub coupling_in: usize,
    /// Interface number: file pairs (this domain, another) linked by a call.
    pub ifn: usize,
}

/// Metrics of the whole partition, as Mono2Micro's metric code computes them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PartitionMetrics {
    /// Structural modularity: mean cohesion − mean pairwise coupling (higher is better).
    pub sm: f64,
    /// Interface number: cross-domain linked file pairs / domains (lower is better).
    pub ifn: f64,
    /// Inter-call percentage: share of call sites that cross domains (lower is better).
    pub icp: f64,
    /// Newman modularity of the weighted module/table graph (higher is better).
    pub modularity: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    CrossDomainCall,
    CrossDomainImport,
    CrossDomainRead,
    /// A table written by more than one domain.
    SharedWrite,
    /// A table written by one domain only, which is not the domain owning it.
    ForeignWrite,
    CrossDomainForeignKey,
    /// A transaction touching tables of several domains.
    CrossDomainTransaction,
}

impl FindingKind {
    /// Whether `analyze --check` fails on it: writes, keys and transactions
    /// break a boundary; calls, imports and reads only cost an API.
    pub fn violates_boundary(self) -> bool {
        matches!(
            self,
            Self::SharedWrite
                | Self::ForeignWrite
                | Self::CrossDomainForeignKey
                | Self::CrossDomainTransaction
        )
    }
}

/// Something that crosses a domain boundary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub kind: FindingKind,
    /// The domains involved, the acting one first.
    pub domains: Vec<String>,
    /// What crosses: `crate::orders → crate::points`, `table payments`, …
    pub subject: String,
    pub detail: String,
    pub evidence: Vec<Provenance>,
    /// The suggested next step: API call, event, saga, data ownership move.
    pub suggestion: String,
}

/// `"read"` / `"write"`, as [`Access`] serialises.
fn access<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Access, D::Error> {
    match String::deserialize(d)?.as_str() {
        "read" => Ok(Access::Read),
        "write" => Ok(Access::Write),
        other => Err(serde::de::Error::unknown_variant(other, &["read", "write"])),
    }
}
