//! Reading what a repository's committers control. Everything under `sops/` and `vars/` comes
//! with `git pull` from whoever can push: a `secret` or `key.json` may be a symlink to a file
//! elsewhere on this disk (which the reader's key would then decrypt and a re-key would
//! re-encrypt for the committer), `/dev/zero`, a FIFO, or a huge file; a folder on the way may
//! be a symlink that leads reads, writes and deletes outside the repository. sops opens what it
//! is given and clan follows links wherever they point; this module is the one way the store
//! reads such files instead:
//!
//! - every folder from the repository root down to the file must be a real directory: each is
//!   opened from the root one component at a time with `O_DIRECTORY|O_NOFOLLOW` ([`Folder`]),
//!   and the next folder, the file and the listings are reached relative to that descriptor, so
//!   a folder swapped for a symlink after a check is still refused, never followed (the root
//!   itself is the user's choice and may be reached through a link);
//! - the file is opened with `O_NOFOLLOW` (a final symlink is refused by the kernel) and
//!   `O_NONBLOCK` (a FIFO cannot block the open), then `fstat` must say it is a regular file;
//! - at most the bound plus one byte is read, so a file that is, or grows, too large is refused
//!   without reading it whole. The bounds (16 MiB for a `secret`, 1 MiB for a `key.json`) can be
//!   replaced by one number of bytes in `SECRETS_MAX_FILE_SIZE`.
//!
//! An operation over many files (a bulk re-key) opens the folders that hold them once
//! ([`FolderCache`]: `sops/<kind>`, `vars/shared`, `vars/per-machine`) and walks down from
//! those descriptors one component at a time, with the same refusals, instead of from the root
//! for every file.
//!
//! Writes go through the same open folders (the `write` module: [`Folder::open_or_create`],
//! [`Folder::write_atomic`], links, removals and renames relative to the descriptor), so a
//! folder swapped for a symlink is never written through either.
//!
//! Membership links are not read here: they are symlinks by design and [`crate::links`] resolves
//! them, refusing any that leave `sops/<kind>/`; it lists, adds and removes them through the
//! [`Folder`] that holds them.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, CWD};
use rustix::io::Errno;

mod write;
pub(crate) use write::fresh_name;
pub use write::CAN_SYNC_FILE_SYSTEM;

/// The variable that replaces the size bounds, in bytes.
pub const MAX_SIZE_VARIABLE: &str = "SECRETS_MAX_FILE_SIZE";
/// The default bound of a `secret` file (a sops file holding one value).
pub const DEFAULT_MAX_SECRET_SIZE: u64 = 16 << 20;
/// The default bound of a `key.json` (a handful of public keys).
pub const DEFAULT_MAX_KEY_FILE_SIZE: u64 = 1 << 20;

/// How large a file may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// A `secret` file: [`DEFAULT_MAX_SECRET_SIZE`] unless [`MAX_SIZE_VARIABLE`] is set.
    Secret,
    /// A `key.json`: [`DEFAULT_MAX_KEY_FILE_SIZE`] unless [`MAX_SIZE_VARIABLE`] is set.
    KeyFile,
    /// An explicit number of bytes.
    Bytes(u64),
}

impl Limit {
    /// The bound in bytes.
    pub fn bytes(self) -> Result<u64, UntrustedError> {
        let default = match self {
            Limit::Secret => DEFAULT_MAX_SECRET_SIZE,
            Limit::KeyFile => DEFAULT_MAX_KEY_FILE_SIZE,
            Limit::Bytes(n) => return Ok(n),
        };
        match std::env::var(MAX_SIZE_VARIABLE) {
            Ok(value) if !value.trim().is_empty() => value.trim().parse().map_err(|_| UntrustedError::BadLimit { value }),
            _ => Ok(default),
        }
    }
}

