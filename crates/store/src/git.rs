//! Committing the files a command changed, as clan does (`git commit -- <paths>` with its
//! subjects), through libgit2: only the given paths are committed, other staged work stays
//! staged, and nothing happens outside a git work tree. The files committed are read through
//! open folders, never through a folder swapped for a symlink (see `collect`).

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};

use git2::{Index, IndexEntry, IndexTime, Repository, Signature};

use crate::error::{Result, StoreError};
use crate::untrusted::{EntryKind, Folder, Limit};

fn git_err(e: git2::Error) -> StoreError {
    git_error(e, std::io::Error::last_os_error(), Path::new(".git"))
}

/// A libgit2 error as a store error. libgit2 reports some failed writes (a full disk) without a
/// message of its own ("no error"): the operating system's error, read right after the failing
/// call, is then the cause, and is kept as the source with the git folder as the path. An error
/// of class `Os` is libgit2 saying that a system call failed: the operating system's error is
/// kept beside it, so that a full disk is told by its kind, not by libgit2's wording.
fn git_error(e: git2::Error, os: std::io::Error, git_dir: &Path) -> StoreError {
    let message = e.message().trim();
    let silent = message.is_empty() || message.eq_ignore_ascii_case("no error");
    let os = os.raw_os_error().is_some_and(|code| code != 0).then_some(os);
    match os {
        Some(os) if silent => StoreError::io(git_dir, os),
        Some(os) if e.class() == git2::ErrorClass::Os => StoreError::Git { source: e, os: Some(os), git_dir: Some(git_dir.to_path_buf()) },
        _ => StoreError::Git { source: e, os: None, git_dir: Some(git_dir.to_path_buf()) },
    }
}

/// Commits the current work-tree state of `paths` (files, links or whole directories, present
/// or deleted) on top of HEAD. Returns `Ok(false)` when `root` is not a git work tree or nothing
/// changed.
pub fn commit_paths(root: &Path, paths: &[PathBuf], subject: &str) -> Result<bool> {
    if !root.join(".git").exists() {
        return Ok(false);
    }
    let repo = Repository::open(root).map_err(git_err)?;
    let git_dir = repo.path().to_path_buf();
    // Failures from here on name the git folder.
    let git_err = |e: git2::Error| git_error(e, std::io::Error::last_os_error(), &git_dir);
    let workdir = repo.workdir().ok_or_else(|| StoreError::NoWorkTree { git_dir: git_dir.clone() })?.to_path_buf();
    let workdir = fs::canonicalize(&workdir).unwrap_or(workdir);
    let head_commit = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let head_tree = head_commit.as_ref().map(git2::Commit::tree).transpose().map_err(git_err)?;

    let mut staged = Index::new().map_err(git_err)?;
    if let Some(tree) = &head_tree {
        staged.read_tree(tree).map_err(git_err)?;
    }
    // Each path's blobs are written once, then applied to both indexes.
    let changes: Vec<StagedPath> =
        paths.iter().map(|p| relative_to(&workdir, p).and_then(|rel| collect(&repo, &workdir, rel))).collect::<Result<_>>()?;
    apply(&mut staged, &changes)?;
    let tree_id = staged.write_tree_to(&repo).map_err(git_err)?;
    if head_tree.as_ref().map(git2::Tree::id) == Some(tree_id) {
        return Ok(false);
    }
    let tree = repo.find_tree(tree_id).map_err(git_err)?;
    let signature = repo.signature().or_else(|_| Signature::now("secrets", "secrets@localhost")).map_err(git_err)?;
    let parents: Vec<&git2::Commit> = head_commit.iter().collect();
    repo.commit(Some("HEAD"), &signature, &signature, subject, &tree, &parents).map_err(git_err)?;

    // Bring the real index in line for the committed paths, so `git status` shows them clean.
    let mut index = repo.index().map_err(git_err)?;
    apply(&mut index, &changes)?;
    index.write().map_err(git_err)?;
    Ok(true)
}

fn relative_to(workdir: &Path, path: &Path) -> Result<PathBuf> {
    let absolute =
        if path.is_absolute() { path.to_path_buf() } else { std::env::current_dir().map_or_else(|_| path.to_path_buf(), |d| d.join(path)) };
    // Canonicalize the parent only: the path itself may be a symlink or deleted.
    let parent = absolute.parent().map(|p| fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf()));
    let normalized = match (parent, absolute.file_name()) {
        (Some(p), Some(name)) => p.join(name),
        _ => absolute.clone(),
    };
    normalized
        .strip_prefix(workdir)
        .map(Path::to_path_buf)
        .map_err(|_| StoreError::NotInWorkTree { path: path.to_path_buf(), workdir: workdir.to_path_buf() })
}

/// A committed path's work-tree state: the files under it (none when it was deleted).
struct StagedPath {
    rel: PathBuf,
    files: Vec<StagedFile>,
}

struct StagedFile {
    path: Vec<u8>,
    mode: u32,
    size: u32,
    id: git2::Oid,
}

