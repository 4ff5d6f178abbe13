//! Turns go-yaml node trees into sops trees, the way sops' YAML store walks `yaml.Node`s:
//! every comment line becomes its own item (text after the first `#`), a key's and a scalar
//! value's comments go before the entry, a nested collection's own comments go inside it,
//! aliases are expanded, merge keys stay literal `<<` keys and tags only steer typing.

use base64::Engine;

use super::compose::{Arena, Kind, NodeId};
use super::scalar::{resolve, Resolved, BINARY_TAG, MERGE_TAG, NULL_TAG, STR_TAG};
use crate::error::{Error, Result};
use crate::format::Format;
use crate::tree::{Map, MapItem, Value};

/// Guards against alias bombs: no document legitimately copies this many nodes through aliases.
const MAX_EXPANDED_NODES: usize = 1_000_000;

/// Guards against the other alias bomb: one large anchored scalar referenced many times costs
/// a few bytes of input per copy but its full size in memory. go-yaml (and so sops) would expand
/// it; we refuse once the copies made through aliases exceed this many bytes.
const MAX_EXPANDED_BYTES: usize = 64 << 20;

pub(super) struct Converter<'n> {
    nodes: &'n mut Arena,
    /// Scalar text moves into the tree instead of being copied: set when no alias can read a
    /// node a second time (the stream has no anchors).
    take_text: bool,
    /// Reproduces the extra checks sops runs on the first document of a plain file (a decode
    /// into `map[string]interface{}`): duplicate keys, bad tags and bad merges are errors there
    /// rather than silently becoming null.
    strict: bool,
    expanded: usize,
    /// Bytes of scalar text copied through aliases so far.
    expanded_bytes: usize,
    /// How many nodes are being converted (each mapping met as a value twice, as a value and as
    /// a branch): the top-level mapping is at 2.
    depth: usize,
    /// Aliases being expanded, to refuse an anchor that contains itself.
    active_aliases: Vec<NodeId>,
}

/// What [`Converter::start`] is asked to convert.
enum Start {
    /// A document or mapping whose entries go into `branch`; `handled` when its own head and
    /// line comments were placed already; `as_value` when it ends as a [`Value::Map`].
    Branch { id: NodeId, branch: Map, handled: bool, as_value: bool },
    /// A node met as a value.
    Value { id: NodeId, handled: bool },
}

/// What a finished node gives its parent.
enum Done {
    Branch(Map),
    Value(Value),
}

impl Done {
    fn into_value(self) -> Value {
        match self {
            Done::Value(v) => v,
            Done::Branch(m) => Value::Map(m),
        }
    }

    fn into_branch(self) -> Map {
        match self {
            Done::Branch(m) => m,
            Done::Value(mut v) => match &mut v {
                Value::Map(m) => std::mem::take(m),
                // A document's child is converted as a branch, which always gives one back.
                _ => Map::new(),
            },
        }
    }
}

/// A node being converted, on the converter's own stack.
enum Frame {
    /// A document or mapping, its entries going into `branch`; `next` is the place in its
    /// content of the next child; `pending` the entry whose value is being converted.
    Branch { id: NodeId, branch: Map, next: usize, pending: Option<Pending>, as_value: bool },
    /// A sequence; `item` is the item being converted.
    List { id: NodeId, list: Vec<Value>, next: usize, item: Option<NodeId>, handled: bool },
    /// An alias whose target is being converted; in a branch, the alias node's foot comment
    /// follows the target's entries.
    Alias { foot_of: Option<NodeId> },
}

/// A mapping entry waiting for its value.
struct Pending {
    key: String,
    k: NodeId,
    v: NodeId,
    handle_value: bool,
}

fn error(line: i64, message: &str) -> Error {
    Error::parse(Format::Yaml, format!("line {line}: {message}"))
}

pub(super) fn push_map_comments(text: &str, branch: &mut Map) {
    for line in text.split('\n').filter(|l| !l.is_empty()) {
        branch.0.push(MapItem::Comment(after_hash(line)));
    }
}

fn push_list_comments(text: &str, list: &mut Vec<Value>) {
    for line in text.split('\n').filter(|l| !l.is_empty()) {
        list.push(Value::Comment(after_hash(line)));
    }
}

