//! YAML text to a tree of [`Node`]s that remember where they came from.
//!
//! The loader works on this tree rather than on typed values so that every later stage (interpolation,
//! merging, normalization, validation) can point at a file, line and column. Anchors and aliases, `<<`
//! merge keys and the Compose tags `!reset` and `!override` are resolved here, once.

use std::collections::HashMap;
use std::sync::Arc;

use indexmap::IndexMap;
use saphyr_parser::{Event, Parser, ScalarStyle, Span as YamlSpan};

use super::diag::{Diagnostic, Source, Span};

/// A YAML node with its position and Compose tag.
#[derive(Debug, Clone)]
pub struct Node {
    pub value: Value,
    pub span: Span,
    pub tag: Option<Tag>,
}

/// The Compose merge tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    /// `!reset`: the value is removed (reset to its default) when merged.
    Reset,
    /// `!override`: the value replaces the base instead of merging with it.
    Override,
}

#[derive(Debug, Clone)]
pub enum Value {
    Null,
    Scalar(Scalar),
    Seq(Vec<Node>),
    Map(Map),
}

/// A scalar's text and whether it was quoted (quoted scalars are always strings).
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    pub text: String,
    pub quoted: bool,
}

/// A mapping in source order; keys are strings.
pub type Map = IndexMap<String, Entry>;

/// One mapping entry: the key's position and the value.
#[derive(Debug, Clone)]
pub struct Entry {
    pub key_span: Span,
    pub node: Node,
}

/// What a plain scalar means, by the YAML 1.2 core schema as go-yaml reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum Typed {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str,
}

impl Scalar {
    pub fn plain(text: impl Into<String>) -> Scalar {
        Scalar {
            text: text.into(),
            quoted: false,
        }
    }

    pub fn quoted(text: impl Into<String>) -> Scalar {
        Scalar {
            text: text.into(),
            quoted: true,
        }
    }

    /// The type of this scalar's value.
    pub fn typed(&self) -> Typed {
        if self.quoted {
            return Typed::Str;
        }
        resolve_plain(&self.text)
    }
}

/// Resolves a plain scalar's type: booleans, integers (decimal, 0x, 0o and leading-zero octal, as
/// go-yaml does), floats; anything else is a string.
pub fn resolve_plain(text: &str) -> Typed {
    match text {
        "true" | "True" | "TRUE" => return Typed::Bool(true),
        "false" | "False" | "FALSE" => return Typed::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" => return Typed::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Typed::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Typed::Float(f64::NAN),
        _ => {}
    }
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let parsed = if let Some(hex) = digits.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()
    } else if let Some(octal) = digits.strip_prefix("0o") {
        i64::from_str_radix(octal, 8).ok()
    } else if digits.len() > 1
        && digits.starts_with('0')
        && digits.bytes().all(|b| b.is_ascii_digit())
    {
        i64::from_str_radix(&digits[1..], 8).ok()
    } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse::<i64>().ok()
    } else {
        None
    };
    if let Some(number) = parsed {
        return Typed::Int(if negative { -number } else { number });
    }
    let looks_numeric = text.bytes().any(|b| b.is_ascii_digit())
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'));
    if looks_numeric && let Ok(float) = text.parse::<f64>() {
        return Typed::Float(float);
    }
    Typed::Str
}

