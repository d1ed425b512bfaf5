//! PostgreSQL to PostgreSQL, every column copied as it is: a chunk is read
//! with `COPY (SELECT …) TO STDOUT` and its text goes to the target's `COPY
//! … FROM STDIN` untouched, the way `pg_dump | psql` moves it. The text
//! PostgreSQL writes is the text it reads back (both sessions use ISO dates,
//! UTC and exact floats: see `Db::connect`), so nothing is decoded or
//! re-encoded on the way. The chunk's last key is read from its last line.
//!
//! Only for integer keys: they bound the next chunk as literals (`COPY` takes
//! no binds) and parse back from the text exactly.

use crate::db::{Db, SqlBuilder, quote};
use crate::dsn::Engine;
use crate::plan::{TablePlan, select_with};
use crate::value::{Kind, Value};

/// How a table's chunks are read as COPY text.
#[derive(Debug, Clone)]
pub(crate) struct TextCopy {
    /// The source columns selected, in the target's write order.
    columns: Vec<String>,
    /// Where each key column is among the fields of a line, in key order.
    key_fields: Vec<usize>,
}

/// A chunk read as COPY text.
pub(crate) struct TextChunk {
    /// The text, a line per row.
    pub(crate) data: Vec<u8>,
    /// Rows in it.
    pub(crate) rows: usize,
    /// The last row's source key; `None` when the chunk is empty.
    pub(crate) last: Option<Vec<Value>>,
}

impl TextCopy {
    /// When it applies: both sides PostgreSQL, every target column its source
    /// column as it is, and a key of integer columns.
    pub(crate) fn for_plan(source: &Db, target: &Db, plan: &TablePlan) -> Option<Self> {
        if source.engine() != Engine::Postgres || target.engine() != Engine::Postgres {
            return None;
        }
        let sources = plan.copied_as_is()?;
        if !plan
            .source_key_columns()
            .iter()
            .all(|c| c.kind == Kind::Int)
        {
            return None;
        }
        Some(Self {
            columns: sources
                .iter()
                .map(|&i| quote(Engine::Postgres, &plan.read[i].name))
                .collect(),
            key_fields: plan.target_key.clone(),
        })
    }

    /// The statement that reads the rows after `after`, up to `upto`, in key
    /// order, at most `limit`.
    fn statement(
        &self,
        source: &Db,
        plan: &TablePlan,
        after: Option<&[Value]>,
        upto: &[Value],
        limit: usize,
    ) -> String {
        let select = select_with(
            SqlBuilder::inlining_integers(Engine::Postgres),
            source,
            &plan.source.name,
            &self.columns,
            &plan.source_key_columns(),
            plan.filter.as_deref(),
            (after, Some(upto)),
            Some(limit),
        );
        debug_assert!(select.binds.is_empty(), "integer keys are inlined");
        format!("COPY ({}) TO STDOUT", select.sql)
    }

    /// Reads a chunk; `bytes` is the room to reserve for its text.
    pub(crate) async fn read(
        &self,
        source: &Db,
        plan: &TablePlan,
        (after, upto): (Option<&[Value]>, &[Value]),
        limit: usize,
        bytes: usize,
    ) -> Result<TextChunk, sqlx::Error> {
        let copy = self.statement(source, plan, after, upto, limit);
        let mut data = Vec::with_capacity(bytes);
        source.pg_copy_out(&copy, &mut data).await?;
        let rows = memchr::memchr_iter(b'\n', &data).count();
        let last = match last_line(&data) {
            Some(line) => Some(
                key_of_line(line, &self.key_fields)
                    .map_err(|message| sqlx::Error::Decode(message.into()))?,
            ),
            None => None,
        };
        Ok(TextChunk { data, rows, last })
    }
}

/// The last line of COPY text, without its newline.
fn last_line(data: &[u8]) -> Option<&[u8]> {
    let body = data.strip_suffix(b"\n")?;
    let start = memchr::memrchr(b'\n', body).map_or(0, |at| at + 1);
    Some(&body[start..])
}

/// The integer key in a line of COPY text: the fields at `key_fields`.
fn key_of_line(line: &[u8], key_fields: &[usize]) -> Result<Vec<Value>, String> {
    let fields: Vec<&[u8]> = line.split(|&b| b == b'\t').collect();
    key_fields
        .iter()
        .map(|&at| {
            let field = fields
                .get(at)
                .ok_or_else(|| format!("a COPY line has no field {at}"))?;
            std::str::from_utf8(field)
                .ok()
                .and_then(|text| text.parse::<i64>().ok())
                .map(Value::Int)
                .ok_or_else(|| {
                    format!(
                        "a key field of COPY text is not an integer: {:?}",
                        String::from_utf8_lossy(field)
                    )
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_key_is_read_from_the_last_line() {
        let data = b"1\ta\\tb\t\\N\n-7\tx\t3\n";
        let line = last_line(data).expect("a line");
        assert_eq!(line, b"-7\tx\t3");
        assert_eq!(
            key_of_line(line, &[2, 0]),
            Ok(vec![Value::Int(3), Value::Int(-7)])
        );
        assert_eq!(last_line(b""), None);
        assert_eq!(last_line(b"5\n"), Some(&b"5"[..]));
    }

    #[test]
    fn a_key_field_that_is_not_an_integer_is_an_error() {
        assert!(key_of_line(b"\\N\tx", &[0]).is_err());
        assert!(key_of_line(b"1\tx", &[4]).is_err());
    }
}
