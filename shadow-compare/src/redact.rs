//! Personal data removed from values a report keeps as examples: e-mail
//! addresses, phone numbers, card numbers and Korean resident registration
//! numbers wherever they appear in a string, plus whole values at configured
//! JSON paths and the credential headers.
//!
//! Hand-written scanners rather than regexes: each kind needs a check a regex
//! cannot make (Luhn, a real calendar date), and a shared digit-run tokeniser
//! keeps the kinds from fighting over the same digits.

use std::borrow::Cow;
use std::ops::Range;

use http::HeaderMap;
use http::header::{AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION, SET_COOKIE};
use serde_json::{Map, Value};

use crate::path::{self, Live, Pattern, PatternStep, Step};
use crate::rules::{RuleProblem, RulesError};

/// What replaces a value at a configured path or a credential.
pub const REDACTED: &str = "[redacted]";

/// The kinds of personal data found inside strings, each with its marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Email,
    Phone,
    Card,
    Rrn,
}

impl Kind {
    fn marker(self) -> &'static str {
        match self {
            Kind::Email => "[email]",
            Kind::Phone => "[phone]",
            Kind::Card => "[card]",
            Kind::Rrn => "[rrn]",
        }
    }
}

/// Masks e-mail addresses (`[email]`), phone numbers (`[phone]`), card numbers
/// that pass the Luhn check (`[card]`) and resident registration numbers with a
/// real birth date (`[rrn]`). Borrows when there is nothing to mask.
///
/// ```
/// use msa_shadow_compare::redact_text;
///
/// assert_eq!(
///     redact_text("kim@example.com, 010-1234-5678"),
///     "[email], [phone]"
/// );
/// assert_eq!(redact_text("order 1234567812345678"), "order 1234567812345678");
/// ```
pub fn redact_text(text: &str) -> Cow<'_, str> {
    let found = spans(text);
    if found.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (range, kind) in found {
        out.push_str(&text[at..range.start]);
        out.push_str(kind.marker());
        at = range.end;
    }
    out.push_str(&text[at..]);
    Cow::Owned(out)
}

/// Every match, in order and not overlapping. All boundaries are ASCII bytes,
/// so slicing at them is safe in any UTF-8 text.
fn spans(text: &str) -> Vec<(Range<usize>, Kind)> {
    let emails = emails(text);
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut next_email = emails.iter().peekable();
    let mut i = 0;
    while i < bytes.len() {
        if let Some(e) = next_email.next_if(|e| e.start <= i) {
            i = e.end;
            out.push((e.clone(), Kind::Email));
            continue;
        }
        let plus = bytes[i] == b'+' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
        if !(plus || bytes[i].is_ascii_digit()) || !starts_token(bytes, i) {
            i += 1;
            continue;
        }
        let limit = next_email.peek().map_or(bytes.len(), |e| e.start);
        let groups = digit_groups(bytes, if plus { i + 1 } else { i }, limit);
        match find_in_run(bytes, &groups, plus) {
            Some((start, end, kind)) => {
                let start = if plus && start == groups[0].start {
                    i
                } else {
                    start
                };
                out.push((start..end, kind));
                i = end;
            }
            // Never restart inside a run: its tail is not a number of its own.
            None => i = groups.last().map_or(i + 1, |g| g.end),
        }
    }
    out
}

/// Digits may follow anything but a letter, a digit, or a decimal point.
fn starts_token(bytes: &[u8], i: usize) -> bool {
    i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || matches!(bytes[i - 1], b'.' | b',' | b'_'))
}

/// Nothing that would make the digits part of a longer word or number follows.
fn ends_token(bytes: &[u8], end: usize) -> bool {
    match bytes.get(end) {
        None => true,
        Some(b) if b.is_ascii_alphanumeric() || *b == b'_' => false,
        Some(b'.' | b',' | b'-') => !bytes.get(end + 1).is_some_and(u8::is_ascii_digit),
        Some(_) => true,
    }
}

/// A run of digit groups joined by single spaces or dashes: `010-1234-5678`.
fn digit_groups(bytes: &[u8], start: usize, limit: usize) -> Vec<Range<usize>> {
    let mut groups = Vec::new();
    let mut i = start;
    loop {
        let begin = i;
        while i < limit && bytes[i].is_ascii_digit() {
            i += 1;
        }
        groups.push(begin..i);
        let joined =
            i + 1 < limit && matches!(bytes[i], b' ' | b'-') && bytes[i + 1].is_ascii_digit();
        if !joined {
            return groups;
        }
        i += 1;
    }
}

/// The first, longest number in the run that is personal data. A new number
/// may start only after a space (`order 12 010-1234-5678`), never after a dash.
fn find_in_run(bytes: &[u8], groups: &[Range<usize>], plus: bool) -> Option<(usize, usize, Kind)> {
    for first in 0..groups.len() {
        if first > 0 && bytes[groups[first].start - 1] != b' ' {
            continue;
        }
        for last in (first..groups.len()).rev() {
            let end = groups[last].end;
            if !ends_token(bytes, end) {
                continue;
            }
            let candidate = &groups[first..=last];
            if let Some(kind) = classify(bytes, candidate, plus && first == 0) {
                return Some((candidate[0].start, end, kind));
            }
        }
    }
    None
}

