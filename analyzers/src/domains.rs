//! `domains.yaml`: the team's domains (or the proposal `analyze` writes, in the
//! same format).
//!
//! ```yaml
//! domains:
//!   order:
//!     packages: ["crate::orders", "com.shop.order*"]   # module names
//!     paths: ["src/orders/**"]                          # file paths
//!     tables: [orders, order_items]
//!     routes: ["POST /api/orders", "/api/orders/*"]
//! ```
//! In every pattern `*` matches any run of characters and `?` one character.
//! A route pattern with a leading method matches that method only.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    domains: Spanned<BTreeMap<String, Spanned<RawDomain>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDomain {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    packages: Vec<Spanned<String>>,
    #[serde(default)]
    paths: Vec<Spanned<String>>,
    #[serde(default)]
    tables: Vec<Spanned<String>>,
    #[serde(default)]
    routes: Vec<Spanned<String>>,
}

/// Validated domains, in name order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DomainSpec {
    pub domains: Vec<DomainRule>,
}

/// One domain's patterns.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DomainRule {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub packages: Vec<String>,
    #[serde(default)]
    pub paths: Vec<String>,
    #[serde(default)]
    pub tables: Vec<String>,
    #[serde(default)]
    pub routes: Vec<String>,
}

/// Every problem in a domains file, each with its line.
#[derive(Debug, thiserror::Error)]
#[error("{file} has {} problem(s):\n{}", problems.len(), problems.iter().map(|p| format!("  {file}:{p}")).collect::<Vec<_>>().join("\n"))]
pub struct DomainsError {
    pub file: String,
    /// `line: field: problem; fix`.
    pub problems: Vec<String>,
}

const METHODS: [&str; 9] = [
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "ANY",
];

impl DomainSpec {
    /// Parses and validates a domains file; `file` names it in messages.
    pub fn parse(file: &str, text: &str) -> Result<Self, DomainsError> {
        let raw: RawFile = serde_saphyr::from_str(text).map_err(|err| DomainsError {
            file: file.to_owned(),
            problems: vec![format!(
                "{}; expected `domains:` mapping each domain name to packages, paths, tables and routes lists",
                err.to_string().trim_start_matches("error: ")
            )],
        })?;
        let mut problems = Vec::new();
        let mut domains = Vec::new();
        let mut table_owner: BTreeMap<String, (String, u64)> = BTreeMap::new();
        if raw.domains.value.is_empty() {
            problems.push(format!(
                "{}: domains: no domain declared; add at least one",
                raw.domains.referenced.line()
            ));
        }
        for (name, domain) in &raw.domains.value {
            let line = domain.referenced.line();
            let d = &domain.value;
            let valid_name = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !valid_name {
                problems.push(format!(
                    "{line}: domains.{name}: a domain name uses letters, digits, `-` and `_` only"
                ));
            }
            if d.packages.is_empty()
                && d.paths.is_empty()
                && d.tables.is_empty()
                && d.routes.is_empty()
            {
                problems.push(format!(
                    "{line}: domains.{name}: claims nothing; list packages, paths, tables or routes"
                ));
            }
            for (field, list) in [
                ("packages", &d.packages),
                ("paths", &d.paths),
                ("tables", &d.tables),
                ("routes", &d.routes),
            ] {
                for pattern in list {
                    let at = pattern.referenced.line();
                    if pattern.value.trim().is_empty() {
                        problems.push(format!("{at}: domains.{name}.{field}: empty pattern"));
                    }
                    if field == "routes"
                        && let Some((method, path)) = pattern.value.split_once(' ')
                    {
                        if !METHODS.contains(&method) {
                            problems.push(format!(
                                "{at}: domains.{name}.routes: `{}`: unknown method `{method}`; write `METHOD /path` with one of {}, or just `/path`",
                                pattern.value,
                                METHODS.join(", ")
                            ));
                        }
                        if !path.starts_with('/') && !path.starts_with('*') {
                            problems.push(format!(
                                "{at}: domains.{name}.routes: `{}`: a route path starts with `/`",
                                pattern.value
                            ));
                        }
                    } else if field == "routes"
                        && !pattern.value.starts_with('/')
                        && !pattern.value.starts_with('*')
                    {
                        problems.push(format!(
                            "{at}: domains.{name}.routes: `{}`: a route path starts with `/`",
                            pattern.value
                        ));
                    }
                    if field == "tables" && !pattern.value.contains(['*', '?']) {
                        let table = pattern.value.to_lowercase();
                        if let Some((other, other_line)) = table_owner.get(&table) {
                            problems.push(format!(
                                "{at}: domains.{name}.tables: `{table}` is already claimed by `{other}` (line {other_line}); a table has one owner"
                            ));
                        } else {
                            table_owner.insert(table, (name.clone(), at));
                        }
                    }
                }
            }
            let values =
                |list: &Vec<Spanned<String>>| list.iter().map(|s| s.value.clone()).collect();
            domains.push(DomainRule {
                name: name.clone(),
                description: d.description.clone(),
                packages: values(&d.packages),
                paths: values(&d.paths),
                tables: values(&d.tables),
                routes: values(&d.routes),
            });
        }
        if problems.is_empty() {
            Ok(Self { domains })
        } else {
            Err(DomainsError {
                file: file.to_owned(),
                problems,
            })
        }
    }

