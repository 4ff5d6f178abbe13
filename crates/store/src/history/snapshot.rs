//! The repository as recorded in a git commit: its files, membership links and keys, read from
//! git objects without a checkout. [`Layout`] is what recipient computations need, so the same
//! code answers for a commit or for a three-way merge of commits.

use std::path::{Component, Path, PathBuf};

use git2::{ObjectType, Repository, Tree};

use crate::error::{Result, StoreError};
use crate::keyfile::{self, KeyType};
use crate::names::Kind;
use crate::repo::Repo;

use super::keyindex::KeyIndex;

pub(crate) fn git_err(e: git2::Error) -> StoreError {
    StoreError::Git { source: e, os: None, git_dir: None }
}

/// The git repository holding a secrets repository, and where `sops/` sits inside it.
pub struct GitRepo {
    git: Repository,
    /// The secrets repository's root relative to the git work tree (empty when they coincide).
    prefix: PathBuf,
}

impl GitRepo {
    /// The git repository around `repo`, or `None` when it is not in one.
    pub fn open(repo: &Repo) -> Result<Option<GitRepo>> {
        let git = match Repository::discover(repo.root()) {
            Ok(git) => git,
            Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
            Err(e) => return Err(git_err(e)),
        };
        let Some(workdir) = git.workdir() else { return Ok(None) };
        let workdir = workdir.canonicalize().unwrap_or_else(|_| workdir.to_path_buf());
        let root = repo.root().canonicalize().unwrap_or_else(|_| repo.root().to_path_buf());
        let prefix = root.strip_prefix(&workdir).map(Path::to_path_buf).unwrap_or_default();
        Ok(Some(GitRepo { git, prefix }))
    }

    /// The underlying git repository.
    pub fn git(&self) -> &Repository {
        &self.git
    }

    /// The secrets repository's root relative to the git work tree.
    pub fn prefix(&self) -> &Path {
        &self.prefix
    }

    /// The path git uses for a path relative to the secrets repository.
    pub fn git_path(&self, rel: &Path) -> PathBuf {
        self.prefix.join(rel)
    }

    /// The path relative to the secrets repository of a path git uses.
    pub fn repo_path(&self, git_path: &Path) -> Option<PathBuf> {
        git_path.strip_prefix(&self.prefix).ok().map(Path::to_path_buf)
    }

    /// The repository as of a commit.
    pub fn snapshot<'r>(&'r self, commit: &git2::Commit<'r>) -> Result<Snapshot<'r>> {
        Ok(Snapshot { git: &self.git, tree: commit.tree().map_err(git_err)?, prefix: self.prefix.clone() })
    }

    /// The repository as of HEAD (`None` before the first commit).
    pub fn head(&self) -> Result<Option<Snapshot<'_>>> {
        match self.git.head().and_then(|h| h.peel_to_commit()) {
            Ok(commit) => self.snapshot(&commit).map(Some),
            Err(_) => Ok(None),
        }
    }
}

/// What recipient computations need to know about a repository state.
pub trait Layout {
    /// Names of the members of `kind` linked from `container` (a secret or group directory,
    /// relative to the repository root), taken from where each link points; links that do not
    /// point into `sops/<kind>/` are left out.
    fn links(&self, container: &Path, kind: Kind) -> Vec<String>;
    /// The bytes of a member's `key.json`.
    fn key_file(&self, kind: Kind, name: &str) -> Option<Vec<u8>>;
}

