//! Reading metadata from any parsed JSON document never panics, and accepted metadata writes
//! back to a tree that reads the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secrets_sops::metadata::Metadata;
use secrets_sops::stores::store;
use secrets_sops::Format;

fuzz_target!(|data: &[u8]| {
    if let Ok((_, tree)) = store(Format::Json).parse_encrypted(data) {
        if let Ok(metadata) = Metadata::from_tree(&tree) {
            let again = Metadata::from_tree(&metadata.to_tree(Format::Json)).expect("written metadata reads back");
            assert_eq!(again, metadata);
        }
    }
});
