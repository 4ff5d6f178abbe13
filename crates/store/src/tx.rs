//! A change to the repository as a transaction: every step (a key file written, a link added or
//! removed, a folder removed or renamed, a secret file re-keyed) is recorded in the journal (see
//! [`crate::journal`]) before it is taken, so that a failure anywhere — computing the re-key (no
//! key, a bad file) or writing it (a full disk, an I/O error, a read-only file system) — undoes
//! every step, and a crash leaves a journal the next command undoes. New secret files are
//! computed in memory before any is written. A transaction dropped unfinished is undone.
//!
//! Callers hold the repository lock ([`crate::lock`]) for the whole transaction.

use std::fs;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use secrets_sops::keys::Identities;

use crate::error::{Result, StoreError};
use crate::fsutil::write_atomic;
use crate::journal::{Journal, Step};
use crate::links;
use crate::names::Kind;
use crate::rekey::{self, RekeyOptions, Rekeyed};
use crate::repo::Repo;
use crate::secrets::SecretRef;

/// The change in progress.
pub struct Tx<'r> {
    repo: &'r Repo,
    /// Started at the first step: a change that changes nothing leaves no journal.
    journal: Option<Journal>,
    touched: Vec<PathBuf>,
}

/// A name for the hard link that keeps the old content of `path`, next to it. The name is
/// unpredictable: the folder comes from an untrusted tree, where a committer may have planted
/// files or symlinks under any name they can guess.
fn backup_name(path: &Path) -> PathBuf {
    use std::hash::{BuildHasher, Hasher};
    // `RandomState` is seeded from the operating system's randomness once per process and
    // differs for each instance: 64 bits no committer can guess, without a new dependency.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    let name = format!(".secrets-old-{:016x}", hasher.finish());
    path.parent().map_or_else(|| PathBuf::from(&name), |p| p.join(&name))
}

/// Keeps the old content of `path` under a fresh unpredictable name next to it and returns that
/// name: a hard link (no space needed to put it back), or on a file system without hard links a
/// copy into a file that is created, never opened through a symlink or over an existing file.
/// A name taken meanwhile is never reused: another is drawn.
fn keep_old_content(path: &Path) -> Result<PathBuf> {
    let mut last = None;
    for _ in 0..16 {
        let backup = backup_name(path);
        match fs::hard_link(path, &backup) {
            Ok(()) => return Ok(backup),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some((backup, e)),
            Err(_) => match copy_exclusive(path, &backup) {
                Ok(()) => return Ok(backup),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some((backup, e)),
                Err(e) => return Err(StoreError::io(&backup, e)),
            },
        }
    }
    let (backup, e) = last.unwrap_or_else(|| (backup_name(path), std::io::ErrorKind::AlreadyExists.into()));
    Err(StoreError::io(&backup, e))
}

/// Copies `from` (never through a final symlink) into a new file `to` (`O_EXCL | O_NOFOLLOW`).
fn copy_exclusive(from: &Path, to: &Path) -> std::io::Result<()> {
    let mut source = fs::OpenOptions::new();
    source.read(true);
    let mut target = fs::OpenOptions::new();
    target.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        source.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
        target.custom_flags(libc::O_NOFOLLOW).mode(0o600);
    }
    let mut source = source.open(from)?;
    if !source.metadata()?.is_file() {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"));
    }
    let mut target = target.open(to)?;
    std::io::copy(&mut source, &mut target)?;
    target.sync_all()
}

