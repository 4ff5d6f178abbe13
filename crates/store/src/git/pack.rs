//! A bulk commit's new objects stored as one pack with its index, as `git index-pack` leaves
//! them in `objects/pack/`: a re-key of 1,000 secrets makes 1,000 blobs and about as many
//! folders, and one file each (a loose object) costs more than a pack of them all. No object is
//! stored as a delta (new encrypted files share nothing worth one), so each is its header and
//! its deflated content, deflated in parallel; the index is written beside it.
//!
//! The formats are git's (`gitformat-pack`): a pack of version 2 (`PACK`, version, count, the
//! entries, the SHA-1 of all that), its index of version 2 (magic, fan-out table, sorted ids,
//! CRC-32 of each entry, offsets with a table for those past 2 GiB, the pack's checksum, the
//! index's own checksum), both named `pack-<pack checksum>` and made read-only as git makes
//! them. The pack is renamed into place before its index: git and libgit2 only look at a pack
//! that has an index, so a reader never sees half of one. Object ids are computed by libgit2
//! (`git_odb_hash`), with the collision detection git uses for new objects.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use flate2::write::ZlibEncoder;
use flate2::Compression;
use git2::{ObjectType, Oid};
use rayon::prelude::*;
use sha1::{Digest, Sha1};

/// New objects kept in memory until they are written as one pack.
#[derive(Default)]
pub(super) struct Pending {
    objects: RefCell<Vec<(ObjectType, Oid, Vec<u8>)>>,
    seen: RefCell<HashSet<Oid>>,
}

impl Pending {
    /// Keeps the object of `kind` with `data`, returning its id (an object kept already is
    /// kept once).
    pub(super) fn add(&self, kind: ObjectType, data: &[u8]) -> Result<Oid, git2::Error> {
        let id = Oid::hash_object(kind, data)?;
        if self.seen.borrow_mut().insert(id) {
            self.objects.borrow_mut().push((kind, id, data.to_vec()));
        }
        Ok(id)
    }

    /// Writes the objects kept so far as one pack into `objects_dir/pack` and forgets them;
    /// nothing is written when there are none.
    pub(super) fn write(&self, objects_dir: &Path) -> io::Result<()> {
        let objects = std::mem::take(&mut *self.objects.borrow_mut());
        if objects.is_empty() {
            return Ok(());
        }
        let packed = Packed::of(&objects)?;
        let folder = objects_dir.join("pack");
        fs::create_dir_all(&folder)?;
        let name = format!("pack-{}", hex::encode(packed.checksum));
        let pack = format!("{name}.pack");
        put_in_place(&folder, &pack, &packed.pack)?;
        // A pack without its index is garbage to git (`git count-objects` warns of it): a
        // failure to write the index (a full disk) takes the pack away again.
        if let Err(e) = packed.index(&objects).and_then(|index| put_in_place(&folder, &format!("{name}.idx"), &index)) {
            let _ = fs::remove_file(folder.join(&pack));
            return Err(e);
        }
        crate::journal::sync_dir(Some(&folder));
        Ok(())
    }
}

/// The pack's bytes, with where each object's entry starts and its CRC-32 (in the order the
/// objects were kept).
struct Packed {
    pack: Vec<u8>,
    offsets: Vec<u64>,
    crcs: Vec<u32>,
    checksum: [u8; 20],
}

impl Packed {
    fn of(objects: &[(ObjectType, Oid, Vec<u8>)]) -> io::Result<Packed> {
        let entries: Vec<Vec<u8>> = objects.par_iter().map(|(kind, _, data)| entry(*kind, data)).collect::<io::Result<_>>()?;
        let count = u32::try_from(objects.len()).map_err(|_| io::Error::other("too many objects for one pack"))?;
        let mut pack = Vec::with_capacity(12 + entries.iter().map(Vec::len).sum::<usize>() + 20);
        pack.extend_from_slice(b"PACK");
        pack.extend_from_slice(&2u32.to_be_bytes());
        pack.extend_from_slice(&count.to_be_bytes());
        let mut offsets = Vec::with_capacity(entries.len());
        let mut crcs = Vec::with_capacity(entries.len());
        for entry in &entries {
            offsets.push(pack.len() as u64);
            crcs.push(crc32fast::hash(entry));
            pack.extend_from_slice(entry);
        }
        let checksum: [u8; 20] = Sha1::digest(&pack).into();
        pack.extend_from_slice(&checksum);
        Ok(Packed { pack, offsets, crcs, checksum })
    }

