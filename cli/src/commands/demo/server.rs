//! `demo --db URL`: two new databases on a PostgreSQL or MariaDB server, one for
//! the monolith and one for the coupon service.

use anyhow::{Context as _, bail};
use sqlx::Connection as _;

/// Creates both databases on `$conn`, or neither: when the second fails, the
/// first is dropped again. (The names are ours: fixed text and digits.) A
/// macro, for either engine's connection.
macro_rules! create_both {
    ($conn:expr, $names:expr, $base:expr) => {{
        let names: [&String; 2] = $names;
        let mut made: anyhow::Result<()> = Ok(());
        for (i, name) in names.iter().enumerate() {
            let created = sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut $conn)
                .await;
            if let Err(err) = created {
                if i == 1 {
                    let first = names[0];
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE {first}")))
                        .execute(&mut $conn)
                        .await;
                }
                made =
                    Err(err).with_context(|| format!("cannot create database {name} on {}", $base));
                break;
            }
        }
        made
    }};
}

/// A database server named by `--db`, checked before anything is created.
#[derive(Debug)]
pub(super) struct Server {
    postgres: bool,
    /// `scheme://user@host:port`, no password, no database.
    base: String,
    host: String,
    port: u16,
    user: String,
    /// The database to connect to for `CREATE DATABASE`.
    admin_db: String,
}

/// The two databases the demo made on a server.
#[derive(Debug)]
pub(super) struct ServerDatabases {
    /// The monolith's DSN.
    pub(super) monolith: String,
    /// The coupon service's DSN.
    pub(super) coupon: String,
    /// How to drop them afterwards.
    pub(super) drop_hint: String,
}

impl Server {
    /// Reads `--db`: a `postgres://` or `mysql://` URL without a password.
    /// Nothing is connected to or created yet.
    pub(super) fn parse(url: &str) -> anyhow::Result<Self> {
        let parsed = url::Url::parse(url).map_err(|err| {
            anyhow::anyhow!(
                "--db `{url}` is not a URL ({err}): write e.g. postgres://postgres@127.0.0.1:5432 or mysql://root@127.0.0.1:3306"
            )
        })?;
        if parsed.password().is_some() {
            bail!(
                "--db: leave the password out of the URL (the demo shows every command it runs); \
                 use a server that trusts this user, e.g. postgres://postgres@127.0.0.1:5432"
            );
        }
        let postgres = match parsed.scheme() {
            "postgres" | "postgresql" => true,
            "mysql" | "mariadb" => false,
            other => bail!(
                "--db: `{other}://` is not a database server: use postgres://USER@HOST:PORT or mysql://USER@HOST:PORT"
            ),
        };
        let Some(host) = parsed.host_str().filter(|h| !h.is_empty()) else {
            bail!("--db `{url}` names no host: write e.g. postgres://postgres@127.0.0.1:5432");
        };
        let scheme = if postgres { "postgres" } else { "mysql" };
        let port = parsed.port().unwrap_or(if postgres { 5432 } else { 3306 });
        let user = if parsed.username().is_empty() {
            if postgres { "postgres" } else { "root" }
        } else {
            parsed.username()
        };
        let admin_db = match parsed.path().trim_start_matches('/') {
            "" if postgres => "postgres".to_owned(),
            db => db.to_owned(),
        };
        Ok(Self {
            postgres,
            base: format!("{scheme}://{user}@{host}:{port}"),
            host: host.to_owned(),
            port,
            user: user.to_owned(),
            admin_db,
        })
    }

    /// Creates `msa_demo_<stamp>_<pid>_legacy` and `…_coupon` on the server.
    pub(super) async fn create(&self) -> anyhow::Result<ServerDatabases> {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let prefix = format!("msa_demo_{stamp}_{}", std::process::id());
        let (monolith, coupon) = (format!("{prefix}_legacy"), format!("{prefix}_coupon"));
        let admin = format!("{}/{}", self.base, self.admin_db);
        let base = &self.base;
        if self.postgres {
            let mut conn = sqlx::PgConnection::connect(&admin)
                .await
                .with_context(|| format!("cannot connect to {admin}"))?;
            let made = create_both!(conn, [&monolith, &coupon], base);
            conn.close().await.ok();
            made?;
        } else {
            let mut conn = sqlx::MySqlConnection::connect(&admin)
                .await
                .with_context(|| format!("cannot connect to {admin}"))?;
            let made = create_both!(conn, [&monolith, &coupon], base);
            conn.close().await.ok();
            made?;
        }
        let drop_hint = if self.postgres {
            format!(
                "psql {base}/postgres -c 'DROP DATABASE {monolith}' -c 'DROP DATABASE {coupon}'"
            )
        } else {
            format!(
                "mysql -h {} -P {} -u {} -e 'DROP DATABASE {monolith}; DROP DATABASE {coupon}'",
                self.host, self.port, self.user
            )
        };
        Ok(ServerDatabases {
            monolith: format!("{base}/{monolith}"),
            coupon: format!("{base}/{coupon}"),
            drop_hint,
        })
    }

    /// `postgres` or `mysql`.
    pub(super) fn engine(&self) -> &'static str {
        if self.postgres { "postgres" } else { "mysql" }
    }
}
