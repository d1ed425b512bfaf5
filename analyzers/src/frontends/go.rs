//! Go: net/http (Go 1.22 `METHOD /path/{id}` patterns), gin/echo/chi/fiber routes and
//! groups, database/sql and sqlx SQL, transactions, gorm tables and models.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;

use tree_sitter::{Node, Parser};

use super::java::{Str, unescape};
use super::{
    Frontend, Visitor, directory_of, end_line, extension, join_route, line, looks_like_sql,
    named_children, parse, snake_case, start_facts, text, walk,
};
use crate::facts::{
    Access, Call, Entity, FileFacts, Function, Import, Language, RouteDef, SqlDialect, SqlSite,
    TableUse,
};

thread_local! {
    static PARSER: RefCell<Parser> = super::new_parser(tree_sitter_go::LANGUAGE.into());
}

#[derive(Debug)]
pub(crate) struct Go;

impl Frontend for Go {
    fn accepts(&self, path: &Path) -> bool {
        extension(path) == "go"
    }

    fn extract(&self, relative: &str, source: &str) -> FileFacts {
        let mut facts = start_facts(relative, source, Language::Go, directory_of(relative));
        let Some(tree) = parse(&PARSER, source) else {
            return facts;
        };
        let mut extractor = Extractor {
            src: source,
            facts: &mut facts,
            imports: HashMap::new(),
            groups: HashMap::new(),
            scoped: Vec::new(),
            models: Vec::new(),
            table_names: HashMap::new(),
            funcs: Vec::new(),
        };
        walk(&mut tree.walk(), &mut extractor);
        extractor.finish_models();
        facts
    }
}

struct Func {
    id: usize,
    name: String,
    index: usize,
    /// Variable → declared or constructed type (`var o Order`, `o := Order{…}`).
    types: HashMap<String, String>,
}

struct Extractor<'s, 'f> {
    src: &'s str,
    facts: &'f mut FileFacts,
    /// Package name (alias or last path segment) → import path.
    imports: HashMap<String, String>,
    /// Router group variable → its path prefix (`v1 := r.Group("/api/v1")`).
    groups: HashMap<String, String>,
    /// chi `r.Route("/x", func(r chi.Router) {…})`: the group bound to the literal's
    /// parameter while it is walked, and what that name meant before.
    scoped: Vec<(usize, String, Option<String>)>,
    /// Structs embedding `gorm.Model` (or with `gorm:` tags): name and line.
    models: Vec<(String, usize)>,
    /// `func (Order) TableName() string { return "orders" }`.
    table_names: HashMap<String, String>,
    /// Functions being walked: a handler literal given to a router is a function of its own.
    funcs: Vec<Func>,
}

impl<'t> Visitor<'t> for Extractor<'_, '_> {
    fn enter(&mut self, node: Node<'t>) -> bool {
        match node.kind() {
            "package_clause" => {
                if self.facts.module.is_empty() {
                    self.facts.module = named_children(node)
                        .first()
                        .map(|n| text(*n, self.src).to_owned())
                        .unwrap_or_default();
                }
                false
            }
            "import_spec" => {
                self.import(node);
                false
            }
            "type_spec" => {
                self.type_spec(node);
                true
            }
            "function_declaration" | "method_declaration" => {
                self.enter_function(node);
                true
            }
            "var_spec" | "short_var_declaration" => {
                self.variable(node);
                true
            }
            "call_expression" => {
                self.call(node);
                true
            }
            _ => true,
        }
    }

    fn leave(&mut self, node: Node<'t>) {
        if self.funcs.last().is_some_and(|f| f.id == node.id()) {
            self.funcs.pop();
        }
        while let Some((id, name, previous)) = self.scoped.pop() {
            if id != node.id() {
                self.scoped.push((id, name, previous));
                break;
            }
            match previous {
                Some(p) => self.groups.insert(name, p),
                None => self.groups.remove(&name),
            };
        }
    }
}

