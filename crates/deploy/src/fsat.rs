//! Directory-relative file operations for an install that runs as root.
//!
//! Everything an install writes is reached through an open folder descriptor, never through a
//! path looked up again later, so that a local user who swaps a folder or plants a symlink
//! between a check and a use gains nothing:
//!
//! - the folders on the way to the target are walked one component at a time with
//!   `O_NOFOLLOW|O_DIRECTORY`, and each must belong to root or to the caller and be writable by
//!   nobody else, unless it is sticky (`/tmp`): there others may add names but cannot rename or
//!   remove ours, so a name we create there stays ours;
//! - the folders an install owns (`<target>.d`, its generations, staging folders) must belong to
//!   the caller and be writable by nobody else; missing ones are created with `mkdirat` and
//!   checked again once open, so a folder planted in a race is refused, not used;
//! - files are created with `O_CREAT|O_EXCL|O_NOFOLLOW` inside an open folder, and changed
//!   (`fchmod`, `fchown`) through their own descriptor.
//!
//! sops-install-secrets gets the same guarantees implicitly, because its `/run` is root's; here
//! any target may be given, so they are checked.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, RenameFlags, Stat, CWD};
use rustix::io::Errno;
use zeroize::Zeroizing;

use crate::error::{DeployError, Exposure, Result};

/// How deep a generation's folders may nest (names are checked to go down only; this bounds
/// recursion over what is found on disk).
const MAX_DEPTH: usize = 64;
/// Attempts at a fresh random name before giving up.
const NAME_ATTEMPTS: usize = 64;

/// The effective uid of this process: who the installed folders must belong to.
pub fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

fn os_error(path: &Path, errno: Errno) -> DeployError {
    DeployError::Os { path: path.to_path_buf(), source: errno.into() }
}

fn unsafe_path(path: &Path, exposure: Exposure) -> DeployError {
    DeployError::Unsafe { path: path.to_path_buf(), exposure }
}

const DIR_FLAGS: OFlags = OFlags::RDONLY.union(OFlags::DIRECTORY).union(OFlags::NOFOLLOW).union(OFlags::CLOEXEC);

fn file_type(stat: &Stat) -> FileType {
    FileType::from_raw_mode(stat.st_mode as _)
}

/// A folder on the way to the target: root's, the caller's (or `also`'s, the user an extra
/// link is for), and not writable by others unless sticky.
fn check_ancestor(path: &Path, stat: &Stat, also: Option<u32>) -> Result<()> {
    let me = euid();
    if stat.st_uid != 0 && stat.st_uid != me && Some(stat.st_uid) != also {
        return Err(unsafe_path(path, Exposure::ForeignFolder { uid: stat.st_uid, me }));
    }
    let sticky = stat.st_mode & 0o1000 != 0;
    if stat.st_mode & 0o022 != 0 && !sticky {
        return Err(unsafe_path(path, Exposure::WritableFolder { mode: stat.st_mode & 0o7777 }));
    }
    Ok(())
}

/// How many symlinks one walk follows at most (as the kernel's 40).
const MAX_LINKS: usize = 40;

/// The components of a path as names, `.` and `..` kept (they are resolved while walking, the
/// way the kernel resolves them: `..` after a symlink leads to the parent of its target).
fn components_of(path: &Path) -> std::collections::VecDeque<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name.to_os_string()),
            Component::CurDir => Some(OsString::from(".")),
            Component::ParentDir => Some(OsString::from("..")),
            Component::RootDir | Component::Prefix(_) => None,
        })
        .collect()
}

