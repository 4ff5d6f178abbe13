//! Typed errors of the repository model. Each names the path or member concerned and, where it
//! helps, what to do; none carries a secret value.

use std::path::PathBuf;

use crate::names::Kind;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("invalid {} name `{name}`: {reason}", kind.noun())]
    InvalidName { kind: Kind, name: String, reason: String },

    #[error("{} `{name}` does not exist (no {path})", kind.noun())]
    NotFound { kind: Kind, name: String, path: PathBuf },

    #[error("{} `{name}` already exists in {path}; use --force to overwrite", kind.noun())]
    AlreadyExists { kind: Kind, name: String, path: PathBuf },

    #[error("{path}: {reason}")]
    KeyFile { path: PathBuf, reason: String },

    #[error("{path}: the link points outside sops/ or at the wrong kind of member ({target}); remove it or point it at sops/{expected}/<name>")]
    UnsafeLink { path: PathBuf, target: PathBuf, expected: &'static str },

    #[error("{path}: {reason}")]
    Io { path: PathBuf, reason: String },

    #[error("{path}: {source}")]
    Sops { path: PathBuf, source: secrets_sops::Error },

    #[error("refusing to leave {secret} with no user able to read it; add another user or group first, or pass --force")]
    LockOut { secret: String },

    #[error("{secret} would have no recipients at all; remove the secret instead")]
    NoRecipients { secret: String },

    #[error("invalid key `{input}`: {reason}")]
    InvalidKey { input: String, reason: String },

    #[error("git: {0}")]
    Git(String),

    #[error("{0}")]
    Other(String),
}

impl StoreError {
    pub(crate) fn io(path: impl Into<PathBuf>, error: std::io::Error) -> StoreError {
        StoreError::Io { path: path.into(), reason: error.to_string() }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
