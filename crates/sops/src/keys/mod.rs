//! The data key and everything that guards it: age wrapping per recipient, key groups with
//! Shamir sharing, and the identities that unwrap it.

pub mod age_wrap;
pub mod identities;
pub mod shamir;
pub mod ssh_to_age;

use std::fmt;

use zeroize::Zeroizing;

use crate::error::Result;
use crate::metadata::{KeyGroup, Metadata};

pub use identities::Identities;

/// The 32-byte key every value of a file is encrypted with. Zeroized on drop.
#[derive(Clone)]
pub struct DataKey(Zeroizing<[u8; 32]>);

impl DataKey {
    pub fn generate() -> DataKey {
        use rand::RngCore;
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(key.as_mut());
        DataKey(key)
    }

    pub fn from_bytes(bytes: [u8; 32]) -> DataKey {
        DataKey(Zeroizing::new(bytes))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
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
}

impl fmt::Display for DecryptFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        keys_report(self, f)
    }
}

/// Wraps a data key for the given recipients: one group gets the whole key; two or more groups
/// get Shamir shares (`threshold` 0 means all groups).
pub fn wrap_data_key(key: &DataKey, groups: &[Vec<String>], threshold: usize) -> Result<Vec<KeyGroup>> {
    wrap_impl(key, groups, threshold)
}

/// Opens the data key of a file with the identities at hand.
pub fn unwrap_data_key(metadata: &Metadata, identities: &Identities) -> Result<DataKey> {
    unwrap_impl(metadata, identities)
}

fn keys_report(_failure: &DecryptFailure, _f: &mut fmt::Formatter<'_>) -> fmt::Result {
    todo!("keys helper")
}

fn wrap_impl(_key: &DataKey, _groups: &[Vec<String>], _threshold: usize) -> Result<Vec<KeyGroup>> {
    todo!("keys helper")
}

fn unwrap_impl(_metadata: &Metadata, _identities: &Identities) -> Result<DataKey> {
    todo!("keys helper")
}
