//! The repository commands against the real sops: after every mutating step of a team's
//! scenario, each secret decrypts with the real `sops` for every intended reader's key and
//! fails for everyone else, so sops-nix and plain sops read exactly what the links say.

use std::path::Path;
use std::process::Command;

use crate::common::{ok, secrets, sops, sops_bin, stderr_of, vectors};

const ALICE: &str = "age1e9xplsq098whkdsvugpwhmh65hvjzend6kh3pcpuvsswew43jf6smxepjg";
const BOB: &str = "age1y53pe0c3lfwjf2wsc32czh0mvh5ekcams7r3xzjcyel45zny7ansgnel2p";
const CAROL: &str = "age1xzzypxvu5n8fvvakra4m8nwszzgzumwpfu03l2wsynhvlvygj9kq5793e2";

/// Key files by holder.
const KEYS: [(&str, &str); 3] = [("alice", "keys.txt"), ("bob", "keys-b.txt"), ("carol", "keys-c.txt")];

fn run(dir: &Path, args: &[&str]) {
    let out = secrets().current_dir(dir).env("SOPS_AGE_KEY_FILE", vectors().join("keys.txt")).args(args).output().unwrap();
    ok(&out);
}

/// Asserts who the real sops lets read each secret: `readers` per secret name.
fn assert_readers(dir: &Path, expected: &[(&str, &[&str], &str)]) {
    for (secret, readers, value) in expected {
        let file = dir.join("sops/secrets").join(secret).join("secret");
        for (holder, key) in KEYS {
            let out = sops(&["decrypt", file.to_str().unwrap()], &[("SOPS_AGE_KEY_FILE", &vectors().join(key))], dir);
            if readers.contains(&holder) {
                assert!(out.status.success(), "{secret}: {holder} must read it: {}", stderr_of(&out));
                assert_eq!(out.stdout, value.as_bytes(), "{secret} for {holder}");
            } else {
                assert_eq!(out.status.code(), Some(128), "{secret}: {holder} must not read it");
            }
        }
    }
}

/// The `(recipient, enc)` pairs of a secret's age entries.
fn age_entries(dir: &Path, secret: &str) -> Vec<(String, String)> {
    let text = std::fs::read(dir.join("sops/secrets").join(secret).join("secret")).unwrap();
    let file: serde_json::Value = serde_json::from_slice(&text).unwrap();
    let entries = file["sops"]["age"].as_array().unwrap();
    entries.iter().map(|e| (e["recipient"].as_str().unwrap().to_string(), e["enc"].as_str().unwrap().to_string())).collect()
}

#[test]
fn every_step_of_a_team_scenario_is_what_the_real_sops_reads() {
    if sops_bin().is_none() {
        return;
    }
    let repo = tempfile::tempdir().unwrap();
    let dir = repo.path();
    let git = |args: &[&str]| assert!(Command::new("git").args(args).current_dir(dir).output().unwrap().status.success());
    git(&["init", "-q"]);
    git(&["config", "user.email", "t@example.com"]);
    git(&["config", "user.name", "T"]);

    run(dir, &["users", "add", "alice", ALICE]);
    run(dir, &["users", "add", "bob", BOB]);
    run(dir, &["machines", "add", "web1", CAROL]);
    let set = |name: &str, value: &str, extra: &[&str]| {
        let out = secrets()
            .current_dir(dir)
            .env("SOPS_AGE_KEY_FILE", vectors().join("keys.txt"))
            .env("SOPS_NIX_SECRET", value)
            .arg("set")
            .args(extra)
            .arg(name)
            .output()
            .unwrap();
        ok(&out);
    };
    set("db", "db-value", &[]);
    set("api", "api-value", &["--machine", "web1"]);
    assert_readers(dir, &[("db", &["alice"], "db-value"), ("api", &["alice", "carol"], "api-value")]);

    run(dir, &["groups", "add-user", "ops", "bob"]);
    run(dir, &["groups", "add-secret", "ops", "db"]);
    assert_readers(dir, &[("db", &["alice", "bob"], "db-value")]);

    // Adding a reader wraps the data key for the newcomer only: the entries of those who
    // already read the secret stay byte for byte (and the real sops reads all of them).
    let before = age_entries(dir, "db");
    run(dir, &["groups", "add-machine", "ops", "web1"]);
    assert_readers(dir, &[("db", &["alice", "bob", "carol"], "db-value"), ("api", &["alice", "carol"], "api-value")]);
    let after = age_entries(dir, "db");
    assert_eq!(after.len(), 3, "{after:?}");
    for entry in &before {
        assert!(after.contains(entry), "kept entry {entry:?} in {after:?}");
    }

    run(dir, &["groups", "remove-user", "ops", "bob"]);
    assert_readers(dir, &[("db", &["alice", "carol"], "db-value")]);

    run(dir, &["users", "add-secret", "bob", "api"]);
    assert_readers(dir, &[("api", &["alice", "bob", "carol"], "api-value")]);

    run(dir, &["machines", "remove", "web1"]);
    assert_readers(dir, &[("db", &["alice"], "db-value"), ("api", &["alice", "bob"], "api-value")]);

    // A machine key rotation: web1 comes back with bob's key.
    run(dir, &["machines", "add", "web1", BOB]);
    run(dir, &["machines", "add-secret", "web1", "db"]);
    assert_readers(dir, &[("db", &["alice", "bob"], "db-value")]);

    run(dir, &["users", "remove", "bob"]);
    assert_readers(dir, &[("db", &["alice", "bob"], "db-value"), ("api", &["alice"], "api-value")]);

    run(dir, &["key", "update"]);
    assert_readers(dir, &[("db", &["alice", "bob"], "db-value"), ("api", &["alice"], "api-value")]);
}
