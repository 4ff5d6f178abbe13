//! The JSON store, byte-compatible with sops 3.11 (`stores/json`).
//!
//! Reading keeps key order and duplicate keys and turns every number into a float, as sops 3.11
//! does. Writing reproduces Go's `json.Marshal` escaping and float formatting followed by
//! `json.Indent`. The binary store is this store with a single `data` key.
//!
//! One deliberate difference: sops stops reading a plaintext file at the end of its top-level
//! object and silently ignores anything after it; this store refuses such input.

mod emit;
mod number;
mod parse;

pub use emit::{push_quoted, push_quoted_bytes};
pub use number::go_format_float_json;

use crate::error::{Error, Result};
use crate::format::Format;
use crate::stores::Store;
use crate::tree::{Document, Map, MapItem, Value};

use emit::Indent;

/// The deepest nesting of objects and arrays the reader accepts, the top-level object included
/// (Go's `encoding/json` limit).
pub const MAX_DEPTH: usize = parse::MAX_DEPTH;

/// The top-level key that holds the metadata.
const METADATA_KEY: &str = "sops";

/// The JSON store: one object, written with sops' indentation, metadata under `"sops"`.
#[derive(Clone, Debug, Default)]
pub struct JsonStore {
    /// Spaces per level; `None` means a tab (sops default).
    pub indent: Option<usize>,
}

impl JsonStore {
    fn indent(&self) -> Indent {
        self.indent.map_or(Indent::Tab, Indent::Spaces)
    }
}

impl Store for JsonStore {
    fn parse_plain(&self, input: &[u8]) -> Result<Document> {
        let branch = parse::parse_object(input, None)?;
        Ok(Document { branches: vec![branch] })
    }

    /// The metadata is the top-level `sops` object wherever it stands. Its integer literals come
    /// back as [`Value::Int`] (Go decodes them into integer fields), other numbers as floats.
    fn parse_encrypted(&self, input: &[u8]) -> Result<(Document, Map)> {
        let mut branch = parse::parse_object(input, Some(METADATA_KEY))?;
        let metadata = take_metadata(&mut branch)?;
        Ok((Document { branches: vec![branch] }, metadata))
    }

    fn emit_plain(&self, doc: &Document) -> Result<Vec<u8>> {
        emit::document(first_branch(doc)?, None, self.indent())
    }

    fn emit_encrypted(&self, doc: &Document, metadata: &Map) -> Result<Vec<u8>> {
        emit::document(first_branch(doc)?, Some((METADATA_KEY, metadata)), self.indent())
    }
}

