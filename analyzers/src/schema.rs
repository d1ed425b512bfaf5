//! The live schema through sqlx: tables, columns, primary keys, foreign keys,
//! views, triggers and procedures of PostgreSQL, MySQL/MariaDB and SQLite, plus
//! foreign keys implied by naming (`user_id` → `users.id`), marked inferred.

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sqlx::mysql::MySqlConnection;
use sqlx::postgres::PgConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};

/// A database's schema, names in lower case.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Schema {
    /// `sqlite`, `postgres` or `mysql`.
    pub engine: String,
    pub tables: Vec<Table>,
    pub views: Vec<String>,
    /// (trigger, table).
    pub triggers: Vec<(String, String)>,
    pub procedures: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Table {
    pub name: String,
    pub columns: Vec<Column>,
    pub primary_key: Vec<String>,
    pub foreign_keys: Vec<ForeignKey>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    pub data_type: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForeignKey {
    pub column: String,
    pub references_table: String,
    pub references_column: String,
    /// Implied by the column's name, not declared in the schema.
    pub inferred: bool,
}

/// Why the schema could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    #[error(
        "unsupported database URL `{dsn}`: use sqlite://FILE, postgres://USER@HOST:PORT/DB or mysql://USER@HOST:PORT/DB"
    )]
    UnsupportedScheme { dsn: String },
    #[error("cannot connect to {dsn}: {source}")]
    Connect { dsn: String, source: sqlx::Error },
    #[error("cannot read the schema of {dsn}: {source}")]
    Query { dsn: String, source: sqlx::Error },
}

/// A DSN with its password masked, fit for messages and reports.
pub fn redact_dsn(dsn: &str) -> String {
    let Some((scheme, rest)) = dsn.split_once("://") else {
        return "<unparseable database URL>".to_owned();
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            let masked = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                user.to_owned()
            };
            format!("{scheme}://{masked}@{host}{path}")
        }
        None => dsn.to_owned(),
    }
}

/// Reads the schema of the database a DSN names, read-only.
pub async fn introspect(dsn: &str) -> Result<Schema, SchemaError> {
    let shown = redact_dsn(dsn);
    let connect = |source| SchemaError::Connect {
        dsn: shown.clone(),
        source,
    };
    let query = |source| SchemaError::Query {
        dsn: shown.clone(),
        source,
    };
    let scheme = dsn.split_once("://").map(|(s, _)| s);
    let mut schema = match scheme {
        Some("sqlite") => {
            let mut conn = SqliteConnectOptions::from_str(dsn)
                .map_err(connect)?
                .read_only(true)
                .connect()
                .await
                .map_err(connect)?;
            sqlite(&mut conn).await.map_err(query)?
        }
        Some("postgres" | "postgresql") => {
            let mut conn = PgConnection::connect(dsn).await.map_err(connect)?;
            postgres(&mut conn).await.map_err(query)?
        }
        Some("mysql" | "mariadb") => {
            let dsn = dsn.replacen("mariadb://", "mysql://", 1);
            let mut conn = MySqlConnection::connect(&dsn).await.map_err(connect)?;
            mysql(&mut conn).await.map_err(query)?
        }
        _ => return Err(SchemaError::UnsupportedScheme { dsn: shown }),
    };
    infer_foreign_keys(&mut schema);
    schema.tables.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(schema)
}

async fn sqlite(conn: &mut SqliteConnection) -> Result<Schema, sqlx::Error> {
    let mut schema = Schema {
        engine: "sqlite".to_owned(),
        ..Schema::default()
    };
    let objects: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT type, name, COALESCE(tbl_name, '') FROM sqlite_master \
         WHERE name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    .fetch_all(&mut *conn)
    .await?;
    for (kind, name, table) in objects {
        match kind.as_str() {
            "table" => {
                let columns: Vec<(String, String, i64)> =
                    sqlx::query_as("SELECT name, type, pk FROM pragma_table_info(?) ORDER BY cid")
                        .bind(&name)
                        .fetch_all(&mut *conn)
                        .await?;
                let fks: Vec<(String, String, Option<String>)> = sqlx::query_as(
                    "SELECT \"table\", \"from\", \"to\" FROM pragma_foreign_key_list(?) ORDER BY id, seq",
                )
                .bind(&name)
                .fetch_all(&mut *conn)
                .await?;
                let mut pk: Vec<(i64, String)> = columns
                    .iter()
                    .filter(|c| c.2 > 0)
                    .map(|c| (c.2, c.0.to_lowercase()))
                    .collect();
                pk.sort();
                schema.tables.push(Table {
                    name: name.to_lowercase(),
                    columns: columns
                        .iter()
                        .map(|(n, t, _)| Column {
                            name: n.to_lowercase(),
                            data_type: t.to_lowercase(),
                        })
                        .collect(),
                    primary_key: pk.into_iter().map(|(_, c)| c).collect(),
                    foreign_keys: fks
                        .into_iter()
                        .map(|(to_table, from, to)| ForeignKey {
                            column: from.to_lowercase(),
                            references_table: to_table.to_lowercase(),
                            references_column: to.unwrap_or_else(|| "id".to_owned()).to_lowercase(),
                            inferred: false,
                        })
                        .collect(),
                });
            }
            "view" => schema.views.push(name.to_lowercase()),
            "trigger" => schema
                .triggers
                .push((name.to_lowercase(), table.to_lowercase())),
            _ => {}
        }
    }
    Ok(schema)
}

