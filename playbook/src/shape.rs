//! Stage one and a half: when the YAML does not fit the playbook's types,
//! find *every* misfit at once. The typed parser stops at the first unknown
//! field or wrong type; this walks the YAML's own tree against the published
//! JSON Schema ([`crate::schema`], generated from the same types) and lists
//! each unknown field, wrong type and missing field with its line. It also
//! gives the text with those entries blanked out (lines kept), so the rules
//! can still be checked on everything else in the same run.

use serde_json::Value;
use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle};

/// A misfit: where, which field, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Misfit {
    pub(crate) line: usize,
    pub(crate) field: String,
    pub(crate) message: String,
}

/// What the scan found.
#[derive(Debug)]
pub(crate) struct Scan {
    pub(crate) misfits: Vec<Misfit>,
    /// The text with each misfit's mapping entry blanked out, newlines kept.
    pub(crate) rest: String,
    /// The keys of the entries blanked out, whose absence is then no news.
    pub(crate) blanked: Vec<String>,
}

/// A YAML node, with where it starts and ends (char indices).
#[derive(Debug)]
enum Node {
    Scalar {
        text: String,
        quoted: bool,
        line: usize,
    },
    Seq {
        items: Vec<Node>,
        line: usize,
    },
    Map {
        entries: Vec<Entry>,
        line: usize,
    },
    /// An alias: whatever it points at, not checked again.
    Alias {
        line: usize,
    },
}

#[derive(Debug)]
struct Entry {
    key: String,
    line: usize,
    /// From the key's first char to the value's end.
    span: (usize, usize),
    value: Node,
}

/// The kind of value a node is, as a YAML 1.2 core-schema reader sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Null,
    Bool,
    Int,
    Float,
    Text,
    List,
    Mapping,
    Alias,
}

impl Kind {
    fn words(self) -> &'static str {
        match self {
            Self::Null => "empty",
            Self::Bool => "a boolean",
            Self::Int => "an integer",
            Self::Float => "a number",
            Self::Text => "text",
            Self::List => "a list",
            Self::Mapping => "a mapping",
            Self::Alias => "an alias",
        }
    }
}

impl Node {
    fn line(&self) -> usize {
        match self {
            Self::Scalar { line, .. }
            | Self::Seq { line, .. }
            | Self::Map { line, .. }
            | Self::Alias { line } => *line,
        }
    }

    fn kind(&self) -> Kind {
        match self {
            Self::Seq { .. } => Kind::List,
            Self::Map { .. } => Kind::Mapping,
            Self::Alias { .. } => Kind::Alias,
            Self::Scalar { quoted: true, .. } => Kind::Text,
            Self::Scalar { text, .. } => plain_kind(text),
        }
    }
}

fn plain_kind(text: &str) -> Kind {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Kind::Null,
        "true" | "True" | "TRUE" | "false" | "False" | "FALSE" => return Kind::Bool,
        _ => {}
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
        return Kind::Int;
    }
    if (digits.starts_with("0x") || digits.starts_with("0o")) && digits.len() > 2 {
        return Kind::Int;
    }
    if matches!(digits, ".inf" | ".Inf" | ".INF" | ".nan" | ".NaN" | ".NAN")
        || (digits.chars().any(|c| c.is_ascii_digit()) && digits.parse::<f64>().is_ok())
    {
        return Kind::Float;
    }
    Kind::Text
}

/// Builds the tree of the first document; `None` when the text is not YAML
/// (the parser's own message then says where).
fn tree(text: &str) -> Option<Node> {
    let mut events = Parser::new_from_str(text).map(|e| e.ok());
    loop {
        match events.next()?? {
            (Event::StreamStart | Event::DocumentStart(..), _) => {}
            (Event::StreamEnd | Event::DocumentEnd, _) => return None,
            first => return node(first, &mut events).map(|(n, _)| n),
        }
    }
}

type Spanned<'a> = (Event<'a>, serde_saphyr::granit_parser::Span);

