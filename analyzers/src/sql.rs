//! SQL text → the tables it reads and writes, with a real SQL parser
//! (sqlparser: the generic dialect, then MySQL, then PostgreSQL). JPQL/HQL
//! names entities, which the caller maps to tables.
//!
//! INSERT / UPDATE / DELETE / MERGE / REPLACE targets are writes; every other
//! relation (FROM, JOIN, subqueries, `INSERT … SELECT` sources) is a read. CTE
//! names are not tables. Text the parser cannot read falls back to a keyword
//! scan and is reported as unresolved, never dropped.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use serde::Serialize;
use sqlparser::ast::{
    FromTable, ObjectName, Query, Statement, TableFactor, TableObject, Visit, Visitor,
};
use sqlparser::dialect::{Dialect, GenericDialect, MySqlDialect, PostgreSqlDialect};
use sqlparser::parser::Parser;

use crate::facts::Access;

/// What one piece of SQL touches.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SqlTables {
    /// (table, access), lower case, without schema; sorted.
    pub tables: BTreeSet<(String, Access)>,
    /// The parser read the whole text.
    pub parsed: bool,
    /// Why not, when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What frontends put where SQL text is filled in at run time
/// (`format!("… {}", x)`): an identifier, which parses almost anywhere and is
/// never reported as a table.
pub const DYNAMIC: &str = "__dynamic__";

/// Whether a string literal in code is worth handing to the SQL parser.
pub fn looks_like_sql(text: &str) -> bool {
    let upper: String = text
        .trim_start()
        .chars()
        .take(400)
        .collect::<String>()
        .to_ascii_uppercase();
    let words: Vec<&str> = upper.split_whitespace().collect();
    let Some(first) = words.first() else {
        return false;
    };
    let has = |w: &str| words.contains(&w);
    match *first {
        "SELECT" => has("FROM"),
        "INSERT" | "REPLACE" => has("INTO") || words.len() > 3,
        "UPDATE" => has("SET"),
        "DELETE" => has("FROM") || words.len() > 2,
        "MERGE" => has("INTO") || has("USING"),
        "WITH" => has("AS") && has("SELECT"),
        _ => false,
    }
}

/// The tables a SQL statement (or several, `;`-separated) reads and writes.
pub fn tables_of(text: &str) -> SqlTables {
    let cleaned = normalise_placeholders(text);
    let dialects: [&dyn Dialect; 3] = [&GenericDialect {}, &MySqlDialect {}, &PostgreSqlDialect {}];
    let mut first_error = None;
    for dialect in dialects {
        match Parser::parse_sql(dialect, &cleaned) {
            Ok(statements) => {
                let mut out = SqlTables {
                    parsed: true,
                    ..SqlTables::default()
                };
                for statement in &statements {
                    collect(statement, &mut out.tables);
                }
                return out;
            }
            Err(err) => {
                first_error.get_or_insert_with(|| err.to_string());
            }
        }
    }
    SqlTables {
        tables: keyword_scan(&cleaned),
        parsed: false,
        error: first_error,
    }
}

/// JPQL / HQL: the entity names after FROM / JOIN / UPDATE / INTO, and whether
/// the statement writes.
pub fn jpql_entities(text: &str) -> Vec<(String, Access)> {
    let tokens: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')')
        .filter(|t| !t.is_empty())
        .collect();
    let head = tokens.first().map(|t| t.to_ascii_uppercase());
    let write = matches!(head.as_deref(), Some("UPDATE" | "DELETE" | "INSERT"));
    let mut out = Vec::new();
    for pair in tokens.windows(2) {
        let keyword = pair[0].to_ascii_uppercase();
        let name = pair[1];
        if matches!(keyword.as_str(), "FROM" | "JOIN" | "UPDATE" | "INTO")
            && !name.contains('.')
            && name.chars().next().is_some_and(char::is_alphabetic)
        {
            let access = if write && out.is_empty() {
                Access::Write
            } else {
                Access::Read
            };
            out.push((name.to_owned(), access));
        }
    }
    out
}

