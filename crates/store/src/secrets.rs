//! Secrets: where they live (`sops/secrets/<name>/` and the vars folders), who they are
//! encrypted for through their links, and why.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Result, StoreError};
use crate::keyfile::PublicKey;
use crate::links::{self, Link};
use crate::names::{self, Kind};
use crate::repo::Repo;

/// A secret directory: one `secret` file plus `users/`, `machines/`, `groups/` link folders.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SecretRef {
    /// The name shown to users: `db-password` for `sops/secrets/db-password`, or the path
    /// relative to the repository for vars secrets (`vars/shared/gen/file`).
    pub name: String,
    /// The directory, absolute.
    pub dir: PathBuf,
}

impl SecretRef {
    pub fn file(&self) -> PathBuf {
        self.dir.join("secret")
    }
}

/// How a member reaches a secret.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Via {
    pub direct: bool,
    /// Groups through which the member is linked, sorted.
    pub groups: Vec<String>,
}

/// Who can read a secret according to its links.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Access {
    pub users: BTreeMap<String, Via>,
    pub machines: BTreeMap<String, Via>,
    /// Groups linked from the secret (existing ones).
    pub groups: Vec<String>,
    /// Links whose member is gone; re-keying removes them.
    pub dangling: Vec<PathBuf>,
}

impl Repo {
    /// A secret of `sops/secrets/`, checked by name.
    pub fn secret(&self, name: &str) -> Result<SecretRef> {
        names::validate(Kind::Secret, name)?;
        Ok(SecretRef { name: name.to_string(), dir: self.secret_dir(name) })
    }

    /// Every secret of the repository: `sops/secrets/*`, `vars/shared/*/*` and
    /// `vars/per-machine/*/*/*`, keeping directories that hold a `secret` file.
    pub fn all_secrets(&self) -> Result<Vec<SecretRef>> {
        let mut out: Vec<SecretRef> = self.list(Kind::Secret)?.into_iter().map(|n| SecretRef { dir: self.secret_dir(&n), name: n }).collect();
        for (base, depth) in [("vars/shared", 2), ("vars/per-machine", 3)] {
            collect_vars(self.root(), &self.root().join(base), depth, &mut out)?;
        }
        out.sort();
        Ok(out)
    }

    /// Who can read a secret, from its links (direct, and through groups).
    pub fn access(&self, secret: &SecretRef) -> Result<Access> {
        let mut access = Access::default();
        for (kind, map) in [(Kind::User, &mut access.users), (Kind::Machine, &mut access.machines)] {
            for link in links::read(self, &secret.dir, kind)? {
                match link {
                    Link::Member(name) => map.entry(name).or_default().direct = true,
                    Link::Dangling { link } => access.dangling.push(link),
                }
            }
        }
        for link in links::read(self, &secret.dir, Kind::Group)? {
            let group = match link {
                Link::Member(name) => name,
                Link::Dangling { link } => {
                    access.dangling.push(link);
                    continue;
                }
            };
            let group_dir = self.member_dir(Kind::Group, &group);
            for (kind, map) in [(Kind::User, &mut access.users), (Kind::Machine, &mut access.machines)] {
                for member in links::members(self, &group_dir, kind)? {
                    map.entry(member).or_default().groups.push(group.clone());
                }
            }
            access.groups.push(group);
        }
        Ok(access)
    }

    /// The public keys a secret must be encrypted for: every linked user's and machine's keys,
    /// sorted and de-duplicated.
    pub fn recipients(&self, access: &Access) -> Result<Vec<PublicKey>> {
        let mut keys = Vec::new();
        for user in access.users.keys() {
            keys.extend(self.read_keys(Kind::User, user)?);
        }
        for machine in access.machines.keys() {
            keys.extend(self.read_keys(Kind::Machine, machine)?);
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }
}

fn collect_vars(root: &Path, dir: &Path, depth: usize, out: &mut Vec<SecretRef>) -> Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StoreError::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io(dir, e))?;
        let path = entry.path();
        if !entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            continue;
        }
        if depth > 1 {
            collect_vars(root, &path, depth - 1, out)?;
        } else if path.join("secret").is_file() {
            let name = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().into_owned();
            out.push(SecretRef { name, dir: path });
        }
    }
    Ok(())
}
