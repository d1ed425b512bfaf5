//! Arguments of `msa-migrate plan`, `playbook` and `readiness` (issue #7).

use std::path::PathBuf;

use super::{OutputFormat, ReportFormat};

/// `msa-migrate plan`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Reads DIR/analysis.json (written by `msa-migrate analyze --out DIR`)\n\
    and writes a playbook with the domain's routes and tables; review it (route\n\
    names must match the proxy configuration's), then `msa-migrate playbook\n\
    check` it.\n\n\
    Exit code: 0 written, 2 an error (no analysis.json, a domain it does not\n\
    know, --out exists and no --force).\n\n\
    Example:\n  \
    msa-migrate plan --analysis analysis/ --domain coupon \\\n      \
    --out playbooks/coupon.yaml"
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
    after_help = "Gates: coupling (--analysis), data (the playbook's target database:\n\
    verify runs and catch-up checkpoints), behaviour (--shadow-store),\n\
    performance (--admin, summed over every replica, or --metrics), stage\n\
    (--state, else --admin). Each is pass, fail, inconclusive or no_data; a\n\
    critical gate that does not pass makes the domain not ready. Every verdict\n\
    is appended, with its inputs, to --log.\n\n\
    Exit code: 0 every domain ready, 1 any not ready, 2 an error.\n\n\
    Example:\n  \
    msa-migrate readiness coupon --state postgres://msa@db/msa \\\n      \
    --admin http://10.0.0.5:9901 --admin http://10.0.0.6:9901 \\\n      \
    --shadow-store msa-shadow.db --analysis analysis/ --explain"
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

    /// A proxy's admin API, for metrics (GET /metrics, summed over replicas) and routes
    /// (GET /routes); repeat for every replica
    #[arg(long = "admin", value_name = "URL")]
    pub admins: Vec<String>,

    /// The state store the proxies follow, for route stages: a state file, or
    /// postgres://USER@HOST/DB (password in PGPASSWORD)
    #[arg(long, value_name = "DSN|FILE", env = "MSA_STATE")]
    pub state: Option<String>,

    /// Saved Prometheus text of a proxy's /metrics, instead of --admin; repeat for every replica
    #[arg(long, value_name = "FILE")]
    pub metrics: Vec<PathBuf>,

    /// The proxy's shadow store (SQLite file or postgres:// URL)
    #[arg(long, value_name = "FILE")]
    pub shadow_store: Option<PathBuf>,

    /// The directory `analyze --out` wrote (analysis.json)
    #[arg(long, value_name = "DIR")]
    pub analysis: Option<PathBuf>,

    /// The readiness log: every verdict is appended to it, `--last` reads it
    #[arg(
        long,
        value_name = "FILE",
        env = "MSA_READINESS_LOG",
        default_value = ".msa/readiness-log.jsonl"
    )]
    pub log: PathBuf,

    /// Do not connect to the databases: the data gate reports no_data
    #[arg(long)]
    pub no_data: bool,
}

/// `msa-migrate playbook …`.
#[derive(Debug, clap::Subcommand)]
pub enum PlaybookCommand {
    /// Validate playbooks and list every problem.
    #[command(
        after_help = "Exit code: 0 when every file is valid, 2 listing every problem of\n\
        every file (file:line: field: what is wrong and how to fix it). With\n\
        --format json, stdout has every file with its problems as one JSON object.\n\n\
        Examples:\n  msa-migrate playbook check playbooks/*.yaml\n  \
        msa-migrate playbook check playbooks/*.yaml --format json"
    )]
    Check(PlaybookCheckArgs),
}

/// `msa-migrate playbook check`.
#[derive(Debug, clap::Args)]
pub struct PlaybookCheckArgs {
    /// The playbooks to check
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Output format: text (valid files on stdout, problems on stderr), or json (every
    /// file with its problems, on stdout)
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}
