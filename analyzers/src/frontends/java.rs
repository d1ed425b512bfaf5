//! Java (Spring MVC/WebFlux, JPA, Spring Data, MyBatis annotations, JdbcTemplate).
//! MyBatis XML mappers are read by [`mybatis`]; the Spring rules shared with
//! Kotlin live in [`spring`].

pub(super) mod mybatis;
pub(super) mod spring;
pub(super) mod webflux;

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;

use tree_sitter::{Node, Parser};

use self::spring::{Ann, AnnArg, ClassInfo};
use super::{
    Frontend, Visitor, end_line, extension, leave_scope, line, named_children, parse, start_facts,
    text, walk,
};
use crate::facts::{Call, FileFacts, Function, Import, Language, RouteDef, SqlSite};

thread_local! {
    static PARSER: RefCell<Parser> = super::new_parser(tree_sitter_java::LANGUAGE.into());
}

#[derive(Debug)]
pub(crate) struct Java;

impl Frontend for Java {
    fn accepts(&self, path: &Path) -> bool {
        extension(path) == "java"
    }

    fn extract(&self, relative: &str, source: &str) -> FileFacts {
        // The module is the package, read from the tree.
        let mut facts = start_facts(relative, source, Language::Java, String::new());
        let Some(tree) = parse(&PARSER, source) else {
            return facts;
        };
        let mut extractor = Extractor {
            src: source,
            facts: &mut facts,
            imports: HashMap::new(),
            local_types: HashMap::new(),
            classes: Vec::new(),
            func: None,
        };
        walk(&mut tree.walk(), &mut extractor);
        facts
    }
}

impl_scope!(Class, Func);

/// A class being walked.
struct Class {
    id: usize,
    info: ClassInfo,
    /// Field name → declared type (simple, without generics).
    fields: HashMap<String, String>,
    /// `static final String X = "…"` constants, for SQL and route strings.
    constants: HashMap<String, String>,
}

/// The method being walked: calls and SQL inside belong to it.
struct Func {
    id: usize,
    name: String,
    index: usize,
    /// Parameter and local variable name → declared type.
    locals: HashMap<String, String>,
    /// Local `String sql = "…" + …` variables, for SQL handed over later.
    strings: HashMap<String, Str>,
}

struct Extractor<'s, 'f> {
    src: &'s str,
    facts: &'f mut FileFacts,
    /// Simple name → qualified name, from single-type imports.
    imports: HashMap<String, String>,
    /// Simple → qualified name of the types declared in this file, nested ones included.
    local_types: HashMap<String, String>,
    classes: Vec<Class>,
    func: Option<Func>,
}

