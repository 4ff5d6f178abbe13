//! The write-ahead journal of a transaction, so that a change interrupted at any point (a full
//! disk, an I/O error, a read-only file system, `kill -9`, a power cut) can be undone exactly.
//!
//! Before each step of a change, the journal records how to undo it; a replaced file keeps its
//! old content as a hard link next to it (no copy, and no space needed to put it back). When the
//! change is complete the journal is deleted, which makes it final; then the kept old contents
//! are deleted. A failure undoes every step, newest first, in the same process. When that is not
//! possible (the process was killed, or undoing failed too), the journal stays, and the next
//! command that opens the repository undoes the change before doing anything else
//! ([`recover`]). Undoing needs no key: it puts back what was there, so a revocation that did not
//! complete is never half applied — the member's links and the files agree again, `access` says
//! the member can still read, and running the command again completes it.
//!
//! The journal is one JSON object per line next to the repository lock (see [`crate::lock`]).
//! Each line is written before its step is taken, so a kill leaves at most a step recorded but
//! not taken; every undo checks what is on disk and is safe to repeat. Paths are relative to the
//! repository root and must stay inside `sops/` or `vars/`, and undoing reaches them through
//! open folders ([`crate::untrusted::Folder`]), never through a symlink. A step whose folder is
//! a symlink now (swapped after the step was taken) is refused alone, naming the symlink; the
//! other steps are undone and the journal stays, so the next command refuses to run until the
//! symlink is removed and then finishes the undo: a revocation is never silently dropped.
//!
//! The journal is created (`O_EXCL|O_NOFOLLOW`), read and removed relative to its open folder
//! (see [`crate::lock`]), never by path. A journal found on disk is untrusted until checked: it
//! is read as an untrusted file (never through a symlink, never a FIFO or device, bounded by
//! [`MAX_JOURNAL_SIZE`]), it must be the
//! caller's own and writable by nobody else (see `owned_by_caller` in [`crate::lock`]), and every
//! step must be one this code writes: a link put back only with the target `secrets` (and clan)
//! give that link path, a kept old content only under a `.secrets-old-*` name next to its file,
//! a folder moved aside only to `.<name>.removing-*` next to it.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Result, StoreError};
use crate::lock::{self, RepoLock};
use crate::names::Kind;
use crate::repo::Repo;
use crate::untrusted::{self, EntryKind, Folder};

/// How to undo one step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "undo", rename_all = "kebab-case")]
pub enum Step {
    /// A file or link that did not exist before: removed.
    Created {
        /// The path, relative to the repository root.
        path: String,
    },
    /// A file replaced; its old content is the hard link `backup` until the change is final.
    Replaced {
        /// The path, relative to the repository root.
        path: String,
        /// The backup's path, relative to the repository root.
        backup: String,
    },
    /// A link removed or retargeted: put back with its old target.
    Link {
        /// The path, relative to the repository root.
        path: String,
        /// The link's old target, as written.
        target: String,
    },
    /// A directory moved aside to `backup`, deleted when the change is final.
    DirRemoved {
        /// The path, relative to the repository root.
        path: String,
        /// The backup's path, relative to the repository root.
        backup: String,
    },
    /// A directory renamed.
    DirRenamed {
        /// The old path, relative to the repository root.
        from: String,
        /// The new path, relative to the repository root.
        to: String,
    },
    /// Not a step: the change is complete. What follows (deleting the old contents kept for
    /// undoing) is finished, not undone, by the next command if this one is killed.
    Final,
}

/// The largest journal [`recover`] reads: a re-key of every secret of a very large repository
/// takes a few hundred bytes per secret.
pub const MAX_JOURNAL_SIZE: u64 = 64 << 20;

/// The journal file of `repo`.
pub fn path(repo: &Repo) -> PathBuf {
    let dir = lock::state_dir(repo);
    if dir == repo.sops_dir() {
        dir.join(".secrets.journal")
    } else {
        dir.join("secrets.journal")
    }
}

/// Whether an interrupted change waits to be undone.
pub fn pending(repo: &Repo) -> bool {
    fs::symlink_metadata(path(repo)).is_ok()
}

/// What [`recover`] did.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Steps undone (none when the change was complete).
    pub steps: usize,
    /// The paths put back, or changed by the complete change, relative to the repository root.
    pub paths: Vec<PathBuf>,
    /// The change was complete and only its clean-up was left: it was finished, not undone (its
    /// commit may be missing: its paths are recorded in [`crate::uncommitted`]).
    pub completed: bool,
}

