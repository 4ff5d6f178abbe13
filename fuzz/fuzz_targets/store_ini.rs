//! The ini store never panics on any input, and what it parses it can write back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secrets_sops::stores::store;
use secrets_sops::Format;

fuzz_target!(|data: &[u8]| {
    let s = store(Format::Ini);
    if let Ok(doc) = s.parse_plain(data) {
        let _ = s.emit_plain(&doc);
    }
    if let Ok((doc, metadata)) = s.parse_encrypted(data) {
        let _ = s.emit_encrypted(&doc, &metadata);
    }
});