/// Writes the blobs of `rel` (recursively for directories) and records their entries. What is
/// committed is read through open folders ([`Folder`]): every folder from the work tree down
/// to `rel` must be a real folder and is never followed through a symlink, so a folder swapped
/// for a symlink while the command runs can never put files from elsewhere on this disk into a
/// commit (and so into every clone). A symlink is committed as a symlink, never followed.
fn collect(repo: &Repository, workdir: &Path, rel: PathBuf) -> Result<StagedPath> {
    let mut files = Vec::new();
    let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
        return Err(StoreError::NotAPathToCommit { path: rel });
    };
    if let Some(folder) = Folder::open(workdir, &workdir.join(parent))? {
        if let Some((EntryKind::Folder, _)) = folder.kind(name)? {
            if let Some(inner) = folder.open_dir(name)? {
                collect_folder(repo, &inner, &rel, &mut files)?;
            }
        } else if folder.kind(name)?.is_some() {
            files.push(blob_of(repo, &folder, name, &rel)?);
        }
    }
    Ok(StagedPath { rel, files })
}

/// The blobs of every file and link below the open folder `folder` (at `rel`).
fn collect_folder(repo: &Repository, folder: &Folder, rel: &Path, files: &mut Vec<StagedFile>) -> Result<()> {
    for (name, kind) in folder.entries()? {
        let child = rel.join(&name);
        if kind == EntryKind::Folder {
            if let Some(inner) = folder.open_dir(&name)? {
                collect_folder(repo, &inner, &child, files)?;
            }
        } else {
            files.push(blob_of(repo, folder, &name, &child)?);
        }
    }
    Ok(())
}

/// The blob of the entry `name` of `folder` (at `rel`): a link's target, or a regular file's
/// content (bounded; a FIFO or device is refused, never opened).
fn blob_of(repo: &Repository, folder: &Folder, name: &OsStr, rel: &Path) -> Result<StagedFile> {
    let (content, mode) = if let Some((EntryKind::Symlink, _)) = folder.kind(name)? {
        let missing = || StoreError::io(folder.path().join(name), std::io::ErrorKind::NotFound.into());
        let target = folder.link_target(name).ok_or_else(missing)?;
        (target.to_string_lossy().into_owned().into_bytes(), 0o120000)
    } else {
        let bytes = folder.read(name, Limit::Secret)?;
        (bytes, if folder.is_executable(name) { 0o100755 } else { 0o100644 })
    };
    let id = repo.blob(&content).map_err(|e| git_error(e, std::io::Error::last_os_error(), repo.path()))?;
    let path = rel.to_string_lossy().replace('\\', "/").into_bytes();
    // git's index keeps the size modulo 2^32, as git itself does.
    #[allow(clippy::cast_possible_truncation)]
    let size = content.len() as u32;
    Ok(StagedFile { path, mode, size, id })
}

