//! Python: Django (urls, models, ORM, `transaction.atomic`, raw cursors), Flask and
//! FastAPI routes, SQLAlchemy models and sessions.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;

use tree_sitter::{Node, Parser};

use super::java::{Str, unescape};
use super::{
    Frontend, Visitor, end_line, extension, join_route, leave_scope, line, looks_like_sql,
    named_children, parse, snake_case, start_facts, strip_regex_anchors, text, walk,
};
use crate::facts::{
    Access, Call, Entity, FileFacts, Function, Import, Language, Mount, RouteDef, SqlDialect,
    SqlSite, TableUse,
};

thread_local! {
    static PARSER: RefCell<Parser> = super::new_parser(tree_sitter_python::LANGUAGE.into());
}

#[derive(Debug)]
pub(crate) struct Python;

impl Frontend for Python {
    fn accepts(&self, path: &Path) -> bool {
        extension(path) == "py"
    }

    fn extract(&self, relative: &str, source: &str) -> FileFacts {
        let mut facts = start_facts(relative, source, Language::Python, module_of(relative));
        let Some(tree) = parse(&PARSER, source) else {
            return facts;
        };
        let mut extractor = Extractor {
            src: source,
            relative,
            facts: &mut facts,
            aliases: HashMap::new(),
            top_level: HashMap::new(),
            lists: HashMap::new(),
            prefixes: HashMap::new(),
            drf_routers: HashMap::new(),
            models: HashMap::new(),
            classes: Vec::new(),
            func: None,
        };
        extractor.prescan(tree.root_node());
        walk(&mut tree.walk(), &mut extractor);
        facts
    }
}

/// `shop/orders/views.py` → `shop.orders.views`; `orders/__init__.py` → `orders`;
/// `src/shop/views.py` → `shop.views` (the src layout's root is `src/`).
fn module_of(relative: &str) -> String {
    let relative = relative.strip_prefix("src/").unwrap_or(relative);
    let stem = relative.strip_suffix(".py").unwrap_or(relative);
    let stem = stem.strip_suffix("/__init__").unwrap_or(stem);
    stem.replace('/', ".")
}

/// A Django REST framework router: `(prefix, viewset, line)` registrations and
/// whether its URLs were included in the file.
type DrfRouter = (Vec<(String, String, usize)>, bool);

impl_scope!(Class, Func);

struct Class {
    id: usize,
    name: String,
}

struct Func {
    id: usize,
    name: String,
    index: usize,
    /// Local variable → model it holds (`order = Order.objects.get(…)`).
    models: HashMap<String, String>,
}

struct Extractor<'s, 'f> {
    src: &'s str,
    relative: &'s str,
    facts: &'f mut FileFacts,
    /// Name bound by an import → what it names, qualified.
    aliases: HashMap<String, String>,
    /// Functions and classes defined at module level → qualified name.
    top_level: HashMap<String, String>,
    /// Module-level `name = [...]` lists (URL pattern lists for `include(name)`).
    lists: HashMap<String, Node<'s>>,
    /// Blueprint / APIRouter variable → its URL prefix.
    prefixes: HashMap<String, String>,
    /// Django REST framework routers → `(prefix, viewset, line)` registrations, and
    /// whether the router's URLs were included in this file.
    drf_routers: HashMap<String, DrfRouter>,
    /// Model classes of this file (Django, SQLAlchemy) → qualified name.
    models: HashMap<String, String>,
    classes: Vec<Class>,
    func: Option<Func>,
}

