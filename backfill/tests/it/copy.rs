//! The copy: the realistic coupon mapping, composite and negative keys in small
//! chunks, resuming an interrupted run, secondary unique conflicts, throttling.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use msa_backfill::{Error, Event, Side, backfill, catch_up_lag, last_verify, verify};
use msa_playbook::mapping::Mapping;

use crate::support::{Kind, TestDb, backfill_plan, mapping, no_stop, quiet, verify_plan};

const MONOLITH_MYSQL: &str = include_str!("../../../examples/legacy-commerce/src/schema/mysql.sql");
const COUPON_SERVICE_PG: &str =
    include_str!("../../../examples/coupon-service/src/schema/postgres.sql");

pub(crate) const COUPON_MAP: &str = "\
tables:
  coupons:
    target: coupon
    rename:
      id: coupon_id
      name: title
      discount_amount: discount_won
      max_issue: quantity_total
      issued_count: quantity_issued
      status: state
    values:
      status: { ACTIVE: 1, PAUSED: 2 }
  user_coupons:
    target: issued_coupon
    rename: { id: issued_coupon_id, user_id: member_id, order_id: order_ref }
";

pub(crate) async fn seed_monolith(db: &TestDb, coupons: usize) {
    db.exec(MONOLITH_MYSQL).await;
    let mut sql = String::from(
        "SET time_zone = '+00:00';\nINSERT INTO users (id, name, email, created_at) VALUES ",
    );
    let users: Vec<String> = (1..=20)
        .map(|i| {
            format!(
                "({i}, 'user {i}', 'u{i}@example.com', '2026-01-0{} 10:00:00.5')",
                1 + i % 9
            )
        })
        .collect();
    sql.push_str(&users.join(", "));
    sql.push_str(";\nINSERT INTO coupons (id, name, discount_amount, max_issue, issued_count, status, created_at) VALUES ");
    let rows: Vec<String> = (1..=coupons)
        .map(|i| {
            let status = if i % 7 == 0 { "PAUSED" } else { "ACTIVE" };
            format!(
                "({i}, 'coupon {i}', {}, 100, {}, '{status}', '2026-01-09 10:35:{:02}.123456')",
                i * 500,
                i % 5,
                i % 60
            )
        })
        .collect();
    sql.push_str(&rows.join(", "));
    sql.push_str(";\nINSERT INTO user_coupons (id, user_id, coupon_id, issued_at, used_at, order_id) VALUES ");
    let issued: Vec<String> = (1..=coupons.min(20))
        .map(|i| {
            let used = if i % 3 == 0 {
                "'2026-02-01 00:00:00'"
            } else {
                "NULL"
            };
            format!(
                "({i}, {}, {i}, '2026-01-10 08:00:00', {used}, NULL)",
                1 + i % 20
            )
        })
        .collect();
    sql.push_str(&issued.join(", "));
    db.exec(&sql).await;
}

#[tokio::test]
async fn the_monoliths_coupons_land_in_the_coupon_services_schema() {
    let source = TestDb::new(Kind::MySql).await;
    let target = TestDb::new(Kind::Postgres).await;
    seed_monolith(&source, 50).await;
    target.exec(COUPON_SERVICE_PG).await;
    let map = mapping(COUPON_MAP);
    let tables = ["coupons", "user_coupons"];
    let report = backfill(
        &backfill_plan(&source, &target, &tables, map.clone()),
        quiet(),
        no_stop(),
    )
    .await
    .expect("the copy succeeds");
    assert!(
        report.plan.contains(
            "status varchar(16) (text) → state smallint (int) [values ACTIVE→1, PAUSED→2]"
        ),
        "{}",
        report.plan
    );
    assert_eq!(target.count("coupon").await, 50);
    assert_eq!(target.count("issued_coupon").await, 20);
    assert_eq!(
        target
            .text("SELECT state::text FROM coupon WHERE coupon_id = 7")
            .await
            .as_deref(),
        Some("2")
    );
    assert_eq!(
        target
            .text("SELECT title FROM coupon WHERE coupon_id = 8")
            .await
            .as_deref(),
        Some("coupon 8")
    );
    assert_eq!(
        target.text("SELECT to_char(created_at AT TIME ZONE 'UTC', 'HH24:MI:SS.US') FROM coupon WHERE coupon_id = 3").await.as_deref(),
        Some("10:35:03.123456")
    );
    let verified = verify(
        &verify_plan(&source, &target, &tables, map, false),
        quiet(),
        no_stop(),
    )
    .await
    .expect("verify");
    assert!(verified.clean, "{verified:#?}");
    assert_eq!(verified.rows_checked, 70);
    let run = last_verify(&target.dsn(Side::Target))
        .await
        .expect("readable")
        .expect("recorded");
    assert!(run.clean);
    assert_eq!(run.tables, ["coupon", "issued_coupon"]);
    assert_eq!(run.rows_checked, 70);
    let lag = catch_up_lag(&target.dsn(Side::Target), &["coupon".to_owned()])
        .await
        .expect("lag");
    assert_eq!(lag.len(), 1);
    assert_eq!(lag[0].status, "copied");
}

