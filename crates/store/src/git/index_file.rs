//! git's index file (`.git/index`) brought in line at the committed paths only, as `git add --
//! <paths>` leaves it: the entries at and below each path are replaced by the path's current
//! files, every other entry is copied byte for byte. libgit2 reads every entry into a map and
//! writes every entry back, checksummed with its collision-detecting SHA-1: in a repository of
//! 30,000 secrets (60,000 entries) that is most of a one-secret commit. Splicing the file costs
//! one checksum of it and a copy.
//!
//! The format is git's (`gitformat-index`), versions 2 and 3, under git's lock protocol
//! (`index.lock` created exclusively, renamed over the index). Anything else — version 4's
//! compressed paths, a split or sparse index, an extension git marks as required, unmerged
//! entries, a file that becomes a folder or the reverse, a checksum that does not match — is
//! not spliced: the caller then goes through libgit2, which handles or refuses it. Of the
//! optional extensions, the cached trees (`TREE`) are kept with every folder on a changed path
//! marked invalid, as `git add` does; resolve-undo records (`REUC`) are kept; those that record
//! entry positions or folder states (`UNTR`, `FSMN`, `EOIE`, `IEOT`, and any git may add) are
//! left out, as a git that does not know an optional extension leaves it out: git rebuilds them.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha1::{Digest, Sha1};

use super::{git_path, StagedFile, StagedPath, EXTENDED_FLAGS};
use crate::error::{Result, StoreError};

const SIGNATURE: &[u8; 4] = b"DIRC";
const HEADER: usize = 12;
const CHECKSUM: usize = 20;
/// The bytes of an entry before its flags: two times (8 each), device, inode, mode, owner,
/// group, size (4 each) and the object id (20).
const BEFORE_FLAGS: usize = 60;
/// The flags' bits holding the path length (0xfff: that long or longer).
const NAME_MASK: u16 = 0x0fff;
/// The flags' bits holding the merge stage (0 for a merged entry).
const STAGE_MASK: u16 = 0x3000;
/// An index larger than this is left to libgit2.
const MAX_INDEX: u64 = 1 << 30;

/// An index update ready to be put in place: the lock is held, the new index planned.
pub(super) struct Prepared {
    lock: Lock,
    old: Vec<u8>,
    plan: Plan,
}

impl Prepared {
    /// Writes the new index into `index.lock`, checksummed on the way through a buffer (a copy
    /// of it is never held), and keeps the lock: the index is put in place by
    /// [`Written::put_in_place`] once the commit is made, as `git commit` does. A write that
    /// fails (a full disk) so fails before anything is committed, and HEAD stays as it was;
    /// written after the commit, it would leave the old entries staged at the committed paths,
    /// and the next `git commit` would take the change back.
    pub(super) fn write(mut self) -> Result<Written> {
        let written = {
            let mut out = Checksummed { inner: std::io::BufWriter::with_capacity(1 << 20, &mut self.lock.file), sum: Sha1::new() };
            self.plan.write_to(&self.old, &mut out).and_then(|()| {
                let Checksummed { mut inner, sum } = out;
                inner.write_all(&sum.finalize())?;
                inner.flush()
            })
        };
        written.map_err(|e| StoreError::io(&self.lock.path, e))?;
        Ok(Written { lock: self.lock })
    }
}

/// The new index, written into `index.lock` and not yet in place; the lock is removed (and the
/// index left as it was) when this is dropped.
pub(super) struct Written {
    lock: Lock,
}

impl Written {
    /// Renames `index.lock` over the index, releasing the lock.
    pub(super) fn put_in_place(mut self) -> Result<()> {
        fs::rename(&self.lock.path, &self.lock.index).map_err(|e| StoreError::io(&self.lock.index, e))?;
        self.lock.held = false;
        Ok(())
    }
}

/// A writer that feeds what it writes to a SHA-1 (git's index checksum) on the way.
struct Checksummed<W: Write> {
    inner: W,
    sum: Sha1,
}