/// Why a repository file or folder was refused. Each names the path and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UntrustedError {
    /// A file of the repository is a symbolic link: following it could make this tool read (and
    /// decrypt with the caller's key) a file outside the repository.
    #[error(
        "{}: is a symbolic link (to {}), not a file; it could make this tool read a file outside the repository with your key. Nothing was read; remove it (`git rm`) or replace it with the file itself",
        path.display(),
        target.display()
    )]
    Symlink {
        /// The entry, as the repository names it.
        path: PathBuf,
        /// Where the link points, as written.
        target: PathBuf,
    },

    /// A file of the repository is a FIFO, a device or a socket: reading it could block or touch
    /// hardware.
    #[error("{}: is {what}, not a regular file. Nothing was read; remove it (`git rm`)", path.display())]
    NotRegularFile {
        /// The entry, as the repository names it.
        path: PathBuf,
        /// What it is instead (`a named pipe (FIFO)`, `a device`, …).
        what: &'static str,
    },

    /// A file is larger than any file of its kind needs to be ([`Limit`]): refused before it is read.
    #[error(
        "{}: larger than {limit} bytes, more than a file of this kind holds. Nothing was read; remove it, or if it is genuine set {MAX_SIZE_VARIABLE} to a larger number of bytes",
        path.display()
    )]
    TooLarge {
        /// The entry, as the repository names it.
        path: PathBuf,
        /// The size limit that applied, in bytes.
        limit: u64,
    },

    /// A folder on the way is a symbolic link, which could lead reads and writes outside the
    /// repository.
    #[error(
        "{}: the folder is a symbolic link (to {}); it could lead reads and writes outside the repository. Nothing was read or written through it; remove it (`git rm`) or replace it with a real folder",
        path.display(),
        target.display()
    )]
    FolderSymlink {
        /// The folder, as the repository names it.
        path: PathBuf,
        /// Where the link points, as written.
        target: PathBuf,
    },

    /// Something other than a folder where the layout has a folder.
    #[error("{}: is {what} where a folder belongs. Remove it (`git rm`)", path.display())]
    NotAFolder {
        /// The entry, as the repository names it.
        path: PathBuf,
        /// What it is instead.
        what: &'static str,
    },

    /// Opening or reading the entry failed (including: it does not exist, see
    /// [`UntrustedError::is_not_found`]).
    #[error("{}: {source}", path.display())]
    Io {
        /// The entry, as the repository names it.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// The size-limit variable is set to something that is not a number of bytes.
    #[error("{MAX_SIZE_VARIABLE}={value:?} is not a number of bytes; unset it or give a number such as 33554432")]
    BadLimit {
        /// The variable's value as set.
        value: String,
    },
}

impl UntrustedError {
    /// Whether the file (or a folder on the way) simply does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, UntrustedError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }

    /// A stable name of the kind of refusal, as `secrets check` reports it.
    pub fn code(&self) -> &'static str {
        match self {
            UntrustedError::Symlink { .. } => "symlink",
            UntrustedError::NotRegularFile { .. } => "not-a-regular-file",
            UntrustedError::TooLarge { .. } => "too-large",
            UntrustedError::FolderSymlink { .. } => "folder-symlink",
            UntrustedError::NotAFolder { .. } => "not-a-folder",
            UntrustedError::Io { .. } => "unreadable",
            UntrustedError::BadLimit { .. } => "bad-limit",
        }
    }

    /// The path concerned, if any.
    pub fn path(&self) -> Option<&Path> {
        match self {
            UntrustedError::Symlink { path, .. }
            | UntrustedError::NotRegularFile { path, .. }
            | UntrustedError::TooLarge { path, .. }
            | UntrustedError::FolderSymlink { path, .. }
            | UntrustedError::NotAFolder { path, .. }
            | UntrustedError::Io { path, .. } => Some(path),
            UntrustedError::BadLimit { .. } => None,
        }
    }

    fn io(path: &Path, source: io::Error) -> UntrustedError {
        UntrustedError::Io { path: path.to_path_buf(), source }
    }
}

/// Checks that every folder from `root` (excluded: the user chose it) down to `dir` (included)
/// is a real directory. Returns `false` when one of them does not exist (nothing beyond it can
/// be read; creating it makes a real folder). A `dir` outside `root` is checked alone.
pub fn check_folders(root: &Path, dir: &Path) -> Result<bool, UntrustedError> {
    Ok(Folder::open(root, dir)?.is_some())
}

/// An open repository folder, reached from the root the user chose one component at a time
/// with `O_DIRECTORY|O_NOFOLLOW`. What is read through it is looked up relative to its
/// descriptor, so swapping a folder on the way for a symlink after it was opened (a racing
/// `git pull`, a local user with write access to the checkout) changes nothing about what is
/// read. The path is kept for messages only; it is never used to reach the folder again.
#[derive(Debug)]
pub struct Folder {
    fd: OwnedFd,
    path: PathBuf,
}

/// The kind of an entry of a [`Folder`], as `lstat` sees it (a symlink is not followed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// A directory.
    Folder,
    /// A regular file.
    File,
    /// A symbolic link (never followed).
    Symlink,
    /// A FIFO, device, socket or anything else.
    Other,
}

impl EntryKind {
    fn of(kind: FileType) -> EntryKind {
        match kind {
            FileType::Directory => EntryKind::Folder,
            FileType::RegularFile => EntryKind::File,
            FileType::Symlink => EntryKind::Symlink,
            _ => EntryKind::Other,
        }
    }
}

