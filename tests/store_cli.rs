//! The clan-compatible repository commands end to end: layout, links, re-keying, guards,
//! commits and messages, following clan's own test scenarios.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{ok, secrets, stderr_of, stdout_of, vectors};

const ALICE: &str = "age1e9xplsq098whkdsvugpwhmh65hvjzend6kh3pcpuvsswew43jf6smxepjg";
const BOB: &str = "age1y53pe0c3lfwjf2wsc32czh0mvh5ekcams7r3xzjcyel45zny7ansgnel2p";
const CAROL: &str = "age1xzzypxvu5n8fvvakra4m8nwszzgzumwpfu03l2wsynhvlvygj9kq5793e2";

/// A fresh git repository acting as a clan flake.
struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    fn new() -> Repo {
        let dir = tempfile::tempdir().unwrap();
        git(dir.path(), &["init", "-q"]);
        git(dir.path(), &["config", "user.email", "test@example.com"]);
        git(dir.path(), &["config", "user.name", "Test"]);
        std::fs::write(dir.path().join("flake.nix"), "{}\n").unwrap();
        git(dir.path(), &["add", "flake.nix"]);
        git(dir.path(), &["commit", "-q", "-m", "init"]);
        Repo { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `secrets` in this repository, as the holder of `key` (a vectors key file).
    fn run_as(&self, key: &str, args: &[&str]) -> Output {
        self.cmd_as(key).args(args).output().unwrap()
    }

    fn cmd_as(&self, key: &str) -> assert_cmd::Command {
        let mut cmd = secrets();
        cmd.current_dir(self.path()).env("SOPS_AGE_KEY_FILE", vectors().join(key));
        cmd
    }

    fn set(&self, key: &str, args: &[&str], value: &str) -> Output {
        self.cmd_as(key).arg("set").args(args).env("SOPS_NIX_SECRET", value).output().unwrap()
    }

    fn recipients(&self, secret: &str) -> Vec<String> {
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(self.path().join("sops/secrets").join(secret).join("secret")).unwrap()).unwrap();
        let mut out: Vec<String> =
            json["sops"]["age"].as_array().unwrap().iter().map(|e| e["recipient"].as_str().unwrap().to_string()).collect();
        out.sort();
        out
    }

    fn git_clean(&self) -> bool {
        let out = Command::new("git").args(["status", "--porcelain", "sops/"]).current_dir(self.path()).output().unwrap();
        out.stdout.is_empty()
    }

    fn last_commit(&self) -> String {
        let out = Command::new("git").args(["log", "-1", "--format=%s"]).current_dir(self.path()).output().unwrap();
        stdout_of(&out).trim().to_string()
    }
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git").args(args).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "git {args:?}: {}", stderr_of(&out));
}

fn sorted(keys: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = keys.iter().map(ToString::to_string).collect();
    v.sort();
    v
}

fn setup_admin(repo: &Repo) {
    ok(&repo.run_as("keys.txt", &["users", "add", "admin", ALICE]));
}

#[test]
fn users_add_writes_clan_key_json_and_commits() {
    let repo = Repo::new();
    setup_admin(&repo);
    let text = std::fs::read_to_string(repo.path().join("sops/users/admin/key.json")).unwrap();
    assert_eq!(text, format!("[\n  {{\n    \"publickey\": \"{ALICE}\",\n    \"type\": \"age\"\n  }}\n]"));
    assert_eq!(repo.last_commit(), "secrets: add user admin");
    assert!(repo.git_clean());
    let out = repo.run_as("keys.txt", &["users", "add", "admin", ALICE]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("--force"));
    assert_eq!(stdout_of(ok(&repo.run_as("keys.txt", &["users", "list"]))), "admin\n");
}

