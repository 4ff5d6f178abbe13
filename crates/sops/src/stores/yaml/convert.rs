//! Turns go-yaml node trees into sops trees, the way sops' YAML store walks `yaml.Node`s:
//! every comment line becomes its own item (text after the first `#`), a key's and a scalar
//! value's comments go before the entry, a nested collection's own comments go inside it,
//! aliases are expanded, merge keys stay literal `<<` keys and tags only steer typing.

use base64::Engine;

use super::compose::{Arena, Kind, NodeId, MAX_DEPTH};
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
    depth: usize,
    /// Aliases being expanded, to refuse an anchor that contains itself.
    active_aliases: Vec<NodeId>,
}

fn error(line: i64, message: &str) -> Error {
    Error::parse(Format::Yaml, format!("line {line}: {message}"))
}

fn push_map_comments(text: &str, branch: &mut Map) {
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
        self.append_branch(doc, Map::new(), false)
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
        if self.depth > MAX_DEPTH {
            return Err(error(self.nodes[id].line(), "document nesting is too deep"));
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
        if self.active_aliases.contains(&id) || self.active_aliases.len() > MAX_DEPTH {
            return Err(error(self.nodes[id].line(), "anchor value contains itself"));
        }
        self.active_aliases.push(id);
        Ok(target)
    }

    fn append_branch(&mut self, id: NodeId, mut branch: Map, handled: bool) -> Result<Map> {
        self.enter(id)?;
        let n = &self.nodes[id];
        if !handled {
            push_map_comments(n.head(), &mut branch);
            push_map_comments(n.line_comment(), &mut branch);
        }
        match n.kind {
            Kind::Document => {
                // By index: converting a child may move text out of other nodes.
                for i in 0..n.content.len() {
                    let item = self.nodes[id].content[i];
                    branch = self.append_branch(item, branch, false)?;
                }
            }
            Kind::Sequence => {
                return Err(error(n.line(), "YAML documents that are sequences are not supported"));
            }
            Kind::Mapping => {
                if self.strict {
                    self.check_mapping(id)?;
                }
                branch.0.reserve(n.content.len() / 2);
                for i in (0..n.content.len() / 2).map(|p| 2 * p) {
                    let (k, v) = (&self.nodes[id].content[i], &self.nodes[id].content[i + 1]);
                    let (k, v) = (*k, *v);
                    let (key, value) = (&self.nodes[k], &self.nodes[v]);
                    push_map_comments(key.head(), &mut branch);
                    push_map_comments(key.line_comment(), &mut branch);
                    let handle_value = matches!(value.kind, Kind::Scalar | Kind::Alias);
                    if handle_value {
                        push_map_comments(value.head(), &mut branch);
                        push_map_comments(value.line_comment(), &mut branch);
                    }
                    let key_text = self.key(k)?;
                    let tree_value = self.value(v, handle_value)?;
                    branch.0.push(MapItem::Entry(key_text, tree_value));
                    if handle_value {
                        push_map_comments(self.nodes[v].foot(), &mut branch);
                    }
                    push_map_comments(self.nodes[k].foot(), &mut branch);
                    // Without aliases nothing refers back: the nodes of the entries converted so
                    // far can go (their text has moved into the tree already). Only the top-level
                    // mapping does this, whose node and document come before all its entries.
                    if self.take_text && self.depth == 2 {
                        if let Some(&next) = self.nodes[id].content.get(i + 2) {
                            self.nodes.free_before(next, id);
                        }
                    }
                }
            }
            Kind::Scalar => {
                // An empty document (`---` alone) holds a null: an empty mapping.
                if n.tag() == NULL_TAG {
                    self.depth -= 1;
                    return Ok(branch);
                }
                return Err(error(n.line(), "YAML documents that are values are not supported"));
            }
            Kind::Alias => {
                let target = self.enter_alias(id)?;
                branch = self.append_branch(target, branch, false)?;
                self.active_aliases.pop();
            }
        }
        push_map_comments(self.nodes[id].foot(), &mut branch);
        self.depth -= 1;
        Ok(branch)
    }

    fn value(&mut self, id: NodeId, handled: bool) -> Result<Value> {
        self.enter(id)?;
        let n = &self.nodes[id];
        let out = match n.kind {
            Kind::Document => return Err(error(n.line(), "nested document")),
            Kind::Sequence => {
                let mut list = Vec::with_capacity(n.content.len());
                if !handled {
                    push_list_comments(n.head(), &mut list);
                    push_list_comments(n.line_comment(), &mut list);
                }
                for i in 0..n.content.len() {
                    let item = self.nodes[id].content[i];
                    let it = &self.nodes[item];
                    push_list_comments(it.head(), &mut list);
                    push_list_comments(it.line_comment(), &mut list);
                    let v = self.value(item, true)?;
                    list.push(v);
                    push_list_comments(self.nodes[item].foot(), &mut list);
                }
                if !handled {
                    push_list_comments(self.nodes[id].foot(), &mut list);
                }
                Value::List(list)
            }
            Kind::Mapping => Value::Map(self.append_branch(id, Map::new(), handled)?),
            Kind::Scalar => self.scalar(id)?,
            Kind::Alias => {
                let target = self.enter_alias(id)?;
                let v = self.value(target, false)?;
                self.active_aliases.pop();
                v
            }
        };
        self.depth -= 1;
        Ok(out)
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
            std::mem::take(&mut self.nodes[id].value)
        } else {
            self.nodes[id].value.clone()
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
            if let Some(first) = seen.insert((key.kind, key.value.as_str()), key.line()) {
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
            let is_merge = key.kind == Kind::Scalar && key.value == "<<" && (key.tag() == MERGE_TAG);
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
