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
    let report = verify(&plan, quiet()).await.expect("verify runs");
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
    let repaired = verify(&plan, quiet()).await.expect("repair runs");
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
    let again = verify(&plan, quiet()).await.expect("verify runs");
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
    let report = verify(&plan, quiet()).await.expect("verify runs");
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
    plan.chunk_rows = 50; // ranges of 500 rows
    let clean = verify(&plan, quiet()).await.expect("verify");
    assert!(clean.clean, "{clean:#?}");
    assert_eq!(clean.rows_checked, 3000);
    assert_eq!(clean.tables[0].chunks, 7);
    target
        .exec("UPDATE t SET amount = 0.26 WHERE id = 0; UPDATE t SET name = NULL WHERE id = 2001")
        .await;
    let report = verify(&plan, quiet()).await.expect("verify");
    assert_eq!(report.mismatches, 2, "{report:#?}");
    assert_eq!(report.tables[0].chunks_mismatched, 2);
    let keys: Vec<&str> = report.tables[0]
        .different
        .iter()
        .map(|d| d.key.as_str())
        .collect();
    assert_eq!(keys, ["(id=0)", "(id=2001)"]);
    assert_eq!(report.tables[0].different[1].columns[0].column, "name");
}

#[tokio::test]
async fn same_engine_chunks_are_hashed_in_postgres() {
    pushed_down(Kind::Postgres).await;
}

#[tokio::test]
async fn same_engine_chunks_are_hashed_in_mariadb() {
    pushed_down(Kind::MySql).await;
}
