//! The `msa-migrate` binary as a user runs it.

use std::process::{Command, Output};

const COMMANDS: [&str; 11] = [
    "analyze",
    "plan",
    "backfill",
    "verify",
    "proxy",
    "shadow",
    "canary",
    "readiness",
    "cutover",
    "rollback",
    "demo",
];

fn msa_migrate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_msa-migrate"))
        .args(args)
        .output()
        .expect("msa-migrate runs")
}

#[test]
fn help_lists_every_command_of_the_design() {
    let out = msa_migrate(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for command in COMMANDS {
        assert!(
            help.contains(&format!("  {command} ")),
            "`{command}` missing from:\n{help}"
        );
    }
}

#[test]
fn unbuilt_commands_say_so_and_exit_2_whatever_their_arguments() {
    for command in COMMANDS {
        if command == "proxy" {
            continue;
        }
        let out = msa_migrate(&[command, "--config", "proxy.yaml", "coupon"]);
        assert_eq!(out.status.code(), Some(2), "{command}");
        assert!(
            out.stdout.is_empty(),
            "{command} printed output: no fake results"
        );
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(
            stderr.starts_with(&format!(
                "error: `msa-migrate {command}` is not built yet\nhint: "
            )),
            "{stderr}"
        );
    }
}

#[test]
fn an_unknown_command_is_a_usage_error() {
    let out = msa_migrate(&["migrate-everything"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("unrecognized subcommand")
    );
}
