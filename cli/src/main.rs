use std::process::ExitCode;

use clap::Parser;
use msa_cli::{Cli, Outcome};

// jemalloc keeps its bookkeeping apart from the memory it hands out, so a
// buffer's untouched pages stay untouched: an idle keep-alive connection's
// 8 KiB buffers cost the one page each that holds data (glibc's in-band chunk
// headers touch both ends of every chunk).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match msa_cli::run(cli) {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::NotReady) => ExitCode::from(1),
        Err(err) => {
            msa_cli::report_error(&err);
            ExitCode::from(2)
        }
    }
}