/// Undoes the change an interrupted command left, if any. Needs the repository lock (so that it
/// never undoes a change that is still running).
pub fn recover(repo: &Repo, _lock: &RepoLock) -> Result<Option<Recovered>> {
    let file = path(repo);
    if !pending(repo) {
        return Ok(None);
    }
    let folder = lock::state_folder(repo)?;
    let name = file_name(&file)?;
    let bytes = match folder.read(name, untrusted::Limit::Bytes(MAX_JOURNAL_SIZE)) {
        Ok(b) => b,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(lock::not_a_state_file(&folder, name, &file, "journal").unwrap_or(e.into())),
    };
    if !folder.is_callers_own(name) {
        return Err(StoreError::JournalNotTrusted { journal: file });
    }
    let mut steps = Vec::new();
    for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        // A line cut short by a kill describes a step not taken yet.
        let Ok(step) = serde_json::from_slice::<Step>(line) else { continue };
        step.validate().map_err(|step| StoreError::ForeignJournalStep { journal: file.clone(), step })?;
        steps.push(step);
    }
    let completed = steps.contains(&Step::Final);
    steps.retain(|s| *s != Step::Final);
    let paths: Vec<PathBuf> = steps.iter().filter_map(|s| s.main_path().map(PathBuf::from)).collect();
    if completed {
        // Final but perhaps not committed: the next command commits it (see
        // [`crate::uncommitted`]); a failure to record that only loses the reminder.
        let _ = crate::uncommitted::record(repo, &paths);
        clean_up(repo.root(), &steps);
    } else {
        undo_all(repo.root(), &steps)?;
    }
    // A write cut short by the kill leaves its temporary file next to its target.
    remove_temporary_files(repo.root(), &steps);
    let recovered = Recovered { steps: if completed { 0 } else { steps.len() }, paths, completed };
    folder.remove_file(name).map_err(|e| StoreError::io(&file, e))?;
    folder.sync();
    Ok(Some(recovered))
}

/// The journal of the change in progress.
pub struct Journal {
    file: File,
    /// The folder that holds the journal, which is created, written and removed through it.
    folder: Folder,
    path: PathBuf,
    root: PathBuf,
    steps: Vec<Step>,
}

impl Journal {
    /// Starts the journal of a change. Fails (before anything changed) when it cannot be written,
    /// or when an interrupted change is still to be undone.
    pub fn begin(repo: &Repo) -> Result<Journal> {
        let path = path(repo);
        let folder = lock::state_folder(repo)?;
        let name = file_name(&path)?;
        let file = folder.create_new_file(name, 0o600).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => {
                lock::not_a_state_file(&folder, name, &path, "journal").unwrap_or_else(|| StoreError::Interrupted { journal: path.clone() })
            }
            _ => StoreError::io(&path, e),
        })?;
        file.sync_all().map_err(|e| StoreError::io(&path, e))?;
        folder.sync();
        Ok(Journal { file, folder, path, root: repo.root().to_path_buf(), steps: Vec::new() })
    }

    /// The path of a file or folder, relative to the repository root, for the journal.
    pub fn relative(&self, path: &Path) -> Result<String> {
        let rel = path.strip_prefix(&self.root).map_err(|_| outside(path))?;
        check_relative(rel)?;
        rel.to_str().map(str::to_string).ok_or_else(|| outside(path))
    }

    /// Records a step before it is taken. The line reaches the file at once (a killed process
    /// does not lose it); [`Journal::sync`] makes it durable.
    ///
    /// Many steps are written at once. The testing aids of [`crate::fsutil`] count steps, not
    /// calls: one failing part-way writes the steps before it, as a disk filling up during the
    /// write would, and those count as recorded.
    pub fn record(&mut self, mut steps: Vec<Step>) -> Result<()> {
        let mut text = String::new();
        let mut failure = None;
        for (at, step) in steps.iter().enumerate() {
            crate::fsutil::injected_journal_kill();
            if let Err(e) = crate::fsutil::injected_journal_failure() {
                failure = Some((at, e));
                break;
            }
            let line = serde_json::to_string(step).map_err(|source| StoreError::JournalStep { source })?;
            text.push_str(&line);
            text.push('\n');
        }
        self.file.write_all(text.as_bytes()).map_err(|e| StoreError::io(&self.path, e))?;
        if let Some((at, e)) = failure {
            steps.truncate(at);
            self.steps.extend(steps);
            return Err(StoreError::io(&self.path, e));
        }
        self.steps.extend(steps);
        Ok(())
    }

    /// Flushes the recorded steps to disk, so that they survive a crash.
    pub fn sync(&self) -> Result<()> {
        self.file.sync_data().map_err(|e| StoreError::io(&self.path, e))
    }

    /// Makes the change final: records that it is, then deletes the old contents kept for
    /// undoing, then the journal. Fails only when the change could not be marked final (it is
    /// then still to be undone); a failure or a kill after that leaves the clean-up to the next
    /// command.
    pub fn commit(mut self) -> Result<()> {
        self.record(vec![Step::Final])?;
        self.sync()?;
        self.clean_up_and_close();
        Ok(())
    }

    /// After the change was marked final: deletes the old contents, then the journal.
    pub(crate) fn clean_up_and_close(self) {
        clean_up(&self.root, &self.steps);
        if self.remove().is_ok() {
            self.folder.sync();
        }
    }

    /// Undoes every step, newest first, and deletes the journal. When undoing fails, the journal
    /// stays for the next command, and the error says so.
    pub fn roll_back(self) -> Result<()> {
        undo_all(&self.root, &self.steps)?;
        remove_temporary_files(&self.root, &self.steps);
        self.remove()?;
        self.folder.sync();
        Ok(())
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the journal file, through its open folder.
    fn remove(&self) -> Result<()> {
        let name = file_name(&self.path)?;
        self.folder.remove_file(name).map_err(|e| StoreError::io(&self.path, e))
    }
}

