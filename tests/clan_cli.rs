//! `secrets` as a drop-in for `clan secrets`: clan's own test scenarios (spec §10) ported one by
//! one with the six fixed keys k0…k5, then every command and flag, the `--json` forms, and the
//! extra cases of spec §10.4. The message catalogue is in `clan_messages.rs`.

use std::path::Path;

use crate::common::clan::{clan_key_json, clan_keys, fails, key_file, keys, no_panic, private_key, usage, Flake, K};
use crate::common::{peer, secrets, sops, sops_bin, stderr_of, stdout_of, vectors, GpgKeyring};
use predicates::prelude::*;
use predicates::str::contains;

/// A PGP fingerprint as clan stores it, of a key no keyring here holds.
const FP: &str = "9A4C1F2E3B5D6A7C8E9F0A1B2C3D4E5F6A7B8C9D";

/// The age form of `fixtures/sops-vectors/ssh/id_ed25519.pub` (its ed25519 point as X25519).
const SSH_AS_AGE: &str = "age1nep7lca89l954lcwvpwdthkcmr7epst0jkytazf58peug79q2qesfkgq0s";

fn read(path: impl AsRef<Path>) -> String {
    std::fs::read_to_string(path).unwrap()
}

fn ssh_public_key() -> String {
    read(vectors().join("ssh/id_ed25519.pub")).trim().to_string()
}

