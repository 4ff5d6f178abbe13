//! Builds go-yaml `yaml.Node` trees from events, including the composer's comment moves
//! (a key's foot comment goes to the previous key when dedented; a value's foot comment goes
//! to its key; a block mapping's foot comment goes to its last key).

use std::borrow::Cow;

use granit_parser::ScalarStyle;

use super::parser::{Event, EventKind, Events};
use super::scalar::{resolve_plain_tag, short_tag, MERGE_TAG, STR_TAG};
use super::syntax_error;
use crate::error::{Error, Result};

pub(super) type NodeId = usize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Kind {
    Document,
    Sequence,
    Mapping,
    Scalar,
    Alias,
}

#[derive(Clone, Debug)]
pub(super) struct Node {
    pub kind: Kind,
    /// Short tag (`!!str`, `!!int`, `!custom`), resolved as go-yaml does; the standard ones
    /// are static, so that a node does not allocate for its tag.
    pub tag: Cow<'static, str>,
    pub value: String,
    /// The scalar was written quoted or as a block scalar.
    pub quoted_or_block: bool,
    pub alias: Option<NodeId>,
    pub content: Vec<NodeId>,
    pub line: i64,
    pub head: CommentText,
    pub line_comment: CommentText,
    pub foot: CommentText,
}

/// A node's comment: most nodes have none, so an absent one costs a pointer, not a `String`
/// (the arena holds one node per key and value of the file).
/// (A boxed `String` is one pointer wide where a `String` or `Box<str>` takes two or three.)
#[derive(Clone, Debug, Default)]
#[allow(clippy::box_collection)]
pub(super) struct CommentText(Option<Box<String>>);

impl From<String> for CommentText {
    fn from(text: String) -> Self {
        CommentText(if text.is_empty() { None } else { Some(Box::new(text)) })
    }
}

impl std::ops::Deref for CommentText {
    type Target = str;

    fn deref(&self) -> &str {
        self.0.as_deref().map_or("", String::as_str)
    }
}

/// Deeper nesting is refused before recursion could exhaust the stack.
pub(super) const MAX_DEPTH: usize = 1_000;

pub(super) struct Composer<'s, 'a> {
    depth: usize,
    events: Events<'s, 'a>,
    current: Option<Event>,
    /// The parser's error, once it stopped: it wins over anything the composer would report.
    parse_error: Option<Error>,
    pub nodes: Vec<Node>,
    anchors: std::collections::HashMap<String, NodeId>,
}

impl<'s, 'a> Composer<'s, 'a> {
    pub fn new(events: Events<'s, 'a>) -> Self {
        let mut c =
            Composer { depth: 0, events, current: None, parse_error: None, nodes: Vec::new(), anchors: std::collections::HashMap::new() };
        // The stream start carries nothing.
        if matches!(c.peek(), Some(EventKind::StreamStart)) {
            c.advance();
        }
        c
    }

    fn peek(&mut self) -> Option<&EventKind> {
        if self.current.is_none() {
            self.current = match self.events.next() {
                Some(Ok(ev)) => Some(ev),
                Some(Err(e)) => {
                    self.parse_error = Some(e);
                    None
                }
                None => None,
            };
        }
        self.current.as_ref().map(|e| &e.kind)
    }

    /// The error to report for `err`: a syntax error anywhere in the stream comes first, as it
    /// did when the whole stream was parsed before composing, so the remaining events are
    /// parsed (and dropped) to look for one.
    pub fn first_error(&mut self, err: Error) -> Error {
        if let Some(e) = self.parse_error.take() {
            return e;
        }
        for ev in self.events.by_ref() {
            if let Err(e) = ev {
                return e;
            }
        }
        err
    }

    /// The next document, or `None` at the end of the stream.
    pub fn document(&mut self) -> Result<Option<NodeId>> {
        match self.compose_document() {
            Ok(doc) => match self.parse_error.take() {
                Some(e) => Err(e),
                None => Ok(doc),
            },
            Err(e) => Err(self.first_error(e)),
        }
    }

    fn event(&mut self) -> Option<&Event> {
        self.peek();
        self.current.as_ref()
    }

    fn advance(&mut self) -> Option<Event> {
        self.peek();
        self.current.take()
    }

    fn compose_document(&mut self) -> Result<Option<NodeId>> {
        match self.peek() {
            Some(EventKind::DocumentStart) => {}
            _ => return Ok(None),
        }
        let ev = self.advance().unwrap_or_else(unreachable_event);
        let doc = self.node(Kind::Document, "", "", String::new(), ev);
        self.child(doc)?;
        if let Some(EventKind::DocumentEnd) = self.peek() {
            let foot = self.event().map(|e| e.foot.clone()).unwrap_or_default();
            self.nodes[doc].foot = foot.into();
            self.advance();
        }
        Ok(Some(doc))
    }

