//! Bad input: one clear message naming the database, table and column, and nothing moved.

use msa_backfill::{Error, Side, backfill, plan_problems};
use msa_playbook::mapping::Mapping;

use crate::support::{Kind, TestDb, backfill_plan, mapping, no_stop, quiet};

async fn pair() -> (TestDb, TestDb) {
    let source = TestDb::new(Kind::MySql).await;
    let target = TestDb::new(Kind::Postgres).await;
    source.exec("CREATE TABLE coupons (id BIGINT NOT NULL PRIMARY KEY, name VARCHAR(20) NOT NULL, status VARCHAR(10) NOT NULL)").await;
    source.exec("INSERT INTO coupons VALUES (1, 'a', 'ACTIVE'), (2, 'b', 'PAUSED'), (3, 'c', 'EXPIRED')").await;
    source
        .exec("CREATE TABLE log (at DATETIME NOT NULL, line TEXT)")
        .await;
    target.exec("CREATE TABLE coupon (coupon_id BIGINT PRIMARY KEY, title TEXT NOT NULL, state SMALLINT NOT NULL)").await;
    (source, target)
}

async fn refused(source: &TestDb, target: &TestDb, tables: &[&str], map: Mapping) -> Error {
    let err = backfill(
        &backfill_plan(source, target, tables, map),
        quiet(),
        no_stop(),
    )
    .await
    .expect_err("refused");
    assert!(matches!(err, Error::Plan { .. }), "{err}");
    let checkpoints = target
        .text("SELECT CAST(to_regclass('msa_backfill_checkpoints') AS TEXT)")
        .await;
    assert_eq!(checkpoints, None, "nothing written");
    assert_eq!(target.count("coupon").await, 0);
    err
}

#[tokio::test]
async fn missing_tables_keys_and_columns_are_refused_before_anything_moves() {
    let (source, target) = pair().await;
    let err = refused(&source, &target, &["nope"], Mapping::default()).await;
    assert!(
        err.to_string()
            .contains("table `nope` does not exist in mysql://root@127.0.0.1:3306/"),
        "{err}"
    );

    // One problem: the missing key, not also the missing target table.
    let err = refused(&source, &target, &["log"], Mapping::default()).await;
    let problems = plan_problems(&err);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0].message.contains("table `log`")
            && problems[0].message.contains("no primary key"),
        "{err}"
    );

    // No mapping: the target table `coupons` does not exist.
    let err = refused(&source, &target, &["coupons"], Mapping::default()).await;
    assert!(
        err.to_string()
            .contains("table `coupons` does not exist in postgres://"),
        "{err}"
    );

    let map = mapping(
        "tables:\n  coupons:\n    target: coupon\n    rename: { id: coupon_id, nam: title, status: state }\n    values:\n      status: { ACTIVE: 1, PAUSED: 2 }\n",
    );
    let err = refused(&source, &target, &["coupons"], map).await;
    let problems = plan_problems(&err);
    assert!(
        problems
            .iter()
            .any(|p| p.field.as_deref() == Some("tables.coupons.rename.nam")
                && p.message
                    .contains("column `nam` does not exist in source table `coupons`")),
        "{problems:#?}"
    );

    // Every value must be mapped: EXPIRED is not.
    let map = mapping(
        "tables:\n  coupons:\n    target: coupon\n    rename: { id: coupon_id, name: title, status: state }\n    values:\n      status: { ACTIVE: 1, PAUSED: 2 }\n",
    );
    let err = refused(&source, &target, &["coupons"], map).await;
    let problems = plan_problems(&err);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert_eq!(
        problems[0].field.as_deref(),
        Some("tables.coupons.values.status")
    );
    assert!(problems[0].message.contains("\"EXPIRED\""), "{problems:#?}");

    // Without a value map, text cannot go into SMALLINT: found on the rows, before any move.
    let map = mapping(
        "tables:\n  coupons:\n    target: coupon\n    rename: { id: coupon_id, name: title, status: state }\n",
    );
    let err = refused(&source, &target, &["coupons"], map).await;
    assert!(
        err.to_string().contains("cannot convert \"ACTIVE\" to int"),
        "{err}"
    );

    // A filter the source refuses.
    let map = mapping(
        "tables:\n  coupons:\n    target: coupon\n    rename: { id: coupon_id, name: title, status: state }\n    values:\n      status: { ACTIVE: 1, PAUSED: 2, EXPIRED: 3 }\n    filter: \"no_such_column > 1\"\n",
    );
    let err = refused(&source, &target, &["coupons"], map).await;
    assert!(
        plan_problems(&err)
            .iter()
            .any(|p| p.field.as_deref() == Some("tables.coupons.filter")),
        "{err}"
    );
}

