//! End-to-end tests of `msa-migrate backfill` and `verify` (issue #6): the real
//! binary against real MariaDB and PostgreSQL servers, set up with their own
//! command-line clients.

use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::support::{msa_migrate, workspace_binary};

/// Runs SQL with `mysql` (MariaDB, root, empty password) or `psql` (postgres, trust).
fn sql(engine: &str, database: &str, statement: &str) -> String {
    let out = match engine {
        "mysql" => Command::new("mysql")
            .args([
                "-uroot",
                "-h127.0.0.1",
                "-P3306",
                "-N",
                "-B",
                "-e",
                statement,
                database,
            ])
            .output(),
        _ => Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-d",
                database,
                "-tA",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                statement,
            ])
            .output(),
    }
    .unwrap_or_else(|e| panic!("cannot run the {engine} client ({e}): install it (bash .ci/run)"));
    assert!(
        out.status.success(),
        "{statement}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("UTF-8")
        .trim()
        .to_owned()
}

/// A MariaDB and a PostgreSQL database, dropped at the end.
struct Pair {
    name: String,
}

impl Pair {
    fn new() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("time")
            .as_nanos();
        let name = format!("msa_e2e_{}_{}", std::process::id(), nanos % 1_000_000_000);
        sql("mysql", "mysql", &format!("CREATE DATABASE {name}"));
        sql("psql", "postgres", &format!("CREATE DATABASE {name}"));
        Self { name }
    }

    fn source(&self) -> String {
        format!("mysql://root@127.0.0.1:3306/{}", self.name)
    }

    fn target(&self) -> String {
        format!("postgres://postgres@127.0.0.1:5432/{}", self.name)
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        let _ = Command::new("mysql")
            .args([
                "-uroot",
                "-h127.0.0.1",
                "-e",
                &format!("DROP DATABASE IF EXISTS {}", self.name),
            ])
            .output();
        let _ = Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-c",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .output();
    }
}

const ROWS: u64 = 60_000;

fn orders(pair: &Pair) {
    source_orders(pair);
    sql(
        "psql",
        &pair.name,
        "CREATE TABLE orders (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL, status TEXT NOT NULL, total NUMERIC(12,2) NOT NULL, \
         paid BOOLEAN NOT NULL, note TEXT, created_at TIMESTAMPTZ NOT NULL)",
    );
}

/// The `orders` table in MariaDB alone.
fn source_orders(pair: &Pair) {
    sql(
        "mysql",
        &pair.name,
        &format!(
            "CREATE TABLE orders (id BIGINT NOT NULL PRIMARY KEY, user_id BIGINT NOT NULL, status VARCHAR(16) NOT NULL, \
             total DECIMAL(12,2) NOT NULL, paid TINYINT(1) NOT NULL, note TEXT NULL, created_at DATETIME(6) NOT NULL); \
             INSERT INTO orders SELECT CAST(seq AS SIGNED) - 1000, seq % 97, IF(seq % 5 = 0, 'CANCELLED', 'COMPLETED'), seq * 1.25, seq % 2, \
             IF(seq % 3 = 0, NULL, CONCAT('note ', seq)), TIMESTAMP('2026-01-01') + INTERVAL seq SECOND FROM seq_1_to_{ROWS}"
        ),
    );
}

/// Waits until the target database has no session but ours. A killed client's
/// server session may still be committing the statement it sent last, and a
/// count read meanwhile would see the checkpoint before the commit and the
/// rows after it.
fn wait_for_killed_sessions(pair: &Pair) {
    for _ in 0..200 {
        let others = sql(
            "psql",
            &pair.name,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
        );
        if others == "0" {
            return;
        }
        #[allow(
            clippy::disallowed_methods,
            reason = "a synchronous test: there is no runtime to block"
        )]
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the killed backfill's sessions were still open after 10 s");
}

