//! The `msa-migrate` binary as a user runs it.

use std::process::{Command, Output};

mod colour;
mod docs;
mod hints;
mod json;

const COMMANDS: [&str; 12] = [
    "analyze",
    "plan",
    "playbook",
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
fn every_command_refuses_an_unknown_argument_with_exit_2_and_no_output() {
    for command in COMMANDS {
        let command: &[&str] = match command {
            "shadow" => &["shadow", "report"],
            "playbook" => &["playbook", "check"],
            other => &[other],
        };
        let out = msa_migrate(&[command, &["--no-such-flag"]].concat());
        assert_eq!(out.status.code(), Some(2), "{command:?}");
        assert!(
            out.stdout.is_empty(),
            "{command:?} printed output for bad input"
        );
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(
            stderr.contains("unexpected argument '--no-such-flag'"),
            "{command:?}: {stderr}"
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

mod shadow_diff {
    use super::msa_migrate;

    const LEGACY: &str = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Sat, 21 Nov 2026 10:00:00 GMT\r\n\r\n\
        {\"id\":1,\"discountAmount\":1000,\"createdAt\":\"2026-01-01T01:00:00Z\"}";
    const QUIRKY: &str = "{\"id\":1,\"discountAmount\":\"1000\",\"createdAt\":\"2026-01-01T01:00:00+00:00\",\"couponType\":\"FIXED\"}";

    fn files(rules: Option<&str>) -> (tempfile::TempDir, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name).display().to_string();
        std::fs::write(path("legacy.http"), LEGACY).unwrap();
        std::fs::write(path("candidate.json"), QUIRKY).unwrap();
        let mut args = vec![
            "shadow".into(),
            "diff".into(),
            "--legacy".into(),
            path("legacy.http"),
            "--candidate".into(),
            path("candidate.json"),
        ];
        if let Some(rules) = rules {
            std::fs::write(path("rules.yaml"), rules).unwrap();
            args.extend(["--rules".into(), path("rules.yaml")]);
        }
        (dir, args)
    }

    fn run(args: &[String]) -> (Option<i32>, String, String) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = msa_migrate(&args);
        (
            out.status.code(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    }

    #[test]
    fn differences_are_listed_by_path_and_exit_1() {
        let (_dir, args) = files(None);
        let (code, stdout, _) = run(&args);
        assert_eq!(code, Some(1));
        let lines: Vec<Vec<&str>> = stdout
            .lines()
            .skip(2)
            .map(|l| l.split_whitespace().take(3).collect())
            .collect();
        assert_eq!(
            lines,
            [
                ["high", "type_changed", "$.discountAmount"],
                ["medium", "value_changed", "$.createdAt"],
                ["low", "extra", "$.couponType"],
            ],
            "{stdout}"
        );
    }

    #[test]
    fn accepted_rules_make_them_equal_and_exit_0() {
        let rules =
            "string_number: true\ntimestamps: {tolerance_ms: 1000}\nignore: [\"$.couponType\"]\n";
        let (_dir, mut args) = files(Some(rules));
        assert_eq!(run(&args), (Some(0), "equal\n".to_owned(), String::new()));
        args.extend(["--format".into(), "json".into()]);
        let (_, stdout, _) = run(&args);
        let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(json["differences"], serde_json::json!([]));
    }

    #[test]
    fn bad_rules_name_the_file_and_the_entry_and_exit_2() {
        let (_dir, args) = files(Some("ignore: [\"$.items[\"]\n"));
        let (code, stdout, stderr) = run(&args);
        assert_eq!((code, stdout.as_str()), (Some(2), ""));
        assert!(
            stderr.contains("rules.yaml: ignore: `$.items[`"),
            "{stderr}"
        );
        let (_dir, args) = files(Some("ignroe: []\n"));
        let (code, _, stderr) = run(&args);
        assert_eq!(code, Some(2));
        assert!(
            stderr.contains("rules.yaml: line 1") && stderr.contains("unknown field `ignroe`"),
            "{stderr}"
        );
    }
}

#[test]
fn a_shadow_report_without_a_store_says_where_it_looked() {
    let out = msa_migrate(&["shadow", "report", "--store", "/nonexistent/msa-shadow.db"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("no shadow results at /nonexistent/msa-shadow.db"),
        "{stderr}"
    );
}

#[test]
fn completions_know_every_command() {
    let out = msa_migrate(&["completions", "bash"]);
    assert!(out.status.success());
    let script = String::from_utf8(out.stdout).unwrap();
    assert!(script.contains("complete -F"), "not a bash script");
    for command in COMMANDS {
        assert!(script.contains(command), "`{command}` cannot be completed");
    }
    let out = msa_migrate(&["completions", "tcsh"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}

#[test]
fn man_writes_one_page_per_command() {
    let dir = tempfile::tempdir().unwrap();
    let out = msa_migrate(&["man", "--out", &dir.path().display().to_string()]);
    assert!(out.status.success(), "{out:?}");
    for page in ["msa-migrate".to_owned()]
        .into_iter()
        .chain(COMMANDS.iter().map(|c| format!("msa-migrate-{c}")))
    {
        let text = std::fs::read_to_string(dir.path().join(format!("{page}.1")))
            .unwrap_or_else(|e| panic!("{page}.1: {e}"));
        assert!(
            text.starts_with(".ie") || text.contains(".TH"),
            "{page}.1 is not a man page"
        );
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
