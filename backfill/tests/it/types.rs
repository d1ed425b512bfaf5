//! Each type rule, round-tripped between every pair of engines and verified,
//! with spot checks of what the target holds (so a rule applied the same wrong
//! way on both sides of verify would still show).

use msa_backfill::{Engine, backfill, verify};
use msa_playbook::mapping::Mapping;

use crate::support::{Kind, TestDb, backfill_plan, no_stop, quiet, verify_plan};

fn ddl(kind: Kind) -> &'static str {
    match kind {
        Kind::Postgres => {
            "CREATE TABLE typed (id BIGINT PRIMARY KEY, flag BOOLEAN NOT NULL, small SMALLINT, \
             big BIGINT, price NUMERIC(12,3), ratio DOUBLE PRECISION, name VARCHAR(100), body TEXT, \
             data BYTEA, day DATE, at_time TIME, local_at TIMESTAMP, instant TIMESTAMPTZ, doc JSONB, \
             counter BIGINT)"
        }
        Kind::MySql => {
            "CREATE TABLE typed (id BIGINT NOT NULL PRIMARY KEY, flag TINYINT(1) NOT NULL, small SMALLINT, \
             big BIGINT, price DECIMAL(12,3), ratio DOUBLE, name VARCHAR(100), body TEXT, \
             data BLOB, day DATE, at_time TIME(6), local_at DATETIME(6), instant TIMESTAMP(6) NULL DEFAULT NULL, \
             doc JSON, counter INT UNSIGNED) DEFAULT CHARSET = utf8mb4"
        }
        Kind::Sqlite => {
            "CREATE TABLE typed (id INTEGER PRIMARY KEY, flag BOOLEAN NOT NULL, small INTEGER, \
             big INTEGER, price DECIMAL(12,3), ratio REAL, name TEXT, body TEXT, data BLOB, day DATE, \
             at_time TIME, local_at DATETIME, instant TIMESTAMPTZ, doc JSON, counter INTEGER)"
        }
    }
}

fn rows(kind: Kind) -> String {
    let (t, f) = match kind {
        Kind::Sqlite => ("1", "0"),
        _ => ("TRUE", "FALSE"),
    };
    let bytes = |hex: &str| match kind {
        Kind::Postgres => format!("decode('{hex}', 'hex')"),
        _ => format!("X'{hex}'"),
    };
    let instant = |s: &str| match kind {
        Kind::Postgres => format!("'{s}+00'"),
        Kind::MySql => format!("'{s}'"),
        Kind::Sqlite => format!("'{}+00:00'", s.replace(' ', "T")),
    };
    let prefix = if kind == Kind::MySql {
        "SET time_zone = '+00:00';\n"
    } else {
        ""
    };
    format!(
        "{prefix}INSERT INTO typed VALUES \
         (-5, {t}, -32768, -9223372036854775807, -12.500, -0.25, 'négatif ✓', 'multi\nline', {}, '1999-12-31', '23:59:59.999999', '1999-12-31 23:59:59.999999', {}, '{{\"b\": 1, \"a\": [true, null]}}', 4294967295),\
         (0, {f}, 0, 0, 0.000, 0, '', '', {}, '2000-01-01', '00:00:00', '2000-01-01 00:00:00', {}, '[]', 0),\
         (1, {t}, 7, 42, 12.500, 3.5, 'coupon', 'text', {}, '2026-01-09', '10:35:25.123456', '2026-01-09 10:35:25.123456', {}, '{{\"k\": \"v\"}}', 7),\
         (2, {f}, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
        bytes("00ff10"),
        instant("1999-12-31 23:59:59.999999"),
        bytes(""),
        instant("2000-01-01 00:00:00"),
        bytes("636f75706f6e"),
        instant("2026-01-09 10:35:25.123456"),
    )
}

/// What the target holds for row 1, read with the target's own SQL.
async fn spot_check(target: &TestDb) {
    match target.kind {
        Kind::Postgres => {
            let instant = target
                .text("SELECT to_char(instant AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') FROM typed WHERE id = 1")
                .await;
            assert_eq!(instant.as_deref(), Some("2026-01-09 10:35:25.123456"));
            assert_eq!(
                target
                    .text("SELECT price::text FROM typed WHERE id = -5")
                    .await
                    .as_deref(),
                Some("-12.500")
            );
            assert_eq!(
                target
                    .text("SELECT flag::text FROM typed WHERE id = 1")
                    .await
                    .as_deref(),
                Some("true")
            );
            assert_eq!(
                target
                    .text("SELECT encode(data, 'hex') FROM typed WHERE id = -5")
                    .await
                    .as_deref(),
                Some("00ff10")
            );
            assert_eq!(
                target
                    .text("SELECT doc->>'k' FROM typed WHERE id = 1")
                    .await
                    .as_deref(),
                Some("v")
            );
            assert_eq!(
                target
                    .text("SELECT counter::text FROM typed WHERE id = -5")
                    .await
                    .as_deref(),
                Some("4294967295")
            );
        }
        Kind::MySql => {
            let epoch = target
                .text("SELECT CAST(UNIX_TIMESTAMP(instant) AS CHAR) FROM typed WHERE id = 1")
                .await;
            assert_eq!(epoch.as_deref(), Some("1767954925.123456"));
            assert_eq!(
                target
                    .text("SELECT CAST(price AS CHAR) FROM typed WHERE id = -5")
                    .await
                    .as_deref(),
                Some("-12.500")
            );
            assert_eq!(
                target
                    .text("SELECT CAST(flag AS CHAR) FROM typed WHERE id = 1")
                    .await
                    .as_deref(),
                Some("1")
            );
            assert_eq!(
                target
                    .text("SELECT HEX(data) FROM typed WHERE id = -5")
                    .await
                    .as_deref(),
                Some("00FF10")
            );
            assert_eq!(
                target
                    .text("SELECT CAST(local_at AS CHAR) FROM typed WHERE id = 1")
                    .await
                    .as_deref(),
                Some("2026-01-09 10:35:25.123456")
            );
        }
        Kind::Sqlite => {
            assert_eq!(
                target
                    .text("SELECT CAST(instant AS TEXT) FROM typed WHERE id = 1")
                    .await
                    .as_deref(),
                Some("2026-01-09T10:35:25.123456+00:00")
            );
            assert_eq!(
                target
                    .text("SELECT CAST(local_at AS TEXT) FROM typed WHERE id = 1")
                    .await
                    .as_deref(),
                Some("2026-01-09 10:35:25.123456")
            );
            assert_eq!(
                target
                    .text("SELECT hex(data) FROM typed WHERE id = -5")
                    .await
                    .as_deref(),
                Some("00FF10")
            );
            assert_eq!(
                target
                    .text("SELECT CAST(flag AS TEXT) FROM typed WHERE id = 1")
                    .await
                    .as_deref(),
                Some("1")
            );
        }
    }
    assert_eq!(
        target
            .text("SELECT name FROM typed WHERE id = -5")
            .await
            .as_deref(),
        Some("négatif ✓")
    );
    assert_eq!(
        target.text("SELECT name FROM typed WHERE id = 2").await,
        None
    );
}

