//! Reading what a repository's committers control. Everything under `sops/` and `vars/` comes
//! with `git pull` from whoever can push: a `secret` or `key.json` may be a symlink to a file
//! elsewhere on this disk (which the reader's key would then decrypt and a re-key would
//! re-encrypt for the committer), `/dev/zero`, a FIFO, or a huge file; a folder on the way may
//! be a symlink that leads reads, writes and deletes outside the repository. sops opens what it
//! is given and clan follows links wherever they point; this module is the one way the store
//! reads such files instead:
//!
//! - every folder from the repository root down to the file must be a real directory (checked
//!   with `lstat`, so a symlinked folder is refused, not followed);
//! - the file is opened with `O_NOFOLLOW` (a final symlink is refused by the kernel) and
//!   `O_NONBLOCK` (a FIFO cannot block the open), then `fstat` must say it is a regular file;
//! - at most the bound plus one byte is read, so a file that is, or grows, too large is refused
//!   without reading it whole. The bounds (16 MiB for a `secret`, 1 MiB for a `key.json`) can be
//!   replaced by one number of bytes in `SECRETS_MAX_FILE_SIZE`.
//!
//! Membership links are not read here: they are symlinks by design and [`crate::links`] resolves
//! them, refusing any that leave `sops/<kind>/`; it calls [`check_folders`] for the folders that
//! hold them.