/// The comment text after its first character (always `#`).
fn after_hash(line: &str) -> String {
    let mut chars = line.chars();
    chars.next();
    chars.as_str().to_string()
}

impl<'n> Converter<'n> {
    pub fn new(nodes: &'n mut Arena, strict: bool, take_text: bool) -> Self {
        Converter { nodes, take_text, strict, expanded: 0, expanded_bytes: 0, depth: 0, active_aliases: Vec::new() }
    }

    /// A document as a top-level mapping (sops `yamlDocumentNodeToTreeBranch`).
    pub fn document(&mut self, doc: NodeId) -> Result<Map> {
        if self.strict {
            self.check_top_level(doc)?;
        }
        Ok(self.run(Start::Branch { id: doc, branch: Map::new(), handled: false, as_value: false })?.into_branch())
    }

    /// One entry of a document's top-level mapping, as [`Self::document`] converts it: the
    /// comments before it, the entry, the comments after it, appended to `items`.
    pub fn root_entry(&mut self, k: NodeId, v: NodeId, items: &mut Map) -> Result<()> {
        let (key, value) = (&self.nodes[k], &self.nodes[v]);
        push_map_comments(key.head(), items);
        push_map_comments(key.line_comment(), items);
        let handle_value = matches!(value.kind, Kind::Scalar | Kind::Alias);
        if handle_value {
            push_map_comments(value.head(), items);
            push_map_comments(value.line_comment(), items);
        }
        let key = self.key(k)?;
        // As inside the document and its mapping.
        self.depth = 2;
        let value = self.run(Start::Value { id: v, handled: handle_value })?.into_value();
        items.0.push(MapItem::Entry(key, value));
        if handle_value {
            push_map_comments(self.nodes[v].foot(), items);
        }
        push_map_comments(self.nodes[k].foot(), items);
        Ok(())
    }

    fn check_top_level(&self, doc: NodeId) -> Result<()> {
        let Some(&root) = self.nodes[doc].content.first() else { return Ok(()) };
        let target = self.resolve_alias(root);
        let n = &self.nodes[target];
        match n.kind {
            Kind::Mapping => Ok(()),
            Kind::Scalar if n.tag() == NULL_TAG => Ok(()),
            Kind::Sequence => Err(error(n.line(), "cannot unmarshal a sequence into the top-level mapping")),
            _ => Err(error(n.line(), "cannot unmarshal a scalar into the top-level mapping")),
        }
    }

    fn resolve_alias(&self, mut id: NodeId) -> NodeId {
        for _ in 0..self.nodes.len() {
            match self.nodes[id].alias() {
                Some(t) if self.nodes[id].kind == Kind::Alias => id = t,
                _ => break,
            }
        }
        id
    }

    fn enter(&mut self, id: NodeId) -> Result<()> {
        if !self.active_aliases.is_empty() {
            self.expanded += 1;
        }
        self.depth += 1;
        if self.expanded > MAX_EXPANDED_NODES {
            return Err(error(self.nodes[id].line(), "document contains excessive aliasing"));
        }
        if !self.active_aliases.is_empty() {
            self.charge_copy(id)?;
        }
        Ok(())
    }

    /// Counts the scalar text of `id` as copied through an alias.
    fn charge_copy(&mut self, id: NodeId) -> Result<()> {
        self.expanded_bytes = self.expanded_bytes.saturating_add(self.nodes[id].value.len());
        if self.expanded_bytes > MAX_EXPANDED_BYTES {
            return Err(error(self.nodes[id].line(), "document contains excessive aliasing (anchored values copied too often)"));
        }
        Ok(())
    }

    fn enter_alias(&mut self, id: NodeId) -> Result<NodeId> {
        let target = self.nodes[id].alias().ok_or_else(|| error(self.nodes[id].line(), "unknown anchor referenced"))?;
        if self.active_aliases.contains(&id) {
            return Err(error(self.nodes[id].line(), "anchor value contains itself"));
        }
        self.active_aliases.push(id);
        Ok(target)
    }

