//! `--create-schema` beyond the type rules (types.rs): keys keep their case
//! and accents on MariaDB, and a run that fails before any row moves leaves
//! no table behind.

use msa_backfill::{FollowOptions, backfill, verify};
use msa_playbook::mapping::Mapping;

use crate::support::{Kind, TestDb, backfill_plan, no_stop, quiet, verify_plan};
use crate::types::column_types;

/// MariaDB's default collation is case- and accent-insensitive: 'KR', 'kr'
/// and 'Kr' would be one key and each upsert would overwrite the last.
#[tokio::test]
async fn text_keys_created_on_mariadb_compare_as_bytes() {
    let source = TestDb::new(Kind::Postgres).await;
    let target = TestDb::new(Kind::MySql).await;
    source
        .exec(
            "CREATE TABLE regions (code TEXT PRIMARY KEY, alias VARCHAR(20) NOT NULL UNIQUE, name TEXT);\n\
             INSERT INTO regions VALUES ('KR', 'a', 'Korea'), ('kr', 'A', 'lower'), ('Kr', 'á', 'mixed'), \
             ('e', 'x', 'plain'), ('é', 'X', 'accent')",
        )
        .await;
    let mut plan = backfill_plan(&source, &target, &["regions"], Mapping::default());
    plan.options.create_schema = true;
    let report = backfill(&plan, quiet(), no_stop()).await.expect("copies");
    assert_eq!(report.tables[0].rows_copied, 5);
    assert_eq!(
        column_types(&target, "regions").await,
        "code varchar(191) binary-collated not null, alias varchar(20) binary-collated not null, name longtext"
    );
    assert_eq!(target.count("regions").await, 5);
    assert_eq!(
        target
            .text("SELECT name FROM regions WHERE code = 'kr'")
            .await
            .as_deref(),
        Some("lower")
    );
    let verified = verify(
        &verify_plan(&source, &target, &["regions"], Mapping::default(), false),
        quiet(),
        no_stop(),
    )
    .await
    .expect("verify runs");
    assert!(verified.clean, "{verified:#?}");
}

async fn public_tables(db: &TestDb) -> String {
    db.text(
        "SELECT COALESCE(string_agg(table_name::text, ', ' ORDER BY table_name), '') \
         FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .await
    .unwrap_or_default()
}

/// The source side of every table is checked before any table is created;
/// what only the created table can tell (here: --follow's column) drops
/// every table this run created.
#[tokio::test]
async fn a_run_that_fails_before_any_row_moves_leaves_no_table_behind() {
    let source = TestDb::new(Kind::MySql).await;
    let target = TestDb::new(Kind::Postgres).await;
    source
        .exec(
            "CREATE TABLE a (id BIGINT NOT NULL PRIMARY KEY, v TEXT);\n\
             CREATE TABLE b (id BIGINT NOT NULL PRIMARY KEY, v TEXT);\n\
             CREATE TABLE keyless (v TEXT);\n\
             INSERT INTO a VALUES (1, 'x'); INSERT INTO b VALUES (1, 'y');",
        )
        .await;
    // A keyless table among them: refused before anything is created.
    let mut plan = backfill_plan(&source, &target, &["a", "keyless", "b"], Mapping::default());
    plan.options.create_schema = true;
    let err = backfill(&plan, quiet(), no_stop())
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("no primary key"), "{err}");
    assert_eq!(public_tables(&target).await, "");

    // --follow needs `updated_at`, checked once the plan is resolved: the two
    // tables already created are dropped again.
    let mut plan = backfill_plan(&source, &target, &["a", "b"], Mapping::default());
    plan.options.create_schema = true;
    plan.options.follow = Some(FollowOptions::default());
    let err = backfill(&plan, quiet(), no_stop())
        .await
        .expect_err("refused");
    assert!(
        err.to_string()
            .contains("--follow needs column `updated_at`"),
        "{err}"
    );
    assert_eq!(public_tables(&target).await, "");

    // The same run without --follow creates both and copies.
    plan.options.follow = None;
    backfill(&plan, quiet(), no_stop()).await.expect("copies");
    assert_eq!(
        public_tables(&target).await,
        "a, b, msa_backfill_checkpoints, msa_backfill_ranges"
    );
}

