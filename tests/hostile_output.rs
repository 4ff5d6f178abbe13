//! What a hostile commit or a hostile file can make `secrets` print or write: names from the
//! repository are shown escaped, `sops set` never writes a file its own reader refuses, and the
//! AWS CLI's files are read like key files (a FIFO does not hang the command).

use std::fs;
use std::os::unix::fs::symlink;

use crate::common::clan::{Flake, K};

/// k0 (alice) runs the commands; bob (k1) is a member who can be removed.
fn alice_and_bob() -> Flake {
    let flake = Flake::new();
    flake.all(0, &[&["users", "add", "alice", K[0]], &["users", "add", "bob", K[1]]]);
    flake
}

/// A committer may create any folder name under `sops/secrets/`, line breaks and escape
/// sequences included. Every command that names secrets shows such a name escaped: it can
/// neither add a line of its own to a CI log (`::error::…` is a workflow command there) nor send
/// an escape sequence to the terminal. Ordinary names are shown as they are.
#[test]
fn a_committed_name_cannot_forge_lines_or_reach_the_terminal() {
    let flake = alice_and_bob();
    flake.set(0, &["db", "--user", "bob"], "db-value");
    let name = "evil\n::error::all secrets verified\r\u{1b}[2K";
    let dir = flake.sops("secrets").join(name);
    fs::create_dir_all(dir.join("users")).unwrap();
    fs::copy(flake.sops("secrets/db/secret"), dir.join("secret")).unwrap();
    symlink("../../../users/bob", dir.join("users/bob")).unwrap();

    for args in [&["check"][..], &["access"], &["list"], &["users", "remove", "bob"]] {
        let out = flake.as_key(0).args(args).output().unwrap();
        let text = format!("{}{}", crate::common::stdout_of(&out), crate::common::stderr_of(&out));
        assert!(!text.lines().any(|l| l.starts_with("::error::")), "secrets {args:?} printed a forged line: {text}");
        assert!(!text.contains(['\u{1b}', '\r']), "secrets {args:?} printed a control character: {text:?}");
    }
}

/// Writes `s.yaml` encrypted for k0 into a new folder.
fn encrypted_yaml() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("s.yaml"), "a: b\n").unwrap();
    let out = crate::common::secrets()
        .current_dir(dir.path())
        .env("SOPS_AGE_RECIPIENTS", K[0])
        .args(["sops", "encrypt", "s.yaml"])
        .output()
        .unwrap();
    crate::common::ok(&out);
    fs::write(dir.path().join("e.yaml"), &out.stdout).unwrap();
    dir
}

fn sops_set_nested(dir: &std::path::Path, maps: usize) -> std::process::Output {
    fs::write(dir.join("value.json"), format!("{}1{}", "{\"a\":".repeat(maps), "}".repeat(maps))).unwrap();
    crate::common::secrets()
        .current_dir(dir)
        .env("SOPS_AGE_KEY_FILE", crate::common::clan::key_file(0))
        .args(["sops", "set", "--value-file", "e.yaml", "[\"a\"]", "value.json"])
        .output()
        .unwrap()
}

/// A JSON value nested 10,000 levels deep (as deep as the JSON reader goes) is refused under a
/// key of a YAML file, whose reader stops at go-yaml's 10,000 levels, the top-level mapping
/// included: cleanly, with the file left as it was, and not by a stack overflow. A value that
/// fits is written and reads back.
#[test]
fn sops_set_never_writes_a_yaml_file_it_cannot_read() {
    let dir = encrypted_yaml();
    let before = fs::read(dir.path().join("e.yaml")).unwrap();
    let set = sops_set_nested(dir.path(), 10_000);
    assert_eq!(set.status.code(), Some(7), "{}", crate::common::stderr_of(&set));
    assert!(crate::common::stderr_of(&set).contains("at most 10000"), "{}", crate::common::stderr_of(&set));
    assert_eq!(fs::read(dir.path().join("e.yaml")).unwrap(), before, "the file changed");

    crate::common::ok(&sops_set_nested(dir.path(), 254));
    let decrypt = crate::common::secrets()
        .current_dir(dir.path())
        .env("SOPS_AGE_KEY_FILE", crate::common::clan::key_file(0))
        .args(["sops", "decrypt", "e.yaml"])
        .output()
        .unwrap();
    crate::common::ok(&decrypt);
}

/// A named pipe as `AWS_SHARED_CREDENTIALS_FILE` is refused by name instead of hanging
/// `credentials store aws` forever.
#[test]
fn an_aws_credentials_fifo_does_not_hang() {
    let flake = alice_and_bob();
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("credentials");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let out = flake
        .as_key(0)
        .env("AWS_SHARED_CREDENTIALS_FILE", &fifo)
        .args(["credentials", "store", "aws", "--profile", "prod", "--name", "prod"])
        .timeout(std::time::Duration::from_secs(10))
        .output()
        .unwrap();
    assert!(out.status.code().is_some(), "the command hung on a named pipe and was killed");
    let stderr = crate::common::stderr_of(&out);
    assert!(stderr.contains("credentials") && stderr.contains("FIFO"), "{stderr}");
}
