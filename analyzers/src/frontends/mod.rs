//! Language frontends: each turns one source file into [`FileFacts`] with tree-sitter.
//!
//! Every frontend makes one pass over the syntax tree of a file with a single
//! [`TreeCursor`]; parsers are kept per thread (they are not `Sync`). The helpers
//! below are shared: route templates, table naming rules, line counting.

use std::cell::RefCell;
use std::path::Path;
use std::thread::LocalKey;

use tree_sitter::{Node, Parser, Tree, TreeCursor};

use crate::facts::{FileFacts, Language};
use crate::sql::looks_like_sql;

/// Implements [`Scope`] for the walk-state structs that remember their node's `id`.
macro_rules! impl_scope {
    ($($ty:ty),+) => {
        $(impl super::Scope for $ty {
            fn node_id(&self) -> usize {
                self.id
            }
        })+
    };
}

mod go;
mod java;
mod kotlin;
mod python;
mod rust;
mod typescript;

/// A language frontend.
pub trait Frontend: Send + Sync {
    /// Whether this frontend reads the file, judged by its path alone.
    fn accepts(&self, path: &Path) -> bool;

    /// The facts of one file. `relative` is the path shown in findings.
    /// A file the grammar cannot fully parse still yields what could be read.
    fn extract(&self, relative: &str, source: &str) -> FileFacts;
}

/// Every frontend, in the order they are asked.
pub fn all() -> Vec<Box<dyn Frontend>> {
    vec![
        Box::new(java::Java),
        Box::new(java::mybatis::MyBatis),
        Box::new(kotlin::Kotlin),
        Box::new(python::Python),
        Box::new(typescript::TypeScript),
        Box::new(typescript::prisma::Prisma),
        Box::new(rust::Rust),
        Box::new(go::Go),
    ]
}

/// The extension of `path`, lower case.
fn extension(path: &Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// A parser for `language` (one per thread: parsers are not `Sync`).
fn new_parser(language: tree_sitter::Language) -> RefCell<Parser> {
    let mut parser = Parser::new();
    // The grammars are compiled in; a version mismatch would show in every test.
    let _ = parser.set_language(&language);
    RefCell::new(parser)
}

/// Parses `source` with this thread's parser behind `key`.
fn parse(key: &'static LocalKey<RefCell<Parser>>, source: &str) -> Option<Tree> {
    key.with_borrow_mut(|parser| parser.parse(source, None))
}

/// The source text of `node`.
fn text<'s>(node: Node<'_>, source: &'s str) -> &'s str {
    source.get(node.byte_range()).unwrap_or_default()
}

/// 1-based first line of `node`.
fn line(node: Node<'_>) -> usize {
    node.start_position().row + 1
}

/// 1-based last line of `node`.
fn end_line(node: Node<'_>) -> usize {
    node.end_position().row + 1
}

/// Named children of `node` (allocates; used on the few nodes that matter, not on every node).
fn named_children<'t>(node: Node<'t>) -> Vec<Node<'t>> {
    let mut cursor = node.walk();
    node.named_children(&mut cursor).collect()
}

/// The facts of a file before its tree is read: path, language, module and
/// line count are set the same way by every frontend.
fn start_facts(relative: &str, source: &str, language: Language, module: String) -> FileFacts {
    FileFacts {
        path: relative.to_owned(),
        language,
        module,
        lines: non_blank_lines(source),
        ..FileFacts::default()
    }
}

/// The directory part of `relative`: the module of languages whose packages
/// are directories (Go, Prisma).
fn directory_of(relative: &str) -> String {
    relative
        .rsplit_once('/')
        .map(|(dir, _)| dir.to_owned())
        .unwrap_or_default()
}

/// Non-blank lines of a file.
fn non_blank_lines(source: &str) -> usize {
    source.lines().filter(|l| !l.trim().is_empty()).count()
}

