//! `secrets edit NAME` with scripted editors (the value in a private file, `$SOPS_EDITOR` before
//! `$EDITOR`, re-encrypted only when it changed, for the same readers), and `set` refusing an
//! empty value from a pipe unless `--allow-empty`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::{git, ok, secrets, stderr_of, stdout_of, vectors};

const ALICE: &str = "age1e9xplsq098whkdsvugpwhmh65hvjzend6kh3pcpuvsswew43jf6smxepjg";
const CAROL: &str = "age1xzzypxvu5n8fvvakra4m8nwszzgzumwpfu03l2wsynhvlvygj9kq5793e2";

/// A repository with user alice, machine web1 and secret `db` (`hunter2`) for both.
fn team() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q"]);
    git(dir.path(), &["config", "user.name", "Test"]);
    git(dir.path(), &["config", "user.email", "test@example.com"]);
    ok(&run(dir.path(), &["users", "add", "alice", "--age-key", ALICE], &[], None));
    ok(&run(dir.path(), &["machines", "add", "web1", CAROL], &[], None));
    ok(&run(dir.path(), &["set", "db", "--machine", "web1"], &[], Some("hunter2")));
    dir
}

fn run(dir: &Path, args: &[&str], env: &[(&str, &Path)], stdin: Option<&str>) -> Output {
    let mut cmd = secrets();
    cmd.current_dir(dir).env("SOPS_AGE_KEY_FILE", vectors().join("keys.txt")).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.write_stdin(stdin.unwrap_or("")).output().unwrap()
}

/// An editor script: records the file's path, mode and content in `log`, then runs `then`
/// on the file (`$1`).
fn editor(dir: &Path, name: &str, then: &str) -> (PathBuf, PathBuf) {
    let log = dir.join(format!("{name}.log"));
    let path = dir.join(name);
    let script = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$1\" > '{log}'\nstat -c '%a' \"$1\" >> '{log}'\nstat -c '%a' \"$(dirname \"$1\")\" >> '{log}'\ncat \"$1\" >> '{log}'\n{then}\n",
        log = log.display()
    );
    fs::write(&path, script).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    (path, log)
}

fn secret_file(dir: &Path) -> Vec<u8> {
    fs::read(dir.join("sops/secrets/db/secret")).unwrap()
}

fn recipients(dir: &Path) -> Vec<String> {
    let json: serde_json::Value = serde_json::from_slice(&secret_file(dir)).unwrap();
    let mut out: Vec<String> = json["sops"]["age"].as_array().unwrap().iter().map(|e| e["recipient"].as_str().unwrap().into()).collect();
    out.sort();
    out
}

fn head(dir: &Path) -> String {
    stdout_of(&git(dir, &["log", "-1", "--format=%s"])).trim().to_string()
}

#[test]
fn edit_opens_the_value_privately_and_encrypts_a_change_for_the_same_readers() {
    let repo = team();
    let tools = tempfile::tempdir().unwrap();
    let (changer, log) = editor(tools.path(), "changer", "printf 'new-value' > \"$1\"");
    let (unused, unused_log) = editor(tools.path(), "unused", "exit 0");
    let readers = recipients(repo.path());
    // $SOPS_EDITOR comes before $EDITOR, as in sops.
    let out = run(repo.path(), &["edit", "db"], &[("SOPS_EDITOR", &changer), ("EDITOR", &unused)], None);
    ok(&out);
    assert!(!unused_log.exists(), "EDITOR is not used when SOPS_EDITOR is set");
    let seen = fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = seen.lines().collect();
    assert_eq!(&lines[1..], ["600", "700", "hunter2"], "{seen}");
    assert!(!Path::new(lines[0]).exists(), "the private file is gone");
    assert_eq!(stdout_of(ok(&run(repo.path(), &["get", "db"], &[], None))), "new-value");
    assert_eq!(recipients(repo.path()), readers, "the same readers");
    assert_eq!(head(repo.path()), "secrets: update db");
    // web1 reads the new value with its own key.
    let out =
        secrets().current_dir(repo.path()).env("SOPS_AGE_KEY_FILE", vectors().join("keys-c.txt")).args(["get", "db"]).output().unwrap();
    assert_eq!(stdout_of(ok(&out)), "new-value");
}

#[test]
fn an_unchanged_value_is_not_encrypted_again_and_a_failed_editor_changes_nothing() {
    let repo = team();
    let tools = tempfile::tempdir().unwrap();
    let before = secret_file(repo.path());
    let (viewer, _) = editor(tools.path(), "viewer", "exit 0");
    let out = run(repo.path(), &["edit", "db"], &[("EDITOR", &viewer)], None);
    assert!(stderr_of(ok(&out)).contains("db: unchanged"), "{}", stderr_of(&out));
    assert_eq!(secret_file(repo.path()), before, "the file is untouched");
    assert_eq!(head(repo.path()), "secrets: update db");

    let (failing, _) = editor(tools.path(), "failing", "printf 'half typed' > \"$1\"; exit 3");
    let out = run(repo.path(), &["edit", "db"], &[("EDITOR", &failing)], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("failed (exit status: 3); nothing was changed"), "{}", stderr_of(&out));
    assert_eq!(secret_file(repo.path()), before);

    let out = run(repo.path(), &["edit", "nope"], &[("EDITOR", &viewer)], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("Secret 'nope' does not exist") && stderr_of(&out).contains("secrets set nope"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn set_refuses_an_empty_value_from_a_pipe_unless_allowed() {
    let repo = team();
    let before = secret_file(repo.path());
    let out = run(repo.path(), &["set", "db"], &[], Some(""));
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(err.contains("the value read from standard input is empty; nothing was changed") && err.contains("--allow-empty"), "{err}");
    assert_eq!(secret_file(repo.path()), before);
    let out = run(repo.path(), &["set", "fresh"], &[], Some(""));
    assert_eq!(out.status.code(), Some(1));
    assert!(!repo.path().join("sops/secrets/fresh").exists(), "nothing created");

    ok(&run(repo.path(), &["set", "db", "--allow-empty"], &[], Some("")));
    assert_eq!(stdout_of(ok(&run(repo.path(), &["get", "db"], &[], None))), "");
}
