//! The repository: where `sops/` lives, how it is found, and the paths of its parts.

use std::path::{Path, PathBuf};

use crate::error::{Result, StoreError};
use crate::keyfile::{self, PublicKey};
use crate::names::{self, Kind};
use crate::untrusted::{self, Limit};

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

    /// The repository's root, the folder that holds `sops/`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/sops`.
    pub fn sops_dir(&self) -> PathBuf {
        self.root.join("sops")
    }

    /// `sops/<users|machines|groups|secrets>/<name>`.
    pub fn member_dir(&self, kind: Kind, name: &str) -> PathBuf {
        self.sops_dir().join(kind.folder()).join(name)
    }

    /// The `key.json` of a user or machine.
    pub fn key_file(&self, kind: Kind, name: &str) -> PathBuf {
        self.member_dir(kind, name).join("key.json")
    }

    /// The directory of a secret named in `sops/secrets/`.
    pub fn secret_dir(&self, name: &str) -> PathBuf {
        self.member_dir(Kind::Secret, name)
    }

    /// Whether a user or machine exists (has a `key.json`), or a group/secret directory exists.
    /// Something that is there but refused by [`untrusted`] (a symlinked `key.json`, `secret` or
    /// folder) counts as existing, so that reading it reports why it is refused.
    pub fn exists(&self, kind: Kind, name: &str) -> bool {
        let found = match kind {
            Kind::User | Kind::Machine => untrusted::is_regular_file(&self.root, &self.key_file(kind, name)),
            Kind::Group => untrusted::check_folders(&self.root, &self.member_dir(kind, name)),
            Kind::Secret => untrusted::is_regular_file(&self.root, &self.secret_dir(name).join("secret")),
        };
        found.unwrap_or(true)
    }

    /// Reads the public keys of a user or machine, through [`untrusted::read`].
    pub fn read_keys(&self, kind: Kind, name: &str) -> Result<Vec<PublicKey>> {
        let path = self.key_file(kind, name);
        let text = untrusted::read_to_string(&self.root, &path, Limit::KeyFile).map_err(|e| {
            if e.is_not_found() {
                StoreError::NotFound { kind, name: name.to_string(), path: self.member_dir(kind, name) }
            } else {
                StoreError::Untrusted(e)
            }
        })?;
        keyfile::parse(&text, &path)
    }

    /// Names of one kind, sorted by code point, filtered as clan lists them: users and machines
    /// with a `key.json`, secrets with a `secret` file (names starting with a dot included, as
    /// clan lists them), every group directory. An entry that [`untrusted`] refuses (a symlinked
    /// folder, `key.json` or `secret`) is an error rather than silently left out: an operation
    /// over all of them must not quietly skip one.
    pub fn list(&self, kind: Kind) -> Result<Vec<String>> {
        Ok(self.list_and_count_unnamed(kind)?.0)
    }

    /// [`Repo::list`], and how many folders hold a member or secret under a name no command
    /// can take (`bad name`, a name that is not UTF-8). clan leaves those out of its lists
    /// silently; counting them lets a listing say that something was left out.
    pub fn list_and_count_unnamed(&self, kind: Kind) -> Result<(Vec<String>, usize)> {
        let dir = self.sops_dir().join(kind.folder());
        // Opened from the root without following a link, and read through that descriptor.
        let Some(folder) = untrusted::Folder::open(&self.root, &dir)? else {
            return Ok((Vec::new(), 0));
        };
        let mut names = Vec::new();
        let mut unnamed = 0;
        for (name, entry) in folder.entries()? {
            let valid = name.to_str().filter(|n| names::validate_existing(kind, n).is_ok());
            if valid.is_some() && entry == untrusted::EntryKind::Symlink {
                let target = folder.read_link(&name);
                return Err(untrusted::UntrustedError::FolderSymlink { path: dir.join(&name), target }.into());
            }
            if entry != untrusted::EntryKind::Folder {
                continue;
            }
            let Some(member) = folder.open_dir(&name)? else { continue };
            let keep = match kind {
                Kind::Group => true,
                Kind::User | Kind::Machine => member.is_regular_file("key.json")?,
                Kind::Secret => member.is_regular_file("secret")?,
            };
            match valid {
                Some(valid) if keep => names.push(valid.to_string()),
                None if keep && !names::is_leftover_entry(&dir.join(&name)) => unnamed += 1,
                _ => {}
            }
        }
        names.sort();
        Ok((names, unnamed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

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

    #[test]
    fn hidden_secrets_are_listed_and_leftovers_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo::at(dir.path());
        for name in ["db", ".hidden", ".db.removing-7", ".secrets-x", "Bad name"] {
            fs::create_dir_all(repo.secret_dir(name)).unwrap();
            fs::write(repo.secret_dir(name).join("secret"), "{}").unwrap();
        }
        // Leftovers hold no `secret`; a folder with one is a secret clan lists, whatever its name.
        fs::create_dir_all(repo.secret_dir(".old.removing-3")).unwrap();
        fs::write(repo.secret_dir(".secrets-tmp1"), "x").unwrap();
        assert_eq!(repo.list(Kind::Secret).unwrap(), [".db.removing-7", ".hidden", ".secrets-x", "db"]);
    }

    #[test]
    fn refused_entries_fail_the_listing_and_count_as_existing() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo::at(dir.path());
        let outside = dir.path().join("outside.json");
        fs::write(&outside, "{}").unwrap();
        fs::create_dir_all(repo.secret_dir("s")).unwrap();
        symlink(&outside, repo.secret_dir("s").join("secret")).unwrap();
        assert!(repo.exists(Kind::Secret, "s"));
        let err = repo.list(Kind::Secret).unwrap_err();
        assert!(matches!(err, StoreError::Untrusted(untrusted::UntrustedError::Symlink { .. })), "{err}");

        fs::create_dir_all(repo.member_dir(Kind::User, "eve")).unwrap();
        symlink(&outside, repo.key_file(Kind::User, "eve")).unwrap();
        let err = repo.read_keys(Kind::User, "eve").unwrap_err();
        assert!(matches!(err, StoreError::Untrusted(untrusted::UntrustedError::Symlink { .. })), "{err}");
        assert!(matches!(repo.read_keys(Kind::User, "nobody"), Err(StoreError::NotFound { .. })));

        fs::create_dir_all(repo.sops_dir().join("groups")).unwrap();
        fs::create_dir_all(dir.path().join("elsewhere")).unwrap();
        symlink(dir.path().join("elsewhere"), repo.member_dir(Kind::Group, "g")).unwrap();
        let err = repo.list(Kind::Group).unwrap_err();
        assert!(matches!(err, StoreError::Untrusted(untrusted::UntrustedError::FolderSymlink { .. })), "{err}");
    }
}
