//! Rust: modules and `use` imports, functions (free, `impl` and trait methods,
//! qualified as `crate::orders::place`), calls, axum routes (`.route(path,
//! get(h).post(h2))` with `.nest(prefix, …)`), actix routes (`#[get("/x")]`,
//! `.route(path, web::post().to(h))`, `web::scope(prefix)`), SQL string literals
//! (plain, in `sqlx::query*!` macros, in `const`s and in `format!`), and
//! transaction boundaries (`.begin()`, `.begin_with(…)`, `.begin_write()`,
//! `.transaction(…)`, `.commit()`).
//!
//! Macro bodies are token trees to tree-sitter; the bodies of macros that wrap
//! ordinary code (`with_pool!(db, |pool| { … })`) are parsed again as code, so
//! what they contain is found like anything else.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use tree_sitter::{Node, Parser};

use super::Frontend;
use crate::facts::{Call, FileFacts, Function, Import, Language, Mount, RouteDef, SqlSite};
use crate::sql::looks_like_sql;

#[derive(Debug)]
pub(crate) struct Rust;

/// HTTP method routers / attributes, lower case.
const METHODS: [&str; 9] = [
    "get", "post", "put", "delete", "patch", "head", "options", "trace", "any",
];

/// Method names that begin a database transaction.
const TX_BEGIN: [&str; 6] = [
    "begin",
    "begin_with",
    "begin_write",
    "begin_transaction",
    "transaction",
    "try_begin",
];

/// Macros whose arguments are formatting or logging, never code worth re-parsing.
const FORMAT_MACROS: [&str; 3] = ["format", "format_args", "concat"];
const OPAQUE_MACROS: [&str; 22] = [
    "println",
    "eprintln",
    "print",
    "eprint",
    "write",
    "writeln",
    "panic",
    "unreachable",
    "todo",
    "unimplemented",
    "assert",
    "assert_eq",
    "assert_ne",
    "debug_assert",
    "debug_assert_eq",
    "matches",
    "include_str",
    "include_bytes",
    "env",
    "trace",
    "debug",
    "info",
];

impl Frontend for Rust {
    fn accepts(&self, path: &Path) -> bool {
        path.extension().is_some_and(|e| e == "rs")
    }

    fn extract(&self, relative: &str, source: &str) -> FileFacts {
        let module = module_of(relative);
        let mut walker = Walker {
            facts: FileFacts {
                path: relative.to_owned(),
                language: Language::Rust,
                module: module.join("::"),
                lines: source.lines().filter(|l| !l.trim().is_empty()).count(),
                ..FileFacts::default()
            },
            root: module[0].clone(),
            sql_consts: HashMap::new(),
            used_consts: HashSet::new(),
            imported: HashMap::new(),
            child_mods: HashSet::new(),
            route_owner: Vec::new(),
            nests: Vec::new(),
            transactional: HashSet::new(),
        };
        let Some(tree) = parse(source) else {
            return walker.facts;
        };
        let root = tree.root_node();
        walker.prepass(root, source, &module);
        let ctx = Ctx {
            module,
            impl_type: None,
            function: None,
            prefix: String::new(),
            line_offset: 0,
        };
        walker.walk(root, source, &ctx);
        walker.finish()
    }
}

fn parse(source: &str) -> Option<tree_sitter::Tree> {
    let mut parser = Parser::new();
    parser
        .set_language(&tree_sitter_rust::LANGUAGE.into())
        .ok()?;
    parser.parse(source, None)
}

/// `legacy-commerce/src/orders.rs` → `legacy_commerce::orders`;
/// `src/kit/db.rs` → `crate::kit::db`; `src/lib.rs`, `main.rs` → `crate`.
/// The first segment is the crate: the folder before `src/`, or `crate`.
fn module_of(relative: &str) -> Vec<String> {
    let parts: Vec<&str> = relative.split('/').collect();
    let (krate, rest): (Vec<&str>, &[&str]) = match parts.iter().rposition(|p| *p == "src") {
        Some(i) => (parts[..i].to_vec(), &parts[i + 1..]),
        None => (Vec::new(), &parts[..]),
    };
    let root = match krate.last() {
        Some(name) => name.replace('-', "_"),
        None => "crate".to_owned(),
    };
    let mut module = vec![root];
    for (i, part) in rest.iter().enumerate() {
        let last = i + 1 == rest.len();
        if last {
            let stem = part.strip_suffix(".rs").unwrap_or(part);
            if !matches!(stem, "mod" | "lib" | "main") {
                module.push(stem.to_owned());
            }
        } else {
            module.push((*part).to_owned());
        }
    }
    module
}

