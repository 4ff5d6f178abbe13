//! Killing a bulk re-key at arbitrary points never loses a secret: every file stays readable and
//! encrypted for either the old or the new recipient set, and `secrets key update` converges.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{ok, secrets_process, stderr_of, vectors};

const ALICE: &str = "age1e9xplsq098whkdsvugpwhmh65hvjzend6kh3pcpuvsswew43jf6smxepjg";
const BOB: &str = "age1y53pe0c3lfwjf2wsc32czh0mvh5ekcams7r3xzjcyel45zny7ansgnel2p";
const SECRETS: usize = 200;

fn run(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = secrets_process();
    cmd.current_dir(dir).env("SOPS_AGE_KEY_FILE", vectors().join("keys.txt")).arg("--no-commit").args(args);
    cmd
}

fn recipients(file: &Path) -> Vec<String> {
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    let mut r: Vec<String> = json["sops"]["age"].as_array().unwrap().iter().map(|e| e["recipient"].as_str().unwrap().to_string()).collect();
    r.sort();
    r
}

/// Builds a repository with many secrets shared with group `team` (admin only at first).
fn repository() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".clan-flake"), "").unwrap();
    ok(&run(dir.path(), &["users", "add", "admin", ALICE]).output().unwrap());
    ok(&run(dir.path(), &["users", "add", "bob", BOB]).output().unwrap());
    ok(&run(dir.path(), &["groups", "add-user", "team", "admin"]).output().unwrap());
    let template = dir.path().join("sops/secrets/s0");
    ok(&run(dir.path(), &["set", "--group", "team", "s0"]).env("SOPS_NIX_SECRET", "value-0").output().unwrap());
    // Copies of one secret with its links are enough: each is re-keyed on its own.
    for i in 1..SECRETS {
        let out = Command::new("cp").arg("-a").arg(&template).arg(dir.path().join(format!("sops/secrets/s{i}"))).output().unwrap();
        assert!(out.status.success());
    }
    dir
}

#[test]
fn killed_bulk_rekeys_leave_every_secret_readable_and_key_update_converges() {
    let dir = repository();
    let old = vec![ALICE.to_string()];
    let mut new = vec![ALICE.to_string(), BOB.to_string()];
    new.sort();
    for delay_ms in [1u64, 3, 7, 12, 20, 35, 60] {
        // Add bob to the group (re-keys every secret), kill it partway, then remove him again
        // so that the next round has work to do.
        for args in [["groups", "add-user", "team", "bob"], ["groups", "remove-user", "team", "bob"]] {
            let mut child = run(dir.path(), &args).spawn().unwrap();
            std::thread::sleep(Duration::from_millis(delay_ms));
            let _ = child.kill();
            let _ = child.wait();
            for i in 0..SECRETS {
                let file = dir.path().join(format!("sops/secrets/s{i}/secret"));
                let r = recipients(&file);
                assert!(r == old || r == new, "s{i} has an unexpected recipient set {r:?}");
                let out = run(dir.path(), &["get", &format!("s{i}")]).output().unwrap();
                assert_eq!(out.stdout, b"value-0", "s{i} unreadable after a kill at {delay_ms} ms: {}", stderr_of(&out));
            }
        }
    }
    // Whatever state the links ended in, key update brings every file in line.
    ok(&run(dir.path(), &["key", "update"]).output().unwrap());
    let wanted = if dir.path().join("sops/groups/team/users/bob").exists() { new } else { old };
    for i in 0..SECRETS {
        assert_eq!(recipients(&dir.path().join(format!("sops/secrets/s{i}/secret"))), wanted, "s{i}");
    }
    // Temporary files a killed run left behind (encrypted content only) are cleaned up too.
    let leftovers: Vec<String> =
        walk_names(&dir.path().join("sops")).into_iter().filter(|n| n.starts_with(".secrets-") || n.contains(".removing-")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn walk_names(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            out.push(entry.file_name().to_string_lossy().into_owned());
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                out.extend(walk_names(&entry.path()));
            }
        }
    }
    out
}
