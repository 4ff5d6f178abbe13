//! Whole-file operations: encrypt a plaintext document, decrypt a sops file, and the edits sops
//! offers on an encrypted file (`set`/`unset` keeping the data key, `updatekeys`, `rotate`).

use zeroize::Zeroize;

use crate::crypt::{self, CryptSettings, IvCache};
use crate::error::{Error, Result};
use crate::format::Format;
use crate::keys::{self, DataKey, GnuPg, Identities};
use crate::mac::{self, MacHasher};
use crate::metadata::{KeyGroup, Metadata, SelectionRule, WRITER_VERSION};
use crate::selection::Selector;
use crate::stores;
use crate::timefmt;
use crate::tree::{Document, Map, Value};
use crate::warning::Warning;

/// Who a new file is encrypted for and which values it encrypts.
#[derive(Clone, Debug, Default)]
pub struct EncryptOptions {
    /// Recipients per key group: age recipients (`age1…`, `ssh-ed25519 …`, `ssh-rsa …`) and
    /// PGP fingerprints. One group is the usual case; two or more split the data key with Shamir.
    pub key_groups: Vec<Vec<String>>,
    /// Groups needed to decrypt when there are several; 0 means all of them.
    pub shamir_threshold: usize,
    /// The selection rule; `None` writes sops' default (`unencrypted_suffix: _unencrypted`, or
    /// nothing for the binary store).
    pub selection: Option<SelectionRule>,
    /// Compute the MAC over the encrypted values only (sops' `--mac-only-encrypted`), so that
    /// editing a plain value does not invalidate it.
    pub mac_only_encrypted: bool,
    /// How GnuPG is run for the PGP fingerprints among the recipients.
    pub gnupg: GnuPg,
}

/// How to decrypt.
#[derive(Clone, Copy, Debug, Default)]
pub struct DecryptOptions {
    /// Skip the MAC check (recovery only; values that fail AES-GCM still fail).
    pub ignore_mac: bool,
}

/// A sops file as stored: encrypted data plus metadata.
#[derive(Clone, Debug)]
pub struct EncryptedFile {
    /// The store the file was read from and is written back to.
    pub format: Format,
    /// The tree with its values still `ENC[…]` (and those the selection rule leaves plain).
    pub data: Document,
    /// The `sops` section: recipients, wrapped data keys, MAC, selection rule.
    pub metadata: Metadata,
}

/// A decrypted file. Holds the data key and the IVs of the values it was decrypted from, so
/// that writing it back changes only what changed. Plaintext is zeroized on drop.
pub struct PlainFile {
    /// The store the file was read from and is written back to.
    pub format: Format,
    /// The decrypted tree; edit it, then [`PlainFile::encrypt`].
    pub data: Document,
    /// The `sops` section the file was decrypted with; encrypting refreshes its MAC and date.
    pub metadata: Metadata,
    key: DataKey,
    ivs: IvCache,
    warnings: Vec<Warning>,
    /// How GnuPG is run when a rotation wraps the new key for PGP keys: the identities' own
    /// when the file was decrypted with identities.
    gnupg: GnuPg,
}

impl Drop for PlainFile {
    fn drop(&mut self) {
        self.data.zeroize();
    }
}

impl std::fmt::Debug for PlainFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlainFile").field("format", &self.format).field("metadata", &self.metadata).finish_non_exhaustive()
    }
}

/// Opens the data key of a file with this metadata.
fn data_key_of(metadata: &Metadata, identities: &Identities) -> Result<DataKey> {
    let usable = |g: &crate::metadata::KeyGroup| !g.age.is_empty() || g.other.iter().any(|(name, _)| name == "pgp");
    if !metadata.key_groups.iter().any(usable) {
        return Err(Error::metadata("no age or pgp keys found in the file (only other key types, or none at all)"));
    }
    keys::unwrap_data_key(metadata, identities)
}

/// What a store's [`stores::Store::decrypt_streaming`] gets from [`decrypt_to_plain`]: the
/// data key for the metadata it found, whether to check the MAC, and where its warnings go.
/// The key is opened once, and kept for the whole-tree path if the store gives up.
pub struct DecryptSession<'i> {
    identities: &'i Identities,
    options: DecryptOptions,
    opened: Option<(Metadata, Result<DataKey>)>,
    warnings: Vec<Warning>,
}

impl<'i> DecryptSession<'i> {
    /// A session with these identities and options.
    pub fn new(identities: &'i Identities, options: DecryptOptions) -> Self {
        DecryptSession { identities, options, opened: None, warnings: Vec::new() }
    }

