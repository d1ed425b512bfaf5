//! Verify finds a corrupted, a missing and an extra row, names the columns
//! that differ, and `repair` fixes exactly those rows.

use msa_backfill::{Side, backfill, last_verify, verify};

use crate::copy::{COUPON_MAP, seed_monolith};
use crate::support::{Kind, TestDb, backfill_plan, mapping, no_stop, quiet, verify_plan};

const COUPON_SERVICE_MYSQL: &str =
    include_str!("../../../examples/coupon-service/src/schema/mysql.sql");

#[tokio::test]
async fn a_corrupted_target_row_is_found_and_repaired() {
    let source = TestDb::new(Kind::MySql).await;
    let target = TestDb::new(Kind::MySql).await;
    seed_monolith(&source, 300).await;
    target.exec(COUPON_SERVICE_MYSQL).await;
    let map = mapping(COUPON_MAP);
    let tables = ["coupons", "user_coupons"];
    backfill(
        &backfill_plan(&source, &target, &tables, map.clone()),
        quiet(),
        no_stop(),
    )
    .await
    .expect("copies");
    target
        .exec(
            "UPDATE coupon SET title = 'tampered', state = 2 WHERE coupon_id = 150;\n\
             DELETE FROM coupon WHERE coupon_id = 299;\n\
             INSERT INTO coupon VALUES (9999, 'ghost', 1, 1, 0, 1, '2026-01-01 00:00:00');",
        )
        .await;
    let mut plan = verify_plan(&source, &target, &tables, map, false);
    plan.chunk_rows = 64;
    let report = verify(&plan, quiet(), no_stop())
        .await
        .expect("verify runs");
    assert!(!report.clean);
    assert_eq!(report.mismatches, 3);
    let coupon = &report.tables[0];
    assert_eq!(coupon.table, "coupons → coupon");
    assert_eq!(coupon.rows_checked, 300);
    assert!(
        coupon.chunks >= 5 && coupon.chunks_mismatched <= 3,
        "{coupon:#?}"
    );
    assert_eq!(coupon.missing.len(), 1);
    assert_eq!(coupon.missing[0].key, "(id=299)");
    assert_eq!(coupon.extra.len(), 1);
    assert_eq!(coupon.extra[0].key, "(id=9999)");
    assert_eq!(coupon.different.len(), 1);
    assert_eq!(coupon.different[0].key, "(id=150)");
    let columns: Vec<&str> = coupon.different[0]
        .columns
        .iter()
        .map(|c| c.column.as_str())
        .collect();
    assert_eq!(columns, ["title", "state"]);
    assert_eq!(coupon.different[0].columns[1].source, serde_json::json!(1));
    assert_eq!(coupon.different[0].columns[1].target, serde_json::json!(2));
    assert!(report.tables[1].missing.is_empty() && report.tables[1].different.is_empty());
    let recorded = last_verify(&target.dsn(Side::Target))
        .await
        .expect("readable")
        .expect("recorded");
    assert!(!recorded.clean);
    assert_eq!(recorded.mismatches, 3);

    plan.repair = true;
    let repaired = verify(&plan, quiet(), no_stop())
        .await
        .expect("repair runs");
    assert_eq!(repaired.tables[0].repaired, 3);
    assert_eq!(repaired.tables[0].remaining, 0);
    assert!(repaired.clean, "{repaired:#?}");
    assert_eq!(
        target
            .text("SELECT title FROM coupon WHERE coupon_id = 150")
            .await
            .as_deref(),
        Some("coupon 150")
    );
    assert_eq!(target.count("coupon").await, 300);
    plan.repair = false;
    let again = verify(&plan, quiet(), no_stop())
        .await
        .expect("verify runs");
    assert!(again.clean, "{again:#?}");
    assert!(
        last_verify(&target.dsn(Side::Target))
            .await
            .expect("readable")
            .expect("recorded")
            .clean
    );
}

