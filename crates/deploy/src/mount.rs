//! The file system secrets live on, mounted as sops-install-secrets mounts it: a ramfs at the
//! generations folder (`/run/secrets.d`), whose pages the kernel never swaps out, so that no
//! secret reaches a swap device; a tmpfs with `noswap` instead when the configuration asks for
//! one (sops-nix's `useTmpfs`), without `noswap` on kernels that do not know it. The folder
//! is mounted once (a later install finds the file system in place) with `nodev`, `nosuid`
//! and `noexec`, and its root is given to root and the `keys` group, mode 0751.
//!
//! Mounting needs root in the mount namespace; sops-install-secrets fails the activation
//! without it, and so does [`mount_secret_fs`].

use std::ffi::CStr;
use std::path::Path;

use rustix::io::Errno;
use rustix::mount::MountFlags;

use crate::error::{DeployError, Result};
use crate::fsat::DirFd;
use crate::generations::DIR_MODE;

/// `RAMFS_MAGIC` of `statfs(2)`.
const RAMFS_MAGIC: i64 = 0x8584_58f6;
/// `TMPFS_MAGIC` of `statfs(2)`.
const TMPFS_MAGIC: i64 = 0x0102_1994;

/// Which file system holds the generations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretFs {
    /// A ramfs: never swapped out (sops-nix's default).
    Ramfs,
    /// A tmpfs, with `noswap` where the kernel has it (sops-nix's `useTmpfs`).
    Tmpfs,
}

impl SecretFs {
    fn name(self) -> &'static str {
        match self {
            SecretFs::Ramfs => "ramfs",
            SecretFs::Tmpfs => "tmpfs",
        }
    }

    fn magic(self) -> i64 {
        match self {
            SecretFs::Ramfs => RAMFS_MAGIC,
            SecretFs::Tmpfs => TMPFS_MAGIC,
        }
    }
}

/// Makes `dir` (created if missing, through the checked walk of [`DirFd::open_parent_of`])
/// the root of a file system of kind `fs`, unless it already is one, and gives it to
/// `root:<group>` with mode 0751. Returns whether a file system was mounted.
pub fn mount_secret_fs(dir: &Path, fs: SecretFs, group: Option<u32>) -> Result<bool> {
    let (parent, name) = DirFd::open_parent_of(dir)?;
    let folder = parent.open_owned(&name, DIR_MODE, true)?;
    let (kind, is_mount) = folder.mount_state()?;
    // A type comparison alone is not enough: /run itself may be a tmpfs.
    let needs_mount = !(is_mount && kind == fs.magic());
    if needs_mount {
        let flags = MountFlags::NODEV | MountFlags::NOSUID | MountFlags::NOEXEC;
        let plain: &CStr = c"mode=0751";
        let data = if fs == SecretFs::Tmpfs { c"mode=0751,noswap" } else { plain };
        let result = match rustix::mount::mount("none", dir, fs.name(), flags, data) {
            // Kernels before 6.4 do not know `noswap`.
            Err(Errno::INVAL) if fs == SecretFs::Tmpfs => rustix::mount::mount("none", dir, fs.name(), flags, plain),
            other => other,
        };
        result.map_err(|e| DeployError::Mount { path: dir.to_path_buf(), fs: fs.name(), source: e.into() })?;
    }
    // Opened again: the folder opened before is the one under the new mount.
    let root = parent.open_owned(&name, DIR_MODE, false)?;
    root.chmod(DIR_MODE)?;
    if let Some(gid) = group {
        root.chown(Some(0), Some(gid))?;
    }
    Ok(needs_mount)
}