impl Extractor<'_, '_> {
    fn import(&mut self, node: Node<'_>) {
        let Some(path) = node.child_by_field_name("path") else {
            return;
        };
        let path = go_string(path, self.src).text;
        let name = node
            .child_by_field_name("name")
            .map(|n| text(n, self.src).to_owned());
        let bound = name.unwrap_or_else(|| path.rsplit('/').next().unwrap_or(&path).to_owned());
        self.imports.insert(bound, path.clone());
        self.facts.imports.push(Import {
            target: path,
            line: line(node),
        });
    }

    fn type_spec(&mut self, node: Node<'_>) {
        let (Some(name), Some(ty)) = (
            node.child_by_field_name("name"),
            node.child_by_field_name("type"),
        ) else {
            return;
        };
        if ty.kind() != "struct_type" {
            return;
        }
        let body = text(ty, self.src);
        if body.contains("gorm.Model") || body.contains("gorm:\"") {
            self.models
                .push((text(name, self.src).to_owned(), line(node)));
        }
    }

    fn enter_function(&mut self, node: Node<'_>) {
        let simple = node
            .child_by_field_name("name")
            .map(|n| text(n, self.src))
            .unwrap_or_default();
        let receiver = node.child_by_field_name("receiver").and_then(|r| {
            let param = named_children(r).into_iter().next()?;
            let ty = param.child_by_field_name("type")?;
            let ty = text(ty, self.src).trim_start_matches('*');
            Some(ty.split('[').next().unwrap_or(ty).to_owned())
        });
        if simple == "TableName"
            && let Some(ty) = &receiver
            && let Some(table) = node
                .child_by_field_name("body")
                .and_then(|b| self.returned_string(b))
        {
            self.table_names.insert(ty.clone(), table);
        }
        let name = match &receiver {
            Some(ty) => format!("{}.{ty}.{simple}", self.facts.module),
            None => format!("{}.{simple}", self.facts.module),
        };
        self.start(node, name);
    }

    fn start(&mut self, node: Node<'_>, name: String) {
        let index = self.facts.functions.len();
        self.facts.functions.push(Function {
            name: name.clone(),
            line_start: line(node),
            line_end: end_line(node),
            transactional: false,
        });
        self.funcs.push(Func {
            id: node.id(),
            name,
            index,
            types: HashMap::new(),
        });
    }

    /// The string a `TableName` body returns.
    fn returned_string(&self, body: Node<'_>) -> Option<String> {
        let mut cursor = body.walk();
        let mut stack = vec![body];
        while let Some(n) = stack.pop() {
            if n.kind() == "return_statement" {
                let value = named_children(n).into_iter().next()?;
                let value = named_children(value).into_iter().next().unwrap_or(value);
                return matches!(
                    value.kind(),
                    "interpreted_string_literal" | "raw_string_literal"
                )
                .then(|| go_string(value, self.src).text);
            }
            stack.extend(n.named_children(&mut cursor));
        }
        None
    }

    fn variable(&mut self, node: Node<'_>) {
        // `v1 := r.Group("/api/v1")`: a route group with its prefix.
        if node.kind() == "short_var_declaration"
            && let (Some(left), Some(right)) = (
                node.child_by_field_name("left"),
                node.child_by_field_name("right"),
            )
        {
            let names = named_children(left);
            let values = named_children(right);
            for (name, value) in names.iter().zip(values.iter()) {
                let name = text(*name, self.src).to_owned();
                if value.kind() == "call_expression"
                    && let Some(f) = value
                        .child_by_field_name("function")
                        .filter(|f| f.kind() == "selector_expression")
                    && f.child_by_field_name("field").is_some_and(|m| {
                        matches!(text(m, self.src), "Group" | "Route" | "PathPrefix")
                    })
                    && let Some(operand) = f.child_by_field_name("operand")
                    && let Some(prefix) = first_string(*value, self.src)
                {
                    let parent = self
                        .groups
                        .get(text(operand, self.src))
                        .cloned()
                        .unwrap_or_default();
                    self.groups
                        .insert(name.clone(), join_route(&parent, &prefix.text));
                }
                if let Some(ty) =
                    composite_type(*value, self.src).or_else(|| constructed_type(*value, self.src))
                    && let Some(f) = self.funcs.last_mut()
                {
                    f.types.insert(name, ty);
                }
            }
            return;
        }
        if let (Some(name), Some(ty)) = (
            node.child_by_field_name("name"),
            node.child_by_field_name("type"),
        ) && let Some(f) = self.funcs.last_mut()
        {
            let ty = text(ty, self.src)
                .trim_start_matches("[]")
                .trim_start_matches('*')
                .to_owned();
            f.types.insert(text(name, self.src).to_owned(), ty);
        }
    }