/// The age recipients a secret's links call for in `layout`: its users and machines, directly
/// and through its groups, sorted; members without a `key.json` are gone and skipped.
pub fn recipients_in(layout: &dyn Layout, container: &Path) -> Result<Vec<String>> {
    let mut members: Vec<(Kind, String)> = Vec::new();
    for kind in [Kind::User, Kind::Machine] {
        members.extend(layout.links(container, kind).into_iter().map(|n| (kind, n)));
    }
    for group in layout.links(container, Kind::Group) {
        let group_dir = Path::new("sops/groups").join(&group);
        for kind in [Kind::User, Kind::Machine] {
            members.extend(layout.links(&group_dir, kind).into_iter().map(|n| (kind, n)));
        }
    }
    members.sort();
    members.dedup();
    let mut out = Vec::new();
    for (kind, name) in members {
        let Some(bytes) = layout.key_file(kind, &name) else { continue };
        let path = Path::new("sops").join(kind.folder()).join(&name).join("key.json");
        let text = String::from_utf8(bytes)
            .map_err(|e| StoreError::KeyFile { path: path.clone(), problem: keyfile::KeyFileProblem::NotText(e) })?;
        for key in keyfile::parse(&text, &path)? {
            match key.kind {
                KeyType::Pgp if secrets_sops::keys::is_pgp_fingerprint(&key.key) => {
                    out.push(secrets_sops::keys::normalize_pgp_fingerprint(&key.key));
                }
                KeyType::Pgp => return Err(StoreError::PgpMember { path, name }),
                KeyType::Age => out.push(key.key),
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// A commit's tree.
pub struct Snapshot<'r> {
    git: &'r Repository,
    tree: Tree<'r>,
    prefix: PathBuf,
}

impl Snapshot<'_> {
    /// The content of a file (or a link's target) at a path relative to the repository root.
    pub fn blob(&self, rel: &Path) -> Option<Vec<u8>> {
        let entry = self.tree.get_path(&self.prefix.join(rel)).ok()?;
        let blob = entry.to_object(self.git).ok()?.into_blob().ok()?;
        Some(blob.content().to_vec())
    }

    /// The id of the object at a path (a blob or a tree), to compare states cheaply.
    pub fn id(&self, rel: &Path) -> Option<git2::Oid> {
        self.tree.get_path(&self.prefix.join(rel)).ok().map(|e| e.id())
    }

    /// Names of the entries of a folder, with whether each is a symlink and its object.
    fn entries(&self, rel: &Path) -> Vec<(String, i32, git2::Oid)> {
        let Ok(entry) = self.tree.get_path(&self.prefix.join(rel)) else { return Vec::new() };
        if entry.kind() != Some(ObjectType::Tree) {
            return Vec::new();
        }
        let Ok(tree) = self.git.find_tree(entry.id()) else { return Vec::new() };
        tree.iter().filter_map(|e| Some((e.name().ok()?.to_string(), e.filemode(), e.id()))).collect()
    }

    /// The names under `sops/<kind>/` (users and machines with a `key.json`, every group).
    pub fn members(&self, kind: Kind) -> Vec<String> {
        let folder = Path::new("sops").join(kind.folder());
        self.entries(&folder)
            .into_iter()
            .filter(|(name, _, _)| match kind {
                Kind::User | Kind::Machine => self.id(&folder.join(name).join("key.json")).is_some(),
                _ => true,
            })
            .map(|(name, _, _)| name)
            .collect()
    }

    /// Every user's and machine's keys at this commit.
    pub fn key_index(&self) -> KeyIndex {
        let mut index = KeyIndex::default();
        for kind in [Kind::User, Kind::Machine] {
            for name in self.members(kind) {
                if let Some(bytes) = self.key_file(kind, &name) {
                    index.insert_key_file(kind, &name, &bytes);
                }
            }
        }
        index
    }
}

impl Layout for Snapshot<'_> {
    fn links(&self, container: &Path, kind: Kind) -> Vec<String> {
        let folder = container.join(kind.folder());
        let mut names: Vec<String> = self
            .entries(&folder)
            .into_iter()
            .filter(|(_, mode, _)| *mode == 0o120000)
            .filter_map(|(_, _, id)| {
                let blob = self.git.find_blob(id).ok()?;
                let target = std::str::from_utf8(blob.content()).ok()?;
                member_of_target(&folder, Path::new(target), kind)
            })
            .collect();
        names.sort();
        names.dedup();
        names
    }

    fn key_file(&self, kind: Kind, name: &str) -> Option<Vec<u8>> {
        self.blob(&Path::new("sops").join(kind.folder()).join(name).join("key.json"))
    }
}

/// The repository as a three-way merge of states would leave it: a link exists where the
/// set-wise merge of the three link folders keeps it, and a `key.json` is the side that changed
/// it (ours when both did: git reports that conflict itself).
pub struct ThreeWay<'a> {
    /// The common ancestor, if there is one.
    pub base: Option<&'a dyn Layout>,
    /// The branch being merged into.
    pub ours: &'a dyn Layout,
    /// The branch being merged.
    pub theirs: &'a dyn Layout,
}

