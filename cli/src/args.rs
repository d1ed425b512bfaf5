//! Raw command-line arguments: clap types only, no validation beyond clap's.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

mod analyze;
mod data;
mod demo;
mod playbook;
mod rollout;

pub(crate) use analyze::AnalyzeArgs;
pub(crate) use data::{BackfillArgs, DataArgs, VerifyArgs};
pub(crate) use demo::DemoArgs;
pub(crate) use playbook::{PlanArgs, PlaybookCheckArgs, PlaybookCommand, ReadinessArgs};
pub(crate) use rollout::{CanaryArgs, CutoverArgs, RollbackArgs};

/// Move a live monolith to microservices one domain at a time, with evidence at
/// every step and a rollback always one command away.
#[derive(Debug, Parser)]
#[command(
    name = "msa-migrate",
    version,
    propagate_version = true,
    after_help = "Exit codes, the same for every command: 0 success; 1 the answer is no (not ready,\n\
    differences found, boundaries broken, a canary rolled back); 2 an error, told on stderr as\n\
    `error: …` and, when there is something to do about it, `hint: …`.\n\n\
    Examples:\n  \
    msa-migrate demo                       # the whole path on the bundled example monolith\n  \
    msa-migrate analyze --source ./monolith --db mysql://app@db:3306/shop --out analysis/\n  \
    msa-migrate readiness coupon --admin http://127.0.0.1:9901 --explain\n  \
    msa-migrate help canary                # any command's options, examples and exit codes\n\n\
    Guides and one page per command: docs/README.md in the source repository."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The commands, in the order a migration uses them.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Map the monolith's code, database, history and traffic; propose domain boundaries.
    Analyze(AnalyzeArgs),
    /// Write a first playbook for one domain from an analysis.
    Plan(PlanArgs),
    /// Check a playbook: every problem at once, with file, line, field and fix.
    #[command(
        subcommand,
        after_help = "Exit code: 0 every file valid, 2 any problem (each listed with file,\n\
        line and field).\n\n\
        Examples:\n  msa-migrate playbook check playbooks/*.yaml\n  \
        msa-migrate playbook check playbooks/*.yaml --format json"
    )]
    Playbook(PlaybookCommand),
    /// Copy a domain's tables to the new service's database, with checkpoints and catch-up.
    Backfill(BackfillArgs),
    /// Prove the copy is exact: chunk checksums, then row diffs; optionally repair.
    Verify(VerifyArgs),
    /// Run the strangler proxy in front of the monolith.
    Proxy(ProxyArgs),
    /// Shadow traffic: how the new service's answers differ from the monolith's.
    #[command(
        subcommand,
        after_help = "`report` and `suggest-rules` read what the proxy recorded in its shadow store\n\
        (`state.shadow_store`); `diff` compares two saved answers offline.\n\n\
        Exit code: 0 equal or fully matched, 1 differences found, 2 an error.\n\n\
        Examples:\n  msa-migrate shadow report --store msa-shadow.db\n  \
        msa-migrate shadow suggest-rules coupon-read --store msa-shadow.db --out coupon-rules.yaml\n  \
        msa-migrate shadow diff --legacy legacy.http --candidate coupon.http"
    )]
    Shadow(ShadowCommand),
    /// Move a domain's routes through canary steps, judged by gates, rolling back on failure.
    Canary(CanaryArgs),
    /// Go / no-go per domain, with the evidence behind it; exit code 1 when not ready.
    Readiness(ReadinessArgs),
    /// Send all of a domain's traffic to the new service (audited).
    Cutover(CutoverArgs),
    /// Send a domain's traffic back to the monolith, instantly (audited).
    Rollback(RollbackArgs),
    /// Walk the whole path on the bundled example monolith.
    Demo(DemoArgs),
    /// Print a shell completion script.
    #[command(after_help = "Exit code: 0 printed, 2 a shell it does not know.\n\n\
        Example:\n  msa-migrate completions bash > /etc/bash_completion.d/msa-migrate\n  \
        msa-migrate completions zsh > \"${fpath[1]}/_msa-migrate\"")]
    Completions(CompletionsArgs),
    /// Write the man pages: one for msa-migrate and one per command.
    #[command(
        after_help = "Exit code: 0 written, 2 the directory cannot be written.\n\n\
        Example:\n  msa-migrate man --out /usr/local/share/man/man1"
    )]
    Man(ManArgs),
}

