//! Route prefixes applied in one file to routes defined in another (Django
//! `include`, Flask `register_blueprint`, FastAPI `include_router`, Express
//! `app.use(prefix, importedRouter)`, axum `.nest(prefix, other::router())`).

use std::collections::HashMap;

use crate::facts::FileFacts;
use crate::frontends::join_route;

/// How many mounts deep a chain is followed, and how many paths one route
/// may get (a router mounted under several prefixes, each mounted again …).
const MAX_CHAIN: usize = 8;
const MAX_PATHS: usize = 32;

/// One mount with what it covers.
#[derive(Debug)]
struct Resolved {
    /// The file holding the mount, and its line.
    file: usize,
    line: usize,
    prefix: String,
    /// The files whose routes it prefixes, each with the lines of the router
    /// function when the target is a function (else the whole file).
    covers: Vec<(usize, Option<(usize, usize)>)>,
}

impl Resolved {
    fn covers(&self, file: usize, line: usize) -> bool {
        self.covers.iter().any(|&(f, lines)| {
            f == file && lines.is_none_or(|(start, end)| (start..=end).contains(&line))
        })
    }
}

/// Every mount of the tree, resolved to the routes it prefixes.
#[derive(Debug, Default)]
pub(super) struct Mounts(Vec<Resolved>);

impl Mounts {
    /// `files` sorted by path; `function` finds a function by its exact
    /// qualified name (→ file index); `module` the module a name points into.
    pub(super) fn new(
        files: &[FileFacts],
        function: impl Fn(&str) -> Option<usize>,
        module: impl Fn(&str) -> Option<String>,
    ) -> Self {
        let mut module_files: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, f) in files.iter().enumerate() {
            module_files.entry(f.module.as_str()).or_default().push(i);
        }
        let mut out = Vec::new();
        for (fi, f) in files.iter().enumerate() {
            for m in &f.mounts {
                let by_function = function(&m.target).and_then(|file| {
                    files[file]
                        .functions
                        .iter()
                        .find(|g| g.name == m.target)
                        .map(|g| vec![(file, Some((g.line_start, g.line_end)))])
                });
                let covers = by_function.or_else(|| {
                    let name = module(&m.target)?;
                    module_files
                        .get(name.as_str())
                        .map(|files| files.iter().map(|&file| (file, None)).collect())
                });
                let Some(covers) = covers else { continue };
                let resolved = Resolved {
                    file: fi,
                    line: m.line,
                    prefix: m.prefix.clone(),
                    covers,
                };
                // A mount of its own place would prefix itself: not a mount.
                if !resolved.covers(fi, m.line) {
                    out.push(resolved);
                }
            }
        }
        Self(out)
    }

    /// The paths of a route defined at `file:line` as `path`: one per chain
    /// of mounts reaching it, or the path itself when nothing mounts it.
    pub(super) fn paths(&self, file: usize, line: usize, path: &str) -> Vec<String> {
        let prefixes = self.prefixes(file, line, &mut Vec::new());
        let mut out: Vec<String> = prefixes
            .iter()
            .map(|prefix| match (prefix.as_str(), path) {
                ("", _) => path.to_owned(),
                // A router's `/` is the mount point itself.
                (prefix, "/" | "") => prefix.to_owned(),
                (prefix, path) => join_route(prefix, path),
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The full prefixes in front of `file:line`; `""` when no mount covers it
    /// (or only mounts already on the chain, which would be a cycle).
    fn prefixes(&self, file: usize, line: usize, chain: &mut Vec<usize>) -> Vec<String> {
        let mut out = Vec::new();
        for (i, m) in self.0.iter().enumerate() {
            if chain.contains(&i) || chain.len() >= MAX_CHAIN || !m.covers(file, line) {
                continue;
            }
            chain.push(i);
            for outer in self.prefixes(m.file, m.line, chain) {
                if out.len() < MAX_PATHS {
                    out.push(join_route(&outer, &m.prefix));
                }
            }
            chain.pop();
        }
        if out.is_empty() {
            out.push(String::new());
        }
        out.sort();
        out.dedup();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{Function, Mount, RouteDef};

    fn file(path: &str, module: &str, mounts: &[(&str, &str, usize)]) -> FileFacts {
        FileFacts {
            path: path.to_owned(),
            module: module.to_owned(),
            mounts: mounts
                .iter()
                .map(|&(prefix, target, line)| Mount {
                    prefix: prefix.to_owned(),
                    target: target.to_owned(),
                    line,
                })
                .collect(),
            routes: vec![RouteDef {
                method: "GET".to_owned(),
                path: "/".to_owned(),
                handler: format!("{module}.h"),
                line: 1,
            }],
            ..FileFacts::default()
        }
    }

    fn mounts(files: &[FileFacts]) -> Mounts {
        Mounts::new(
            files,
            |name| {
                files
                    .iter()
                    .position(|f| f.functions.iter().any(|g| g.name == name))
            },
            |name| {
                files
                    .iter()
                    .map(|f| &f.module)
                    .filter(|m| name == m.as_str() || name.starts_with(&format!("{m}.")))
                    .max_by_key(|m| m.len())
                    .cloned()
            },
        )
    }

    #[test]
    fn chains_join_every_prefix_in_order() {
        let files = [
            file("a.py", "a", &[("/api", "b", 5)]),
            file("b.py", "b", &[("/v1/orders/", "c.urls", 3)]),
            file("c/urls.py", "c.urls", &[]),
        ];
        let m = mounts(&files);
        assert_eq!(m.paths(2, 1, "/{id}/"), ["/api/v1/orders/{id}/"]);
        assert_eq!(m.paths(2, 1, "/"), ["/api/v1/orders/"]);
        assert_eq!(m.paths(1, 1, "/x"), ["/api/x"]);
        assert_eq!(m.paths(0, 1, "/health"), ["/health"]);
    }

    #[test]
    fn a_router_mounted_twice_has_both_paths() {
        let files = [
            file(
                "app.ts",
                "app",
                &[("/api/orders", "orders", 3), ("/v2/orders", "orders", 4)],
            ),
            file("orders.ts", "orders", &[]),
        ];
        assert_eq!(
            mounts(&files).paths(1, 1, "/{id}"),
            ["/api/orders/{id}", "/v2/orders/{id}"]
        );
    }

    #[test]
    fn cycles_end() {
        let files = [
            file("a.py", "a", &[("/b", "b", 5)]),
            file("b.py", "b", &[("/a", "a", 5)]),
        ];
        let m = mounts(&files);
        assert_eq!(m.paths(0, 1, "/x"), ["/b/a/x"]);
        assert_eq!(m.paths(1, 1, "/y"), ["/a/b/y"]);
    }

    #[test]
    fn a_router_function_prefixes_only_its_own_lines() {
        let mut orders = file("src/orders.rs", "crate::orders", &[]);
        orders.functions.push(Function {
            name: "crate::orders::router".to_owned(),
            line_start: 10,
            line_end: 14,
            transactional: false,
        });
        let files = [
            file(
                "src/main.rs",
                "crate",
                &[("/api", "crate::orders::router", 3)],
            ),
            orders,
        ];
        let m = mounts(&files);
        assert_eq!(m.paths(1, 12, "/orders"), ["/api/orders"]);
        assert_eq!(m.paths(1, 20, "/elsewhere"), ["/elsewhere"]);
    }

    #[test]
    fn a_mount_of_its_own_module_is_ignored() {
        let files = [file("a.py", "a", &[("/x", "a.bp", 2)])];
        assert_eq!(mounts(&files).paths(0, 1, "/y"), ["/y"]);
    }
}
