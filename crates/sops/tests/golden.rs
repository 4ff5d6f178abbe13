//! Golden tests on the vectors the real sops 3.11 wrote (`fixtures/sops-vectors`): every
//! accepted file decrypts to exactly what `sops decrypt` printed, with the data key from the
//! manifest and with the identities that open it; every rejected file fails with sops' exit code.

use std::path::{Path, PathBuf};

use secrets_sops::keys::{DataKey, Identities};
use secrets_sops::{DecryptOptions, EncryptedFile, Format};
use serde_json::Value as Json;

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/sops-vectors")
}

fn manifest() -> Vec<Json> {
    let text = std::fs::read_to_string(vectors().join("manifest.json")).unwrap();
    let json: Json = serde_json::from_str(&text).unwrap();
    json["vectors"].as_array().unwrap().clone()
}

fn format_of(entry: &Json) -> Format {
    Format::from_name(entry["store"].as_str().unwrap()).unwrap()
}

fn data_key(entry: &Json) -> DataKey {
    let bytes = hex::decode(entry["data_key_hex"].as_str().unwrap()).unwrap();
    DataKey::from_bytes(bytes.try_into().unwrap())
}

fn identities(files: &[&str]) -> Identities {
    let mut ids = Identities::empty();
    for file in files {
        let path = vectors().join(file);
        if file.starts_with("ssh/") {
            ids.add_ssh_private_key_file(&path).unwrap();
        } else {
            let text = std::fs::read_to_string(&path).unwrap();
            ids.add_age_key_text(&text, file).unwrap();
        }
    }
    ids
}

