//! Route templates inferred from observed paths, for aggregating results when
//! the configuration names no templates: `/api/coupons/17` and
//! `/api/coupons/42` are both `/api/coupons/{id}`.
//!
//! Conservative on purpose: a segment becomes a placeholder when it is an id
//! by its shape (digits, a UUID, long hex, a ULID, a long token), or when it
//! holds a digit and varies where the rest of the path does not. Words made of
//! letters alone always stay, so `/api/products/top` is never folded into
//! `/api/products/{id}`; a wrong merge would hide a route, a missed one only
//! splits a count.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

/// A route template and how many observed paths it covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Template {
    /// `/api/coupons/{id}/issue`, with `{id}` and `{uuid}` placeholders.
    pub pattern: String,
    /// Observed paths that fell under it.
    pub examples: usize,
}

/// One path segment, classified.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Segment<'a> {
    Word(&'a str),
    Id,
    Uuid,
}

impl Segment<'_> {
    fn text(&self) -> &str {
        match self {
            Segment::Word(w) => w,
            Segment::Id => "{id}",
            Segment::Uuid => "{uuid}",
        }
    }
}

/// Templates for the paths, sorted by pattern. Query strings and fragments
/// are dropped before anything else.
///
/// ```
/// use msa_shadow_compare::infer_templates;
///
/// let t = infer_templates(["/api/coupons/17", "/api/coupons/42?x=1", "/healthz"]);
/// let patterns: Vec<_> = t.iter().map(|t| (t.pattern.as_str(), t.examples)).collect();
/// assert_eq!(patterns, [("/api/coupons/{id}", 2), ("/healthz", 1)]);
/// ```
pub fn infer_templates<'a>(paths: impl IntoIterator<Item = &'a str>) -> Vec<Template> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for pattern in infer_each(paths) {
        *counts.entry(pattern).or_default() += 1;
    }
    counts
        .into_iter()
        .map(|(pattern, examples)| Template { pattern, examples })
        .collect()
}

/// The template of each path, in the order given, inferred from all of them
/// together as [`infer_templates`] does: what lets a caller key its counts by
/// template and re-key them when more paths generalise one.
///
/// ```
/// use msa_shadow_compare::infer_each;
///
/// let each = infer_each(["/api/coupons/WELCOME10", "/api/coupons/SPRING24", "/api/coupons/top"]);
/// assert_eq!(each, ["/api/coupons/{id}", "/api/coupons/{id}", "/api/coupons/top"]);
/// ```
pub fn infer_each<'a>(paths: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut observed: Vec<Vec<Segment<'a>>> = paths
        .into_iter()
        .map(|p| strip_query(p).split('/').map(classify).collect())
        .collect();
    fold_varying(&mut observed);
    observed
        .iter()
        .map(|segments| {
            (segments.iter())
                .map(Segment::text)
                .collect::<Vec<_>>()
                .join("/")
        })
        .collect()
}

/// The template among `known` (templates inferred before) that `path` falls
/// under by the inference's own rules, without inferring again: `{uuid}`
/// takes a UUID; `{id}` takes an id by its shape, or a segment holding a digit
/// (not a version such as `v2`), since ids were seen varying there; any other
/// segment must be spelled the same. Unlike [`template_of`], a word of letters
/// never falls under a placeholder, so `/api/products/top` is not taken for
/// `/api/products/{id}` and can become a template of its own. Where several
/// fit, the one with the fewest placeholders wins.
///
/// ```
/// use msa_shadow_compare::fit_template;
///
/// let known = ["/api/products/{id}".to_owned()];
/// assert_eq!(fit_template("/api/products/7", &known), Some("/api/products/{id}"));
/// assert_eq!(fit_template("/api/products/SKU7", &known), Some("/api/products/{id}"));
/// assert_eq!(fit_template("/api/products/top", &known), None);
/// ```
pub fn fit_template<'k>(path: &str, known: &'k [String]) -> Option<&'k str> {
    let segments: Vec<&str> = strip_query(path).split('/').collect();
    known
        .iter()
        .filter_map(|template| {
            let parts: Vec<&str> = template.split('/').collect();
            let fits = parts.len() == segments.len()
                && (parts.iter().zip(&segments)).all(|(p, s)| match *p {
                    "{uuid}" => is_uuid(s),
                    "{id}" => !is_uuid(s) && (is_id(s) || maybe_id(s)),
                    literal => literal == *s,
                });
            let placeholders = parts.iter().filter(|p| matches!(**p, "{id}" | "{uuid}"));
            fits.then(|| (placeholders.count(), template))
        })
        .min_by_key(|(placeholders, _)| *placeholders)
        .map(|(_, template)| template.as_str())
}

