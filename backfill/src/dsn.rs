//! Database URLs: which engine, where, and a `Display` that never shows the password.

use std::fmt;

use crate::error::Error;

/// The engines msa-migrate moves data between.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// SQLite (a file).
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    MySql,
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sqlite => "SQLite",
            Self::Postgres => "PostgreSQL",
            Self::MySql => "MySQL/MariaDB",
        })
    }
}

/// Which side of the copy a DSN is: decides the password variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The monolith's database; password from `MSA_SOURCE_PASSWORD` when absent.
    Source,
    /// The service's database; password from `MSA_TARGET_PASSWORD` when absent.
    Target,
}

impl Side {
    fn password_variable(self) -> &'static str {
        match self {
            Self::Source => "MSA_SOURCE_PASSWORD",
            Self::Target => "MSA_TARGET_PASSWORD",
        }
    }
}

/// A parsed database URL. `Display` masks the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Dsn {
    engine: Engine,
    /// The URL the driver gets, password included.
    url: String,
    /// The URL people see.
    shown: String,
}

impl fmt::Debug for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Dsn").field(&self.shown).finish()
    }
}

impl fmt::Display for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl Dsn {
    /// Parses a DSN, expanding `${VAR}` from the environment and taking the
    /// password from `MSA_SOURCE_PASSWORD` / `MSA_TARGET_PASSWORD` when the URL has none.
    pub fn parse(text: &str, side: Side) -> Result<Self, Error> {
        Self::parse_with(text, side, |name| std::env::var(name).ok())
    }

    /// [`Dsn::parse`] with an explicit environment (for tests).
    pub fn parse_with(
        text: &str,
        side: Side,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, Error> {
        let bad = |problem: String| Error::BadDsn {
            dsn: redact(text),
            problem,
        };
        let expanded = expand(text, &env).map_err(bad)?;
        let scheme = expanded
            .split_once("://")
            .map(|(scheme, _)| scheme.to_ascii_lowercase());
        let engine = match scheme.as_deref() {
            Some("sqlite") => Engine::Sqlite,
            Some("postgres" | "postgresql") => Engine::Postgres,
            Some("mysql" | "mariadb") => Engine::MySql,
            _ => {
                return Err(bad(
                    "use sqlite://FILE, postgres://USER@HOST:PORT/DB or mysql://USER@HOST:PORT/DB"
                        .to_owned(),
                ));
            }
        };
        if engine == Engine::Sqlite {
            let path = expanded.split_once("://").map_or("", |(_, p)| p);
            let path = path.split('?').next().unwrap_or(path);
            if path.is_empty() {
                return Err(bad("name the database file: sqlite://PATH".to_owned()));
            }
            return Ok(Self {
                engine,
                shown: expanded.clone(),
                url: expanded,
            });
        }
        let mut url = url::Url::parse(&expanded).map_err(|err| bad(format!("{err}")))?;
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("the URL names no host".to_owned()));
        }
        if url.path().trim_start_matches('/').is_empty() {
            return Err(bad("the URL names no database: add /DATABASE".to_owned()));
        }
        if engine == Engine::MySql {
            // sqlx only knows the `mysql` scheme.
            let rest = &expanded[expanded.find("://").unwrap_or(0)..];
            url = url::Url::parse(&format!("mysql{rest}")).map_err(|err| bad(format!("{err}")))?;
        }
        if url.password().is_none()
            && let Some(password) = env(side.password_variable())
        {
            url.set_password(Some(&password))
                .map_err(|()| bad("cannot set a password on this URL".to_owned()))?;
        }
        let url = url.to_string();
        Ok(Self {
            engine,
            shown: redact(&url),
            url,
        })
    }

    /// The engine this DSN names.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// The URL with its password, for the driver only.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }
}

/// Expands `${VAR}` from the environment; an unset variable is an error.
fn expand(text: &str, env: &impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| "`${` without a closing `}`".to_owned())?;
        let name = &after[..end];
        let value = env(name).ok_or_else(|| {
            format!("environment variable {name} is not set: export it or write the value")
        })?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A URL with its password replaced by `***` (best effort on unparsable text).
pub fn redact(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!(
                    "{scheme}://{user}:***@{}{}",
                    &authority[at + 1..],
                    &rest[authority_end..]
                ),
                None => text.to_owned(),
            }
        }
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "MSA_SOURCE_PASSWORD" => Some("s3cret".to_owned()),
            "DB_HOST" => Some("db.internal".to_owned()),
            _ => None,
        }
    }

    #[test]
    fn passwords_never_show() {
        let dsn =
            Dsn::parse_with("postgres://app:hunter2@h:5432/db", Side::Target, env).expect("valid");
        assert_eq!(dsn.to_string(), "postgres://app:***@h:5432/db");
        assert!(dsn.url().contains("hunter2"));
        assert!(!format!("{dsn:?}").contains("hunter2"));
    }

    #[test]
    fn passwords_and_parts_come_from_the_environment() {
        let dsn =
            Dsn::parse_with("mariadb://app@${DB_HOST}:3306/shop", Side::Source, env).expect("ok");
        assert_eq!(dsn.engine(), Engine::MySql);
        assert_eq!(dsn.url(), "mysql://app:s3cret@db.internal:3306/shop");
        assert_eq!(dsn.to_string(), "mysql://app:***@db.internal:3306/shop");
        let err = Dsn::parse_with("postgres://a@${NOPE}/db", Side::Source, env).expect_err("unset");
        assert!(err.to_string().contains("NOPE"), "{err}");
    }

    #[test]
    fn bad_dsns_say_what_to_write() {
        for bad in [
            "oracle://x:pw@h/db",
            "postgres://u:pw@h:5432",
            "sqlite://",
            "nonsense",
        ] {
            let err = Dsn::parse_with(bad, Side::Source, env).expect_err(bad);
            assert!(!err.to_string().contains("pw@"), "{err}");
        }
        assert_eq!(
            Dsn::parse_with("sqlite:///tmp/a.db", Side::Source, env)
                .expect("ok")
                .engine(),
            Engine::Sqlite
        );
    }
}