/// The name of the journal (or lock) file in its folder.
fn file_name(path: &Path) -> Result<&OsStr> {
    path.file_name().ok_or_else(|| StoreError::io(path, std::io::ErrorKind::InvalidInput.into()))
}

impl Step {
    /// Checks that the step is one this code records (see the module docs): what a journal
    /// written by someone else could ask beyond that is refused before anything is undone.
    fn validate(&self) -> std::result::Result<(), ForeignStep> {
        match self {
            Step::Created { .. } | Step::DirRenamed { .. } | Step::Final => Ok(()),
            Step::Replaced { path, backup } => same_folder(path, backup, |name, _| name.starts_with(".secrets-old-"), "kept old content"),
            Step::DirRemoved { path, backup } => {
                same_folder(path, backup, |name, of| name.starts_with(&format!(".{of}.removing-")), "folder moved aside")
            }
            Step::Link { path, target } => {
                let link = Path::new(path);
                let (Some(folder), Some(name)) = (link.parent(), link.file_name()) else {
                    return Err(ForeignStep::NotAMemberLink { path: path.clone() });
                };
                let kind = [Kind::User, Kind::Machine, Kind::Group]
                    .into_iter()
                    .find(|k| folder.file_name().is_some_and(|f| f == k.folder()))
                    .ok_or_else(|| ForeignStep::NotAMemberLink { path: path.clone() })?;
                let expected = crate::links::relative_path(folder, &Path::new("sops").join(kind.folder()).join(name));
                if Path::new(target) == expected {
                    Ok(())
                } else {
                    Err(ForeignStep::LinkTarget { path: path.clone(), target: target.clone(), expected })
                }
            }
        }
    }

    fn main_path(&self) -> Option<&str> {
        match self {
            Step::Created { path } | Step::Replaced { path, .. } | Step::Link { path, .. } | Step::DirRemoved { path, .. } => Some(path),
            Step::DirRenamed { from, .. } => Some(from),
            Step::Final => None,
        }
    }
}

/// Whether `backup` is named by `rule` and lies in the folder of `path`.
fn same_folder(path: &str, backup: &str, rule: impl Fn(&str, &str) -> bool, what: &'static str) -> std::result::Result<(), ForeignStep> {
    let (path, backup) = (Path::new(path), Path::new(backup));
    let of = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let name = backup.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if path.parent() == backup.parent() && rule(name, of) {
        Ok(())
    } else {
        Err(ForeignStep::NotABackup { backup: backup.to_path_buf(), of: path.to_path_buf(), what })
    }
}

/// Why a journal step is not one this code records; each names the step's paths (relative to
/// the repository, never content).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ForeignStep {
    /// A link to put back that is not in a `users/`, `machines/` or `groups/` folder.
    #[error("{path}: not a member link")]
    NotAMemberLink {
        /// The link, as the journal names it.
        path: String,
    },
    /// A member link to put back with another target than the one its name implies.
    #[error("{path}: a link to put back with the target {target}, not {}", expected.display())]
    LinkTarget {
        /// The link, as the journal names it.
        path: String,
        /// The target the journal gives.
        target: String,
        /// The target a link of that name has.
        expected: PathBuf,
    },
    /// A backup that is not named as ours, or not in the folder of the file it backs up.
    #[error("{}: not a {what} of {}", backup.display(), of.display())]
    NotABackup {
        /// The backup, as the journal names it.
        backup: PathBuf,
        /// The file or folder it would restore.
        of: PathBuf,
        /// `kept old content` or `folder moved aside`.
        what: &'static str,
    },
}

/// Removes the temporary files (`.secrets-…`, encrypted content only) in the folders of the
/// files `steps` wrote. Under the lock, nothing else is writing there.
fn remove_temporary_files(root: &Path, steps: &[Step]) {
    let mut folders: Vec<&Path> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Created { path } | Step::Replaced { path, .. } => Path::new(path).parent(),
            _ => None,
        })
        .collect();
    folders.sort();
    folders.dedup();
    for folder in folders {
        if let Ok(Some(folder)) = open_folder(root, folder) {
            remove_leftovers(&folder);
        }
    }
}

