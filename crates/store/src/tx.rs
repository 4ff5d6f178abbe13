//! A change to the repository as a transaction: every step (a key file written, a link added or
//! removed, a folder removed or renamed, a secret file re-keyed) is recorded in the journal (see
//! [`crate::journal`]) before it is taken, so that a failure anywhere — computing the re-key (no
//! key, a bad file) or writing it (a full disk, an I/O error, a read-only file system) — undoes
//! every step, and a crash leaves a journal the next command undoes. New secret files are
//! computed in memory before any is written. A transaction dropped unfinished is undone.
//!
//! Every write goes through the open folders of [`crate::untrusted::Folder`], never by path,
//! and every folder a step goes through is opened (a symlink on the way refused) before the
//! step is journaled: a step refused for its folder leaves nothing to undo.
//!
//! Callers hold the repository lock ([`crate::lock`]) for the whole transaction.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use secrets_sops::keys::Identities;

use crate::error::{Result, StoreError};
use crate::journal::{Journal, Step};
use crate::links;
use crate::names::Kind;
use crate::rekey::{self, RekeyOptions, Rekeyed};
use crate::repo::Repo;
use crate::secrets::SecretRef;
use crate::untrusted::{self, EntryKind, Folder};

/// The change in progress.
pub struct Tx<'r> {
    repo: &'r Repo,
    /// Started at the first step: a change that changes nothing leaves no journal.
    journal: Option<Journal>,
    /// The changed paths, in the order first changed.
    touched: Vec<PathBuf>,
    /// The same paths, to tell a repeated one at once (a re-key touches thousands).
    seen: std::collections::HashSet<PathBuf>,
}

/// The folder and the name of a repository path.
fn split(path: &Path) -> Result<(&Path, &OsStr)> {
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => Ok((parent, name)),
        _ => Err(StoreError::OutsideRepository { path: path.to_path_buf(), within: "the repository" }),
    }
}

/// The open folder of the existing file `path` (a symlink on the way refused), and its name.
fn open_parent<'p>(root: &Path, path: &'p Path) -> Result<(Folder, &'p OsStr)> {
    let (dir, name) = split(path)?;
    let folder = Folder::open(root, dir)?.ok_or_else(|| StoreError::io(path, std::io::ErrorKind::NotFound.into()))?;
    Ok((folder, name))
}

/// [`open_parent`], refusing a folder that is not the one of `identity` (opened earlier by the
/// same path): one moved away and replaced meanwhile would get the rest of the change, while the
/// path shows content that was not changed.
fn open_same<'p>(root: &Path, path: &'p Path, identity: (u64, u64)) -> Result<(Folder, &'p OsStr)> {
    let (folder, name) = open_parent(root, path)?;
    if folder.own_identity() != identity {
        return Err(StoreError::FolderReplaced { path: path.parent().unwrap_or(path).to_path_buf() });
    }
    Ok((folder, name))
}

/// Removes the temporary files (`temp` next to `path`) of a failed batch, by name: the kept
/// old contents stay for the undo. What a kill leaves is removed by the next command's undo.
fn remove_temporary_files(root: &Path, temps: &[(&PathBuf, OsString)]) {
    for (path, temp) in temps {
        if let Ok((folder, _)) = open_parent(root, path) {
            let _ = folder.remove_file(temp);
        }
    }
}

/// The prefix of the unpredictable name that keeps a replaced file's old content next to it:
/// the folder comes from an untrusted tree, where a committer may have planted files or
/// symlinks under any name they can guess.
const OLD_CONTENT_PREFIX: &str = ".secrets-old-";

/// From how many files a re-key's writes are made durable by syncing their file system.
const SYNC_FILE_SYSTEM_FROM: usize = 32;

