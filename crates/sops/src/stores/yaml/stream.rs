//! `sops decrypt` of a YAML file one top-level entry at a time, so that a large file never
//! has its whole node arena or tree in memory: only the input, the output and one entry.
//!
//! sops itself reads the whole file into a tree, decrypts it, checks the MAC and prints the
//! tree. The result here is the same, byte for byte: the stages are the ones the whole-tree
//! path runs ([`super::compose`], [`super::convert`], [`crate::crypt`], [`super::emit`]), each
//! given one top-level entry in document order with the comments around it, and the MAC is
//! summed over the values in the same order. Nothing is printed before the MAC is verified: the
//! output stays in a buffer that is handed back only at the end.
//!
//! The data key is needed before the first entry, and the metadata (`sops:`) comes last in
//! every file sops writes: a first, cheap pass reads that last entry alone. When the full read
//! reaches the real `sops` entry it must be the same, or this path gives up. It gives up too on
//! anything it does not handle the whole-tree way (anchors, several documents, a root that is
//! not a block mapping, repeated top-level keys) and on any error, so that the whole-tree path
//! runs instead and reports exactly what it always did.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};

use zeroize::Zeroize;

use super::compose::{Composer, NodeId};
use super::convert::{push_map_comments, Converter};
use super::emit::{finish_parts, start_parts, write_part};
use super::emitter::Emitter;
use super::{compose_documents, encrypted_from_nodes, parser, scan, source, METADATA_KEY};
use crate::crypt::{self, CryptSettings};
use crate::file::DecryptSession;
use crate::keys::DataKey;
use crate::mac::{self, MacHasher};
use crate::selection::Selector;
use crate::tree::{Map, MapItem, Value};
use crate::warning::Warning;

/// The metadata of a file laid out as sops writes it: the top-level `sops:` entry that starts
/// the last line beginning with `sops:`, read on its own. `None` when there is no such line or
/// what follows it does not read as that entry.
fn metadata_at_end(text: &str) -> Option<Map> {
    let at = match text.rfind("\nsops:") {
        Some(i) => i + 1,
        None if text.starts_with("sops:") => 0,
        None => return None,
    };
    let (_, metadata) = encrypted_from_nodes(compose_documents(&text.as_bytes()[at..]).ok()?).ok()?;
    Some(metadata)
}

/// The output is kept in pieces of about this size: a buffer that grows by doubling would
/// hold up to twice the output, and three times while it moves.
const PIECE: usize = 1 << 20;

/// Inputs at least this large are streamed only when their top level has many entries.
const LARGE: usize = 1 << 20;

/// Whether no top-level entry of `text` holds a large share of it, judged from the lines that
/// start with something else than a space, a comment, a list item or a line break. A file of
/// one huge entry (one long list, one large value) gains nothing from being read an entry at a
/// time, and the whole-tree path lets go of its input before building the tree.
fn spread_over_entries(text: &str) -> bool {
    let bytes = text.as_bytes();
    let (mut last, mut widest) = (0, 0);
    let mut at = 0;
    while let Some(newline) = bytes[at..].iter().position(|&b| b == b'\n') {
        at += newline + 1;
        if bytes.get(at).is_some_and(|b| !matches!(b, b' ' | b'\t' | b'#' | b'-' | b'\r' | b'\n')) {
            widest = widest.max(at - last);
            last = at;
        }
    }
    widest.max(bytes.len() - last) <= bytes.len() / 4
}

/// Decrypts `text` (the whole file, UTF-8 already checked) into what the YAML store's
/// `emit_plain` writes for it with `indent`, in pieces to be written one after the other.
/// `None` when this path gives up (see the module docs); the caller then takes the whole-tree
/// path.
pub(super) fn decrypt(text: &str, indent: usize, session: &mut DecryptSession<'_>) -> Option<Vec<Vec<u8>>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.len() >= LARGE && !spread_over_entries(text) {
        return None;
    }
    let expected = metadata_at_end(text)?;
    let (metadata, key) = session.open(&expected)?;
    let selector = Selector::new(metadata.selection.as_ref()).ok()?;
    let settings = CryptSettings { selector: &selector, mac_only_encrypted: metadata.mac_only_encrypted };
    let src = source::Source::new(text);
    let mut stream = Stream {
        composer: Composer::new(parser::Events::new(scan::Tokens::new(&src))),
        emitter: Emitter::new(indent),
        indent,
        pending: Map::new(),
        started: false,
        metadata_found: false,
        expected,
        key: &key,
        settings: &settings,
        mac: MacHasher::new(metadata.mac_only_encrypted),
        warnings: Vec::new(),
        pieces: Vec::new(),
    };
    stream.emitter.out.reserve(PIECE.min(text.len()));
    let mut out = stream.run()?;
    let computed = std::mem::replace(&mut stream.mac, MacHasher::new(false)).finish();
    if !session.ignore_mac() && mac::verify_mac(metadata.mac.as_deref(), &computed, &key, &metadata.last_modified).is_err() {
        out.iter_mut().for_each(Zeroize::zeroize);
        return None;
    }
    session.warn(std::mem::take(&mut stream.warnings));
    Some(out)
}