fn strip_query(path: &str) -> &str {
    path.find(['?', '#']).map_or(path, |n| &path[..n])
}

fn classify(segment: &str) -> Segment<'_> {
    if is_uuid(segment) {
        Segment::Uuid
    } else if is_id(segment) {
        Segment::Id
    } else {
        Segment::Word(segment)
    }
}

/// `8-4-4-4-12` hex digits, either case.
fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// An id by its shape alone, whatever the other paths hold.
fn is_id(s: &str) -> bool {
    let digits = s.bytes().filter(u8::is_ascii_digit).count();
    let all_digits = !s.is_empty() && digits == s.len();
    // Object ids (24), hashes (32, 40, 64): long enough not to be a word.
    let long_hex = s.len() >= 16 && digits > 0 && s.bytes().all(|b| b.is_ascii_hexdigit());
    // ULID: 26 characters of Crockford base32, the first at most 7.
    let ulid = s.len() == 26
        && digits > 0
        && s.starts_with(|c: char| ('0'..='7').contains(&c))
        && (s.bytes())
            .all(|b| b.is_ascii_digit() || (b.is_ascii_uppercase() && !b"ILOU".contains(&b)));
    // Opaque tokens (base64url keys, nano ids): letters and digits, long.
    let token = s.len() >= 20
        && digits > 0
        && (s.bytes()).all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    all_digits || long_hex || ulid || token
}

/// Could be an id if it varies: holds a digit, and is not a version (`v2`).
fn maybe_id(s: &str) -> bool {
    let version = s.len() > 1
        && matches!(s.as_bytes()[0], b'v' | b'V')
        && s[1..].bytes().all(|b| b.is_ascii_digit() || b == b'.');
    s.bytes().any(|b| b.is_ascii_digit()) && !version
}

/// Folds `maybe_id` words into `{id}` where two or more distinct ones sit at
/// the same position of otherwise identical paths (`/api/coupons/WELCOME10`,
/// `/api/coupons/SPRING24`). Repeated until nothing changes, since one fold
/// can make other paths identical.
fn fold_varying(observed: &mut [Vec<Segment<'_>>]) {
    loop {
        let mut changed = false;
        let longest = observed.iter().map(Vec::len).max().unwrap_or(0);
        for at in 0..longest {
            // The rest of the path (the segment blanked) → the words seen there.
            let mut seen: HashMap<Vec<Segment<'_>>, HashSet<&str>> = HashMap::new();
            for segments in observed.iter() {
                if let Some(Segment::Word(w)) = segments.get(at)
                    && maybe_id(w)
                {
                    seen.entry(blank(segments, at)).or_default().insert(w);
                }
            }
            seen.retain(|_, words| words.len() > 1);
            if seen.is_empty() {
                continue;
            }
            for segments in observed.iter_mut() {
                let fold = matches!(segments.get(at), Some(Segment::Word(w)) if maybe_id(w))
                    && seen.contains_key(&blank(segments, at));
                if fold {
                    segments[at] = Segment::Id;
                    changed = true;
                }
            }
        }
        if !changed {
            return;
        }
    }
}

fn blank<'a>(segments: &[Segment<'a>], at: usize) -> Vec<Segment<'a>> {
    let mut key = segments.to_vec();
    key[at] = Segment::Word("");
    key
}

/// The template among `known` that `path` falls under; a placeholder (`{…}`)
/// matches any one non-empty segment. Where several match, the one with the
/// fewest placeholders wins (then the first), so `/api/products/top` beats
/// `/api/products/{id}`. Query strings are ignored.
///
/// ```
/// use msa_shadow_compare::template_of;
///
/// let known = ["/api/products/{id}".to_owned(), "/api/products/top".to_owned()];
/// assert_eq!(template_of("/api/products/7?v=1", &known), Some("/api/products/{id}"));
/// assert_eq!(template_of("/api/products/top", &known), Some("/api/products/top"));
/// assert_eq!(template_of("/api/orders/7", &known), None);
/// ```
pub fn template_of<'k>(path: &str, known: &'k [String]) -> Option<&'k str> {
    let segments: Vec<&str> = strip_query(path).split('/').collect();
    known
        .iter()
        .filter_map(|template| {
            let parts: Vec<&str> = template.split('/').collect();
            let placeholder = |p: &str| p.starts_with('{') && p.ends_with('}');
            let fits = parts.len() == segments.len()
                && (parts.iter().zip(&segments)).all(|(p, s)| {
                    if placeholder(p) {
                        !s.is_empty()
                    } else {
                        p == s
                    }
                });
            fits.then(|| (parts.iter().filter(|p| placeholder(p)).count(), template))
        })
        .min_by_key(|(placeholders, _)| *placeholders)
        .map(|(_, template)| template.as_str())
}

#[cfg(test)]
mod tests;