#[tokio::test]
async fn a_wrong_type_rule_shows_as_a_difference() {
    // The target stores a timestamp shifted by an hour, as a bad time-zone rule would.
    let source = TestDb::new(Kind::Postgres).await;
    let target = TestDb::new(Kind::Sqlite).await;
    source
        .exec(
            "CREATE TABLE t (id BIGINT PRIMARY KEY, at TIMESTAMPTZ NOT NULL, amount NUMERIC(10,2))",
        )
        .await;
    source.exec("INSERT INTO t VALUES (1, '2026-01-09 10:00:00+00', 1.50), (2, '2026-01-09 11:00:00+00', 2.00)").await;
    target.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, at TIMESTAMPTZ NOT NULL, amount DECIMAL(10,2))").await;
    target.exec("INSERT INTO t VALUES (1, '2026-01-09T11:00:00+01:00', 1.5), (2, '2026-01-09T11:00:00+00:00', 2.01)").await;
    let plan = verify_plan(
        &source,
        &target,
        &["t"],
        msa_playbook::mapping::Mapping::default(),
        false,
    );
    let report = verify(&plan, quiet(), no_stop())
        .await
        .expect("verify runs");
    // Row 1 is the same instant written another way: equal. Row 2's amount differs.
    assert_eq!(report.mismatches, 1, "{report:#?}");
    assert_eq!(report.tables[0].different[0].key, "(id=2)");
    assert_eq!(report.tables[0].different[0].columns[0].column, "amount");
}

/// Same engine, same types: counts and hashes are computed in SQL on both
/// sides, and a difference still narrows down to the row and column.
async fn pushed_down(kind: Kind) {
    let source = TestDb::new(kind).await;
    let target = TestDb::new(kind).await;
    let ddl = "CREATE TABLE t (id BIGINT NOT NULL PRIMARY KEY, name VARCHAR(20), amount DECIMAL(10,2), at DATE)";
    source.exec(ddl).await;
    target.exec(ddl).await;
    let rows: Vec<String> = (-500..2500)
        .map(|i| format!("({i}, 'n{i}', {i}.25, '2026-01-01')"))
        .collect();
    source
        .exec(&format!("INSERT INTO t VALUES {}", rows.join(", ")))
        .await;
    let map = msa_playbook::mapping::Mapping::default();
    backfill(
        &backfill_plan(&source, &target, &["t"], map.clone()),
        quiet(),
        no_stop(),
    )
    .await
    .expect("copies");
    let mut plan = verify_plan(&source, &target, &["t"], map, false);
    plan.chunk_rows = 50; // ranges of 500 keys: -500..-1, 0..499, …, 2000..
    let clean = verify(&plan, quiet(), no_stop()).await.expect("verify");
    assert!(clean.clean, "{clean:#?}");
    assert_eq!(clean.rows_checked, 3000);
    assert_eq!(clean.tables[0].chunks, 6);
    // Ranges sized by time: a table the statistics call small is hashed
    // whole first, and once when clean.
    source
        .exec(match kind {
            Kind::MySql => "ANALYZE TABLE t",
            _ => "ANALYZE t",
        })
        .await;
    let mut timed = plan.clone();
    timed.range_time = std::time::Duration::from_secs(30);
    timed.restart = true;
    let whole = verify(&timed, quiet(), no_stop()).await.expect("verify");
    assert!(whole.clean, "{whole:#?}");
    assert_eq!((whole.rows_checked, whole.tables[0].chunks), (3000, 1));
    target
        .exec(
            "UPDATE t SET amount = 0.26 WHERE id = 0; UPDATE t SET name = NULL WHERE id = 2001; \
             INSERT INTO t VALUES (9000, 'ghost', 1.00, '2026-01-01')",
        )
        .await;
    let found = |report: &msa_backfill::VerifyReport| {
        let table = &report.tables[0];
        let keys = |rows: &[msa_backfill::RowDiff]| -> Vec<String> {
            rows.iter().map(|d| d.key.clone()).collect()
        };
        (
            keys(&table.different),
            keys(&table.extra),
            table.rows_checked,
        )
    };
    let want = (
        vec!["(id=0)".to_owned(), "(id=2001)".to_owned()],
        vec!["(id=9000)".to_owned()],
        3000,
    );
    let report = verify(&plan, quiet(), no_stop()).await.expect("verify");
    assert_eq!(report.mismatches, 3, "{report:#?}");
    assert_eq!(report.tables[0].chunks_mismatched, 2);
    assert_eq!(found(&report), want);
    assert_eq!(report.tables[0].different[1].columns[0].column, "name");
    // The whole table differs; ranges sized by time grow past ten chunks
    // and the ones that differ are narrowed down to the same rows.
    let report = verify(&timed, quiet(), no_stop()).await.expect("verify");
    assert!(report.tables[0].chunks < 6, "{report:#?}");
    assert_eq!(found(&report), want);
    assert_eq!(report.mismatches, 3, "{report:#?}");
}