    /// The metadata read from `tree` and the data key it holds for the session's identities;
    /// `None` if either fails (the whole-tree path then reports why).
    pub(crate) fn open(&mut self, tree: &Map) -> Option<(Metadata, DataKey)> {
        if self.opened.is_none() {
            let metadata = Metadata::from_tree(tree).ok()?;
            let key = data_key_of(&metadata, self.identities);
            self.opened = Some((metadata, key));
        }
        match &self.opened {
            Some((metadata, Ok(key))) => Some((metadata.clone(), key.clone())),
            _ => None,
        }
    }

    /// Whether the MAC is left unchecked.
    pub(crate) fn ignore_mac(&self) -> bool {
        self.options.ignore_mac
    }

    /// Warnings of a decryption that succeeded.
    pub(crate) fn warn(&mut self, warnings: Vec<Warning>) {
        self.warnings.extend(warnings);
    }
}

/// A decrypted file as `sops decrypt` prints it, and what decryption noticed on the way.
pub struct PlainText {
    /// The plaintext in the output store's layout, in pieces: a large output is never copied
    /// into one buffer unless asked ([`PlainText::into_bytes`]).
    pieces: Vec<Vec<u8>>,
    /// Comments that should be encrypted but are not, as sops logs them.
    pub warnings: Vec<Warning>,
}

impl PlainText {
    /// The plaintext, in pieces to be written one after the other.
    pub fn pieces(&self) -> &[Vec<u8>] {
        &self.pieces
    }

    /// The plaintext in one buffer.
    pub fn into_bytes(mut self) -> Vec<u8> {
        let mut pieces = std::mem::take(&mut self.pieces);
        if pieces.len() == 1 {
            return pieces.pop().unwrap_or_default();
        }
        let joined = pieces.concat();
        pieces.iter_mut().for_each(Zeroize::zeroize);
        joined
    }
}

/// The plaintext is wiped when dropped, as a [`PlainFile`]'s tree is.
impl Drop for PlainText {
    fn drop(&mut self) {
        self.pieces.iter_mut().for_each(Zeroize::zeroize);
    }
}

/// `sops decrypt`: the plaintext of an encrypted file of `format`, as `store` (that format's
/// store, with the caller's settings) writes it, with the MAC verified unless told otherwise.
///
/// The same bytes and errors as [`EncryptedFile::parse_owned`], [`EncryptedFile::into_decrypted`]
/// and [`stores::Store::emit_plain`] in turn, with far less memory for a large file: a YAML
/// file is decrypted one top-level entry at a time, so that its tree is never whole in memory.
/// Nothing is returned before the MAC is verified.
pub fn decrypt_to_plain(
    input: Vec<u8>,
    format: Format,
    store: &dyn stores::Store,
    identities: &Identities,
    options: DecryptOptions,
) -> Result<PlainText> {
    if input.is_empty() {
        return Err(Error::EmptyInput);
    }
    let mut session = DecryptSession::new(identities, options);
    if let Some(pieces) = store.decrypt_streaming(&input, format, &mut session) {
        return Ok(PlainText { pieces, warnings: session.warnings });
    }
    let file = EncryptedFile::parse_owned(input, format)?;
    let key = match session.opened.take() {
        Some((metadata, key)) if metadata == file.metadata => key?,
        _ => file.data_key(identities)?,
    };
    let plain = file.into_plain(key, options, false)?;
    let bytes = store.emit_plain(&plain.data)?;
    Ok(PlainText { pieces: vec![bytes], warnings: plain.warnings.clone() })
}

/// Parses a plaintext file of the given format.
pub fn parse_plain(input: &[u8], format: Format) -> Result<Document> {
    if input.is_empty() && format != Format::Binary {
        return Err(Error::EmptyInput);
    }
    stores::store(format).parse_plain(input)
}

/// Encrypts a plaintext document into a new sops file with a fresh data key.
pub fn encrypt(data: Document, format: Format, options: &EncryptOptions) -> Result<EncryptedFile> {
    if options.key_groups.iter().all(std::vec::Vec::is_empty) {
        return Err(Error::NoRecipients);
    }
    let selection = match (&options.selection, format) {
        (Some(rule), _) => Some(rule.clone()),
        (None, Format::Binary) => None,
        (None, _) => Some(SelectionRule::default_rule()),
    };
    let key = DataKey::generate();
    let groups = keys::wrap_data_key(&key, &options.key_groups, options.shamir_threshold, &options.gnupg)?;
    let shamir_threshold = if groups.len() > 1 && options.shamir_threshold == 0 { groups.len() } else { options.shamir_threshold };
    let metadata = Metadata {
        key_groups: groups,
        shamir_threshold,
        last_modified: String::new(),
        mac: None,
        selection,
        mac_only_encrypted: options.mac_only_encrypted,
        version: WRITER_VERSION.to_string(),
    };
    let plain = PlainFile { format, data, metadata, key, ivs: IvCache::default(), warnings: Vec::new(), gnupg: options.gnupg.clone() };
    plain.encrypt()
}

