//! Store-level tests against files the real sops wrote.

use super::*;
use crate::test_support::{files_in, read, same_shape, VECTORS};

const CASES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/flat-cases/ini");

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// sops writes the `[sops]` keys in random order (it walks a Go map); we write them sorted.
/// The alignment does not depend on the order, so sorting those lines is the only difference.
fn with_sorted_metadata(file: &str) -> String {
    let at = file.rfind("[sops]\n").expect("no [sops] section") + "[sops]\n".len();
    let (data, metadata) = file.split_at(at);
    let mut lines: Vec<&str> = metadata.lines().collect();
    lines.sort_by(|a, b| metadata_key(a).cmp(metadata_key(b)));
    format!("{data}{}\n", lines.join("\n"))
}

fn metadata_key(line: &str) -> &str {
    line.split(' ').next().unwrap_or(line)
}

#[test]
fn encrypted_vectors_round_trip() {
    let names = files_in(&format!("{VECTORS}/enc"), ".ini");
    assert!(names.len() >= 2, "{names:?}");
    for name in names {
        let original = text(&read(&format!("{VECTORS}/enc/{name}")));
        let (doc, metadata) = IniStore.parse_encrypted(original.as_bytes()).unwrap();
        let written = text(&IniStore.emit_encrypted(&doc, &metadata).unwrap());
        assert_eq!(written, with_sorted_metadata(&original), "{name}");
    }
}

#[test]
fn decrypted_vectors_round_trip_and_plain_inputs_print_as_sops_does() {
    for name in files_in(&format!("{VECTORS}/dec"), ".ini") {
        let dec = text(&read(&format!("{VECTORS}/dec/{name}")));
        let doc = IniStore.parse_plain(dec.as_bytes()).unwrap();
        assert_eq!(text(&IniStore.emit_plain(&doc).unwrap()), dec, "dec/{name}");
        let plain = read(&format!("{VECTORS}/plain/{name}"));
        let doc = IniStore.parse_plain(&plain).unwrap();
        assert_eq!(text(&IniStore.emit_plain(&doc).unwrap()), dec, "plain/{name}");
    }
}

#[test]
fn basic_vector_tree_has_sops_comment_placement() {
    let doc = IniStore.parse_plain(&read(&format!("{VECTORS}/plain/basic.ini"))).unwrap();
    let branch = &doc.branches[0];
    let sections: Vec<&str> = branch.entries().map(|(k, _)| k).collect();
    assert_eq!(sections, ["DEFAULT", "database", "service"]);
    let database = branch.get("database").and_then(Value::as_map).unwrap();
    assert_eq!(database.0[0], MapItem::Comment("comment for the database section".into()));
    assert_eq!(database.0[1], MapItem::Entry("user".into(), Value::str("admin")));
    // The comment above `user` is stored after it.
    assert_eq!(database.0[2], MapItem::Comment("comment before user".into()));
    assert_eq!(database.get("multi"), Some(&Value::str("line one\nline two")));
    assert_eq!(database.get("empty"), Some(&Value::str("")));
}

/// Crafted inputs with what `sops encrypt` wrote and `sops decrypt` printed for them.
#[test]
fn crafted_cases_match_sops() {
    let names = files_in(CASES, ".in.ini");
    assert!(names.len() >= 5, "{names:?}");
    for name in names {
        let stem = name.trim_end_matches(".in.ini");
        let input = read(&format!("{CASES}/{name}"));
        let enc = text(&read(&format!("{CASES}/{stem}.enc.ini")));
        let dec = text(&read(&format!("{CASES}/{stem}.dec.ini")));

        let plain = IniStore.parse_plain(&input).unwrap();
        assert_eq!(text(&IniStore.emit_plain(&plain).unwrap()), dec, "{stem}: plain output");
        let again = IniStore.parse_plain(dec.as_bytes()).unwrap();
        assert_eq!(text(&IniStore.emit_plain(&again).unwrap()), dec, "{stem}: decrypted output is stable");

        let (encrypted, metadata) = IniStore.parse_encrypted(enc.as_bytes()).unwrap();
        if let Err(e) = same_shape(&plain.branches[0], &encrypted.branches[0]) {
            panic!("{stem}: structure differs: {e}");
        }
        let rewritten = text(&IniStore.emit_encrypted(&encrypted, &metadata).unwrap());
        assert_eq!(rewritten, with_sorted_metadata(&enc), "{stem}: encrypted output");
    }
}

