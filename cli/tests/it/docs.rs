//! The docs cannot drift from the commands: every (sub)command, walked from
//! the clap definitions, has examples and its exit codes in its `--help`.

use std::collections::BTreeSet;
use std::process::Command;

use clap::CommandFactory;

/// Every command path below `msa-migrate`, depth first: `["shadow", "report"]`.
fn command_paths() -> Vec<Vec<String>> {
    fn walk(command: &clap::Command, prefix: &[String], out: &mut Vec<Vec<String>>) {
        for sub in command.get_subcommands() {
            if sub.get_name() == "help" {
                continue;
            }
            let mut path = prefix.to_vec();
            path.push(sub.get_name().to_owned());
            out.push(path.clone());
            walk(sub, &path, out);
        }
    }
    let mut out = Vec::new();
    walk(&msa_cli::Cli::command(), &[], &mut out);
    out
}

fn help(path: &[String]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_msa-migrate"))
        .args(path)
        .arg("--help")
        .env_remove("COLUMNS")
        .output()
        .expect("msa-migrate runs");
    assert!(out.status.success(), "{path:?} --help failed");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_tree_is_walked() {
    let paths: BTreeSet<String> = command_paths().iter().map(|p| p.join(" ")).collect();
    for expected in ["analyze", "shadow suggest-rules", "canary status", "man"] {
        assert!(paths.contains(expected), "{expected} missing: {paths:?}");
    }
}

#[test]
fn every_command_shows_examples_and_exit_codes_in_its_help() {
    let mut missing = Vec::new();
    for path in std::iter::once(Vec::new()).chain(command_paths()) {
        let name = format!("msa-migrate {}", path.join(" "));
        let text = help(&path);
        if !text.contains("\nExample:\n") && !text.contains("\nExamples:\n") {
            missing.push(format!("{name}: no `Example:` section"));
        }
        if !text.contains("Exit code") {
            missing.push(format!("{name}: no `Exit code` text"));
        }
        // Examples are whole command lines: a long one is continued with `\`,
        // never wrapped by clap in the middle of an argument.
        let examples = text.split_once("\nExample").map_or("", |(_, rest)| {
            rest.split_once("\n\n").map_or(rest, |(e, _)| e)
        });
        let mut continued = false;
        for line in examples.lines().skip(1) {
            let ok = line.starts_with("  msa-migrate ") || continued && line.starts_with("    ");
            if !ok {
                missing.push(format!("{name}: a wrapped example line: {line:?}"));
            }
            continued = line.ends_with('\\');
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}
