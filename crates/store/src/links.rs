//! Membership links: relative symlinks from a secret or group to a member's directory, with
//! exactly clan's targets, read safely (a link that resolves outside `sops/<kind>/` is refused).
//! A link is one thing: its name is its member. Clan creates every link under its member's
//! name but, when encrypting, follows the target whatever the name; removing a member finds its
//! links by name. A link named `zz` that leads to `bob` would so make bob a reader that no
//! removal of bob finds. Here a link grants only when it resolves to the member it is named
//! after (`member_of`, the one rule for every reader); anything else is [`Link::Misnamed`],
//! not a member, and re-keying drops it. So finding a member's links by name
//! ([`link_path`]) finds every link that gives it access.
//! The folders that hold them (the secret or group folder, its `users/`, `machines/`,
//! `groups/`) must be real directories: a symlinked one would make a read list someone else's
//! links and a write or delete land outside the repository. They are opened once, without
//! following a link ([`Folder`]), and listed, written and deleted through that
//! descriptor, so a folder swapped for a symlink after the check is never followed. Only the
//! resolution of a link's target (`canonicalize`, which reads no content) goes by path; its
//! result must lie in `sops/<kind>/`, wherever the path led. A link of clan's own shape
//! (`../../../users/alice` from a real folder, to a real member folder) is resolved without
//! `canonicalize`, through the open folders, when that gives provably the same answer
//! (`clan_shaped`); every other link takes `canonicalize`.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::path::{Component, Path, PathBuf};

use crate::error::{Result, StoreError};
use crate::names::Kind;
use crate::repo::Repo;
use crate::untrusted::{EntryKind, Folder, FolderCache};

/// What a link in a membership folder points at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Link {
    /// A member that exists: its name.
    Member(String),
    /// A link whose target is gone (a removed member); re-keying drops it.
    Dangling {
        /// The symlink.
        link: PathBuf,
    },
    /// A link that leads to another member than it is named after (`users/zz ->
    /// ../../../users/bob`): it grants nothing, since a removal of `bob` would not find it, and
    /// re-keying drops it.
    Misnamed {
        /// The symlink.
        link: PathBuf,
        /// The member it leads to (not the one it is named after).
        target: String,
    },
}

impl Link {
    /// The path of a link to drop ([`Link::Dangling`], [`Link::Misnamed`]); none for a member.
    pub fn to_drop(&self) -> Option<&Path> {
        match self {
            Link::Member(_) => None,
            Link::Dangling { link } | Link::Misnamed { link, .. } => Some(link),
        }
    }
}

/// What a link that resolves to `resolved` (symlinks followed) grants: `Ok(name)` of the
/// member when `resolved` is the folder `name` in `sops/<kind>/` (`canonical_kind_dir`) and
/// `name` is the link's own name; `Err(Some(target))` when it leads to another member of that
/// kind than its name says; `Err(None)` when it leads anywhere else. The one rule by which
/// every reader (re-key, `check`, `access`, `set`) counts members, so that a removal, which
/// finds a member's links by name, finds every link that grants it access.
pub(crate) fn member_of(link: &Path, resolved: &Path, canonical_kind_dir: Option<&Path>) -> std::result::Result<String, Option<String>> {
    if canonical_kind_dir.is_none() || resolved.parent() != canonical_kind_dir {
        return Err(None);
    }
    let target = resolved.file_name().and_then(|n| n.to_str()).ok_or(None)?;
    if link.file_name() == Some(target.as_ref()) {
        Ok(target.to_string())
    } else {
        Err(Some(target.to_string()))
    }
}

/// The relative path from the folder `from` to `to`, both relative to the repository root.
pub fn relative_path(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<Component> = from.components().collect();
    let to: Vec<Component> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for part in &to[common..] {
        out.push(part.as_os_str());
    }
    out
}

/// The path of the link to member `name` of `kind` inside `container` (a secret or group dir).
pub fn link_path(container: &Path, kind: Kind, name: &str) -> PathBuf {
    container.join(kind.folder()).join(name)
}

