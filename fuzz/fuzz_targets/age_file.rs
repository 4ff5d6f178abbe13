//! Decrypting arbitrary age data, armored (first byte even) or binary (odd), with real
//! identities (an X25519 key and an ssh-ed25519 key with its X25519 conversion) never panics;
//! a header that parses is exactly the bytes age would write for its stanzas.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use secrets_sops::keys::age_header::AgeFile;
use secrets_sops::keys::age_wrap::{self, Unwrapped};
use secrets_sops::keys::Identities;

fn identities() -> &'static Identities {
    static IDS: OnceLock<Identities> = OnceLock::new();
    IDS.get_or_init(|| {
        let vectors = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/sops-vectors");
        let keys = std::fs::read_to_string(format!("{vectors}/keys.txt")).expect("the test key");
        let mut ids = Identities::from_age_key_text(&keys, "keys.txt").expect("a valid key file");
        ids.add_ssh_private_key_file(std::path::Path::new(&format!("{vectors}/ssh/id_ed25519"))).expect("the ssh test key");
        ids
    })
}

/// The header as age writes it: intro, each stanza's line and 64-column body, `---`.
fn marshal(file: &AgeFile<'_>) -> Vec<u8> {
    use base64::engine::general_purpose::STANDARD_NO_PAD;
    use base64::Engine;
    let mut out = b"age-encryption.org/v1\n".to_vec();
    for stanza in &file.stanzas {
        out.extend_from_slice(b"->");
        for word in std::iter::once(&stanza.tag).chain(&stanza.args) {
            out.push(b' ');
            out.extend_from_slice(word.as_bytes());
        }
        out.push(b'\n');
        let body = STANDARD_NO_PAD.encode(&stanza.body);
        for line in body.as_bytes().chunks(64) {
            out.extend_from_slice(line);
            out.push(b'\n');
        }
        if body.len() % 64 == 0 {
            out.push(b'\n');
        }
    }
    out.extend_from_slice(b"---");
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let outcome = if selector % 2 == 0 {
        match std::str::from_utf8(rest) {
            Ok(text) => age_wrap::unwrap(text, identities()),
            Err(_) => return,
        }
    } else {
        if let Ok(file) = AgeFile::parse(rest) {
            assert_eq!(marshal(&file), file.header_bytes(), "a parsed header is not canonical");
        }
        age_wrap::unwrap_binary(rest, identities())
    };
    if let Unwrapped::Opened(payload) = outcome {
        assert!(payload.len() <= 16 * 64 * 1024);
    }
});