/// Removes every `.secrets-…` file of `folder`: temporary files and kept old contents, which
/// nothing needs once a change is complete or undone (under the lock, nothing else writes
/// there). A copy left by an earlier change that could not clean up (a folder moved away
/// while it ran, then put back) goes too: it may still open for a removed member.
fn remove_leftovers(folder: &Folder) {
    let Ok(entries) = folder.entries() else { return };
    for (name, kind) in entries {
        if kind == EntryKind::File && name.to_str().is_some_and(|n| n.starts_with(".secrets-")) {
            let _ = folder.remove_file(&name);
        }
    }
}

/// Deletes what a complete change kept for undoing, with any other `.secrets-…` file of the
/// same folders (idempotent; a folder that cannot be opened keeps its leftovers, which the
/// next change of that folder, or `secrets key update`, removes).
fn clean_up(root: &Path, steps: &[Step]) {
    use rayon::prelude::*;
    // Each kept copy is in its own secret's folder: a re-key's thousand are removed on every
    // core, in no particular order.
    steps.par_iter().for_each(|step| match step {
        Step::Replaced { backup, .. } => {
            if let Ok(Some((folder, _))) = open_parent(root, backup) {
                remove_leftovers(&folder);
            }
        }
        Step::DirRemoved { backup, .. } => {
            if let Ok(Some((folder, name))) = open_parent(root, backup) {
                let _ = folder.remove_dir_all(name);
            }
        }
        _ => {}
    });
}

fn outside(path: &Path) -> StoreError {
    StoreError::OutsideRepository { path: path.to_path_buf(), within: "sops/ or vars/ of the repository" }
}

/// A journal path must name something inside `sops/` or `vars/`, with no `..`.
pub(crate) fn check_relative(rel: &Path) -> Result<()> {
    let mut parts = rel.components();
    let first_ok = matches!(parts.next(), Some(Component::Normal(first)) if first == "sops" || first == "vars");
    if first_ok && parts.all(|c| matches!(c, Component::Normal(_))) {
        Ok(())
    } else {
        Err(outside(rel))
    }
}

/// Opens the folder `rel` (relative to the repository root) through descriptors: every folder
/// on the way must be a real folder, not a symlink, as the journal may come from an untrusted
/// tree (`sops/.secrets.journal` outside git) and undoing must not remove, rename or write
/// anything outside it. `None` when the folder does not exist (nothing in it is to be undone).
fn open_folder(root: &Path, rel: &Path) -> Result<Option<Folder>> {
    check_relative(rel)?;
    Ok(Folder::open(root, &root.join(rel))?)
}

/// The open folder of a journal entry, and the entry's name in it.
fn open_parent<'a>(root: &Path, rel: &'a str) -> Result<Option<(Folder, &'a OsStr)>> {
    let rel = Path::new(rel);
    check_relative(rel)?;
    let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else { return Err(outside(rel)) };
    Ok(open_folder(root, parent)?.map(|folder| (folder, name)))
}

/// As [`open_parent`], creating the missing folders (to put a link back where its folder was
/// removed).
fn create_parent<'a>(root: &Path, rel: &'a str) -> Result<(Folder, &'a OsStr)> {
    let rel = Path::new(rel);
    check_relative(rel)?;
    let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else { return Err(outside(rel)) };
    Ok((Folder::open_or_create(root, &root.join(parent))?, name))
}

/// Undoes `steps` newest first. Each undo looks at what is on disk, so that repeating it (after
/// a kill during an undo) is harmless. A step that cannot be undone (a folder on its way is now
/// a symlink, an I/O error) does not stop the others: they are undone, and the first failure is
/// returned, so the journal stays and the next command repeats the undo once the cause (named
/// in the error) is removed.
fn undo_all(root: &Path, steps: &[Step]) -> Result<()> {
    let mut first_failure = None;
    for step in steps.iter().rev() {
        if let Err(e) = undo(root, step) {
            first_failure.get_or_insert(e);
        }
    }
    first_failure.map_or(Ok(()), Err)
}