impl Node {
    pub fn new(value: Value, span: Span) -> Node {
        Node {
            value,
            span,
            tag: None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    pub fn as_map(&self) -> Option<&Map> {
        match &self.value {
            Value::Map(map) => Some(map),
            _ => None,
        }
    }

    pub fn as_map_mut(&mut self) -> Option<&mut Map> {
        match &mut self.value {
            Value::Map(map) => Some(map),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&Vec<Node>> {
        match &self.value {
            Value::Seq(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_scalar(&self) -> Option<&Scalar> {
        match &self.value {
            Value::Scalar(scalar) => Some(scalar),
            _ => None,
        }
    }

    /// The scalar's text, whatever its type (numbers and booleans as written).
    pub fn as_text(&self) -> Option<&str> {
        self.as_scalar().map(|scalar| scalar.text.as_str())
    }

    /// Looks up a key of a mapping node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()
            .and_then(|map| map.get(key))
            .map(|entry| &entry.node)
    }

    /// A short word for the node's type, for messages.
    pub fn kind_name(&self) -> &'static str {
        match &self.value {
            Value::Null => "null",
            Value::Scalar(scalar) => match scalar.typed() {
                Typed::Bool(_) => "boolean",
                Typed::Int(_) => "integer",
                Typed::Float(_) => "number",
                Typed::Str => "string",
            },
            Value::Seq(_) => "sequence",
            Value::Map(_) => "mapping",
        }
    }
}

/// Parses a YAML file into one node. Several documents in one file are merged in order, as compose-go
/// does; an empty file is an empty mapping.
pub fn parse(source: &Arc<Source>) -> Result<Node, Diagnostic> {
    let mut builder = Builder {
        source: source.clone(),
        anchors: HashMap::new(),
        stack: Vec::new(),
        documents: Vec::new(),
    };
    for event in Parser::new_from_str(&source.text) {
        let (event, span) = event.map_err(|error| {
            let marker = error.marker();
            let span = builder.span_at(marker.line(), marker.col());
            Diagnostic::at(&span, format!("invalid YAML: {}", error.info()))
                .with_hint("check the indentation and quoting around this position")
        })?;
        builder.event(event, span)?;
    }
    let mut documents = builder.documents.into_iter();
    let Some(mut document) = documents.next() else {
        return Ok(Node::new(
            Value::Map(Map::new()),
            Span {
                source: source.clone(),
                line: 1,
                col: 1,
            },
        ));
    };
    for next in documents {
        document = super::merge::merge_documents(document, next)?;
    }
    Ok(document)
}

/// Builds nodes from the parser's event stream.
struct Builder {
    source: Arc<Source>,
    anchors: HashMap<usize, Node>,
    stack: Vec<Frame>,
    documents: Vec<Node>,
}

enum Frame {
    Seq {
        node: Node,
        anchor: usize,
    },
    Map {
        node: Node,
        anchor: usize,
        pending_key: Option<(String, Span)>,
        merges: Vec<Node>,
    },
}

impl Builder {
    fn span_at(&self, line: usize, col: usize) -> Span {
        // saphyr reports 1-based lines and 0-based columns.
        Span {
            source: self.source.clone(),
            line: line as u32,
            col: col as u32 + 1,
        }
    }

    fn span(&self, span: &YamlSpan) -> Span {
        self.span_at(span.start.line(), span.start.col())
    }

    fn event(&mut self, event: Event<'_>, yaml_span: YamlSpan) -> Result<(), Diagnostic> {
        let span = self.span(&yaml_span);
        match event {
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart(_)
            | Event::DocumentEnd => Ok(()),
            Event::Alias(id) => {
                let node = self.anchors.get(&id).cloned().ok_or_else(|| {
                    Diagnostic::at(&span, "alias refers to an unknown anchor")
                        .with_hint("define the anchor (`&name`) before the alias (`*name`)")
                })?;
                self.push_value(node)
            }
            Event::Scalar(text, style, anchor, tag) => {
                let tag_name = tag.as_ref().map(|tag| tag.to_string());
                let compose_tag = compose_tag(tag_name.as_deref(), &span)?;
                let quoted = style != ScalarStyle::Plain
                    || tag_name.as_deref().is_some_and(|t| t.ends_with("!str"));
                let value =
                    if !quoted && matches!(text.as_ref(), "" | "~" | "null" | "Null" | "NULL") {
                        Value::Null
                    } else {
                        Value::Scalar(Scalar {
                            text: text.into_owned(),
                            quoted,
                        })
                    };
                let node = Node {
                    value,
                    span,
                    tag: compose_tag,
                };
                if anchor > 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                self.push_value(node)
            }
            Event::SequenceStart(anchor, tag) => {
                let tag = compose_tag(tag.as_ref().map(|tag| tag.to_string()).as_deref(), &span)?;
                let node = Node {
                    value: Value::Seq(Vec::new()),
                    span,
                    tag,
                };
                self.stack.push(Frame::Seq { node, anchor });
                Ok(())
            }
            Event::MappingStart(anchor, tag) => {
                let tag = compose_tag(tag.as_ref().map(|tag| tag.to_string()).as_deref(), &span)?;
                let node = Node {
                    value: Value::Map(Map::new()),
                    span,
                    tag,
                };
                self.stack.push(Frame::Map {
                    node,
                    anchor,
                    pending_key: None,
                    merges: Vec::new(),
                });
                Ok(())
            }
            Event::SequenceEnd => match self.stack.pop() {
                Some(Frame::Seq { node, anchor }) => {
                    if anchor > 0 {
                        self.anchors.insert(anchor, node.clone());
                    }
                    self.push_value(node)
                }
                _ => Err(Diagnostic::at(
                    &span,
                    "invalid YAML: unexpected end of sequence",
                )),
            },
            Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Map {
                    mut node,
                    anchor,
                    merges,
                    ..
                }) => {
                    apply_merge_keys(&mut node, merges)?;
                    if anchor > 0 {
                        self.anchors.insert(anchor, node.clone());
                    }
                    self.push_value(node)
                }
                _ => Err(Diagnostic::at(
                    &span,
                    "invalid YAML: unexpected end of mapping",
                )),
            },
        }
    }

    /// Adds a finished node to its parent (or as a document).
    fn push_value(&mut self, node: Node) -> Result<(), Diagnostic> {
        match self.stack.last_mut() {
            None => {
                self.documents.push(node);
                Ok(())
            }
            Some(Frame::Seq { node: parent, .. }) => {
                if let Value::Seq(items) = &mut parent.value {
                    items.push(node);
                }
                Ok(())
            }
            Some(Frame::Map {
                node: parent,
                pending_key,
                merges,
                ..
            }) => match pending_key.take() {
                None => {
                    let key = match &node.value {
                        Value::Scalar(scalar) => scalar.text.clone(),
                        Value::Null => String::new(),
                        _ => {
                            return Err(Diagnostic::at(&node.span, "mapping keys must be strings")
                                .with_hint("quote the key or remove the nested structure"));
                        }
                    };
                    *pending_key = Some((key, node.span));
                    Ok(())
                }
                Some((key, key_span)) => {
                    if key == "<<" {
                        merges.push(node);
                        return Ok(());
                    }
                    let Value::Map(map) = &mut parent.value else {
                        return Ok(());
                    };
                    if let Some(existing) = map.get(&key) {
                        return Err(Diagnostic::at(
                            &key_span,
                            format!("mapping key {key:?} already defined"),
                        )
                        .with_hint(format!(
                            "the first definition is at line {}; remove one of them",
                            existing.key_span.line
                        )));
                    }
                    map.insert(key, Entry { key_span, node });
                    Ok(())
                }
            },
        }
    }
}

/// Reads the Compose tags; other tags are standard YAML ones and need nothing.
fn compose_tag(tag: Option<&str>, span: &Span) -> Result<Option<Tag>, Diagnostic> {
    match tag {
        Some("!reset") => Ok(Some(Tag::Reset)),
        Some("!override") => Ok(Some(Tag::Override)),
        Some(other) if other.starts_with("tag:yaml.org,2002:") || other.starts_with("!!") => {
            Ok(None)
        }
        Some(other) => Err(Diagnostic::at(span, format!("unknown YAML tag {other}"))
            .with_hint("Compose understands the tags !reset and !override")),
        None => Ok(None),
    }
}

/// Applies `<<` merge keys: keys of the merged mappings are added where the mapping does not set them.
/// With a sequence of mappings, earlier ones win, as the YAML merge-key spec says.
fn apply_merge_keys(node: &mut Node, merges: Vec<Node>) -> Result<(), Diagnostic> {
    if merges.is_empty() {
        return Ok(());
    }
    let Value::Map(map) = &mut node.value else {
        return Ok(());
    };
    let mut sources = Vec::new();
    for merge in merges {
        match merge.value {
            Value::Map(source) => sources.push(source),
            Value::Seq(items) => {
                for item in items {
                    match item.value {
                        Value::Map(source) => sources.push(source),
                        _ => return Err(merge_error(&item.span)),
                    }
                }
            }
            _ => return Err(merge_error(&merge.span)),
        }
    }
    for source in sources {
        for (key, entry) in source {
            map.entry(key).or_insert(entry);
        }
    }
    Ok(())
}

fn merge_error(span: &Span) -> Diagnostic {
    Diagnostic::at(
        span,
        "a `<<` merge key must refer to a mapping or a sequence of mappings",
    )
    .with_hint("use `<<: *anchor` where the anchor is a mapping")
}

/// Builders for nodes the loader synthesizes; they carry the span of the text they were derived from.
impl Node {
    pub fn string(span: &Span, text: impl Into<String>) -> Node {
        Node::new(Value::Scalar(Scalar::quoted(text)), span.clone())
    }

    pub fn boolean(span: &Span, value: bool) -> Node {
        Node::new(
            Value::Scalar(Scalar::plain(if value { "true" } else { "false" })),
            span.clone(),
        )
    }

    pub fn integer(span: &Span, value: i64) -> Node {
        Node::new(
            Value::Scalar(Scalar::plain(value.to_string())),
            span.clone(),
        )
    }

    pub fn null(span: &Span) -> Node {
        Node::new(Value::Null, span.clone())
    }

    pub fn seq(span: &Span, items: Vec<Node>) -> Node {
        Node::new(Value::Seq(items), span.clone())
    }

    pub fn map(span: &Span, entries: Vec<(&str, Node)>) -> Node {
        let map = entries
            .into_iter()
            .map(|(key, node)| {
                (
                    key.to_string(),
                    Entry {
                        key_span: node.span.clone(),
                        node,
                    },
                )
            })
            .collect();
        Node::new(Value::Map(map), span.clone())
    }

    /// Inserts or replaces a key of a mapping node (no-op on other nodes).
    pub fn insert(&mut self, key: &str, node: Node) {
        if let Value::Map(map) = &mut self.value {
            match map.get_mut(key) {
                Some(entry) => entry.node = node,
                None => {
                    map.insert(
                        key.to_string(),
                        Entry {
                            key_span: node.span.clone(),
                            node,
                        },
                    );
                }
            }
        }
    }

    /// Removes a key of a mapping node, keeping the order of the others.
    pub fn remove(&mut self, key: &str) -> Option<Node> {
        match &mut self.value {
            Value::Map(map) => map.shift_remove(key).map(|entry| entry.node),
            _ => None,
        }
    }

    /// The value as a string when it is a scalar (numbers and booleans as written).
    pub fn to_text(&self) -> Option<String> {
        self.as_text().map(str::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Node {
        parse(&Source::new("compose.yaml", text)).unwrap()
    }

    #[test]
    fn keeps_positions_and_resolves_anchors_and_merge_keys() {
        let node = parse_str(
            "x-base: &base\n  image: busybox\n  user: root\nservices:\n  web:\n    <<: *base\n    user: app\n",
        );
        let web = node.get("services").unwrap().get("web").unwrap();
        assert_eq!(web.get("image").unwrap().as_text(), Some("busybox"));
        assert_eq!(web.get("user").unwrap().as_text(), Some("app"));
        let user = &web.as_map().unwrap()["user"];
        assert_eq!((user.key_span.line, user.key_span.col), (7, 5));
    }

    #[test]
    fn types_plain_scalars_like_go_yaml() {
        assert_eq!(resolve_plain("0755"), Typed::Int(493));
        assert_eq!(resolve_plain("0x1F"), Typed::Int(31));
        assert_eq!(resolve_plain("8080"), Typed::Int(8080));
        assert_eq!(resolve_plain("1.5"), Typed::Float(1.5));
        assert_eq!(resolve_plain("yes"), Typed::Str);
        assert_eq!(resolve_plain("1m30s"), Typed::Str);
        assert_eq!(resolve_plain("8080:80"), Typed::Str);
    }

    #[test]
    fn rejects_duplicate_keys_with_both_lines() {
        let error = parse(&Source::new("c.yaml", "a: 1\nb: 2\na: 3\n")).unwrap_err();
        assert!(error.message.contains("\"a\" already defined"), "{error}");
        assert_eq!(error.span.unwrap().line, 3);
    }

    #[test]
    fn reads_compose_tags() {
        let node = parse_str("ports: !reset []\ncommand: !override [a]\n");
        assert_eq!(node.get("ports").unwrap().tag, Some(Tag::Reset));
        assert_eq!(node.get("command").unwrap().tag, Some(Tag::Override));
    }
}
