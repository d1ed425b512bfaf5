//! `--create-schema`: a target table from the source's, by explicit type rules
//! (the table in docs/backfill.md).

use msa_playbook::mapping::TableMapping;

use crate::db::{Column, TableSchema, quote};
use crate::dsn::Engine;
use crate::value::{Kind, Value};

/// `(precision, scale)` from a declared type such as `decimal(12,3)`.
fn precision(decl: &str) -> Option<(u32, u32)> {
    let inside = decl.split_once('(')?.1.split_once(')')?.0;
    let mut parts = inside.split(',').map(|p| p.trim().parse::<u32>().ok());
    let p = parts.next()??;
    let s = parts.next().flatten().unwrap_or(0);
    Some((p, s))
}

/// The length of `varchar(n)` / `char(n)`.
fn length(decl: &str) -> Option<u32> {
    let d = decl.to_ascii_lowercase();
    if d.contains("char") && !d.contains("text") {
        precision(&d).map(|(n, _)| n)
    } else {
        None
    }
}

/// The target type for a source column, by the documented rules.
pub(crate) fn target_type(
    engine: Engine,
    from: Engine,
    column: &Column,
    kind: Kind,
    in_key: bool,
) -> String {
    let decl = column.decl.to_ascii_lowercase();
    // SQLite integers are 64-bit whatever the declared name.
    let int_decl = if from == Engine::Sqlite {
        ""
    } else {
        decl.as_str()
    };
    let int_size = |d: &str| {
        if d.starts_with("tinyint") || d.starts_with("smallint") || d == "int2" {
            2
        } else if d.starts_with("mediumint")
            || d.starts_with("int(")
            || d == "int"
            || d == "integer"
            || d == "int4"
        {
            4
        } else {
            8
        }
    };
    match (engine, kind) {
        (Engine::Postgres, Kind::Bool) => "BOOLEAN".to_owned(),
        (Engine::MySql, Kind::Bool) => "TINYINT(1)".to_owned(),
        (Engine::Sqlite, Kind::Bool) => "BOOLEAN".to_owned(),
        (Engine::Sqlite, Kind::Int | Kind::UInt) => "INTEGER".to_owned(),
        (_, Kind::Int) if column.kind == Kind::Int => match int_size(int_decl) {
            2 => "SMALLINT".to_owned(),
            4 => "INTEGER".to_owned(),
            _ => "BIGINT".to_owned(),
        },
        (_, Kind::Int) => "BIGINT".to_owned(),
        // Unsigned: the next wider signed type; BIGINT UNSIGNED needs NUMERIC(20).
        (Engine::MySql, Kind::UInt) => column.decl.to_ascii_uppercase(),
        (Engine::Postgres, Kind::UInt) => match int_size(int_decl) {
            2 => "INTEGER".to_owned(),
            4 => "BIGINT".to_owned(),
            _ => "NUMERIC(20,0)".to_owned(),
        },
        (Engine::Sqlite, Kind::Decimal) => "DECIMAL".to_owned(),
        (_, Kind::Decimal) => match precision(&decl) {
            Some((p, s)) => format!("NUMERIC({p},{s})"),
            None if engine == Engine::MySql => "DECIMAL(65,30)".to_owned(),
            None => "NUMERIC".to_owned(),
        },
        (Engine::Postgres, Kind::Float) if column.single => "REAL".to_owned(),
        (Engine::Postgres, Kind::Float) => "DOUBLE PRECISION".to_owned(),
        (Engine::MySql, Kind::Float) if column.single => "FLOAT".to_owned(),
        (Engine::MySql, Kind::Float) => "DOUBLE".to_owned(),
        (Engine::Sqlite, Kind::Float) => "REAL".to_owned(),
        (Engine::Sqlite, Kind::Text) => "TEXT".to_owned(),
        (_, Kind::Text) => {
            let ty = match length(&decl) {
                Some(n) if engine == Engine::MySql && n > 16_383 => "LONGTEXT".to_owned(),
                Some(n) => format!("VARCHAR({n})"),
                // MySQL cannot key a TEXT column without a length.
                None if engine == Engine::MySql && in_key => "VARCHAR(191)".to_owned(),
                None if engine == Engine::MySql => "LONGTEXT".to_owned(),
                None => "TEXT".to_owned(),
            };
            if engine == Engine::MySql && in_key {
                // The default collation is case- and accent-insensitive: 'KR' and
                // 'kr' would be one key, and the upsert would overwrite one with the other.
                format!("{ty} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
            } else {
                ty
            }
        }
        (Engine::Postgres, Kind::Bytes) => "BYTEA".to_owned(),
        (Engine::MySql, Kind::Bytes) if in_key => "VARBINARY(255)".to_owned(),
        (Engine::MySql, Kind::Bytes) => "LONGBLOB".to_owned(),
        (Engine::Sqlite, Kind::Bytes) => "BLOB".to_owned(),
        (_, Kind::Date) => "DATE".to_owned(),
        (Engine::MySql, Kind::Time) => "TIME(6)".to_owned(),
        (_, Kind::Time) => "TIME".to_owned(),
        (Engine::Postgres, Kind::DateTime) => "TIMESTAMP".to_owned(),
        (Engine::MySql, Kind::DateTime) => "DATETIME(6)".to_owned(),
        (Engine::Sqlite, Kind::DateTime) => "DATETIME".to_owned(),
        (Engine::Postgres, Kind::Timestamptz) => "TIMESTAMPTZ".to_owned(),
        // MySQL TIMESTAMP stops in 2038: instants are stored as UTC DATETIME(6).
        (Engine::MySql, Kind::Timestamptz) => "DATETIME(6)".to_owned(),
        (Engine::Sqlite, Kind::Timestamptz) => "TIMESTAMPTZ".to_owned(),
        (Engine::Postgres, Kind::Json) => "JSONB".to_owned(),
        (_, Kind::Json) => "JSON".to_owned(),
    }
}

/// The kind a value map's results share: integers when all are, else text.
fn mapped_kind(values: &std::collections::BTreeMap<String, msa_playbook::mapping::Scalar>) -> Kind {
    let values: Vec<Value> = values.values().map(Value::from_scalar).collect();
    if values
        .iter()
        .all(|v| matches!(v, Value::Int(_) | Value::Null))
    {
        Kind::Int
    } else if values
        .iter()
        .all(|v| matches!(v, Value::Bool(_) | Value::Null))
    {
        Kind::Bool
    } else {
        Kind::Text
    }
}

/// `CREATE TABLE` for the target of a source table under a mapping.
pub(crate) fn create_table(
    engine: Engine,
    from: Engine,
    source: &TableSchema,
    mapping: &TableMapping,
    target: &str,
) -> String {
    let key_names: Vec<&str> = source
        .key
        .iter()
        .map(|&i| source.columns[i].name.as_str())
        .collect();
    let mut lines = Vec::new();
    for (i, column) in source.columns.iter().enumerate() {
        let Some(name) = mapping.target_column(&column.name) else {
            continue;
        };
        let in_primary = key_names.contains(&column.name.as_str());
        // Part of the primary key or of a unique key carried over.
        let in_key = in_primary || source.unique_keys.iter().any(|k| k.contains(&i));
        let kind = match (
            mapping.cast.get(&column.name),
            mapping.values.get(&column.name),
        ) {
            (Some(cast), _) => crate::resolve::cast_kind(*cast),
            (None, Some(values)) => mapped_kind(values),
            (None, None) => column.kind,
        };
        let ty = if kind == Kind::Int && column.kind != Kind::Int {
            "BIGINT".to_owned()
        } else {
            target_type(engine, from, column, kind, in_key)
        };
        let null = if column.nullable && !in_primary {
            "NULL"
        } else {
            "NOT NULL"
        };
        lines.push(format!("{} {ty} {null}", quote(engine, name)));
    }
    for (name, value) in &mapping.defaults {
        let ty = match Value::from_scalar(value) {
            Value::Int(_) => "BIGINT",
            Value::Bool(_) => {
                if engine == Engine::MySql {
                    "TINYINT(1)"
                } else {
                    "BOOLEAN"
                }
            }
            Value::Float(_) => {
                if engine == Engine::Postgres {
                    "DOUBLE PRECISION"
                } else {
                    "DOUBLE"
                }
            }
            _ => {
                if engine == Engine::MySql {
                    "LONGTEXT"
                } else {
                    "TEXT"
                }
            }
        };
        lines.push(format!("{} {ty} NULL", quote(engine, name)));
    }
    let mapped = |names: &[usize]| -> Option<Vec<String>> {
        names
            .iter()
            .map(|&i| {
                mapping
                    .target_column(&source.columns[i].name)
                    .map(|n| quote(engine, n))
            })
            .collect()
    };
    if let Some(key) = mapped(&source.key) {
        lines.push(format!("PRIMARY KEY ({})", key.join(", ")));
    }
    for unique in &source.unique_keys {
        if *unique != source.key
            && let Some(cols) = mapped(unique)
        {
            lines.push(format!("UNIQUE ({})", cols.join(", ")));
        }
    }
    let suffix = if engine == Engine::MySql {
        " DEFAULT CHARSET = utf8mb4"
    } else {
        ""
    };
    format!(
        "CREATE TABLE {} (\n  {}\n){suffix}",
        quote(engine, target),
        lines.join(",\n  ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Read;

    fn column(name: &str, decl: &str, kind: Kind, nullable: bool) -> Column {
        Column {
            name: name.to_owned(),
            decl: decl.to_owned(),
            kind,
            nullable,
            cast: String::new(),
            read: Read::Plain,
            single: decl == "float",
        }
    }

    #[test]
    fn mysql_types_translate_to_postgres_by_the_rules() {
        let source = TableSchema {
            name: "coupons".to_owned(),
            columns: vec![
                column("id", "bigint(20) unsigned", Kind::UInt, false),
                column("name", "varchar(200)", Kind::Text, false),
                column("active", "tinyint(1)", Kind::Bool, false),
                column("price", "decimal(12,3)", Kind::Decimal, true),
                column("status", "varchar(16)", Kind::Text, false),
                column("at", "datetime(6)", Kind::DateTime, false),
                column("doc", "longtext", Kind::Text, true),
                column("n", "int(10) unsigned", Kind::UInt, true),
            ],
            key: vec![0],
            key_is_primary: true,
            unique_keys: vec![vec![0], vec![1]],
        };
        let mapping: TableMapping = TableMapping {
            target: Some("coupon".to_owned()),
            rename: [("id".to_owned(), "coupon_id".to_owned())].into(),
            values: [(
                "status".to_owned(),
                [("ACTIVE".to_owned(), msa_playbook::mapping::Scalar::Int(1))].into(),
            )]
            .into(),
            ..TableMapping::default()
        };
        let ddl = create_table(Engine::Postgres, Engine::MySql, &source, &mapping, "coupon");
        assert_eq!(
            ddl,
            "CREATE TABLE \"coupon\" (\n  \"coupon_id\" NUMERIC(20,0) NOT NULL,\n  \"name\" VARCHAR(200) NOT NULL,\n  \
             \"active\" BOOLEAN NOT NULL,\n  \"price\" NUMERIC(12,3) NULL,\n  \"status\" BIGINT NOT NULL,\n  \
             \"at\" TIMESTAMP NOT NULL,\n  \"doc\" TEXT NULL,\n  \"n\" BIGINT NULL,\n  PRIMARY KEY (\"coupon_id\"),\n  UNIQUE (\"name\")\n)"
        );
    }
}
