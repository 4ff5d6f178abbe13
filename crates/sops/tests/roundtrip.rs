//! Property tests: random documents survive encrypt → write → read → decrypt unchanged in every
//! store that can hold them, and every parser survives arbitrary bytes.

use proptest::prelude::*;
use secrets_sops::keys::{DataKey, Identities};
use secrets_sops::stores::store;
use secrets_sops::{DecryptOptions, Document, EncryptOptions, EncryptedFile, Format, Map, MapItem, Value};

const ALICE: &str = "age1e9xplsq098whkdsvugpwhmh65hvjzend6kh3pcpuvsswew43jf6smxepjg";

fn identities() -> Identities {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/sops-vectors/keys.txt")).unwrap();
    let mut ids = Identities::empty();
    ids.add_age_key_text(&text, "keys.txt").unwrap();
    ids
}

fn key_name() -> impl Strategy<Value = String> {
    // Keys that no store reserves: no `sops`, no `_unencrypted` suffix.
    "[a-zA-Z][a-zA-Z0-9_-]{0,12}".prop_filter("reserved", |k| !k.starts_with("sops") && !k.ends_with("_unencrypted"))
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), "\\PC{0,24}", "[a-z \n]{0,30}", Just("multi\nline\n".to_string()), Just("Grüße, 世界 ✓".to_string())]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        text().prop_map(Value::Str),
        any::<i64>().prop_map(Value::Int),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::Float),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ]
}

fn map_of(values: impl Strategy<Value = Value>, size: usize) -> impl Strategy<Value = Map> {
    proptest::collection::btree_map(key_name(), values, 0..size)
        .prop_map(|m| Map(m.into_iter().map(|(k, v)| MapItem::Entry(k, v)).collect()))
}

fn tree() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 24, 5, |inner| {
        prop_oneof![proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::List), map_of(inner, 4).prop_map(Value::Map),]
    })
}

fn round_trip(doc: Document, format: Format) -> Document {
    let options = EncryptOptions { key_groups: vec![vec![ALICE.to_string()]], ..EncryptOptions::default() };
    let file = secrets_sops::encrypt(doc, format, &options).unwrap();
    let bytes = file.to_bytes().unwrap();
    let parsed = EncryptedFile::parse(&bytes, format).unwrap();
    let plain = parsed.decrypt(&identities(), DecryptOptions::default()).unwrap();
    plain.data.clone()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn structured_documents_round_trip_through_yaml_and_json(root in map_of(tree(), 6)) {
        for format in [Format::Yaml, Format::Json] {
            let doc = Document { branches: vec![root.clone()] };
            prop_assert_eq!(&round_trip(doc.clone(), format), &doc, "{}", format);
        }
    }

    #[test]
    fn flat_string_documents_round_trip_through_dotenv(entries in proptest::collection::btree_map(key_name(), "[^\\\\\n]{0,20}", 1..6)) {
        let map = Map(entries.into_iter().map(|(k, v)| MapItem::Entry(k, Value::Str(v))).collect());
        let doc = Document { branches: vec![map] };
        prop_assert_eq!(round_trip(doc.clone(), Format::Dotenv), doc);
    }

    #[test]
    fn sections_of_strings_round_trip_through_ini(
        sections in proptest::collection::btree_map(key_name(), proptest::collection::btree_map(key_name(), "[a-zA-Z0-9 .,:/+=-]{0,20}", 1..4), 1..4)
    ) {
        // Reading an INI file always yields the DEFAULT section first, as go-ini does.
        let default = std::iter::once(MapItem::Entry("DEFAULT".into(), Value::Map(Map::new())));
        let map = Map(default.chain(sections.into_iter().filter(|(name, _)| name != "DEFAULT").map(|(name, entries)| {
            let inner = Map(entries.into_iter().map(|(k, v)| MapItem::Entry(k, Value::Str(v.trim().to_string()))).collect());
            MapItem::Entry(name, Value::Map(inner))
        })).collect());
        let doc = Document { branches: vec![map] };
        prop_assert_eq!(round_trip(doc.clone(), Format::Ini), doc);
    }

    #[test]
    fn any_bytes_round_trip_through_the_binary_store(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let doc = secrets_sops::parse_plain(&bytes, Format::Binary).unwrap();
        let back = round_trip(doc, Format::Binary);
        let out = store(Format::Binary).emit_plain(&back).unwrap();
        prop_assert_eq!(out, bytes);
    }

    #[test]
    fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        for format in [Format::Yaml, Format::Json, Format::Dotenv, Format::Ini, Format::Binary] {
            let s = store(format);
            if let Ok(doc) = s.parse_plain(&bytes) {
                let _ = s.emit_plain(&doc);
            }
            let _ = EncryptedFile::parse(&bytes, format);
        }
    }

    #[test]
    fn a_wrong_data_key_never_decrypts(value in "\\PC{1,40}") {
        let doc = Document { branches: vec![Map(vec![MapItem::Entry("k".into(), Value::Str(value))])] };
        let options = EncryptOptions { key_groups: vec![vec![ALICE.to_string()]], ..EncryptOptions::default() };
        let file = secrets_sops::encrypt(doc, Format::Yaml, &options).unwrap();
        prop_assert!(file.decrypt_with_key(DataKey::generate(), DecryptOptions::default()).is_err());
    }
}
