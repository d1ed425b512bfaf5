//! MyBatis XML mappers: `<mapper namespace="…">` with `<select|insert|update|delete id="…">`.
//! Each statement becomes a function `namespace.id` (so calls through the Java
//! mapper interface resolve) and a [`SqlSite`] whose text has the dynamic tags
//! flattened: one branch of `<if>`/`<choose>`, one iteration of `<foreach>`,
//! `<where>`/`<set>`/`<trim>` applied, `<include refid>` inlined.

use std::collections::HashMap;
use std::path::Path;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use super::super::{Frontend, extension, non_blank_lines};
use super::spring::mybatis_params;
use crate::facts::{FileFacts, Function, Language, SqlDialect, SqlSite};

#[derive(Debug)]
pub(crate) struct MyBatis;

impl Frontend for MyBatis {
    fn accepts(&self, path: &Path) -> bool {
        extension(path) == "xml"
    }

    fn extract(&self, relative: &str, source: &str) -> FileFacts {
        let mut facts = FileFacts {
            path: relative.to_owned(),
            language: Language::Xml,
            lines: non_blank_lines(source),
            ..FileFacts::default()
        };
        // Most XML files (build files, Spring contexts) are not mappers: skip them cheaply.
        if !source.contains("<mapper") {
            return facts;
        }
        let Some(root) = parse(source) else {
            return facts;
        };
        let Some(mapper) = find(&root, "mapper") else {
            return facts;
        };
        let namespace = mapper.attr("namespace").unwrap_or_default().to_owned();
        // The mapper interface's package, so its SQL sits with the Java code that calls it.
        facts.module = namespace
            .rsplit_once('.')
            .map_or(namespace.as_str(), |(package, _)| package)
            .to_owned();
        let fragments: HashMap<&str, &Element> = mapper
            .children
            .iter()
            .filter_map(|c| match c {
                XmlNode::Element(e) if e.name == "sql" => e.attr("id").map(|id| (id, e)),
                _ => None,
            })
            .collect();
        for child in &mapper.children {
            let XmlNode::Element(statement) = child else {
                continue;
            };
            if !matches!(
                statement.name.as_str(),
                "select" | "insert" | "update" | "delete"
            ) {
                continue;
            }
            let Some(id) = statement.attr("id") else {
                continue;
            };
            let name = if namespace.is_empty() {
                id.to_owned()
            } else {
                format!("{namespace}.{id}")
            };
            let mut sql = String::new();
            flatten(statement, &fragments, &mut sql, 0);
            let (text, dynamic) = mybatis_params(&collapse_whitespace(&sql));
            facts.functions.push(Function {
                name: name.clone(),
                line_start: statement.line,
                line_end: statement.end_line,
                transactional: false,
            });
            facts.sql.push(SqlSite {
                function: Some(name),
                text,
                line: statement.line,
                dynamic,
                dialect: SqlDialect::Sql,
            });
        }
        facts
    }
}

#[derive(Debug)]
enum XmlNode {
    Element(Element),
    Text(String),
}

#[derive(Debug, Default)]
struct Element {
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<XmlNode>,
    line: usize,
    end_line: usize,
}

impl Element {
    fn attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn find<'e>(element: &'e Element, name: &str) -> Option<&'e Element> {
    if element.name == name {
        return Some(element);
    }
    element.children.iter().find_map(|c| match c {
        XmlNode::Element(e) => find(e, name),
        XmlNode::Text(_) => None,
    })
}

/// A small DOM of the file; `None` when the XML is malformed before any mapper was read.
fn parse(source: &str) -> Option<Element> {
    let mut reader = Reader::from_str(source);
    let mut stack = vec![Element::default()];
    let mut line = 1;
    let mut seen = 0;
    let mut line_at = |pos: usize| {
        let pos = pos.min(source.len());
        if pos > seen {
            line += source.as_bytes()[seen..pos]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            seen = pos;
        }
        line
    };
    loop {
        let start = reader.buffer_position() as usize;
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(_) => break,
        };
        match event {
            Event::Start(tag) => {
                let line = line_at(start + leading_space(&source[start.min(source.len())..]));
                stack.push(element(&tag, line));
            }
            Event::Empty(tag) => {
                let line = line_at(start + leading_space(&source[start.min(source.len())..]));
                let mut e = element(&tag, line);
                e.end_line = line;
                push(&mut stack, XmlNode::Element(e));
            }
            Event::End(_) => {
                let end = line_at(reader.buffer_position() as usize);
                if stack.len() > 1
                    && let Some(mut e) = stack.pop()
                {
                    e.end_line = end;
                    push(&mut stack, XmlNode::Element(e));
                }
            }
            Event::Text(t) => push(&mut stack, XmlNode::Text(t.xml10_content().into_owned())),
            Event::CData(t) => push(&mut stack, XmlNode::Text(t.xml10_content().into_owned())),
            Event::GeneralRef(r) => {
                let resolved = match &*r {
                    "lt" => "<".to_owned(),
                    "gt" => ">".to_owned(),
                    "amp" => "&".to_owned(),
                    "quot" => "\"".to_owned(),
                    "apos" => "'".to_owned(),
                    _ => r
                        .resolve_char_ref()
                        .ok()
                        .flatten()
                        .map(String::from)
                        .unwrap_or_default(),
                };
                push(&mut stack, XmlNode::Text(resolved));
            }
            Event::Eof => break,
            _ => {}
        }
    }
    // Close whatever a truncated file left open.
    while stack.len() > 1 {
        if let Some(e) = stack.pop() {
            push(&mut stack, XmlNode::Element(e));
        }
    }
    stack.pop()
}