#[test]
fn metadata_values_with_comment_characters_are_quoted_and_read_back() {
    let enc = text(&read(&format!("{CASES}/regex-mac-only.enc.ini")));
    assert!(enc.contains("= `^(PASSWORD|password|x#y;z)$`\n"));
    let (_, metadata) = IniStore.parse_encrypted(enc.as_bytes()).unwrap();
    assert_eq!(metadata.get("encrypted_regex"), Some(&Value::str("^(PASSWORD|password|x#y;z)$")));
    assert_eq!(metadata.get("mac_only_encrypted"), Some(&Value::Bool(true)));
}

#[test]
fn shamir_vector_metadata_has_key_groups() {
    let enc = read(&format!("{VECTORS}/enc/shamir-2of3.ini"));
    let (doc, metadata) = IniStore.parse_encrypted(&enc).unwrap();
    assert_eq!(metadata.get("shamir_threshold"), Some(&Value::Int(2)));
    let Some(Value::List(groups)) = metadata.get("key_groups") else { panic!("no key_groups") };
    assert_eq!(groups.len(), 3);
    let sections: Vec<&str> = doc.branches[0].entries().map(|(k, _)| k).collect();
    assert_eq!(sections, ["DEFAULT", "db"]);
}

/// sops 3.13.0 and 3.13.1 wrote metadata values with real newlines inside `"""…"""`; they must
/// read as the same metadata as the `\n`-escaped form.
#[test]
fn multiline_metadata_of_sops_3_13_reads_the_same() {
    let original = text(&read(&format!("{VECTORS}/enc/basic.ini")));
    let mut converted = String::new();
    for line in original.split_inclusive('\n') {
        match line.split_once(" = ") {
            Some((key, value)) if value.contains("\\n") => {
                converted.push_str(&format!("{key} = \"\"\"{}\"\"\"\n", value.trim_end().replace("\\n", "\n")));
            }
            _ => converted.push_str(line),
        }
    }
    assert!(converted.contains("= \"\"\"-----BEGIN AGE ENCRYPTED FILE-----\n"));
    let (doc, metadata) = IniStore.parse_encrypted(converted.as_bytes()).unwrap();
    let (expected_doc, expected_metadata) = IniStore.parse_encrypted(original.as_bytes()).unwrap();
    assert_eq!(metadata, expected_metadata);
    assert_eq!(doc, expected_doc);
    // Written back, it takes the 3.11 escaped form.
    let written = text(&IniStore.emit_encrypted(&doc, &metadata).unwrap());
    assert_eq!(written, with_sorted_metadata(&original));
}

#[test]
fn missing_metadata_section_is_reported() {
    assert!(matches!(IniStore.parse_encrypted(b"[s]\nk = v\n"), Err(Error::MetadataNotFound)));
}

#[test]
fn empty_input_is_one_empty_default_section() {
    let doc = IniStore.parse_plain(b"").unwrap();
    let mut expected = Map::new();
    expected.push("DEFAULT", Value::Map(Map::new()));
    assert_eq!(doc.branches, vec![expected]);
    assert_eq!(IniStore.emit_plain(&doc).unwrap(), b"");
}