/// `msa-migrate completions`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `msa-migrate man`.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// The directory to write `msa-migrate.1` and `msa-migrate-COMMAND.1` into (created if missing)
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// `msa-migrate proxy`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit code: 0 stopped cleanly (SIGTERM, Ctrl-C: in-flight requests finish first) or,\n\
    with --check, a valid file; 2 an invalid file (every problem listed) or a listener that\n\
    cannot bind.\n\n\
    Example:\n  msa-migrate proxy --config proxy.yaml\n  msa-migrate proxy --config proxy.yaml --check"
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
    /// Report what shadow traffic found, per route, template and field path.
    #[command(
        after_help = "Reads the proxy's shadow store (`state.shadow_store`, by default msa-shadow.db\n\
        beside the proxy's configuration). A route with several templates (a `prefix` route's\n\
        are inferred from its paths) has a row for each under it. Instead of a route, name a\n\
        template, with or without its method, or a request path: the templates it falls under.\n\
        Exit code: 0 when every reported route (or template) matched fully, 1 when any\n\
        differs, 2 on error.\n\n\
        Examples:\n  msa-migrate shadow report coupon-read --store msa-shadow.db --format md\n  \
        msa-migrate shadow report 'POST /api/coupons/{id}/issue' --store msa-shadow.db"
    )]
    Report(ShadowReportArgs),
    /// Suggest rules for the differences shadow traffic found, for a person to accept.
    #[command(
        after_help = "Reads the proxy's shadow store and writes YAML in the `rules` vocabulary, each\n\
        rule with the evidence behind it as a comment (--format json: the same as data).\n\
        Nothing is applied: review the file, then put the rules you accept under the\n\
        route's `shadow.rules`.\n\n\
        Exit code: 0 written, 2 an error (no store, no results for the route).\n\n\
        Examples:\n  msa-migrate shadow suggest-rules coupon-read --store msa-shadow.db --out coupon-rules.yaml\n  \
        msa-migrate shadow suggest-rules coupon-read --playbook playbooks/coupon.yaml --format json"
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
    /// Only this route; or only the templates this names: `GET /api/coupons/{id}`,
    /// `/api/coupons/{id}` (every method), or a request path such as `/api/coupons/17`
    pub route: Option<String>,

    /// Only the routes this playbook claims, grouped under its domain; a
    /// route with no results yet is listed and makes the exit code 1
    #[arg(long, value_name = "FILE")]
    pub playbook: Option<PathBuf>,

    /// The proxy's shadow store: a SQLite file, or a postgres:// URL (password in PGPASSWORD)
    #[arg(long, value_name = "FILE|URL", default_value = "msa-shadow.db")]
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

    /// The playbook claiming the route: the rules it already gives the route
    /// are kept in the output and not suggested again
    #[arg(long, value_name = "FILE")]
    pub playbook: Option<PathBuf>,

    /// The proxy's shadow store: a SQLite file, or a postgres:// URL (password in PGPASSWORD)
    #[arg(long, value_name = "FILE|URL", default_value = "msa-shadow.db")]
    pub store: PathBuf,

    /// Write the suggestions here instead of to stdout
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Output format
    #[arg(long, value_enum, default_value_t = SuggestFormat::Yaml)]
    pub format: SuggestFormat,
}

/// How `shadow suggest-rules` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SuggestFormat {
    /// The rules, each with its evidence as a comment, to review and paste.
    Yaml,
    /// The rule set, the evidence per rule and what no rule should hide, for scripts.
    Json,
}

/// How `playbook check`, `canary status`, `canary promote|pause|resume|abort`,
/// `cutover` and `rollback` print their one result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    /// Lines for people.
    #[default]
    Text,
    /// One JSON document on stdout, for scripts (the shapes: docs/canary.md, docs/playbook.md).
    Json,
}

impl OutputFormat {
    /// Whether the result is printed as JSON.
    pub fn is_json(self) -> bool {
        self == Self::Json
    }
}
