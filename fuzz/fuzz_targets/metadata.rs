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
            match Metadata::from_tree(&metadata.to_tree(Format::Json)) {
                Ok(again) => assert_eq!(again, metadata),
                // A lone key group without any key is written as no keys at all, as sops writes
                // it; like sops, reading that back is refused ("No keys found in file").
                Err(_) => assert!(
                    matches!(metadata.key_groups.as_slice(), [group] if group.is_empty()),
                    "written metadata reads back"
                ),
            }
        }
    }
});
