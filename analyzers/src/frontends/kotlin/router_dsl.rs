//! Spring WebFlux's Kotlin router DSL: `router { … }` and `coRouter { … }` with
//! `GET("/x", handler::get)`, `POST("/y") { handler.add(it) }`, and prefixes
//! from `"/api".nest { … }` or `path("/api").nest { … }`. A `GET(…)` outside
//! such a block is not a route.

use tree_sitter::Node;

use super::super::java::webflux::METHODS;
use super::super::{join_route, named_children, text};

/// A route the DSL declares; `handler` is the node naming the handler (a
/// callable reference or a trailing lambda), for the frontend to resolve.
pub(super) struct DslRoute<'t> {
    pub(super) method: String,
    pub(super) path: String,
    pub(super) handler: Node<'t>,
}

/// The route a `GET(…)`/`POST(…)`… call declares inside a router block.
pub(super) fn route<'t>(
    call: Node<'t>,
    src: &str,
    string: &dyn Fn(Node<'t>) -> Option<String>,
) -> Option<DslRoute<'t>> {
    let children = named_children(call);
    let callee = children.first().filter(|c| c.kind() == "identifier")?;
    let method = text(*callee, src);
    if !METHODS.contains(&method) || !inside_router(call, src) {
        return None;
    }
    let args: Vec<Node<'t>> = children
        .iter()
        .find(|c| c.kind() == "value_arguments")
        .map(|a| {
            named_children(*a)
                .into_iter()
                .filter_map(|v| named_children(v).into_iter().last())
                .collect()
        })
        .unwrap_or_default();
    // `GET(pattern, handler::f)`, `GET(pattern, predicate, handler::f)`,
    // `GET(pattern) { … }` (the lambda is a sibling in the parent call).
    let handler = match args.last() {
        Some(last) if args.len() > 1 && is_reference(*last, src) => *last,
        _ => call
            .parent()
            .filter(|p| p.kind() == "call_expression")
            .and_then(|p| {
                named_children(p)
                    .into_iter()
                    .find(|c| c.kind() == "annotated_lambda")
            })?,
    };
    let path = args
        .first()
        .filter(|a| a.id() != handler.id())
        .and_then(|a| string(*a))
        .unwrap_or_default();
    let mut full = path;
    for prefix in prefixes(call, src, string) {
        full = join_route(&prefix, &full);
    }
    Some(DslRoute {
        method: method.to_owned(),
        path: join_route("", &full),
        handler,
    })
}

/// `handler::get`, `this::get`, `::get`.
fn is_reference(node: Node<'_>, src: &str) -> bool {
    node.kind() == "callable_reference"
        || (node.kind() == "navigation_expression" && text(node, src).contains("::"))
}

/// Whether `node` is inside the lambda of a `router { }` or `coRouter { }` call.
fn inside_router(node: Node<'_>, src: &str) -> bool {
    let mut at = node.parent();
    while let Some(n) = at {
        if n.kind() == "call_expression"
            && let Some(first) = named_children(n).into_iter().next()
            && first.kind() == "identifier"
            && matches!(text(first, src), "router" | "coRouter")
        {
            return true;
        }
        at = n.parent();
    }
    false
}

/// The prefixes of the `"/api".nest { }` / `path("/api").nest { }` blocks
/// around `node`, innermost first.
fn prefixes<'t>(
    node: Node<'t>,
    src: &str,
    string: &dyn Fn(Node<'t>) -> Option<String>,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut child = node;
    while let Some(parent) = child.parent() {
        if child.kind() == "annotated_lambda"
            && parent.kind() == "call_expression"
            && let Some(callee) = named_children(parent).into_iter().next()
            && callee.kind() == "navigation_expression"
            && let [receiver, .., name] = named_children(callee).as_slice()
            && text(*name, src) == "nest"
            && let Some(prefix) = prefix_of(*receiver, src, string)
        {
            out.push(prefix);
        }
        child = parent;
    }
    out
}

/// `"/api"` or `path("/api")`; `accept(…)` and other predicates add no prefix.
fn prefix_of<'t>(
    node: Node<'t>,
    src: &str,
    string: &dyn Fn(Node<'t>) -> Option<String>,
) -> Option<String> {
    if node.kind() == "call_expression" {
        let parts = named_children(node);
        let callee = parts.first()?;
        if text(*callee, src) != "path" {
            return None;
        }
        let arg = parts
            .iter()
            .find(|p| p.kind() == "value_arguments")
            .and_then(|a| named_children(*a).into_iter().next())
            .and_then(|v| named_children(v).into_iter().last())?;
        return string(arg);
    }
    string(node)
}
