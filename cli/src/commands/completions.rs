//! `msa-migrate completions` and `msa-migrate man`: generated from the clap
//! definitions, so they never drift from the real arguments.

use std::path::Path;

use anyhow::Context;
use clap::CommandFactory;

use crate::Outcome;
use crate::args::{Cli, CompletionsArgs, ManArgs};

/// Prints the completion script for one shell.
pub(crate) fn completions(args: &CompletionsArgs) -> anyhow::Result<Outcome> {
    let mut command = Cli::command();
    clap_complete::generate(
        args.shell,
        &mut command,
        "msa-migrate",
        &mut std::io::stdout(),
    );
    Ok(Outcome::Success)
}

/// Writes one man page per command, named as `man` finds them.
pub(crate) fn man(args: &ManArgs) -> anyhow::Result<Outcome> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let command = Cli::command();
    write_page(&args.out, "msa-migrate", command.clone())?;
    for sub in command.get_subcommands() {
        let name = format!("msa-migrate-{}", sub.get_name());
        write_page(&args.out, &name, sub.clone().name(name.clone()))?;
    }
    Ok(Outcome::Success)
}

fn write_page(dir: &Path, name: &str, command: clap::Command) -> anyhow::Result<()> {
    let mut page = Vec::new();
    clap_mangen::Man::new(command)
        .title(name)
        .render(&mut page)?;
    // Written beside, then renamed: an interrupted run leaves no half page.
    let path = dir.join(format!("{name}.1"));
    let partial = dir.join(format!(".{name}.1.partial"));
    std::fs::write(&partial, page)
        .with_context(|| format!("cannot write {}", partial.display()))?;
    std::fs::rename(&partial, &path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
