//! The data key and everything that guards it: age wrapping per recipient, key groups with
//! Shamir sharing, and the identities that unwrap it.

pub mod age_header;
mod age_payload;
pub mod age_wrap;
pub mod armor;
mod command_line;
mod groups;
pub mod identities;
mod openssh;
pub(crate) mod pgp;
pub mod prompt;
mod report;
pub mod shamir;
pub mod ssh_to_age;
mod ssh_wire;

use std::fmt;

use std::sync::OnceLock;

use aes::cipher::KeyInit;
use aes::Aes256Enc;
use aes_gcm::aead::consts::U32;
use aes_gcm::AesGcm;
use zeroize::Zeroizing;

use crate::error::Result;
use crate::metadata::{KeyGroup, Metadata};

pub use identities::{Identities, SourceReport};
pub use pgp::{is_fingerprint as is_pgp_fingerprint, normalize_fingerprint as normalize_pgp_fingerprint, GnuPg};
pub use prompt::Prompter;

/// The 32-byte key every value of a file is encrypted with. Zeroized on drop, its expanded form
/// too.
#[derive(Clone)]
pub struct DataKey {
    key: Zeroizing<[u8; 32]>,
    /// The AES key schedule, expanded once for every value of the file (expanding it per value
    /// was a tenth of decrypting a file of many small values).
    expanded: OnceLock<Box<Aes256Enc>>,
    /// AES-GCM with the 32-byte nonces sops writes, set up once too: its GHASH key is one more
    /// block encryption, and setting it up took a twentieth of decrypting such a file.
    gcm: OnceLock<Box<AesGcm<Aes256Enc, U32>>>,
}

impl DataKey {
    /// A fresh random key, for a new file or a rotation.
    pub fn generate() -> DataKey {
        let mut key = Zeroizing::new([0u8; 32]);
        crate::rng::fill(key.as_mut());
        DataKey { key, expanded: OnceLock::new(), gcm: OnceLock::new() }
    }

    /// The key an age stanza or the Shamir shares yielded.
    pub fn from_bytes(bytes: [u8; 32]) -> DataKey {
        DataKey { key: Zeroizing::new(bytes), expanded: OnceLock::new(), gcm: OnceLock::new() }
    }

    /// The raw key, for the cipher and for wrapping it to recipients.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.key
    }

    /// The expanded AES-256 encryption key (GCM uses the forward cipher only).
    pub(crate) fn cipher(&self) -> &Aes256Enc {
        self.expanded.get_or_init(|| Box::new(Aes256Enc::new(aes::cipher::generic_array::GenericArray::from_slice(&self.key[..]))))
    }

    /// AES-GCM under this key with 32-byte nonces, the length sops writes.
    pub(crate) fn gcm(&self) -> &AesGcm<Aes256Enc, U32> {
        self.gcm.get_or_init(|| Box::new(AesGcm::from(self.cipher().clone())))
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

/// Why no identity could open a file's data key: the file's recipients per group and every key
/// source that was tried, with what was found in each. Its `Display` is the user-facing report.
#[derive(Debug, Clone, Default)]
pub struct DecryptFailure {
    /// Recipients per key group, as written in the file.
    pub groups: Vec<Vec<String>>,
    /// How many groups must open (1 without Shamir).
    pub threshold: usize,
    /// How many groups did open.
    pub opened: usize,
    /// Each key source that was consulted and what it held.
    pub sources: Vec<identities::SourceReport>,
    /// Per group, whether it opened (same order as `groups`).
    pub group_opened: Vec<bool>,
    /// Keys that were found but could not be used (malformed armor, wrong payload size, key
    /// types this library cannot use), one readable line each.
    pub problems: Vec<String>,
}

impl fmt::Display for DecryptFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        keys_report(self, f)
    }
}

/// Wraps a data key for the given recipients: one group gets the whole key; two or more groups
/// get Shamir shares (`threshold` 0 means all groups). A recipient shaped like a PGP
/// fingerprint ([`is_pgp_fingerprint`]) is wrapped by running `gnupg`; the others with age.
pub fn wrap_data_key(key: &DataKey, groups: &[Vec<String>], threshold: usize, gnupg: &GnuPg) -> Result<Vec<KeyGroup>> {
    wrap_impl(key, groups, threshold, gnupg)
}

/// The fingerprints of a group's PGP keys, in file order.
pub(crate) fn pgp_fingerprints(group: &KeyGroup) -> Vec<String> {
    pgp::entries_of(group).into_iter().map(|(fp, _)| fp).collect()
}

/// Opens the data key of a file with the identities at hand.
pub fn unwrap_data_key(metadata: &Metadata, identities: &Identities) -> Result<DataKey> {
    unwrap_impl(metadata, identities)
}

fn keys_report(failure: &DecryptFailure, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    report::write(failure, f)
}

fn wrap_impl(key: &DataKey, groups: &[Vec<String>], threshold: usize, gnupg: &GnuPg) -> Result<Vec<KeyGroup>> {
    groups::wrap(key, groups, threshold, gnupg)
}

fn unwrap_impl(metadata: &Metadata, identities: &Identities) -> Result<DataKey> {
    groups::unwrap(metadata, identities)
}