/// How many times a folder that keeps changing kind is opened before giving up.
const OPEN_ATTEMPTS: usize = 8;

const DIR_FLAGS: OFlags = OFlags::RDONLY.union(OFlags::DIRECTORY).union(OFlags::NOFOLLOW).union(OFlags::CLOEXEC);
const FILE_FLAGS: OFlags = OFlags::RDONLY.union(OFlags::NOFOLLOW).union(OFlags::NONBLOCK).union(OFlags::CLOEXEC);

impl Folder {
    /// Opens `dir`: `root` as given (the user chose it; it may be reached through a link), then
    /// every component from `root` down to `dir` without following a symlink. `None` when one
    /// of them does not exist. A `dir` outside `root` has only its own last component checked.
    pub fn open(root: &Path, dir: &Path) -> Result<Option<Folder>, UntrustedError> {
        let (start, relative) = match dir.strip_prefix(root) {
            Ok(relative) => (root, relative),
            Err(_) => match (dir.parent(), dir.file_name()) {
                (Some(parent), Some(name)) if !parent.as_os_str().is_empty() => (parent, Path::new(name)),
                _ => (Path::new("."), dir),
            },
        };
        // A repository given as a relative path may have an empty root: the current folder.
        let start = if start.as_os_str().is_empty() { Path::new(".") } else { start };
        let start_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let fd = match rfs::openat(CWD, start, start_flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(None),
            Err(e) => return Err(UntrustedError::io(start, e.into())),
        };
        let mut folder = Folder { fd, path: start.to_path_buf() };
        for part in relative.components() {
            let Some(name) = downward(part, dir)? else { continue };
            match folder.open_dir(name)? {
                Some(next) => folder = next,
                None => return Ok(None),
            }
        }
        Ok(Some(folder))
    }

    /// The path this folder was reached by (for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the folder `name` of this one without following a symlink: `None` if it does not
    /// exist; a symlink or anything else in its place is refused, naming it.
    pub fn open_dir(&self, name: impl AsRef<OsStr>) -> Result<Option<Folder>, UntrustedError> {
        let name = name.as_ref();
        let path = self.path.join(name);
        // The entry may change between the open and the `lstat` that says why the open failed
        // (a racing swap of a folder and a symlink): a folder seen there is opened again, a few
        // times, rather than refused as "a folder where a folder belongs".
        for _ in 0..OPEN_ATTEMPTS {
            match rfs::openat(&self.fd, name, DIR_FLAGS, Mode::empty()) {
                Ok(fd) => return Ok(Some(Folder { fd, path })),
                Err(Errno::NOENT) => return Ok(None),
                Err(Errno::LOOP | Errno::NOTDIR) => match self.kind(name)? {
                    Some((EntryKind::Folder, _)) => {} // changed meanwhile: open it again
                    Some((EntryKind::Symlink, _)) => return Err(UntrustedError::FolderSymlink { target: self.read_link(name), path }),
                    Some((_, what)) => return Err(UntrustedError::NotAFolder { path, what }),
                    None => return Ok(None),
                },
                Err(e) => return Err(UntrustedError::io(&path, e.into())),
            }
        }
        Err(UntrustedError::io(&path, io::Error::other("the folder kept being replaced while it was opened")))
    }

