//! `sops decrypt` of a dotenv file a part at a time, so that a large file never has its whole
//! tree in memory: only the input, the output and one part of about [`PART`] bytes, whose
//! memory the next part reuses while it is still in the cache.
//!
//! sops reads the whole file into a tree, decrypts it, checks the MAC and prints the tree. The
//! result here is the same, byte for byte: each part goes through the stages of the whole-tree
//! path ([`super::parse`], [`crypt::decrypt_branch`], [`super::write_branch`]) in file order,
//! and the MAC is summed over the values in the same order. Nothing is handed back before the
//! MAC is verified.
//!
//! The data key is needed before the first value, and the metadata lines (`sops_…`) may stand
//! anywhere (sops writes them last): a first, cheap pass reads those lines alone. A part ends
//! after a line of data, never after a comment or a metadata line, so that a comment is walked
//! with the entry it stands before, as the comment rules of the selection need. On anything
//! this path does not expect (a line that does not parse, a value that does not decrypt, a MAC
//! that does not match) it gives up, and the whole-tree path runs and reports exactly what it
//! always did.

use std::sync::{Arc, Condvar, Mutex};

use rayon::prelude::*;

use zeroize::Zeroize;

use super::{parse, take_metadata, write_branch, METADATA_PREFIX};
use crate::crypt::{self, CryptSettings};
use crate::file::DecryptSession;
use crate::keys::DataKey;
use crate::mac::{self, MacHasher};
use crate::selection::Selector;
use crate::stores::flat;
use crate::tree::Map;
use crate::warning::Warning;

/// About how many bytes of the input one part holds.
const PART: usize = 64 << 10;

/// The output is kept in pieces of about this size: a buffer that grows by doubling would
/// hold up to twice the output, and three times while it moves.
const PIECE: usize = 1 << 20;

/// Decrypts `input` into what the dotenv store's `emit_plain` writes for it, in pieces to be
/// written one after the other. `None` when this path gives up (see the module docs).
///
/// Parts are parsed and decrypted on every core; their MAC bytes and output are taken in file
/// order as they come.
pub(super) fn decrypt(input: &[u8], session: &mut DecryptSession<'_>) -> Option<Vec<Vec<u8>>> {
    let (metadata, key) = session.open(&metadata_lines(input)?)?;
    let selector = Selector::new(metadata.selection.as_ref()).ok()?;
    let settings = CryptSettings { selector: &selector, mac_only_encrypted: metadata.mac_only_encrypted };
    let mut parts = Vec::new();
    let mut start = 0;
    while start < input.len() {
        let end = part_end(input, start);
        parts.push(&input[start..end]);
        start = end;
    }
    let mut mac = MacHasher::new(metadata.mac_only_encrypted);
    let mut warnings = Vec::new();
    let mut out = Output { pieces: Vec::new(), current: Vec::with_capacity(PIECE.min(input.len())) };
    let take = |mut part: Part| -> Option<()> {
        mac.absorb(&part.mac);
        warnings.append(&mut part.warnings);
        out.write(&part.branch, part.read)
    };
    let decrypt = |part: &[u8]| Part::decrypt(part, &key, &settings);
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    in_order_on_threads(&parts, cores.min(parts.len()), decrypt, take)?;
    if !session.ignore_mac() && mac::verify_mac(metadata.mac.as_deref(), &mac.finish(), &key, &metadata.last_modified).is_err() {
        return None;
    }
    session.warn(warnings);
    Some(out.finish())
}

/// Decrypts `parts` on `threads` threads of a pool of its own and gives each, in order, to
/// `take`; `None` as soon as a part does not decrypt or `take` refuses one.
///
/// Parts are decrypted a window at a time, the next window while the parts of the last are
/// taken. The pool's threads have ended when this returns, rather than waiting for more work:
/// a waiting thread keeps in its vector registers the last plaintext it copied, where a
/// debugger or a core dump of the process would find it.
fn in_order_on_threads(
    parts: &[&[u8]],
    threads: usize,
    decrypt: impl Fn(&[u8]) -> Option<Part> + Sync,
    mut take: impl FnMut(Part) -> Option<()> + Send,
) -> Option<()> {
    let mut take_all = move |decrypted: Vec<Option<Part>>| decrypted.into_iter().try_for_each(|part| take(part?));
    let running = Arc::new((Mutex::new(threads), Condvar::new()));
    let ended = Arc::clone(&running);
    let pool = (threads >= 2).then(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .exit_handler(move |_| {
                let (count, changed) = &*ended;
                if let Ok(mut count) = count.lock() {
                    *count -= 1;
                }
                changed.notify_all();
            })
            .build()
    });
    // One thread, or no pool to be had: the parts in turn, here.
    let Some(Ok(pool)) = pool else {
        return parts.iter().try_for_each(|part| take_all(vec![decrypt(part)]));
    };
    let taken = pool.install(|| {
        let decrypt_window = |window: &[&[u8]]| -> Vec<Option<Part>> { window.par_iter().map(|part| decrypt(part)).collect() };
        let mut windows = parts.chunks(WINDOW_PER_THREAD * threads);
        let mut ready = windows.next().map(decrypt_window).unwrap_or_default();
        loop {
            let Some(window) = windows.next() else {
                return take_all(ready);
            };
            let (taken, following) = rayon::join(|| take_all(ready), || decrypt_window(window));
            // What the next window decrypted is dropped (and wiped) if this one failed.
            taken?;
            ready = following;
        }
    });
    drop(pool);
    let (count, changed) = &*running;
    let mut count = count.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    while *count > 0 {
        count = changed.wait(count).unwrap_or_else(std::sync::PoisonError::into_inner);
    }
    taken
}

