//! Every store never panics on any input, and what it parses it can write back. The first byte
//! picks the store, so one corpus covers all five.
//!
//! `sops decrypt` with the vectors' key goes through [`secrets_sops::decrypt_to_plain`]: the
//! YAML store's streaming decrypt, one top-level entry at a time, must either stand aside or
//! print exactly what the whole-tree path prints. The MAC is not checked, so that a mutated
//! file still goes through every stage (the seeds are the vectors, encrypted with that key).
#![no_main]

use libfuzzer_sys::fuzz_target;
use secrets_sops::keys::Identities;
use secrets_sops::stores::store;
use secrets_sops::{DecryptOptions, DecryptSession, EncryptedFile, Format};

// The same order as the `data_key` target, so one seeded file means the same store in both.
const FORMATS: [Format; 5] = [Format::Json, Format::Yaml, Format::Dotenv, Format::Ini, Format::Binary];

const KEYS: &str = include_str!("../../fixtures/sops-vectors/keys.txt");

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else { return };
    let format = FORMATS[usize::from(selector) % FORMATS.len()];
    let s = store(format);
    if let Ok(doc) = s.parse_plain(input) {
        let _ = s.emit_plain(&doc);
    }
    if let Ok((doc, metadata)) = s.parse_encrypted(input) {
        let _ = s.emit_encrypted(&doc, &metadata);
    }
    let Ok(identities) = Identities::from_age_key_text(KEYS, "keys.txt") else { return };
    let options = DecryptOptions { ignore_mac: true };
    let mut session = DecryptSession::new(&identities, options);
    if let Some(streamed) = s.decrypt_streaming(input, format, &mut session) {
        let whole = EncryptedFile::parse(input, format)
            .and_then(|file| file.into_decrypted(&identities, options))
            .and_then(|plain| s.emit_plain(&plain.data));
        match whole {
            Ok(whole) => assert!(streamed.concat() == whole, "the streaming decrypt printed other bytes"),
            Err(e) => panic!("the streaming decrypt printed a file the whole-tree path refuses: {e}"),
        }
    }
    let _ = secrets_sops::decrypt_to_plain(input.to_vec(), format, &*s, &identities, DecryptOptions::default());
});
