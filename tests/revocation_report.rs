//! What a revocation says: one line naming who lost access (people and machines, never keys)
//! to which secrets, or their number and a command that lists them; `list --readable-by`;
//! removing a group's last member asks for `--force`; "Re-encrypted N" counts changed files.

use std::fs;
use std::path::Path;
use std::process::Output;

use crate::common::{git, ok, secrets, stderr_of, stdout_of, vectors};

const ALICE: &str = "age1e9xplsq098whkdsvugpwhmh65hvjzend6kh3pcpuvsswew43jf6smxepjg";
const BOB: &str = "age1y53pe0c3lfwjf2wsc32czh0mvh5ekcams7r3xzjcyel45zny7ansgnel2p";
const CAROL: &str = "age1xzzypxvu5n8fvvakra4m8nwszzgzumwpfu03l2wsynhvlvygj9kq5793e2";

/// Users alice and bob, machine web1, group admins = {alice, bob}.
fn team() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q"]);
    git(dir.path(), &["config", "user.name", "Test"]);
    git(dir.path(), &["config", "user.email", "test@example.com"]);
    ok(&run(dir.path(), &["users", "add", "alice", "--age-key", ALICE]));
    ok(&run(dir.path(), &["users", "add", "bob", "--age-key", BOB]));
    ok(&run(dir.path(), &["machines", "add", "web1", CAROL]));
    ok(&run(dir.path(), &["groups", "add-user", "admins", "alice"]));
    ok(&run(dir.path(), &["groups", "add-user", "admins", "bob"]));
    dir
}

fn run(dir: &Path, args: &[&str]) -> Output {
    secrets().current_dir(dir).env("SOPS_AGE_KEY_FILE", vectors().join("keys.txt")).args(args).output().unwrap()
}

fn set(dir: &Path, args: &[&str]) {
    let out = secrets()
        .current_dir(dir)
        .env("SOPS_AGE_KEY_FILE", vectors().join("keys.txt"))
        .arg("set")
        .args(args)
        .env("SOPS_NIX_SECRET", "v")
        .output()
        .unwrap();
    ok(&out);
}

#[test]
fn a_revocation_through_a_group_is_one_line_about_the_person() {
    let repo = team();
    let names: Vec<String> = (0..12).map(|i| format!("s{i:02}")).collect();
    for name in &names {
        set(repo.path(), &[name, "--group", "admins"]);
    }
    set(repo.path(), &["alone"]);
    let listed = stdout_of(ok(&run(repo.path(), &["list", "--readable-by", "group:admins"]))).lines().map(String::from).collect::<Vec<_>>();
    assert_eq!(listed, names);
    assert_eq!(stdout_of(ok(&run(repo.path(), &["list", "--readable-by", "bob"]))).lines().count(), 12);
    assert_eq!(stdout_of(ok(&run(repo.path(), &["list", "--readable-by", "alice"]))).lines().count(), 13, "directly too");

    let out = run(repo.path(), &["groups", "remove-user", "admins", "bob"]);
    let err = stderr_of(ok(&out));
    assert_eq!(
        err.lines().filter(|l| !l.starts_with("Committed")).collect::<Vec<_>>(),
        [
            "bob (user) lost access to 12 secrets; change their values if the removed reader may have kept a copy: secrets list --readable-by group:admins",
            "Re-encrypted 12 secrets",
        ],
        "{err}"
    );
    assert!(!err.contains("age1"), "people, not keys: {err}");
    assert_eq!(stdout_of(ok(&run(repo.path(), &["list", "--readable-by", "bob"]))), "");
}

#[test]
fn a_few_secrets_are_named() {
    let repo = team();
    set(repo.path(), &["db", "--user", "bob"]);
    set(repo.path(), &["api", "--user", "bob"]);
    let out = run(repo.path(), &["users", "remove", "bob"]);
    let err = stderr_of(ok(&out));
    assert!(err.contains("bob (user) lost access to api, db; change their values"), "{err}");
    assert!(err.contains("Re-encrypted 2 secrets") && !err.contains("age1"), "{err}");

    ok(&run(repo.path(), &["groups", "add-machine", "servers", "web1"]));
    ok(&run(repo.path(), &["groups", "add-secret", "servers", "db"]));
    let err = stderr_of(ok(&run(repo.path(), &["groups", "remove-secret", "servers", "db"])));
    assert!(err.contains("servers (group) lost access to db;") && err.contains("Re-encrypted 1 secret\n"), "{err}");
}

#[test]
fn readable_by_names_one_member_or_asks_which() {
    let repo = team();
    ok(&run(repo.path(), &["groups", "add-user", "bob", "bob"]));
    let out = run(repo.path(), &["list", "--readable-by", "bob"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("say which: user:bob, group:bob"), "{}", stderr_of(&out));
    let out = run(repo.path(), &["list", "--readable-by", "nobody"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("no user, machine or group named `nobody`"), "{}", stderr_of(&out));
    ok(&run(repo.path(), &["list", "--readable-by", "user:bob"]));
}

#[test]
fn removing_a_groups_last_member_asks_for_force_and_says_what_went() {
    let repo = team();
    ok(&run(repo.path(), &["groups", "add-machine", "servers", "web1"]));
    set(repo.path(), &["db", "--group", "servers", "--machine", "web1"]);
    let before = fs::read(repo.path().join("sops/secrets/db/secret")).unwrap();

    let out = run(repo.path(), &["groups", "remove-machine", "servers", "web1"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(
        err.contains("machine `web1` is the last member of group `servers`: removing it removes the group and its access to 1 secret(s)"),
        "{err}"
    );
    assert!(err.contains("pass --force"), "{err}");
    assert!(repo.path().join("sops/groups/servers/machines/web1").exists(), "nothing changed");

    let out = run(repo.path(), &["groups", "remove-machine", "servers", "web1", "--force"]);
    let err = stderr_of(ok(&out));
    assert!(err.contains("group servers had no member left and was removed"), "{err}");
    // web1 still reads db directly: the file is the same, and is not counted.
    assert_eq!(fs::read(repo.path().join("sops/secrets/db/secret")).unwrap(), before);
    assert!(!err.contains("Re-encrypted") && !err.contains("lost access"), "{err}");
    assert!(!repo.path().join("sops/groups/servers").exists());
    assert!(!repo.path().join("sops/secrets/db/groups/servers").exists(), "the grant went with the group");

    // A group that grants nothing goes with its last member without a question.
    ok(&run(repo.path(), &["groups", "add-machine", "idle", "web1"]));
    ok(&run(repo.path(), &["groups", "remove-machine", "idle", "web1"]));
}
