//! The `sops` metadata block: its logical fields, how they are read leniently from every layout
//! sops 3.7–3.13 writes, and how they are written in the 3.11 layout.

use crate::error::{Error, Result};
use crate::format::Format;
use crate::tree::{Map, MapItem, Value};

/// The version string written into new files. sops-nix and older sops read it as semver.
pub const WRITER_VERSION: &str = "3.11.0";

/// One age recipient's copy of the data key (or of its group's Shamir share).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgeKey {
    /// The recipient string exactly as given (advisory: identities are not chosen by it).
    pub recipient: String,
    /// The armored age file holding the wrapped key, with its final newline.
    pub enc: String,
}

/// A key group. Non-age master keys (pgp, kms, …) are kept verbatim so that rewriting a file
/// does not drop them, even though this library cannot use them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KeyGroup {
    pub age: Vec<AgeKey>,
    /// Other master key lists by their metadata name (`pgp`, `kms`, `gcp_kms`, `azure_kv`,
    /// `hc_vault`, `hckms`), as parsed.
    pub other: Vec<(String, Value)>,
}

/// Which values are encrypted (sops' six mutually exclusive options).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SelectionRule {
    UnencryptedSuffix(String),
    EncryptedSuffix(String),
    UnencryptedRegex(String),
    EncryptedRegex(String),
    UnencryptedCommentRegex(String),
    EncryptedCommentRegex(String),
}

impl SelectionRule {
    pub const FIELDS: [&'static str; 6] = [
        "unencrypted_suffix",
        "encrypted_suffix",
        "unencrypted_regex",
        "encrypted_regex",
        "unencrypted_comment_regex",
        "encrypted_comment_regex",
    ];

    pub fn field(&self) -> &'static str {
        match self {
            SelectionRule::UnencryptedSuffix(_) => "unencrypted_suffix",
            SelectionRule::EncryptedSuffix(_) => "encrypted_suffix",
            SelectionRule::UnencryptedRegex(_) => "unencrypted_regex",
            SelectionRule::EncryptedRegex(_) => "encrypted_regex",
            SelectionRule::UnencryptedCommentRegex(_) => "unencrypted_comment_regex",
            SelectionRule::EncryptedCommentRegex(_) => "encrypted_comment_regex",
        }
    }

    pub fn value(&self) -> &str {
        match self {
            SelectionRule::UnencryptedSuffix(s)
            | SelectionRule::EncryptedSuffix(s)
            | SelectionRule::UnencryptedRegex(s)
            | SelectionRule::EncryptedRegex(s)
            | SelectionRule::UnencryptedCommentRegex(s)
            | SelectionRule::EncryptedCommentRegex(s) => s,
        }
    }

    pub fn from_field(field: &str, value: String) -> Option<SelectionRule> {
        Some(match field {
            "unencrypted_suffix" => SelectionRule::UnencryptedSuffix(value),
            "encrypted_suffix" => SelectionRule::EncryptedSuffix(value),
            "unencrypted_regex" => SelectionRule::UnencryptedRegex(value),
            "encrypted_regex" => SelectionRule::EncryptedRegex(value),
            "unencrypted_comment_regex" => SelectionRule::UnencryptedCommentRegex(value),
            "encrypted_comment_regex" => SelectionRule::EncryptedCommentRegex(value),
            _ => return None,
        })
    }

    /// The rule sops applies when a file names none.
    pub fn default_rule() -> SelectionRule {
        SelectionRule::UnencryptedSuffix("_unencrypted".to_string())
    }
}

/// The logical metadata of a sops file.
#[derive(Clone, Debug, PartialEq)]
pub struct Metadata {
    pub key_groups: Vec<KeyGroup>,
    /// 0 when unset.
    pub shamir_threshold: usize,
    /// `lastmodified` as written in the file.
    pub last_modified: String,
    /// The encrypted MAC (`ENC[…]`), if present.
    pub mac: Option<String>,
    /// The rule written in the file; `None` means none was written (sops then assumes
    /// `unencrypted_suffix: _unencrypted`).
    pub selection: Option<SelectionRule>,
    pub mac_only_encrypted: bool,
    pub version: String,
}
