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
    /// The entry as stored (kept byte for byte), or `None` for a new one.
    raw: Option<&'a [u8]>,
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
    let Some(old_entries) = read_entries(data) else {
        return Ok(Edited::Unsupported);
    };
    // The old entries split once: those an edit replaces, by name, and those kept as stored.
    let mut previous: BTreeMap<&[u8], &Entry<'_>> = BTreeMap::new();
    let mut untouched: Vec<&Entry<'_>> = Vec::with_capacity(old_entries.len());
    for entry in &old_entries {
        if children.contains_key(entry.name) {
            previous.insert(entry.name, entry);
        } else {
            untouched.push(entry);
        }
    }
    let mut added: Vec<Entry<'_>> = Vec::with_capacity(children.len());
    for (name, node) in children {
        let before = previous.get(name);
        match node {
            Node::File(file) => added.push(Entry { name, folder: false, raw: None, mode: file.mode, id: file.id }),
            Node::Folder { replaced, children } => {
                let old_folder = match before {
                    Some(entry) if entry.folder => Some(entry.id),
                    // A file where a folder is now needed, and the file itself not replaced.
                    Some(_) if !*replaced => return Ok(Edited::Unsupported),
                    _ => None,
                };
                match write_folder(odb, old_folder, *replaced, children)? {
                    Edited::Tree(id) => added.push(Entry { name, folder: true, raw: None, mode: FOLDER_MODE, id }),
                    Edited::Empty => {}
                    Edited::Unsupported => return Ok(Edited::Unsupported),
                }
            }
        }
    }
    added.sort_by(|a, b| git_order(a, b));
    let mut kept: Vec<Entry<'_>> = Vec::with_capacity(untouched.len() + added.len());
    let mut new = added.into_iter().peekable();
    for entry in untouched {
        while let Some(next) = new.next_if(|next| git_order(next, entry) == Ordering::Less) {
            kept.push(next);
        }
        kept.push(*entry);
    }
    kept.extend(new);
    if kept.is_empty() {
        return Ok(Edited::Empty);
    }
    let mut bytes = Vec::with_capacity(data.len() + 64);
    for entry in &kept {
        if let Some(raw) = entry.raw {
            bytes.extend_from_slice(raw);
        } else {
            bytes.extend_from_slice(format!("{:o} ", entry.mode).as_bytes());
            bytes.extend_from_slice(entry.name);
            bytes.push(0);
            bytes.extend_from_slice(entry.id.as_bytes());
        }
    }
    if let (Some(id), true) = (old, bytes == data && stored.is_some()) {
        return Ok(Edited::Tree(id));
    }
    odb.write(ObjectType::Tree, &bytes).map(Edited::Tree)
}

/// git's order of tree entries: by name, a folder's name compared as if it ended in `/`.
fn git_order(a: &Entry<'_>, b: &Entry<'_>) -> Ordering {
    fn key<'e>(e: &Entry<'e>) -> impl Iterator<Item = u8> + 'e {
        e.name.iter().copied().chain(e.folder.then_some(b'/'))
    }
    key(a).cmp(key(b))
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

/// The entries of a stored tree, in order; `None` when it does not read as one.
fn read_entries(data: &[u8]) -> Option<Vec<Entry<'_>>> {
    let mut entries: Vec<Entry<'_>> = Vec::new();
    let mut at = 0;
    while at < data.len() {
        let space = at + memchr::memchr(b' ', &data[at..])?;
        let nul = space + 1 + memchr::memchr(0, &data[space + 1..])?;
        let end = nul.checked_add(21).filter(|end| *end <= data.len())?;
        let mode = canonical_mode(&data[at..space])?;
        let name = &data[space + 1..nul];
        let id = Oid::from_bytes(&data[nul + 1..end]).ok()?;
        let entry = Entry { name, folder: mode == FOLDER_MODE, raw: Some(&data[at..end]), mode, id };
        // Kept byte for byte, an entry `git fsck` finds fault with would be written again into
        // the new folder: a name that is a path or a step out of the folder, or one name twice
        // (a file and a folder `a` sort apart, as `a` and `a/`).
        if matches!(name, b"" | b"." | b"..") || name.eq_ignore_ascii_case(b".git") || name.contains(&b'/') {
            return None;
        }
        if entries.last().is_some_and(|last| last.name == name || git_order(last, &entry) != Ordering::Less) {
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
            /// Any bytes as a stored tree read as entries in git's order, or not at all.
            #[test]
            fn any_bytes_read_as_a_tree_or_not_at_all(data in proptest::collection::vec(any::<u8>(), 0..300)) {
                if let Some(entries) = read_entries(&data) {
                    prop_assert!(entries.windows(2).all(|w| git_order(&w[0], &w[1]) == Ordering::Less));
                }
            }
        }
    }
}