#[derive(Debug, Clone)]
struct Ctx {
    module: Vec<String>,
    impl_type: Option<String>,
    function: Option<String>,
    /// Route prefix from enclosing `.nest(prefix, …)` / `web::scope(prefix)`.
    prefix: String,
    /// Added to tree rows: code re-parsed from a macro body starts at this row.
    line_offset: usize,
}

impl Ctx {
    fn line(&self, node: Node<'_>) -> usize {
        node.start_position().row + self.line_offset + 1
    }
}

/// `.nest(prefix, f())` where `f` is a function, of this file or not.
#[derive(Debug)]
struct Nest {
    /// `f`, qualified.
    target: String,
    /// The full prefix at the call, enclosing in-builder prefixes included.
    prefix: String,
    line: usize,
    /// The function whose body holds the call.
    owner: Option<String>,
}

#[derive(Debug)]
struct Walker {
    facts: FileFacts,
    root: String,
    /// `const NAME: &str = "SELECT …"`: name → (text, line).
    sql_consts: HashMap<String, (String, usize)>,
    used_consts: HashSet<String>,
    /// `use a::b::c;` → `c` → `a::b::c` (absolute when in this crate).
    imported: HashMap<String, String>,
    /// `mod x;` / `mod x { … }` declared in this file.
    child_mods: HashSet<String>,
    /// For each route, the function whose body defines it (for `nest`).
    route_owner: Vec<Option<String>>,
    /// `.nest(prefix, f())` where `f` is a function.
    nests: Vec<Nest>,
    transactional: HashSet<String>,
}

impl Walker {
    /// Collects what later nodes refer to: SQL constants, imports, child modules.
    fn prepass(&mut self, node: Node<'_>, src: &str, module: &[String]) {
        let mut cursor = node.walk();
        for child in node.named_children(&mut cursor) {
            match child.kind() {
                "const_item" | "static_item" => {
                    let name = field_text(child, "name", src);
                    if let Some(value) = child.child_by_field_name("value")
                        && let Some(text) = string_value(value, src)
                        && looks_like_sql(&text)
                    {
                        self.sql_consts
                            .insert(name.to_owned(), (text, child.start_position().row + 1));
                    }
                }
                "use_declaration" => {
                    if let Some(arg) = child.child_by_field_name("argument") {
                        let mut paths = Vec::new();
                        expand_use(arg, src, "", &mut paths);
                        for (alias, path) in paths {
                            let absolute = self.absolute(&path, module, None);
                            self.facts.imports.push(Import {
                                target: absolute.clone(),
                                line: child.start_position().row + 1,
                            });
                            if alias != "*" && alias != "self" {
                                self.imported.insert(alias, absolute);
                            }
                        }
                    }
                }
                "mod_item" => {
                    let name = field_text(child, "name", src).to_owned();
                    if let Some(body) = child.child_by_field_name("body") {
                        let mut inner = module.to_vec();
                        inner.push(name.clone());
                        self.prepass(body, src, &inner);
                    }
                    self.child_mods.insert(name);
                }
                _ => {}
            }
        }
    }

    /// A path as written, made absolute (`crate::…`) when it names this crate.
    fn absolute(&self, path: &str, module: &[String], impl_type: Option<&str>) -> String {
        let segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
        let Some(first) = segs.first() else {
            return path.to_owned();
        };
        let mut base: Vec<String>;
        let rest: &[&str];
        match *first {
            "crate" => {
                base = vec![self.root.clone()];
                rest = &segs[1..];
            }
            "self" => {
                base = module.to_vec();
                rest = &segs[1..];
            }
            "Self" => {
                base = module.to_vec();
                base.extend(impl_type.map(str::to_owned));
                rest = &segs[1..];
            }
            "super" => {
                base = module.to_vec();
                let supers = segs.iter().take_while(|s| **s == "super").count();
                for _ in 0..supers {
                    if base.len() > 1 {
                        base.pop();
                    }
                }
                rest = &segs[supers..];
            }
            name if self.imported.contains_key(name) => {
                let mut out = self.imported[name].clone();
                for seg in &segs[1..] {
                    out.push_str("::");
                    out.push_str(seg);
                }
                return out;
            }
            name if self.child_mods.contains(name) => {
                base = module.to_vec();
                rest = &segs[..];
            }
            _ => return segs.join("::"),
        }
        base.extend(rest.iter().map(|s| (*s).to_owned()));
        base.join("::")
    }

