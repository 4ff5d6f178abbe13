//! Typed errors of the machine side. Each names the secret, file or account concerned; none
//! carries a secret value or key material.

use std::path::PathBuf;

use secrets_store::StoreError;

/// Why the machine side failed: reading the repository copy, the manifest or the keys,
/// decrypting, or installing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeployError {
    /// Reading the repository failed (a name, an unsafe entry, an oversized file…).
    #[error("{0}")]
    Store(#[from] StoreError),

    // Messages avoid `<…/secret>: …`, which reads like an assignment to output redaction.
    /// A file of the install does not parse as a sops file of its format.
    #[error("cannot read {path} as a sops file: {source}")]
    Sops {
        /// The encrypted file.
        path: PathBuf,
        /// What the parser refused.
        source: secrets_sops::Error,
    },

    /// A file or folder could not be read or written.
    #[error("{path} ({reason})")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What went wrong: the system's error, or why the entry was refused.
        reason: String,
    },

    /// The folder given is neither a repository nor a copy of its `sops/` folder.
    #[error("{path}: neither a repository (with sops/) nor a copy of its sops/ folder")]
    NotARepository {
        /// The folder given.
        path: PathBuf,
    },

    /// No key to decrypt with was found.
    #[error("no key to decrypt with: {tried}")]
    NoIdentity {
        /// Where keys were looked for.
        tried: String,
    },

    /// A key file could not be read or used.
    #[error("key {path}: {reason}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },

    /// A manifest is not valid or names something it cannot have.
    #[error("manifest {path}: {reason}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// A secret of the install cannot be installed as asked (a missing key, a clashing
    /// format or name…).
    #[error("secret `{name}`: {reason}")]
    Secret {
        /// The secret's name in the install.
        name: String,
        /// What is wrong.
        reason: String,
    },

    /// A secret does not decrypt with the machine's keys.
    #[error("secret `{name}` ({path}) cannot be decrypted: {source}")]
    Decrypt {
        /// The secret's name in the install.
        name: String,
        /// Its encrypted file.
        path: PathBuf,
        /// Why it does not decrypt.
        source: secrets_sops::Error,
    },

    /// An owner or group name is not in the account database.
    #[error("unknown {kind} `{name}` (not in {database})")]
    UnknownAccount {
        /// `user` or `group`.
        kind: &'static str,
        /// The name looked up.
        name: String,
        /// The database looked in (`/etc/passwd`, `/etc/group`).
        database: PathBuf,
    },

    /// A system call on a file or folder failed.
    #[error("{path}: {source}")]
    Os {
        /// The file or folder.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },

    /// A folder or entry that another user could control: installing through it would let
    /// them choose where root writes.
    #[error("{path} is not safe to install into: {reason}")]
    Unsafe {
        /// The folder or entry.
        path: PathBuf,
        /// Who could control it, and how.
        reason: String,
    },

    /// The machine asked for is not in the repository.
    #[error("machine `{name}` is not in {sops}/machines (machines there: {known}); check the name given to --machine")]
    UnknownMachine {
        /// The machine's name as given.
        name: String,
        /// The `sops/` folder read.
        sops: PathBuf,
        /// The machines there (the first few).
        known: String,
    },

    /// The generations folder holds a number that cannot be counted past.
    #[error("{path}: generation numbers are exhausted; remove it (it was not written by an install)")]
    GenerationsExhausted {
        /// The generation with the highest number.
        path: PathBuf,
    },

    /// The target exists and is not a symlink, so it cannot be switched.
    #[error("{path} exists and is not a symlink; move it away (the target is replaced by a symlink to each new generation)")]
    TargetNotSymlink {
        /// The target.
        path: PathBuf,
    },
}

impl DeployError {
    pub(crate) fn io(path: impl Into<PathBuf>, error: std::io::Error) -> DeployError {
        DeployError::Io { path: path.into(), reason: error.to_string() }
    }

    pub(crate) fn secret(name: impl Into<String>, reason: impl Into<String>) -> DeployError {
        DeployError::Secret { name: name.into(), reason: reason.into() }
    }
}

/// A result of the machine side.
pub type Result<T, E = DeployError> = std::result::Result<T, E>;
