//! Writes trees the way sops does: it builds `yaml.Node`s (comments before an entry become the
//! key's head comment, or the mapping's when they come first; trailing comments become the last
//! key's foot comment) and hands them to go-yaml's encoder with indent 4. This module builds
//! those nodes and the encoder's events; [`super::emitter`] writes them.

use std::borrow::Cow;

use base64::Engine;

use super::emitter::{Emitter, Ev};
use super::float::format_float;
use super::quote::{string_style, Style};
use crate::error::{Error, Result};
use crate::format::Format;
use crate::tree::{Map, MapItem, Value};

/// A node as sops builds it for go-yaml.
struct ONode<'a> {
    kind: OKind<'a>,
    head: String,
    foot: String,
}

/// Scalars borrow their text from the tree being written where they can.
enum OKind<'a> {
    Map(Vec<(ONode<'a>, ONode<'a>)>),
    Seq(Vec<ONode<'a>>),
    Scalar { value: Cow<'a, str>, style: Style, tag: Option<&'static str> },
}

fn emit_error(message: &str) -> Error {
    Error::Emit { format: Format::Yaml, message: message.to_string() }
}

fn add_head(node: &mut ONode<'_>, comments: &mut Vec<String>) {
    if comments.is_empty() {
        return;
    }
    let c = format!("#{}", comments.join("\n#"));
    node.head = if node.head.is_empty() { c } else { format!("{c}\n{}", node.head) };
    comments.clear();
}

fn add_foot(node: &mut ONode<'_>, comments: &mut Vec<String>) {
    if comments.is_empty() {
        return;
    }
    let c = format!("#{}", comments.join("\n#"));
    node.foot = if node.foot.is_empty() { c } else { format!("{}\n{c}", node.foot) };
    comments.clear();
}

fn node(kind: OKind<'_>) -> ONode<'_> {
    ONode { kind, head: String::new(), foot: String::new() }
}

/// sops `appendTreeBranch`.
fn map_node<'a>(map: &'a Map, extra: Option<(&'a str, &'a Map)>) -> Result<ONode<'a>> {
    let mut n = node(OKind::Map(Vec::new()));
    let mut pairs = Vec::new();
    let mut comments = Vec::new();
    let mut beginning = true;
    let entries = map.0.iter().map(|i| match i {
        MapItem::Entry(k, v) => (Some((k.as_str(), Some(v), None)), None),
        MapItem::Comment(c) => (None, Some(c.as_str())),
    });
    let extra = extra.map(|(k, m)| (Some((k, None, Some(m))), None));
    for (entry, comment) in entries.chain(extra) {
        if let Some(c) = comment {
            comments.push(c.to_string());
            continue;
        }
        let Some((key, value, sub)) = entry else { continue };
        if beginning {
            add_head(&mut n, &mut comments);
            beginning = false;
        }
        let mut key_node = string_node(key);
        add_head(&mut key_node, &mut comments);
        let value_node = match (value, sub) {
            (Some(v), _) => value_node(v)?,
            (None, Some(m)) => map_node(m, None)?,
            (None, None) => return Err(emit_error("entry without a value")),
        };
        pairs.push((key_node, value_node));
    }
    if !comments.is_empty() {
        match pairs.last_mut() {
            Some((k, _)) => add_foot(k, &mut comments),
            None => add_head(&mut n, &mut comments),
        }
    }
    n.kind = OKind::Map(pairs);
    Ok(n)
}

/// sops `appendSequence`.
fn list_node(items: &[Value]) -> Result<ONode<'_>> {
    let mut n = node(OKind::Seq(Vec::new()));
    let mut out: Vec<ONode<'_>> = Vec::new();
    let mut comments = Vec::new();
    let mut beginning = true;
    for item in items {
        if let Value::Comment(c) = item {
            comments.push(c.clone());
            continue;
        }
        if beginning {
            add_head(&mut n, &mut comments);
            beginning = false;
        }
        let mut item_node = value_node(item)?;
        add_head(&mut item_node, &mut comments);
        out.push(item_node);
    }
    if !comments.is_empty() {
        match out.last_mut() {
            Some(last) => add_foot(last, &mut comments),
            None => add_head(&mut n, &mut comments),
        }
    }
    n.kind = OKind::Seq(out);
    Ok(n)
}