#[test]
fn converted_trees_print_like_sops() {
    // Observed with `sops decrypt --output-type ini` on a YAML file: top-level comments are
    // dropped, a leading comment becomes the section comment, nested values print Go-style.
    let mut inner = Map::new();
    inner.push("a", Value::Int(1));
    let section = Map(vec![
        MapItem::Comment(" a comment".into()),
        MapItem::Entry("i".into(), Value::Int(42)),
        MapItem::Entry("f".into(), Value::Float(1.5)),
        MapItem::Entry("b".into(), Value::Bool(false)),
        MapItem::Entry("n".into(), Value::Null),
        MapItem::Entry("l".into(), Value::List(vec![Value::Int(1), Value::str("two"), Value::Null])),
        MapItem::Entry("m".into(), Value::Map(inner)),
        MapItem::Entry("s".into(), Value::str("has # and ; and `")),
        MapItem::Entry("sp".into(), Value::str(" x")),
    ]);
    let branch = Map(vec![
        MapItem::Comment(" top comment".into()),
        MapItem::Entry("sec".into(), Value::Map(section)),
        MapItem::Entry("other".into(), Value::Map(Map::new())),
    ]);
    let out = text(&IniStore.emit_plain(&Document { branches: vec![branch] }).unwrap());
    assert_eq!(
        out,
        ";  a comment\n[sec]\ni  = 42\nf  = 1.5\nb  = false\nn  = <nil>\nl  = [1 two <nil>]\nm  = [{a 1}]\n\
         s  = \"\"\"has # and ; and `\"\"\"\nsp = \" x\"\n\n[other]\n"
    );
}

#[test]
fn comments_and_duplicates_map_onto_go_ini_keys() {
    // Several comments after a key: the last one is written; comments before any key vanish.
    let section = Map(vec![
        MapItem::Entry("k".into(), Value::str("1")),
        MapItem::Comment("first".into()),
        MapItem::Comment("second".into()),
        MapItem::Entry("j".into(), Value::str("2")),
        MapItem::Entry("k".into(), Value::str("3")),
        MapItem::Comment("# on k again".into()),
    ]);
    let leading = Map(vec![MapItem::Comment("head".into()), MapItem::Comment("dropped".into())]);
    let branch = Map(vec![MapItem::Entry("s".into(), Value::Map(section)), MapItem::Entry("t".into(), Value::Map(leading))]);
    let out = text(&IniStore.emit_plain(&Document { branches: vec![branch] }).unwrap());
    assert_eq!(out, "[s]\n# on k again\nk = 3\nj = 2\n\n; head\n[t]\n");
}

#[test]
fn every_branch_contributes_sections() {
    let mut a = Map::new();
    a.push("x", Value::Map(Map(vec![MapItem::Entry("k".into(), Value::str("1"))])));
    let mut b = Map::new();
    b.push("y", Value::Map(Map(vec![MapItem::Entry("k".into(), Value::str("2"))])));
    let out = text(&IniStore.emit_plain(&Document { branches: vec![a, b] }).unwrap());
    assert_eq!(out, "[x]\nk = 1\n\n[y]\nk = 2\n");
}

#[test]
fn trees_that_are_not_sections_cannot_be_written() {
    let mut top_scalar = Map::new();
    top_scalar.push("k", Value::str("v"));
    let mut empty_key = Map::new();
    empty_key.push("s", Value::Map(Map(vec![MapItem::Entry(String::new(), Value::str("v"))])));
    let mut empty_section = Map::new();
    empty_section.push("", Value::Map(Map::new()));
    for branch in [top_scalar, empty_key, empty_section] {
        let err = IniStore.emit_plain(&Document { branches: vec![branch] }).unwrap_err();
        assert!(matches!(err, Error::Emit { format: Format::Ini, .. }), "{err:?}");
    }
}

#[test]
fn comment_with_an_empty_line_is_refused_like_sops_crashes() {
    // `#\n# b` above a key strips to "\n# b"; sops encrypts it but panics when writing it.
    let doc = IniStore.parse_plain(b"[s]\n#\n# b\nk=v\n").unwrap();
    let section = doc.branches[0].get("s").and_then(Value::as_map).unwrap();
    assert_eq!(section.0[1], MapItem::Comment("\n# b".into()));
    assert!(matches!(IniStore.emit_plain(&doc), Err(Error::Emit { .. })));
}