impl<'r> Tx<'r> {
    /// A change of `repo` that has changed nothing yet (the journal is created at the first step).
    pub fn new(repo: &'r Repo) -> Tx<'r> {
        Tx { repo, journal: None, touched: Vec::new(), seen: std::collections::HashSet::new() }
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
        if self.seen.insert(path.clone()) {
            self.touched.push(path);
        }
    }

    fn journal(&mut self) -> Result<&mut Journal> {
        let journal = match self.journal.take() {
            Some(journal) => journal,
            None => Journal::begin(self.repo)?,
        };
        Ok(self.journal.insert(journal))
    }

    /// Records how to undo the steps about to be taken.
    fn record(&mut self, steps: impl FnOnce(&Journal) -> Result<Vec<Step>>) -> Result<()> {
        let journal = self.journal()?;
        let steps = steps(journal)?;
        journal.record(steps)
    }

    /// Opens the folder of `path` for writing, creating what is missing; a symlink on the way
    /// is refused here, before anything is journaled.
    fn folder_for(&self, dir: &Path) -> Result<Folder> {
        Ok(Folder::open_or_create(self.repo.root(), dir)?)
    }

    /// Opens the existing folder `dir`; a symlink on the way is refused, `None` when missing.
    fn existing_folder(&self, dir: &Path) -> Result<Option<Folder>> {
        Ok(Folder::open(self.repo.root(), dir)?)
    }

    /// Journals the replacing (or creating) of the file at `path` in `folder`, then keeps its
    /// old content under the name the journal gives. In that order, a kill at any moment
    /// leaves no kept copy the journal does not name (such a copy would stay readable by
    /// everyone who could read the old content, a removed member too, until `key update`):
    /// undoing a step whose copy was never made finds the file untouched and does nothing.
    fn record_replace(&mut self, folder: &Folder, path: &Path) -> Result<()> {
        let (dir, name) = split(path)?;
        let journal = self.journal()?;
        let rel = journal.relative(path)?;
        if folder.kind(name)?.is_none() {
            return journal.record(vec![Step::Created { path: rel }]);
        }
        let backup = untrusted::fresh_name(OLD_CONTENT_PREFIX);
        journal.record(vec![Step::Replaced { path: rel, backup: journal.relative(&dir.join(&backup))? }])?;
        folder.keep_old_content(name, &backup).map_err(|e| StoreError::io(path, e))
    }

    /// Writes a file atomically; undoing puts the old content back.
    pub fn write_file(&mut self, path: &Path, bytes: &[u8], new_mode: u32) -> Result<()> {
        let (dir, name) = split(path)?;
        let folder = self.folder_for(dir)?;
        self.record_replace(&folder, path)?;
        folder.write_atomic(name, bytes, new_mode).map_err(|e| StoreError::io(path, e))?;
        self.touch(path.to_path_buf());
        Ok(())
    }

    /// Links a member from a secret or group directory.
    pub fn add_link(&mut self, container: &Path, kind: Kind, name: &str) -> Result<()> {
        let path = links::link_path(container, kind, name);
        let dir = container.join(kind.folder());
        let folder = self.folder_for(&dir)?;
        if matches!(folder.kind(name)?, Some((entry, _)) if entry != EntryKind::Symlink) {
            // Not a link: `links::add` refuses it (and says what to do), nothing is to be undone.
            links::add(self.repo, container, kind, name)?;
            return Ok(());
        }
        let relative_dir = dir.strip_prefix(self.repo.root()).unwrap_or(&dir);
        let target = links::relative_path(relative_dir, &Path::new("sops").join(kind.folder()).join(name));
        let previous = folder.link_target(name);
        if previous.as_deref() == Some(target.as_path()) {
            return Ok(());
        }
        self.record(|j| {
            let rel = j.relative(&path)?;
            Ok(vec![match &previous {
                Some(target) => Step::Link { path: rel, target: target.to_string_lossy().into_owned() },
                None => Step::Created { path: rel },
            }])
        })?;
        if previous.is_some() {
            folder.remove_file(name).map_err(|e| StoreError::io(&path, e))?;
        }
        folder.symlink(&target, name).map_err(|e| StoreError::io(&path, e))?;
        folder.sync();
        self.touch(path);
        Ok(())
    }

    /// Removes a member link (then its folder, if that became empty); returns whether it
    /// existed.
    pub fn remove_link(&mut self, container: &Path, kind: Kind, name: &str) -> Result<bool> {
        let path = links::link_path(container, kind, name);
        let Some(parent) = self.existing_folder(container)? else { return Ok(false) };
        let Some(folder) = parent.open_dir(kind.folder())? else { return Ok(false) };
        let Some(target) = folder.link_target(name) else { return Ok(false) };
        self.record(|j| Ok(vec![Step::Link { path: j.relative(&path)?, target: target.to_string_lossy().into_owned() }]))?;
        folder.remove_file(name).map_err(|e| StoreError::io(&path, e))?;
        folder.sync();
        // An error just means the folder is not empty.
        if parent.remove_dir(kind.folder()).is_ok() {
            parent.sync();
        }
        self.touch(path);
        Ok(true)
    }

    /// Removes the folder `dir` if it is empty, through its open parent (a symlink on the way
    /// is refused); returns whether it was removed. Not journaled: undoing a link put back in
    /// it creates the folder again.
    pub fn remove_empty_dir(&self, dir: &Path) -> bool {
        let Ok((parent, name)) = split(dir) else { return false };
        matches!(self.existing_folder(parent), Ok(Some(parent)) if parent.remove_dir(name).is_ok())
    }

    /// Removes a directory (a user, machine, group or secret), reversibly until `finish`.
    pub fn remove_dir(&mut self, dir: &Path) -> Result<()> {
        let (parent_path, name) = split(dir)?;
        let missing = || StoreError::io(dir, std::io::ErrorKind::NotFound.into());
        let parent = self.existing_folder(parent_path)?.ok_or_else(missing)?;
        // The folder itself must be a real folder too (a symlink is refused, naming it).
        parent.open_dir(name)?.ok_or_else(missing)?;
        let backup = format!(".{}.removing-{}", name.to_string_lossy(), std::process::id());
        self.record(|j| Ok(vec![Step::DirRemoved { path: j.relative(dir)?, backup: j.relative(&parent_path.join(&backup))? }]))?;
        parent.rename(name, &parent, &backup).map_err(|e| StoreError::io(dir, e))?;
        parent.sync();
        self.touch(dir.to_path_buf());
        Ok(())
    }

    /// Renames a directory.
    pub fn rename_dir(&mut self, from: &Path, to: &Path) -> Result<()> {
        let ((from_dir, from_name), (to_dir, to_name)) = (split(from)?, split(to)?);
        let missing = || StoreError::io(from, std::io::ErrorKind::NotFound.into());
        let source = self.existing_folder(from_dir)?.ok_or_else(missing)?;
        source.open_dir(from_name)?.ok_or_else(missing)?;
        let target = self.folder_for(to_dir)?;
        self.record(|j| Ok(vec![Step::DirRenamed { from: j.relative(from)?, to: j.relative(to)? }]))?;
        source.rename(from_name, &target, to_name).map_err(|e| StoreError::io(from, e))?;
        source.sync();
        target.sync();
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
            // Final on disk, not committed yet: recorded before the journal goes, so that a
            // kill before the commit leaves a record the next command commits (see
            // [`crate::uncommitted`]). A failure to record only loses that reminder.
            let _ = crate::uncommitted::record(self.repo, &self.touched);
            journal.clean_up_and_close();
        }
        Ok(std::mem::take(&mut self.touched))
    }