    fn qualify(&self, written: &str) -> String {
        match written.split_once('.') {
            Some((pkg, rest)) => match self.imports.get(pkg) {
                Some(path) => format!("{path}.{rest}"),
                None => written.to_owned(),
            },
            None => format!("{}.{written}", self.facts.module),
        }
    }

    fn call(&mut self, node: Node<'_>) {
        let Some(function) = node.child_by_field_name("function") else {
            return;
        };
        let at = line(node);
        let (operand, method) = match function.kind() {
            "selector_expression" => (
                function.child_by_field_name("operand"),
                function
                    .child_by_field_name("field")
                    .map(|f| text(f, self.src))
                    .unwrap_or_default(),
            ),
            "identifier" => (None, text(function, self.src)),
            _ => return,
        };
        let operand_text = operand.map(|o| text(o, self.src)).unwrap_or_default();
        if operand.is_some() && self.route(node, operand_text, method, at) {
            return;
        }
        let Some(func) = self.funcs.last() else {
            return;
        };
        let from = func.name.clone();
        let index = func.index;
        let written = text(function, self.src);
        if written
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
            && !GO_BUILTINS.contains(&written)
        {
            let to = if function.kind() == "identifier" || self.imports.contains_key(operand_text) {
                self.qualify(written)
            } else {
                written.to_owned()
            };
            self.facts.calls.push(Call {
                from: from.clone(),
                to,
                line: at,
            });
        }
        if function.kind() != "selector_expression" {
            return;
        }
        match method {
            "Begin" | "BeginTx" | "Beginx" | "BeginTxx" | "MustBegin" | "Transaction" => {
                self.facts.functions[index].transactional = true
            }
            "Query" | "QueryRow" | "QueryContext" | "QueryRowContext" | "Exec" | "ExecContext"
            | "Prepare" | "PrepareContext" | "Select" | "Get" | "SelectContext" | "GetContext"
            | "Queryx" | "QueryRowx" | "NamedExec" | "MustExec" | "Raw" => {
                let args = node
                    .child_by_field_name("arguments")
                    .map(named_children)
                    .unwrap_or_default();
                let sql = args
                    .iter()
                    .filter_map(|a| string_expr(*a, self.src))
                    .find(|s| s.literal && looks_like_sql(&s.text));
                if let Some(s) = sql {
                    self.facts.sql.push(SqlSite {
                        function: Some(from),
                        text: s.text.trim().to_owned(),
                        line: at,
                        dynamic: s.dynamic,
                        dialect: SqlDialect::Sql,
                    });
                }
            }
            // gorm: `db.Table("orders")…`, `db.Model(&Order{})…`, `db.Create(&order)`.
            "Table" => {
                if let Some(table) = first_string(node, self.src) {
                    let access = self.chain_access(node);
                    self.facts.table_uses.push(TableUse {
                        function: from,
                        target: table.text,
                        via_entity: false,
                        access,
                        line: at,
                    });
                }
            }
            "Model" | "Create" | "Save" | "Delete" | "Find" | "First" | "Take" | "Last"
            | "Updates" | "Update" => {
                let arg = node
                    .child_by_field_name("arguments")
                    .and_then(|a| named_children(a).into_iter().next());
                // `Model` starts a chain whose later calls decide the access; the others are the access.
                let is_chain_start =
                    method != "Model" || operand.is_some_and(|o| o.kind() != "call_expression");
                let ty = arg.and_then(|a| {
                    composite_type(a, self.src).or_else(|| {
                        let var = text(a, self.src).trim_start_matches('&');
                        self.funcs.last().and_then(|f| f.types.get(var)).cloned()
                    })
                });
                if let Some(ty) = ty.filter(|_| is_chain_start) {
                    let access = if method == "Model" {
                        self.chain_access(node)
                    } else {
                        gorm_access(method)
                    };
                    let target = if ty.contains('.') {
                        self.qualify(&ty)
                    } else {
                        format!("{}.{ty}", self.facts.module)
                    };
                    self.facts.table_uses.push(TableUse {
                        function: from,
                        target,
                        via_entity: true,
                        access,
                        line: at,
                    });
                }
            }
            _ => {}
        }
    }