fn parse(entry: &Json) -> EncryptedFile {
    let file = entry["file"].as_str().unwrap();
    let bytes = std::fs::read(vectors().join(file)).unwrap();
    EncryptedFile::parse(&bytes, format_of(entry)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn expected_output(entry: &Json) -> Vec<u8> {
    std::fs::read(vectors().join(entry["sops_decrypt_output"].as_str().unwrap())).unwrap()
}

#[test]
fn every_accepted_vector_decrypts_to_the_sops_output_with_its_data_key() {
    let mut checked = 0;
    for entry in manifest().iter().filter(|e| e["expect"] == "ok") {
        let file = entry["file"].as_str().unwrap();
        let plain = parse(entry).decrypt_with_key(data_key(entry), DecryptOptions::default()).unwrap_or_else(|e| panic!("{file}: {e}"));
        let out = plain.to_plain_bytes(format_of(entry)).unwrap();
        assert_eq!(String::from_utf8_lossy(&out), String::from_utf8_lossy(&expected_output(entry)), "{file}");
        assert_eq!(out, expected_output(entry), "{file}");
        checked += 1;
    }
    assert!(checked >= 28, "only {checked} vectors checked");
}

#[test]
fn every_accepted_vector_decrypts_with_its_identities() {
    for entry in manifest().iter().filter(|e| e["expect"] == "ok") {
        let file = entry["file"].as_str().unwrap();
        let sets: Vec<Vec<&str>> = match &entry["decrypts_with"] {
            Json::Array(list) => list.iter().map(|v| vec![v.as_str().unwrap().split(' ').next().unwrap()]).collect(),
            Json::String(_) => vec![vec!["keys.txt", "keys-b.txt"], vec!["keys-b.txt", "keys-c.txt"], vec!["keys.txt", "keys-c.txt"]],
            // Derived files come from files alice can read.
            _ => vec![vec!["keys.txt"]],
        };
        for ids in sets {
            let plain =
                parse(entry).decrypt(&identities(&ids), DecryptOptions::default()).unwrap_or_else(|e| panic!("{file} with {ids:?}: {e}"));
            assert_eq!(plain.to_plain_bytes(format_of(entry)).unwrap(), expected_output(entry), "{file} with {ids:?}");
        }
    }
}

#[test]
fn shamir_files_need_two_groups() {
    for entry in manifest().iter().filter(|e| e["file"].as_str().unwrap().contains("shamir")) {
        let err = parse(entry).decrypt(&identities(&["keys-c.txt"]), DecryptOptions::default()).unwrap_err();
        assert_eq!(err.sops_exit_code(), 128, "{}", entry["file"]);
    }
}

#[test]
fn ssh_recipient_file_does_not_open_with_an_age_key() {
    let entry = manifest().into_iter().find(|e| e["file"] == "enc/ssh-ed25519.yaml").unwrap();
    let err = parse(&entry).decrypt(&identities(&["keys.txt"]), DecryptOptions::default()).unwrap_err();
    assert_eq!(err.sops_exit_code(), 128);
    let report = err.to_string();
    assert!(report.contains("ssh-ed25519 AAAAC3"), "the report names the file's recipient: {report}");
}

#[test]
fn every_rejected_vector_fails_with_the_sops_exit_code() {
    let mut checked = 0;
    for entry in manifest().iter().filter(|e| e["expect"] == "error") {
        let file = entry["file"].as_str().unwrap();
        let code = i32::try_from(entry["sops_exit_code"].as_i64().unwrap()).unwrap();
        let bytes = std::fs::read(vectors().join(file)).unwrap();
        let err = EncryptedFile::parse(&bytes, format_of(entry))
            .and_then(|f| f.decrypt_with_key(data_key(entry), DecryptOptions::default()))
            .err()
            .unwrap_or_else(|| panic!("{file} was accepted"));
        assert_eq!(err.sops_exit_code(), code, "{file}: {err}");
        checked += 1;
    }
    assert_eq!(checked, 6);
}

#[test]
fn ignore_mac_recovers_a_file_whose_clear_value_was_edited() {
    let entry = manifest().into_iter().find(|e| e["file"] == "negative/mac-mismatch.yaml").unwrap();
    let plain = parse(&entry).decrypt_with_key(data_key(&entry), DecryptOptions { ignore_mac: true }).unwrap();
    assert!(!plain.to_plain_bytes(Format::Yaml).unwrap().is_empty());
}

/// Every `ENC[…]` string of a document, in order.
fn ciphertexts(doc: &secrets_sops::Document) -> Vec<String> {
    fn walk(value: &secrets_sops::Value, out: &mut Vec<String>) {
        match value {
            secrets_sops::Value::Str(s) | secrets_sops::Value::Comment(s) if s.starts_with("ENC[") => out.push(s.clone()),
            secrets_sops::Value::List(items) => items.iter().for_each(|v| walk(v, out)),
            secrets_sops::Value::Map(m) => walk_map(m, out),
            _ => {}
        }
    }
    fn walk_map(map: &secrets_sops::Map, out: &mut Vec<String>) {
        for item in &map.0 {
            match item {
                secrets_sops::MapItem::Entry(_, v) => walk(v, out),
                secrets_sops::MapItem::Comment(c) if c.starts_with("ENC[") => out.push(c.clone()),
                secrets_sops::MapItem::Comment(_) => {}
            }
        }
    }
    let mut out = Vec::new();
    doc.branches.iter().for_each(|b| walk_map(b, &mut out));
    out
}

#[test]
fn re_encrypting_unchanged_data_keeps_every_value_ciphertext() {
    for entry in manifest().iter().filter(|e| e["file"].as_str().unwrap().starts_with("enc/")) {
        let file = entry["file"].as_str().unwrap();
        let original = parse(entry);
        let plain = original.decrypt_with_key(data_key(entry), DecryptOptions::default()).unwrap();
        let again = plain.encrypt().unwrap();
        // Like sops, the IV is remembered per (path, value): equal values under one path (list
        // items) share one of their IVs, so compare the set of ciphertexts.
        let before = ciphertexts(&original.data);
        let after = ciphertexts(&again.data);
        assert_eq!(before.len(), after.len(), "{file}");
        assert!(after.iter().all(|c| before.contains(c)), "{file}: unchanged values must keep their ciphertext");
        assert_ne!(again.metadata.mac, original.metadata.mac);
        // And the result still verifies.
        again.decrypt_with_key(data_key(entry), DecryptOptions::default()).unwrap();
    }
}

#[test]
fn written_files_match_sops_layout_except_lastmodified_and_mac() {
    for entry in manifest().iter().filter(|e| e["file"].as_str().unwrap().starts_with("enc/")) {
        let file = entry["file"].as_str().unwrap();
        let format = format_of(entry);
        if format == Format::Ini {
            continue; // sops writes the [sops] keys in random order
        }
        let original_bytes = std::fs::read(vectors().join(file)).unwrap();
        let original = parse(entry);
        let plain = original.decrypt_with_key(data_key(entry), DecryptOptions::default()).unwrap();
        let mut again = plain.encrypt().unwrap();
        if ciphertexts(&again.data) != ciphertexts(&original.data) {
            continue; // equal values under one path share an IV (see above)
        }
        again.metadata.last_modified = original.metadata.last_modified.clone();
        again.metadata.mac = original.metadata.mac.clone();
        assert_eq!(String::from_utf8_lossy(&again.to_bytes().unwrap()), String::from_utf8_lossy(&original_bytes), "{file}");
    }
}
