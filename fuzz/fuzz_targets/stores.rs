//! Every store never panics on any input, and what it parses it can write back. The first byte
//! picks the store, so one corpus covers all five.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secrets_sops::stores::store;
use secrets_sops::Format;

// The same order as the `data_key` target, so one seeded file means the same store in both.
const FORMATS: [Format; 5] = [Format::Json, Format::Yaml, Format::Dotenv, Format::Ini, Format::Binary];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else { return };
    let s = store(FORMATS[usize::from(selector) % FORMATS.len()]);
    if let Ok(doc) = s.parse_plain(input) {
        let _ = s.emit_plain(&doc);
    }
    if let Ok((doc, metadata)) = s.parse_encrypted(input) {
        let _ = s.emit_encrypted(&doc, &metadata);
    }
});
