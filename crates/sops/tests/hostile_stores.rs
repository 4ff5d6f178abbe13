//! Hostile store inputs: a committer who may change an encrypted file but cannot read it must
//! not be able to make two readers see different metadata in it.

use std::path::Path;

use secrets_sops::{EncryptedFile, Error, Format};

#[path = "common/deep.rs"]
mod deep;

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/sops-vectors");

fn basic_yaml() -> String {
    std::fs::read_to_string(Path::new(VECTORS).join("enc/basic.yaml")).unwrap()
}

/// The `sops:` block of a YAML file, from its key to the end of the file.
fn metadata_block(text: &str) -> &str {
    let at = text.find("\nsops:\n").expect("the vector has a top-level sops key");
    &text[at + 1..]
}

fn assert_refused_as_duplicate(text: &str) {
    match EncryptedFile::parse(text.as_bytes(), Format::Yaml) {
        Err(err @ Error::Parse { .. }) => {
            let message = err.to_string();
            assert!(message.contains("already defined"), "{message}");
        }
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(_) => panic!("a YAML file with two top-level `sops` keys was accepted"),
    }
}

#[test]
fn a_second_sops_key_after_the_first_is_refused() {
    // sops refuses the file ("mapping key \"sops\" already defined"); taking either block would
    // let an edit swap the metadata (recipients, MAC) that one reader trusts.
    let text = basic_yaml();
    let mut forged = text.clone();
    forged.push_str(&metadata_block(&text).replace("version: 3.11.0", "version: 3.0.0"));
    assert_refused_as_duplicate(&forged);
}

#[test]
fn a_second_sops_key_before_the_first_is_refused() {
    let text = basic_yaml();
    let forged = format!("{}{text}", metadata_block(&text));
    assert_refused_as_duplicate(&forged);
}

#[test]
fn a_repeated_data_key_at_the_top_level_is_refused_too() {
    // go-yaml checks every key of the mapping sops decodes its metadata from.
    assert_refused_as_duplicate(&format!("app: {{}}\n{}", basic_yaml()));
}

#[test]
fn repeated_keys_below_the_top_level_stay_accepted() {
    // sops does not decode nested data into a structure, so it does not look there.
    let text = basic_yaml();
    let forged = format!("nested_unencrypted:\n    a: 1\n    a: 2\n{text}");
    assert!(EncryptedFile::parse(forged.as_bytes(), Format::Yaml).is_ok());
}

/// Deep documents: every depth a reader accepts goes through every walk over the tree
/// (encryption, decryption and its MAC, `set`, extraction, each store's writer, and freeing the
/// tree) on a thread with the usual 2 MiB stack, in debug builds too. A walk that recursed once
/// per level would overflow that stack long before the JSON reader's 10,000 levels.
mod depth {
    use secrets_sops::keys::Identities;
    use secrets_sops::{stores, treepath, DecryptOptions, EncryptOptions, EncryptedFile, Format, Value};

    use super::deep::deep_json;
    use super::VECTORS;

    /// The recipient of the vectors' `keys.txt`.
    const RECIPIENT: &str = "age1e9xplsq098whkdsvugpwhmh65hvjzend6kh3pcpuvsswew43jf6smxepjg";

    /// Runs `f` on a thread with the default stack size of Rust's spawned threads (2 MiB), as a
    /// library user's thread may have.
    fn on_small_stack(f: impl FnOnce() + Send + 'static) {
        std::thread::Builder::new().stack_size(2 << 20).spawn(f).unwrap().join().unwrap();
    }

    /// A block YAML document `levels` deep (the top-level mapping included), as go-yaml counts
    /// its levels of indentation: two mappings with comments, lists nested in compact form
    /// (`- - - …`, one level each) with a value before each nested list every other level, and
    /// a mapping at the bottom. Compact lists keep the text (and what the writer makes of it)
    /// linear in the depth, where nested mappings would add a column per level.
    fn deep_yaml(levels: usize) -> String {
        let mut text = String::from("# note\nd:\n  k2: v\n  # note 2\n  d:\n    - ");
        // The list opened above is level 3.
        let mut column = 6;
        for level in 4..levels {
            if level % 1000 == 0 {
                // A value beside the nested list, now and then: an item of its own.
                text.push_str(&format!("- {level}\n{}- ", " ".repeat(column)));
                column += 2;
            } else {
                text.push_str("- ");
                column += 2;
            }
        }
        text.push_str(&format!("k: v\n{}d: bottom\n", " ".repeat(column)));
        text
    }

    /// The path of the innermost scalar of [`deep_json`] or [`deep_yaml`], found by walking down.
    fn deepest_path(doc: &secrets_sops::Document) -> Vec<treepath::Step> {
        let mut path = Vec::new();
        let mut node = Value::Map(doc.branches[0].clone());
        loop {
            let next = match &node {
                Value::Map(map) => match map.entries().find(|(key, v)| matches!(v, Value::Map(_) | Value::List(_)) || *key == "d") {
                    Some((key, value)) => {
                        path.push(treepath::Step::Key(key.to_string()));
                        value.clone()
                    }
                    None => break,
                },
                Value::List(items) => {
                    let last = items.iter().filter(|v| !matches!(v, Value::Comment(_))).count() - 1;
                    path.push(treepath::Step::Index(last));
                    items.iter().rfind(|v| !matches!(v, Value::Comment(_))).unwrap().clone()
                }
                _ => break,
            };
            node = next;
        }
        path
    }

