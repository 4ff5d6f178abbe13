//! `secrets sops …` end to end: the built binary on the golden vectors and on files it writes,
//! with sops' exit codes and messages that never show a secret.

use std::path::Path;

use crate::common::{ok, secrets, stderr_of, stdout_of, vectors};

const ALICE: &str = "age1e9xplsq098whkdsvugpwhmh65hvjzend6kh3pcpuvsswew43jf6smxepjg";
const BOB: &str = "age1y53pe0c3lfwjf2wsc32czh0mvh5ekcams7r3xzjcyel45zny7ansgnel2p";

fn with_key(key: &str) -> assert_cmd::Command {
    let mut cmd = secrets();
    cmd.env("SOPS_AGE_KEY_FILE", vectors().join(key));
    cmd
}

fn decrypt(key: &str, file: &Path) -> std::process::Output {
    with_key(key).args(["sops", "decrypt"]).arg(file).output().unwrap()
}

#[test]
fn decrypts_every_single_key_vector_like_sops() {
    for name in [
        "basic.yaml",
        "basic.json",
        "basic.env",
        "basic.ini",
        "binary.bin",
        "text.txt",
        "secret",
        "multidoc.yaml",
        "encrypted-regex.yaml",
        "mac-only-encrypted.yaml",
        "unencrypted-regex.yaml",
        "encrypted-suffix.yaml",
        "three-recipients.yaml",
    ] {
        let out = decrypt("keys.txt", &vectors().join("enc").join(name));
        ok(&out);
        assert_eq!(out.stdout, std::fs::read(vectors().join("dec").join(name)).unwrap(), "{name}");
    }
}

#[test]
fn ssh_identity_from_the_environment_opens_an_ssh_recipient_file() {
    let out = secrets()
        .env("SOPS_AGE_SSH_PRIVATE_KEY_FILE", vectors().join("ssh/id_ed25519"))
        .args(["sops", "decrypt"])
        .arg(vectors().join("enc/ssh-ed25519.yaml"))
        .output()
        .unwrap();
    ok(&out);
    assert_eq!(out.stdout, std::fs::read(vectors().join("dec/ssh-ed25519.yaml")).unwrap());
}

#[test]
fn negative_vectors_fail_with_sops_exit_codes_and_name_the_file() {
    for (name, code) in [
        ("swapped-values.yaml", 25),
        ("mac-mismatch.yaml", 51),
        ("mac-lowercase.yaml", 51),
        ("lastmodified-raw-aad.yaml", 51),
        ("missing-version.yaml", 1),
        ("two-crypt-rules.yaml", 1),
    ] {
        let key = if name == "mac-mismatch.yaml" { "keys.txt" } else { "keys-b.txt" };
        let out = decrypt(key, &vectors().join("negative").join(name));
        assert_eq!(out.status.code(), Some(code), "{name}: {}", stderr_of(&out));
        assert!(stderr_of(&out).contains(name), "{name}: the error names the file");
        assert!(out.stdout.is_empty(), "{name}: nothing printed on failure");
        // The MAC mismatch file's edited value is in clear text; its encrypted values are not shown.
        assert!(!stderr_of(&out).contains("s3cr3t"), "{name}: no plaintext in errors");
    }
}

#[test]
fn wrong_key_exits_128_and_lists_recipients_and_sources() {
    let out = decrypt("keys-b.txt", &vectors().join("enc/basic.yaml"));
    assert_eq!(out.status.code(), Some(128));
    let err = stderr_of(&out);
    assert!(err.contains(ALICE), "lists the file's recipient: {err}");
    assert!(err.contains("SOPS_AGE_KEY_FILE"), "lists the key sources tried: {err}");
}

#[test]
fn ignore_mac_recovers_an_edited_file() {
    let out =
        with_key("keys.txt").args(["sops", "decrypt", "--ignore-mac"]).arg(vectors().join("negative/mac-mismatch.yaml")).output().unwrap();
    ok(&out);
}

