//! A membership change as a transaction: each step records how to undo it, so that when the
//! re-key that must follow cannot be computed (no key, a bad file), the change is rolled back and
//! the repository is left as it was. New secret files are computed in memory before any is
//! written; a crash after the link changes and before the writes leaves every secret readable by
//! its old recipients, and `secrets key update` converges.

use std::fs;
use std::path::{Path, PathBuf};

use secrets_sops::keys::Identities;

use crate::error::{Result, StoreError};
use crate::fsutil::write_atomic;
use crate::links;
use crate::names::Kind;
use crate::rekey::{self, RekeyOptions, Rekeyed};
use crate::repo::Repo;
use crate::secrets::SecretRef;

enum Undo {
    /// A file or link that did not exist before.
    Delete(PathBuf),
    /// A file's previous content.
    Restore { path: PathBuf, bytes: Vec<u8> },
    /// A link's previous target.
    Relink { path: PathBuf, target: PathBuf },
    /// A directory moved aside, deleted when the transaction finishes.
    Removed { backup: PathBuf, original: PathBuf },
    /// A directory renamed.
    Renamed { from: PathBuf, to: PathBuf },
}

/// The change in progress.
pub struct Tx<'r> {
    repo: &'r Repo,
    undo: Vec<Undo>,
    touched: Vec<PathBuf>,
}

impl<'r> Tx<'r> {
    pub fn new(repo: &'r Repo) -> Tx<'r> {
        Tx { repo, undo: Vec::new(), touched: Vec::new() }
    }

    pub fn repo(&self) -> &Repo {
        self.repo
    }

    /// Paths this transaction changed (for the commit).
    pub fn touched(&self) -> &[PathBuf] {
        &self.touched
    }

    pub fn touch(&mut self, path: PathBuf) {
        if !self.touched.contains(&path) {
            self.touched.push(path);
        }
    }

    /// Writes a file atomically, remembering its previous content.
    pub fn write_file(&mut self, path: &Path, bytes: &[u8], new_mode: u32) -> Result<()> {
        let undo = match fs::read(path) {
            Ok(old) => Undo::Restore { path: path.to_path_buf(), bytes: old },
            Err(_) => Undo::Delete(path.to_path_buf()),
        };
        write_atomic(path, bytes, new_mode)?;
        self.undo.push(undo);
        self.touch(path.to_path_buf());
        Ok(())
    }

    /// Links a member from a secret or group directory.
    pub fn add_link(&mut self, container: &Path, kind: Kind, name: &str) -> Result<()> {
        let path = links::link_path(container, kind, name);
        let previous = fs::read_link(&path).ok();
        let link = links::add(self.repo, container, kind, name)?;
        if previous.as_deref() != fs::read_link(&link).ok().as_deref() {
            self.undo.push(match previous {
                Some(target) => Undo::Relink { path: link.clone(), target },
                None => Undo::Delete(link.clone()),
            });
            self.touch(link);
        }
        Ok(())
    }

    /// Removes a member link; returns whether it existed.
    pub fn remove_link(&mut self, container: &Path, kind: Kind, name: &str) -> Result<bool> {
        let path = links::link_path(container, kind, name);
        let Ok(target) = fs::read_link(&path) else { return Ok(false) };
        links::remove(self.repo, container, kind, name)?;
        self.undo.push(Undo::Relink { path: path.clone(), target });
        self.touch(path);
        Ok(true)
    }

    /// Removes a directory (a user, machine, group or secret), reversibly until `finish`.
    pub fn remove_dir(&mut self, dir: &Path) -> Result<()> {
        let parent = dir.parent().ok_or_else(|| StoreError::Other(format!("cannot remove {}", dir.display())))?;
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let backup = parent.join(format!(".{name}.removing-{}", std::process::id()));
        fs::rename(dir, &backup).map_err(|e| StoreError::io(dir, e))?;
        self.undo.push(Undo::Removed { backup, original: dir.to_path_buf() });
        self.touch(dir.to_path_buf());
        Ok(())
    }

    /// Renames a directory.
    pub fn rename_dir(&mut self, from: &Path, to: &Path) -> Result<()> {
        fs::rename(from, to).map_err(|e| StoreError::io(from, e))?;
        self.undo.push(Undo::Renamed { from: from.to_path_buf(), to: to.to_path_buf() });
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
            Err(e) => {
                self.rollback();
                Err(e)
            }
        }
    }

    /// Writes the re-keyed files and makes the change final. Returns every path changed.
    pub fn finish(mut self, plan: &[Rekeyed]) -> Result<Vec<PathBuf>> {
        for path in rekey::apply(plan)? {
            self.touch(path);
        }
        for undo in &self.undo {
            if let Undo::Removed { backup, .. } = undo {
                fs::remove_dir_all(backup).map_err(|e| StoreError::io(backup, e))?;
            }
        }
        Ok(std::mem::take(&mut self.touched))
    }

    /// Undoes every step, newest first.
    pub fn rollback(self) {
        for undo in self.undo.into_iter().rev() {
            match undo {
                Undo::Delete(path) => {
                    let _ = fs::remove_file(&path);
                    // The link folder, then the secret or group folder a failed change created.
                    for folder in path.ancestors().skip(1).take(2) {
                        links::remove_if_empty(folder);
                    }
                }
                Undo::Restore { path, bytes } => {
                    let _ = write_atomic(&path, &bytes, 0o644);
                }
                Undo::Relink { path, target } => {
                    if let Some(parent) = path.parent() {
                        let _ = fs::create_dir_all(parent);
                    }
                    let _ = fs::remove_file(&path);
                    #[cfg(unix)]
                    let _ = std::os::unix::fs::symlink(&target, &path);
                }
                Undo::Removed { backup, original } => {
                    let _ = fs::rename(&backup, &original);
                }
                Undo::Renamed { from, to } => {
                    let _ = fs::rename(&to, &from);
                }
            }
        }
    }
}
