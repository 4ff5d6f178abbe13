//! Opening the data key of an arbitrary sops file (the first byte picks the store) with real
//! identities never panics: metadata, key groups, Shamir shares and every age file in them.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use secrets_sops::keys::Identities;
use secrets_sops::{EncryptedFile, Format};

fn identities() -> &'static Identities {
    static IDS: OnceLock<Identities> = OnceLock::new();
    IDS.get_or_init(|| {
        let vectors = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/sops-vectors");
        let mut ids = Identities::empty();
        for file in ["keys.txt", "keys-b.txt"] {
            let keys = std::fs::read_to_string(format!("{vectors}/{file}")).expect("the test key");
            ids.add_age_key_text(&keys, file).expect("a valid key file");
        }
        ids
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let format = [Format::Json, Format::Yaml, Format::Dotenv, Format::Ini, Format::Binary][usize::from(selector % 5)];
    if let Ok(file) = EncryptedFile::parse(rest, format) {
        let _ = file.data_key(identities());
    }
});