    /// The pack's index (version 2).
    fn index(&self, objects: &[(ObjectType, Oid, Vec<u8>)]) -> io::Result<Vec<u8>> {
        let mut order: Vec<usize> = (0..objects.len()).collect();
        order.sort_by(|a, b| objects[*a].1.as_bytes().cmp(objects[*b].1.as_bytes()));
        let mut out = Vec::with_capacity(8 + 1024 + objects.len() * 28 + 40);
        out.extend_from_slice(b"\xfftOc");
        out.extend_from_slice(&2u32.to_be_bytes());
        let mut fan_out = [0u32; 256];
        for (_, id, _) in objects {
            fan_out[usize::from(id.as_bytes()[0])] += 1;
        }
        let mut total = 0u32;
        for count in fan_out {
            total += count;
            out.extend_from_slice(&total.to_be_bytes());
        }
        for i in &order {
            out.extend_from_slice(objects[*i].1.as_bytes());
        }
        for i in &order {
            out.extend_from_slice(&self.crcs[*i].to_be_bytes());
        }
        // Offsets past 2 GiB go to a table of 8-byte offsets, named by position with the high
        // bit set.
        let mut large = Vec::new();
        for i in &order {
            let offset = self.offsets[*i];
            let small = match u32::try_from(offset) {
                Ok(small) if small < 0x8000_0000 => small,
                _ => {
                    let at = u32::try_from(large.len()).map_err(|_| io::Error::other("pack too large"))?;
                    large.push(offset);
                    0x8000_0000 | at
                }
            };
            out.extend_from_slice(&small.to_be_bytes());
        }
        for offset in large {
            out.extend_from_slice(&offset.to_be_bytes());
        }
        out.extend_from_slice(&self.checksum);
        let own: [u8; 20] = Sha1::digest(&out).into();
        out.extend_from_slice(&own);
        Ok(out)
    }
}

/// One object's entry in a pack: its type and size in git's variable-length header, then its
/// content deflated (git's loose-object level: fastest, as nothing here compresses much).
fn entry(kind: ObjectType, data: &[u8]) -> io::Result<Vec<u8>> {
    let code: u8 = match kind {
        ObjectType::Commit => 1,
        ObjectType::Tree => 2,
        ObjectType::Blob => 3,
        ObjectType::Tag => 4,
        ObjectType::Any => return Err(io::Error::other("an object without a type")),
    };
    let mut out = Vec::with_capacity(data.len() / 2 + 32);
    let mut size = data.len() as u64;
    // The low four bits of the size share the first byte with the type.
    #[allow(clippy::cast_possible_truncation)]
    let mut byte = (code << 4) | (size & 0x0f) as u8;
    size >>= 4;
    while size != 0 {
        out.push(byte | 0x80);
        #[allow(clippy::cast_possible_truncation)]
        {
            byte = (size & 0x7f) as u8;
        }
        size >>= 7;
    }
    out.push(byte);
    let mut encoder = ZlibEncoder::new(out, Compression::fast());
    encoder.write_all(data)?;
    encoder.finish()
}