#[tokio::test]
async fn same_engine_chunks_are_hashed_in_postgres() {
    pushed_down(Kind::Postgres).await;
}

#[tokio::test]
async fn same_engine_chunks_are_hashed_in_mariadb() {
    pushed_down(Kind::MySql).await;
}

/// Stopped midway (as a kill would, between chunks), verify keeps where each
/// table stands in the target; the next run resumes there, and its counts
/// are exact: no row checked twice, no mismatch counted twice.
async fn resumed(from: Kind, chunk_rows: usize) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use msa_backfill::{Error, Event};

    let source = TestDb::new(from).await;
    let target = TestDb::new(Kind::Postgres).await;
    source
        .exec("CREATE TABLE t (id BIGINT NOT NULL PRIMARY KEY, name VARCHAR(20) NOT NULL)")
        .await;
    let rows: Vec<String> = (0..3000).map(|i| format!("({i}, 'n{i}')")).collect();
    source
        .exec(&format!("INSERT INTO t VALUES {}", rows.join(", ")))
        .await;
    target
        .exec("CREATE TABLE t (id BIGINT NOT NULL PRIMARY KEY, name VARCHAR(20) NOT NULL)")
        .await;
    let map = msa_playbook::mapping::Mapping::default();
    backfill(
        &backfill_plan(&source, &target, &["t"], map.clone()),
        quiet(),
        no_stop(),
    )
    .await
    .expect("copies");
    // One mismatch early, two late: some found before the stop, some after.
    target
        .exec(
            "UPDATE t SET name = 'x' WHERE id = 5; DELETE FROM t WHERE id = 2900; \
             INSERT INTO t VALUES (2950, 'ghost') ON CONFLICT (id) DO UPDATE SET name = 'ghost'",
        )
        .await;
    let mut plan = verify_plan(&source, &target, &["t"], map, false);
    plan.chunk_rows = chunk_rows;
    let stop = Arc::new(AtomicBool::new(false));
    let saves = Arc::new(AtomicUsize::new(0));
    let events: msa_backfill::Events = {
        let (stop, saves) = (stop.clone(), saves.clone());
        Arc::new(move |e: &Event| {
            if matches!(e, Event::Checked { .. }) && saves.fetch_add(1, Ordering::SeqCst) == 4 {
                stop.store(true, Ordering::SeqCst);
            }
        })
    };
    let err = verify(&plan, events, stop).await.expect_err("stopped");
    assert!(matches!(err, Error::Stopped), "{err}");
    let saved = target
        .text("SELECT status || ' ' || (counts::json->>'rows_checked') FROM msa_verify_progress")
        .await
        .expect("progress saved");
    assert!(saved.starts_with("verifying "), "{saved}");
    let checked_before: i64 = saved["verifying ".len()..].parse().expect("a count");
    assert!(checked_before > 0 && checked_before < 3000, "{saved}");
    assert!(
        last_verify(&target.dsn(Side::Target))
            .await
            .expect("readable")
            .is_none()
    );

    let first = Arc::new(parking_lot::Mutex::new(None));
    let events: msa_backfill::Events = {
        let first = first.clone();
        Arc::new(move |e: &Event| {
            if let Event::Checked {
                resumed,
                rows_checked,
                ..
            } = e
            {
                first.lock().get_or_insert((*resumed, *rows_checked));
            }
        })
    };
    let report = verify(&plan, events, no_stop()).await.expect("resumes");
    let (resumed, rows_checked) = first.lock().expect("progress reported");
    assert!(
        resumed && rows_checked > checked_before,
        "{resumed} {rows_checked}"
    );
    let table = &report.tables[0];
    assert!(table.resumed);
    assert_eq!(table.rows_checked, 3000, "{table:#?}");
    assert_eq!(
        (table.missing_rows, table.extra_rows, table.different_rows),
        (1, 0, 2),
        "{table:#?}"
    );
    assert_eq!(report.mismatches, 3);
    assert_eq!(
        target
            .text("SELECT CAST(count(*) AS TEXT) FROM msa_verify_progress")
            .await
            .as_deref(),
        Some("0"),
        "a finished run clears its progress"
    );
    let run = last_verify(&target.dsn(Side::Target))
        .await
        .expect("readable")
        .expect("recorded");
    assert_eq!((run.rows_checked, run.mismatches), (3000, 3));
}

