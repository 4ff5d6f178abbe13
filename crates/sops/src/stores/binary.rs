//! The binary store: any file, kept whole as the single value `data`. Encrypted, it is a JSON
//! file (the JSON store's layout and indentation) with exactly the keys `data` and `sops`;
//! decrypted, it is the raw bytes with nothing added.

use crate::error::{Error, Result};
use crate::format::Format;
use crate::stores::Store;
use crate::tree::{Document, Map, MapItem, Value};

/// The one key of a binary document.
const DATA_KEY: &str = "data";

/// The binary store: any bytes, held as one `data` string in a JSON document.
#[derive(Clone, Debug, Default)]
pub struct BinaryStore {
    /// The JSON store the encrypted document is written with (its indent setting applies).
    pub json: super::json::JsonStore,
}

impl Store for BinaryStore {
    /// The whole input becomes `data`: a string when it is UTF-8, bytes otherwise (sops keeps it
    /// as a Go string, which holds any bytes). An empty file gives `""`.
    fn parse_plain(&self, input: &[u8]) -> Result<Document> {
        let value = match String::from_utf8(input.to_vec()) {
            Ok(text) => Value::Str(text),
            Err(not_utf8) => Value::Bytes(not_utf8.into_bytes()),
        };
        Ok(Document { branches: vec![Map(vec![MapItem::Entry(DATA_KEY.to_owned(), value)])] })
    }

    fn parse_encrypted(&self, input: &[u8]) -> Result<(Document, Map)> {
        let (doc, metadata) = self.json.parse_encrypted(input)?;
        if doc.branches.iter().all(|branch| branch.get(DATA_KEY).is_none()) {
            return Err(Error::Parse { format: Format::Binary, message: "the encrypted file has no `data` key".to_owned() });
        }
        Ok((doc, metadata))
    }

    /// Writes the bytes of the first `data` entry. Like sops, other keys are ignored, and a
    /// `data` that is not a string is an error (sops cannot show structured data as a file).
    fn emit_plain(&self, doc: &Document) -> Result<Vec<u8>> {
        let [branch] = doc.branches.as_slice() else {
            return Err(emit_error("there must be exactly one document"));
        };
        match branch.get(DATA_KEY) {
            Some(Value::Str(text)) => Ok(text.as_bytes().to_vec()),
            Some(Value::Bytes(bytes)) => Ok(bytes.clone()),
            Some(_) => Err(emit_error("the `data` key does not hold a string")),
            None => Err(emit_error("there is no `data` key holding the file's bytes")),
        }
    }

    fn emit_encrypted(&self, doc: &Document, metadata: &Map) -> Result<Vec<u8>> {
        self.json.emit_encrypted(doc, metadata)
    }
}

