//! One module per command; this one dispatches.

mod proxy;
mod shadow;

use std::fmt;

use crate::Outcome;
use crate::args::Command;

/// Dispatches a parsed command.
pub(crate) fn run(command: Command) -> anyhow::Result<Outcome> {
    let (name, issue) = match command {
        Command::Analyze(_) => ("analyze", 5),
        Command::Plan(_) => ("plan", 7),
        Command::Backfill(_) => ("backfill", 6),
        Command::Verify(_) => ("verify", 6),
        Command::Proxy(args) => return proxy::run(args),
        Command::Shadow(crate::args::ShadowCommand::Diff(args)) => return shadow::diff(&args),
        Command::Shadow(crate::args::ShadowCommand::Report(args)) => return shadow::report(&args),
        Command::Shadow(crate::args::ShadowCommand::SuggestRules(args)) => {
            return shadow::suggest_rules(&args);
        }
        Command::Canary(_) => ("canary", 7),
        Command::Readiness(_) => ("readiness", 7),
        Command::Cutover(_) => ("cutover", 7),
        Command::Rollback(_) => ("rollback", 7),
        Command::Demo(_) => ("demo", 8),
    };
    Err(NotBuilt {
        command: name,
        issue,
    }
    .into())
}

/// A command that the CLI lists but that is not built yet.
#[derive(Debug)]
pub(crate) struct NotBuilt {
    command: &'static str,
    issue: u32,
}

impl NotBuilt {
    pub(crate) fn hint(&self) -> String {
        format!(
            "it is tracked in issue #{}; until then, nothing is run and nothing is written",
            self.issue
        )
    }
}

impl fmt::Display for NotBuilt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`msa-migrate {}` is not built yet", self.command)
    }
}

impl std::error::Error for NotBuilt {}

/// What to do next about an error, when we know.
pub(crate) fn hint(err: &anyhow::Error) -> Option<String> {
    if let Some(not_built) = err.downcast_ref::<NotBuilt>() {
        return Some(not_built.hint());
    }
    err.downcast_ref::<msa_proxy::ConfigError>().map(|_| {
        "fix the file, then check it without starting: msa-migrate proxy --config FILE --check"
            .to_owned()
    })
}