    /// Converts what `start` describes with everything nested in it. The nodes being converted
    /// wait on a stack of their own, not on the call stack, so that any depth the reader
    /// accepts converts on a small thread. The steps mirror sops' walk: a document or mapping
    /// appends its entries (and the comments around them) to a branch, a sequence collects its
    /// items, an alias converts its target in its place.
    fn run(&mut self, start: Start) -> Result<Done> {
        let mut stack: Vec<Frame> = Vec::new();
        let mut done = self.start(&mut stack, start)?;
        loop {
            if let Some(finished) = done.take() {
                let Some(top) = stack.last_mut() else { return Ok(finished) };
                match top {
                    Frame::Alias { foot_of } => {
                        let foot_of = *foot_of;
                        stack.pop();
                        self.active_aliases.pop();
                        let mut finished = finished;
                        if let (Some(id), Done::Branch(branch) | Done::Value(Value::Map(branch))) = (foot_of, &mut finished) {
                            push_map_comments(self.nodes[id].foot(), branch);
                        }
                        self.depth -= 1;
                        done = Some(finished);
                        continue;
                    }
                    Frame::Branch { id, branch, next, pending, .. } => {
                        let id = *id;
                        match pending.take() {
                            // A document's child appended to the branch it was handed.
                            None => *branch = finished.into_branch(),
                            Some(Pending { key, k, v, handle_value }) => {
                                branch.0.push(MapItem::Entry(key, finished.into_value()));
                                if handle_value {
                                    push_map_comments(self.nodes[v].foot(), branch);
                                }
                                push_map_comments(self.nodes[k].foot(), branch);
                                // Without aliases nothing refers back: the nodes of the entries
                                // converted so far can go (their text has moved into the tree
                                // already). Nodes are numbered in document order, so the mapping
                                // and everything it is nested in come before its entries.
                                if self.take_text {
                                    if let Some(&following) = self.nodes[id].content.get(*next) {
                                        self.nodes.free_before(following, id);
                                    }
                                }
                            }
                        }
                    }
                    Frame::List { id, list, next, item, .. } => {
                        list.push(finished.into_value());
                        if let Some(item) = item.take() {
                            push_list_comments(self.nodes[item].foot(), list);
                        }
                        // As for a mapping's entries: the items converted so far can go.
                        if self.take_text {
                            if let Some(&following) = self.nodes[*id].content.get(*next) {
                                self.nodes.free_before(following, *id);
                            }
                        }
                    }
                }
            }
            let Some(top) = stack.last_mut() else {
                return Err(error(0, "nothing to convert"));
            };
            let next_start = match top {
                Frame::Alias { .. } => return Err(error(0, "an alias frame without its target")),
                Frame::Branch { id, branch, next, pending, .. } => {
                    let (id, i) = (*id, *next);
                    let n = &self.nodes[id];
                    if n.kind == Kind::Document {
                        match n.content.get(i) {
                            Some(&item) => {
                                *next += 1;
                                Some(Start::Branch { id: item, branch: std::mem::take(branch), handled: false, as_value: false })
                            }
                            None => None,
                        }
                    } else if i + 1 < n.content.len() {
                        let (k, v) = (n.content[i], n.content[i + 1]);
                        *next += 2;
                        let (key, value) = (&self.nodes[k], &self.nodes[v]);
                        push_map_comments(key.head(), branch);
                        push_map_comments(key.line_comment(), branch);
                        let handle_value = matches!(value.kind, Kind::Scalar | Kind::Alias);
                        if handle_value {
                            push_map_comments(value.head(), branch);
                            push_map_comments(value.line_comment(), branch);
                        }
                        let key = self.key(k)?;
                        *pending = Some(Pending { key, k, v, handle_value });
                        Some(Start::Value { id: v, handled: handle_value })
                    } else {
                        None
                    }
                }
                Frame::List { id, list, next, item, .. } => {
                    let n = &self.nodes[*id];
                    match n.content.get(*next) {
                        Some(&child) => {
                            *next += 1;
                            let it = &self.nodes[child];
                            push_list_comments(it.head(), list);
                            push_list_comments(it.line_comment(), list);
                            *item = Some(child);
                            Some(Start::Value { id: child, handled: true })
                        }
                        None => None,
                    }
                }
            };
            if let Some(next_start) = next_start {
                done = self.start(&mut stack, next_start)?;
                continue;
            }
            // The top frame has no child left: it is finished.
            done = match stack.pop() {
                Some(Frame::Branch { id, mut branch, as_value, .. }) => {
                    push_map_comments(self.nodes[id].foot(), &mut branch);
                    self.depth -= 1;
                    if as_value {
                        // Left as a value too.
                        self.depth -= 1;
                        Some(Done::Value(Value::Map(branch)))
                    } else {
                        Some(Done::Branch(branch))
                    }
                }
                Some(Frame::List { id, mut list, handled, .. }) => {
                    if !handled {
                        push_list_comments(self.nodes[id].foot(), &mut list);
                    }
                    self.depth -= 1;
                    Some(Done::Value(Value::List(list)))
                }
                Some(Frame::Alias { .. }) | None => return Err(error(0, "an alias frame without its target")),
            };
        }
    }

