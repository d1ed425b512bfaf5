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
    sql(
        "psql",
        &pair.name,
        "CREATE TABLE orders (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL, status TEXT NOT NULL, total NUMERIC(12,2) NOT NULL, \
         paid BOOLEAN NOT NULL, note TEXT, created_at TIMESTAMPTZ NOT NULL)",
    );
}

/// The checkpoint's count and the target's count: equal at every moment.
fn counts(pair: &Pair) -> (u64, u64) {
    let copied = sql(
        "psql",
        &pair.name,
        "SELECT COALESCE((SELECT rows_copied FROM msa_backfill_checkpoints WHERE target_table = 'orders'), 0)",
    );
    let rows = sql("psql", &pair.name, "SELECT count(*) FROM orders");
    (
        copied.parse().expect("a count"),
        rows.parse().expect("a count"),
    )
}

#[test]
fn kill_9_at_random_points_then_resume_loses_and_doubles_nothing() {
    let pair = Pair::new();
    orders(&pair);
    let (source, target) = (pair.source(), pair.target());
    let args = [
        "backfill",
        "--source",
        &source,
        "--target",
        &target,
        "--tables",
        "orders",
        "--max-chunk",
        "700",
        "--jobs",
        "1",
    ];
    let mut seed = u64::from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("time")
            .subsec_nanos(),
    );
    let mut kills = 0;
    for _ in 0..4 {
        let mut child = Command::new(workspace_binary("msa-migrate"))
            .args(args)
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
        let (copied, rows) = counts(&pair);
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
    assert_eq!(counts(&pair), (ROWS, ROWS));
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
