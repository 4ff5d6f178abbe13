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

/// Compares this store with outputs of the real sops for every `*.yaml` input in the directory
/// named by `YAML_DIFF_DIR` (made by running sops on each input: `x.yaml.nm` is `sops encrypt`
/// with an encryption rule that matches nothing, `x.yaml.enc` a real encryption, `x.yaml.dec`
/// its decryption). Writes `x.yaml.ours.*` next to mismatching inputs.
#[test]
#[ignore]
fn differential_against_sops_outputs() {
    let Ok(dir) = std::env::var("YAML_DIFF_DIR") else { return };
    let store = YamlStore::default();
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    names.sort();
    let (mut ok, mut bad) = (0, Vec::new());
    for input in names {
        let name = input.display().to_string();
        let read = |suffix: &str| std::fs::read(format!("{name}.{suffix}")).ok().filter(|b| !b.is_empty());
        let bytes = std::fs::read(&input).unwrap();
        let mut problems = Vec::new();
        let ours = store.parse_plain(&bytes);
        match (read("nm"), &ours) {
            (Some(nm), Ok(doc)) => match store.parse_encrypted(&nm) {
                Ok((_, meta)) => {
                    let out = store.emit_encrypted(doc, &meta).unwrap();
                    if out != nm {
                        std::fs::write(format!("{name}.ours.nm"), &out).unwrap();
                        problems.push("nm");
                    }
                }
                Err(e) => problems.push(Box::leak(format!("nm-parse:{e}").into_boxed_str())),
            },
            (Some(_), Err(e)) => problems.push(Box::leak(format!("we-fail:{e}").into_boxed_str())),
            (None, Ok(_)) => problems.push("sops-fails-we-accept"),
            (None, Err(_)) => {}
        }
        if let Some(enc) = read("enc") {
            match store.parse_encrypted(&enc) {
                Ok((doc, meta)) => {
                    let out = store.emit_encrypted(&doc, &meta).unwrap();
                    if out != enc {
                        std::fs::write(format!("{name}.ours.enc"), &out).unwrap();
                        problems.push("enc-roundtrip");
                    }
                }
                Err(e) => problems.push(Box::leak(format!("enc-parse:{e}").into_boxed_str())),
            }
        }
        if let Some(dec) = read("dec") {
            match store.parse_plain(&dec) {
                Ok(doc) => {
                    let out = store.emit_plain(&doc).unwrap();
                    if out != dec {
                        std::fs::write(format!("{name}.ours.decrt"), &out).unwrap();
                        problems.push("dec-roundtrip");
                    }
                }
                Err(e) => problems.push(Box::leak(format!("dec-parse:{e}").into_boxed_str())),
            }
            if let Ok(doc) = &ours {
                let out = store.emit_plain(doc).unwrap();
                if out != dec {
                    std::fs::write(format!("{name}.ours.dec"), &out).unwrap();
                    problems.push("plain-vs-dec");
                }
            }
        }
        if problems.is_empty() {
            ok += 1;
        } else {
            bad.push(format!("{name}: {}", problems.join(", ")));
        }
    }
    eprintln!("{ok} ok, {} with differences", bad.len());
    for b in &bad {
        eprintln!("  {b}");
    }
}
