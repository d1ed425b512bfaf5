//! Arguments of `msa-migrate backfill` and `verify` (issue #6).

use std::path::PathBuf;
use std::time::Duration;

/// `msa-migrate backfill`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Passwords: leave them out of the URLs and set MSA_SOURCE_PASSWORD /\n\
    MSA_TARGET_PASSWORD, or write ${VAR} in a URL. They never appear in output.\n\n\
    A checkpoint per table is committed in the target with every chunk: run the same\n\
    command again after an interruption (even kill -9) and it resumes.\n\n\
    Exit code: 0 copied, 2 an error (bad input moves nothing).\n\n\
    Example:\n  msa-migrate backfill --source mysql://app@db:3306/shop --target postgres://coupon@db2/coupon \\\n    \
    --tables coupons,user_coupons --map coupon-map.yaml\n  \
    msa-migrate backfill --playbook playbooks/coupon.yaml --follow"
)]
pub struct BackfillArgs {
    #[command(flatten)]
    pub data: DataArgs,

    /// Ignore checkpoints and copy every table from the start
    #[arg(long)]
    pub restart: bool,

    /// Create missing target tables from the source's DDL, by the documented type
    /// rules (docs/backfill.md); with --dry-run, print the DDL and create nothing
    #[arg(long)]
    pub create_schema: bool,

    /// After the copy, keep applying the source's inserts, updates and deletes
    /// until SIGINT/SIGTERM (an `updated_at` watermark plus a deletion sweep)
    #[arg(long)]
    pub follow: bool,

    /// --follow: the source column every write sets (indexed, same name in each table)
    #[arg(
        long,
        value_name = "COLUMN",
        default_value = "updated_at",
        requires = "follow"
    )]
    pub updated_at: String,

    /// --follow: how far behind the watermark each pass starts (clock skew, late commits)
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = humantime::parse_duration, requires = "follow")]
    pub overlap: Duration,

    /// --follow: pause between passes
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = humantime::parse_duration, requires = "follow")]
    pub follow_interval: Duration,

    /// --follow: target keys checked for deletion per pass (the sweep walks the
    /// whole table, this many keys at a time, and wraps around)
    #[arg(long, value_name = "ROWS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..), requires = "follow")]
    pub sweep_rows: u64,

    /// Print the plan and the type mapping; move nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Workers copying at the same time: tables, and key ranges of a table
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub jobs: usize,

    /// Split each large table into N key ranges at quantile keys, copied by
    /// separate workers, each with its own checkpoint (tables with fewer than
    /// 10,000 rows per range get fewer ranges)
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub ranges: u64,

    /// Read at most this many rows per second from the source, across tables
    #[arg(long, value_name = "N")]
    pub rows_per_second: Option<u64>,

    /// Pause the copy while the source's probe query takes longer than this
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub max_source_latency: Option<Duration>,

    /// The probe query --max-source-latency times, on a connection of its own
    #[arg(
        long,
        value_name = "SQL",
        default_value = "SELECT 1",
        requires = "max_source_latency"
    )]
    pub probe_query: String,

    /// Pause the copy while replication lag is above this: on each --replica,
    /// or on the source itself when it is a replica
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub max_replica_lag: Option<Duration>,

    /// A replica whose lag --max-replica-lag watches (repeat for several; its
    /// password comes from MSA_SOURCE_PASSWORD when the URL has none)
    #[arg(long, value_name = "DSN", requires = "max_replica_lag")]
    pub replica: Vec<String>,

    /// How often the throttle checks run, and run again while paused
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = humantime::parse_duration)]
    pub throttle_interval: Duration,

    /// The time a chunk should take; the chunk size adapts toward it
    #[arg(long, value_name = "DURATION", default_value = "500ms", value_parser = humantime::parse_duration)]
    pub chunk_time: Duration,

    /// Largest chunk, in rows
    #[arg(long, value_name = "ROWS", default_value_t = 50_000)]
    pub max_chunk: usize,

    /// Progress: bars on a terminal (auto), JSON lines on stdout, or none
    #[arg(long, value_enum, default_value_t = Progress::Auto)]
    pub progress: Progress,
}

