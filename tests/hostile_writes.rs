//! Writes into a hostile repository. Folders under `sops/` come from whoever can push, and a
//! local user with write access to the checkout can swap a folder for a symlink while a
//! command runs: whatever the command writes (a `key.json`, a re-keyed `secret`, a kept old
//! content, a membership link), removes or renames must land in the repository or nowhere.
//! A change refused because of such a folder must leave no journal behind, so that later
//! commands still run.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use crate::common::clan::{Flake, K};

/// alice (key 0) runs the commands; bob (key 1) is a member about to be removed.
fn alice_and_bob() -> Flake {
    let flake = Flake::new();
    flake.all(0, &[&["users", "add", "alice", K[0]], &["users", "add", "bob", K[1]]]);
    flake
}

fn journal(flake: &Flake) -> PathBuf {
    flake.path().join(".git/secrets.journal")
}

fn entries(dir: &Path) -> Vec<std::ffi::OsString> {
    fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name()).collect()
}

/// A committed `sops/users -> <a folder elsewhere>` that happens to hold a `bob` folder:
/// `users remove bob` must not move that folder aside.
#[test]
fn removing_a_member_never_moves_a_folder_through_a_symlinked_users_folder() {
    let flake = Flake::new();
    let outside = tempfile::tempdir().unwrap();
    fs::create_dir_all(outside.path().join("bob")).unwrap();
    fs::write(outside.path().join("bob/notes.txt"), "not the repository's").unwrap();
    fs::create_dir_all(flake.sops("")).unwrap();
    symlink(outside.path(), flake.sops("users")).unwrap();

    let out = flake.as_key(0).args(["users", "remove", "bob"]).output().unwrap();
    assert!(!out.status.success());
    assert_eq!(entries(outside.path()), vec![std::ffi::OsString::from("bob")], "{}", crate::common::stderr_of(&out));
    assert_eq!(fs::read(outside.path().join("bob/notes.txt")).unwrap(), b"not the repository's");
    assert!(!journal(&flake).exists());
}

/// The same symlinked `sops/users`: `users add carol` must create nothing where it points.
#[test]
fn adding_a_member_never_writes_through_a_symlinked_users_folder() {
    let flake = Flake::new();
    let outside = tempfile::tempdir().unwrap();
    fs::create_dir_all(flake.sops("")).unwrap();
    symlink(outside.path(), flake.sops("users")).unwrap();

    let out = flake.as_key(0).args(["users", "add", "carol", K[2]]).output().unwrap();
    assert!(!out.status.success());
    assert!(entries(outside.path()).is_empty(), "created outside the repository: {:?}", entries(outside.path()));
    assert!(crate::common::stderr_of(&out).contains("symbolic link"), "{}", crate::common::stderr_of(&out));
    assert!(!journal(&flake).exists());
}

/// A committed member folder `sops/users/carol -> <a folder elsewhere>`: `users add carol`
/// must not put a `key.json` there.
#[test]
fn adding_a_member_never_writes_through_a_symlinked_member_folder() {
    let flake = alice_and_bob();
    let outside = tempfile::tempdir().unwrap();
    symlink(outside.path(), flake.sops("users/carol")).unwrap();

    let out = flake.as_key(0).args(["users", "add", "carol", K[2]]).output().unwrap();
    assert!(!out.status.success());
    assert!(entries(outside.path()).is_empty(), "written outside the repository: {:?}", entries(outside.path()));
    assert!(!journal(&flake).exists());
}

/// A committed `sops/secrets/n2/users -> <a folder elsewhere>`: `set n2` is refused before
/// any step is journaled, so no journal blocks the commands that follow.
#[test]
fn a_link_refused_for_its_symlinked_folder_leaves_no_journal() {
    let flake = alice_and_bob();
    let outside = tempfile::tempdir().unwrap();
    fs::create_dir_all(flake.sops("secrets/n2")).unwrap();
    symlink(outside.path(), flake.sops("secrets/n2/users")).unwrap();

    let out = flake.as_key(0).args(["set", "n2"]).env("SOPS_NIX_SECRET", "v").output().unwrap();
    assert!(!out.status.success());
    assert!(!journal(&flake).exists(), "a journal was left: {}", crate::common::stderr_of(&out));
    assert!(entries(outside.path()).is_empty());
    // The next change runs as if nothing happened.
    flake.ok(0, &["users", "remove", "bob"]);
    assert!(!journal(&flake).exists());
}

