//! The canonical value every engine's column is decoded into, converted between
//! kinds by explicit rules, and hashed in one type-normalised encoding.

use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// The kinds of value a column holds, whatever the engine calls its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// true / false.
    Bool,
    /// A signed integer (up to 64 bits).
    Int,
    /// An unsigned integer (MySQL `… UNSIGNED`).
    UInt,
    /// An exact decimal, kept as its text.
    Decimal,
    /// A binary float.
    Float,
    /// Text.
    Text,
    /// Bytes.
    Bytes,
    /// A calendar date.
    Date,
    /// A time of day.
    Time,
    /// A date and time with no zone.
    DateTime,
    /// An instant (UTC).
    Timestamptz,
    /// JSON.
    Json,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Bool => "bool",
            Self::Int => "int",
            Self::UInt => "uint",
            Self::Decimal => "decimal",
            Self::Float => "float",
            Self::Text => "text",
            Self::Bytes => "bytes",
            Self::Date => "date",
            Self::Time => "time",
            Self::DateTime => "datetime",
            Self::Timestamptz => "timestamptz",
            Self::Json => "json",
        })
    }
}

/// One value of one column.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Value {
    /// SQL NULL.
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// An unsigned integer.
    UInt(u64),
    /// An exact decimal, normalised (no trailing fraction zeros, no `-0`).
    Decimal(String),
    /// A float.
    Float(f64),
    /// Text.
    Text(String),
    /// Bytes.
    Bytes(Vec<u8>),
    /// A date.
    Date(NaiveDate),
    /// A time of day.
    Time(NaiveTime),
    /// A zoneless date and time.
    DateTime(NaiveDateTime),
    /// An instant.
    Timestamptz(DateTime<Utc>),
    /// JSON text, canonical (object keys sorted, no spaces).
    Json(String),
    /// A MySQL zero date (`0000-00-00`, or a zero month or day) as the server
    /// spells it: no calendar date, so the mapping turns it into NULL or the
    /// column's `zero_dates` value before anything is written.
    ZeroDate(String),
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        self.encode(&mut a);
        other.encode(&mut b);
        a == b
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => f.write_str("NULL"),
            Self::Text(s) => write!(f, "{s:?}"),
            Self::Bytes(b) => {
                f.write_str("0x")?;
                b.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
            }
            other => f.write_str(&other.as_text()),
        }
    }
}

impl Value {
    /// The value as text: what a value map matches against and what a text column gets.
    pub fn as_text(&self) -> String {
        match self {
            Self::Null => String::new(),
            Self::Bool(b) => b.to_string(),
            Self::Int(i) => i.to_string(),
            Self::UInt(u) => u.to_string(),
            Self::Decimal(d) => d.clone(),
            Self::Float(x) => x.to_string(),
            Self::Text(s) | Self::Json(s) | Self::ZeroDate(s) => s.clone(),
            Self::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            Self::Date(d) => d.format("%F").to_string(),
            Self::Time(t) => t.format("%T%.f").to_string(),
            Self::DateTime(t) => t.format("%F %T%.f").to_string(),
            Self::Timestamptz(t) => t.to_rfc3339_opts(SecondsFormat::AutoSi, false),
        }
    }