/// The checkpoint's count and the target's count: equal at every moment.
fn counts(pair: &Pair) -> (u64, u64) {
    wait_for_killed_sessions(pair);
    // Killed before it made its checkpoint table: nothing copied yet.
    let started = sql(
        "psql",
        &pair.name,
        "SELECT to_regclass('msa_backfill_checkpoints') IS NOT NULL",
    ) == "t";
    let copied = if started {
        sql(
            "psql",
            &pair.name,
            "SELECT COALESCE((SELECT rows_copied FROM msa_backfill_checkpoints WHERE target_table = 'orders'), 0)",
        )
    } else {
        "0".to_owned()
    };
    // Killed before --create-schema made the table: no rows either.
    let rows = if sql(
        "psql",
        &pair.name,
        "SELECT to_regclass('orders') IS NOT NULL",
    ) == "t"
    {
        sql("psql", &pair.name, "SELECT count(*) FROM orders")
    } else {
        "0".to_owned()
    };
    (
        copied.parse().expect("a count"),
        rows.parse().expect("a count"),
    )
}

/// Runs `backfill ARGS` four times, each killed (SIGKILL) at a random point
/// if still running, checking after each that the checkpoint counts exactly
/// the rows present; then once to its end, and verifies.
fn kill_9_then_resume(pair: &Pair, extra: &[&str]) {
    let (source, target) = (pair.source(), pair.target());
    let args = [
        &[
            "backfill",
            "--source",
            &source,
            "--target",
            &target,
            "--tables",
            "orders",
            "--max-chunk",
            "700",
        ][..],
        extra,
    ]
    .concat();
    let mut seed = u64::from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("time")
            .subsec_nanos(),
    );
    let mut kills = 0;
    for _ in 0..4 {
        let mut child = Command::new(workspace_binary("msa-migrate"))
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("msa-migrate starts");
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        #[allow(
            clippy::disallowed_methods,
            reason = "a synchronous test: there is no runtime to block"
        )]
        std::thread::sleep(Duration::from_millis(300 + (seed >> 33) % 900));
        if child.try_wait().expect("status").is_none() {
            child.kill().expect("SIGKILL");
            kills += 1;
        }
        let _ = child.wait();
        let (copied, rows) = counts(pair);
        assert_eq!(
            copied, rows,
            "the checkpoint moves with its rows, in one transaction"
        );
    }
    let (code, stdout, stderr) = msa_migrate(&args);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains(&format!("orders: {ROWS} rows")), "{stdout}");
    assert!(
        kills > 0,
        "the copy finished before it could be killed: make it longer"
    );
    assert_eq!(counts(pair), (ROWS, ROWS));
    let (code, stdout, stderr) = msa_migrate(&[
        "verify",
        "--source",
        &source,
        "--target",
        &target,
        "--tables",
        "orders",
        "--chunk-rows",
        "5000",
    ]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("clean: {ROWS} rows checked, 0 mismatching")),
        "{stdout}"
    );
}

#[test]
fn kill_9_at_random_points_then_resume_loses_and_doubles_nothing() {
    let pair = Pair::new();
    orders(&pair);
    let (source, target) = (pair.source(), pair.target());
    kill_9_then_resume(&pair, &["--jobs", "1"]);
    assert_eq!(
        sql(
            "psql",
            &pair.name,
            "SELECT clean FROM msa_verify_runs ORDER BY id DESC LIMIT 1"
        ),
        "1"
    );
    // The types came over as values, not as text.
    assert_eq!(
        sql(
            "psql",
            &pair.name,
            "SELECT total::text || ' ' || paid::text || ' ' || to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') FROM orders WHERE id = 0"
        ),
        "1250.00 false 2026-01-01 00:16:40"
    );

    // A corrupted row is found (exit 1), repaired, and clean again.
    sql(
        "psql",
        &pair.name,
        "UPDATE orders SET status = 'TAMPERED' WHERE id = 4242; DELETE FROM orders WHERE id = -999",
    );
    let verify = [
        "verify", "--source", &source, "--target", &target, "--tables", "orders",
    ];
    let (code, stdout, _) = msa_migrate(&verify);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("missing   (id=-999)"), "{stdout}");
    assert!(
        stdout.contains("different (id=4242)  status: source \"COMPLETED\" target \"TAMPERED\""),
        "{stdout}"
    );
    let (code, stdout, _) = msa_migrate(&[&verify[..], &["--repair"]].concat());
    assert_eq!(code, Some(0), "{stdout}");
    assert_eq!(msa_migrate(&verify).0, Some(0));
}