/// Whether a symlink met while walking to a target may be followed. Only root and the caller
/// decide where root writes: the link must be theirs, in a folder of theirs that nobody else
/// can write to (or a sticky one, where nobody else can replace a link they do not own), and
/// no folder before it may have been trusted only because the secret's owner owns it, since
/// that user could swap anything below it. The kernel's `protected_symlinks` rule is the same
/// idea for sticky folders.
fn trusted_link(path: &Path, link: &Stat, holder: Stat, tainted: bool) -> Result<()> {
    let me = euid();
    if tainted {
        return Err(unsafe_path(path, Exposure::LinkInOwnersFolder));
    }
    if link.st_uid != 0 && link.st_uid != me {
        return Err(unsafe_path(path, Exposure::ForeignLink { uid: link.st_uid, me }));
    }
    check_ancestor(path.parent().unwrap_or(Path::new("/")), &holder, None)
}

/// A folder the install owns: the caller's, writable by nobody else.
fn check_owned(path: &Path, stat: &Stat) -> Result<()> {
    let me = euid();
    if stat.st_uid != me {
        return Err(unsafe_path(path, Exposure::ForeignOwned { uid: stat.st_uid, me }));
    }
    if stat.st_mode & 0o022 != 0 {
        return Err(unsafe_path(path, Exposure::WritableOwned { mode: stat.st_mode & 0o7777 }));
    }
    Ok(())
}

/// Opens `name` in `dir` as a folder without following a symlink; a symlink or a file in its
/// place is refused.
fn open_dir_at(dir: impl AsFd, name: &OsStr, path: &Path) -> Result<OwnedFd> {
    rfs::openat(dir, name, DIR_FLAGS, Mode::empty()).map_err(|e| match e {
        Errno::LOOP | Errno::NOTDIR => unsafe_path(path, Exposure::NotAFolder),
        other => os_error(path, other),
    })
}

/// A random name with a prefix, for staging folders and temporary links.
fn random_name(prefix: &str) -> OsString {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    OsString::from(format!("{prefix}{:016x}", hasher.finish()))
}

/// An open folder, with the path it was reached by (for messages only: it is never used to
/// reach the folder again).
#[derive(Debug)]
pub struct DirFd {
    fd: OwnedFd,
    path: PathBuf,
}

