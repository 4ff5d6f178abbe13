//! Writing into repository folders through their open descriptors. Reads go through a
//! [`Folder`] so that a folder swapped for a symlink is never followed; writes must too, or a
//! committed `sops/users -> elsewhere`, or a local user racing a command, makes it create,
//! replace, rename or delete files outside the repository. Every write here is relative to an
//! open folder: missing folders are made with `mkdirat` and then opened with `O_NOFOLLOW`
//! ([`Folder::open_or_create`]); a file is replaced by a temporary file created with
//! `O_CREAT|O_EXCL|O_NOFOLLOW`, synced, and renamed over it with `renameat`; old contents are
//! kept with `linkat`, links made with `symlinkat`, entries removed with `unlinkat` and folders
//! moved with `renameat`, all relative to the folder's descriptor.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, CWD};
use rustix::io::Errno;

use super::{EntryKind, Folder, UntrustedError};

/// Whether [`Folder::sync_file_system`] can make a whole batch of writes durable.
pub const CAN_SYNC_FILE_SYSTEM: bool = cfg!(any(target_os = "linux", target_os = "android"));

const NEW_FILE_FLAGS: OFlags = OFlags::WRONLY.union(OFlags::CREATE).union(OFlags::EXCL).union(OFlags::NOFOLLOW).union(OFlags::CLOEXEC);

/// A fresh name `<prefix><16 hex digits>` no committer can guess: `RandomState` is seeded from
/// the operating system's randomness and differs for each instance.
pub(crate) fn fresh_name(prefix: &str) -> OsString {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    OsString::from(format!("{prefix}{:016x}", hasher.finish()))
}

impl Folder {
    /// Opens `dir`, which must lie below `root`, as [`Folder::open`] does, creating the folders
    /// that are missing: each is made with `mkdirat` in its open parent, then opened without
    /// following a link, so a symlink put in its place meanwhile is refused too.
    pub fn open_or_create(root: &Path, dir: &Path) -> Result<Folder, UntrustedError> {
        let relative = dir
            .strip_prefix(root)
            .map_err(|_| UntrustedError::io(dir, io::Error::new(io::ErrorKind::InvalidInput, "not a path inside the repository")))?;
        let start = if root.as_os_str().is_empty() { Path::new(".") } else { root };
        let fd = rfs::openat(CWD, start, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| UntrustedError::io(start, e.into()))?;
        let mut folder = Folder { fd, path: start.to_path_buf() };
        for part in relative.components() {
            let Some(name) = super::downward(part, dir)? else { continue };
            folder = if let Some(next) = folder.open_dir(name)? {
                next
            } else {
                match rfs::mkdirat(&folder.fd, name, Mode::from_raw_mode(0o777)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(UntrustedError::io(&folder.path.join(name), e.into())),
                }
                folder.open_dir(name)?.ok_or_else(|| UntrustedError::io(&folder.path.join(name), io::ErrorKind::NotFound.into()))?
            };
        }
        Ok(folder)
    }

    /// The target of the symlink `name`; `None` when it is absent or not a symlink.
    pub fn link_target(&self, name: impl AsRef<OsStr>) -> Option<PathBuf> {
        use std::os::unix::ffi::OsStrExt;
        let target = rfs::readlinkat(&self.fd, name.as_ref(), Vec::new()).ok()?;
        Some(PathBuf::from(OsStr::from_bytes(target.as_bytes())))
    }

    /// The device and inode of the entry `name` (not following a symlink).
    // `st_dev` and `st_ino` are not 64 bits wide on every platform.
    #[allow(clippy::unnecessary_cast)]
    pub fn identity(&self, name: impl AsRef<OsStr>) -> Option<(u64, u64)> {
        let stat = rfs::statat(&self.fd, name.as_ref(), AtFlags::SYMLINK_NOFOLLOW).ok()?;
        Some((stat.st_dev as u64, stat.st_ino as u64))
    }

    /// Whether the entry `name` (not followed if a symlink) has an execute bit set.
    // `st_mode` is not 32 bits wide on every platform.
    #[allow(clippy::unnecessary_cast)]
    pub fn is_executable(&self, name: impl AsRef<OsStr>) -> bool {
        rfs::statat(&self.fd, name.as_ref(), AtFlags::SYMLINK_NOFOLLOW).is_ok_and(|stat| stat.st_mode as u32 & 0o111 != 0)
    }