#[test]
fn bad_input_gives_one_clear_message_and_moves_nothing() {
    let pair = Pair::new();
    orders(&pair);
    let (source, target) = (pair.source(), pair.target());
    let (code, stdout, stderr) = msa_migrate(&[
        "backfill", "--source", &source, "--target", &target, "--tables", "order",
    ]);
    assert_eq!(code, Some(2));
    assert!(stdout.is_empty());
    assert!(
        stderr.contains(&format!(
            "table `order` does not exist in {source} (source)"
        )),
        "{stderr}"
    );

    let (code, _, stderr) = msa_migrate(&[
        "backfill",
        "--source",
        "mysql://root:hunter2@127.0.0.1:1/shop",
        "--target",
        &target,
        "--tables",
        "orders",
    ]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("mysql://root:***@127.0.0.1:1/shop"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");

    let (code, _, stderr) = msa_migrate(&[
        "backfill",
        "--source",
        "oracle://x/y",
        "--target",
        &target,
        "--tables",
        "orders",
    ]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("--source: bad database URL `oracle://x/y`"),
        "{stderr}"
    );

    let dir = tempfile::tempdir().expect("a temp dir");
    let map = dir.path().join("map.yaml");
    std::fs::write(&map, "tables:\n  orders:\n    rename:\n      totl: total\n").expect("written");
    let (code, _, stderr) = msa_migrate(&[
        "backfill",
        "--source",
        &source,
        "--target",
        &target,
        "--tables",
        "orders",
        "--map",
        map.to_str().expect("UTF-8"),
    ]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains(&format!("{}:4: tables.orders.rename.totl: column `totl` does not exist in source table `orders`", map.display())), "{stderr}");
    assert_eq!(sql("psql", &pair.name, "SELECT count(*) FROM orders"), "0");
    assert_eq!(
        sql(
            "psql",
            &pair.name,
            "SELECT to_regclass('msa_backfill_checkpoints') IS NULL"
        ),
        "t"
    );
}

/// The same with the table split into key ranges, each with its own
/// checkpoint, copied by four workers at once.
#[test]
fn kill_9_with_key_ranges_then_resume_loses_and_doubles_nothing() {
    let pair = Pair::new();
    orders(&pair);
    kill_9_then_resume(&pair, &["--ranges", "4", "--jobs", "4"]);
    assert_eq!(
        sql(
            "psql",
            &pair.name,
            "SELECT count(*) || ' ' || sum(rows_copied) FROM msa_backfill_ranges WHERE status = 'copied'"
        ),
        format!("4 {ROWS}")
    );
}

/// The same into a table the copy creates, whose primary key it builds at the
/// end: kills before, while or after the key is built lose and double nothing.
#[test]
fn kill_9_into_a_created_table_then_resume_loses_and_doubles_nothing() {
    let pair = Pair::new();
    source_orders(&pair);
    kill_9_then_resume(&pair, &["--create-schema", "--jobs", "1"]);
    assert_eq!(
        sql(
            "psql",
            &pair.name,
            "SELECT count(*) FROM pg_constraint WHERE conrelid = 'orders'::regclass AND contype = 'p'"
        ),
        "1"
    );
}

/// A small `items` table in MariaDB and its empty twin in PostgreSQL.
fn items(pair: &Pair, rows: u64) {
    sql(
        "mysql",
        &pair.name,
        &format!(
            "CREATE TABLE items (id BIGINT NOT NULL PRIMARY KEY, name VARCHAR(40) NOT NULL); \
             INSERT INTO items SELECT seq, CONCAT('item ', seq) FROM seq_1_to_{rows}"
        ),
    );
    sql(
        "psql",
        &pair.name,
        "CREATE TABLE items (id BIGINT PRIMARY KEY, name TEXT NOT NULL)",
    );
}

#[test]
fn progress_json_is_one_event_per_line_and_dry_run_moves_nothing() {
    let pair = Pair::new();
    items(&pair, 1000);
    let (source, target) = (pair.source(), pair.target());
    let base = [
        "backfill", "--source", &source, "--target", &target, "--tables", "items",
    ];

    let (code, stdout, stderr) = msa_migrate(&[&base[..], &["--dry-run"]].concat());
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.starts_with("table items\n  key: (id)\n"), "{stdout}");
    assert!(
        stdout.contains("  name varchar(40) (text) → name text (text)\n"),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("dry run: nothing was copied\n"),
        "{stdout}"
    );
    assert_eq!(
        sql(
            "psql",
            &pair.name,
            "SELECT to_regclass('msa_backfill_checkpoints') IS NULL"
        ),
        "t",
        "a dry run writes nothing"
    );

    let (code, stdout, stderr) =
        msa_migrate(&[&base[..], &["--progress", "json", "--max-chunk", "300"]].concat());
    assert_eq!(code, Some(0), "{stderr}");
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}")))
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().expect("an event name"))
        .collect();
    assert_eq!(kinds.first(), Some(&"start"), "{stdout}");
    assert_eq!(&kinds[kinds.len() - 2..], ["done", "summary"], "{stdout}");
    assert!(
        kinds[1..kinds.len() - 2].iter().all(|k| *k == "progress"),
        "{stdout}"
    );
    let last = &events[events.len() - 3];
    assert_eq!(
        (last["rows_copied"].as_i64(), last["rows_total"].as_i64()),
        (Some(1000), Some(1000))
    );
    assert_eq!(events[events.len() - 1]["tables"][0]["rows_copied"], 1000);
}