/// Swaps `a` and `b` in one step (`renameat2(RENAME_EXCHANGE)`), so that neither path is ever
/// missing.
fn exchange(a: &Path, b: &Path) {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    // The attack races the command: a swap that fails this time is simply tried again.
    let _ = renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE);
}

/// A local user who can write to the checkout swaps secret folders for symlinks to a folder of
/// theirs, and back, over and over, while `users remove bob` re-keys: nothing (no re-keyed
/// `secret`, no kept old content, no temporary file) may ever land in their folder. The
/// command may fail, or leave a journal when a folder is a symlink at the moment its step is
/// undone; it must never write through one.
#[test]
fn a_folder_swapped_during_a_rekey_is_never_written_through() {
    let flake = alice_and_bob();
    flake.set(0, &["s0", "--user", "bob"], "value");
    for i in 1..60 {
        let dir = flake.sops(&format!("secrets/s{i}"));
        fs::create_dir_all(dir.join("users")).unwrap();
        fs::copy(flake.sops("secrets/s0/secret"), dir.join("secret")).unwrap();
        symlink("../../../users/alice", dir.join("users/alice")).unwrap();
        symlink("../../../users/bob", dir.join("users/bob")).unwrap();
    }
    flake.git(&["add", "-A"]);
    flake.git(&["commit", "-q", "-m", "many"]);
    let base = flake.git(&["rev-parse", "HEAD"]).trim().to_string();
    let outside = tempfile::tempdir().unwrap();
    // Each raced folder and its stand-in, a symlink kept outside `sops/` where no listing sees it.
    let raced: Vec<_> =
        [20, 30, 40, 50].iter().map(|i| (flake.sops(&format!("secrets/s{i}")), flake.path().join(format!("alt-{i}")))).collect();

    for round in 0..12 {
        let _ = fs::remove_file(journal(&flake));
        flake.git(&["reset", "-q", "--hard", &base]);
        flake.git(&["clean", "-q", "-fdx", "sops"]);
        for (_, alt) in &raced {
            let _ = fs::remove_file(alt);
            symlink(outside.path(), alt).unwrap();
        }
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let racer = {
            let (stop, raced) = (stop.clone(), raced.clone());
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    // A folder is a symlink for a short moment now and then, so that listings
                    // mostly see real folders and some writes do not.
                    for (dir, alt) in &raced {
                        exchange(dir, alt);
                        std::thread::sleep(std::time::Duration::from_micros(50));
                        exchange(dir, alt);
                    }
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            })
        };
        let out = flake.as_key(0).args(["users", "remove", "bob"]).output().unwrap();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        racer.join().unwrap();
        crate::common::clan::no_panic(&crate::common::stderr_of(&out));
        let written = entries(outside.path());
        assert!(written.is_empty(), "round {round}: written outside the repository: {written:?} ({})", crate::common::stderr_of(&out));
    }
}

/// The journal and the lock are opened relative to their folder, never through a symlink, and
/// never a FIFO: one planted in their place (by a local user with write access to `.git`, or a
/// committer when there is no git directory) is refused, naming the file and what to do, and
/// the command runs again once it is removed.
#[test]
fn a_planted_journal_or_lock_file_is_refused_by_name_and_nothing_is_written_through_it() {
    let flake = alice_and_bob();
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim");
    fs::write(&victim, "precious").unwrap();
    symlink(&victim, journal(&flake)).unwrap();
    let out = flake.as_key(0).args(["users", "add", "carol", K[2]]).output().unwrap();
    assert!(!out.status.success());
    let err = crate::common::stderr_of(&out);
    assert!(err.contains("secrets.journal: the journal is a symbolic link") && err.contains("remove it"), "{err}");
    assert_eq!(fs::read(&victim).unwrap(), b"precious");
    assert!(!flake.sops("users/carol").exists());
    fs::remove_file(journal(&flake)).unwrap();

    let lock = flake.path().join(".git/secrets.lock");
    let _ = fs::remove_file(&lock);
    assert!(std::process::Command::new("mkfifo").arg(&lock).status().unwrap().success());
    let out = flake.as_key(0).args(["users", "add", "carol", K[2]]).output().unwrap();
    assert!(!out.status.success());
    let err = crate::common::stderr_of(&out);
    assert!(err.contains("secrets.lock: the lock file is a named pipe (FIFO)") && err.contains("remove it"), "{err}");
    fs::remove_file(&lock).unwrap();

    crate::common::ok(&flake.as_key(0).args(["users", "add", "carol", K[2]]).output().unwrap());
    assert!(flake.sops("users/carol/key.json").exists());
    assert!(!journal(&flake).exists());
}
