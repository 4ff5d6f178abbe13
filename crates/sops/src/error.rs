//! Typed errors of the format library. Messages never contain plaintext: parse errors name a
//! position, decryption errors name a path of mapping keys.

use crate::format::Format;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("cannot parse the input as {format}: {message}")]
    Parse { format: Format, message: String },

    #[error("the input is empty; sops files cannot be completely empty")]
    EmptyInput,

    #[error("cannot write the document as {format}: {message}")]
    Emit { format: Format, message: String },

    #[error("sops metadata not found: the file is not encrypted with sops")]
    MetadataNotFound,

    #[error("the file already has sops metadata: it is already encrypted")]
    AlreadyEncrypted,

    #[error("invalid sops metadata: {0}")]
    Metadata(String),

    /// A key given twice in one mapping of the metadata, which sops refuses (its YAML decoder
    /// reports "mapping key already defined") rather than picking one of the values.
    #[error("invalid sops metadata: `{path}` is given more than once; remove the extra entry (sops refuses duplicate keys)")]
    DuplicateMetadataKey { path: String },

    #[error("invalid encrypted value at `{path}`: {reason}")]
    BadValue { path: String, reason: String },

    #[error("the value at `{path}` failed to decrypt: it was tampered with, moved to another key, or encrypted with another data key")]
    ValueDecrypt { path: String },

    #[error("cannot decrypt the MAC: the file was tampered with or its lastmodified changed")]
    MacDecrypt,

    #[error("MAC mismatch: the file has no MAC")]
    MacMissing,

    #[error("MAC mismatch: the file's content does not match its MAC (a value was edited outside sops, or the file was tampered with)")]
    MacMismatch,

    #[error("{0}")]
    NoKey(Box<crate::keys::DecryptFailure>),

    #[error("invalid age recipient `{recipient}`: {reason}")]
    Recipient { recipient: String, reason: String },

    #[error("invalid identity in {source_name}: {reason}")]
    Identity { source_name: String, reason: String },

    #[error("age encryption failed: {0}")]
    Wrap(String),

    #[error("the data key cannot be recombined from its Shamir shares: {0}")]
    Shamir(String),

    #[error("invalid path {path}: {reason}")]
    TreePath { path: String, reason: String },

    #[error("{0}")]
    Config(String),

    #[error("invalid regular expression `{regex}`: {reason}")]
    Regex { regex: String, reason: String },

    #[error("unsupported: {0}")]
    Unsupported(String),
}

impl Error {
    /// The exit code the real `sops` uses for the same failure (`cmd/sops/codes`).
    pub fn sops_exit_code(&self) -> i32 {
        match self {
            Error::Parse { .. } => 2,
            Error::EmptyInput => 92,
            Error::Emit { .. } => 4,
            Error::AlreadyEncrypted => 203,
            Error::ValueDecrypt { .. } | Error::BadValue { .. } => 25,
            Error::MacDecrypt | Error::MacMissing | Error::MacMismatch => 51,
            Error::NoKey(_) => 128,
            Error::Shamir(_) => 128,
            Error::TreePath { .. } => 91,
            Error::Wrap(_) => 23,
            _ => 1,
        }
    }

    pub(crate) fn parse(format: Format, message: impl Into<String>) -> Error {
        Error::Parse { format, message: message.into() }
    }

    pub(crate) fn metadata(message: impl Into<String>) -> Error {
        Error::Metadata(message.into())
    }
}