    /// What `name` is in this folder (not following a symlink), with its description for
    /// messages; `None` if it does not exist.
    pub fn kind(&self, name: impl AsRef<OsStr>) -> Result<Option<(EntryKind, &'static str)>, UntrustedError> {
        let name = name.as_ref();
        match rfs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => {
                let kind = FileType::from_raw_mode(stat.st_mode as _);
                Ok(Some((EntryKind::of(kind), describe(kind))))
            }
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(UntrustedError::io(&self.path.join(name), e.into())),
        }
    }

    /// Whether `name` is a regular file: `false` when absent, an error naming it when
    /// something else (a symlink, a FIFO, a folder) is there.
    pub fn is_regular_file(&self, name: impl AsRef<OsStr>) -> Result<bool, UntrustedError> {
        let name = name.as_ref();
        match self.kind(name)? {
            None => Ok(false),
            Some((EntryKind::File, _)) => Ok(true),
            Some((EntryKind::Symlink, _)) => Err(UntrustedError::Symlink { path: self.path.join(name), target: self.read_link(name) }),
            Some((_, what)) => Err(UntrustedError::NotRegularFile { path: self.path.join(name), what }),
        }
    }

    /// The target of the symlink `name` (for messages; empty if it cannot be read).
    pub fn read_link(&self, name: impl AsRef<OsStr>) -> PathBuf {
        rfs::readlinkat(&self.fd, name.as_ref(), Vec::new())
            .map(|target| PathBuf::from(OsStr::from_bytes(target.as_bytes())))
            .unwrap_or_default()
    }

    /// The entries of this folder with their kinds (symlinks not followed), without `.` and
    /// `..`, sorted by name.
    pub fn entries(&self) -> Result<Vec<(OsString, EntryKind)>, UntrustedError> {
        let fail = |e: Errno| UntrustedError::io(&self.path, e.into());
        let mut dir = rfs::Dir::read_from(&self.fd).map_err(fail)?;
        let mut out = Vec::new();
        while let Some(entry) = dir.read() {
            let entry = entry.map_err(fail)?;
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            let name = OsStr::from_bytes(name).to_os_string();
            let kind = match entry.file_type() {
                // Some file systems do not say: ask (a vanished entry is left out).
                FileType::Unknown => match self.kind(&name)? {
                    Some((kind, _)) => kind,
                    None => continue,
                },
                kind => EntryKind::of(kind),
            };
            out.push((name, kind));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Reads the file `name` of this folder: never through a symlink, never blocking, only a
    /// regular file, at most `limit` bytes.
    pub fn read(&self, name: impl AsRef<OsStr>, limit: Limit) -> Result<Vec<u8>, UntrustedError> {
        let max = limit.bytes()?;
        let name = name.as_ref();
        let path = self.path.join(name);
        // lstat first, so that a device or FIFO is not even opened when it can be told apart.
        if !self.is_regular_file(name)? {
            return Err(UntrustedError::io(&path, io::ErrorKind::NotFound.into()));
        }
        let fd = rfs::openat(&self.fd, name, FILE_FLAGS, Mode::empty()).map_err(|e| match e {
            Errno::LOOP => UntrustedError::Symlink { path: path.clone(), target: self.read_link(name) },
            other => UntrustedError::io(&path, other.into()),
        })?;
        let mut bytes = Vec::new();
        read_opened(fd, &path, max, &mut bytes)?;
        Ok(bytes)
    }

    /// As [`Folder::read`], for text (a `key.json`).
    pub fn read_text(&self, name: impl AsRef<OsStr>, limit: Limit) -> Result<String, UntrustedError> {
        let name = name.as_ref();
        let bytes = self.read(name, limit)?;
        String::from_utf8(bytes).map_err(|_| UntrustedError::io(&self.path.join(name), not_text()))
    }
}

/// The folders that hold every secret and member of a repository (`sops/<kind>`,
/// `vars/shared`, `vars/per-machine`), each opened once for one operation over many of them.
/// A folder below one of these bases is reached from the base's open descriptor with
/// [`Folder::open_dir`], one component at a time, instead of from the root again: the same
/// refusals, with the same messages and paths, as [`Folder::open`], at a fraction of the system
/// calls (a bulk re-key opens a thousand secret folders, several times each, and every walk
/// from the root costs four or five `openat` more).
///
/// A base stays open for the cache's life. That is as safe as walking again: a symlink put in
/// a base's place afterwards is never followed, the folder opened stays the one used, as with
/// any [`Folder`]. Only opened bases are kept, never "missing": a base the operation creates
/// (a first user's `sops/users`) is found by the next lookup. Keep a cache for one operation
/// that removes no base: a base removed and made again would still be the old, empty folder.
#[derive(Debug)]
pub struct FolderCache {
    root: PathBuf,
    bases: Vec<(PathBuf, OnceLock<Folder>)>,
}

impl FolderCache {
    /// The bases of the repository at `root`, none opened yet.
    pub fn new(root: &Path) -> FolderCache {
        let bases = ["sops/users", "sops/machines", "sops/groups", "sops/secrets", "vars/shared", "vars/per-machine"];
        FolderCache { root: root.to_path_buf(), bases: bases.into_iter().map(|b| (root.join(b), OnceLock::new())).collect() }
    }

    /// The repository root the bases lie in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The open base `dir` (opened on first need, from the root as [`Folder::open`] does):
    /// `None` when it does not exist, or is not one of the bases.
    pub fn base(&self, dir: &Path) -> Result<Option<&Folder>, UntrustedError> {
        match self.bases.iter().find(|(base, _)| base == dir) {
            Some((base, cell)) => self.opened(base, cell),
            None => Ok(None),
        }
    }

    fn opened<'a>(&self, base: &Path, cell: &'a OnceLock<Folder>) -> Result<Option<&'a Folder>, UntrustedError> {
        if let Some(folder) = cell.get() {
            return Ok(Some(folder));
        }
        // Two threads may both open it: one descriptor is kept, the other closed.
        let Some(opened) = Folder::open(&self.root, base)? else { return Ok(None) };
        Ok(Some(cell.get_or_init(|| opened)))
    }

    /// Opens `dir` as `Folder::open(root, dir)` does: the same folder, the same refusals and
    /// messages, `None` when a folder on the way is missing. Below a base, the walk starts at
    /// the base's open descriptor.
    pub fn open(&self, dir: &Path) -> Result<Option<Folder>, UntrustedError> {
        let Some((base, cell, relative)) =
            self.bases.iter().find_map(|(base, cell)| dir.strip_prefix(base).ok().map(|relative| (base, cell, relative)))
        else {
            return Folder::open(&self.root, dir);
        };
        // Folder::open walks the base's components first: a missing or refused base answers
        // for `dir` the same way.
        let Some(start) = self.opened(base, cell)? else { return Ok(None) };
        let mut folder: Option<Folder> = None;
        for part in relative.components() {
            let Some(name) = downward(part, dir)? else { continue };
            let next = match &folder {
                Some(folder) => folder.open_dir(name)?,
                None => start.open_dir(name)?,
            };
            match next {
                Some(next) => folder = Some(next),
                None => return Ok(None),
            }
        }
        match folder {
            Some(folder) => Ok(Some(folder)),
            // `dir` is the base itself: a descriptor of its own for the caller.
            None => Folder::open(&self.root, dir),
        }
    }
}

