//! Arguments of `msa-migrate plan`, `playbook` and `readiness` (issue #7).

use std::path::PathBuf;

use super::ReportFormat;

/// `msa-migrate plan`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Reads DIR/analysis.json (written by `msa-migrate analyze --out DIR`) and writes a\n\
    playbook with the domain's routes and tables; review it (route names must match the\n\
    proxy configuration's), then `msa-migrate playbook check` it.\n\n\
    Exit code: 0 written, 2 an error (no analysis.json, a domain it does not know, --out\n\
    exists and no --force).\n\n\
    Example:\n  msa-migrate plan --analysis analysis/ --domain coupon --out playbooks/coupon.yaml"
)]
pub struct PlanArgs {
    /// The directory `analyze --out` wrote
    #[arg(long, value_name = "DIR")]
    pub analysis: PathBuf,

    /// The domain to write a playbook for
    #[arg(long, value_name = "NAME")]
    pub domain: String,

    /// Where to write it; stdout when omitted. An existing file is not overwritten
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Overwrite --out if it exists
    #[arg(long)]
    pub force: bool,
}

/// `msa-migrate readiness`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Gates: coupling (--analysis), data (the playbook's target database: verify runs\n\
    and catch-up checkpoints), behaviour (--shadow-store), performance (--admin or --metrics),\n\
    stage (--admin or --state). Each is pass, fail, inconclusive or no_data; a critical gate\n\
    that does not pass makes the domain not ready. Every verdict is appended, with its\n\
    inputs, to readiness-log.jsonl (in --state-dir, else beside the playbooks).\n\n\
    Exit code: 0 every domain ready, 1 any not ready, 2 an error.\n\n\
    Example:\n  msa-migrate readiness coupon --admin http://127.0.0.1:9901 --shadow-store msa-shadow.db \\\n    --analysis analysis/ --explain"
)]
pub struct ReadinessArgs {
    /// The domain; every playbook in --playbooks when omitted
    pub domain: Option<String>,

    /// The directory of playbooks (`<domain>.yaml`)
    #[arg(long, value_name = "DIR", default_value = "playbooks")]
    pub playbooks: PathBuf,

    /// Output format
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,

    /// Show every judgement's reasons and the numbers behind it
    #[arg(long)]
    pub explain: bool,

    /// Show the last stored verdict from the readiness log instead of gathering evidence
    #[arg(long)]
    pub last: bool,

    /// The proxy's admin API, for route stages (GET /routes) and metrics (GET /metrics)
    #[arg(long, value_name = "URL")]
    pub admin: Option<String>,

    /// The proxy's state file, for route stages without the admin API
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,

    /// Saved Prometheus text of the proxy's /metrics, instead of --admin
    #[arg(long, value_name = "FILE")]
    pub metrics: Option<PathBuf>,

    /// The proxy's shadow store (SQLite file or postgres:// URL)
    #[arg(long, value_name = "FILE")]
    pub shadow_store: Option<PathBuf>,

    /// The directory `analyze --out` wrote (analysis.json)
    #[arg(long, value_name = "DIR")]
    pub analysis: Option<PathBuf>,

    /// Where readiness-log.jsonl is kept (default: the playbooks directory)
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// Do not connect to the databases: the data gate reports no_data
    #[arg(long)]
    pub no_data: bool,
}

/// `msa-migrate playbook …`.
#[derive(Debug, clap::Subcommand)]
pub enum PlaybookCommand {
    /// Validate playbooks and list every problem.
    #[command(
        after_help = "Exit code: 0 when every file is valid, 2 listing every problem of every file\n\
        (file:line: field: what is wrong and how to fix it).\n\n\
        Example:\n  msa-migrate playbook check playbooks/*.yaml"
    )]
    Check(PlaybookCheckArgs),
}

/// `msa-migrate playbook check`.
#[derive(Debug, clap::Args)]
pub struct PlaybookCheckArgs {
    /// The playbooks to check
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}
