//! Unwrapping an armored age file (as found in `enc`) never panics on any input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secrets_sops::keys::age_wrap;
use secrets_sops::keys::Identities;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = age_wrap::unwrap(text, &Identities::empty());
    }
});