async fn postgres(conn: &mut PgConnection) -> Result<Schema, sqlx::Error> {
    let tables: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, table_type::text FROM information_schema.tables \
         WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY table_name",
    )
    .fetch_all(&mut *conn)
    .await?;
    let columns: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text, data_type::text FROM information_schema.columns \
         WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY table_name, ordinal_position",
    )
    .fetch_all(&mut *conn)
    .await?;
    let pks: Vec<(String, String)> = sqlx::query_as(
        "SELECT tc.table_name::text, kcu.column_name::text FROM information_schema.table_constraints tc \
         JOIN information_schema.key_column_usage kcu ON kcu.constraint_name = tc.constraint_name \
          AND kcu.table_schema = tc.table_schema AND kcu.table_name = tc.table_name \
         WHERE tc.constraint_type = 'PRIMARY KEY' \
          AND tc.table_schema NOT IN ('pg_catalog', 'information_schema') \
         ORDER BY tc.table_name, kcu.ordinal_position",
    )
    .fetch_all(&mut *conn)
    .await?;
    let fks: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT cl.relname::text, a.attname::text, fcl.relname::text, fa.attname::text \
         FROM pg_constraint c \
         JOIN pg_class cl ON cl.oid = c.conrelid \
         JOIN pg_class fcl ON fcl.oid = c.confrelid \
         JOIN pg_namespace n ON n.oid = cl.relnamespace \
         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] \
         JOIN pg_attribute fa ON fa.attrelid = c.confrelid AND fa.attnum = c.confkey[1] \
         WHERE c.contype = 'f' AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
         ORDER BY 1, 2",
    )
    .fetch_all(&mut *conn)
    .await?;
    let triggers: Vec<(String, String)> = sqlx::query_as(
        "SELECT DISTINCT trigger_name::text, event_object_table::text FROM information_schema.triggers \
         WHERE trigger_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
    )
    .fetch_all(&mut *conn)
    .await?;
    let procedures: Vec<(String,)> = sqlx::query_as(
        "SELECT DISTINCT routine_name::text FROM information_schema.routines \
         WHERE routine_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(assemble(
        "postgres", tables, columns, pks, fks, triggers, procedures,
    ))
}

async fn mysql(conn: &mut MySqlConnection) -> Result<Schema, sqlx::Error> {
    let tables: Vec<(String, String)> = sqlx::query_as(
        "SELECT CAST(TABLE_NAME AS CHAR), CAST(TABLE_TYPE AS CHAR) FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME",
    )
    .fetch_all(&mut *conn)
    .await?;
    let columns: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT CAST(TABLE_NAME AS CHAR), CAST(COLUMN_NAME AS CHAR), CAST(DATA_TYPE AS CHAR) \
         FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
         ORDER BY TABLE_NAME, ORDINAL_POSITION",
    )
    .fetch_all(&mut *conn)
    .await?;
    let pks: Vec<(String, String)> = sqlx::query_as(
        "SELECT CAST(TABLE_NAME AS CHAR), CAST(COLUMN_NAME AS CHAR) FROM information_schema.KEY_COLUMN_USAGE \
         WHERE TABLE_SCHEMA = DATABASE() AND CONSTRAINT_NAME = 'PRIMARY' \
         ORDER BY TABLE_NAME, ORDINAL_POSITION",
    )
    .fetch_all(&mut *conn)
    .await?;
    let fks: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT CAST(TABLE_NAME AS CHAR), CAST(COLUMN_NAME AS CHAR), \
          CAST(REFERENCED_TABLE_NAME AS CHAR), CAST(REFERENCED_COLUMN_NAME AS CHAR) \
         FROM information_schema.KEY_COLUMN_USAGE \
         WHERE TABLE_SCHEMA = DATABASE() AND REFERENCED_TABLE_NAME IS NOT NULL \
         ORDER BY TABLE_NAME, COLUMN_NAME",
    )
    .fetch_all(&mut *conn)
    .await?;
    let triggers: Vec<(String, String)> = sqlx::query_as(
        "SELECT CAST(TRIGGER_NAME AS CHAR), CAST(EVENT_OBJECT_TABLE AS CHAR) FROM information_schema.TRIGGERS \
         WHERE TRIGGER_SCHEMA = DATABASE() ORDER BY TRIGGER_NAME",
    )
    .fetch_all(&mut *conn)
    .await?;
    let procedures: Vec<(String,)> = sqlx::query_as(
        "SELECT CAST(ROUTINE_NAME AS CHAR) FROM information_schema.ROUTINES \
         WHERE ROUTINE_SCHEMA = DATABASE() ORDER BY ROUTINE_NAME",
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(assemble(
        "mysql", tables, columns, pks, fks, triggers, procedures,
    ))
}

