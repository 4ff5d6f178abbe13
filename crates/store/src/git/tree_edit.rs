//! The commit's tree, made by editing the stored tree objects on the changed paths only, as
//! git's cached trees let `git commit` do: each folder from the root down to a changed path is
//! read as stored, the changed entries are replaced, removed or inserted in git's order, and
//! the folder is written back; every other folder is reused by its id. libgit2's tree editor
//! loads each of those folders into a map and sorts it again; in a repository of 30,000 secrets
//! `sops/secrets` has 30,000 entries, so that was most of a one-secret commit.
//!
//! A tree object is git's: entries of `<octal mode> <name>\0<20-byte id>`, sorted by name with
//! a folder's name compared as if it ended in `/`. Anything unexpected — a tree that does not
//! read so, a folder on a changed path with an entry `git fsck` faults (a mode other than git's
//! five as git writes them, a name twice, `.`, `..`, `.git` or a name with a `/`), a file where
//! a changed path needs a folder — returns `None`, and the caller uses libgit2's editor, which
//! handles or refuses it: the entries of such a folder are never copied into a new one as they
//! stand.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use git2::{ObjectType, Oid};

use super::{git_path, NewObjects, StagedFile, StagedPath};

/// What becomes of one name in a folder.
enum Node<'a> {
    /// A file or link, as collected.
    File(&'a StagedFile),
    /// A folder: its old entries kept (unless `replaced`) with the edits of `children`.
    Folder { replaced: bool, children: BTreeMap<&'a [u8], Node<'a>> },
}

/// One entry of a tree object.
#[derive(Clone, Copy)]
struct Entry<'a> {
    name: &'a [u8],
    folder: bool,
    mode: u32,
    id: Oid,
}

const FOLDER_MODE: u32 = 0o040000;

/// The id of the tree `baseline` with `changes` applied, its new folders written into `odb`
/// (kept for a pack, for a bulk change).
/// `None` when the edit is one this module leaves to libgit2.
pub(super) fn updated(odb: &NewObjects<'_>, baseline: Oid, changes: &[StagedPath]) -> Result<Option<Oid>, git2::Error> {
    let Some(root) = plan(changes) else {
        return Ok(None);
    };
    let Node::Folder { replaced, children } = &root else {
        return Ok(None);
    };
    match write_folder(odb, Some(baseline), *replaced, children)? {
        Edited::Tree(id) => Ok(Some(id)),
        Edited::Empty => odb.write(ObjectType::Tree, b"").map(Some),
        Edited::Unsupported => Ok(None),
    }
}

/// The edits as a tree of names: each changed path's old entry is replaced by its files.
fn plan(changes: &[StagedPath]) -> Option<Node<'_>> {
    let mut root = Node::Folder { replaced: false, children: BTreeMap::new() };
    for change in changes {
        let rel = git_path(&change.rel);
        let slot = descend(&mut root, rel)?;
        *slot = Node::Folder { replaced: true, children: BTreeMap::new() };
        for file in &change.files {
            let below = file.path.strip_prefix(rel)?;
            if below.is_empty() {
                *slot = Node::File(file);
            } else {
                let below = below.strip_prefix(b"/")?;
                *descend(slot, below)? = Node::File(file);
            }
        }
    }
    Some(root)
}

/// The node at `path` (`/`-separated) below `node`, made a folder on the way where needed.
fn descend<'a, 'n>(mut node: &'n mut Node<'a>, path: &'a [u8]) -> Option<&'n mut Node<'a>> {
    for name in path.split(|b| *b == b'/') {
        if name.is_empty() || name == b"." || name == b".." {
            return None;
        }
        if let Node::File(_) = node {
            return None;
        }
        let Node::Folder { children, .. } = node else {
            return None;
        };
        node = children.entry(name).or_insert_with(|| Node::Folder { replaced: false, children: BTreeMap::new() });
    }
    Some(node)
}

/// What became of a folder.
enum Edited {
    Tree(Oid),
    /// No entry is left: git stores no empty folder.
    Empty,
    Unsupported,
}