#[tokio::test]
async fn an_interrupted_verify_resumes_with_exact_counts() {
    resumed(Kind::MySql, 100).await;
}

#[tokio::test]
async fn an_interrupted_verify_in_sql_resumes_with_exact_counts() {
    // Same engine: counts and hashes by ranges of ten chunks, in SQL.
    resumed(Kind::Postgres, 20).await;
}

/// Beyond 1,000 mismatches of a kind, they are counted, not listed; repair
/// goes chunk by chunk and fixes all of them.
#[tokio::test]
async fn mismatches_beyond_the_details_are_counted_and_repaired() {
    let source = TestDb::new(Kind::Sqlite).await;
    let target = TestDb::new(Kind::Postgres).await;
    source
        .exec("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
        .await;
    let rows: Vec<String> = (0..2500).map(|i| format!("({i}, 'n{i}')")).collect();
    source
        .exec(&format!("INSERT INTO t VALUES {}", rows.join(", ")))
        .await;
    target
        .exec("CREATE TABLE t (id BIGINT PRIMARY KEY, name TEXT NOT NULL)")
        .await;
    let map = msa_playbook::mapping::Mapping::default();
    let mut plan = verify_plan(&source, &target, &["t"], map, false);
    plan.chunk_rows = 300;
    let report = verify(&plan, quiet(), no_stop())
        .await
        .expect("verify runs");
    let table = &report.tables[0];
    assert_eq!(table.missing_rows, 2500);
    assert_eq!(table.missing.len(), msa_backfill::DETAILS);
    assert_eq!(report.mismatches, 2500);
    plan.repair = true;
    let repaired = verify(&plan, quiet(), no_stop()).await.expect("repairs");
    assert_eq!(
        (repaired.tables[0].repaired, repaired.tables[0].remaining),
        (2500, 0)
    );
    assert_eq!(target.count("t").await, 2500);
    plan.repair = false;
    assert!(
        verify(&plan, quiet(), no_stop())
            .await
            .expect("verify")
            .clean
    );
}

/// A target range holding far more rows than its source chunk (extra rows
/// between two source keys) is read in pages, never whole.
#[tokio::test]
async fn a_target_range_crowded_with_extra_rows_is_read_in_pages() {
    let source = TestDb::new(Kind::MySql).await;
    let target = TestDb::new(Kind::Postgres).await;
    source
        .exec(
            "CREATE TABLE t (id BIGINT NOT NULL PRIMARY KEY, name VARCHAR(20) NOT NULL); \
               INSERT INTO t VALUES (0, 'zero'), (1000, 'thousand'), (2000, 'two thousand')",
        )
        .await;
    target
        .exec(
            "CREATE TABLE t (id BIGINT PRIMARY KEY, name TEXT NOT NULL);\n\
             INSERT INTO t SELECT i, 'extra' FROM generate_series(1, 1999) i WHERE i <> 1000;\n\
             INSERT INTO t VALUES (0, 'zero'), (1000, 'changed'), (2000, 'two thousand');",
        )
        .await;
    let mut plan = verify_plan(
        &source,
        &target,
        &["t"],
        msa_playbook::mapping::Mapping::default(),
        false,
    );
    plan.chunk_rows = 50;
    let report = verify(&plan, quiet(), no_stop())
        .await
        .expect("verify runs");
    let table = &report.tables[0];
    assert_eq!(
        (table.missing_rows, table.extra_rows, table.different_rows),
        (0, 1998, 1),
        "{table:#?}"
    );
    assert_eq!(table.different[0].key, "(id=1000)");
    assert_eq!(table.extra.len(), 1000, "details stop at 1,000");
}

/// Collations that order text keys differently file a key in one chunk on the
/// source and another on the target: it is neither missing nor extra, and a
/// real difference in it counts once.
#[tokio::test]
async fn keys_ordered_differently_by_the_two_collations_count_once() {
    let source = TestDb::new(Kind::Postgres).await;
    let target = TestDb::new(Kind::MySql).await;
    // "C" orders by bytes (B < a); MariaDB's default collation ignores case (a < B).
    source
        .exec(
            "CREATE TABLE codes (code TEXT COLLATE \"C\" PRIMARY KEY, n INTEGER NOT NULL);\n\
               INSERT INTO codes VALUES ('a', 1), ('B', 2), ('c', 3), ('D', 4), ('e', 5)",
        )
        .await;
    target
        .exec("CREATE TABLE codes (code VARCHAR(8) NOT NULL PRIMARY KEY, n INT NOT NULL) DEFAULT CHARSET = utf8mb4")
        .await;
    let map = msa_playbook::mapping::Mapping::default();
    backfill(
        &backfill_plan(&source, &target, &["codes"], map.clone()),
        quiet(),
        no_stop(),
    )
    .await
    .expect("copies");
    let mut plan = verify_plan(&source, &target, &["codes"], map, false);
    plan.chunk_rows = 1;
    let report = verify(&plan, quiet(), no_stop())
        .await
        .expect("verify runs");
    assert!(report.clean, "{report:#?}");
    assert_eq!(report.rows_checked, 5);
    target
        .exec("UPDATE codes SET n = 20 WHERE code = 'B'")
        .await;
    let report = verify(&plan, quiet(), no_stop())
        .await
        .expect("verify runs");
    let table = &report.tables[0];
    assert_eq!(
        (table.missing_rows, table.extra_rows, table.different_rows),
        (0, 0, 1),
        "{table:#?}"
    );
}

/// A PostgreSQL column type with no hash function (`json`): the rows are
/// hashed in SQL from their text (md5) instead, and a difference is still found.
#[tokio::test]
async fn same_engine_rows_without_a_native_hash_are_hashed_from_their_text() {
    let source = TestDb::new(Kind::Postgres).await;
    let target = TestDb::new(Kind::Postgres).await;
    let ddl = "CREATE TABLE t (id BIGINT NOT NULL PRIMARY KEY, doc JSON)";
    source.exec(ddl).await;
    target.exec(ddl).await;
    let rows: Vec<String> = (0..1200)
        // Spelled as the copy's canonical JSON spells it, so the texts match.
        .map(|i| format!("({i}, '{{\"n\":{i}}}')"))
        .collect();
    source
        .exec(&format!("INSERT INTO t VALUES {}", rows.join(", ")))
        .await;
    let plan = copied(&source, &target).await;
    let clean = verify(&plan, quiet(), no_stop()).await.expect("verify");
    assert!(clean.clean, "{clean:#?}");
    assert_eq!(clean.tables[0].chunks, 3);
    target
        .exec("UPDATE t SET doc = '{\"n\":-1}' WHERE id = 700")
        .await;
    let report = verify(&plan, quiet(), no_stop()).await.expect("verify");
    assert_eq!(report.mismatches, 1, "{report:#?}");
    assert_eq!(report.tables[0].chunks_mismatched, 1);
    assert_eq!(report.tables[0].different[0].key, "(id=700)");
}

/// PostgreSQL hashes each column by its type's own function: a change in
/// any one column of any type is found in that column, and NULLs, infinite
/// instants and a type left to the record hash (`date`) verify clean.
#[tokio::test]
async fn a_change_in_a_column_of_any_type_is_found_by_the_column_hashes() {
    let source = TestDb::new(Kind::Postgres).await;
    let target = TestDb::new(Kind::Postgres).await;
    let ddl = "CREATE TABLE t (id BIGINT NOT NULL PRIMARY KEY, c_int2 SMALLINT, c_int4 INT, \
               c_numeric NUMERIC(12,3), c_float8 DOUBLE PRECISION, c_text TEXT, c_varchar VARCHAR(30), \
               c_bpchar CHAR(4), c_bool BOOLEAN, c_uuid UUID, c_date DATE, c_time TIME, \
               c_timestamp TIMESTAMP, c_timestamptz TIMESTAMPTZ, c_interval INTERVAL, c_jsonb JSONB, c_inet INET)";
    source.exec(ddl).await;
    target.exec(ddl).await;
    source
        .exec(
            "INSERT INTO t SELECT i, i % 300, i * 7, i * 1.125, i / 3.0, 't' || i, 'v' || i, 'b' || i % 10, i % 2 = 0, \
             md5(i::text)::uuid, DATE '2026-01-01' + i, TIME '00:00' + i * INTERVAL '1 second', \
             TIMESTAMP '2026-01-01' + i * INTERVAL '1 minute', TIMESTAMPTZ '2026-01-01 09:00+09' + i * INTERVAL '1 hour', \
             i * INTERVAL '1 minute', jsonb_build_object('n', i), ('10.0.' || i % 250 || '.1')::inet \
             FROM generate_series(1, 1000) i; \
             INSERT INTO t (id) VALUES (1001); \
             INSERT INTO t (id, c_timestamptz, c_timestamp, c_date) VALUES (1002, 'infinity', '-infinity', 'infinity')",
        )
        .await;
    let plan = copied(&source, &target).await;
    let clean = verify(&plan, quiet(), no_stop()).await.expect("verify");
    assert!(clean.clean, "{clean:#?}");
    assert_eq!(clean.rows_checked, 1002);
    // One row changed per column, each in a column of its own.
    let changes = [
        ("c_int2", "c_int2 + 1"),
        ("c_int4", "c_int4 + 1"),
        ("c_numeric", "c_numeric + 0.001"),
        ("c_float8", "c_float8 + 0.5"),
        ("c_text", "c_text || 'x'"),
        ("c_varchar", "c_varchar || 'x'"),
        ("c_bpchar", "'zz'"),
        ("c_bool", "NOT c_bool"),
        ("c_uuid", "'00000000-0000-0000-0000-000000000000'"),
        ("c_date", "c_date + 1"),
        ("c_time", "c_time + INTERVAL '1 second'"),
        ("c_timestamp", "c_timestamp + INTERVAL '1 microsecond'"),
        ("c_timestamptz", "c_timestamptz + INTERVAL '1 microsecond'"),
        ("c_interval", "c_interval + INTERVAL '1 day'"),
        ("c_jsonb", "c_jsonb || '{\"x\": 1}'"),
        ("c_inet", "'192.168.0.1'"),
    ];
    let mut want = Vec::new();
    for (i, (column, value)) in changes.iter().enumerate() {
        let id = 60 * (i + 1);
        target
            .exec(&format!("UPDATE t SET {column} = {value} WHERE id = {id}"))
            .await;
        want.push((format!("(id={id})"), (*column).to_owned()));
    }
    let report = verify(&plan, quiet(), no_stop()).await.expect("verify");
    let mut found: Vec<(String, String)> = report.tables[0]
        .different
        .iter()
        .map(|d| (d.key.clone(), d.columns[0].column.clone()))
        .collect();
    found.sort();
    want.sort();
    assert_eq!(found, want, "{report:#?}");
    assert_eq!(report.mismatches, changes.len() as i64, "{report:#?}");
}

/// Copies table `t` as it is, then plans its verify in chunks of 50 rows.
async fn copied(source: &TestDb, target: &TestDb) -> msa_backfill::VerifyPlan {
    let map = msa_playbook::mapping::Mapping::default();
    backfill(
        &backfill_plan(source, target, &["t"], map.clone()),
        quiet(),
        no_stop(),
    )
    .await
    .expect("copies");
    let mut plan = verify_plan(source, target, &["t"], map, false);
    plan.chunk_rows = 50;
    plan
}