/// Creates (or replaces) the link from `container` to a member. Returns the link's path.
/// Refused when a folder on the way is a symlink (missing ones are created as real folders).
/// Every step goes through the open folder ([`Folder::open_or_create`]): a folder
/// swapped for a symlink after it was checked is never written through.
pub fn add(repo: &Repo, container: &Path, kind: Kind, name: &str) -> Result<PathBuf> {
    let folder_path = container.join(kind.folder());
    let folder = Folder::open_or_create(repo.root(), &folder_path)?;
    let link = folder_path.join(name);
    let relative_folder = folder_path.strip_prefix(repo.root()).unwrap_or(&folder_path);
    let target_rel = Path::new("sops").join(kind.folder()).join(name);
    let target = relative_path(relative_folder, &target_rel);
    match folder.kind(name)? {
        Some((EntryKind::Symlink, _)) => {
            if folder.link_target(name).as_deref() == Some(target.as_path()) {
                return Ok(link);
            }
            folder.remove_file(name).map_err(|e| StoreError::io(&link, e))?;
        }
        Some(_) => return Err(StoreError::NotASymlink { kind, name: name.to_string(), path: link }),
        None => {}
    }
    folder.symlink(&target, name).map_err(|e| StoreError::io(&link, e))?;
    folder.sync();
    Ok(link)
}

/// Removes the link to a member; then the folder if it became empty. Returns whether a link was
/// there. Refused when a folder on the way is a symlink; the link is removed through its open
/// folder, so a folder swapped for a symlink meanwhile is never deleted through.
pub fn remove(repo: &Repo, container: &Path, kind: Kind, name: &str) -> Result<bool> {
    let link = link_path(container, kind, name);
    let Some(parent) = Folder::open(repo.root(), container)? else { return Ok(false) };
    let Some(folder) = parent.open_dir(kind.folder())? else { return Ok(false) };
    if !matches!(folder.kind(name)?, Some((EntryKind::Symlink, _))) {
        return Ok(false);
    }
    folder.remove_file(name).map_err(|e| StoreError::io(&link, e))?;
    folder.sync();
    // An error just means the folder is not empty.
    if parent.remove_dir(kind.folder()).is_ok() {
        parent.sync();
    }
    Ok(true)
}

/// Reads the links of one kind in `container`, sorted by name. Entries that are not symlinks
/// are ignored, as clan does.
pub fn read(repo: &Repo, container: &Path, kind: Kind) -> Result<Vec<Link>> {
    let canonical = canonical_kind_dir(repo, kind);
    let open = Folder::open(repo.root(), &container.join(kind.folder()))?;
    read_resolved(repo, &FolderCache::new(repo.root()), container, open.as_ref(), kind, canonical.as_deref())
}

/// `sops/<kind>` with every symlink on the way resolved, if it exists: where a link of that
/// kind must lead.
pub(crate) fn canonical_kind_dir(repo: &Repo, kind: Kind) -> Option<PathBuf> {
    fs::canonicalize(repo.sops_dir().join(kind.folder())).ok()
}