/// Writes the folder `old` (absent when new) with `children`'s edits.
fn write_folder(
    odb: &NewObjects<'_>,
    old: Option<Oid>,
    replaced: bool,
    children: &BTreeMap<&[u8], Node<'_>>,
) -> Result<Edited, git2::Error> {
    let stored = match old {
        Some(id) if !replaced => Some(odb.read(id)?),
        _ => None,
    };
    let data = stored.as_ref().map_or(&[][..], git2::OdbObject::data);
    if stored.as_ref().is_some_and(|object| object.kind() != ObjectType::Tree) {
        return Ok(Edited::Unsupported);
    }
    // The old entries are read once: each is checked, the ones an edit replaces are found by
    // name, and where each edit's entry goes is noted. Everything else is copied as it lies, in
    // runs between the edits: a folder of 30,000 entries with one edit is two copies.
    let mut keys: Vec<(&[u8], bool)> = children.iter().map(|(name, node)| (*name, matches!(node, Node::Folder { .. }))).collect();
    keys.sort_by(|a, b| git_order(a.0, a.1, b.0, b.1));
    let mut goes_at = Vec::with_capacity(keys.len());
    let mut previous: BTreeMap<&[u8], (Entry<'_>, std::ops::Range<usize>)> = BTreeMap::new();
    let mut last: Option<Entry<'_>> = None;
    let mut at = 0;
    while at < data.len() {
        let Some((entry, end)) = entry_at(data, at) else {
            return Ok(Edited::Unsupported);
        };
        if last.is_some_and(|last| last.name == entry.name || git_order(last.name, last.folder, entry.name, entry.folder) != Ordering::Less)
        {
            return Ok(Edited::Unsupported);
        }
        while keys.get(goes_at.len()).is_some_and(|(name, folder)| git_order(name, *folder, entry.name, entry.folder) != Ordering::Greater)
        {
            goes_at.push(at);
        }
        // One name twice (a file and a folder `a` sort apart, around `a-b`): `git fsck` faults
        // such a folder, and the entry not replaced would be copied into the new one.
        if children.contains_key(entry.name) && previous.insert(entry.name, (entry, at..end)).is_some() {
            return Ok(Edited::Unsupported);
        }
        last = Some(entry);
        at = end;
    }
    goes_at.resize(keys.len(), data.len());
    let goes_at: BTreeMap<(&[u8], bool), usize> = keys.into_iter().zip(goes_at).collect();

    let mut added: Vec<(usize, Entry<'_>)> = Vec::with_capacity(children.len());
    for (name, node) in children {
        let before = previous.get(name).map(|(entry, _)| entry);
        let new = match node {
            Node::File(file) => Entry { name, folder: false, mode: file.mode, id: file.id },
            Node::Folder { replaced, children } => {
                let old_folder = match before {
                    Some(entry) if entry.folder => Some(entry.id),
                    // A file where a folder is now needed, and the file itself not replaced.
                    Some(_) if !*replaced => return Ok(Edited::Unsupported),
                    _ => None,
                };
                match write_folder(odb, old_folder, *replaced, children)? {
                    Edited::Tree(id) => Entry { name, folder: true, mode: FOLDER_MODE, id },
                    Edited::Empty => continue,
                    Edited::Unsupported => return Ok(Edited::Unsupported),
                }
            }
        };
        added.push((goes_at.get(&(new.name, new.folder)).copied().unwrap_or(data.len()), new));
    }
    added.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| git_order(a.1.name, a.1.folder, b.1.name, b.1.folder)));
    let mut dropped: Vec<std::ops::Range<usize>> = previous.into_values().map(|(_, range)| range).collect();
    dropped.sort_by_key(|range| range.start);

    let mut bytes = Vec::with_capacity(data.len() + 64 * added.len());
    let mut dropped = dropped.into_iter().peekable();
    let mut copied = 0;
    let mut copy_to = |bytes: &mut Vec<u8>, to: usize| {
        while let Some(range) = dropped.next_if(|range| range.start < to) {
            bytes.extend_from_slice(&data[copied..range.start]);
            copied = range.end;
        }
        bytes.extend_from_slice(&data[copied..to.max(copied)]);
        copied = copied.max(to);
    };
    for (at, entry) in &added {
        copy_to(&mut bytes, *at);
        bytes.extend_from_slice(format!("{:o} ", entry.mode).as_bytes());
        bytes.extend_from_slice(entry.name);
        bytes.push(0);
        bytes.extend_from_slice(entry.id.as_bytes());
    }
    copy_to(&mut bytes, data.len());
    if bytes.is_empty() {
        return Ok(Edited::Empty);
    }
    if let (Some(id), true) = (old, bytes == data && stored.is_some()) {
        return Ok(Edited::Tree(id));
    }
    odb.write(ObjectType::Tree, &bytes).map(Edited::Tree)
}

