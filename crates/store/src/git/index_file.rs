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
//! entries, a file that becomes a folder or the reverse — is not spliced: the caller then goes
//! through libgit2, which handles or refuses it. The old index's checksum is not checked, as
//! git checks it only in `git fsck` (not on the reads of `git add` or `git commit`, which
//! rewrite it with a new checksum too): on a large index it costs as much as the copy. Of the
//! optional extensions, the cached trees (`TREE`) are kept with every folder on a changed path
//! marked invalid, as `git add` does; resolve-undo records (`REUC`) are kept; those that record
//! entry positions or folder states (`UNTR`, `FSMN`, `EOIE`, `IEOT`, and any git may add) are
//! left out, as a git that does not know an optional extension leaves it out: git rebuilds them.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::ops::Range;
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
/// How much of the old index is held at a time (more only for an entry or a cached folder
/// that is longer).
const WINDOW: usize = 256 << 10;
/// How much of the new index is written (and checksummed) at a time.
const CHUNK: usize = 256 << 10;

/// Writes, under the index `lock`, the index with `changes` applied into `index.lock`, and
/// keeps the lock: the index is put in place by [`Written::put_in_place`] once the commit is
/// made, as `git commit` does. A write that fails (a full disk) so fails before anything is
/// committed, and HEAD stays as it was; written after the commit, it would leave the old
/// entries staged at the committed paths, and the next `git commit` would take the change back.
///
/// `None` when the index is one this module does not splice (see the module documentation):
/// the lock is released and libgit2 is to do the update.
pub(super) fn splice(mut lock: Lock, changes: &[StagedPath]) -> Result<Option<Written>> {
    let Some(old) = Old::open(&lock.index)? else {
        return Ok(None);
    };
    let Some(splice) = Splice::new(changes) else {
        return Ok(None);
    };
    let fail = |failure: Failure, lock: &Lock| match failure {
        Failure::Read(e) => StoreError::io(&lock.index, e),
        Failure::Write(e) => StoreError::io(&lock.path, e),
    };
    let pieces = match splice.plan(&mut Source::new(&old, WINDOW)) {
        Ok(Some(pieces)) => pieces,
        Ok(None) => return Ok(None),
        Err(failure) => return Err(fail(failure, &lock)),
    };
    // Planned from one index and copied from another, the new one would mix them.
    let written = write_checksummed(&mut lock.file, |chunks| pieces.write(&old, chunks))
        .map(|done| done.filter(|()| old.unchanged().unwrap_or(false)));
    match written {
        Ok(Some(())) => Ok(Some(Written { lock })),
        Ok(None) => Ok(None),
        Err(failure) => Err(fail(failure, &lock)),
    }
}

/// Whether each of `paths` has an entry in the index, read without taking its lock (as `git
/// ls-files` reads it). `None` when the index is one this module leaves to libgit2.
pub(super) fn tracked(git_dir: &Path, paths: &[&[u8]]) -> Result<Option<Vec<bool>>> {
    let index = git_dir.join("index");
    let Some(old) = Old::open(&index)? else {
        return Ok(None);
    };
    let mut wanted: Vec<usize> = (0..paths.len()).collect();
    wanted.sort_by(|a, b| paths[*a].cmp(paths[*b]));
    let mut next = wanted.iter().peekable();
    let mut known = vec![false; paths.len()];
    let mut source = Source::new(&old, WINDOW);
    let walked = walk_entries(&mut source, |path, _| {
        while let Some(i) = next.next_if(|i| paths[**i] <= path) {
            known[*i] = paths[*i] == path;
        }
        true
    });
    match walked.map_err(|e| match e {
        Failure::Read(e) | Failure::Write(e) => StoreError::io(&index, e),
    })? {
        Some(_) => Ok(Some(known)),
        None => Ok(None),
    }
}

/// The old index: its file, or its bytes.
enum Old {
    /// The file, with what `fstat` told of it when it was opened.
    File { file: File, len: usize, stamp: Stamp },
    /// Bytes in memory: an index that does not exist yet is an empty one.
    Bytes(Vec<u8>),
}

impl Old {
    /// `None` when the index is too large for this module.
    fn open(index: &Path) -> Result<Option<Old>> {
        let file = match File::open(index) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Some(Old::Bytes(empty()))),
            Err(e) => return Err(StoreError::io(index, e)),
        };
        let len = file.metadata().map_err(|e| StoreError::io(index, e))?.len();
        if len > MAX_INDEX {
            return Ok(None);
        }
        let stamp = Stamp::of(&file).map_err(|e| StoreError::io(index, e))?;
        Ok(usize::try_from(len).ok().map(|len| Old::File { file, len, stamp }))
    }

    /// Whether the file is as it was when opened. git never rewrites an index in place (it
    /// renames a new one over it), but a tool that ignores git's lock may: a splice that read
    /// such a file mixes two indexes, and is not used.
    fn unchanged(&self) -> std::io::Result<bool> {
        match self {
            Old::File { file, stamp, .. } => Ok(Stamp::of(file)? == *stamp),
            Old::Bytes(_) => Ok(true),
        }
    }

    fn len(&self) -> usize {
        match self {
            Old::File { len, .. } => *len,
            Old::Bytes(bytes) => bytes.len(),
        }
    }

    /// Reads into `buf` from `at`; fewer bytes only at the end.
    fn read_at(&self, buf: &mut [u8], at: usize) -> std::io::Result<usize> {
        match self {
            Old::File { file, .. } => std::os::unix::fs::FileExt::read_at(file, buf, at as u64),
            Old::Bytes(bytes) => Ok(read_slice_at(bytes, buf, at)),
        }
    }
}

fn read_slice_at(bytes: &[u8], buf: &mut [u8], at: usize) -> usize {
    let rest = bytes.get(at..).unwrap_or_default();
    let n = rest.len().min(buf.len());
    buf[..n].copy_from_slice(&rest[..n]);
    n
}

/// A file's identity, size and times of change, as `fstat` tells them.
#[derive(PartialEq, Eq)]
struct Stamp {
    device: u64,
    inode: u64,
    size: u64,
    modified: (i64, i64),
    changed: (i64, i64),
}

impl Stamp {
    fn of(file: &File) -> std::io::Result<Stamp> {
        use std::os::unix::fs::MetadataExt;
        let meta = file.metadata()?;
        Ok(Stamp {
            device: meta.dev(),
            inode: meta.ino(),
            size: meta.size(),
            modified: (meta.mtime(), meta.mtime_nsec()),
            changed: (meta.ctime(), meta.ctime_nsec()),
        })
    }
}