/// Undoes one step, through the open folders of its paths.
fn undo(root: &Path, step: &Step) -> Result<()> {
    let io = |folder: &Folder, name: &OsStr| {
        let path = folder.path().join(name);
        move |e| StoreError::io(path, e)
    };
    match step {
        Step::Created { path } => {
            let Some((folder, name)) = open_parent(root, path)? else { return Ok(()) };
            match folder.kind(name)? {
                Some((EntryKind::Folder, _)) | None => {}
                Some(_) => folder.remove_file(name).map_err(io(&folder, name))?,
            }
            // The link folder, then the secret or group folder the change created, if empty.
            for created in Path::new(path).ancestors().skip(1).take(2) {
                let (Some(parent), Some(name)) = (created.parent(), created.file_name()) else { break };
                if let Ok(Some(parent)) = open_folder(root, parent) {
                    let _ = parent.remove_dir(name);
                }
            }
        }
        Step::Replaced { path, backup } => {
            let Some((folder, name)) = open_parent(root, path)? else { return Ok(()) };
            let Some(backup) = Path::new(backup).file_name() else { return Err(outside(Path::new(path))) };
            if let Some(kept) = folder.identity(backup) {
                // When the write never happened, both names are one file, and a rename
                // between two names of one file does nothing: drop the extra name instead.
                if folder.identity(name) == Some(kept) {
                    folder.remove_file(backup).map_err(io(&folder, backup))?;
                } else {
                    folder.rename(backup, &folder, name).map_err(io(&folder, name))?;
                }
                folder.sync();
            }
        }
        Step::Link { path, target } => {
            let (folder, name) = create_parent(root, path)?;
            match folder.kind(name)? {
                None => {}
                Some(_) if folder.link_target(name).as_deref() == Some(Path::new(target)) => return Ok(()),
                Some((EntryKind::Folder, _)) => return Err(StoreError::FolderInTheWay { path: folder.path().join(name) }),
                Some(_) => folder.remove_file(name).map_err(io(&folder, name))?,
            }
            folder.symlink(Path::new(target), name).map_err(io(&folder, name))?;
        }
        Step::DirRemoved { path, backup } => {
            let Some((folder, name)) = open_parent(root, path)? else { return Ok(()) };
            let Some(backup) = Path::new(backup).file_name() else { return Err(outside(Path::new(path))) };
            if folder.kind(backup)?.is_some() && folder.kind(name)?.is_none() {
                folder.rename(backup, &folder, name).map_err(io(&folder, name))?;
                folder.sync();
            }
        }
        Step::DirRenamed { from, to } => {
            let Some((target, to_name)) = open_parent(root, to)? else { return Ok(()) };
            if target.kind(to_name)?.is_none() {
                return Ok(());
            }
            let (source, from_name) = create_parent(root, from)?;
            if source.kind(from_name)?.is_none() {
                target.rename(to_name, &source, from_name).map_err(io(&source, from_name))?;
                source.sync();
                target.sync();
            }
        }
        Step::Final => {}
    }
    Ok(())
}