/// One pass over a syntax tree: `enter` before a node's children (returning
/// whether to descend), `leave` after them.
trait Visitor<'t> {
    fn enter(&mut self, node: Node<'t>) -> bool;
    fn leave(&mut self, _node: Node<'t>) {}
}

/// A class or function opened by a syntax node and closed when the walk leaves it.
trait Scope {
    fn node_id(&self) -> usize;
}

/// Closes whatever `node` opened: the current function, else the innermost class.
/// Functions are checked first because a class never ends inside its own method.
fn leave_scope<F: Scope, C: Scope>(node: Node<'_>, func: &mut Option<F>, classes: &mut Vec<C>) {
    if func.as_ref().is_some_and(|f| f.node_id() == node.id()) {
        *func = None;
    } else if classes.last().is_some_and(|c| c.node_id() == node.id()) {
        classes.pop();
    }
}

/// Visits every node below (and including) the cursor's node in document order.
/// Iterative, so deeply nested expressions cannot exhaust the stack.
fn walk<'t>(cursor: &mut TreeCursor<'t>, visitor: &mut impl Visitor<'t>) {
    let mut descend = visitor.enter(cursor.node());
    loop {
        if descend && cursor.goto_first_child() {
            descend = visitor.enter(cursor.node());
            continue;
        }
        loop {
            visitor.leave(cursor.node());
            if cursor.goto_next_sibling() {
                descend = visitor.enter(cursor.node());
                break;
            }
            if !cursor.goto_parent() {
                return;
            }
        }
    }
}

/// A route template normalised to `{name}` parameters with a leading `/`:
/// `:id`, `:id?`, `<int:pk>`, `<pk>`, `{id:\d+}`, `(?P<pk>\d+)` all become `{…}`.
fn normalize_route(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 1);
    let bytes: Vec<char> = path.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            ':' if out.is_empty() || out.ends_with('/') => {
                let start = i + 1;
                let mut j = start;
                while j < bytes.len() && (bytes[j].is_alphanumeric() || bytes[j] == '_') {
                    j += 1;
                }
                if j > start {
                    out.push('{');
                    out.extend(&bytes[start..j]);
                    out.push('}');
                    // Express optional marker and inline regex `:id(\d+)`.
                    if j < bytes.len() && bytes[j] == '?' {
                        j += 1;
                    }
                    if j < bytes.len() && bytes[j] == '(' {
                        j = skip_group(&bytes, j);
                    }
                    i = j;
                    continue;
                }
                out.push(c);
            }
            '<' => {
                if let Some(end) = bytes[i..].iter().position(|&b| b == '>') {
                    let inner: String = bytes[i + 1..i + end].iter().collect();
                    let name = inner.rsplit(':').next().unwrap_or_default();
                    out.push('{');
                    out.push_str(name);
                    out.push('}');
                    i += end + 1;
                    continue;
                }
                out.push(c);
            }
            '{' => {
                if let Some(end) = bytes[i..].iter().position(|&b| b == '}') {
                    let inner: String = bytes[i + 1..i + end].iter().collect();
                    let name = inner
                        .split(':')
                        .next()
                        .unwrap_or_default()
                        .trim_end_matches("...");
                    out.push('{');
                    out.push_str(name.trim_start_matches('*'));
                    out.push('}');
                    i += end + 1;
                    continue;
                }
                out.push(c);
            }
            // Regex named group, as in Django `re_path`.
            '(' if bytes.get(i + 1) == Some(&'?')
                && bytes.get(i + 2) == Some(&'P')
                && bytes.get(i + 3) == Some(&'<') =>
            {
                let start = i + 4;
                let close = bytes[start..]
                    .iter()
                    .position(|&b| b == '>')
                    .map(|p| start + p);
                if let Some(close) = close {
                    out.push('{');
                    out.extend(&bytes[start..close]);
                    out.push('}');
                    i = skip_group(&bytes, i);
                    continue;
                }
                out.push(c);
            }
            _ => out.push(c),
        }
        i += 1;
    }
    let mut path = out;
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    while path.contains("//") {
        path = path.replace("//", "/");
    }
    path
}

/// The index after the parenthesised group starting at `open`.
fn skip_group(chars: &[char], open: usize) -> usize {
    let mut depth = 0usize;
    let mut i = open;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 1,
            '(' => depth += 1,
            ')' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    chars.len()
}

/// Strips regex anchors from a Django `re_path`/`url` pattern.
fn strip_regex_anchors(pattern: &str) -> &str {
    pattern.trim_start_matches('^').trim_end_matches('$')
}

