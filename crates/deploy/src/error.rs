//! Typed errors of the machine side. Each names the secret, file or account concerned; none
//! carries a secret value or key material.

use std::path::PathBuf;

use secrets_store::StoreError;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeployError {
    #[error("{0}")]
    Store(#[from] StoreError),

    // Messages avoid `<…/secret>: …`, which reads like an assignment to output redaction.
    #[error("cannot read {path} as a sops file: {source}")]
    Sops { path: PathBuf, source: secrets_sops::Error },

    #[error("{path} ({reason})")]
    Io { path: PathBuf, reason: String },

    #[error("{path}: neither a repository (with sops/) nor a copy of its sops/ folder")]
    NotARepository { path: PathBuf },

    #[error("no key to decrypt with: {tried}")]
    NoIdentity { tried: String },

    #[error("key {path}: {reason}")]
    Key { path: PathBuf, reason: String },

    #[error("manifest {path}: {reason}")]
    Manifest { path: PathBuf, reason: String },

    #[error("secret `{name}`: {reason}")]
    Secret { name: String, reason: String },

    #[error("secret `{name}` ({path}) cannot be decrypted: {source}")]
    Decrypt { name: String, path: PathBuf, source: secrets_sops::Error },

    #[error("unknown {kind} `{name}` (not in {database})")]
    UnknownAccount { kind: &'static str, name: String, database: PathBuf },

    #[error("{path}: {source}")]
    Os {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A folder or entry that another user could control: installing through it would let
    /// them choose where root writes.
    #[error("{path} is not safe to install into: {reason}")]
    Unsafe { path: PathBuf, reason: String },

    #[error("machine `{name}` is not in {sops}/machines (machines there: {known}); check the name given to --machine")]
    UnknownMachine { name: String, sops: PathBuf, known: String },

    #[error("{path}: generation numbers are exhausted; remove it (it was not written by an install)")]
    GenerationsExhausted { path: PathBuf },

    #[error("{path} exists and is not a symlink; move it away (the target is replaced by a symlink to each new generation)")]
    TargetNotSymlink { path: PathBuf },
}

impl DeployError {
    pub(crate) fn io(path: impl Into<PathBuf>, error: std::io::Error) -> DeployError {
        DeployError::Io { path: path.into(), reason: error.to_string() }
    }

    pub(crate) fn secret(name: impl Into<String>, reason: impl Into<String>) -> DeployError {
        DeployError::Secret { name: name.into(), reason: reason.into() }
    }
}

pub type Result<T, E = DeployError> = std::result::Result<T, E>;