#[test]
fn set_get_round_trips_bytes_and_links_the_caller() {
    let repo = Repo::new();
    setup_admin(&repo);
    ok(&repo.set("keys.txt", &["db-password"], "hunter2\n"));
    assert_eq!(stdout_of(ok(&repo.run_as("keys.txt", &["get", "db-password"]))), "hunter2\n");
    let link = std::fs::read_link(repo.path().join("sops/secrets/db-password/users/admin")).unwrap();
    assert_eq!(link, PathBuf::from("../../../users/admin"));
    assert_eq!(repo.recipients("db-password"), vec![ALICE.to_string()]);
    assert_eq!(repo.last_commit(), "secrets: update db-password");
    assert!(repo.git_clean());

    // Binary values survive byte for byte through stdin.
    let bytes: Vec<u8> = (0u8..=255).collect();
    repo.cmd_as("keys.txt").args(["set", "blob"]).write_stdin(bytes.clone()).assert().success();
    assert_eq!(ok(&repo.run_as("keys.txt", &["get", "blob"])).stdout, bytes);
    assert_eq!(stdout_of(ok(&repo.run_as("keys.txt", &["list"]))), "blob\ndb-password\n");
    assert_eq!(stdout_of(ok(&repo.run_as("keys.txt", &["list", "pass"]))), "db-password\n");
}

#[test]
fn machines_and_groups_re_key_as_clan_does() {
    let repo = Repo::new();
    setup_admin(&repo);
    ok(&repo.run_as("keys.txt", &["machines", "add", "machine1", BOB]));
    ok(&repo.run_as("keys.txt", &["users", "add", "user1", CAROL]));
    ok(&repo.run_as("keys.txt", &["groups", "add-machine", "group1", "machine1"]));
    ok(&repo.run_as("keys.txt", &["groups", "add-user", "group1", "user1"]));
    let listing = stdout_of(ok(&repo.run_as("keys.txt", &["groups", "list"]))).clone();
    assert_eq!(listing, "group1\nmachines:\n  machine1\nusers:\n  user1\n\n");
    ok(&repo.set("keys.txt", &["--group", "group1", "foo"], "bar"));
    assert_eq!(repo.recipients("foo"), sorted(&[ALICE, BOB, CAROL]));
    assert_eq!(stdout_of(ok(&repo.run_as("keys-b.txt", &["get", "foo"]))), "bar", "the machine reads it through the group");

    ok(&repo.run_as("keys.txt", &["groups", "remove-user", "group1", "user1"]));
    assert_eq!(repo.recipients("foo"), sorted(&[ALICE, BOB]));
    assert_eq!(repo.run_as("keys-c.txt", &["get", "foo"]).status.code(), Some(1), "user1 lost access");
    ok(&repo.run_as("keys.txt", &["groups", "add-user", "group1", "user1"]));
    assert_eq!(repo.recipients("foo"), sorted(&[ALICE, BOB, CAROL]));
    ok(&repo.run_as("keys.txt", &["users", "remove", "user1"]));
    assert_eq!(repo.recipients("foo"), sorted(&[ALICE, BOB]));
    ok(&repo.run_as("keys.txt", &["groups", "remove-machine", "--force", "group1", "machine1"]));
    assert_eq!(repo.recipients("foo"), sorted(&[ALICE]));
    assert!(!repo.path().join("sops/groups/group1").exists(), "the empty group is gone");
    assert!(std::fs::symlink_metadata(repo.path().join("sops/secrets/foo/groups/group1")).is_err(), "the dangling group link is gone");
    assert!(repo.git_clean());
}

#[test]
fn machine_add_secret_and_key_rotation() {
    let repo = Repo::new();
    setup_admin(&repo);
    ok(&repo.set("keys.txt", &["key"], "foo"));
    ok(&repo.run_as("keys.txt", &["machines", "add", "machine1", BOB]));
    ok(&repo.run_as("keys.txt", &["machines", "add-secret", "machine1", "key"]));
    assert_eq!(repo.last_commit(), "vars: add machine1 to secret sops/secrets/key");
    assert_eq!(stdout_of(ok(&repo.run_as("keys-b.txt", &["get", "key"]))), "foo");
    // Rotating the machine's key (given as a private key file) re-keys its secrets.
    ok(&repo.run_as("keys.txt", &["machines", "add", "-f", "machine1", vectors().join("keys-c.txt").to_str().unwrap()]));
    assert_eq!(stdout_of(ok(&repo.run_as("keys-c.txt", &["get", "key"]))), "foo");
    assert_eq!(repo.run_as("keys-b.txt", &["get", "key"]).status.code(), Some(1));
    assert_eq!(stdout_of(ok(&repo.run_as("keys.txt", &["machines", "get", "machine1"]))), format!("{CAROL}\n"));
    ok(&repo.run_as("keys.txt", &["machines", "remove-secret", "machine1", "key"]));
    assert_eq!(repo.recipients("key"), vec![ALICE.to_string()]);
}

