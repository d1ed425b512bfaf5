//! Raw command-line arguments: clap types only, no validation beyond clap's.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

/// Move a live monolith to microservices one domain at a time, with evidence at
/// every step and a rollback always one command away.
#[derive(Debug, Parser)]
#[command(name = "msa-migrate", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The commands, in the order a migration uses them.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Map the monolith's code, database, history and traffic; propose domain boundaries.
    Analyze(Pending),
    /// Write a first playbook for one domain from an analysis.
    Plan(Pending),
    /// Copy a domain's tables to the new service's database, with checkpoints and catch-up.
    Backfill(Pending),
    /// Prove the copy is exact: chunk checksums, then row diffs; optionally repair.
    Verify(Pending),
    /// Run the strangler proxy in front of the monolith.
    Proxy(ProxyArgs),
    /// Shadow traffic: how the new service's answers differ from the monolith's.
    #[command(subcommand)]
    Shadow(ShadowCommand),
    /// Move a domain's routes through canary steps, judged by gates, rolling back on failure.
    Canary(Pending),
    /// Go / no-go per domain, with the evidence behind it; exit code 1 when not ready.
    Readiness(Pending),
    /// Send all of a domain's traffic to the new service (audited).
    Cutover(Pending),
    /// Send a domain's traffic back to the monolith, instantly (audited).
    Rollback(Pending),
    /// Walk the whole path on the bundled example monolith.
    Demo(Pending),
}

/// Arguments of a command that is not built yet: accepted and ignored, so the
/// answer is always "not built yet", never a misleading usage error.
#[derive(Debug, clap::Args)]
pub struct Pending {
    #[arg(hide = true, trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    pub ignored: Vec<String>,
}

/// `msa-migrate proxy`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  msa-migrate proxy --config proxy.yaml\n  msa-migrate proxy --config proxy.yaml --check"
)]
pub struct ProxyArgs {
    /// The proxy's configuration (YAML; see docs/proxy.md)
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,

    /// Validate the configuration and exit: 0 when valid, 2 listing every problem
    #[arg(long)]
    pub check: bool,

    /// On SIGTERM or Ctrl-C, how long in-flight requests may take to finish
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    pub drain_timeout: Duration,

    /// Log as JSON lines instead of text
    #[arg(long)]
    pub log_json: bool,
}

/// `msa-migrate shadow …`.
#[derive(Debug, Subcommand)]
pub enum ShadowCommand {
    /// Compare two saved responses offline, as the proxy compares shadowed pairs.
    #[command(
        after_help = "Each file is a raw HTTP response (`HTTP/1.1 200 OK`, headers, an empty line,\n\
        the body) or a bare body. Exit code: 0 equal, 1 different or not comparable, 2 an error.\n\n\
        Example:\n  msa-migrate shadow diff --legacy legacy.http --candidate coupon.http --rules rules.yaml"
    )]
    Diff(ShadowDiffArgs),
    /// Report what shadow traffic found, per route and field path.
    #[command(
        after_help = "Reads the proxy's shadow store (`state.shadow_store`, by default msa-shadow.db\n\
        beside the proxy's configuration). Exit code: 0 when every reported route matched\n\
        fully, 1 when any differs, 2 on error.\n\n\
        Example:\n  msa-migrate shadow report coupon-read --store msa-shadow.db --format md"
    )]
    Report(ShadowReportArgs),
    /// Suggest rules for the differences shadow traffic found, for a person to accept.
    #[command(
        after_help = "Reads the proxy's shadow store and writes YAML in the `rules` vocabulary, each\n\
        rule with the evidence behind it as a comment. Nothing is applied: review the file,\n\
        then put the rules you accept under the route's `shadow.rules`.\n\n\
        Example:\n  msa-migrate shadow suggest-rules coupon-read --store msa-shadow.db --out coupon-rules.yaml"
    )]
    SuggestRules(SuggestRulesArgs),
}

/// `msa-migrate shadow diff`.
#[derive(Debug, clap::Args)]
pub struct ShadowDiffArgs {
    /// The monolith's answer
    #[arg(long, value_name = "FILE")]
    pub legacy: PathBuf,

    /// The new service's answer
    #[arg(long, value_name = "FILE")]
    pub candidate: PathBuf,

    /// Comparison rules (YAML, the playbooks' `rules` vocabulary); strict without
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,

    /// Output format
    #[arg(long, value_enum, default_value_t = DiffFormat::Table)]
    pub format: DiffFormat,
}

/// How `shadow diff` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffFormat {
    /// Aligned columns for people.
    Table,
    /// The full comparison as JSON, for scripts.
    Json,
}

/// `msa-migrate shadow report`.
#[derive(Debug, clap::Args)]
pub struct ShadowReportArgs {
    /// Only this route
    pub route: Option<String>,

    /// The proxy's shadow store (SQLite)
    #[arg(long, value_name = "FILE", default_value = "msa-shadow.db")]
    pub store: PathBuf,

    /// Output format
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
}

/// How `shadow report` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// Aligned columns for people.
    Table,
    /// The report as JSON, for scripts.
    Json,
    /// A Markdown document, for a pull request or a runbook.
    Md,
    /// A self-contained HTML page, with each field's redacted examples.
    Html,
}

/// `msa-migrate shadow suggest-rules`.
#[derive(Debug, clap::Args)]
pub struct SuggestRulesArgs {
    /// The route to suggest rules for
    pub route: String,

    /// The proxy's shadow store (SQLite)
    #[arg(long, value_name = "FILE", default_value = "msa-shadow.db")]
    pub store: PathBuf,

    /// Write the suggestions here instead of to stdout
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}