/// git's order of tree entries: by name, a folder's name compared as if it ended in `/`.
fn git_order<'n>(a: &'n [u8], a_folder: bool, b: &'n [u8], b_folder: bool) -> Ordering {
    let common = a.len().min(b.len());
    a[..common].cmp(&b[..common]).then_with(|| {
        let rest = |name: &'n [u8], folder: bool| name[common..].iter().copied().chain(folder.then_some(b'/'));
        rest(a, a_folder).cmp(rest(b, b_folder))
    })
}

/// The mode of a tree entry, when written as git writes it: one of git's five modes, in octal
/// without leading zeros (`git fsck` warns of a zero-padded or other mode, which would be
/// copied into the new folder as it stands).
fn canonical_mode(text: &[u8]) -> Option<u32> {
    match text {
        b"100644" => Some(0o100644),
        b"100755" => Some(0o100755),
        b"120000" => Some(0o120000),
        b"160000" => Some(0o160000),
        b"40000" => Some(FOLDER_MODE),
        _ => None,
    }
}

/// The entry of a stored tree at `at`, and where it ends; `None` when it does not read as one
/// or is one `git fsck` finds fault with.
fn entry_at(data: &[u8], at: usize) -> Option<(Entry<'_>, usize)> {
    let space = at + memchr::memchr(b' ', &data[at..])?;
    let nul = space + 1 + memchr::memchr(0, &data[space + 1..])?;
    let end = nul.checked_add(21).filter(|end| *end <= data.len())?;
    let mode = canonical_mode(&data[at..space])?;
    let name = &data[space + 1..nul];
    let id = Oid::from_bytes(&data[nul + 1..end]).ok()?;
    // Kept byte for byte, an entry `git fsck` finds fault with would be written again into the
    // new folder: a name that is a path or a step out of the folder (or one name twice, which
    // the caller checks: a file and a folder `a` sort apart, as `a` and `a/`).
    if matches!(name, b"" | b"." | b"..") || name.eq_ignore_ascii_case(b".git") || name.contains(&b'/') {
        return None;
    }
    Some((Entry { name, folder: mode == FOLDER_MODE, mode, id }, end))
}

