//! The `["a"][0]` tree path parser never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = secrets_sops::treepath::parse(text);
    }
});