impl<'t> Visitor<'t> for Extractor<'t, '_> {
    fn enter(&mut self, node: Node<'t>) -> bool {
        match node.kind() {
            "import_statement" | "import_from_statement" => false,
            "class_definition" if self.func.is_none() => {
                self.enter_class(node);
                true
            }
            "function_definition" if self.func.is_none() => {
                self.enter_function(node);
                true
            }
            "with_item" => {
                if let Some(value) = node.child_by_field_name("value") {
                    let written = text(value, self.src);
                    if is_transaction_block(written) {
                        self.mark_transactional();
                    }
                }
                true
            }
            "assignment" => {
                self.assignment(node);
                true
            }
            "call" => {
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

/// `transaction.atomic()`, `atomic()`, `session.begin()`, `engine.begin()`.
fn is_transaction_block(written: &str) -> bool {
    let head = written.split('(').next().unwrap_or(written);
    head.ends_with("atomic") || head.ends_with(".begin") || head.ends_with(".begin_nested")
}

impl<'s> Extractor<'s, '_> {
    /// Imports, module-level names and URL configuration, before the walk.
    fn prescan(&mut self, root: Node<'s>) {
        let statements = named_children(root);
        for stmt in &statements {
            match stmt.kind() {
                "import_statement" | "import_from_statement" => self.import(*stmt),
                "function_definition" | "class_definition" | "decorated_definition" => {
                    let def = if stmt.kind() == "decorated_definition" {
                        stmt.child_by_field_name("definition")
                    } else {
                        Some(*stmt)
                    };
                    if let Some(name) = def.and_then(|d| d.child_by_field_name("name")) {
                        let name = text(name, self.src);
                        self.top_level
                            .insert(name.to_owned(), format!("{}.{name}", self.facts.module));
                    }
                }
                "expression_statement" => {
                    let Some(assign) = named_children(*stmt).into_iter().next() else {
                        continue;
                    };
                    let (Some(left), Some(right)) = (
                        assign.child_by_field_name("left"),
                        assign.child_by_field_name("right"),
                    ) else {
                        continue;
                    };
                    if left.kind() != "identifier" {
                        continue;
                    }
                    let name = text(left, self.src).to_owned();
                    match right.kind() {
                        "list" => {
                            self.lists.insert(name, right);
                        }
                        // `bp = Blueprint("orders", __name__, url_prefix="/orders")`, `router = APIRouter(prefix="/orders")`.
                        "call" => {
                            let callee = right
                                .child_by_field_name("function")
                                .map(|f| text(f, self.src))
                                .unwrap_or_default();
                            if callee.ends_with("DefaultRouter") || callee.ends_with("SimpleRouter")
                            {
                                self.drf_routers.insert(name.clone(), (Vec::new(), false));
                            }
                            if let Some(prefix) =
                                keyword(right, self.src, &["url_prefix", "prefix"])
                                    .and_then(|v| self.string(v))
                            {
                                self.prefixes.insert(name, prefix.text);
                            }
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        for stmt in &statements {
            if let Some(call) = named_children(*stmt)
                .into_iter()
                .next()
                .filter(|c| c.kind() == "call")
            {
                self.module_call(call);
            }
        }
        for stmt in statements {
            let Some(assign) = (stmt.kind() == "expression_statement")
                .then(|| named_children(stmt).into_iter().next())
                .flatten()
            else {
                continue;
            };
            if matches!(assign.kind(), "assignment" | "augmented_assignment")
                && assign
                    .child_by_field_name("left")
                    .is_some_and(|l| text(l, self.src) == "urlpatterns")
                && let Some(right) = assign.child_by_field_name("right")
            {
                self.url_patterns(right, "", 0);
            }
        }
        let mut unincluded: Vec<String> = self
            .drf_routers
            .iter()
            .filter(|(_, (_, included))| !included)
            .map(|(n, _)| n.clone())
            .collect();
        unincluded.sort();
        for router in unincluded {
            self.router_routes(&router, "");
        }
    }

    /// Module-level registrations: DRF `router.register("orders", OrderViewSet)`,
    /// FastAPI `app.include_router(r, prefix=…)`, Flask `app.register_blueprint(bp, url_prefix=…)`.
    fn module_call(&mut self, call: Node<'s>) {
        let Some(function) = call
            .child_by_field_name("function")
            .filter(|f| f.kind() == "attribute")
        else {
            return;
        };
        let object = function
            .child_by_field_name("object")
            .map(|o| text(o, self.src))
            .unwrap_or_default();
        let method = function
            .child_by_field_name("attribute")
            .map(|a| text(a, self.src))
            .unwrap_or_default();
        let args = positional(call);
        match method {
            "register" if self.drf_routers.contains_key(object) => {
                let (Some(prefix), Some(viewset)) =
                    (args.first().and_then(|a| self.string(*a)), args.get(1))
                else {
                    return;
                };
                let viewset = self.qualify(text(*viewset, self.src));
                if let Some((registrations, _)) = self.drf_routers.get_mut(object) {
                    registrations.push((prefix.text, viewset, line(call)));
                }
            }
            "include_router" | "register_blueprint" => {
                let Some(target) = args.first() else { return };
                if self.prefixes.contains_key(text(*target, self.src))
                    && !self.aliases.contains_key(text(*target, self.src))
                {
                    // A router of this file: its routes already carry their own prefix.
                    return;
                }
                let prefix = keyword(call, self.src, &["prefix", "url_prefix"])
                    .and_then(|p| self.string(p))
                    .map(|p| p.text);
                let target = self.qualify(text(*target, self.src));
                self.mount(
                    &join_route(prefix.as_deref().unwrap_or_default(), ""),
                    target,
                    line(call),
                );
            }
            _ => {}
        }
    }

    /// The list and detail routes of a DRF router's registrations.
    fn router_routes(&mut self, router: &str, prefix: &str) {
        let Some((registrations, included)) = self.drf_routers.get_mut(router) else {
            return;
        };
        *included = true;
        for (path, viewset, at) in registrations.clone() {
            let list = join_route(prefix, &format!("{path}/"));
            let detail = join_route(&list, "{pk}/");
            self.route("ANY", &list, viewset.clone(), at);
            self.route("ANY", &detail, viewset, at);
        }
    }

    fn import(&mut self, node: Node<'_>) {
        let base = match node.kind() {
            "import_from_statement" => match node.child_by_field_name("module_name") {
                Some(m) if m.kind() == "relative_import" => Some(self.resolve_relative(m)),
                Some(m) => Some(text(m, self.src).to_owned()),
                None => return,
            },
            _ => None,
        };
        let mut cursor = node.walk();
        let names: Vec<Node<'_>> = node.children_by_field_name("name", &mut cursor).collect();
        if names.is_empty()
            && let Some(base) = &base
        {
            // `from x import *`
            self.facts.imports.push(Import {
                target: format!("{base}.*"),
                line: line(node),
            });
        }
        for name in names {
            let (dotted, alias) = match name.kind() {
                "aliased_import" => (
                    name.child_by_field_name("name")
                        .map(|n| text(n, self.src))
                        .unwrap_or_default(),
                    name.child_by_field_name("alias").map(|n| text(n, self.src)),
                ),
                _ => (text(name, self.src), None),
            };
            let target = match &base {
                Some(base) if base.is_empty() => dotted.to_owned(),
                Some(base) => format!("{base}.{dotted}"),
                None => dotted.to_owned(),
            };
            let bound = match (alias, &base) {
                (Some(alias), _) => (alias.to_owned(), target.clone()),
                // `import a.b` binds `a`.
                (None, None) => {
                    let first = dotted.split('.').next().unwrap_or(dotted);
                    (first.to_owned(), first.to_owned())
                }
                (None, Some(_)) => (dotted.to_owned(), target.clone()),
            };
            self.aliases.insert(bound.0, bound.1);
            self.facts.imports.push(Import {
                target,
                line: line(node),
            });
        }
    }

    /// `from ..catalog import models` in `shop/orders/views.py` → `shop.catalog`.
    fn resolve_relative(&self, node: Node<'_>) -> String {
        let written = text(node, self.src);
        let dots = written.chars().take_while(|&c| c == '.').count();
        let rest = &written[dots..];
        let is_package = self.relative.ends_with("__init__.py");
        let mut parts: Vec<&str> = self
            .facts
            .module
            .split('.')
            .filter(|p| !p.is_empty())
            .collect();
        let up = if is_package { dots - 1 } else { dots };
        for _ in 0..up {
            parts.pop();
        }
        if !rest.is_empty() {
            parts.push(rest);
        }
        parts.join(".")
    }

    /// A dotted name as this module sees it: `views.detail` → `shop.orders.views.detail`.
    fn qualify(&self, written: &str) -> String {
        let (first, rest) = match written.split_once('.') {
            Some((f, r)) => (f, Some(r)),
            None => (written, None),
        };
        let base = if first == "self" || first == "cls" {
            self.classes.last().map(|c| c.name.clone())
        } else {
            self.aliases
                .get(first)
                .or_else(|| self.top_level.get(first))
                .cloned()
        };
        match (base, rest) {
            (Some(b), Some(r)) => format!("{b}.{r}"),
            (Some(b), None) => b,
            (None, _) => written.to_owned(),
        }
    }

    /// Routes of a Django `urlpatterns` list, with `include()` prefixes joined.
    fn url_patterns(&mut self, node: Node<'s>, prefix: &str, depth: usize) {
        if depth > 8 {
            return;
        }
        match node.kind() {
            "list" | "tuple" => {
                for item in named_children(node) {
                    self.url_patterns(item, prefix, depth + 1);
                }
            }
            "binary_operator" => {
                for side in ["left", "right"] {
                    if let Some(s) = node.child_by_field_name(side) {
                        self.url_patterns(s, prefix, depth + 1);
                    }
                }
            }
            "identifier" => {
                if let Some(list) = self.lists.get(text(node, self.src)).copied() {
                    self.url_patterns(list, prefix, depth + 1);
                }
            }
            // `urlpatterns += router.urls`
            "attribute" => {
                if let Some(router) = text(node, self.src).strip_suffix(".urls")
                    && self.drf_routers.contains_key(router)
                {
                    self.router_routes(router, prefix);
                }
            }
            "call" => {
                let function = node
                    .child_by_field_name("function")
                    .map(|f| text(f, self.src))
                    .unwrap_or_default();
                let function = function.rsplit('.').next().unwrap_or(function);
                if !matches!(function, "path" | "re_path" | "url") {
                    return;
                }
                let args: Vec<Node<'s>> = positional(node);
                let Some(pattern) = args.first().and_then(|a| self.string(*a)) else {
                    return;
                };
                let pattern = if function == "path" {
                    pattern.text
                } else {
                    strip_regex_anchors(&pattern.text).to_owned()
                };
                let full = join_route(prefix, &pattern);
                let Some(view) = args.get(1).copied() else {
                    return;
                };
                self.url_view(view, &full, line(node), depth);
            }
            _ => {}
        }
    }

    fn url_view(&mut self, view: Node<'s>, path: &str, at: usize, depth: usize) {
        match view.kind() {
            "call" => {
                let function = view
                    .child_by_field_name("function")
                    .map(|f| text(f, self.src))
                    .unwrap_or_default();
                if function == "include" || function.ends_with(".include") {
                    let Some(target) = positional(view).first().copied() else {
                        return;
                    };
                    let target = if target.kind() == "tuple" {
                        named_children(target).into_iter().next().unwrap_or(target)
                    } else {
                        target
                    };
                    let router = text(target, self.src)
                        .strip_suffix(".urls")
                        .filter(|r| self.drf_routers.contains_key(*r));
                    if let Some(router) = router {
                        self.router_routes(router, path);
                        return;
                    }
                    match target.kind() {
                        "list" => self.url_patterns(target, path, depth + 1),
                        "identifier" if self.lists.contains_key(text(target, self.src)) => {
                            self.url_patterns(target, path, depth + 1)
                        }
                        _ => {
                            // Another module's urlpatterns: a mount the graph builder resolves.
                            let module = match self.string(target) {
                                Some(s) => s.text,
                                None => self.qualify(text(target, self.src)),
                            };
                            self.mount(path, module, at);
                        }
                    }
                } else if function.ends_with(".as_view") {
                    let class = function.trim_end_matches(".as_view");
                    self.route("ANY", path, self.qualify(class), at);
                }
            }
            // `admin.site.urls`: an included URL configuration.
            "attribute" if text(view, self.src).ends_with(".urls") => {
                let module = self.qualify(text(view, self.src));
                self.mount(path, module, at);
            }
            "identifier" | "attribute" => {
                let handler = self.qualify(text(view, self.src));
                self.route("ANY", path, handler, at);
            }
            _ => {}
        }
    }

    fn route(&mut self, method: &str, path: &str, handler: String, at: usize) {
        self.facts.routes.push(RouteDef {
            method: method.to_owned(),
            path: path.to_owned(),
            handler,
            line: at,
        });
    }

    /// Routes of another module (or router object) under `prefix`.
    fn mount(&mut self, prefix: &str, target: String, at: usize) {
        self.facts.mounts.push(Mount {
            prefix: prefix.to_owned(),
            target,
            line: at,
        });
    }

    fn enter_class(&mut self, node: Node<'s>) {
        let simple = node
            .child_by_field_name("name")
            .map(|n| text(n, self.src))
            .unwrap_or_default();
        let name = match self.classes.last() {
            Some(outer) => format!("{}.{simple}", outer.name),
            None => format!("{}.{simple}", self.facts.module),
        };
        self.classes.push(Class {
            id: node.id(),
            name: name.clone(),
        });
        if self.classes.len() == 1 {
            self.model(node, simple, &name);
        }
    }

    /// Django models, SQLAlchemy and Flask-SQLAlchemy models.
    fn model(&mut self, node: Node<'s>, simple: &str, name: &str) {
        let bases: Vec<String> = node
            .child_by_field_name("superclasses")
            .map(|s| {
                named_children(s)
                    .into_iter()
                    .map(|b| text(b, self.src).to_owned())
                    .collect()
            })
            .unwrap_or_default();
        let Some(body) = node.child_by_field_name("body") else {
            return;
        };
        let mut tablename = None;
        let mut meta_table = None;
        let mut app_label = None;
        let mut abstract_model = false;
        let mut relations = Vec::new();
        for stmt in named_children(body) {
            if stmt.kind() == "class_definition"
                && stmt
                    .child_by_field_name("name")
                    .is_some_and(|n| text(n, self.src) == "Meta")
            {
                for (key, value) in self.class_assignments(stmt) {
                    match key.as_str() {
                        "db_table" => meta_table = self.string(value).map(|s| s.text),
                        "app_label" => app_label = self.string(value).map(|s| s.text),
                        "abstract" => abstract_model = text(value, self.src) == "True",
                        _ => {}
                    }
                }
                continue;
            }
            let Some(assign) = (stmt.kind() == "expression_statement")
                .then(|| named_children(stmt).into_iter().next())
                .flatten()
            else {
                continue;
            };
            if assign.kind() != "assignment" {
                continue;
            }
            let (Some(left), right) = (
                assign.child_by_field_name("left"),
                assign.child_by_field_name("right"),
            ) else {
                continue;
            };
            let key = text(left, self.src);
            if key == "__tablename__" {
                tablename = right.and_then(|r| self.string(r)).map(|s| s.text);
                continue;
            }
            let Some(call) = right.filter(|r| r.kind() == "call") else {
                continue;
            };
            let function = call
                .child_by_field_name("function")
                .map(|f| text(f, self.src))
                .unwrap_or_default();
            let function = function.rsplit('.').next().unwrap_or(function);
            match function {
                "ForeignKey" | "OneToOneField" | "ManyToManyField" | "ParentalKey"
                    if !is_sqlalchemy_fk(call, self.src) =>
                {
                    let target = positional(call)
                        .first()
                        .copied()
                        .or_else(|| keyword(call, self.src, &["to"]));
                    if let Some(t) = target {
                        let written = self
                            .string(t)
                            .map(|s| s.text)
                            .unwrap_or_else(|| text(t, self.src).to_owned());
                        relations.push(if written == "self" {
                            simple.to_owned()
                        } else {
                            written
                        });
                    }
                }
                "relationship" => {
                    let target = positional(call).first().and_then(|t| {
                        self.string(*t)
                            .map(|s| s.text)
                            .or_else(|| Some(text(*t, self.src).to_owned()))
                    });
                    let target = target.or_else(|| {
                        assign
                            .child_by_field_name("type")
                            .map(|t| innermost_type(text(t, self.src)))
                    });
                    if let Some(t) = target {
                        relations.push(t);
                    }
                }
                _ => {}
            }
        }
        let is_django = bases.iter().any(|b| {
            matches!(
                b.as_str(),
                "models.Model" | "Model" | "AbstractUser" | "AbstractBaseUser" | "PermissionsMixin"
            ) || b.ends_with(".AbstractUser")
                || self.models.contains_key(b.as_str())
        });
        let is_flask_sqlalchemy = bases.iter().any(|b| b == "db.Model");
        let (table, explicit) = if let Some(t) = tablename.or(meta_table) {
            (t, true)
        } else if abstract_model {
            self.models.insert(simple.to_owned(), name.to_owned());
            return;
        } else if is_flask_sqlalchemy {
            (snake_case(simple), false)
        } else if is_django {
            // Django: `<app_label>_<model name lower case>`; the app is the package holding models.
            let app = app_label.unwrap_or_else(|| django_app(self.relative));
            (format!("{app}_{}", simple.to_ascii_lowercase()), false)
        } else {
            return;
        };
        self.models.insert(simple.to_owned(), name.to_owned());
        self.facts.entities.push(Entity {
            name: name.to_owned(),
            table,
            table_explicit: explicit,
            relations,
            line: line(node),
        });
    }

    fn class_assignments(&self, class: Node<'s>) -> Vec<(String, Node<'s>)> {
        let Some(body) = class.child_by_field_name("body") else {
            return Vec::new();
        };
        named_children(body)
            .into_iter()
            .filter_map(|stmt| named_children(stmt).into_iter().next())
            .filter(|a| a.kind() == "assignment")
            .filter_map(|a| {
                Some((
                    text(a.child_by_field_name("left")?, self.src).to_owned(),
                    a.child_by_field_name("right")?,
                ))
            })
            .collect()
    }

    fn enter_function(&mut self, node: Node<'s>) {
        let simple = node
            .child_by_field_name("name")
            .map(|n| text(n, self.src))
            .unwrap_or_default();
        let owner = self
            .classes
            .last()
            .map(|c| c.name.clone())
            .unwrap_or_else(|| self.facts.module.clone());
        let name = format!("{owner}.{simple}");
        let decorators: Vec<Node<'s>> = node
            .parent()
            .filter(|p| p.kind() == "decorated_definition")
            .map(|p| {
                named_children(p)
                    .into_iter()
                    .filter(|d| d.kind() == "decorator")
                    .collect()
            })
            .unwrap_or_default();
        let mut transactional = false;
        for decorator in &decorators {
            let Some(expr) = named_children(*decorator).into_iter().next() else {
                continue;
            };
            let written = text(expr, self.src);
            let head = written.split('(').next().unwrap_or(written);
            if head.ends_with("atomic") || head.ends_with("transactional") {
                transactional = true;
            }
            self.decorator_route(expr, &name);
        }
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
            models: HashMap::new(),
        });
    }

    /// Flask `@app.route("/x", methods=["POST"])`, `@bp.get("/x")`; FastAPI `@router.post("/x")`.
    fn decorator_route(&mut self, expr: Node<'s>, handler: &str) {
        if expr.kind() != "call" {
            return;
        }
        let Some(function) = expr
            .child_by_field_name("function")
            .filter(|f| f.kind() == "attribute")
        else {
            return;
        };
        let Some(object) = function.child_by_field_name("object") else {
            return;
        };
        let verb = function
            .child_by_field_name("attribute")
            .map(|a| text(a, self.src))
            .unwrap_or_default();
        let methods: Vec<String> = match verb {
            "route" | "api_route" => keyword(expr, self.src, &["methods"])
                .map(|m| {
                    named_children(m)
                        .into_iter()
                        .filter_map(|v| self.string(v))
                        .map(|s| s.text.to_ascii_uppercase())
                        .collect()
                })
                .filter(|m: &Vec<String>| !m.is_empty())
                .unwrap_or_else(|| vec!["GET".to_owned()]),
            "get" | "post" | "put" | "delete" | "patch" => vec![verb.to_ascii_uppercase()],
            _ => return,
        };
        let Some(path) = positional(expr).first().and_then(|p| self.string(*p)) else {
            return;
        };
        if !path.text.starts_with('/') && !path.text.is_empty() {
            return;
        }
        let prefix = self
            .prefixes
            .get(text(object, self.src))
            .cloned()
            .unwrap_or_default();
        for method in methods {
            self.route(
                &method,
                &join_route(&prefix, &path.text),
                handler.to_owned(),
                line(expr),
            );
        }
    }

    fn mark_transactional(&mut self) {
        if let Some(f) = &self.func {
            self.facts.functions[f.index].transactional = true;
        }
    }

    /// `order = Order.objects.get(…)` / `order = Order(…)`: the variable holds a model.
    fn assignment(&mut self, node: Node<'s>) {
        if self.func.is_none() {
            return;
        }
        let (Some(left), Some(right)) = (
            node.child_by_field_name("left"),
            node.child_by_field_name("right"),
        ) else {
            return;
        };
        if left.kind() != "identifier" || right.kind() != "call" {
            return;
        }
        let model = self.model_of_call(right).or_else(|| {
            let f = right.child_by_field_name("function")?;
            (f.kind() == "identifier")
                .then(|| self.model_name(text(f, self.src)))
                .flatten()
        });
        if let (Some(model), Some(func)) = (model, self.func.as_mut()) {
            func.models.insert(text(left, self.src).to_owned(), model);
        }
    }

    /// The model a model class name refers to, qualified, if it is a model here or imported.
    fn model_name(&self, written: &str) -> Option<String> {
        if let Some(q) = self.models.get(written) {
            return Some(q.clone());
        }
        if !written.starts_with(|c: char| c.is_ascii_uppercase()) {
            return None;
        }
        Some(self.qualify(written))
    }

    /// The model behind `Order.objects.filter(…).first()` or `Order.query.get(…)`.
    fn model_of_call(&self, call: Node<'s>) -> Option<String> {
        let mut node = call.child_by_field_name("function")?;
        for _ in 0..16 {
            match node.kind() {
                "attribute" => {
                    let object = node.child_by_field_name("object")?;
                    let attr = node
                        .child_by_field_name("attribute")
                        .map(|a| text(a, self.src))
                        .unwrap_or_default();
                    if matches!(
                        attr,
                        "objects" | "query" | "all_objects" | "_default_manager"
                    ) && object.kind() == "identifier"
                    {
                        return self.model_name(text(object, self.src));
                    }
                    node = object;
                }
                "call" => node = node.child_by_field_name("function")?,
                _ => return None,
            }
        }
        None
    }

    fn call(&mut self, node: Node<'s>) {
        let Some(func) = &self.func else { return };
        let from = func.name.clone();
        let Some(function) = node.child_by_field_name("function") else {
            return;
        };
        let at = line(node);
        let method = match function.kind() {
            "attribute" => function
                .child_by_field_name("attribute")
                .map(|a| text(a, self.src))
                .unwrap_or_default(),
            _ => text(function, self.src),
        };
        let manager = self.model_of_call(node);
        // The call itself, when the callee is a plain (dotted) name; model manager
        // calls are reported as table uses instead.
        let written = text(function, self.src);
        if manager.is_none()
            && matches!(function.kind(), "identifier" | "attribute")
            && written
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
        {
            let is_builtin = function.kind() == "identifier" && BUILTINS.contains(&written);
            let is_model = function.kind() == "identifier" && self.models.contains_key(written);
            if !is_builtin && !is_model {
                self.facts.calls.push(Call {
                    from: from.clone(),
                    to: self.qualify(written),
                    line: at,
                });
            }
        }
        // Django managers, Flask-SQLAlchemy queries: once per chain, at its outermost call
        // (`Order.objects.filter(…).update(…)` writes).
        let chained = node
            .parent()
            .filter(|p| p.kind() == "attribute")
            .and_then(|p| p.parent())
            .is_some_and(|pp| pp.kind() == "call");
        if let Some(model) = manager {
            if chained {
                return;
            }
            let access = if matches!(
                method,
                "create"
                    | "bulk_create"
                    | "bulk_update"
                    | "update"
                    | "delete"
                    | "get_or_create"
                    | "update_or_create"
            ) {
                Access::Write
            } else {
                Access::Read
            };
            self.table_use(&from, model, access, at);
        } else if matches!(
            written,
            "get_object_or_404" | "get_list_or_404" | "shortcuts.get_object_or_404"
        ) {
            let model = positional(node)
                .first()
                .and_then(|m| self.model_name(text(*m, self.src)));
            if let Some(model) = model {
                self.table_use(&from, model, Access::Read, at);
            }
        } else if function.kind() == "attribute" {
            let object = function.child_by_field_name("object");
            let object_text = object.map(|o| text(o, self.src)).unwrap_or_default();
            let args = positional(node);
            // `order.save()` on a variable holding a model.
            let held = self
                .func
                .as_ref()
                .and_then(|f| f.models.get(object_text))
                .cloned();
            if let Some(model) = held
                && matches!(method, "save" | "delete" | "refresh_from_db")
            {
                let access = if method == "refresh_from_db" {
                    Access::Read
                } else {
                    Access::Write
                };
                self.table_use(&from, model, access, at);
            }
            // SQLAlchemy sessions: `session.add(Order(…))`, `session.query(Order)`.
            if object_text.ends_with("session") || object_text == "db" {
                let target = args.first().and_then(|a| match a.kind() {
                    "identifier" => self
                        .func
                        .as_ref()
                        .and_then(|f| f.models.get(text(*a, self.src)).cloned())
                        .or_else(|| self.model_name(text(*a, self.src))),
                    "call" => a
                        .child_by_field_name("function")
                        .and_then(|f| self.model_name(text(f, self.src))),
                    _ => None,
                });
                let access = match method {
                    "add" | "add_all" | "delete" | "merge" | "bulk_save_objects" => {
                        Some(Access::Write)
                    }
                    "query" | "get" => Some(Access::Read),
                    _ => None,
                };
                if let (Some(model), Some(access)) = (target, access) {
                    self.table_use(&from, model, access, at);
                }
            }
            // Raw SQL: `cursor.execute("…")`, `Model.objects.raw("…")`, `session.execute(text("…"))`.
            if matches!(
                method,
                "execute" | "executemany" | "executescript" | "raw" | "exec_driver_sql"
            ) && let Some(first) = args.first().copied()
            {
                let first = if first.kind() == "call"
                    && first.child_by_field_name("function").is_some_and(|f| {
                        matches!(text(f, self.src), "text" | "sa.text" | "sqlalchemy.text")
                    }) {
                    positional(first).first().copied().unwrap_or(first)
                } else {
                    first
                };
                if let Some(s) = self
                    .string(first)
                    .filter(|s| s.literal && looks_like_sql(&s.text))
                {
                    self.facts.sql.push(SqlSite {
                        function: Some(from),
                        text: s.text.trim().to_owned(),
                        line: line(first),
                        dynamic: s.dynamic,
                        dialect: SqlDialect::Sql,
                    });
                }
            }
        }
    }

    fn table_use(&mut self, from: &str, target: String, access: Access, at: usize) {
        self.facts.table_uses.push(TableUse {
            function: from.to_owned(),
            target,
            via_entity: true,
            access,
            line: at,
        });
    }

    /// The value of a string expression: literals, implicit and `+` concatenation;
    /// f-strings, `%` and `.format` are dynamic.
    fn string(&self, node: Node<'_>) -> Option<Str> {
        match node.kind() {
            "string" => {
                let raw_prefix = named_children(node)
                    .first()
                    .filter(|s| s.kind() == "string_start")
                    .map(|s| text(*s, self.src).to_ascii_lowercase().contains('r'))
                    .unwrap_or(false);
                let mut s = Str {
                    text: String::new(),
                    dynamic: false,
                    literal: true,
                };
                for part in named_children(node) {
                    match part.kind() {
                        "string_content" => {
                            let content = text(part, self.src);
                            if raw_prefix {
                                s.text.push_str(content);
                            } else {
                                s.text.push_str(&unescape(content));
                            }
                        }
                        "interpolation" => {
                            s.dynamic = true;
                            s.text.push_str(crate::sql::DYNAMIC);
                        }
                        _ => {}
                    }
                }
                Some(s)
            }
            "concatenated_string" => {
                let mut s = Str {
                    text: String::new(),
                    dynamic: false,
                    literal: true,
                };
                for part in named_children(node) {
                    let p = self.string(part)?;
                    s.text.push_str(&p.text);
                    s.dynamic |= p.dynamic;
                }
                Some(s)
            }
            "parenthesized_expression" => named_children(node)
                .into_iter()
                .next()
                .and_then(|n| self.string(n)),
            "binary_operator" => {
                let op = node
                    .child_by_field_name("operator")
                    .map(|o| text(o, self.src))
                    .unwrap_or_default();
                let left = node.child_by_field_name("left")?;
                let right = node.child_by_field_name("right")?;
                match op {
                    "+" => {
                        let l = self.string(left).unwrap_or_else(Str::unknown);
                        let r = self.string(right).unwrap_or_else(Str::unknown);
                        (l.literal || r.literal).then(|| Str {
                            text: l.text + &r.text,
                            dynamic: l.dynamic || r.dynamic,
                            literal: true,
                        })
                    }
                    "%" => self.string(left).map(|l| Str { dynamic: true, ..l }),
                    _ => None,
                }
            }
            "call" => {
                // `"…".format(…)`
                let f = node
                    .child_by_field_name("function")
                    .filter(|f| f.kind() == "attribute")?;
                if f.child_by_field_name("attribute")
                    .is_some_and(|a| text(a, self.src) == "format")
                {
                    let s = self.string(f.child_by_field_name("object")?)?;
                    return Some(Str { dynamic: true, ..s });
                }
                None
            }
            _ => None,
        }
    }
}

/// SQLAlchemy's `ForeignKey("users.id")` names a column, not a model.
fn is_sqlalchemy_fk(call: Node<'_>, src: &str) -> bool {
    let function = call
        .child_by_field_name("function")
        .map(|f| text(f, src))
        .unwrap_or_default();
    function == "ForeignKey"
        && positional(call).first().is_some_and(|a| {
            a.kind() == "string"
                && text(*a, src).contains('.')
                && !text(*a, src).contains(|c: char| c.is_ascii_uppercase())
        })
}

/// `Mapped[list["OrderItem"]]` → `OrderItem`.
fn innermost_type(written: &str) -> String {
    let inner = written.rsplit('[').next().unwrap_or(written);
    inner
        .trim_end_matches(']')
        .trim()
        .trim_matches(|c| c == '"' || c == '\'')
        .to_owned()
}

/// Positional arguments of a call.
fn positional<'t>(call: Node<'t>) -> Vec<Node<'t>> {
    call.child_by_field_name("arguments")
        .map(|a| {
            named_children(a)
                .into_iter()
                .filter(|n| {
                    !matches!(
                        n.kind(),
                        "keyword_argument" | "comment" | "list_splat" | "dictionary_splat"
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The value of keyword argument `names` of a call.
fn keyword<'t>(call: Node<'t>, src: &str, names: &[&str]) -> Option<Node<'t>> {
    let args = call.child_by_field_name("arguments")?;
    named_children(args)
        .into_iter()
        .filter(|n| n.kind() == "keyword_argument")
        .find_map(|kw| {
            let name = kw.child_by_field_name("name")?;
            names
                .contains(&text(name, src))
                .then(|| kw.child_by_field_name("value"))
                .flatten()
        })
}

/// The Django app of a models file: the directory holding `models.py` (or the `models/` package).
fn django_app(relative: &str) -> String {
    let parts: Vec<&str> = relative.split('/').collect();
    let dirs = &parts[..parts.len().saturating_sub(1)];
    let dirs = match dirs.last() {
        Some(&"models") => &dirs[..dirs.len() - 1],
        _ => dirs,
    };
    dirs.last().map(|d| (*d).to_owned()).unwrap_or_default()
}

/// Builtins never reported as calls.
const BUILTINS: [&str; 32] = [
    "print",
    "len",
    "str",
    "int",
    "float",
    "bool",
    "list",
    "dict",
    "set",
    "tuple",
    "range",
    "enumerate",
    "zip",
    "map",
    "filter",
    "sorted",
    "sum",
    "min",
    "max",
    "isinstance",
    "getattr",
    "setattr",
    "hasattr",
    "super",
    "open",
    "repr",
    "any",
    "all",
    "abs",
    "round",
    "type",
    "iter",
];
