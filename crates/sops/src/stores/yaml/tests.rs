//! Store-level tests: golden vectors written by the real sops, and behaviour checks.

use super::*;

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/sops-vectors");

fn yaml_files(dir: &str) -> Vec<(String, Vec<u8>)> {
    let path = format!("{VECTORS}/{dir}");
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect();
    out.sort();
    out
}

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn encrypted_vectors_round_trip_byte_for_byte() {
    let store = YamlStore::default();
    // Files that sops did not lay out itself: they only have to parse.
    let parse_only = ["metadata-first.yaml"];
    let mut checked = 0;
    for dir in ["enc", "legacy", "edge", "negative"] {
        for (name, bytes) in yaml_files(dir) {
            let (doc, meta) = store.parse_encrypted(&bytes).unwrap_or_else(|e| panic!("{dir}/{name}: {e}"));
            if parse_only.contains(&name.as_str()) {
                continue;
            }
            let out = store.emit_encrypted(&doc, &meta).unwrap();
            assert_eq!(show(&out), show(&bytes), "{dir}/{name}");
            checked += 1;
        }
    }
    assert!(checked >= 15, "only {checked} files checked");
}

#[test]
fn decrypted_vectors_round_trip_byte_for_byte() {
    let store = YamlStore::default();
    let files = yaml_files("dec");
    assert!(files.len() >= 9);
    for (name, bytes) in files {
        let doc = store.parse_plain(&bytes).unwrap_or_else(|e| panic!("dec/{name}: {e}"));
        let out = store.emit_plain(&doc).unwrap();
        assert_eq!(show(&out), show(&bytes), "dec/{name}");
    }
}

#[test]
fn plain_inputs_emit_as_sops_decrypt_prints_them() {
    let store = YamlStore::default();
    let files = yaml_files("plain");
    assert!(files.len() >= 9);
    for (name, bytes) in files {
        let want = std::fs::read(format!("{VECTORS}/dec/{name}")).unwrap();
        let doc = store.parse_plain(&bytes).unwrap_or_else(|e| panic!("plain/{name}: {e}"));
        let out = store.emit_plain(&doc).unwrap();
        assert_eq!(show(&out), show(&want), "plain/{name}");
    }
}
