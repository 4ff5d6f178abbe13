//! Flattened metadata for the dotenv and INI stores (`age__list_0__map_enc`).
//!
//! Those layouts only hold flat string pairs, so sops writes its metadata tree with one pair per
//! leaf: a mapping child appends `__map_<key>` to the name, a list element `__list_<index>`.
//! Newlines in values are escaped as the two characters `\n`, and the two non-string fields
//! (`shamir_threshold`, `mac_only_encrypted`) are written as text.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::tree::{Map, Value};

const MAP_SEPARATOR: &str = "__map_";
const LIST_SEPARATOR: &str = "__list_";
const SHAMIR_THRESHOLD: &str = "shamir_threshold";
const MAC_ONLY_ENCRYPTED: &str = "mac_only_encrypted";
/// Far deeper than any metadata sops writes (five levels); bounds recursion on hostile input.
const MAX_DEPTH: usize = 32;

/// Flattens the logical metadata tree into `(name, value)` pairs sorted byte-wise by name, the
/// order sops writes dotenv metadata in. Nulls and empty containers leave no pair.
pub fn flatten(metadata: &Map) -> Result<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    // Names and values still to flatten, the next one last: a stack rather than recursion,
    // because the metadata of a hostile file (its other key types) may be nested deeply.
    let mut pending: Vec<(String, &Value)> = metadata.entries().rev().map(|(key, value)| (key.to_string(), value)).collect();
    while let Some((name, value)) = pending.pop() {
        match value {
            Value::Map(map) => {
                pending.extend(map.entries().rev().map(|(key, child)| (format!("{name}{MAP_SEPARATOR}{key}"), child)));
            }
            Value::List(items) => {
                pending.extend(items.iter().enumerate().rev().map(|(index, child)| (format!("{name}{LIST_SEPARATOR}{index}"), child)));
            }
            leaf => {
                if let Some(text) = leaf_text(&name, leaf)? {
                    pairs.push((name, text));
                }
            }
        }
    }
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    // A later duplicate wins, as it would in sops' intermediate Go map.
    pairs.reverse();
    pairs.dedup_by(|later, earlier| later.0 == earlier.0);
    pairs.reverse();
    Ok(pairs)
}

/// The text of a scalar named `name`; none for a null.
fn leaf_text(name: &str, value: &Value) -> Result<Option<String>> {
    Ok(Some(match value {
        Value::Null | Value::Map(_) | Value::List(_) => return Ok(None),
        Value::Str(s) => s.replace('\n', "\\n"),
        Value::Int(i) => i.to_string(),
        Value::Bool(b) => b.to_string(),
        // sops reads the threshold back through JSON as a float and prints it with `%.0f`.
        Value::Float(f) if name == SHAMIR_THRESHOLD => format!("{f:.0}"),
        Value::Float(_) => String::from_utf8_lossy(&super::go_format::val_to_string(value)).into_owned(),
        Value::Time(_) | Value::Bytes(_) | Value::Comment(_) => {
            return Err(Error::metadata(format!("`{name}` holds a value that is not text")));
        }
    }))
}

/// Rebuilds the logical metadata tree from flattened pairs (in any order; a repeated name keeps
/// its last value). `\n` escapes are decoded, `mac_only_encrypted` becomes a bool (true only for
/// exactly `true`) and `shamir_threshold` an int; every other leaf is a string. Mapping keys come
/// out sorted, list elements by index, with nulls filling any gap.
pub fn unflatten(pairs: impl IntoIterator<Item = (String, String)>) -> Result<Map> {
    let flat: BTreeMap<String, String> = pairs.into_iter().collect();
    // Every list element needs at least one pair, so no valid index reaches the pair count;
    // the bound keeps a hostile index from allocating a huge list.
    let max_index = flat.len();
    let mut root = Node::Map(BTreeMap::new());
    for (name, raw) in flat {
        let path = tokenize(&name, max_index)?;
        let leaf = leaf_value(&name, raw)?;
        if !place(&mut root, &path, leaf) {
            return Err(Error::metadata(format!("metadata key `{name}` conflicts with another key")));
        }
    }
    match root {
        Node::Map(nodes) => Ok(map_from_nodes(nodes)),
        _ => Ok(Map::new()),
    }
}

#[derive(Debug, PartialEq)]
enum Token {
    Key(String),
    Index(usize),
}

