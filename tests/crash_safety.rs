//! Killing a bulk re-key at arbitrary points never loses a secret: every file stays readable and
//! encrypted for either the old or the new recipient set, and `secrets key update` converges.
//! The next command, whichever it is, undoes the interrupted change first, so that the links and
//! the files agree again (no half-done revocation) and running the command again completes it.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::common::{ok, secrets_process, stderr_of, vectors};

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

#[test]
fn a_killed_revocation_is_undone_by_any_next_command_and_completes_when_run_again() {
    let dir = repository();
    ok(&run(dir.path(), &["groups", "add-user", "team", "bob"]).output().unwrap());
    let with_bob = {
        let mut v = vec![ALICE.to_string(), BOB.to_string()];
        v.sort();
        v
    };
    let next_commands: [&[&str]; 4] = [&["list"], &["access"], &["get", "s7"], &["users", "list"]];
    for (round, delay_ms) in [5u64, 10, 20, 40, 80, 160, 320, 640].into_iter().enumerate() {
        let mut child = run(dir.path(), &["groups", "remove-user", "team", "bob"]).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        let next = run(dir.path(), next_commands[round % next_commands.len()]).output().unwrap();
        ok(&next);
        eprintln!("{delay_ms} ms: {}", String::from_utf8_lossy(&next.stderr).lines().next().unwrap_or("(nothing to undo)"));
        // The links and the files agree: either bob is still in everywhere, or out everywhere.
        let check = run(dir.path(), &["check"]).output().unwrap();
        assert!(check.status.success(), "after a kill at {delay_ms} ms: {}", String::from_utf8_lossy(&check.stdout));
        let bob_linked = dir.path().join("sops/groups/team/users/bob").exists();
        let expected = if bob_linked { with_bob.clone() } else { vec![ALICE.to_string()] };
        for i in 0..SECRETS {
            assert_eq!(recipients(&dir.path().join(format!("sops/secrets/s{i}/secret"))), expected, "s{i} after {delay_ms} ms");
        }
        let leftovers: Vec<String> = walk_names(&dir.path().join("sops"))
            .into_iter()
            .filter(|n| n.starts_with(".secrets-") || n == ".secrets.journal" || n.contains(".removing-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        // Running it again completes the revocation; then bob comes back for the next round.
        if bob_linked {
            ok(&run(dir.path(), &["groups", "remove-user", "team", "bob"]).output().unwrap());
        }
        for i in 0..SECRETS {
            assert_eq!(recipients(&dir.path().join(format!("sops/secrets/s{i}/secret"))), [ALICE], "s{i}");
        }
        ok(&run(dir.path(), &["groups", "add-user", "team", "bob"]).output().unwrap());
    }
}

fn walk_names(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            out.push(entry.file_name().to_string_lossy().into_owned());
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                out.extend(walk_names(&entry.path()));
            }
        }
    }
    out
}