fn classify(bytes: &[u8], groups: &[Range<usize>], plus: bool) -> Option<Kind> {
    let digits: Vec<u8> = groups
        .iter()
        .flat_map(|g| &bytes[g.clone()])
        .map(|b| b - b'0')
        .collect();
    let seps: Vec<u8> = groups[1..].iter().map(|g| bytes[g.start - 1]).collect();
    let same_sep = seps.windows(2).all(|w| w[0] == w[1]);
    let lens: Vec<usize> = groups.iter().map(ExactSizeIterator::len).collect();
    if plus {
        // E.164: at most 15 digits, no leading zero; 8 keeps short codes out.
        return ((8..=15).contains(&digits.len()) && digits[0] != 0).then_some(Kind::Phone);
    }
    if lens == [6, 7] && seps == [b'-'] && is_rrn(&digits) {
        return Some(Kind::Rrn);
    }
    // Card numbers are printed in groups led by four digits (4-4-4-4, 4-6-5).
    let card_groups = lens.len() == 1 || (same_sep && lens[0] == 4);
    if (13..=19).contains(&digits.len()) && card_groups && luhn(&digits) {
        return Some(Kind::Card);
    }
    if is_korean_phone(&digits, &lens, same_sep) {
        return Some(Kind::Phone);
    }
    None
}

/// YYMMDD-GNNNNNN with a date that exists (any year, so 29 February passes)
/// and a gender digit 1–8. No checksum: numbers issued since 2020 have none.
fn is_rrn(d: &[u8]) -> bool {
    let month = d[2] * 10 + d[3];
    let day = d[4] * 10 + d[5];
    let days = match month {
        2 => 29,
        4 | 6 | 9 | 11 => 30,
        1..=12 => 31,
        _ => return false,
    };
    (1..=days).contains(&day) && (1..=8).contains(&d[6])
}

fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = (digits.iter().rev().enumerate())
        .map(|(n, &d)| {
            let d = u32::from(d);
            match n % 2 {
                0 => d,
                _ if d * 2 > 9 => d * 2 - 9,
                _ => d * 2,
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Mobile `010-1234-5678` or `01012345678`; landline `02-123-4567`,
/// `031-1234-5678`. Unseparated, only mobile numbers: a bare ten-digit
/// number starting with 0 is as likely an id.
fn is_korean_phone(d: &[u8], lens: &[usize], same_sep: bool) -> bool {
    let mobile = d.len() >= 3 && d[0] == 0 && d[1] == 1 && matches!(d[2], 0 | 1 | 6..=9);
    match lens {
        [n] => mobile && (*n == 10 || *n == 11),
        [a, b, 4] => same_sep && d[0] == 0 && (2..=3).contains(a) && (3..=4).contains(b),
        _ => false,
    }
}

/// E-mail addresses: `local@domain.tld`, the TLD two or more letters.
fn emails(text: &str) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let local = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-');
    let label = |b: u8| b.is_ascii_alphanumeric() || b == b'-';
    let mut out: Vec<Range<usize>> = Vec::new();
    for (at, _) in text.match_indices('@') {
        if out.last().is_some_and(|r| r.end > at) {
            continue;
        }
        let mut start = at;
        while start > 0 && local(bytes[start - 1]) {
            start -= 1;
        }
        // Leading dots are punctuation around the address, not part of it.
        while start < at && bytes[start] == b'.' {
            start += 1;
        }
        let mut end = at + 1;
        let mut last_dot = None;
        while end < bytes.len() {
            if label(bytes[end]) {
                end += 1;
            } else if bytes[end] == b'.' && bytes.get(end + 1).is_some_and(|b| label(*b)) {
                last_dot = Some(end);
                end += 1;
            } else {
                break;
            }
        }
        let tld_ok = last_dot.is_some_and(|dot| {
            let tld = &bytes[dot + 1..end];
            tld.len() >= 2 && tld.iter().all(u8::is_ascii_alphabetic)
        });
        if start < at && last_dot.is_some_and(|dot| dot > at + 1) && tld_ok {
            out.push(start..end);
        }
    }
    out
}

/// JSON paths whose values are always replaced by [`REDACTED`]:
/// `$.user.name`, `$.items[*].address`.
#[derive(Debug, Clone, Default)]
pub struct RedactPaths {
    patterns: Vec<Pattern>,
}

impl RedactPaths {
    /// Whether a concrete path, as a [`crate::Difference`] reports it
    /// (`$.user.name`, `$.items[3].email`), is at or below one of the patterns:
    /// for redacting a value taken out of its document.
    pub fn covers(&self, path: &str) -> bool {
        let Ok(concrete) = Pattern::parse(path) else {
            return false;
        };
        self.patterns.iter().any(|pattern| {
            pattern.steps.len() <= concrete.steps.len()
                && pattern
                    .steps
                    .iter()
                    .zip(&concrete.steps)
                    .all(|(p, c)| match (p, c) {
                        (PatternStep::AnyKey, PatternStep::Key(_))
                        | (PatternStep::AnyIndex, PatternStep::Index(_)) => true,
                        (p, c) => p == c,
                    })
        })
    }

    /// Parses the patterns, reporting every malformed one (field `redact`).
    pub fn parse<S: AsRef<str>>(patterns: &[S]) -> Result<Self, RulesError> {
        let mut problems = Vec::new();
        let mut parsed = Vec::new();
        for text in patterns.iter().map(AsRef::as_ref) {
            match Pattern::parse(text) {
                Ok(p) => parsed.push(p),
                Err(e) => problems.push(RuleProblem {
                    field: "redact",
                    entry: text.to_owned(),
                    problem: format!("not a path pattern ({e}); write e.g. `$.user.email`"),
                }),
            }
        }
        if problems.is_empty() {
            Ok(RedactPaths { patterns: parsed })
        } else {
            Err(RulesError { problems })
        }
    }
}

/// A copy of `value` with every string (object keys included) passed through
/// [`redact_text`], integers that read as a card number masked too, and
/// whatever sits at one of `paths` replaced by [`REDACTED`].
///
/// Keys are masked because maps keyed by e-mail address occur; two keys that
/// mask alike then keep the last value, acceptable for an example.
pub fn redact_json(value: &Value, paths: &RedactPaths) -> Value {
    let live: Vec<Live> = (0..paths.patterns.len())
        .map(|n| Live {
            pattern: n as u32,
            pos: 0,
        })
        .collect();
    walk(value, &paths.patterns, &live)
}

fn walk(value: &Value, patterns: &[Pattern], live: &[Live]) -> Value {
    if path::complete(patterns, live).next().is_some() {
        return Value::from(REDACTED);
    }
    match value {
        Value::String(s) => Value::from(redact_text(s).into_owned()),
        Value::Number(n) if n.is_u64() => match redact_text(&n.to_string()) {
            Cow::Owned(masked) => Value::from(masked),
            Cow::Borrowed(_) => value.clone(),
        },
        Value::Array(items) => (items.iter().enumerate())
            .map(|(i, v)| walk(v, patterns, &path::advance(patterns, live, Step::Index(i))))
            .collect(),
        Value::Object(map) => {
            let out: Map<String, Value> = (map.iter())
                .map(|(k, v)| {
                    let below = path::advance(patterns, live, Step::Key(k));
                    (redact_text(k).into_owned(), walk(v, patterns, &below))
                })
                .collect();
            Value::Object(out)
        }
        _ => value.clone(),
    }
}

/// Headers as (lower-case name, value) pairs, in the map's order, safe to show:
/// credentials replaced (an `Authorization` scheme such as `Bearer` kept),
/// cookie names kept with their values masked, everything else through
/// [`redact_text`]. Values that are not UTF-8 are read lossily.
pub fn redact_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes());
            let shown = if name == AUTHORIZATION || name == PROXY_AUTHORIZATION {
                credentials(&value)
            } else if name == COOKIE {
                cookie_pairs(&value)
            } else if name == SET_COOKIE {
                set_cookie(&value)
            } else {
                redact_text(&value).into_owned()
            };
            (name.as_str().to_owned(), shown)
        })
        .collect()
}

/// `Bearer abc` → `Bearer [redacted]`: the scheme tells a reader which kind
/// of credential was sent and gives nothing away.
fn credentials(value: &str) -> String {
    match value.trim().split_once(' ') {
        Some((scheme, _))
            if scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
        {
            format!("{scheme} {REDACTED}")
        }
        _ => REDACTED.to_owned(),
    }
}

/// `a=1; b=2` → `a=[redacted]; b=[redacted]`.
fn cookie_pairs(value: &str) -> String {
    value
        .split(';')
        .map(|pair| mask_cookie(pair.trim()))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Only the first pair of a `Set-Cookie` is the cookie; the attributes after
/// it (`Path`, `Max-Age`, `HttpOnly`) are kept, though through [`redact_text`].
fn set_cookie(value: &str) -> String {
    let (pair, attributes) = value.split_once(';').unwrap_or((value, ""));
    let mut out = mask_cookie(pair.trim());
    if !attributes.is_empty() {
        out.push(';');
        out.push_str(&redact_text(attributes));
    }
    out
}

fn mask_cookie(pair: &str) -> String {
    match pair.split_once('=') {
        Some((name, _)) => format!("{}={REDACTED}", name.trim()),
        // A bare token with no `=` could be the value itself.
        None if pair.is_empty() => String::new(),
        None => REDACTED.to_owned(),
    }
}

#[cfg(test)]
mod tests;