fn string_node(s: &str) -> ONode<'_> {
    let style = string_style(s);
    // sops builds nodes with `yaml.Node.Encode`, which re-reads go-yaml's own output; a literal
    // block whose first line starts with a tab does not read back, the error is ignored and
    // the empty node prints as `null`.
    if style == Style::Literal && s.starts_with('\t') {
        return plain("null".into());
    }
    // go-yaml reads a plain `<<` back as a merge key and then keeps that tag on output.
    let tag = (s == "<<" && style == Style::Plain).then_some("merge");
    node(OKind::Scalar { value: Cow::Borrowed(s), style, tag })
}

fn plain(s: String) -> ONode<'static> {
    node(OKind::Scalar { value: Cow::Owned(s), style: Style::Plain, tag: None })
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

fn value_node(v: &Value) -> Result<ONode<'_>> {
    Ok(match v {
        Value::Map(m) => map_node(m, None)?,
        Value::List(items) => list_node(items)?,
        Value::Str(s) => string_node(s),
        Value::Bytes(b) => match std::str::from_utf8(b) {
            Ok(s) => string_node(s),
            Err(_) => {
                let text = binary_text(b);
                let style = if text.contains('\n') { Style::Literal } else { Style::Plain };
                node(OKind::Scalar { value: Cow::Owned(text), style, tag: Some("binary") })
            }
        },
        Value::Null => plain("null".into()),
        Value::Bool(b) => plain(b.to_string()),
        Value::Int(i) => plain(i.to_string()),
        Value::Float(f) => plain(format_float(*f)),
        Value::Time(t) => node(OKind::Scalar { value: Cow::Borrowed(t), style: Style::Plain, tag: None }),
        Value::Comment(_) => return Err(emit_error("a comment can only stand as a list item")),
    })
}

/// go-yaml encoder `node()`: a key's foot comment travels as the next key's (or the mapping
/// end's) tail comment, so it is written once the value before it is complete.
fn events<'a>(n: ONode<'a>, tail: String, out: &mut Vec<Ev<'a>>) {
    match n.kind {
        OKind::Map(pairs) => {
            out.push(Ev::MapStart { head: n.head, tail });
            let mut tail = String::new();
            for (mut k, v) in pairs {
                let foot = std::mem::take(&mut k.foot);
                events(k, tail, out);
                tail = foot;
                events(v, String::new(), out);
            }
            out.push(Ev::MapEnd { tail, foot: n.foot });
        }
        OKind::Seq(items) => {
            out.push(Ev::SeqStart { head: n.head });
            for item in items {
                events(item, String::new(), out);
            }
            out.push(Ev::SeqEnd { foot: n.foot });
        }
        OKind::Scalar { value, style, tag } => {
            out.push(Ev::Scalar { value, style, tag, head: n.head, foot: n.foot, tail });
        }
    }
}

/// Writes documents; `metadata` is appended to each as a last `sops` key.
pub(super) fn emit(branches: &[Map], metadata: Option<&Map>, indent: usize) -> Result<Vec<u8>> {
    let mut evs = vec![Ev::StreamStart];
    for branch in branches {
        evs.push(Ev::DocStart);
        let root = map_node(branch, metadata.map(|m| ("sops", m)))?;
        events(root, String::new(), &mut evs);
        evs.push(Ev::DocEnd);
    }
    evs.push(Ev::StreamEnd);
    let mut e = Emitter::new(&evs, indent);
    e.run()?;
    Ok(e.out.into_bytes())
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
