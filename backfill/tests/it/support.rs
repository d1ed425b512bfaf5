//! Fresh databases per test, and a few helpers to run SQL on them.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use msa_backfill::{BackfillPlan, CopyOptions, Dsn, Event, Events, Side, VerifyPlan};
use msa_playbook::mapping::Mapping;
use sqlx::any::AnyPoolOptions;
use sqlx::{AssertSqlSafe, Row};

/// The engines under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Sqlite,
    Postgres,
    MySql,
}

/// A fresh database, dropped when the value is dropped.
pub(crate) struct TestDb {
    pub(crate) kind: Kind,
    pub(crate) url: String,
    admin: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

fn pg_admin() -> String {
    std::env::var("MSA_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn mysql_admin() -> String {
    std::env::var("MSA_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/mysql".to_owned())
}

fn replace_db(url: &str, name: &str) -> String {
    let (base, _) = url.rsplit_once('/').expect("a database URL");
    format!("{base}/{name}")
}

async fn admin_exec(admin: &str, sql: &str) {
    sqlx::any::install_default_drivers();
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .connect(admin)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "cannot reach {admin} ({e}): start the server (bash .ci/run installs and starts it)"
            )
        });
    sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
        .execute(&pool)
        .await
        .expect(sql);
    pool.close().await;
}

impl TestDb {
    pub(crate) async fn new(kind: Kind) -> Self {
        let name = format!("msa_bf_{}", fastrand::u64(..));
        match kind {
            Kind::Sqlite => {
                let dir = tempfile::tempdir().expect("a temp dir");
                let path = dir.path().join("db.sqlite");
                std::fs::File::create(&path).expect("a sqlite file");
                Self {
                    kind,
                    url: format!("sqlite://{}", path.display()),
                    admin: None,
                    _dir: Some(dir),
                }
            }
            Kind::Postgres => {
                let admin = pg_admin();
                admin_exec(&admin, &format!("CREATE DATABASE {name}")).await;
                Self {
                    kind,
                    url: replace_db(&admin, &name),
                    admin: Some((admin, name)),
                    _dir: None,
                }
            }
            Kind::MySql => {
                let admin = mysql_admin();
                admin_exec(&admin, &format!("CREATE DATABASE {name}")).await;
                Self {
                    kind,
                    url: replace_db(&admin, &name),
                    admin: Some((admin, name)),
                    _dir: None,
                }
            }
        }
    }

    /// Runs SQL (several statements allowed).
    pub(crate) async fn exec(&self, sql: &str) {
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .connect(&self.url)
            .await
            .expect("connect");
        sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
            .execute(&pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        pool.close().await;
    }

    /// The first column of the first row, as text (the query must cast it).
    pub(crate) async fn text(&self, sql: &str) -> Option<String> {
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .connect(&self.url)
            .await
            .expect("connect");
        let row = sqlx::query(AssertSqlSafe(sql.to_owned()))
            .fetch_one(&pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let value: Option<String> = row.try_get(0).unwrap_or_else(|e| panic!("{sql}: {e}"));
        pool.close().await;
        value
    }

    pub(crate) async fn count(&self, table: &str) -> i64 {
        let cast = if self.kind == Kind::MySql {
            "CHAR"
        } else {
            "TEXT"
        };
        self.text(&format!("SELECT CAST(COUNT(*) AS {cast}) FROM {table}"))
            .await
            .and_then(|t| t.parse().ok())
            .expect("a count")
    }

    pub(crate) fn dsn(&self, side: Side) -> Dsn {
        Dsn::parse(&self.url, side).expect("a valid DSN")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.admin.take() {
            let sql = format!("DROP DATABASE IF EXISTS {name}");
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
                rt.block_on(async {
                    if admin.starts_with("postgres") {
                        admin_exec(&admin, &format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")).await;
                    }
                    admin_exec(&admin, &sql).await;
                });
            })
            .join();
        }
    }
}

pub(crate) fn quiet() -> Events {
    Arc::new(|_: &Event| {})
}

pub(crate) fn no_stop() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}

pub(crate) fn mapping(yaml: &str) -> Mapping {
    serde_saphyr::from_str(yaml).expect("a valid mapping")
}

pub(crate) fn backfill_plan(
    source: &TestDb,
    target: &TestDb,
    tables: &[&str],
    map: Mapping,
) -> BackfillPlan {
    BackfillPlan {
        source: source.dsn(Side::Source),
        target: target.dsn(Side::Target),
        tables: tables.iter().map(|t| (*t).to_owned()).collect(),
        mapping: map,
        options: CopyOptions::default(),
    }
}

pub(crate) fn verify_plan(
    source: &TestDb,
    target: &TestDb,
    tables: &[&str],
    map: Mapping,
    repair: bool,
) -> VerifyPlan {
    VerifyPlan {
        source: source.dsn(Side::Source),
        target: target.dsn(Side::Target),
        tables: tables.iter().map(|t| (*t).to_owned()).collect(),
        mapping: map,
        repair,
        restart: false,
        chunk_rows: 1000,
        // Ranges of ten chunks, so tests know how many there are.
        range_time: std::time::Duration::ZERO,
        jobs: 2,
    }
}
