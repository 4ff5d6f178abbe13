//! Interop with the real peers: files `secrets` writes decrypt with the real `sops` (and their
//! data keys with the real `age`), files the real `sops` writes decrypt with `secrets`, and
//! re-keyed files open for exactly the new recipients. Keys are fresh for every run.

use std::path::{Path, PathBuf};

use crate::common::{age_keygen, ok, peer, secrets, sops, sops_bin, stderr_of, vectors};

/// The stores and the vector that exercises each.
const CASES: [&str; 7] = ["basic.yaml", "multidoc.yaml", "basic.json", "basic.env", "basic.ini", "binary.bin", "secret"];

fn have_peers() -> bool {
    sops_bin().is_some() && peer("age-keygen").is_some() && peer("age").is_some()
}

struct Keys {
    dir: tempfile::TempDir,
    alice: (PathBuf, String),
    bob: (PathBuf, String),
}

fn keys() -> Keys {
    let dir = tempfile::tempdir().unwrap();
    let alice = age_keygen(dir.path(), "alice");
    let bob = age_keygen(dir.path(), "bob");
    Keys { dir, alice, bob }
}

fn our_decrypt(identity: &Path, file: &Path) -> std::process::Output {
    secrets().env("SOPS_AGE_KEY_FILE", identity).args(["sops", "decrypt"]).arg(file).output().unwrap()
}

fn real_decrypt(identity: &Path, file: &Path) -> std::process::Output {
    sops(&["decrypt", file.to_str().unwrap()], &[("SOPS_AGE_KEY_FILE", identity)], file.parent().unwrap())
}

#[test]
fn files_we_write_decrypt_with_the_real_sops_in_every_store() {
    if !have_peers() {
        return;
    }
    let k = keys();
    for name in CASES {
        let enc = k.dir.path().join(name);
        ok(&secrets()
            .args(["sops", "encrypt", "--age", &k.alice.1, "--output"])
            .arg(&enc)
            .arg(vectors().join("plain").join(name))
            .output()
            .unwrap());
        let out = real_decrypt(&k.alice.0, &enc);
        assert!(out.status.success(), "{name}: sops failed: {}", stderr_of(&out));
        assert_eq!(out.stdout, std::fs::read(vectors().join("dec").join(name)).unwrap(), "{name}");
        assert_eq!(real_decrypt(&k.bob.0, &enc).status.code(), Some(128), "{name}: bob is not a recipient");
    }
}

#[test]
fn files_the_real_sops_writes_decrypt_with_us_in_every_store() {
    if !have_peers() {
        return;
    }
    let k = keys();
    for name in CASES {
        let plain = k.dir.path().join(format!("plain-{name}"));
        std::fs::copy(vectors().join("plain").join(name), &plain).unwrap();
        let out = sops(&["encrypt", "--age", &k.alice.1, plain.to_str().unwrap()], &[], k.dir.path());
        assert!(out.status.success(), "{name}: {}", stderr_of(&out));
        let enc = k.dir.path().join(format!("enc-{name}"));
        std::fs::write(&enc, &out.stdout).unwrap();
        let theirs = real_decrypt(&k.alice.0, &enc);
        let ours = our_decrypt(&k.alice.0, &enc);
        ok(&ours);
        assert_eq!(ours.stdout, theirs.stdout, "{name}");
    }
}