#[test]
fn removing_access_rotates_the_data_key_and_says_so() {
    let repo = Repo::new();
    setup_admin(&repo);
    ok(&repo.run_as("keys.txt", &["users", "add", "bob", BOB]));
    ok(&repo.set("keys.txt", &["--user", "bob", "shared"], "v"));
    let before: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo.path().join("sops/secrets/shared/secret")).unwrap()).unwrap();
    let out = repo.run_as("keys.txt", &["users", "remove-secret", "bob", "shared"]);
    ok(&out);
    assert!(stderr_of(&out).contains("bob (user) lost access to shared; change their values"), "{}", stderr_of(&out));
    let after: serde_json::Value = serde_json::from_slice(&std::fs::read(repo.path().join("sops/secrets/shared/secret")).unwrap()).unwrap();
    assert_ne!(before["data"], after["data"], "the value is re-encrypted under a new key");
    assert_eq!(repo.recipients("shared"), vec![ALICE.to_string()]);

    // Adding access only re-wraps: the value's ciphertext stays.
    ok(&repo.run_as("keys.txt", &["users", "add-secret", "bob", "shared"]));
    let again: serde_json::Value = serde_json::from_slice(&std::fs::read(repo.path().join("sops/secrets/shared/secret")).unwrap()).unwrap();
    assert_eq!(after["data"], again["data"]);
    assert_eq!(repo.recipients("shared"), sorted(&[ALICE, BOB]));
}

