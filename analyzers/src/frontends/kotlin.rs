//! Kotlin (Spring MVC/WebFlux, JPA, Spring Data, JdbcTemplate): the Spring rules of
//! the Java frontend over the tree-sitter-kotlin-ng grammar; the WebFlux router
//! DSL (`coRouter { GET("/x", handler::get) }`) is read by [`router_dsl`].

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;

use tree_sitter::{Node, Parser};

mod router_dsl;

use super::java::spring::{self, Ann, AnnArg, ClassInfo};
use super::java::{Str, unescape};
use super::{
    Frontend, Visitor, end_line, extension, leave_scope, line, named_children, parse, start_facts,
    text, walk,
};
use crate::facts::{Call, FileFacts, Function, Import, Language, RouteDef, SqlSite};

thread_local! {
    static PARSER: RefCell<Parser> = super::new_parser(tree_sitter_kotlin_ng::LANGUAGE.into());
}

#[derive(Debug)]
pub(crate) struct Kotlin;

impl Frontend for Kotlin {
    fn accepts(&self, path: &Path) -> bool {
        extension(path) == "kt"
    }

    fn extract(&self, relative: &str, source: &str) -> FileFacts {
        // The module is the package, read from the tree.
        let mut facts = start_facts(relative, source, Language::Kotlin, String::new());
        let Some(tree) = parse(&PARSER, source) else {
            return facts;
        };
        let mut extractor = Extractor {
            src: source,
            facts: &mut facts,
            imports: HashMap::new(),
            classes: Vec::new(),
            constants: HashMap::new(),
            func: None,
        };
        walk(&mut tree.walk(), &mut extractor);
        facts
    }
}

impl_scope!(Class, Func);

struct Class {
    id: usize,
    info: ClassInfo,
    fields: HashMap<String, String>,
}

struct Func {
    id: usize,
    name: String,
    index: usize,
    locals: HashMap<String, String>,
}

struct Extractor<'s, 'f> {
    src: &'s str,
    facts: &'f mut FileFacts,
    imports: HashMap<String, String>,
    classes: Vec<Class>,
    /// `const val X = "…"` anywhere in the file.
    constants: HashMap<String, String>,
    func: Option<Func>,
}

