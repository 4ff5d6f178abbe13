//! What a change leaves next to the repository (the journal, the lock, old contents kept for
//! undoing, folders moved aside) comes from untrusted hands too: a committer chooses every name
//! under `sops/`, and a local user may own a `.git` above a git-less repository. None of it may
//! make a command undo into a revoked member's favour, delete a secret, hang or exhaust memory.

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::clan::{Flake, K};
use crate::common::{peer, stderr_of, stdout_of};

/// alice (k0) runs the commands; eve (k1) is the committer and the member being revoked.
fn team() -> Flake {
    let flake = Flake::new();
    flake.all(0, &[&["users", "add", "alice", K[0]], &["users", "add", "eve", K[1]]]);
    flake
}

/// A secret eve may read, under a name clan accepts and that looks like a leftover.
fn secret_named(flake: &Flake, name: &str) {
    flake.set(0, &["tmp", "--user", "eve"], &format!("value of {name}"));
    fs::rename(flake.sops("secrets/tmp"), flake.sops("secrets").join(name)).unwrap();
    flake.git(&["add", "-A"]);
    flake.git(&["commit", "-q", "-m", "rename"]);
}

/// Runs `cmd`, killing it after `limit` (a hang is a failure, not a stuck test run).
fn bounded(mut cmd: Command, limit: Duration) -> Option<Output> {
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let start = Instant::now();
    while start.elapsed() < limit {
        if child.try_wait().unwrap().is_some() {
            return Some(child.wait_with_output().unwrap());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[test]
fn secrets_named_like_leftovers_are_revoked_and_kept() {
    let flake = team();
    for name in [".secrets-x", ".db.removing-7"] {
        secret_named(&flake, name);
        assert!(flake.recipients(name).contains(K[1]));
    }
    let listed = flake.ok(0, &["list"]);
    assert!(listed.contains(".secrets-x") && listed.contains(".db.removing-7"), "{listed}");
    flake.ok(0, &["users", "remove", "eve"]);
    for name in [".secrets-x", ".db.removing-7"] {
        assert!(!flake.recipients(name).contains(K[1]), "{name}: eve was removed but can still read it");
    }
    flake.ok(0, &["key", "update"]);
    for name in [".secrets-x", ".db.removing-7"] {
        assert!(flake.sops("secrets").join(name).join("secret").is_file(), "{name}: key update deleted a secret");
    }
}

#[cfg(unix)]
#[test]
fn a_planted_symlink_named_like_a_kept_old_content_is_an_error_for_check() {
    let flake = team();
    flake.set(0, &["db", "--user", "alice"], "v1");
    let victim = flake.path().join("victim.txt");
    fs::write(&victim, "precious").unwrap();
    std::os::unix::fs::symlink(&victim, flake.sops("secrets/db/.secrets-old-1-0")).unwrap();
    let out = flake.as_key(0).arg("check").output().unwrap();
    assert!(!out.status.success(), "a planted symlink is an error: {}", stdout_of(&out));
    let text = stdout_of(&out) + &stderr_of(&out);
    assert!(text.contains("planted-leftover"), "{text}");
    flake.set(0, &["db"], "v2");
    assert_eq!(fs::read(&victim).unwrap(), b"precious");
}

#[cfg(unix)]
#[test]
fn a_journal_that_is_a_device_link_or_a_fifo_neither_exhausts_memory_nor_hangs() {
    let flake = team();
    flake.set(0, &["db", "--user", "alice"], "v1");
    // Outside git, the journal lives in sops/.
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    fs::create_dir_all(&repo).unwrap();
    let status = Command::new("cp").arg("-a").arg(flake.sops("")).arg(repo.join("sops")).status().unwrap();
    assert!(status.success());
    let journal = repo.join("sops/.secrets.journal");
    std::os::unix::fs::symlink("/dev/zero", &journal).unwrap();
    for args in [&["get", "db"][..], &["check"][..]] {
        let mut cmd = crate::common::secrets_process();
        cmd.env("SOPS_AGE_KEY", crate::common::clan::private_key(0)).arg("--repo").arg(&repo).args(args);
        // Refused, so never read: a reading command warns and goes on.
        let out = bounded(cmd, Duration::from_secs(20)).expect("finishes");
        assert!(stderr_of(&out).contains(".secrets.journal") || stdout_of(&out).contains(".secrets.journal"), "{args:?}");
    }
    fs::remove_file(&journal).unwrap();
    assert!(Command::new("mkfifo").arg(&journal).status().unwrap().success());
    let mut cmd = crate::common::secrets_process();
    cmd.env("SOPS_AGE_KEY", crate::common::clan::private_key(0)).arg("--repo").arg(&repo).args(["get", "db"]);
    let out = bounded(cmd, Duration::from_secs(10)).expect("a FIFO journal must not hang `get`");
    assert!(stderr_of(&out).contains(".secrets.journal"), "{}", stderr_of(&out));
}

/// A local user's `.git` above a git-less repository must not hold its journal: replaying it
/// would put a revoked member's link back.
#[cfg(unix)]
#[test]
fn a_git_dir_of_another_user_above_the_repository_is_not_trusted() {
    use std::os::unix::fs::PermissionsExt;
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: needs root to act as another local user");
        return;
    }
    let Some(setpriv) = peer("setpriv") else {
        eprintln!("skipped: needs setpriv");
        return;
    };
    let flake = team();
    flake.set(0, &["db", "--user", "alice", "--user", "eve"], "v1");
    flake.ok(0, &["users", "remove-secret", "eve", "db"]);
    let shared = tempfile::tempdir().unwrap();
    fs::set_permissions(shared.path(), fs::Permissions::from_mode(0o1777)).unwrap();
    let repo = shared.path().join("repo");
    fs::create_dir_all(&repo).unwrap();
    assert!(Command::new("cp").arg("-a").arg(flake.sops("")).arg(repo.join("sops")).status().unwrap().success());
    let _ = fs::remove_file(repo.join("sops/.secrets.lock"));
    let line = r#"{"undo":"link","path":"sops/secrets/db/users/eve","target":"../../../users/eve"}"#;
    let as_nobody = |script: &str| {
        let status = Command::new(&setpriv)
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "sh", "-c", script])
            .current_dir(shared.path())
            .status()
            .unwrap();
        assert!(status.success(), "{script}");
    };
    as_nobody(&format!("mkdir .git && printf '%s\\n' '{line}' > .git/secrets.journal"));
    let mut cmd = crate::common::secrets_process();
    cmd.env("SOPS_AGE_KEY", crate::common::clan::private_key(0)).arg("--repo").arg(&repo).args(["get", "db"]);
    let out = bounded(cmd, Duration::from_secs(30)).expect("finishes");
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(fs::symlink_metadata(repo.join("sops/secrets/db/users/eve")).is_err(), "the revoked member's link was put back");
    assert!(Path::new(&shared.path().join(".git/secrets.journal")).exists(), "another user's journal is not ours to consume");
}
