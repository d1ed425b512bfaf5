//! `msa-migrate demo --exit` (issue #8): the whole path on the example
//! monolith, run as a person runs it, on SQLite, PostgreSQL and MariaDB.
//! Then the data, read from the databases themselves, against what the
//! traffic was told (the demo's ledger, `demo-summary.json`): no order lost,
//! no issue lost or invented, no coupon over its limit, the two copies equal.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;
use sqlx::Connection as _;

use crate::support::{msa_migrate, workspace_binary};

const STEPS: usize = 12;

/// The text between the start of step `n` and the start of the next one.
fn step(stdout: &str, n: usize) -> &str {
    let start = stdout
        .find(&format!("[{n}/{STEPS}] "))
        .unwrap_or_else(|| panic!("step {n} never started:\n{stdout}"));
    let rest = &stdout[start..];
    let end = rest
        .find(&format!("\n[{}/{STEPS}] ", n + 1))
        .map_or(rest.len(), |i| i + 1);
    &rest[..end]
}

/// A database server the demo makes its two databases on; they are found by
/// the demo process's id (`msa_demo_<time>_<pid>_…`) and dropped afterwards,
/// whether or not the demo got far enough to name them.
struct Server {
    /// A URL of the server's administrative database.
    admin: String,
    /// The demo process, once started.
    pid: Option<u32>,
}

