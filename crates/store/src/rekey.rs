//! Re-keying: bring every affected secret's recipients in line with its links, in one process,
//! in parallel, computing every new file before writing any. Adding access re-wraps the data key
//! (values untouched); removing access rotates it.

use std::collections::BTreeSet;
use std::path::PathBuf;

use rayon::prelude::*;
use secrets_sops::keys::Identities;
use secrets_sops::{DecryptOptions, EncryptedFile, Format};

use crate::error::{Result, StoreError};
use crate::keyfile::{KeyType, PublicKey};
use crate::repo::Repo;
use crate::secrets::{Lookups, SecretRef};
use crate::untrusted::{Folder, Limit, UntrustedError};

/// How to re-key.
#[derive(Clone, Copy, Debug, Default)]
pub struct RekeyOptions {
    /// Allow leaving a secret with no user among its readers (machines only).
    pub force: bool,
    /// Keep the data key even when recipients are removed (sops `updatekeys` semantics).
    pub no_rotate: bool,
}

/// The new state of one secret, computed but not yet written.
#[derive(Debug)]
pub struct Rekeyed {
    /// The secret.
    pub secret: SecretRef,
    /// Recipients its file gains.
    pub added: Vec<String>,
    /// Recipients its file loses.
    pub removed: Vec<String>,
    /// Whether the data key was replaced (because a recipient was removed).
    pub rotated: bool,
    /// The new file, or `None` when only dangling or misnamed links need dropping.
    bytes: Option<Vec<u8>>,
    dangling: Vec<PathBuf>,
}

impl Rekeyed {
    /// The new file, when it changes.
    pub fn bytes(&self) -> Option<&[u8]> {
        self.bytes.as_deref()
    }

    /// Links to drop: those to members that are gone, and those named after another member
    /// than they lead to (which grant nothing, `links::member_of`).
    pub fn dangling(&self) -> &[PathBuf] {
        &self.dangling
    }
}

/// The recipient strings of a set of public keys, as the sops layer takes them: age keys as
/// written, PGP keys as their fingerprint without spaces (wrapped through GnuPG, as clan has
/// sops do). A `pgp` entry that is no fingerprint cannot be encrypted to and is refused.
pub fn age_recipients(secret: &SecretRef, keys: &[PublicKey]) -> Result<Vec<String>> {
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        match key.kind {
            // A key declared age is never handed to GnuPG, whatever it looks like.
            KeyType::Age if secrets_sops::keys::is_pgp_fingerprint(&key.key) => {
                return Err(StoreError::AgeKeyLooksPgp { secret: secret.name.clone(), key: key.key.clone() });
            }
            KeyType::Age => out.push(key.key.clone()),
            KeyType::Pgp if secrets_sops::keys::is_pgp_fingerprint(&key.key) => {
                out.push(secrets_sops::keys::normalize_pgp_fingerprint(&key.key));
            }
            KeyType::Pgp => return Err(StoreError::PgpRecipient { secret: secret.name.clone(), key: key.key.clone() }),
        }
    }
    Ok(out)
}

/// The recipients a secret's links call for, with the lock-out guard applied, and the links
/// re-keying drops (dangling and misnamed ones).
pub fn desired_recipients(repo: &Repo, secret: &SecretRef, options: RekeyOptions) -> Result<(Vec<String>, Vec<PathBuf>)> {
    desired_recipients_with(repo, secret, options, &Lookups::default())
}

fn desired_recipients_with(
    repo: &Repo,
    secret: &SecretRef,
    options: RekeyOptions,
    lookups: &Lookups,
) -> Result<(Vec<String>, Vec<PathBuf>)> {
    let open = lookups.folders(repo).open(&secret.dir)?;
    desired_recipients_in(repo, secret, open.as_ref(), options, lookups)
}

/// As [`desired_recipients`], given the secret's open folder (`None`: it does not exist).
fn desired_recipients_in(
    repo: &Repo,
    secret: &SecretRef,
    open: Option<&Folder>,
    options: RekeyOptions,
    lookups: &Lookups,
) -> Result<(Vec<String>, Vec<PathBuf>)> {
    let access = repo.access_in(secret, open, lookups)?;
    let keys = repo.recipients_with(&access, lookups)?;
    let recipients = age_recipients(secret, &keys)?;
    if recipients.is_empty() {
        return Err(StoreError::NoRecipients { secret: secret.name.clone() });
    }
    if access.users.is_empty() && !options.force {
        return Err(StoreError::LockOut { secret: secret.name.clone() });
    }
    let mut drop = access.dangling;
    drop.extend(access.misnamed);
    Ok((recipients, drop))
}