#[test]
fn extract_prints_a_raw_string_and_a_subtree() {
    let file = vectors().join("enc/basic.yaml");
    let out = with_key("keys.txt")
        .args(["sops", "decrypt", "--extract", r#"["app"]["nested"]["deeper"]["secret"]"#])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(stdout_of(ok(&out)), "s3cr3t");
    let out = with_key("keys.txt").args(["sops", "decrypt", "--extract", r#"["app"]["nested"]"#]).arg(&file).output().unwrap();
    assert_eq!(stdout_of(ok(&out)), "deeper:\n    secret: s3cr3t\n");
    // A path that leads nowhere is sops's generic code 1.
    let out = with_key("keys.txt").args(["sops", "decrypt", "--extract", r#"["nope"]"#]).arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn encrypt_then_decrypt_round_trips_every_store() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["basic.yaml", "basic.json", "basic.env", "basic.ini", "binary.bin", "secret"] {
        let enc = dir.path().join(name);
        let out = secrets()
            .args(["sops", "encrypt", "--age", ALICE, "--output"])
            .arg(&enc)
            .arg(vectors().join("plain").join(name))
            .output()
            .unwrap();
        ok(&out);
        let back = decrypt("keys.txt", &enc);
        assert_eq!(ok(&back).stdout, std::fs::read(vectors().join("dec").join(name)).unwrap(), "{name}");
        assert_eq!(decrypt("keys-b.txt", &enc).status.code(), Some(128), "{name}: bob cannot read it");
    }
}

#[test]
fn encrypt_refuses_an_encrypted_file_and_an_empty_one() {
    let out = secrets().args(["sops", "encrypt", "--age", ALICE]).arg(vectors().join("enc/basic.yaml")).output().unwrap();
    assert_eq!(out.status.code(), Some(203));
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.yaml");
    std::fs::write(&empty, "").unwrap();
    let out = secrets().args(["sops", "encrypt", "--age", ALICE]).arg(&empty).output().unwrap();
    assert_eq!(out.status.code(), Some(92));
    let out = secrets().args(["sops", "encrypt"]).arg(vectors().join("plain/basic.yaml")).current_dir(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("--age"), "says what to do: {}", stderr_of(&out));
}

fn copy_vector(dir: &Path, name: &str) -> std::path::PathBuf {
    let target = dir.join(name);
    std::fs::copy(vectors().join("enc").join(name), &target).unwrap();
    target
}

#[test]
fn set_changes_one_value_and_keeps_other_ciphertexts() {
    let dir = tempfile::tempdir().unwrap();
    let file = copy_vector(dir.path(), "basic.yaml");
    let before = std::fs::read_to_string(&file).unwrap();
    ok(&with_key("keys.txt").args(["sops", "set"]).arg(&file).args([r#"["app"]["name"]"#, r#""renamed""#]).output().unwrap());
    let after = std::fs::read_to_string(&file).unwrap();
    let changed: Vec<_> = before
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| a != b)
        .map(|(a, _)| a.trim_start().split(':').next().unwrap().to_string())
        .collect();
    assert_eq!(changed, ["name", "lastmodified", "mac"], "only the set value and the MAC lines change");
    let out = with_key("keys.txt").args(["sops", "decrypt", "--extract", r#"["app"]["name"]"#]).arg(&file).output().unwrap();
    assert_eq!(stdout_of(ok(&out)), "renamed");

    // Idempotent set of the same value writes nothing.
    ok(&with_key("keys.txt")
        .args(["sops", "set", "--idempotent"])
        .arg(&file)
        .args([r#"["app"]["name"]"#, r#""renamed""#])
        .output()
        .unwrap());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), after);

    // Bad JSON is a usage error (sops exit 7) and changes nothing.
    let out = with_key("keys.txt").args(["sops", "set"]).arg(&file).args([r#"["app"]["name"]"#, "not json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), after);
}

#[test]
fn unset_removes_a_value_and_refuses_a_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let file = copy_vector(dir.path(), "basic.json");
    ok(&with_key("keys.txt").args(["sops", "unset"]).arg(&file).arg(r#"["name"]"#).output().unwrap());
    let out = with_key("keys.txt").args(["sops", "unset"]).arg(&file).arg(r#"["name"]"#).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    ok(&with_key("keys.txt").args(["sops", "unset", "--idempotent"]).arg(&file).arg(r#"["name"]"#).output().unwrap());
    assert!(!stdout_of(ok(&decrypt("keys.txt", &file))).contains("\"name\""));
}

#[test]
fn updatekeys_and_rotate_change_who_can_read() {
    let dir = tempfile::tempdir().unwrap();
    let file = copy_vector(dir.path(), "secret");
    let recipients = format!("{ALICE},{BOB}");
    // `secret` is for alice, bob and carol; make it alice and bob only, keeping the data key.
    ok(&with_key("keys.txt").args(["sops", "updatekeys", "-y", "--age", &recipients]).arg(&file).output().unwrap());
    assert_eq!(decrypt("keys-c.txt", &file).status.code(), Some(128));
    ok(&decrypt("keys-b.txt", &file));
    // Rotate out bob: a new data key only alice can open.
    ok(&with_key("keys.txt").args(["sops", "rotate", "-i", "--rm-age", BOB]).arg(&file).output().unwrap());
    assert_eq!(decrypt("keys-b.txt", &file).status.code(), Some(128));
    assert_eq!(ok(&decrypt("keys.txt", &file)).stdout, std::fs::read(vectors().join("dec/secret")).unwrap());
}

#[test]
fn filestatus_reports_encryption() {
    let out = secrets().args(["sops", "filestatus"]).arg(vectors().join("enc/basic.yaml")).output().unwrap();
    assert_eq!(stdout_of(ok(&out)), "{\"encrypted\":true}\n");
    let out = secrets().args(["sops", "filestatus"]).arg(vectors().join("plain/basic.yaml")).output().unwrap();
    assert_eq!(stdout_of(ok(&out)), "{\"encrypted\":false}\n");
}

#[test]
fn help_has_examples_and_completions_are_generated() {
    let out = secrets().args(["sops", "decrypt", "--help"]).output().unwrap();
    assert!(stdout_of(ok(&out)).contains("Examples:"));
    let out = secrets().args(["completions", "bash"]).output().unwrap();
    assert!(stdout_of(ok(&out)).contains("secrets"));
    // An unknown option is a usage error; an unknown word is a file to edit, as with sops
    // (here a new one without recipients: sops's code 1).
    let out = secrets().args(["sops", "--nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let dir = tempfile::tempdir().unwrap();
    let out = secrets().current_dir(dir.path()).args(["sops", "nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(!dir.path().join("nope").exists());
}

#[test]
fn missing_file_is_a_clear_error() {
    // sops's code 100, for decrypt and encrypt alike.
    let out = with_key("keys.txt").args(["sops", "decrypt", "/nonexistent/file.yaml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(100));
    assert!(stderr_of(&out).contains("cannot operate on non-existent file \"/nonexistent/file.yaml\""), "{}", stderr_of(&out));
    let out = with_key("keys.txt").args(["sops", "encrypt", "--age", ALICE, "/nonexistent/file.yaml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(100));
}

#[test]
fn sops_decrypt_parses_alone_exactly_as_in_the_whole_command_tree() {
    // `secrets sops decrypt` has a parser of its own; a global flag sends the same arguments
    // through the whole command tree, which must find the same errors.
    let cases: [&[&str]; 3] = [&["--bogus", "x"], &["one", "two"], &["--input-type"]];
    for args in cases {
        let alone = secrets().args(["sops", "decrypt"]).args(args).output().unwrap();
        let whole = secrets().args(["--no-commit", "sops", "decrypt"]).args(args).output().unwrap();
        assert_eq!(alone.status.code(), Some(2), "{args:?}");
        assert_eq!(alone.status.code(), whole.status.code(), "{args:?}");
        assert_eq!(stderr_of(&alone), stderr_of(&whole), "{args:?}");
    }
    // Its help is the subcommand's help in `secrets sops` (the whole tree adds the global flags).
    let help = stdout_of(&secrets().args(["sops", "decrypt", "--help"]).output().unwrap());
    assert_eq!(help, stdout_of(&secrets().args(["sops", "help", "decrypt"]).output().unwrap()));
    assert!(help.starts_with("Decrypt a file and print it") && help.contains("Usage: secrets sops decrypt [OPTIONS] [FILE]"), "{help}");
}
