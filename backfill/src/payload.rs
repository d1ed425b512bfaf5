//! The data of a PostgreSQL `COPY … FROM STDIN` (text format), built row by
//! row: from [`Value`]s, or straight from the source driver's row when a
//! column needs no conversion (a *passthrough*: the cell's bytes or decoded
//! scalar written as COPY text without a `Value` in between).
//!
//! Both ways write the same text for the same value: the passthrough calls the
//! same writers as [`Payload::push_value`], so choosing it never changes what
//! the target stores.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};

use crate::db::{Cells, Column, Read};
use crate::plan::{Feed, TablePlan};
use crate::value::{Kind, Value};

/// A column written straight from the source row: the source and target
/// kinds, which the conversion between leaves unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pass {
    /// An integer into an integer column.
    Int,
    /// A boolean into a boolean column.
    Bool,
    /// A float into a float column.
    Float,
    /// Text into a text column.
    Text,
    /// An exact decimal (read as text) into a decimal column, normalised.
    Decimal,
    /// A date into a date column.
    Date,
    /// A zoneless date and time; `zone`: into an instant column (read as UTC).
    DateTime {
        /// Whether the target column is an instant.
        zone: bool,
    },
    /// An instant; `zone`: into an instant column, else a zoneless one (UTC).
    Instant {
        /// Whether the target column is an instant.
        zone: bool,
    },
}

/// Per written column: the source column it passes through and how, or
/// `None` when it goes through a [`Value`] (a value map, a cast, a constant,
/// a conversion between kinds).
pub(crate) fn passthrough(plan: &TablePlan) -> Vec<Option<(usize, Pass)>> {
    plan.write
        .iter()
        .map(|w| {
            let Feed::Source {
                index,
                values: None,
                cast: None,
                ..
            } = &w.feed
            else {
                return None;
            };
            pass(&plan.read[*index], &w.column).map(|p| (*index, p))
        })
        .collect()
}

/// How a source column passes into a target column, if it can.
fn pass(source: &Column, target: &Column) -> Option<Pass> {
    Some(match (source.kind, target.kind) {
        // MySQL YEAR and BIT are read through a cast to unsigned.
        (Kind::Int, Kind::Int) if source.read == Read::Plain => Pass::Int,
        (Kind::Bool, Kind::Bool) => Pass::Bool,
        (Kind::Float, Kind::Float) => Pass::Float,
        (Kind::Text, Kind::Text) => Pass::Text,
        (Kind::Decimal, Kind::Decimal) => Pass::Decimal,
        (Kind::Date, Kind::Date) => Pass::Date,
        (Kind::DateTime, Kind::DateTime) => Pass::DateTime { zone: false },
        (Kind::DateTime, Kind::Timestamptz) => Pass::DateTime { zone: true },
        (Kind::Timestamptz, Kind::Timestamptz) => Pass::Instant { zone: true },
        (Kind::Timestamptz, Kind::DateTime) => Pass::Instant { zone: false },
        _ => return None,
    })
}

/// Why a source row could not be written.
#[derive(Debug)]
pub(crate) enum RowError {
    /// The driver could not decode a cell: the read failed.
    Decode(String),
    /// The mapping refused the value: the row is at fault.
    Map(String),
}

impl From<String> for RowError {
    fn from(message: String) -> Self {
        Self::Map(message)
    }
}

/// COPY text data.
#[derive(Debug, Default)]
pub(crate) struct Payload {
    data: Vec<u8>,
}

impl Payload {
    /// An empty payload with room for about `bytes`.
    pub(crate) fn with_capacity(bytes: usize) -> Self {
        Self {
            data: Vec::with_capacity(bytes),
        }
    }

    /// COPY text as PostgreSQL wrote it (`COPY … TO STDOUT`).
    pub(crate) fn from_text(data: Vec<u8>) -> Self {
        Self { data }
    }

    /// The data, as `COPY … FROM STDIN` reads it.
    pub(crate) fn data(&self) -> &[u8] {
        &self.data
    }

