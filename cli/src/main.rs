use std::process::ExitCode;

use clap::Parser;
use msa_cli::{Cli, Outcome};

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