/// Makes a folder's entries durable (a rename or a removal in it); best effort, as not every
/// file system can sync a folder.
pub(crate) fn sync_dir(dir: Option<&Path>) {
    #[cfg(unix)]
    if let Some(dir) = dir {
        if let Ok(handle) = File::open(dir) {
            let _ = handle.sync_all();
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn repo() -> (tempfile::TempDir, Repo) {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo::at(dir.path().canonicalize().unwrap());
        fs::create_dir_all(repo.sops_dir().join("secrets/s/users")).unwrap();
        (dir, repo)
    }

    #[test]
    fn an_abandoned_journal_is_undone_by_the_next_holder_of_the_lock() {
        let (_d, repo) = repo();
        let secret = repo.sops_dir().join("secrets/s/secret");
        fs::write(&secret, "old").unwrap();
        let link = repo.sops_dir().join("secrets/s/users/mallory");
        symlink(Path::new("../../../users/mallory"), &link).unwrap();

        let mut journal = Journal::begin(&repo).unwrap();
        let backup = repo.sops_dir().join("secrets/s/.secrets-old-1");
        journal.record(vec![Step::Link { path: journal.relative(&link).unwrap(), target: "../../../users/mallory".into() }]).unwrap();
        fs::remove_file(&link).unwrap();
        journal
            .record(vec![Step::Replaced { path: journal.relative(&secret).unwrap(), backup: journal.relative(&backup).unwrap() }])
            .unwrap();
        fs::hard_link(&secret, &backup).unwrap();
        fs::write(repo.sops_dir().join("secrets/s/tmp"), "new").unwrap();
        fs::rename(repo.sops_dir().join("secrets/s/tmp"), &secret).unwrap();
        // A kill: the journal is left as it is, with a half-written last line.
        std::mem::forget(journal);
        let mut f = fs::OpenOptions::new().append(true).open(path(&repo)).unwrap();
        f.write_all(b"{\"undo\":\"crea").unwrap();

        assert!(pending(&repo));
        assert!(Journal::begin(&repo).is_err(), "no new change before the old one is undone");
        let lock = RepoLock::try_acquire(&repo).unwrap().unwrap();
        let recovered = recover(&repo, &lock).unwrap().unwrap();
        assert_eq!(recovered.steps, 2);
        assert_eq!(fs::read(&secret).unwrap(), b"old");
        assert_eq!(fs::read_link(&link).unwrap(), Path::new("../../../users/mallory"));
        assert!(!backup.exists());
        assert!(!pending(&repo));
        assert!(recover(&repo, &lock).unwrap().is_none());
    }

    /// Killed after a replacement was journaled but before its old content was kept, or while
    /// it was being copied (no hard links): the file is untouched, and undoing leaves it so and
    /// removes the partial copy, which could otherwise be read by everyone the old content was
    /// for.
    #[test]
    fn a_kill_before_the_old_content_is_kept_leaves_the_file_and_no_copy() {
        for partial_copy in [false, true] {
            let (_d, repo) = repo();
            let folder = repo.sops_dir().join("secrets/s");
            fs::write(folder.join("secret"), "old").unwrap();
            let steps = [Step::Replaced { path: "sops/secrets/s/secret".into(), backup: "sops/secrets/s/.secrets-old-5".into() }];
            fs::write(path(&repo), steps.iter().map(|s| serde_json::to_string(s).unwrap() + "\n").collect::<String>()).unwrap();
            if partial_copy {
                // The copy is made under a temporary name, renamed to the backup once whole.
                fs::write(folder.join(".secrets-5a5a5a5a5a5a5a5a"), "ol").unwrap();
            }
            let lock = RepoLock::try_acquire(&repo).unwrap().unwrap();
            assert!(!recover(&repo, &lock).unwrap().unwrap().completed);
            assert_eq!(fs::read(folder.join("secret")).unwrap(), b"old");
            let names: Vec<_> = fs::read_dir(&folder).unwrap().map(|e| e.unwrap().file_name()).collect();
            assert_eq!(names.len(), 2, "only secret and users/ are left: {names:?}");
        }
    }

    #[test]
    fn a_complete_change_killed_during_its_clean_up_is_finished_not_undone() {
        let (_d, repo) = repo();
        let secret = repo.sops_dir().join("secrets/s/secret");
        let backup = repo.sops_dir().join("secrets/s/.secrets-old-9");
        fs::write(&backup, "old").unwrap();
        fs::write(&secret, "new").unwrap();
        let steps = [Step::Replaced { path: "sops/secrets/s/secret".into(), backup: "sops/secrets/s/.secrets-old-9".into() }, Step::Final];
        let text: String = steps.iter().map(|s| serde_json::to_string(s).unwrap() + "\n").collect();
        fs::write(path(&repo), text).unwrap();
        let lock = RepoLock::try_acquire(&repo).unwrap().unwrap();
        let recovered = recover(&repo, &lock).unwrap().unwrap();
        assert!(recovered.completed);
        assert_eq!(fs::read(&secret).unwrap(), b"new", "kept, not undone");
        assert!(!backup.exists(), "the old content is gone");
        assert!(!pending(&repo));
    }

    /// The clean-up of a complete change removes every `.secrets-…` file in the folders it
    /// replaced files in: a kept copy an earlier change could not remove (its folder was moved
    /// away meanwhile, then put back) may still open for a removed member.
    #[test]
    fn the_clean_up_removes_old_copies_an_earlier_change_left() {
        let (_d, repo) = repo();
        let folder = repo.sops_dir().join("secrets/s");
        fs::write(folder.join("secret"), "new").unwrap();
        fs::write(folder.join(".secrets-old-9"), "old").unwrap();
        fs::write(folder.join(".secrets-old-earlier"), "older").unwrap();
        fs::write(folder.join(".secrets-0123"), "temporary").unwrap();
        fs::write(folder.join("notes"), "kept").unwrap();
        let mut journal = Journal::begin(&repo).unwrap();
        journal
            .record(vec![Step::Replaced { path: "sops/secrets/s/secret".into(), backup: "sops/secrets/s/.secrets-old-9".into() }])
            .unwrap();
        journal.commit().unwrap();
        assert!(!pending(&repo));
        let mut names: Vec<_> = fs::read_dir(&folder).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        assert_eq!(names, ["notes", "secret", "users"]);
    }

    /// Killed after the change was marked final, before the record of what is uncommitted was
    /// written: finishing the clean-up writes it, so the next command still commits the change.
    #[test]
    fn a_complete_change_finished_by_the_next_command_is_recorded_as_uncommitted() {
        let (_d, repo) = repo();
        fs::create_dir_all(repo.root().join(".git")).unwrap();
        fs::write(repo.sops_dir().join("secrets/s/secret"), "new").unwrap();
        let steps = [Step::Created { path: "sops/secrets/s/secret".into() }, Step::Final];
        fs::write(path(&repo), steps.iter().map(|s| serde_json::to_string(s).unwrap() + "\n").collect::<String>()).unwrap();
        let lock = RepoLock::try_acquire(&repo).unwrap().unwrap();
        assert!(recover(&repo, &lock).unwrap().unwrap().completed);
        assert_eq!(crate::uncommitted::pending(&repo).unwrap().unwrap(), [repo.sops_dir().join("secrets/s/secret")]);
    }

    #[test]
    fn paths_outside_sops_and_vars_are_refused() {
        let (_d, repo) = repo();
        fs::write(path(&repo), "{\"undo\":\"created\",\"path\":\"../outside\"}\n").unwrap();
        let lock = RepoLock::try_acquire(&repo).unwrap().unwrap();
        assert!(recover(&repo, &lock).is_err());
        for bad in ["/etc/passwd", "sops/../x", "other/file", ""] {
            assert!(check_relative(Path::new(bad)).is_err(), "{bad}");
        }
        assert!(check_relative(Path::new("vars/shared/g/f/secret")).is_ok());
    }

    #[cfg(unix)]
    #[test]
    fn undoing_never_goes_through_a_symlinked_folder() {
        let (dir, repo) = repo();
        let outside = dir.path().join("outside");
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("precious"), "keep").unwrap();
        symlink(&outside, repo.sops_dir().join("secrets/evil")).unwrap();
        fs::write(path(&repo), "{\"undo\":\"created\",\"path\":\"sops/secrets/evil/precious\"}\n").unwrap();
        let lock = RepoLock::try_acquire(&repo).unwrap().unwrap();
        assert!(recover(&repo, &lock).is_err());
        assert_eq!(fs::read(outside.join("precious")).unwrap(), b"keep");
    }

    /// A folder swapped for a symlink after its step was taken: that one step is refused (the
    /// error names the symlink), every other step is undone, and the journal stays, so that
    /// the next command refuses to run until the symlink is removed and then finishes undoing.
    #[cfg(unix)]
    #[test]
    fn a_step_behind_a_swapped_folder_is_refused_alone_and_finished_once_it_is_removed() {
        let (dir, repo) = repo();
        fs::create_dir_all(repo.sops_dir().join("secrets/t")).unwrap();
        let (s, t) = (repo.sops_dir().join("secrets/s/secret"), repo.sops_dir().join("secrets/t/secret"));
        for (file, backup) in [(&s, "sops/secrets/s/.secrets-old-1"), (&t, "sops/secrets/t/.secrets-old-2")] {
            fs::write(file, "new").unwrap();
            fs::write(repo.root().join(backup), "old").unwrap();
        }
        let steps = [
            Step::Replaced { path: "sops/secrets/s/secret".into(), backup: "sops/secrets/s/.secrets-old-1".into() },
            Step::Replaced { path: "sops/secrets/t/secret".into(), backup: "sops/secrets/t/.secrets-old-2".into() },
        ];
        fs::write(path(&repo), steps.iter().map(|s| serde_json::to_string(s).unwrap() + "\n").collect::<String>()).unwrap();
        let outside = dir.path().join("outside");
        fs::create_dir_all(&outside).unwrap();
        fs::rename(repo.sops_dir().join("secrets/s"), dir.path().join("moved")).unwrap();
        symlink(&outside, repo.sops_dir().join("secrets/s")).unwrap();

        let lock = RepoLock::try_acquire(&repo).unwrap().unwrap();
        let refused = recover(&repo, &lock).unwrap_err().to_string();
        assert!(refused.contains("secrets/s") && refused.contains("symbolic link"), "{refused}");
        assert_eq!(fs::read(&t).unwrap(), b"old", "the other step is undone");
        assert!(fs::read_dir(&outside).unwrap().next().is_none(), "nothing written through the symlink");
        assert!(pending(&repo), "the journal stays: the next command refuses to run");
        assert!(Journal::begin(&repo).is_err());

        fs::remove_file(repo.sops_dir().join("secrets/s")).unwrap();
        fs::rename(dir.path().join("moved"), repo.sops_dir().join("secrets/s")).unwrap();
        recover(&repo, &lock).unwrap().unwrap();
        assert_eq!(fs::read(&s).unwrap(), b"old");
        assert_eq!(fs::read(&t).unwrap(), b"old");
        assert!(!pending(&repo));
    }

    #[cfg(unix)]
    #[test]
    fn a_journal_that_is_a_fifo_a_device_link_or_writable_by_others_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let (_d, repo) = repo();
        let lock = RepoLock::try_acquire(&repo).unwrap().unwrap();
        symlink(Path::new("/dev/zero"), path(&repo)).unwrap();
        assert!(recover(&repo, &lock).is_err(), "never read through a link (to /dev/zero)");
        fs::remove_file(path(&repo)).unwrap();
        let status = std::process::Command::new("mkfifo").arg(path(&repo)).status().unwrap();
        assert!(status.success());
        assert!(recover(&repo, &lock).is_err(), "a FIFO is refused without blocking");
        fs::remove_file(path(&repo)).unwrap();
        fs::write(path(&repo), "{\"undo\":\"created\",\"path\":\"sops/secrets/s/secret\"}\n").unwrap();
        fs::write(repo.sops_dir().join("secrets/s/secret"), "keep").unwrap();
        fs::set_permissions(path(&repo), fs::Permissions::from_mode(0o666)).unwrap();
        assert!(recover(&repo, &lock).is_err(), "a journal anyone may write is refused");
        assert_eq!(fs::read(repo.sops_dir().join("secrets/s/secret")).unwrap(), b"keep");
    }

    /// Without a git directory the journal lives in `sops/`, which a local user may swap for a
    /// symlink to a folder elsewhere, and back, while changes start and are undone: the journal
    /// is never created, nor removed, over there.
    #[cfg(unix)]
    #[test]
    fn the_journal_is_never_written_through_a_sops_folder_swapped_meanwhile() {
        use std::time::{Duration, Instant};
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("keep"), "keep").unwrap();
        let repo = Repo::at(dir.path().join("repo"));
        fs::create_dir_all(repo.sops_dir()).unwrap();
        assert_eq!(lock::state_dir(&repo), repo.sops_dir(), "no git directory above the temporary folder");
        let spare = dir.path().join("spare");
        symlink(&outside, &spare).unwrap();
        let (stop, swapper) = crate::swap_race::swapping(repo.sops_dir(), spare);
        let (mut begun, deadline) = (0u64, Instant::now() + Duration::from_millis(1500));
        while Instant::now() < deadline {
            if let Ok(journal) = Journal::begin(&repo) {
                begun += 1;
                let _ = journal.roll_back();
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let swaps = swapper.join().unwrap();
        assert!(begun > 0 && swaps > 0, "the race ran: {begun} journals, {swaps} swaps");
        let names: Vec<_> = fs::read_dir(&outside).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["keep"], "nothing created outside");
    }

    /// A journal that is a symlink (to anything) is refused by name: neither followed nor taken
    /// for an interrupted change that running the command again would undo.
    #[cfg(unix)]
    #[test]
    fn a_journal_that_is_a_symlink_is_refused_by_name() {
        let (dir, repo) = repo();
        let victim = dir.path().join("victim");
        symlink(&victim, path(&repo)).unwrap();
        let err = Journal::begin(&repo).err().unwrap();
        assert!(matches!(&err, StoreError::StateFile { file: "journal", what: "a symbolic link", .. }), "{err}");
        let lock = RepoLock::try_acquire(&repo).unwrap().unwrap();
        let err = recover(&repo, &lock).unwrap_err();
        assert!(err.to_string().contains("journal is a symbolic link"), "{err}");
        assert!(!victim.exists());
    }

    #[test]
    fn only_steps_this_code_records_are_undone() {
        let (_d, repo) = repo();
        let lock = RepoLock::try_acquire(&repo).unwrap().unwrap();
        let secret = repo.sops_dir().join("secrets/s/secret");
        for bad in [
            // A revoked member put back through a link somewhere else.
            Step::Link { path: "sops/secrets/s/users/mallory".into(), target: "../../../users/alice".into() },
            Step::Link { path: "sops/secrets/s/users/mallory".into(), target: "/etc/passwd".into() },
            Step::Link { path: "sops/secrets/s/secret".into(), target: "../../users/mallory".into() },
            // Content moved in from elsewhere, folders swapped.
            Step::Replaced { path: "sops/secrets/s/secret".into(), backup: "sops/secrets/t/.secrets-old-1".into() },
            Step::Replaced { path: "sops/secrets/s/secret".into(), backup: "sops/secrets/s/other".into() },
            Step::DirRemoved { path: "sops/secrets/s".into(), backup: "sops/secrets/t".into() },
        ] {
            fs::write(&secret, "keep").unwrap();
            fs::write(path(&repo), serde_json::to_string(&bad).unwrap() + "\n").unwrap();
            assert!(recover(&repo, &lock).is_err(), "{bad:?}");
            assert_eq!(fs::read(&secret).unwrap(), b"keep");
            assert!(fs::symlink_metadata(repo.sops_dir().join("secrets/s/users/mallory")).is_err());
            fs::remove_file(path(&repo)).unwrap();
        }
        for good in [
            Step::Link { path: "sops/secrets/s/users/mallory".into(), target: "../../../users/mallory".into() },
            Step::Link { path: "vars/per-machine/m/g/f/machines/m".into(), target: "../../../../../../sops/machines/m".into() },
            Step::Replaced { path: "sops/secrets/s/secret".into(), backup: "sops/secrets/s/.secrets-old-0123abcd".into() },
            Step::DirRemoved { path: "sops/secrets/s".into(), backup: "sops/secrets/.s.removing-42".into() },
        ] {
            assert_eq!(good.validate(), Ok(()), "{good:?}");
        }
    }
}