impl EncryptedFile {
    /// Parses a sops file of the given format.
    pub fn parse(input: &[u8], format: Format) -> Result<EncryptedFile> {
        if input.is_empty() {
            return Err(Error::EmptyInput);
        }
        let (data, tree) = stores::store(format).parse_encrypted(input)?;
        let metadata = Metadata::from_tree(&tree)?;
        Ok(EncryptedFile { format, data, metadata })
    }

    /// [`Self::parse`], taking the bytes: the YAML store frees them as soon as they are read,
    /// before it builds the tree, so that a large file and its tree are never held together.
    pub fn parse_owned(input: Vec<u8>, format: Format) -> Result<EncryptedFile> {
        if input.is_empty() {
            return Err(Error::EmptyInput);
        }
        let (data, tree) = stores::store(format).parse_encrypted_owned(input)?;
        let metadata = Metadata::from_tree(&tree)?;
        Ok(EncryptedFile { format, data, metadata })
    }

    /// The file's bytes, in its store's layout.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        self.to_bytes_as(self.format)
    }

    /// The file's bytes in another store's layout (sops `--output-type` on encrypt).
    pub fn to_bytes_as(&self, format: Format) -> Result<Vec<u8>> {
        stores::store(format).emit_encrypted(&self.data, &self.metadata.to_tree(format))
    }

    /// Opens the data key with the given identities.
    pub fn data_key(&self, identities: &Identities) -> Result<DataKey> {
        data_key_of(&self.metadata, identities)
    }

    /// Decrypts the file, verifying the MAC unless told otherwise.
    pub fn decrypt(&self, identities: &Identities, options: DecryptOptions) -> Result<PlainFile> {
        let key = self.data_key(identities)?;
        let mut plain = self.decrypt_with_key(key, options)?;
        plain.gnupg = identities.gnupg().clone();
        Ok(plain)
    }

    /// Decrypts with a known data key.
    pub fn decrypt_with_key(&self, key: DataKey, options: DecryptOptions) -> Result<PlainFile> {
        self.clone().into_decrypted_with_key(key, options)
    }

    /// Decrypts the file, consuming it: values are decrypted in place, without a copy of the
    /// whole document, which halves the memory a large file needs compared to [`Self::decrypt`].
    pub fn into_decrypted(self, identities: &Identities, options: DecryptOptions) -> Result<PlainFile> {
        let key = self.data_key(identities)?;
        let mut plain = self.into_decrypted_with_key(key, options)?;
        plain.gnupg = identities.gnupg().clone();
        Ok(plain)
    }

    /// [`Self::into_decrypted`] with a known data key.
    pub fn into_decrypted_with_key(self, key: DataKey, options: DecryptOptions) -> Result<PlainFile> {
        self.into_plain(key, options, true)
    }

    /// Decrypts in place; `remember_ivs` keeps each value's IV for writing the file back
    /// (a file only printed does without: the cache costs about as much as a short value).
    fn into_plain(self, key: DataKey, options: DecryptOptions, remember_ivs: bool) -> Result<PlainFile> {
        let selector = Selector::new(self.metadata.selection.as_ref())?;
        let settings = CryptSettings { selector: &selector, mac_only_encrypted: self.metadata.mac_only_encrypted };
        // From here on the document holds plaintext: `PlainFile` zeroizes it however this ends.
        let mut plain = PlainFile {
            format: self.format,
            data: self.data,
            metadata: self.metadata,
            key,
            ivs: IvCache::default(),
            warnings: Vec::new(),
            gnupg: GnuPg::default(),
        };
        let mut mac = MacHasher::new(settings.mac_only_encrypted);
        for branch in &mut plain.data.branches {
            let ivs = if remember_ivs { Some(&mut plain.ivs) } else { None };
            crypt::decrypt_branch(branch, &plain.key, &settings, ivs, &mut plain.warnings, &mut mac)?;
        }
        if !options.ignore_mac {
            mac::verify_mac(plain.metadata.mac.as_deref(), &mac.finish(), &plain.key, &plain.metadata.last_modified)?;
        }
        Ok(plain)
    }

    /// Re-wraps the same data key for a new set of recipients (`sops updatekeys`): values,
    /// `lastmodified`, MAC and version stay as they are. Returns whether anything changed.
    pub fn update_keys(&mut self, identities: &Identities, key_groups: &[Vec<String>], shamir_threshold: usize) -> Result<bool> {
        let current = self.metadata.recipients();
        let wanted = if shamir_threshold > 0 { shamir_threshold } else { self.metadata.shamir_threshold };
        let threshold = stored_threshold(key_groups.len(), wanted);
        if current == key_groups && threshold == self.metadata.shamir_threshold {
            return Ok(false);
        }
        let key = self.data_key(identities)?;
        self.rewrap_same_key(&key, key_groups, threshold, identities.gnupg())?;
        Ok(true)
    }

    /// Gives the file's own data key to a new set of recipients in one group (a membership
    /// change that removes no one): every recipient that already holds the key keeps its entry
    /// byte for byte, and only the newcomers get one. The data key is opened with `identities`,
    /// so the entries kept are known to wrap the key the file is encrypted with.
    pub fn add_recipients(&mut self, identities: &Identities, key_groups: &[Vec<String>], shamir_threshold: usize) -> Result<()> {
        let key = self.data_key(identities)?;
        self.rewrap_same_key(&key, key_groups, shamir_threshold, identities.gnupg())
    }

    /// `rewrap` for a `key` that is this file's data key: with one group before and after, an
    /// existing recipient's entry still wraps `key`, so it is kept and only the new recipients
    /// cost an X25519 wrap (or a GnuPG run) each. Shamir groups split the key afresh, so they
    /// are all re-wrapped.
    fn rewrap_same_key(&mut self, key: &DataKey, key_groups: &[Vec<String>], shamir_threshold: usize, gnupg: &GnuPg) -> Result<()> {
        let ([wanted], [existing]) = (key_groups, self.metadata.key_groups.as_slice()) else {
            return self.rewrap(key, key_groups, shamir_threshold, gnupg);
        };
        if wanted.is_empty() {
            return self.rewrap(key, key_groups, shamir_threshold, gnupg);
        }
        let kept_pgp = keys::pgp::entries_of(existing);
        let holds = |r: &String| {
            if keys::is_pgp_fingerprint(r) {
                let fp = keys::normalize_pgp_fingerprint(r);
                kept_pgp.iter().any(|(kept, _)| *kept == fp)
            } else {
                existing.age.iter().any(|k| k.recipient == r.trim())
            }
        };
        let newcomers: Vec<String> = wanted.iter().filter(|r| !holds(r)).cloned().collect();
        let fresh = if newcomers.is_empty() {
            KeyGroup::default()
        } else {
            keys::wrap_data_key(key, std::slice::from_ref(&newcomers), 0, gnupg)?.remove(0)
        };
        let mut wrapped = fresh.age.into_iter();
        let mut wrapped_pgp = keys::pgp::entries_of(&KeyGroup { age: Vec::new(), other: fresh.other }).into_iter();
        let age = wanted
            .iter()
            .filter(|r| !keys::is_pgp_fingerprint(r))
            .filter_map(|r| match existing.age.iter().find(|k| k.recipient == r.trim()) {
                Some(kept) => Some(kept.clone()),
                None => wrapped.next(),
            })
            .collect();
        let pgp: Vec<Value> = wanted
            .iter()
            .filter(|r| keys::is_pgp_fingerprint(r))
            .filter_map(|r| {
                let fp = keys::normalize_pgp_fingerprint(r);
                match kept_pgp.iter().find(|(kept, _)| *kept == fp) {
                    Some((_, entry)) => Some(entry.clone()),
                    None => wrapped_pgp.next().map(|(_, entry)| entry),
                }
            })
            .collect();
        let mut other: Vec<(String, Value)> = existing.other.iter().filter(|(name, _)| name != "pgp").cloned().collect();
        if !pgp.is_empty() {
            other.push(("pgp".to_string(), Value::List(pgp)));
        }
        self.metadata.key_groups = vec![KeyGroup { age, other }];
        self.metadata.shamir_threshold = stored_threshold(1, shamir_threshold);
        Ok(())
    }

    /// Re-wraps a known data key for new recipients (age recipients, and PGP fingerprints
    /// through `gnupg`).
    pub fn rewrap(&mut self, key: &DataKey, key_groups: &[Vec<String>], shamir_threshold: usize, gnupg: &GnuPg) -> Result<()> {
        if key_groups.iter().all(std::vec::Vec::is_empty) {
            return Err(Error::NoRecipients);
        }
        // New Shamir shares: a kept foreign key would hold a share of another split.
        if key_groups.len() > 1 {
            refuse_foreign_master_keys(&self.metadata)?;
        }
        let mut groups = keys::wrap_data_key(key, key_groups, shamir_threshold, gnupg)?;
        // Keep master keys of other types (kms, …) where the group still exists; PGP keys are
        // among the recipients and were just wrapped.
        for (new, old) in groups.iter_mut().zip(&self.metadata.key_groups) {
            new.other.extend(old.other.iter().filter(|(name, _)| name != "pgp").cloned());
        }
        self.metadata.key_groups = groups;
        self.metadata.shamir_threshold = stored_threshold(key_groups.len(), shamir_threshold);
        Ok(())
    }
}

