//! The dotenv store: `KEY=value` lines, deliberately primitive as sops keeps it. Lines are split
//! on `\n` only; a line starting with `#` is a comment; everything after the first `=` is the
//! value (quotes, spaces and a trailing `\r` included), with `\n` escapes for newlines.

use crate::error::{Error, Result};
use crate::format::Format;
use crate::stores::flat;
use crate::stores::Store;
use crate::tree::{Document, Map, MapItem, Value};

/// The prefix of metadata keys.
const SOPS_PREFIX: &str = "sops_";

#[derive(Clone, Copy, Debug, Default)]
pub struct DotenvStore;

fn parse_lines(input: &[u8]) -> Result<Map> {
    let text = std::str::from_utf8(input).map_err(|e| Error::parse(Format::Dotenv, format!("not UTF-8 text (byte {})", e.valid_up_to())))?;
    let mut map = Map::new();
    for (number, line) in text.split('\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            map.0.push(MapItem::Comment(comment.to_string()));
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| Error::parse(Format::Dotenv, format!("line {} is not KEY=value (no `=`)", number + 1)))?;
        map.0.push(MapItem::Entry(key.to_string(), Value::Str(value.replace("\\n", "\n"))));
    }
    Ok(map)
}

impl Store for DotenvStore {
    fn parse_plain(&self, input: &[u8]) -> Result<Document> {
        Ok(Document { branches: vec![parse_lines(input)?] })
    }

    fn parse_encrypted(&self, input: &[u8]) -> Result<(Document, Map)> {
        let all = parse_lines(input)?;
        let mut data = Map::new();
        let mut metadata = Vec::new();
        for item in all.0 {
            match item {
                MapItem::Entry(key, Value::Str(value)) if key.starts_with(SOPS_PREFIX) => {
                    metadata.push((key[SOPS_PREFIX.len()..].to_string(), value.replace('\n', "\\n")));
                }
                other => data.0.push(other),
            }
        }
        if metadata.is_empty() {
            return Err(Error::MetadataNotFound);
        }
        Ok((Document { branches: vec![data] }, flat::unflatten(metadata)?))
    }

    fn emit_plain(&self, doc: &Document) -> Result<Vec<u8>> {
        let mut out = String::new();
        let Some(branch) = doc.branches.first() else { return Ok(Vec::new()) };
        for item in &branch.0 {
            match item {
                MapItem::Comment(c) => {
                    out.push('#');
                    out.push_str(c);
                    out.push('\n');
                }
                MapItem::Entry(key, value) => {
                    let text = match value {
                        Value::Str(s) => s.replace('\n', "\\n"),
                        other => flat::value_to_string(other).ok_or_else(|| Error::Emit {
                            format: Format::Dotenv,
                            message: format!("cannot use a nested value in a dotenv file (key {key})"),
                        })?,
                    };
                    out.push_str(key);
                    out.push('=');
                    out.push_str(&text);
                    out.push('\n');
                }
            }
        }
        Ok(out.into_bytes())
    }

    fn emit_encrypted(&self, doc: &Document, metadata: &Map) -> Result<Vec<u8>> {
        let mut out = self.emit_plain(doc)?;
        for (key, value) in flat::flatten(metadata)? {
            out.extend_from_slice(format!("{SOPS_PREFIX}{key}={value}\n").as_bytes());
        }
        Ok(out)
    }
}

/// Whether a plaintext dotenv document already holds sops metadata.
pub fn has_metadata(doc: &Document) -> bool {
    doc.branches.iter().any(|b| b.entries().any(|(k, _)| k.starts_with(SOPS_PREFIX)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(path: &str) -> Vec<u8> {
        std::fs::read(format!("{}/../../fixtures/sops-vectors/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    #[test]
    fn encrypted_vectors_round_trip_byte_for_byte() {
        for name in ["enc/basic.env", "enc/shamir-2of3.env"] {
            let bytes = vector(name);
            let (doc, metadata) = DotenvStore.parse_encrypted(&bytes).unwrap();
            assert_eq!(String::from_utf8(DotenvStore.emit_encrypted(&doc, &metadata).unwrap()).unwrap(), String::from_utf8(bytes).unwrap(), "{name}");
        }
    }

    #[test]
    fn plain_input_emits_what_sops_decrypt_prints() {
        for name in ["basic.env", "shamir-2of3.env"] {
            let doc = DotenvStore.parse_plain(&vector(&format!("plain/{name}"))).unwrap();
            assert_eq!(DotenvStore.emit_plain(&doc).unwrap(), vector(&format!("dec/{name}")), "{name}");
            let dec = DotenvStore.parse_plain(&vector(&format!("dec/{name}"))).unwrap();
            assert_eq!(DotenvStore.emit_plain(&dec).unwrap(), vector(&format!("dec/{name}")));
        }
    }

    #[test]
    fn quirks_are_kept() {
        let doc = DotenvStore.parse_plain(b"export A = \"q\"\r\nB=x\\ny\n\n#c\n").unwrap();
        let map = &doc.branches[0];
        assert_eq!(map.get("export A "), Some(&Value::str(" \"q\"\r")));
        assert_eq!(map.get("B"), Some(&Value::str("x\ny")));
        assert_eq!(map.0[2], MapItem::Comment("c".into()));
        let err = DotenvStore.parse_plain(b"A=1\nsecret-without-equals\n").unwrap_err().to_string();
        assert!(err.contains("line 2") && !err.contains("secret-without"), "{err}");
        assert!(matches!(DotenvStore.parse_encrypted(b"A=1\n"), Err(Error::MetadataNotFound)));
    }

    #[test]
    fn nested_values_are_refused() {
        let mut map = Map::new();
        map.push("a", Value::Map(Map::new()));
        assert!(DotenvStore.emit_plain(&Document { branches: vec![map] }).is_err());
    }
}