impl<'r> Tx<'r> {
    /// A change of `repo` that has changed nothing yet (the journal is created at the first step).
    pub fn new(repo: &'r Repo) -> Tx<'r> {
        Tx { repo, journal: None, touched: Vec::new() }
    }

    /// The repository being changed.
    pub fn repo(&self) -> &Repo {
        self.repo
    }

    /// Paths this transaction changed (for the commit).
    pub fn touched(&self) -> &[PathBuf] {
        &self.touched
    }

    /// Records a path as changed, for the commit, without journaling it (the caller undoes it
    /// some other way, or it needs no undoing).
    pub fn touch(&mut self, path: PathBuf) {
        if !self.touched.contains(&path) {
            self.touched.push(path);
        }
    }

    fn journal(&mut self) -> Result<&mut Journal> {
        if self.journal.is_none() {
            self.journal = Some(Journal::begin(self.repo)?);
        }
        self.journal.as_mut().ok_or_else(|| StoreError::Other("the journal is not open".into()))
    }

    /// Records how to undo the steps about to be taken.
    fn record(&mut self, steps: impl FnOnce(&Journal) -> Result<Vec<Step>>) -> Result<()> {
        let journal = self.journal()?;
        let steps = steps(journal)?;
        journal.record(steps)
    }

    /// The undo step of replacing (or creating) `path`, and the name keeping its old content.
    fn replace_step(journal: &Journal, path: &Path) -> Result<(Step, Option<PathBuf>)> {
        let rel = journal.relative(path)?;
        if fs::symlink_metadata(path).is_ok() {
            // Kept before the step is recorded, under the name actually created: a kill in
            // between leaves only a `.secrets-old-*` copy of encrypted content, which `key
            // update` removes.
            let backup = keep_old_content(path)?;
            Ok((Step::Replaced { path: rel, backup: journal.relative(&backup)? }, Some(backup)))
        } else {
            Ok((Step::Created { path: rel }, None))
        }
    }

    /// Writes a file atomically; undoing puts the old content back.
    pub fn write_file(&mut self, path: &Path, bytes: &[u8], new_mode: u32) -> Result<()> {
        self.record(|j| Ok(vec![Self::replace_step(j, path)?.0]))?;
        write_atomic(path, bytes, new_mode)?;
        self.touch(path.to_path_buf());
        Ok(())
    }

    /// Links a member from a secret or group directory.
    pub fn add_link(&mut self, container: &Path, kind: Kind, name: &str) -> Result<()> {
        let path = links::link_path(container, kind, name);
        if fs::symlink_metadata(&path).is_ok_and(|m| !m.file_type().is_symlink()) {
            // Not a link: `links::add` refuses it, and nothing is to be undone.
            links::add(self.repo, container, kind, name)?;
            return Ok(());
        }
        let previous = fs::read_link(&path).ok();
        self.record(|j| {
            let rel = j.relative(&path)?;
            Ok(vec![match &previous {
                Some(target) => Step::Link { path: rel, target: target.to_string_lossy().into_owned() },
                None => Step::Created { path: rel },
            }])
        })?;
        let link = links::add(self.repo, container, kind, name)?;
        if previous.as_deref() != fs::read_link(&link).ok().as_deref() {
            self.touch(link);
        }
        Ok(())
    }

    /// Removes a member link; returns whether it existed.
    pub fn remove_link(&mut self, container: &Path, kind: Kind, name: &str) -> Result<bool> {
        let path = links::link_path(container, kind, name);
        let Ok(target) = fs::read_link(&path) else { return Ok(false) };
        self.record(|j| Ok(vec![Step::Link { path: j.relative(&path)?, target: target.to_string_lossy().into_owned() }]))?;
        links::remove(self.repo, container, kind, name)?;
        self.touch(path);
        Ok(true)
    }

    /// Removes a directory (a user, machine, group or secret), reversibly until `finish`.
    pub fn remove_dir(&mut self, dir: &Path) -> Result<()> {
        let parent = dir.parent().ok_or_else(|| StoreError::Other(format!("cannot remove {}", dir.display())))?;
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let backup = parent.join(format!(".{name}.removing-{}", std::process::id()));
        self.record(|j| Ok(vec![Step::DirRemoved { path: j.relative(dir)?, backup: j.relative(&backup)? }]))?;
        fs::rename(dir, &backup).map_err(|e| StoreError::io(dir, e))?;
        self.touch(dir.to_path_buf());
        Ok(())
    }

    /// Renames a directory.
    pub fn rename_dir(&mut self, from: &Path, to: &Path) -> Result<()> {
        self.record(|j| Ok(vec![Step::DirRenamed { from: j.relative(from)?, to: j.relative(to)? }]))?;
        fs::rename(from, to).map_err(|e| StoreError::io(from, e))?;
        self.touch(from.to_path_buf());
        self.touch(to.to_path_buf());
        Ok(())
    }

    /// Computes the re-key of `secrets`; rolls everything back if it fails.
    pub fn plan_rekey(
        self,
        secrets: &[SecretRef],
        identities: &Identities,
        options: RekeyOptions,
        progress: &(dyn Fn() + Sync),
    ) -> Result<(Tx<'r>, Vec<Rekeyed>)> {
        match rekey::plan(self.repo, secrets, identities, options, progress) {
            Ok(plan) => Ok((self, plan)),
            Err(e) => Err(self.fail(e)),
        }
    }

    /// Writes the re-keyed files and makes the change final. Returns every path changed. On a
    /// failure every step is undone.
    pub fn finish(mut self, plan: &[Rekeyed]) -> Result<Vec<PathBuf>> {
        match self.write_plan(plan) {
            Ok(()) => {}
            Err(e) => return Err(self.fail(e)),
        }
        if let Some(journal) = self.journal.as_mut() {
            // Marks the change final; when even that cannot be written, it is undone.
            if let Err(e) = journal.record(vec![Step::Final]).and_then(|()| journal.sync()) {
                return Err(self.fail(e));
            }
        }
        if let Some(journal) = self.journal.take() {
            journal.clean_up_and_close();
        }
        Ok(std::mem::take(&mut self.touched))
    }

    fn write_plan(&mut self, plan: &[Rekeyed]) -> Result<()> {
        let files: Vec<(&Rekeyed, &[u8])> = plan.iter().filter_map(|item| item.bytes().map(|b| (item, b))).collect();
        let dangling: Vec<&PathBuf> = plan.iter().flat_map(super::rekey::Rekeyed::dangling).collect();
        if files.is_empty() && dangling.is_empty() {
            return Ok(());
        }
        // One journal entry for every file, made durable before the first is replaced.
        self.record(|j| {
            let mut steps = Vec::with_capacity(files.len() + dangling.len());
            for (item, _) in &files {
                steps.push(Self::replace_step(j, &item.secret.file())?.0);
            }
            for link in &dangling {
                if let Ok(target) = fs::read_link(link) {
                    steps.push(Step::Link { path: j.relative(link)?, target: target.to_string_lossy().into_owned() });
                }
            }
            Ok(steps)
        })?;
        self.journal()?.sync()?;
        // Each file is replaced atomically on its own, so the writes (and their fsyncs, which
        // dominate a bulk re-key on disk) can run in parallel.
        let written: Vec<Result<PathBuf>> = files
            .par_iter()
            .map(|(item, bytes)| {
                let path = item.secret.file();
                write_atomic(&path, bytes, 0o600).map(|()| path)
            })
            .collect();
        for path in written {
            self.touch(path?);
        }
        for link in dangling {
            fs::remove_file(link).map_err(|e| StoreError::io(link, e))?;
            self.touch(link.clone());
        }
        Ok(())
    }

    /// Undoes every step after a failure, and returns the error to report: `error` itself when
    /// the undo worked, or one saying the next command will finish undoing.
    fn fail(mut self, error: StoreError) -> StoreError {
        let Some(journal) = self.journal.take() else { return error };
        let path = journal.path().to_path_buf();
        match journal.roll_back() {
            Ok(()) => error,
            Err(undo) => StoreError::Unfinished { journal: path, source: Box::new(error), undo: Box::new(undo) },
        }
    }

    /// Undoes every step, newest first. When that fails, the journal stays and the next command
    /// undoes the rest.
    pub fn rollback(mut self) {
        if let Some(journal) = self.journal.take() {
            let _ = journal.roll_back();
        }
    }
}

impl Drop for Tx<'_> {
    /// A transaction left unfinished (an early return on an error) is undone.
    fn drop(&mut self) {
        if let Some(journal) = self.journal.take() {
            let _ = journal.roll_back();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A committer plants symlinks under every old-content name they can guess (this process's
    /// id and a counter): replacing the file next to them must neither write through one nor
    /// fail.
    #[cfg(unix)]
    #[test]
    fn planted_symlinks_at_guessable_names_are_never_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo::at(dir.path().canonicalize().unwrap());
        let folder = repo.sops_dir().join("secrets/s");
        fs::create_dir_all(&folder).unwrap();
        let secret = folder.join("secret");
        fs::write(&secret, "old").unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, "precious").unwrap();
        for n in 0..256 {
            std::os::unix::fs::symlink(&victim, folder.join(format!(".secrets-old-{}-{n}", std::process::id()))).unwrap();
        }
        let mut tx = Tx::new(&repo);
        tx.write_file(&secret, b"new", 0o600).unwrap();
        tx.finish(&[]).unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
        assert_eq!(fs::read(&secret).unwrap(), b"new");
    }

    #[cfg(unix)]
    #[test]
    fn a_copy_is_never_made_through_a_symlink_or_over_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (dir.path().join("from"), dir.path().join("to"));
        fs::write(&from, "content").unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, "precious").unwrap();
        std::os::unix::fs::symlink(&victim, &to).unwrap();
        assert!(copy_exclusive(&from, &to).is_err());
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
        fs::remove_file(&to).unwrap();
        copy_exclusive(&from, &to).unwrap();
        assert_eq!(fs::read(&to).unwrap(), b"content");
    }
}