async fn round_trip(from: Kind, to: Kind) {
    let source = TestDb::new(from).await;
    let target = TestDb::new(to).await;
    source.exec(ddl(from)).await;
    source.exec(&rows(from)).await;
    target.exec(ddl(to)).await;
    let plan = backfill_plan(&source, &target, &["typed"], Mapping::default());
    let report = backfill(&plan, quiet(), no_stop())
        .await
        .unwrap_or_else(|e| panic!("{from:?} → {to:?}: {e}"));
    assert_eq!(report.tables[0].rows_copied, 4);
    assert_eq!(target.count("typed").await, 4);
    let verified = verify(
        &verify_plan(&source, &target, &["typed"], Mapping::default(), false),
        quiet(),
    )
    .await
    .expect("verify runs");
    assert!(verified.clean, "{from:?} → {to:?}: {verified:#?}");
    assert_eq!(verified.rows_checked, 4);
    spot_check(&target).await;
    assert_eq!(plan.source.engine() == Engine::Sqlite, from == Kind::Sqlite);
}

#[tokio::test]
async fn mariadb_to_postgres() {
    round_trip(Kind::MySql, Kind::Postgres).await;
}

#[tokio::test]
async fn postgres_to_mariadb() {
    round_trip(Kind::Postgres, Kind::MySql).await;
}

#[tokio::test]
async fn postgres_to_sqlite() {
    round_trip(Kind::Postgres, Kind::Sqlite).await;
}

#[tokio::test]
async fn sqlite_to_postgres() {
    round_trip(Kind::Sqlite, Kind::Postgres).await;
}

#[tokio::test]
async fn mariadb_to_sqlite() {
    round_trip(Kind::MySql, Kind::Sqlite).await;
}

#[tokio::test]
async fn sqlite_to_mariadb() {
    round_trip(Kind::Sqlite, Kind::MySql).await;
}

#[tokio::test]
async fn postgres_to_postgres() {
    round_trip(Kind::Postgres, Kind::Postgres).await;
}

#[tokio::test]
async fn mariadb_to_mariadb() {
    round_trip(Kind::MySql, Kind::MySql).await;
}

/// `--create-schema`: the target table is made from the source's by the type
/// rules, and the copy into it verifies clean.
async fn created(from: Kind, to: Kind) {
    let source = TestDb::new(from).await;
    let target = TestDb::new(to).await;
    source.exec(ddl(from)).await;
    source.exec(&rows(from)).await;
    let mut plan = backfill_plan(&source, &target, &["typed"], Mapping::default());
    plan.options.create_schema = true;
    plan.options.dry_run = true;
    let dry = backfill(&plan, quiet(), no_stop())
        .await
        .expect("a dry run");
    assert!(
        dry.plan
            .contains("would create in the target:\nCREATE TABLE"),
        "{}",
        dry.plan
    );
    plan.options.dry_run = false;
    let report = backfill(&plan, quiet(), no_stop())
        .await
        .unwrap_or_else(|e| panic!("{from:?} → {to:?}: {e}"));
    assert!(
        report.plan.contains("created in the target:"),
        "{}",
        report.plan
    );
    assert_eq!(target.count("typed").await, 4);
    let verified = verify(
        &verify_plan(&source, &target, &["typed"], Mapping::default(), false),
        quiet(),
    )
    .await
    .expect("verify runs");
    assert!(verified.clean, "{from:?} → {to:?}: {verified:#?}");
}

#[tokio::test]
async fn create_schema_mariadb_to_postgres() {
    created(Kind::MySql, Kind::Postgres).await;
}

#[tokio::test]
async fn create_schema_postgres_to_mariadb() {
    created(Kind::Postgres, Kind::MySql).await;
}

#[tokio::test]
async fn create_schema_postgres_to_sqlite() {
    created(Kind::Postgres, Kind::Sqlite).await;
}

#[tokio::test]
async fn create_schema_sqlite_to_mariadb() {
    created(Kind::Sqlite, Kind::MySql).await;
}