#[tokio::test]
async fn composite_text_and_negative_keys_copy_in_small_chunks() {
    let source = TestDb::new(Kind::Sqlite).await;
    let target = TestDb::new(Kind::MySql).await;
    source.exec("CREATE TABLE stock (region TEXT NOT NULL, n INTEGER NOT NULL, qty INTEGER, PRIMARY KEY (region, n))").await;
    let mut values = Vec::new();
    for region in ["", "KR", "kr", "US", "Zé"] {
        for n in -30..30 {
            values.push(format!("('{region}', {n}, {})", n * 3));
        }
    }
    source
        .exec(&format!("INSERT INTO stock VALUES {}", values.join(", ")))
        .await;
    target.exec("CREATE TABLE stock (region VARCHAR(8) COLLATE utf8mb4_bin NOT NULL, n INT NOT NULL, qty INT, PRIMARY KEY (region, n)) DEFAULT CHARSET = utf8mb4").await;
    let mut plan = backfill_plan(&source, &target, &["stock"], Mapping::default());
    plan.options.initial_chunk = 7;
    plan.options.max_chunk = 7;
    let chunks = Arc::new(AtomicUsize::new(0));
    let seen = chunks.clone();
    let events: msa_backfill::Events = Arc::new(move |e: &Event| {
        if matches!(e, Event::Progress { .. }) {
            seen.fetch_add(1, Ordering::SeqCst);
        }
    });
    backfill(&plan, events, no_stop())
        .await
        .expect("the copy succeeds");
    assert_eq!(target.count("stock").await, 300);
    assert!(chunks.load(Ordering::SeqCst) >= 300 / 7, "chunks of 7 rows");
    let mut vplan = verify_plan(&source, &target, &["stock"], Mapping::default(), false);
    vplan.chunk_rows = 13;
    let verified = verify(&vplan, quiet(), no_stop()).await.expect("verify");
    assert!(verified.clean, "{verified:#?}");
    assert_eq!(verified.rows_checked, 300);
}

/// Stopped after five chunks (as a kill would, between them), the copy
/// resumes from its checkpoint: from MariaDB rows are decoded and encoded
/// again, from PostgreSQL its COPY text is passed through; both exact.
async fn interrupted_copy(from: Kind) {
    let source = TestDb::new(from).await;
    let target = TestDb::new(Kind::Postgres).await;
    source
        .exec("CREATE TABLE events (id BIGINT NOT NULL PRIMARY KEY, payload VARCHAR(40) NOT NULL)")
        .await;
    let rows: Vec<String> = (-1000..1000)
        .map(|i| format!("({i}, 'event {i}')"))
        .collect();
    source
        .exec(&format!("INSERT INTO events VALUES {}", rows.join(", ")))
        .await;
    target
        .exec("CREATE TABLE events (id BIGINT PRIMARY KEY, payload VARCHAR(40) NOT NULL)")
        .await;
    let mut plan = backfill_plan(&source, &target, &["events"], Mapping::default());
    plan.options.initial_chunk = 100;
    plan.options.max_chunk = 100;
    let stop = no_stop();
    let flag = stop.clone();
    let chunks = Arc::new(AtomicUsize::new(0));
    let seen = chunks.clone();
    let events: msa_backfill::Events = Arc::new(move |e: &Event| {
        if matches!(e, Event::Progress { .. }) && seen.fetch_add(1, Ordering::SeqCst) == 4 {
            flag.store(true, Ordering::SeqCst);
        }
    });
    let err = backfill(&plan, events, stop).await.expect_err("stopped");
    assert!(matches!(err, Error::Stopped), "{err}");
    assert_eq!(target.count("events").await, 500);
    assert_eq!(
        target.text("SELECT rows_copied::text FROM msa_backfill_checkpoints WHERE target_table = 'events'").await.as_deref(),
        Some("500")
    );
    // Rows the source gains beyond the first run's upper bound are catch-up's job.
    let resumed = Arc::new(AtomicUsize::new(0));
    let saw = resumed.clone();
    let events: msa_backfill::Events = Arc::new(move |e: &Event| {
        if let Event::Start {
            resumed: true,
            rows_copied: 500,
            rows_total: 2000,
            ..
        } = e
        {
            saw.fetch_add(1, Ordering::SeqCst);
        }
    });
    let report = backfill(&plan, events, no_stop()).await.expect("resumes");
    assert_eq!(
        resumed.load(Ordering::SeqCst),
        1,
        "the second run resumed from the checkpoint"
    );
    assert_eq!(report.tables[0].rows_copied, 2000);
    assert_eq!(target.count("events").await, 2000);
    let verified = verify(
        &verify_plan(&source, &target, &["events"], Mapping::default(), false),
        quiet(),
        no_stop(),
    )
    .await
    .expect("verify");
    assert!(verified.clean, "{verified:#?}");
    // A third run has nothing to do.
    let again = backfill(&plan, quiet(), no_stop()).await.expect("skips");
    assert!(again.tables[0].skipped);
}

