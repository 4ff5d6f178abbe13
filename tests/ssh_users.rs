//! A user whose only key is an ssh key, as sops reads it (`~/.ssh/id_ed25519`): registered with
//! that key, they can set what they can read, `key show` names them, and a passphrase-protected
//! key is asked for on the terminal (through a pseudo-terminal made by `script`), once.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{init_git_repo, ok, peer, secrets, stderr_of, stdout_of};

/// A repository and a HOME holding only `~/.ssh/id_ed25519` (with `passphrase`, if any),
/// registered as user `sam` by its ssh public key.
fn ssh_only_user(passphrase: &str) -> Option<(tempfile::TempDir, PathBuf, PathBuf)> {
    let keygen = peer("ssh-keygen")?;
    let dir = tempfile::tempdir().unwrap();
    let (repo, home) = (dir.path().join("repo"), dir.path().join("home"));
    init_git_repo(&repo);
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    let key = home.join(".ssh/id_ed25519");
    let made = Command::new(keygen).args(["-q", "-t", "ed25519", "-N", passphrase, "-C", "sam@laptop", "-f"]).arg(&key).output().unwrap();
    assert!(made.status.success(), "{}", stderr_of(&made));
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let public: Vec<&str> = public.split_whitespace().take(2).collect();
    ok(&as_sam(&repo, &home).args(["users", "add", "sam", &public.join(" ")]).output().unwrap());
    Some((dir, repo, home))
}

fn as_sam(repo: &Path, home: &Path) -> assert_cmd::Command {
    let mut cmd = secrets();
    cmd.current_dir(repo).env("HOME", home).env("XDG_CONFIG_HOME", home.join(".config"));
    cmd
}

#[test]
fn an_ssh_only_user_sets_gets_and_is_named() {
    let Some((_dir, repo, home)) = ssh_only_user("") else { return };
    ok(&as_sam(&repo, &home).args(["set", "db"]).write_stdin("s3cret").output().unwrap());
    assert_eq!(stdout_of(ok(&as_sam(&repo, &home).args(["get", "db"]).output().unwrap())), "s3cret");
    let shown = stdout_of(ok(&as_sam(&repo, &home).args(["key", "show"]).output().unwrap()));
    assert!(shown.contains("\"username\": \"sam\"") && shown.contains("ssh-ed25519 AAAA"), "{shown}");
}

/// `command` run on a pseudo-terminal whose input is `typed` (after a pause, so the prompt is
/// up), with sam's HOME: stdout and stderr come out merged, as on a terminal.
fn on_a_terminal(repo: &Path, home: &Path, command: &str, typed: &str) -> Option<(Option<i32>, String)> {
    let script = peer("script")?;
    let line = format!("{} {command}", env!("CARGO_BIN_EXE_secrets"));
    let mut cmd = Command::new("sh");
    crate::common::clean_env(&mut cmd);
    cmd.arg("-c")
        .arg(format!("(sleep 1; printf '%s\\n' \"$TYPED\") | {} -qec \"$LINE\" /dev/null", script.display()))
        .env("TYPED", typed)
        .env("LINE", line)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .current_dir(repo);
    let out = cmd.output().unwrap();
    Some((out.status.code(), stdout_of(&out)))
}

#[test]
fn a_passphrase_protected_ssh_key_is_asked_for_on_the_terminal() {
    let Some((_dir, repo, home)) = ssh_only_user("pass phrase") else { return };
    // Encrypting needs no private key; reading it back needs the passphrase.
    ok(&as_sam(&repo, &home).args(["set", "db"]).write_stdin("s3cret").output().unwrap());

    let Some((code, text)) = on_a_terminal(&repo, &home, "get db", "pass phrase") else { return };
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("Enter passphrase for") && text.contains("s3cret"), "{text}");
    assert!(!text.contains("pass phrase"), "the passphrase was echoed: {text}");

    let (code, text) = on_a_terminal(&repo, &home, "get db", "wrong").unwrap();
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("wrong passphrase") && !text.contains("s3cret"), "{text}");

    // Without a terminal nothing is asked, and the report says why the key was not used.
    let out = as_sam(&repo, &home).args(["get", "db"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("no way to ask for the passphrase here"), "{}", stderr_of(&out));
}
