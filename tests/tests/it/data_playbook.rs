//! `backfill` and `verify` reading the bundled coupon playbook instead of
//! repeating its facts: DSNs from the environment through `data`, tables and
//! their mapping from `tables`.

use std::process::Command;

use crate::support::{Running, sqlite_url, workspace, workspace_binary};

/// `msa-migrate ARGS` with `env` set: exit code, stdout, stderr.
fn run(args: &[&str], env: &[(&str, String)]) -> (Option<i32>, String, String) {
    let out = Command::new(workspace_binary("msa-migrate"))
        .args(args)
        .env_remove("LEGACY_DATABASE_URL")
        .env_remove("COUPON_DATABASE_URL")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("msa-migrate runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn backfill_and_verify_take_everything_from_the_playbook() {
    let dir = tempfile::tempdir().unwrap();
    let monolith = sqlite_url(dir.path(), "monolith.db");
    let coupon = sqlite_url(dir.path(), "coupon.db");
    // Each service creates its own schema at start; the monolith seeds coupons.
    drop(Running::start(
        "legacy-commerce",
        &["--db", &monolith, "--listen", "127.0.0.1:0", "--seed", "20"],
    ));
    drop(Running::start(
        "coupon-service",
        &["--db", &coupon, "--listen", "127.0.0.1:0"],
    ));
    let playbook = workspace()
        .join("playbooks/coupon.yaml")
        .display()
        .to_string();
    let env = [
        ("LEGACY_DATABASE_URL", monolith.clone()),
        ("COUPON_DATABASE_URL", coupon.clone()),
    ];

    let (code, stdout, stderr) = run(&["backfill", "--playbook", &playbook], &env);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("coupons → coupon: 5 rows copied"),
        "{stdout}"
    );
    assert!(stdout.contains("user_coupons → issued_coupon"), "{stdout}");

    let (code, stdout, stderr) = run(&["verify", "--playbook", &playbook], &env);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("clean: 5 rows checked"), "{stdout}");

    // An option given anyway wins: one table only.
    let (code, stdout, _) = run(
        &["verify", "--playbook", &playbook, "--tables", "coupons"],
        &env,
    );
    assert_eq!(code, Some(0));
    assert!(!stdout.contains("user_coupons"), "{stdout}");

    // A DSN whose variable is not set names the playbook's field and the variable.
    let (code, stdout, stderr) = run(&["verify", "--playbook", &playbook], &env[..1]);
    assert_eq!((code, stdout.as_str()), (Some(2), ""));
    assert!(
        stderr.contains("coupon.yaml: data.target:") && stderr.contains("COUPON_DATABASE_URL"),
        "{stderr}"
    );
}

#[test]
fn without_a_playbook_the_database_options_are_required() {
    let (code, _, stderr) = run(&["verify", "--tables", "coupons"], &[]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("--source"), "{stderr}");
}