/// As [`read`], for callers reading many containers: given [`canonical_kind_dir`], the
/// operation's open folders (`folders`, for `repo`) and the open link folder `open` of
/// `container` (`<container>/<kind>`, `None` when it does not exist). `open` must be that
/// folder as reached from the root without following a link ([`Folder::open`], or
/// [`FolderCache::open`] and [`Folder::open_dir`]): resolving clan's links without
/// `canonicalize` (`clan_shaped`) relies on it.
pub(crate) fn read_resolved(
    repo: &Repo,
    folders: &FolderCache,
    container: &Path,
    open: Option<&Folder>,
    kind: Kind,
    canonical_kind_dir: Option<&Path>,
) -> Result<Vec<Link>> {
    let folder = container.join(kind.folder());
    // The listing and the link targets are read through the open folder: a folder swapped for
    // a symlink after it was checked is never listed.
    let Some(open) = open else { return Ok(Vec::new()) };
    let kind_dir = repo.sops_dir().join(kind.folder());
    // Links lead into sops/<kind>/, whose own folders must be real too: opened (and so
    // checked) at the first link, once for the operation.
    let mut kind_folder: Option<Option<&Folder>> = None;
    let mut links = Vec::new();
    for (entry, entry_kind) in open.entries()? {
        if entry_kind != EntryKind::Symlink {
            continue;
        }
        let link = folder.join(&entry);
        let kind_open = match kind_folder {
            Some(opened) => opened,
            None => *kind_folder.insert(folders.base(&kind_dir)?),
        };
        let Some(raw) = open.link_target(&entry) else { continue };
        let unsafe_link = || StoreError::UnsafeLink { path: link.clone(), target: raw.clone(), expected: kind.folder() };
        let shortcut = match (kind_open, canonical_kind_dir) {
            (Some(kind_open), Some(_)) => clan_shaped(folders.root(), &folder, &raw, kind, kind_open),
            _ => None,
        };
        let resolved = match shortcut {
            Some(Shortcut::Member(name)) => canonical_kind_dir.map(|dir| dir.join(name)),
            Some(Shortcut::Missing) => None,
            None => fs::canonicalize(&link).ok(),
        };
        if let Some(resolved) = resolved {
            match member_of(&link, &resolved, canonical_kind_dir) {
                Ok(name) => links.push(Link::Member(name)),
                Err(Some(target)) => links.push(Link::Misnamed { link, target }),
                Err(None) => return Err(unsafe_link()),
            }
        } else {
            // A dangling link is harmless only if it would point into sops/<kind>/.
            let lexical = normalize(&folder.join(&raw));
            if lexical.parent() != Some(normalize(&kind_dir).as_path()) {
                return Err(unsafe_link());
            }
            links.push(Link::Dangling { link });
        }
    }
    // Members first by name, then the links to drop by path.
    links.sort_by(|a, b| match (a, b) {
        (Link::Member(x), Link::Member(y)) => x.cmp(y),
        (Link::Member(_), _) => std::cmp::Ordering::Less,
        (_, Link::Member(_)) => std::cmp::Ordering::Greater,
        _ => a.to_drop().cmp(&b.to_drop()),
    });
    Ok(links)
}

/// What a link of clan's shape leads to, found without `canonicalize` (which costs a
/// `readlink` for every component of the path, a few dozen system calls per link).
#[derive(Debug, PartialEq, Eq)]
enum Shortcut {
    /// The real folder `sops/<kind>/<name>`: `canonicalize` would give
    /// `canonical_kind_dir/<name>`.
    Member(OsString),
    /// Nothing is at `sops/<kind>/<name>`: the link dangles.
    Missing,
}

/// The answer `canonicalize` gives for the link `raw` in the link folder `folder`, when it is
/// provably the same answer; `None` sends the link to `canonicalize`.
///
/// Why it is the same: `folder` was reached from `root` one component at a time without
/// following a link, so each of its ancestors up to the root is a real folder and `..` from
/// it is the folder lexically above (as the kernel and `canonicalize` both resolve it).
/// `raw` must be relative and only `..` then plain names, with no more `..` than `folder` is
/// deep below the root: its `..` climb through those real folders, never above the root. Its
/// names must then land exactly on `sops/<kind>/<name>`, and every folder they go down
/// through is one the open `sops/<kind>` folder (`kind_folder`, reached from the root without
/// following a link) vouches for: `sops`, `<kind>`, and `<name>`, which `lstat` through that
/// folder must find a real folder (not followed either way). Nothing on the way is a link, so
/// `canonicalize` (the root resolved, then plain names) ends at `canonical_kind_dir/<name>`,
/// which is what [`member_of`] then judges, as it judges the slow answer. A missing `<name>`
/// is a dangling link as `canonicalize` failing is. Anything else (an absolute target, `.`
/// or `..` after a name, a climb above the root, another landing, a `<name>` that is a link,
/// a file, or cannot be looked at) takes the slow path unchanged.
fn clan_shaped(root: &Path, folder: &Path, raw: &Path, kind: Kind, kind_folder: &Folder) -> Option<Shortcut> {
    let mut here: Vec<&OsStr> = Vec::new();
    for part in folder.strip_prefix(root).ok()?.components() {
        match part {
            Component::Normal(name) => here.push(name),
            _ => return None,
        }
    }
    let mut parts = raw.components().peekable();
    while parts.next_if_eq(&Component::ParentDir).is_some() {
        here.pop()?;
    }
    for part in parts {
        match part {
            Component::Normal(name) => here.push(name),
            _ => return None,
        }
    }
    let [sops, kind_name, name] = here.as_slice() else { return None };
    if *sops != "sops" || *kind_name != kind.folder() {
        return None;
    }
    match kind_folder.kind(name) {
        Ok(Some((EntryKind::Folder, _))) => Some(Shortcut::Member(name.to_os_string())),
        Ok(None) => Some(Shortcut::Missing),
        _ => None,
    }
}