/// Writes `bytes` to `folder/name` through a new temporary file, synced, made read-only and
/// renamed into place (a pack of the same name holds the same objects: it is replaced).
fn put_in_place(folder: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let temp = tempfile::Builder::new().prefix("tmp_pack_").tempfile_in(folder).map_err(without_path)?;
    let mut file: &File = temp.as_file();
    file.write_all(bytes)?;
    file.sync_all()?;
    file.set_permissions(fs::Permissions::from_mode(0o444))?;
    temp.persist(folder.join(name)).map_err(|e| e.error)?;
    Ok(())
}

/// The system's error under one that names the temporary file (as `tempfile` words its
/// errors): the caller names the folder, once.
fn without_path(e: io::Error) -> io::Error {
    let code = e
        .get_ref()
        .and_then(std::error::Error::source)
        .and_then(|source| source.downcast_ref::<io::Error>())
        .and_then(io::Error::raw_os_error);
    code.map_or(e, io::Error::from_raw_os_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::tests::git;

    /// git reads the pack, its index is the one `git index-pack` makes of it byte for byte, and
    /// every object reads back as it was kept.
    #[test]
    fn git_reads_the_pack_and_makes_the_same_index() {
        let dir = tempfile::tempdir().unwrap();
        let repo = git2::Repository::init(dir.path()).unwrap();
        let pending = Pending::default();
        let mut kept = Vec::new();
        for i in 0..300u32 {
            let data: Vec<u8> = (0..i * 7).map(|b| (b * 31 + i).to_le_bytes()[0]).collect();
            kept.push((pending.add(ObjectType::Blob, &data).unwrap(), data));
        }
        // A large object, whose size takes several header bytes, and a repeated one.
        let big = vec![7u8; 1 << 20];
        kept.push((pending.add(ObjectType::Blob, &big).unwrap(), big));
        pending.add(ObjectType::Blob, &kept[3].1).unwrap();
        let tree = [&b"100644 a\0"[..], kept[0].0.as_bytes()].concat();
        let tree_id = pending.add(ObjectType::Tree, &tree).unwrap();
        pending.write(&dir.path().join(".git/objects")).unwrap();
        pending.write(&dir.path().join(".git/objects")).unwrap(); // nothing left: no second pack

        let packs: Vec<_> = fs::read_dir(dir.path().join(".git/objects/pack")).unwrap().map(|e| e.unwrap().path()).collect();
        assert_eq!(packs.len(), 2, "{packs:?}");
        let pack = packs.iter().find(|p| p.extension().is_some_and(|e| e == "pack")).unwrap();
        let index = pack.with_extension("idx");
        assert_eq!(fs::metadata(pack).unwrap().permissions().mode() & 0o777, 0o444);
        git(dir.path(), &["verify-pack", index.to_str().unwrap()]);
        let copy = dir.path().join("copy.pack");
        fs::copy(pack, &copy).unwrap();
        git(dir.path(), &["index-pack", copy.to_str().unwrap()]);
        assert_eq!(fs::read(copy.with_extension("idx")).unwrap(), fs::read(&index).unwrap());

        let odb = repo.odb().unwrap();
        for (id, data) in &kept {
            assert_eq!(odb.read(*id).unwrap().data(), data.as_slice());
        }
        assert_eq!(odb.read(tree_id).unwrap().kind(), ObjectType::Tree);
        let listed = git(dir.path(), &["cat-file", "--batch-all-objects", "--batch-check"]);
        assert_eq!(listed.lines().count(), kept.len() + 1);
    }

    /// The header's size takes as many 7-bit groups as it needs.
    #[test]
    fn entry_headers_follow_git() {
        let header = |size: usize| {
            let data = vec![0u8; size];
            let entry = entry(ObjectType::Blob, &data).unwrap();
            entry[..=entry.iter().position(|b| b & 0x80 == 0).unwrap()].to_vec()
        };
        assert_eq!(header(0), [0x30]);
        assert_eq!(header(15), [0x3f]);
        assert_eq!(header(16), [0xb0, 0x01]);
        assert_eq!(header(2047), [0xbf, 0x7f]);
        assert_eq!(header(2048), [0xb0, 0x80, 0x01]);
    }
}