/// The primary keys of a PostgreSQL table, by the catalogue: `1` or `0`.
async fn primary_keys(db: &TestDb, table: &str) -> String {
    db.text(&format!(
        "SELECT count(*)::text FROM pg_constraint WHERE conrelid = '{table}'::regclass AND contype = 'p'"
    ))
    .await
    .unwrap_or_default()
}

/// Into a PostgreSQL table it created, the copy builds the primary key at the
/// end, as pg_restore does. Stopped midway, the table has no key yet and its
/// checkpoint says so; verify still runs; the resumed copy builds the key; and
/// a copy started over (`--restart`) builds it first, then merges: whichever
/// way, no row is lost or doubled.
#[tokio::test]
async fn a_created_postgres_table_gets_its_primary_key_after_the_copy() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use msa_backfill::{Error, Event};

    let source = TestDb::new(Kind::Postgres).await;
    let target = TestDb::new(Kind::Postgres).await;
    source
        .exec(
            "CREATE TABLE orders (id BIGINT PRIMARY KEY, total NUMERIC(12,2) NOT NULL, note TEXT);\n\
             INSERT INTO orders SELECT i, i * 1.25, 'note ' || i FROM generate_series(-500, 1499) i",
        )
        .await;
    let mut plan = backfill_plan(&source, &target, &["orders"], Mapping::default());
    plan.options.create_schema = true;
    plan.options.initial_chunk = 100;
    plan.options.max_chunk = 100;
    let stopped_after = |chunks: usize| -> (msa_backfill::Events, msa_backfill::Stop) {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(AtomicUsize::new(0));
        let flag = stop.clone();
        let events: msa_backfill::Events = Arc::new(move |e: &Event| {
            if matches!(e, Event::Progress { .. })
                && seen.fetch_add(1, Ordering::SeqCst) + 1 == chunks
            {
                flag.store(true, Ordering::SeqCst);
            }
        });
        (events, stop)
    };
    let (events, stop) = stopped_after(5);
    let err = backfill(&plan, events, stop).await.expect_err("stopped");
    assert!(matches!(err, Error::Stopped), "{err}");
    assert_eq!(target.count("orders").await, 500);
    assert_eq!(primary_keys(&target, "orders").await, "0");
    assert_eq!(
        target
            .text("SELECT deferred_key FROM msa_backfill_checkpoints WHERE target_table = 'orders'")
            .await
            .as_deref(),
        Some("[\"id\"]")
    );
    // Verify resolves the table by its deferred key, and sees the rows not copied yet.
    let partial = verify(
        &verify_plan(&source, &target, &["orders"], Mapping::default(), false),
        quiet(),
        no_stop(),
    )
    .await
    .expect("verify runs");
    assert_eq!(partial.tables[0].missing_rows, 1500, "{partial:#?}");

    plan.options.create_schema = false;
    let report = backfill(&plan, quiet(), no_stop()).await.expect("resumes");
    assert_eq!(report.tables[0].rows_copied, 2000);
    assert_eq!(target.count("orders").await, 2000);
    assert_eq!(primary_keys(&target, "orders").await, "1");
    assert_eq!(
        target
            .text("SELECT coalesce(deferred_key, 'none') || ' ' || status FROM msa_backfill_checkpoints")
            .await
            .as_deref(),
        Some("none copied")
    );

    // Dropped and created again by a new run, stopped, then started over.
    target.exec("DROP TABLE orders").await;
    plan.options.create_schema = true;
    plan.options.restart = true;
    let (events, stop) = stopped_after(3);
    backfill(&plan, events, stop).await.expect_err("stopped");
    assert_eq!(primary_keys(&target, "orders").await, "0");
    plan.options.create_schema = false;
    let report = backfill(&plan, quiet(), no_stop())
        .await
        .expect("starts over");
    assert_eq!(report.tables[0].rows_copied, 2000);
    assert_eq!(target.count("orders").await, 2000);
    assert_eq!(primary_keys(&target, "orders").await, "1");
    let verified = verify(
        &verify_plan(&source, &target, &["orders"], Mapping::default(), false),
        quiet(),
        no_stop(),
    )
    .await
    .expect("verify runs");
    assert!(verified.clean, "{verified:#?}");
}
