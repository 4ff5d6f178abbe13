//! Builds go-yaml `yaml.Node` trees from events, including the composer's comment moves
//! (a key's foot comment goes to the previous key when dedented; a value's foot comment goes
//! to its key; a block mapping's foot comment goes to its last key).

use granit_parser::ScalarStyle;

use super::parser::{Event, EventKind, Events};
use super::scalar::{resolve_plain_tag, short_tag, BINARY_TAG, BOOL_TAG, FLOAT_TAG, INT_TAG, MERGE_TAG, NULL_TAG, STR_TAG, TIMESTAMP_TAG};
use super::syntax_error;
use crate::error::{Error, Result};

pub(super) type NodeId = usize;

/// Nodes in fixed-size chunks. A `Vec` of nodes would double its buffer as it grows, holding up
/// to twice the nodes' size and, while it moves, three times: the arena is the largest part of
/// a file of short keys in memory, so it grows one chunk at a time instead.
///
/// Chunks can also be freed while the tree is built from them ([`Arena::free_before`]), so that
/// the nodes and the tree are not both held whole.
#[derive(Default)]
pub(super) struct Arena {
    chunks: Vec<Vec<Node>>,
    len: usize,
    /// The first chunk that [`Arena::free_before`] may not have freed (the first chunk never is):
    /// all before it are freed.
    unfreed: usize,
}

/// Nodes per chunk: large enough that the list of chunks stays small, small enough that the
/// last chunk's unused room is a trifle.
const CHUNK: usize = 4096;

impl Arena {
    pub fn len(&self) -> usize {
        self.len
    }

    /// Frees every chunk whose nodes all come before `next` and after the chunk of `keep`, as a
    /// caller that will never look at those nodes again may ask. Looking at a freed node panics.
    pub fn free_before(&mut self, next: NodeId, keep: NodeId) {
        let start = self.unfreed.max(keep / CHUNK + 1);
        let end = next / CHUNK;
        for chunk in self.chunks.iter_mut().take(end).skip(start) {
            *chunk = Vec::new();
        }
        // Chunks kept for `keep` (a nested collection) are freed by a later call for the
        // collection it is in: only a range that starts at the first chunk left moves it on.
        if start == self.unfreed {
            self.unfreed = self.unfreed.max(end);
        }
    }

    pub fn push(&mut self, node: Node) -> NodeId {
        match self.chunks.last_mut() {
            Some(chunk) if chunk.len() < CHUNK => chunk.push(node),
            _ => {
                // The first chunk grows as needed, so that a small file takes little room.
                let mut chunk = if self.chunks.is_empty() { Vec::new() } else { Vec::with_capacity(CHUNK) };
                chunk.push(node);
                self.chunks.push(chunk);
            }
        }
        self.len += 1;
        self.len - 1
    }
}

impl std::ops::Index<NodeId> for Arena {
    type Output = Node;

    fn index(&self, id: NodeId) -> &Node {
        &self.chunks[id / CHUNK][id % CHUNK]
    }
}