impl Server {
    fn postgres() -> Self {
        Self {
            admin: std::env::var("MSA_TEST_PG_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned()),
            pid: None,
        }
    }

    fn mariadb() -> Self {
        Self {
            admin: std::env::var("MSA_TEST_MYSQL_URL")
                .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/mysql".to_owned()),
            pid: None,
        }
    }

    fn is_postgres(&self) -> bool {
        self.admin.starts_with("postgres")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let Some(pid) = self.pid else { return };
        let postgres = self.is_postgres();
        let dropped = block_on(async {
            let mut conn = sqlx::AnyConnection::connect(&self.admin).await?;
            let like = format!("msa\\_demo\\_%\\_{pid}\\_%");
            let list = if postgres {
                "SELECT datname::text FROM pg_database WHERE datname LIKE $1"
            } else {
                "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE ?"
            };
            let names: Vec<(String,)> =
                sqlx::query_as(list).bind(like).fetch_all(&mut conn).await?;
            for (name,) in names {
                let drop = if postgres {
                    format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                } else {
                    format!("DROP DATABASE IF EXISTS {name}")
                };
                sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
                    .execute(&mut conn)
                    .await?;
            }
            Ok::<_, sqlx::Error>(())
        });
        if let Err(err) = dropped
            && !std::thread::panicking()
        {
            panic!("cannot drop the demo's databases on {}: {err}", self.admin);
        }
    }
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    sqlx::any::install_default_drivers();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(future)
}

/// What a completed demo left behind.
struct Walked {
    stdout: String,
    summary: Value,
    work: PathBuf,
    _dir: tempfile::TempDir,
}

/// Runs `msa-migrate demo --exit` (on `server`, else SQLite) to its end.
fn walk(server: Option<&mut Server>) -> Walked {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let work = dir.path().join("work");
    let mut command = Command::new(workspace_binary("msa-migrate"));
    command
        .args(["demo", "--exit", "--dir"])
        .arg(&work)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(server) = &server {
        command.args(["--db", &server.admin]);
    }
    let child = command.spawn().expect("msa-migrate demo runs");
    if let Some(server) = server {
        server.pid = Some(child.id());
    }
    let out = child.wait_with_output().expect("msa-migrate demo ends");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The error and the step it stopped in come first: a CI log keeps a
    // failure's head, and the whole walk is long.
    let last_step = stdout
        .rfind("\n[")
        .map_or(stdout.as_str(), |i| &stdout[i..]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the demo did not complete:\n{stderr}\nthe step it stopped in:{last_step}\n\
         the whole walk:\n{stdout}"
    );
    let summary = std::fs::read_to_string(work.join("demo-summary.json"))
        .unwrap_or_else(|err| panic!("no demo-summary.json ({err}):\n{stdout}"));
    Walked {
        stdout,
        summary: serde_json::from_str(&summary).expect("the summary is JSON"),
        work,
        _dir: dir,
    }
}

/// The step list: every step ran and completed, in order, each with the real
/// command it ran, and the verdicts the path depends on.
fn assert_the_path(stdout: &str) {
    assert!(
        !stdout.contains('\x1b'),
        "colour despite NO_COLOR:\n{stdout}"
    );
    let mut at = 0;
    for n in 1..=STEPS {
        let start = format!("[{n}/{STEPS}] ");
        let i = stdout[at..]
            .find(&start)
            .unwrap_or_else(|| panic!("step {n} missing after byte {at}:\n{stdout}"));
        at += i + start.len();
        assert!(
            step(stdout, n).contains("... done in "),
            "step {n} did not finish:\n{stdout}"
        );
    }
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
    let quirky = step(stdout, 6);
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
    let clean = step(stdout, 7);
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

    // The canary walked the reads; issues stayed with the monolith.
    let canary = step(stdout, 8);
    assert!(
        canary.contains("routes coupon-read, user-coupons, steps 10% 50% 100%"),
        "{canary}"
    );
    assert!(canary.contains("completed at 100%"), "{canary}");

    // Readiness passed before the cutover, which did not need --force.
    let readiness = step(stdout, 9);
    assert!(readiness.contains("coupon: READY"), "{readiness}");
    let cutover = step(stdout, 10);
    assert!(!cutover.contains("--force"), "{cutover}");
    assert!(
        cutover.contains("coupon-issue: legacy -> cutover"),
        "{cutover}"
    );

    let rehearsal = step(stdout, 11);
    assert!(rehearsal.contains("zero failed requests"), "{rehearsal}");

    // The end: verified at rest, the readiness report and the dashboard.
    let end = step(stdout, 12);
    assert!(end.contains("clean: "), "{end}");
    assert!(end.contains("coupon: READY"), "{end}");
    assert!(stdout.contains("dashboard: http://127.0.0.1:"), "{stdout}");
}

/// The monolith's and the coupon service's coupon data and orders, as stored.
#[derive(Debug)]
struct Stored {
    /// coupon id → (limit, issued count as stored), per side.
    monolith_coupons: BTreeMap<i64, (i64, i64)>,
    service_coupons: BTreeMap<i64, (i64, i64)>,
    /// (issue id, user, coupon), per side.
    monolith_issues: BTreeSet<(i64, i64, i64)>,
    service_issues: BTreeSet<(i64, i64, i64)>,
    orders: BTreeSet<i64>,
}

fn read_stored(monolith: &str, coupon: &str) -> Stored {
    block_on(async {
        let mut legacy = sqlx::AnyConnection::connect(monolith)
            .await
            .unwrap_or_else(|err| panic!("cannot open {monolith}: {err}"));
        let mut service = sqlx::AnyConnection::connect(coupon)
            .await
            .unwrap_or_else(|err| panic!("cannot open {coupon}: {err}"));
        let coupons = |rows: Vec<(i64, i64, i64)>| {
            rows.into_iter()
                .map(|(id, limit, issued)| (id, (limit, issued)))
                .collect()
        };
        Stored {
            monolith_coupons: coupons(
                sqlx::query_as("SELECT id, max_issue, issued_count FROM coupons")
                    .fetch_all(&mut legacy)
                    .await
                    .unwrap(),
            ),
            service_coupons: coupons(
                sqlx::query_as("SELECT coupon_id, quantity_total, quantity_issued FROM coupon")
                    .fetch_all(&mut service)
                    .await
                    .unwrap(),
            ),
            monolith_issues: sqlx::query_as("SELECT id, user_id, coupon_id FROM user_coupons")
                .fetch_all(&mut legacy)
                .await
                .unwrap()
                .into_iter()
                .collect(),
            service_issues: sqlx::query_as(
                "SELECT issued_coupon_id, member_id, coupon_id FROM issued_coupon",
            )
            .fetch_all(&mut service)
            .await
            .unwrap()
            .into_iter()
            .collect(),
            orders: sqlx::query_as::<_, (i64,)>("SELECT id FROM orders")
                .fetch_all(&mut legacy)
                .await
                .unwrap()
                .into_iter()
                .map(|(id,)| id)
                .collect(),
        }
    })
}

/// The data after the walk, against the traffic's ledger.
fn assert_the_data(walked: &Walked) {
    let summary = &walked.summary;
    let dsn = |side: &str| {
        summary["databases"][side]
            .as_str()
            .unwrap_or_else(|| panic!("no {side} database in the summary: {summary}"))
            .to_owned()
    };
    let (monolith, coupon) = (dsn("monolith"), dsn("coupon"));
    let traffic = &summary["traffic"];
    assert_eq!(traffic["failed"], 0, "failed requests: {traffic}");

    // After the cutover (and the traffic's end), the coupon service's data
    // equals the monolith's, checked here independently of the demo's verify.
    let map = walked.work.join("coupon-map.yaml");
    let (code, verify, errors) = msa_migrate(&[
        "verify",
        "--source",
        &monolith,
        "--target",
        &coupon,
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

    let stored = read_stored(&monolith, &coupon);

    // No coupon over its limit: in each database, and across both.
    let mut holders: BTreeMap<i64, BTreeSet<i64>> = BTreeMap::new();
    for (_, user, coupon) in stored.monolith_issues.iter().chain(&stored.service_issues) {
        holders.entry(*coupon).or_default().insert(*user);
    }
    for (side, coupons, issues) in [
        (
            "monolith",
            &stored.monolith_coupons,
            &stored.monolith_issues,
        ),
        (
            "coupon service",
            &stored.service_coupons,
            &stored.service_issues,
        ),
    ] {
        for (id, (limit, count)) in coupons {
            let rows = issues.iter().filter(|(_, _, c)| c == id).count();
            assert!(
                rows as i64 <= *limit && *count <= *limit,
                "{side}: coupon {id} issued {rows} times (counted {count}), over its limit {limit}"
            );
            assert_eq!(rows as i64, *count, "{side}: coupon {id}'s count");
            let across = holders.get(id).map_or(0, BTreeSet::len);
            assert!(
                across as i64 <= *limit,
                "coupon {id}: {across} holders across both databases, over its limit {limit}"
            );
        }
    }

    // Every issue answered 201 is stored on both sides under the id the client
    // was given, and nothing else is: no issue lost or invented.
    let answered: BTreeSet<(i64, i64, i64)> = traffic["issues"]["issued"]
        .as_array()
        .expect("the issues ledger")
        .iter()
        .map(|i| {
            let n = |k: &str| i[k].as_i64().unwrap_or_else(|| panic!("{k} in {i}"));
            (n("id"), n("user"), n("coupon"))
        })
        .collect();
    assert!(!answered.is_empty(), "no coupon was issued: {traffic}");
    assert_eq!(
        stored.monolith_issues, answered,
        "the monolith's issues against the answers"
    );
    assert_eq!(
        stored.service_issues, answered,
        "the coupon service's issues against the answers"
    );

    // Every order answered 201 is in the monolith, and nothing else is: no
    // order lost across the switches.
    let ordered: BTreeSet<i64> = traffic["orders"]["ids"]
        .as_array()
        .expect("the orders ledger")
        .iter()
        .map(|id| id.as_i64().expect("an order id"))
        .collect();
    assert!(!ordered.is_empty(), "no order was placed: {traffic}");
    assert_eq!(
        stored.orders, ordered,
        "the monolith's orders against the answers"
    );

    // Issuing ran through every switch, and while the coupon service took the
    // issues it both issued and refused coupons that had reached their limit.
    let phases: BTreeMap<&str, &Value> = traffic["phases"]
        .as_array()
        .expect("the phases")
        .iter()
        .map(|p| (p["phase"].as_str().expect("a phase name"), &p["issues"]))
        .collect();
    for phase in [
        "shadow",
        "canary",
        "cutover",
        "rolled back",
        "cut over again",
    ] {
        let issues = phases
            .get(phase)
            .unwrap_or_else(|| panic!("no phase {phase}: {traffic}"));
        let asked: u64 = [
            "created",
            "sold_out",
            "already_issued",
            "not_active",
            "other",
        ]
        .iter()
        .filter_map(|k| issues[k].as_u64())
        .sum();
        assert!(asked > 0, "no issue during {phase}: {issues}");
    }
    let at_the_service = |key: &str| -> u64 {
        ["cutover", "cut over again"]
            .iter()
            .filter_map(|p| phases[p][key].as_u64())
            .sum()
    };
    assert!(
        at_the_service("created") > 0 && at_the_service("sold_out") > 0,
        "the coupon service should have issued coupons and refused sold-out ones: {traffic}"
    );

    // The rollback sent the traffic back to the monolith without a failure.
    let rehearsal = &summary["rehearsal"];
    assert_eq!(rehearsal["failed"], 0, "{rehearsal}");
    assert!(rehearsal["requests"].as_u64() > Some(0), "{rehearsal}");
    for route in ["coupon-read", "coupon-issue", "user-coupons"] {
        let entry = &rehearsal["routes"][route];
        assert_eq!(
            entry["stage_after_rollback"]["mode"], "legacy",
            "{route}: {entry}"
        );
        assert!(
            entry["legacy_answers_after"].as_u64() > entry["legacy_answers_before"].as_u64(),
            "{route}: the monolith answered nothing after the rollback: {entry}"
        );
    }
    // And the proxy's own audit log recorded it, route by route.
    let audit = std::fs::read_to_string(walked.work.join("msa-proxy-audit.jsonl"))
        .expect("the proxy's audit log");
    for route in ["coupon-read", "coupon-issue", "user-coupons"] {
        assert!(
            audit.lines().any(|line| {
                let entry: Value = serde_json::from_str(line).unwrap_or(Value::Null);
                entry["route"] == route
                    && entry["reason"]
                        .as_str()
                        .is_some_and(|r| r.ends_with(": rehearsal"))
                    && entry["after"]["mode"] == "legacy"
            }),
            "no rehearsal rollback of {route} in the audit log:\n{audit}"
        );
    }
}

/// What the dashboard showed at the end (`GET /domains`, kept in the summary):
/// the coupon domain from its playbook, cut over, its canary's walk completed,
/// its last verdict READY.
fn assert_the_dashboard(summary: &Value) {
    let domains = &summary["domains"];
    let coupon = &domains["domains"][0];
    assert_eq!(coupon["name"], "coupon", "{domains}");
    let routes: Vec<(&str, &Value)> = coupon["routes"]
        .as_array()
        .expect("the domain's routes")
        .iter()
        .map(|r| (r["name"].as_str().unwrap_or_default(), &r["stage"]["mode"]))
        .collect();
    assert_eq!(
        routes,
        [
            ("coupon-read", &Value::from("cutover")),
            ("coupon-issue", &Value::from("cutover")),
            ("user-coupons", &Value::from("cutover")),
        ],
        "{domains}"
    );
    assert_eq!(
        coupon["canary"]["canary"]["phase"]["phase"], "completed",
        "{domains}"
    );
    assert_eq!(coupon["readiness"]["verdict"]["ready"], true, "{domains}");
    assert_eq!(coupon["problems"], serde_json::json!([]), "{domains}");
    assert_eq!(domains["unassigned"], serde_json::json!([]), "{domains}");
}

#[test]
fn demo_walks_the_whole_path_on_sqlite() {
    let walked = walk(None);
    assert_the_path(&walked.stdout);
    assert_eq!(walked.summary["engine"], "sqlite");
    assert_the_data(&walked);
    assert_the_dashboard(&walked.summary);
}

#[test]
fn demo_walks_the_whole_path_on_postgres() {
    let mut server = Server::postgres();
    let walked = walk(Some(&mut server));
    assert_the_path(&walked.stdout);
    assert_eq!(walked.summary["engine"], "postgres");
    assert_the_data(&walked);
}

#[test]
fn demo_walks_the_whole_path_on_mariadb() {
    let mut server = Server::mariadb();
    let walked = walk(Some(&mut server));
    assert_the_path(&walked.stdout);
    assert_eq!(walked.summary["engine"], "mysql");
    assert_the_data(&walked);
}

/// Issue #8: a bad `--db` is one clear error, exit 2, and nothing is left
/// behind (no work directory, no database).
#[test]
fn demo_refuses_a_bad_database_url_before_making_anything() {
    for (url, said) in [
        ("ftp://127.0.0.1/db", "`ftp://` is not a database server"),
        ("not a url", "is not a URL"),
        ("postgres:///", "names no host"),
        (
            "postgres://postgres:s3cret@127.0.0.1:5432",
            "leave the password out of the URL",
        ),
    ] {
        let tmp = tempfile::tempdir().expect("a temporary directory");
        let out = Command::new(workspace_binary("msa-migrate"))
            .args(["demo", "--exit", "--db", url])
            .env("TMPDIR", tmp.path())
            .output()
            .expect("msa-migrate runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{url}: {stdout}{stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert!(
            lines.len() == 1 && lines[0].starts_with("error: --db") && lines[0].contains(said),
            "{url}: one clear error saying `{said}`, got:\n{stderr}"
        );
        assert!(stdout.is_empty(), "{url}: {stdout}");
        assert!(
            !stderr.contains("s3cret"),
            "{url}: the password shown: {stderr}"
        );
        let left: Vec<_> = std::fs::read_dir(tmp.path())
            .expect("the temporary directory")
            .collect();
        assert!(left.is_empty(), "{url}: left behind: {left:?}");
    }
}