/// The error of a file that should hold text and does not.
fn not_text() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text")
}

/// Reads an open file into `out`: refused unless it is a regular file of at most `limit` bytes
/// (what counts is what was opened, whatever was checked before). One byte past the limit is
/// read, so a file that grows after the check is refused too. The caller chooses `out`, so
/// that key material can be read straight into zeroized memory. Public for the machine side
/// (`secrets-deploy`), which reads the key files it opened itself with this same check.
pub fn read_opened(fd: OwnedFd, path: &Path, limit: u64, out: &mut Vec<u8>) -> Result<(), UntrustedError> {
    let stat = rfs::fstat(&fd).map_err(|e| UntrustedError::io(path, e.into()))?;
    let kind = FileType::from_raw_mode(stat.st_mode as _);
    if kind != FileType::RegularFile {
        return Err(UntrustedError::NotRegularFile { path: path.to_path_buf(), what: describe(kind) });
    }
    let size = u64::try_from(stat.st_size).unwrap_or(0);
    if size > limit {
        return Err(UntrustedError::TooLarge { path: path.to_path_buf(), limit });
    }
    out.reserve(usize::try_from(size).unwrap_or(0).saturating_add(1));
    File::from(fd).take(limit.saturating_add(1)).read_to_end(out).map_err(|e| UntrustedError::io(path, e))?;
    if out.len() as u64 > limit {
        return Err(UntrustedError::TooLarge { path: path.to_path_buf(), limit });
    }
    Ok(())
}

/// Reads the repository file `path` (under `root`) through its open folder ([`Folder`]):
/// its folders never followed through a link, itself opened without following a link or
/// blocking, refused unless regular and within `limit`.
pub fn read(root: &Path, path: &Path, limit: Limit) -> Result<Vec<u8>, UntrustedError> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(UntrustedError::io(path, io::Error::new(io::ErrorKind::InvalidInput, "not a file name")));
    };
    match Folder::open(root, parent)? {
        Some(folder) => folder.read(name, limit),
        None => Err(UntrustedError::io(path, io::ErrorKind::NotFound.into())),
    }
}

/// As [`read`], for text (a `key.json`).
pub fn read_to_string(root: &Path, path: &Path, limit: Limit) -> Result<String, UntrustedError> {
    let bytes = read(root, path, limit)?;
    String::from_utf8(bytes).map_err(|_| UntrustedError::io(path, not_text()))
}

/// Reads one file that is not below a repository root (a journal, a file a manifest names):
/// its folder is opened as given, then the file as [`Folder::read`] reads it.
pub fn read_file(path: &Path, limit: Limit) -> Result<Vec<u8>, UntrustedError> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(UntrustedError::io(path, io::Error::new(io::ErrorKind::InvalidInput, "not a file name")));
    };
    let parent = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
    let fd = rfs::openat(CWD, parent, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| UntrustedError::io(path, e.into()))?;
    Folder { fd, path: parent.to_path_buf() }.read(name, limit)
}

