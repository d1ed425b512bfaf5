//! Structural JSON diff under a route's rules: every difference with its path.
//!
//! Each body is parsed once; the walk carries the rule patterns still alive at
//! each node ([`crate::path`]), so a document no rule reaches costs nothing extra.
//! Unordered and keyed arrays are matched through hash maps, not pair by pair.

use std::collections::HashMap;

use serde_json::{Map, Number, Value};
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

use crate::path::{self, Live, Step};
use crate::report::{DiffKind, Difference};
use crate::rules::{Action, RuleSet};
use crate::timestamp;

/// Above this many (legacy × candidate) leftover pairs, elements that are not
/// byte-for-byte equal are no longer tried against each other under the rules:
/// the work would be quadratic. They are then diffed in order instead, which
/// reports more, never less.
const MAX_LEFTOVER_PAIRS: usize = 4096;

/// Every difference between two JSON documents under `rules`.
pub(crate) fn diff(legacy: &Value, candidate: &Value, rules: &RuleSet) -> Vec<Difference> {
    let live: Vec<Live> = (0..rules.patterns.len() as u32)
        .map(|pattern| Live { pattern, pos: 0 })
        .collect();
    let mut differ = Differ {
        rules,
        path: Vec::new(),
        out: Vec::new(),
    };
    differ.value(legacy, candidate, &live);
    differ.out
}

enum Mode<'r> {
    Ordered,
    Unordered,
    Keyed(&'r str),
}

struct Differ<'a, 'r> {
    rules: &'r RuleSet,
    path: Vec<Step<'a>>,
    out: Vec<Difference>,
}

impl<'a, 'r> Differ<'a, 'r> {
    fn value(&mut self, legacy: &'a Value, candidate: &'a Value, live: &[Live]) {
        let mut tolerance = None;
        let mut mode = Mode::Ordered;
        for p in path::complete(&self.rules.patterns, live) {
            match &self.rules.actions[p as usize] {
                Action::Ignore => return,
                Action::Unordered => mode = Mode::Unordered,
                Action::Keyed(key) => mode = Mode::Keyed(key),
                Action::Tolerance(t) => tolerance = Some(*t),
            }
        }
        match (legacy, candidate) {
            (Value::Object(l), Value::Object(c)) => self.objects(l, c, live),
            (Value::Array(l), Value::Array(c)) => match mode {
                Mode::Ordered => self.ordered(l, c, live),
                Mode::Unordered => self.unordered(l, c, live),
                Mode::Keyed(key) => self.keyed(l, c, key, live),
            },
            _ if self.scalars_equal(legacy, candidate, tolerance) => {}
            _ => {
                let kind = if same_type(legacy, candidate) {
                    DiffKind::ValueChanged
                } else {
                    DiffKind::TypeChanged
                };
                self.report(kind, Some(legacy), Some(candidate));
            }
        }
    }

    fn objects(&mut self, l: &'a Map<String, Value>, c: &'a Map<String, Value>, live: &[Live]) {
        for (key, lv) in l {
            let child = self.enter(Step::Key(key), live);
            match c.get(key) {
                Some(cv) => self.value(lv, cv, &child),
                None => self.report_unless_ignored(&child, DiffKind::Missing, Some(lv), None),
            }
            self.path.pop();
        }
        for (key, cv) in c {
            if !l.contains_key(key) {
                let child = self.enter(Step::Key(key), live);
                self.report_unless_ignored(&child, DiffKind::Extra, None, Some(cv));
                self.path.pop();
            }
        }
    }

    /// Element by element; when that finds differences but the arrays hold the
    /// same elements, one `order_only` replaces them.
    fn ordered(&mut self, l: &'a [Value], c: &'a [Value], live: &[Live]) {
        let start = self.out.len();
        for i in 0..l.len().max(c.len()) {
            let child = self.enter(Step::Index(i), live);
            match (l.get(i), c.get(i)) {
                (Some(lv), Some(cv)) => self.value(lv, cv, &child),
                (Some(lv), None) => {
                    self.report_unless_ignored(&child, DiffKind::Missing, Some(lv), None)
                }
                (None, Some(cv)) => {
                    self.report_unless_ignored(&child, DiffKind::Extra, None, Some(cv))
                }
                (None, None) => {}
            }
            self.path.pop();
        }
        if self.out.len() > start && l.len() == c.len() {
            let (left_l, left_c) = self.match_elements(l, c, live);
            if left_l.is_empty() && left_c.is_empty() {
                self.out.truncate(start);
                self.report(DiffKind::OrderOnly, None, None);
            }
        }
    }

