//! The INI store: each section is a top-level key holding a mapping of string values; keys
//! before the first header belong to the `DEFAULT` section. The metadata is a `[sops]` section
//! of flattened pairs, written last.
//!
//! Comments follow sops' mapping onto go-ini: a section's comment is the first item of its
//! mapping, and a key's comment (the lines above it) is stored as the item right *after* that
//! key, then written back above it.

mod parse;
mod write;

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::format::Format;
use crate::stores::{flat, go_format, Store};
use crate::tree::{Document, Map, MapItem, Value};

use parse::{Key, Section};

const METADATA_SECTION: &str = "sops";

/// The INI store: sections of `key = value` lines, metadata in a `[sops]` section.
#[derive(Clone, Copy, Debug, Default)]
pub struct IniStore;

impl Store for IniStore {
    fn parse_plain(&self, input: &[u8]) -> Result<Document> {
        let sections = parse::parse(input)?;
        Ok(Document { branches: vec![tree_from_sections(sections)] })
    }

    fn parse_encrypted(&self, input: &[u8]) -> Result<(Document, Map)> {
        let (metadata, data): (Vec<Section>, Vec<Section>) = parse::parse(input)?.into_iter().partition(|s| s.name == METADATA_SECTION);
        // Like sops, only the first `[sops]` section is read.
        let metadata = metadata.into_iter().next().ok_or(Error::MetadataNotFound)?;
        let metadata = flat::unflatten(metadata.keys.into_iter().map(|k| (k.name, k.value)))?;
        Ok((Document { branches: vec![tree_from_sections(data)] }, metadata))
    }

    fn emit_plain(&self, doc: &Document) -> Result<Vec<u8>> {
        write::write(&sections_from_tree(doc)?)
    }

    fn emit_encrypted(&self, doc: &Document, metadata: &Map) -> Result<Vec<u8>> {
        let mut sections = sections_from_tree(doc)?;
        let keys = flat::flatten(metadata)?.into_iter().map(|(name, value)| Key { name, value, comment: String::new() }).collect();
        sections.push(Section { name: METADATA_SECTION.to_string(), comment: String::new(), keys });
        write::write(&sections)
    }
}

fn tree_from_sections(sections: Vec<Section>) -> Map {
    let mut branch = Map::new();
    for section in sections {
        let mut items = Vec::with_capacity(section.keys.len() + 1);
        if !section.comment.is_empty() {
            items.push(MapItem::Comment(strip_comment_char(&section.comment).to_string()));
        }
        for key in section.keys {
            items.push(MapItem::Entry(key.name, Value::Str(key.value)));
            if !key.comment.is_empty() {
                items.push(MapItem::Comment(strip_comment_char(&key.comment).to_string()));
            }
        }
        branch.push(section.name, Value::Map(Map(items)));
    }
    branch
}

/// sops drops the comment character of the first line and the spaces after it; later lines of a
/// multi-line comment keep theirs.
fn strip_comment_char(comment: &str) -> &str {
    if comment.starts_with(';') {
        comment.trim_start_matches([';', ' '])
    } else if comment.starts_with('#') {
        comment.trim_start_matches(['#', ' '])
    } else {
        comment
    }
}

/// Rebuilds go-ini sections from the tree the way sops does: every branch contributes its
/// top-level entries as sections (top-level comments are dropped), a leading comment item
/// becomes the section comment, and any other comment item becomes the comment of the key
/// before it (the last one wins).
fn sections_from_tree(doc: &Document) -> Result<Vec<Section>> {
    let mut sections = Vec::new();
    for branch in &doc.branches {
        for (name, value) in branch.entries() {
            if name.is_empty() {
                return Err(emit_error("a section name is empty".to_string()));
            }
            let Value::Map(items) = value else {
                return Err(emit_error(format!("the top-level value `{name}` is not a mapping, so it is not a section")));
            };
            sections.push(section_from_map(name, items)?);
        }
    }
    Ok(sections)
}

fn section_from_map(name: &str, map: &Map) -> Result<Section> {
    let mut section = Section { name: name.to_string(), comment: String::new(), keys: Vec::new() };
    let mut items = map.0.iter().peekable();
    if let Some(MapItem::Comment(text)) = items.peek() {
        section.comment.clone_from(text);
        items.next();
    }
    let mut last_key: Option<usize> = None;
    // Where each key name stands in `section.keys`, so that many keys are written in linear time.
    let mut positions: HashMap<&str, usize> = HashMap::new();
    for item in items {
        match item {
            MapItem::Comment(text) => {
                if let Some(key) = last_key.and_then(|i| section.keys.get_mut(i)) {
                    key.comment.clone_from(text);
                }
            }
            MapItem::Entry(key, value) => {
                if key.is_empty() {
                    return Err(emit_error(format!("a key name in section `{name}` is empty")));
                }
                let text = String::from_utf8(go_format::val_to_string(value))
                    .map_err(|_| emit_error(format!("the value of `{name}.{key}` is not UTF-8 text")))?;
                // A repeated key keeps its first position and takes the later value.
                if let Some(&i) = positions.get(key.as_str()) {
                    if let Some(existing) = section.keys.get_mut(i) {
                        existing.value = text;
                    }
                    last_key = Some(i);
                } else {
                    positions.insert(key, section.keys.len());
                    section.keys.push(Key { name: key.clone(), value: text, comment: String::new() });
                    last_key = Some(section.keys.len() - 1);
                }
            }
        }
    }
    Ok(section)
}

fn emit_error(message: String) -> Error {
    Error::Emit { format: Format::Ini, message }
}

#[cfg(test)]
mod tests;
