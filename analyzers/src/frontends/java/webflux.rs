//! Spring WebFlux functional endpoints in Java: the builder
//! (`RouterFunctions.route().GET("/x", handler::get)`, `.path("/api", b -> b.…)`,
//! `.nest(path("/api"), b -> …)`) and the predicate form
//! (`route(GET("/x"), handler::get)`, `.andRoute(POST("/y"), …)`,
//! `nest(path("/api"), route(…))`). Annotated controllers returning `Mono`/`Flux`
//! need nothing here: their mappings are read like Spring MVC's.

use tree_sitter::Node;

use super::super::{join_route, named_children, text};

/// HTTP methods a router function can name (upper case, as WebFlux spells them).
pub(in crate::frontends) const METHODS: [&str; 7] =
    ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];

/// A route a router function declares; `handler` is the syntax node naming the
/// handler (a method reference or a lambda), for the frontend to resolve.
pub(in crate::frontends) struct FunctionalRoute<'t> {
    pub(in crate::frontends) method: String,
    pub(in crate::frontends) path: String,
    pub(in crate::frontends) handler: Node<'t>,
}

/// The route a `GET(…)`/`POST(…)`… invocation declares, if it is one.
/// `string` evaluates a string expression (literals, constants).
pub(in crate::frontends) fn route<'t>(
    call: Node<'t>,
    src: &str,
    string: &dyn Fn(Node<'t>) -> Option<String>,
) -> Option<FunctionalRoute<'t>> {
    let method = text(call.child_by_field_name("name")?, src);
    if !METHODS.contains(&method) {
        return None;
    }
    let args: Vec<Node<'t>> = named_children(call.child_by_field_name("arguments")?)
        .into_iter()
        .filter(|a| a.kind() != "comment")
        .collect();
    let object = call.child_by_field_name("object");
    let predicate_class = object.is_some_and(|o| text(o, src) == "RequestPredicates");
    let (path, handler) = if object.is_some() && !predicate_class {
        // Builder: GET(pattern, handler), GET(pattern, predicate, handler),
        // GET(predicate, handler), GET(handler).
        let handler = *args.last()?;
        if !is_handler(handler) {
            return None;
        }
        let path = match args.first() {
            Some(first) if args.len() > 1 => string(*first).unwrap_or_default(),
            _ => String::new(),
        };
        (path, handler)
    } else {
        // Predicate: `GET("/x")` (maybe `.and(accept(…))`) as the first argument of
        // `route(…)`/`andRoute(…)`, the handler next to it.
        let [pattern] = args.as_slice() else {
            return None;
        };
        let path = string(*pattern)?;
        let mut predicate = call;
        while let Some(parent) = predicate.parent()
            && parent.kind() == "method_invocation"
            && parent
                .child_by_field_name("object")
                .is_some_and(|o| o.id() == predicate.id())
            && parent
                .child_by_field_name("name")
                .is_some_and(|n| matches!(text(n, src), "and" | "or"))
        {
            predicate = parent;
        }
        let list = predicate.parent().filter(|p| p.kind() == "argument_list")?;
        let router = list.parent()?;
        let name = text(router.child_by_field_name("name")?, src);
        if !matches!(name, "route" | "andRoute") {
            return None;
        }
        let handler = predicate.next_named_sibling().filter(|h| is_handler(*h))?;
        (path, handler)
    };
    let mut full = path;
    for prefix in prefixes(call, src, string) {
        full = join_route(&prefix, &full);
    }
    Some(FunctionalRoute {
        method: method.to_owned(),
        path: join_route("", &full),
        handler,
    })
}

/// A handler function as written: `handler::get`, `req -> handler.get(req)`.
fn is_handler(node: Node<'_>) -> bool {
    matches!(node.kind(), "method_reference" | "lambda_expression")
}

/// The prefixes of the `path(…)`/`nest(…)` calls around `node`, innermost first:
/// each applies when `node` sits in one of their later arguments (the builder
/// lambda or the nested router), not in the prefix itself.
fn prefixes<'t>(
    node: Node<'t>,
    src: &str,
    string: &dyn Fn(Node<'t>) -> Option<String>,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut child = node;
    while let Some(parent) = child.parent() {
        if parent.kind() == "argument_list"
            && let Some(call) = parent.parent()
            && call.kind() == "method_invocation"
            && let Some(name) = call.child_by_field_name("name")
            && matches!(text(name, src), "path" | "nest")
            && let Some(first) = named_children(parent).into_iter().next()
            && first.id() != child.id()
            && let Some(prefix) = prefix_of(first, src, string)
        {
            out.push(prefix);
        }
        child = parent;
    }
    out
}

/// `"/api"` or `path("/api")` / `RequestPredicates.path("/api")`.
fn prefix_of<'t>(
    node: Node<'t>,
    src: &str,
    string: &dyn Fn(Node<'t>) -> Option<String>,
) -> Option<String> {
    if node.kind() == "method_invocation" {
        let name = text(node.child_by_field_name("name")?, src);
        if name != "path" {
            return None;
        }
        let arg = named_children(node.child_by_field_name("arguments")?)
            .into_iter()
            .next()?;
        return string(arg);
    }
    string(node)
}
