//! The `ENC[…]` value parser never panics, and what it parses formats back to a parsable value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secrets_sops::cipher::EncryptedValue;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(value) = EncryptedValue::parse(text) {
            assert_eq!(EncryptedValue::parse(&value.to_string()).as_ref(), Ok(&value));
        }
    }
});