/// The ssh public key without its comment, as it is stored.
fn ssh_bare() -> String {
    ssh_public_key().split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

/// A clan-written `key.json` holding one PGP fingerprint.
fn write_pgp_user(flake: &Flake, user: &str) {
    let dir = flake.sops(&format!("users/{user}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("key.json"), format!("[\n  {{\n    \"publickey\": \"{FP}\",\n    \"type\": \"pgp\"\n  }}\n]")).unwrap();
}

/// `secrets` with its key file (`SOPS_AGE_KEY_FILE`) and config folder in `home`.
fn with_home(flake: &Flake, home: &Path) -> assert_cmd::Command {
    let mut cmd = flake.cmd();
    cmd.env("SOPS_AGE_KEY_FILE", home.join("age.key")).env("XDG_CONFIG_HOME", home.join("config"));
    cmd
}

/// `key show` parsed.
fn key_show(cmd: &mut assert_cmd::Command) -> Vec<serde_json::Value> {
    let out = cmd.args(["key", "show"]).assert().success().get_output().stdout.clone();
    serde_json::from_slice::<serde_json::Value>(&out).unwrap().as_array().unwrap().clone()
}

// ---------------------------------------------------------------------------------------------
// clan_cli/tests/test_secrets_cli.py (spec §10.1)

/// clan's `_test_identities(what)`.
fn identities(what: &str, singular: &str) {
    let flake = Flake::new();
    let secret = format!("{singular}_secret");
    let key_json = format!("{what}/foo/key.json");
    flake.commits(0, &[what, "add", "foo", K[0]], &format!("secrets: add {singular} foo"));
    assert_eq!(read(flake.sops(&key_json)), clan_key_json(&[K[0]]));
    flake.ok(0, &["users", "add", "admin", K[2]]);
    let dir = flake.sops_str(&format!("{what}/foo"));
    fails(flake.as_key(0).args([what, "add", "foo", K[0]]), 1, &format!("foo already exists in {dir}. Use --force to overwrite."));

    // The caller (admin, k2) is always a recipient besides foo.
    flake.set(2, &[&format!("--{singular}"), "foo", &secret], "deadfeed");
    assert_eq!(flake.recipients(&secret), keys(&[0, 2]));
    assert_eq!(flake.link_target(&format!("secrets/{secret}/{what}/foo")), Path::new(&format!("../../../{what}/foo")));

    // `-f` with a private key: its public key is stored and the secret re-keyed.
    flake.commits(2, &[what, "add", "-f", "foo", &private_key(1)], &format!("secrets: add {singular} foo"));
    assert_eq!(flake.recipients(&secret), keys(&[1, 2]));
    flake.sops_reads(&secret, 1, "deadfeed");
    flake.sops_cannot_read(&secret, 0);
    assert!(flake.ok(2, &[what, "get", "foo"]).contains(K[1]));
    assert!(flake.ok(2, &[what, "list"]).lines().any(|l| l == "foo"));

    flake.commits(2, &[what, "remove", "foo"], &format!("secrets: remove {singular} foo"));
    assert!(!flake.sops(&key_json).exists());
    fails(flake.as_key(2).args([what, "remove", "foo"]), 1, &format!("foo not found in {}", flake.sops_str(what)));
    assert!(!flake.ok(2, &[what, "list"]).lines().any(|l| l == "foo"));
    assert!(!flake.has_link(&format!("secrets/{secret}/{what}/foo")), "the link is gone, not even dangling");
    assert_eq!(flake.recipients(&secret), keys(&[2]));
}

#[test]
fn test_users() {
    identities("users", "user");
}

#[test]
fn test_machines() {
    identities("machines", "machine");
}

#[test]
fn test_multiple_user_keys() {
    let flake = Flake::new();
    let users: [(&str, &[usize]); 3] = [("bob", &[0, 1]), ("alice", &[2]), ("charlie", &[3, 4, 5])];
    for (user, ks) in users {
        let mut add = vec!["users".to_string(), "add".into(), user.into()];
        add.extend(ks.iter().map(|&i| format!("--age-key={}", K[i])));
        flake.cmd().args(&add).assert().success();
        let publickeys: Vec<&str> = ks.iter().map(|&i| K[i]).collect();
        assert_eq!(read(flake.sops(&format!("users/{user}/key.json"))), clan_key_json(&publickeys));
        let got = flake.ok(ks[0], &["users", "get", user]);
        assert!(ks.iter().all(|&i| got.contains(K[i])), "{got}");

        // Whichever of its keys the user holds, a new secret is for all of them.
        for &i in ks {
            let secret = format!("{user}_secret_{i}");
            flake.set(i, &[&secret], &format!("value {i}"));
            assert_eq!(flake.recipients(&secret), keys(ks));
            assert_eq!(flake.ok(i, &["get", &secret]), format!("value {i}"));
        }
        if let [removed, .., holder] = *ks {
            let last = format!("{user}_secret_{holder}");
            flake.commits(holder, &["users", "remove-key", user, K[removed]], &format!("secrets: remove key(s) for user {user}"));
            assert_eq!(flake.recipients(&last), keys(&ks[1..]));
            flake.sops_cannot_read(&last, removed);
            flake.commits(holder, &["users", "add-key", user, K[removed]], &format!("secrets: add key(s) for user {user}"));
            assert_eq!(flake.recipients(&last), keys(ks));
            flake.sops_reads(&last, removed, &format!("value {holder}"));
        }
    }
}

/// Skipped upstream (flaky on aarch64); it runs here.
#[test]
fn test_groups() {
    let flake = Flake::new();
    assert_eq!(flake.ok(2, &["groups", "list"]), "");
    fails(
        flake.as_key(2).args(["groups", "add-machine", "group1", "machine1"]),
        1,
        &format!("machine1 does not exist in {}", flake.sops_str("machines")),
    );
    fails(
        flake.as_key(2).args(["groups", "add-user", "group1", "user1"]),
        1,
        &format!("user1 does not exist in {}", flake.sops_str("users")),
    );
    assert!(!flake.sops("groups/group1").exists(), "a failed add creates no group");

    flake.ok(2, &["machines", "add", "machine1", K[0]]);
    flake.commits(2, &["groups", "add-machine", "group1", "machine1"], "secrets: add machine machine1 to group group1");
    flake.all(2, &[&["groups", "add-machine", "group1", "machine1"], &["users", "add", "user1", K[1]], &["users", "add", "admin", K[2]]]);
    flake.commits(2, &["groups", "add-user", "group1", "user1"], "secrets: add user user1 to group group1");
    assert_eq!(flake.ok(2, &["groups", "list"]), "group1\nmachines:\n  machine1\nusers:\n  user1\n\n");
    assert_eq!(flake.link_target("groups/group1/users/user1"), Path::new("../../../users/user1"));

    flake.set(2, &["--group", "group1", "foo"], "bar");
    assert_eq!(flake.recipients("foo"), keys(&[0, 1, 2]));
    assert_eq!(flake.link_target("secrets/foo/groups/group1"), Path::new("../../../groups/group1"));
    flake.ok(2, &["groups", "remove-user", "group1", "user1"]);
    assert_eq!(flake.recipients("foo"), keys(&[0, 2]));
    flake.ok(2, &["groups", "add-user", "group1", "user1"]);
    assert_eq!(flake.recipients("foo"), keys(&[0, 1, 2]));
    flake.ok(2, &["users", "remove", "user1"]);
    assert_eq!(flake.recipients("foo"), keys(&[0, 2]), "deleting a user removes it from its groups");
    // The group's last member: clan removes the group silently; we ask for --force.
    flake.commits(2, &["groups", "remove-machine", "--force", "group1", "machine1"], "secrets: remove machine machine1 from group group1");
    assert_eq!(flake.recipients("foo"), keys(&[2]));
    assert!(std::fs::read_dir(flake.sops("groups")).map_or(true, |d| d.count() == 0), "the empty group is gone");
    assert!(!flake.has_link("secrets/foo/groups/group1"));
    assert_eq!(flake.ok(2, &["groups", "list"]), "");
}

#[test]
fn test_secrets() {
    let flake = Flake::new();
    let home = tempfile::tempdir().unwrap();
    let me = || with_home(&flake, home.path());
    assert_eq!(stdout_of(me().arg("list").assert().success().get_output()), "");

    // A key is generated once, into SOPS_AGE_KEY_FILE.
    let err = stderr_of(me().args(["key", "generate"]).assert().success().get_output());
    let key_text = read(home.path().join("age.key"));
    assert_eq!(key_text.lines().filter(|l| l.starts_with("AGE-SECRET-KEY-1")).count(), 1);
    let shown = key_show(&mut me());
    let owner_key = shown[0]["publickey"].as_str().unwrap().to_string();
    assert!(owner_key.starts_with("age1") && key_text.contains(&format!("# public key: {owner_key}\n")));
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines[..4],
        [
            format!("Generated age private key at '{}' for your user.", home.path().join("age.key").display()),
            "Please back it up on a secure location or you will lose access to your secrets.".to_string(),
            format!("Generated new AGE key {owner_key}"),
            "Add your age public key to the repository with:".to_string(),
        ]
    );
    assert!(lines[4].starts_with("secrets users add ") && lines[4].ends_with(&format!(" --age-key {owner_key}")), "{err}");
    // A second run finds the key and generates nothing.
    me().args(["key", "generate"]).assert().success().stderr(contains(format!("AGE key {owner_key} is already set\n")));
    assert_eq!(read(home.path().join("age.key")), key_text);
    me().args(["users", "add", "testuser", &owner_key]).assert().success();

    fails(me().args(["get", "nonexisting"]), 1, &format!("Secret '{}' does not exist", flake.sops_str("secrets/nonexisting")));
    me().args(["set", "initialkey"]).env("SOPS_NIX_SECRET", "foo").assert().success();
    me().args(["get", "initialkey"]).assert().success().stdout("foo");
    me().args(["users", "list"]).assert().success().stdout("testuser\n");
    // An editor that changes nothing (clan's tests use `cat`) is a success, and the value stays.
    me().args(["set", "--edit", "initialkey"]).env("EDITOR", "cat").assert().success();
    me().args(["get", "initialkey"]).assert().success().stdout("foo");

    me().args(["rename", "initialkey", "key"]).assert().success();
    me().arg("list").assert().success().stdout("key\n");
    me().args(["list", "nonexisting"]).assert().success().stdout("");
    me().args(["list", "key"]).assert().success().stdout("key\n");

    me().args(["machines", "add", "machine1", K[1]]).assert().success();
    me().args(["machines", "add-secret", "machine1", "key"]).assert().success();
    me().args(["machines", "list"]).assert().success().stdout("machine1\n");
    flake.as_key(1).args(["get", "key"]).assert().success().stdout("foo");
    // Rotating the machine's key (given as a private key) re-keys its secrets.
    me().args(["machines", "add", "-f", "machine1", &private_key(0)]).assert().success();
    flake.as_key(0).args(["get", "key"]).assert().success().stdout("foo");
    flake.as_key(1).args(["get", "key"]).assert().code(1);
    me().args(["machines", "remove-secret", "machine1", "key"]).assert().success();

    me().args(["users", "add", "user1", K[1]]).assert().success();
    me().args(["users", "add-secret", "user1", "key"]).assert().success();
    flake.as_key(1).args(["get", "key"]).assert().success().stdout("foo");
    me().args(["users", "remove-secret", "user1", "key"]).assert().success();

    let groups = flake.sops_str("groups");
    fails(
        me().args(["groups", "add-secret", "admin-group", "key"]),
        1,
        &format!("Cannot encrypt key for 'admin-group'. 'admin-group' does not exist in {groups}"),
    );
    me().args(["groups", "add-user", "admin-group", "user1"]).assert().success();
    me().args(["groups", "add-user", "admin-group", "testuser"]).assert().success();
    me().args(["groups", "add-secret", "admin-group", "key"]).assert().success();
    me().args(["set", "--group", "admin-group", "key2"]).env("SOPS_NIX_SECRET", "foo").assert().success();
    flake.as_key(1).args(["get", "key"]).assert().success().stdout("foo");
    flake.sops_reads("key2", 1, "foo");

    // Steps 16–17: a PGP member. Its secrets are encrypted to its fingerprint through gpg (the
    // admin's keyring holds its public key), it reads them through gpg, and leaving the group
    // takes the access away.
    if peer("gpg").is_some() {
        let gpg_dir = tempfile::Builder::new().prefix("pgp").tempdir_in("/tmp").unwrap();
        let user2 = GpgKeyring::new(gpg_dir.path(), "u2");
        let fp = user2.fingerprint.as_str();
        me().args(["users", "add", "--pgp-key", fp, "user2"]).assert().success();
        assert_eq!(
            read(flake.sops("users/user2/key.json")),
            format!("[\n  {{\n    \"publickey\": \"{fp}\",\n    \"type\": \"pgp\"\n  }}\n]")
        );
        me().env("GNUPGHOME", &user2.home).args(["groups", "add-user", "admin-group", "user2"]).assert().success();
        flake.cmd().env("GNUPGHOME", &user2.home).args(["get", "key"]).assert().success().stdout("foo");
        if let Some(read_by_sops) = flake.sops_decrypt("key2", ("GNUPGHOME", &user2.home)) {
            assert_eq!(read_by_sops, Ok(b"foo".to_vec()), "the real sops reads it as the PGP user");
        }
        me().env("GNUPGHOME", &user2.home).args(["groups", "remove-user", "admin-group", "user2"]).assert().success();
        flake.cmd().env("GNUPGHOME", &user2.home).args(["get", "key"]).assert().code(1);
    }
    // Leaving the group takes the access away (as step 17 does for the PGP member).
    me().args(["groups", "remove-user", "admin-group", "user1"]).assert().success();
    // Diverges on purpose: the report lists the file's recipients and every key source tried.
    let err = stderr_of(flake.as_key(1).args(["get", "key"]).assert().code(1).get_output());
    assert!(
        err.starts_with(&format!(
            "error: {}: cannot decrypt the data key: no identity at hand opens it.\n",
            flake.sops_str("secrets/key/secret")
        )),
        "{err}"
    );
    no_panic(&err);
    flake.sops_cannot_read("key", 1);

    me().args(["groups", "remove-secret", "admin-group", "key"]).assert().success();
    me().args(["remove", "key"]).assert().success();
    me().args(["remove", "key2"]).assert().success();
    me().arg("list").assert().success().stdout("");
    assert_eq!(flake.uncommitted(), "");
}

#[test]
fn test_secrets_key_generate_gpg() {
    let flake = Flake::new();
    let home = tempfile::tempdir().unwrap();
    let me = || {
        let mut cmd = flake.cmd();
        cmd.env("SOPS_PGP_FP", FP).env("XDG_CONFIG_HOME", home.path());
        cmd
    };
    // As clan: the PGP key of SOPS_PGP_FP is the admin's key, so nothing is generated.
    me().args(["key", "generate"])
        .assert()
        .success()
        .stderr(contains(format!("PGP key {FP} is already set")))
        .stderr(contains(format!("secrets users add <username> --pgp-key {FP}")).or(contains("--pgp-key")))
        .stderr(contains("Generated").not());
    assert!(!home.path().join("sops/age/keys.txt").exists(), "no age key was generated");
    let shown = key_show(&mut me());
    assert_eq!((shown.len(), shown[0]["type"].as_str(), shown[0]["publickey"].as_str()), (1, Some("pgp"), Some(FP)));

    // A PGP user written by clan is read as clan reads it.
    write_pgp_user(&flake, "clanuser");
    let got: serde_json::Value =
        serde_json::from_str(&stdout_of(me().args(["users", "get", "clanuser"]).assert().success().get_output())).unwrap();
    assert_eq!(got, serde_json::json!([{"publickey": FP, "source": "key_file", "type": "pgp", "username": "clanuser"}]));
    std::fs::remove_dir_all(flake.sops("users/clanuser")).unwrap();

    // The PGP key makes its owner the caller; a key gpg does not know stops the change and
    // names the key; nothing is left behind.
    me().args(["users", "add", "--pgp-key", FP, "testuser"]).assert().success();
    fails(
        me().args(["set", "secret-name"]).env("SOPS_NIX_SECRET", "secret-value"),
        1,
        &format!("could not encrypt the data key with PGP key {FP}"),
    );
    assert!(!flake.sops("secrets/secret-name").exists(), "nothing is left behind");
    me().args(["users", "remove", "testuser"]).assert().success();

    // With a real key (clan's test sets SOPS_PGP_FP to it), the PGP user sets and reads through
    // gpg, like the real sops.
    if peer("gpg").is_some() {
        let gpg_dir = tempfile::Builder::new().prefix("pgp").tempdir_in("/tmp").unwrap();
        let user = GpgKeyring::new(gpg_dir.path(), "tu");
        let as_user = || {
            let mut cmd = me();
            cmd.env("SOPS_PGP_FP", &user.fingerprint).env("GNUPGHOME", &user.home);
            cmd
        };
        as_user().args(["users", "add", "--pgp-key", &user.fingerprint, "testuser"]).assert().success();
        let got: serde_json::Value =
            serde_json::from_str(&stdout_of(as_user().args(["users", "get", "testuser"]).assert().success().get_output())).unwrap();
        assert_eq!(got[0]["type"], "pgp");
        as_user().args(["set", "secret-name"]).env("SOPS_NIX_SECRET", "secret-value").assert().success();
        as_user().args(["get", "secret-name"]).assert().success().stdout("secret-value");
        if let Some(read_by_sops) = flake.sops_decrypt("secret-name", ("GNUPGHOME", &user.home)) {
            assert_eq!(read_by_sops, Ok(b"secret-value".to_vec()));
        }
    }
}

#[test]
fn test_secrets_users_add_age_plugin_error() {
    let flake = Flake::new();
    let plugin = "AGE-PLUGIN-YUBIKEY-18P5XCQVZ5FE4WKCW3NJWP";
    let err = fails(flake.cmd().args(["users", "add", "testuser", plugin]), 2, "AGE-PLUGIN keys cannot be used directly");
    assert!(
        err.contains("plugin identifiers, not recipient keys") && err.contains("corresponding age1 public key instead. Got: '"),
        "{err}"
    );
    // Diverges on purpose: identities are never echoed, so the key text is masked.
    assert!(!err.contains(plugin), "{err}");
    assert!(!flake.sops("users/testuser").exists());
}

#[test]
fn test_secrets_key_generate_new_appends() {
    let flake = Flake::new();
    let home = tempfile::tempdir().unwrap();
    std::fs::copy(key_file(0), home.path().join("age.key")).unwrap();
    // Diverges on purpose: a key file others can read is refused (clan appends to it as it is).
    std::fs::set_permissions(home.path().join("age.key"), std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    with_home(&flake, home.path()).args(["key", "generate", "--new"]).assert().success().stderr(contains("Generated new AGE key age1"));
    let text = read(home.path().join("age.key"));
    assert!(text.starts_with(&read(key_file(0))), "k0 is kept as it was: {text}");
    assert!(text.contains(&format!("# public key: {}", K[0])) && text.contains(&private_key(0)));
    let shown: Vec<String> =
        key_show(&mut with_home(&flake, home.path())).iter().map(|k| k["publickey"].as_str().unwrap().to_string()).collect();
    assert_eq!(shown.len(), 2);
    assert!(shown.contains(&K[0].to_string()) && shown[0] != shown[1], "{shown:?}");
}

#[test]
fn test_secrets_key_generate_reports_registered_user() {
    let flake = Flake::new();
    flake.ok(0, &["users", "add", "alice", K[0]]);
    flake
        .as_key(0)
        .args(["key", "generate"])
        .assert()
        .success()
        .stderr(format!("AGE key {} is already set and registered as user 'alice'\n", K[0]))
        .stderr(contains("secrets users add").not());
}

/// Not registered: the key is named with the two lines that tell how to register it.
#[test]
fn key_generate_tells_how_to_register_an_unknown_key() {
    let flake = Flake::new();
    let err = stderr_of(flake.as_key(3).args(["key", "generate"]).assert().success().get_output());
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines[..2], [format!("AGE key {} is already set", K[3]), "Add your age public key to the repository with:".to_string()]);
    assert!(lines[2].starts_with("secrets users add ") && lines[2].ends_with(&format!(" --age-key {}", K[3])), "{err}");
}

// ---------------------------------------------------------------------------------------------
// test_import_sops_cli.py (spec §10.2) and spec §10.3

#[test]
fn test_import_sops() {
    let flake = Flake::new();
    flake.all(
        1,
        &[
            &["machines", "add", "machine1", K[0]],
            &["users", "add", "user1", K[1]],
            &["users", "add", "user2", K[2]],
            &["groups", "add-user", "group1", "user1"],
            &["groups", "add-user", "group1", "user2"],
        ],
    );
    let file = clan_keys().join("secrets.yaml");
    let out = flake.as_key(1).args(["import-sops", "--group", "group1", "--machine", "machine1"]).arg(&file).assert().success();
    no_panic(&stderr_of(out.get_output()));
    assert_eq!(flake.ok(1, &["users", "list"]), "user1\nuser2\n");
    assert_eq!(flake.ok(1, &["get", "secret-key"]), "secret-value");
    assert_eq!(flake.recipients("secret-key"), keys(&[0, 1, 2]));
    flake.sops_reads("secret-key", 0, "secret-value");
    // Diverges on purpose: nested keys are imported under their joined name (clan skips them),
    // and the import is one commit.
    assert_eq!(flake.ok(2, &["get", "nested.secret-key"]), "nested-value");
    assert_eq!(flake.last_commit(), "secrets: import 2 secrets from secrets.yaml");
    assert_eq!(flake.uncommitted(), "");
}

#[test]
fn test_groups_add_secret_commits_changes() {
    let flake = Flake::new();
    flake.ok(0, &["users", "add", "admin", K[0]]);
    flake.ok(0, &["users", "add", "user2", K[1]]);
    flake.set(0, &["s"], "v");
    flake.ok(0, &["groups", "add-user", "my_group", "user2"]);
    flake.commits(0, &["groups", "add-secret", "my_group", "s"], "secrets: add group my_group to secret s");
    flake.sops_reads("s", 1, "v");
}

/// The secrets part of `test_machines_cli.py::test_machine_delete`.
#[test]
fn machines_remove_re_keys_a_secret_shared_with_another_machine() {
    let flake = Flake::new();
    flake.all(0, &[&["users", "add", "admin", K[0]], &["machines", "add", "my-machine", K[1]], &["machines", "add", "my-machine2", K[2]]]);
    flake.set(0, &["--machine=my-machine", "--machine=my-machine2", "shared_secret"], "secret_value");
    assert_eq!(flake.recipients("shared_secret"), keys(&[0, 1, 2]));
    let err = stderr_of(flake.as_key(0).args(["machines", "remove", "my-machine"]).assert().success().get_output());
    // Removal rotates the data key and names the secret the machine could read.
    assert!(err.contains("my-machine (machine) lost access to shared_secret; change their values"), "{err}");
    assert!(!flake.sops("machines/my-machine").exists());
    assert_eq!(flake.recipients("shared_secret"), keys(&[0, 2]));
    flake.sops_reads("shared_secret", 2, "secret_value");
    flake.sops_cannot_read("shared_secret", 1);
}

// ---------------------------------------------------------------------------------------------
// Spec §10.4: values, ssh machines, removals

#[test]
fn values_round_trip_byte_exactly() {
    let flake = Flake::new();
    flake.ok(0, &["users", "add", "admin", K[0]]);
    let binary: Vec<u8> = vec![0x00, 0x9f, 0x92, 0x96, 0xff, b'\n', 0xc3, 0x28, b'\r', b'\n'];
    let values: [(&str, Vec<u8>); 3] = [("empty", Vec::new()), ("multi-line", b"line one\nline two\n\n".to_vec()), ("binary", binary)];
    for (name, value) in &values {
        // An empty value from a pipe is refused unless asked for (an unset variable piped in).
        let allow: &[&str] = if value.is_empty() { &["--allow-empty"] } else { &[] };
        flake.as_key(0).args(["set", name]).args(allow).write_stdin(value.clone()).assert().success();
        assert_eq!(&flake.as_key(0).args(["get", name]).assert().success().get_output().stdout, value, "{name}");
        if let Some(read) = flake.sops_decrypt(name, ("SOPS_AGE_KEY_FILE", &key_file(0))) {
            assert_eq!(&read.unwrap(), value, "sops reads {name} the same");
        }
    }
    let file: serde_json::Value = serde_json::from_slice(&std::fs::read(flake.sops("secrets/empty/secret")).unwrap()).unwrap();
    assert_eq!(file["data"], "", "an empty value is stored as sops does");
    // SOPS_NIX_SECRET wins over stdin, and keeps its trailing newline.
    flake.as_key(0).args(["set", "from-env"]).env("SOPS_NIX_SECRET", "a\nb\n").write_stdin("ignored").assert().success();
    flake.as_key(0).args(["get", "from-env"]).assert().success().stdout("a\nb\n");
}

#[test]
fn an_ssh_key_machine_is_stored_verbatim_and_decrypts_with_its_ssh_key() {
    let flake = Flake::new();
    flake.ok(0, &["users", "add", "admin", K[0]]);
    flake
        .as_key(0)
        .args(["machines", "add", "web1", &ssh_public_key()])
        .assert()
        .success()
        .stderr(contains("warning: machine `web1` has a raw ssh key; sops-nix cannot decrypt for it"));
    assert_eq!(read(flake.sops("machines/web1/key.json")), clan_key_json(&[&ssh_bare()]), "stored without its comment");
    assert_eq!(flake.ok(0, &["machines", "get", "web1"]), format!("{}\n", ssh_bare()));
    flake.set(0, &["--machine", "web1", "host-secret"], "for web1");
    assert_eq!(flake.recipients("host-secret"), [K[0].to_string(), ssh_bare()].into_iter().collect());
    let ssh_key = vectors().join("ssh/id_ed25519");
    flake.cmd().args(["get", "host-secret"]).env("SOPS_AGE_SSH_PRIVATE_KEY_FILE", &ssh_key).assert().success().stdout("for web1");
    if let Some(read) = flake.sops_decrypt("host-secret", ("SOPS_AGE_SSH_PRIVATE_KEY_FILE", &ssh_key)) {
        assert_eq!(read.unwrap(), b"for web1");
    }
}

#[test]
fn users_remove_leaves_groups_and_secrets_and_rotates_their_keys() {
    let flake = Flake::new();
    flake.all(
        0,
        &[
            &["users", "add", "admin", K[0]],
            &["users", "add", "bob", K[1]],
            &["groups", "add-user", "ops", "bob"],
            &["groups", "add-user", "devs", "bob"],
            &["groups", "add-user", "devs", "admin"],
        ],
    );
    flake.set(0, &["--user", "bob", "direct"], "d");
    flake.set(0, &["--group", "ops", "via-ops"], "o");
    flake.set(0, &["--group", "devs", "via-devs"], "v");
    flake.set(0, &["untouched"], "u");
    let before = std::fs::read(flake.sops("secrets/untouched/secret")).unwrap();

    let out = flake.as_key(0).args(["users", "remove", "bob"]).assert().success();
    let err = stderr_of(out.get_output());
    assert!(err.contains("bob (user) lost access to direct, via-devs, via-ops; change their values"), "{err}");
    for secret in ["direct", "via-devs", "via-ops"] {
        assert_eq!(flake.recipients(secret), keys(&[0]));
        flake.sops_cannot_read(secret, 1);
    }
    assert!(err.contains("Re-encrypted 3 secrets"), "{err}");
    assert_eq!(std::fs::read(flake.sops("secrets/untouched/secret")).unwrap(), before, "a secret bob never had is not touched");
    assert!(!flake.sops("users/bob").exists() && !flake.has_link("secrets/direct/users/bob"));
    assert!(!flake.sops("groups/ops").exists(), "a group left empty is removed");
    assert!(!flake.has_link("secrets/via-ops/groups/ops"), "and so is the link to it");
    assert_eq!(flake.ok(0, &["groups", "list"]), "devs\nusers:\n  admin\n\n");
    assert_eq!(flake.last_commit(), "secrets: remove user bob");
    assert_eq!(flake.uncommitted(), "");
}

/// admin (k0), machines web1 (k1) and web2 (k2) in group `servers`, which reads `tls`.
fn servers_with_tls() -> Flake {
    let flake = Flake::new();
    flake.all(
        0,
        &[
            &["users", "add", "admin", K[0]],
            &["machines", "add", "web1", K[1]],
            &["machines", "add", "web2", K[2]],
            &["groups", "add-machine", "servers", "web1"],
            &["groups", "add-machine", "servers", "web2"],
        ],
    );
    flake.set(0, &["--group", "servers", "tls"], "t");
    flake
}

/// Diverges on purpose: clan leaves the group link dangling (and `groups list` shows it).
#[test]
fn machines_remove_leaves_no_dangling_group_link() {
    let flake = servers_with_tls();
    flake.ok(0, &["machines", "remove", "web1"]);
    assert!(!flake.has_link("groups/servers/machines/web1"));
    assert_eq!(flake.ok(0, &["groups", "list"]), "servers\nmachines:\n  web2\n\n");
    assert_eq!(flake.recipients("tls"), keys(&[0, 2]));
    assert_eq!(flake.uncommitted(), "");
}

/// What the real `clan secrets machines remove NAME` does (clan_cli/secrets/machines.py
/// `remove_machine`): the machine's folder goes; every secret is cleared of dangling links
/// and re-encrypted by `sops updatekeys` for the recipients its links still name; the group
/// links to the machine stay, dangling. `readers` maps each secret to those recipients.
fn clan_machines_remove(flake: &Flake, name: &str, readers: &[(&str, &[usize])]) {
    std::fs::remove_dir_all(flake.sops(&format!("machines/{name}"))).unwrap();
    let config_dir = tempfile::tempdir().unwrap();
    for (secret, keys) in readers {
        let config = config_dir.path().join(".sops.yaml");
        let recipients: Vec<&str> = keys.iter().map(|&i| K[i]).collect();
        std::fs::write(&config, format!("creation_rules:\n  - path_regex: .*\n    age: {}\n", recipients.join(","))).unwrap();
        let file = format!("sops/secrets/{secret}/secret");
        let out = sops(
            &["--config", config.to_str().unwrap(), "updatekeys", "-y", "--input-type", "binary", &file],
            &[("SOPS_AGE_KEY_FILE", &key_file(0))],
            flake.path(),
        );
        assert!(out.status.success(), "sops updatekeys: {}", stderr_of(&out));
    }
    flake.git(&["add", "-A", "sops"]);
    flake.git(&["commit", "-q", "-m", &format!("secrets: remove machine {name}")]);
}

/// clan's `machines remove` leaves `groups/<g>/machines/<m>` dangling: `check` reports it,
/// `check --fix` removes it (and nothing else changes), and the repository checks clean.
#[test]
fn check_fix_removes_the_group_link_clan_machines_remove_leaves() {
    if sops_bin().is_none() {
        return;
    }
    let flake = servers_with_tls();
    clan_machines_remove(&flake, "web1", &[("tls", &[0, 2])]);
    assert!(flake.has_link("groups/servers/machines/web1"), "clan leaves it");
    let before = std::fs::read(flake.sops("secrets/tls/secret")).unwrap();

    let out = flake.cmd().arg("check").assert().code(1);
    let text = stdout_of(out.get_output());
    assert!(text.contains("error[dangling-link]: sops/groups/servers/machines/web1: points at machine `web1`, which does not exist; `secrets check --fix` removes it"), "{text}");
    assert!(text.contains("hint: `secrets check --fix` removes 1 dangling group link\n"), "{text}");

    // No key is needed: the link grants nothing, so no secret is re-keyed.
    let out = flake.cmd().args(["check", "--fix"]).assert().success();
    assert_eq!(stdout_of(out.get_output()), "", "nothing left to report");
    assert!(!flake.has_link("groups/servers/machines/web1"));
    assert_eq!(std::fs::read(flake.sops("secrets/tls/secret")).unwrap(), before, "no secret changes");
    assert_eq!(flake.last_commit(), "secrets: remove dangling links");
    assert_eq!(flake.uncommitted(), "");
    assert_eq!(flake.ok(0, &["groups", "list"]), "servers\nmachines:\n  web2\n\n");
    flake.cmd().arg("check").assert().success().stdout("");
}

/// A group whose only member clan removed: `check --fix` removes the group and the secrets'
/// links to it (git keeps no empty folder); the secret's recipients do not change, so no key
/// is needed.
#[test]
fn check_fix_removes_a_group_clan_left_without_members() {
    if sops_bin().is_none() {
        return;
    }
    let flake = Flake::new();
    flake.all(0, &[&["users", "add", "admin", K[0]], &["machines", "add", "web1", K[1]], &["groups", "add-machine", "servers", "web1"]]);
    flake.set(0, &["--user", "admin", "--group", "servers", "tls"], "t");
    clan_machines_remove(&flake, "web1", &[("tls", &[0])]);

    let out = flake.cmd().args(["check", "--fix"]).assert().success();
    assert_eq!(stdout_of(out.get_output()), "");
    assert!(!flake.sops("groups/servers").exists(), "the emptied group is gone");
    assert!(!flake.has_link("secrets/tls/groups/servers"), "and so is the link to it");
    assert_eq!(flake.recipients("tls"), keys(&[0]));
    flake.sops_reads("tls", 0, "t");
    assert_eq!(flake.uncommitted(), "");
    flake.cmd().arg("check").assert().success().stdout("");
}

// ---------------------------------------------------------------------------------------------
// Every command and flag

#[test]
fn every_mutating_command_commits_with_clan_subjects() {
    let flake = Flake::new();
    let c = |args: &[&str], subject: &str| flake.commits(0, args, subject);
    c(&["users", "add", "admin", K[0]], "secrets: add user admin");
    c(&["users", "add", "bob", K[1]], "secrets: add user bob");
    c(&["users", "add-key", "bob", K[2]], "secrets: add key(s) for user bob");
    c(&["users", "remove-key", "bob", K[2]], "secrets: remove key(s) for user bob");
    c(&["machines", "add", "web1", K[3]], "secrets: add machine web1");
    c(&["machines", "add-key", "web1", K[4]], "secrets: add key(s) for machine web1");
    c(&["machines", "remove-key", "web1", K[4]], "secrets: remove key(s) for machine web1");
    flake.set(0, &["db"], "v");
    assert_eq!(flake.last_commit(), "secrets: update db");
    c(&["users", "add-secret", "bob", "db"], "secrets: add user bob to db");
    c(&["users", "remove-secret", "bob", "db"], "secrets: remove user bob from db");
    c(&["machines", "add-secret", "web1", "db"], "vars: add web1 to secret sops/secrets/db");
    c(&["machines", "remove-secret", "web1", "db"], "vars: remove web1 from secret db");
    c(&["groups", "add-user", "ops", "bob"], "secrets: add user bob to group ops");
    c(&["groups", "add-machine", "ops", "web1"], "secrets: add machine web1 to group ops");
    c(&["groups", "add-secret", "ops", "db"], "secrets: add group ops to secret db");
    c(&["groups", "remove-machine", "ops", "web1"], "secrets: remove machine web1 from group ops");
    c(&["groups", "remove-secret", "ops", "db"], "secrets: remove group ops from secret db");
    c(&["groups", "remove-user", "ops", "bob"], "secrets: remove user bob from group ops");
    c(&["rename", "db", "database"], "secrets: rename db to database");
    // A link added by hand is honoured by `key update`.
    std::fs::create_dir_all(flake.sops("secrets/database/users")).unwrap();
    std::os::unix::fs::symlink("../../../users/bob", flake.sops("secrets/database/users/bob")).unwrap();
    flake.ok(0, &["key", "update"]);
    assert_eq!(flake.last_commit(), "secrets: update with new keys");
    assert_eq!(flake.recipients("database"), keys(&[0, 1]));
    assert_eq!(flake.uncommitted(), "?? sops/secrets/database/users/bob\n", "as in clan, only the re-keyed files are committed");
    c(&["remove", "database"], "secrets: remove database");
    c(&["machines", "remove", "web1"], "secrets: remove machine web1");
    c(&["users", "remove", "bob"], "secrets: remove user bob");
    // Nothing to change, nothing to commit.
    let head = flake.git(&["rev-parse", "HEAD"]);
    flake.ok(0, &["key", "update"]);
    assert_eq!(flake.git(&["rev-parse", "HEAD"]), head);
}

#[test]
fn key_arguments_take_every_form_clan_takes() {
    let flake = Flake::new();
    let k = |i: usize| key_file(i).display().to_string();
    let json = |what: &str| read(flake.sops(&format!("{what}/key.json")));
    flake.cmd().args(["users", "add", "public", K[0]]).assert().success();
    flake.cmd().args(["users", "add", "private", &private_key(1)]).assert().success();
    flake.cmd().args(["users", "add", "from-file", &k(2)]).assert().success();
    flake.cmd().args(["users", "add", "options", "--age-key", K[3], "--age-key", &k(4)]).assert().success();
    // An ssh public key is stored verbatim, without its comment; only machines are warned.
    flake.cmd().args(["users", "add", "ssh", &ssh_public_key()]).assert().success().stderr(contains("warning").not());
    let pub_file = vectors().join("ssh/id_ed25519.pub");
    flake.cmd().arg("machines").arg("add").arg("ssh-file").arg(&pub_file).assert().success().stderr(contains("raw ssh key"));
    assert_eq!(json("users/public"), clan_key_json(&[K[0]]));
    assert_eq!(json("users/private"), clan_key_json(&[K[1]]));
    assert_eq!(json("users/from-file"), clan_key_json(&[K[2]]));
    assert_eq!(json("users/options"), clan_key_json(&[K[3], K[4]]));
    assert_eq!(json("users/ssh"), clan_key_json(&[&ssh_bare()]));
    assert_eq!(json("machines/ssh-file"), clan_key_json(&[&ssh_bare()]));
    flake.cmd().args(["users", "add", "--force", "private", "--age-key", K[5], "--age-key", K[4]]).assert().success();
    assert_eq!(json("users/private"), clan_key_json(&[K[4], K[5]]), "--force replaces the keys");

    // --ssh-to-age: the age form of the ssh key, from stdin (ssh-keyscan output) or as given.
    let keyscan = format!("# web1:22 SSH-2.0-OpenSSH\nweb1 {}\n", ssh_public_key());
    flake.cmd().args(["machines", "add", "web1", "--ssh-to-age"]).write_stdin(keyscan).assert().success().stderr(contains("warning").not());
    assert_eq!(json("machines/web1"), clan_key_json(&[SSH_AS_AGE]));
    flake.cmd().args(["machines", "add", "web2", "--ssh-to-age", &ssh_public_key()]).assert().success();
    assert_eq!(json("machines/web2"), clan_key_json(&[SSH_AS_AGE]));
    flake.cmd().args(["users", "add-key", "public", "--ssh-to-age", &ssh_public_key()]).assert().success();
    assert_eq!(json("users/public"), clan_key_json(&[K[0], SSH_AS_AGE]));
    fails(
        flake.cmd().args(["machines", "add", "web3", "--ssh-to-age"]).write_stdin("nothing here\n"),
        2,
        "no ssh-ed25519 public key on standard input",
    );
}

#[test]
fn machines_hold_one_key_and_add_key_makes_a_second() {
    let flake = Flake::new();
    flake.cmd().args(["machines", "add", "web1", K[1]]).assert().success();
    flake.cmd().args(["machines", "get", "web1"]).assert().success().stdout(format!("{}\n", K[1]));
    fails(
        flake.cmd().args(["machines", "add", "web2", "--age-key", K[1], "--age-key", K[2]]),
        2,
        "a machine has exactly one key; 2 were given",
    );
    flake.cmd().args(["machines", "add-key", "web1", K[2]]).assert().success();
    fails(flake.cmd().args(["machines", "get", "web1"]), 1, "Expected exactly one key but 2 were found");
    let got: serde_json::Value =
        serde_json::from_str(&stdout_of(flake.cmd().args(["--json", "machines", "get", "web1"]).assert().success().get_output())).unwrap();
    let expected = [K[1], K[2]].map(|k| serde_json::json!({"publickey": k, "source": "key_file", "type": "age", "username": "web1"}));
    assert_eq!(got, serde_json::json!(expected));
    flake.cmd().args(["machines", "remove-key", "web1", K[1]]).assert().success();
    flake.cmd().args(["machines", "get", "web1"]).assert().success().stdout(format!("{}\n", K[2]));
}

#[test]
fn set_links_every_member_given_and_edits_with_the_editor() {
    let flake = Flake::new();
    flake.all(
        0,
        &[
            &["users", "add", "admin", K[0]],
            &["users", "add", "u1", K[1]],
            &["users", "add", "u2", K[2]],
            &["machines", "add", "m1", K[3]],
            &["machines", "add", "m2", K[4]],
            &["groups", "add-user", "g1", "admin"],
            &["users", "add", "gu", K[5]],
            &["groups", "add-user", "g2", "gu"],
        ],
    );
    let args = ["--user", "u1", "--user=u2", "--machine", "m1", "--machine=m2", "--group", "g1", "--group=g2", "all"];
    flake.set(0, &args, "v");
    assert_eq!(flake.recipients("all"), keys(&[0, 1, 2, 3, 4, 5]));
    for link in ["users/u1", "users/u2", "users/admin", "machines/m1", "machines/m2", "groups/g1", "groups/g2"] {
        let (kind, name) = link.split_once('/').unwrap();
        assert_eq!(flake.link_target(&format!("secrets/all/{link}")), Path::new(&format!("../../../{kind}/{name}")));
    }
    // Setting again keeps the members; the caller is always linked, even through a group.
    flake.set(0, &["all"], "w");
    assert_eq!(flake.recipients("all"), keys(&[0, 1, 2, 3, 4, 5]));

    // -e/--edit: the editor gets the current value (nothing for a new secret) and its result is set.
    let editor = flake.path().join("editor.sh");
    std::fs::write(&editor, "#!/bin/sh\nprintf '[%s]' \"$(cat \"$1\")\" > \"$1\"\n").unwrap();
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    flake.as_key(0).args(["set", "-e", "--user", "u1", "edited"]).env("EDITOR", &editor).assert().success();
    flake.as_key(0).args(["get", "edited"]).assert().success().stdout("[]");
    assert_eq!(flake.recipients("edited"), keys(&[0, 1]));
    flake.as_key(0).args(["set", "--edit", "edited"]).env("EDITOR", &editor).assert().success();
    flake.as_key(0).args(["get", "edited"]).assert().success().stdout("[[]]");
    assert_eq!(flake.last_commit(), "secrets: update edited");
}

#[test]
fn list_matches_substrings_in_code_point_order() {
    let flake = Flake::new();
    flake.ok(0, &["users", "add", "admin", K[0]]);
    for name in ["db-password", "db.user", "api-token", "Zeta", "alpha"] {
        flake.set(0, &[name], "v");
    }
    // Folders that are not secrets are not listed.
    std::fs::create_dir_all(flake.sops("secrets/no-secret-file/users")).unwrap();
    assert_eq!(flake.ok(0, &["list"]), "Zeta\nalpha\napi-token\ndb-password\ndb.user\n");
    assert_eq!(flake.ok(0, &["list", "db"]), "db-password\ndb.user\n");
    assert_eq!(flake.ok(0, &["list", "."]), "db.user\n", "a substring, not a regex");
    assert_eq!(flake.ok(0, &["list", "-"]), "api-token\ndb-password\n");
    assert_eq!(flake.ok(0, &["list", "nothing"]), "");
    let long = flake.ok(0, &["list", "--long", "db"]);
    assert!(long.starts_with("NAME ") && long.contains("db-password ") && !long.contains("alpha"), "{long}");
}

#[test]
fn import_sops_takes_every_flag() {
    let flake = Flake::new();
    flake.all(
        1,
        &[
            &["users", "add", "admin", K[1]],
            &["users", "add", "u", K[2]],
            &["machines", "add", "m", K[3]],
            &["groups", "add-user", "g", "u"],
        ],
    );
    let yaml = clan_keys().join("secrets.yaml");
    flake
        .as_key(1)
        .args(["import-sops", "--prefix", "p-", "--user", "u", "--machine", "m"])
        .arg(&yaml)
        .assert()
        .success()
        .stderr(contains(format!("Imported 2 secrets from {}", yaml.display())));
    assert_eq!(flake.ok(1, &["list"]), "p-nested.secret-key\np-secret-key\n");
    assert_eq!(flake.recipients("p-secret-key"), keys(&[1, 2, 3]));

    // From stdin, with its type given; existing secrets are skipped unless --force.
    let stdin = read(&yaml);
    flake
        .as_key(1)
        .args(["import-sops", "--prefix", "p-", "--input-type", "yaml", "-"])
        .write_stdin(stdin.clone())
        .assert()
        .success()
        .stderr(contains("warning: p-secret-key already exists, skipping (use --force to overwrite)"));
    flake.as_key(1).args(["import-sops", "--prefix", "p-", "--group", "g", "--force", "-"]).write_stdin(stdin).assert().success();
    assert!(flake.has_link("secrets/p-secret-key/groups/g"));

    // Diverges on purpose: other sops formats are imported too (clan ignores anything but .yaml).
    let plain = flake.path().join("plain.json");
    std::fs::write(&plain, "{\"token\": \"t0k\", \"port\": 8080, \"nested\": {\"deep\": \"d\"}}").unwrap();
    let encrypted = flake.cmd().args(["sops", "encrypt", "--age", K[1]]).arg(&plain).assert().success().get_output().stdout.clone();
    let json_file = flake.path().join("creds.txt");
    std::fs::write(&json_file, encrypted).unwrap();
    flake
        .as_key(1)
        .args(["import-sops", "--input-type", "json"])
        .arg(&json_file)
        .assert()
        .success()
        .stderr(contains("warning: port is not a string, skipping"));
    assert_eq!(flake.ok(1, &["get", "token"]), "t0k");
    assert_eq!(flake.ok(1, &["get", "nested.deep"]), "d");
    assert_eq!(flake.last_commit(), "secrets: import 2 secrets from creds.txt");
    assert_eq!(flake.uncommitted(), "");
}

#[test]
fn the_repository_is_found_like_clan_finds_its_flake() {
    let flake = Flake::new();
    let sub = flake.path().join("machines/web1/deep");
    std::fs::create_dir_all(&sub).unwrap();
    let mut from_sub = secrets();
    from_sub.current_dir(&sub).args(["users", "add", "admin", K[0]]).assert().success();
    assert!(flake.sops("users/admin/key.json").is_file(), "found by walking up");

    let elsewhere = tempfile::tempdir().unwrap();
    let outside = || {
        let mut cmd = secrets();
        cmd.current_dir(elsewhere.path());
        cmd
    };
    outside().arg("--repo").arg(flake.path()).args(["users", "list"]).assert().success().stdout("admin\n");
    outside().arg("--flake").arg(flake.path()).args(["users", "list"]).assert().success().stdout("admin\n");
    outside().args(["users", "list", "--flake"]).arg(flake.path()).assert().success().stdout("admin\n");
    outside().env("SECRETS_REPO", flake.path()).args(["users", "list"]).assert().success().stdout("admin\n");
    fails(outside().args(["--repo", "no/such/dir", "users", "list"]), 1, "no/such/dir: no such directory");
    let has_marker =
        elsewhere.path().ancestors().any(|d| [".clan-flake", ".git", ".hg", ".svn", "flake.nix"].iter().any(|m| d.join(m).exists()));
    if !has_marker {
        fails(outside().args(["users", "list"]), 1, "no repository found in the current directory or its parents");
    }
    // `.clan-flake` is tried before `.git`, all the way up.
    std::fs::write(sub.join(".clan-flake"), "").unwrap();
    secrets().current_dir(&sub).args(["users", "list"]).assert().success().stdout("");
}

#[test]
fn no_commit_flag_and_clan_no_commit_leave_changes_uncommitted() {
    let flake = Flake::new();
    flake.ok(0, &["users", "add", "admin", K[0]]);
    flake.as_key(0).args(["--no-commit", "users", "add", "bob", K[1]]).assert().success();
    assert_eq!(flake.last_commit(), "secrets: add user admin");
    // New files are marked intent-to-add, as clan marks them (a flake sees them), nothing staged.
    assert_eq!(flake.uncommitted(), " A sops/users/bob/key.json\n");
    flake.as_key(0).args(["set", "s", "--no-commit"]).env("SOPS_NIX_SECRET", "v").assert().success();
    flake.as_key(0).args(["users", "add", "carol", K[2]]).env("CLAN_NO_COMMIT", "1").assert().success();
    assert_eq!(flake.last_commit(), "secrets: add user admin");
    assert!(flake.uncommitted().contains(" A sops/users/carol/key.json\n"));
    // An empty CLAN_NO_COMMIT is unset, as in clan.
    flake.as_key(0).args(["users", "add", "dave", K[3]]).env("CLAN_NO_COMMIT", "").assert().success();
    assert_eq!(flake.last_commit(), "secrets: add user dave");
}

#[test]
fn every_command_has_help_with_an_example_and_completions_exist() {
    let help = |args: &[&str]| stdout_of(secrets().args(args).arg("--help").assert().success().get_output());
    let top = help(&[]);
    assert!(top.contains("Examples:"), "{top}");
    let commands: Vec<String> = top
        .split("Commands:")
        .nth(1)
        .unwrap()
        .lines()
        .take_while(|l| !l.starts_with("Options:"))
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .filter(|c| c != "help")
        .collect();
    for clan in ["key", "users", "machines", "groups", "set", "get", "list", "remove", "rename", "import-sops", "completions"] {
        assert!(commands.iter().any(|c| c == clan), "{clan} missing from {commands:?}");
    }
    let leaves: [(&str, &[&str]); 4] = [
        ("key", &["generate", "show", "update"]),
        ("users", &["list", "add", "get", "remove", "add-key", "remove-key", "add-secret", "remove-secret"]),
        ("machines", &["list", "add", "get", "remove", "add-key", "remove-key", "add-secret", "remove-secret"]),
        ("groups", &["list", "add-user", "remove-user", "add-machine", "remove-machine", "add-secret", "remove-secret"]),
    ];
    let mut all: Vec<Vec<&str>> = commands.iter().map(|c| vec![c.as_str()]).collect();
    all.extend(leaves.iter().flat_map(|(group, subs)| subs.iter().map(move |s| vec![*group, *s])));
    for args in &all {
        let text = help(args);
        assert!(text.contains("Examples:\n  ") || text.contains("Example"), "secrets {args:?} --help has no example:\n{text}");
    }
    for shell in ["bash", "zsh", "fish"] {
        let script = stdout_of(secrets().args(["completions", shell]).assert().success().get_output());
        // The script asks `secrets` itself for commands and names (tests/completions.rs).
        assert!(script.contains("secrets") && script.contains("SECRETS_COMPLETE"), "{shell}");
    }
    usage(secrets().args(["completions", "tcsh"]), "invalid value 'tcsh'");
}

// ---------------------------------------------------------------------------------------------
// --json, and clan's output formats

#[test]
fn json_forms_have_clan_shapes_and_are_sorted() {
    let flake = Flake::new();
    let json = |args: &[&str]| -> (String, serde_json::Value) {
        let text = stdout_of(flake.as_key(0).args(args).assert().success().get_output());
        let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"));
        (text, value)
    };
    assert_eq!(json(&["--json", "users", "list"]).0, "[]\n");
    assert_eq!(json(&["--json", "groups", "list"]).0, "{}\n");
    flake.all(
        0,
        &[
            &["users", "add", "zed", K[0]],
            &["users", "add", "amy", "--age-key", K[2], "--age-key", K[1]],
            &["machines", "add", "web1", K[3]],
            &["groups", "add-user", "ops", "zed"],
            &["groups", "add-user", "ops", "amy"],
            &["groups", "add-machine", "ops", "web1"],
            &["groups", "add-user", "admins", "zed"],
        ],
    );
    flake.set(0, &["b-secret"], "v");
    flake.set(0, &["a-secret"], "v");

    assert_eq!(json(&["--json", "users", "list"]).0, "[\"amy\",\"zed\"]\n");
    assert_eq!(json(&["machines", "list", "--json"]).0, "[\"web1\"]\n");
    assert_eq!(json(&["list", "--json"]).0, "[\"a-secret\",\"b-secret\"]\n");
    assert_eq!(json(&["list", "--json", "b-"]).1, serde_json::json!(["b-secret"]));
    assert_eq!(
        json(&["groups", "list", "--json"]).1,
        serde_json::json!({"admins": {"machines": [], "users": ["zed"]}, "ops": {"machines": ["web1"], "users": ["amy", "zed"]}})
    );
    // The text form of `groups list` is clan's layout.
    assert_eq!(flake.ok(0, &["groups", "list"]), "admins\nusers:\n  zed\n\nops\nmachines:\n  web1\nusers:\n  amy\n  zed\n\n");

    // `users get` is clan's JSON (indent 2, sorted keys, no trailing newline), with or without
    // --json, in sorted order (clan's is Python set order).
    let (text, value) = json(&["users", "get", "amy"]);
    let object = |k: &str| {
        format!("  {{\n    \"publickey\": \"{k}\",\n    \"source\": \"key_file\",\n    \"type\": \"age\",\n    \"username\": \"amy\"\n  }}")
    };
    let mut amy = [K[1], K[2]];
    amy.sort_unstable();
    assert_eq!(text, format!("[\n{},\n{}\n]", object(amy[0]), object(amy[1])));
    assert_eq!(json(&["--json", "users", "get", "amy"]).1, value);
    for _ in 0..3 {
        assert_eq!(json(&["users", "get", "amy"]).0, text, "deterministic");
    }

    // `key show` is the same shape, with the key's source and the user who registered it
    // (clan leaves the name empty; a key nobody registered has none).
    let (text, value) = json(&["key", "show"]);
    assert_eq!(text, format!("[\n  {{\n    \"publickey\": \"{}\",\n    \"source\": \"SOPS_AGE_KEY\",\n    \"type\": \"age\",\n    \"username\": \"zed\"\n  }}\n]", K[0]));
    assert_eq!(json(&["--json", "key", "show"]).1, value);
    let from_file = stdout_of(flake.cmd().args(["key", "show"]).env("SOPS_AGE_KEY_FILE", key_file(4)).assert().success().get_output());
    let from_file: serde_json::Value = serde_json::from_str(&from_file).unwrap();
    assert_eq!(
        from_file,
        serde_json::json!([{"publickey": K[4], "source": key_file(4).display().to_string(), "type": "age", "username": ""}])
    );

    let long = json(&["list", "--long", "--json"]).1;
    let names: Vec<&str> = long.as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["a-secret", "b-secret"]);
    let fields: std::collections::BTreeSet<&str> = long[0].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(fields, ["created", "name", "updated", "updated_by"].into_iter().collect());
}
