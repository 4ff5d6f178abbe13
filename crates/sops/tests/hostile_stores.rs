//! Hostile store inputs: a committer who may change an encrypted file but cannot read it must
//! not be able to make two readers see different metadata in it.

use std::path::Path;

use secrets_sops::{EncryptedFile, Error, Format};

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
