//! One module per command; this one dispatches.

mod analyze;
mod clock;
mod completions;
mod data;
mod demo;
mod playbook;
mod proxy;
mod rollout;
mod runtime;
mod shadow;

use crate::Outcome;
use crate::args::Command;

/// Dispatches a parsed command.
pub(crate) fn run(command: Command) -> anyhow::Result<Outcome> {
    use crate::args::{PlaybookCommand, ShadowCommand};
    match command {
        Command::Analyze(args) => analyze::run(args),
        Command::Plan(args) => playbook::plan(args),
        Command::Playbook(PlaybookCommand::Check(args)) => playbook::check(args),
        Command::Backfill(args) => data::backfill(args),
        Command::Verify(args) => data::verify(args),
        Command::Proxy(args) => proxy::run(args),
        Command::Shadow(ShadowCommand::Diff(args)) => shadow::diff(&args),
        Command::Shadow(ShadowCommand::Report(args)) => shadow::report(&args),
        Command::Shadow(ShadowCommand::SuggestRules(args)) => shadow::suggest_rules(&args),
        Command::Canary(args) => rollout::canary(args),
        Command::Readiness(args) => playbook::readiness(args),
        Command::Cutover(args) => rollout::cutover(args),
        Command::Rollback(args) => rollout::rollback(args),
        Command::Completions(args) => completions::completions(&args),
        Command::Man(args) => completions::man(&args),
        Command::Demo(args) => demo::run(args),
    }
}

/// What to do next about an error, when we know.
pub(crate) fn hint(err: &anyhow::Error) -> Option<String> {
    if err.downcast_ref::<playbook::InvalidPlaybook>().is_some() {
        return Some(
            "fix the file (reference: docs/playbook.md), then: msa-migrate playbook check FILE"
                .to_owned(),
        );
    }
    err.downcast_ref::<msa_proxy::ConfigError>().map(|_| {
        "fix the file, then check it without starting: msa-migrate proxy --config FILE --check"
            .to_owned()
    })
}