    fn walk(&mut self, node: Node<'_>, src: &str, ctx: &Ctx) {
        match node.kind() {
            "mod_item" => {
                if let Some(body) = node.child_by_field_name("body") {
                    let mut inner = ctx.clone();
                    inner.module.push(field_text(node, "name", src).to_owned());
                    self.walk_children(body, src, &inner);
                }
            }
            "impl_item" | "trait_item" => {
                let ty = node
                    .child_by_field_name("type")
                    .or_else(|| node.child_by_field_name("name"))
                    .map(|t| strip_generics(text(t, src)));
                let mut inner = ctx.clone();
                inner.impl_type = ty;
                if let Some(body) = node.child_by_field_name("body") {
                    self.walk_children(body, src, &inner);
                }
            }
            "function_item" => self.function(node, src, ctx),
            "use_declaration"
            | "attribute_item"
            | "inner_attribute_item"
            | "line_comment"
            | "block_comment" => {}
            "const_item" | "static_item" if ctx.function.is_none() => {}
            "call_expression" => self.call(node, src, ctx),
            "macro_invocation" => self.macro_invocation(node, src, ctx),
            "string_literal" | "raw_string_literal" => {
                if let Some(text) = string_value(node, src)
                    && looks_like_sql(&text)
                {
                    self.facts.sql.push(SqlSite {
                        function: ctx.function.clone(),
                        text,
                        line: ctx.line(node),
                        dynamic: false,
                        dialect: Default::default(),
                    });
                }
            }
            "identifier" => {
                let name = text(node, src);
                if ctx.function.is_some()
                    && let Some((sql, _)) = self.sql_consts.get(name)
                {
                    self.used_consts.insert(name.to_owned());
                    self.facts.sql.push(SqlSite {
                        function: ctx.function.clone(),
                        text: sql.clone(),
                        line: ctx.line(node),
                        dynamic: false,
                        dialect: Default::default(),
                    });
                }
            }
            _ => self.walk_children(node, src, ctx),
        }
    }

    fn walk_children(&mut self, node: Node<'_>, src: &str, ctx: &Ctx) {
        let mut cursor = node.walk();
        for child in node.named_children(&mut cursor) {
            self.walk(child, src, ctx);
        }
    }

    fn function(&mut self, node: Node<'_>, src: &str, ctx: &Ctx) {
        let name = field_text(node, "name", src);
        let mut qualified = ctx.module.join("::");
        if let Some(ty) = &ctx.impl_type {
            qualified.push_str("::");
            qualified.push_str(ty);
        }
        qualified.push_str("::");
        qualified.push_str(name);
        self.facts.functions.push(Function {
            name: qualified.clone(),
            line_start: ctx.line(node),
            line_end: node.end_position().row + ctx.line_offset + 1,
            transactional: false,
        });
        // actix-web: `#[get("/path")]` on the handler.
        let mut sibling = node.prev_named_sibling();
        while let Some(attr) = sibling.filter(|s| s.kind() == "attribute_item") {
            if let Some((method, path)) = route_attribute(text(attr, src)) {
                self.facts.routes.push(RouteDef {
                    method,
                    path: normalise_path(&format!("{}{path}", ctx.prefix)),
                    handler: qualified.clone(),
                    line: ctx.line(attr),
                });
                self.route_owner.push(None);
            }
            sibling = attr.prev_named_sibling();
        }
        if let Some(body) = node.child_by_field_name("body") {
            let mut inner = ctx.clone();
            inner.function = Some(qualified);
            self.walk(body, src, &inner);
        }
    }