/// Why a pass stopped: a read of the old index or a write of the new one failed.
#[derive(Debug)]
enum Failure {
    Read(std::io::Error),
    Write(std::io::Error),
}

type Passed<T> = std::result::Result<T, Failure>;

/// The old index, read a window at a time: a pass over a 7 MB index goes through 256 KiB of
/// memory, not 7 MB of new pages (which cost more than reading them).
struct Source<'o> {
    old: &'o Old,
    window: Vec<u8>,
    /// The position of `window[0]` in the index, and how much of the window holds its bytes.
    start: usize,
    filled: usize,
    size: usize,
}

impl<'o> Source<'o> {
    fn new(old: &'o Old, size: usize) -> Source<'o> {
        Source { old, window: Vec::new(), start: 0, filled: 0, size: size.max(1) }
    }

    fn len(&self) -> usize {
        self.old.len()
    }

    /// The index's bytes from `at` on: at least `n` of them, or all those left when fewer are.
    #[inline]
    fn at(&mut self, at: usize, n: usize) -> Passed<&[u8]> {
        let offset = at.wrapping_sub(self.start);
        if at >= self.start && offset.saturating_add(n) <= self.filled {
            return Ok(&self.window[offset..self.filled]);
        }
        self.refill(at, n)
    }

    /// Reads the window again from `at`, to hold at least `n` bytes.
    #[cold]
    fn refill(&mut self, at: usize, n: usize) -> Passed<&[u8]> {
        let at = at.min(self.len());
        let wanted = n.max(self.size).min(self.len() - at);
        if self.window.len() < wanted {
            self.window.resize(wanted, 0);
        }
        let mut filled = 0;
        while filled < wanted {
            match self.old.read_at(&mut self.window[filled..wanted], at + filled) {
                Ok(0) => break,
                Ok(got) => filled += got,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Failure::Read(e)),
            }
        }
        self.start = at;
        self.filled = filled;
        Ok(&self.window[..filled])
    }

    /// The position of the first `byte` in `range`.
    fn find(&mut self, byte: u8, range: Range<usize>) -> Passed<Option<usize>> {
        let mut at = range.start;
        while at < range.end {
            let window = self.at(at, 1)?;
            let window = &window[..window.len().min(range.end - at)];
            if window.is_empty() {
                return Ok(None);
            }
            if let Some(i) = memchr::memchr(byte, window) {
                return Ok(Some(at + i));
            }
            at += window.len();
        }
        Ok(None)
    }

    fn be32(&mut self, at: usize) -> Passed<Option<u32>> {
        Ok(self.at(at, 4)?.get(..4).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes))
    }
}

/// One entry of the old index: where it lies, and where its path lies in it.
struct Entry {
    start: usize,
    len: usize,
    path: Range<usize>,
}

/// The header's version and entry count; `None` for an index this module does not read.
fn header(source: &mut Source<'_>) -> Passed<Option<(u32, usize)>> {
    if source.len() < HEADER + CHECKSUM || source.at(0, 4)?.get(..4) != Some(SIGNATURE.as_slice()) {
        return Ok(None);
    }
    let Some(version) = source.be32(4)?.filter(|v| (2..=3).contains(v)) else {
        return Ok(None);
    };
    Ok(source.be32(8)?.and_then(|count| usize::try_from(count).ok()).map(|count| (version, count)))
}

/// The entry at `at`, ending at or before `body_end`; `None` when it is not one this module
/// reads.
fn entry_at(source: &mut Source<'_>, at: usize, body_end: usize, version: u32) -> Passed<Option<Entry>> {
    let Some(flags) = source.at(at, BEFORE_FLAGS + 2)?.get(BEFORE_FLAGS..BEFORE_FLAGS + 2).map(|b| u16::from_be_bytes([b[0], b[1]])) else {
        return Ok(None);
    };
    let extended = if flags & EXTENDED_FLAGS == 0 {
        0
    } else if version >= 3 {
        2
    } else {
        return Ok(None);
    };
    if flags & STAGE_MASK != 0 {
        return Ok(None);
    }
    let path_start = BEFORE_FLAGS + 2 + extended;
    let named = usize::from(flags & NAME_MASK);
    let path_len = if named < usize::from(NAME_MASK) {
        named
    } else {
        let from = at + path_start + named;
        match source.find(0, from..body_end)? {
            Some(nul) => nul - at - path_start,
            None => return Ok(None),
        }
    };
    let len = (path_start + path_len + 8) & !7;
    if path_len == 0 || at + len > body_end {
        return Ok(None);
    }
    let bytes = source.at(at, len)?;
    // git reads a path by its length and never looks at the padding after it (nor does it
    // write anything but zeros there): an entry with other bytes there is copied as it is,
    // still readable by git, instead of being handed to libgit2, which misreads it.
    let path = path_start..path_start + path_len;
    if bytes.len() < len || memchr::memchr(0, &bytes[path.clone()]).is_some() {
        return Ok(None);
    }
    Ok(Some(Entry { start: at, len, path }))
}

/// Reads every entry of the index in order, giving each one's path and where it lies to `visit`
/// (which returns whether to go on); returns the version, the entry count and where the entries
/// end, or `None` for an index this module does not read (or when `visit` stops).
fn walk_entries(source: &mut Source<'_>, mut visit: impl FnMut(&[u8], Range<usize>) -> bool) -> Passed<Option<(u32, usize, usize)>> {
    let Some((version, count)) = header(source)? else {
        return Ok(None);
    };
    let body_end = source.len() - CHECKSUM;
    let mut previous: Vec<u8> = Vec::new();
    let mut at = HEADER;
    for i in 0..count {
        let Some(entry) = entry_at(source, at, body_end, version)? else {
            return Ok(None);
        };
        let bytes = &source.at(entry.start, entry.len)?[..entry.len];
        let path = &bytes[entry.path.clone()];
        // Sorted and unique, as git writes them: the walks over the changed paths rely on it.
        if i > 0 && previous.as_slice() >= path {
            return Ok(None);
        }
        if !visit(path, entry.start..entry.start + entry.len) {
            return Ok(None);
        }
        previous.clear();
        previous.extend_from_slice(path);
        at += entry.len;
    }
    Ok(Some((version, count, at)))
}

