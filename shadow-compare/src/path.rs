//! JSON paths: the concrete ones differences are reported at (`$.items[2].price`)
//! and the patterns rules are written with (`$.items[*].createdAt`, `$.*.id`).
//!
//! Patterns have no recursive descent, so a pattern only matches paths of its own
//! length. That lets the diff carry, per node, the few pattern positions still
//! alive instead of testing every rule against every node.

use std::fmt::Write as _;

/// One step of a concrete path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// Renders `$` plus the steps: `.key` for plain keys, `["a.b"]` otherwise.
pub(crate) fn render(steps: &[Step<'_>]) -> String {
    let mut out = String::from("$");
    for step in steps {
        match step {
            Step::Key(k) if is_plain(k) => {
                out.push('.');
                out.push_str(k);
            }
            Step::Key(k) => {
                out.push('[');
                // A JSON string literal is a valid, unambiguous quoted key.
                out.push_str(&serde_json::Value::from(*k).to_string());
                out.push(']');
            }
            Step::Index(i) => {
                let _ = write!(out, "[{i}]");
            }
        }
    }
    out
}

fn is_plain(key: &str) -> bool {
    !key.is_empty()
        && key != "*"
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '$')
}

/// One step of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PatternStep {
    Key(String),
    AnyKey,
    Index(usize),
    AnyIndex,
}

impl PatternStep {
    fn matches(&self, step: Step<'_>) -> bool {
        match (self, step) {
            (PatternStep::Key(p), Step::Key(k)) => p == k,
            (PatternStep::AnyKey, Step::Key(_)) => true,
            (PatternStep::Index(p), Step::Index(i)) => *p == i,
            (PatternStep::AnyIndex, Step::Index(_)) => true,
            _ => false,
        }
    }
}

/// A parsed path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    pub(crate) steps: Vec<PatternStep>,
}

/// Why a pattern could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason} at byte {at}")]
pub(crate) struct PatternError {
    pub(crate) reason: &'static str,
    pub(crate) at: usize,
}

impl Pattern {
    /// Parses `$`, then any of `.key`, `.*`, `[3]`, `[*]`, `["any key"]`.
    pub(crate) fn parse(text: &str) -> Result<Self, PatternError> {
        let err = |reason, at| Err(PatternError { reason, at });
        let bytes = text.as_bytes();
        if bytes.first() != Some(&b'$') {
            return err("a path starts with `$`", 0);
        }
        let mut steps = Vec::new();
        let mut i = 1;
        while i < bytes.len() {
            match bytes[i] {
                b'.' => {
                    let start = i + 1;
                    let end = text[start..]
                        .find(['.', '['])
                        .map_or(text.len(), |n| start + n);
                    let key = &text[start..end];
                    if key.is_empty() {
                        return err("an empty key", start);
                    }
                    steps.push(if key == "*" {
                        PatternStep::AnyKey
                    } else {
                        PatternStep::Key(key.to_owned())
                    });
                    i = end;
                }
                b'[' => {
                    let Some(close) = find_close(text, i) else {
                        return err("an unclosed `[`", i);
                    };
                    let inner = &text[i + 1..close];
                    steps.push(if inner == "*" {
                        PatternStep::AnyIndex
                    } else if inner.starts_with('"') {
                        match serde_json::from_str::<String>(inner) {
                            Ok(key) => PatternStep::Key(key),
                            Err(_) => return err("a malformed quoted key", i + 1),
                        }
                    } else {
                        match inner.parse::<usize>() {
                            Ok(n) => PatternStep::Index(n),
                            Err(_) => return err("expected an index, `*` or a quoted key", i + 1),
                        }
                    });
                    i = close + 1;
                }
                _ => return err("expected `.` or `[`", i),
            }
        }
        Ok(Pattern { steps })
    }
}

/// The `]` closing the `[` at `open`, skipping over a quoted key.
fn find_close(text: &str, open: usize) -> Option<usize> {
    let mut in_string = false;
    let mut escaped = false;
    for (n, c) in text[open + 1..].char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            ']' if !in_string => return Some(open + 1 + n),
            _ => {}
        }
    }
    None
}

/// A pattern matched so far: which pattern, and how many of its steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Live {
    pub(crate) pattern: u32,
    pub(crate) pos: u32,
}

/// The positions still alive one step further down; empty (no allocation)
/// once no pattern can match below.
pub(crate) fn advance(patterns: &[Pattern], live: &[Live], step: Step<'_>) -> Vec<Live> {
    live.iter()
        .filter(|l| {
            patterns[l.pattern as usize]
                .steps
                .get(l.pos as usize)
                .is_some_and(|p| p.matches(step))
        })
        .map(|l| Live {
            pattern: l.pattern,
            pos: l.pos + 1,
        })
        .collect()
}

/// The patterns that match the current node exactly.
pub(crate) fn complete<'p>(
    patterns: &'p [Pattern],
    live: &'p [Live],
) -> impl Iterator<Item = u32> + 'p {
    live.iter()
        .filter(|l| patterns[l.pattern as usize].steps.len() == l.pos as usize)
        .map(|l| l.pattern)
}

#[cfg(test)]
mod tests;
