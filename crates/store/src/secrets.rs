//! Secrets: where they live (`sops/secrets/<name>/` and the vars folders), who they are
//! encrypted for through their links, and why.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use crate::error::Result;
use crate::keyfile::PublicKey;
use crate::links::{self, Link};
use crate::names::{self, Kind};
use crate::repo::Repo;
use crate::untrusted::{self, EntryKind, Folder, FolderCache, UntrustedError};

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
    /// The encrypted file, `<dir>/secret`.
    pub fn file(&self) -> PathBuf {
        self.dir.join("secret")
    }
}

/// How a member reaches a secret.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Via {
    /// Whether the secret links the member itself.
    pub direct: bool,
    /// Groups through which the member is linked, sorted.
    pub groups: Vec<String>,
}

/// Who can read a secret according to its links.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Access {
    /// The users that can read it, by name, and how.
    pub users: BTreeMap<String, Via>,
    /// The machines that can read it, by name, and how.
    pub machines: BTreeMap<String, Via>,
    /// Groups linked from the secret (existing ones).
    pub groups: Vec<String>,
    /// Links whose member is gone; re-keying removes them.
    pub dangling: Vec<PathBuf>,
    /// Links of the secret named after another member than they lead to: they grant nothing
    /// (`links::member_of`), and re-keying removes them.
    pub misnamed: Vec<PathBuf>,
}

/// What one operation over many secrets has read already. The secrets of a group all resolve
/// the same member links and read the same key files; a bulk re-key of a thousand secrets would
/// otherwise redo that (hundreds of system calls) for each of them. Keep one only while the
/// links and keys cannot change.
#[derive(Default)]
pub struct Lookups {
    /// [`links::canonical_kind_dir`] of each kind, by `Kind as usize`, read on first need.
    kind_dirs: [OnceLock<Option<PathBuf>>; 4],
    /// `sops/<kind>` and the vars folders, opened once: every secret's and group's folder is
    /// reached from there rather than from the root again.
    folders: OnceLock<FolderCache>,
    groups: Mutex<HashMap<String, Arc<GroupMembers>>>,
    keys: Mutex<HashMap<(Kind, String), MemberKeys>>,
}

/// The keys of one user or machine, shared by every secret that names it.
type MemberKeys = Arc<Vec<PublicKey>>;

struct GroupMembers {
    users: Vec<String>,
    machines: Vec<String>,
}

impl Lookups {
    /// The open folders of `repo` (a `Lookups` serves one repository).
    pub(crate) fn folders(&self, repo: &Repo) -> &FolderCache {
        self.folders.get_or_init(|| FolderCache::new(repo.root()))
    }

    /// The links of one kind in `container`, whose folder is `open` (`None`: it does not exist).
    fn links(&self, repo: &Repo, container: &Path, open: Option<&Folder>, kind: Kind) -> Result<Vec<Link>> {
        let dir = self.kind_dirs[kind as usize].get_or_init(|| links::canonical_kind_dir(repo, kind));
        let links_folder = match open {
            Some(open) => open.open_dir(kind.folder())?,
            None => None,
        };
        links::read_resolved(repo, self.folders(repo), container, links_folder.as_ref(), kind, dir.as_deref())
    }

    fn group(&self, repo: &Repo, group: &str) -> Result<Arc<GroupMembers>> {
        if let Some(found) = self.groups.lock().expect("not poisoned").get(group) {
            return Ok(found.clone());
        }
        let dir = repo.member_dir(Kind::Group, group);
        let open = self.folders(repo).open(&dir)?;
        let members = Arc::new(GroupMembers {
            users: links::only_members(self.links(repo, &dir, open.as_ref(), Kind::User)?),
            machines: links::only_members(self.links(repo, &dir, open.as_ref(), Kind::Machine)?),
        });
        self.groups.lock().expect("not poisoned").insert(group.to_string(), members.clone());
        Ok(members)
    }

    fn keys(&self, repo: &Repo, kind: Kind, name: &str) -> Result<Arc<Vec<PublicKey>>> {
        let key = (kind, name.to_string());
        if let Some(found) = self.keys.lock().expect("not poisoned").get(&key) {
            return Ok(found.clone());
        }
        let keys = Arc::new(repo.read_keys(kind, name)?);
        self.keys.lock().expect("not poisoned").insert(key, keys.clone());
        Ok(keys)
    }
}