#[tokio::test]
async fn an_interrupted_copy_resumes_without_losing_or_doubling() {
    interrupted_copy(Kind::MySql).await;
}

#[tokio::test]
async fn an_interrupted_copy_of_postgres_text_resumes_without_losing_or_doubling() {
    interrupted_copy(Kind::Postgres).await;
}

/// PostgreSQL to PostgreSQL, same types: the COPY text is passed through, so
/// values keep the exact form the source stores (the scale of an
/// unconstrained numeric, which a decoded value would normalise away) in
/// small chunks, whatever the server's DateStyle.
#[tokio::test]
async fn postgres_copy_text_passes_through_exactly() {
    let source = TestDb::new(Kind::Postgres).await;
    let target = TestDb::new(Kind::Postgres).await;
    let ddl = "CREATE TABLE ledger (id BIGINT NOT NULL PRIMARY KEY, amount NUMERIC NOT NULL, \
               ratio DOUBLE PRECISION, at TIMESTAMPTZ NOT NULL, day DATE NOT NULL, memo TEXT)";
    source.exec(ddl).await;
    target.exec(ddl).await;
    source
        .exec(
            "INSERT INTO ledger SELECT i, 1.50 + i, 0.1 * i, TIMESTAMPTZ '2026-03-04 05:06:07.891+09' + i * INTERVAL '1 day', \
             DATE '2026-12-31' - i, CASE WHEN i % 2 = 0 THEN E'tab\\there\\nline ' || i END FROM generate_series(-30, 29) i",
        )
        .await;
    let mut plan = backfill_plan(&source, &target, &["ledger"], Mapping::default());
    plan.options.initial_chunk = 7;
    plan.options.max_chunk = 7;
    let report = backfill(&plan, quiet(), no_stop()).await.expect("copies");
    assert_eq!(report.tables[0].rows_copied, 60);
    let digest = "SELECT string_agg(id || '|' || amount::text || '|' || ratio::text || '|' || \
                  extract(epoch FROM at)::text || '|' || day::text || '|' || coalesce(memo, '-'), ';' ORDER BY id) FROM ledger";
    let want = source.text(digest).await.expect("rows");
    assert!(
        want.contains("|1.50|") && want.contains("tab\there"),
        "{want}"
    );
    assert_eq!(target.text(digest).await, Some(want));
    let verified = verify(
        &verify_plan(&source, &target, &["ledger"], Mapping::default(), false),
        quiet(),
        no_stop(),
    )
    .await
    .expect("verify");
    assert!(verified.clean, "{verified:#?}");
}

async fn secondary_conflict(target_kind: Kind) {
    let source = TestDb::new(Kind::Sqlite).await;
    let target = TestDb::new(target_kind).await;
    source
        .exec(
            "CREATE TABLE members (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT)",
        )
        .await;
    source
        .exec("INSERT INTO members VALUES (1, 'a@example.com', 'new'), (2, 'b@example.com', 'b')")
        .await;
    target.exec("CREATE TABLE members (id BIGINT NOT NULL PRIMARY KEY, email VARCHAR(100) NOT NULL UNIQUE, name VARCHAR(100))").await;
    target
        .exec("INSERT INTO members VALUES (50, 'a@example.com', 'kept')")
        .await;
    let err = backfill(
        &backfill_plan(&source, &target, &["members"], Mapping::default()),
        quiet(),
        no_stop(),
    )
    .await
    .expect_err("a conflict on email");
    let message = err.to_string();
    assert!(matches!(err, Error::Row { .. }), "{message}");
    assert!(message.contains("(id=1)"), "{message}");
    assert!(
        message.contains("unique key other than the primary key"),
        "{message}"
    );
    assert_eq!(
        target
            .text("SELECT name FROM members WHERE id = 50")
            .await
            .as_deref(),
        Some("kept")
    );
    assert_eq!(
        target.count("members").await,
        1,
        "the chunk was not committed"
    );
}