/// Splits a flattened name at every `__map_` and `__list_`; the text before the first separator
/// is the top-level key.
fn tokenize(name: &str, max_index: usize) -> Result<Vec<Token>> {
    let malformed = |reason: &str| Error::metadata(format!("malformed metadata key `{name}`: {reason}"));
    let mut tokens = Vec::new();
    let mut rest = name;
    let mut is_index = false;
    loop {
        let next = [MAP_SEPARATOR, LIST_SEPARATOR]
            .iter()
            .filter_map(|sep| rest.find(sep).map(|at| (at, *sep)))
            .min_by_key(|(at, sep)| (*at, sep.len()));
        let (segment, following) = match next {
            Some((at, sep)) => (&rest[..at], Some((at, sep))),
            None => (rest, None),
        };
        if is_index {
            if segment.is_empty() || !segment.bytes().all(|b| b.is_ascii_digit()) {
                return Err(malformed("a list index is not a number"));
            }
            let index: usize = segment.parse().map_err(|_| malformed("a list index is too large"))?;
            if index >= max_index {
                return Err(malformed("a list index is out of range"));
            }
            tokens.push(Token::Index(index));
        } else {
            tokens.push(Token::Key(segment.to_string()));
        }
        if tokens.len() > MAX_DEPTH {
            return Err(malformed("too deeply nested"));
        }
        match following {
            Some((at, sep)) => {
                is_index = sep == LIST_SEPARATOR;
                rest = &rest[at + sep.len()..];
            }
            None => return Ok(tokens),
        }
    }
}

fn leaf_value(name: &str, raw: String) -> Result<Value> {
    let text = raw.replace("\\n", "\n");
    Ok(match name {
        MAC_ONLY_ENCRYPTED => Value::Bool(text == "true"),
        SHAMIR_THRESHOLD => Value::Int(parse_threshold(&text)?),
        _ => Value::Str(text),
    })
}

/// A decimal integer, or (as older sops versions wrote it) a float with no fractional part.
#[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, reason = "2^63 is exact as a float; f is whole and in range")]
fn parse_threshold(text: &str) -> Result<i64> {
    if let Ok(n) = text.parse::<i64>() {
        return Ok(n);
    }
    let bad = || Error::metadata("shamir_threshold is not an integer");
    let f: f64 = text.parse().map_err(|_| bad())?;
    // -2^63 is i64::MIN exactly; 2^63 is one past i64::MAX.
    let limit = -(i64::MIN as f64);
    if f.fract() == 0.0 && (-limit..limit).contains(&f) {
        Ok(f as i64)
    } else {
        Err(bad())
    }
}

enum Node {
    /// A list position no pair named, or a slot about to be filled.
    Empty,
    Map(BTreeMap<String, Node>),
    List(Vec<Node>),
    Leaf(Value),
}

impl Node {
    fn container_for(token: &Token) -> Node {
        match token {
            Token::Key(_) => Node::Map(BTreeMap::new()),
            Token::Index(_) => Node::List(Vec::new()),
        }
    }
}

/// Puts a leaf at the end of its path, creating containers on the way. Returns false when the
/// path runs into a leaf, or a container of the other kind, that another name already placed.
fn place(node: &mut Node, path: &[Token], leaf: Value) -> bool {
    let Some((token, rest)) = path.split_first() else {
        return false;
    };
    let child = match (node, token) {
        (Node::Map(map), Token::Key(key)) => map.entry(key.clone()).or_insert(Node::Empty),
        (Node::List(list), Token::Index(index)) => {
            if list.len() <= *index {
                list.resize_with(index + 1, || Node::Empty);
            }
            match list.get_mut(*index) {
                Some(child) => child,
                None => return false,
            }
        }
        _ => return false,
    };
    match rest.first() {
        None if matches!(child, Node::Empty) => {
            *child = Node::Leaf(leaf);
            true
        }
        None => false,
        Some(next) => {
            if matches!(child, Node::Empty) {
                *child = Node::container_for(next);
            }
            place(child, rest, leaf)
        }
    }
}

fn map_from_nodes(nodes: BTreeMap<String, Node>) -> Map {
    let mut map = Map::new();
    for (key, node) in nodes {
        map.push(key, value_from_node(node));
    }
    map
}