/// The new index, planned: pieces of the old one and new bytes, in order. Written by copying,
/// it is read twice but parsed once, and never held whole.
#[derive(Default)]
struct Pieces {
    pieces: Vec<Piece>,
    len: usize,
}

enum Piece {
    Old(Range<usize>),
    New(Vec<u8>),
}

impl Pieces {
    /// Adds the old index's bytes in `range`.
    fn keep(&mut self, range: Range<usize>) {
        self.len += range.len();
        match self.pieces.last_mut() {
            Some(Piece::Old(last)) if last.end == range.start => last.end = range.end,
            _ => self.pieces.push(Piece::Old(range)),
        }
    }

    /// Adds new bytes.
    fn add(&mut self, bytes: &[u8]) {
        self.len += bytes.len();
        match self.pieces.last_mut() {
            Some(Piece::New(last)) => last.extend_from_slice(bytes),
            _ => self.pieces.push(Piece::New(bytes.to_vec())),
        }
    }

    /// Adds `other`'s pieces after these.
    fn append(&mut self, other: Pieces) {
        for piece in other.pieces {
            match piece {
                Piece::Old(range) => self.keep(range),
                Piece::New(bytes) => self.add(&bytes),
            }
        }
    }

    /// Overwrites the 4 bytes at `at` (within the first new bytes, a header's) with `value`.
    fn set_be32(&mut self, at: usize, value: u32) {
        let mut start = 0;
        for piece in &mut self.pieces {
            match piece {
                Piece::New(bytes) if at >= start && at + 4 <= start + bytes.len() => {
                    bytes[at - start..at - start + 4].copy_from_slice(&value.to_be_bytes());
                    return;
                }
                Piece::New(bytes) => start += bytes.len(),
                Piece::Old(range) => start += range.len(),
            }
        }
    }

    /// Writes the new index (without its checksum) into `chunks`, the old pieces read from
    /// `old` straight into them. `None` when the old index is shorter than when it was planned
    /// (changed in place, which git never does while its lock is held): then the new index is
    /// not used.
    fn write(&self, old: &Old, chunks: &mut Chunks<'_>) -> Passed<Option<()>> {
        for piece in &self.pieces {
            match piece {
                Piece::New(bytes) => chunks.put(bytes)?,
                Piece::Old(range) => {
                    let mut at = range.start;
                    while at < range.end {
                        let space = chunks.space()?;
                        let wanted = space.len().min(range.end - at);
                        let got = loop {
                            match old.read_at(&mut space[..wanted], at) {
                                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                                got => break got.map_err(Failure::Read)?,
                            }
                        };
                        if got == 0 {
                            return Ok(None);
                        }
                        chunks.filled(got);
                        at += got;
                    }
                }
            }
        }
        Ok(Some(()))
    }
}

/// The new index in chunks of [`CHUNK`] bytes, each handed to `deliver` when full (and the
/// last one when done), which gives back an empty buffer to fill next.
struct Chunks<'d> {
    chunk: Vec<u8>,
    used: usize,
    deliver: &'d mut dyn FnMut(Vec<u8>, usize) -> Passed<Vec<u8>>,
}

impl Chunks<'_> {
    /// The free part of the current chunk (never empty).
    fn space(&mut self) -> Passed<&mut [u8]> {
        if self.used == self.chunk.len() {
            self.deliver_chunk()?;
        }
        Ok(&mut self.chunk[self.used..])
    }

    /// Counts `n` bytes of the free part as written.
    fn filled(&mut self, n: usize) {
        self.used += n;
    }

    fn put(&mut self, mut bytes: &[u8]) -> Passed<()> {
        while !bytes.is_empty() {
            let space = self.space()?;
            let n = space.len().min(bytes.len());
            space[..n].copy_from_slice(&bytes[..n]);
            self.filled(n);
            bytes = &bytes[n..];
        }
        Ok(())
    }

    fn deliver_chunk(&mut self) -> Passed<()> {
        let full = std::mem::take(&mut self.chunk);
        let mut next = (self.deliver)(full, self.used)?;
        next.resize(CHUNK, 0);
        self.chunk = next;
        self.used = 0;
        Ok(())
    }

    /// Delivers what is left.
    fn finish(mut self) -> Passed<()> {
        if self.used > 0 {
            self.deliver_chunk()?;
        }
        Ok(())
    }
}