/// One node from its first event; with the char index where it ends.
fn node<'a>(
    (event, span): Spanned<'a>,
    events: &mut impl Iterator<Item = Option<Spanned<'a>>>,
) -> Option<(Node, usize)> {
    let line = span.start.line();
    match event {
        Event::Scalar(text, style, ..) => Some((
            Node::Scalar {
                text: text.into_owned(),
                quoted: !matches!(style, ScalarStyle::Plain),
                line,
            },
            span.end.index(),
        )),
        Event::Alias(_) => Some((Node::Alias { line }, span.end.index())),
        Event::SequenceStart(..) => {
            let mut items = Vec::new();
            loop {
                let next = events.next()??;
                if let Event::SequenceEnd = next.0 {
                    return Some((Node::Seq { items, line }, next.1.end.index()));
                }
                items.push(node(next, events)?.0);
            }
        }
        Event::MappingStart(..) => {
            let mut entries = Vec::new();
            loop {
                let next = events.next()??;
                if let Event::MappingEnd = next.0 {
                    return Some((Node::Map { entries, line }, next.1.end.index()));
                }
                let key_start = next.1.start.index();
                let key_line = next.1.start.line();
                let (key, _) = node(next, events)?;
                let value_event = events.next()??;
                let (value, end) = node(value_event, events)?;
                let key = match key {
                    Node::Scalar { text, .. } => text,
                    _ => String::new(),
                };
                entries.push(Entry {
                    key,
                    line: key_line,
                    span: (key_start, end),
                    value,
                });
            }
        }
        _ => None,
    }
}

/// Scans `text` against `schema`.
pub(crate) fn scan(text: &str, schema: &Value) -> Scan {
    let mut found = Found {
        root: schema,
        misfits: Vec::new(),
        blank: Vec::new(),
    };
    if let Some(root) = tree(text) {
        found.check(&root, schema, "", None);
    }
    let mut chars: Vec<char> = text.chars().collect();
    let mut blanked = Vec::new();
    for (start, end, key) in &found.blank {
        for c in chars.iter_mut().take(*end).skip(*start) {
            if *c != '\n' {
                *c = ' ';
            }
        }
        drop_comma(&mut chars, *start, *end);
        blanked.push(key.clone());
    }
    Scan {
        misfits: found.misfits,
        rest: chars.into_iter().collect(),
        blanked,
    }
}

/// In a flow collection (`{a: 1, b: 2}`), an entry taken out takes a comma
/// with it: the one after it, or, for the last entry, the one before.
fn drop_comma(chars: &mut [char], start: usize, end: usize) {
    let after = (end..chars.len()).find(|&i| !chars[i].is_whitespace());
    match after.map(|i| (i, chars[i])) {
        Some((i, ',')) => chars[i] = ' ',
        Some((_, '}' | ']')) => {
            if let Some(i) = (0..start).rev().find(|&i| !chars[i].is_whitespace())
                && chars[i] == ','
            {
                chars[i] = ' ';
            }
        }
        _ => {}
    }
}

struct Found<'s> {
    root: &'s Value,
    misfits: Vec<Misfit>,
    /// Entries to blank: span, and the entry's key.
    blank: Vec<(usize, usize, String)>,
}

/// `routes[0].name` from `routes[0]` and `name`.
fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

