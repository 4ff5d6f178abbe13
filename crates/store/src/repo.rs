//! The repository: where `sops/` lives, how it is found, and the paths of its parts.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Result, StoreError};
use crate::keyfile::{self, PublicKey};
use crate::names::{self, Kind};

/// Markers that identify a repository root, tried in this order, each all the way up to `/`
/// before the next (as clan does).
const ROOT_MARKERS: [&str; 5] = [".clan-flake", ".git", ".hg", ".svn", "flake.nix"];

/// A repository holding a `sops/` folder (the clan directory).
#[derive(Clone, Debug)]
pub struct Repo {
    root: PathBuf,
}

impl Repo {
    /// The repository rooted at `root` (which need not have a `sops/` folder yet).
    pub fn at(root: impl Into<PathBuf>) -> Repo {
        Repo { root: root.into() }
    }

    /// Walks up from `start` the way clan finds its flake.
    pub fn discover(start: &Path) -> Option<Repo> {
        for marker in ROOT_MARKERS {
            let mut dir = Some(start);
            while let Some(here) = dir {
                if here.join(marker).exists() {
                    return Some(Repo::at(here));
                }
                dir = here.parent();
            }
        }
        None
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn sops_dir(&self) -> PathBuf {
        self.root.join("sops")
    }

    /// `sops/<users|machines|groups|secrets>/<name>`.
    pub fn member_dir(&self, kind: Kind, name: &str) -> PathBuf {
        self.sops_dir().join(kind.folder()).join(name)
    }

    pub fn key_file(&self, kind: Kind, name: &str) -> PathBuf {
        self.member_dir(kind, name).join("key.json")
    }

    /// The directory of a secret named in `sops/secrets/`.
    pub fn secret_dir(&self, name: &str) -> PathBuf {
        self.member_dir(Kind::Secret, name)
    }

    /// Whether a user or machine exists (has a `key.json`), or a group/secret directory exists.
    pub fn exists(&self, kind: Kind, name: &str) -> bool {
        match kind {
            Kind::User | Kind::Machine => self.key_file(kind, name).is_file(),
            Kind::Group => self.member_dir(kind, name).is_dir(),
            Kind::Secret => self.secret_dir(name).join("secret").is_file(),
        }
    }

    /// Reads the public keys of a user or machine.
    pub fn read_keys(&self, kind: Kind, name: &str) -> Result<Vec<PublicKey>> {
        let path = self.key_file(kind, name);
        let text = fs::read_to_string(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => StoreError::NotFound { kind, name: name.to_string(), path: self.member_dir(kind, name) },
            _ => StoreError::io(&path, e),
        })?;
        keyfile::parse(&text, &path)
    }

    /// Names of one kind, sorted by code point, filtered as clan lists them: users and machines
    /// with a `key.json`, secrets with a `secret` file, every group directory.
    pub fn list(&self, kind: Kind) -> Result<Vec<String>> {
        let dir = self.sops_dir().join(kind.folder());
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StoreError::io(&dir, e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::io(&dir, e))?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else { continue };
            if names::validate(kind, &name).is_err() {
                continue;
            }
            let keep = match kind {
                Kind::Group => entry.path().is_dir(),
                _ => self.exists(kind, &name),
            };
            if keep {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_prefers_clan_markers_over_git() {
        let dir = tempfile::tempdir().unwrap();
        let outer = dir.path();
        let inner = outer.join("a/b");
        fs::create_dir_all(&inner).unwrap();
        fs::create_dir(outer.join(".git")).unwrap();
        assert_eq!(Repo::discover(&inner).unwrap().root(), outer);
        fs::write(inner.join(".clan-flake"), "").unwrap();
        assert_eq!(Repo::discover(&inner).unwrap().root(), inner);
    }

    #[test]
    fn listing_filters_like_clan() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo::at(dir.path());
        assert!(repo.list(Kind::User).unwrap().is_empty());
        for name in ["bob", "alice", "Bad"] {
            fs::create_dir_all(repo.member_dir(Kind::User, name)).unwrap();
            fs::write(repo.key_file(Kind::User, name), "[]").unwrap();
        }
        fs::create_dir_all(repo.member_dir(Kind::User, "nokey")).unwrap();
        assert_eq!(repo.list(Kind::User).unwrap(), ["alice", "bob"]);
    }
}