#[tokio::test]
async fn a_secondary_unique_conflict_on_mariadb_is_an_error_naming_the_row() {
    secondary_conflict(Kind::MySql).await;
}

#[tokio::test]
async fn a_secondary_unique_conflict_on_postgres_is_an_error_naming_the_row() {
    secondary_conflict(Kind::Postgres).await;
}

#[tokio::test]
async fn a_secondary_unique_conflict_on_sqlite_is_an_error_naming_the_row() {
    secondary_conflict(Kind::Sqlite).await;
}

#[tokio::test]
async fn the_rows_per_second_limit_holds() {
    let source = TestDb::new(Kind::Sqlite).await;
    let target = TestDb::new(Kind::Sqlite).await;
    source
        .exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        .await;
    let rows: Vec<String> = (0..400).map(|i| format!("({i}, 'v')")).collect();
    source
        .exec(&format!("INSERT INTO t VALUES {}", rows.join(", ")))
        .await;
    target
        .exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        .await;
    let mut plan = backfill_plan(&source, &target, &["t"], Mapping::default());
    plan.options.initial_chunk = 100;
    plan.options.max_chunk = 100;
    plan.options.rows_per_second = Some(1000);
    let started = Instant::now();
    backfill(&plan, quiet(), no_stop()).await.expect("copies");
    // 400 rows in chunks of 100 at 1000 rows/s: at least 3 waits of 100 ms.
    assert!(
        started.elapsed().as_millis() >= 290,
        "{:?}",
        started.elapsed()
    );
    assert_eq!(target.count("t").await, 400);
}

/// A table split into key ranges at quantile keys, one worker and one
/// checkpoint per range: stopped midway, the checkpoints name exactly the rows
/// present, and the next run resumes every range where it stopped.
#[tokio::test]
async fn key_ranges_split_at_quantiles_and_resume_exactly() {
    let source = TestDb::new(Kind::Postgres).await;
    let target = TestDb::new(Kind::MySql).await;
    // Skewed keys: 2,000 dense ones, then 1,000 far above. Ranges of equal
    // key width would leave one range almost all the rows.
    source
        .exec(
            "CREATE TABLE events (id BIGINT PRIMARY KEY, payload TEXT NOT NULL);\n\
             INSERT INTO events SELECT i, 'event ' || i FROM generate_series(-1000, 999) i;\n\
             INSERT INTO events SELECT i, 'far ' || i FROM generate_series(1000000000, 1000000999) i;",
        )
        .await;
    target
        .exec("CREATE TABLE events (id BIGINT NOT NULL PRIMARY KEY, payload VARCHAR(40) NOT NULL)")
        .await;
    let mut plan = backfill_plan(&source, &target, &["events"], Mapping::default());
    plan.options.ranges = 4;
    plan.options.range_min_rows = 100;
    plan.options.jobs = 4;
    plan.options.initial_chunk = 50;
    plan.options.max_chunk = 50;
    let stop = no_stop();
    let flag = stop.clone();
    let chunks = Arc::new(AtomicUsize::new(0));
    let seen = chunks.clone();
    let events: msa_backfill::Events = Arc::new(move |e: &Event| {
        if matches!(e, Event::Progress { .. }) && seen.fetch_add(1, Ordering::SeqCst) == 20 {
            flag.store(true, Ordering::SeqCst);
        }
    });
    let err = backfill(&plan, events, stop).await.expect_err("stopped");
    assert!(matches!(err, Error::Stopped), "{err}");
    // Quantile bounds: 750 rows per range.
    assert_eq!(
        target
            .text(
                "SELECT GROUP_CONCAT(upper_key ORDER BY range_no SEPARATOR ' ') FROM msa_backfill_ranges"
            )
            .await
            .as_deref(),
        Some("[{\"int\":-251}] [{\"int\":499}] [{\"int\":1000000249}] [{\"int\":1000000999}]")
    );
    let copied = target.count("events").await;
    assert!(copied > 0 && copied < 3000, "stopped midway: {copied}");
    let by_ranges: i64 = target
        .text("SELECT CAST(SUM(rows_copied) AS CHAR) FROM msa_backfill_ranges")
        .await
        .and_then(|n| n.parse().ok())
        .expect("a sum");
    let by_table: i64 = target
        .text("SELECT CAST(rows_copied AS CHAR) FROM msa_backfill_checkpoints WHERE target_table = 'events'")
        .await
        .and_then(|n| n.parse().ok())
        .expect("a count");
    assert_eq!(
        (by_ranges, by_table),
        (copied, copied),
        "checkpoints move with their rows"
    );
    let report = backfill(&plan, quiet(), no_stop()).await.expect("resumes");
    assert_eq!(report.tables[0].rows_copied, 3000);
    assert_eq!(target.count("events").await, 3000);
    assert_eq!(
        target
            .text("SELECT GROUP_CONCAT(CONCAT(status, ' ', rows_copied) ORDER BY range_no SEPARATOR ', ') FROM msa_backfill_ranges")
            .await
            .as_deref(),
        Some("copied 750, copied 750, copied 750, copied 750")
    );
    let verified = verify(
        &verify_plan(&source, &target, &["events"], Mapping::default(), false),
        quiet(),
        no_stop(),
    )
    .await
    .expect("verify");
    assert!(verified.clean, "{verified:#?}");
}