/// How many parts each thread is given per window.
const WINDOW_PER_THREAD: usize = 2;

/// One part, decrypted: its entries, the bytes its values add to the MAC, and its warnings.
struct Part {
    branch: Map,
    mac: MacHasher,
    warnings: Vec<Warning>,
    /// How many bytes of input it was read from.
    read: usize,
}

impl Part {
    fn decrypt(part: &[u8], key: &DataKey, settings: &CryptSettings<'_>) -> Option<Part> {
        let mut decrypted = Part { branch: parse(part).ok()?, mac: MacHasher::recording(), warnings: Vec::new(), read: part.len() };
        take_metadata(&mut decrypted.branch).ok()?;
        crypt::decrypt_branch(&mut decrypted.branch, key, settings, None, &mut decrypted.warnings, &mut decrypted.mac).ok()?;
        Some(decrypted)
    }
}

impl Drop for Part {
    fn drop(&mut self) {
        self.branch.zeroize();
    }
}

/// The metadata as the whole-file path reads it: every line that starts with the prefix, parsed
/// and unflattened. `None` when there is none or one does not read.
fn metadata_lines(input: &[u8]) -> Option<Map> {
    let first = input.starts_with(METADATA_PREFIX.as_bytes()).then_some(0);
    let others = memchr::memmem::find_iter(input, b"\nsops_").map(|at| at + 1);
    let mut lines = Map::new();
    for start in first.into_iter().chain(others) {
        let end = memchr::memchr(b'\n', &input[start..]).map_or(input.len(), |len| start + len);
        lines.0.append(&mut parse(&input[start..end]).ok()?.0);
    }
    let pairs = take_metadata(&mut lines).ok()?;
    if pairs.is_empty() || !lines.0.is_empty() {
        return None;
    }
    flat::unflatten(pairs).ok()
}

/// Where the part that starts at `start` ends: just after the first line of data (not empty,
/// not a comment, not metadata) that reaches [`PART`] bytes past `start`, or at the end.
fn part_end(input: &[u8], start: usize) -> usize {
    let mut at = start + PART;
    while at < input.len() {
        let line_start = memchr::memrchr(b'\n', &input[start..at]).map_or(start, |i| start + i + 1);
        let line_end = memchr::memchr(b'\n', &input[at..]).map_or(input.len(), |i| at + i);
        let line = &input[line_start..line_end];
        if !line.is_empty() && line[0] != b'#' && !line.starts_with(METADATA_PREFIX.as_bytes()) {
            return (line_end + 1).min(input.len());
        }
        at = line_end + 1;
    }
    input.len()
}

/// The plaintext written so far, wiped if it is never handed back.
struct Output {
    pieces: Vec<Vec<u8>>,
    current: Vec<u8>,
}

impl Output {
    /// Writes a decrypted part read from `read` bytes of input, in a new piece when the current
    /// one has no room for as much.
    fn write(&mut self, branch: &Map, read: usize) -> Option<()> {
        if self.current.capacity() - self.current.len() < read && !self.current.is_empty() {
            let full = std::mem::replace(&mut self.current, Vec::with_capacity(PIECE.max(read)));
            self.pieces.push(full);
        }
        write_branch(branch, &mut self.current).ok()
    }