impl DirFd {
    /// The path the folder was reached by, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn child_path(&self, name: impl AsRef<Path>) -> PathBuf {
        self.path.join(name)
    }

    /// Opens the folder that will hold `path`, creating missing folders (0755), and returns it
    /// with the last component of `path`. Every folder on the way must be root's or the
    /// caller's and writable only by its owner, unless sticky.
    pub fn open_parent_of(path: &Path) -> Result<(DirFd, OsString)> {
        DirFd::open_parent_trusting(path, None)
    }

    /// [`DirFd::open_parent_of`], also accepting folders of user `also`: for an extra link to
    /// a secret that user owns (in their home, say). The walk never follows a symlink, so such
    /// a folder can only lead to folders below it, where root writes nothing but the link.
    pub fn open_parent_trusting(path: &Path, also: Option<u32>) -> Result<(DirFd, OsString)> {
        let path = std::path::absolute(path).map_err(|e| DeployError::Os { path: path.to_path_buf(), source: e })?;
        let name = match path.components().next_back() {
            Some(Component::Normal(name)) => name.to_os_string(),
            _ => return Err(unsafe_path(&path, Exposure::NoFileName)),
        };
        let parent = path.parent().unwrap_or(Path::new("/"));
        Ok((DirFd::open_trusted_with(parent, also)?, name))
    }

    /// Opens a folder by walking the path as given from `/`, one component at a time, creating
    /// missing trailing folders (0755). A symlink on the way is followed only when it can be
    /// trusted: it belongs to root or the caller, in a folder of theirs that nobody else can
    /// write to (or a sticky one), with no folder before it trusted only because the secret's
    /// owner owns it.
    pub fn open_trusted(path: &Path) -> Result<DirFd> {
        DirFd::open_trusted_with(path, None)
    }

    fn open_trusted_with(path: &Path, also: Option<u32>) -> Result<DirFd> {
        let path = std::path::absolute(path).map_err(|e| DeployError::Os { path: path.to_path_buf(), source: e })?;
        let root = Path::new("/");
        let open_root = || -> Result<OwnedFd> {
            let fd = rfs::openat(CWD, root, DIR_FLAGS, Mode::empty()).map_err(|e| os_error(root, e))?;
            check_ancestor(root, &rfs::fstat(&fd).map_err(|e| os_error(root, e))?, also)?;
            Ok(fd)
        };
        // The folders walked so far (for `..`), each with whether it was trusted only because
        // user `also` owns it.
        let mut stack: Vec<(OwnedFd, PathBuf, bool)> = vec![(open_root()?, PathBuf::from("/"), false)];
        let mut todo: std::collections::VecDeque<OsString> = components_of(&path);
        let mut links = 0;
        while let Some(name) = todo.pop_front() {
            if name == "." {
                continue;
            }
            if name == ".." {
                if stack.len() > 1 {
                    stack.pop();
                }
                continue;
            }
            let (fd, walked, tainted) = stack.last().ok_or_else(|| unsafe_path(&path, Exposure::WalkLost))?;
            let next = walked.join(&name);
            let stat = match rfs::statat(fd, &name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(stat) => stat,
                Err(Errno::NOENT) => {
                    todo.push_front(name);
                    break;
                }
                Err(e) => return Err(os_error(&next, e)),
            };
            if file_type(&stat) == FileType::Symlink {
                links += 1;
                if links > MAX_LINKS {
                    return Err(unsafe_path(&path, Exposure::TooManyLinks));
                }
                trusted_link(&next, &stat, rfs::fstat(fd).map_err(|e| os_error(walked, e))?, *tainted)?;
                let target = rfs::readlinkat(fd, &name, Vec::new()).map_err(|e| os_error(&next, e))?;
                let target = PathBuf::from(OsStr::from_bytes(target.as_bytes()));
                for part in components_of(&target).into_iter().rev() {
                    todo.push_front(part);
                }
                if target.is_absolute() {
                    stack.truncate(1);
                }
                continue;
            }
            let opened = open_dir_at(fd, &name, &next)?;
            let stat = rfs::fstat(&opened).map_err(|e| os_error(&next, e))?;
            check_ancestor(&next, &stat, also)?;
            let by_also = stat.st_uid != 0 && stat.st_uid != euid();
            let tainted = *tainted || by_also;
            stack.push((opened, next, tainted));
        }
        let (fd, walked, _) = stack.pop().ok_or_else(|| unsafe_path(&path, Exposure::WalkLost))?;
        let mut dir = DirFd { fd, path: walked };
        for name in todo {
            if name == "." {
                continue;
            }
            if name == ".." {
                return Err(unsafe_path(&path, Exposure::DotDotToCreate));
            }
            dir = dir.open_owned(&name, 0o755, true)?;
        }
        dir.path = path;
        Ok(dir)
    }

    /// Opens (or with `create`, creates with `mode`) a folder in this one that must belong to
    /// the caller and be writable by nobody else.
    pub fn open_owned(&self, name: &OsStr, mode: u32, create: bool) -> Result<DirFd> {
        let path = self.child_path(name);
        let fd = match rfs::openat(&self.fd, name, DIR_FLAGS, Mode::empty()) {
            Err(Errno::NOENT) if create => {
                match rfs::mkdirat(&self.fd, name, Mode::from_raw_mode(mode as _)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(os_error(&path, e)),
                }
                open_dir_at(&self.fd, name, &path)?
            }
            Err(Errno::LOOP | Errno::NOTDIR) => return Err(unsafe_path(&path, Exposure::NotAFolder)),
            Err(e) => return Err(os_error(&path, e)),
            Ok(fd) => fd,
        };
        check_owned(&path, &rfs::fstat(&fd).map_err(|e| os_error(&path, e))?)?;
        Ok(DirFd { fd, path })
    }

    /// Creates a new private folder under a fresh random name starting with `prefix`.
    pub fn create_private(&self, prefix: &str) -> Result<(DirFd, OsString)> {
        for _ in 0..NAME_ATTEMPTS {
            let name = random_name(prefix);
            match rfs::mkdirat(&self.fd, &name, Mode::from_raw_mode(0o700)) {
                Ok(()) => {
                    let dir = self.open_owned(&name, 0o700, false)?;
                    dir.chmod(0o700)?;
                    return Ok((dir, name));
                }
                Err(Errno::EXIST) => {}
                Err(e) => return Err(os_error(&self.path, e)),
            }
        }
        Err(unsafe_path(&self.path, Exposure::NoFreshName))
    }

    /// Opens the folders of a relative path below this one, creating missing ones with `mode`
    /// and owned by `root:<group>` when a group is given.
    pub fn descend(&self, parts: &[&OsStr], mode: u32, group: Option<u32>) -> Result<DirFd> {
        let mut dir =
            DirFd { fd: self.fd.try_clone().map_err(|e| DeployError::Os { path: self.path.clone(), source: e })?, path: self.path.clone() };
        for part in parts {
            let created = match rfs::mkdirat(&dir.fd, *part, Mode::from_raw_mode(mode as _)) {
                Ok(()) => true,
                Err(Errno::EXIST) => false,
                Err(e) => return Err(os_error(&dir.child_path(part), e)),
            };
            let next = dir.open_owned(part, mode, false)?;
            if created {
                next.chmod(mode)?;
                if let Some(gid) = group {
                    next.chown(Some(0), Some(gid))?;
                }
            }
            dir = next;
        }
        Ok(dir)
    }

    /// The file system type of the folder (`statfs`'s `f_type`) and whether the folder is the
    /// root of a mount (its device differs from its parent's).
    #[allow(clippy::useless_conversion, reason = "f_type is an i64 on x86_64, a narrower integer on other targets")]
    pub fn mount_state(&self) -> Result<(i64, bool)> {
        let kind = rfs::fstatfs(&self.fd).map_err(|e| os_error(&self.path, e))?.f_type;
        let own = rfs::fstat(&self.fd).map_err(|e| os_error(&self.path, e))?.st_dev;
        let parent = rfs::statat(&self.fd, "..", AtFlags::empty()).map_err(|e| os_error(&self.path, e))?.st_dev;
        Ok((i64::from(kind), own != parent))
    }

    /// Sets the folder's permission bits through its descriptor.
    pub fn chmod(&self, mode: u32) -> Result<()> {
        rfs::fchmod(&self.fd, Mode::from_raw_mode(mode as _)).map_err(|e| os_error(&self.path, e))
    }

    /// Sets the folder's owner and group through its descriptor (`None` leaves either as is).
    pub fn chown(&self, uid: Option<u32>, gid: Option<u32>) -> Result<()> {
        rfs::fchown(&self.fd, uid.map(rustix::fs::Uid::from_raw_unchecked), gid.map(rustix::fs::Gid::from_raw_unchecked))
            .map_err(|e| os_error(&self.path, e))
    }

    /// Creates a new file (never an existing one, never through a symlink) with `bytes`, then
    /// sets its mode and owner through its descriptor and syncs it.
    pub fn create_file(&self, name: &OsStr, bytes: &[u8], mode: u32, owner: (Option<u32>, Option<u32>)) -> Result<()> {
        let path = self.child_path(name);
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rfs::openat(&self.fd, name, flags, Mode::from_raw_mode(0o600)).map_err(|e| os_error(&path, e))?;
        let mut file = File::from(fd);
        let fail = |e: std::io::Error| DeployError::Os { path: path.clone(), source: e };
        file.write_all(bytes).map_err(fail)?;
        rfs::fchmod(&file, Mode::from_raw_mode(mode as _)).map_err(|e| os_error(&path, e))?;
        let (uid, gid) = owner;
        if uid.is_some() || gid.is_some() {
            if uid == Some(u32::MAX) || gid == Some(u32::MAX) {
                return Err(DeployError::InvalidId { path });
            }
            rfs::fchown(&file, uid.map(rustix::fs::Uid::from_raw_unchecked), gid.map(rustix::fs::Gid::from_raw_unchecked))
                .map_err(|e| DeployError::Chown { path: path.clone(), uid, gid, source: e.into() })?;
        }
        file.sync_all().map_err(fail)
    }

    /// An entry's metadata without following a symlink; `None` if it does not exist.
    pub fn stat_entry(&self, name: &OsStr) -> Result<Option<Stat>> {
        match rfs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => Ok(Some(stat)),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(os_error(&self.child_path(name), e)),
        }
    }

    /// Where the symlink `name` in this folder points; `None` when it is not a readable symlink.
    pub fn read_link(&self, name: &OsStr) -> Option<PathBuf> {
        let bytes = rfs::readlinkat(&self.fd, name, Vec::new()).ok()?;
        Some(PathBuf::from(OsStr::from_bytes(bytes.as_bytes())))
    }

    /// The names in this folder with their types (not followed), without `.` and `..`.
    pub fn entries(&self) -> Result<Vec<(OsString, FileType)>> {
        let mut dir = rfs::Dir::read_from(&self.fd).map_err(|e| os_error(&self.path, e))?;
        let mut out = Vec::new();
        while let Some(entry) = dir.read() {
            let entry = entry.map_err(|e| os_error(&self.path, e))?;
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            let name = OsStr::from_bytes(name).to_os_string();
            let kind = match entry.file_type() {
                FileType::Unknown => self.stat_entry(&name)?.map_or(FileType::Unknown, |s| file_type(&s)),
                kind => kind,
            };
            out.push((name, kind));
        }
        Ok(out)
    }

    /// Makes `name` a symlink to `target` in one step: a link under a fresh random name, renamed
    /// over it. Returns whether it changed.
    pub fn replace_with_symlink(&self, name: &OsStr, target: &Path) -> Result<bool> {
        if self.read_link(name).as_deref() == Some(target) {
            return Ok(false);
        }
        let path = self.child_path(name);
        let prefix = format!(".{}.", name.to_string_lossy());
        for _ in 0..NAME_ATTEMPTS {
            let temp = random_name(&prefix);
            match rfs::symlinkat(target, &self.fd, &temp) {
                Ok(()) => {
                    return rfs::renameat(&self.fd, &temp, &self.fd, name).map(|()| true).map_err(|e| {
                        let _ = rfs::unlinkat(&self.fd, &temp, AtFlags::empty());
                        os_error(&path, e)
                    });
                }
                Err(Errno::EXIST) => {}
                Err(e) => return Err(os_error(&path, e)),
            }
        }
        Err(unsafe_path(&self.path, Exposure::NoFreshName))
    }

    /// Changes the owner of a symlink in this folder (not of what it points at).
    pub fn chown_link(&self, name: &OsStr, uid: Option<u32>, gid: Option<u32>) -> Result<()> {
        rfs::chownat(
            &self.fd,
            name,
            uid.map(rustix::fs::Uid::from_raw_unchecked),
            gid.map(rustix::fs::Gid::from_raw_unchecked),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|e| os_error(&self.child_path(name), e))
    }

    /// Renames an entry of this folder; an existing `to` is never replaced.
    pub fn rename_no_replace(&self, from: &OsStr, to: &OsStr) -> Result<()> {
        let path = self.child_path(to);
        match rfs::renameat_with(&self.fd, from, &self.fd, to, RenameFlags::NOREPLACE) {
            Ok(()) => Ok(()),
            // A file system without renameat2 flags: refuse an existing `to` by hand; the
            // folder is the caller's alone, so nothing can appear in between.
            Err(Errno::INVAL | Errno::NOSYS) => {
                if self.stat_entry(to)?.is_some() {
                    return Err(os_error(&path, Errno::EXIST));
                }
                rfs::renameat(&self.fd, from, &self.fd, to).map_err(|e| os_error(&path, e))
            }
            Err(e) => Err(os_error(&path, e)),
        }
    }

    /// Removes `name` and, when it is a folder, everything in it, without following a symlink.
    pub fn remove_tree(&self, name: &OsStr) -> Result<()> {
        self.remove_tree_at(name, 0)
    }

    fn remove_tree_at(&self, name: &OsStr, depth: usize) -> Result<()> {
        let path = self.child_path(name);
        let Some(stat) = self.stat_entry(name)? else { return Ok(()) };
        if file_type(&stat) != FileType::Directory {
            return rfs::unlinkat(&self.fd, name, AtFlags::empty()).map_err(|e| os_error(&path, e));
        }
        if depth > MAX_DEPTH {
            return Err(unsafe_path(&path, Exposure::TooDeepToRemove));
        }
        let dir = DirFd { fd: open_dir_at(&self.fd, name, &path)?, path: path.clone() };
        for (child, _) in dir.entries()? {
            dir.remove_tree_at(&child, depth + 1)?;
        }
        rfs::unlinkat(&self.fd, name, AtFlags::REMOVEDIR).map_err(|e| os_error(&path, e))
    }

    /// Opens a folder below this one for reading, without following symlinks.
    pub fn open_dir(&self, name: &OsStr) -> Result<DirFd> {
        let path = self.child_path(name);
        Ok(DirFd { fd: open_dir_at(&self.fd, name, &path)?, path })
    }

    /// The regular file at a relative path below this folder, read without following a
    /// symlink anywhere on the way; `None` if it is missing or not a regular file.
    pub fn read_file(&self, relative: &str, limit: u64) -> Option<Zeroizing<Vec<u8>>> {
        let parts: Vec<&str> = relative.split('/').collect();
        let (last, folders) = parts.split_last()?;
        let mut dir: Option<OwnedFd> = None;
        for part in folders {
            let next = rfs::openat(dir.as_ref().map_or(self.fd.as_fd(), |d| d.as_fd()), *part, DIR_FLAGS, Mode::empty()).ok()?;
            dir = Some(next);
        }
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = rfs::openat(dir.as_ref().map_or(self.fd.as_fd(), |d| d.as_fd()), *last, flags, Mode::empty()).ok()?;
        read_regular(fd, limit).ok()
    }

    /// Every regular file below this folder, as `/`-separated relative paths, sorted.
    pub fn files(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        self.collect_files("", 0, &mut out)?;
        out.sort();
        Ok(out)
    }

    fn collect_files(&self, prefix: &str, depth: usize, out: &mut Vec<String>) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(unsafe_path(&self.path, Exposure::TooDeep));
        }
        for (name, kind) in self.entries()? {
            let Some(name) = name.to_str() else { continue };
            let relative = if prefix.is_empty() { name.to_string() } else { format!("{prefix}/{name}") };
            match kind {
                FileType::RegularFile => out.push(relative),
                FileType::Directory => self.open_dir(OsStr::new(name))?.collect_files(&relative, depth + 1, out)?,
                _ => {}
            }
        }
        Ok(())
    }
}

