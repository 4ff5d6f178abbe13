//! Hostile age files in a sops file's metadata: a header with thousands of stanzas must be
//! refused, or opened, in time linear in its size.
//!
//! These tests carry wall-clock bounds on purpose. The bounds are generous (seconds, for work
//! that takes milliseconds) so that a loaded machine does not fail them; the header parsing
//! they guard against took tens of seconds for 5,000 stanzas and minutes for 10,000, because
//! the header was re-read after every line and again for every identity.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use secrets_sops::keys::age_header::MAX_STANZAS;
use secrets_sops::keys::armor::armor;
use secrets_sops::keys::Identities;
use secrets_sops::{DecryptOptions, EncryptedFile, Error, Format};

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/sops-vectors");
const BOUND: Duration = Duration::from_secs(5);

fn alice() -> Identities {
    let text = std::fs::read_to_string(Path::new(VECTORS).join("keys.txt")).unwrap();
    Identities::from_age_key_text(&text, "keys.txt").unwrap()
}

fn alice_recipient() -> age::x25519::Recipient {
    "age1e9xplsq098whkdsvugpwhmh65hvjzend6kh3pcpuvsswew43jf6smxepjg".parse().unwrap()
}

/// The data key of `enc/basic.json`, from the vectors' manifest.
fn basic_data_key() -> Vec<u8> {
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(Path::new(VECTORS).join("manifest.json")).unwrap()).unwrap();
    let entry = manifest["vectors"].as_array().unwrap().iter().find(|v| v["file"] == "enc/basic.json").unwrap();
    hex::decode(entry["data_key_hex"].as_str().unwrap()).unwrap()
}

/// A genuine age file for `payload`, written by the age crate to `others` fresh recipients and
/// then Alice: her stanza comes last, so every stanza before it is examined first.
fn many_stanzas(others: usize, payload: &[u8]) -> String {
    let strangers: Vec<age::x25519::Recipient> = (0..others).map(|_| age::x25519::Identity::generate().to_public()).collect();
    let alice = alice_recipient();
    let recipients = strangers.iter().chain(std::iter::once(&alice)).map(|r| r as &dyn age::Recipient);
    let encryptor = age::Encryptor::with_recipients(recipients).unwrap();
    let mut binary = Vec::new();
    let mut writer = encryptor.wrap_output(&mut binary).unwrap();
    writer.write_all(payload).unwrap();
    writer.finish().unwrap();
    armor(&binary)
}

/// `enc/basic.json` with its only age key replaced by `enc`.
fn basic_with_enc(enc: String) -> EncryptedFile {
    let bytes = std::fs::read(Path::new(VECTORS).join("enc/basic.json")).unwrap();
    let mut file = EncryptedFile::parse(&bytes, Format::Json).unwrap();
    file.metadata.key_groups[0].age[0].enc = enc;
    // Written and read back, as it would reach a victim.
    EncryptedFile::parse(&file.to_bytes().unwrap(), Format::Json).unwrap()
}

#[test]
fn a_header_of_ten_thousand_stanzas_is_refused_quickly() {
    // 10,000 strangers, then Alice: the age crate's reader needed minutes for this header.
    let file = basic_with_enc(many_stanzas(10_000, &basic_data_key()));
    let start = Instant::now();
    let result = file.decrypt(&alice(), DecryptOptions::default());
    let elapsed = start.elapsed();
    match result {
        Err(Error::NoKey(failure)) => {
            let problems = failure.problems.join("\n");
            assert!(problems.contains(&format!("more than {MAX_STANZAS} stanzas")), "{problems}");
        }
        Err(other) => panic!("expected the header to be refused, got {other}"),
        Ok(_) => panic!("a header above the stanza limit was accepted"),
    }
    assert!(elapsed < BOUND, "refusing the header took {elapsed:?}");
}

#[test]
fn a_header_at_the_stanza_limit_opens_in_linear_time() {
    // The age crate adds one grease stanza, so Alice's is the last of exactly MAX_STANZAS.
    let data_key = basic_data_key();
    let file = basic_with_enc(many_stanzas(MAX_STANZAS - 2, &data_key));
    let start = Instant::now();
    let plain = file.decrypt(&alice(), DecryptOptions::default()).unwrap();
    let elapsed = start.elapsed();
    assert_eq!(plain.data_key().as_bytes().as_slice(), data_key.as_slice());
    assert!(elapsed < BOUND, "opening a header of {MAX_STANZAS} stanzas took {elapsed:?}");
}