impl<'t> Visitor<'t> for Extractor<'_, '_> {
    fn enter(&mut self, node: Node<'t>) -> bool {
        match node.kind() {
            "package_header" => {
                if let Some(name) = named_children(node)
                    .into_iter()
                    .find(|n| n.kind().contains("identifier"))
                {
                    self.facts.module = text(name, self.src).to_owned();
                }
                false
            }
            "import" => {
                self.import(node);
                false
            }
            "class_declaration" | "object_declaration" => {
                self.enter_class(node);
                true
            }
            "function_declaration" if self.func.is_none() => {
                self.enter_function(node);
                true
            }
            "property_declaration" => {
                self.property(node);
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

impl Extractor<'_, '_> {
    fn import(&mut self, node: Node<'_>) {
        let children = named_children(node);
        let Some(name) = children.iter().find(|n| n.kind() == "qualified_identifier") else {
            return;
        };
        let target = text(*name, self.src).to_owned();
        let all = text(node, self.src).trim_end().ends_with('*');
        if !all {
            let alias = children
                .iter()
                .rfind(|n| n.kind() == "identifier")
                .map(|n| text(*n, self.src));
            let simple = alias
                .or_else(|| target.rsplit('.').next())
                .unwrap_or_default();
            self.imports.insert(simple.to_owned(), target.clone());
        }
        let target = if all { format!("{target}.*") } else { target };
        self.facts.imports.push(Import {
            target,
            line: line(node),
        });
    }

    fn qualify(&self, written: &str) -> String {
        let simple = type_name(written);
        let first = simple.split('.').next().unwrap_or(&simple).to_owned();
        if let Some(q) = self.imports.get(&first) {
            return format!("{q}{}", &simple[first.len()..]);
        }
        if simple.contains('.')
            || KOTLIN_BUILTINS.contains(&simple.as_str())
            || !simple.starts_with(|c: char| c.is_ascii_uppercase())
        {
            return simple;
        }
        if let Some(class) = self.classes.iter().rev().find(|c| c.info.simple == simple) {
            return class.info.name.clone();
        }
        if self.facts.module.is_empty() {
            simple
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
                annotations: self.class_annotations(node),
                supertypes: Vec::new(),
                relation_fields: Vec::new(),
                repository: false,
            },
            fields: HashMap::new(),
        };
        for child in named_children(node) {
            match child.kind() {
                "delegation_specifiers" => {
                    for spec in named_children(child) {
                        for ty in named_children(spec) {
                            let ty = if ty.kind() == "constructor_invocation" {
                                named_children(ty).into_iter().next().unwrap_or(ty)
                            } else {
                                ty
                            };
                            if ty.kind() == "user_type" {
                                class.info.supertypes.push(compact(text(ty, self.src)));
                            }
                        }
                    }
                }
                "primary_constructor" => {
                    for params in named_children(child)
                        .into_iter()
                        .filter(|p| p.kind() == "class_parameters")
                    {
                        for param in named_children(params) {
                            let annotations = self.modifiers(param);
                            let children = named_children(param);
                            let name = children.iter().find(|c| c.kind() == "identifier");
                            let ty = children.iter().find(|c| c.kind().ends_with("_type"));
                            if let (Some(n), Some(t)) = (name, ty) {
                                self.field(
                                    &mut class,
                                    text(*n, self.src),
                                    text(*t, self.src),
                                    &annotations,
                                );
                            }
                        }
                    }
                }
                "class_body" => {
                    for member in named_children(child) {
                        if member.kind() == "property_declaration" {
                            let annotations = self.modifiers(member);
                            if let Some(var) = named_children(member)
                                .into_iter()
                                .find(|c| c.kind() == "variable_declaration")
                            {
                                let children = named_children(var);
                                let name = children.iter().find(|c| c.kind() == "identifier");
                                let ty = children.iter().find(|c| c.kind().ends_with("_type"));
                                if let (Some(n), Some(t)) = (name, ty) {
                                    self.field(
                                        &mut class,
                                        text(*n, self.src),
                                        text(*t, self.src),
                                        &annotations,
                                    );
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        class.info.repository = spring::class_facts(&class.info, self.facts);
        self.classes.push(class);
    }

    fn field(&self, class: &mut Class, name: &str, ty: &str, annotations: &[Ann]) {
        class.fields.insert(name.to_owned(), type_name(ty));
        if annotations
            .iter()
            .any(|a| spring::RELATIONS.contains(&a.name.as_str()))
        {
            class
                .info
                .relation_fields
                .push(spring::element_type(&compact(ty)));
        }
    }

    fn enter_function(&mut self, node: Node<'_>) {
        let method = node
            .child_by_field_name("name")
            .map(|n| text(n, self.src))
            .unwrap_or_default();
        let owner = self
            .classes
            .last()
            .map(|c| c.info.name.clone())
            .unwrap_or_else(|| self.facts.module.clone());
        let name = if owner.is_empty() {
            method.to_owned()
        } else {
            format!("{owner}.{method}")
        };
        let annotations = self.modifiers(node);
        let has_body = named_children(node)
            .iter()
            .any(|c| c.kind() == "function_body");
        if self.classes.last().is_some_and(|c| c.info.repository)
            && spring::is_derived_query(&annotations, has_body)
        {
            return;
        }
        let index = self.facts.functions.len();
        let class_annotations: &[Ann] = self
            .classes
            .last()
            .map(|c| c.info.annotations.as_slice())
            .unwrap_or_default();
        self.facts.functions.push(Function {
            name: name.clone(),
            line_start: line(node),
            line_end: end_line(node),
            transactional: spring::method_transactional(&annotations, class_annotations),
        });
        if let Some(class) = self.classes.last() {
            spring::method_facts(&name, &annotations, &class.info, self.facts);
        }
        let mut locals = HashMap::new();
        for params in named_children(node)
            .into_iter()
            .filter(|c| c.kind() == "function_value_parameters")
        {
            for p in named_children(params)
                .into_iter()
                .filter(|p| p.kind() == "parameter")
            {
                let children = named_children(p);
                let n = children.iter().find(|c| c.kind() == "identifier");
                let t = children.iter().find(|c| c.kind().ends_with("_type"));
                if let (Some(n), Some(t)) = (n, t) {
                    locals.insert(text(*n, self.src).to_owned(), type_name(text(*t, self.src)));
                }
            }
        }
        self.func = Some(Func {
            id: node.id(),
            name,
            index,
            locals,
        });
    }

    /// `const val` constants anywhere; typed locals inside functions.
    fn property(&mut self, node: Node<'_>) {
        let children = named_children(node);
        let Some(var) = children.iter().find(|c| c.kind() == "variable_declaration") else {
            return;
        };
        let var_children = named_children(*var);
        let Some(name) = var_children
            .iter()
            .find(|c| c.kind() == "identifier")
            .map(|n| text(*n, self.src).to_owned())
        else {
            return;
        };
        let is_const = text(node, self.src).trim_start().starts_with("const")
            || children
                .iter()
                .any(|c| c.kind() == "modifiers" && text(*c, self.src).contains("const"));
        if is_const
            && let Some(value) = children
                .iter()
                .rev()
                .find(|c| c.kind().contains("string_literal") || c.kind() == "binary_expression")
            && let Some(s) = self.eval(*value)
            && !s.dynamic
        {
            self.constants.insert(name.clone(), s.text);
        }
        if let Some(func) = self.func.as_mut() {
            let ty = var_children
                .iter()
                .find(|c| c.kind().ends_with("_type"))
                .map(|t| text(*t, self.src))
                .or_else(|| {
                    // `val order = Order(…)`: a constructor call names the type.
                    children
                        .iter()
                        .rev()
                        .find(|c| c.kind() == "call_expression")
                        .and_then(|call| {
                            named_children(*call)
                                .into_iter()
                                .next()
                                .filter(|c| c.kind() == "identifier")
                                .map(|c| text(c, self.src))
                        })
                        .filter(|t| t.starts_with(|c: char| c.is_ascii_uppercase()))
                });
            if let Some(ty) = ty {
                func.locals.insert(name, type_name(ty));
            }
        }
    }

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
        self.dsl_route(node);
        let children = named_children(node);
        let Some((to, receiver, method)) = self.call_target(node) else {
            return;
        };
        if spring::starts_transaction(&receiver, &method)
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
        if let Some(dialect) = spring::sql_method(&method)
            && let Some(args) = children.iter().find(|c| c.kind() == "value_arguments")
            && let Some(first) = named_children(*args).into_iter().next()
            && let Some(value) = named_children(first).into_iter().last()
            && let Some(s) = self.eval(value)
            && s.literal
            && spring::looks_like_query(&s.text, dialect)
        {
            self.facts.sql.push(SqlSite {
                function: Some(from),
                text: s.text.trim().to_owned(),
                line: line(value),
                dynamic: s.dynamic,
                dialect,
            });
        }
    }

    /// The function a call names (qualified where the receiver's type is
    /// known), the receiver as typed or written, and the method name; `None`
    /// when the callee is neither a name nor `receiver.name`.
    fn call_target(&self, node: Node<'_>) -> Option<(Option<String>, String, String)> {
        let callee = named_children(node).into_iter().next()?;
        let (object, method) = match callee.kind() {
            "identifier" => (None, text(callee, self.src)),
            "navigation_expression" => {
                let parts = named_children(callee);
                match (parts.first(), parts.last()) {
                    (Some(o), Some(m)) if parts.len() >= 2 && m.kind() == "identifier" => {
                        (Some(*o), text(*m, self.src))
                    }
                    _ => return None,
                }
            }
            _ => return None,
        };
        let receiver_type = object.and_then(|o| match o.kind() {
            "identifier" => self.type_of(text(o, self.src)).map(str::to_owned),
            "navigation_expression" => {
                let parts = named_children(o);
                match (parts.first(), parts.last()) {
                    (Some(this), Some(field)) if this.kind() == "this_expression" => self
                        .classes
                        .last()
                        .and_then(|c| c.fields.get(text(*field, self.src)))
                        .cloned(),
                    _ => None,
                }
            }
            _ => None,
        });
        let own = |c: &Class| format!("{}.{method}", c.info.name);
        let to = match object {
            // `Order(…)` constructs; `place(…)` calls a method of this class or a top-level function.
            None if method.starts_with(|c: char| c.is_ascii_uppercase()) => None,
            None => self
                .classes
                .last()
                .map(own)
                .or_else(|| Some(self.qualify_function(method))),
            Some(o) => match (o.kind(), &receiver_type) {
                (_, Some(t)) => Some(format!("{}.{method}", self.qualify(t))),
                ("this_expression", _) => self.classes.last().map(own),
                ("identifier", None) => Some(self.member(text(o, self.src), method)),
                ("navigation_expression", None) => {
                    Some(format!("{}.{method}", compact(text(o, self.src))))
                }
                _ => None,
            },
        };
        let receiver = receiver_type
            .or_else(|| object.map(|o| text(o, self.src).to_owned()))
            .unwrap_or_default();
        Some((to, receiver, method.to_owned()))
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

    /// A route of the WebFlux router DSL declared by this call.
    fn dsl_route(&mut self, node: Node<'_>) {
        let string = |n: Node<'_>| self.eval(n).filter(|s| !s.dynamic).map(|s| s.text);
        let Some(found) = router_dsl::route(node, self.src, &string) else {
            return;
        };
        let handler = self.handler_name(found.handler);
        self.facts.routes.push(RouteDef {
            method: found.method,
            path: found.path,
            handler,
            line: line(node),
        });
    }

    /// The function a handler names: `orders::place` (`orders` an
    /// `OrderHandler`) → `com.shop.OrderHandler.place`; a trailing lambda
    /// `{ orders.place(it) }` → the same, through its first call.
    fn handler_name(&self, handler: Node<'_>) -> String {
        if handler.kind() == "annotated_lambda" {
            let mut stack = vec![handler];
            while let Some(n) = stack.pop() {
                if n.kind() == "call_expression"
                    && let Some((Some(to), _, _)) = self.call_target(n)
                {
                    return to;
                }
                let mut children = named_children(n);
                children.reverse();
                stack.extend(children);
            }
        } else {
            let parts = named_children(handler);
            if let Some(name) = parts.last().map(|n| text(*n, self.src)) {
                match parts.first().map(|p| p.kind()) {
                    Some("this_expression") | None => {}
                    Some("identifier") if parts.len() == 2 => {
                        let id = text(parts[0], self.src);
                        return match self.type_of(id) {
                            Some(t) => format!("{}.{name}", self.qualify(t)),
                            None => self.member(id, name),
                        };
                    }
                    Some(_) if parts.len() == 1 => {}
                    Some(_) => return compact(text(handler, self.src)).replace("::", "."),
                }
                // `this::get`, `::get`: a function of this class, else of the file.
                return match self.classes.last() {
                    Some(c) => format!("{}.{name}", c.info.name),
                    None => self.qualify_function(name),
                };
            }
        }
        compact(text(handler, self.src)).replace("::", ".")
    }

    fn qualify_function(&self, name: &str) -> String {
        if let Some(q) = self.imports.get(name) {
            return q.clone();
        }
        if self.facts.module.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.facts.module)
        }
    }

    /// A class's annotations. The grammar sometimes reads annotations written
    /// before a top-level class as an annotated expression statement of their own
    /// (`@RestController @RequestMapping("/x")` then `class …`); they are recovered
    /// from that statement's text.
    fn class_annotations(&self, node: Node<'_>) -> Vec<Ann> {
        let annotations = self.modifiers(node);
        if !annotations.is_empty() {
            return annotations;
        }
        match node.prev_named_sibling() {
            Some(prev)
                if matches!(prev.kind(), "annotated_expression" | "ERROR")
                    && text(prev, self.src).trim_start().starts_with('@')
                    && prev.end_position().row + 1 >= node.start_position().row =>
            {
                annotations_from_text(text(prev, self.src), line(prev))
            }
            _ => annotations,
        }
    }

    fn modifiers(&self, node: Node<'_>) -> Vec<Ann> {
        let Some(modifiers) = named_children(node)
            .into_iter()
            .find(|c| c.kind() == "modifiers")
        else {
            return Vec::new();
        };
        named_children(modifiers)
            .into_iter()
            .filter(|a| a.kind() == "annotation")
            .filter_map(|a| {
                let children = named_children(a);
                let (ty, args) = match children
                    .iter()
                    .find(|c| c.kind() == "user_type" || c.kind() == "constructor_invocation")
                {
                    Some(c) if c.kind() == "constructor_invocation" => {
                        let parts = named_children(*c);
                        (
                            parts.first().copied()?,
                            parts
                                .iter()
                                .find(|p| p.kind() == "value_arguments")
                                .copied(),
                        )
                    }
                    Some(c) => (*c, None),
                    None => return None,
                };
                let name = text(ty, self.src);
                let name = name.rsplit('.').next().unwrap_or(name).to_owned();
                let mut parsed = Vec::new();
                for arg in args.map(named_children).unwrap_or_default() {
                    let parts = named_children(arg);
                    let (key, value) = match parts.as_slice() {
                        [k, v, ..] if k.kind() == "identifier" => {
                            (Some(text(*k, self.src).to_owned()), *v)
                        }
                        [v] => (None, *v),
                        _ => continue,
                    };
                    parsed.push(self.ann_arg(key, value));
                }
                Some(Ann {
                    name,
                    args: parsed,
                    line: line(a),
                })
            })
            .collect()
    }

    fn ann_arg(&self, key: Option<String>, value: Node<'_>) -> AnnArg {
        let items = if value.kind() == "collection_literal" {
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
            if let Some(s) = self.eval(item) {
                arg.dynamic |= s.dynamic;
                if s.literal {
                    arg.strings.push(s.text);
                }
            }
        }
        arg
    }

    /// The value of a string expression; `$x`/`${…}` templates are dynamic.
    fn eval(&self, node: Node<'_>) -> Option<Str> {
        match node.kind() {
            "string_literal" | "multiline_string_literal" => {
                let mut s = Str {
                    text: String::new(),
                    dynamic: false,
                    literal: true,
                };
                let mut after_dollar = false;
                for part in named_children(node) {
                    match part.kind() {
                        "string_content" | "escape_sequence" => {
                            let mut content = text(part, self.src);
                            if content == "$" {
                                after_dollar = true;
                                s.dynamic = true;
                                s.text.push_str(crate::sql::DYNAMIC);
                                continue;
                            }
                            if after_dollar {
                                content = content
                                    .trim_start_matches(|c: char| c.is_alphanumeric() || c == '_');
                                after_dollar = false;
                            }
                            if part.kind() == "escape_sequence" {
                                s.text.push_str(&unescape(content));
                            } else {
                                s.text.push_str(content);
                            }
                        }
                        "interpolation" => {
                            s.dynamic = true;
                            s.text.push_str(crate::sql::DYNAMIC);
                        }
                        _ => {}
                    }
                }
                if node.kind() == "multiline_string_literal" {
                    let lines: Vec<&str> = s
                        .text
                        .lines()
                        .map(|l| l.trim().trim_start_matches('|'))
                        .filter(|l| !l.trim().is_empty())
                        .collect();
                    s.text = lines.join("\n");
                }
                Some(s)
            }
            "parenthesized_expression" => named_children(node)
                .into_iter()
                .next()
                .and_then(|n| self.eval(n)),
            "binary_expression" => {
                let (l, r) = (
                    node.child_by_field_name("left")?,
                    node.child_by_field_name("right")?,
                );
                let op = node
                    .child_by_field_name("operator")
                    .map(|o| text(o, self.src));
                if op.is_some_and(|o| o != "+") {
                    return None;
                }
                let l = self.eval(l).unwrap_or_else(Str::unknown);
                let r = self.eval(r).unwrap_or_else(Str::unknown);
                (l.literal || r.literal).then(|| Str {
                    text: l.text + &r.text,
                    dynamic: l.dynamic || r.dynamic,
                    literal: true,
                })
            }
            "identifier" => self.constants.get(text(node, self.src)).map(|v| Str {
                text: v.clone(),
                dynamic: false,
                literal: true,
            }),
            // `"""…""".trimIndent()`
            "call_expression" => {
                let callee = named_children(node).into_iter().next()?;
                let parts = named_children(callee);
                match (parts.first(), parts.last()) {
                    (Some(receiver), Some(m))
                        if callee.kind() == "navigation_expression"
                            && matches!(text(*m, self.src), "trimIndent" | "trimMargin") =>
                    {
                        self.eval(*receiver)
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

/// Annotations parsed from text: `@A @B("x") @C(name = "t", value = ["/a", "/b"])`.
fn annotations_from_text(written: &str, first_line: usize) -> Vec<Ann> {
    let mut out = Vec::new();
    let chars: Vec<char> = written.chars().collect();
    let mut i = 0;
    let mut line = first_line;
    while i < chars.len() {
        match chars[i] {
            '\n' => line += 1,
            '@' => {
                let start = i + 1;
                let mut j = start;
                while j < chars.len()
                    && (chars[j].is_alphanumeric()
                        || chars[j] == '_'
                        || chars[j] == '.'
                        || chars[j] == ':')
                {
                    j += 1;
                }
                let name: String = chars[start..j].iter().collect();
                let name = name
                    .rsplit(['.', ':'])
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                let mut args = Vec::new();
                if chars.get(j) == Some(&'(') {
                    let close = super::skip_group(&chars, j);
                    let inner: String = chars
                        .get(j + 1..close.saturating_sub(1))
                        .unwrap_or_default()
                        .iter()
                        .collect();
                    args = split_top_level(&inner)
                        .into_iter()
                        .map(|arg| text_arg(&arg))
                        .collect();
                    j = close;
                }
                out.push(Ann { name, args, line });
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// Splits at commas outside quotes, brackets and parentheses.
fn split_top_level(s: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut quoted = false;
    let mut current = String::new();
    for c in s.chars() {
        match c {
            '"' => quoted = !quoted,
            '(' | '[' | '{' if !quoted => depth += 1,
            ')' | ']' | '}' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    if !current.trim().is_empty() {
        parts.push(current);
    }
    parts
}

fn text_arg(arg: &str) -> AnnArg {
    let (key, value) = match arg.split_once('=') {
        Some((k, v)) if !k.contains('"') => (Some(k.trim().to_owned()), v.trim()),
        _ => (None, arg.trim()),
    };
    let inner = value
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .unwrap_or(value);
    let items: Vec<String> = split_top_level(inner)
        .into_iter()
        .map(|i| i.trim().to_owned())
        .collect();
    let strings = items
        .iter()
        .filter_map(|i| i.strip_prefix('"').and_then(|i| i.strip_suffix('"')))
        .map(unescape)
        .collect();
    AnnArg {
        key,
        strings,
        items,
        dynamic: false,
    }
}

/// Kotlin types never qualified with the file's package.
const KOTLIN_BUILTINS: [&str; 12] = [
    "String",
    "Any",
    "Int",
    "Long",
    "Boolean",
    "Double",
    "List",
    "Map",
    "Set",
    "MutableList",
    "Unit",
    "Pair",
];

/// A type without generics or nullability: `List<Order>?` → `List`.
fn type_name(written: &str) -> String {
    written
        .split('<')
        .next()
        .unwrap_or(written)
        .trim()
        .trim_end_matches('?')
        .trim()
        .to_owned()
}

/// Text without whitespace (types written over several lines).
fn compact(written: &str) -> String {
    written
        .split_whitespace()
        .collect::<Vec<_>>()
        .join("")
        .replace(',', ", ")
}