impl std::ops::IndexMut<NodeId> for Arena {
    fn index_mut(&mut self, id: NodeId) -> &mut Node {
        &mut self.chunks[id / CHUNK][id % CHUNK]
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Kind {
    Document,
    Sequence,
    Mapping,
    Scalar,
    Alias,
}

/// One node of the arena, kept small: a file of short keys holds one per key and per value.
#[derive(Clone, Debug)]
pub(super) struct Node {
    pub kind: Kind,
    /// The scalar was written quoted or as a block scalar.
    pub quoted_or_block: bool,
    /// 1-based line.
    line: u32,
    /// Short tag (`!!str`, `!!int`), resolved as go-yaml does, as its place in [`TAGS`]; a tag
    /// of the file's own (`!custom`) is in `extra`.
    tag: u8,
    /// The scalar's text (an alias's anchor name), without room to grow.
    pub value: Box<str>,
    /// Children; an alias node's one entry is the node it refers to.
    pub content: Children,
    /// What most nodes lack, behind one pointer.
    extra: Option<Box<Extra>>,
}

/// The children of a node: one pointer, as most nodes (scalars) have none.
#[derive(Clone, Debug, Default)]
#[allow(clippy::box_collection, reason = "a node without children (every scalar) then holds one pointer instead of a Vec's three")]
pub(super) struct Children(Option<Box<Vec<NodeId>>>);

impl Children {
    pub fn push(&mut self, id: NodeId) {
        self.0.get_or_insert_with(Box::default).push(id);
    }

    /// Removes the first `n` children.
    pub fn drain_front(&mut self, n: usize) {
        if let Some(children) = &mut self.0 {
            children.drain(..n);
        }
    }
}

impl std::ops::Deref for Children {
    type Target = [NodeId];

    fn deref(&self) -> &[NodeId] {
        self.0.as_deref().map_or(&[], Vec::as_slice)
    }
}

/// The tags a node may have without one of the file's own. A node keeps the place of its tag
/// in this list: one byte where a string reference takes sixteen, in a node of which a file of
/// short keys holds two per key.
const TAGS: [&str; 11] = ["", NULL_TAG, BOOL_TAG, STR_TAG, INT_TAG, FLOAT_TAG, TIMESTAMP_TAG, BINARY_TAG, MERGE_TAG, "!!seq", "!!map"];

#[derive(Clone, Debug, Default)]
struct Extra {
    head: String,
    line_comment: String,
    foot: String,
    tag: String,
}

impl Node {
    pub fn line(&self) -> i64 {
        i64::from(self.line)
    }

    pub fn tag(&self) -> &str {
        match &self.extra {
            Some(extra) if !extra.tag.is_empty() => &extra.tag,
            _ => TAGS.get(usize::from(self.tag)).copied().unwrap_or_default(),
        }
    }

    /// The node an alias refers to.
    pub fn alias(&self) -> Option<NodeId> {
        match self.kind {
            Kind::Alias => self.content.first().copied(),
            _ => None,
        }
    }

    pub fn head(&self) -> &str {
        self.extra.as_ref().map_or("", |e| &e.head)
    }

    pub fn line_comment(&self) -> &str {
        self.extra.as_ref().map_or("", |e| &e.line_comment)
    }

    pub fn foot(&self) -> &str {
        self.extra.as_ref().map_or("", |e| &e.foot)
    }

    fn extra(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }

    fn set_line_comment(&mut self, text: String) {
        if !text.is_empty() || self.extra.is_some() {
            self.extra().line_comment = text;
        }
    }

    fn set_foot(&mut self, text: String) {
        if !text.is_empty() || self.extra.is_some() {
            self.extra().foot = text;
        }
    }

    fn take_foot(&mut self) -> String {
        self.extra.as_mut().map(|e| std::mem::take(&mut e.foot)).unwrap_or_default()
    }
}

pub(super) struct Composer<'s, 'a> {
    events: Events<'s, 'a>,
    current: Option<Event>,
    /// The parser's error, once it stopped: it wins over anything the composer would report.
    parse_error: Option<Error>,
    pub nodes: Arena,
    anchors: std::collections::HashMap<String, NodeId>,
}

impl<'s, 'a> Composer<'s, 'a> {
    pub fn new(events: Events<'s, 'a>) -> Self {
        let mut c =
            Composer { events, current: None, parse_error: None, nodes: Arena::default(), anchors: std::collections::HashMap::new() };
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
            self.nodes[doc].set_foot(foot);
            self.advance();
        }
        Ok(Some(doc))
    }

    /// A new node from its event's position and comments, which move into it.
    fn node(&mut self, kind: Kind, default_tag: &'static str, tag: &str, value: String, ev: Event) -> NodeId {
        let (tag, custom): (&'static str, String) = if !tag.is_empty() && tag != "!" {
            match short_tag(tag) {
                // `!!str` written out in full is as common as the implicit one: share the constant.
                t if t == STR_TAG => (STR_TAG, String::new()),
                t => ("", t),
            }
        } else if !default_tag.is_empty() {
            (default_tag, String::new())
        } else if kind == Kind::Scalar {
            (resolve_plain_tag(&value), String::new())
        } else {
            ("", String::new())
        };
        // A tag outside the list (none is, today) is kept as the file's own would be.
        let (tag, custom) = match TAGS.iter().position(|t| *t == tag).and_then(|i| u8::try_from(i).ok()) {
            Some(index) => (index, custom),
            None => (0, if custom.is_empty() { tag.to_owned() } else { custom }),
        };
        let extra = if ev.head.is_empty() && ev.line.is_empty() && ev.foot.is_empty() && custom.is_empty() {
            None
        } else {
            Some(Box::new(Extra { head: ev.head, line_comment: ev.line, foot: ev.foot, tag: custom }))
        };
        let line = u32::try_from((ev.start.line + 1).max(0)).unwrap_or(u32::MAX);
        self.nodes.push(Node {
            kind,
            quoted_or_block: false,
            line,
            tag,
            value: value.into_boxed_str(),
            content: Children::default(),
            extra,
        })
    }

    /// Starts a document whose root is a block mapping, to be composed one child at a time
    /// ([`Self::next_root_child`]): returns the document and root nodes, or `None` when the
    /// stream has no document or its root is something else (events are consumed either way).
    pub fn start_root_mapping(&mut self) -> Result<Option<(NodeId, NodeId)>> {
        if !matches!(self.peek(), Some(EventKind::DocumentStart)) {
            return Ok(None);
        }
        let ev = self.advance().unwrap_or_else(unreachable_event);
        let doc = self.node(Kind::Document, "", "", String::new(), ev);
        if !matches!(self.peek(), Some(EventKind::MappingStart { flow: false, .. })) {
            return Ok(None);
        }
        let (root, _) = self.start_node()?;
        self.nodes[doc].content.push(root);
        Ok(Some((doc, root)))
    }

    /// The next child (key or value, in turn) of the root mapping `root` of document `doc`,
    /// composed whole and attached with the composer's comment moves; `None` once the mapping
    /// has ended (it is closed then, and the document too). A child's comments may still move
    /// to the key before it until the next key is attached or the mapping ends.
    pub fn next_root_child(&mut self, doc: NodeId, root: NodeId) -> Result<Option<NodeId>> {
        let before_key = self.nodes[root].content.len().is_multiple_of(2);
        let at_end = match self.peek() {
            None => true,
            Some(EventKind::MappingEnd) => before_key,
            _ => false,
        };
        if !at_end {
            return self.child_in(root, Some(Style::BlockMapping)).map(Some);
        }
        if let Some(e) = self.parse_error.take() {
            return Err(e);
        }
        self.close(root, Style::BlockMapping);
        if let Some(EventKind::DocumentEnd) = self.peek() {
            let foot = self.event().map(|e| e.foot.clone()).unwrap_or_default();
            self.nodes[doc].set_foot(foot);
            self.advance();
        }
        Ok(None)
    }

    /// Lets go of the children of the root mapping `root` that are written already: the
    /// comment moves look at its last key and value only.
    pub fn forget_children(&mut self, root: NodeId) {
        let content = &mut self.nodes[root].content;
        let n = content.len();
        // An even number, so that keys stay at even places.
        content.drain_front(n.saturating_sub(2 + n % 2));
    }

    /// Whether the stream ends here: no other document follows and no error was found.
    pub fn at_stream_end(&mut self) -> Result<bool> {
        let more = matches!(self.peek(), Some(EventKind::DocumentStart));
        match self.parse_error.take() {
            Some(e) => Err(e),
            None => Ok(!more),
        }
    }

    /// Whether any node carries an anchor, so that an alias may read it again after conversion.
    pub fn has_anchors(&self) -> bool {
        !self.anchors.is_empty()
    }

    /// Composes the node that comes next as the last child of `parent`, with everything nested
    /// in it. Open collections wait on a stack of their own rather than on the call stack, so
    /// any nesting the scanner accepts (go-yaml's 10,000 levels) composes on a small thread.
    fn child(&mut self, parent: NodeId) -> Result<NodeId> {
        self.child_in(parent, None)
    }

    /// [`Self::child`]; when `parent` is an open collection of the given style, the child is
    /// attached to it with the composer's comment moves.
    fn child_in(&mut self, parent: NodeId, open_parent: Option<Style>) -> Result<NodeId> {
        let mut open: Vec<Open> = Vec::new();
        loop {
            let (id, collection) = self.start_node()?;
            let mut done = match collection {
                Some(style) => {
                    open.push(Open { id, style });
                    None
                }
                None => Some(id),
            };
            // Hands finished nodes to their parents and closes the collections that end here,
            // until one needs another child.
            loop {
                if let Some(finished) = done.take() {
                    match open.last() {
                        None => {
                            match open_parent {
                                Some(style) => self.attach(parent, style, finished),
                                None => self.nodes[parent].content.push(finished),
                            }
                            return Ok(finished);
                        }
                        Some(&Open { id: parent, style }) => self.attach(parent, style, finished),
                    }
                }
                let Some(&Open { id, style }) = open.last() else { break };
                let (kind, before_key) = (self.nodes[id].kind, self.nodes[id].content.len().is_multiple_of(2));
                let at_end = match (kind, self.peek()) {
                    (_, None) | (Kind::Sequence, Some(EventKind::SequenceEnd)) => true,
                    // A mapping may end before a key only: an end in place of a value is an
                    // unexpected event, reported when the value is composed.
                    (Kind::Mapping, Some(EventKind::MappingEnd)) => before_key,
                    _ => false,
                };
                if !at_end {
                    break;
                }
                open.pop();
                self.close(id, style);
                done = Some(id);
            }
        }
    }

    /// Adds `child` to the open collection `parent`, with the composer's comment moves.
    fn attach(&mut self, parent: NodeId, style: Style, child: NodeId) {
        self.nodes[parent].content.push(child);
        if style == Style::Sequence {
            return;
        }
        let n = self.nodes[parent].content.len();
        if n % 2 == 1 {
            if style == Style::BlockMapping && !self.nodes[child].foot().is_empty() && n > 2 {
                // A key's foot comment is the previous value's when dedented.
                let prev_key = self.nodes[parent].content[n - 3];
                let foot = self.nodes[child].take_foot();
                self.nodes[prev_key].set_foot(foot);
            }
        } else {
            let k = self.nodes[parent].content[n - 2];
            if self.nodes[k].foot().is_empty() && !self.nodes[child].foot().is_empty() {
                let foot = self.nodes[child].take_foot();
                self.nodes[k].set_foot(foot);
            }
        }
    }

    /// Takes the end event of the open collection `id` and its comments.
    fn close(&mut self, id: NodeId, style: Style) {
        if let Some(end) = self.advance() {
            self.nodes[id].set_line_comment(end.line);
            self.nodes[id].set_foot(end.foot);
        }
        let n = self.nodes[id].content.len();
        if style == Style::BlockMapping && !self.nodes[id].foot().is_empty() && n > 1 {
            // A block mapping's foot comment goes to its last key.
            let last_key = self.nodes[id].content[n - 2];
            let foot = self.nodes[id].take_foot();
            self.nodes[last_key].set_foot(foot);
        }
    }

    /// The node the next event starts. A collection comes back open, with its style.
    fn start_node(&mut self) -> Result<(NodeId, Option<Style>)> {
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
                Ok((id, None))
            }
            EventKind::Alias { anchor } => {
                let target = self.anchors.get(&anchor).copied();
                let id = self.node(Kind::Alias, "", "", anchor, ev);
                match target {
                    Some(target) => self.nodes[id].content.push(target),
                    None => {
                        return Err(syntax_error(start.line, start.column, "unknown anchor referenced"));
                    }
                }
                Ok((id, None))
            }
            EventKind::SequenceStart { anchor, tag, .. } => {
                let id = self.node(Kind::Sequence, "!!seq", &tag, String::new(), ev);
                self.anchor(id, anchor);
                Ok((id, Some(Style::Sequence)))
            }
            EventKind::MappingStart { anchor, tag, flow } => {
                let id = self.node(Kind::Mapping, "!!map", &tag, String::new(), ev);
                self.anchor(id, anchor);
                Ok((id, Some(if flow { Style::FlowMapping } else { Style::BlockMapping })))
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

/// A collection being composed.
#[derive(Clone, Copy)]
struct Open {
    id: NodeId,
    style: Style,
}

/// What kind of collection a node is, as far as the comment moves care.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Sequence,
    BlockMapping,
    FlowMapping,
}

fn unreachable_event() -> Event {
    Event {
        kind: EventKind::StreamEnd,
        start: super::source::Mark::default(),
        head: String::new(),
        line: String::new(),
        foot: String::new(),
    }
}
