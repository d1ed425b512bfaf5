//! The route table: which claimed route, if any, a request belongs to.
//!
//! Paths are looked up in a radix tree (matchit, as axum uses), so lookup cost
//! follows the path's length, not the number of routes. Routes that share a
//! path pattern are told apart by method and host. Prefix routes sit in a map
//! probed with the path's ancestors, longest first (cost: the path's depth).
//! Exact and template routes win over prefixes; a request no route takes is
//! unclaimed and goes to the monolith.

use foldhash::HashMap;
use http::Method;

use crate::config::{PathMatch, Problem, RouteConfig};

/// Index of a route in the configuration's route list.
pub(crate) type RouteId = usize;

/// Path patterns → the routes that claim them.
#[derive(Debug)]
pub(crate) struct RouteTable {
    tree: matchit::Router<usize>,
    /// Per pattern, the routes that share it, in file order.
    groups: Vec<Vec<RouteId>>,
    /// Prefix routes, longest prefix first, for requests the best pattern's
    /// routes refuse. Hashed with foldhash: a lookup hashes each of the
    /// path's ancestors, and only the configuration ever inserts.
    prefixes: HashMap<String, Vec<RouteId>>,
    routes: Vec<(Option<Vec<Method>>, Option<String>)>,
    /// Whether any route is bound to a host.
    any_host: bool,
}

impl RouteTable {
    /// Builds the table, or lists the patterns that conflict.
    pub(crate) fn new(routes: &[RouteConfig]) -> Result<Self, Vec<Problem>> {
        let mut table = Self {
            tree: matchit::Router::new(),
            groups: Vec::new(),
            prefixes: HashMap::default(),
            routes: routes
                .iter()
                .map(|r| (r.methods.clone(), r.host.clone()))
                .collect(),
            any_host: routes.iter().any(|r| r.host.is_some()),
        };
        let mut patterns: Vec<String> = Vec::new();
        let mut problems = Vec::new();
        for (id, route) in routes.iter().enumerate() {
            let pattern = match &route.path {
                PathMatch::Prefix(prefix) => {
                    table.prefixes.entry(prefix.clone()).or_default().push(id);
                    continue;
                }
                PathMatch::Exact(p) | PathMatch::Template(p) => p.clone(),
            };
            if let Some(group) = patterns.iter().position(|p| *p == pattern) {
                table.groups[group].push(id);
                continue;
            }
            match table.tree.insert(pattern.clone(), table.groups.len()) {
                Ok(()) => {
                    patterns.push(pattern);
                    table.groups.push(vec![id]);
                }
                Err(err) => problems.push(Problem {
                    line: None,
                    field: format!("routes[{id}].path"),
                    message: format!(
                        "route `{}` cannot be told apart from another route: {err}",
                        route.name
                    ),
                }),
            }
        }
        if problems.is_empty() {
            Ok(table)
        } else {
            Err(problems)
        }
    }

    /// Whether any route is bound to a host (so lookups need the request's host).
    pub(crate) fn has_hosts(&self) -> bool {
        self.any_host
    }

    /// The route that claims a request, if any. `host` is without port, lowercase.
    pub(crate) fn lookup(
        &self,
        method: &Method,
        host: Option<&str>,
        path: &str,
    ) -> Option<RouteId> {
        let takes = |id: &RouteId| {
            let (methods, route_host) = &self.routes[*id];
            methods.as_ref().is_none_or(|m| m.contains(method))
                && route_host.as_ref().is_none_or(|h| Some(h.as_str()) == host)
        };
        if let Ok(found) = self.tree.at(path)
            && let Some(id) = self.groups[*found.value].iter().find(|id| takes(id))
        {
            return Some(*id);
        }
        ancestors(path)
            .filter_map(|candidate| self.prefixes.get(candidate))
            .find_map(|ids| ids.iter().find(|id| takes(id)))
            .copied()
    }
}

/// `/a/b/c`, `/a/b`, `/a`, `/`: the prefixes that claim a path, longest first.
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    let trimmed = path.trim_end_matches('/');
    let mut next = Some(trimmed);
    std::iter::from_fn(move || {
        let current = next?;
        next = match current.rfind('/') {
            Some(0) if current.len() > 1 => Some("/"),
            Some(i) if i > 0 => Some(&current[..i]),
            _ => None,
        };
        Some(if current.is_empty() { "/" } else { current })
    })
}

#[cfg(test)]
mod tests;