/// Fails when `metadata` has master keys this library cannot encrypt to (all but age and PGP):
/// giving the file a new data key (or new Shamir shares) would leave them holding the old one.
fn refuse_foreign_master_keys(metadata: &Metadata) -> Result<()> {
    let mut kinds: Vec<String> = Vec::new();
    for (name, _) in metadata.key_groups.iter().flat_map(|g| &g.other) {
        if name != "pgp" && !kinds.contains(name) {
            kinds.push(name.clone());
        }
    }
    if kinds.is_empty() {
        Ok(())
    } else {
        Err(Error::ForeignMasterKeys { kinds })
    }
}

/// The `shamir_threshold` a file with `groups` key groups records for a wanted threshold: at most
/// 1 for a single group, all groups when none is wanted, never more than the groups.
fn stored_threshold(groups: usize, wanted: usize) -> usize {
    match groups {
        0 | 1 => wanted.min(1),
        n if wanted == 0 => n,
        n => wanted.min(n),
    }
}

impl PlainFile {
    /// The decrypted data in a store's layout (what `sops decrypt` prints).
    pub fn to_plain_bytes(&self, format: Format) -> Result<Vec<u8>> {
        stores::store(format).emit_plain(&self.data)
    }

    /// Encrypts the (possibly edited) data again with the same data key, reusing the IV of every
    /// unchanged value, with a new `lastmodified` and MAC (`sops set`, `sops edit`).
    pub fn encrypt(&self) -> Result<EncryptedFile> {
        let selector = Selector::new(self.metadata.selection.as_ref())?;
        let settings = CryptSettings { selector: &selector, mac_only_encrypted: self.metadata.mac_only_encrypted };
        let mut data = self.data.clone();
        let computed = crypt::encrypt_document(&mut data, &self.key, &settings, &self.ivs);
        let computed = match computed {
            Ok(c) => c,
            Err(e) => {
                data.zeroize();
                return Err(e);
            }
        };
        let mut metadata = self.metadata.clone();
        metadata.last_modified = timefmt::now_last_modified();
        metadata.mac = Some(mac::encrypt_mac(&computed, &self.key, &metadata.last_modified)?);
        Ok(EncryptedFile { format: self.format, data, metadata })
    }