    fn call(&mut self, node: Node<'_>, src: &str, ctx: &Ctx) {
        let Some(callee) = node.child_by_field_name("function") else {
            return self.walk_children(node, src, ctx);
        };
        let args = arguments(node);
        let (method, receiver) = match callee.kind() {
            "field_expression" => (
                callee
                    .child_by_field_name("field")
                    .map_or("", |f| text(f, src)),
                callee.child_by_field_name("value"),
            ),
            "generic_function" => (
                callee
                    .child_by_field_name("function")
                    .map_or("", |f| last_segment(text(f, src))),
                None,
            ),
            _ => (last_segment(text(callee, src)), None),
        };

        if let Some(function) = &ctx.function {
            if receiver.is_some() && TX_BEGIN.contains(&method) || method == "commit" {
                self.transactional.insert(function.clone());
            }
            if let Some(to) = self.callee_name(callee, src, ctx) {
                self.facts.calls.push(Call {
                    from: function.clone(),
                    to,
                    line: ctx.line(node),
                });
            }
        }

        match (method, receiver) {
            ("route", Some(receiver)) if args.len() == 2 => {
                if let Some(path) = string_value(args[0], src) {
                    let prefix = format!("{}{}", ctx.prefix, scope_prefix(receiver, src));
                    let mut found = Vec::new();
                    method_routers(args[1], src, &mut found);
                    for (verb, handler) in found {
                        let handler = self.handler_name(handler, src, ctx);
                        self.facts.routes.push(RouteDef {
                            method: verb.to_uppercase(),
                            path: normalise_path(&format!("{prefix}{path}")),
                            handler,
                            line: ctx.line(args[0]),
                        });
                        self.route_owner.push(ctx.function.clone());
                    }
                }
                self.walk(callee, src, ctx);
                self.walk(args[1], src, ctx);
            }
            ("nest" | "nest_service" | "scope", _) if args.len() == 2 => {
                self.walk(callee, src, ctx);
                if let Some(prefix) = string_value(args[0], src) {
                    let mut inner = ctx.clone();
                    inner.prefix = format!("{}{prefix}", ctx.prefix);
                    if args[1].kind() == "call_expression"
                        && let Some(f) = args[1].child_by_field_name("function")
                        && matches!(f.kind(), "identifier" | "scoped_identifier")
                    {
                        let target = self.handler_name(f, src, ctx);
                        self.nests.push(Nest {
                            target,
                            prefix: inner.prefix.clone(),
                            line: ctx.line(args[0]),
                            owner: ctx.function.clone(),
                        });
                    }
                    self.walk(args[1], src, &inner);
                } else {
                    self.walk(args[1], src, ctx);
                }
            }
            _ => self.walk_children(node, src, ctx),
        }
    }