fn assemble(
    engine: &str,
    tables: Vec<(String, String)>,
    columns: Vec<(String, String, String)>,
    pks: Vec<(String, String)>,
    fks: Vec<(String, String, String, String)>,
    triggers: Vec<(String, String)>,
    procedures: Vec<(String,)>,
) -> Schema {
    let mut schema = Schema {
        engine: engine.to_owned(),
        ..Schema::default()
    };
    for (name, kind) in tables {
        let name = name.to_lowercase();
        if kind.to_uppercase().contains("VIEW") {
            schema.views.push(name);
            continue;
        }
        schema.tables.push(Table {
            columns: columns
                .iter()
                .filter(|c| c.0.eq_ignore_ascii_case(&name))
                .map(|c| Column {
                    name: c.1.to_lowercase(),
                    data_type: c.2.to_lowercase(),
                })
                .collect(),
            primary_key: pks
                .iter()
                .filter(|p| p.0.eq_ignore_ascii_case(&name))
                .map(|p| p.1.to_lowercase())
                .collect(),
            foreign_keys: fks
                .iter()
                .filter(|f| f.0.eq_ignore_ascii_case(&name))
                .map(|f| ForeignKey {
                    column: f.1.to_lowercase(),
                    references_table: f.2.to_lowercase(),
                    references_column: f.3.to_lowercase(),
                    inferred: false,
                })
                .collect(),
            name,
        });
    }
    schema.triggers = triggers
        .into_iter()
        .map(|(t, table)| (t.to_lowercase(), table.to_lowercase()))
        .collect();
    schema.procedures = procedures
        .into_iter()
        .map(|(p,)| p.to_lowercase())
        .collect();
    schema
}

/// `user_id` → `users.id` (or `user.id`): for each `<name>_id` column without a
/// declared key, a table named `<name>`, `<name>s`, `<name>es` or `<nam>ies`
/// with an `id` column. Added as inferred foreign keys.
pub fn infer_foreign_keys(schema: &mut Schema) {
    let has_id: Vec<(String, String)> = schema
        .tables
        .iter()
        .filter_map(|t| {
            let key = if t.primary_key.len() == 1 {
                t.primary_key[0].clone()
            } else if t.columns.iter().any(|c| c.name == "id") {
                "id".to_owned()
            } else {
                return None;
            };
            Some((t.name.clone(), key))
        })
        .collect();
    for table in &mut schema.tables {
        let mut inferred = Vec::new();
        for column in &table.columns {
            let Some(base) = column.name.strip_suffix("_id").filter(|b| !b.is_empty()) else {
                continue;
            };
            if table.foreign_keys.iter().any(|f| f.column == column.name) {
                continue;
            }
            let candidates = plural_forms(base);
            if let Some((target, key)) = candidates
                .iter()
                .find_map(|c| has_id.iter().find(|(t, _)| t == c))
            {
                inferred.push(ForeignKey {
                    column: column.name.clone(),
                    references_table: target.clone(),
                    references_column: key.clone(),
                    inferred: true,
                });
            }
        }
        table.foreign_keys.extend(inferred);
    }
}

fn plural_forms(base: &str) -> Vec<String> {
    let mut forms = vec![format!("{base}s"), base.to_owned(), format!("{base}es")];
    if let Some(stem) = base.strip_suffix('y') {
        forms.push(format!("{stem}ies"));
    }
    forms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked() {
        assert_eq!(
            redact_dsn("postgres://app:s3cret@db:5432/shop"),
            "postgres://app:***@db:5432/shop"
        );
        assert_eq!(redact_dsn("sqlite://x.db"), "sqlite://x.db");
    }

    #[test]
    fn naming_implies_keys() {
        let table = |name: &str, cols: &[&str]| Table {
            name: name.to_owned(),
            columns: cols
                .iter()
                .map(|c| Column {
                    name: (*c).to_owned(),
                    data_type: "int".to_owned(),
                })
                .collect(),
            primary_key: vec!["id".to_owned()],
            foreign_keys: Vec::new(),
        };
        let mut schema = Schema {
            tables: vec![
                table("users", &["id"]),
                table("member", &["id"]),
                table("categories", &["id"]),
                table(
                    "orders",
                    &["id", "user_id", "member_id", "category_id", "ghost_id"],
                ),
            ],
            ..Schema::default()
        };
        infer_foreign_keys(&mut schema);
        let found: Vec<_> = schema.tables[3]
            .foreign_keys
            .iter()
            .map(|f| {
                format!(
                    "{}→{}.{} {}",
                    f.column, f.references_table, f.references_column, f.inferred
                )
            })
            .collect();
        assert_eq!(
            found,
            [
                "user_id→users.id true",
                "member_id→member.id true",
                "category_id→categories.id true"
            ]
        );
    }
}
