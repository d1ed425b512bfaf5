//! The table-mapping vocabulary shared by `backfill --map` and playbooks (issue #6).
//!
//! Pure serde types and their validation: no I/O. What a mapping says about a
//! table is checked here on its own (names, the filter's shape); checking it
//! against the real source and target schemas is the backfill crate's job.
//!
//! ```yaml
//! tables:
//!   coupons:                     # the source table
//!     target: coupon             # the target table (default: the same name)
//!     rename: { id: coupon_id, name: title, status: state }
//!     drop: [legacy_flag]        # source columns not copied
//!     cast: { discount_amount: integer }
//!     values:                    # source value (as text) → target value
//!       status: { ACTIVE: 1, PAUSED: 2 }
//!     defaults: { region: KR }   # target columns with no source: a constant
//!     zero_dates: { expires_on: "9999-12-31" }   # MySQL `0000-00-00` → this value
//!     filter: "status <> 'DELETED'"   # one SQL expression, applied at the source
//! ```

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How the tables of a domain move: per source table, where and how.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// Per source table name, how it maps to the target.
    #[serde(default)]
    pub tables: BTreeMap<String, TableMapping>,
}

/// How one source table maps to one target table.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TableMapping {
    /// The target table's name; the source's name when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Source column → target column.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rename: BTreeMap<String, String>,
    /// Source columns that are not copied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drop: Vec<String>,
    /// Source column → the type its values are converted to before they are written.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cast: BTreeMap<String, CastType>,
    /// Source column → (source value as text → target value). A value missing
    /// from the map is an error, found before any row moves.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub values: BTreeMap<String, BTreeMap<String, Scalar>>,
    /// Target column → a constant, for target columns no source column feeds.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub defaults: BTreeMap<String, Scalar>,
    /// One SQL boolean expression over the source's columns; only matching rows move.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// Source date/time column → the value written for a MySQL zero date
    /// (`0000-00-00`, or a zero month or day) in it. Without one, a zero date
    /// becomes NULL, or is refused when the target column is NOT NULL.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub zero_dates: BTreeMap<String, Scalar>,
}

/// The types a `cast` converts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CastType {
    /// Text.
    Text,
    /// A signed 64-bit integer.
    Integer,
    /// An exact decimal.
    Decimal,
    /// A 64-bit float.
    Float,
    /// true / false (from 0/1, `t`/`f`, `true`/`false`, `yes`/`no`).
    Boolean,
    /// A calendar date.
    Date,
    /// A time of day.
    Time,
    /// A date and time without a zone.
    Timestamp,
    /// An instant, in UTC (a zoneless source value is read as UTC).
    Timestamptz,
    /// JSON.
    Json,
    /// Bytes.
    Bytes,
}

impl fmt::Display for CastType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::Text => "text",
            Self::Integer => "integer",
            Self::Decimal => "decimal",
            Self::Float => "float",
            Self::Boolean => "boolean",
            Self::Date => "date",
            Self::Time => "time",
            Self::Timestamp => "timestamp",
            Self::Timestamptz => "timestamptz",
            Self::Json => "json",
            Self::Bytes => "bytes",
        };
        f.write_str(name)
    }
}

/// A constant in a mapping: a value map's result or a default.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Scalar {
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A number with a fraction.
    Float(f64),
    /// Text (also dates, decimals: converted to the target column's type).
    Text(String),
    /// `null` / `~`.
    Null(()),
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bool(b) => write!(f, "{b}"),
            Self::Int(i) => write!(f, "{i}"),
            Self::Float(x) => write!(f, "{x}"),
            Self::Text(s) => write!(f, "{s:?}"),
            Self::Null(()) => f.write_str("null"),
        }
    }
}