    /// As multisets: equal elements pair off, the rest are diffed in order of
    /// appearance, and any surplus is missing or extra.
    fn unordered(&mut self, l: &'a [Value], c: &'a [Value], live: &[Live]) {
        let (left_l, left_c) = self.match_elements(l, c, live);
        for (&i, &j) in left_l.iter().zip(&left_c) {
            let child = self.enter(Step::Index(i), live);
            self.value(&l[i], &c[j], &child);
            self.path.pop();
        }
        let paired = left_l.len().min(left_c.len());
        self.surplus(l, c, &left_l[paired..], &left_c[paired..], live);
    }

    /// Elements matched by the value of their `key` field. Without a usable key
    /// (missing, not unique) the array is compared as unordered instead.
    fn keyed(&mut self, l: &'a [Value], c: &'a [Value], key: &str, live: &[Live]) {
        let Some(mut by_key) = self.index_by(c, key) else {
            return self.unordered(l, c, live);
        };
        if self.index_by(l, key).is_none() {
            return self.unordered(l, c, live);
        }
        let mut missing = Vec::new();
        for (i, lv) in l.iter().enumerate() {
            let k = self.key_of(lv, key).unwrap_or_default();
            match by_key.remove(&k) {
                Some(j) => {
                    let child = self.enter(Step::Index(i), live);
                    self.value(lv, &c[j], &child);
                    self.path.pop();
                }
                None => missing.push(i),
            }
        }
        let mut extra: Vec<usize> = by_key.into_values().collect();
        extra.sort_unstable();
        self.surplus(l, c, &missing, &extra, live);
    }

    fn surplus(
        &mut self,
        l: &'a [Value],
        c: &'a [Value],
        l_only: &[usize],
        c_only: &[usize],
        live: &[Live],
    ) {
        for &i in l_only {
            let child = self.enter(Step::Index(i), live);
            self.report_unless_ignored(&child, DiffKind::Missing, Some(&l[i]), None);
            self.path.pop();
        }
        for &j in c_only {
            let child = self.enter(Step::Index(j), live);
            self.report_unless_ignored(&child, DiffKind::Extra, None, Some(&c[j]));
            self.path.pop();
        }
    }

    fn index_by(&self, elements: &[Value], key: &str) -> Option<HashMap<String, usize>> {
        let mut map = HashMap::with_capacity(elements.len());
        for (i, v) in elements.iter().enumerate() {
            if map.insert(self.key_of(v, key)?, i).is_some() {
                return None;
            }
        }
        Some(map)
    }

    /// The key field as text; with `string_number`, `"7"` and `7` are one key.
    fn key_of(&self, element: &Value, key: &str) -> Option<String> {
        let v = element.as_object()?.get(key)?;
        Some(match v {
            Value::String(s) if self.rules.string_number => match parse_number(s) {
                Some(n) => n.to_string(),
                None => v.to_string(),
            },
            _ => v.to_string(),
        })
    }

    /// Pairs off equal elements: identical ones through a hash map, then the
    /// rest under the rules (bounded, see [`MAX_LEFTOVER_PAIRS`]). Returns the
    /// unmatched indices of each side, in order.
    fn match_elements(
        &mut self,
        l: &'a [Value],
        c: &'a [Value],
        live: &[Live],
    ) -> (Vec<usize>, Vec<usize>) {
        let mut buckets: HashMap<u64, Vec<usize>> = HashMap::with_capacity(c.len());
        for (j, cv) in c.iter().enumerate().rev() {
            buckets.entry(fingerprint(cv)).or_default().push(j);
        }
        let mut left_l = Vec::new();
        for (i, lv) in l.iter().enumerate() {
            let bucket = buckets.get_mut(&fingerprint(lv));
            let found = bucket.and_then(|b| {
                let at = b.iter().rposition(|&j| c[j] == *lv)?;
                Some(b.remove(at))
            });
            if found.is_none() {
                left_l.push(i);
            }
        }
        let mut left_c: Vec<usize> = buckets.into_values().flatten().collect();
        left_c.sort_unstable();
        // Under rules that relax nothing, elements that are not equal are not
        // equivalent either: trying them against each other could only waste
        // time building differences to throw away.
        if left_l.is_empty()
            || left_c.is_empty()
            || left_l.len() * left_c.len() > MAX_LEFTOVER_PAIRS
            || self.rules.relaxes_nothing()
        {
            return (left_l, left_c);
        }
        let mut taken = vec![false; left_c.len()];
        left_l.retain(|&i| {
            let child = self.enter(Step::Index(i), live);
            let hit = (0..left_c.len())
                .find(|&n| !taken[n] && self.equivalent(&l[i], &c[left_c[n]], &child));
            self.path.pop();
            match hit {
                Some(n) => {
                    taken[n] = true;
                    false
                }
                None => true,
            }
        });
        let mut n = 0;
        left_c.retain(|_| {
            n += 1;
            !taken[n - 1]
        });
        (left_l, left_c)
    }