    /// The access of a gorm chain: a write if any later call in it writes.
    fn chain_access(&self, call: Node<'_>) -> Access {
        let mut node = call;
        while let Some(selector) = node.parent().filter(|p| p.kind() == "selector_expression") {
            let Some(next) = selector.parent().filter(|p| p.kind() == "call_expression") else {
                break;
            };
            let method = selector
                .child_by_field_name("field")
                .map(|f| text(f, self.src))
                .unwrap_or_default();
            if gorm_access(method) == Access::Write {
                return Access::Write;
            }
            node = next;
        }
        Access::Read
    }

    /// net/http `HandleFunc`/`Handle`, gin/echo/chi/fiber verbs. Returns whether the call was one.
    fn route(&mut self, call: Node<'_>, operand_text: &str, method: &str, at: usize) -> bool {
        let verb = match method {
            "HandleFunc" | "Handle" => None,
            "GET" | "POST" | "PUT" | "DELETE" | "PATCH" | "HEAD" | "OPTIONS" => {
                Some(method.to_owned())
            }
            "Get" | "Post" | "Put" | "Delete" | "Patch" | "Head" | "Options" => {
                Some(method.to_ascii_uppercase())
            }
            "Any" | "All" => Some("ANY".to_owned()),
            "Route" => {
                self.chi_route(call, operand_text);
                return false;
            }
            _ => return false,
        };
        let args = call
            .child_by_field_name("arguments")
            .map(named_children)
            .unwrap_or_default();
        let Some(pattern) = args
            .first()
            .and_then(|a| string_expr(*a, self.src))
            .filter(|s| !s.dynamic)
        else {
            return false;
        };
        let (method, path) = match verb {
            Some(v) => (v, pattern.text),
            // Go 1.22 patterns: `"POST /api/orders/{id}"`, optionally with a host.
            None => match pattern.text.split_once(' ') {
                Some((m, p)) if m.chars().all(|c| c.is_ascii_uppercase()) => {
                    (m.to_owned(), p.trim().to_owned())
                }
                _ => (
                    self.gorilla_methods(call)
                        .unwrap_or_else(|| "ANY".to_owned()),
                    pattern.text.clone(),
                ),
            },
        };
        let path = match path.find('/') {
            Some(slash) => path[slash..].replace("{$}", ""),
            None => return false,
        };
        let prefix = self.groups.get(operand_text).cloned().unwrap_or_default();
        // Under a group, `/` is the group itself (chi, echo, fiber).
        let own = if path == "/" && !prefix.is_empty() {
            ""
        } else {
            path.as_str()
        };
        let full = join_route(&prefix, own);
        let Some(handler) = args.last().copied().filter(|_| args.len() >= 2) else {
            return false;
        };
        let handler_name = if handler.kind() == "func_literal" {
            let name = format!("{}.{method} {full}", self.facts.module);
            self.start(handler, name.clone());
            name
        } else {
            let written = text(handler, self.src);
            let written = written
                .strip_prefix("http.HandlerFunc(")
                .and_then(|w| w.strip_suffix(')'))
                .unwrap_or(written);
            let (var, rest) = written.split_once('.').unwrap_or((written, ""));
            let var_type = self.funcs.last().and_then(|f| f.types.get(var));
            match var_type {
                // `h.PlaceOrder` with `h := orders.NewHandler(…)`: a method of `orders.Handler`.
                Some(ty) if !rest.is_empty() => {
                    let ty = if ty.contains('.') {
                        self.qualify(ty)
                    } else {
                        format!("{}.{ty}", self.facts.module)
                    };
                    format!("{ty}.{rest}")
                }
                _ if !rest.is_empty() && !self.imports.contains_key(var) => written.to_owned(),
                _ => self.qualify(written),
            }
        };
        for method in method.split(',') {
            self.facts.routes.push(RouteDef {
                method: method.to_owned(),
                path: full.clone(),
                handler: handler_name.clone(),
                line: at,
            });
        }
        true
    }