/// `--progress json | head -1`: the reader goes away after one line. The copy
/// does not panic on the closed pipe; it runs to its end, and says why its
/// output stopped.
#[test]
fn a_closed_stdout_stops_the_output_not_the_copy() {
    use std::io::{BufRead, BufReader};

    let pair = Pair::new();
    items(&pair, 3000);
    let (source, target) = (pair.source(), pair.target());
    let mut child = Command::new(workspace_binary("msa-migrate"))
        .args([
            "backfill",
            "--source",
            &source,
            "--target",
            &target,
            "--tables",
            "items",
            "--progress",
            "json",
            "--max-chunk",
            "100",
            // About 1.5 s of copying left after the first line.
            "--rows-per-second",
            "2000",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("msa-migrate starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("one line");
    assert!(first.starts_with("{\"event\":\"start\""), "{first}");
    drop(stdout);
    let out = child.wait_with_output().expect("it ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains("stdout was closed; output stops here, the run goes on to its end"),
        "{stderr}"
    );
    assert_eq!(
        sql("psql", &pair.name, "SELECT count(*) FROM items"),
        "3000"
    );
}

#[test]
fn follow_options_without_follow_are_refused() {
    for option in [
        ["--overlap", "3s"],
        ["--follow-interval", "2s"],
        ["--sweep-rows", "10"],
    ] {
        let (code, stdout, stderr) = msa_migrate(
            &[
                &[
                    "backfill",
                    "--source",
                    "sqlite://a.db",
                    "--target",
                    "sqlite://b.db",
                    "--tables",
                    "t",
                ][..],
                &option[..],
            ]
            .concat(),
        );
        assert_eq!(code, Some(2), "{option:?}: {stdout}");
        assert!(
            stderr.contains(option[0]) && stderr.contains("--follow"),
            "{option:?}: {stderr}"
        );
    }
}