#[test]
fn lock_out_guard_refuses_leaving_a_secret_without_users() {
    let repo = Repo::new();
    setup_admin(&repo);
    ok(&repo.run_as("keys.txt", &["machines", "add", "m1", BOB]));
    ok(&repo.set("keys.txt", &["--machine", "m1", "s"], "v"));
    let before = std::fs::read(repo.path().join("sops/secrets/s/secret")).unwrap();
    let out = repo.run_as("keys.txt", &["users", "remove-secret", "admin", "s"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("no user"), "{}", stderr_of(&out));
    assert!(std::fs::symlink_metadata(repo.path().join("sops/secrets/s/users/admin")).is_ok(), "the link is restored");
    assert_eq!(std::fs::read(repo.path().join("sops/secrets/s/secret")).unwrap(), before, "nothing changed");
    assert!(repo.git_clean());
    ok(&repo.run_as("keys.txt", &["users", "remove-secret", "--force", "admin", "s"]));
    assert_eq!(repo.recipients("s"), vec![BOB.to_string()]);
}

#[test]
fn unsafe_names_and_links_are_refused() {
    let repo = Repo::new();
    setup_admin(&repo);
    for name in [".", "..", "../x", ".hidden", "a/b"] {
        let out = repo.set("keys.txt", &[name], "v");
        assert!(!out.status.success(), "{name} accepted");
        assert!(stderr_of(&out).contains("invalid secret name"), "{name}: {}", stderr_of(&out));
    }
    ok(&repo.set("keys.txt", &["s"], "v"));
    let outside = repo.path().join("elsewhere/users/eve");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("key.json"), format!("[{{\"publickey\": \"{BOB}\", \"type\": \"age\"}}]")).unwrap();
    std::os::unix::fs::symlink(&outside, repo.path().join("sops/secrets/s/users/eve")).unwrap();
    let out = repo.run_as("keys.txt", &["key", "update"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("outside sops/"), "{}", stderr_of(&out));
    assert_eq!(repo.recipients("s"), vec![ALICE.to_string()], "eve got nothing");
}

#[test]
fn users_get_and_key_show_print_clan_json() {
    let repo = Repo::new();
    ok(&repo.run_as("keys.txt", &["users", "add", "bob", "--age-key", BOB, "--age-key", ALICE]));
    let json: serde_json::Value = serde_json::from_str(&stdout_of(ok(&repo.run_as("keys.txt", &["users", "get", "bob"])))).unwrap();
    let keys: Vec<&str> = json.as_array().unwrap().iter().map(|k| k["publickey"].as_str().unwrap()).collect();
    assert_eq!(keys, sorted(&[ALICE, BOB]));
    assert_eq!(json[0]["username"], "bob");
    let shown: serde_json::Value = serde_json::from_str(&stdout_of(ok(&repo.run_as("keys.txt", &["key", "show"])))).unwrap();
    assert_eq!(shown[0]["publickey"], ALICE);
}

#[test]
fn plugin_identities_are_refused_as_user_keys() {
    let repo = Repo::new();
    let out = repo.run_as("keys.txt", &["users", "add", "testuser", "AGE-PLUGIN-YUBIKEY-18P5XCQVZ5FE4WKCW3NJWP"]);
    assert!(!out.status.success());
    let err = stderr_of(&out);
    assert!(err.contains("plugin identifiers, not recipient keys") && err.contains("corresponding age1 public key"), "{err}");
}

#[test]
fn private_keys_never_appear_in_errors() {
    let repo = Repo::new();
    let text = std::fs::read_to_string(vectors().join("keys.txt")).unwrap();
    let secret = text.lines().find(|l| l.starts_with("AGE-SECRET-KEY-")).unwrap();
    let out = repo.run_as("keys.txt", &["users", "add", "x", &format!("{secret}ZZ")]);
    assert!(!out.status.success());
    assert!(!stderr_of(&out).contains("AGE-SECRET-KEY"), "{}", stderr_of(&out));
}

#[test]
fn rename_remove_and_no_commit() {
    let repo = Repo::new();
    setup_admin(&repo);
    ok(&repo.set("keys.txt", &["initialkey"], "foo"));
    ok(&repo.run_as("keys.txt", &["rename", "initialkey", "key"]));
    assert_eq!(repo.last_commit(), "secrets: rename initialkey to key");
    assert_eq!(stdout_of(ok(&repo.run_as("keys.txt", &["list"]))), "key\n");
    let out = repo.run_as("keys.txt", &["rename", "key", ".."]);
    assert!(!out.status.success());
    ok(&repo.cmd_as("keys.txt").args(["--no-commit", "remove", "key"]).output().unwrap());
    assert_eq!(repo.last_commit(), "secrets: rename initialkey to key");
    assert!(!repo.git_clean());
    let out = repo.run_as("keys.txt", &["get", "nonexisting"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("nonexisting"));
}

#[test]
fn import_sops_imports_every_string_leaf() {
    let repo = Repo::new();
    setup_admin(&repo);
    ok(&repo.run_as("keys.txt", &["machines", "add", "machine1", BOB]));
    let out = repo.run_as("keys.txt", &["import-sops", "--machine", "machine1", vectors().join("enc/basic.yaml").to_str().unwrap()]);
    ok(&out);
    assert_eq!(stdout_of(ok(&repo.run_as("keys-b.txt", &["get", "app.nested.deeper.secret"]))), "s3cr3t");
    assert_eq!(stdout_of(ok(&repo.run_as("keys.txt", &["get", "password_unencrypted"]))), "visible-in-clear");
    assert!(stderr_of(&out).contains("app.port is not a string"));
    let again = repo.run_as("keys.txt", &["import-sops", vectors().join("enc/basic.yaml").to_str().unwrap()]);
    assert!(stderr_of(&again).contains("already exists"));
    assert!(repo.git_clean());
}

#[test]
fn a_repository_written_by_clan_is_read_and_extended() {
    let repo = Repo::new();
    let fixture = crate::common::repo_root().join("fixtures/clan-repo");
    let out = Command::new("cp").arg("-a").arg(fixture.join("sops")).arg(repo.path()).output().unwrap();
    assert!(out.status.success());
    assert_eq!(stdout_of(ok(&repo.run_as("keys.txt", &["users", "list"]))), "admin\n");
    assert_eq!(stdout_of(ok(&repo.run_as("keys.txt", &["get", "legacy-secret"]))), "legacy-value");
    ok(&repo.run_as("keys.txt", &["users", "add", "bob", BOB]));
    ok(&repo.run_as("keys.txt", &["users", "add-secret", "bob", "legacy-secret"]));
    assert_eq!(stdout_of(ok(&repo.run_as("keys-b.txt", &["get", "legacy-secret"]))), "legacy-value");
}

#[test]
fn key_generate_appends_and_never_overwrites() {
    let repo = Repo::new();
    let home = tempfile::tempdir().unwrap();
    let key_file = home.path().join("age.key");
    let existing = std::fs::read_to_string(vectors().join("keys.txt")).unwrap();
    std::fs::write(&key_file, &existing).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // A key file is private; `key generate` refuses to add to one others can read.
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let run = |args: &[&str]| secrets().current_dir(repo.path()).env("SOPS_AGE_KEY_FILE", &key_file).args(args).output().unwrap();
    // A key is already there: nothing is generated, and the user is told how to register it.
    let out = run(&["key", "generate"]);
    assert!(stderr_of(ok(&out)).contains("is already set"), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("secrets users add"));
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), existing);
    // Once registered, it says so instead.
    ok(&run(&["users", "add", "alice", ALICE]));
    let out = run(&["key", "generate"]);
    assert!(stderr_of(&out).contains("registered as user 'alice'"), "{}", stderr_of(&out));
    // --new appends a second key and keeps the first.
    ok(&run(&["key", "generate", "--new"]));
    let text = std::fs::read_to_string(&key_file).unwrap();
    assert!(text.starts_with(&existing), "the old key is kept");
    assert_eq!(text.lines().filter(|l| l.starts_with("AGE-SECRET-KEY-1")).count(), 2);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let fresh = home.path().join("new/dir/keys.txt");
        let out = secrets().current_dir(repo.path()).env("SOPS_AGE_KEY_FILE", &fresh).args(["key", "generate"]).output().unwrap();
        ok(&out);
        assert_eq!(std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777, 0o600, "a new key file is private");
    }
    let shown: serde_json::Value = serde_json::from_str(&stdout_of(ok(&run(&["key", "show"])))).unwrap();
    assert_eq!(shown.as_array().unwrap().len(), 2);
}

