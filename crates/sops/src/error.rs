//! Typed errors of the format library. Messages never contain plaintext: parse errors name a
//! position, decryption errors name a path of mapping keys.

use crate::format::Format;

/// The exit statuses of the real `sops` binary, by name (its `cmd/sops/codes` package): scripts
/// written for sops test these numbers, so `secrets sops` exits with the same ones.
pub mod codes {
    pub const ERROR_GENERIC: i32 = 1;
    pub const COULD_NOT_READ_INPUT_FILE: i32 = 2;
    pub const COULD_NOT_WRITE_OUTPUT_FILE: i32 = 3;
    pub const ERROR_DUMPING_TREE: i32 = 4;
    pub const ERROR_READING_CONFIG: i32 = 5;
    pub const ERROR_INVALID_KMS_ENCRYPTION_CONTEXT_FORMAT: i32 = 6;
    pub const ERROR_INVALID_SET_FORMAT: i32 = 7;
    pub const ERROR_CONFLICTING_PARAMETERS: i32 = 8;
    pub const ERROR_ENCRYPTING_MAC: i32 = 21;
    pub const ERROR_ENCRYPTING_TREE: i32 = 23;
    pub const ERROR_DECRYPTING_MAC: i32 = 24;
    pub const ERROR_DECRYPTING_TREE: i32 = 25;
    pub const CANNOT_CHANGE_KEYS_FROM_NON_EXISTENT_FILE: i32 = 49;
    pub const MAC_MISMATCH: i32 = 51;
    pub const MAC_NOT_FOUND: i32 = 52;
    pub const CONFIG_FILE_NOT_FOUND: i32 = 61;
    pub const KEYBOARD_INTERRUPT: i32 = 85;
    pub const INVALID_TREE_PATH_FORMAT: i32 = 91;
    pub const NEED_AT_LEAST_ONE_DOCUMENT: i32 = 92;
    pub const NO_FILE_SPECIFIED: i32 = 100;
    pub const NO_ENCRYPTION_KEY_FOUND: i32 = 111;
    pub const COULD_NOT_RETRIEVE_KEY: i32 = 128;
    pub const FILE_HAS_NOT_BEEN_MODIFIED: i32 = 200;
    pub const NO_EDITOR_FOUND: i32 = 201;
    pub const FAILED_TO_COMPARE_VERSIONS: i32 = 202;
    pub const FILE_ALREADY_ENCRYPTED: i32 = 203;
}

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

    /// `set` would nest the document deeper than the format's reader accepts (the file could not
    /// be read back).
    #[error("the value and its path nest {depth} levels deep; a {format} file may nest at most {limit} (its reader refuses deeper files)")]
    TooDeep { format: Format, depth: usize, limit: usize },

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
            Error::Parse { .. } => codes::COULD_NOT_READ_INPUT_FILE,
            Error::EmptyInput => codes::NEED_AT_LEAST_ONE_DOCUMENT,
            Error::Emit { .. } => codes::ERROR_DUMPING_TREE,
            Error::AlreadyEncrypted => codes::FILE_ALREADY_ENCRYPTED,
            Error::ValueDecrypt { .. } | Error::BadValue { .. } => codes::ERROR_DECRYPTING_TREE,
            Error::MacDecrypt | Error::MacMissing | Error::MacMismatch => codes::MAC_MISMATCH,
            Error::NoKey(_) => codes::COULD_NOT_RETRIEVE_KEY,
            Error::Shamir(_) => codes::COULD_NOT_RETRIEVE_KEY,
            Error::TreePath { .. } => codes::INVALID_TREE_PATH_FORMAT,
            Error::TooDeep { .. } => codes::ERROR_INVALID_SET_FORMAT,
            Error::Wrap(_) => codes::ERROR_ENCRYPTING_TREE,
            _ => codes::ERROR_GENERIC,
        }
    }

    pub(crate) fn parse(format: Format, message: impl Into<String>) -> Error {
        Error::Parse { format, message: message.into() }
    }

    pub(crate) fn metadata(message: impl Into<String>) -> Error {
        Error::Metadata(message.into())
    }
}