/// The state of one streaming decrypt.
struct Stream<'s, 'a, 'k> {
    composer: Composer<'s, 'a>,
    emitter: Emitter<'static>,
    indent: usize,
    /// Comments read but not written yet: they go before the next entry, or after the last.
    pending: Map,
    /// Whether the top-level mapping's start is written.
    started: bool,
    metadata_found: bool,
    /// The metadata the first pass read.
    expected: Map,
    key: &'k DataKey,
    settings: &'k CryptSettings<'k>,
    mac: MacHasher,
    warnings: Vec<Warning>,
    /// The output written so far, but for what the emitter holds.
    pieces: Vec<Vec<u8>>,
}

/// Output that never leaves (a tampered value, a MAC mismatch, a fall-back to the whole-file
/// path) is wiped with the stream.
impl Drop for Stream<'_, '_, '_> {
    fn drop(&mut self) {
        self.pieces.iter_mut().for_each(Zeroize::zeroize);
        self.emitter.out.zeroize();
    }
}

impl Stream<'_, '_, '_> {
    /// Reads, decrypts and writes every entry; the output, its MAC not checked yet.
    fn run(&mut self) -> Option<Vec<Vec<u8>>> {
        let (doc, root) = self.composer.start_root_mapping().ok()??;
        for id in [doc, root] {
            let node = &self.composer.nodes[id];
            push_map_comments(node.head(), &mut self.pending);
            push_map_comments(node.line_comment(), &mut self.pending);
        }
        let mut keys = HashSet::new();
        // An entry is written once the next key is attached or the mapping has ended: until
        // then a comment may still move onto its key.
        let mut held: Option<(NodeId, NodeId)> = None;
        while let Some(k) = self.composer.next_root_child(doc, root).ok()? {
            if let Some((hk, hv)) = held.take() {
                self.entry(hk, hv)?;
                self.composer.nodes.free_before(k, root);
                self.composer.forget_children(root);
            }
            let v = self.composer.next_root_child(doc, root).ok()??;
            // An alias could read a node again after its text moved into an entry; go-yaml
            // refuses repeated top-level keys of an encrypted file.
            if self.composer.has_anchors() {
                return None;
            }
            let node = &self.composer.nodes[k];
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            (node.kind, &*node.value).hash(&mut hasher);
            if !keys.insert(hasher.finish()) {
                return None;
            }
            held = Some((k, v));
        }
        if let Some((hk, hv)) = held {
            self.entry(hk, hv)?;
        }
        for id in [root, doc] {
            push_map_comments(self.composer.nodes[id].foot(), &mut self.pending);
        }
        if !self.composer.at_stream_end().ok()? || !self.metadata_found {
            return None;
        }
        let mut trailing = std::mem::take(&mut self.pending);
        crypt::decrypt_branch(&mut trailing, self.key, self.settings, None, &mut self.warnings, &mut self.mac).ok()?;
        let texts: Vec<&str> = comments(&trailing);
        let mut e = self.emitter();
        if self.started {
            finish_parts(&mut e, &texts).ok()?;
        } else {
            start_parts(&mut e, &texts).ok()?;
            finish_parts(&mut e, &[]).ok()?;
        }
        let last = std::mem::take(&mut e.out);
        trailing.zeroize();
        let mut pieces = std::mem::take(&mut self.pieces);
        pieces.push(last.into_bytes());
        Some(pieces)
    }

    /// The emitter, taken out of the stream to be given events that borrow from an entry.
    fn emitter<'e>(&mut self) -> Emitter<'e> {
        std::mem::replace(&mut self.emitter, Emitter::new(self.indent)).rebind()
    }

    /// Converts, decrypts and writes the entry of key `k` and value `v`.
    fn entry(&mut self, k: NodeId, v: NodeId) -> Option<()> {
        let mut items = std::mem::take(&mut self.pending);
        Converter::new(&mut self.composer.nodes, false, true).root_entry(k, v, &mut items).ok()?;
        let at = items.0.iter().rposition(|i| matches!(i, MapItem::Entry(..)))?;
        // The comments after the entry go with the next one.
        self.pending = Map(items.0.split_off(at + 1));
        if matches!(items.0.last(), Some(MapItem::Entry(key, _)) if key == METADATA_KEY) {
            let Some(MapItem::Entry(_, mut value)) = items.0.pop() else { return None };
            let Value::Map(metadata) = &mut value else { return None };
            let metadata = std::mem::take(metadata);
            if self.metadata_found || super::without_comments(metadata) != self.expected {
                return None;
            }
            self.metadata_found = true;
            // Its comments stay, as the whole-tree path only removes the entry.
            items.0.append(&mut self.pending.0);
            self.pending = items;
            return Some(());
        }
        crypt::decrypt_branch(&mut items, self.key, self.settings, None, &mut self.warnings, &mut self.mac).ok()?;
        let mut e = self.emitter();
        let written = if self.started {
            write_part(&mut e, &items.0)
        } else {
            self.started = true;
            start_parts(&mut e, &comments(&items)).and_then(|()| write_part(&mut e, &items.0[at..]))
        };
        if e.out.len() >= PIECE - PIECE / 16 {
            let full = std::mem::replace(&mut e.out, String::with_capacity(PIECE));
            self.pieces.push(full.into_bytes());
        }
        self.emitter = e.rebind();
        items.zeroize();
        written.ok()
    }
}