    /// chi: `r.Route("/orders", func(r chi.Router) { r.Get("/{id}", h) })`.
    fn chi_route(&mut self, call: Node<'_>, operand_text: &str) {
        let args = call
            .child_by_field_name("arguments")
            .map(named_children)
            .unwrap_or_default();
        let (Some(prefix), Some(literal)) = (
            args.first().and_then(|a| string_expr(*a, self.src)),
            args.get(1),
        ) else {
            return;
        };
        if literal.kind() != "func_literal" {
            return;
        }
        let param = literal
            .child_by_field_name("parameters")
            .and_then(|p| named_children(p).into_iter().next())
            .and_then(|p| p.child_by_field_name("name"))
            .map(|n| text(n, self.src).to_owned());
        let Some(param) = param else { return };
        let outer = self.groups.get(operand_text).cloned().unwrap_or_default();
        let previous = self
            .groups
            .insert(param.clone(), join_route(&outer, &prefix.text));
        self.scoped.push((literal.id(), param, previous));
    }

    /// gorilla/mux: `r.HandleFunc("/x", h).Methods("GET", "POST")` → `GET,POST`.
    fn gorilla_methods(&self, call: Node<'_>) -> Option<String> {
        let selector = call
            .parent()
            .filter(|p| p.kind() == "selector_expression")?;
        if selector
            .child_by_field_name("field")
            .map(|f| text(f, self.src))
            != Some("Methods")
        {
            return None;
        }
        let outer = selector
            .parent()
            .filter(|p| p.kind() == "call_expression")?;
        let args = outer
            .child_by_field_name("arguments")
            .map(named_children)
            .unwrap_or_default();
        let methods: Vec<String> = args
            .iter()
            .filter_map(|a| string_expr(*a, self.src))
            .map(|s| s.text.to_ascii_uppercase())
            .collect();
        (!methods.is_empty()).then(|| methods.join(","))
    }

    /// gorm models: `TableName()` is explicit; otherwise gorm's rule, the snake-case plural.
    fn finish_models(&mut self) {
        let mut seen: Vec<String> = Vec::new();
        for (name, at) in std::mem::take(&mut self.models) {
            let (table, explicit) = match self.table_names.get(&name) {
                Some(t) => (t.clone(), true),
                None => (plural(&snake_case(&name)), false),
            };
            self.facts.entities.push(Entity {
                name: format!("{}.{name}", self.facts.module),
                table,
                table_explicit: explicit,
                relations: Vec::new(),
                line: at,
            });
            seen.push(name);
        }
        let mut rest: Vec<(&String, &String)> = self
            .table_names
            .iter()
            .filter(|(n, _)| !seen.contains(n))
            .collect();
        rest.sort();
        for (name, table) in rest {
            let at = self
                .facts
                .functions
                .iter()
                .find(|f| f.name.ends_with(&format!(".{name}.TableName")))
                .map_or(0, |f| f.line_start);
            self.facts.entities.push(Entity {
                name: format!("{}.{name}", self.facts.module),
                table: table.clone(),
                table_explicit: true,
                relations: Vec::new(),
                line: at,
            });
        }
    }
}