fn leading_space(s: &str) -> usize {
    s.len() - s.trim_start().len()
}

fn element(tag: &BytesStart<'_>, line: usize) -> Element {
    let name = tag.local_name().as_ref().to_owned();
    let attrs = tag
        .attributes()
        .flatten()
        .map(|a| {
            let key = a.key.as_ref().to_owned();
            let value = a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map(|v| v.into_owned())
                .unwrap_or_default();
            (key, value)
        })
        .collect();
    Element {
        name,
        attrs,
        children: Vec::new(),
        line,
        end_line: line,
    }
}

fn push(stack: &mut [Element], node: XmlNode) {
    if let Some(top) = stack.last_mut() {
        top.children.push(node);
    }
}

/// Appends the SQL of `element`'s children to `out`, applying MyBatis' dynamic tags.
fn flatten(element: &Element, fragments: &HashMap<&str, &Element>, out: &mut String, depth: usize) {
    if depth > 16 {
        return;
    }
    for child in &element.children {
        match child {
            XmlNode::Text(t) => out.push_str(t),
            XmlNode::Element(e) => {
                out.push(' ');
                match e.name.as_str() {
                    "include" => {
                        if let Some(fragment) = e
                            .attr("refid")
                            .and_then(|r| fragments.get(r.rsplit('.').next().unwrap_or(r)))
                        {
                            flatten(fragment, fragments, out, depth + 1);
                        }
                    }
                    "where" => {
                        let inner = inner_sql(e, fragments, depth);
                        if !inner.is_empty() {
                            out.push_str("WHERE ");
                            out.push_str(strip_prefixes(&inner, &["AND ", "OR "]));
                        }
                    }
                    "set" => {
                        let inner = inner_sql(e, fragments, depth);
                        if !inner.is_empty() {
                            out.push_str("SET ");
                            out.push_str(inner.trim_end_matches(',').trim_end());
                        }
                    }
                    "trim" => {
                        let inner = inner_sql(e, fragments, depth);
                        if !inner.is_empty() {
                            let prefixes: Vec<String> = e
                                .attr("prefixOverrides")
                                .unwrap_or_default()
                                .split('|')
                                .map(|p| p.trim().to_owned())
                                .collect();
                            let prefixes: Vec<&str> = prefixes
                                .iter()
                                .map(String::as_str)
                                .filter(|p| !p.is_empty())
                                .collect();
                            let mut body = strip_prefixes(&inner, &prefixes).to_owned();
                            for suffix in e
                                .attr("suffixOverrides")
                                .unwrap_or_default()
                                .split('|')
                                .map(str::trim)
                            {
                                if !suffix.is_empty() && body.ends_with(suffix) {
                                    body.truncate(body.len() - suffix.len());
                                }
                            }
                            out.push_str(e.attr("prefix").unwrap_or_default());
                            out.push(' ');
                            out.push_str(body.trim());
                            out.push(' ');
                            out.push_str(e.attr("suffix").unwrap_or_default());
                        }
                    }
                    "foreach" => {
                        // One iteration stands for all.
                        out.push_str(e.attr("open").unwrap_or_default());
                        out.push_str(&inner_sql(e, fragments, depth));
                        out.push_str(e.attr("close").unwrap_or_default());
                    }
                    "choose" => {
                        // The first branch stands for the others.
                        if let Some(branch) = e.children.iter().find_map(|c| match c {
                            XmlNode::Element(b) if b.name == "when" || b.name == "otherwise" => {
                                Some(b)
                            }
                            _ => None,
                        }) {
                            flatten(branch, fragments, out, depth + 1);
                        }
                    }
                    "selectKey" | "bind" => {}
                    // `if`, `when`, `otherwise` and unknown tags: their content.
                    _ => flatten(e, fragments, out, depth + 1),
                }
                out.push(' ');
            }
        }
    }
}

fn inner_sql(element: &Element, fragments: &HashMap<&str, &Element>, depth: usize) -> String {
    let mut inner = String::new();
    flatten(element, fragments, &mut inner, depth + 1);
    collapse_whitespace(&inner)
}

/// Removes one leading keyword among `prefixes`, case-insensitively.
fn strip_prefixes<'a>(text: &'a str, prefixes: &[&str]) -> &'a str {
    let trimmed = text.trim_start();
    for prefix in prefixes {
        let p = prefix.trim();
        if trimmed.len() > p.len()
            && trimmed
                .get(..p.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(p))
            && trimmed[p.len()..].starts_with(|c: char| c.is_whitespace() || c == '(')
        {
            return trimmed[p.len()..].trim_start();
        }
    }
    trimmed
}

fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