    /// A row of values, in the target's column order.
    pub(crate) fn push_row(&mut self, row: &[Value]) {
        for (i, value) in row.iter().enumerate() {
            if i > 0 {
                self.data.push(b'\t');
            }
            self.push_value(value);
        }
        self.end_row();
    }

    /// A source row, mapped to the target's columns: the passthrough columns
    /// (`passes`, from [`passthrough`]) straight from the row's cells, the
    /// others through their [`Value`] and the mapping.
    pub(crate) fn push_source_row(
        &mut self,
        plan: &TablePlan,
        passes: &[Option<(usize, Pass)>],
        row: &dyn Cells,
    ) -> Result<(), RowError> {
        for (n, (w, passed)) in plan.write.iter().zip(passes).enumerate() {
            if n > 0 {
                self.data.push(b'\t');
            }
            let mark = self.data.len();
            if let Some((index, pass)) = passed
                && row.pass(*index, &plan.read[*index], *pass, self)
            {
                continue;
            }
            // Not passed (or not this value: a zero date, an odd decimal): the
            // general way, which also says what is wrong with it.
            self.data.truncate(mark);
            let value = plan.map_column(w, |index| {
                row.cell(index, &plan.read[index]).map_err(RowError::Decode)
            })?;
            self.push_value(&value);
        }
        self.end_row();
        Ok(())
    }

    /// Ends a row.
    pub(crate) fn end_row(&mut self) {
        self.data.push(b'\n');
    }

    /// SQL NULL.
    pub(crate) fn push_null(&mut self) {
        self.data.extend_from_slice(b"\\N");
    }

    /// One value.
    pub(crate) fn push_value(&mut self, value: &Value) {
        match value {
            Value::Null => self.push_null(),
            Value::Bool(b) => self.push_bool(*b),
            Value::Int(i) => self.push_int(*i),
            Value::UInt(u) => self.push_uint(*u),
            Value::Float(x) => self.push_float(*x),
            Value::Bytes(bytes) => self.push_bytes(bytes),
            Value::Date(d) => self.push_date(*d),
            Value::Time(t) => self.push_time(*t),
            Value::DateTime(t) => self.push_datetime(*t, false),
            Value::Timestamptz(t) => self.push_instant(*t, true),
            Value::Decimal(s) | Value::Text(s) | Value::Json(s) | Value::ZeroDate(s) => {
                self.push_text(s);
            }
        }
    }

    pub(crate) fn push_bool(&mut self, b: bool) {
        self.data.push(if b { b't' } else { b'f' });
    }

    pub(crate) fn push_int(&mut self, i: i64) {
        self.data
            .extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
    }

    pub(crate) fn push_uint(&mut self, u: u64) {
        self.data
            .extend_from_slice(itoa::Buffer::new().format(u).as_bytes());
    }

    /// As Rust prints it (the shortest text that reads back the same), or
    /// PostgreSQL's spelling of NaN and the infinities.
    pub(crate) fn push_float(&mut self, x: f64) {
        use std::io::Write as _;
        if x.is_nan() {
            self.data.extend_from_slice(b"NaN");
        } else if x.is_infinite() {
            self.data
                .extend_from_slice(if x > 0.0 { b"Infinity" } else { b"-Infinity" });
        } else {
            let _ = write!(self.data, "{x}");
        }
    }