/// Joins a prefix and a path, normalising both: `("/api/orders", "{id}")` → `/api/orders/{id}`.
/// An empty path is the prefix itself.
pub(crate) fn join_route(prefix: &str, path: &str) -> String {
    let joined = if prefix.is_empty() {
        path.to_owned()
    } else if path.is_empty() {
        prefix.to_owned()
    } else {
        format!(
            "{}/{}",
            prefix.trim_end_matches('/'),
            path.trim_start_matches('/')
        )
    };
    normalize_route(&joined)
}

/// `OrderItem` → `order_item`, `HTTPLog` → `http_log` (Spring Boot's and TypeORM's rule).
fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev_lower =
                i > 0 && (chars[i - 1].is_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            let prev_upper = i > 0 && chars[i - 1].is_uppercase();
            if i > 0 && (prev_lower || (prev_upper && next_lower)) && !out.ends_with('_') {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Access implied by an ORM/repository method name: `save`, `delete…`, `update…` write;
/// `find…`, `get…`, `count…`, `exists…` read. `None` when the name says nothing.
fn access_of_method(name: &str) -> Option<crate::facts::Access> {
    use crate::facts::Access;
    let lower = name.to_ascii_lowercase();
    const WRITE: [&str; 15] = [
        "save",
        "insert",
        "update",
        "delete",
        "remove",
        "create",
        "upsert",
        "persist",
        "merge",
        "increment",
        "decrement",
        "softdelete",
        "restore",
        "bulk",
        "destroy",
    ];
    const READ: [&str; 12] = [
        "find",
        "get",
        "count",
        "exists",
        "exist",
        "read",
        "query",
        "stream",
        "search",
        "aggregate",
        "select",
        "load",
    ];
    if WRITE.iter().any(|w| lower.starts_with(w)) {
        Some(Access::Write)
    } else if READ.iter().any(|r| lower.starts_with(r)) {
        Some(Access::Read)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_parameters_are_normalised() {
        assert_eq!(normalize_route("api/orders/<int:pk>/"), "/api/orders/{pk}/");
        assert_eq!(normalize_route("/users/<username>"), "/users/{username}");
        assert_eq!(
            normalize_route("/orders/:id/items/:itemId?"),
            "/orders/{id}/items/{itemId}"
        );
        assert_eq!(normalize_route("/files/:name(\\d+)"), "/files/{name}");
        assert_eq!(normalize_route("/products/{id:\\d+}"), "/products/{id}");
        assert_eq!(normalize_route("/static/{path...}"), "/static/{path}");
        assert_eq!(
            normalize_route(strip_regex_anchors(r"^orders/(?P<pk>[0-9]+)/$")),
            "/orders/{pk}/"
        );
        // A colon inside a segment is not a parameter.
        assert_eq!(
            normalize_route("/v1/orders:batchGet"),
            "/v1/orders:batchGet"
        );
    }

    #[test]
    fn prefixes_join_without_double_slashes() {
        assert_eq!(join_route("/api/orders", "/{id}"), "/api/orders/{id}");
        assert_eq!(join_route("/api/orders/", "{id}"), "/api/orders/{id}");
        assert_eq!(join_route("/api/orders", ""), "/api/orders");
        assert_eq!(join_route("", "health"), "/health");
        assert_eq!(join_route("api/", "orders/"), "/api/orders/");
    }

    #[test]
    fn snake_case_follows_spring_boot() {
        assert_eq!(snake_case("OrderLine"), "order_line");
        assert_eq!(snake_case("Order"), "order");
        assert_eq!(snake_case("HTTPLog"), "http_log");
        assert_eq!(snake_case("PointAccount2"), "point_account2");
    }

    #[test]
    fn repository_method_names_imply_access() {
        use crate::facts::Access;
        assert_eq!(access_of_method("save"), Some(Access::Write));
        assert_eq!(
            access_of_method("deleteAllByIdInBatch"),
            Some(Access::Write)
        );
        assert_eq!(access_of_method("findByEmail"), Some(Access::Read));
        assert_eq!(access_of_method("existsById"), Some(Access::Read));
        assert_eq!(access_of_method("toString"), None);
    }
}