    /// Replaces the data key with a fresh one and re-wraps it for `key_groups` (or the current
    /// recipients when `None`): `sops rotate`.
    pub fn rotate(&mut self, key_groups: Option<&[Vec<String>]>, shamir_threshold: usize) -> Result<EncryptedFile> {
        refuse_foreign_master_keys(&self.metadata)?;
        let groups = key_groups.map_or_else(|| self.metadata.recipients(), <[std::vec::Vec<std::string::String>]>::to_vec);
        let threshold = if shamir_threshold > 0 { shamir_threshold } else { self.metadata.shamir_threshold };
        let key = DataKey::generate();
        let mut shell = EncryptedFile { format: self.format, data: Document::default(), metadata: self.metadata.clone() };
        shell.rewrap(&key, &groups, threshold, &self.gnupg)?;
        self.metadata = shell.metadata;
        self.key = key;
        self.encrypt()
    }

    /// What decryption noticed: comments that were not encrypted, in document order. The
    /// caller shows them (sops prints them as warnings).
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// The data key (for re-keying that keeps it).
    pub fn data_key(&self) -> &DataKey {
        &self.key
    }

    /// Runs `gnupg` when a rotation wraps the new data key for PGP keys (a file decrypted with
    /// identities uses theirs; one decrypted with a known key, plain `gpg`).
    pub fn set_gnupg(&mut self, gnupg: GnuPg) {
        self.gnupg = gnupg;
    }
}