#[test]
fn set_edit_uses_the_editor_on_a_private_file() {
    let repo = Repo::new();
    setup_admin(&repo);
    ok(&repo.set("keys.txt", &["note"], "first"));
    // An "editor" that appends a line and records the file's mode and folder's mode.
    let script = repo.path().join("editor.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nstat -c %a \"$1\" > \"$EDIT_LOG\"; stat -c %a \"$(dirname \"$1\")\" >> \"$EDIT_LOG\"; printf ' edited' >> \"$1\"\n",
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let log = repo.path().join("edit.log");
    let out = repo.cmd_as("keys.txt").args(["set", "--edit", "note"]).env("EDITOR", &script).env("EDIT_LOG", &log).output().unwrap();
    ok(&out);
    assert_eq!(stdout_of(ok(&repo.run_as("keys.txt", &["get", "note"]))), "first edited");
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "600\n700\n");
    // An editor that changes nothing leaves the secret as it was.
    let before = std::fs::read(repo.path().join("sops/secrets/note/secret")).unwrap();
    ok(&repo.cmd_as("keys.txt").args(["set", "--edit", "note"]).env("EDITOR", "true").output().unwrap());
    assert_eq!(std::fs::read(repo.path().join("sops/secrets/note/secret")).unwrap(), before);
}

/// A CI job run in the wrong folder must not pass: `check` without a `sops/` folder is an
/// error that says where it looked, unless the repository is allowed to be empty.
#[test]
fn check_without_a_sops_folder_fails_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q"]);
    let out = secrets().current_dir(dir.path()).arg("check").output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("sops: no such folder") && stderr_of(&out).contains("--allow-empty"), "{}", stderr_of(&out));
    ok(&secrets().current_dir(dir.path()).args(["check", "--allow-empty"]).output().unwrap());
}
