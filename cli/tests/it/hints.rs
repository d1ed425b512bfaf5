//! Errors end with what to do next: `error: …` first, then one `hint: …` line
//! chosen by the type of what failed, and exit code 2.

use std::path::{Path, PathBuf};

use super::msa_migrate;

/// Runs the command; asserts exit 2, nothing on stdout, `error:` first and
/// exactly one `hint:` after it; returns the hint.
fn hint_of(args: &[&str]) -> String {
    let out = msa_migrate(args);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(
        out.stdout.is_empty(),
        "{args:?} printed output for an error"
    );
    assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
    let hints: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("hint: "))
        .collect();
    assert_eq!(
        hints.len(),
        1,
        "{args:?}: one hint line expected:\n{stderr}"
    );
    hints[0].to_owned()
}

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

/// A loopback address nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn playbooks() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../playbooks")
}

#[test]
fn backfill_names_what_to_fix_in_a_database_url_and_a_missing_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let target = format!("sqlite://{}", path(dir.path(), "coupon.db"));
    let hint = hint_of(&[
        "backfill", "--source", "shop", "--target", &target, "--tables", "coupons",
    ]);
    assert!(hint.contains("postgres://USER@HOST:PORT/DB"), "{hint}");

    let source = format!("sqlite://{}", path(dir.path(), "missing.db"));
    let hint = hint_of(&[
        "backfill", "--source", &source, "--target", &target, "--tables", "coupons",
    ]);
    assert!(hint.contains("SQLite database must exist first"), "{hint}");
}

#[test]
fn a_server_that_refuses_the_connection_points_at_the_server_and_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let source = format!("postgres://app@127.0.0.1:{}/shop", closed_port());
    let target = format!("sqlite://{}", path(dir.path(), "coupon.db"));
    let hint = hint_of(&[
        "verify", "--source", &source, "--target", &target, "--tables", "coupons",
    ]);
    assert!(
        hint.contains("server runs") && hint.contains("MSA_SOURCE_PASSWORD"),
        "{hint}"
    );
}

#[test]
fn a_missing_table_says_where_tables_are_named_and_how_to_look_first() {
    let dir = tempfile::tempdir().unwrap();
    // Empty files are empty SQLite databases: no table at all.
    for name in ["shop.db", "coupon.db"] {
        std::fs::write(dir.path().join(name), b"").unwrap();
    }
    let out = msa_migrate(&[
        "backfill",
        "--source",
        &format!("sqlite://{}", path(dir.path(), "shop.db")),
        "--target",
        &format!("sqlite://{}", path(dir.path(), "coupon.db")),
        "--tables",
        "coupons",
    ]);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("table `coupons` does not exist"),
        "{stderr}"
    );
    let hint = stderr.lines().find_map(|l| l.strip_prefix("hint: "));
    assert!(
        hint.is_some_and(|h| h.contains("--tables") && h.contains("--dry-run")),
        "{stderr}"
    );
}

#[test]
fn readiness_and_rollback_say_how_to_reach_the_proxys_admin_api() {
    let admin = format!("http://127.0.0.1:{}", closed_port());
    let playbooks = playbooks().display().to_string();
    let dir = tempfile::tempdir().unwrap();
    let hint = hint_of(&[
        "readiness",
        "coupon",
        "--playbooks",
        &playbooks,
        "--admin",
        &admin,
        "--no-data",
        "--log",
        &dir.path().join("readiness-log.jsonl").display().to_string(),
    ]);
    assert!(hint.contains("admin.listen"), "{hint}");
    let hint = hint_of(&[
        "rollback",
        "coupon",
        "--playbooks",
        &playbooks,
        "--admin",
        &admin,
    ]);
    assert!(hint.contains("admin.listen"), "{hint}");
}

#[test]
fn a_missing_shadow_store_says_who_writes_it() {
    let hint = hint_of(&["shadow", "report", "--store", "/nonexistent/msa-shadow.db"]);
    assert!(
        hint.contains("msa-shadow.db beside its configuration"),
        "{hint}"
    );
}

#[test]
fn analyze_inputs_get_hints_for_the_source_tree_and_the_domains_file() {
    let hint = hint_of(&["analyze", "--source", "/nonexistent/monolith"]);
    assert!(
        hint.contains("--source takes the monolith's source tree"),
        "{hint}"
    );

    let dir = tempfile::tempdir().unwrap();
    let domains = path(dir.path(), "domains.yaml");
    std::fs::write(&domains, "domains:\n  coupon:\n    tabels: [coupons]\n").unwrap();
    let source = dir.path().display().to_string();
    let hint = hint_of(&["analyze", "--source", &source, "--domains", &domains]);
    assert!(hint.contains("docs/analyze.md"), "{hint}");
}

#[test]
fn bad_shadow_rules_point_at_the_vocabulary() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.json"), "{}").unwrap();
    std::fs::write(dir.path().join("rules.yaml"), "ignroe: []\n").unwrap();
    let hint = hint_of(&[
        "shadow",
        "diff",
        "--legacy",
        &path(dir.path(), "a.json"),
        "--candidate",
        &path(dir.path(), "a.json"),
        "--rules",
        &path(dir.path(), "rules.yaml"),
    ]);
    assert!(hint.contains("docs/playbook.md#rules"), "{hint}");
}