/// Names of the existing members linked from `container`.
pub fn members(repo: &Repo, container: &Path, kind: Kind) -> Result<Vec<String>> {
    Ok(only_members(read(repo, container, kind)?))
}

pub(crate) fn only_members(links: Vec<Link>) -> Vec<String> {
    links
        .into_iter()
        .filter_map(|l| match l {
            Link::Member(name) => Some(name),
            Link::Dangling { .. } | Link::Misnamed { .. } => None,
        })
        .collect()
}

/// Removes `.` and `..` lexically (no symlink resolution), for checking dangling links.
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn relative_targets_match_clan() {
        assert_eq!(relative_path(Path::new("sops/secrets/s/users"), Path::new("sops/users/u")), Path::new("../../../users/u"));
        assert_eq!(relative_path(Path::new("sops/groups/g/machines"), Path::new("sops/machines/m")), Path::new("../../../machines/m"));
        assert_eq!(
            relative_path(Path::new("vars/per-machine/m/gen/file/users"), Path::new("sops/users/u")),
            Path::new("../../../../../../sops/users/u")
        );
        assert_eq!(
            relative_path(Path::new("vars/shared/gen/file/machines"), Path::new("sops/machines/m")),
            Path::new("../../../../../sops/machines/m")
        );
    }

    fn repo_with_user(name: &str) -> (tempfile::TempDir, Repo) {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo::at(dir.path().canonicalize().unwrap());
        fs::create_dir_all(repo.member_dir(Kind::User, name)).unwrap();
        fs::write(repo.key_file(Kind::User, name), "[]").unwrap();
        (dir, repo)
    }

    #[test]
    fn add_read_remove() {
        let (_d, repo) = repo_with_user("alice");
        let secret = repo.secret_dir("s");
        let link = add(&repo, &secret, Kind::User, "alice").unwrap();
        assert_eq!(fs::read_link(&link).unwrap(), Path::new("../../../users/alice"));
        assert_eq!(read(&repo, &secret, Kind::User).unwrap(), vec![Link::Member("alice".into())]);
        assert!(remove(&repo, &secret, Kind::User, "alice").unwrap());
        assert!(!secret.join("users").exists());
    }

    #[test]
    fn dangling_links_are_reported_and_escaping_links_refused() {
        let (_d, repo) = repo_with_user("alice");
        let secret = repo.secret_dir("s");
        let users = secret.join("users");
        fs::create_dir_all(&users).unwrap();
        symlink(Path::new("../../../users/gone"), users.join("gone")).unwrap();
        assert!(matches!(read(&repo, &secret, Kind::User).unwrap()[0], Link::Dangling { .. }));

        let outside = repo.root().join("elsewhere/users/eve");
        fs::create_dir_all(&outside).unwrap();
        symlink(&outside, users.join("eve")).unwrap();
        assert!(matches!(read(&repo, &secret, Kind::User), Err(StoreError::UnsafeLink { .. })));
    }

    #[test]
    fn links_are_neither_read_nor_written_through_a_symlinked_folder() {
        let (_d, repo) = repo_with_user("alice");
        let outside = repo.root().join("outside");
        fs::create_dir_all(outside.join("users")).unwrap();
        symlink(Path::new("../../../users/gone"), outside.join("users/gone")).unwrap();
        fs::create_dir_all(repo.sops_dir().join("groups")).unwrap();
        let group = repo.member_dir(Kind::Group, "g");
        symlink(&outside, &group).unwrap();
        let refused = |r: Result<_>| matches!(r, Err(StoreError::Untrusted(crate::untrusted::UntrustedError::FolderSymlink { .. })));
        assert!(refused(read(&repo, &group, Kind::User).map(|_| ())));
        assert!(refused(add(&repo, &group, Kind::User, "alice").map(|_| ())));
        assert!(refused(remove(&repo, &group, Kind::User, "gone").map(|_| ())));
        assert!(!outside.join("users/alice").exists());
        assert!(fs::symlink_metadata(outside.join("users/gone")).is_ok(), "nothing deleted outside");

        // The same one level down: a secret's users/ folder.
        let secret = repo.secret_dir("s");
        fs::create_dir_all(&secret).unwrap();
        symlink(outside.join("users"), secret.join("users")).unwrap();
        assert!(refused(read(&repo, &secret, Kind::User).map(|_| ())));
        assert!(refused(add(&repo, &secret, Kind::User, "alice").map(|_| ())));
    }

    /// A local user (or a racing checkout) swaps a secret's `users/` folder for a symlink to a
    /// folder elsewhere, and back, while links are added and removed: a check of the folders
    /// followed by a write by path would sometimes create or delete a link over there; writing
    /// through the open folder never does.
    #[cfg(unix)]
    #[test]
    fn links_are_never_added_or_removed_through_a_folder_swapped_meanwhile() {
        use std::sync::atomic::Ordering;
        use std::time::{Duration, Instant};
        let (_d, repo) = repo_with_user("alice");
        let outside = repo.root().join("outside");
        fs::create_dir_all(&outside).unwrap();
        symlink(Path::new("keep"), outside.join("alice")).unwrap();
        let secret = repo.secret_dir("s");
        let real = secret.join("users");
        fs::create_dir_all(&real).unwrap();
        // Never empty, so that removing the last link never removes the folder being swapped.
        fs::write(real.join("README"), "").unwrap();
        let spare = repo.root().join("spare");
        symlink(&outside, &spare).unwrap();
        let (stop, swapper) = crate::swap_race::swapping(real.clone(), spare.clone());
        let (mut done, deadline) = (0u64, Instant::now() + Duration::from_millis(1500));
        while Instant::now() < deadline {
            done += u64::from(add(&repo, &secret, Kind::User, "alice").is_ok());
            done += u64::from(remove(&repo, &secret, Kind::User, "alice").is_ok());
        }
        stop.store(true, Ordering::Relaxed);
        let swaps = swapper.join().unwrap();
        assert!(done > 0 && swaps > 0, "the race ran: {done} changes, {swaps} swaps");
        let names: Vec<_> = fs::read_dir(&outside).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["alice"], "nothing created outside");
        assert_eq!(fs::read_link(outside.join("alice")).unwrap(), Path::new("keep"), "nothing replaced or deleted outside");
    }

    #[test]
    fn a_link_grants_only_the_member_it_is_named_after() {
        let (_d, repo) = repo_with_user("bob");
        let secret = repo.secret_dir("s");
        let users = secret.join("users");
        fs::create_dir_all(&users).unwrap();
        symlink(Path::new("../../../users/bob"), users.join("zz")).unwrap();
        assert_eq!(read(&repo, &secret, Kind::User).unwrap(), vec![Link::Misnamed { link: users.join("zz"), target: "bob".into() }]);
        assert!(members(&repo, &secret, Kind::User).unwrap().is_empty());
        // The same target under its own name is a member.
        symlink(Path::new("../../../users/./bob"), users.join("bob")).unwrap();
        assert_eq!(members(&repo, &secret, Kind::User).unwrap(), vec!["bob".to_string()]);
    }

    #[test]
    fn a_link_to_the_wrong_kind_is_refused() {
        let (_d, repo) = repo_with_user("alice");
        let secret = repo.secret_dir("s");
        fs::create_dir_all(secret.join("machines")).unwrap();
        symlink(Path::new("../../../users/alice"), secret.join("machines/alice")).unwrap();
        assert!(matches!(read(&repo, &secret, Kind::Machine), Err(StoreError::UnsafeLink { .. })));
    }

    /// What the shortcut and `canonicalize` say the link `folder/name` resolves to: whether
    /// the shortcut answered (rather than send the link to `canonicalize`), its answer (`None`
    /// for a dangling link, or when it did not answer), and `canonicalize`'s.
    fn fast_and_slow(repo: &Repo, folder: &Path, name: impl AsRef<Path>, kind: Kind) -> (bool, Option<PathBuf>, Option<PathBuf>) {
        let kind_folder = Folder::open(repo.root(), &repo.sops_dir().join(kind.folder())).unwrap().unwrap();
        let canonical = canonical_kind_dir(repo, kind).unwrap();
        let link = folder.join(name);
        let raw = fs::read_link(&link).unwrap();
        let shortcut = clan_shaped(repo.root(), folder, &raw, kind, &kind_folder);
        let fast = match &shortcut {
            Some(Shortcut::Member(name)) => Some(canonical.join(name)),
            Some(Shortcut::Missing) | None => None,
        };
        (shortcut.is_some(), fast, fs::canonicalize(&link).ok())
    }

    /// The shortcut answers as `canonicalize` does whenever it answers, takes clan's own
    /// shapes, and leaves every hostile shape to `canonicalize`.
    #[test]
    fn the_shortcut_answers_as_canonicalize_or_not_at_all() {
        let (_d, repo) = repo_with_user("alice");
        let root = repo.root().to_path_buf();
        fs::create_dir_all(repo.member_dir(Kind::User, "bob")).unwrap();
        fs::create_dir_all(repo.member_dir(Kind::Machine, "web1")).unwrap();
        let secret = repo.secret_dir("s");
        let users = secret.join("users");
        fs::create_dir_all(&users).unwrap();
        let elsewhere = root.join("elsewhere");
        fs::create_dir_all(elsewhere.join("a/b/c")).unwrap();
        fs::create_dir_all(elsewhere.join("users/alice")).unwrap();
        // sops/secrets/s/x leads three folders deep elsewhere: `x/../../..` climbs from there.
        symlink(elsewhere.join("a/b/c"), secret.join("x")).unwrap();
        // Member folders that are links: to another member, and to a folder outside.
        symlink(Path::new("bob"), repo.member_dir(Kind::User, "alias")).unwrap();
        symlink(elsewhere.join("users/alice"), repo.member_dir(Kind::User, "outside")).unwrap();
        // A member that is a file.
        fs::write(repo.member_dir(Kind::User, "file"), "").unwrap();
        let root_name = root.file_name().unwrap().to_str().unwrap().to_string();
        let cases: Vec<(&str, String, bool)> = vec![
            // clan's shape: taken.
            ("alice", "../../../users/alice".into(), true),
            ("zz", "../../../users/bob".into(), true),
            ("gone", "../../../users/gone".into(), true),
            ("dotted", "../../.././users/./alice/".into(), true),
            // Hostile shapes: declined.
            ("via-x", "../x/../../../users/alice".into(), false),
            ("alias", "../../../users/alias".into(), false),
            ("outside", "../../../users/outside".into(), false),
            ("file", "../../../users/file".into(), false),
            ("deeper", "../../../../users/alice".into(), false),
            ("above", format!("../../../../../{root_name}/sops/users/alice"), false),
            ("absolute", root.join("sops/users/alice").to_string_lossy().into_owned(), false),
            ("here", "./../../../users/alice".into(), false),
            ("kind", "../../../machines/web1".into(), false),
            ("back", "../../../users/alice/..".into(), false),
        ];
        for (name, target, taken) in &cases {
            symlink(Path::new(target), users.join(name)).unwrap();
            let (answered, fast, slow) = fast_and_slow(&repo, &users, name, Kind::User);
            assert_eq!(answered, *taken, "{name} -> {target}: answered");
            if answered {
                assert_eq!(fast, slow, "{name} -> {target}");
            }
        }
        // What reading says for the taken ones, judged by the one rule (`member_of`).
        let read_links = read(&repo, &secret, Kind::User);
        assert!(matches!(read_links, Err(StoreError::UnsafeLink { .. })), "the hostile ones are still refused: {read_links:?}");
        for (name, ..) in cases.iter().filter(|(.., taken)| !taken) {
            fs::remove_file(users.join(name)).unwrap();
        }
        assert_eq!(
            read(&repo, &secret, Kind::User).unwrap(),
            vec![
                Link::Member("alice".into()),
                Link::Misnamed { link: users.join("dotted"), target: "alice".into() },
                Link::Dangling { link: users.join("gone") },
                Link::Misnamed { link: users.join("zz"), target: "bob".into() },
            ]
        );
    }

    /// clan's vars shape (`sops/` named after climbing to the root), a root reached through a
    /// link, and a member name that is not UTF-8 (which `member_of` refuses either way).
    #[test]
    fn the_shortcut_takes_vars_links_and_a_linked_root() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        let (dir, real) = repo_with_user("alice");
        fs::create_dir_all(real.member_dir(Kind::Machine, "m")).unwrap();
        let other = tempfile::tempdir().unwrap();
        let alias = other.path().join("checkout");
        symlink(real.root(), &alias).unwrap();
        let repo = Repo::at(&alias);
        let machines = repo.root().join("vars/per-machine/m/gen/file/machines");
        fs::create_dir_all(&machines).unwrap();
        symlink(Path::new("../../../../../../sops/machines/m"), machines.join("m")).unwrap();
        symlink(Path::new("../../../../../../sops/machines/gone"), machines.join("gone")).unwrap();
        symlink(Path::new("../../../../../../../sops/machines/m"), machines.join("above")).unwrap();
        for (name, taken) in [("m", true), ("gone", true), ("above", false)] {
            let (answered, fast, slow) = fast_and_slow(&repo, &machines, name, Kind::Machine);
            assert_eq!(answered, taken, "{name}");
            if answered {
                assert_eq!(fast, slow, "{name}");
            }
        }
        let users = repo.secret_dir("s").join("users");
        fs::create_dir_all(&users).unwrap();
        symlink(Path::new("../../../users/alice"), users.join("alice")).unwrap();
        let (answered, fast, slow) = fast_and_slow(&repo, &users, "alice", Kind::User);
        assert!(answered);
        assert_eq!(fast, slow);
        assert_eq!(slow.unwrap(), dir.path().canonicalize().unwrap().join("sops/users/alice"));
        assert_eq!(read(&repo, &repo.secret_dir("s"), Kind::User).unwrap(), vec![Link::Member("alice".into())]);

        let odd = OsStr::from_bytes(b"\xff");
        fs::create_dir_all(repo.sops_dir().join("users").join(odd)).unwrap();
        symlink(Path::new("../../../users").join(odd), users.join(odd)).unwrap();
        let (answered, fast, slow) = fast_and_slow(&repo, &users, odd, Kind::User);
        assert!(answered && fast.is_some());
        assert_eq!(fast, slow);
        assert!(matches!(read(&repo, &repo.secret_dir("s"), Kind::User), Err(StoreError::UnsafeLink { .. })));
    }
}