#[test]
fn our_set_and_unset_results_decrypt_with_the_real_sops() {
    if !have_peers() {
        return;
    }
    let k = keys();
    let file = k.dir.path().join("app.yaml");
    std::fs::copy(vectors().join("plain/basic.yaml"), &file).unwrap();
    ok(&secrets().args(["sops", "encrypt", "-i", "--age", &k.alice.1]).arg(&file).output().unwrap());
    let out = secrets()
        .env("SOPS_AGE_KEY_FILE", &k.alice.0)
        .args(["sops", "set"])
        .arg(&file)
        .args([r#"["app"]["port"]"#, "9090"])
        .output()
        .unwrap();
    ok(&out);
    let out = secrets().env("SOPS_AGE_KEY_FILE", &k.alice.0).args(["sops", "unset"]).arg(&file).arg(r#"["negative"]"#).output().unwrap();
    ok(&out);
    let theirs = real_decrypt(&k.alice.0, &file);
    assert!(theirs.status.success(), "{}", stderr_of(&theirs));
    let text = String::from_utf8(theirs.stdout).unwrap();
    assert!(text.contains("port: 9090"));
    assert!(!text.contains("negative:"));
}

/// Values whose reading differs between a generic JSON parser and the one sops uses: Go's floats
/// (negative zero, integers past 64 bits, exponents), duplicate keys kept in order, Go's string
/// decoding (lone surrogates become U+FFFD), and what sops refuses (arrays, overflow, trailing
/// data).
const SET_VALUES: [&str; 22] = [
    "1.0",
    "1e3",
    "1.5e300",
    "-0",
    "-0.0",
    "5e-324",
    "1e21",
    "123456789012345678901234567890",
    "18446744073709551616",
    "-18446744073709551616",
    r#"{"x": 1, "x": 2}"#,
    r#"{"x": {"y": 1, "y": [2]}, "x": 3}"#,
    r#"{"b": {"c": [1, {"d": null}]}, "a": true, "e": {}}"#,
    r#""q\"b\\ \u00e9\ud83d\ude00\n\u2028<>&\u0000""#,
    r#""\ud800 \udc00\ud800\u0041""#,
    "null",
    "[1, 2]",
    "[1",
    "1 2",
    "1e400",
    "01",
    r#""x" junk"#,
];

/// A file the real sops encrypted for alice from `plain`.
fn encrypted_by_sops(k: &Keys, name: &str, plain: &str) -> PathBuf {
    let path = k.dir.path().join(name);
    std::fs::write(&path, plain).unwrap();
    ok(&sops(&["encrypt", "-i", "--age", &k.alice.1, path.to_str().unwrap()], &[], k.dir.path()));
    path
}

#[test]
fn set_reads_its_value_exactly_as_the_real_sops_does() {
    if !have_peers() {
        return;
    }
    let k = keys();
    let age_key = [("SOPS_AGE_KEY_FILE", k.alice.0.as_path())];
    for store in ["yaml", "json"] {
        let original = encrypted_by_sops(&k, &format!("original.{store}"), if store == "yaml" { "a: 1\n" } else { "{\"a\": 1}\n" });
        for value in SET_VALUES {
            let theirs = k.dir.path().join(format!("theirs.{store}"));
            let ours = k.dir.path().join(format!("ours.{store}"));
            std::fs::copy(&original, &theirs).unwrap();
            std::fs::copy(&original, &ours).unwrap();
            let their_set = sops(&["set", theirs.to_str().unwrap(), r#"["k"]"#, value], &age_key, k.dir.path());
            let our_set =
                secrets().env("SOPS_AGE_KEY_FILE", &k.alice.0).args(["sops", "set"]).arg(&ours).args([r#"["k"]"#, value]).output().unwrap();
            assert_eq!(our_set.status.code(), their_set.status.code(), "{store} {value}: {}", stderr_of(&our_set));
            let their_text = ok(&real_decrypt(&k.alice.0, &theirs)).stdout.clone();
            let our_text = ok(&real_decrypt(&k.alice.0, &ours)).stdout.clone();
            assert_eq!(String::from_utf8_lossy(&our_text), String::from_utf8_lossy(&their_text), "{store} {value}");
        }
    }
}

#[test]
fn set_reads_a_value_file_with_invalid_utf8_as_the_real_sops_does() {
    if !have_peers() {
        return;
    }
    let k = keys();
    let value = k.dir.path().join("value.json");
    std::fs::write(&value, b"{\"k\xff\": \"v\xc3\", \"k\xff\": 1}").unwrap();
    let theirs = encrypted_by_sops(&k, "theirs.yaml", "a: 1\n");
    let ours = k.dir.path().join("ours.yaml");
    std::fs::copy(&theirs, &ours).unwrap();
    let their_set = sops(
        &["set", "--value-file", theirs.to_str().unwrap(), r#"["k"]"#, value.to_str().unwrap()],
        &[("SOPS_AGE_KEY_FILE", k.alice.0.as_path())],
        k.dir.path(),
    );
    ok(&their_set);
    ok(&secrets()
        .env("SOPS_AGE_KEY_FILE", &k.alice.0)
        .args(["sops", "set", "--value-file"])
        .arg(&ours)
        .arg(r#"["k"]"#)
        .arg(&value)
        .output()
        .unwrap());
    assert_eq!(real_decrypt(&k.alice.0, &ours).stdout, real_decrypt(&k.alice.0, &theirs).stdout);
}

#[test]
fn updatekeys_and_rotate_results_open_for_exactly_the_new_recipients() {
    if !have_peers() {
        return;
    }
    let k = keys();
    for name in ["basic.yaml", "basic.json", "basic.env", "basic.ini", "secret"] {
        let file = k.dir.path().join(name);
        ok(&secrets()
            .args(["sops", "encrypt", "--age", &k.alice.1, "--output"])
            .arg(&file)
            .arg(vectors().join("plain").join(name))
            .output()
            .unwrap());
        let both = format!("{},{}", k.alice.1, k.bob.1);
        ok(&secrets().env("SOPS_AGE_KEY_FILE", &k.alice.0).args(["sops", "updatekeys", "-y", "--age", &both]).arg(&file).output().unwrap());
        assert!(real_decrypt(&k.bob.0, &file).status.success(), "{name}: bob was added");
        assert!(real_decrypt(&k.alice.0, &file).status.success(), "{name}: alice stays");
        ok(&secrets()
            .env("SOPS_AGE_KEY_FILE", &k.alice.0)
            .args(["sops", "rotate", "-i", "--rm-age", &k.alice.1])
            .arg(&file)
            .output()
            .unwrap());
        assert_eq!(real_decrypt(&k.alice.0, &file).status.code(), Some(128), "{name}: alice was removed");
        let out = real_decrypt(&k.bob.0, &file);
        assert!(out.status.success(), "{name}: {}", stderr_of(&out));
        assert_eq!(out.stdout, std::fs::read(vectors().join("dec").join(name)).unwrap(), "{name}");
    }
}

#[test]
fn shamir_key_groups_from_sops_yaml_open_with_any_two_groups_in_the_real_sops() {
    if !have_peers() {
        return;
    }
    let k = keys();
    let carol = age_keygen(k.dir.path(), "carol");
    let config = format!(
        "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n      - age: [{}]\n      - age: [{}]\n      - age: [{}]\n",
        k.alice.1, k.bob.1, carol.1
    );
    std::fs::write(k.dir.path().join(".sops.yaml"), config).unwrap();
    for name in ["basic.yaml", "basic.json", "basic.env", "basic.ini"] {
        let plain = k.dir.path().join(name);
        std::fs::copy(vectors().join("plain").join(name), &plain).unwrap();
        ok(&secrets().args(["sops", "encrypt", "-i"]).arg(&plain).current_dir(k.dir.path()).output().unwrap());
        let pair = k.dir.path().join("pair.txt");
        let joined = [std::fs::read_to_string(&k.bob.0).unwrap(), std::fs::read_to_string(&carol.0).unwrap()].concat();
        std::fs::write(&pair, joined).unwrap();
        let out = real_decrypt(&pair, &plain);
        assert!(out.status.success(), "{name}: {}", stderr_of(&out));
        assert_eq!(out.stdout, std::fs::read(vectors().join("dec").join(name)).unwrap(), "{name}");
        assert_eq!(real_decrypt(&carol.0, &plain).status.code(), Some(128), "{name}: one group is not enough");
    }
}

#[test]
fn a_data_key_we_wrap_decrypts_with_the_real_age() {
    if !have_peers() {
        return;
    }
    let k = keys();
    let file = k.dir.path().join("secret");
    ok(&secrets()
        .args(["sops", "encrypt", "--age", &k.alice.1, "--output"])
        .arg(&file)
        .arg(vectors().join("plain/secret"))
        .output()
        .unwrap());
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let armored = json["sops"]["age"][0]["enc"].as_str().unwrap();
    let armored_path = k.dir.path().join("key.age");
    std::fs::write(&armored_path, armored).unwrap();
    let out = std::process::Command::new(peer("age").unwrap()).arg("-d").arg("-i").arg(&k.alice.0).arg(&armored_path).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(out.stdout.len(), 32, "the payload is the 32-byte data key");
}

#[test]
fn ssh_ed25519_recipients_interoperate() {
    if !have_peers() || peer("ssh-keygen").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("id_ed25519");
    let out = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "test@example", "-f"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success());
    let recipient = std::fs::read_to_string(key.with_extension("pub")).unwrap().trim().to_string();
    let file = dir.path().join("s.yaml");
    std::fs::copy(vectors().join("plain/basic.yaml"), &file).unwrap();
    ok(&secrets().args(["sops", "encrypt", "-i", "--age", &recipient]).arg(&file).output().unwrap());
    let out = sops(&["decrypt", file.to_str().unwrap()], &[("SOPS_AGE_SSH_PRIVATE_KEY_FILE", &key)], dir.path());
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(out.stdout, std::fs::read(vectors().join("dec/basic.yaml")).unwrap());
    let ours = secrets().env("SOPS_AGE_SSH_PRIVATE_KEY_FILE", &key).args(["sops", "decrypt"]).arg(&file).output().unwrap();
    assert_eq!(ok(&ours).stdout, out.stdout);
}

mod random_documents {
    //! A sample of the property tests' random documents, also through the real sops: what we
    //! encrypt, sops decrypts to exactly what we print.

    use proptest::prelude::*;
    use secrets_sops::{Document, EncryptOptions, Format, Map, MapItem, Value};

    use crate::common::{sops, sops_bin, stderr_of, vectors};

    const ALICE: &str = "age1e9xplsq098whkdsvugpwhmh65hvjzend6kh3pcpuvsswew43jf6smxepjg";

    fn key() -> impl Strategy<Value = String> {
        "[a-zA-Z][a-zA-Z0-9_-]{0,10}".prop_filter("reserved", |k| !k.starts_with("sops") && !k.ends_with("_unencrypted"))
    }

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            "\\PC{0,20}".prop_map(Value::Str),
            Just(Value::str("multi\nline\n")),
            any::<i32>().prop_map(|i| Value::Int(i64::from(i))),
            any::<bool>().prop_map(Value::Bool),
            (-1.0e9f64..1.0e9).prop_map(Value::Float),
            Just(Value::Null),
        ]
    }

    fn tree() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::List),
                proptest::collection::btree_map(key(), inner, 0..3)
                    .prop_map(|m| Value::Map(Map(m.into_iter().map(|(k, v)| MapItem::Entry(k, v)).collect()))),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

        #[test]
        fn real_sops_reads_random_documents_we_write(entries in proptest::collection::btree_map(key(), tree(), 1..5)) {
            if sops_bin().is_none() {
                return Ok(());
            }
            let root = Map(entries.into_iter().map(|(k, v)| MapItem::Entry(k, v)).collect());
            let dir = tempfile::tempdir().unwrap();
            for (format, name) in [(Format::Yaml, "doc.yaml"), (Format::Json, "doc.json")] {
                let doc = Document { branches: vec![root.clone()] };
                let options = EncryptOptions { key_groups: vec![vec![ALICE.to_string()]], ..EncryptOptions::default() };
                let file = secrets_sops::encrypt(doc.clone(), format, &options).unwrap();
                let path = dir.path().join(name);
                std::fs::write(&path, file.to_bytes().unwrap()).unwrap();
                let out = sops(&["decrypt", path.to_str().unwrap()], &[("SOPS_AGE_KEY_FILE", &vectors().join("keys.txt"))], dir.path());
                prop_assert!(out.status.success(), "{name}: {}", stderr_of(&out));
                let ours = secrets_sops::stores::store(format).emit_plain(&doc).unwrap();
                prop_assert_eq!(String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&ours), "{}", name);
            }
        }
    }
}

/// Go's base64 decoder, which sops uses, ignores set bits past the end of the data: an IV whose
/// last character has them (hand-edited, or written by another tool) still decrypts with the
/// real sops, and must with us.
#[test]
fn ivs_with_set_trailing_bits_decrypt_as_with_the_real_sops() {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if !have_peers() {
        return;
    }
    let k = keys();
    let enc = encrypted_by_sops(&k, "loose.json", "{\"a\": \"one\", \"b\": \"two\"}\n");
    let text = std::fs::read_to_string(&enc).unwrap();
    // A 32-byte IV is 43 characters and one `=`; the last character carries 2 unused bits.
    let mut loose = String::new();
    let mut rest = text.as_str();
    let mut edited = 0;
    while let Some(at) = rest.find(",iv:") {
        let (head, tail) = rest.split_at(at + 4);
        loose.push_str(head);
        let last = tail.as_bytes()[42];
        let index = ALPHABET.iter().position(|c| *c == last).unwrap();
        loose.push_str(&tail[..42]);
        loose.push(char::from(ALPHABET[index | 3]));
        edited += usize::from(index | 3 != index);
        rest = &tail[43..];
    }
    loose.push_str(rest);
    assert!(edited > 0, "no IV was changed");
    std::fs::write(&enc, loose).unwrap();
    let theirs = real_decrypt(&k.alice.0, &enc);
    assert!(theirs.status.success(), "{}", stderr_of(&theirs));
    let ours = our_decrypt(&k.alice.0, &enc);
    ok(&ours);
    assert_eq!(ours.stdout, theirs.stdout);
}
