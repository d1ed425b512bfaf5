//! Arguments of `msa-migrate analyze` (issue #5).

use std::path::PathBuf;

/// `msa-migrate analyze`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Writes analysis.json, domains.yaml, report.md and report.html into --out.\n\
    Exit code: 0 when it ran; with --check, 1 when the code breaks the declared\n\
    boundaries (cross-domain writes, foreign keys or transactions); 2 on error.\n\n\
    Examples:\n  \
    msa-migrate analyze --source ./monolith --db mysql://root@127.0.0.1:3306/shop --git \\\n      \
    --out analysis/\n  \
    msa-migrate analyze --source ./monolith --domains domains.yaml --check \\\n      \
    --baseline analysis/analysis.json\n  \
    msa-migrate analyze --source ./monolith --format json > analysis.json"
)]
pub struct AnalyzeArgs {
    /// The monolith's source tree
    #[arg(long, value_name = "DIR")]
    pub source: PathBuf,

    /// Read the live schema: sqlite://FILE, postgres://USER@HOST:PORT/DB or mysql://USER@HOST:PORT/DB
    #[arg(
        long,
        value_name = "DSN",
        env = "MSA_ANALYZE_DB",
        hide_env_values = true
    )]
    pub db: Option<String>,

    /// Weigh files changed in the same commits together (git history of --source)
    #[arg(long)]
    pub git: bool,

    /// With --git: read at most this many commits, newest first
    #[arg(long, value_name = "N", default_value_t = 2000)]
    pub git_max_commits: usize,

    /// Count requests per route from an access log (combined log format or JSON lines); repeatable
    #[arg(long, value_name = "FILE")]
    pub access_log: Vec<PathBuf>,

    /// The team's domains (domains.yaml); without it, domains are proposed
    #[arg(long, value_name = "FILE")]
    pub domains: Option<PathBuf>,

    /// Exit 1 when the code breaks the boundaries of --domains (cross-domain
    /// writes, foreign keys or transactions), listing them
    #[arg(long, requires = "domains")]
    pub check: bool,

    /// With --check: a previous analysis.json; violations it already lists are
    /// reported as known and do not fail the check (only new ones do)
    #[arg(long, value_name = "FILE", requires = "check")]
    pub baseline: Option<PathBuf>,

    /// Write analysis.json, domains.yaml, report.md and report.html here
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// What to print on stdout
    #[arg(long, value_enum, default_value_t = AnalyzeFormat::Summary)]
    pub format: AnalyzeFormat,
}

/// How `analyze` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AnalyzeFormat {
    /// A short summary for people.
    Summary,
    /// The whole analysis.json, for scripts.
    Json,
}

impl AnalyzeArgs {
    /// Whether stdout gets the whole analysis as JSON.
    pub(crate) fn format_is_json(&self) -> bool {
        self.format == AnalyzeFormat::Json
    }
}
