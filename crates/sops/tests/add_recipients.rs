//! Giving a file's data key to more readers: the entries of those who already hold it stay
//! byte for byte, only the newcomers are wrapped for, and everyone can open the key.

use std::path::PathBuf;

use secrets_sops::keys::Identities;
use secrets_sops::{encrypt, parse_plain, DecryptOptions, EncryptOptions, EncryptedFile, Format};

const ALICE: &str = "age1e9xplsq098whkdsvugpwhmh65hvjzend6kh3pcpuvsswew43jf6smxepjg";
const BOB: &str = "age1y53pe0c3lfwjf2wsc32czh0mvh5ekcams7r3xzjcyel45zny7ansgnel2p";
const CAROL: &str = "age1xzzypxvu5n8fvvakra4m8nwszzgzumwpfu03l2wsynhvlvygj9kq5793e2";

fn identities(name: &str) -> Identities {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/sops-vectors").join(name);
    Identities::from_age_key_text(&std::fs::read_to_string(path).unwrap(), name).unwrap()
}

fn file_for(groups: Vec<Vec<String>>) -> EncryptedFile {
    let data = parse_plain(br#"{"a": "secret value"}"#, Format::Json).unwrap();
    encrypt(data, Format::Json, &EncryptOptions { key_groups: groups, ..EncryptOptions::default() }).unwrap()
}

fn entries(file: &EncryptedFile) -> Vec<(String, String)> {
    file.metadata.key_groups.iter().flat_map(|g| g.age.iter().map(|k| (k.recipient.clone(), k.enc.clone()))).collect()
}

#[test]
fn existing_entries_are_kept_and_newcomers_open_the_same_key() {
    let mut file = file_for(vec![vec![ALICE.into(), BOB.into()]]);
    let before = entries(&file);
    let alice = identities("keys.txt");
    file.add_recipients(&alice, &[vec![BOB.into(), CAROL.into(), ALICE.into()]], 0).unwrap();
    let after = entries(&file);
    assert_eq!(after.iter().map(|(r, _)| r.as_str()).collect::<Vec<_>>(), [BOB, CAROL, ALICE]);
    assert_eq!(after[0], before[1]);
    assert_eq!(after[2], before[0]);
    let written = EncryptedFile::parse(&file.to_bytes().unwrap(), Format::Json).unwrap();
    for key in ["keys.txt", "keys-b.txt", "keys-c.txt"] {
        let plain = written.decrypt(&identities(key), DecryptOptions::default()).unwrap();
        assert_eq!(plain.to_plain_bytes(Format::Json).unwrap(), b"{\n\t\"a\": \"secret value\"\n}\n", "{key}");
    }
}

#[test]
fn update_keys_keeps_entries_and_drops_the_removed() {
    let mut file = file_for(vec![vec![ALICE.into(), BOB.into()]]);
    let before = entries(&file);
    assert!(file.update_keys(&identities("keys-b.txt"), &[vec![ALICE.into(), CAROL.into()]], 0).unwrap());
    let after = entries(&file);
    assert_eq!(after[0], before[0]);
    assert_eq!(after[1].0, CAROL);
    assert!(file.data_key(&identities("keys-b.txt")).is_err(), "bob's entry is gone");
    file.data_key(&identities("keys-c.txt")).unwrap();
}

#[test]
fn shamir_groups_are_wrapped_afresh() {
    let mut file = file_for(vec![vec![ALICE.into()], vec![BOB.into()]]);
    let before = entries(&file);
    let both = Identities::from_age_key_text(&[identities_text("keys.txt"), identities_text("keys-b.txt")].concat(), "both").unwrap();
    file.add_recipients(&both, &[vec![ALICE.into()], vec![BOB.into(), CAROL.into()]], 0).unwrap();
    let after = entries(&file);
    assert_eq!(after.len(), 3);
    assert_ne!(after[0], before[0], "a new split re-wraps every share");
}

#[test]
fn no_reader_left_is_refused() {
    let mut file = file_for(vec![vec![ALICE.into()]]);
    assert!(file.add_recipients(&identities("keys.txt"), &[vec![]], 0).is_err());
}

fn identities_text(name: &str) -> String {
    std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/sops-vectors").join(name)).unwrap()
}

/// A file that also has a master key this library cannot encrypt to (here an AWS KMS key):
/// readers can be added while the data key stays, but a new data key is refused instead of
/// leaving the KMS holder with the old one.
#[test]
fn a_new_data_key_is_refused_while_foreign_master_keys_hold_the_old_one() {
    use secrets_sops::{Map, Value};
    let mut file = file_for(vec![vec![ALICE.into()]]);
    let mut kms = Map::new();
    kms.push("arn", Value::str("arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"));
    file.metadata.key_groups[0].other.push(("kms".into(), Value::List(vec![Value::Map(kms)])));
    let alice = identities("keys.txt");

    file.add_recipients(&alice, &[vec![ALICE.into(), BOB.into()]], 0).unwrap();
    assert_eq!(file.metadata.key_groups[0].other.len(), 1, "the KMS key is kept");

    let mut plain = file.decrypt(&alice, DecryptOptions::default()).unwrap();
    let err = plain.rotate(Some(&[vec![ALICE.into()]]), 0).unwrap_err();
    assert!(err.to_string().contains("kms master keys"), "{err}");
    let gnupg = secrets_sops::keys::GnuPg::default();
    assert!(
        file.rewrap(plain.data_key(), &[vec![ALICE.into()], vec![BOB.into()]], 0, &gnupg).is_err(),
        "new Shamir shares are refused too"
    );
}