impl<W: Write> Write for Checksummed<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sum.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// `index.lock`, removed when dropped unless renamed over the index.
pub(super) struct Lock {
    file: File,
    path: PathBuf,
    index: PathBuf,
    held: bool,
}

impl Lock {
    /// Takes git's index lock (`index.lock`, created exclusively): refused when another git
    /// command holds it.
    pub(super) fn take(git_dir: &Path) -> Result<Lock> {
        let path = git_dir.join("index.lock");
        let file = match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(StoreError::GitIndexLocked { lock: path }),
            Err(e) => return Err(StoreError::io(path, e)),
        };
        Ok(Lock { file, path, index: git_dir.join("index"), held: true })
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        if self.held {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Builds, under the index `lock`, the index with `changes` applied. `None` when the index is
/// one this module does not splice (see the module documentation): the lock is released and
/// libgit2 is to do the update.
pub(super) fn prepare(lock: Lock, changes: &[StagedPath]) -> Result<Option<Prepared>> {
    let Some(old) = read(&lock.index)? else {
        return Ok(None);
    };
    Ok(plan(&old, changes).map(|plan| Prepared { lock, old, plan }))
}

/// Whether each of `paths` has an entry in the index, read without taking its lock (as `git
/// ls-files` reads it). `None` when the index is one this module leaves to libgit2.
pub(super) fn tracked(git_dir: &Path, paths: &[&[u8]]) -> Result<Option<Vec<bool>>> {
    let Some(data) = read(&git_dir.join("index"))? else {
        return Ok(None);
    };
    // Nothing is written from what is read here: the checksum is left to git's next read.
    let Some(parsed) = parse(&data, false) else {
        return Ok(None);
    };
    Ok(Some(paths.iter().map(|path| parsed.find(&data, path).is_some()).collect()))
}

/// The index's bytes (those of an empty index when there is none yet); `None` when it is too
/// large for this module.
fn read(index: &Path) -> Result<Option<Vec<u8>>> {
    let mut file = match File::open(index) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Some(empty())),
        Err(e) => return Err(StoreError::io(index, e)),
    };
    let size = file.metadata().map_err(|e| StoreError::io(index, e))?.len();
    if size > MAX_INDEX {
        return Ok(None);
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.read_to_end(&mut bytes).map_err(|e| StoreError::io(index, e))?;
    Ok(Some(bytes))
}

/// An index of version 2 without entries.
fn empty() -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER + CHECKSUM);
    bytes.extend_from_slice(SIGNATURE);
    bytes.extend_from_slice(&2u32.to_be_bytes());
    bytes.extend_from_slice(&0u32.to_be_bytes());
    let sum = Sha1::digest(&bytes);
    bytes.extend_from_slice(&sum);
    bytes
}

/// One entry of the old index: where it lies and where its path lies.
struct Entry {
    start: usize,
    end: usize,
    path_start: usize,
    path_end: usize,
}

impl Entry {
    /// The entry's path, in the index `data` it was read from.
    fn path<'d>(&self, data: &'d [u8]) -> &'d [u8] {
        &data[self.path_start..self.path_end]
    }
}

/// The old index, read: its version, entries (sorted by path, as git keeps them) and
/// extensions.
struct Parsed {
    version: u32,
    entries: Vec<Entry>,
    extensions: Vec<([u8; 4], std::ops::Range<usize>)>,
}

impl Parsed {
    /// The position of the entry at `path`, in the index `data` this was read from.
    fn find(&self, data: &[u8], path: &[u8]) -> Option<usize> {
        self.entries.binary_search_by(|entry| entry.path(data).cmp(path)).ok()
    }
}