    /// Replaces (or creates) the file `name` atomically: a temporary file created in this
    /// folder (never through a link, never over an existing file), synced, then renamed over
    /// `name`, and the folder synced. A replaced regular file keeps its permissions; a new one
    /// gets `new_mode`. Counts as a write for `SECRETS_FAIL_WRITE` (see [`crate::fsutil`]).
    pub fn write_atomic(&self, name: impl AsRef<OsStr>, bytes: &[u8], new_mode: u32) -> io::Result<()> {
        crate::fsutil::injected_failure()?;
        self.replace(name, bytes, new_mode)
    }

    /// As [`Folder::write_atomic`], for the tool's own bookkeeping files (not counted as a
    /// write for `SECRETS_FAIL_WRITE`).
    pub(crate) fn replace(&self, name: impl AsRef<OsStr>, bytes: &[u8], new_mode: u32) -> io::Result<()> {
        let name = name.as_ref();
        let temp = self.write_temporary(name, bytes, new_mode, true)?;
        self.put_in_place(&temp, name)?;
        self.sync();
        Ok(())
    }

    /// The first half of [`Folder::write_atomic`] for one file of a batch: `bytes` go to a new
    /// temporary `.secrets-…` file of this folder, with the mode `name` has (or `new_mode`),
    /// synced unless `synced_later` (the caller then makes the whole batch durable at once with
    /// [`Folder::sync_file_system`]); its name is returned, for [`Folder::put_in_place`].
    /// Counts as a write for `SECRETS_FAIL_WRITE`.
    pub fn write_temporary_file(&self, name: impl AsRef<OsStr>, bytes: &[u8], new_mode: u32, synced_later: bool) -> io::Result<OsString> {
        crate::fsutil::injected_failure()?;
        self.write_temporary(name.as_ref(), bytes, new_mode, !synced_later)
    }

    /// Renames the temporary file `temp` of this folder over `name`; the temporary file is
    /// removed when that fails.
    pub fn put_in_place(&self, temp: &OsStr, name: impl AsRef<OsStr>) -> io::Result<()> {
        rfs::renameat(&self.fd, temp, &self.fd, name.as_ref()).inspect_err(|_| {
            let _ = rfs::unlinkat(&self.fd, temp, AtFlags::empty());
        })?;
        Ok(())
    }