impl Layout for ThreeWay<'_> {
    fn links(&self, container: &Path, kind: Kind) -> Vec<String> {
        let base = self.base.map(|b| b.links(container, kind)).unwrap_or_default();
        super::merge::merge_sets(&base, &self.ours.links(container, kind), &self.theirs.links(container, kind))
    }

    fn key_file(&self, kind: Kind, name: &str) -> Option<Vec<u8>> {
        let (a, b) = (self.ours.key_file(kind, name), self.theirs.key_file(kind, name));
        let o = self.base.and_then(|l| l.key_file(kind, name));
        if a == b || b == o {
            a
        } else if a == o {
            b
        } else {
            a
        }
    }
}

/// The member a link in `folder` (relative to the repository root) names, when its target
/// resolves lexically to `sops/<kind>/<name>`.
pub fn member_of_target(folder: &Path, target: &Path, kind: Kind) -> Option<String> {
    if target.is_absolute() {
        return None;
    }
    let resolved = normalize(&folder.join(target))?;
    let parent = resolved.parent()?;
    if parent != Path::new("sops").join(kind.folder()) {
        return None;
    }
    resolved.file_name()?.to_str().map(str::to_string)
}

/// `a/b/../c` → `a/c`; `None` when it climbs above its start.
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Normal(p) => out.push(p),
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_targets_name_members_only_inside_their_kind() {
        let secret_users = Path::new("sops/secrets/s/users");
        assert_eq!(member_of_target(secret_users, Path::new("../../../users/alice"), Kind::User).as_deref(), Some("alice"));
        assert_eq!(member_of_target(secret_users, Path::new("../../../machines/alice"), Kind::User), None);
        assert_eq!(member_of_target(secret_users, Path::new("../../../../../etc"), Kind::User), None);
        assert_eq!(member_of_target(secret_users, Path::new("/abs/sops/users/alice"), Kind::User), None);
        let vars = Path::new("vars/per-machine/m/gen/file/machines");
        assert_eq!(member_of_target(vars, Path::new("../../../../../../sops/machines/m"), Kind::Machine).as_deref(), Some("m"));
    }

    struct Fake(Vec<(&'static str, Kind, &'static str)>, Vec<(Kind, &'static str, &'static str)>);
    impl Layout for Fake {
        fn links(&self, container: &Path, kind: Kind) -> Vec<String> {
            self.0.iter().filter(|(c, k, _)| Path::new(c) == container && *k == kind).map(|(_, _, n)| n.to_string()).collect()
        }
        fn key_file(&self, kind: Kind, name: &str) -> Option<Vec<u8>> {
            self.1.iter().find(|(k, n, _)| *k == kind && *n == name).map(|(_, _, t)| t.as_bytes().to_vec())
        }
    }

    #[test]
    fn three_way_links_keep_additions_and_removals_of_both_sides() {
        let key = |k: &'static str| {
            (Kind::User, k, Box::leak(format!(r#"[{{"publickey": "age1{k}", "type": "age"}}]"#).into_boxed_str()) as &'static str)
        };
        let s = "sops/secrets/s";
        let base = Fake(vec![(s, Kind::User, "alice"), (s, Kind::User, "bob")], vec![key("alice"), key("bob"), key("carol")]);
        let ours = Fake(
            vec![(s, Kind::User, "alice"), (s, Kind::User, "bob"), (s, Kind::User, "carol")],
            vec![key("alice"), key("bob"), key("carol")],
        );
        let theirs = Fake(vec![(s, Kind::User, "alice")], vec![key("alice"), key("bob"), key("carol")]);
        let merged = ThreeWay { base: Some(&base), ours: &ours, theirs: &theirs };
        assert_eq!(recipients_in(&merged, Path::new(s)).unwrap(), ["age1alice", "age1carol"]);
    }

    #[test]
    fn recipients_come_from_direct_and_group_links() {
        let layout = Fake(
            vec![
                ("sops/secrets/s", Kind::User, "alice"),
                ("sops/secrets/s", Kind::Group, "ops"),
                ("sops/secrets/s", Kind::User, "gone"),
                ("sops/groups/ops", Kind::Machine, "web1"),
                ("sops/groups/ops", Kind::User, "alice"),
            ],
            vec![
                (Kind::User, "alice", r#"[{"publickey": "age1alice", "type": "age"}]"#),
                (Kind::Machine, "web1", r#"{"publickey": "age1web", "type": "age"}"#),
            ],
        );
        assert_eq!(recipients_in(&layout, Path::new("sops/secrets/s")).unwrap(), ["age1alice", "age1web"]);
    }
}