    fn equivalent(&mut self, l: &'a Value, c: &'a Value, live: &[Live]) -> bool {
        let outer = std::mem::take(&mut self.out);
        self.value(l, c, live);
        let equal = self.out.is_empty();
        self.out = outer;
        equal
    }

    fn scalars_equal(&self, l: &Value, c: &Value, tolerance: Option<f64>) -> bool {
        if l == c {
            return true;
        }
        if let Some(ms) = self.rules.timestamp_tolerance_ms
            && timestamp::same_instant(l, c, ms)
        {
            return true;
        }
        match (l, c) {
            (Value::Number(a), Value::Number(b)) => numbers_equal(a, b, tolerance),
            (Value::String(s), Value::Number(n)) | (Value::Number(n), Value::String(s))
                if self.rules.string_number =>
            {
                parse_number(s).is_some_and(|parsed| numbers_equal(&parsed, n, tolerance))
            }
            _ => false,
        }
    }

    /// Steps into a child; the caller pops the path after.
    fn enter(&mut self, step: Step<'a>, live: &[Live]) -> Vec<Live> {
        self.path.push(step);
        if live.is_empty() {
            Vec::new()
        } else {
            path::advance(&self.rules.patterns, live, step)
        }
    }

    fn report_unless_ignored(
        &mut self,
        live: &[Live],
        kind: DiffKind,
        l: Option<&Value>,
        c: Option<&Value>,
    ) {
        let ignored = path::complete(&self.rules.patterns, live)
            .any(|p| self.rules.actions[p as usize] == Action::Ignore);
        if !ignored {
            self.report(kind, l, c);
        }
    }

    fn report(&mut self, kind: DiffKind, l: Option<&Value>, c: Option<&Value>) {
        self.out
            .push(Difference::new(path::render(&self.path), kind, l, c));
    }
}

fn same_type(a: &Value, b: &Value) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

/// A string holding exactly a JSON number (no spaces, no `NaN`).
fn parse_number(s: &str) -> Option<Number> {
    serde_json::from_str::<Number>(s).ok()
}

/// Integers exactly, otherwise as floats (`1` equals `1.0`); a tolerance is absolute.
fn numbers_equal(a: &Number, b: &Number, tolerance: Option<f64>) -> bool {
    let integers = match (a.as_i64(), b.as_i64()) {
        (Some(x), Some(y)) => Some(x == y),
        _ => a.as_u64().zip(b.as_u64()).map(|(x, y)| x == y),
    };
    match (integers, tolerance) {
        (Some(true), _) => true,
        // Large integers that differ may round to the same float.
        (Some(false), None) => false,
        _ => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => (x - y).abs() <= tolerance.unwrap_or(0.0),
            _ => false,
        },
    }
}

/// A hash consistent with `==` on values: object entries are combined in an
/// order-free way, because `==` on objects ignores key order.
fn fingerprint(v: &Value) -> u64 {
    match v {
        Value::Null => 0x6e75_6c6c,
        Value::Bool(b) => 0x626f_6f6c + u64::from(*b),
        Value::Number(n) => xxh3_64(n.to_string().as_bytes()),
        Value::String(s) => xxh3_64_with_seed(s.as_bytes(), 1),
        Value::Array(a) => a.iter().fold(2, |h, x| {
            xxh3_64_with_seed(&fingerprint(x).to_le_bytes(), h)
        }),
        Value::Object(m) => m.iter().fold(3u64, |h, (k, x)| {
            h.wrapping_add(xxh3_64_with_seed(k.as_bytes(), fingerprint(x)))
        }),
    }
}

#[cfg(test)]
mod tests;