    /// The value for a JSON report.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Self::Null => serde_json::Value::Null,
            Self::Bool(b) => (*b).into(),
            Self::Int(i) => (*i).into(),
            Self::UInt(u) => (*u).into(),
            Self::Float(x) => serde_json::Number::from_f64(*x)
                .map_or_else(|| x.to_string().into(), serde_json::Value::Number),
            Self::Bytes(_) => self.to_string().into(),
            other => other.as_text().into(),
        }
    }

    /// Appends the canonical, type-normalised encoding used by chunk hashes:
    /// a tag byte then a fixed or length-prefixed body.
    pub fn encode(&self, out: &mut Vec<u8>) {
        fn bytes(out: &mut Vec<u8>, tag: u8, body: &[u8]) {
            out.push(tag);
            out.extend_from_slice(&(body.len() as u64).to_le_bytes());
            out.extend_from_slice(body);
        }
        match self {
            Self::Null => out.push(0),
            Self::Bool(b) => out.extend_from_slice(&[1, u8::from(*b)]),
            Self::Int(i) => {
                out.push(2);
                out.extend_from_slice(&i128::from(*i).to_le_bytes());
            }
            Self::UInt(u) => {
                out.push(2);
                out.extend_from_slice(&i128::from(*u).to_le_bytes());
            }
            Self::Decimal(d) => bytes(out, 3, d.as_bytes()),
            Self::Float(x) => {
                out.push(4);
                let x = if *x == 0.0 { 0.0 } else { *x };
                out.extend_from_slice(&x.to_bits().to_le_bytes());
            }
            Self::Text(s) => bytes(out, 5, s.as_bytes()),
            Self::Bytes(b) => bytes(out, 6, b),
            Self::Date(d) => {
                out.push(7);
                out.extend_from_slice(&d.num_days_from_ce().to_le_bytes());
            }
            Self::Time(t) => {
                out.push(8);
                let nanos = i64::from(t.num_seconds_from_midnight()) * 1_000_000_000
                    + i64::from(t.nanosecond());
                out.extend_from_slice(&nanos.to_le_bytes());
            }
            Self::DateTime(t) => {
                out.push(9);
                out.extend_from_slice(&t.and_utc().timestamp_micros().to_le_bytes());
                out.extend_from_slice(&(t.and_utc().timestamp_subsec_nanos() % 1000).to_le_bytes());
            }
            Self::Timestamptz(t) => {
                out.push(10);
                out.extend_from_slice(&t.timestamp_micros().to_le_bytes());
                out.extend_from_slice(&(t.timestamp_subsec_nanos() % 1000).to_le_bytes());
            }
            Self::Json(s) => bytes(out, 11, s.as_bytes()),
            Self::ZeroDate(s) => bytes(out, 12, s.as_bytes()),
        }
    }

    /// Converts the value to a kind, by the documented rules; `Err` says why not.
    pub fn coerce(self, kind: Kind) -> Result<Self, String> {
        let fail = |v: &Value| Err(format!("cannot convert {v} to {kind}"));
        match (self, kind) {
            (Self::Null, _) => Ok(Self::Null),
            // Only the mapping decides what a zero date becomes (TablePlan::map_row).
            (v @ Self::ZeroDate(_), _) => fail(&v),
            (v @ Self::Bool(_), Kind::Bool) => Ok(v),
            (Self::Int(i), Kind::Bool) if i == 0 || i == 1 => Ok(Self::Bool(i == 1)),
            (Self::UInt(u), Kind::Bool) if u <= 1 => Ok(Self::Bool(u == 1)),
            (Self::Decimal(s) | Self::Text(s), Kind::Bool) => {
                match s.trim().to_ascii_lowercase().as_str() {
                    "1" | "t" | "true" | "yes" | "y" | "on" => Ok(Self::Bool(true)),
                    "0" | "f" | "false" | "no" | "n" | "off" => Ok(Self::Bool(false)),
                    _ => fail(&Self::Text(s)),
                }
            }
            (v @ Self::Int(_), Kind::Int) => Ok(v),
            (Self::UInt(u), Kind::Int) => i64::try_from(u)
                .map(Self::Int)
                .or_else(|_| fail(&Self::UInt(u))),
            (Self::Bool(b), Kind::Int) => Ok(Self::Int(i64::from(b))),
            (Self::Bool(b), Kind::UInt) => Ok(Self::UInt(u64::from(b))),
            (v @ Self::UInt(_), Kind::UInt) => Ok(v),
            (Self::Int(i), Kind::UInt) => u64::try_from(i)
                .map(Self::UInt)
                .or_else(|_| fail(&Self::Int(i))),
            (Self::Float(x), Kind::Int | Kind::UInt) if x.fract() == 0.0 && x.abs() < 9.0e15 =>
            {
                #[allow(
                    clippy::cast_possible_truncation,
                    reason = "checked integral and small"
                )]
                Self::Int(x as i64).coerce(kind)
            }
            (Self::Decimal(s) | Self::Text(s), Kind::Int | Kind::UInt) => {
                let t = normalise_decimal(s.trim()).unwrap_or_else(|| s.clone());
                if let Ok(i) = t.parse::<i64>() {
                    Self::Int(i).coerce(kind)
                } else if let Ok(u) = t.parse::<u64>() {
                    Self::UInt(u).coerce(kind)
                } else {
                    fail(&Self::Text(s))
                }
            }
            (Self::Int(i), Kind::Decimal) => Ok(Self::Decimal(i.to_string())),
            (Self::UInt(u), Kind::Decimal) => Ok(Self::Decimal(u.to_string())),
            (Self::Bool(b), Kind::Decimal) => Ok(Self::Decimal(u8::from(b).to_string())),
            (Self::Float(x), Kind::Decimal) if x.is_finite() => Ok(Self::Decimal(
                normalise_decimal(&x.to_string()).unwrap_or_default(),
            )),
            (Self::Decimal(s) | Self::Text(s), Kind::Decimal) => match normalise_decimal(&s) {
                Some(d) => Ok(Self::Decimal(d)),
                None => fail(&Self::Text(s)),
            },
            (v @ Self::Float(_), Kind::Float) => Ok(v),
            #[allow(
                clippy::cast_precision_loss,
                reason = "an integer read as a float column"
            )]
            (Self::Int(i), Kind::Float) => Ok(Self::Float(i as f64)),
            #[allow(
                clippy::cast_precision_loss,
                reason = "an integer read as a float column"
            )]
            (Self::UInt(u), Kind::Float) => Ok(Self::Float(u as f64)),
            (Self::Decimal(s) | Self::Text(s), Kind::Float) => match s.trim().parse::<f64>() {
                Ok(x) => Ok(Self::Float(x)),
                Err(_) => fail(&Self::Text(s)),
            },
            (v @ Self::Text(_), Kind::Text) => Ok(v),
            (Self::Bytes(b), Kind::Text) => match String::from_utf8(b) {
                Ok(s) => Ok(Self::Text(s)),
                Err(err) => fail(&Self::Bytes(err.into_bytes())),
            },
            (v, Kind::Text) => Ok(Self::Text(v.as_text())),
            (v @ Self::Bytes(_), Kind::Bytes) => Ok(v),
            (Self::Text(s) | Self::Json(s), Kind::Bytes) => Ok(Self::Bytes(s.into_bytes())),
            (v @ Self::Date(_), Kind::Date) => Ok(v),
            (Self::Text(s), Kind::Date) => {
                parse_date(&s).map_or_else(|| fail(&Self::Text(s)), |d| Ok(Self::Date(d)))
            }
            (v @ Self::Time(_), Kind::Time) => Ok(v),
            (Self::Text(s), Kind::Time) => {
                parse_time(&s).map_or_else(|| fail(&Self::Text(s)), |t| Ok(Self::Time(t)))
            }
            (v @ Self::DateTime(_), Kind::DateTime) => Ok(v),
            (Self::Timestamptz(t), Kind::DateTime) => Ok(Self::DateTime(t.naive_utc())),
            (Self::Date(d), Kind::DateTime) => Ok(Self::DateTime(d.and_time(NaiveTime::MIN))),
            (Self::Text(s), Kind::DateTime) => parse_instant(&s).map_or_else(
                || fail(&Self::Text(s)),
                |t| Ok(Self::DateTime(t.naive_utc())),
            ),
            (v @ Self::Timestamptz(_), Kind::Timestamptz) => Ok(v),
            (Self::DateTime(t), Kind::Timestamptz) => Ok(Self::Timestamptz(t.and_utc())),
            (Self::Date(d), Kind::Timestamptz) => {
                Ok(Self::Timestamptz(d.and_time(NaiveTime::MIN).and_utc()))
            }
            (Self::Text(s), Kind::Timestamptz) => {
                parse_instant(&s).map_or_else(|| fail(&Self::Text(s)), |t| Ok(Self::Timestamptz(t)))
            }
            (Self::Json(s) | Self::Text(s), Kind::Json) => match canonical_json(&s) {
                Some(j) => Ok(Self::Json(j)),
                None => fail(&Self::Text(s)),
            },
            (v @ (Self::Bool(_) | Self::Int(_) | Self::UInt(_) | Self::Float(_)), Kind::Json) => {
                Ok(Self::Json(v.to_json().to_string()))
            }
            (Self::Decimal(d), Kind::Json) => Ok(Self::Json(d)),
            (v, _) => fail(&v),
        }
    }

    /// The value a mapping constant stands for.
    pub fn from_scalar(scalar: &msa_playbook::mapping::Scalar) -> Self {
        use msa_playbook::mapping::Scalar;
        match scalar {
            Scalar::Bool(b) => Self::Bool(*b),
            Scalar::Int(i) => Self::Int(*i),
            Scalar::Float(x) => Self::Float(*x),
            Scalar::Text(s) => Self::Text(s.clone()),
            Scalar::Null(()) => Self::Null,
        }
    }
}