/// The comment lines of `items`.
fn comments(items: &Map) -> Vec<&str> {
    items
        .0
        .iter()
        .filter_map(|i| match i {
            MapItem::Comment(c) => Some(c.as_str()),
            MapItem::Entry(..) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::keys::Identities;
    use crate::stores::yaml::YamlStore;
    use crate::stores::Store;
    use crate::test_support::{decrypted_whole, read, vector_identities, VECTORS};
    use crate::{encrypt, DecryptOptions, DecryptSession, EncryptOptions, Format};

    const CASES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/yaml-cases");

    fn alice() -> Identities {
        vector_identities()
    }

    /// The whole-tree path: parse, decrypt, print.
    fn whole(input: &[u8], ids: &Identities, options: DecryptOptions) -> crate::Result<Vec<u8>> {
        decrypted_whole(input, Format::Yaml, ids, options)
    }

    /// The streaming path alone; `None` when it gives up.
    fn streamed(input: &[u8], ids: &Identities, options: DecryptOptions) -> Option<Vec<u8>> {
        let mut session = DecryptSession::new(ids, options);
        YamlStore::default().decrypt_streaming(input, Format::Yaml, &mut session).map(|pieces| pieces.concat())
    }

    fn show(b: &[u8]) -> String {
        String::from_utf8_lossy(b).into_owned()
    }

    /// Whether a file name ends in `.EXTENSION`.
    fn has_extension(name: &str, extension: &str) -> bool {
        std::path::Path::new(name).extension().is_some_and(|e| e == extension)
    }

    /// Whether a file name is that of a file sops wrote in the YAML cases (`NAME.sops.yaml`).
    fn is_sops_output(name: &str) -> bool {
        has_extension(name, "yaml") && has_extension(&name[..name.len() - 5], "sops")
    }

    fn sorted(dir: &str, keep: impl Fn(&str) -> bool) -> Vec<std::path::PathBuf> {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| keep(&p.file_name().unwrap().to_string_lossy()))
            .collect();
        files.sort();
        files
    }

    /// Every YAML file sops wrote, decrypted both ways: the same bytes, or the streaming path
    /// stands aside (several documents, anchors) and the whole-tree path answers.
    #[test]
    fn files_sops_wrote_print_the_same_bytes() {
        let ids = alice();
        let mut streamed_count = 0;
        let mut files = sorted(&format!("{VECTORS}/enc"), |n| has_extension(n, "yaml"));
        files.extend(sorted(&format!("{VECTORS}/edge"), |n| has_extension(n, "yaml")));
        files.extend(sorted(CASES, is_sops_output));
        assert!(files.len() > 100);
        for file in files {
            let input = std::fs::read(&file).unwrap();
            let Ok(want) = whole(&input, &ids, DecryptOptions::default()) else { continue };
            if let Some(got) = streamed(&input, &ids, DecryptOptions::default()) {
                assert_eq!(show(&got), show(&want), "{}", file.display());
                streamed_count += 1;
            }
        }
        assert!(streamed_count > 100, "only {streamed_count} files streamed");
    }

    /// Every case input encrypted with the default rule (values and comments encrypted),
    /// then decrypted both ways.
    #[test]
    fn encrypted_comments_and_values_print_the_same_bytes() {
        let ids = alice();
        let options = EncryptOptions { key_groups: vec![vec![ids.public_keys()[0].clone()]], ..EncryptOptions::default() };
        let mut count = 0;
        for file in sorted(CASES, |n| has_extension(n, "yaml") && !is_sops_output(n)) {
            let Ok(data) = crate::parse_plain(&std::fs::read(&file).unwrap(), Format::Yaml) else { continue };
            let Ok(encrypted) = encrypt(data, Format::Yaml, &options).and_then(|f| f.to_bytes()) else { continue };
            let want = whole(&encrypted, &ids, DecryptOptions::default()).unwrap();
            if let Some(got) = streamed(&encrypted, &ids, DecryptOptions::default()) {
                assert_eq!(show(&got), show(&want), "{}", file.display());
                count += 1;
            }
        }
        assert!(count > 100, "only {count} files streamed");
    }

    #[test]
    fn tampered_files_give_nothing() {
        let ids = alice();
        let input = show(&read(&format!("{VECTORS}/enc/basic.yaml")));
        assert!(streamed(input.as_bytes(), &ids, DecryptOptions::default()).is_some());
        for negative in ["mac-mismatch.yaml", "swapped-values.yaml", "mac-lowercase.yaml"] {
            let bytes = read(&format!("{VECTORS}/negative/{negative}"));
            assert!(streamed(&bytes, &ids, DecryptOptions::default()).is_none(), "{negative}");
        }
        // A value changed, a repeated key, an anchor: all left to the whole-tree path. The
        // metadata may come first.
        let start = input.find(": ENC[").unwrap() + 2;
        let mut changed = input.clone();
        changed.replace_range(start + 30..start + 31, if &input[start + 30..start + 31] == "A" { "B" } else { "A" });
        assert!(streamed(changed.as_bytes(), &ids, DecryptOptions::default()).is_none());
        let repeated = format!("{input}app: 1\n");
        assert!(whole(repeated.as_bytes(), &ids, DecryptOptions::default()).is_err());
        assert!(streamed(repeated.as_bytes(), &ids, DecryptOptions::default()).is_none());
        let (data, meta) = input.split_at(input.find("\nsops:").unwrap() + 1);
        let meta_first = format!("{meta}{data}");
        let want = whole(meta_first.as_bytes(), &ids, DecryptOptions::default()).unwrap();
        assert_eq!(streamed(meta_first.as_bytes(), &ids, DecryptOptions::default()), Some(want), "metadata first");
        let anchored = format!("x: &a 1\n{input}");
        assert!(streamed(anchored.as_bytes(), &ids, DecryptOptions::default()).is_none());
    }

    #[test]
    fn ignoring_the_mac_still_streams() {
        let ids = alice();
        let bytes = read(&format!("{VECTORS}/negative/mac-mismatch.yaml"));
        let options = DecryptOptions { ignore_mac: true };
        let want = whole(&bytes, &ids, options).unwrap();
        assert_eq!(show(&streamed(&bytes, &ids, options).unwrap()), show(&want));
    }
}

#[cfg(test)]
mod shapes {
    use super::tests_support::*;

    /// The shapes of `bench/large-files.sh`, small: each streams, and prints what the whole
    /// tree prints.
    #[test]
    fn bench_shapes_stream() {
        let mut nested = String::new();
        for i in 0..50 {
            for d in 0..8 {
                nested.push_str(&format!("{}n{i}_{d}:\n", "    ".repeat(d)));
            }
            nested.push_str(&format!("{0}leaf: value{i}\n{0}other: {i}\n", "    ".repeat(8)));
        }
        let mut list = "items:\n".to_string();
        for i in 0..50 {
            list.push_str(&format!("    - item{i}\n"));
        }
        let mut blob = "blob: |\n".to_string();
        for _ in 0..50 {
            blob.push_str(&format!("    {}\n", "x".repeat(75)));
        }
        for (name, text) in [("nested", nested), ("list", list), ("blob", blob)] {
            check_streams(name, &text);
        }
    }
}

#[cfg(test)]
mod tests_support {
    use crate::keys::Identities;
    use crate::stores::yaml::YamlStore;
    use crate::stores::Store;
    use crate::test_support::{read, VECTORS};
    use crate::{encrypt, DecryptOptions, DecryptSession, EncryptOptions, EncryptedFile, Format};

    pub fn check_streams(name: &str, text: &str) {
        let ids = Identities::from_age_key_text(&String::from_utf8(read(&format!("{VECTORS}/keys.txt"))).unwrap(), "keys.txt").unwrap();
        let options = EncryptOptions { key_groups: vec![vec![ids.public_keys()[0].clone()]], ..EncryptOptions::default() };
        let data = crate::parse_plain(text.as_bytes(), Format::Yaml).unwrap();
        let encrypted = encrypt(data, Format::Yaml, &options).unwrap().to_bytes().unwrap();
        let plain = EncryptedFile::parse(&encrypted, Format::Yaml).unwrap().into_decrypted(&ids, DecryptOptions::default()).unwrap();
        let want = YamlStore::default().emit_plain(&plain.data).unwrap();
        let mut session = DecryptSession::new(&ids, DecryptOptions::default());
        let got = YamlStore::default().decrypt_streaming(&encrypted, Format::Yaml, &mut session);
        assert_eq!(got.map(|g| String::from_utf8(g.concat()).unwrap()), Some(String::from_utf8(want).unwrap()), "{name}");
    }
}
