//! TypeScript and JavaScript: Express routers (prefixes from `app.use` joined within a
//! file), NestJS controllers, TypeORM entities/repositories/transactions, Prisma
//! client calls, raw SQL through `query`. Prisma schema files are read by [`prisma`].

pub(super) mod prisma;

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;

use tree_sitter::{Node, Parser};

use super::java::{Str, unescape};
use super::{
    Frontend, Visitor, access_of_method, end_line, extension, join_route, leave_scope, line,
    looks_like_sql, named_children, parse, snake_case, start_facts, text, walk,
};
use crate::facts::{
    Access, Call, Entity, FileFacts, Function, Import, Language, Mount, RouteDef, SqlDialect,
    SqlSite, TableUse,
};

thread_local! {
    static TYPESCRIPT: RefCell<Parser> = super::new_parser(tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into());
    static TSX: RefCell<Parser> = super::new_parser(tree_sitter_typescript::LANGUAGE_TSX.into());
    static JAVASCRIPT: RefCell<Parser> = super::new_parser(tree_sitter_javascript::LANGUAGE.into());
}

#[derive(Debug)]
pub(crate) struct TypeScript;

impl Frontend for TypeScript {
    fn accepts(&self, path: &Path) -> bool {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        matches!(
            extension(path).as_str(),
            "ts" | "tsx" | "mts" | "cts" | "js" | "jsx" | "mjs" | "cjs"
        ) && !name.ends_with(".d.ts")
    }

    fn extract(&self, relative: &str, source: &str) -> FileFacts {
        let ext = extension(Path::new(relative));
        let (language, parser) = match ext.as_str() {
            "ts" | "mts" | "cts" => (Language::TypeScript, &TYPESCRIPT),
            "tsx" => (Language::TypeScript, &TSX),
            _ => (Language::JavaScript, &JAVASCRIPT),
        };
        let mut facts = start_facts(relative, source, language, module_of(relative));
        let Some(tree) = parse(parser, source) else {
            return facts;
        };
        let mut extractor = Extractor {
            src: source,
            facts: &mut facts,
            aliases: HashMap::new(),
            import_modules: HashMap::new(),
            routers: HashMap::new(),
            mounts: Vec::new(),
            pending: Vec::new(),
            repositories: HashMap::new(),
            classes: Vec::new(),
            func: None,
        };
        extractor.prescan(tree.root_node());
        walk(&mut tree.walk(), &mut extractor);
        extractor.finish_routes();
        facts
    }
}

/// `src/routes/orders.ts` → `src/routes/orders`; `src/orders/index.ts` → `src/orders`.
fn module_of(relative: &str) -> String {
    let stem = match relative.rfind('.') {
        Some(dot) if dot > relative.rfind('/').map_or(0, |s| s + 1) => &relative[..dot],
        _ => relative,
    };
    stem.strip_suffix("/index").unwrap_or(stem).to_owned()
}