    fn finish(mut self) -> Vec<Vec<u8>> {
        let mut pieces = std::mem::take(&mut self.pieces);
        pieces.push(std::mem::take(&mut self.current));
        pieces
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        self.pieces.iter_mut().for_each(Zeroize::zeroize);
        self.current.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parts come back in file order whichever thread finishes first, and nothing is taken
    /// after one that does not decrypt.
    #[test]
    fn parts_are_taken_in_order_and_not_after_a_failure() {
        let input = [b'x'; 200];
        // Part `i` is `i + 1` bytes long: its length says which it was.
        let parts: Vec<&[u8]> = (0..19).map(|i| &input[..=i]).collect();
        let decrypt = |part: &[u8]| {
            // Later parts finish sooner, so they arrive before their turn.
            std::thread::sleep(std::time::Duration::from_micros(200 * (20 - part.len() as u64)));
            (part.len() != 13).then(|| Part { branch: Map::new(), mac: MacHasher::recording(), warnings: Vec::new(), read: part.len() })
        };
        for threads in [1, 2, 3, 8] {
            let mut taken = Vec::new();
            assert_eq!(
                in_order_on_threads(&parts[..12], threads, decrypt, |part| {
                    taken.push(part.read);
                    Some(())
                }),
                Some(())
            );
            assert_eq!(taken, (1..=12).collect::<Vec<_>>(), "{threads} threads");
            let mut taken = Vec::new();
            assert_eq!(
                in_order_on_threads(&parts, threads, decrypt, |part| {
                    taken.push(part.read);
                    Some(())
                }),
                None
            );
            assert_eq!(taken, (1..=12).collect::<Vec<_>>(), "{threads} threads, part 13 failing");
        }
    }

    #[test]
    fn parts_end_after_a_line_of_data() {
        let comment = format!("#{}\n", "c".repeat(PART));
        let input = format!("A=1\n{comment}sops_x=1\n\nB=2\nC=3\n");
        let end = part_end(input.as_bytes(), 0);
        assert_eq!(&input[..end], format!("A=1\n{comment}sops_x=1\n\nB=2\n"));
        assert_eq!(part_end(input.as_bytes(), end), input.len());
        assert_eq!(part_end(b"A=1", 0), 3);
    }
}

#[cfg(test)]
mod file_tests {
    use crate::keys::Identities;
    use crate::metadata::SelectionRule;
    use crate::stores::dotenv::DotenvStore;
    use crate::stores::Store;
    use crate::test_support::{decrypted_whole, read, vector_identities, VECTORS};
    use crate::{decrypt_to_plain, encrypt, DecryptOptions, DecryptSession, EncryptOptions, EncryptedFile, Format};

    const CASES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/flat-cases/dotenv");

    fn alice() -> Identities {
        vector_identities()
    }

    /// The whole-tree path: parse, decrypt, print.
    fn whole(input: &[u8], ids: &Identities, options: DecryptOptions) -> crate::Result<Vec<u8>> {
        decrypted_whole(input, Format::Dotenv, ids, options)
    }

    /// The streaming path alone; `None` when it gives up.
    fn streamed(input: &[u8], ids: &Identities, options: DecryptOptions) -> Option<Vec<u8>> {
        let mut session = DecryptSession::new(ids, options);
        DotenvStore.decrypt_streaming(input, Format::Dotenv, &mut session).map(|pieces| pieces.concat())
    }

    fn show(b: &[u8]) -> String {
        String::from_utf8_lossy(b).into_owned()
    }

    fn encrypted(plain: &str, selection: Option<SelectionRule>, mac_only_encrypted: bool) -> Vec<u8> {
        let ids = alice();
        let options = EncryptOptions {
            key_groups: vec![vec![ids.public_keys()[0].clone()]],
            selection,
            mac_only_encrypted,
            ..EncryptOptions::default()
        };
        let data = crate::parse_plain(plain.as_bytes(), Format::Dotenv).unwrap();
        encrypt(data, Format::Dotenv, &options).unwrap().to_bytes().unwrap()
    }

    /// Many entries, some under a comment, some multi-line, some with the suffix that keeps
    /// them plain: a file of many parts, whose part ends fall on every kind of line.
    fn many_entries() -> String {
        let mut plain = String::new();
        for i in 0..4000 {
            if i % 3 == 0 {
                plain.push_str(&format!("# keep {i}\n"));
            }
            match i % 5 {
                0 => plain.push_str(&format!("PLAIN{i}_unencrypted=value {i}\n")),
                1 => plain.push_str(&format!("MULTI{i}=line one\\nline {i}\n")),
                _ => plain.push_str(&format!("KEY{i}={}\n", "v".repeat(i % 97))),
            }
        }
        plain
    }

    #[test]
    fn files_sops_wrote_print_the_same_bytes() {
        let ids = alice();
        let mut files = vec![format!("{VECTORS}/enc/basic.env")];
        for entry in std::fs::read_dir(CASES).unwrap() {
            let path = entry.unwrap().path().display().to_string();
            if path.ends_with(".enc.env") {
                files.push(path);
            }
        }
        let mut count = 0;
        for file in files {
            let input = read(&file);
            let want = whole(&input, &ids, DecryptOptions::default()).unwrap();
            assert_eq!(streamed(&input, &ids, DecryptOptions::default()).map(|b| show(&b)), Some(show(&want)), "{file}");
            count += 1;
        }
        assert!(count >= 4, "{count}");
    }

