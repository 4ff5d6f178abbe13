//! One lock per repository, so that two `secrets` commands never change it at the same time.
//!
//! A change reads the membership, computes every new file from it and commits the result; two
//! changes interleaving there can write a re-key computed from a membership that no longer
//! holds (a removed member put back into files), lose one of two keys added under the same name,
//! or race on git's refs. The commands that change the repository therefore hold an exclusive
//! `flock(2)` on one lock file from before they read the membership until after the commit.
//! The kernel releases it when the process ends, however it ends, so a killed command never
//! leaves a stale lock behind.
//!
//! The lock file (and the transaction journal next to it) lives in the git directory of the work
//! tree when there is one (for a linked work tree, its own directory under `.git/worktrees/`, as
//! each work tree has its own `sops/`), so it is never committed; otherwise it is
//! `sops/.secrets.lock`. Both files are opened, read, written and removed relative to their
//! open folder (`state_folder`: `sops/` is reached without following a link), never by path; a
//! symlink, FIFO, folder or device in the place of either is refused, naming it
//! ([`StoreError::StateFile`]).
//!
//! The git directory is found as git finds it (the first `.git` up from the work tree), and like
//! git's `safe.directory` rule it is trusted only when it is owned by the caller and not
//! writable by others: otherwise a local user's `/tmp/.git` would hold the journal (replayed by
//! the next command, see [`crate::journal`]) and the lock of every git-less repository below
//! `/tmp`. An untrusted git directory is ignored and `sops/` holds both files.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Result, StoreError};
use crate::repo::Repo;
use crate::untrusted::{EntryKind, Folder};

/// How long a command waits for the lock unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The folder that holds the lock and the journal of `repo`.
pub fn state_dir(repo: &Repo) -> PathBuf {
    git_dir(repo.root()).unwrap_or_else(|| repo.sops_dir())
}

/// The path of the lock file of `repo`.
pub fn lock_path(repo: &Repo) -> PathBuf {
    let dir = state_dir(repo);
    if dir == repo.sops_dir() {
        dir.join(".secrets.lock")
    } else {
        dir.join("secrets.lock")
    }
}

/// The git directory of the work tree holding `root`: `.git` itself, or where a `.git` file
/// (`gitdir: …`, linked work trees and submodules) points. `None` when there is none, or when
/// the one found is not the caller's ([`owned_by_caller`]).
fn git_dir(root: &Path) -> Option<PathBuf> {
    for dir in root.ancestors() {
        let dot_git = dir.join(".git");
        let Ok(meta) = fs::symlink_metadata(&dot_git) else { continue };
        if !owned_by_caller(&meta) {
            return None;
        }
        if meta.is_dir() {
            return Some(dot_git);
        }
        if meta.is_file() {
            let text = fs::read_to_string(&dot_git).ok()?;
            let target = text.lines().find_map(|l| l.strip_prefix("gitdir:"))?.trim();
            let target = dir.join(target);
            let target_meta = fs::metadata(&target).ok()?;
            return (target_meta.is_dir() && owned_by_caller(&target_meta)).then_some(target);
        }
        return None;
    }
    None
}

/// Whether a file or folder is the caller's own (its owner is the effective user) and nobody
/// else may write it: what the lock folder, the journal and the git directory must be before
/// they are trusted.
#[cfg(unix)]
pub(crate) fn owned_by_caller(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    let me = rustix::process::geteuid().as_raw();
    meta.uid() == me && meta.mode() & 0o022 == 0
}

#[cfg(not(unix))]
pub(crate) fn owned_by_caller(_meta: &fs::Metadata) -> bool {
    true
}

/// The held lock; dropping it releases it.
#[derive(Debug)]
pub struct RepoLock {
    // Held for its flock: closing the descriptor releases the lock.
    _file: File,
    path: PathBuf,
}

