//! The record of a change that is final on disk but not committed yet.
//!
//! A change is made final in the work tree first (its journal marked final, see
//! [`crate::journal`]), then committed by the command. A command killed in between (`kill -9`,
//! a power cut) used to leave the change applied but uncommitted, and nothing said so: a
//! revocation would then be undone by the next `git checkout .` or `git stash`, or never reach
//! the machines. So before the journal of a final change is removed, the paths it changed are
//! recorded in `secrets.uncommitted` next to the journal, and the command that commits them
//! removes the record afterwards. The next command finds a record still there and commits
//! those paths first (or, told not to commit, says they are uncommitted and how to commit them).
//!
//! Only a work tree with a git directory the caller owns has one (see [`crate::lock`]): without
//! git there is no commit to miss. The record is written and read like the journal, through the
//! open git directory, never through a symlink, must be the caller's own, and names only paths
//! inside `sops/` or `vars/`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Result, StoreError};
use crate::journal;
use crate::lock;
use crate::repo::Repo;
use crate::untrusted::Limit;

/// The name of the record in the git directory.
const FILE_NAME: &str = "secrets.uncommitted";

#[derive(Default, Serialize, Deserialize)]
struct Record {
    /// The changed paths, relative to the repository root.
    paths: Vec<String>,
}

/// Where the record of `repo` is kept; `None` when the repository has no git directory of the
/// caller's own (nothing is then ever committed).
pub fn path(repo: &Repo) -> Option<PathBuf> {
    let dir = lock::state_dir(repo);
    (dir != repo.sops_dir()).then(|| dir.join(FILE_NAME))
}

/// Adds `paths` (absolute below the repository root, or relative to it) to the record of
/// `repo`, creating it: called once the change is final, before its journal is removed. Does
/// nothing without a git directory.
pub(crate) fn record(repo: &Repo, paths: &[PathBuf]) -> Result<()> {
    let Some(file) = path(repo) else { return Ok(()) };
    let mut record = read(repo, &file)?.unwrap_or_default();
    for path in paths {
        let rel = path.strip_prefix(repo.root()).unwrap_or(path);
        if journal::check_relative(rel).is_err() {
            continue;
        }
        let Some(rel) = rel.to_str() else { continue };
        if !record.paths.iter().any(|p| p == rel) {
            record.paths.push(rel.to_string());
        }
    }
    if record.paths.is_empty() {
        return Ok(());
    }
    let bytes = serde_json::to_vec(&record).map_err(|source| StoreError::RecordUncommitted { source })?;
    let folder = lock::state_folder(repo)?;
    folder.replace(FILE_NAME, &bytes, 0o600).map_err(|e| StoreError::io(&file, e))
}

/// Whether a record of uncommitted changes is there (of any kind: [`pending`] reads and checks
/// it under the lock). A cheap test for commands that do not otherwise take the lock, as
/// [`journal::pending`] is for the journal.
pub fn exists(repo: &Repo) -> bool {
    path(repo).is_some_and(|p| p.symlink_metadata().is_ok())
}

/// The paths (absolute) a final change left uncommitted, if any. Call with the repository lock
/// held. Refused when the record is not a regular file, not the caller's own, or names a path
/// outside `sops/` and `vars/`.
pub fn pending(repo: &Repo) -> Result<Option<Vec<PathBuf>>> {
    let Some(file) = path(repo) else { return Ok(None) };
    let Some(record) = read(repo, &file)? else { return Ok(None) };
    Ok(Some(record.paths.iter().map(|p| repo.root().join(p)).collect()))
}

/// Removes the record: the paths are committed, or the caller chose not to commit.
pub fn clear(repo: &Repo) -> Result<()> {
    let Some(file) = path(repo) else { return Ok(()) };
    if std::fs::symlink_metadata(&file).is_err() {
        return Ok(());
    }
    let folder = lock::state_folder(repo)?;
    match folder.remove_file(FILE_NAME) {
        Ok(()) => {
            folder.sync();
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::io(&file, e)),
    }
}

fn read(repo: &Repo, file: &Path) -> Result<Option<Record>> {
    if std::fs::symlink_metadata(file).is_err() {
        return Ok(None);
    }
    let folder = lock::state_folder(repo)?;
    let name = std::ffi::OsStr::new(FILE_NAME);
    let bytes = match folder.read(name, Limit::Bytes(journal::MAX_JOURNAL_SIZE)) {
        Ok(bytes) => bytes,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(lock::not_a_state_file(&folder, name, file, "record of uncommitted changes").unwrap_or(e.into())),
    };
    let invalid = |problem: ForeignRecord| StoreError::ForeignUncommittedRecord { path: file.to_path_buf(), problem };
    if !folder.is_callers_own(name) {
        return Err(invalid(ForeignRecord::NotYours));
    }
    let record: Record = serde_json::from_slice(&bytes).map_err(|e| invalid(ForeignRecord::Json(e)))?;
    for p in &record.paths {
        journal::check_relative(Path::new(p)).map_err(|_| invalid(ForeignRecord::Outside { path: p.clone() }))?;
    }
    Ok(Some(record))
}

/// Why a record of uncommitted changes is not one this code writes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ForeignRecord {
    /// It belongs to another user, or others may write it.
    #[error("not yours, or others may write it")]
    NotYours,
    /// It is not the JSON this code writes.
    #[error("{0}")]
    Json(#[source] serde_json::Error),
    /// It names a path outside `sops/` and `vars/`.
    #[error("{path} is not a path inside sops/ or vars/")]
    Outside {
        /// The path, as the record names it.
        path: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn git_repo() -> (tempfile::TempDir, Repo) {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo::at(dir.path().canonicalize().unwrap());
        fs::create_dir_all(repo.root().join(".git")).unwrap();
        fs::create_dir_all(repo.sops_dir()).unwrap();
        (dir, repo)
    }

    #[test]
    fn paths_are_recorded_merged_read_and_cleared() {
        let (_d, repo) = git_repo();
        assert!(pending(&repo).unwrap().is_none());
        record(&repo, &[repo.root().join("sops/secrets/a/secret"), PathBuf::from("sops/users/bob")]).unwrap();
        record(&repo, &[repo.root().join("sops/secrets/a/secret"), repo.root().join("outside/x")]).unwrap();
        let paths = pending(&repo).unwrap().unwrap();
        assert_eq!(paths, [repo.root().join("sops/secrets/a/secret"), repo.root().join("sops/users/bob")]);
        clear(&repo).unwrap();
        assert!(pending(&repo).unwrap().is_none());
        clear(&repo).unwrap();
    }

    #[test]
    fn without_git_nothing_is_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo::at(dir.path().canonicalize().unwrap());
        fs::create_dir_all(repo.sops_dir()).unwrap();
        record(&repo, &[repo.root().join("sops/secrets/a/secret")]).unwrap();
        assert!(path(&repo).is_none() && pending(&repo).unwrap().is_none());
        assert_eq!(fs::read_dir(repo.sops_dir()).unwrap().count(), 0);
    }

    #[test]
    fn a_record_naming_paths_outside_sops_or_not_a_file_is_refused() {
        let (_d, repo) = git_repo();
        let file = path(&repo).unwrap();
        fs::write(&file, r#"{"paths":["../etc/passwd"]}"#).unwrap();
        assert!(pending(&repo).is_err());
        fs::remove_file(&file).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", &file).unwrap();
        let err = pending(&repo).unwrap_err();
        assert!(matches!(err, StoreError::StateFile { what: "a symbolic link", .. }), "{err}");
    }
}