fn emit_error(message: &str) -> Error {
    Error::Emit { format: Format::Binary, message: message.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stores::json::JsonStore;

    use crate::test_support::VECTORS;
    const CASES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/json-cases");

    fn read(dir: &str, name: &str) -> Vec<u8> {
        crate::test_support::read(&format!("{dir}/{name}"))
    }

    fn data_doc(value: Value) -> Document {
        Document { branches: vec![Map(vec![MapItem::Entry(DATA_KEY.to_owned(), value)])] }
    }

    #[test]
    fn encrypted_vectors_round_trip() {
        let store = BinaryStore::default();
        for name in ["enc/binary.bin", "enc/text.txt", "enc/secret", "legacy/v3.9-binary-secret"] {
            let bytes = read(VECTORS, name);
            let (doc, metadata) = store.parse_encrypted(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
            let keys: Vec<&str> = doc.branches[0].entries().map(|(k, _)| k).collect();
            assert_eq!(keys, [DATA_KEY], "{name}");
            assert!(matches!(doc.branches[0].get(DATA_KEY), Some(Value::Str(s)) if s.starts_with("ENC[AES256_GCM,")));
            assert!(metadata.get("age").is_some(), "{name}");
            let out = store.emit_encrypted(&doc, &metadata).unwrap();
            assert_eq!(String::from_utf8_lossy(&out), String::from_utf8_lossy(&bytes), "{name}");
            assert_eq!(out, bytes, "{name}");
        }
    }

    #[test]
    fn plain_files_round_trip_byte_exact() {
        let store = BinaryStore::default();
        for name in ["plain/binary.bin", "plain/text.txt", "plain/secret"] {
            let bytes = read(VECTORS, name);
            let doc = store.parse_plain(&bytes).unwrap();
            assert_eq!(store.emit_plain(&doc).unwrap(), bytes, "{name}");
        }
        // The decrypted outputs sops printed are the same bytes.
        for name in ["binary.bin", "text.txt", "secret"] {
            assert_eq!(read(VECTORS, &format!("plain/{name}")), read(VECTORS, &format!("dec/{name}")), "{name}");
        }
    }

    #[test]
    fn utf8_input_is_a_string_and_other_input_is_bytes() {
        let store = BinaryStore::default();
        assert_eq!(store.parse_plain(b"hello\nworld\n").unwrap(), data_doc(Value::str("hello\nworld\n")));
        assert_eq!(store.parse_plain(b"\x00\xff\xfe").unwrap(), data_doc(Value::Bytes(vec![0, 0xff, 0xfe])));
        assert_eq!(store.parse_plain(b"").unwrap(), data_doc(Value::str("")));
        assert_eq!(store.emit_plain(&data_doc(Value::str(""))).unwrap(), b"");
    }

    #[test]
    fn empty_data_is_written_as_an_empty_string() {
        let metadata = Map(vec![MapItem::Entry("version".into(), Value::str("3.11.0"))]);
        let out = BinaryStore::default().emit_encrypted(&data_doc(Value::str("")), &metadata).unwrap();
        assert_eq!(out, b"{\n\t\"data\": \"\",\n\t\"sops\": {\n\t\t\"version\": \"3.11.0\"\n\t}\n}\n");
    }

    /// `sops decrypt --output-type json` on binary-store files (see fixtures/json-cases).
    #[test]
    fn plaintext_shown_through_the_json_store_matches_sops() {
        for (plain, shown) in [("binary.bin", "binary-as-json.dec.json"), ("text.txt", "text-as-json.dec.json")] {
            let doc = BinaryStore::default().parse_plain(&read(VECTORS, &format!("plain/{plain}"))).unwrap();
            let out = JsonStore::default().emit_plain(&doc).unwrap();
            assert_eq!(out, read(CASES, shown), "{plain}");
        }
    }

    #[test]
    fn emit_plain_needs_one_string_data() {
        let store = BinaryStore::default();
        for doc in [
            Document::default(),
            Document { branches: vec![Map::new(), Map::new()] },
            data_doc(Value::Float(1.0)),
            data_doc(Value::Map(Map::new())),
            data_doc(Value::Null),
            Document { branches: vec![Map(vec![MapItem::Entry("other".into(), Value::str("x"))])] },
        ] {
            assert!(matches!(store.emit_plain(&doc), Err(Error::Emit { format: Format::Binary, .. })), "{doc:?}");
        }
        // Other keys are ignored, as sops does.
        let doc = Document {
            branches: vec![Map(vec![
                MapItem::Entry("other".into(), Value::str("x")),
                MapItem::Entry(DATA_KEY.into(), Value::Bytes(vec![1, 2])),
            ])],
        };
        assert_eq!(store.emit_plain(&doc).unwrap(), [1, 2]);
    }

    #[test]
    fn encrypted_file_needs_data_and_metadata() {
        let store = BinaryStore::default();
        assert!(matches!(store.parse_encrypted(br#"{"sops": {"version": "3.11.0"}}"#), Err(Error::Parse { .. })));
        assert!(matches!(store.parse_encrypted(br#"{"data": ""}"#), Err(Error::MetadataNotFound)));
        assert!(matches!(store.parse_encrypted(b"\x00\xff"), Err(Error::Parse { .. })));
        assert!(store.parse_encrypted(br#"{"data": "", "sops": {}}"#).is_ok());
    }

    #[test]
    fn indent_setting_is_the_json_one() {
        let store = BinaryStore { json: JsonStore { indent: Some(2) } };
        let out = store.emit_encrypted(&data_doc(Value::str("x")), &Map::new()).unwrap();
        assert_eq!(out, b"{\n  \"data\": \"x\",\n  \"sops\": {}\n}\n");
    }
}