    /// Every selection rule, over a file of many parts: a part that ended after a comment
    /// would decrypt (or not) the entry under it differently from the whole-tree path.
    #[test]
    fn many_parts_print_what_the_whole_tree_prints() {
        let ids = alice();
        let plain = many_entries();
        let rules = [
            None,
            Some(SelectionRule::EncryptedCommentRegex("^ keep".into())),
            Some(SelectionRule::UnencryptedCommentRegex("^ keep".into())),
            Some(SelectionRule::EncryptedRegex("^MULTI".into())),
        ];
        for rule in rules {
            for mac_only_encrypted in [false, true] {
                let input = encrypted(&plain, rule.clone(), mac_only_encrypted);
                assert!(input.len() > 4 * super::PART, "{}", input.len());
                let want = whole(&input, &ids, DecryptOptions::default()).unwrap();
                let got = streamed(&input, &ids, DecryptOptions::default());
                assert_eq!(got.map(|b| show(&b)), Some(show(&want)), "{rule:?} {mac_only_encrypted}");
            }
        }
    }

    #[test]
    fn tampered_files_give_nothing_and_the_metadata_may_stand_anywhere() {
        let ids = alice();
        let input = show(&encrypted(&many_entries(), None, false));
        // A value changed, deep in the file: it does not decrypt.
        let at = input[input.len() / 2..].find("=ENC[AES256_GCM,data:").unwrap() + input.len() / 2 + 25;
        let mut changed = input.clone();
        changed.replace_range(at..=at, if &input[at..=at] == "A" { "B" } else { "A" });
        assert!(whole(changed.as_bytes(), &ids, DecryptOptions::default()).is_err());
        assert!(streamed(changed.as_bytes(), &ids, DecryptOptions::default()).is_none());
        // A plain value changed: the MAC does not match, unless it is not checked.
        let changed = input.replacen("value 10\n", "value 11\n", 1);
        assert_ne!(changed, input);
        assert!(whole(changed.as_bytes(), &ids, DecryptOptions::default()).is_err());
        assert!(streamed(changed.as_bytes(), &ids, DecryptOptions::default()).is_none());
        let ignoring = DecryptOptions { ignore_mac: true };
        let want = whole(changed.as_bytes(), &ids, ignoring).unwrap();
        assert_eq!(streamed(changed.as_bytes(), &ids, ignoring).map(|b| show(&b)), Some(show(&want)));
        // The metadata first, or in the middle.
        let (data, meta) = input.split_at(input.find("\nsops_").unwrap() + 1);
        let middle = data.len() / 2 + data[data.len() / 2..].find('\n').unwrap() + 1;
        for moved in [format!("{meta}{data}"), format!("{}{meta}{}", &data[..middle], &data[middle..])] {
            let want = whole(moved.as_bytes(), &ids, DecryptOptions::default()).unwrap();
            assert_eq!(streamed(moved.as_bytes(), &ids, DecryptOptions::default()).map(|b| show(&b)), Some(show(&want)));
        }
        // A line that does not parse, and no metadata at all: left to the whole-tree path.
        let broken = format!("{data}no equals sign\n{meta}");
        assert!(whole(broken.as_bytes(), &ids, DecryptOptions::default()).is_err());
        assert!(streamed(broken.as_bytes(), &ids, DecryptOptions::default()).is_none());
        assert!(streamed(data.as_bytes(), &ids, DecryptOptions::default()).is_none());
    }

    /// A comment written in clear into an encrypted file: both paths print it and warn alike.
    #[test]
    fn unencrypted_comments_warn_as_the_whole_tree_path_does() {
        let ids = alice();
        let input = show(&encrypted(&many_entries(), None, false));
        let at = input.len() / 2 + input[input.len() / 2..].find('\n').unwrap() + 1;
        let added = format!("{}#written in clear\n{}", &input[..at], &input[at..]);
        let plain =
            EncryptedFile::parse(added.as_bytes(), Format::Dotenv).unwrap().into_decrypted(&ids, DecryptOptions::default()).unwrap();
        assert_eq!(plain.warnings().len(), 1);
        let via_stream = decrypt_to_plain(added.into_bytes(), Format::Dotenv, &DotenvStore, &ids, DecryptOptions::default()).unwrap();
        assert_eq!(via_stream.warnings, plain.warnings());
        assert_eq!(show(&via_stream.into_bytes()), show(&DotenvStore.emit_plain(&plain.data).unwrap()));
    }
}
