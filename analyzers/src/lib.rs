//! Source, SQL, schema, git co-change and access-log analyzers that build the
//! dependency graph, propose or check domains, and report what crosses them
//! (issue #5; `msa-migrate analyze`, docs/analyze.md).
//!
//! The pipeline: [`scan`] the tree into per-file [`facts`] (tree-sitter
//! frontends, in parallel), optionally read the [`schema`], [`git`] co-change
//! and [`access_log`]s, then [`analysis::analyze`] resolves names, parses SQL
//! ([`sql`]), builds the graph, assigns [`domains`] (declared, or proposed by
//! [`community`] detection), and lists findings and metrics as a
//! [`model::Analysis`], which [`report`] renders.

pub mod access_log;
pub mod analysis;
pub mod community;
pub mod domains;
pub mod facts;
mod findings;
pub mod frontends;
pub mod git;
pub mod model;
pub mod report;
pub mod scan;
pub mod schema;
pub mod sql;

pub use analysis::{Extra, analyze};
pub use model::Analysis;