/// The entries of a stored tree, in order; `None` when it does not read as one.
#[cfg(test)]
fn read_entries(data: &[u8]) -> Option<Vec<Entry<'_>>> {
    let mut entries: Vec<Entry<'_>> = Vec::new();
    let mut at = 0;
    while at < data.len() {
        let (entry, end) = entry_at(data, at)?;
        if entries
            .last()
            .is_some_and(|last| last.name == entry.name || git_order(last.name, last.folder, entry.name, entry.folder) != Ordering::Less)
        {
            return None;
        }
        entries.push(entry);
        at = end;
    }
    Some(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// The repository's objects, new ones written as loose files or kept for a pack.
    fn objects(repo: &git2::Repository, packed: bool) -> NewObjects<'_> {
        NewObjects { odb: repo.odb().unwrap(), pack: packed.then(super::super::pack::Pending::default), dir: repo.path().join("objects") }
    }

    fn file(odb: &NewObjects<'_>, path: &str, content: &[u8]) -> StagedFile {
        #[allow(clippy::cast_possible_truncation, reason = "test contents are small")]
        let size = content.len() as u32;
        StagedFile { path: path.as_bytes().to_vec(), mode: 0o100644, size, id: odb.write(ObjectType::Blob, content).unwrap() }
    }

    /// The tree libgit2's own editor makes of the same change, for comparison (the objects
    /// kept for a pack stored first).
    fn by_libgit2(repo: &git2::Repository, odb: &NewObjects<'_>, baseline: Oid, changes: &[StagedPath]) -> Oid {
        odb.store_pack().unwrap();
        let tree = repo.find_tree(baseline).unwrap();
        super::super::updated_tree(repo, &tree, changes).unwrap()
    }

    #[test]
    fn edits_make_the_tree_libgit2_makes() {
        for packed in [false, true] {
            edits_make_the_tree_libgit2_makes_with(packed);
        }
    }

    fn edits_make_the_tree_libgit2_makes_with(packed: bool) {
        let dir = tempfile::tempdir().unwrap();
        let repo = git2::Repository::init(dir.path()).unwrap();
        let odb = objects(&repo, packed);
        let empty = odb.write(ObjectType::Tree, b"").unwrap();
        // Names that sort differently as files and as folders (`a-b`, `a.b`, `a`).
        let first = vec![
            StagedPath { rel: PathBuf::from("s/a"), files: vec![file(&odb, "s/a/x", b"1"), file(&odb, "s/a/y/z", b"2")] },
            StagedPath { rel: PathBuf::from("s/a-b"), files: vec![file(&odb, "s/a-b", b"3")] },
            StagedPath { rel: PathBuf::from("s/a.b"), files: vec![file(&odb, "s/a.b/c", b"4")] },
            StagedPath { rel: PathBuf::from("t"), files: vec![file(&odb, "t", b"5")] },
        ];
        let base = updated(&odb, empty, &first).unwrap().unwrap();
        assert_eq!(base, by_libgit2(&repo, &odb, empty, &first));
        let second = vec![
            StagedPath { rel: PathBuf::from("s/a"), files: vec![file(&odb, "s/a/y/w", b"6")] },
            StagedPath { rel: PathBuf::from("s/a.b"), files: vec![] },
            StagedPath { rel: PathBuf::from("u/v"), files: vec![file(&odb, "u/v/w", b"7")] },
        ];
        let next = updated(&odb, base, &second).unwrap().unwrap();
        assert_eq!(next, by_libgit2(&repo, &odb, base, &second));
        // Removing everything leaves the empty tree; an unchanged edit keeps the ids.
        let gone = vec![
            StagedPath { rel: PathBuf::from("s"), files: vec![] },
            StagedPath { rel: PathBuf::from("t"), files: vec![] },
            StagedPath { rel: PathBuf::from("u"), files: vec![] },
        ];
        assert_eq!(updated(&odb, next, &gone).unwrap().unwrap(), empty);
        let same = vec![StagedPath { rel: PathBuf::from("t"), files: vec![file(&odb, "t", b"5")] }];
        assert_eq!(updated(&odb, base, &same).unwrap().unwrap(), base);
        // A file in the way of a new folder is left to libgit2.
        let blocked = vec![StagedPath { rel: PathBuf::from("t/x"), files: vec![file(&odb, "t/x", b"8")] }];
        assert!(updated(&odb, base, &blocked).unwrap().is_none());
    }
    /// A stored folder on a changed path that `git fsck` finds fault with is left to libgit2
    /// (which writes its entries again in git's form) rather than copied into the new folder.
    #[test]
    fn a_folder_git_fsck_faults_is_not_edited() {
        let dir = tempfile::tempdir().unwrap();
        let repo = git2::Repository::init(dir.path()).unwrap();
        let odb = objects(&repo, false);
        let blob = odb.write(ObjectType::Blob, b"x").unwrap();
        let folder = odb.write(ObjectType::Tree, &raw(&[("100644", "f", blob)])).unwrap();
        let change = vec![StagedPath { rel: PathBuf::from("s/b"), files: vec![file(&odb, "s/b", b"new")] }];
        let edited = |entries: &[(&str, &str, Oid)]| {
            let inner = odb.write(ObjectType::Tree, &raw(entries)).unwrap();
            let root = odb.write(ObjectType::Tree, &raw(&[("40000", "s", inner)])).unwrap();
            updated(&odb, root, &change).unwrap()
        };
        assert!(edited(&[("40000", "a", folder), ("100644", "c", blob)]).is_some(), "a sound folder is edited");
        for (what, entries) in [
            ("out of order", vec![("100644", "c", blob), ("40000", "a", folder)]),
            ("a zero-padded mode", vec![("040000", "a", folder), ("100644", "c", blob)]),
            ("a mode git does not write", vec![("100664", "a", blob), ("100644", "c", blob)]),
            ("a name twice, as a file and a folder", vec![("100644", "a", blob), ("40000", "a", folder)]),
            ("the changed name twice, apart", vec![("100644", "b", blob), ("100644", "b-x", blob), ("40000", "b", folder)]),
            ("a name that is a path", vec![("100644", "a/x", blob), ("100644", "c", blob)]),
            ("a step out of the folder", vec![("40000", "..", folder), ("100644", "c", blob)]),
            ("a .git folder", vec![("40000", ".GIT", folder), ("100644", "c", blob)]),
        ] {
            assert!(edited(&entries).is_none(), "{what}");
        }
    }

    /// A tree object's bytes, entries as given (in the given order).
    fn raw(entries: &[(&str, &str, Oid)]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for (mode, name, id) in entries {
            bytes.extend_from_slice(format!("{mode} {name}\0").as_bytes());
            bytes.extend_from_slice(id.as_bytes());
        }
        bytes
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            /// Any edit of any tree makes the tree libgit2's editor makes, or is left to it.
            /// Names with `-`, `.` and `0` sort around a folder's `/`.
            #[test]
            fn any_edit_makes_the_tree_libgit2_makes(
                first in proptest::collection::btree_set("[ab]{1,2}(|[-.0][ab]{0,1})(|/[ab0-]{1,2})", 1..8),
                now in proptest::collection::btree_set("[ab]{1,2}(|[-.0][ab]{0,1})(|/[ab0-]{1,2})", 0..8),
                rels in proptest::collection::vec("[ab]{1,2}(|[-.0][ab]{0,1})(|/[ab0-]{1,2})", 1..4),
                packed in any::<bool>(),
            ) {
                let dir = tempfile::tempdir().unwrap();
                let repo = git2::Repository::init(dir.path()).unwrap();
                let odb = objects(&repo, packed);
                let empty = odb.write(ObjectType::Tree, b"").unwrap();
                // A first tree git could hold: no path both a file and a folder.
                let first: Vec<&String> = first.iter().filter(|p| !first.iter().any(|q| q.starts_with(&format!("{p}/")))).collect();
                let files: Vec<StagedPath> = first.iter().map(|p| StagedPath { rel: PathBuf::from(p), files: vec![file(&odb, p, p.as_bytes())] }).collect();
                let base = updated(&odb, empty, &files).unwrap().unwrap();
                prop_assert_eq!(base, by_libgit2(&repo, &odb, empty, &files));
                // The work tree now, as one look at the disk finds it: each changed path's files
                // are those at or below it.
                let now: Vec<&String> = now.iter().filter(|p| !now.iter().any(|q| q.starts_with(&format!("{p}/")))).collect();
                let changes: Vec<StagedPath> = rels
                    .iter()
                    .map(|rel| StagedPath {
                        rel: PathBuf::from(rel),
                        files: now.iter().filter(|p| **p == rel || p.starts_with(&format!("{rel}/"))).map(|p| file(&odb, p, b"new")).collect(),
                    })
                    .collect();
                if let Some(edited) = updated(&odb, base, &changes).unwrap() {
                    // libgit2's editor refuses a file that becomes a folder at one path; the
                    // commit then builds the tree from a whole index, as here.
                    odb.store_pack().unwrap();
                    let tree = repo.find_tree(base).unwrap();
                    let expected = crate::git::updated_tree(&repo, &tree, &changes).unwrap_or_else(|_| {
                        let mut staged = git2::Index::new().unwrap();
                        staged.read_tree(&tree).unwrap();
                        crate::git::apply(&mut staged, &changes).unwrap();
                        staged.write_tree_to(&repo).unwrap()
                    });
                    prop_assert_eq!(edited, expected);
                }
            }

            /// Any bytes as a stored tree read as entries in git's order, or not at all.
            #[test]
            fn any_bytes_read_as_a_tree_or_not_at_all(data in proptest::collection::vec(any::<u8>(), 0..300)) {
                if let Some(entries) = read_entries(&data) {
                    prop_assert!(entries.windows(2).all(|w| git_order(w[0].name, w[0].folder, w[1].name, w[1].folder) == Ordering::Less));
                }
            }
        }
    }
}
