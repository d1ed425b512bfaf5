//! `msa-migrate playbook check FILE...`: validate playbooks, report every problem.

use anyhow::bail;

use super::files::load;
use crate::Outcome;
use crate::args::PlaybookCheckArgs;

/// `msa-migrate playbook check`.
#[allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "the check's findings are the command's output"
)]
pub(crate) fn check(args: PlaybookCheckArgs) -> anyhow::Result<Outcome> {
    let mut invalid = Vec::new();
    for path in &args.files {
        match load(path) {
            Ok(playbook) => println!(
                "{}: valid: domain {}, {} route(s), {} table(s)",
                path.display(),
                playbook.domain,
                playbook.routes.len(),
                playbook.tables.tables.len()
            ),
            Err(err) => invalid.push(err),
        }
    }
    match invalid.len() {
        0 => Ok(Outcome::Success),
        1 => Err(invalid.remove(0)),
        n => {
            // Every file's problems, then one error for the exit code.
            for err in &invalid {
                eprintln!("error: {err}");
            }
            bail!("{n} of {} playbooks are invalid", args.files.len())
        }
    }
}