/// Has `write` write the new index into `file` a chunk at a time while a second thread
/// checksums each chunk written, then adds the checksum: on a 7 MB index the checksum costs as
/// much as the reading and writing, and so runs beside them.
fn write_checksummed(file: &mut File, write: impl FnOnce(&mut Chunks<'_>) -> Passed<Option<()>>) -> Passed<Option<()>> {
    std::thread::scope(|scope| {
        // A few chunks in flight at most; emptied ones come back to be filled again.
        let (to_sum, written) = std::sync::mpsc::sync_channel::<(Vec<u8>, usize)>(2);
        let (give_back, emptied) = std::sync::mpsc::channel::<Vec<u8>>();
        let summer = scope.spawn(move || {
            let mut sum = Sha1::new();
            for (chunk, used) in written {
                sum.update(&chunk[..used]);
                // The writer may be gone (it failed): the chunk is then dropped.
                let _ = give_back.send(chunk);
            }
            sum.finalize()
        });
        let written_to = &mut *file;
        // Moved in: dropping it hangs up, and the summer ends.
        let mut offset = 0;
        let mut deliver = move |chunk: Vec<u8>, used: usize| -> Passed<Vec<u8>> {
            written_to.write_all(&chunk[..used]).map_err(Failure::Write)?;
            start_write_back(written_to, offset, used);
            offset += used;
            // The summer only stops when this side hangs up.
            let _ = to_sum.send((chunk, used));
            Ok(emptied.try_recv().unwrap_or_default())
        };
        let mut chunks = Chunks { chunk: vec![0; CHUNK], used: 0, deliver: &mut deliver };
        let done = write(&mut chunks).and_then(|done| chunks.finish().map(|()| done));
        drop(deliver);
        let sum = summer.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        if done.as_ref().is_ok_and(Option::is_some) {
            file.write_all(&sum).map_err(Failure::Write)?;
        }
        done
    })
}

/// Has the kernel start writing the `len` bytes at `offset` of `file` to disk now, without
/// waiting for them.
///
/// Why: when `index.lock` is renamed over the index, ext4 (with its default `auto_da_alloc`)
/// allocates and starts writing every page of the file not on disk yet, inside the rename,
/// and waits for writes under way: 4 to 6 ms for a 7.5 MB index (60,000 entries), after the
/// commit, on the critical path. Started a chunk at a time while the index is written, the
/// writes run beside the rest of the commit. `POSIX_FADV_DONTNEED` starts the write-back of
/// the dirty pages in its range (Linux drops only pages already clean, and these are not);
/// whether it does is only a matter of speed, so a refusal is ignored. Durability is
/// unchanged: git does not sync its index either.
fn start_write_back(file: &File, offset: usize, len: usize) {
    #[cfg(target_os = "linux")]
    if let (Ok(offset), Some(len)) = (u64::try_from(offset), u64::try_from(len).ok().and_then(std::num::NonZeroU64::new)) {
        let _ = rustix::fs::fadvise(file, offset, Some(len), rustix::fs::Advice::DontNeed);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, offset, len);
}

/// The changed paths, and the files now at them, ready for a walk over the index's entries in
/// their order.
struct Splice {
    changed: Changed,
    /// The paths whose entries go, as sorted, disjoint ranges: each changed path alone, and
    /// everything below it (from `path/` up to `path0`, `0` following `/`).
    gone: Vec<(Vec<u8>, Vec<u8>)>,
    /// The new entries, sorted by path, with their bytes.
    added: Vec<(Vec<u8>, Vec<u8>)>,
    /// Every folder above a new file: a kept entry there would be a file becoming a folder.
    folders_of_added: Vec<Vec<u8>>,
    /// Below each new file that is not at or below a changed path (none is, as collected), as
    /// sorted, disjoint ranges: a kept entry there would be a folder becoming a file.
    below_added: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Splice {
    /// `None` when a new file's path is not one the index can hold.
    fn new(changes: &[StagedPath]) -> Option<Splice> {
        let changed = Changed::new(changes);
        let mut outermost: Vec<&Vec<u8>> = Vec::new();
        for path in &changed.paths {
            // Sorted: a path below another comes after it, though not always right after.
            if !outermost.iter().any(|above| is_below(path, above)) {
                outermost.push(path);
            }
        }
        let mut gone: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        for path in outermost {
            gone.push((path.clone(), [path.as_slice(), b"\0"].concat()));
            gone.push(([path.as_slice(), b"/"].concat(), [path.as_slice(), b"0"].concat()));
        }
        gone.sort();

        let mut files: Vec<&StagedFile> = changes.iter().flat_map(|change| change.files.iter()).collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        files.dedup_by(|a, b| a.path == b.path);
        let mut folders_of_added = Vec::new();
        let mut below_added: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        for file in &files {
            if file.path.is_empty() || file.path.contains(&0) {
                return None;
            }
            folders_of_added.extend(file.path.iter().enumerate().filter(|(_, b)| **b == b'/').map(|(i, _)| file.path[..i].to_vec()));
            if !in_ranges(&gone, &file.path) {
                below_added.push(([file.path.as_slice(), b"/"].concat(), [file.path.as_slice(), b"0"].concat()));
            }
        }
        folders_of_added.sort();
        folders_of_added.dedup();
        // Sorted by start; one inside another (a new file below another) is merged into it.
        below_added.sort();
        below_added.dedup_by(|inner, outer| inner.1 <= outer.1);
        let added = files.iter().map(|file| (file.path.clone(), entry_bytes(file))).collect();
        Some(Splice { changed, gone, added, folders_of_added, below_added })
    }

    /// The new index, planned from the old one read through `source`. `None` when the index is
    /// not one this module splices, or a kept entry would sit where a new file needs a folder or
    /// the reverse.
    fn plan(&self, source: &mut Source<'_>) -> Passed<Option<Pieces>> {
        let Some((version, _)) = header(source)? else {
            return Ok(None);
        };
        let mut pieces = Pieces::default();
        let mut head = [0; HEADER];
        head[..4].copy_from_slice(SIGNATURE);
        head[4..8].copy_from_slice(&version.to_be_bytes());
        // The entry count is set once the entries are counted.
        pieces.add(&head);
        let mut gone = self.gone.iter().peekable();
        let mut folders = self.folders_of_added.iter().peekable();
        let mut below_added = self.below_added.iter().peekable();
        let mut added = self.added.iter().peekable();
        let mut kept = 0usize;
        // Every entry before the first path at which one of the lists has something to say is
        // kept as it is: one comparison each instead of one per list.
        let mut mark = next_mark([gone.peek().copied(), below_added.peek().copied(), added.peek().copied()], folders.peek().copied());
        let walked = walk_entries(source, |path, entry| {
            if mark.is_none_or(|mark| path < mark) {
                kept += 1;
                pieces.keep(entry);
                return true;
            }
            let go_on = (|| {
                while gone.next_if(|(_, end)| end.as_slice() <= path).is_some() {}
                if gone.peek().is_some_and(|(start, _)| start.as_slice() <= path) {
                    return true;
                }
                while folders.next_if(|folder| folder.as_slice() < path).is_some() {}
                if folders.peek().is_some_and(|folder| folder.as_slice() == path) {
                    return false;
                }
                while below_added.next_if(|(_, end)| end.as_slice() <= path).is_some() {}
                if below_added.peek().is_some_and(|(start, _)| start.as_slice() <= path) {
                    return false;
                }
                kept += 1;
                while let Some((_, new)) = added.next_if(|(new_path, _)| new_path.as_slice() < path) {
                    pieces.add(new);
                }
                pieces.keep(entry.clone());
                true
            })();
            mark = next_mark([gone.peek().copied(), below_added.peek().copied(), added.peek().copied()], folders.peek().copied());
            go_on
        })?;
        let Some((_, _, entries_end)) = walked else {
            return Ok(None);
        };
        for (_, new) in added {
            pieces.add(new);
        }
        let Some(count) = kept.checked_add(self.added.len()).and_then(|n| u32::try_from(n).ok()) else {
            return Ok(None);
        };
        pieces.set_be32(8, count);

        let body_end = source.len() - CHECKSUM;
        let mut at = entries_end;
        while at < body_end {
            let Some(signature) = source.at(at, 4)?.get(..4).and_then(|b| <[u8; 4]>::try_from(b).ok()) else {
                return Ok(None);
            };
            let Some(size) = source.be32(at + 4)?.and_then(|size| usize::try_from(size).ok()) else {
                return Ok(None);
            };
            let start = at + 8;
            let Some(end) = start.checked_add(size).filter(|end| *end <= body_end) else {
                return Ok(None);
            };
            // An extension whose name starts with a lower-case letter must be understood.
            if !signature[0].is_ascii_uppercase() {
                return Ok(None);
            }
            at = end;
            let mut extension = Pieces::default();
            extension.add(&signature);
            // The size is set once the extension is rewritten.
            extension.add(&[0; 4]);
            let new_size = match &signature {
                b"TREE" => invalidated(source, start..end, &self.changed, &mut extension)?,
                b"REUC" => {
                    extension.keep(start..end);
                    Some(size)
                }
                _ => None,
            };
            // The cached trees are left out when they cannot be read, which git accepts; other
            // extensions, which record entry positions or folder states, are left out for git
            // to rebuild.
            if let Some(new_size) = new_size.and_then(|n| u32::try_from(n).ok()) {
                extension.set_be32(4, new_size);
                pieces.append(extension);
            }
        }
        Ok(Some(pieces))
    }
}

/// The first path at which one of the plan's lists still has something to say: the start of
/// a range of gone or below-added paths, a new entry's path, or a folder of one.
fn next_mark<'a>(ranges: [Option<&'a (Vec<u8>, Vec<u8>)>; 3], folder: Option<&'a Vec<u8>>) -> Option<&'a [u8]> {
    ranges.into_iter().flatten().map(|(start, _)| start.as_slice()).chain(folder.map(Vec::as_slice)).min()
}

/// Whether `path` is below the folder `folder`.
fn is_below(path: &[u8], folder: &[u8]) -> bool {
    path.len() > folder.len() && path.starts_with(folder) && path[folder.len()] == b'/'
}

/// Whether `path` lies in one of the sorted, disjoint `ranges` (start included, end not).
fn in_ranges(ranges: &[(Vec<u8>, Vec<u8>)], path: &[u8]) -> bool {
    let i = ranges.partition_point(|(_, end)| end.as_slice() <= path);
    ranges.get(i).is_some_and(|(start, _)| start.as_slice() <= path)
}

/// The cached trees (`TREE`) in `range`, with every folder at, above or below a changed path
/// marked invalid (entry count -1, no object id), as git marks them when a path is added: git
/// recomputes those on its next commit and keeps using the others. Added to `out`; returns
/// their new size, `None` (the extension is left out, which git also accepts) when they cannot
/// be read.
fn invalidated(source: &mut Source<'_>, range: Range<usize>, changed: &Changed, out: &mut Pieces) -> Passed<Option<usize>> {
    let before = out.len;
    // The folders being read: how they stand to the changed paths, their paths when above one,
    // and how many of their subfolders are still to come. A folder apart from every changed path
    // has only such subfolders, and one at or below a changed path only such too: only the
    // folders above a changed path look at their subfolders' names (one search each).
    let mut open: Vec<(Reach, Vec<u8>, u64)> = Vec::new();
    let mut at = range.start;
    let mut root_seen = false;
    while at < range.end {
        let Some(record) = tree_record(source, at, range.end)? else {
            return Ok(None);
        };
        let (reach, path) = match open.last_mut() {
            None if !root_seen && record.name_end == at => (changed.reach_of_root(), Vec::new()),
            None => return Ok(None),
            Some((parent, parent_path, left)) => {
                let Some(fewer) = left.checked_sub(1) else {
                    return Ok(None);
                };
                *left = fewer;
                match parent {
                    Reach::Apart => (Reach::Apart, Vec::new()),
                    Reach::Within => (Reach::Within, Vec::new()),
                    Reach::Above(children) => {
                        let Some(name) = source.at(at, record.name_end - at)?.get(..record.name_end - at) else {
                            return Ok(None);
                        };
                        match children.binary_search_by(|(child, _)| child.as_slice().cmp(name)) {
                            Err(_) => (Reach::Apart, Vec::new()),
                            Ok(i) if children[i].1 => (Reach::Within, Vec::new()),
                            Ok(_) => {
                                let path =
                                    if parent_path.is_empty() { name.to_vec() } else { [parent_path.as_slice(), b"/", name].concat() };
                                (Reach::Above(changed.children(&path)), path)
                            }
                        }
                    }
                }
            }
        };
        root_seen = true;
        if !matches!(reach, Reach::Apart) || record.entries < 0 {
            // The name and its NUL, kept; the counts and id replaced.
            out.keep(at..record.name_end + 1);
            out.add(format!("-1 {}\n", record.subtrees).as_bytes());
        } else {
            out.keep(at..record.next);
        }
        if record.subtrees > 0 {
            open.push((reach, path, record.subtrees));
        }
        while open.last().is_some_and(|(_, _, left)| *left == 0) {
            open.pop();
        }
        at = record.next;
    }
    Ok(open.is_empty().then_some(out.len - before))
}

/// How a folder stands to the changed paths.
enum Reach {
    /// Neither at, above nor below a changed path; nor is anything in it.
    Apart,
    /// At or below a changed path; so is everything in it.
    Within,
    /// Above changed paths: its subfolders on a changed path, by name, each with whether it is
    /// at or below one (or only above).
    Above(Vec<(Vec<u8>, bool)>),
}

/// One folder of the cached trees: its name ends at `name_end`, then come its entry count (-1
/// when invalid), its subfolder count and, when valid, its object id; the next one starts at
/// `next`.
#[derive(Debug, PartialEq)]
struct TreeRecord {
    name_end: usize,
    entries: i64,
    subtrees: u64,
    next: usize,
}

/// The folder of the cached trees at `at`, ending at or before `end`; `None` when it cannot be
/// read.
fn tree_record(source: &mut Source<'_>, at: usize, end: usize) -> Passed<Option<TreeRecord>> {
    let window = source.at(at, 1)?;
    if let Some(record) = plain_tree_record(&window[..window.len().min(end - at)], at) {
        return Ok(Some(record));
    }
    let Some(name_end) = source.find(0, at..end)? else {
        return Ok(None);
    };
    let Some(space) = source.find(b' ', name_end + 1..end)? else {
        return Ok(None);
    };
    let Some(newline) = source.find(b'\n', space + 1..end)? else {
        return Ok(None);
    };
    let Some(numbers) = source.at(name_end + 1, newline - name_end - 1)?.get(..newline - name_end - 1) else {
        return Ok(None);
    };
    let (entries, subtrees) = numbers.split_at(space - name_end - 1);
    let number = |digits: &[u8]| std::str::from_utf8(digits).ok().and_then(|text| text.parse::<i64>().ok());
    let (Some(entries), Some(subtrees)) = (number(entries), number(&subtrees[1..]).and_then(|n| u64::try_from(n).ok())) else {
        return Ok(None);
    };
    let mut next = newline + 1;
    if entries >= 0 {
        let Some(with_id) = next.checked_add(20).filter(|n| *n <= end) else {
            return Ok(None);
        };
        next = with_id;
    }
    Ok(Some(TreeRecord { name_end, entries, subtrees, next }))
}

/// [`tree_record`] for the record at the start of `window` (the old index from `at`) when it
/// is all there and written as git writes it: counts of plain digits, the entry count perhaps
/// `-1`. Such a record is read in one pass over its few bytes; `None` leaves any other to the
/// general reading, which gives the same for these.
fn plain_tree_record(window: &[u8], at: usize) -> Option<TreeRecord> {
    // At most 18 digits: any such number fits an `i64`, as the general reading requires.
    fn digits(window: &[u8], i: &mut usize) -> Option<u64> {
        let start = *i;
        let mut n: u64 = 0;
        while let Some(digit) = window.get(*i).filter(|b| b.is_ascii_digit()) {
            if *i - start == 18 {
                return None;
            }
            n = n * 10 + u64::from(digit - b'0');
            *i += 1;
        }
        (*i > start).then_some(n)
    }
    let name_len = window.iter().position(|&b| b == 0)?;
    let mut i = name_len + 1;
    let entries = if window.get(i..i + 3) == Some(b"-1 ") {
        i += 2;
        -1
    } else {
        i64::try_from(digits(window, &mut i)?).ok()?
    };
    if window.get(i) != Some(&b' ') {
        return None;
    }
    i += 1;
    let subtrees = digits(window, &mut i)?;
    if window.get(i) != Some(&b'\n') {
        return None;
    }
    i += 1;
    if entries >= 0 {
        i += 20;
    }
    (i <= window.len()).then_some(TreeRecord { name_end: at + name_len, entries, subtrees, next: at + i })
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

    /// How the root folder stands to the changed paths.
    fn reach_of_root(&self) -> Reach {
        if self.contains(b"") {
            Reach::Within
        } else if self.paths.is_empty() {
            Reach::Apart
        } else {
            Reach::Above(self.children(b""))
        }
    }

    /// The subfolders of `folder` (the root when empty) on a changed path, for
    /// [`Reach::Above`]: the first name of each changed path below it, sorted, with whether a
    /// changed path is the subfolder itself.
    fn children(&self, folder: &[u8]) -> Vec<(Vec<u8>, bool)> {
        let below = if folder.is_empty() {
            &self.paths[..]
        } else {
            let from = self.paths.partition_point(|p| p.as_slice() < [folder, b"/"].concat().as_slice());
            let to = self.paths.partition_point(|p| p.as_slice() < [folder, b"0"].concat().as_slice());
            &self.paths[from..to]
        };
        let skip = if folder.is_empty() { 0 } else { folder.len() + 1 };
        let mut children: Vec<(Vec<u8>, bool)> = below
            .iter()
            .filter_map(|p| p.get(skip..))
            .map(|rest| match memchr::memchr(b'/', rest) {
                Some(slash) => (rest[..slash].to_vec(), false),
                None => (rest.to_vec(), true),
            })
            .collect();
        children.sort();
        // One name: at a changed path if any of its entries says so (sorted, `true` comes last).
        children.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                kept.1 |= later.1;
            }
            same
        });
        children
    }

    fn contains(&self, path: &[u8]) -> bool {
        self.paths.binary_search_by(|p| p.as_slice().cmp(path)).is_ok()
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

#[cfg(test)]
mod tests {
    use super::*;

    impl Changed {
        /// Whether `path` is a changed path, or a folder above or below one (the root, `""`, is
        /// above every path).
        fn touches(&self, path: &[u8]) -> bool {
            if path.is_empty() {
                return !self.paths.is_empty();
            }
            let below = || path.iter().chain(std::iter::once(&b'/'));
            let first_below = self.paths.partition_point(|p| p.iter().lt(below()));
            let changed_below =
                self.paths.get(first_below).is_some_and(|p| p.len() > path.len() && p.iter().zip(below()).all(|(a, b)| a == b));
            let changed_above =
                self.contains(b"") || path.iter().enumerate().filter(|(_, b)| **b == b'/').any(|(i, _)| self.contains(&path[..i]));
            self.contains(path) || changed_below || changed_above
        }
    }

    /// The cached trees rewritten the plain way, the model of [`invalidated`]: every folder's
    /// path built, and the folder marked invalid when [`Changed::touches`] it.
    fn invalidated_plainly(data: &[u8], changed: &Changed) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        let mut open: Vec<(Vec<u8>, u64)> = Vec::new();
        let mut at = 0;
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
                None if at == 0 && name.is_empty() => Vec::new(),
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
            out.extend_from_slice(name);
            out.push(0);
            if changed.touches(&path) || entries < 0 {
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

    /// Cached trees of the folders `folders` (with every folder above each), valid or not by
    /// `valid`, in git's order: a folder, then its subfolders.
    fn cached_trees(folders: &std::collections::BTreeSet<String>, valid: &dyn Fn(&str) -> bool) -> Vec<u8> {
        fn record(path: &str, name: &str, all: &std::collections::BTreeSet<String>, valid: &dyn Fn(&str) -> bool, out: &mut Vec<u8>) {
            let prefix = if path.is_empty() { String::new() } else { format!("{path}/") };
            let children: Vec<&String> =
                all.iter().filter(|f| f.starts_with(&prefix) && !f[prefix.len()..].contains('/') && !f.is_empty()).collect();
            out.extend_from_slice(name.as_bytes());
            out.push(0);
            if valid(path) {
                out.extend_from_slice(format!("3 {}\n", children.len()).as_bytes());
                out.extend_from_slice(&[9; 20]);
            } else {
                out.extend_from_slice(format!("-1 {}\n", children.len()).as_bytes());
            }
            for child in children {
                record(child, &child[prefix.len()..], all, valid, out);
            }
        }
        let mut all: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
        for folder in folders {
            for (i, _) in folder.match_indices('/') {
                all.insert(folder[..i].to_string());
            }
            all.insert(folder.clone());
        }
        let mut out = Vec::new();
        record("", "", &all, valid, &mut out);
        out
    }

    /// Windows from a byte (every entry and record read across a window's end) to the one used.
    const WINDOWS: [usize; 4] = [1, 7, 64, WINDOW];

    /// The new index's bytes, checksum included; the same through every window.
    fn spliced(old: &[u8], changes: &[StagedPath]) -> Option<Vec<u8>> {
        let splice = Splice::new(changes)?;
        let old = Old::Bytes(old.to_vec());
        let results = WINDOWS.map(|window| {
            let pieces = splice.plan(&mut Source::new(&old, window)).unwrap()?;
            let mut content = written(&pieces, &old).unwrap();
            assert_eq!(content.len(), pieces.len);
            let sum = Sha1::digest(&content);
            content.extend_from_slice(&sum);
            Some(content)
        });
        assert!(results.iter().all(|r| *r == results[0]), "every window reads the same");
        results[0].clone()
    }

    /// The new index `pieces` make of `old`, as written a chunk at a time (without checksum);
    /// `None` when `old` is too short for them.
    fn written(pieces: &Pieces, old: &Old) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        let mut deliver = |chunk: Vec<u8>, used: usize| {
            out.extend_from_slice(&chunk[..used]);
            Ok(chunk)
        };
        let mut chunks = Chunks { chunk: vec![0; CHUNK], used: 0, deliver: &mut deliver };
        let done = pieces.write(old, &mut chunks).unwrap();
        chunks.finish().unwrap();
        done.map(|()| out)
    }

    /// The cached trees `data` rewritten; the same through every window, and of the size a
    /// measuring pass finds.
    fn invalidated_bytes(data: &[u8], changed: &Changed) -> Option<Vec<u8>> {
        let old = Old::Bytes(data.to_vec());
        let results = WINDOWS.map(|window| {
            let mut pieces = Pieces::default();
            let size = invalidated(&mut Source::new(&old, window), 0..data.len(), changed, &mut pieces).unwrap()?;
            let out = written(&pieces, &old).unwrap();
            assert_eq!(size, out.len());
            Some(out)
        });
        assert!(results.iter().all(|r| *r == results[0]), "every window reads the same");
        results[0].clone()
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
        assert!(spliced(&old, &[change("c", vec![file("a", b"3")])]).is_none(), "a new file where a kept folder is");
        // A checksum that does not match is not looked at, as git does not look at it.
        let mut unsummed = old.clone();
        let last = unsummed.len() - 1;
        unsummed[last] ^= 1;
        assert_eq!(spliced(&unsummed, &[change("c", vec![])]), spliced(&old, &[change("c", vec![])]));
        // An entry count past the entries is damage.
        let mut damaged = old.clone();
        damaged[HEADER - 1] += 1;
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

    /// The new index is written a chunk at a time with its checksum after it, what the pieces
    /// make through many chunks; a write that fails stops it with that error (and does not wait
    /// on the checksumming thread).
    #[test]
    fn the_index_is_written_in_chunks_and_checksummed() {
        let content: Vec<u8> = (0..3 * CHUNK + 5).map(|i| u8::try_from(i % 251).unwrap()).collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.lock");
        let mut file = File::create(&path).unwrap();
        let done = write_checksummed(&mut file, |chunks| {
            chunks.put(&content[..10])?;
            chunks.put(&content[10..])?;
            Ok(Some(()))
        });
        assert!(matches!(done, Ok(Some(()))));
        let written = fs::read(&path).unwrap();
        assert_eq!(written[..content.len()], content[..]);
        assert_eq!(written[content.len()..], Sha1::digest(&content)[..]);

        let mut read_only = File::open(&path).unwrap();
        let failed = write_checksummed(&mut read_only, |chunks| chunks.put(&content).map(Some));
        assert!(matches!(failed, Err(Failure::Write(_))));
    }

    /// An index file rewritten in place after it was opened (size kept or not) is told apart
    /// from one left alone.
    #[test]
    fn an_index_rewritten_in_place_is_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index");
        let content = index_of(vec![file("a", b"1"), file("b", b"2")]);
        fs::write(&path, &content).unwrap();
        let old = Old::open(&path).unwrap().unwrap();
        assert!(old.unchanged().unwrap());
        // Same length, other bytes, as `cp` over it would leave it.
        let mut other = content.clone();
        other[HEADER] ^= 1;
        std::thread::sleep(std::time::Duration::from_millis(10));
        fs::write(&path, &other).unwrap();
        assert!(!old.unchanged().unwrap());
    }

    /// An index found shorter when copied than when planned (changed in place, which git never
    /// does) is not used.
    #[test]
    fn an_index_changed_between_plan_and_copy_is_not_used() {
        let splice = Splice::new(&[change("b", vec![file("b", b"3")])]).unwrap();
        let before = index_of(vec![file("a", b"1"), file("b", b"2")]);
        let pieces = splice.plan(&mut Source::new(&Old::Bytes(before.clone()), WINDOW)).unwrap().unwrap();
        let after = Old::Bytes(before[..HEADER + 10].to_vec());
        assert!(written(&pieces, &after).is_none());
        assert!(written(&pieces, &Old::Bytes(before)).is_some());
    }

    #[test]
    fn records_read_in_one_pass_read_as_the_general_way_reads_them() {
        let id = [7u8; 20];
        let mut read_plainly = 0;
        for text in [
            "s1\x003 1\n",
            "\x00-1 2\n",
            "users\x000 0\n",
            "a\x00007 12\n",
            "a\x00+3 1\n",
            "a\x00-2 1\n",
            "a\x00-1 -1\n",
            "a\x003 +1\n",
            "a\x00 1\n",
            "a\x003 \n",
            "a\x003 1",
            "a\x003  1\n",
            "a\x00123456789012345678 1\n",
            "a\x001234567890123456789 1\n",
            "a\x003 1234567890123456789\n",
            "no nul 3 1\n",
        ] {
            for with_id in [true, false] {
                let mut record = text.as_bytes().to_vec();
                if with_id {
                    record.extend_from_slice(&id);
                }
                let old = Old::Bytes(record.clone());
                // A window of one byte never holds a whole record: the general reading.
                let general = tree_record(&mut Source::new(&old, 1), 0, record.len()).unwrap();
                if let Some(plain) = plain_tree_record(&record, 0) {
                    assert_eq!(Some(plain), general, "{text:?} {with_id}");
                    read_plainly += 1;
                }
                // Cut short: never read in one pass past its end.
                for cut in 0..record.len() {
                    let short = plain_tree_record(&record[..cut], 0);
                    assert!(short.is_none_or(|r| r.next <= cut), "{text:?} cut at {cut}");
                }
            }
        }
        assert!(read_plainly >= 6, "{read_plainly}");
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
        let out = invalidated_bytes(&tree, &Changed::from_paths(vec![b"b/c/d".to_vec()])).unwrap();
        let mut expected = Vec::new();
        expected.extend_from_slice(b"\0-1 2\n");
        expected.extend_from_slice(b"a\x001 0\n");
        expected.extend_from_slice(&id);
        expected.extend_from_slice(b"b\0-1 1\n");
        expected.extend_from_slice(b"c\0-1 0\n");
        assert_eq!(out, expected);
        // A changed path with another below it: everything in the first is invalid.
        let folders = ["a/b".to_string(), "a/c".to_string(), "d".to_string()].into_iter().collect();
        let trees = cached_trees(&folders, &|_| true);
        let changed = Changed::from_paths(vec![b"a/b".to_vec(), b"a".to_vec()]);
        let out = invalidated_bytes(&trees, &changed).unwrap();
        assert_eq!(Some(&out), invalidated_plainly(&trees, &changed).as_ref());
        assert!(out.windows(7).any(|w| w == b"c\0-1 0\n"), "a/c is invalid");
        assert!(invalidated_bytes(&tree[..tree.len() - 1], &Changed::from_paths(vec![])).is_none(), "a cut record");
        assert!(invalidated_bytes(b"\x00-1 1\n", &Changed::from_paths(vec![])).is_none(), "a missing subtree");
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
            /// or left to libgit2, never a panic; the splice does not depend on the old
            /// checksum (git does not check it outside `git fsck`); and an index libgit2 reads
            /// with its checksum made to match is still read after the splice.
            #[test]
            fn a_damaged_index_is_spliced_or_left_alone(
                changes in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 1..6),
            ) {
                let original = index_with_trees();
                prop_assert!(libgit2_reads(&original));
                let mut old = original.clone();
                for (at, byte) in changes {
                    let i = at.index(old.len() - CHECKSUM);
                    old[i] = byte;
                }
                let mut resummed = old.clone();
                let body = resummed.len() - CHECKSUM;
                let sum = Sha1::digest(&resummed[..body]);
                resummed[body..].copy_from_slice(&sum);
                let edits = [change("a", vec![file("a/y", b"4")]), change("b/c", vec![])];
                let new = spliced(&old, &edits);
                prop_assert_eq!(&new, &spliced(&resummed, &edits));
                if let Some(new) = new {
                    if libgit2_reads(&resummed) {
                        prop_assert!(libgit2_reads(&new));
                    }
                }
            }

            /// Any bytes as cached trees are rewritten or left out, never a panic.
            #[test]
            fn any_cached_trees_are_read_without_a_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
                let _ = invalidated_bytes(&data, &Changed::from_paths(vec![b"a/b".to_vec(), Vec::new()]));
            }

            /// The spliced index holds what `git add -- <paths>` leaves: every entry not at or
            /// below a changed path, and the new files; it is refused (left to libgit2) exactly
            /// when a kept entry is a folder above a new file. Paths with `-` and `0` sort
            /// right before and after a folder's `/`.
            #[test]
            fn a_splice_keeps_what_git_add_keeps(
                old in proptest::collection::btree_set("[ab]{1,2}(|0|[-/0][ab0]{1,2})(|/[ab])", 0..8),
                changed in proptest::collection::vec(("[ab]{1,2}(|[-/0][ab0]{1,2})", proptest::collection::vec("(|/[ab]{1,2})", 0..3)), 1..4),
            ) {
                // An index git could hold: no path is both a file and a folder.
                let old: Vec<String> = old.iter().filter(|p| !old.iter().any(|q| is_below(q.as_bytes(), p.as_bytes()))).cloned().collect();
                let index = index_of(old.iter().map(|p| file(p, p.as_bytes())).collect());
                prop_assert_eq!(paths(&index), old.clone());
                let changes: Vec<StagedPath> = changed
                    .iter()
                    .map(|(rel, below)| change(rel, below.iter().map(|b| file(&format!("{rel}{b}"), b"new")).collect()))
                    .collect();
                let at_or_below = |path: &str| changed.iter().any(|(rel, _)| path == rel || is_below(path.as_bytes(), rel.as_bytes()));
                let kept: Vec<&String> = old.iter().filter(|p| !at_or_below(p)).collect();
                let mut new_files: Vec<String> = changed.iter().flat_map(|(rel, below)| below.iter().map(move |b| format!("{rel}{b}"))).collect();
                new_files.sort();
                new_files.dedup();
                let clash = new_files.iter().any(|f| kept.iter().any(|k| is_below(f.as_bytes(), k.as_bytes())));
                match spliced(&index, &changes) {
                    None => prop_assert!(clash, "refused without a clash"),
                    Some(new) => {
                        prop_assert!(!clash, "spliced despite a clash");
                        let mut expected: Vec<String> = kept.into_iter().cloned().chain(new_files).collect();
                        expected.sort();
                        prop_assert_eq!(paths(&new), expected);
                    }
                }
            }

            /// The cached trees are rewritten as the plain way rewrites them: a folder at, above
            /// or below a changed path marked invalid, every other one kept.
            #[test]
            fn cached_trees_are_invalidated_as_the_plain_way_does(
                folders in proptest::collection::btree_set("[ab0-]{1,2}(|/[ab]{1,2})(|/[ab])", 0..10),
                invalid in proptest::collection::btree_set("(|[ab0-]{1,2})(|/[ab]{1,2})", 0..3),
                changed in proptest::collection::vec("(|[ab0-]{1,2})(|/[ab]{1,2})(|/[ab])", 0..4),
            ) {
                let data = cached_trees(&folders, &|path| !invalid.contains(path));
                let changed = Changed::from_paths(changed.iter().map(|c| c.as_bytes().to_vec()).collect());
                prop_assert_eq!(invalidated_bytes(&data, &changed), invalidated_plainly(&data, &changed));
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