/// Puts the recorded state into `index`: whatever was under each path before goes, so
/// deletions and renames are recorded, then the current files are added.
fn apply(index: &mut Index, changes: &[StagedPath]) -> Result<()> {
    for change in changes {
        index.remove_dir(&change.rel, 0).map_err(git_err)?;
        let _ = index.remove_path(&change.rel);
        for file in &change.files {
            let entry = IndexEntry {
                ctime: IndexTime::new(0, 0),
                mtime: IndexTime::new(0, 0),
                dev: 0,
                ino: 0,
                mode: file.mode,
                uid: 0,
                gid: 0,
                file_size: file.size,
                id: file.id,
                flags: 0,
                flags_extended: 0,
                path: file.path.clone(),
            };
            index.add(&entry).map_err(git_err)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head_message(root: &Path) -> Option<String> {
        let repo = Repository::open(root).ok()?;
        let commit = repo.head().ok()?.peel_to_commit().ok()?;
        commit.message().ok().map(str::to_string)
    }

    #[test]
    fn commits_only_the_given_paths_and_records_deletions() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        Repository::init(&root).unwrap();
        fs::create_dir_all(root.join("sops/users/alice")).unwrap();
        fs::write(root.join("sops/users/alice/key.json"), "[]").unwrap();
        fs::write(root.join("unrelated"), "x").unwrap();
        assert!(commit_paths(&root, &[root.join("sops/users/alice")], "secrets: add user alice").unwrap());
        assert_eq!(head_message(&root).as_deref(), Some("secrets: add user alice"));
        let repo = Repository::open(&root).unwrap();
        let statuses = repo.statuses(None).unwrap();
        let dirty: Vec<String> = statuses.iter().filter_map(|s| s.path().ok().map(str::to_string)).collect();
        assert_eq!(dirty, ["unrelated"], "only the given paths are committed");

        // Nothing changed: no commit.
        assert!(!commit_paths(&root, &[root.join("sops/users/alice")], "again").unwrap());

        fs::remove_dir_all(root.join("sops/users/alice")).unwrap();
        assert!(commit_paths(&root, &[root.join("sops/users/alice")], "secrets: remove user alice").unwrap());
        let tree = repo.head().unwrap().peel_to_tree().unwrap();
        assert!(tree.get_path(Path::new("sops/users/alice/key.json")).is_err());
    }

    /// A local user swaps a secret folder for a symlink to a folder elsewhere, and back, while
    /// the command commits: reading the files to commit by path would sometimes commit the
    /// file over there (into every clone); reading through open folders never does.
    #[cfg(unix)]
    #[test]
    fn nothing_outside_the_repository_is_committed_through_a_folder_swapped_meanwhile() {
        use std::sync::atomic::Ordering;
        use std::time::{Duration, Instant};
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap().join("repo");
        Repository::init(&root).unwrap();
        let outside = dir.path().canonicalize().unwrap().join("outside");
        fs::create_dir_all(outside.join("d")).unwrap();
        fs::write(outside.join("secret"), "OUTSIDE").unwrap();
        fs::write(outside.join("d/f"), "OUTSIDE").unwrap();
        let real = root.join("sops/secrets/s");
        fs::create_dir_all(real.join("d")).unwrap();
        fs::write(real.join("secret"), "inside").unwrap();
        fs::write(real.join("d/f"), "inside").unwrap();
        let spare = root.join("spare");
        std::os::unix::fs::symlink(&outside, &spare).unwrap();
        let (stop, swapper) = crate::swap_race::swapping(real.clone(), spare.clone());
        let (mut commits, deadline) = (0u64, Instant::now() + Duration::from_millis(1500));
        while Instant::now() < deadline {
            for path in [real.join("secret"), real.join("d")] {
                commits += u64::from(commit_paths(&root, &[path], "c").is_ok());
            }
        }
        stop.store(true, Ordering::Relaxed);
        let swaps = swapper.join().unwrap();
        assert!(commits > 0 && swaps > 0, "the race ran: {commits} commits, {swaps} swaps");
        let repo = Repository::open(&root).unwrap();
        let mut walk = repo.revwalk().unwrap();
        walk.push_head().unwrap();
        for id in walk {
            let tree = repo.find_commit(id.unwrap()).unwrap().tree().unwrap();
            tree.walk(git2::TreeWalkMode::PreOrder, |folder, entry| {
                if let Ok(blob) = entry.to_object(&repo).and_then(|o| o.peel_to_blob()) {
                    assert_ne!(blob.content(), b"OUTSIDE", "{folder}{:?} committed from outside", entry.name());
                }
                git2::TreeWalkResult::Ok
            })
            .unwrap();
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_silent_libgit2_failure_reports_the_system_error() {
        let silent = git2::Error::new(git2::ErrorCode::GenericError, git2::ErrorClass::None, "no error");
        let full = std::io::Error::from_raw_os_error(libc::ENOSPC);
        let error = git_error(silent, full, Path::new("/repo/.git"));
        let text = error.to_string();
        assert!(text.contains("/repo/.git") && text.contains("No space left on device"), "{text}");
        assert_eq!(error.io_error().map(std::io::Error::kind), Some(std::io::ErrorKind::StorageFull));
        let silent = git2::Error::new(git2::ErrorCode::GenericError, git2::ErrorClass::None, "no error");
        let none = std::io::Error::from_raw_os_error(0);
        let text = git_error(silent, none, Path::new("/repo/.git")).to_string();
        assert!(!text.contains("no error") && text.contains("without saying why") && text.contains("/repo/.git"), "{text}");
    }

    /// libgit2 words a failed write itself ("failed to write …: No space left on device"):
    /// the full disk is told by the kind of the system error kept beside it, not by the text,
    /// and only when libgit2 says a system call failed.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_full_disk_reported_by_libgit2_is_told_by_its_kind() {
        let enospc = || std::io::Error::from_raw_os_error(libc::ENOSPC);
        let os =
            git2::Error::new(git2::ErrorCode::GenericError, git2::ErrorClass::Os, "failed to write 'objects/ab': No space left on device");
        let error = git_error(os, enospc(), Path::new("/repo/.git"));
        assert!(matches!(error, StoreError::Git { .. }), "{error:?}");
        assert_eq!(error.to_string(), "git: failed to write 'objects/ab': No space left on device");
        assert_eq!(error.io_error().map(std::io::Error::kind), Some(std::io::ErrorKind::StorageFull));
        assert!(std::error::Error::source(&error).is_some(), "libgit2's error is kept as the source");
        // Another class: the system error left over is not its cause.
        let index = git2::Error::new(git2::ErrorCode::GenericError, git2::ErrorClass::Index, "invalid entry");
        assert!(git_error(index, enospc(), Path::new("/repo/.git")).io_error().is_none());
    }

    #[test]
    fn outside_a_git_work_tree_nothing_happens() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("f"), "x").unwrap();
        assert!(!commit_paths(dir.path(), &[dir.path().join("f")], "x").unwrap());
    }
}