use std::fs::{self, File, Metadata};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

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
    #[error(
        "{}: is a symbolic link (to {}), not a file; it could make this tool read a file outside the repository with your key. Nothing was read; remove it (`git rm`) or replace it with the file itself",
        path.display(),
        target.display()
    )]
    Symlink { path: PathBuf, target: PathBuf },

    #[error("{}: is {what}, not a regular file. Nothing was read; remove it (`git rm`)", path.display())]
    NotRegularFile { path: PathBuf, what: &'static str },

    #[error(
        "{}: larger than {limit} bytes, more than a file of this kind holds. Nothing was read; remove it, or if it is genuine set {MAX_SIZE_VARIABLE} to a larger number of bytes",
        path.display()
    )]
    TooLarge { path: PathBuf, limit: u64 },

    #[error(
        "{}: the folder is a symbolic link (to {}); it could lead reads and writes outside the repository. Nothing was read or written through it; remove it (`git rm`) or replace it with a real folder",
        path.display(),
        target.display()
    )]
    FolderSymlink { path: PathBuf, target: PathBuf },

    #[error("{}: is {what} where a folder belongs. Remove it (`git rm`)", path.display())]
    NotAFolder { path: PathBuf, what: &'static str },

    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("{MAX_SIZE_VARIABLE}={value:?} is not a number of bytes; unset it or give a number such as 33554432")]
    BadLimit { value: String },
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
    let Ok(relative) = dir.strip_prefix(root) else {
        return check_folder(dir);
    };
    let mut here = root.to_path_buf();
    for part in relative.components() {
        here.push(part);
        if !check_folder(&here)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Checks one folder with `lstat`: `false` when it does not exist.
fn check_folder(dir: &Path) -> Result<bool, UntrustedError> {
    match fs::symlink_metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(true),
        Ok(meta) if meta.file_type().is_symlink() => {
            Err(UntrustedError::FolderSymlink { path: dir.to_path_buf(), target: fs::read_link(dir).unwrap_or_default() })
        }
        Ok(meta) => Err(UntrustedError::NotAFolder { path: dir.to_path_buf(), what: describe(&meta) }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(UntrustedError::io(dir, e)),
    }
}

/// Reads the repository file `path` (under `root`): its folders checked, itself opened
/// without following a link or blocking, refused unless regular and within `limit`.
pub fn read(root: &Path, path: &Path, limit: Limit) -> Result<Vec<u8>, UntrustedError> {
    if let Some(parent) = path.parent() {
        if !check_folders(root, parent)? {
            return Err(UntrustedError::io(path, io::ErrorKind::NotFound.into()));
        }
    }
    read_file(path, limit)
}

/// As [`read`], for text (a `key.json`).
pub fn read_to_string(root: &Path, path: &Path, limit: Limit) -> Result<String, UntrustedError> {
    let bytes = read(root, path, limit)?;
    String::from_utf8(bytes).map_err(|_| UntrustedError::io(path, io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text")))
}

/// Reads one file whose folders the caller has checked: never through a final symlink, never
/// blocking, only a regular file, at most `limit` bytes.
pub fn read_file(path: &Path, limit: Limit) -> Result<Vec<u8>, UntrustedError> {
    let max = limit.bytes()?;
    // lstat first, so that a device or FIFO is not even opened when it can be told apart.
    let meta = fs::symlink_metadata(path).map_err(|e| UntrustedError::io(path, e))?;
    refuse_unless_regular(path, &meta)?;
    let file = open_no_follow(path)?;
    // The entry may have changed since the lstat: what counts is what was opened.
    let meta = file.metadata().map_err(|e| UntrustedError::io(path, e))?;
    refuse_unless_regular(path, &meta)?;
    if meta.len() > max {
        return Err(UntrustedError::TooLarge { path: path.to_path_buf(), limit: max });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(max.saturating_add(1)).read_to_end(&mut bytes).map_err(|e| UntrustedError::io(path, e))?;
    if bytes.len() as u64 > max {
        return Err(UntrustedError::TooLarge { path: path.to_path_buf(), limit: max });
    }
    Ok(bytes)
}

/// Whether `path` is a regular file, by `lstat` (a symlink is not), and within its folders:
/// `Ok(false)` when absent, an error when something else is there.
pub fn is_regular_file(root: &Path, path: &Path) -> Result<bool, UntrustedError> {
    if let Some(parent) = path.parent() {
        if !check_folders(root, parent)? {
            return Ok(false);
        }
    }
    match fs::symlink_metadata(path) {
        Ok(meta) => refuse_unless_regular(path, &meta).map(|()| true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(UntrustedError::io(path, e)),
    }
}

fn refuse_unless_regular(path: &Path, meta: &Metadata) -> Result<(), UntrustedError> {
    if meta.file_type().is_symlink() {
        return Err(UntrustedError::Symlink { path: path.to_path_buf(), target: fs::read_link(path).unwrap_or_default() });
    }
    if !meta.is_file() {
        return Err(UntrustedError::NotRegularFile { path: path.to_path_buf(), what: describe(meta) });
    }
    Ok(())
}

#[cfg(unix)]
fn open_no_follow(path: &Path) -> Result<File, UntrustedError> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC).open(path).map_err(|e| {
        if e.raw_os_error() == Some(libc::ELOOP) {
            UntrustedError::Symlink { path: path.to_path_buf(), target: fs::read_link(path).unwrap_or_default() }
        } else {
            UntrustedError::io(path, e)
        }
    })
}

#[cfg(not(unix))]
fn open_no_follow(path: &Path) -> Result<File, UntrustedError> {
    File::open(path).map_err(|e| UntrustedError::io(path, e))
}

/// What kind of entry `meta` describes, for messages.
fn describe(meta: &Metadata) -> &'static str {
    let kind = meta.file_type();
    if kind.is_symlink() {
        return "a symbolic link";
    }
    if kind.is_dir() {
        return "a folder";
    }
    if kind.is_file() {
        return "a regular file";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a named pipe (FIFO)";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "a device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    "a special file"
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let err = open_no_follow(&root.join("sops/secrets/l/secret")).unwrap_err();
        assert!(matches!(err, UntrustedError::Symlink { .. }), "{err}");
    }

    #[test]
    fn a_fifo_neither_blocks_nor_is_read() {
        let (_d, root) = tree();
        let fifo = root.join("sops/secrets/s/fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = read(&root, &fifo, Limit::Secret).unwrap_err();
        assert!(matches!(err, UntrustedError::NotRegularFile { what: "a named pipe (FIFO)", .. }), "{err}");
        // Opened directly (as after a swap behind the lstat), it does not block either.
        let file = open_no_follow(&fifo).unwrap();
        assert!(!file.metadata().unwrap().is_file());
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

    #[test]
    fn the_root_itself_may_be_reached_through_a_link() {
        let (_d, root) = tree();
        let other = tempfile::tempdir().unwrap();
        let alias = other.path().join("checkout");
        symlink(&root, &alias).unwrap();
        assert_eq!(read(&alias, &alias.join("sops/secrets/s/secret"), Limit::Secret).unwrap(), b"{}");
    }
}
