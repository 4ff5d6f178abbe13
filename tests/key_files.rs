//! The user's own key files (`SOPS_AGE_SSH_PRIVATE_KEY_FILE`, `~/.ssh/id_ed25519`,
//! `SOPS_AGE_KEY_FILE`, `keys.txt`) are read once, without blocking and bounded in size, and a
//! secret is decrypted only from bytes read through the repository's own folders.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::common::clan::{Flake, K};
use crate::common::{stderr_of, stdout_of};

fn mkfifo(path: &Path) {
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

fn team() -> Flake {
    let flake = Flake::new();
    flake.ok(0, &["users", "add", "alice", K[0]]);
    flake.set(0, &["db"], "in-repo value");
    flake
}

/// A FIFO (or a huge file) where a key file is expected is reported and skipped; the other
/// keys still decrypt, and nothing hangs.
#[test]
fn key_files_that_are_fifos_or_huge_do_not_hang_or_fill_memory() {
    let flake = team();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    fs::create_dir_all(home.join(".ssh")).unwrap();
    fs::create_dir_all(home.join(".config/sops/age")).unwrap();
    mkfifo(&home.join(".ssh/id_ed25519"));
    let fifo = dir.path().join("ssh-key");
    mkfifo(&fifo);
    let huge = dir.path().join("keys.txt");
    fs::write(&huge, "#\n".repeat(1 << 20)).unwrap();
    fs::hard_link(&huge, home.join(".config/sops/age/keys.txt")).unwrap();

    let out = flake
        .as_key(0)
        .args(["exec", "--env", "X=db", "--", "printenv", "X"])
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("SOPS_AGE_SSH_PRIVATE_KEY_FILE", &fifo)
        .env("SOPS_AGE_KEY_FILE", &huge)
        .timeout(Duration::from_secs(20))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out).trim_end(), "in-repo value");
}

/// `exec` decrypts a secret only through the repository's folders: one whose folder is a
/// symlink to a sops file elsewhere is refused by name.
#[test]
fn exec_never_decrypts_through_a_symlinked_secret_folder() {
    let flake = team();
    let outside = tempfile::tempdir().unwrap();
    let elsewhere = outside.path().canonicalize().unwrap().join("checkout");
    fs::create_dir_all(&elsewhere).unwrap();
    fs::copy(flake.sops("secrets/db/secret"), elsewhere.join("secret")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, flake.sops("secrets/stolen")).unwrap();
    let out = flake.as_key(0).args(["exec", "--env", "X=stolen", "--", "printenv", "X"]).timeout(Duration::from_secs(20)).output().unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(!stdout_of(&out).contains("in-repo value"));
    let stderr = stderr_of(&out);
    assert!(stderr.contains("sops/secrets/stolen") && stderr.contains("symbolic link"), "{stderr}");
}