/// Computes the new file of every secret whose recipients differ from what its links say.
/// Secrets already in line are left out. Nothing is written.
/// `progress` is called once per secret done, from any thread.
pub fn plan(
    repo: &Repo,
    secrets: &[SecretRef],
    identities: &Identities,
    options: RekeyOptions,
    progress: &(dyn Fn() + Sync),
) -> Result<Vec<Rekeyed>> {
    // Nothing changes links or keys while the plan is computed.
    let lookups = Lookups::default();
    let results: Vec<Result<Option<Rekeyed>>> = secrets
        .par_iter()
        .map(|s| {
            let result = plan_one(repo, s, identities, options, &lookups);
            progress();
            result
        })
        .collect();
    let mut out = Vec::new();
    for result in results {
        if let Some(r) = result? {
            out.push(r);
        }
    }
    Ok(out)
}

fn plan_one(repo: &Repo, secret: &SecretRef, identities: &Identities, options: RekeyOptions, lookups: &Lookups) -> Result<Option<Rekeyed>> {
    // The secret's folder is opened once, from the open `sops/secrets` (or vars folder), for
    // its links and its file alike.
    let open = lookups.folders(repo).open(&secret.dir)?;
    let (wanted, dangling) = desired_recipients_in(repo, secret, open.as_ref(), options, lookups)?;
    let path = secret.file();
    let sops_err = |source| StoreError::Sops { path: path.clone(), source };
    // As `untrusted::read` reads it, through the folder already open.
    let bytes = match &open {
        Some(open) => open.read("secret", Limit::Secret)?,
        None => return Err(UntrustedError::Io { path, source: std::io::ErrorKind::NotFound.into() }.into()),
    };
    let mut file = EncryptedFile::parse(&bytes, Format::Binary).map_err(sops_err)?;
    let current: Vec<String> = file.metadata.recipients().into_iter().flatten().collect();
    let current_set: BTreeSet<&String> = current.iter().collect();
    let wanted_set: BTreeSet<&String> = wanted.iter().collect();
    // Like sops updatekeys, order alone is no change: it would only churn the file.
    if current_set == wanted_set && file.metadata.key_groups.len() == 1 {
        return Ok((!dangling.is_empty()).then(|| Rekeyed {
            secret: secret.clone(),
            added: Vec::new(),
            removed: Vec::new(),
            rotated: false,
            bytes: None,
            dangling,
        }));
    }
    let added: Vec<String> = wanted_set.difference(&current_set).copied().cloned().collect();
    let removed: Vec<String> = current_set.difference(&wanted_set).copied().cloned().collect();
    let rotate = !removed.is_empty() && !options.no_rotate;
    let groups = vec![wanted];
    let new_file = if rotate {
        let mut plain = file.decrypt(identities, DecryptOptions::default()).map_err(sops_err)?;
        plain.rotate(Some(&groups), 0).map_err(sops_err)?
    } else {
        file.add_recipients(identities, &groups, 0).map_err(sops_err)?;
        file
    };
    let bytes = new_file.to_bytes().map_err(sops_err)?;
    Ok(Some(Rekeyed { secret: secret.clone(), added, removed, rotated: rotate, bytes: Some(bytes), dangling }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_go_to_the_tool_their_declared_type_names() {
        let secret = SecretRef { name: "db".into(), dir: PathBuf::from("sops/secrets/db") };
        let fingerprint = "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4";
        let pgp = PublicKey { key: fingerprint.into(), kind: KeyType::Pgp };
        assert_eq!(age_recipients(&secret, &[pgp]).unwrap(), [fingerprint]);
        // Declared age, shaped like a fingerprint: never handed to GnuPG.
        let err = age_recipients(&secret, &[PublicKey::age(fingerprint)]).unwrap_err();
        assert!(matches!(err, StoreError::AgeKeyLooksPgp { .. }), "{err}");
        // Declared pgp, not a whole fingerprint (a key ID GnuPG would search names for).
        let short = PublicKey { key: "3D16CEE4A27381B4".into(), kind: KeyType::Pgp };
        assert!(matches!(age_recipients(&secret, &[short]).unwrap_err(), StoreError::PgpRecipient { .. }));
    }
}
