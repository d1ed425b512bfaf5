//! `demo --db URL`: two new databases on a PostgreSQL or MariaDB server, one for
//! the monolith and one for the coupon service.

use anyhow::{Context as _, bail};
use sqlx::Connection as _;

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

/// Creates `msa_demo_<stamp>_legacy` and `…_coupon` on the server of `url`.
pub(super) async fn create(url: &str) -> anyhow::Result<ServerDatabases> {
    let parsed = url::Url::parse(url).with_context(|| format!("--db {url} is not a URL"))?;
    if parsed.password().is_some() {
        bail!(
            "--db: leave the password out of the URL (the demo shows every command it runs); \
             use a server that trusts this user, e.g. postgres://postgres@127.0.0.1:5432"
        );
    }
    let postgres = match parsed.scheme() {
        "postgres" | "postgresql" => true,
        "mysql" | "mariadb" => false,
        other => bail!("--db: `{other}://` is not a database server: use postgres:// or mysql://"),
    };
    let scheme = if postgres { "postgres" } else { "mysql" };
    let host = parsed.host_str().unwrap_or("127.0.0.1");
    let port = parsed.port().unwrap_or(if postgres { 5432 } else { 3306 });
    let user = if parsed.username().is_empty() {
        if postgres { "postgres" } else { "root" }
    } else {
        parsed.username()
    };
    let base = format!("{scheme}://{user}@{host}:{port}");
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let prefix = format!("msa_demo_{stamp}_{}", std::process::id());
    let (monolith, coupon) = (format!("{prefix}_legacy"), format!("{prefix}_coupon"));
    let admin_db = parsed.path().trim_start_matches('/');
    if postgres {
        let admin = format!(
            "{base}/{}",
            if admin_db.is_empty() {
                "postgres"
            } else {
                admin_db
            }
        );
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .with_context(|| format!("cannot connect to {admin}"))?;
        for name in [&monolith, &coupon] {
            // The name is ours: fixed text and digits.
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .with_context(|| format!("cannot create database {name} on {base}"))?;
        }
        conn.close().await.ok();
    } else {
        let admin = format!("{base}/{admin_db}");
        let mut conn = sqlx::MySqlConnection::connect(&admin)
            .await
            .with_context(|| format!("cannot connect to {admin}"))?;
        for name in [&monolith, &coupon] {
            // The name is ours: fixed text and digits.
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .with_context(|| format!("cannot create database {name} on {base}"))?;
        }
        conn.close().await.ok();
    }
    let drop_hint = if postgres {
        format!("psql {base}/postgres -c 'DROP DATABASE {monolith}' -c 'DROP DATABASE {coupon}'")
    } else {
        format!(
            "mysql -h {host} -P {port} -u {user} -e 'DROP DATABASE {monolith}; DROP DATABASE {coupon}'"
        )
    };
    Ok(ServerDatabases {
        monolith: format!("{base}/{monolith}"),
        coupon: format!("{base}/{coupon}"),
        drop_hint,
    })
}
