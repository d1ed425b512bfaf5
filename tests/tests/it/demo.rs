//! `msa-migrate demo --exit` (issue #8): the whole path on the example monolith,
//! on SQLite, run as a person runs it.

use std::process::Command;

use crate::support::{msa_migrate, workspace_binary};

/// The text between the start of step `n` and the start of the next one.
fn step(stdout: &str, n: usize) -> &str {
    let start = stdout
        .find(&format!("[{n}/12] "))
        .unwrap_or_else(|| panic!("step {n} never started:\n{stdout}"));
    let rest = &stdout[start..];
    let end = rest
        .find(&format!("\n[{}/12] ", n + 1))
        .map_or(rest.len(), |i| i + 1);
    &rest[..end]
}

#[test]
fn demo_walks_the_whole_path_on_sqlite() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let work = dir.path().join("work");
    let out = Command::new(workspace_binary("msa-migrate"))
        .args(["demo", "--exit", "--dir"])
        .arg(&work)
        .env("NO_COLOR", "1")
        .output()
        .expect("msa-migrate demo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the demo did not complete:\n{stdout}\n{stderr}"
    );

    // Every step ran and completed, in order, plain text (NO_COLOR).
    assert!(
        !stdout.contains('\x1b'),
        "colour despite NO_COLOR:\n{stdout}"
    );
    let mut at = 0;
    for n in 1..=12 {
        let done = format!("[{n}/12] ");
        let i = stdout[at..]
            .find(&done)
            .unwrap_or_else(|| panic!("step {n} missing after byte {at}:\n{stdout}"));
        at += i + done.len();
        assert!(
            step(&stdout, n).contains("... done in "),
            "step {n} did not finish:\n{stdout}"
        );
    }
    // Each step shows the real command it ran.
    for command in [
        "$ msa-migrate analyze ",
        "$ msa-migrate plan ",
        "$ msa-migrate backfill ",
        "$ msa-migrate verify ",
        "$ msa-migrate shadow report ",
        "$ msa-migrate canary coupon ",
        "$ msa-migrate readiness coupon ",
        "$ msa-migrate cutover coupon ",
        "$ msa-migrate rollback coupon ",
    ] {
        assert!(stdout.contains(command), "no `{command}`:\n{stdout}");
    }

    // Shadow: the quirky build's four differences, then the fixed build clean.
    let quirky = step(&stdout, 6);
    assert!(
        quirky.contains("found 4 of the 4 documented quirks"),
        "{quirky}"
    );
    for quirk in [
        "amounts as strings (type_changed $.discountAmount)",
        "timestamps with an offset (value_changed $.createdAt)",
        "an extra field (extra $.couponType)",
        "another array order (value_changed $.coupons[0].id)",
    ] {
        assert!(quirky.contains(quirk), "{quirk} not reported:\n{quirky}");
    }
    let clean = step(&stdout, 7);
    assert!(
        clean.contains("clean: every compared pair equal"),
        "{clean}"
    );
    for route in ["coupon-read", "coupon-issue", "user-coupons"] {
        let line = clean
            .lines()
            .find(|l| {
                l.trim_start().starts_with(&format!("{route}: ")) && l.contains(" compared, ")
            })
            .unwrap_or_else(|| panic!("{route} missing from the report:\n{clean}"));
        assert!(
            line.contains("different: 0 high, 0 medium, 0 low"),
            "{line}"
        );
    }

    // Readiness passed before the cutover, which did not need --force.
    let readiness = step(&stdout, 9);
    assert!(readiness.contains("coupon: READY"), "{readiness}");
    let cutover = step(&stdout, 10);
    assert!(!cutover.contains("--force"), "{cutover}");

    // The rollback rehearsal lost no request.
    let rehearsal = step(&stdout, 11);
    assert!(rehearsal.contains(", 0 failed"), "{rehearsal}");
    assert!(rehearsal.contains("zero failed requests"), "{rehearsal}");

    // The end: the readiness report and the dashboard.
    assert!(step(&stdout, 12).contains("coupon: READY"), "{stdout}");
    assert!(stdout.contains("dashboard: http://127.0.0.1:"), "{stdout}");

    // After the cutover the coupon service's data equals the monolith's, checked
    // again here, independently of the demo's own verify.
    let source = format!("sqlite://{}", work.join("monolith.db").display());
    let target = format!("sqlite://{}", work.join("coupon.db").display());
    let map = work.join("coupon-map.yaml");
    let (code, verify, errors) = msa_migrate(&[
        "verify",
        "--source",
        &source,
        "--target",
        &target,
        "--tables",
        "coupons,user_coupons",
        "--map",
        map.to_str().expect("a UTF-8 path"),
    ]);
    assert_eq!(
        code,
        Some(0),
        "the coupon data differs:\n{verify}\n{errors}"
    );
    assert!(!verify.contains(": 0 rows checked"), "{verify}");
}
