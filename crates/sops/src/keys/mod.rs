//! The data key and everything that guards it: age wrapping per recipient, key groups with
//! Shamir sharing, and the identities that unwrap it.

pub mod age_wrap;
pub mod identities;
pub mod shamir;
pub mod ssh_to_age;

use std::fmt;

use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::metadata::{AgeKey, KeyGroup, Metadata};

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

fn keys_report(failure: &DecryptFailure, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    writeln!(f, "no identity here can open the file's data key")?;
    let many = failure.groups.len() > 1;
    if many {
        writeln!(f, "  key groups: {} of {} needed, {} opened", failure.threshold, failure.groups.len(), failure.opened)?;
    }
    for (i, group) in failure.groups.iter().enumerate() {
        let label = if many { format!("  group {} recipients:", i + 1) } else { "  recipients:".to_string() };
        writeln!(f, "{label}")?;
        for recipient in group {
            writeln!(f, "    - {recipient}")?;
        }
    }
    writeln!(f, "  key sources tried:")?;
    for report in &failure.sources {
        writeln!(f, "    - {}: {}", report.source, report.outcome)?;
    }
    write!(f, "hint: point SOPS_AGE_KEY_FILE (or SOPS_AGE_KEY, SOPS_AGE_SSH_PRIVATE_KEY_FILE) at the private key of one of these recipients")
}

fn wrap_impl(key: &DataKey, groups: &[Vec<String>], threshold: usize) -> Result<Vec<KeyGroup>> {
    let groups: Vec<&Vec<String>> = groups.iter().filter(|g| !g.is_empty()).collect();
    if groups.is_empty() {
        return Err(Error::Config("no recipients: give at least one age recipient".into()));
    }
    let payloads: Vec<Zeroizing<Vec<u8>>> = if groups.len() == 1 {
        vec![Zeroizing::new(key.as_bytes().to_vec())]
    } else {
        let threshold = if threshold == 0 { groups.len() } else { threshold };
        shamir::split(key.as_bytes(), groups.len(), threshold).map_err(|e| Error::Shamir(e.to_string()))?
    };
    groups
        .iter()
        .zip(&payloads)
        .map(|(recipients, payload)| {
            let age = recipients
                .iter()
                .map(|r| Ok(AgeKey { recipient: r.trim().to_string(), enc: age_wrap::wrap(payload, r)? }))
                .collect::<Result<Vec<_>>>()?;
            Ok(KeyGroup { age, other: Vec::new() })
        })
        .collect()
}

fn unwrap_impl(metadata: &Metadata, identities: &Identities) -> Result<DataKey> {
    let groups = &metadata.key_groups;
    let mut payloads: Vec<Zeroizing<Vec<u8>>> = Vec::new();
    let mut malformed = None;
    for group in groups {
        // Stanzas meant for an identity we hold go first; the recipient strings are only hints.
        let mut keys: Vec<&crate::metadata::AgeKey> = group.age.iter().collect();
        keys.sort_by_key(|k| !identities.knows(&k.recipient));
        for key in keys {
            match age_wrap::unwrap_ordered(&key.enc, identities.ordered_for(Some(&key.recipient))) {
                Ok(payload) => {
                    payloads.push(payload);
                    break;
                }
                Err(age_wrap::UnwrapError::Malformed(reason)) => malformed = Some(reason),
                Err(age_wrap::UnwrapError::NoMatchingIdentity) => {}
            }
        }
    }
    let needed = if groups.len() > 1 { metadata.shamir_threshold.max(2) } else { 1 };
    let failure = || {
        let mut sources = identities.reports().to_vec();
        if let Some(reason) = &malformed {
            sources.push(identities::SourceReport { source: "the file's age stanzas".into(), outcome: format!("malformed ({reason})") });
        }
        Error::NoKey(Box::new(DecryptFailure { groups: metadata.recipients(), threshold: needed, opened: payloads.len(), sources }))
    };
    if payloads.len() < needed {
        return Err(failure());
    }
    let key: Zeroizing<Vec<u8>> = if groups.len() > 1 {
        let shares: Vec<&[u8]> = payloads.iter().map(|p| p.as_slice()).collect();
        shamir::combine(&shares).map_err(|e| Error::Shamir(e.to_string()))?
    } else {
        payloads.swap_remove(0)
    };
    let bytes: [u8; 32] = key.as_slice().try_into().map_err(|_| Error::Shamir(format!("the data key has {} bytes instead of 32", key.len())))?;
    Ok(DataKey::from_bytes(bytes))
}