impl<'s> Found<'s> {
    fn resolve(&self, schema: &'s Value) -> &'s Value {
        match schema["$ref"]
            .as_str()
            .and_then(|r| r.strip_prefix("#/$defs/"))
        {
            Some(name) => self.resolve(&self.root["$defs"][name]),
            None => schema,
        }
    }

    /// The kinds a schema takes, shallowly (for choosing among alternatives
    /// and for the message).
    fn kinds(&self, schema: &'s Value) -> Vec<&'s str> {
        let schema = self.resolve(schema);
        if let Some(alternatives) = schema["anyOf"].as_array().or(schema["oneOf"].as_array()) {
            let mut all: Vec<&str> = alternatives.iter().flat_map(|a| self.kinds(a)).collect();
            all.dedup();
            return all;
        }
        match &schema["type"] {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }

    fn admits(&self, schema: &'s Value, node: &Node) -> bool {
        let schema = self.resolve(schema);
        if let Some(alternatives) = schema["anyOf"].as_array().or(schema["oneOf"].as_array()) {
            return alternatives.iter().any(|a| self.admits(a, node));
        }
        let kinds = self.kinds(schema);
        let kind = node.kind();
        let fits = kind == Kind::Alias
            || kinds.is_empty()
            || kinds.iter().any(|t| match *t {
                "null" => kind == Kind::Null,
                "boolean" => kind == Kind::Bool,
                "integer" => kind == Kind::Int,
                "number" => matches!(kind, Kind::Int | Kind::Float),
                // A plain scalar reads as text wherever text is asked for.
                "string" => matches!(kind, Kind::Text | Kind::Int | Kind::Float | Kind::Bool),
                "array" => kind == Kind::List,
                "object" => kind == Kind::Mapping,
                _ => false,
            });
        let constant = match (&schema["const"], node) {
            (Value::String(c), Node::Scalar { text, .. }) => c == text,
            _ => true,
        };
        fits && constant
    }

    fn misfit(&mut self, line: usize, field: &str, message: String, top: Option<&Span>) {
        self.misfits.push(Misfit {
            line,
            field: if field.is_empty() {
                "(file)".to_owned()
            } else {
                field.to_owned()
            },
            message,
        });
        if let Some(span) = top
            && !self.blank.iter().any(|b| (b.0, b.1) == (span.0, span.1))
        {
            self.blank.push((span.0, span.1, span.2.clone()));
        }
    }

    /// Checks `node` at `path` against `schema`; `top` is the innermost
    /// mapping entry holding it, blanked when something in it misfits.
    fn check(&mut self, node: &Node, schema: &'s Value, path: &str, top: Option<&Span>) {
        let schema = self.resolve(schema);
        if !self.admits(schema, node) {
            let expected = self.expected(schema);
            let found = match node {
                Node::Scalar { text, .. } if node.kind() != Kind::Null => {
                    format!("`{text}` is {}", node.kind().words())
                }
                _ => format!("is {}", node.kind().words()),
            };
            self.misfit(node.line(), path, format!("{found}, not {expected}"), top);
            return;
        }
        // The alternative that takes this node, for what is inside it.
        if let Some(alternatives) = schema["anyOf"].as_array().or(schema["oneOf"].as_array()) {
            if let Some(chosen) = alternatives.iter().find(|a| self.admits(a, node)) {
                self.check(node, chosen, path, top);
            }
            return;
        }
        match node {
            Node::Seq { items, .. } => {
                for (i, item) in items.iter().enumerate() {
                    self.check(item, &schema["items"], &format!("{path}[{i}]"), top);
                }
            }
            Node::Map { entries, line } => self.check_map(entries, *line, schema, path),
            Node::Scalar { text, .. } => {
                let negative = text.starts_with('-') && node.kind() == Kind::Int;
                if negative && schema["minimum"].as_f64().is_some_and(|m| m >= 0.0) {
                    self.misfit(
                        node.line(),
                        path,
                        format!("{text} is negative: write 0 or more"),
                        top,
                    );
                }
            }
            Node::Alias { .. } => {}
        }
    }

    fn check_map(&mut self, entries: &[Entry], line: usize, schema: &'s Value, path: &str) {
        let properties = schema["properties"].as_object();
        for entry in entries {
            let field = join(path, &entry.key);
            // What misfits under this entry takes the entry out (an item of
            // a list takes the whole list: a list with a hole reads badly).
            let own: Span = (entry.span.0, entry.span.1, entry.key.clone());
            match properties.and_then(|p| p.get(&entry.key)) {
                Some(property) => self.check(&entry.value, property, &field, Some(&own)),
                None => match &schema["additionalProperties"] {
                    Value::Bool(false) => {
                        let known: Vec<&str> = properties
                            .map(|p| p.keys().map(String::as_str).collect())
                            .unwrap_or_default();
                        let hint = closest(&entry.key, &known)
                            .map(|k| format!("did you mean `{k}`? "))
                            .unwrap_or_default();
                        self.misfit(
                            entry.line,
                            &field,
                            format!(
                                "unknown field `{}`: {hint}the fields here are {}",
                                entry.key,
                                known.join(", ")
                            ),
                            Some(&own),
                        );
                    }
                    Value::Object(_) => {
                        self.check(
                            &entry.value,
                            &schema["additionalProperties"],
                            &field,
                            Some(&own),
                        );
                    }
                    _ => {}
                },
            }
        }
        for required in schema["required"].as_array().into_iter().flatten() {
            let Some(name) = required.as_str() else {
                continue;
            };
            if !entries.iter().any(|e| e.key == name) {
                let description = properties
                    .and_then(|p| p[name]["description"].as_str())
                    .map(|d| format!(": {}", d.lines().next().unwrap_or(d)))
                    .unwrap_or_default();
                self.misfit(
                    line,
                    &join(path, name),
                    format!("is missing; add it{description}"),
                    None,
                );
            }
        }
    }

    fn expected(&self, schema: &'s Value) -> String {
        let schema = self.resolve(schema);
        let constants: Vec<&str> = schema["oneOf"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a["const"].as_str())
            .collect();
        if !constants.is_empty() {
            return format!("one of: {}", constants.join(", "));
        }
        let words: Vec<&str> = self
            .kinds(schema)
            .into_iter()
            .filter(|k| *k != "null")
            .map(|k| match k {
                "boolean" => "true or false",
                "integer" => "a whole number",
                "number" => "a number",
                "string" => "text",
                "array" => "a list",
                "object" => "a mapping",
                other => other,
            })
            .collect();
        if words.is_empty() {
            "what the schema allows".to_owned()
        } else {
            words.join(" or ")
        }
    }
}

/// An entry to blank: its char span and its key.
type Span = (usize, usize, String);

/// The known name nearest to a typo, when near enough to be one.
fn closest<'k>(typo: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|k| (distance(typo, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance, for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests;