fn be32(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(data.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

fn be16(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(data.get(at..at.checked_add(2)?)?.try_into().ok()?))
}

/// Reads the index, checking its checksum when `verify` (always before the index is rewritten:
/// a damaged index must not be given a new, valid checksum); `None` for anything this module
/// leaves to libgit2.
fn parse(data: &[u8], verify: bool) -> Option<Parsed> {
    if data.len() < HEADER + CHECKSUM || data.get(..4)? != SIGNATURE {
        return None;
    }
    let version = be32(data, 4)?;
    if !(2..=3).contains(&version) {
        return None;
    }
    let count = usize::try_from(be32(data, 8)?).ok()?;
    let body_end = data.len() - CHECKSUM;
    // git writes zeros instead of the checksum when told to skip it (`index.skipHash`).
    let checksum = data.get(body_end..)?;
    if verify && checksum.iter().any(|b| *b != 0) && Sha1::digest(&data[..body_end]).as_slice() != checksum {
        return None;
    }
    let mut entries: Vec<Entry> = Vec::with_capacity(count.min(body_end / (BEFORE_FLAGS + 2)));
    let mut at = HEADER;
    for _ in 0..count {
        let flags = be16(data, at + BEFORE_FLAGS)?;
        let extended = if flags & EXTENDED_FLAGS == 0 {
            0
        } else if version >= 3 {
            2
        } else {
            return None;
        };
        if flags & STAGE_MASK != 0 {
            return None;
        }
        let path_start = at + BEFORE_FLAGS + 2 + extended;
        let named = usize::from(flags & NAME_MASK);
        let path_end = if named < usize::from(NAME_MASK) {
            path_start + named
        } else {
            let from = path_start + named;
            from + memchr::memchr(0, data.get(from..body_end)?)?
        };
        let end = at + ((BEFORE_FLAGS + 2 + extended + (path_end - path_start) + 8) & !7);
        // git reads a path by its length and never looks at the padding after it (nor does it
        // write anything but zeros there): an entry with other bytes there is copied as it is,
        // still readable by git, instead of being handed to libgit2, which misreads it.
        if end > body_end || path_end == path_start || memchr::memchr(0, &data[path_start..path_end]).is_some() {
            return None;
        }
        let entry = Entry { start: at, end, path_start, path_end };
        // Sorted and unique, as git writes them: the searches below rely on it.
        if entries.last().is_some_and(|last: &Entry| last.path(data) >= entry.path(data)) {
            return None;
        }
        entries.push(entry);
        at = end;
    }
    let mut extensions = Vec::new();
    while at < body_end {
        let signature: [u8; 4] = data.get(at..at + 4)?.try_into().ok()?;
        let size = usize::try_from(be32(data, at + 4)?).ok()?;
        let start = at + 8;
        let end = start.checked_add(size).filter(|end| *end <= body_end)?;
        // An extension whose name starts with a lower-case letter must be understood.
        if !signature[0].is_ascii_uppercase() {
            return None;
        }
        extensions.push((signature, start..end));
        at = end;
    }
    Some(Parsed { version, entries, extensions })
}

/// The committed paths as the index writes them, sorted: a folder of the cached trees is
/// told to be on a changed path by a few searches, not by a look at every changed path (a
/// re-key changes thousands, and the cached trees hold every folder).
struct Changed {
    paths: Vec<Vec<u8>>,
}

impl Changed {
    fn new(changes: &[StagedPath]) -> Changed {
        Changed::from_paths(changes.iter().map(|change| git_path(&change.rel).to_vec()).collect())
    }

    fn from_paths(mut paths: Vec<Vec<u8>>) -> Changed {
        paths.sort();
        paths.dedup();
        Changed { paths }
    }

    fn contains(&self, path: &[u8]) -> bool {
        self.paths.binary_search_by(|p| p.as_slice().cmp(path)).is_ok()
    }

    /// Whether `path` is a changed path, or a folder above or below one (the root, `""`, is
    /// above every path).
    fn touches(&self, path: &[u8]) -> bool {
        if path.is_empty() {
            return !self.paths.is_empty();
        }
        let mut below = path.to_vec();
        below.push(b'/');
        let first_below = self.paths.partition_point(|p| p.as_slice() < below.as_slice());
        let changed_below = self.paths.get(first_below).is_some_and(|p| p.starts_with(&below));
        let changed_above =
            self.contains(b"") || path.iter().enumerate().filter(|(_, b)| **b == b'/').any(|(i, _)| self.contains(&path[..i]));
        self.contains(path) || changed_below || changed_above
    }
}

/// The new index, planned: `old` with the entries at and below each changed path replaced by
/// the path's files. `None` when `old` is not an index this module splices, or when a new file
/// would sit where a kept file is a folder on its path or the reverse.
fn plan(old: &[u8], changes: &[StagedPath]) -> Option<Plan> {
    let parsed = parse(old, true)?;
    let entries = &parsed.entries;
    let path_of = |entry: &Entry| entry.path(old);
    let find = |path: &[u8]| parsed.find(old, path);
    let first_below = |path: &[u8]| {
        let mut below = path.to_vec();
        below.push(b'/');
        let from = entries.partition_point(|entry| path_of(entry) < below.as_slice());
        (from, below)
    };

    let changed = Changed::new(changes);
    let mut removed = vec![false; entries.len()];
    for path in &changed.paths {
        if let Some(i) = find(path) {
            removed[i] = true;
        }
        let (from, below) = first_below(path);
        for (i, entry) in entries.iter().enumerate().skip(from) {
            if !path_of(entry).starts_with(&below) {
                break;
            }
            removed[i] = true;
        }
    }

    let mut added: Vec<&StagedFile> = changes.iter().flat_map(|change| change.files.iter()).collect();
    added.sort_by(|a, b| a.path.cmp(&b.path));
    added.dedup_by(|a, b| a.path == b.path);
    for file in &added {
        if file.path.is_empty() || file.path.contains(&0) {
            return None;
        }
        let kept_file_above =
            file.path.iter().enumerate().filter(|(_, b)| **b == b'/').any(|(i, _)| find(&file.path[..i]).is_some_and(|j| !removed[j]));
        let (from, below) = first_below(&file.path);
        let kept_below =
            entries[from..].iter().zip(&removed[from..]).take_while(|(entry, _)| path_of(entry).starts_with(&below)).any(|(_, gone)| !gone);
        if kept_file_above || kept_below {
            return None;
        }
    }

    let kept = removed.iter().filter(|gone| !**gone).count();
    let count = u32::try_from(kept + added.len()).ok()?;
    let mut extensions = Vec::new();
    for (signature, range) in &parsed.extensions {
        let data = match signature {
            b"TREE" => invalidated(&old[range.clone()], &changed),
            b"REUC" => Some(old[range.clone()].to_vec()),
            _ => None,
        };
        if let Some(data) = data {
            let mut bytes = Vec::with_capacity(data.len() + 8);
            bytes.extend_from_slice(signature);
            bytes.extend_from_slice(&u32::try_from(data.len()).ok()?.to_be_bytes());
            bytes.extend_from_slice(&data);
            extensions.push(bytes);
        }
    }
    let added = added.iter().map(|file| (file.path.clone(), entry_bytes(file))).collect();
    Some(Plan { version: parsed.version, count, entries: parsed.entries, removed, added, extensions })
}

/// The new index: which old entries stay, the new entries (sorted, with their paths) and the
/// extensions kept.
struct Plan {
    version: u32,
    count: u32,
    entries: Vec<Entry>,
    removed: Vec<bool>,
    added: Vec<(Vec<u8>, Vec<u8>)>,
    extensions: Vec<Vec<u8>>,
}

impl Plan {
    /// Writes the new index (without its checksum) to `out`, the kept entries copied from `old`.
    fn write_to(&self, old: &[u8], out: &mut impl Write) -> std::io::Result<()> {
        out.write_all(SIGNATURE)?;
        out.write_all(&self.version.to_be_bytes())?;
        out.write_all(&self.count.to_be_bytes())?;
        let mut new = self.added.iter().peekable();
        for (entry, gone) in self.entries.iter().zip(&self.removed) {
            if *gone {
                continue;
            }
            let path = entry.path(old);
            while let Some((_, bytes)) = new.next_if(|(new_path, _)| new_path.as_slice() < path) {
                out.write_all(bytes)?;
            }
            out.write_all(&old[entry.start..entry.end])?;
        }
        for (_, bytes) in new {
            out.write_all(bytes)?;
        }
        for extension in &self.extensions {
            out.write_all(extension)?;
        }
        Ok(())
    }
}

/// The index entry of a committed file. Its times, device, inode and owner are left 0: git
/// then compares the file's content on its next `status` (and records them), which is correct,
/// only slower once.
fn entry_bytes(file: &StagedFile) -> Vec<u8> {
    let mut content = Vec::with_capacity(BEFORE_FLAGS + 10 + file.path.len());
    content.extend_from_slice(&[0; 24]);
    content.extend_from_slice(&file.mode.to_be_bytes());
    content.extend_from_slice(&[0; 8]);
    content.extend_from_slice(&file.size.to_be_bytes());
    content.extend_from_slice(file.id.as_bytes());
    let named = u16::try_from(file.path.len()).unwrap_or(NAME_MASK).min(NAME_MASK);
    content.extend_from_slice(&named.to_be_bytes());
    content.extend_from_slice(&file.path);
    let length = (BEFORE_FLAGS + 2 + file.path.len() + 8) & !7;
    content.resize(length, 0);
    content
}

/// The cached trees (`TREE`) with every folder at, above or below a changed path marked
/// invalid (entry count -1, no object id), as git marks them when a path is added: git
/// recomputes those on its next commit and keeps using the others. `None` (the extension is
/// left out, which git also accepts) when it cannot be read.
fn invalidated(data: &[u8], changed: &Changed) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len());
    // The folders being read: their paths and how many of their subfolders are still to come.
    let mut open: Vec<(Vec<u8>, u64)> = Vec::new();
    let mut at = 0;
    let mut root_seen = false;
    while at < data.len() {
        let name_end = at + memchr::memchr(0, &data[at..])?;
        let name = &data[at..name_end];
        let space = name_end + 1 + memchr::memchr(b' ', data.get(name_end + 1..)?)?;
        let entries: i64 = std::str::from_utf8(&data[name_end + 1..space]).ok()?.parse().ok()?;
        let newline = space + 1 + memchr::memchr(b'\n', data.get(space + 1..)?)?;
        let subtrees: u64 = std::str::from_utf8(&data[space + 1..newline]).ok()?.parse().ok()?;
        let mut next = newline + 1;
        if entries >= 0 {
            next = next.checked_add(20).filter(|n| *n <= data.len())?;
        }
        let path = match open.last_mut() {
            None if !root_seen && name.is_empty() => Vec::new(),
            None => return None,
            Some((parent, left)) => {
                *left = left.checked_sub(1)?;
                if parent.is_empty() {
                    name.to_vec()
                } else {
                    [parent.as_slice(), b"/", name].concat()
                }
            }
        };
        root_seen = true;
        let touched = changed.touches(&path);
        out.extend_from_slice(name);
        out.push(0);
        if touched || entries < 0 {
            out.extend_from_slice(format!("-1 {subtrees}\n").as_bytes());
        } else {
            out.extend_from_slice(&data[name_end + 1..next]);
        }
        if subtrees > 0 {
            open.push((path, subtrees));
        }
        while open.last().is_some_and(|(_, left)| *left == 0) {
            open.pop();
        }
        at = next;
    }
    open.is_empty().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The new index's bytes, checksum included.
    fn spliced(old: &[u8], changes: &[StagedPath]) -> Option<Vec<u8>> {
        let plan = plan(old, changes)?;
        let mut content = Vec::new();
        plan.write_to(old, &mut content).unwrap();
        let sum = Sha1::digest(&content);
        content.extend_from_slice(&sum);
        Some(content)
    }

    fn file(path: &str, content: &[u8]) -> StagedFile {
        #[allow(clippy::cast_possible_truncation, reason = "test contents are small")]
        let size = content.len() as u32;
        StagedFile {
            path: path.as_bytes().to_vec(),
            mode: 0o100644,
            size,
            id: git2::Oid::hash_object(git2::ObjectType::Blob, content).unwrap(),
        }
    }

    fn change(rel: &str, files: Vec<StagedFile>) -> StagedPath {
        StagedPath { rel: PathBuf::from(rel), files }
    }

    /// The paths of an index as libgit2 reads it.
    fn paths(index: &[u8]) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index");
        fs::write(&path, index).unwrap();
        let index = git2::Index::open(&path).unwrap();
        index.iter().map(|e| String::from_utf8(e.path).unwrap()).collect()
    }

    fn index_of(files: Vec<StagedFile>) -> Vec<u8> {
        spliced(&empty(), &[change("a", files)]).unwrap()
    }

    #[test]
    fn entries_are_replaced_at_and_below_a_path_and_kept_elsewhere() {
        let old = index_of(vec![file("a/x", b"1"), file("a/y/z", b"2"), file("a-b", b"3"), file("b", b"4")]);
        // `a` is replaced by its files now; `a-b` sorts between `a` and `a/` and stays.
        let new = spliced(&old, &[change("a", vec![file("a/w", b"5")])]).unwrap();
        assert_eq!(paths(&new), ["a-b", "a/w", "b"]);
        let new = spliced(&old, &[change("c/d", vec![file("c/d", b"6")])]).unwrap();
        assert_eq!(paths(&new), ["a-b", "a/x", "a/y/z", "b", "c/d"]);
    }

    #[test]
    fn a_file_becoming_a_folder_or_a_damaged_index_is_left_to_libgit2() {
        let old = index_of(vec![file("a/x", b"1"), file("b", b"2")]);
        assert!(spliced(&old, &[change("b/c", vec![file("b/c", b"3")])]).is_none());
        assert!(spliced(&old, &[change("a/x/y", vec![file("a/x/y", b"3")])]).is_none());
        assert!(spliced(&old, &[change("a", vec![file("a", b"3")])]).is_some(), "the folder's entries go with it");
        let mut damaged = old.clone();
        damaged[HEADER + 3] ^= 1;
        assert!(spliced(&damaged, &[change("c", vec![])]).is_none());
        let mut version4 = old;
        version4[7] = 4;
        assert!(spliced(&version4, &[change("c", vec![])]).is_none());
    }

    /// Bytes other than zeros after a path (git never writes them, and reads past them) leave
    /// the entry as it is: copied, not refused, so the index is never handed to libgit2 for it.
    #[test]
    fn an_entry_with_odd_padding_is_copied_as_it_is() {
        let mut old = index_of(vec![file("a", b"1"), file("b", b"2")]);
        // The byte after the first path, `a`.
        let after_path = HEADER + BEFORE_FLAGS + 2 + 1;
        old[after_path] = b'1';
        let body = old.len() - CHECKSUM;
        let sum = Sha1::digest(&old[..body]);
        old[body..].copy_from_slice(&sum);
        let new = spliced(&old, &[change("b", vec![file("b", b"3")])]).expect("spliced");
        assert_eq!(new[HEADER..=after_path], old[HEADER..=after_path], "the odd entry is kept byte for byte");
        assert_eq!(paths(&new), ["a", "b"]);
    }

    #[test]
    fn cached_trees_on_a_changed_path_are_invalidated_and_the_others_kept() {
        let id = [7u8; 20];
        let mut tree = Vec::new();
        tree.extend_from_slice(b"\x003 2\n");
        tree.extend_from_slice(&id);
        tree.extend_from_slice(b"a\x001 0\n");
        tree.extend_from_slice(&id);
        tree.extend_from_slice(b"b\x002 1\n");
        tree.extend_from_slice(&id);
        tree.extend_from_slice(b"c\x001 0\n");
        tree.extend_from_slice(&id);
        let out = invalidated(&tree, &Changed::from_paths(vec![b"b/c/d".to_vec()])).unwrap();
        let mut expected = Vec::new();
        expected.extend_from_slice(b"\0-1 2\n");
        expected.extend_from_slice(b"a\x001 0\n");
        expected.extend_from_slice(&id);
        expected.extend_from_slice(b"b\0-1 1\n");
        expected.extend_from_slice(b"c\0-1 0\n");
        assert_eq!(out, expected);
        assert!(invalidated(&tree[..tree.len() - 1], &Changed::from_paths(vec![])).is_none(), "a cut record");
        assert!(invalidated(b"\x00-1 1\n", &Changed::from_paths(vec![])).is_none(), "a missing subtree");
    }

    /// Whether libgit2 reads `index` (the way an index was read before it was spliced).
    fn libgit2_reads(index: &[u8]) -> bool {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index");
        fs::write(&path, index).unwrap();
        git2::Index::open(&path).is_ok()
    }

    /// An index with cached trees, as git leaves one after a commit.
    fn index_with_trees() -> Vec<u8> {
        let mut index = index_of(vec![file("a/x", b"1"), file("a-b", b"2"), file("b/c/d", b"3")]);
        index.truncate(index.len() - CHECKSUM);
        let mut trees = Vec::new();
        trees.extend_from_slice(b"\x003 2\n");
        trees.extend_from_slice(&[1; 20]);
        trees.extend_from_slice(b"a\x001 0\n");
        trees.extend_from_slice(&[2; 20]);
        trees.extend_from_slice(b"b\x001 1\n");
        trees.extend_from_slice(&[3; 20]);
        trees.extend_from_slice(b"c\x001 0\n");
        trees.extend_from_slice(&[4; 20]);
        index.extend_from_slice(b"TREE");
        index.extend_from_slice(&u32::try_from(trees.len()).unwrap().to_be_bytes());
        index.extend_from_slice(&trees);
        let sum = Sha1::digest(&index);
        index.extend_from_slice(&sum);
        index
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(400))]

            /// A damaged index (bytes changed, its checksum made to match or not) is spliced
            /// or left to libgit2, never a panic; and what libgit2 read before, it reads after.
            #[test]
            fn a_damaged_index_is_spliced_or_left_alone(
                changes in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 1..6),
                resum in any::<bool>(),
            ) {
                let original = index_with_trees();
                prop_assert!(libgit2_reads(&original));
                let mut old = original.clone();
                for (at, byte) in changes {
                    let i = at.index(old.len() - CHECKSUM);
                    old[i] = byte;
                }
                if resum {
                    let body = old.len() - CHECKSUM;
                    let sum = Sha1::digest(&old[..body]);
                    old[body..].copy_from_slice(&sum);
                }
                if let Some(new) = spliced(&old, &[change("a", vec![file("a/y", b"4")]), change("b/c", vec![])]) {
                    prop_assert!(resum || old == original, "a checksum that does not match is never spliced");
                    if libgit2_reads(&old) {
                        prop_assert!(libgit2_reads(&new));
                    }
                }
            }

            /// Any bytes as cached trees are rewritten or left out, never a panic.
            #[test]
            fn any_cached_trees_are_read_without_a_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
                let _ = invalidated(&data, &Changed::from_paths(vec![b"a/b".to_vec(), Vec::new()]));
            }

            /// The searches of [`Changed::touches`] agree with the plain rule: the path is a
            /// changed one, or a folder above or below one.
            #[test]
            fn touches_follows_the_plain_rule(
                changed in proptest::collection::vec("(|[ab/.-]{1,6})", 0..6),
                path in "(|[ab/.-]{1,6})",
            ) {
                let is_above = |folder: &[u8], path: &[u8]| {
                    folder.is_empty() || (path.len() > folder.len() && path.starts_with(folder) && path[folder.len()] == b'/')
                };
                let paths: Vec<Vec<u8>> = changed.iter().map(|c| c.as_bytes().to_vec()).collect();
                let path = path.as_bytes();
                let plain = paths.iter().any(|c| c.as_slice() == path || is_above(path, c) || is_above(c, path));
                prop_assert_eq!(Changed::from_paths(paths).touches(path), plain);
            }
        }
    }
}