/// `-012.500` → `-12.5`; `-0.0` → `0`; `None` when not a decimal number.
pub(crate) fn normalise_decimal(text: &str) -> Option<String> {
    let text = text.trim();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let int = int.trim_start_matches('0');
    let frac = frac.trim_end_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let mut out = String::new();
    if negative && (int != "0" || !frac.is_empty()) {
        out.push('-');
    }
    out.push_str(int);
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    Some(out)
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()
}

fn parse_time(s: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M:%S%.f").ok()
}

/// An instant in one of the usual spellings; a zoneless one is read as UTC.
pub(crate) fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%.f%#z"] {
        if let Ok(t) = DateTime::parse_from_str(s, format) {
            return Some(t.with_timezone(&Utc));
        }
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Some(t.and_utc());
        }
    }
    parse_date(s).map(|d| d.and_time(NaiveTime::MIN).and_utc())
}

/// JSON text with object keys sorted and no insignificant spaces.
pub(crate) fn canonical_json(text: &str) -> Option<String> {
    fn sort(value: serde_json::Value) -> serde_json::Value {
        match value {
            serde_json::Value::Object(map) => {
                let mut entries: Vec<_> = map.into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                serde_json::Value::Object(entries.into_iter().map(|(k, v)| (k, sort(v))).collect())
            }
            serde_json::Value::Array(items) => {
                serde_json::Value::Array(items.into_iter().map(sort).collect())
            }
            other => other,
        }
    }
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    Some(sort(value).to_string())
}

use chrono::{Datelike, Timelike};

#[cfg(test)]
mod tests;