impl RepoLock {
    /// Takes the lock of `repo`, waiting up to `timeout` for another command to release it.
    /// `on_wait` is called once, when the lock is found taken (to tell the user why nothing
    /// happens).
    pub fn acquire(repo: &Repo, timeout: Duration, on_wait: &dyn Fn(&Path)) -> Result<RepoLock> {
        let path = lock_path(repo);
        let file = open(repo, &path)?;
        let start = Instant::now();
        let mut told = false;
        let mut pause = Duration::from_millis(5);
        loop {
            if try_flock(&file).map_err(|e| StoreError::io(&path, e))? {
                return Ok(RepoLock { _file: file, path });
            }
            if !told {
                on_wait(&path);
                told = true;
            }
            if start.elapsed() >= timeout {
                return Err(StoreError::LockTimeout { path, waited: timeout });
            }
            std::thread::sleep(pause.min(timeout.saturating_sub(start.elapsed())));
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }

    /// Takes the lock if it is free; `None` when another command holds it.
    pub fn try_acquire(repo: &Repo) -> Result<Option<RepoLock>> {
        let path = lock_path(repo);
        let file = open(repo, &path)?;
        if try_flock(&file).map_err(|e| StoreError::io(&path, e))? {
            Ok(Some(RepoLock { _file: file, path }))
        } else {
            Ok(None)
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Opens the folder that holds the lock and the journal ([`state_dir`]), for opening, reading,
/// writing and removing them relative to it: `sops/` is reached from the repository root
/// without following a link (and created as a real folder if missing), as it comes from the
/// untrusted tree; the git directory is the caller's own ([`owned_by_caller`]) and is opened as
/// found.
pub(crate) fn state_folder(repo: &Repo) -> Result<Folder> {
    let dir = state_dir(repo);
    if dir == repo.sops_dir() {
        return Ok(Folder::open_or_create(repo.root(), &dir)?);
    }
    Folder::open(&dir, &dir)?.ok_or_else(|| StoreError::io(&dir, std::io::ErrorKind::NotFound.into()))
}

/// The refusal of the state file `name` of `folder` (at `path`): `Some` when something other
/// than a regular file (a symlink, a FIFO, a folder, a device) has its name.
pub(crate) fn not_a_state_file(folder: &Folder, name: &OsStr, path: &Path, file: &'static str) -> Option<StoreError> {
    match folder.kind(name) {
        Ok(Some((kind, what))) if kind != EntryKind::File => Some(StoreError::StateFile { path: path.to_path_buf(), file, what }),
        _ => None,
    }
}

/// Opens (creating it if needed) the lock file, relative to its open folder
/// ([`state_folder`]): never through a symlink, never a FIFO or a device (opening one could
/// block or touch something else), read-only when the file is not ours to write.
fn open(repo: &Repo, path: &Path) -> Result<File> {
    let folder = state_folder(repo)?;
    let name = path.file_name().ok_or_else(|| StoreError::io(path, std::io::ErrorKind::InvalidInput.into()))?;
    let refused = || not_a_state_file(&folder, name, path, "lock file");
    let file = folder.open_or_create_file(name, 0o644).map_err(|e| refused().unwrap_or_else(|| StoreError::io(path, e)))?;
    let meta = file.metadata().map_err(|e| StoreError::io(path, e))?;
    if !meta.is_file() {
        return Err(refused().unwrap_or(StoreError::StateFile { path: path.to_path_buf(), file: "lock file", what: "not a regular file" }));
    }
    Ok(file)
}

/// One non-blocking attempt at the exclusive lock: `Ok(false)` when someone else holds it.
#[cfg(unix)]
fn try_flock(file: &File) -> std::io::Result<bool> {
    use rustix::fs::{flock, FlockOperation};
    use rustix::io::Errno;
    loop {
        match flock(file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(true),
            Err(Errno::WOULDBLOCK) => return Ok(false),
            Err(Errno::INTR) => {}
            Err(error) => return Err(error.into()),
        }
    }
}

#[cfg(not(unix))]
fn try_flock(_file: &File) -> std::io::Result<bool> {
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_waits_then_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo::at(dir.path());
        let held = RepoLock::acquire(&repo, DEFAULT_TIMEOUT, &|_| panic!("free lock")).unwrap();
        assert_eq!(held.path(), dir.path().join("sops/.secrets.lock"));
        assert!(RepoLock::try_acquire(&repo).unwrap().is_none());
        let told = std::cell::Cell::new(0);
        let err = RepoLock::acquire(&repo, Duration::from_millis(50), &|_| told.set(told.get() + 1)).unwrap_err();
        assert!(matches!(err, StoreError::LockTimeout { .. }), "{err}");
        assert_eq!(told.get(), 1, "the wait is announced once");
        drop(held);
        assert!(RepoLock::try_acquire(&repo).unwrap().is_some());
    }

    #[test]
    fn lives_in_the_git_dir_of_a_work_tree_and_of_a_linked_work_tree() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("main");
        fs::create_dir_all(main.join(".git/worktrees/feature")).unwrap();
        assert_eq!(lock_path(&Repo::at(&main)), main.join(".git/secrets.lock"));
        let linked = dir.path().join("feature");
        fs::create_dir_all(&linked).unwrap();
        fs::write(linked.join(".git"), "gitdir: ../main/.git/worktrees/feature\n").unwrap();
        assert_eq!(lock_path(&Repo::at(&linked)), linked.join("../main/.git/worktrees/feature/secrets.lock"));
    }

    #[cfg(unix)]
    #[test]
    fn a_git_dir_others_may_write_or_own_is_not_used() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo::at(dir.path().join("repo"));
        fs::create_dir_all(repo.sops_dir()).unwrap();
        let planted = dir.path().join(".git");
        fs::create_dir(&planted).unwrap();
        assert_eq!(state_dir(&repo), planted, "the caller's own git dir is used");
        fs::set_permissions(&planted, fs::Permissions::from_mode(0o1777)).unwrap();
        assert_eq!(state_dir(&repo), repo.sops_dir(), "a git dir anyone may write is ignored");
        fs::set_permissions(&planted, fs::Permissions::from_mode(0o755)).unwrap();
        if rustix::process::geteuid().is_root() {
            std::os::unix::fs::chown(&planted, Some(65534), Some(65534)).unwrap();
            assert_eq!(state_dir(&repo), repo.sops_dir(), "another user's git dir is ignored");
        }
    }

    #[cfg(unix)]
    #[test]
    fn the_lock_is_never_created_through_a_symlinked_sops_folder() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = dir.path().join("elsewhere");
        fs::create_dir_all(&elsewhere).unwrap();
        fs::create_dir_all(dir.path().join("repo")).unwrap();
        std::os::unix::fs::symlink(&elsewhere, dir.path().join("repo/sops")).unwrap();
        let repo = Repo::at(dir.path().join("repo"));
        assert!(RepoLock::try_acquire(&repo).is_err());
        assert!(!elsewhere.join(".secrets.lock").exists());
    }

