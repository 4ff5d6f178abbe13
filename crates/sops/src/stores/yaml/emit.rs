//! Writes trees the way sops does: it builds `yaml.Node`s (comments before an entry become the
//! key's head comment, or the mapping's when they come first; trailing comments become the last
//! key's foot comment) and hands them to go-yaml's encoder with indent 4. This module derives
//! the encoder's events for those nodes while walking the tree; [`super::emitter`] writes them.

use std::borrow::Cow;
use std::collections::VecDeque;

use base64::Engine;

use super::emitter::{Emitter, Ev};
use super::float::format_float;
use super::quote::{string_style, Style};
use crate::error::{Error, Result};
use crate::format::Format;
use crate::tree::{Map, MapItem, Value};

fn emit_error(message: &str) -> Error {
    Error::Emit { format: Format::Yaml, message: message.to_string() }
}

/// Comment lines as go-yaml holds them in a node: `#` before each, one per line.
fn comment_block(comments: &[&str]) -> String {
    if comments.is_empty() {
        String::new()
    } else {
        format!("#{}", comments.join("\n#"))
    }
}

/// sops `addHead` onto a node that may have a head comment of its own: the new lines go first.
fn prepend(before: String, head: String) -> String {
    match (before.is_empty(), head.is_empty()) {
        (true, _) => head,
        (false, true) => before,
        (false, false) => format!("{before}\n{head}"),
    }
}

/// A scalar event without comments.
fn scalar<'a>(value: Cow<'a, str>, style: Style, tag: Option<&'static str>) -> Ev<'a> {
    Ev::Scalar { value, style, tag, head: String::new(), foot: String::new(), tail: String::new() }
}

fn string_scalar(s: &str) -> Ev<'_> {
    let style = string_style(s);
    // sops builds nodes with `yaml.Node.Encode`, which re-reads go-yaml's own output; a literal
    // block whose first line starts with a tab does not read back, the error is ignored and
    // the empty node prints as `null`.
    if style == Style::Literal && s.starts_with('\t') {
        return plain("null".into());
    }
    // go-yaml reads a plain `<<` back as a merge key and then keeps that tag on output.
    let tag = (s == "<<" && style == Style::Plain).then_some("merge");
    scalar(Cow::Borrowed(s), style, tag)
}

fn plain(s: String) -> Ev<'static> {
    scalar(Cow::Owned(s), Style::Plain, None)
}

/// go-yaml's base64 for `!!binary`: one line, or 70-column lines each ending in a newline.
fn binary_text(bytes: &[u8]) -> String {
    let enc = base64::engine::general_purpose::STANDARD.encode(bytes);
    if enc.len() < 70 {
        return enc;
    }
    let mut out = String::new();
    for chunk in enc.as_bytes().chunks(70) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or(""));
        out.push('\n');
    }
    out
}

/// The event of a scalar leaf (sops' node for it).
fn leaf_event(v: &Value) -> Result<Ev<'_>> {
    Ok(match v {
        Value::Str(s) => string_scalar(s),
        Value::Bytes(b) => {
            if let Ok(s) = std::str::from_utf8(b) {
                string_scalar(s)
            } else {
                let text = binary_text(b);
                let style = if text.contains('\n') { Style::Literal } else { Style::Plain };
                scalar(Cow::Owned(text), style, Some("binary"))
            }
        }
        Value::Null => plain("null".into()),
        Value::Bool(b) => plain(b.to_string()),
        Value::Int(i) => plain(i.to_string()),
        Value::Float(f) => plain(format_float(*f)),
        Value::Time(t) => scalar(Cow::Borrowed(t), Style::Plain, None),
        Value::Comment(_) => return Err(emit_error("a comment can only stand as a list item")),
        Value::Map(_) | Value::List(_) => return Err(emit_error("a collection is not a scalar")),
    })
}

/// A collection being written: where its walk stands, and the foot comment its end carries.
enum Frame<'a> {
    /// sops `appendTreeBranch`; `extra` is an entry written after the others (the metadata).
    Map { items: &'a [MapItem], pos: usize, extra: Option<(&'a str, &'a Map)>, comments: Vec<&'a str>, foot: String },
    /// sops `appendSequence`.
    Seq { items: &'a [Value], pos: usize, foot: String },
    /// A document whose root mapping is being written.
    Doc,
}

/// The encoder's events for sops' nodes, produced one at a time while the emitter writes them.
///
/// sops builds a `yaml.Node` tree first: comments before an entry become the key's head comment
/// (the mapping's when they come before the first entry, or when there is no entry), comments
/// after the last entry the last key's foot comment, which go-yaml's encoder writes as the
/// mapping end's tail; in a list, comments before an item become its head, comments after the
/// last one its foot. Those placements depend only on the comments next to each item, so the
/// events are derived while walking the tree, without building that node tree or a list of all
/// events (each would cost several times a file of many small entries).
struct Events<'a> {
    branches: std::slice::Iter<'a, Map>,
    metadata: Option<&'a Map>,
    stack: Vec<Frame<'a>>,
    ready: VecDeque<Ev<'a>>,
    started: bool,
    done: bool,
    /// Walking some entries of a mapping whose start and end are written apart: the end of
    /// the bottom mapping is not an event.
    part: bool,
}