#[tokio::test]
async fn a_filter_and_a_full_mapping_copy_only_matching_rows() {
    let (source, target) = pair().await;
    let map = mapping(
        "tables:\n  coupons:\n    target: coupon\n    rename: { id: coupon_id, name: title, status: state }\n    values:\n      status: { ACTIVE: 1, PAUSED: 2, EXPIRED: 3 }\n    filter: \"status <> 'EXPIRED'\"\n",
    );
    backfill(
        &backfill_plan(&source, &target, &["coupons"], map),
        quiet(),
        no_stop(),
    )
    .await
    .expect("copies");
    assert_eq!(target.count("coupon").await, 2);
}

#[tokio::test]
async fn a_server_that_is_not_there_is_named_without_its_password() {
    let target = TestDb::new(Kind::Sqlite).await;
    let mut plan = backfill_plan(&target, &target, &["t"], Mapping::default());
    plan.source = msa_backfill::Dsn::parse("postgres://app:hunter2@127.0.0.1:1/shop", Side::Source)
        .expect("valid");
    let err = backfill(&plan, quiet(), no_stop())
        .await
        .expect_err("no server");
    let message = err.to_string();
    assert!(matches!(err, Error::Connect { .. }), "{message}");
    assert!(
        message.contains("postgres://app:***@127.0.0.1:1/shop"),
        "{message}"
    );
    assert!(!message.contains("hunter2"), "{message}");
}

#[tokio::test]
async fn follow_without_an_updated_at_column_is_refused_before_anything_moves() {
    let (source, target) = pair().await;
    let map = mapping(
        "tables:\n  coupons:\n    target: coupon\n    rename: { id: coupon_id, name: title, status: state }\n    values:\n      status: { ACTIVE: 1, PAUSED: 2, EXPIRED: 3 }\n",
    );
    let mut plan = backfill_plan(&source, &target, &["coupons"], map);
    plan.options.follow = Some(msa_backfill::FollowOptions::default());
    let err = backfill(&plan, quiet(), no_stop())
        .await
        .expect_err("refused");
    assert!(
        err.to_string()
            .contains("--follow needs column `updated_at` in source table `coupons`"),
        "{err}"
    );
    assert_eq!(target.count("coupon").await, 0);
}

#[tokio::test]
async fn throttle_checks_that_cannot_run_are_refused_before_anything_moves() {
    let (source, target) = pair().await;
    let map = mapping(
        "tables:\n  coupons:\n    target: coupon\n    rename: { id: coupon_id, name: title, status: state }\n    values:\n      status: { ACTIVE: 1, PAUSED: 2, EXPIRED: 3 }\n",
    );
    let plan = backfill_plan(&source, &target, &["coupons"], map);
    let refused_with = |throttle: msa_backfill::ThrottleOptions| {
        let mut plan = plan.clone();
        plan.options.throttle = throttle;
        async move {
            let err = backfill(&plan, quiet(), no_stop())
                .await
                .expect_err("refused");
            assert!(matches!(err, Error::Plan { .. }), "{err}");
            err.to_string()
        }
    };
    let lag = Some(std::time::Duration::from_secs(10));
    // The source (MariaDB, not a replica) has no lag of its own to watch.
    let message = refused_with(msa_backfill::ThrottleOptions {
        max_replica_lag: lag,
        ..Default::default()
    })
    .await;
    assert!(
        message.contains(&format!(
            "--max-replica-lag: the source {} is not a replica",
            source.dsn(Side::Source)
        )) && message.contains("--replica DSN"),
        "{message}"
    );
    // A named "replica" that is a primary (PostgreSQL, not in recovery).
    let message = refused_with(msa_backfill::ThrottleOptions {
        max_replica_lag: lag,
        replicas: vec![target.dsn(Side::Source)],
        ..Default::default()
    })
    .await;
    assert!(
        message.contains(&format!(
            "--replica {} is not a replica",
            target.dsn(Side::Source)
        )),
        "{message}"
    );
    // A probe query the source refuses.
    let message = refused_with(msa_backfill::ThrottleOptions {
        max_latency: Some(std::time::Duration::from_millis(100)),
        probe_query: "SELECT nope FROM nowhere".to_owned(),
        ..Default::default()
    })
    .await;
    assert!(
        message.contains("--probe-query `SELECT nope FROM nowhere`"),
        "{message}"
    );
    assert_eq!(
        target
            .text("SELECT CAST(to_regclass('msa_backfill_checkpoints') AS TEXT)")
            .await,
        None,
        "nothing written"
    );
    assert_eq!(target.count("coupon").await, 0);
}