    /// Text, escaped for COPY: backslash, tab, newline and carriage return.
    pub(crate) fn push_text(&mut self, text: &str) {
        let bytes = text.as_bytes();
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let escape: &[u8] = match b {
                b'\\' => b"\\\\",
                b'\t' => b"\\t",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                _ => continue,
            };
            self.data.extend_from_slice(&bytes[start..i]);
            self.data.extend_from_slice(escape);
            start = i + 1;
        }
        self.data.extend_from_slice(&bytes[start..]);
    }

    /// Bytes as `bytea` hex (`\\x…`, the backslash escaped for COPY).
    pub(crate) fn push_bytes(&mut self, bytes: &[u8]) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.data.reserve(3 + bytes.len() * 2);
        self.data.extend_from_slice(b"\\\\x");
        for byte in bytes {
            self.data.push(HEX[usize::from(byte >> 4)]);
            self.data.push(HEX[usize::from(byte & 0xf)]);
        }
    }

    /// A decimal's text, normalised exactly as [`crate::value::normalise_decimal`]
    /// does (`-012.500` → `-12.5`, `-0.0` → `0`); false, with nothing
    /// written, when it is not a plain decimal number.
    pub(crate) fn push_decimal(&mut self, text: &[u8]) -> bool {
        let (negative, digits) = match text.first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        let (int, frac) = match digits.iter().position(|&b| b == b'.') {
            Some(dot) => (&digits[..dot], &digits[dot + 1..]),
            None => (digits, &[][..]),
        };
        if int.is_empty() && frac.is_empty()
            || !int.iter().all(u8::is_ascii_digit)
            || !frac.iter().all(u8::is_ascii_digit)
        {
            return false;
        }
        let int = &int[int.iter().position(|&b| b != b'0').unwrap_or(int.len())..];
        let frac = &frac[..frac.iter().rposition(|&b| b != b'0').map_or(0, |p| p + 1)];
        if negative && (!int.is_empty() || !frac.is_empty()) {
            self.data.push(b'-');
        }
        if int.is_empty() {
            self.data.push(b'0');
        } else {
            self.data.extend_from_slice(int);
        }
        if !frac.is_empty() {
            self.data.push(b'.');
            self.data.extend_from_slice(frac);
        }
        true
    }

    /// `YYYY-MM-DD`, as chrono's `%F`.
    pub(crate) fn push_date(&mut self, d: NaiveDate) {
        let year = d.year();
        if (0..=9999).contains(&year) {
            self.digits(year.unsigned_abs(), 4);
            self.data.push(b'-');
            self.digits(d.month(), 2);
            self.data.push(b'-');
            self.digits(d.day(), 2);
        } else {
            self.data
                .extend_from_slice(d.format("%F").to_string().as_bytes());
        }
    }

    /// `HH:MM:SS` and the fraction as chrono's `%.f` writes it: none, 3, 6 or
    /// 9 digits.
    pub(crate) fn push_time(&mut self, t: NaiveTime) {
        let nano = t.nanosecond();
        if nano >= 1_000_000_000 {
            // A leap second: chrono's own spelling.
            self.data
                .extend_from_slice(t.format("%T%.f").to_string().as_bytes());
            return;
        }
        self.digits(t.hour(), 2);
        self.data.push(b':');
        self.digits(t.minute(), 2);
        self.data.push(b':');
        self.digits(t.second(), 2);
        if nano != 0 {
            self.data.push(b'.');
            if nano.is_multiple_of(1_000_000) {
                self.digits(nano / 1_000_000, 3);
            } else if nano.is_multiple_of(1000) {
                self.digits(nano / 1000, 6);
            } else {
                self.digits(nano, 9);
            }
        }
    }

    /// A zoneless date and time (`%F %T%.f`); `zone`: read as UTC, for an
    /// instant column (`+00` added).
    pub(crate) fn push_datetime(&mut self, t: NaiveDateTime, zone: bool) {
        self.push_date(t.date());
        self.data.push(b' ');
        self.push_time(t.time());
        if zone {
            self.data.extend_from_slice(b"+00");
        }
    }

    /// An instant, in UTC; `zone`: with `+00`, else as a zoneless value.
    pub(crate) fn push_instant(&mut self, t: DateTime<Utc>, zone: bool) {
        self.push_datetime(t.naive_utc(), zone);
    }

    /// `n` zero-padded to `width` digits (`n` has at most that many).
    fn digits(&mut self, n: u32, width: usize) {
        let mut buf = [b'0'; 10];
        let mut n = n;
        let mut at = buf.len();
        while n > 0 && at > 0 {
            at -= 1;
            buf[at] = b'0' + (n % 10) as u8;
            n /= 10;
        }
        let start = buf.len() - width.max(buf.len() - at);
        self.data.extend_from_slice(&buf[start..]);
    }
}

#[cfg(test)]
mod tests;