/// One problem in a mapping, at a field path such as `tables.coupons.filter`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingProblem {
    /// Where: a dotted path from the document's root.
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for MappingProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl Mapping {
    /// Every problem the mapping has on its own, all at once.
    pub fn validate(&self) -> Result<(), Vec<MappingProblem>> {
        let mut problems = Vec::new();
        let mut targets: BTreeMap<&str, &str> = BTreeMap::new();
        for (source, table) in &self.tables {
            let at = |field: &str| format!("tables.{source}{field}");
            let mut push = |field: String, message: String| {
                problems.push(MappingProblem { field, message });
            };
            if let Some(problem) = identifier_problem(source) {
                push(at(""), format!("table name `{source}` {problem}"));
            }
            let target = table.target.as_deref().unwrap_or(source);
            if let Some(problem) = identifier_problem(target) {
                push(at(".target"), format!("`{target}` {problem}"));
            }
            if let Some(other) = targets.insert(target, source) {
                push(
                    at(".target"),
                    format!(
                        "`{other}` and `{source}` both map to target table `{target}`: give each its own target"
                    ),
                );
            }
            let mut new_names: BTreeMap<&str, &str> = BTreeMap::new();
            for (from, to) in &table.rename {
                for name in [from, to] {
                    if let Some(problem) = identifier_problem(name) {
                        push(
                            at(&format!(".rename.{from}")),
                            format!("`{name}` {problem}"),
                        );
                    }
                }
                if table.drop.contains(from) {
                    push(
                        at(&format!(".rename.{from}")),
                        format!("`{from}` is both renamed and dropped: keep one"),
                    );
                }
                if let Some(other) = new_names.insert(to, from) {
                    push(
                        at(&format!(".rename.{from}")),
                        format!("`{other}` and `{from}` are both renamed to `{to}`"),
                    );
                }
            }
            for (index, name) in table.drop.iter().enumerate() {
                if let Some(problem) = identifier_problem(name) {
                    push(
                        at(&format!(".drop[{index}]")),
                        format!("`{name}` {problem}"),
                    );
                }
            }
            for (kind, names) in [
                ("cast", table.cast.keys().collect::<Vec<_>>()),
                ("values", table.values.keys().collect()),
                ("zero_dates", table.zero_dates.keys().collect()),
            ] {
                for name in names {
                    if table.drop.contains(name) {
                        push(
                            at(&format!(".{kind}.{name}")),
                            format!("`{name}` is dropped, so it cannot have a {kind} rule"),
                        );
                    }
                }
            }
            for (column, map) in &table.values {
                if map.is_empty() {
                    push(
                        at(&format!(".values.{column}")),
                        "an empty value map would refuse every row: list the values".to_owned(),
                    );
                }
            }
            for name in table.defaults.keys() {
                if let Some(problem) = identifier_problem(name) {
                    push(
                        at(&format!(".defaults.{name}")),
                        format!("`{name}` {problem}"),
                    );
                }
                if new_names.contains_key(name.as_str()) {
                    push(
                        at(&format!(".defaults.{name}")),
                        format!("target column `{name}` already gets a renamed source column"),
                    );
                }
            }
            if let Some(filter) = &table.filter
                && let Err(problem) = check_filter(filter)
            {
                push(at(".filter"), problem);
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// The mapping of a source table (the identity when the table is not listed).
    pub fn table(&self, source: &str) -> TableMapping {
        self.tables.get(source).cloned().unwrap_or_default()
    }
}

impl TableMapping {
    /// The target column a source column goes to, or `None` when it is dropped.
    pub fn target_column<'a>(&'a self, source: &'a str) -> Option<&'a str> {
        if self.drop.iter().any(|d| d == source) {
            return None;
        }
        Some(self.rename.get(source).map_or(source, String::as_str))
    }
}

/// Why a table or column name cannot be used, if it cannot.
fn identifier_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("is empty");
    }
    if name.len() > 63 {
        return Some("is longer than 63 characters");
    }
    if name
        .chars()
        .any(|c| c == '"' || c == '`' || c == '\0' || c.is_control())
    {
        return Some("contains a quote or control character");
    }
    None
}

/// Checks that a row filter is one SQL expression: no statement separator, no
/// comment, balanced quotes and parentheses, not empty.
pub fn check_filter(filter: &str) -> Result<(), String> {
    let fix = "write one boolean expression over the source's columns, e.g. `status <> 'DELETED'`";
    if filter.trim().is_empty() {
        return Err(format!("the filter is empty: {fix}"));
    }
    let mut depth = 0_i32;
    let mut quote: Option<char> = None;
    let mut chars = filter.chars().peekable();
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            if c == q {
                if chars.peek() == Some(&q) {
                    chars.next();
                } else {
                    quote = None;
                }
            } else if c == '\\' && q == '\'' {
                return Err(format!("the filter has a backslash inside a string: {fix}"));
            }
            continue;
        }
        match c {
            '\'' | '"' | '`' => quote = Some(c),
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err(format!("the filter has an unmatched `)`: {fix}"));
                }
            }
            ';' => {
                return Err(format!(
                    "the filter contains `;`: only one expression is allowed, not statements; {fix}"
                ));
            }
            '-' if chars.peek() == Some(&'-') => {
                return Err(format!("the filter contains a `--` comment: {fix}"));
            }
            '/' if chars.peek() == Some(&'*') => {
                return Err(format!("the filter contains a `/*` comment: {fix}"));
            }
            '#' => return Err(format!("the filter contains a `#` comment: {fix}")),
            _ => {}
        }
    }
    if quote.is_some() {
        return Err(format!("the filter has an unterminated quote: {fix}"));
    }
    if depth != 0 {
        return Err(format!("the filter has an unmatched `(`: {fix}"));
    }
    Ok(())
}

/// The 1-based line of a dotted field path (`tables.coupons.filter`) in YAML
/// text, found by walking the keys by indentation; `None` when not found.
pub fn locate(text: &str, field: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let mut from = 0;
    let mut min_indent: Option<usize> = None;
    let mut found = None;
    for segment in field.split('.') {
        let key = segment.split('[').next().unwrap_or(segment);
        let mut hit = None;
        for (index, line) in lines.iter().enumerate().skip(from) {
            let indent = line.len() - line.trim_start().len();
            let body = line.trim_start().trim_start_matches("- ");
            if let Some(min) = min_indent
                && indent <= min
                && !body.is_empty()
                && !body.starts_with('#')
                && index > from
            {
                break;
            }
            let matches = [key.to_owned(), format!("\"{key}\""), format!("'{key}'")]
                .iter()
                .any(|k| body.starts_with(&format!("{k}:")))
                || body.starts_with('{') && body.contains(&format!("{key}:"));
            if matches {
                hit = Some((index, indent));
                break;
            }
            // Flow mappings on the parent's line: `rename: { id: coupon_id }`.
            if found == Some(index) && line.contains(&format!("{key}:")) {
                hit = Some((index, indent));
                break;
            }
        }
        let (index, indent) = hit?;
        found = Some(index);
        from = index;
        min_indent = Some(indent);
    }
    found.map(|index| index + 1)
}

#[cfg(test)]
mod tests;