    /// A new node from its event's position and comments, which move into it.
    fn node(&mut self, kind: Kind, default_tag: &'static str, tag: &str, value: String, ev: Event) -> NodeId {
        let tag = if !tag.is_empty() && tag != "!" {
            Cow::Owned(short_tag(tag))
        } else if !default_tag.is_empty() {
            Cow::Borrowed(default_tag)
        } else if kind == Kind::Scalar {
            Cow::Borrowed(resolve_plain_tag(&value))
        } else {
            Cow::Borrowed("")
        };
        let tag = match tag {
            // `!!str` written out in full is as common as the implicit one: share the constant.
            Cow::Owned(t) if t == STR_TAG => Cow::Borrowed(STR_TAG),
            other => other,
        };
        self.nodes.push(Node {
            kind,
            tag,
            value,
            quoted_or_block: false,
            alias: None,
            content: Vec::new(),
            line: ev.start.line + 1,
            head: ev.head.into(),
            line_comment: ev.line.into(),
            foot: ev.foot.into(),
        });
        self.nodes.len() - 1
    }

    /// Whether any node carries an anchor, so that an alias may read it again after conversion.
    pub fn has_anchors(&self) -> bool {
        !self.anchors.is_empty()
    }

    fn child(&mut self, parent: NodeId) -> Result<NodeId> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let line = self.nodes[parent].line;
            return Err(syntax_error(line - 1, 0, "document nesting is too deep"));
        }
        let id = self.parse();
        self.depth -= 1;
        let id = id?;
        self.nodes[parent].content.push(id);
        Ok(id)
    }

    fn parse(&mut self) -> Result<NodeId> {
        let Some(mut ev) = self.advance() else {
            return Err(syntax_error(0, 0, "unexpected end of the event stream"));
        };
        let (start, kind) = (ev.start, std::mem::replace(&mut ev.kind, EventKind::StreamEnd));
        match kind {
            EventKind::Scalar { anchor, tag, value, style } => {
                let quoted_or_block = style != ScalarStyle::Plain;
                let default_tag = if quoted_or_block {
                    STR_TAG
                } else if value == "<<" {
                    MERGE_TAG
                } else {
                    ""
                };
                let id = self.node(Kind::Scalar, default_tag, &tag, value, ev);
                self.nodes[id].quoted_or_block = quoted_or_block;
                self.anchor(id, anchor);
                Ok(id)
            }
            EventKind::Alias { anchor } => {
                let target = self.anchors.get(&anchor).copied();
                let id = self.node(Kind::Alias, "", "", anchor, ev);
                match target {
                    Some(target) => self.nodes[id].alias = Some(target),
                    None => {
                        return Err(syntax_error(start.line, start.column, "unknown anchor referenced"));
                    }
                }
                Ok(id)
            }
            EventKind::SequenceStart { anchor, tag, .. } => {
                let id = self.node(Kind::Sequence, "!!seq", &tag, String::new(), ev);
                self.anchor(id, anchor);
                while !matches!(self.peek(), Some(EventKind::SequenceEnd) | None) {
                    self.child(id)?;
                }
                if let Some(end) = self.advance() {
                    self.nodes[id].line_comment = end.line.into();
                    self.nodes[id].foot = end.foot.into();
                }
                Ok(id)
            }
            EventKind::MappingStart { anchor, tag, flow } => {
                let id = self.node(Kind::Mapping, "!!map", &tag, String::new(), ev);
                self.anchor(id, anchor);
                while !matches!(self.peek(), Some(EventKind::MappingEnd) | None) {
                    let k = self.child(id)?;
                    if !flow && !self.nodes[k].foot.is_empty() {
                        // A key's foot comment is the previous value's when dedented.
                        let n = self.nodes[id].content.len();
                        if n > 2 {
                            let prev_key = self.nodes[id].content[n - 3];
                            self.nodes[prev_key].foot = std::mem::take(&mut self.nodes[k].foot);
                        }
                    }
                    let v = self.child(id)?;
                    if self.nodes[k].foot.is_empty() && !self.nodes[v].foot.is_empty() {
                        self.nodes[k].foot = std::mem::take(&mut self.nodes[v].foot);
                    }
                }
                if let Some(end) = self.advance() {
                    self.nodes[id].line_comment = end.line.into();
                    self.nodes[id].foot = end.foot.into();
                }
                let n = self.nodes[id].content.len();
                if !flow && !self.nodes[id].foot.is_empty() && n > 1 {
                    let last_key = self.nodes[id].content[n - 2];
                    self.nodes[last_key].foot = std::mem::take(&mut self.nodes[id].foot);
                }
                Ok(id)
            }
            _ => Err(syntax_error(start.line, start.column, "unexpected event")),
        }
    }

    fn anchor(&mut self, id: NodeId, anchor: String) {
        if !anchor.is_empty() {
            self.anchors.insert(anchor, id);
        }
    }
}

fn unreachable_event() -> Event {
    Event { kind: EventKind::StreamEnd, start: Default::default(), head: String::new(), line: String::new(), foot: String::new() }
}