/// Whether `path` is a regular file, by `lstat` (a symlink is not), and within its folders:
/// `Ok(false)` when absent, an error when something else is there.
pub fn is_regular_file(root: &Path, path: &Path) -> Result<bool, UntrustedError> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else { return Ok(false) };
    match Folder::open(root, parent)? {
        Some(folder) => folder.is_regular_file(name),
        None => Ok(false),
    }
}

/// What kind of entry this is, for messages.
fn describe(kind: FileType) -> &'static str {
    match kind {
        FileType::Symlink => "a symbolic link",
        FileType::Directory => "a folder",
        FileType::RegularFile => "a regular file",
        FileType::Fifo => "a named pipe (FIFO)",
        FileType::CharacterDevice | FileType::BlockDevice => "a device",
        FileType::Socket => "a socket",
        FileType::Unknown => "a special file",
    }
}

/// The folder name a component of a repository path goes down into: `None` for `.`, an error
/// for `..`, a root or a prefix (a repository path only goes down).
pub(crate) fn downward<'p>(part: Component<'p>, dir: &Path) -> Result<Option<&'p std::ffi::OsStr>, UntrustedError> {
    match part {
        Component::Normal(name) => Ok(Some(name)),
        Component::CurDir => Ok(None),
        _ => Err(UntrustedError::io(dir, io::Error::new(io::ErrorKind::InvalidInput, "a repository path goes down only"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    fn tree() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        fs::create_dir_all(root.join("sops/secrets/s")).unwrap();
        fs::write(root.join("sops/secrets/s/secret"), b"{}").unwrap();
        (dir, root)
    }

    #[test]
    fn reads_a_regular_file() {
        let (_d, root) = tree();
        assert_eq!(read(&root, &root.join("sops/secrets/s/secret"), Limit::Secret).unwrap(), b"{}");
        assert!(read(&root, &root.join("sops/secrets/t/secret"), Limit::Secret).unwrap_err().is_not_found());
        assert!(read(&root, &root.join("sops/secrets/s/gone"), Limit::Secret).unwrap_err().is_not_found());
    }

    #[test]
    fn refuses_a_symlinked_file_without_reading_it() {
        let (_d, root) = tree();
        let outside = root.join("outside.json");
        fs::write(&outside, b"{}").unwrap();
        fs::create_dir_all(root.join("sops/secrets/l")).unwrap();
        symlink(&outside, root.join("sops/secrets/l/secret")).unwrap();
        symlink("/dev/zero", root.join("sops/secrets/s/zero")).unwrap();
        for name in ["l/secret", "s/zero"] {
            let err = read(&root, &root.join("sops/secrets").join(name), Limit::Secret).unwrap_err();
            assert!(matches!(err, UntrustedError::Symlink { .. }), "{name}: {err}");
            assert_eq!(err.code(), "symlink");
        }
        // Past the lstat too: the open itself refuses a final link.
        let err = rfs::openat(CWD, root.join("sops/secrets/l/secret"), FILE_FLAGS, Mode::empty()).unwrap_err();
        assert_eq!(err, Errno::LOOP);
    }

    #[test]
    fn a_fifo_neither_blocks_nor_is_read() {
        let (_d, root) = tree();
        let fifo = root.join("sops/secrets/s/fifo");
        rustix::fs::mknodat(rustix::fs::CWD, &fifo, rustix::fs::FileType::Fifo, rustix::fs::Mode::from_raw_mode(0o600), 0).unwrap();
        let err = read(&root, &fifo, Limit::Secret).unwrap_err();
        assert!(matches!(err, UntrustedError::NotRegularFile { what: "a named pipe (FIFO)", .. }), "{err}");
        // Opened directly (as after a swap behind the lstat), it does not block either.
        let fd = rfs::openat(CWD, &fifo, FILE_FLAGS, Mode::empty()).unwrap();
        let err = read_opened(fd, &fifo, 10, &mut Vec::new()).unwrap_err();
        assert!(matches!(err, UntrustedError::NotRegularFile { what: "a named pipe (FIFO)", .. }), "{err}");
    }

    #[test]
    fn refuses_a_directory_where_a_file_belongs() {
        let (_d, root) = tree();
        let err = read(&root, &root.join("sops/secrets/s"), Limit::Secret).unwrap_err();
        assert!(matches!(err, UntrustedError::NotRegularFile { what: "a folder", .. }), "{err}");
    }

    #[test]
    fn the_size_is_bounded() {
        let (_d, root) = tree();
        let path = root.join("sops/secrets/s/secret");
        fs::write(&path, vec![b'x'; 11]).unwrap();
        assert_eq!(read(&root, &path, Limit::Bytes(11)).unwrap().len(), 11);
        let err = read(&root, &path, Limit::Bytes(10)).unwrap_err();
        assert!(matches!(err, UntrustedError::TooLarge { limit: 10, .. }), "{err}");
        assert!(err.to_string().contains(MAX_SIZE_VARIABLE));
        assert_eq!(Limit::Bytes(5).bytes().unwrap(), 5);
    }

    #[test]
    fn folders_on_the_way_must_be_real() {
        let (_d, root) = tree();
        let elsewhere = root.join("elsewhere");
        fs::create_dir_all(elsewhere.join("t")).unwrap();
        fs::write(elsewhere.join("t/secret"), b"{}").unwrap();
        symlink(elsewhere.join("t"), root.join("sops/secrets/t")).unwrap();
        let err = read(&root, &root.join("sops/secrets/t/secret"), Limit::Secret).unwrap_err();
        assert!(matches!(&err, UntrustedError::FolderSymlink { path, .. } if path.ends_with("sops/secrets/t")), "{err}");

        // A symlinked kind folder is refused at that level.
        fs::create_dir_all(elsewhere.join("users/bob")).unwrap();
        symlink(elsewhere.join("users"), root.join("sops/users")).unwrap();
        let err = check_folders(&root, &root.join("sops/users/bob")).unwrap_err();
        assert!(matches!(&err, UntrustedError::FolderSymlink { path, .. } if path.ends_with("sops/users")), "{err}");
        assert_eq!(err.code(), "folder-symlink");

        fs::write(root.join("sops/groups"), b"").unwrap();
        let err = check_folders(&root, &root.join("sops/groups/g")).unwrap_err();
        assert!(matches!(err, UntrustedError::NotAFolder { .. }), "{err}");
        assert!(!check_folders(&root, &root.join("sops/machines/m")).unwrap());
        assert!(is_regular_file(&root, &root.join("sops/secrets/s/secret")).unwrap());
        assert!(!is_regular_file(&root, &root.join("sops/secrets/x/secret")).unwrap());
    }

    /// A racing committer or local user swaps a secret's folder for a symlink to a folder
    /// elsewhere, and back, while the store reads: a check of the folders followed by an open by
    /// path would sometimes read the outside file; reading through open folders never does.
    #[test]
    fn a_folder_swapped_for_a_symlink_while_reading_is_never_followed() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        use std::time::{Duration, Instant};
        let (_d, root) = tree();
        let outside = root.join("outside");
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("secret"), b"OUTSIDE").unwrap();
        let (real, spare) = (root.join("sops/secrets/s"), root.join("spare"));
        symlink(&outside, &spare).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let swapper = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut swaps = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    rfs::renameat_with(CWD, &real, CWD, &spare, rfs::RenameFlags::EXCHANGE).unwrap();
                    swaps += 1;
                }
                swaps
            })
        };
        let file = root.join("sops/secrets/s/secret");
        let (mut inside, mut leaked) = (0u64, 0u64);
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            match read(&root, &file, Limit::Secret) {
                Ok(bytes) if bytes == b"{}" => inside += 1,
                Ok(_) => leaked += 1,
                Err(_) => {}
            }
        }
        stop.store(true, Ordering::Relaxed);
        let swaps = swapper.join().unwrap();
        assert_eq!(leaked, 0, "the outside file was read {leaked} times ({inside} inside, {swaps} swaps)");
        assert!(inside > 0 && swaps > 0, "the race ran: {inside} reads inside, {swaps} swaps");
    }

    /// What is read through an open folder is what that folder holds, even after its path
    /// has been given to a symlink.
    #[test]
    fn an_open_folder_keeps_reading_the_folder_it_opened() {
        let (_d, root) = tree();
        let outside = root.join("outside");
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("secret"), b"OUTSIDE").unwrap();
        let folder = Folder::open(&root, &root.join("sops/secrets/s")).unwrap().unwrap();
        fs::rename(root.join("sops/secrets/s"), root.join("moved")).unwrap();
        symlink(&outside, root.join("sops/secrets/s")).unwrap();
        assert_eq!(folder.read("secret", Limit::Secret).unwrap(), b"{}");
        assert_eq!(folder.entries().unwrap(), [(OsString::from("secret"), EntryKind::File)]);
        let err = Folder::open(&root, &root.join("sops/secrets/s")).unwrap_err();
        assert!(matches!(&err, UntrustedError::FolderSymlink { target, .. } if target == &outside), "{err}");
    }

    #[test]
    fn an_empty_root_is_the_current_folder() {
        let (_d, root) = tree();
        let here = std::env::current_dir().unwrap();
        let relative = root.strip_prefix(&here).map(Path::to_path_buf);
        // Only meaningful when the temporary folder is below the current one; the empty root
        // itself always opens the current folder.
        assert!(Folder::open(Path::new(""), Path::new("")).unwrap().is_some());
        if let Ok(relative) = relative {
            assert_eq!(read(Path::new(""), &relative.join("sops/secrets/s/secret"), Limit::Secret).unwrap(), b"{}");
        }
    }

    #[test]
    fn the_root_itself_may_be_reached_through_a_link() {
        let (_d, root) = tree();
        let other = tempfile::tempdir().unwrap();
        let alias = other.path().join("checkout");
        symlink(&root, &alias).unwrap();
        assert_eq!(read(&alias, &alias.join("sops/secrets/s/secret"), Limit::Secret).unwrap(), b"{}");
    }

    /// A folder opened through the cache is the one `Folder::open` opens, refused the same way
    /// with the same message, missing the same way.
    #[test]
    fn the_cache_opens_what_a_walk_from_the_root_opens() {
        let (_d, root) = tree();
        let elsewhere = root.join("elsewhere");
        fs::create_dir_all(elsewhere.join("users")).unwrap();
        fs::create_dir_all(root.join("sops/secrets/s/users")).unwrap();
        fs::create_dir_all(root.join("vars/shared/g/f")).unwrap();
        symlink(&elsewhere, root.join("sops/secrets/t")).unwrap();
        symlink(elsewhere.join("users"), root.join("sops/secrets/s/machines")).unwrap();
        fs::write(root.join("sops/secrets/s/groups"), "").unwrap();
        symlink(&elsewhere, root.join("sops/users")).unwrap();
        let cache = FolderCache::new(&root);
        let describe = |r: Result<Option<Folder>, UntrustedError>| match r {
            Ok(Some(folder)) => format!("open {}: {:?}", folder.path().display(), folder.entries().unwrap()),
            Ok(None) => "missing".to_string(),
            Err(e) => format!("refused: {e}"),
        };
        for dir in [
            "sops/secrets",
            "sops/secrets/s",
            "sops/secrets/s/users",
            "sops/secrets/./s/users",
            "sops/secrets/s/machines",
            "sops/secrets/s/groups",
            "sops/secrets/s/missing/users",
            "sops/secrets/t",
            "sops/secrets/t/users",
            "sops/secrets/../secrets/s",
            "sops/users",
            "sops/users/bob",
            "sops/machines/m",
            "vars/shared/g/f",
            "vars/per-machine/m",
            "sops",
            "elsewhere",
        ] {
            let dir = root.join(dir);
            let walked = describe(Folder::open(&root, &dir));
            assert_eq!(describe(cache.open(&dir)), walked, "{}", dir.display());
            // Once the bases are open, the same again.
            assert_eq!(describe(cache.open(&dir)), walked, "{}", dir.display());
        }
        assert!(cache.base(&root.join("sops/secrets")).unwrap().is_some());
        assert!(cache.base(&root.join("sops/machines")).unwrap().is_none(), "missing");
        assert!(cache.base(&root.join("sops")).unwrap().is_none(), "not a base");
        assert_eq!(cache.base(&root.join("sops/users")).unwrap_err().code(), "folder-symlink");
    }

    /// A base swapped for a symlink once open is never followed; a base created after a lookup
    /// found it missing is found.
    #[test]
    fn a_cached_base_is_never_followed_through_a_swap_and_a_new_one_is_found() {
        let (_d, root) = tree();
        let outside = root.join("outside");
        fs::create_dir_all(outside.join("s")).unwrap();
        fs::write(outside.join("s/secret"), b"OUTSIDE").unwrap();
        let cache = FolderCache::new(&root);
        assert!(cache.open(&root.join("sops/users/u")).unwrap().is_none());
        assert_eq!(cache.open(&root.join("sops/secrets/s")).unwrap().unwrap().read("secret", Limit::Secret).unwrap(), b"{}");
        fs::rename(root.join("sops/secrets"), root.join("moved")).unwrap();
        symlink(&outside, root.join("sops/secrets")).unwrap();
        let folder = cache.open(&root.join("sops/secrets/s")).unwrap().unwrap();
        assert_eq!(folder.read("secret", Limit::Secret).unwrap(), b"{}", "the folder opened first, not the link");
        fs::create_dir_all(root.join("sops/users/u")).unwrap();
        assert!(cache.open(&root.join("sops/users/u")).unwrap().is_some());
    }
}