    /// Enters the node `start` names: a scalar (or an empty document) is converted at once and
    /// returned; a collection is pushed on `stack` to be converted item by item; an alias
    /// pushes a frame of its own and starts its target.
    fn start(&mut self, stack: &mut Vec<Frame>, mut start: Start) -> Result<Option<Done>> {
        loop {
            match start {
                Start::Branch { id, mut branch, handled, as_value } => {
                    self.enter(id)?;
                    let n = &self.nodes[id];
                    if !handled {
                        push_map_comments(n.head(), &mut branch);
                        push_map_comments(n.line_comment(), &mut branch);
                    }
                    match n.kind {
                        Kind::Document => {
                            stack.push(Frame::Branch { id, branch, next: 0, pending: None, as_value });
                            return Ok(None);
                        }
                        Kind::Sequence => {
                            return Err(error(n.line(), "YAML documents that are sequences are not supported"));
                        }
                        Kind::Mapping => {
                            if self.strict {
                                self.check_mapping(id)?;
                            }
                            branch.0.reserve(self.nodes[id].content.len() / 2);
                            stack.push(Frame::Branch { id, branch, next: 0, pending: None, as_value });
                            return Ok(None);
                        }
                        Kind::Scalar => {
                            // An empty document (`---` alone) holds a null: an empty mapping.
                            if n.tag() == NULL_TAG {
                                self.depth -= 1;
                                return Ok(Some(Done::Branch(branch)));
                            }
                            return Err(error(n.line(), "YAML documents that are values are not supported"));
                        }
                        Kind::Alias => {
                            let target = self.enter_alias(id)?;
                            stack.push(Frame::Alias { foot_of: Some(id) });
                            start = Start::Branch { id: target, branch, handled: false, as_value };
                        }
                    }
                }
                Start::Value { id, handled } => {
                    self.enter(id)?;
                    let n = &self.nodes[id];
                    match n.kind {
                        Kind::Document => return Err(error(n.line(), "nested document")),
                        Kind::Sequence => {
                            let mut list = Vec::with_capacity(n.content.len());
                            if !handled {
                                push_list_comments(n.head(), &mut list);
                                push_list_comments(n.line_comment(), &mut list);
                            }
                            stack.push(Frame::List { id, list, next: 0, item: None, handled });
                            return Ok(None);
                        }
                        Kind::Mapping => start = Start::Branch { id, branch: Map::new(), handled, as_value: true },
                        Kind::Scalar => {
                            let value = self.scalar(id)?;
                            self.depth -= 1;
                            return Ok(Some(Done::Value(value)));
                        }
                        Kind::Alias => {
                            let target = self.enter_alias(id)?;
                            stack.push(Frame::Alias { foot_of: None });
                            start = Start::Value { id: target, handled: false };
                        }
                    }
                }
            }
        }
    }

    /// A mapping key, which sops requires to decode to a string.
    fn key(&mut self, id: NodeId) -> Result<String> {
        let target = self.resolve_alias(id);
        if target != id {
            self.charge_copy(target)?;
        }
        let n = &self.nodes[target];
        if n.kind == Kind::Scalar {
            if let Value::Str(s) = &mut self.scalar(target)? {
                return Ok(std::mem::take(s));
            }
        }
        Err(error(self.nodes[id].line(), "non-string key: only string keys are supported"))
    }