impl<'a> Events<'a> {
    fn new(branches: &'a [Map], metadata: Option<&'a Map>) -> Self {
        Events { branches: branches.iter(), metadata, stack: Vec::new(), ready: VecDeque::new(), started: false, done: false, part: false }
    }

    /// Starts the node of `value`, with `head` comments before its own and `foot` comments
    /// after it.
    fn open(&mut self, value: &'a Value, head: String, foot: String) -> Result<()> {
        match value {
            Value::Map(m) => self.open_map(m, None, head, foot),
            Value::List(items) => {
                let first = items.iter().position(|i| !matches!(i, Value::Comment(_))).unwrap_or(items.len());
                let own: Vec<&str> = items[..first].iter().filter_map(comment_text).collect();
                self.ready.push_back(Ev::SeqStart { head: prepend(head, comment_block(&own)) });
                self.stack.push(Frame::Seq { items, pos: first, foot });
            }
            leaf => {
                let mut ev = leaf_event(leaf)?;
                if let Ev::Scalar { head: h, foot: f, .. } = &mut ev {
                    *h = head;
                    *f = foot;
                }
                self.ready.push_back(ev);
            }
        }
        Ok(())
    }

    fn open_map(&mut self, map: &'a Map, extra: Option<(&'a str, &'a Map)>, head: String, foot: String) {
        let items = map.0.as_slice();
        let first = items.iter().position(|i| matches!(i, MapItem::Entry(..))).unwrap_or(items.len());
        let own: Vec<&str> = items[..first].iter().filter_map(map_comment_text).collect();
        self.ready.push_back(Ev::MapStart { head: prepend(head, comment_block(&own)), tail: String::new() });
        self.stack.push(Frame::Map { items, pos: first, extra, comments: Vec::new(), foot });
    }

    /// Adds the next events to `ready`.
    fn step(&mut self) -> Result<()> {
        if !self.started {
            self.started = true;
            self.ready.push_back(Ev::StreamStart);
            return Ok(());
        }
        let Some(top) = self.stack.last_mut() else {
            if let Some(branch) = self.branches.next() {
                self.ready.push_back(Ev::DocStart);
                self.stack.push(Frame::Doc);
                self.open_map(branch, self.metadata.map(|m| ("sops", m)), String::new(), String::new());
            } else {
                self.ready.push_back(Ev::StreamEnd);
                self.done = true;
            }
            return Ok(());
        };
        match top {
            Frame::Doc => {
                self.stack.pop();
                self.ready.push_back(Ev::DocEnd);
            }
            Frame::Map { items, pos, extra, comments, foot } => {
                while let Some(MapItem::Comment(c)) = items.get(*pos) {
                    comments.push(c);
                    *pos += 1;
                }
                let entry = match items.get(*pos) {
                    Some(MapItem::Entry(k, v)) => {
                        *pos += 1;
                        Some((k.as_str(), Some(v), None))
                    }
                    _ => extra.take().map(|(k, m)| (k, None, Some(m))),
                };
                if let Some((key, value, sub)) = entry {
                    let mut key_ev = string_scalar(key);
                    if let Ev::Scalar { head, .. } = &mut key_ev {
                        *head = comment_block(comments);
                    }
                    comments.clear();
                    self.ready.push_back(key_ev);
                    match (value, sub) {
                        (Some(v), _) => self.open(v, String::new(), String::new())?,
                        (None, Some(m)) => self.open_map(m, None, String::new(), String::new()),
                        (None, None) => return Err(emit_error("entry without a value")),
                    }
                } else {
                    let end = Ev::MapEnd { tail: comment_block(comments), foot: std::mem::take(foot) };
                    self.stack.pop();
                    if self.part && self.stack.is_empty() {
                        self.done = true;
                    } else {
                        self.ready.push_back(end);
                    }
                }
            }
            Frame::Seq { items, pos, foot } => {
                let mut before = Vec::new();
                while let Some(Value::Comment(c)) = items.get(*pos) {
                    before.push(c.as_str());
                    *pos += 1;
                }
                if let Some(item) = items.get(*pos) {
                    *pos += 1;
                    // Comments after the last item are its foot.
                    let rest = &items[*pos..];
                    let item_foot = if rest.iter().all(|i| matches!(i, Value::Comment(_))) {
                        *pos = items.len();
                        comment_block(&rest.iter().filter_map(comment_text).collect::<Vec<_>>())
                    } else {
                        String::new()
                    };
                    let head = comment_block(&before);
                    self.open(item, head, item_foot)?;
                } else {
                    let end = Ev::SeqEnd { foot: std::mem::take(foot) };
                    self.stack.pop();
                    self.ready.push_back(end);
                }
            }
        }
        Ok(())
    }
}

fn comment_text(v: &Value) -> Option<&str> {
    match v {
        Value::Comment(c) => Some(c),
        _ => None,
    }
}