/// Reads an open file that must be a regular file of at most `limit` bytes, with the store's
/// one reader of open files ([`secrets_store::untrusted`]); its refusals become the system errors
/// that key errors keep as their source.
fn read_regular(fd: OwnedFd, limit: u64) -> std::io::Result<Zeroizing<Vec<u8>>> {
    use secrets_store::untrusted::UntrustedError;
    let mut bytes = Zeroizing::new(Vec::new());
    match secrets_store::untrusted::read_opened(fd, Path::new(""), limit, &mut bytes) {
        Ok(()) => Ok(bytes),
        Err(UntrustedError::TooLarge { .. }) => Err(too_large(limit)),
        Err(UntrustedError::Io { source, .. }) => Err(source),
        Err(_) => Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file")),
    }
}

fn too_large(limit: u64) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, format!("larger than {limit} bytes"))
}

/// Reads a regular file of at most `limit` bytes, following symlinks: for files the machine's
/// own configuration names (its key files), which may be links into persistent storage.
pub fn read_regular_following(path: &Path, limit: u64) -> std::io::Result<Zeroizing<Vec<u8>>> {
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC;
    read_regular(rfs::openat(CWD, path, flags, Mode::empty())?, limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_are_read_through_links_but_never_from_fifos_or_past_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "12345").unwrap();
        assert_eq!(&read_regular_following(&file, 5).unwrap()[..], b"12345");
        assert!(read_regular_following(&file, 4).unwrap_err().to_string().contains("larger than 4 bytes"));
        let link = dir.path().join("l");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert_eq!(&read_regular_following(&link, 5).unwrap()[..], b"12345", "the machine's own configuration may link its keys");
        let fifo = dir.path().join("p");
        rfs::mknodat(CWD, &fifo, FileType::Fifo, Mode::from_raw_mode(0o600), 0).unwrap();
        assert!(read_regular_following(&fifo, 5).unwrap_err().to_string().contains("not a regular file"), "and it did not block");
    }

    #[test]
    fn owned_folders_refuse_symlinks_and_open_writable_folders() {
        let dir = tempfile::tempdir().unwrap();
        let root = DirFd::open_trusted(dir.path()).unwrap();
        let made = root.open_owned(OsStr::new("made"), 0o751, true).unwrap();
        assert_eq!(made.path(), dir.path().join("made"));
        std::os::unix::fs::symlink(dir.path().join("made"), dir.path().join("link")).unwrap();
        let err = root.open_owned(OsStr::new("link"), 0o751, true).unwrap_err();
        assert!(matches!(err, DeployError::Unsafe { .. }), "{err}");
        std::fs::create_dir(dir.path().join("open")).unwrap();
        std::fs::set_permissions(dir.path().join("open"), std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
        let err = root.open_owned(OsStr::new("open"), 0o751, true).unwrap_err();
        assert!(err.to_string().contains("others can write to it"), "{err}");
    }

    #[test]
    fn missing_parents_are_created_and_trusted_paths_walked() {
        let dir = tempfile::tempdir().unwrap();
        let (parent, name) = DirFd::open_parent_of(&dir.path().join("a/b/target")).unwrap();
        assert_eq!(name, "target");
        assert!(dir.path().join("a/b").is_dir());
        parent.create_file(OsStr::new("f"), b"x", 0o400, (None, None)).unwrap();
        assert!(parent.create_file(OsStr::new("f"), b"y", 0o400, (None, None)).is_err(), "never an existing file");
        assert!(DirFd::open_parent_of(Path::new("/")).is_err());
        assert!(DirFd::open_parent_of(&dir.path().join("a/..")).is_err());
    }

    #[test]
    fn the_path_is_walked_as_given_through_the_callers_own_links() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("real/inner")).unwrap();
        std::os::unix::fs::symlink("real/inner", dir.path().join("link")).unwrap();
        let opened = DirFd::open_trusted(&dir.path().join("link/../made")).unwrap();
        assert_eq!(opened.path(), dir.path().join("link/../made"));
        assert!(dir.path().join("real/made").is_dir(), "`..` after a link leads to its target's parent");
        assert!(DirFd::open_trusted(&dir.path().join("missing/../x")).is_err());
    }

    #[test]
    fn trees_are_listed_and_removed_without_following_links() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("keep"), "x").unwrap();
        let root = DirFd::open_trusted(dir.path()).unwrap();
        let tree = root.descend(&[OsStr::new("t"), OsStr::new("sub")], 0o751, None).unwrap();
        tree.create_file(OsStr::new("f"), b"v", 0o400, (None, None)).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("t/out")).unwrap();
        let t = root.open_dir(OsStr::new("t")).unwrap();
        assert_eq!(t.files().unwrap(), ["sub/f"]);
        assert_eq!(&t.read_file("sub/f", 10).unwrap()[..], b"v");
        assert!(t.read_file("out/keep", 10).is_none(), "not through a symlink");
        root.remove_tree(OsStr::new("t")).unwrap();
        assert!(!dir.path().join("t").exists());
        assert!(outside.path().join("keep").exists());
    }
}
