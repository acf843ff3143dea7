//! YAML text to a tree of [`Node`]s that remember where they came from.
//!
//! The loader works on this tree rather than on typed values so that every later stage (interpolation,
//! merging, normalization, validation) can point at a file, line and column. Anchors and aliases, `<<`
//! merge keys and the Compose tags `!reset` and `!override` are resolved here, once.
//!
//! Hostile input is stopped here too, for every later stage: nesting is limited to [`MAX_DEPTH`]
//! levels (the stages after this one recurse over the tree), and aliases may not copy much more than
//! the file itself holds (a "billion laughs" of nested aliases would otherwise take gigabytes).

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

    /// The scalar as a boolean, as the model reads one: `true`/`false` in any case, and YAML 1.1's
    /// `yes`, `no`, `on`, `off`, `y`, `n`.
    pub fn as_bool(&self) -> Option<bool> {
        let text = self.as_text()?;
        if text.eq_ignore_ascii_case("true") {
            Some(true)
        } else if text.eq_ignore_ascii_case("false") {
            Some(false)
        } else {
            super::model::yaml11_bool(text)
        }
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

/// How deeply collections may nest, the document's top-level mapping being level 1. A Compose file
/// needs a handful of levels; the limit keeps every recursive stage of the loader (merging,
/// interpolation, canonical forms, typing, output) far from the end of the stack.
pub const MAX_DEPTH: usize = 128;

/// Below this many nodes copied by aliases, any amount of aliasing is fine: a file with dozens of
/// `<<: *defaults` never comes near it.
const ALIAS_FLOOR: usize = 100_000;

/// A scalar counts as one node per this many bytes of text (at least one), so that an alias of a
/// long string weighs what it costs.
const BYTES_PER_NODE: usize = 64;

/// The share of all nodes that may come from aliases for a document of `total` nodes: go-yaml v3's
/// rule ("excessive aliasing"), 99% up to 400,000 nodes, then less and less, down to 10% from
/// 4,000,000 nodes.
fn allowed_alias_ratio(total: usize) -> f64 {
    const LOW: f64 = 400_000.0;
    const HIGH: f64 = 4_000_000.0;
    let total = total as f64;
    if total <= LOW {
        0.99
    } else if total >= HIGH {
        0.10
    } else {
        0.99 - 0.89 * ((total - LOW) / (HIGH - LOW))
    }
}

/// Whether `expanded` nodes copied by aliases are too many next to the document's `own` nodes.
fn excessive_aliasing(own: usize, expanded: usize) -> bool {
    excessive_copies(own, expanded, ALIAS_FLOOR)
}

/// Whether `copied` nodes are too many next to `own` nodes written in files, by go-yaml's rule
/// (above `floor` copies, at most [`allowed_alias_ratio`] of all nodes may be copies).
pub fn excessive_copies(own: usize, copied: usize, floor: usize) -> bool {
    let total = own.saturating_add(copied);
    copied > floor && copied as f64 / total as f64 > allowed_alias_ratio(total)
}

/// The size of a node in nodes, as the parser counts them: a collection 1, a scalar (a mapping's keys
/// too) one per [`BYTES_PER_NODE`] bytes of text.
pub fn size(node: &Node) -> usize {
    match &node.value {
        Value::Null => 1,
        Value::Scalar(scalar) => scalar_weight(&scalar.text),
        Value::Seq(items) => 1 + items.iter().map(size).sum::<usize>(),
        Value::Map(map) => {
            1 + map
                .iter()
                .map(|(key, entry)| scalar_weight(key) + size(&entry.node))
                .sum::<usize>()
        }
    }
}

/// The weight of a scalar in nodes (see [`BYTES_PER_NODE`]).
fn scalar_weight(text: &str) -> usize {
    1 + text.len() / BYTES_PER_NODE
}

fn too_deep(span: &Span) -> Diagnostic {
    Diagnostic::at(
        span,
        format!("YAML nested more than {MAX_DEPTH} levels deep"),
    )
    .with_hint(
        "a Compose file needs only a few levels of nesting; look for unbalanced brackets, or flatten this value",
    )
}

/// Parses a YAML file into one node. Several documents in one file are merged in order, as compose-go
/// does; an empty file is an empty mapping.
pub fn parse(source: &Arc<Source>) -> Result<Node, Diagnostic> {
    parse_sized(source).map(|(node, _)| node)
}

/// [`parse`], and the size of the file's own content in nodes (what aliases copied not included), the
/// measure later copies are compared with (see [`excessive_copies`]).
pub fn parse_sized(source: &Arc<Source>) -> Result<(Node, usize), Diagnostic> {
    let mut builder = Builder {
        source: source.clone(),
        anchors: HashMap::new(),
        stack: Vec::new(),
        documents: Vec::new(),
        own: 0,
        expanded: 0,
    };
    for event in Parser::new_from_str(&source.text) {
        let (event, span) = event.map_err(|error| {
            let marker = error.marker();
            let span = builder.span_at(marker.line(), marker.col());
            // The scanner's own limit on flow collections (`[[[[...`), met before ours when the
            // brackets are on one line (it reads ahead).
            if error.info() == "recursion limit exceeded" {
                return too_deep(&span);
            }
            Diagnostic::at(&span, format!("invalid YAML: {}", error.info()))
                .with_hint("check the indentation and quoting around this position")
        })?;
        builder.event(event, span)?;
    }
    let own = builder.own;
    let mut documents = builder.documents.into_iter();
    let Some(mut document) = documents.next() else {
        let span = Span {
            source: source.clone(),
            line: 1,
            col: 1,
        };
        return Ok((Node::new(Value::Map(Map::new()), span), own));
    };
    for next in documents {
        document = super::merge::merge_documents(document, next)?;
    }
    Ok((document, own))
}

/// Builds nodes from the parser's event stream.
struct Builder {
    source: Arc<Source>,
    anchors: HashMap<usize, Anchored>,
    stack: Vec<Frame>,
    documents: Vec<Node>,
    /// Nodes of the file's own events (aliases included), weighted as [`scalar_weight`] says.
    own: usize,
    /// Nodes copied by aliases.
    expanded: usize,
}

/// An anchored node, with its size in nodes and its height in collection levels (0 for a scalar).
struct Anchored {
    node: Node,
    size: usize,
    height: usize,
}

/// A collection being built: a sequence or a mapping node.
struct Frame {
    node: Node,
    anchor: usize,
    /// Nodes in it so far, itself included.
    size: usize,
    /// Collection levels in it so far (1: it holds no collection).
    height: usize,
    /// A mapping's key waiting for its value.
    pending_key: Option<(String, Span)>,
    /// A mapping's `<<` values.
    merges: Vec<Node>,
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
                let Some(anchored) = self.anchors.get(&id) else {
                    return Err(Diagnostic::at(&span, "alias refers to an unknown anchor")
                        .with_hint("define the anchor (`&name`) before the alias (`*name`)"));
                };
                self.own += 1;
                self.expanded = self.expanded.saturating_add(anchored.size);
                // Checked before the copy is made: the copy is what would take the memory.
                if excessive_aliasing(self.own, self.expanded) {
                    return Err(Diagnostic::at(
                        &span,
                        format!(
                            "excessive aliasing: with this alias, aliases copy {} nodes into a document of {} nodes",
                            self.expanded, self.own
                        ),
                    )
                    .with_hint(
                        "an alias copies its anchor's whole value and aliases of aliases multiply (a \"billion laughs\"); use large anchors fewer times",
                    ));
                }
                if self.stack.len() + anchored.height > MAX_DEPTH {
                    return Err(too_deep(&span));
                }
                let (node, size, height) = (anchored.node.clone(), anchored.size, anchored.height);
                self.push_value(node, size, height)
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
                let size = match &value {
                    Value::Scalar(scalar) => scalar_weight(&scalar.text),
                    _ => 1,
                };
                self.own = self.own.saturating_add(size);
                let node = Node {
                    value,
                    span,
                    tag: compose_tag,
                };
                self.anchor(anchor, &node, size, 0);
                self.push_value(node, size, 0)
            }
            Event::SequenceStart(anchor, tag) => self.open(
                Value::Seq(Vec::new()),
                anchor,
                tag.map(|tag| tag.to_string()),
                span,
            ),
            Event::MappingStart(anchor, tag) => self.open(
                Value::Map(Map::new()),
                anchor,
                tag.map(|tag| tag.to_string()),
                span,
            ),
            Event::SequenceEnd => match self.stack.pop() {
                Some(frame) if matches!(frame.node.value, Value::Seq(_)) => {
                    self.anchor(frame.anchor, &frame.node, frame.size, frame.height);
                    self.push_value(frame.node, frame.size, frame.height)
                }
                _ => Err(Diagnostic::at(
                    &span,
                    "invalid YAML: unexpected end of sequence",
                )),
            },
            Event::MappingEnd => match self.stack.pop() {
                Some(mut frame) if matches!(frame.node.value, Value::Map(_)) => {
                    apply_merge_keys(&mut frame.node, frame.merges)?;
                    self.anchor(frame.anchor, &frame.node, frame.size, frame.height);
                    self.push_value(frame.node, frame.size, frame.height)
                }
                _ => Err(Diagnostic::at(
                    &span,
                    "invalid YAML: unexpected end of mapping",
                )),
            },
        }
    }

    /// Starts a sequence or a mapping, unless it would nest deeper than [`MAX_DEPTH`].
    fn open(
        &mut self,
        value: Value,
        anchor: usize,
        tag: Option<String>,
        span: Span,
    ) -> Result<(), Diagnostic> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(too_deep(&span));
        }
        let tag = compose_tag(tag.as_deref(), &span)?;
        self.own += 1;
        self.stack.push(Frame {
            node: Node { value, span, tag },
            anchor,
            size: 1,
            height: 1,
            pending_key: None,
            merges: Vec::new(),
        });
        Ok(())
    }

    /// Remembers an anchored node (anchor 0 is none) for its aliases.
    fn anchor(&mut self, anchor: usize, node: &Node, size: usize, height: usize) {
        if anchor > 0 {
            let node = node.clone();
            self.anchors.insert(anchor, Anchored { node, size, height });
        }
    }

    /// Adds a finished node of `size` nodes and `height` collection levels to its parent (or as a
    /// document).
    fn push_value(&mut self, node: Node, size: usize, height: usize) -> Result<(), Diagnostic> {
        let Some(frame) = self.stack.last_mut() else {
            self.documents.push(node);
            return Ok(());
        };
        frame.size = frame.size.saturating_add(size);
        frame.height = frame.height.max(height + 1);
        let Frame {
            node: parent,
            pending_key,
            merges,
            ..
        } = frame;
        match &mut parent.value {
            Value::Seq(items) => {
                items.push(node);
                Ok(())
            }
            _ => match pending_key.take() {
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

    fn parse_error(text: &str) -> Diagnostic {
        match parse(&Source::new("c.yaml", text)) {
            Ok(_) => panic!("accepted"),
            Err(error) => error,
        }
    }

    #[test]
    fn limits_nesting_where_it_is_exceeded() {
        // Block mappings: the top-level mapping is level 1, each nested `k:` one more.
        let nested = |levels: usize| {
            (0..levels)
                .map(|level| format!("{}k:\n", " ".repeat(level)))
                .collect::<String>()
                + &" ".repeat(levels)
                + "leaf\n"
        };
        assert!(parse(&Source::new("c.yaml", nested(MAX_DEPTH))).is_ok());
        let error = parse_error(&nested(MAX_DEPTH + 1));
        assert!(error.message.contains("nested more than 128"), "{error}");
        let span = error.span.unwrap();
        let position = MAX_DEPTH as u32 + 1;
        assert_eq!((span.line, span.col), (position, position));
        // Flow sequences on one line (the scanner's own limit) and block sequences, far past it.
        let flow = format!("x: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse_error(&flow).message.contains("nested more than"));
        let block = format!("x:\n  {}x\n", "- ".repeat(100_000));
        assert!(parse_error(&block).message.contains("nested more than"));
        // An alias cannot carry a deep anchor deeper.
        let deep = format!(
            "a: &a {}{}\nb: {}*a{}\n",
            "[".repeat(100),
            "]".repeat(100),
            "[".repeat(50),
            "]".repeat(50)
        );
        let error = parse_error(&deep);
        assert!(error.message.contains("nested more than"), "{error}");
        assert_eq!(error.span.unwrap().line, 2);
    }

    #[test]
    fn refuses_excessive_aliasing() {
        let mut laughs = String::from("a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for (previous, name) in ["a", "b", "c", "d", "e", "f", "g", "h"]
            .iter()
            .zip(["b", "c", "d", "e", "f", "g", "h", "i"])
        {
            let items = vec![format!("*{previous}"); 9].join(", ");
            laughs.push_str(&format!("{name}: &{name} [{items}]\n"));
        }
        let error = parse_error(&laughs);
        assert!(error.message.contains("excessive aliasing"), "{error}");
        assert_eq!(error.span.unwrap().line, 6);
        // A long string counts by its length: a million copies of 100 kB would be 100 GB.
        let long = format!(
            "a: &a \"{}\"\nb: [{}]\n",
            "x".repeat(100_000),
            vec!["*a"; 1_000_000].join(",")
        );
        assert!(parse_error(&long).message.contains("excessive aliasing"));
    }

    #[test]
    fn allows_many_merge_keys() {
        // 3,000 services merging a 60-node anchor: 180,000 copied nodes, far above the floor, but
        // in proportion to the file.
        let defaults: String = (0..30).map(|i| format!("  k{i}: v\n")).collect();
        let services: String = (0..3000)
            .map(|i| format!("  s{i}:\n    <<: *defaults\n    image: x\n"))
            .collect();
        let node = parse_str(&format!(
            "x-defaults: &defaults\n{defaults}services:\n{services}"
        ));
        let services = node.get("services").unwrap().as_map().unwrap();
        assert_eq!(services.len(), 3000);
        assert_eq!(
            services["s2999"].node.get("k29").unwrap().as_text(),
            Some("v")
        );
    }

    #[test]
    fn reads_compose_tags() {
        let node = parse_str("ports: !reset []\ncommand: !override [a]\n");
        assert_eq!(node.get("ports").unwrap().tag, Some(Tag::Reset));
        assert_eq!(node.get("command").unwrap().tag, Some(Tag::Override));
    }
}