    fn identities() -> Identities {
        let text = std::fs::read_to_string(format!("{VECTORS}/keys.txt")).unwrap();
        Identities::from_age_key_text(&text, "keys.txt").unwrap()
    }

    /// Encrypts, writes, reads back, decrypts (with the MAC), sets and extracts the deepest
    /// value, re-encrypts, and converts the plaintext to every store.
    fn exercise(plain: &[u8], format: Format) {
        let data = secrets_sops::parse_plain(plain, format).expect("the reader accepts the document");
        let path = deepest_path(&data);
        assert!(path.len() > 200, "the document is deep: {} steps", path.len());
        let options = EncryptOptions { key_groups: vec![vec![RECIPIENT.to_owned()]], ..EncryptOptions::default() };
        let encrypted = secrets_sops::encrypt(data, format, &options).unwrap();
        let bytes = encrypted.to_bytes().unwrap();
        for other in [Format::Yaml, Format::Json, Format::Dotenv, Format::Ini, Format::Binary] {
            let _ = encrypted.to_bytes_as(other);
        }
        drop(encrypted);
        let reread = EncryptedFile::parse(&bytes, format).expect("our own encrypted file reads back");
        let mut decrypted = reread.into_decrypted(&identities(), DecryptOptions::default()).expect("decrypts, MAC checked");
        assert_eq!(treepath::get(&decrypted.data.branches[0], &path), Some(&Value::str("bottom")));
        assert_eq!(
            decrypted.to_plain_bytes(format).unwrap(),
            stores::store(format).emit_plain(&secrets_sops::parse_plain(plain, format).unwrap()).unwrap()
        );
        for other in [Format::Yaml, Format::Json, Format::Binary] {
            let _ = decrypted.to_plain_bytes(other);
        }
        // INI prints the nesting below a section as Go's `%v` does; dotenv refuses it.
        let ini = String::from_utf8(decrypted.to_plain_bytes(Format::Ini).unwrap()).unwrap();
        assert!(ini.starts_with("[d]\n") && ini.contains("{d bottom}"), "{}", &ini[..ini.len().min(200)]);
        assert!(decrypted.to_plain_bytes(Format::Dotenv).is_err());
        treepath::set(&mut decrypted.data.branches[0], &path, Value::str("changed")).unwrap();
        let again = decrypted.encrypt().unwrap().to_bytes().unwrap();
        let reread = EncryptedFile::parse(&again, format).unwrap().into_decrypted(&identities(), DecryptOptions::default()).unwrap();
        assert_eq!(treepath::get(&reread.data.branches[0], &path), Some(&Value::str("changed")));
    }

    #[test]
    fn the_deepest_json_document_goes_through_every_walk() {
        let levels = stores::json::MAX_DEPTH;
        on_small_stack(move || exercise(deep_json(levels).as_bytes(), Format::Json));
    }

    #[test]
    fn the_deepest_yaml_document_goes_through_every_walk() {
        let levels = stores::yaml::max_depth();
        assert_eq!(levels, 10_000, "go-yaml's limit");
        let text = deep_yaml(levels);
        let store = stores::store(Format::Yaml);
        assert!(store.parse_plain(text.as_bytes()).is_ok(), "{levels} levels read");
        assert!(store.parse_plain(deep_yaml(levels + 1).as_bytes()).is_err(), "{} levels refused", levels + 1);
        on_small_stack(move || exercise(text.as_bytes(), Format::Yaml));
    }

    /// The metadata is read before anything is decrypted, from a committer's file: a key group
    /// may hold other key types nested as deeply as the reader accepts.
    #[test]
    fn deep_metadata_is_read_and_written_back() {
        let vector = std::fs::read_to_string(format!("{VECTORS}/enc/basic.json")).unwrap();
        let deep = deep_json(stores::json::MAX_DEPTH - 3);
        let forged = vector.replacen("\"sops\": {", &format!("\"sops\": {{\"pgp\": [{deep}],"), 1);
        assert_ne!(forged, vector);
        on_small_stack(move || {
            let file = EncryptedFile::parse(forged.as_bytes(), Format::Json).expect("the metadata reads");
            for format in [Format::Yaml, Format::Json, Format::Dotenv, Format::Ini, Format::Binary] {
                let _ = file.to_bytes_as(format);
            }
        });
    }

    #[test]
    fn a_deep_yaml_document_converts_to_json_and_back() {
        let levels = stores::yaml::max_depth();
        on_small_stack(move || {
            let doc = secrets_sops::parse_plain(deep_yaml(levels).as_bytes(), Format::Yaml).unwrap();
            let json = stores::store(Format::Json).emit_plain(&doc).unwrap();
            let back = secrets_sops::parse_plain(&json, Format::Json).unwrap();
            assert_eq!(back.branches[0].0.len(), doc.branches[0].entries().count());
        });
    }
}