fn map_comment_text(i: &MapItem) -> Option<&str> {
    match i {
        MapItem::Comment(c) => Some(c),
        MapItem::Entry(..) => None,
    }
}

impl<'a> Iterator for Events<'a> {
    type Item = Result<Ev<'a>>;

    fn next(&mut self) -> Option<Result<Ev<'a>>> {
        while self.ready.is_empty() {
            if self.done {
                return None;
            }
            if let Err(e) = self.step() {
                self.done = true;
                return Some(Err(e));
            }
        }
        self.ready.pop_front().map(Ok)
    }
}

/// Writes documents; `metadata` is appended to each as a last `sops` key.
pub(super) fn emit(branches: &[Map], metadata: Option<&Map>, indent: usize) -> Result<Vec<u8>> {
    let mut e = Emitter::new(indent);
    e.run(Events::new(branches, metadata))?;
    Ok(e.out.into_bytes())
}

/// Starts the one document of a stream whose top-level mapping is written a part at a time:
/// `leading` are the comments before its first entry (all of them when it has none).
pub(super) fn start_parts(e: &mut Emitter<'_>, leading: &[&str]) -> Result<()> {
    e.push(Ev::StreamStart)?;
    e.push(Ev::DocStart)?;
    e.push(Ev::MapStart { head: comment_block(leading), tail: String::new() })
}

/// Writes a part of the top-level mapping: comments, then one entry, whose head they become
/// (the comments before the first entry go to [`start_parts`]).
pub(super) fn write_part<'a>(e: &mut Emitter<'a>, items: &'a [MapItem]) -> Result<()> {
    let frame = Frame::Map { items, pos: 0, extra: None, comments: Vec::new(), foot: String::new() };
    let events =
        Events { branches: [].iter(), metadata: None, stack: vec![frame], ready: VecDeque::new(), started: true, done: false, part: true };
    for ev in events {
        e.push(ev?)?;
    }
    Ok(())
}

/// Ends what [`start_parts`] began; `trailing` are the comments after the last entry.
pub(super) fn finish_parts(e: &mut Emitter<'_>, trailing: &[&str]) -> Result<()> {
    e.push(Ev::MapEnd { tail: comment_block(trailing), foot: String::new() })?;
    e.push(Ev::DocEnd)?;
    e.push(Ev::StreamEnd)?;
    e.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::Map;

    fn emit_one(map: Map) -> String {
        String::from_utf8(emit(&[map], None, 4).unwrap()).unwrap()
    }

    fn m(items: Vec<MapItem>) -> Map {
        Map(items)
    }

    fn e(k: &str, v: Value) -> MapItem {
        MapItem::Entry(k.into(), v)
    }

    #[test]
    fn nested_layout_uses_indent_four() {
        let doc = m(vec![
            e("a", Value::Map(m(vec![e("b", Value::Int(1))]))),
            e("l", Value::List(vec![Value::str("x"), Value::List(vec![Value::Int(1), Value::Int(2)])])),
            e("o", Value::List(vec![Value::Map(m(vec![e("k", Value::str("v")), e("j", Value::Bool(true))]))])),
            e("em", Value::Map(Map::new())),
            e("el", Value::List(vec![])),
        ]);
        assert_eq!(emit_one(doc), "a:\n    b: 1\nl:\n    - x\n    - - 1\n      - 2\no:\n    - k: v\n      j: true\nem: {}\nel: []\n");
    }

    #[test]
    fn literal_blocks_carry_chomping_and_indent_hints() {
        let doc = m(vec![
            e("clip", Value::str("a\nb\n")),
            e("strip", Value::str("a\nb")),
            e("keep", Value::str("a\n\n")),
            e("lead", Value::str(" a\nb")),
            e("nl", Value::str("\na")),
        ]);
        assert_eq!(
            emit_one(doc),
            "clip: |\n    a\n    b\nstrip: |-\n    a\n    b\nkeep: |+\n    a\n\nlead: |4-\n     a\n    b\nnl: |4-\n\n    a\n"
        );
    }

    #[test]
    fn comments_go_before_keys_items_and_after_the_last_entry() {
        let doc = m(vec![
            MapItem::Comment(" top".into()),
            e(
                "a",
                Value::Map(m(vec![
                    MapItem::Comment(" first".into()),
                    e("b", Value::Int(1)),
                    MapItem::Comment(" mid".into()),
                    e("c", Value::Int(2)),
                    MapItem::Comment(" end".into()),
                ])),
            ),
            e("l", Value::List(vec![Value::str("x"), Value::Comment(" in".into()), Value::str("z")])),
        ]);
        assert_eq!(emit_one(doc), "# top\na:\n    # first\n    b: 1\n    # mid\n    c: 2\n    # end\nl:\n    - x\n    # in\n    - z\n");
    }

    #[test]
    fn documents_are_separated() {
        let out = String::from_utf8(emit(&[m(vec![e("a", Value::Int(1))]), Map::new()], None, 4).unwrap()).unwrap();
        assert_eq!(out, "a: 1\n---\n{}\n");
    }
}