impl Repo {
    /// A secret of `sops/secrets/`, checked by name: a name we would create, or one clan
    /// accepts that starts with a dot ([`names::is_hidden_secret`]) when that secret exists
    /// already, so that it is read, granted, revoked and re-keyed like the others. The folders
    /// on the way must be real directories and an existing `secret` a regular file
    /// ([`untrusted::is_regular_file`]).
    pub fn secret(&self, name: &str) -> Result<SecretRef> {
        let dir = self.secret_dir(name);
        if let Err(e) = names::validate(Kind::Secret, name) {
            if !(names::is_hidden_secret(name) && fs::symlink_metadata(&dir).is_ok()) {
                return Err(e);
            }
        }
        // Its folders, and its `secret` if there is one: writing a new value (or removing,
        // renaming) must not start by reading or replacing what a symlink or FIFO leads to.
        untrusted::is_regular_file(self.root(), &dir.join("secret"))?;
        Ok(SecretRef { name: name.to_string(), dir })
    }

    /// Every secret of the repository: `sops/secrets/*`, `vars/shared/*/*` and
    /// `vars/per-machine/*/*/*`, keeping directories that hold a `secret` file, whatever their
    /// name (as clan's re-key walks them: a secret it would re-key must never be skipped here),
    /// except the leftovers of an interrupted command. A symlinked folder or `secret` file on
    /// the way is an error: a re-key must not skip it silently, nor follow it.
    pub fn all_secrets(&self) -> Result<Vec<SecretRef>> {
        let mut out = Vec::new();
        for found in self.folder_secrets()?.into_iter().chain(self.vars_secrets()) {
            out.push(found?);
        }
        out.sort();
        Ok(out)
    }

    /// The secrets of `sops/secrets/`, each found one or refused by [`untrusted`].
    fn folder_secrets(&self) -> Result<Vec<Result<SecretRef, UntrustedError>>> {
        let path = self.sops_dir().join(Kind::Secret.folder());
        // Opened from the root without following a link, and read through that descriptor.
        let Some(folder) = untrusted::Folder::open(self.root(), &path)? else {
            return Ok(Vec::new());
        };
        // Each folder is looked into on every core (a repository holds thousands), and the
        // findings are kept in the folder's order.
        let found: Vec<Option<Result<SecretRef, UntrustedError>>> = {
            use rayon::prelude::*;
            folder
                .entries()?
                .into_par_iter()
                .map(|(entry, kind)| {
                    let name = entry.to_string_lossy().into_owned();
                    let dir = path.join(&entry);
                    if names::is_leftover_entry(&dir) {
                        return None;
                    }
                    // Plain files here are not secrets (check reports them); symlinks are refused.
                    match kind {
                        EntryKind::Folder => {}
                        EntryKind::Symlink => {
                            return Some(Err(UntrustedError::FolderSymlink { target: folder.read_link(&entry), path: dir }))
                        }
                        EntryKind::File | EntryKind::Other => return None,
                    }
                    match folder.open_dir(&entry).and_then(|d| d.map_or(Ok(false), |d| d.is_regular_file("secret"))) {
                        Ok(true) => Some(Ok(SecretRef { name, dir })),
                        Ok(false) => None,
                        Err(e) => Some(Err(e)),
                    }
                })
                .collect()
        };
        Ok(found.into_iter().flatten().collect())
    }

    /// The secrets of the vars folders, each found one or refused by [`untrusted`] (so that
    /// `secrets check` can report every refusal).
    pub(crate) fn vars_secrets(&self) -> Vec<Result<SecretRef, UntrustedError>> {
        let mut out = Vec::new();
        for (base, depth) in [("vars/shared", 2), ("vars/per-machine", 3)] {
            let dir = self.root().join(base);
            match Folder::open(self.root(), &dir) {
                Ok(Some(folder)) => collect_vars(self.root(), &folder, depth, &mut out),
                Ok(None) => {}
                Err(e) => out.push(Err(e)),
            }
        }
        out
    }

    /// Who can read a secret, from its links (direct, and through groups).
    pub fn access(&self, secret: &SecretRef) -> Result<Access> {
        self.access_with(secret, &Lookups::default())
    }

    /// As [`Repo::access`], reusing what `lookups` has read for earlier secrets.
    pub fn access_with(&self, secret: &SecretRef, lookups: &Lookups) -> Result<Access> {
        let open = lookups.folders(self).open(&secret.dir)?;
        self.access_in(secret, open.as_ref(), lookups)
    }

    /// As [`Repo::access_with`], given the secret's open folder (`None`: it does not exist),
    /// which a re-key then reads the secret's file from.
    pub(crate) fn access_in(&self, secret: &SecretRef, open: Option<&Folder>, lookups: &Lookups) -> Result<Access> {
        let mut access = Access::default();
        for (kind, map) in [(Kind::User, &mut access.users), (Kind::Machine, &mut access.machines)] {
            for link in lookups.links(self, &secret.dir, open, kind)? {
                match link {
                    Link::Member(name) => map.entry(name).or_default().direct = true,
                    Link::Dangling { link } => access.dangling.push(link),
                    Link::Misnamed { link, .. } => access.misnamed.push(link),
                }
            }
        }
        for link in lookups.links(self, &secret.dir, open, Kind::Group)? {
            let group = match link {
                Link::Member(name) => name,
                Link::Dangling { link } => {
                    access.dangling.push(link);
                    continue;
                }
                Link::Misnamed { link, .. } => {
                    access.misnamed.push(link);
                    continue;
                }
            };
            let members = lookups.group(self, &group)?;
            for (names, map) in [(&members.users, &mut access.users), (&members.machines, &mut access.machines)] {
                for member in names {
                    map.entry(member.clone()).or_default().groups.push(group.clone());
                }
            }
            access.groups.push(group);
        }
        Ok(access)
    }