fn value_from_node(node: Node) -> Value {
    match node {
        Node::Empty => Value::Null,
        Node::Leaf(value) => value,
        Node::Map(nodes) => Value::Map(map_from_nodes(nodes)),
        Node::List(items) => Value::List(items.into_iter().map(value_from_node).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn age_entry(recipient: &str, enc: &str) -> Value {
        let mut m = Map::new();
        m.push("recipient", Value::str(recipient));
        m.push("enc", Value::str(enc));
        Value::Map(m)
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn flattens_sorted_with_escaped_newlines() {
        let mut md = Map::new();
        md.push("age", Value::List(vec![age_entry("age1x", "-----BEGIN\nabc\n-----END\n")]));
        md.push("lastmodified", Value::str("2026-11-23T03:25:36Z"));
        md.push("mac", Value::str("ENC[x]"));
        md.push("unencrypted_suffix", Value::str("_unencrypted"));
        md.push("mac_only_encrypted", Value::Bool(true));
        md.push("version", Value::str("3.11.0"));
        let flat = flatten(&md).unwrap();
        assert_eq!(
            flat,
            pairs(&[
                ("age__list_0__map_enc", "-----BEGIN\\nabc\\n-----END\\n"),
                ("age__list_0__map_recipient", "age1x"),
                ("lastmodified", "2026-11-23T03:25:36Z"),
                ("mac", "ENC[x]"),
                ("mac_only_encrypted", "true"),
                ("unencrypted_suffix", "_unencrypted"),
                ("version", "3.11.0"),
            ])
        );
    }

    #[test]
    fn nulls_and_empty_containers_leave_no_pair() {
        let mut group = Map::new();
        group.push("hc_vault", Value::Null);
        group.push("pgp", Value::List(vec![]));
        group.push("age", Value::List(vec![age_entry("r", "e")]));
        let mut md = Map::new();
        md.push("shamir_threshold", Value::Int(2));
        md.push("key_groups", Value::List(vec![Value::Map(group)]));
        md.push("kms", Value::Map(Map::new()));
        let flat = flatten(&md).unwrap();
        assert_eq!(
            flat,
            pairs(&[
                ("key_groups__list_0__map_age__list_0__map_enc", "e"),
                ("key_groups__list_0__map_age__list_0__map_recipient", "r"),
                ("shamir_threshold", "2"),
            ])
        );
    }

    #[test]
    fn twelve_recipients_sort_bytewise_and_round_trip() {
        let entries: Vec<Value> = (0..12).map(|i| age_entry(&format!("age1r{i}"), &format!("e{i}\n"))).collect();
        let mut md = Map::new();
        md.push("age", Value::List(entries));
        md.push("version", Value::str("3.11.0"));
        let flat = flatten(&md).unwrap();
        let encs: Vec<&str> = flat.iter().map(|(k, _)| k.as_str()).filter(|k| k.ends_with("__map_enc")).collect();
        // `_` sorts after the digits, so `__list_10` and `__list_11` come before `__list_1__`.
        let order = [0, 10, 11, 1, 2, 3, 4, 5, 6, 7, 8, 9];
        let expected: Vec<String> = order.iter().map(|i| format!("age__list_{i}__map_enc")).collect();
        assert_eq!(encs, expected);
        assert_eq!(unflatten(flat).unwrap(), sorted_metadata(&md));
    }

    /// The shape `unflatten` gives back: keys sorted at every level.
    fn sorted_metadata(map: &Map) -> Map {
        let mut entries: Vec<(String, Value)> = map.entries().map(|(k, v)| (k.to_string(), sorted_value(v))).collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out = Map::new();
        for (k, v) in entries {
            out.push(k, v);
        }
        out
    }

    fn sorted_value(v: &Value) -> Value {
        match v {
            Value::Map(m) => Value::Map(sorted_metadata(m)),
            Value::List(items) => Value::List(items.iter().map(sorted_value).collect()),
            other => other.clone(),
        }
    }

    #[test]
    fn unflatten_converts_the_two_typed_fields() {
        let md = unflatten(pairs(&[("mac_only_encrypted", "true"), ("shamir_threshold", "3"), ("version", "3.11.0")])).unwrap();
        assert_eq!(md.get("mac_only_encrypted"), Some(&Value::Bool(true)));
        assert_eq!(md.get("shamir_threshold"), Some(&Value::Int(3)));
        assert_eq!(md.get("version"), Some(&Value::str("3.11.0")));

        let md = unflatten(pairs(&[("mac_only_encrypted", "True"), ("shamir_threshold", "2.0")])).unwrap();
        assert_eq!(md.get("mac_only_encrypted"), Some(&Value::Bool(false)));
        assert_eq!(md.get("shamir_threshold"), Some(&Value::Int(2)));

        for bad in ["2.5", "two", "", "1e30", "NaN", "inf"] {
            assert!(matches!(unflatten(pairs(&[("shamir_threshold", bad)])), Err(Error::Metadata(_))), "{bad:?}");
        }
    }

    #[test]
    fn unflatten_decodes_escapes_and_keeps_real_newlines() {
        // 3.13.0/3.13.1 INI files carry the armor with real newlines inside `"""…"""`.
        let md = unflatten(pairs(&[("age__list_0__map_enc", "a\\nb\\n"), ("age__list_1__map_enc", "c\nd\n")])).unwrap();
        let Some(Value::List(age)) = md.get("age") else { panic!("no age list") };
        assert_eq!(age[0].as_map().unwrap().get("enc"), Some(&Value::str("a\nb\n")));
        assert_eq!(age[1].as_map().unwrap().get("enc"), Some(&Value::str("c\nd\n")));
    }

    #[test]
    fn unflatten_fills_list_gaps_with_null_and_keeps_the_last_duplicate() {
        let md = unflatten(pairs(&[("age__list_1__map_recipient", "r1"), ("version", "old"), ("version", "new"), ("x", "")])).unwrap();
        let Some(Value::List(age)) = md.get("age") else { panic!("no age list") };
        assert_eq!(age.len(), 2);
        assert_eq!(age[0], Value::Null);
        assert_eq!(md.get("version"), Some(&Value::str("new")));
        assert_eq!(md.get("x"), Some(&Value::str("")));
    }

    #[test]
    fn nested_lists_round_trip() {
        let mut md = Map::new();
        md.push(
            "a",
            Value::List(vec![
                Value::List(vec![Value::str("x"), Value::str("y")]),
                Value::Map(Map(vec![crate::tree::MapItem::Entry("k".into(), Value::str("v"))])),
            ]),
        );
        let flat = flatten(&md).unwrap();
        assert_eq!(flat, pairs(&[("a__list_0__list_0", "x"), ("a__list_0__list_1", "y"), ("a__list_1__map_k", "v")]));
        assert_eq!(unflatten(flat).unwrap(), md);
    }

    #[test]
    fn malformed_keys_are_metadata_errors() {
        let cases: &[&[(&str, &str)]] = &[
            &[("age__list_x__map_enc", "e")],
            &[("age__list___map_enc", "e")],
            &[("age__list_-1", "e")],
            &[("age__list_+1", "e")],
            &[("age__list_99999999999999999999999", "e")],
            &[("age__list_5", "e")],
            &[("age", "e"), ("age__list_0__map_enc", "e")],
            &[("age__map_x", "e"), ("age__list_0", "e")],
            &[("age__list_0", "e"), ("age__list_0__map_enc", "e")],
            &[("a__map_b", "e"), ("a__map_b__map_c", "e")],
        ];
        for case in cases {
            let result = unflatten(pairs(case));
            assert!(matches!(result, Err(Error::Metadata(_))), "{case:?} gave {result:?}");
        }
    }

    #[test]
    fn tokenizer_splits_like_sops() {
        assert_eq!(
            tokenize("key_groups__list_1__map_age__list_0__map_recipient", 10).unwrap(),
            vec![
                Token::Key("key_groups".into()),
                Token::Index(1),
                Token::Key("age".into()),
                Token::Index(0),
                Token::Key("recipient".into()),
            ]
        );
        assert_eq!(tokenize("plain_key", 1).unwrap(), vec![Token::Key("plain_key".into())]);
    }

    #[test]
    fn shamir_metadata_of_the_env_vector_unflattens_to_key_groups() {
        let text = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/sops-vectors/enc/shamir-2of3.env"));
        let flat = text.lines().filter_map(|l| l.strip_prefix("sops_")).filter_map(|l| l.split_once('='));
        let md = unflatten(flat.map(|(k, v)| (k.to_string(), v.to_string()))).unwrap();
        assert_eq!(md.get("shamir_threshold"), Some(&Value::Int(2)));
        let Some(Value::List(groups)) = md.get("key_groups") else { panic!("no key_groups") };
        let recipients: Vec<&str> = groups
            .iter()
            .map(|g| {
                let Some(Value::List(age)) = g.as_map().unwrap().get("age") else { panic!("no age") };
                assert_eq!(age.len(), 1);
                let entry = age[0].as_map().unwrap();
                let enc = entry.get("enc").and_then(Value::as_str).unwrap();
                assert!(enc.starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n"));
                assert!(enc.ends_with("-----END AGE ENCRYPTED FILE-----\n"));
                entry.get("recipient").and_then(Value::as_str).unwrap()
            })
            .collect();
        assert_eq!(
            recipients,
            [
                "age1e9xplsq098whkdsvugpwhmh65hvjzend6kh3pcpuvsswew43jf6smxepjg",
                "age1y53pe0c3lfwjf2wsc32czh0mvh5ekcams7r3xzjcyel45zny7ansgnel2p",
                "age1xzzypxvu5n8fvvakra4m8nwszzgzumwpfu03l2wsynhvlvygj9kq5793e2",
            ]
        );
        // Flattening the tree again gives the file's own lines back.
        let again = flatten(&md).unwrap();
        let lines: Vec<String> = again.iter().map(|(k, v)| format!("sops_{k}={v}")).collect();
        let original: Vec<&str> = text.lines().filter(|l| l.starts_with("sops_")).collect();
        assert_eq!(lines, original);
    }
}