/// `drop`, `cast` and `defaults`, end to end: the plan says what each column
/// becomes, the target holds converted values, and verify compares after the
/// mapping (a wrong constant in the target shows as a difference).
#[tokio::test]
async fn dropped_cast_and_defaulted_columns_copy_and_verify() {
    let source = TestDb::new(Kind::MySql).await;
    let target = TestDb::new(Kind::Postgres).await;
    source
        .exec(
            "CREATE TABLE products (id BIGINT NOT NULL PRIMARY KEY, name VARCHAR(40) NOT NULL, \
             price_text VARCHAR(20) NOT NULL, active_text VARCHAR(5) NOT NULL, legacy_flag INT NULL);\n\
             INSERT INTO products VALUES (1, 'pen', '12.50', 'yes', 7), (2, 'ink', '0.99', 'no', NULL), \
             (3, 'pad', '100', 'true', 1)",
        )
        .await;
    target
        .exec(
            "CREATE TABLE product (product_id BIGINT PRIMARY KEY, title TEXT NOT NULL, \
             price NUMERIC(10,2) NOT NULL, active BOOLEAN NOT NULL, region TEXT NOT NULL)",
        )
        .await;
    let map = mapping(
        "tables:\n  products:\n    target: product\n    rename: { id: product_id, name: title, price_text: price, active_text: active }\n    drop: [legacy_flag]\n    cast: { price_text: decimal, active_text: boolean }\n    defaults: { region: KR }\n",
    );
    let report = backfill(
        &backfill_plan(&source, &target, &["products"], map.clone()),
        quiet(),
        no_stop(),
    )
    .await
    .expect("copies");
    for line in [
        "  price_text varchar(20) (text) → price numeric(10,2) (decimal) [cast decimal]\n",
        "  active_text varchar(5) (text) → active boolean (bool) [cast bool]\n",
        "  constant \"KR\" → region text (text)\n",
        "  legacy_flag int(11) dropped\n",
    ] {
        assert!(report.plan.contains(line), "{line:?} in\n{}", report.plan);
    }
    assert_eq!(
        target
            .text("SELECT string_agg(product_id || ' ' || title || ' ' || price || ' ' || active || ' ' || region, ', ' ORDER BY product_id) FROM product")
            .await
            .as_deref(),
        Some("1 pen 12.50 true KR, 2 ink 0.99 false KR, 3 pad 100.00 true KR")
    );
    let plan = verify_plan(&source, &target, &["products"], map, false);
    let verified = verify(&plan, quiet(), no_stop()).await.expect("verify");
    assert!(verified.clean, "{verified:#?}");
    target
        .exec("UPDATE product SET region = 'US' WHERE product_id = 2")
        .await;
    let report = verify(&plan, quiet(), no_stop()).await.expect("verify");
    let different = &report.tables[0].different;
    assert_eq!(different.len(), 1, "{report:#?}");
    assert_eq!(different[0].key, "(id=2)");
    assert_eq!(different[0].columns[0].column, "region");
    assert_eq!(different[0].columns[0].source, serde_json::json!("KR"));
}

