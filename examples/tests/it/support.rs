//! Fresh databases per test, services started as real processes, and an HTTP client.

use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use sqlx::{AssertSqlSafe, Connection};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};

/// The engines every contract test runs on.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
    MariaDb,
}

/// Expands `on_every_engine!(a, b)` into `sqlite::a`, `postgres::a`, `mariadb::a`, …
/// test functions that call `a(Backend::…)` from the enclosing module.
macro_rules! on_every_engine {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() { super::$test($crate::support::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() { super::$test($crate::support::Backend::Postgres).await })*
        }
        mod mariadb {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() { super::$test($crate::support::Backend::MariaDb).await })*
        }
    };
}
pub(crate) use on_every_engine;

/// A database created for one test and dropped after it.
#[derive(Debug)]
pub(crate) struct TestDb {
    pub(crate) dsn: String,
    server: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub(crate) async fn create(backend: Backend) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "msa_test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("a temporary directory");
                let dsn = format!(
                    "sqlite://{}",
                    dir.path().join(format!("{name}.db")).display()
                );
                Self {
                    dsn,
                    server: None,
                    _dir: Some(dir),
                }
            }
            Backend::Postgres | Backend::MariaDb => {
                let admin = admin_url(backend);
                let mut conn = connect_admin(backend, &admin).await;
                sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .unwrap_or_else(|err| panic!("cannot create database {name}: {err}"));
                let mut url = url::Url::parse(&admin).expect("a valid admin URL");
                url.set_path(&name);
                Self {
                    dsn: url.to_string(),
                    server: Some((admin, name)),
                    _dir: None,
                }
            }
        }
    }

    /// A direct connection, for asserting what the service stored.
    pub(crate) async fn connect(&self) -> sqlx::AnyConnection {
        sqlx::any::install_default_drivers();
        sqlx::AnyConnection::connect(&self.dsn)
            .await
            .expect("a connection to the test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin, name)) = self.server.take() else {
            return;
        };
        // Drop runs inside the test's runtime, which cannot block on another
        // future: drop the database from a thread with a runtime of its own.
        let database = name.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                let backend = if admin.starts_with("postgres") {
                    Backend::Postgres
                } else {
                    Backend::MariaDb
                };
                let statement = match backend {
                    Backend::Postgres => format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"),
                    _ => format!("DROP DATABASE IF EXISTS {database}"),
                };
                let mut conn = connect_admin(backend, &admin).await;
                sqlx::raw_sql(AssertSqlSafe(statement))
                    .execute(&mut conn)
                    .await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(_))) && !std::thread::panicking() {
            panic!("cannot drop test database {name}: {dropped:?}");
        }
    }
}

fn admin_url(backend: Backend) -> String {
    match backend {
        Backend::Postgres => std::env::var("MSA_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned()),
        Backend::MariaDb => std::env::var("MSA_TEST_MYSQL_URL")
            .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/mysql".to_owned()),
        Backend::Sqlite => unreachable!("SQLite needs no server"),
    }
}

async fn connect_admin(backend: Backend, admin: &str) -> sqlx::AnyConnection {
    sqlx::any::install_default_drivers();
    match sqlx::AnyConnection::connect(admin).await {
        Ok(conn) => conn,
        Err(err) => {
            let (server, variable, start) = match backend {
                Backend::Postgres => (
                    "PostgreSQL",
                    "MSA_TEST_PG_URL",
                    "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
                ),
                _ => (
                    "MariaDB",
                    "MSA_TEST_MYSQL_URL",
                    "start-stop-daemon --start --background --exec /usr/sbin/mariadbd",
                ),
            };
            panic!(
                "{server} is not reachable at {admin} ({err}).\n\
                 Start it (`{start}`), point {variable} at a server you have, \
                 or run `bash .ci/run`, which installs and starts PostgreSQL and MariaDB."
            )
        }
    }
}

/// A service started as a real process, killed when dropped.
#[derive(Debug)]
pub(crate) struct Service {
    pub(crate) url: String,
    client: reqwest::Client,
    _child: Child,
    // Kept open: the service must never die of a closed pipe.
    _stdout: BufReader<ChildStdout>,
}

pub(crate) const MONOLITH: &str = env!("CARGO_BIN_EXE_legacy-commerce");
pub(crate) const COUPON_SERVICE: &str = env!("CARGO_BIN_EXE_coupon-service");

impl Service {
    /// Starts `program --db DSN --listen 127.0.0.1:0 ARGS…` and waits for its address.
    pub(crate) async fn start(program: &str, db: &TestDb, args: &[&str]) -> Self {
        let mut child = Command::new(program)
            .args(["--db", &db.dsn, "--listen", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {program}: {err}"));
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        tokio::time::timeout(Duration::from_secs(60), stdout.read_line(&mut line))
            .await
            .unwrap_or_else(|_| panic!("{program} did not start within 60 s"))
            .expect("its stdout");
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("{program} printed {line:?} instead of its address"))
            .to_owned();
        Self {
            url,
            client: reqwest::Client::new(),
            _child: child,
            _stdout: stdout,
        }
    }

    pub(crate) async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.client.get(format!("{}{path}", self.url)))
            .await
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(self.client.post(format!("{}{path}", self.url)).json(&body))
            .await
    }

    /// POSTs a raw body with the given content type.
    pub(crate) async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: &'static str,
    ) -> (StatusCode, Value) {
        let request = self
            .client
            .post(format!("{}{path}", self.url))
            .header("content-type", content_type)
            .body(body);
        self.send(request).await
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let response = request.send().await.expect("an HTTP answer");
        let status = response.status();
        let text = response.text().await.expect("a body");
        let body = serde_json::from_str(&text).unwrap_or_else(|err| {
            panic!("answer with status {status} is not JSON ({err}): {text}")
        });
        (status, body)
    }
}

/// The error code of an error answer.
pub(crate) fn error_code(body: &Value) -> &str {
    body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error answer: {body}"))
}

/// `value` with the named fields removed at every depth: for fields that
/// legitimately differ between two runs (the time a coupon was issued).
pub(crate) fn without(mut value: Value, fields: &[&str]) -> Value {
    fn strip(value: &mut Value, fields: &[&str]) {
        match value {
            Value::Object(map) => {
                map.retain(|key, _| !fields.contains(&key.as_str()));
                map.values_mut().for_each(|v| strip(v, fields));
            }
            Value::Array(items) => items.iter_mut().for_each(|v| strip(v, fields)),
            _ => {}
        }
    }
    strip(&mut value, fields);
    value
}