fn gorm_access(method: &str) -> Access {
    match method {
        "Create" | "Save" | "Update" | "Updates" | "UpdateColumn" | "UpdateColumns" | "Delete"
        | "CreateInBatches" => Access::Write,
        _ => Access::Read,
    }
}

/// gorm's pluralisation for the common cases.
fn plural(word: &str) -> String {
    if let Some(stem) = word
        .strip_suffix('y')
        .filter(|s| !s.ends_with(['a', 'e', 'i', 'o', 'u']))
    {
        format!("{stem}ies")
    } else if word.ends_with('s')
        || word.ends_with('x')
        || word.ends_with("ch")
        || word.ends_with("sh")
    {
        format!("{word}es")
    } else {
        format!("{word}s")
    }
}

/// `&Order{}` or `Order{…}` → `Order`.
fn composite_type(node: Node<'_>, src: &str) -> Option<String> {
    let node = if node.kind() == "unary_expression" {
        node.child_by_field_name("operand")?
    } else {
        node
    };
    if node.kind() != "composite_literal" {
        return None;
    }
    let ty = node.child_by_field_name("type")?;
    matches!(ty.kind(), "type_identifier" | "qualified_type").then(|| text(ty, src).to_owned())
}

/// `orders.NewHandler(db)` → `orders.Handler`: Go's constructor naming convention.
fn constructed_type(node: Node<'_>, src: &str) -> Option<String> {
    if node.kind() != "call_expression" {
        return None;
    }
    let function = text(node.child_by_field_name("function")?, src);
    let (pkg, name) = match function.rsplit_once('.') {
        Some((p, n)) => (Some(p), n),
        None => (None, function),
    };
    let ty = name
        .strip_prefix("New")
        .filter(|t| t.starts_with(|c: char| c.is_ascii_uppercase()))?;
    Some(match pkg {
        Some(p) => format!("{p}.{ty}"),
        None => ty.to_owned(),
    })
}

fn first_string(call: Node<'_>, src: &str) -> Option<Str> {
    let args = call.child_by_field_name("arguments")?;
    named_children(args)
        .into_iter()
        .next()
        .and_then(|a| string_expr(a, src))
}

fn go_string(node: Node<'_>, src: &str) -> Str {
    let raw = text(node, src);
    let inner = if node.kind() == "raw_string_literal" {
        raw.trim_matches('`').to_owned()
    } else {
        unescape(
            raw.strip_prefix('"')
                .and_then(|r| r.strip_suffix('"'))
                .unwrap_or(raw),
        )
    };
    Str {
        text: inner,
        dynamic: false,
        literal: true,
    }
}

/// String literals and `+` concatenations; `fmt.Sprintf` formats are dynamic.
fn string_expr(node: Node<'_>, src: &str) -> Option<Str> {
    match node.kind() {
        "interpreted_string_literal" | "raw_string_literal" => Some(go_string(node, src)),
        "binary_expression" => {
            let (l, r) = (
                node.child_by_field_name("left")?,
                node.child_by_field_name("right")?,
            );
            let l = string_expr(l, src).unwrap_or_else(Str::unknown);
            let r = string_expr(r, src).unwrap_or_else(Str::unknown);
            (l.literal || r.literal).then(|| Str {
                text: l.text + &r.text,
                dynamic: l.dynamic || r.dynamic,
                literal: true,
            })
        }
        "call_expression"
            if node
                .child_by_field_name("function")
                .is_some_and(|f| text(f, src) == "fmt.Sprintf") =>
        {
            first_string(node, src).map(|s| Str { dynamic: true, ..s })
        }
        _ => None,
    }
}

const GO_BUILTINS: [&str; 10] = [
    "len", "cap", "append", "make", "new", "panic", "delete", "copy", "close", "recover",
];
