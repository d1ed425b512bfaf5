//! Access logs → requests per route template. Reads NGINX/Apache combined (or
//! common) log format and JSON lines (`method`/`request_method` plus
//! `path`/`uri`/`request_uri`/`url`, or a `request` line).

use std::collections::{BTreeMap, HashMap};

use crate::model::AccessLogSummary;

/// Request counts per (METHOD, path without query).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Requests {
    pub counts: BTreeMap<(String, String), u64>,
    pub skipped_lines: u64,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccessLogError {
    #[error("cannot read {file}: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error(
        "{file}:{line}: not an access log line (combined log format or JSON with method and path expected): {text}"
    )]
    Format {
        file: String,
        line: usize,
        text: String,
    },
}

impl Requests {
    /// Adds one log file's lines. A file none of whose lines parse is an error
    /// naming its first line.
    pub fn add_file(&mut self, file: &str, text: &str) -> Result<(), AccessLogError> {
        let mut parsed = 0u64;
        let mut first_bad = None;
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match parse_line(line) {
                Some((method, path)) => {
                    parsed += 1;
                    *self.counts.entry((method, path)).or_default() += 1;
                }
                None => {
                    self.skipped_lines += 1;
                    first_bad.get_or_insert((i + 1, line.chars().take(120).collect::<String>()));
                }
            }
        }
        match (parsed, first_bad) {
            (0, Some((line, text))) => Err(AccessLogError::Format {
                file: file.to_owned(),
                line,
                text,
            }),
            _ => Ok(()),
        }
    }
}

fn parse_line(line: &str) -> Option<(String, String)> {
    let line = line.trim();
    let (method, target) = if line.starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(line).ok()?;
        let field = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| v.get(*n).and_then(|x| x.as_str()).map(str::to_owned))
        };
        match (
            field(&["method", "request_method", "http_method"]),
            field(&["path", "uri", "request_uri", "url"]),
        ) {
            (Some(m), Some(p)) => (m, p),
            _ => {
                let request = field(&["request"])?;
                let mut parts = request.split_whitespace();
                (parts.next()?.to_owned(), parts.next()?.to_owned())
            }
        }
    } else {
        let start = line.find('"')? + 1;
        let end = start + line[start..].find('"')?;
        let mut parts = line[start..end].split_whitespace();
        (parts.next()?.to_owned(), parts.next()?.to_owned())
    };
    if !method.chars().all(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    let path = target.split(['?', '#']).next()?;
    // Absolute-form targets: keep the path.
    let path = match path.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => path,
    };
    path.starts_with('/')
        .then(|| (method.to_uppercase(), path.to_owned()))
}

/// Counts per route (`METHOD /template`), and a summary with the most
/// frequent unmatched paths.
pub fn match_routes(
    requests: &Requests,
    routes: &[String],
) -> (HashMap<String, u64>, AccessLogSummary) {
    let templates: Vec<(&str, Vec<&str>, &String)> = routes
        .iter()
        .filter_map(|r| {
            let (m, p) = r.split_once(' ')?;
            Some((m, p.split('/').collect(), r))
        })
        .collect();
    let mut counts: HashMap<String, u64> = HashMap::new();
    let mut unmatched: BTreeMap<String, u64> = BTreeMap::new();
    let mut summary = AccessLogSummary {
        skipped_lines: requests.skipped_lines,
        ..AccessLogSummary::default()
    };
    for ((method, path), n) in &requests.counts {
        summary.requests += n;
        let segs: Vec<&str> = path.split('/').collect();
        // The most specific template wins: fewest parameters.
        let best = templates
            .iter()
            .filter(|(m, t, _)| (*m == method || *m == "ANY") && matches(t, &segs))
            .min_by_key(|(_, t, r)| (t.iter().filter(|s| s.starts_with('{')).count(), *r));
        match best {
            Some((_, _, route)) => {
                summary.matched += n;
                *counts.entry((*route).clone()).or_default() += n;
            }
            None => *unmatched.entry(format!("{method} {path}")).or_default() += n,
        }
    }
    let mut top: Vec<(String, u64)> = unmatched.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    top.truncate(20);
    summary.unmatched = top;
    (counts, summary)
}

fn matches(template: &[&str], path: &[&str]) -> bool {
    for (i, t) in template.iter().enumerate() {
        if t.starts_with("{*") {
            return path.len() > i;
        }
        let Some(p) = path.get(i) else { return false };
        let param = t.starts_with('{') && t.ends_with('}');
        if !(param && !p.is_empty() || t == p) {
            return false;
        }
    }
    template.len() == path.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combined_and_json_lines_count_per_template() {
        let mut r = Requests::default();
        let log = concat!(
            "127.0.0.1 - - [10/Oct/2025:13:55:36 +0000] \"GET /api/orders/17?x=1 HTTP/1.1\" 200 512 \"-\" \"curl\"\n",
            "127.0.0.1 - - [10/Oct/2025:13:55:37 +0000] \"GET /api/orders/top HTTP/1.1\" 200 512 \"-\" \"curl\"\n",
            "{\"method\":\"POST\",\"path\":\"/api/orders\",\"status\":201}\n",
            "garbage\n",
            "{\"request\":\"GET /nowhere HTTP/1.1\"}\n",
        );
        r.add_file("access.log", log).unwrap();
        let routes = vec![
            "GET /api/orders/{id}".to_owned(),
            "GET /api/orders/top".to_owned(),
            "POST /api/orders".to_owned(),
        ];
        let (counts, summary) = match_routes(&r, &routes);
        assert_eq!(counts["GET /api/orders/{id}"], 1);
        assert_eq!(counts["GET /api/orders/top"], 1, "the literal route wins");
        assert_eq!(counts["POST /api/orders"], 1);
        assert_eq!(summary.requests, 4);
        assert_eq!(summary.matched, 3);
        assert_eq!(summary.skipped_lines, 1);
        assert_eq!(summary.unmatched, [("GET /nowhere".to_owned(), 1)]);
    }

    #[test]
    fn a_file_that_is_not_a_log_names_its_first_line() {
        let err = Requests::default()
            .add_file("x.log", "\nhello world\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("x.log:2: not an access log line"), "{err}");
    }
}