    /// Makes every write to the file system of this folder durable (Linux's `syncfs`): one
    /// call for a batch of thousands of files instead of two `fsync` each. Only where
    /// [`CAN_SYNC_FILE_SYSTEM`].
    pub fn sync_file_system(&self) -> io::Result<()> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        rfs::syncfs(&self.fd)?;
        Ok(())
    }

    // `st_mode` is not 32 bits wide on every platform.
    #[allow(clippy::unnecessary_cast)]
    fn write_temporary(&self, name: &OsStr, bytes: &[u8], new_mode: u32, sync: bool) -> io::Result<OsString> {
        let mode = match rfs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) if FileType::from_raw_mode(stat.st_mode as _) == FileType::RegularFile => stat.st_mode as u32 & 0o7777,
            _ => new_mode,
        };
        let (temp, file) = self.create_new(".secrets-", 0o600)?;
        let written = (|| -> io::Result<()> {
            rfs::fchmod(&file, Mode::from_raw_mode(mode as _))?;
            let mut file = File::from(file);
            file.write_all(bytes)?;
            if sync {
                file.sync_all()?;
            }
            Ok(())
        })();
        if let Err(e) = written {
            let _ = rfs::unlinkat(&self.fd, &temp, AtFlags::empty());
            return Err(e);
        }
        Ok(temp)
    }

    /// Creates a new file under a fresh `<prefix>…` name (`O_EXCL|O_NOFOLLOW`); a name taken
    /// meanwhile is never reused: another is drawn.
    fn create_new(&self, prefix: &str, mode: u32) -> io::Result<(OsString, std::os::fd::OwnedFd)> {
        let mut last = Errno::EXIST;
        for _ in 0..16 {
            let name = fresh_name(prefix);
            match rfs::openat(&self.fd, &name, NEW_FILE_FLAGS, Mode::from_raw_mode(mode as _)) {
                Ok(fd) => return Ok((name, fd)),
                Err(Errno::EXIST) => last = Errno::EXIST,
                Err(e) => return Err(e.into()),
            }
        }
        Err(last.into())
    }

    /// Keeps the content of `name` under the name `backup` of this folder, which the caller has
    /// journaled already (so that a kill at any moment leaves nothing the journal does not
    /// name): a hard link (no space needed to put it back), or on a file system without hard
    /// links a copy, made under a temporary name and renamed, so that `backup` only ever names
    /// the whole old content. An entry already named `backup` is replaced: the journal names
    /// that name now, and undoing must find the old content there. Only a regular file (or a
    /// symlink, linked as itself) is kept.
    pub fn keep_old_content(&self, name: impl AsRef<OsStr>, backup: impl AsRef<OsStr>) -> io::Result<()> {
        let (name, backup) = (name.as_ref(), backup.as_ref());
        let link = || rfs::linkat(&self.fd, name, &self.fd, backup, AtFlags::empty());
        match link() {
            Ok(()) => Ok(()),
            Err(Errno::EXIST) => {
                rfs::unlinkat(&self.fd, backup, AtFlags::empty())?;
                Ok(link()?)
            }
            Err(_) => self.copy_as(name, backup),
        }
    }

    /// Copies the regular file `from` (never through a link, never blocking) to `to`, by way of
    /// a new `.secrets-…` file: one left by a kill is removed with the change's other temporary
    /// files when the next command undoes it.
    fn copy_as(&self, from: &OsStr, to: &OsStr) -> io::Result<()> {
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let source = rfs::openat(&self.fd, from, flags, Mode::empty())?;
        if FileType::from_raw_mode(rfs::fstat(&source)?.st_mode as _) != FileType::RegularFile {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"));
        }
        let (temp, target) = self.create_new(".secrets-", 0o600)?;
        let copied = (|| -> io::Result<()> {
            let mut target = File::from(target);
            io::copy(&mut File::from(source), &mut target)?;
            target.sync_all()?;
            rfs::renameat(&self.fd, &temp, &self.fd, to)?;
            Ok(())
        })();
        if copied.is_err() {
            let _ = rfs::unlinkat(&self.fd, &temp, AtFlags::empty());
        }
        copied
    }

    /// Opens (creating it if needed) the file `name` of this folder to hold a lock on it:
    /// never through a symlink (`O_NOFOLLOW`), never blocking on a FIFO (`O_NONBLOCK`), for
    /// reading and writing, or for reading only when the file is not ours to write (a lock
    /// works on any open descriptor). The caller checks that what was opened is a regular file.
    pub fn open_or_create_file(&self, name: impl AsRef<OsStr>, new_mode: u32) -> io::Result<File> {
        let name = name.as_ref();
        let flags = OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        match rfs::openat(&self.fd, name, flags, Mode::from_raw_mode(new_mode as _)) {
            Ok(fd) => Ok(File::from(fd)),
            Err(Errno::ACCESS) => {
                let read_only = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
                Ok(File::from(rfs::openat(&self.fd, name, read_only, Mode::empty())?))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Creates the new file `name` for writing (`O_CREAT|O_EXCL|O_NOFOLLOW`): fails when
    /// anything, a symlink included, already has that name.
    pub fn create_new_file(&self, name: impl AsRef<OsStr>, mode: u32) -> io::Result<File> {
        Ok(File::from(rfs::openat(&self.fd, name.as_ref(), NEW_FILE_FLAGS, Mode::from_raw_mode(mode as _))?))
    }

    /// Whether the entry `name` (not followed if a symlink) belongs to the caller and nobody
    /// else may write it: what a journal must be before it is trusted.
    // `st_mode` is not 32 bits wide on every platform.
    #[allow(clippy::unnecessary_cast)]
    pub fn is_callers_own(&self, name: impl AsRef<OsStr>) -> bool {
        rfs::statat(&self.fd, name.as_ref(), AtFlags::SYMLINK_NOFOLLOW)
            .is_ok_and(|stat| stat.st_uid == rustix::process::geteuid().as_raw() && stat.st_mode as u32 & 0o022 == 0)
    }

    /// Creates the symlink `name` to `target` (`symlinkat`).
    pub fn symlink(&self, target: &Path, name: impl AsRef<OsStr>) -> io::Result<()> {
        Ok(rfs::symlinkat(target, &self.fd, name.as_ref())?)
    }

    /// Removes the file or link `name` (`unlinkat`; a link is removed, not followed).
    pub fn remove_file(&self, name: impl AsRef<OsStr>) -> io::Result<()> {
        Ok(rfs::unlinkat(&self.fd, name.as_ref(), AtFlags::empty())?)
    }

    /// Removes the empty folder `name`.
    pub fn remove_dir(&self, name: impl AsRef<OsStr>) -> io::Result<()> {
        Ok(rfs::unlinkat(&self.fd, name.as_ref(), AtFlags::REMOVEDIR)?)
    }

    /// Removes the folder `name` and everything in it, each folder reached through its
    /// descriptor (a symlink inside is removed, never followed).
    pub fn remove_dir_all(&self, name: impl AsRef<OsStr>) -> Result<(), UntrustedError> {
        let name = name.as_ref();
        let Some(inner) = self.open_dir(name)? else { return Ok(()) };
        for (entry, kind) in inner.entries()? {
            let removed = match kind {
                EntryKind::Folder => inner.remove_dir_all(&entry),
                _ => inner.remove_file(&entry).map_err(|e| UntrustedError::io(&inner.path.join(&entry), e)),
            };
            removed?;
        }
        self.remove_dir(name).map_err(|e| UntrustedError::io(&self.path.join(name), e))
    }

    /// Renames the entry `from` of this folder to `to` in the folder `into` (`renameat`).
    pub fn rename(&self, from: impl AsRef<OsStr>, into: &Folder, to: impl AsRef<OsStr>) -> io::Result<()> {
        Ok(rfs::renameat(&self.fd, from.as_ref(), &into.fd, to.as_ref())?)
    }

    /// The device and inode of this folder (`(0, 0)` when they cannot be told): a folder opened
    /// again by its path is the same folder only if they are equal.
    // `st_dev` and `st_ino` are not 64 bits wide on every platform.
    #[allow(clippy::unnecessary_cast)]
    pub fn own_identity(&self) -> (u64, u64) {
        rfs::fstat(&self.fd).map_or((0, 0), |stat| (stat.st_dev as u64, stat.st_ino as u64))
    }

    /// Makes this folder's entries durable (after a rename or a removal in it); best effort,
    /// as not every file system can sync a folder.
    pub fn sync(&self) {
        let _ = rfs::fsync(&self.fd);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    #[test]
    fn folders_are_created_but_never_through_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        let outside = dir.path().join("outside");
        fs::create_dir_all(root.join("sops")).unwrap();
        fs::create_dir_all(&outside).unwrap();
        let made = Folder::open_or_create(&root, &root.join("sops/users/carol")).unwrap();
        made.write_atomic("key.json", b"[]", 0o644).unwrap();
        assert_eq!(fs::read(root.join("sops/users/carol/key.json")).unwrap(), b"[]");
        symlink(&outside, root.join("sops/secrets")).unwrap();
        let refused = Folder::open_or_create(&root, &root.join("sops/secrets/s/users")).unwrap_err();
        assert_eq!(refused.code(), "folder-symlink");
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
        assert!(Folder::open_or_create(&root, &dir.path().join("elsewhere")).is_err());
    }

    #[test]
    fn a_write_goes_to_the_folder_opened_even_when_its_path_is_swapped() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        let outside = dir.path().join("outside");
        fs::create_dir_all(root.join("sops/secrets/s")).unwrap();
        fs::create_dir_all(&outside).unwrap();
        fs::write(root.join("sops/secrets/s/secret"), "old").unwrap();
        let folder = Folder::open(&root, &root.join("sops/secrets/s")).unwrap().unwrap();
        fs::rename(root.join("sops/secrets/s"), dir.path().join("moved")).unwrap();
        symlink(&outside, root.join("sops/secrets/s")).unwrap();
        let kept = fresh_name(".secrets-old-");
        folder.keep_old_content("secret", &kept).unwrap();
        folder.write_atomic("secret", b"new", 0o600).unwrap();
        folder.symlink(Path::new("../../../users/alice"), "alice").unwrap();
        folder.remove_file("alice").unwrap();
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0, "nothing written through the symlink");
        assert_eq!(fs::read(dir.path().join("moved/secret")).unwrap(), b"new");
        assert_eq!(fs::read(dir.path().join("moved").join(kept)).unwrap(), b"old");
    }

    #[test]
    fn a_replaced_file_keeps_its_mode_and_no_temporary_file_is_left() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let folder = Folder::open_or_create(dir.path(), dir.path()).unwrap();
        folder.write_atomic("f", b"one", 0o600).unwrap();
        assert_eq!(fs::metadata(dir.path().join("f")).unwrap().permissions().mode() & 0o777, 0o600);
        fs::set_permissions(dir.path().join("f"), fs::Permissions::from_mode(0o640)).unwrap();
        folder.write_atomic("f", b"two", 0o600).unwrap();
        assert_eq!(fs::metadata(dir.path().join("f")).unwrap().permissions().mode() & 0o777, 0o640);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        fs::create_dir_all(dir.path().join("d/e")).unwrap();
        fs::write(dir.path().join("d/e/x"), "x").unwrap();
        symlink(dir.path().join("f"), dir.path().join("d/l")).unwrap();
        folder.remove_dir_all("d").unwrap();
        assert!(!dir.path().join("d").exists());
        assert_eq!(fs::read(dir.path().join("f")).unwrap(), b"two");
    }
}