/// Reads one JSON value of any kind with the semantics of the files' reader: key order and
/// duplicate keys kept, every number a float64, strings decoded as Go decodes them. Go's
/// `encoding/json` accepts the same values (sops reads the value of `sops set` with both).
///
/// An object is read as a document, so its errors name the exact position. Any other value is
/// read as the one member of an object around it (the reader takes whole documents); its errors
/// say only that the input is not one JSON value, as sops's do.
pub fn parse_value(input: &[u8]) -> Result<Value> {
    let first = input.iter().find(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'));
    if first == Some(&b'{') {
        return parse::parse_object(input, None).map(Value::Map);
    }
    let not_one_value =
        || Error::parse(Format::Json, "expected one JSON value: an object, an array, a string, a number, true, false or null");
    // The input may be a secret: the copy is wiped when dropped.
    let mut wrapped = zeroize::Zeroizing::new(Vec::with_capacity(input.len() + 5));
    wrapped.extend_from_slice(b"{\"\":");
    wrapped.extend_from_slice(input);
    wrapped.push(b'}');
    let mut map = parse::parse_object(&wrapped, None).map_err(|_| not_one_value())?;
    // Exactly one member means the input was exactly one value: anything else would have added
    // a member or left data after the closing brace.
    match (map.0.pop(), map.0.is_empty()) {
        (Some(MapItem::Entry(_, value)), true) => Ok(value),
        _ => Err(not_one_value()),
    }
}

/// A JSON file holds one document. Like sops, only the first branch is written (a multi-document
/// YAML file converted to JSON keeps its first document).
fn first_branch(doc: &Document) -> Result<&Map> {
    doc.branches
        .first()
        .ok_or_else(|| Error::Emit { format: Format::Json, message: "the document is empty: there is no object to write".to_owned() })
}

/// Removes the top-level `sops` entry and returns its object.
fn take_metadata(branch: &mut Map) -> Result<Map> {
    let count = branch.entries().filter(|(key, _)| *key == METADATA_KEY).count();
    if count > 1 {
        // sops merges the objects for its metadata but then keeps one of them in the data (or
        // crashes, depending on their positions); neither is worth imitating.
        return Err(Error::metadata("the file has more than one top-level `sops` key"));
    }
    match &mut branch.remove(METADATA_KEY) {
        None | Some(Value::Null) => Err(Error::MetadataNotFound),
        Some(Value::Map(metadata)) => Ok(std::mem::take(metadata)),
        Some(_) => Err(Error::metadata("the top-level `sops` value is not an object")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::MapItem;

    use crate::test_support::VECTORS;
    const CASES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/json-cases");

    fn read(dir: &str, name: &str) -> Vec<u8> {
        crate::test_support::read(&format!("{dir}/{name}"))
    }

    fn text(bytes: &[u8]) -> String {
        String::from_utf8_lossy(bytes).into_owned()
    }

    /// sops wrote the file, so re-emitting what we parse must give it back byte for byte.
    fn assert_encrypted_round_trip(store: &JsonStore, bytes: &[u8], name: &str) {
        let (doc, metadata) = store.parse_encrypted(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(doc.branches[0].get(METADATA_KEY).is_none(), "{name}: metadata left in the data");
        let out = store.emit_encrypted(&doc, &metadata).unwrap();
        assert_eq!(text(&out), text(bytes), "{name}");
        assert_eq!(out, bytes, "{name}");
    }

    fn assert_plain_emission(store: &JsonStore, input: &[u8], expected: &[u8], name: &str) {
        let doc = store.parse_plain(input).unwrap_or_else(|e| panic!("{name}: {e}"));
        let out = store.emit_plain(&doc).unwrap();
        assert_eq!(text(&out), text(expected), "{name}");
        assert_eq!(out, expected, "{name}");
    }

    #[test]
    fn sops_encrypted_vectors_round_trip() {
        let store = JsonStore::default();
        for name in ["enc/basic.json", "enc/shamir-2of3.json"] {
            assert_encrypted_round_trip(&store, &read(VECTORS, name), name);
        }
    }

    #[test]
    fn derived_vectors_round_trip() {
        // Re-serialized by a script in the layout sops uses; they still round-trip exactly.
        let store = JsonStore::default();
        for name in [
            "legacy/v3.8-layout.json",
            "edge/armor-crlf-whitespace.json",
            "edge/armor-no-final-newline.json",
            "edge/iv12-and-type-int.json",
            "edge/wrong-recipient-string.json",
        ] {
            assert_encrypted_round_trip(&store, &read(VECTORS, name), name);
        }
    }

    #[test]
    fn decrypted_vectors_round_trip() {
        let store = JsonStore::default();
        for name in ["dec/basic.json", "dec/shamir-2of3.json"] {
            let bytes = read(VECTORS, name);
            assert_plain_emission(&store, &bytes, &bytes, name);
        }
    }

    #[test]
    fn plain_input_emits_what_sops_decrypt_prints() {
        assert_plain_emission(
            &JsonStore::default(),
            &read(VECTORS, "plain/basic.json"),
            &read(VECTORS, "dec/basic.json"),
            "plain/basic.json",
        );
    }

    /// Crafted inputs: `NAME.json` went through `sops encrypt` (`NAME.enc.json`) and
    /// `sops decrypt` (`NAME.dec.json`), see `fixtures/json-cases/generate.sh`.
    #[test]
    fn crafted_cases_match_sops() {
        let store = JsonStore::default();
        for name in ["escapes", "numbers", "order-duplicates", "structure"] {
            let plain = read(CASES, &format!("{name}.json"));
            let enc = read(CASES, &format!("{name}.enc.json"));
            let dec = read(CASES, &format!("{name}.dec.json"));
            assert_plain_emission(&store, &plain, &dec, name);
            assert_plain_emission(&store, &dec, &dec, name);
            assert_encrypted_round_trip(&store, &enc, name);
            // The encrypted file has the same keys, in the same order, as the plaintext.
            let (enc_doc, _) = store.parse_encrypted(&enc).unwrap();
            let plain_doc = store.parse_plain(&plain).unwrap();
            let keys = |m: &Map| m.entries().map(|(k, _)| k.to_owned()).collect::<Vec<_>>();
            assert_eq!(keys(&enc_doc.branches[0]), keys(&plain_doc.branches[0]), "{name}");
        }
    }

    #[test]
    fn indent_setting_uses_spaces() {
        let input = read(CASES, "structure.json");
        for (indent, name) in [(2, "structure.indent2.dec.json"), (0, "structure.indent0.dec.json")] {
            let store = JsonStore { indent: Some(indent) };
            assert_plain_emission(&store, &input, &read(CASES, name), name);
        }
    }

    #[test]
    fn metadata_is_returned_as_a_tree_with_integers() {
        let (doc, metadata) = JsonStore::default().parse_encrypted(&read(VECTORS, "enc/shamir-2of3.json")).unwrap();
        assert_eq!(metadata.get("shamir_threshold"), Some(&Value::Int(2)));
        let Some(Value::List(groups)) = metadata.get("key_groups") else { panic!("no key_groups") };
        assert_eq!(groups.len(), 3);
        assert_eq!(groups[0].as_map().and_then(|g| g.get("hc_vault")), Some(&Value::Null));
        assert_eq!(metadata.get("version"), Some(&Value::str("3.11.0")));
        // Data numbers stay floats.
        let port = doc.branches[0].get("db").and_then(Value::as_map).and_then(|m| m.get("port"));
        assert!(matches!(port, Some(Value::Str(s)) if s.ends_with("type:float]")));
    }

    #[test]
    fn metadata_may_stand_anywhere() {
        let input = br#"{"a": 1, "sops": {"version": "3.11.0", "n": 3}, "b": [2]}"#;
        let (doc, metadata) = JsonStore::default().parse_encrypted(input).unwrap();
        let keys: Vec<&str> = doc.branches[0].entries().map(|(k, _)| k).collect();
        assert_eq!(keys, ["a", "b"]);
        assert_eq!(metadata.get("n"), Some(&Value::Int(3)));
        assert_eq!(doc.branches[0].get("a"), Some(&Value::Float(1.0)));
        let out = JsonStore::default().emit_encrypted(&doc, &metadata).unwrap();
        assert_eq!(
            text(&out),
            "{\n\t\"a\": 1,\n\t\"b\": [\n\t\t2\n\t],\n\t\"sops\": {\n\t\t\"version\": \"3.11.0\",\n\t\t\"n\": 3\n\t}\n}\n"
        );
    }

    #[test]
    fn missing_or_bad_metadata() {
        let store = JsonStore::default();
        assert!(matches!(store.parse_encrypted(br#"{"a": 1}"#), Err(Error::MetadataNotFound)));
        assert!(matches!(store.parse_encrypted(br#"{"a": 1, "sops": null}"#), Err(Error::MetadataNotFound)));
        assert!(matches!(store.parse_encrypted(br#"{"a": {"sops": {}}}"#), Err(Error::MetadataNotFound)));
        assert!(matches!(store.parse_encrypted(br#"{"sops": "x"}"#), Err(Error::Metadata(_))));
        assert!(matches!(store.parse_encrypted(br#"{"sops": {}, "sops": {}}"#), Err(Error::Metadata(_))));
        assert!(matches!(store.parse_encrypted(br#"{"sops": {}} x"#), Err(Error::Parse { .. })));
        assert!(matches!(store.parse_encrypted(b"[]"), Err(Error::Parse { .. })));
    }

    #[test]
    fn only_the_first_branch_is_written() {
        let store = JsonStore::default();
        let one = Map(vec![MapItem::Entry("a".into(), Value::Bool(true))]);
        let doc = Document { branches: vec![one.clone(), Map(vec![MapItem::Entry("b".into(), Value::Null)])] };
        assert_eq!(text(&store.emit_plain(&doc).unwrap()), "{\n\t\"a\": true\n}\n");
        assert!(matches!(store.emit_plain(&Document::default()), Err(Error::Emit { .. })));
        assert!(matches!(store.emit_encrypted(&Document::default(), &Map::new()), Err(Error::Emit { .. })));
    }

    #[test]
    fn parse_errors_name_the_store() {
        let err = JsonStore::default().parse_plain(b"[1]").unwrap_err();
        assert!(matches!(err, Error::Parse { format: Format::Json, .. }));
        assert_eq!(err.sops_exit_code(), 2);
    }

    #[test]
    fn deep_documents_emit() {
        // As deep as the parser allows: the top-level object plus MAX_DEPTH - 1 arrays.
        let depth = parse::MAX_DEPTH - 1;
        let text_in = format!("{{\"a\":{}\"x\"{}}}", "[".repeat(depth), "]".repeat(depth));
        let store = JsonStore { indent: Some(0) };
        let doc = store.parse_plain(text_in.as_bytes()).unwrap();
        let out = store.emit_plain(&doc).unwrap();
        let expected = format!("{{\n\"a\": {}\"x\"{}\n}}\n", "[\n".repeat(depth), "\n]".repeat(depth));
        assert_eq!(text(&out), expected);
    }

    #[test]
    fn single_values_read_like_documents() {
        let entry = |k: &str, v: Value| MapItem::Entry(k.to_owned(), v);
        assert_eq!(parse_value(b" 1.0 ").unwrap(), Value::Float(1.0));
        assert!(matches!(parse_value(b"-0").unwrap(), Value::Float(z) if z.to_bits() == (-0.0f64).to_bits()));
        assert_eq!(parse_value(b"123456789012345678901234567890").unwrap(), Value::Float(1.2345678901234568e29));
        assert_eq!(parse_value(b"null").unwrap(), Value::Null);
        assert_eq!(parse_value(br#""\ud800x\u00e9""#).unwrap(), Value::str("\u{fffd}x\u{e9}"));
        assert_eq!(parse_value(b"[1, {}]").unwrap(), Value::List(vec![Value::Float(1.0), Value::Map(Map::new())]));
        // Objects keep duplicate keys and their order, like the files.
        assert_eq!(
            parse_value(br#"{"x": 1, "x": {"y": true}}"#).unwrap(),
            Value::Map(Map(vec![entry("x", Value::Float(1.0)), entry("x", Value::Map(Map(vec![entry("y", Value::Bool(true))])))]))
        );
    }

    #[test]
    fn anything_but_one_value_is_refused() {
        for bad in
            ["", " ", "1 2", "1, \"\": 2", "1} {", "\"x\" junk", "01", "1.", "NaN", "1e400", "[1,]", "{\"a\":1} x", "\u{feff}1", "'x'"]
        {
            match parse_value(bad.as_bytes()) {
                Err(Error::Parse { format: Format::Json, .. }) => {}
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
        // An object's errors point into the input itself.
        let err = parse_value(b"{\"a\": 1,}").unwrap_err().to_string();
        assert!(err.contains("line 1, column 9"), "{err}");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn leaf() -> impl Strategy<Value = Value> {
            prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::Float),
                any::<String>().prop_map(Value::Str),
            ]
        }

        fn tree() -> impl Strategy<Value = Value> {
            leaf().prop_recursive(4, 48, 6, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..6).prop_map(Value::List),
                    prop::collection::vec((any::<String>(), inner), 0..6)
                        .prop_map(|entries| { Value::Map(Map(entries.into_iter().map(|(k, v)| MapItem::Entry(k, v)).collect())) }),
                ]
            })
        }

        proptest! {
            /// Whatever we write reads back as the same tree (floats exactly, keys in order).
            #[test]
            fn emitted_documents_parse_back(entries in prop::collection::vec((any::<String>(), tree()), 0..6)) {
                let map = Map(entries.into_iter().map(|(k, v)| MapItem::Entry(k, v)).collect());
                let doc = Document { branches: vec![map] };
                let store = JsonStore::default();
                let out = store.emit_plain(&doc).unwrap();
                prop_assert_eq!(store.parse_plain(&out).unwrap(), doc);
            }

            /// The display text of a float reads back as the same float.
            #[test]
            fn float_text_round_trips(f in any::<f64>().prop_filter("finite", |f| f.is_finite())) {
                let text = go_format_float_json(f);
                let parsed = JsonStore::default().parse_plain(format!("{{\"x\": {text}}}").as_bytes()).unwrap();
                let expected = Value::Float(f);
                prop_assert_eq!(parsed.branches[0].get("x"), Some(&expected));
                prop_assert_eq!(text.parse::<f64>().unwrap().to_bits(), f.to_bits());
            }

            /// Arbitrary bytes never panic the parser.
            #[test]
            fn arbitrary_input_does_not_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
                let _ = JsonStore::default().parse_plain(&bytes);
                let _ = JsonStore::default().parse_encrypted(&bytes);
            }
        }
    }
}