/// `./routes/orders` imported from module `src/app` → `src/routes/orders`; packages stay as written.
fn resolve_import(module: &str, spec: &str) -> String {
    if !spec.starts_with('.') {
        return spec.to_owned();
    }
    let mut parts: Vec<&str> = module.split('/').collect();
    parts.pop();
    for segment in spec.split('/') {
        match segment {
            "." | "" => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    let joined = match joined.rfind('.') {
        Some(dot) if matches!(&joined[dot + 1..], "js" | "ts" | "mjs" | "cjs") => {
            joined[..dot].to_owned()
        }
        _ => joined,
    };
    joined
        .strip_suffix("/index")
        .map(str::to_owned)
        .unwrap_or(joined)
}

impl_scope!(Class, Func);

struct Class {
    id: usize,
    name: String,
    /// NestJS `@Controller('orders')` prefix.
    prefix: Option<String>,
    /// Field → declared type (generics stripped).
    fields: HashMap<String, String>,
}

struct Func {
    id: usize,
    name: String,
    index: usize,
}

/// A route registered on an Express app or router variable, before prefixes are known.
struct PendingRoute {
    router: String,
    /// Empty for another module's router mounted at `path` (`handler` names the module).
    method: String,
    path: String,
    handler: String,
    line: usize,
}

struct Extractor<'s, 'f> {
    src: &'s str,
    facts: &'f mut FileFacts,
    /// Name bound by an import or a top-level declaration → qualified name.
    aliases: HashMap<String, String>,
    /// Name bound by an import → the module it comes from.
    import_modules: HashMap<String, String>,
    /// Express app/router variables of this file → whether it is an app.
    routers: HashMap<String, bool>,
    /// `parent.use('/prefix', child)` between routers of this file.
    mounts: Vec<(String, String, String)>,
    pending: Vec<PendingRoute>,
    /// Variable or field → entity of the TypeORM repository it holds.
    repositories: HashMap<String, String>,
    classes: Vec<Class>,
    func: Option<Func>,
}

impl<'t> Visitor<'t> for Extractor<'t, '_> {
    fn enter(&mut self, node: Node<'t>) -> bool {
        match node.kind() {
            "import_statement" => false,
            "class_declaration" | "abstract_class_declaration" | "class" if self.func.is_none() => {
                self.enter_class(node);
                true
            }
            "method_definition" if self.func.is_none() => {
                self.enter_method(node);
                true
            }
            "function_declaration" | "generator_function_declaration" if self.func.is_none() => {
                let name = node
                    .child_by_field_name("name")
                    .map(|n| text(n, self.src))
                    .unwrap_or_default();
                let name = format!("{}.{name}", self.facts.module);
                self.start_function(node, name, false);
                true
            }
            "variable_declarator" => {
                self.declarator(node);
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
        leave_scope(node, &mut self.func, &mut self.classes);
    }
}

impl<'s> Extractor<'s, '_> {
    /// Imports, `require`s and top-level names, before the walk.
    fn prescan(&mut self, root: Node<'s>) {
        for stmt in named_children(root) {
            let stmt = if stmt.kind() == "export_statement" {
                stmt.child_by_field_name("declaration").unwrap_or(stmt)
            } else {
                stmt
            };
            match stmt.kind() {
                "import_statement" => self.import(stmt),
                "function_declaration" | "class_declaration" | "abstract_class_declaration" => {
                    if let Some(n) = stmt.child_by_field_name("name") {
                        let name = text(n, self.src);
                        self.aliases
                            .insert(name.to_owned(), format!("{}.{name}", self.facts.module));
                    }
                }
                "lexical_declaration" | "variable_declaration" => {
                    for declarator in named_children(stmt)
                        .into_iter()
                        .filter(|d| d.kind() == "variable_declarator")
                    {
                        let (Some(name), Some(value)) = (
                            declarator.child_by_field_name("name"),
                            declarator.child_by_field_name("value"),
                        ) else {
                            continue;
                        };
                        let name = text(name, self.src);
                        let value_text = text(value, self.src);
                        match value.kind() {
                            "call_expression" if value_text.starts_with("require(") => {
                                if let Some(spec) = value
                                    .child_by_field_name("arguments")
                                    .and_then(|a| named_children(a).into_iter().next())
                                {
                                    let target = resolve_import(
                                        &self.facts.module,
                                        &string_value(spec, self.src).text,
                                    );
                                    self.facts.imports.push(Import {
                                        target: target.clone(),
                                        line: line(stmt),
                                    });
                                    self.aliases.insert(name.to_owned(), target.clone());
                                    self.import_modules.insert(name.to_owned(), target);
                                }
                            }
                            "call_expression" => {
                                let callee = value
                                    .child_by_field_name("function")
                                    .map(|f| text(f, self.src))
                                    .unwrap_or_default();
                                if matches!(
                                    callee,
                                    "express"
                                        | "Router"
                                        | "express.Router"
                                        | "fastify"
                                        | "new Hono"
                                ) {
                                    self.routers.insert(name.to_owned(), callee == "express");
                                }
                            }
                            "arrow_function" | "function_expression" | "function" => {
                                self.aliases.insert(
                                    name.to_owned(),
                                    format!("{}.{name}", self.facts.module),
                                );
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn import(&mut self, node: Node<'_>) {
        let Some(source) = node.child_by_field_name("source") else {
            return;
        };
        let target = resolve_import(&self.facts.module, &string_value(source, self.src).text);
        self.facts.imports.push(Import {
            target: target.clone(),
            line: line(node),
        });
        let Some(clause) = named_children(node)
            .into_iter()
            .find(|c| c.kind() == "import_clause")
        else {
            return;
        };
        for part in named_children(clause) {
            match part.kind() {
                "identifier" => {
                    self.aliases
                        .insert(text(part, self.src).to_owned(), target.clone());
                    self.import_modules
                        .insert(text(part, self.src).to_owned(), target.clone());
                }
                "namespace_import" => {
                    if let Some(id) = named_children(part)
                        .into_iter()
                        .find(|c| c.kind() == "identifier")
                    {
                        self.aliases
                            .insert(text(id, self.src).to_owned(), target.clone());
                        self.import_modules
                            .insert(text(id, self.src).to_owned(), target.clone());
                    }
                }
                "named_imports" => {
                    for spec in named_children(part)
                        .into_iter()
                        .filter(|s| s.kind() == "import_specifier")
                    {
                        let name = spec
                            .child_by_field_name("name")
                            .map(|n| text(n, self.src))
                            .unwrap_or_default();
                        let bound = spec
                            .child_by_field_name("alias")
                            .map(|n| text(n, self.src))
                            .unwrap_or(name);
                        self.aliases
                            .insert(bound.to_owned(), format!("{target}.{name}"));
                        self.import_modules.insert(bound.to_owned(), target.clone());
                    }
                }
                _ => {}
            }
        }
    }

    fn qualify(&self, written: &str) -> String {
        let (first, rest) = match written.split_once('.') {
            Some((f, r)) => (f, Some(r)),
            None => (written, None),
        };
        match (self.aliases.get(first), rest) {
            (Some(b), Some(r)) => format!("{b}.{r}"),
            (Some(b), None) => b.clone(),
            (None, _) => written.to_owned(),
        }
    }

    /// Decorators written before a class (on the `export` statement too) or a member.
    fn decorators(&self, node: Node<'s>) -> Vec<(String, Vec<Node<'s>>, usize)> {
        let mut found = Vec::new();
        let mut push = |d: Node<'s>| {
            let Some(expr) = named_children(d).into_iter().next() else {
                return;
            };
            let (name, args) = match expr.kind() {
                "call_expression" => (
                    expr.child_by_field_name("function")
                        .map(|f| text(f, self.src))
                        .unwrap_or_default(),
                    expr.child_by_field_name("arguments")
                        .map(named_children)
                        .unwrap_or_default(),
                ),
                _ => (text(expr, self.src), Vec::new()),
            };
            found.push((
                name.rsplit('.').next().unwrap_or(name).to_owned(),
                args,
                line(d),
            ));
        };
        for child in named_children(node)
            .into_iter()
            .filter(|c| c.kind() == "decorator")
        {
            push(child);
        }
        if let Some(parent) = node.parent().filter(|p| p.kind() == "export_statement") {
            for child in named_children(parent)
                .into_iter()
                .filter(|c| c.kind() == "decorator")
            {
                push(child);
            }
        }
        // Members: decorators are the preceding siblings in the class body.
        let mut prev = node.prev_named_sibling();
        while let Some(p) = prev.filter(|p| p.kind() == "decorator") {
            push(p);
            prev = p.prev_named_sibling();
        }
        found
    }

    fn enter_class(&mut self, node: Node<'s>) {
        let simple = node
            .child_by_field_name("name")
            .map(|n| text(n, self.src))
            .unwrap_or("default");
        let name = format!("{}.{simple}", self.facts.module);
        let decorators = self.decorators(node);
        let mut class = Class {
            id: node.id(),
            name: name.clone(),
            prefix: None,
            fields: HashMap::new(),
        };
        let mut entity_table: Option<(String, bool)> = None;
        for (decorator, args, _) in &decorators {
            match decorator.as_str() {
                "Controller" => {
                    let prefix = args.first().map(|a| match a.kind() {
                        "object" => object_string(*a, self.src, "path").unwrap_or_default(),
                        _ => string_value(*a, self.src).text,
                    });
                    class.prefix = Some(prefix.unwrap_or_default());
                }
                "Entity" => {
                    let explicit = args.first().and_then(|a| match a.kind() {
                        "object" => object_string(*a, self.src, "name"),
                        "string" => Some(string_value(*a, self.src).text),
                        _ => None,
                    });
                    entity_table = Some(match explicit {
                        Some(t) => (t, true),
                        None => (snake_case(simple), false),
                    });
                }
                _ => {}
            }
        }
        let mut relations = Vec::new();
        if let Some(body) = node.child_by_field_name("body") {
            for member in named_children(body) {
                match member.kind() {
                    "public_field_definition" | "field_definition" => {
                        let field = member
                            .child_by_field_name("name")
                            .map(|n| text(n, self.src))
                            .unwrap_or_default();
                        if let Some(ty) = member.child_by_field_name("type") {
                            self.field_type(&mut class, field, text(ty, self.src));
                        }
                        for (decorator, args, _) in self.decorators(member) {
                            if matches!(
                                decorator.as_str(),
                                "ManyToOne" | "OneToMany" | "OneToOne" | "ManyToMany"
                            ) && let Some(target) =
                                args.first().map(|a| relation_target(*a, self.src))
                            {
                                relations.push(target);
                            }
                        }
                    }
                    "method_definition"
                        if member
                            .child_by_field_name("name")
                            .is_some_and(|n| text(n, self.src) == "constructor") =>
                    {
                        // Constructor parameter properties: `private readonly orders: Repository<Order>`.
                        for param in member
                            .child_by_field_name("parameters")
                            .map(named_children)
                            .unwrap_or_default()
                        {
                            let name = param
                                .child_by_field_name("pattern")
                                .map(|p| text(p, self.src))
                                .unwrap_or_default();
                            let injected = named_children(param)
                                .into_iter()
                                .filter(|d| d.kind() == "decorator")
                                .find_map(|d| {
                                    let call = named_children(d).into_iter().next()?;
                                    let f = call.child_by_field_name("function")?;
                                    (text(f, self.src) == "InjectRepository")
                                        .then(|| {
                                            call.child_by_field_name("arguments")
                                                .and_then(|a| named_children(a).into_iter().next())
                                        })
                                        .flatten()
                                });
                            if let Some(entity) = injected {
                                self.repositories
                                    .insert(name.to_owned(), self.qualify(text(entity, self.src)));
                            }
                            if let Some(ty) = param.child_by_field_name("type") {
                                self.field_type(&mut class, name, text(ty, self.src));
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        if let Some((table, table_explicit)) = entity_table {
            self.facts.entities.push(Entity {
                name,
                table,
                table_explicit,
                relations,
                line: line(node),
            });
        }
        self.classes.push(class);
    }

    fn field_type(&mut self, class: &mut Class, field: &str, annotation: &str) {
        let ty = annotation.trim_start_matches(':').trim();
        if let Some(inner) = ty
            .strip_prefix("Repository<")
            .and_then(|r| r.strip_suffix('>'))
        {
            self.repositories
                .insert(field.to_owned(), self.qualify(inner.trim()));
        }
        class.fields.insert(
            field.to_owned(),
            ty.split('<').next().unwrap_or(ty).trim().to_owned(),
        );
    }

    fn start_function(&mut self, node: Node<'_>, name: String, transactional: bool) {
        let index = self.facts.functions.len();
        self.facts.functions.push(Function {
            name: name.clone(),
            line_start: line(node),
            line_end: end_line(node),
            transactional,
        });
        self.func = Some(Func {
            id: node.id(),
            name,
            index,
        });
    }

    fn enter_method(&mut self, node: Node<'s>) {
        let Some(class) = self.classes.last() else {
            return;
        };
        let method = node
            .child_by_field_name("name")
            .map(|n| text(n, self.src))
            .unwrap_or_default();
        let name = format!("{}.{method}", class.name);
        let prefix = class.prefix.clone();
        let decorators = self.decorators(node);
        let transactional = decorators
            .iter()
            .any(|(d, _, _)| d == "Transactional" || d == "Transaction");
        if let Some(prefix) = prefix {
            for (decorator, args, at) in &decorators {
                let verb = match decorator.as_str() {
                    "Get" | "Post" | "Put" | "Delete" | "Patch" | "Options" | "Head" => {
                        decorator.to_ascii_uppercase()
                    }
                    "All" => "ANY".to_owned(),
                    _ => continue,
                };
                let paths: Vec<String> = match args.first() {
                    Some(a) if a.kind() == "array" => named_children(*a)
                        .into_iter()
                        .map(|p| string_value(p, self.src).text)
                        .collect(),
                    Some(a) => vec![string_value(*a, self.src).text],
                    None => vec![String::new()],
                };
                for path in paths {
                    self.facts.routes.push(RouteDef {
                        method: verb.clone(),
                        path: join_route(&prefix, &path),
                        handler: name.clone(),
                        line: *at,
                    });
                }
            }
        }
        self.start_function(node, name, transactional);
    }

    fn declarator(&mut self, node: Node<'s>) {
        let (Some(name), Some(value)) = (
            node.child_by_field_name("name"),
            node.child_by_field_name("value"),
        ) else {
            return;
        };
        let name = text(name, self.src);
        if self.func.is_none()
            && self.classes.is_empty()
            && matches!(
                value.kind(),
                "arrow_function" | "function_expression" | "function"
            )
        {
            let qualified = format!("{}.{name}", self.facts.module);
            self.start_function(node, qualified, false);
            return;
        }
        // `const orders = dataSource.getRepository(Order)`
        if value.kind() == "call_expression"
            && let Some(entity) = self.repository_call(value)
        {
            self.repositories.insert(name.to_owned(), entity);
        }
    }

    /// `x.getRepository(Order)` → the Order entity.
    fn repository_call(&self, call: Node<'_>) -> Option<String> {
        let function = call
            .child_by_field_name("function")
            .filter(|f| f.kind() == "member_expression")?;
        let property = function
            .child_by_field_name("property")
            .map(|p| text(p, self.src))?;
        if !matches!(
            property,
            "getRepository" | "getCustomRepository" | "withRepository"
        ) {
            return None;
        }
        let arg = call
            .child_by_field_name("arguments")
            .and_then(|a| named_children(a).into_iter().next())?;
        Some(self.qualify(text(arg, self.src)))
    }

    fn call(&mut self, node: Node<'s>) {
        let Some(function) = node.child_by_field_name("function") else {
            return;
        };
        let args = node.child_by_field_name("arguments");
        let arg_list: Vec<Node<'s>> = match args {
            Some(a) if a.kind() == "arguments" => named_children(a),
            Some(a) => vec![a],
            None => Vec::new(),
        };
        let at = line(node);
        if function.kind() == "member_expression"
            && let (Some(object), Some(property)) = (
                function.child_by_field_name("object"),
                function.child_by_field_name("property"),
            )
        {
            let object_text = text(object, self.src);
            let property = text(property, self.src);
            if self.express_route(object_text, property, &arg_list, at) {
                return;
            }
            self.orm(object, object_text, property, &arg_list, at);
        }
        let Some(func) = &self.func else { return };
        // Decorators (`@Param('id')`) are not calls of the function.
        if node.parent().is_some_and(|p| p.kind() == "decorator") {
            return;
        }
        let from = func.name.clone();
        let written = text(function, self.src);
        if matches!(function.kind(), "identifier" | "member_expression")
            && written
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '.' || c == '$')
        {
            let to = if let Some(rest) = written.strip_prefix("this.") {
                match rest.split_once('.') {
                    Some((field, method)) => {
                        let ty = self
                            .classes
                            .last()
                            .and_then(|c| c.fields.get(field))
                            .cloned();
                        match ty {
                            Some(t) => format!("{}.{method}", self.qualify(&t)),
                            None => written.to_owned(),
                        }
                    }
                    None => self
                        .classes
                        .last()
                        .map(|c| format!("{}.{rest}", c.name))
                        .unwrap_or_else(|| written.to_owned()),
                }
            } else {
                self.qualify(written)
            };
            self.facts.calls.push(Call { from, to, line: at });
        }
    }

    /// Express/Fastify/Hono registrations. Returns whether the call was one.
    fn express_route(
        &mut self,
        object: &str,
        property: &str,
        args: &[Node<'s>],
        at: usize,
    ) -> bool {
        let is_router = self.routers.contains_key(object)
            || matches!(object, "app" | "router" | "server" | "api")
            || object.ends_with("Router")
            || object.ends_with("router");
        if !is_router {
            return false;
        }
        let method = match property {
            "get" | "post" | "put" | "delete" | "patch" | "options" | "head" => {
                property.to_ascii_uppercase()
            }
            "all" => "ANY".to_owned(),
            "use" => String::new(),
            _ => return false,
        };
        let path = match args.first() {
            Some(a) if matches!(a.kind(), "string" | "template_string") => {
                string_value(*a, self.src).text
            }
            // `app.use(router)` mounts at the root.
            Some(a) if method.is_empty() && args.len() == 1 && a.kind() == "identifier" => {
                let name = text(*a, self.src);
                if !self.routers.contains_key(name) && !self.import_modules.contains_key(name) {
                    return false;
                }
                String::new()
            }
            _ => return false,
        };
        let Some(handler) = args
            .last()
            .copied()
            .filter(|_| args.len() >= 2 || method.is_empty())
        else {
            return false;
        };
        if method.is_empty() {
            let child = text(handler, self.src);
            if self.routers.contains_key(child) {
                self.mounts
                    .push((object.to_owned(), path, child.to_owned()));
            } else {
                // A router from another module: a mount the graph builder resolves by module.
                let target = self
                    .import_modules
                    .get(child.split('.').next().unwrap_or(child))
                    .cloned()
                    .unwrap_or_else(|| child.to_owned());
                self.pending.push(PendingRoute {
                    router: object.to_owned(),
                    method: String::new(),
                    path,
                    handler: target,
                    line: at,
                });
            }
            return true;
        }
        let handler_name = match handler.kind() {
            "arrow_function" | "function_expression" | "function" => {
                let name = format!("{}.{method} {}", self.facts.module, join_route("", &path));
                if self.func.is_none() {
                    self.start_function(handler, name.clone(), false);
                }
                name
            }
            _ => self.qualify(text(handler, self.src)),
        };
        self.pending.push(PendingRoute {
            router: object.to_owned(),
            method,
            path,
            handler: handler_name,
            line: at,
        });
        true
    }

    /// TypeORM repositories and managers, Prisma client, transactions, raw SQL.
    fn orm(
        &mut self,
        object: Node<'s>,
        object_text: &str,
        property: &str,
        args: &[Node<'s>],
        at: usize,
    ) {
        if matches!(
            property,
            "transaction" | "$transaction" | "startTransaction"
        ) {
            if let Some(f) = &self.func {
                self.facts.functions[f.index].transactional = true;
            }
            return;
        }
        let Some(from) = self.func.as_ref().map(|f| f.name.clone()) else {
            return;
        };
        // Raw SQL.
        if matches!(
            property,
            "query"
                | "raw"
                | "$queryRaw"
                | "$executeRaw"
                | "$queryRawUnsafe"
                | "$executeRawUnsafe"
                | "execute"
        ) && let Some(first) = args.first()
            && matches!(
                first.kind(),
                "string" | "template_string" | "binary_expression"
            )
        {
            let tagged = property.starts_with('$')
                && !property.ends_with("Unsafe")
                && first.kind() == "template_string";
            let s = string_expr(*first, self.src, tagged);
            if s.literal && looks_like_sql(&s.text) {
                self.facts.sql.push(SqlSite {
                    function: Some(from),
                    text: s.text.trim().to_owned(),
                    line: line(*first),
                    dynamic: s.dynamic,
                    dialect: SqlDialect::Sql,
                });
            }
            return;
        }
        let field = object_text.strip_prefix("this.").unwrap_or(object_text);
        let entity = self.repositories.get(field).cloned().or_else(|| {
            if object.kind() == "call_expression" {
                return self.repository_call(object);
            }
            // `manager.save(Order, …)`, `tx.getRepository(…)`.
            let lower = field.to_ascii_lowercase();
            let manager =
                lower.ends_with("manager") || matches!(lower.as_str(), "tx" | "em" | "trx");
            let first = args.first().filter(|a| {
                a.kind() == "identifier"
                    && text(**a, self.src).starts_with(|c: char| c.is_ascii_uppercase())
            });
            manager
                .then(|| first.map(|a| self.qualify(text(*a, self.src))))
                .flatten()
        });
        // `create`/`merge` only build objects in memory.
        if let Some(entity) = entity
            && !matches!(property, "create" | "merge")
            && let Some(access) = access_of_method(property).or_else(|| {
                property
                    .starts_with("createQueryBuilder")
                    .then_some(Access::Read)
            })
        {
            self.facts.table_uses.push(TableUse {
                function: from,
                target: entity,
                via_entity: true,
                access,
                line: at,
            });
            return;
        }
        // Prisma client: `prisma.order.findMany()`, `tx.order.create()`.
        if object.kind() == "member_expression"
            && let (Some(client), Some(model)) = (
                object.child_by_field_name("object"),
                object.child_by_field_name("property"),
            )
        {
            let client = text(client, self.src).to_ascii_lowercase();
            if (client.ends_with("prisma") || client == "tx" || client == "db")
                && PRISMA_METHODS.contains(&property)
            {
                let model = text(model, self.src);
                let mut chars = model.chars();
                let target: String = chars
                    .next()
                    .map(|c| c.to_ascii_uppercase())
                    .into_iter()
                    .chain(chars)
                    .collect();
                let access = if property.starts_with("find")
                    || matches!(property, "count" | "aggregate" | "groupBy")
                {
                    Access::Read
                } else {
                    Access::Write
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
    }

    /// Joins in-file `app.use(prefix, router)` mounts and records the routes.
    fn finish_routes(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        for route in pending {
            for prefix in self.prefixes_of(&route.router, 0) {
                // A router's `/` is the mount point itself.
                let own = if route.path == "/" && !prefix.is_empty() {
                    ""
                } else {
                    route.path.as_str()
                };
                let path = join_route(&prefix, own);
                if route.method.is_empty() {
                    self.facts.mounts.push(Mount {
                        prefix: path,
                        target: route.handler.clone(),
                        line: route.line,
                    });
                    continue;
                }
                self.facts.routes.push(RouteDef {
                    method: route.method.clone(),
                    path,
                    handler: route.handler.clone(),
                    line: route.line,
                });
            }
        }
    }

    fn prefixes_of(&self, router: &str, depth: usize) -> Vec<String> {
        let parents: Vec<&(String, String, String)> = self
            .mounts
            .iter()
            .filter(|(_, _, child)| child == router)
            .collect();
        if parents.is_empty() || depth > 8 {
            return vec![String::new()];
        }
        let mut out = Vec::new();
        for (parent, prefix, _) in parents {
            for outer in self.prefixes_of(parent, depth + 1) {
                out.push(join_route(&outer, prefix));
            }
        }
        out
    }
}

const PRISMA_METHODS: [&str; 14] = [
    "findMany",
    "findUnique",
    "findUniqueOrThrow",
    "findFirst",
    "findFirstOrThrow",
    "count",
    "aggregate",
    "groupBy",
    "create",
    "createMany",
    "update",
    "updateMany",
    "upsert",
    "delete",
];

/// `() => User`, `'User'`, `type => User` → `User`.
fn relation_target(arg: Node<'_>, src: &str) -> String {
    match arg.kind() {
        "arrow_function" => arg
            .child_by_field_name("body")
            .map(|b| text(b, src).to_owned())
            .unwrap_or_default(),
        "string" => string_value(arg, src).text,
        _ => text(arg, src).to_owned(),
    }
}

/// The string value of property `key` of an object literal.
fn object_string(object: Node<'_>, src: &str, key: &str) -> Option<String> {
    named_children(object)
        .into_iter()
        .filter(|p| p.kind() == "pair")
        .find_map(|pair| {
            let k = pair.child_by_field_name("key")?;
            let k = text(k, src).trim_matches(|c| c == '\'' || c == '"');
            (k == key)
                .then(|| {
                    pair.child_by_field_name("value")
                        .map(|v| string_value(v, src).text)
                })
                .flatten()
        })
}

/// A string literal's or template's value (substitutions become `?`).
fn string_value(node: Node<'_>, src: &str) -> Str {
    string_expr(node, src, false)
}

/// The value of a string expression; template substitutions are dynamic unless
/// `tagged` (Prisma's tagged templates bind them as parameters).
fn string_expr(node: Node<'_>, src: &str, tagged: bool) -> Str {
    match node.kind() {
        "string" | "template_string" => {
            let mut s = Str {
                text: String::new(),
                dynamic: false,
                literal: true,
            };
            for part in named_children(node) {
                match part.kind() {
                    "string_fragment" => s.text.push_str(text(part, src)),
                    "escape_sequence" => s.text.push_str(&unescape(text(part, src))),
                    "template_substitution" => {
                        // Tagged templates bind substitutions as parameters.
                        s.text
                            .push_str(if tagged { "?" } else { crate::sql::DYNAMIC });
                        s.dynamic |= !tagged;
                    }
                    _ => {}
                }
            }
            s
        }
        "binary_expression" => {
            let (Some(l), Some(r)) = (
                node.child_by_field_name("left"),
                node.child_by_field_name("right"),
            ) else {
                return Str::unknown();
            };
            let (l, r) = (string_expr(l, src, tagged), string_expr(r, src, tagged));
            Str {
                text: l.text + &r.text,
                dynamic: l.dynamic || r.dynamic,
                literal: l.literal || r.literal,
            }
        }
        "parenthesized_expression" => named_children(node)
            .into_iter()
            .next()
            .map(|n| string_expr(n, src, tagged))
            .unwrap_or_else(Str::unknown),
        _ => Str::unknown(),
    }
}