/// MyBatis `#{x}` / `${x}`, JPA `:name` and `?1` become `?`, which every dialect reads.
fn normalise_placeholders(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            out.push(c);
            if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' | '`' => {
                quote = Some(c);
                out.push(c);
            }
            '#' | '$' if chars.peek() == Some(&'{') => {
                for d in chars.by_ref() {
                    if d == '}' {
                        break;
                    }
                }
                out.push('?');
            }
            ':' if chars.peek().is_some_and(|d| d.is_alphabetic()) && !out.ends_with(':') => {
                while chars
                    .peek()
                    .is_some_and(|d| d.is_alphanumeric() || *d == '_')
                {
                    chars.next();
                }
                out.push('?');
            }
            '?' if chars.peek().is_some_and(char::is_ascii_digit) => {
                while chars.peek().is_some_and(char::is_ascii_digit) {
                    chars.next();
                }
                out.push('?');
            }
            _ => out.push(c),
        }
    }
    out
}

fn table_name(name: &ObjectName) -> Option<String> {
    let last = name.0.last()?.as_ident()?;
    let name = last.value.to_ascii_lowercase();
    (name != DYNAMIC).then_some(name)
}

fn collect(statement: &Statement, tables: &mut BTreeSet<(String, Access)>) {
    let mut writes = BTreeSet::new();
    let factor = |f: &TableFactor, writes: &mut BTreeSet<String>| {
        if let TableFactor::Table { name, .. } = f
            && let Some(t) = table_name(name)
        {
            writes.insert(t);
        }
    };
    match statement {
        Statement::Insert(insert) => {
            if let TableObject::TableName(name) = &insert.table
                && let Some(t) = table_name(name)
            {
                writes.insert(t);
            }
        }
        Statement::Update(update) => factor(&update.table.relation, &mut writes),
        Statement::Delete(delete) => {
            for name in &delete.tables {
                writes.extend(table_name(name));
            }
            if delete.tables.is_empty() {
                let (FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from)) =
                    &delete.from;
                for t in from {
                    factor(&t.relation, &mut writes);
                }
            }
        }
        Statement::Merge(merge) => factor(&merge.table, &mut writes),
        _ => {}
    }
    let mut visitor = Relations::default();
    let _ = statement.visit(&mut visitor);
    for name in visitor.relations {
        if visitor.ctes.contains(&name) {
            continue;
        }
        if !writes.contains(&name) {
            tables.insert((name, Access::Read));
        }
    }
    // A target that is also read elsewhere (UPDATE t … WHERE x IN (SELECT … FROM t))
    // is still one write; the write implies the read.
    for name in writes {
        tables.insert((name, Access::Write));
    }
}

#[derive(Default)]
struct Relations {
    relations: BTreeSet<String>,
    ctes: BTreeSet<String>,
}

impl Visitor for Relations {
    type Break = ();

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<()> {
        self.relations.extend(table_name(relation));
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                self.ctes.insert(cte.alias.name.value.to_ascii_lowercase());
            }
        }
        ControlFlow::Continue(())
    }
}

/// Best effort for text the parser refuses: identifiers after FROM / JOIN
/// (reads) and INTO / UPDATE (writes).
fn keyword_scan(text: &str) -> BTreeSet<(String, Access)> {
    let tokens: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')' || c == ';')
        .filter(|t| !t.is_empty())
        .collect();
    let mut out = BTreeSet::new();
    for pair in tokens.windows(2) {
        let keyword = pair[0].to_ascii_uppercase();
        let name = pair[1].trim_matches(['`', '"', '[', ']']);
        let Some(name) = name.rsplit('.').next() else {
            continue;
        };
        let valid = !name.is_empty()
            && name.chars().all(|c| c.is_alphanumeric() || c == '_')
            && name.chars().next().is_some_and(char::is_alphabetic)
            && name != DYNAMIC
            && !matches!(
                name.to_ascii_uppercase().as_str(),
                "SELECT" | "SET" | "WHERE"
            );
        if !valid {
            continue;
        }
        let access = match keyword.as_str() {
            "FROM" | "JOIN" => Access::Read,
            "INTO" | "UPDATE" => Access::Write,
            _ => continue,
        };
        out.insert((name.to_ascii_lowercase(), access));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(sql: &str) -> Vec<String> {
        tables_of(sql)
            .tables
            .into_iter()
            .map(|(t, a)| format!("{t}:{a:?}"))
            .collect()
    }

    #[test]
    fn writes_targets_and_reads_the_rest() {
        assert_eq!(
            show(
                "SELECT c.x FROM user_coupons uc JOIN coupons c ON c.id = uc.coupon_id WHERE uc.user_id = ?"
            ),
            ["coupons:Read", "user_coupons:Read"]
        );
        assert_eq!(
            show("UPDATE products SET stock = stock - ? WHERE id = ? AND stock >= ?"),
            ["products:Write"]
        );
        assert_eq!(
            show(
                "INSERT INTO archive (id) SELECT o.id FROM orders o WHERE o.id IN (SELECT order_id FROM payments)"
            ),
            ["archive:Write", "orders:Read", "payments:Read"]
        );
        assert_eq!(
            show("DELETE FROM sessions WHERE user_id = $1"),
            ["sessions:Write"]
        );
        assert_eq!(
            show("WITH recent AS (SELECT * FROM orders) SELECT * FROM recent"),
            ["orders:Read"]
        );
        assert_eq!(
            show("INSERT INTO orders (user_id) VALUES (?) RETURNING id"),
            ["orders:Write"]
        );
    }

    #[test]
    fn placeholders_of_orms_parse() {
        assert_eq!(
            show("SELECT * FROM coupon WHERE id = #{id} AND code = :code"),
            ["coupon:Read"]
        );
    }

    #[test]
    fn unparseable_text_is_scanned_and_flagged() {
        let found = tables_of("SELECT * FROM orders WHERE ??? garbage JOIN items");
        assert!(!found.parsed);
        assert!(found.error.is_some());
        assert!(found.tables.contains(&("orders".to_owned(), Access::Read)));
    }

    #[test]
    fn jpql_names_entities() {
        assert_eq!(
            jpql_entities("SELECT o FROM Order o JOIN o.items i WHERE o.userId = :id"),
            [("Order".to_owned(), Access::Read)]
        );
        assert_eq!(
            jpql_entities("UPDATE Coupon c SET c.used = true"),
            [("Coupon".to_owned(), Access::Write)]
        );
    }

    #[test]
    fn sql_is_recognised_in_strings() {
        assert!(looks_like_sql("SELECT id FROM users WHERE id = ?"));
        assert!(looks_like_sql("update points set balance = 1"));
        assert!(!looks_like_sql("Select a coupon"));
        assert!(!looks_like_sql("/api/orders"));
    }
}