/// Into PostgreSQL, chunks go straight into the table while none of their
/// keys are there. Rows already in the target (stale, from another run, in
/// the middle of the key range) make that chunk's COPY fail on the key, and
/// it and the chunks after it are merged instead: the stale rows are
/// overwritten, none doubled, the checkpoint exact.
async fn rows_already_in_the_target(from: Kind) {
    let source = TestDb::new(from).await;
    let target = TestDb::new(Kind::Postgres).await;
    source
        .exec("CREATE TABLE items (id BIGINT NOT NULL PRIMARY KEY, name VARCHAR(40) NOT NULL, price DECIMAL(10,2) NOT NULL, at TIMESTAMP NULL)")
        .await;
    let rows: Vec<String> = (1..=1000)
        .map(|i| {
            let at = match (i % 3, from) {
                (0, _) => "NULL".to_owned(),
                (_, Kind::Postgres) => {
                    format!("TIMESTAMP '2026-01-01 00:00:00' + INTERVAL '{i} seconds'")
                }
                _ => format!("TIMESTAMP('2026-01-01 00:00:00') + INTERVAL {i} SECOND"),
            };
            // A tab, which COPY text must escape.
            format!("({i}, 'item\t{i}', {i}.50, {at})")
        })
        .collect();
    source
        .exec(&format!("INSERT INTO items VALUES {}", rows.join(", ")))
        .await;
    target
        .exec("CREATE TABLE items (id BIGINT PRIMARY KEY, name TEXT NOT NULL, price NUMERIC(10,2) NOT NULL, at TIMESTAMPTZ)")
        .await;
    target
        .exec("INSERT INTO items VALUES (450, 'stale', 0, NULL), (451, 'stale', 0, NULL), (999, 'stale', 0, NULL)")
        .await;
    let mut plan = backfill_plan(&source, &target, &["items"], Mapping::default());
    plan.options.initial_chunk = 100;
    plan.options.max_chunk = 100;
    let report = backfill(&plan, quiet(), no_stop()).await.expect("copies");
    assert_eq!(report.tables[0].rows_copied, 1000);
    assert_eq!(target.count("items").await, 1000, "no row doubled");
    assert_eq!(
        target
            .text("SELECT count(*)::text FROM items WHERE name = 'stale'")
            .await
            .as_deref(),
        Some("0"),
        "stale rows overwritten"
    );
    assert_eq!(
        target
            .text("SELECT name || '|' || price::text || '|' || extract(epoch FROM at)::bigint::text FROM items WHERE id = 451")
            .await
            .as_deref(),
        Some("item\t451|451.50|1767226051")
    );
    let verified = verify(
        &verify_plan(&source, &target, &["items"], Mapping::default(), false),
        quiet(),
        no_stop(),
    )
    .await
    .expect("verify");
    assert!(verified.clean, "{verified:#?}");
}

#[tokio::test]
async fn rows_already_in_a_postgres_target_are_merged_not_doubled_from_mariadb() {
    rows_already_in_the_target(Kind::MySql).await;
}

#[tokio::test]
async fn rows_already_in_a_postgres_target_are_merged_not_doubled_from_postgres() {
    rows_already_in_the_target(Kind::Postgres).await;
}

/// A SQLite source is the monolith's own file: the copy reads it without
/// switching its journal mode (which would also take a lock no busy timeout
/// waits for, failing whenever the monolith writes).
#[tokio::test]
async fn a_sqlite_source_keeps_its_journal_mode() {
    let source = TestDb::new(Kind::Sqlite).await;
    let target = TestDb::new(Kind::Postgres).await;
    source
        .exec(
            "CREATE TABLE accounts (id INTEGER NOT NULL PRIMARY KEY, owner TEXT NOT NULL); \
             INSERT INTO accounts VALUES (1, 'a'), (2, 'b');",
        )
        .await;
    target
        .exec("CREATE TABLE accounts (id BIGINT PRIMARY KEY, owner TEXT NOT NULL)")
        .await;
    let before = source.text("PRAGMA journal_mode").await;
    assert_eq!(before.as_deref(), Some("delete"));
    backfill(
        &backfill_plan(&source, &target, &["accounts"], Mapping::default()),
        quiet(),
        no_stop(),
    )
    .await
    .expect("copies");
    assert_eq!(target.count("accounts").await, 2);
    assert_eq!(source.text("PRAGMA journal_mode").await, before);
}