    /// The file text, loadable by [`DomainSpec::parse`].
    pub fn to_yaml(&self, header: &str) -> String {
        #[derive(Serialize)]
        struct Out<'a> {
            domains: BTreeMap<&'a str, OutDomain<'a>>,
        }
        #[derive(Serialize)]
        struct OutDomain<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            description: Option<&'a str>,
            #[serde(skip_serializing_if = "<[_]>::is_empty")]
            packages: &'a [String],
            #[serde(skip_serializing_if = "<[_]>::is_empty")]
            paths: &'a [String],
            #[serde(skip_serializing_if = "<[_]>::is_empty")]
            tables: &'a [String],
            #[serde(skip_serializing_if = "<[_]>::is_empty")]
            routes: &'a [String],
        }
        let out = Out {
            domains: self
                .domains
                .iter()
                .map(|d| {
                    (
                        d.name.as_str(),
                        OutDomain {
                            description: d.description.as_deref(),
                            packages: &d.packages,
                            paths: &d.paths,
                            tables: &d.tables,
                            routes: &d.routes,
                        },
                    )
                })
                .collect(),
        };
        let body = serde_saphyr::to_string(&out).unwrap_or_default();
        let mut text = String::new();
        for line in header.lines() {
            text.push_str("# ");
            text.push_str(line);
            text.push('\n');
        }
        text.push_str(&body);
        text
    }
}

impl DomainRule {
    pub fn claims_module(&self, module: &str, files: &[String]) -> bool {
        self.packages.iter().any(|p| glob(p, module))
            || files.iter().any(|f| self.paths.iter().any(|p| glob(p, f)))
    }

    pub fn claims_table(&self, table: &str) -> bool {
        self.tables.iter().any(|p| glob(&p.to_lowercase(), table))
    }

    /// `route` is `METHOD /path`.
    pub fn claims_route(&self, route: &str) -> bool {
        let path = route.split_once(' ').map_or(route, |(_, p)| p);
        self.routes.iter().any(|p| {
            if p.contains(' ') {
                glob(p, route) || p.strip_prefix("ANY ").is_some_and(|q| glob(q, path))
            } else {
                glob(p, path)
            }
        })
    }
}

/// `*` matches any run of characters (separators included), `?` one character.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            while pi < p.len() && p[pi] == '*' {
                pi += 1;
            }
            star = Some(pi);
            mark = ti;
        } else if let Some(s) = star {
            pi = s;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("com.shop.order*", "com.shop.order.web"));
        assert!(glob("src/orders/**", "src/orders/a/b.rs"));
        assert!(glob("order_?tems", "order_items"));
        assert!(!glob("orders", "order_items"));
        assert!(glob("*", ""));
    }

    #[test]
    fn a_valid_file_loads_and_round_trips() {
        let text = "domains:\n  order:\n    packages: [\"crate::orders\"]\n    tables: [orders, order_items]\n    routes: [\"POST /api/orders\", \"/api/orders/*\"]\n  point:\n    tables: [points]\n";
        let spec = DomainSpec::parse("d.yaml", text).unwrap();
        assert_eq!(spec.domains.len(), 2);
        assert!(spec.domains[0].claims_route("POST /api/orders"));
        assert!(spec.domains[0].claims_route("GET /api/orders/{id}"));
        assert!(!spec.domains[0].claims_route("GET /api/orders"));
        let again = DomainSpec::parse("again.yaml", &spec.to_yaml("proposal")).unwrap();
        assert_eq!(again, spec);
    }

    #[test]
    fn every_problem_is_reported_with_its_line() {
        let text = "domains:\n  order:\n    tables: [orders]\n    routes: [\"FETCH /x\", \"api\"]\n  point:\n    tables: [orders]\n  empty: {}\n";
        let err = DomainsError::to_string(&DomainSpec::parse("d.yaml", text).unwrap_err());
        assert!(
            err.contains("d.yaml:4: domains.order.routes: `FETCH /x`: unknown method"),
            "{err}"
        );
        assert!(err.contains("`api`: a route path starts with `/`"), "{err}");
        assert!(
            err.contains(
                "d.yaml:6: domains.point.tables: `orders` is already claimed by `order` (line 3)"
            ),
            "{err}"
        );
        assert!(err.contains("domains.empty: claims nothing"), "{err}");
    }

    #[test]
    fn unknown_fields_are_errors() {
        let err = DomainSpec::parse("d.yaml", "domains:\n  order:\n    tabels: [orders]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("tabels"), "{err}");
    }
}
