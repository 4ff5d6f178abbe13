//! Reading arbitrary key material never panics: an OpenSSH private key converted to its age
//! identity, an ssh public key line converted to its age recipient, and an age identity file
//! (the first byte picks which). A committer writes `key.json` public keys and a user points the
//! tool at key files, so each of these parsers sees text it did not make.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secrets_sops::keys::ssh_to_age::{ssh_ed25519_private_to_age, ssh_ed25519_public_to_age};
use secrets_sops::keys::Identities;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    match selector % 3 {
        0 => {
            let _ = ssh_ed25519_private_to_age(rest);
        }
        1 => {
            if let Ok(line) = std::str::from_utf8(rest) {
                if let Ok(recipient) = ssh_ed25519_public_to_age(line) {
                    assert!(recipient.starts_with("age1"), "a converted recipient is an age recipient");
                }
            }
        }
        _ => {
            if let Ok(text) = std::str::from_utf8(rest) {
                let _ = Identities::from_age_key_text(text, "fuzz");
            }
        }
    }
});