    /// Without a git directory the lock lives in `sops/`, which a local user may swap for a
    /// symlink to a folder elsewhere, and back, while commands start: the lock file is never
    /// created over there.
    #[cfg(unix)]
    #[test]
    fn the_lock_is_never_created_through_a_sops_folder_swapped_meanwhile() {
        use std::time::{Duration, Instant};
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        fs::create_dir_all(&outside).unwrap();
        let repo = Repo::at(dir.path().join("repo"));
        fs::create_dir_all(repo.sops_dir()).unwrap();
        assert_eq!(state_dir(&repo), repo.sops_dir(), "no git directory above the temporary folder");
        let spare = dir.path().join("spare");
        std::os::unix::fs::symlink(&outside, &spare).unwrap();
        let (stop, swapper) = crate::swap_race::swapping(repo.sops_dir(), spare);
        let (mut taken, deadline) = (0u64, Instant::now() + Duration::from_millis(1500));
        while Instant::now() < deadline {
            taken += u64::from(matches!(RepoLock::try_acquire(&repo), Ok(Some(_))));
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let swaps = swapper.join().unwrap();
        assert!(taken > 0 && swaps > 0, "the race ran: {taken} locks, {swaps} swaps");
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0, "nothing created outside");
    }

    /// A lock file that is a symlink or a FIFO is refused with an error naming it and saying
    /// what to do.
    #[cfg(unix)]
    #[test]
    fn a_lock_file_that_is_not_a_regular_file_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo::at(dir.path());
        fs::create_dir_all(repo.sops_dir()).unwrap();
        std::os::unix::fs::symlink("/dev/null", lock_path(&repo)).unwrap();
        let err = RepoLock::try_acquire(&repo).unwrap_err();
        assert!(matches!(&err, StoreError::StateFile { what: "a symbolic link", .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains(".secrets.lock") && text.contains("lock file") && text.contains("remove it"), "{text}");
    }

    #[cfg(unix)]
    #[test]
    fn a_planted_symlink_or_fifo_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo::at(dir.path());
        fs::create_dir_all(repo.sops_dir()).unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, "keep").unwrap();
        std::os::unix::fs::symlink(&victim, lock_path(&repo)).unwrap();
        assert!(RepoLock::try_acquire(&repo).is_err());
        assert_eq!(fs::read(&victim).unwrap(), b"keep");
        fs::remove_file(lock_path(&repo)).unwrap();
        let status = std::process::Command::new("mkfifo").arg(lock_path(&repo)).status().unwrap();
        assert!(status.success());
        assert!(RepoLock::try_acquire(&repo).is_err(), "a FIFO is refused without blocking");
    }
}