/// The source, target, tables and mapping: the same for both commands.
#[derive(Debug, clap::Args)]
pub struct DataArgs {
    /// A playbook (playbooks/DOMAIN.yaml): its `data.source`, `data.target`, `tables`
    /// and their mapping stand in for the options below; an option given anyway wins
    #[arg(long, value_name = "FILE")]
    pub playbook: Option<PathBuf>,

    /// The monolith's database: mysql://, mariadb://, postgres:// or sqlite://FILE
    #[arg(long, value_name = "DSN", required_unless_present = "playbook")]
    pub source: Option<String>,

    /// The service's database
    #[arg(long, value_name = "DSN", required_unless_present = "playbook")]
    pub target: Option<String>,

    /// Source tables, comma-separated
    #[arg(
        long,
        value_name = "A,B",
        value_delimiter = ',',
        required_unless_present = "playbook"
    )]
    pub tables: Vec<String>,

    /// Table mapping (YAML): target names, renames, drops, casts, value maps, defaults, filters
    #[arg(long, value_name = "FILE")]
    pub map: Option<PathBuf>,
}

/// How `backfill` shows progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Progress {
    /// Bars on stderr when it is a terminal, else nothing.
    Auto,
    /// Bars on stderr.
    Bar,
    /// One JSON event per line on stdout (stops, the copy going on, if stdout closes).
    Json,
    /// Nothing but the summary.
    None,
}

/// `msa-migrate verify`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Compares by key-range chunks: exact counts, then a hash over canonical rows\n\
    after the mapping, then row by row inside chunks that differ. Each run is recorded\n\
    in the target's msa_verify_runs table (the evidence readiness reads).\n\n\
    Progress is saved in the target after every chunk: run the same command again after\n\
    an interruption (even kill -9) and it resumes; --restart verifies from the start.\n\n\
    Exit code: 0 identical, 1 differences found (after --repair: differences left), 2 an error.\n\n\
    Example:\n  msa-migrate verify --source mysql://app@db:3306/shop --target postgres://coupon@db2/coupon \\\n    \
    --tables coupons,user_coupons --map coupon-map.yaml --repair\n  \
    msa-migrate verify --playbook playbooks/coupon.yaml"
)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub data: DataArgs,

    /// Re-copy exactly the mismatched rows, delete extra ones, and verify them again
    #[arg(long)]
    pub repair: bool,

    /// Ignore the progress an interrupted verify saved and verify from the start
    #[arg(long)]
    pub restart: bool,

    /// Output format
    #[arg(long, value_enum, default_value_t = VerifyFormat::Table)]
    pub format: VerifyFormat,

    /// Rows per compared chunk
    #[arg(long, value_name = "ROWS", default_value_t = 10_000)]
    pub chunk_rows: usize,

    /// The time a key range hashed in SQL should take (same engine, one
    /// integer key); ranges grow or shrink toward it, 0 keeps ten chunks
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = humantime::parse_duration)]
    pub range_time: Duration,

    /// Tables verified at the same time
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub jobs: usize,
}

/// How `verify` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VerifyFormat {
    /// Aligned lines for people.
    Table,
    /// The full report as JSON.
    Json,
}

impl Progress {
    /// Whether events go to stdout as JSON lines.
    pub fn is_json(self) -> bool {
        self == Self::Json
    }

    /// Whether bars are drawn, given whether stderr is a terminal.
    pub fn bars(self, terminal: bool) -> bool {
        self == Self::Bar || self == Self::Auto && terminal
    }
}

impl VerifyFormat {
    /// Whether the report is printed as JSON.
    pub fn is_json(self) -> bool {
        self == Self::Json
    }
}