    /// A scalar as go-yaml decodes it into an `interface{}`.
    fn scalar(&mut self, id: NodeId) -> Result<Value> {
        let n = &self.nodes[id];
        if n.tag() == STR_TAG {
            return Ok(Value::Str(self.text(id)));
        }
        if n.tag() == BINARY_TAG {
            let cleaned: String = n.value.chars().filter(|&c| c != '\r' && c != '\n').collect();
            return match base64::engine::general_purpose::STANDARD.decode(cleaned) {
                Ok(bytes) => Ok(match String::from_utf8(bytes) {
                    Ok(s) => Value::Str(s),
                    Err(e) => Value::Bytes(e.into_bytes()),
                }),
                Err(_) => self.decode_failure(id, "!!binary value contains invalid base64 data"),
            };
        }
        match resolve(n.tag(), &n.value) {
            Ok((_, Resolved::Null)) => Ok(Value::Null),
            Ok((_, Resolved::Bool(b))) => Ok(Value::Bool(b)),
            Ok((_, Resolved::Int(i))) => Ok(Value::Int(i)),
            Ok((_, Resolved::Uint(_))) => Err(error(n.line(), "integer beyond the signed 64-bit range is not supported")),
            Ok((_, Resolved::Float(f))) => Ok(Value::Float(f)),
            Ok((_, Resolved::Str)) => Ok(Value::Str(self.text(id))),
            Ok((_, Resolved::Time(t))) => Ok(Value::Time(t)),
            Err(()) => self.decode_failure(id, "cannot decode the value with its tag"),
        }
    }

    /// A scalar's text for the tree: moved out of the node when nothing reads it again.
    fn text(&mut self, id: NodeId) -> String {
        if self.take_text {
            std::mem::take(&mut self.nodes[id].value).into_string()
        } else {
            self.nodes[id].value.to_string()
        }
    }

    /// sops ignores decode errors (the value becomes null) except in the first plain document.
    fn decode_failure(&self, id: NodeId, message: &str) -> Result<Value> {
        if self.strict {
            Err(error(self.nodes[id].line(), message))
        } else {
            Ok(Value::Null)
        }
    }

    /// The top-level keys of an encrypted file's first document are unique. sops reads its
    /// metadata by decoding that document into a structure, and go-yaml refuses a mapping it
    /// decodes when a key repeats: a second `sops` key (or any other repeated top-level key)
    /// is an error there, not a choice between two metadata blocks.
    pub fn check_unique_top_level_keys(&self, doc: NodeId) -> Result<()> {
        let Some(&root) = self.nodes[doc].content.first() else { return Ok(()) };
        if self.nodes[root].kind == Kind::Mapping {
            self.check_unique_keys(root)?;
        }
        Ok(())
    }

    /// go-yaml's duplicate check: two keys of the same kind with the same text.
    fn check_unique_keys(&self, id: NodeId) -> Result<()> {
        let mut seen: std::collections::HashMap<(Kind, &str), i64> = std::collections::HashMap::new();
        for &k in self.nodes[id].content.iter().step_by(2) {
            let key = &self.nodes[k];
            if let Some(first) = seen.insert((key.kind, &*key.value), key.line()) {
                return Err(error(key.line(), &format!("mapping key already defined at line {first}")));
            }
        }
        Ok(())
    }

    /// Duplicate keys and malformed merges, as go-yaml's decoder reports them.
    fn check_mapping(&self, id: NodeId) -> Result<()> {
        self.check_unique_keys(id)?;
        let content = &self.nodes[id].content;
        for pair in content.chunks(2) {
            let [k, v] = pair else { break };
            let key = &self.nodes[*k];
            let is_merge = key.kind == Kind::Scalar && &*key.value == "<<" && (key.tag() == MERGE_TAG);
            if !is_merge {
                continue;
            }
            let value = &self.nodes[*v];
            let is_map = |id: NodeId| {
                let n = &self.nodes[id];
                match n.kind {
                    Kind::Mapping => true,
                    Kind::Alias => n.alias().is_some_and(|t| self.nodes[t].kind == Kind::Mapping),
                    _ => false,
                }
            };
            let ok = match value.kind {
                Kind::Mapping | Kind::Alias => is_map(*v),
                Kind::Sequence => value.content.iter().all(|&i| is_map(i)),
                _ => false,
            };
            if !ok {
                return Err(error(value.line(), "map merge requires map or sequence of maps as the value"));
            }
        }
        Ok(())
    }
}
