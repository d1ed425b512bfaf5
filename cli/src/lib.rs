//! The `msa-migrate` command line: parse, dispatch to a command, report.
//!
//! Exit codes, the same for every command: 0 success, 1 "not ready" or "found
//! differences" (for gating CI), 2 an error (bad input, a failed step).

mod args;
mod commands;
mod logging;

pub use args::Cli;

/// How a command that ran without error ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done, or the verdict was positive.
    Success,
    /// Ran, and the answer is "no": not ready, differences found. Exit code 1.
    NotReady,
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    commands::run(cli.command)
}

/// Prints an error for a person: `error: …` with its causes, then any `hint: …` line.
#[allow(
    clippy::print_stderr,
    reason = "stderr is where the CLI talks to people"
)]
pub fn report_error(err: &anyhow::Error) {
    eprintln!("error: {err}");
    for cause in err.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
    if let Some(hint) = commands::hint(err) {
        eprintln!("hint: {hint}");
    }
}