    /// The callee as the builder should look it up: absolute paths for this
    /// crate's items, `recv.method` for a method on a simple receiver, `None`
    /// for a method on a computed value (`query(…).bind(…)`), which no
    /// function of ours can be resolved from.
    fn callee_name(&self, callee: Node<'_>, src: &str, ctx: &Ctx) -> Option<String> {
        match callee.kind() {
            "identifier" => {
                let name = text(callee, src);
                Some(match self.imported.get(name) {
                    Some(path) => path.clone(),
                    None => format!("{}::{name}", ctx.module.join("::")),
                })
            }
            "scoped_identifier" => {
                Some(self.absolute(text(callee, src), &ctx.module, ctx.impl_type.as_deref()))
            }
            "generic_function" => callee
                .child_by_field_name("function")
                .and_then(|f| self.callee_name(f, src, ctx)),
            "field_expression" => {
                let method = text(callee.child_by_field_name("field")?, src);
                let value = callee.child_by_field_name("value")?;
                match value.kind() {
                    "self" => {
                        let mut name = ctx.module.join("::");
                        if let Some(ty) = &ctx.impl_type {
                            name.push_str("::");
                            name.push_str(ty);
                        }
                        Some(format!("{name}::{method}"))
                    }
                    "identifier" => Some(format!("{}.{method}", text(value, src))),
                    "field_expression" => {
                        let field = value.child_by_field_name("field")?;
                        Some(format!("{}.{method}", text(field, src)))
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// The qualified name of a handler expression (`orders::place`, `place`).
    fn handler_name(&self, handler: Node<'_>, src: &str, ctx: &Ctx) -> String {
        match handler.kind() {
            "identifier" | "scoped_identifier" => self
                .callee_name(handler, src, ctx)
                .unwrap_or_else(|| text(handler, src).to_owned()),
            _ => format!("{}::{{closure}}", ctx.module.join("::")),
        }
    }

    fn macro_invocation(&mut self, node: Node<'_>, src: &str, ctx: &Ctx) {
        let name = node
            .child_by_field_name("macro")
            .map_or("", |m| last_segment(text(m, src)));
        let Some(tree) = node
            .named_children(&mut node.walk())
            .find(|c| c.kind() == "token_tree")
        else {
            return;
        };
        if FORMAT_MACROS.contains(&name) {
            self.format_sql(tree, src, ctx);
            return;
        }
        if OPAQUE_MACROS.contains(&name) || matches!(name, "warn" | "error" | "json" | "vec") {
            if name == "vec" || name == "json" {
                self.reparse(tree, src, ctx);
            }
            return;
        }
        self.reparse(tree, src, ctx);
    }

    /// Parses a macro's token tree again as code and walks it.
    fn reparse(&mut self, tree: Node<'_>, src: &str, ctx: &Ctx) {
        let body = text(tree, src);
        let wrapped = if body.starts_with('{') {
            format!("fn __macro() {body}")
        } else {
            format!("fn __macro() {{ __args{body}; }}")
        };
        let Some(parsed) = parse(&wrapped) else {
            return;
        };
        let Some(function) = parsed.root_node().named_child(0) else {
            return;
        };
        let Some(block) = function.child_by_field_name("body") else {
            return;
        };
        let mut inner = ctx.clone();
        inner.line_offset = ctx.line_offset + tree.start_position().row;
        let mut cursor = block.walk();
        for child in block.named_children(&mut cursor) {
            // `__args(…);`: walk the arguments, not the made-up call.
            if child.kind() == "expression_statement"
                && let Some(call) = child.named_child(0)
                && call.kind() == "call_expression"
                && call
                    .child_by_field_name("function")
                    .is_some_and(|f| text(f, &wrapped) == "__args")
            {
                for arg in arguments(call) {
                    self.walk(arg, &wrapped, &inner);
                }
            } else {
                self.walk(child, &wrapped, &inner);
            }
        }
    }

    /// `format!("{USER_COUPON_COLUMNS} WHERE uc.user_id = ?")`: SQL built at
    /// run time from constants and values.
    fn format_sql(&mut self, tree: Node<'_>, src: &str, ctx: &Ctx) {
        let Some(literal) = tree
            .named_children(&mut tree.walk())
            .find(|c| matches!(c.kind(), "string_literal" | "raw_string_literal"))
        else {
            return;
        };
        let Some(template) = string_value(literal, src) else {
            return;
        };
        let mut out = String::new();
        let mut dynamic = false;
        let mut rest = template.as_str();
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            if let Some(stripped) = after.strip_prefix('{') {
                out.push('{');
                rest = stripped;
                continue;
            }
            let Some(close) = after.find('}') else {
                out.push_str(&rest[open..]);
                rest = "";
                break;
            };
            let name = after[..close].split(':').next().unwrap_or("");
            match self.sql_consts.get(name) {
                Some((sql, _)) => {
                    self.used_consts.insert(name.to_owned());
                    out.push_str(sql);
                }
                None => {
                    // An identifier parses where a value, a column, a type
                    // or a table may stand; the SQL reader ignores it.
                    dynamic = true;
                    out.push_str(crate::sql::DYNAMIC);
                }
            }
            rest = &after[close + 1..];
        }
        out.push_str(rest);
        if looks_like_sql(&out) {
            self.facts.sql.push(SqlSite {
                function: ctx.function.clone(),
                text: out,
                line: ctx.line(literal),
                dynamic,
                dialect: Default::default(),
            });
        }
        // The other arguments may hold constants or calls.
        let mut cursor = tree.walk();
        for child in tree.named_children(&mut cursor) {
            if child.kind() == "identifier" {
                self.walk(child, src, ctx);
            }
        }
    }

    fn finish(mut self) -> FileFacts {
        for function in &mut self.facts.functions {
            if self.transactional.contains(&function.name) {
                function.transactional = true;
            }
        }
        // Routes defined in a function that another function nests under a prefix.
        let local = |nest: &&Nest| self.facts.functions.iter().any(|f| f.name == nest.target);
        let prefix_of = |owner: &Option<String>| {
            owner.as_ref().and_then(|owner| {
                self.nests
                    .iter()
                    .filter(local)
                    .find(|n| &n.target == owner)
                    .map(|n| n.prefix.clone())
            })
        };
        let route_prefixes: Vec<Option<String>> = self.route_owner.iter().map(prefix_of).collect();
        for (route, prefix) in self.facts.routes.iter_mut().zip(route_prefixes) {
            if let Some(prefix) = prefix {
                route.path = normalise_path(&format!("{prefix}{}", route.path));
            }
        }
        // A router function of another file: the graph builder joins the prefix.
        let mounts: Vec<Mount> = self
            .nests
            .iter()
            .filter(|n| !local(n) && !associated(&n.target))
            .map(|n| Mount {
                prefix: normalise_path(&format!(
                    "{}{}",
                    prefix_of(&n.owner).unwrap_or_default(),
                    n.prefix
                )),
                target: n.target.clone(),
                line: n.line,
            })
            .collect();
        self.facts.mounts = mounts;
        let mut unused: Vec<_> = self
            .sql_consts
            .iter()
            .filter(|(name, _)| !self.used_consts.contains(*name))
            .map(|(_, (sql, line))| (sql.clone(), *line))
            .collect();
        unused.sort_by_key(|(_, line)| *line);
        for (text, line) in unused {
            self.facts.sql.push(SqlSite {
                function: None,
                text,
                line,
                dynamic: false,
                dialect: Default::default(),
            });
        }
        self.facts.sql.sort_by_key(|s| s.line);
        self.facts
    }
}

fn text<'s>(node: Node<'_>, src: &'s str) -> &'s str {
    node.utf8_text(src.as_bytes()).unwrap_or("")
}

fn field_text<'s>(node: Node<'_>, field: &str, src: &'s str) -> &'s str {
    node.child_by_field_name(field).map_or("", |n| text(n, src))
}

fn last_segment(path: &str) -> &str {
    path.rsplit("::").next().unwrap_or(path)
}

fn strip_generics(ty: &str) -> String {
    let ty = ty.split('<').next().unwrap_or(ty).trim();
    last_segment(ty).to_owned()
}

fn arguments(call: Node<'_>) -> Vec<Node<'_>> {
    call.child_by_field_name("arguments")
        .map(|a| a.named_children(&mut a.walk()).collect())
        .unwrap_or_default()
}

/// The value of a string literal, escapes decoded (`\` + newline joins lines).
fn string_value(node: Node<'_>, src: &str) -> Option<String> {
    let raw = text(node, src);
    match node.kind() {
        "raw_string_literal" => {
            let body = raw.trim_start_matches(['r', 'b']).trim_matches('#');
            Some(body.strip_prefix('"')?.strip_suffix('"')?.to_owned())
        }
        "string_literal" => {
            let body = raw.strip_prefix('"')?.strip_suffix('"')?;
            let mut out = String::with_capacity(body.len());
            let mut chars = body.chars().peekable();
            while let Some(c) = chars.next() {
                if c != '\\' {
                    out.push(c);
                    continue;
                }
                match chars.next() {
                    Some('\n') => {
                        while chars.peek().is_some_and(|c| c.is_whitespace()) {
                            chars.next();
                        }
                    }
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some(other) => out.push(other),
                    None => {}
                }
            }
            Some(out)
        }
        _ => None,
    }
}

/// Expands a `use` tree into (name in scope, path) pairs.
fn expand_use(node: Node<'_>, src: &str, prefix: &str, out: &mut Vec<(String, String)>) {
    let join = |p: &str| {
        if prefix.is_empty() {
            p.to_owned()
        } else {
            format!("{prefix}::{p}")
        }
    };
    match node.kind() {
        "scoped_use_list" => {
            let path = node
                .child_by_field_name("path")
                .map_or(String::new(), |p| join(text(p, src)));
            if let Some(list) = node.child_by_field_name("list") {
                expand_use(list, src, &path, out);
            }
        }
        "use_list" => {
            let mut cursor = node.walk();
            for child in node.named_children(&mut cursor) {
                expand_use(child, src, prefix, out);
            }
        }
        "use_as_clause" => {
            let path = node
                .child_by_field_name("path")
                .map_or(String::new(), |p| join(text(p, src)));
            let alias = field_text(node, "alias", src).to_owned();
            out.push((alias, path));
        }
        "use_wildcard" => {
            let path = text(node, src).trim_end_matches("::*");
            out.push(("*".to_owned(), join(path)));
        }
        "self" => out.push((last_segment(prefix).to_owned(), prefix.to_owned())),
        _ => {
            let path = join(text(node, src));
            out.push((last_segment(&path).to_owned(), path));
        }
    }
}

/// `get(a).post(b)`, `web::post().to(h)`, `routing::get(h)` → (method, handler).
fn method_routers<'t>(node: Node<'t>, src: &str, found: &mut Vec<(String, Node<'t>)>) {
    if node.kind() != "call_expression" {
        return;
    }
    let Some(callee) = node.child_by_field_name("function") else {
        return;
    };
    let args = arguments(node);
    match callee.kind() {
        "identifier" | "scoped_identifier" => {
            let name = last_segment(text(callee, src));
            if METHODS.contains(&name)
                && let Some(handler) = args.first()
            {
                found.push((name.to_owned(), *handler));
            }
        }
        "field_expression" => {
            let name = callee
                .child_by_field_name("field")
                .map_or("", |f| text(f, src));
            let Some(value) = callee.child_by_field_name("value") else {
                return;
            };
            if name == "to" {
                // actix: `web::post().to(handler)`.
                if let Some(verb) = value
                    .child_by_field_name("function")
                    .map(|f| last_segment(text(f, src)))
                    .filter(|v| METHODS.contains(v))
                    && let Some(handler) = args.first()
                {
                    found.push((verb.to_owned(), *handler));
                }
                return;
            }
            if METHODS.contains(&name)
                && let Some(handler) = args.first()
            {
                found.push((name.to_owned(), *handler));
            }
            method_routers(value, src, found);
        }
        _ => {}
    }
}

/// The prefix of an actix `web::scope("/api")` somewhere down a builder chain.
fn scope_prefix(mut node: Node<'_>, src: &str) -> String {
    loop {
        if node.kind() != "call_expression" {
            return String::new();
        }
        let Some(callee) = node.child_by_field_name("function") else {
            return String::new();
        };
        if matches!(callee.kind(), "identifier" | "scoped_identifier")
            && last_segment(text(callee, src)) == "scope"
        {
            return arguments(node)
                .first()
                .and_then(|a| string_value(*a, src))
                .unwrap_or_default();
        }
        match callee.child_by_field_name("value") {
            Some(value) => node = value,
            None => return String::new(),
        }
    }
}

/// `#[get("/x")]`, `#[actix_web::post("/x")]` → (METHOD, path).
fn route_attribute(attr: &str) -> Option<(String, String)> {
    let inner = attr.strip_prefix("#[")?.strip_suffix(']')?;
    let (name, rest) = inner.split_once('(')?;
    let name = last_segment(name.trim());
    if !METHODS.contains(&name) {
        return None;
    }
    let start = rest.find('"')? + 1;
    let end = start + rest[start..].find('"')?;
    Some((name.to_uppercase(), rest[start..end].to_owned()))
}

/// `{id}` parameters: axum 0.7 `:id` and `*rest`, actix `{id:\d+}` are rewritten.
/// `Router::new`, `ServeDir::new`: a type's function builds a service, it
/// does not name a router function of the crate.
fn associated(path: &str) -> bool {
    path.rsplit("::")
        .nth(1)
        .is_some_and(|ty| ty.starts_with(|c: char| c.is_uppercase()))
}

fn normalise_path(path: &str) -> String {
    let mut segments = Vec::new();
    for seg in path.split('/') {
        if let Some(name) = seg.strip_prefix(':') {
            segments.push(format!("{{{name}}}"));
        } else if let Some(name) = seg.strip_prefix('*') {
            segments.push(format!("{{*{name}}}"));
        } else if seg.starts_with('{') && seg.ends_with('}') {
            let name = seg[1..seg.len() - 1].split(':').next().unwrap_or("");
            segments.push(format!("{{{name}}}"));
        } else {
            segments.push(seg.to_owned());
        }
    }
    let joined = segments.join("/").replace("//", "/");
    if joined.len() > 1 {
        joined.trim_end_matches('/').to_owned()
    } else {
        joined
    }
}

#[cfg(test)]
#[path = "rust_tests.rs"]
mod tests;