    /// Writes a re-key's files as one batch. Every folder is opened by path for each phase (a
    /// symlink on the way refused, never followed): holding one descriptor per secret open for
    /// a bulk re-key could exceed the limit of open files, and a folder moved meanwhile must
    /// not be written through a descriptor while its path shows other content. A failure at
    /// any phase undoes the whole change.
    fn write_plan(&mut self, plan: &[Rekeyed]) -> Result<()> {
        let files: Vec<(PathBuf, &[u8])> = plan.iter().filter_map(|item| item.bytes().map(|b| (item.secret.file(), b))).collect();
        let dangling: Vec<&PathBuf> = plan.iter().flat_map(Rekeyed::dangling).collect();
        if files.is_empty() && dangling.is_empty() {
            return Ok(());
        }
        let mut links = Vec::with_capacity(dangling.len());
        for link in &dangling {
            let (dir, name) = split(link)?;
            if let Some(target) = self.existing_folder(dir)?.and_then(|folder| folder.link_target(name)) {
                links.push((*link, target));
            }
        }
        let root = self.repo.root().to_path_buf();
        // The undo step of every file (and the name its old content will be kept under) is
        // found on every core, then all are journaled and made durable before the first old
        // content is kept: a kill at any moment leaves no kept copy the journal does not name.
        let journal = self.journal()?;
        // Each folder's identity is taken too: a folder opened again by its path in a later
        // phase must be the same one, or the change is undone (see `open_same`).
        let planned: Vec<(Step, Option<OsString>, (u64, u64))> = {
            let journal: &Journal = journal;
            files
                .par_iter()
                .map(|(path, _)| {
                    let (folder, name) = open_parent(&root, path)?;
                    let rel = journal.relative(path)?;
                    let identity = folder.own_identity();
                    if folder.kind(name)?.is_none() {
                        return Ok((Step::Created { path: rel }, None, identity));
                    }
                    let backup = untrusted::fresh_name(OLD_CONTENT_PREFIX);
                    let step = Step::Replaced { path: rel, backup: journal.relative(&path.with_file_name(&backup))? };
                    Ok((step, Some(backup), identity))
                })
                .collect::<Result<_>>()?
        };
        let mut steps = Vec::with_capacity(planned.len());
        let mut kept = Vec::with_capacity(planned.len());
        for (step, backup, identity) in planned {
            steps.push(step);
            kept.push((backup, identity));
        }
        journal.record(steps)?;
        let link_steps = links
            .iter()
            .map(|(link, target)| Ok(Step::Link { path: journal.relative(link)?, target: target.to_string_lossy().into_owned() }))
            .collect::<Result<_>>()?;
        journal.record(link_steps)?;
        journal.sync()?;
        // Each old content is kept and each new content written to a temporary file, on every
        // core; then all are made durable, put in place (a rename each), and made durable
        // again. A large batch is made durable by two syncs of its file system instead of two
        // `fsync` per file; a small one by those `fsync`, which other writers to the file
        // system cannot slow down.
        let batch = untrusted::CAN_SYNC_FILE_SYSTEM && files.len() >= SYNC_FILE_SYSTEM_FROM;
        let written: Vec<Result<OsString>> = files
            .par_iter()
            .zip(&kept)
            .map(|((path, bytes), (backup, identity))| {
                let (folder, name) = open_same(&root, path, *identity)?;
                if let Some(backup) = backup {
                    folder.keep_old_content(name, backup).map_err(|e| StoreError::io(path, e))?;
                }
                folder.write_temporary_file(name, bytes, 0o600, batch).map_err(|e| StoreError::io(path, e))
            })
            .collect();
        let mut temps = Vec::with_capacity(files.len());
        let mut failure = None;
        for ((path, _), outcome) in files.iter().zip(written) {
            match outcome {
                Ok(temp) => temps.push((path, temp)),
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        if let Some(e) = failure {
            remove_temporary_files(&root, &temps);
            return Err(e);
        }
        let sync_all = || -> Result<()> {
            if !batch {
                return Ok(());
            }
            // One sync for each file system the secrets are on (a bind mount may put some on another).
            let mut seen = Vec::new();
            for ((path, _), (_, identity)) in files.iter().zip(&kept) {
                if !seen.contains(&identity.0) {
                    seen.push(identity.0);
                    open_same(&root, path, *identity)?.0.sync_file_system().map_err(|e| StoreError::io(path, e))?;
                }
            }
            Ok(())
        };
        if let Err(e) = sync_all() {
            remove_temporary_files(&root, &temps);
            return Err(e);
        }
        let placed: Vec<Result<()>> = temps
            .par_iter()
            .zip(&kept)
            .map(|((path, temp), (_, identity))| {
                let (folder, name) = open_same(&root, path, *identity)?;
                folder.put_in_place(temp, name).map_err(|e| StoreError::io(path, e))?;
                if !batch {
                    folder.sync();
                }
                Ok(())
            })
            .collect();
        // A temporary file that could not be put in place was removed then.
        placed.into_iter().collect::<Result<Vec<()>>>()?;
        sync_all()?;
        for (path, _) in &files {
            self.touch(path.clone());
        }
        for (link, _) in links {
            let (dir, name) = split(link)?;
            let folder = self.existing_folder(dir)?.ok_or_else(|| StoreError::io(link, std::io::ErrorKind::NotFound.into()))?;
            folder.remove_file(name).map_err(|e| StoreError::io(link, e))?;
            folder.sync();
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
    use std::fs;

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

    /// A folder moved away and replaced by another at its path between two phases of a batch
    /// is refused by name, not written through its path.
    #[test]
    fn a_folder_replaced_between_phases_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let secret = root.join("sops/secrets/s/secret");
        fs::create_dir_all(secret.parent().unwrap()).unwrap();
        fs::write(&secret, "old").unwrap();
        let identity = open_parent(&root, &secret).unwrap().0.own_identity();
        assert!(open_same(&root, &secret, identity).is_ok());
        fs::rename(root.join("sops/secrets/s"), root.join("moved")).unwrap();
        fs::create_dir_all(root.join("sops/secrets/s")).unwrap();
        fs::write(&secret, "other").unwrap();
        let refused = open_same(&root, &secret, identity).map(|_| ()).unwrap_err();
        assert!(matches!(&refused, StoreError::FolderReplaced { path } if path.ends_with("sops/secrets/s")), "{refused}");
        assert!(refused.to_string().contains("run the command again"), "{refused}");
    }
}
