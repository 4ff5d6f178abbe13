//! The YAML store: go-yaml v3 semantics and sops' emitter style (indent 4).
//!
//! Parsing runs in stages that each mirror a layer of go-yaml, because sops' comment placement
//! and scalar typing are byproducts of go-yaml internals:
//! `lex` (tokens, via granit-parser) → `scan` (go-yaml's comment capture) → `parser`
//! (events carrying comments) → `compose` (`yaml.Node` trees) → `convert` (sops trees).
//! The first stages stream: the parser pulls tokens through the comment replay, which runs a
//! few tokens ahead of it, so that only a handful of tokens is held at any time.
//! Emitting mirrors sops' node building and go-yaml's emitter (`emit`, `emitter`, `quote`,
//! `float`). A large file is decrypted one top-level entry at a time (`stream`).

mod compose;
mod convert;
mod emit;
mod emitter;
mod float;
mod lex;
mod parser;
mod quote;
mod scalar;
mod scan;
mod source;
mod stream;
mod timestamp;

#[cfg(test)]
mod tests;

use crate::error::{Error, Result};
use crate::file::DecryptSession;
use crate::format::Format;
use crate::stores::Store;
use crate::tree::{Document, Map, MapItem, Value};

/// The top-level key that holds the metadata in YAML files.
const METADATA_KEY: &str = "sops";

/// The YAML store, with sops's emitter settings.
#[derive(Clone, Debug)]
pub struct YamlStore {
    /// Indentation of nested mappings (sops default 4; go-yaml accepts 2 to 9).
    pub indent: usize,
}

impl Default for YamlStore {
    fn default() -> Self {
        YamlStore { indent: 4 }
    }
}

/// The deepest nesting of mappings and lists the reader accepts in any style, the top-level
/// mapping included: go-yaml's 10,000 levels of block indentation. (Flow collections count
/// apart, up to 10,000 more below a block collection, as in go-yaml; the writer uses block
/// style, so this is the depth a written file may have.) No walk recurses, so this depth is
/// safe on any thread.
pub fn max_depth() -> usize {
    lex::MAX_NESTING
}

/// A parse error that names a position only, never content.
pub(super) fn syntax_error(line: i64, column: i64, problem: &str) -> Error {
    Error::parse(Format::Yaml, format!("line {}, column {}: {problem}", line + 1, column + 1))
}

/// Every document of the input as a go-yaml node arena plus its document roots.
/// Also says whether the stream has anchors (when it has none, conversion may move text out of
/// the nodes).
fn compose_documents(input: &[u8]) -> Result<(compose::Arena, Vec<compose::NodeId>, bool)> {
    let text = std::str::from_utf8(input).map_err(|e| Error::parse(Format::Yaml, format!("invalid UTF-8 at byte {}", e.valid_up_to())))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let src = source::Source::new(text);
    let mut composer = compose::Composer::new(parser::Events::new(scan::Tokens::new(&src)));
    let mut docs = Vec::new();
    while let Some(doc) = composer.document()? {
        docs.push(doc);
    }
    let has_anchors = composer.has_anchors();
    Ok((composer.nodes, docs, has_anchors))
}

/// Removes comments from a metadata tree: the metadata layer reads fields only. Nested
/// containers are visited from a stack of their own, not by recursion.
fn without_comments(mut map: Map) -> Map {
    map.0.retain(|item| matches!(item, MapItem::Entry(..)));
    let mut pending: Vec<&mut Value> =
        map.0.iter_mut().filter_map(|item| if let MapItem::Entry(_, v) = item { Some(v) } else { None }).collect();
    while let Some(value) = pending.pop() {
        match value {
            Value::Map(m) => {
                m.0.retain(|item| matches!(item, MapItem::Entry(..)));
                pending.extend(m.0.iter_mut().filter_map(|item| if let MapItem::Entry(_, v) = item { Some(v) } else { None }));
            }
            Value::List(items) => {
                items.retain(|i| !matches!(i, Value::Comment(_)));
                pending.extend(items.iter_mut());
            }
            _ => {}
        }
    }
    map
}

/// The data and metadata of an encrypted file from its composed nodes: top-level keys checked
/// for duplicates, the `sops` mapping taken out of the data.
fn encrypted_from_nodes((mut nodes, docs, has_anchors): (compose::Arena, Vec<compose::NodeId>, bool)) -> Result<(Document, Map)> {
    if let Some(&first) = docs.first() {
        convert::Converter::new(&mut nodes, false, false).check_unique_top_level_keys(first)?;
    }
    let mut branches = Vec::with_capacity(docs.len());
    for &doc in &docs {
        branches.push(convert::Converter::new(&mut nodes, false, !has_anchors).document(doc)?);
    }
    drop(nodes);
    let metadata = match branches.first().and_then(|b| b.get(METADATA_KEY)) {
        Some(Value::Map(m)) => without_comments(m.clone()),
        Some(Value::Null) | None => return Err(Error::MetadataNotFound),
        Some(_) => return Err(Error::metadata("the `sops` key does not hold a mapping")),
    };
    for branch in &mut branches {
        branch.remove(METADATA_KEY);
    }
    Ok((Document { branches }, metadata))
}

impl YamlStore {
    fn effective_indent(&self) -> usize {
        if self.indent == 0 {
            4
        } else {
            self.indent
        }
    }
}

impl Store for YamlStore {
    fn parse_plain(&self, input: &[u8]) -> Result<Document> {
        if input.is_empty() {
            return Err(Error::EmptyInput);
        }
        let (mut nodes, docs, has_anchors) = compose_documents(input)?;
        if docs.is_empty() {
            return Err(Error::parse(Format::Yaml, "no YAML document (EOF)"));
        }
        let mut branches = Vec::with_capacity(docs.len());
        for (i, &doc) in docs.iter().enumerate() {
            branches.push(convert::Converter::new(&mut nodes, i == 0, !has_anchors).document(doc)?);
        }
        Ok(Document { branches })
    }

    fn parse_encrypted(&self, input: &[u8]) -> Result<(Document, Map)> {
        encrypted_from_nodes(compose_documents(input)?)
    }

    /// The nodes own their text, so the input goes as soon as it is composed.
    fn parse_encrypted_owned(&self, input: Vec<u8>) -> Result<(Document, Map)> {
        let composed = compose_documents(&input)?;
        drop(input);
        encrypted_from_nodes(composed)
    }

    fn emit_plain(&self, doc: &Document) -> Result<Vec<u8>> {
        emit::emit(&doc.branches, None, self.effective_indent())
    }

    /// One top-level entry at a time: the tree of a large file is never whole in memory.
    fn decrypt_streaming(&self, input: &[u8], format: Format, session: &mut DecryptSession<'_>) -> Option<Vec<Vec<u8>>> {
        if format != Format::Yaml {
            return None;
        }
        stream::decrypt(std::str::from_utf8(input).ok()?, self.effective_indent(), session)
    }

    fn emit_encrypted(&self, doc: &Document, metadata: &Map) -> Result<Vec<u8>> {
        if doc.branches.is_empty() {
            return Err(Error::Emit { format: Format::Yaml, message: "no document to write".into() });
        }
        emit::emit(&doc.branches, Some(metadata), self.effective_indent())
    }
}