    /// The public keys a secret must be encrypted for: every linked user's and machine's keys,
    /// sorted and de-duplicated.
    pub fn recipients(&self, access: &Access) -> Result<Vec<PublicKey>> {
        self.recipients_with(access, &Lookups::default())
    }

    /// As [`Repo::recipients`], reusing the key files `lookups` has read.
    pub fn recipients_with(&self, access: &Access, lookups: &Lookups) -> Result<Vec<PublicKey>> {
        let mut keys = Vec::new();
        for user in access.users.keys() {
            keys.extend(lookups.keys(self, Kind::User, user)?.iter().cloned());
        }
        for machine in access.machines.keys() {
            keys.extend(lookups.keys(self, Kind::Machine, machine)?.iter().cloned());
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }
}

/// The secrets `depth` folders below `dir`, which is open; every folder below it is opened
/// through its parent's descriptor, never following a link.
fn collect_vars(root: &Path, dir: &Folder, depth: usize, out: &mut Vec<Result<SecretRef, UntrustedError>>) {
    let entries = match dir.entries() {
        Ok(entries) => entries,
        Err(e) => return out.push(Err(e)),
    };
    for (name, kind) in entries {
        let path = dir.path().join(&name);
        match kind {
            // A symlinked folder would lead the walk (and the re-key) anywhere on the disk.
            EntryKind::Symlink => {
                out.push(Err(UntrustedError::FolderSymlink { target: dir.read_link(&name), path }));
                continue;
            }
            EntryKind::Folder => {}
            EntryKind::File | EntryKind::Other => continue,
        }
        let sub = match dir.open_dir(&name) {
            Ok(Some(sub)) => sub,
            Ok(None) => continue,
            Err(e) => {
                out.push(Err(e));
                continue;
            }
        };
        if depth > 1 {
            collect_vars(root, &sub, depth - 1, out);
            continue;
        }
        match sub.is_regular_file("secret") {
            Ok(true) => {
                let name = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().into_owned();
                out.push(Ok(SecretRef { name, dir: path }));
            }
            Ok(false) => {}
            Err(e) => out.push(Err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "age1e9xplsq098whkdsvugpwhmh65hvjzend6kh3pcpuvsswew43jf6smxepjg";
    const BOB: &str = "age1y53pe0c3lfwjf2wsc32czh0mvh5ekcams7r3xzjcyel45zny7ansgnel2p";

    fn member(repo: &Repo, kind: Kind, name: &str, key: &str) {
        fs::create_dir_all(repo.member_dir(kind, name)).unwrap();
        fs::write(repo.key_file(kind, name), format!(r#"[{{"publickey": "{key}", "type": "age"}}]"#)).unwrap();
    }

    #[test]
    fn shared_lookups_give_what_each_secret_reads_alone() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo::at(dir.path().canonicalize().unwrap());
        member(&repo, Kind::User, "alice", ALICE);
        member(&repo, Kind::User, "bob", BOB);
        member(&repo, Kind::Machine, "web1", BOB);
        let team = repo.member_dir(Kind::Group, "team");
        links::add(&repo, &team, Kind::User, "alice").unwrap();
        links::add(&repo, &team, Kind::Machine, "web1").unwrap();
        let a = repo.secret("a").unwrap();
        let b = repo.secret("b").unwrap();
        links::add(&repo, &a.dir, Kind::Group, "team").unwrap();
        links::add(&repo, &a.dir, Kind::User, "bob").unwrap();
        links::add(&repo, &b.dir, Kind::Group, "team").unwrap();

        let lookups = Lookups::default();
        for secret in [&a, &b, &a] {
            let alone = repo.access(secret).unwrap();
            let shared = repo.access_with(secret, &lookups).unwrap();
            assert_eq!(shared, alone, "{}", secret.name);
            assert_eq!(repo.recipients_with(&shared, &lookups).unwrap(), repo.recipients(&alone).unwrap());
        }
        let a_access = repo.access_with(&a, &lookups).unwrap();
        assert_eq!(a_access.users["alice"].groups, ["team"]);
        assert!(a_access.users["bob"].direct);
        assert_eq!(repo.recipients_with(&a_access, &lookups).unwrap().len(), 2, "alice's key and the one bob and web1 share");
    }
}