impl<'t> Visitor<'t> for Extractor<'_, '_> {
    fn enter(&mut self, node: Node<'t>) -> bool {
        match node.kind() {
            "package_declaration" => {
                if let Some(name) = named_children(node)
                    .into_iter()
                    .find(|n| n.kind() != "annotation" && n.kind() != "marker_annotation")
                {
                    self.facts.module = text(name, self.src).to_owned();
                }
                false
            }
            "import_declaration" => {
                self.import(node);
                false
            }
            "class_declaration"
            | "interface_declaration"
            | "enum_declaration"
            | "record_declaration" => {
                self.enter_class(node);
                true
            }
            "method_declaration" | "constructor_declaration"
                if self.func.is_none() && !self.classes.is_empty() =>
            {
                self.enter_method(node);
                true
            }
            "local_variable_declaration" => {
                self.local(node);
                true
            }
            "method_invocation" => {
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

impl Extractor<'_, '_> {
    fn import(&mut self, node: Node<'_>) {
        let children = named_children(node);
        let Some(name) = children
            .iter()
            .find(|n| matches!(n.kind(), "scoped_identifier" | "identifier"))
        else {
            return;
        };
        let mut target = text(*name, self.src).to_owned();
        if children.iter().any(|n| n.kind() == "asterisk") {
            target.push_str(".*");
        } else if let Some(simple) = target.rsplit('.').next() {
            self.imports.insert(simple.to_owned(), target.clone());
        }
        self.facts.imports.push(Import {
            target,
            line: line(node),
        });
    }

    /// The qualified name of a type written as `simple` in this file: imported,
    /// declared here, `java.lang`, or (the Java rule) in the same package.
    fn qualify(&self, written: &str) -> String {
        let simple = written
            .split('<')
            .next()
            .unwrap_or(written)
            .trim()
            .trim_end_matches("[]");
        let first = simple.split('.').next().unwrap_or(simple);
        if let Some(q) = self.imports.get(first) {
            return format!("{q}{}", &simple[first.len()..]);
        }
        if simple.contains('.')
            || JAVA_LANG.contains(&simple)
            || !simple.starts_with(|c: char| c.is_ascii_uppercase())
        {
            return simple.to_owned();
        }
        if let Some(local) = self.local_types.get(simple) {
            return local.clone();
        }
        if self.facts.module.is_empty() {
            simple.to_owned()
        } else {
            format!("{}.{simple}", self.facts.module)
        }
    }

    fn enter_class(&mut self, node: Node<'_>) {
        let simple = node
            .child_by_field_name("name")
            .map(|n| text(n, self.src))
            .unwrap_or_default()
            .to_owned();
        let name = match self.classes.last() {
            Some(outer) => format!("{}.{simple}", outer.info.name),
            None if self.facts.module.is_empty() => simple.clone(),
            None => format!("{}.{simple}", self.facts.module),
        };
        let mut class = Class {
            id: node.id(),
            info: ClassInfo {
                name,
                simple,
                line: line(node),
                annotations: Vec::new(),
                supertypes: Vec::new(),
                relation_fields: Vec::new(),
                repository: false,
            },
            fields: HashMap::new(),
            constants: HashMap::new(),
        };
        // Supertypes: `extends JpaRepository<Order, Long>`, `implements …`.
        for child in named_children(node) {
            if matches!(
                child.kind(),
                "superclass" | "super_interfaces" | "extends_interfaces"
            ) {
                collect_types(child, self.src, &mut class.info.supertypes);
            }
        }
        self.local_types
            .insert(class.info.simple.clone(), class.info.name.clone());
        // Fields and nested types first (one level, no descent), so calls in
        // methods know their receivers' types.
        if let Some(body) = node.child_by_field_name("body") {
            let mut members = named_children(body);
            if let Some(decls) = members
                .iter()
                .position(|m| m.kind() == "enum_body_declarations")
            {
                members = named_children(members[decls]);
            }
            for member in members {
                match member.kind() {
                    "field_declaration" | "constant_declaration" => self.field(member, &mut class),
                    "class_declaration"
                    | "interface_declaration"
                    | "enum_declaration"
                    | "record_declaration" => {
                        if let Some(n) = member.child_by_field_name("name") {
                            let simple = text(n, self.src);
                            self.local_types
                                .insert(simple.to_owned(), format!("{}.{simple}", class.info.name));
                        }
                    }
                    _ => {}
                }
            }
        }
        class.info.annotations = self.modifiers(node, Some(&class));
        // Record components are fields too.
        if let Some(params) = node.child_by_field_name("parameters") {
            for p in named_children(params) {
                if let (Some(t), Some(n)) =
                    (p.child_by_field_name("type"), p.child_by_field_name("name"))
                {
                    class
                        .fields
                        .insert(text(n, self.src).to_owned(), type_name(text(t, self.src)));
                }
            }
        }
        class.info.repository = spring::class_facts(&class.info, self.facts);
        self.classes.push(class);
    }

    fn field(&self, member: Node<'_>, class: &mut Class) {
        let Some(ty) = member.child_by_field_name("type") else {
            return;
        };
        let ty_text = text(ty, self.src);
        let annotations = self.modifiers(member, Some(class));
        let mut cursor = member.walk();
        for declarator in member.children_by_field_name("declarator", &mut cursor) {
            let Some(name) = declarator.child_by_field_name("name") else {
                continue;
            };
            let name = text(name, self.src).to_owned();
            if let Some(value) = declarator.child_by_field_name("value")
                && let Some(s) = self.eval(value, class)
                && !s.dynamic
            {
                class.constants.insert(name.clone(), s.text);
            }
            class.fields.insert(name, type_name(ty_text));
        }
        if annotations
            .iter()
            .any(|a| spring::RELATIONS.contains(&a.name.as_str()))
        {
            class
                .info
                .relation_fields
                .push(spring::element_type(ty_text));
        }
    }

    fn enter_method(&mut self, node: Node<'_>) {
        let Some(class) = self.classes.last() else {
            return;
        };
        let method = node
            .child_by_field_name("name")
            .map(|n| text(n, self.src))
            .unwrap_or_default();
        let name = format!("{}.{method}", class.info.name);
        let annotations = self.modifiers(node, Some(class));
        let has_body = node.child_by_field_name("body").is_some();
        if class.info.repository && spring::is_derived_query(&annotations, has_body) {
            return;
        }
        let index = self.facts.functions.len();
        // Constructors are never proxied, so a class-level `@Transactional` does not cover them.
        let transactional = node.kind() == "method_declaration"
            && spring::method_transactional(&annotations, &class.info.annotations);
        self.facts.functions.push(Function {
            name: name.clone(),
            line_start: line(node),
            line_end: end_line(node),
            transactional,
        });
        spring::method_facts(&name, &annotations, &class.info, self.facts);
        let mut locals = HashMap::new();
        if let Some(params) = node.child_by_field_name("parameters") {
            for p in named_children(params) {
                let ty = p.child_by_field_name("type").or_else(|| {
                    named_children(p)
                        .into_iter()
                        .find(|c| c.kind().ends_with("type"))
                });
                let name = p.child_by_field_name("name").or_else(|| {
                    named_children(p)
                        .into_iter()
                        .find(|c| c.kind() == "variable_declarator")
                        .and_then(|d| d.child_by_field_name("name"))
                });
                if let (Some(t), Some(n)) = (ty, name) {
                    locals.insert(text(n, self.src).to_owned(), type_name(text(t, self.src)));
                }
            }
        }
        self.func = Some(Func {
            id: node.id(),
            name,
            index,
            locals,
            strings: HashMap::new(),
        });
    }

    fn local(&mut self, node: Node<'_>) {
        let Some(ty) = node.child_by_field_name("type") else {
            return;
        };
        let mut cursor = node.walk();
        for declarator in node.children_by_field_name("declarator", &mut cursor) {
            let Some(name) = declarator.child_by_field_name("name") else {
                continue;
            };
            let value = declarator.child_by_field_name("value");
            let string = match (value, self.classes.last()) {
                (Some(v), Some(class)) => self.eval(v, class).filter(|s| s.literal),
                _ => None,
            };
            let Some(func) = self.func.as_mut() else {
                return;
            };
            if let Some(string) = string {
                func.strings.insert(text(name, self.src).to_owned(), string);
            }
            let mut written = text(ty, self.src);
            if written == "var"
                && let Some(value) = declarator.child_by_field_name("value")
                && value.kind() == "object_creation_expression"
                && let Some(t) = value.child_by_field_name("type")
            {
                written = text(t, self.src);
            }
            if written != "var" {
                func.locals
                    .insert(text(name, self.src).to_owned(), type_name(written));
            }
        }
    }

    /// The declared type of a variable visible here: local, parameter or field.
    fn type_of(&self, variable: &str) -> Option<&str> {
        if let Some(t) = self.func.as_ref().and_then(|f| f.locals.get(variable)) {
            return Some(t);
        }
        self.classes
            .iter()
            .rev()
            .find_map(|c| c.fields.get(variable))
            .map(String::as_str)
    }

    fn call(&mut self, node: Node<'_>) {
        let Some(func) = self.func.as_ref() else {
            return;
        };
        let from = func.name.clone();
        let method = node
            .child_by_field_name("name")
            .map(|n| text(n, self.src))
            .unwrap_or_default();
        let (to, receiver) = self.call_target(node);
        if spring::starts_transaction(&receiver, method)
            && let Some(f) = self.func.as_ref()
        {
            self.facts.functions[f.index].transactional = true;
        }
        if let Some(to) = to {
            self.facts.calls.push(Call {
                from: from.clone(),
                to,
                line: line(node),
            });
        }
        self.functional_route(node);
        // SQL handed to JdbcTemplate, JdbcClient, EntityManager, JDBC statements.
        if let Some(dialect) = spring::sql_method(method)
            && let Some(args) = node.child_by_field_name("arguments")
            && let Some(first) = named_children(args).into_iter().next()
            && let Some(class) = self.classes.last()
            && let Some(s) = self.eval(first, class)
            && s.literal
            && (spring::looks_like_query(&s.text, dialect))
        {
            self.facts.sql.push(SqlSite {
                function: Some(from),
                text: s.text.trim().to_owned(),
                line: line(first),
                dynamic: s.dynamic,
                dialect,
            });
        }
    }

    /// The function a method invocation names (qualified where the receiver's
    /// type is known), and the receiver as written or typed.
    fn call_target(&self, node: Node<'_>) -> (Option<String>, String) {
        let method = node
            .child_by_field_name("name")
            .map(|n| text(n, self.src))
            .unwrap_or_default();
        let object = node.child_by_field_name("object");
        let receiver_type = object.and_then(|o| match o.kind() {
            "identifier" => self.type_of(text(o, self.src)).map(str::to_owned),
            "field_access" => o
                .child_by_field_name("object")
                .filter(|obj| obj.kind() == "this")
                .and_then(|_| o.child_by_field_name("field"))
                .and_then(|f| {
                    self.classes
                        .last()
                        .and_then(|c| c.fields.get(text(f, self.src)))
                        .cloned()
                }),
            _ => None,
        });
        let to = match object {
            // `import static com.shop.Util.helper;` then `helper()`.
            None if self.imports.contains_key(method) => self.imports.get(method).cloned(),
            None => self
                .classes
                .last()
                .map(|c| format!("{}.{method}", c.info.name)),
            Some(o) => match (o.kind(), &receiver_type) {
                (_, Some(t)) => Some(format!("{}.{method}", self.qualify(t))),
                ("this", _) => self
                    .classes
                    .last()
                    .map(|c| format!("{}.{method}", c.info.name)),
                ("identifier", None) => Some(self.member(text(o, self.src), method)),
                ("field_access" | "scoped_identifier", None) => {
                    Some(format!("{}.{method}", text(o, self.src)))
                }
                _ => None,
            },
        };
        let receiver = receiver_type
            .or_else(|| object.map(|o| text(o, self.src).to_owned()))
            .unwrap_or_default();
        (to, receiver)
    }

    /// `Type.member` for a type name, `variable.member` for a variable of
    /// unknown type (resolved later by the receiver's name).
    fn member(&self, id: &str, member: &str) -> String {
        if id.starts_with(|c: char| c.is_ascii_uppercase()) {
            format!("{}.{member}", self.qualify(id))
        } else {
            format!("{id}.{member}")
        }
    }

    /// A WebFlux functional route declared by this invocation.
    fn functional_route(&mut self, node: Node<'_>) {
        let Some(class) = self.classes.last() else {
            return;
        };
        let string = |n: Node<'_>| self.eval(n, class).filter(|s| !s.dynamic).map(|s| s.text);
        let Some(found) = webflux::route(node, self.src, &string) else {
            return;
        };
        let handler = self.handler_name(found.handler);
        // The line of `GET` itself: a builder chain starts lines earlier.
        let at = node.child_by_field_name("name").unwrap_or(node);
        self.facts.routes.push(RouteDef {
            method: found.method,
            path: found.path,
            handler,
            line: line(at),
        });
    }

    /// The function a handler reference or lambda names: `orders::place`
    /// (`orders` an `OrderHandler`) → `com.shop.OrderHandler.place`;
    /// `req -> orders.place(req)` → the same, through its first call.
    fn handler_name(&self, handler: Node<'_>) -> String {
        if handler.kind() == "method_reference" {
            let parts = named_children(handler);
            if let (Some(object), Some(name), 2) = (parts.first(), parts.last(), parts.len()) {
                let name = text(*name, self.src);
                match object.kind() {
                    "this" => {
                        if let Some(c) = self.classes.last() {
                            return format!("{}.{name}", c.info.name);
                        }
                    }
                    "identifier" | "type_identifier" => {
                        let id = text(*object, self.src);
                        return match self.type_of(id) {
                            Some(t) => format!("{}.{name}", self.qualify(t)),
                            None => self.member(id, name),
                        };
                    }
                    _ => {}
                }
            }
        } else {
            let mut stack = vec![handler];
            while let Some(n) = stack.pop() {
                if n.kind() == "method_invocation"
                    && let (Some(to), _) = self.call_target(n)
                {
                    return to;
                }
                let mut children = named_children(n);
                children.reverse();
                stack.extend(children);
            }
        }
        text(handler, self.src).replace("::", ".")
    }

    /// Annotations among the `modifiers` child of a declaration.
    fn modifiers(&self, node: Node<'_>, class: Option<&Class>) -> Vec<Ann> {
        let Some(modifiers) = named_children(node)
            .into_iter()
            .find(|c| c.kind() == "modifiers")
        else {
            return Vec::new();
        };
        named_children(modifiers)
            .into_iter()
            .filter(|a| matches!(a.kind(), "annotation" | "marker_annotation"))
            .map(|a| {
                let name = a
                    .child_by_field_name("name")
                    .map(|n| text(n, self.src))
                    .unwrap_or_default();
                let name = name.rsplit('.').next().unwrap_or(name).to_owned();
                let mut args = Vec::new();
                if let Some(list) = a.child_by_field_name("arguments") {
                    for arg in named_children(list) {
                        if arg.kind() == "element_value_pair" {
                            let key = arg
                                .child_by_field_name("key")
                                .map(|k| text(k, self.src).to_owned());
                            if let Some(value) = arg.child_by_field_name("value") {
                                args.push(self.ann_arg(key, value, class));
                            }
                        } else if arg.kind() != "comment" {
                            args.push(self.ann_arg(None, arg, class));
                        }
                    }
                }
                Ann {
                    name,
                    args,
                    line: line(a),
                }
            })
            .collect()
    }

    fn ann_arg(&self, key: Option<String>, value: Node<'_>, class: Option<&Class>) -> AnnArg {
        let items: Vec<Node<'_>> = if value.kind() == "element_value_array_initializer" {
            named_children(value)
        } else {
            vec![value]
        };
        let mut arg = AnnArg {
            key,
            strings: Vec::new(),
            items: Vec::new(),
            dynamic: false,
        };
        for item in items {
            arg.items.push(text(item, self.src).to_owned());
            if let Some(s) = class
                .and_then(|c| self.eval(item, c))
                .or_else(|| self.eval_plain(item))
            {
                arg.dynamic |= s.dynamic;
                if s.literal {
                    arg.strings.push(s.text);
                }
            }
        }
        arg
    }

    fn eval_plain(&self, node: Node<'_>) -> Option<Str> {
        (node.kind() == "string_literal").then(|| Str {
            text: java_string(text(node, self.src)),
            dynamic: false,
            literal: true,
        })
    }

    fn constant(&self, name: &str, class: &Class) -> Option<Str> {
        class
            .constants
            .get(name)
            .or_else(|| {
                self.classes
                    .iter()
                    .rev()
                    .find_map(|c| c.constants.get(name))
            })
            .map(|v| Str {
                text: v.clone(),
                dynamic: false,
                literal: true,
            })
    }

    /// The value of a string expression: literals, `+` concatenations, constants of
    /// the class, `String.format`/`.formatted`. Unknown parts become `?` and make it dynamic.
    fn eval(&self, node: Node<'_>, class: &Class) -> Option<Str> {
        match node.kind() {
            "string_literal" => Some(Str {
                text: java_string(text(node, self.src)),
                dynamic: false,
                literal: true,
            }),
            "parenthesized_expression" => named_children(node)
                .into_iter()
                .next()
                .and_then(|n| self.eval(n, class)),
            "binary_expression" => {
                let op = node
                    .child_by_field_name("operator")
                    .map(|o| text(o, self.src))
                    .unwrap_or_default();
                if op != "+" {
                    return None;
                }
                let left = node.child_by_field_name("left")?;
                let right = node.child_by_field_name("right")?;
                let l = self.eval(left, class).unwrap_or_else(Str::unknown);
                let r = self.eval(right, class).unwrap_or_else(Str::unknown);
                if !l.literal && !r.literal {
                    return None;
                }
                Some(Str {
                    text: l.text + &r.text,
                    dynamic: l.dynamic || r.dynamic,
                    literal: true,
                })
            }
            "decimal_integer_literal" => Some(Str {
                text: text(node, self.src).to_owned(),
                dynamic: false,
                literal: false,
            }),
            "identifier" => {
                let name = text(node, self.src);
                if let Some(s) = self.func.as_ref().and_then(|f| f.strings.get(name)) {
                    return Some(Str {
                        text: s.text.clone(),
                        dynamic: s.dynamic,
                        literal: true,
                    });
                }
                self.constant(name, class)
            }
            // `RankingController.BASE`: a constant of a class of this file.
            "field_access" => {
                let field = node.child_by_field_name("field")?;
                self.constant(text(field, self.src), class)
            }
            "method_invocation" => {
                let name = node
                    .child_by_field_name("name")
                    .map(|n| text(n, self.src))
                    .unwrap_or_default();
                let object = node.child_by_field_name("object");
                let args = node
                    .child_by_field_name("arguments")
                    .map(named_children)
                    .unwrap_or_default();
                let format = match (name, object) {
                    ("format", Some(o)) if text(o, self.src) == "String" => args.first().copied(),
                    ("formatted", Some(o)) => Some(o),
                    _ => None,
                }?;
                let s = self.eval(format, class)?;
                Some(Str {
                    text: s.text,
                    dynamic: true,
                    literal: s.literal,
                })
            }
            _ => None,
        }
    }
}

/// A string value known at analysis time, possibly with unknown parts.
pub(super) struct Str {
    pub(super) text: String,
    /// Some part is only known at run time.
    pub(super) dynamic: bool,
    /// Some part is a literal (a site with no literal text at all is not reported).
    pub(super) literal: bool,
}

impl Str {
    pub(super) fn unknown() -> Str {
        Str {
            text: crate::sql::DYNAMIC.to_owned(),
            dynamic: true,
            literal: false,
        }
    }
}

/// `java.lang` types, never qualified with the file's package.
const JAVA_LANG: [&str; 14] = [
    "String",
    "Object",
    "Integer",
    "Long",
    "Boolean",
    "Double",
    "Math",
    "System",
    "Thread",
    "StringBuilder",
    "Character",
    "Byte",
    "Short",
    "Float",
];

/// The type name without generics or array brackets: `List<Order>` → `List`.
fn type_name(written: &str) -> String {
    written
        .split('<')
        .next()
        .unwrap_or(written)
        .trim()
        .trim_end_matches("[]")
        .trim()
        .to_owned()
}

/// Supertypes below `node` (`superclass`, `super_interfaces`, `extends_interfaces`), as written.
fn collect_types(node: Node<'_>, src: &str, out: &mut Vec<String>) {
    for child in named_children(node) {
        match child.kind() {
            "type_list" => collect_types(child, src, out),
            "type_identifier" | "generic_type" | "scoped_type_identifier" => {
                out.push(text(child, src).to_owned())
            }
            _ => {}
        }
    }
}

/// The content of a Java string literal or text block, escapes resolved.
pub(super) fn java_string(raw: &str) -> String {
    if let Some(block) = raw.strip_prefix("\"\"\"") {
        let block = block.strip_suffix("\"\"\"").unwrap_or(block);
        let lines: Vec<&str> = block
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        return unescape(&lines.join("\n"));
    }
    let inner = raw
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or(raw);
    unescape(inner)
}

/// Resolves backslash escapes (`\n`, `\t`, `\"`, `\\`, `\'`); a trailing `\` at a
/// text block's line end joins lines.
pub(super) fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => {}
            Some('\n') => out.push(' '),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}
