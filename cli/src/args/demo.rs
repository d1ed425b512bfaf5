//! Arguments of `msa-migrate demo` (issue #8).

use std::path::PathBuf;

/// `msa-migrate demo`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Starts the example monolith, the coupon service and the proxy on free loopback\n\
    ports, drives traffic through the proxy, and walks the whole path, running each real\n\
    command as a child process and showing it: analyze, plan, backfill, verify, shadow,\n\
    canary, readiness, cutover, a rollback rehearsal, coupon issuing running through all of\n\
    it. Writes demo-summary.json (what the traffic was answered) in the work directory.\n\
    Keeps serving until Ctrl-C.\n\n\
    Exit code: 0 the path completed, 2 a bad --db or a step failed (named, with the command\n\
    to run by hand).\n\n\
    Examples:\n  msa-migrate demo\n  msa-migrate demo --dir /tmp/msa-demo --exit\n  \
    msa-migrate demo --db postgres://postgres@127.0.0.1:5432"
)]
pub struct DemoArgs {
    /// The work directory: databases, proxy.yaml, playbooks/, analysis/, state (default: a new
    /// temporary directory, printed and kept)
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// Run on a database server instead of SQLite: postgres://USER@HOST:PORT or
    /// mysql://USER@HOST:PORT (MariaDB); two new databases are created there and kept
    #[arg(long, value_name = "URL")]
    pub db: Option<String>,

    /// Users and products in the seeded monolith
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub users: u32,

    /// Stop at the end instead of serving until Ctrl-C (for tests and scripts)
    #[arg(long)]
    pub exit: bool,
}
