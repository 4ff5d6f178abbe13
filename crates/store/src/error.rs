//! Typed errors of the repository model. Each names the path or member concerned and, where it
//! helps, what to do; none carries a secret value.

use std::path::{Path, PathBuf};

use crate::names::{shown, shown_path, Kind};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("invalid {} name `{}`: {reason}", kind.noun(), shown(name))]
    InvalidName { kind: Kind, name: String, reason: String },

    /// `path` is the member's (or secret's) directory.
    #[error("{}", not_found(*kind, name, path))]
    NotFound { kind: Kind, name: String, path: PathBuf },

    #[error("{}", already_exists(*kind, name, path))]
    AlreadyExists { kind: Kind, name: String, path: PathBuf },

    /// A member to encrypt a secret for does not exist; `path` is the member's directory.
    #[error("Cannot encrypt {} for '{}'. '{}' does not exist in {}", shown(secret), shown(name), shown(name), parent(path))]
    MemberMissing { secret: String, kind: Kind, name: String, path: PathBuf },

    #[error("{}: {reason}", shown_path(path))]
    KeyFile { path: PathBuf, reason: String },

    #[error(
        "{}: the link points outside sops/ or at the wrong kind of member ({}); remove it or point it at sops/{expected}/<name>",
        shown_path(path),
        shown_path(target)
    )]
    UnsafeLink { path: PathBuf, target: PathBuf, expected: &'static str },

    #[error("{}: {source}", shown_path(path))]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Another command held the repository lock for longer than the caller would wait.
    #[error(
        "another secrets command has held the repository lock {} for {} s; wait for it to finish (or set SECRETS_LOCK_TIMEOUT to wait longer), or find what holds it with `fuser {}`",
        path.display(), waited.as_secs(), path.display()
    )]
    LockTimeout { path: PathBuf, waited: std::time::Duration },

    /// A repository file or folder refused by [`crate::untrusted`]: a symlink, not a regular
    /// file, too large, or a symlinked folder on the way.
    #[error(transparent)]
    Untrusted(#[from] crate::untrusted::UntrustedError),

    #[error("{}: {source}", shown_path(path))]
    Sops { path: PathBuf, source: secrets_sops::Error },

    #[error("refusing to leave {} with no user able to read it; add another user or group first, or pass --force", shown(secret))]
    LockOut { secret: String },

    #[error(
        "Cannot remove the last recipient of {}. No keys left. Use 'secrets remove {}' to remove the secret.",
        shown(secret),
        shown(secret)
    )]
    NoRecipients { secret: String },

    #[error("{reason}: '{input}'")]
    InvalidKey { input: String, reason: String },

    /// A change failed and could not be undone completely; the journal stays and the next
    /// command finishes undoing it.
    #[error("{source}; undoing the change failed too ({undo}): the next secrets command finishes undoing it (journal {})", journal.display())]
    Unfinished {
        journal: PathBuf,
        #[source]
        source: Box<StoreError>,
        undo: Box<StoreError>,
    },

    #[error("git: {0}")]
    Git(String),

    /// An AWS CLI credentials or config file that the AWS CLI would refuse too.
    #[error("{}: {source}; the AWS CLI cannot read this file either, fix that line", path.display())]
    AwsFile {
        path: PathBuf,
        #[source]
        source: crate::credentials::aws_files::AwsIniError,
    },

    #[error("{0}")]
    Other(String),
}

// clan's wording for these (a port's messages must match `clan secrets`).
fn not_found(kind: Kind, name: &str, path: &Path) -> String {
    match kind {
        Kind::Secret => format!("Secret '{}' does not exist", shown(name)),
        _ => format!("{} does not exist in {}", shown(name), parent(path)),
    }
}

fn already_exists(kind: Kind, name: &str, path: &Path) -> String {
    match kind {
        Kind::Secret => format!("Secret '{}' already exists", shown(name)),
        _ => format!("{} already exists in {}. Use --force to overwrite.", shown(name), shown_path(path)),
    }
}

fn parent(path: &Path) -> std::borrow::Cow<'_, str> {
    shown_path(path.parent().unwrap_or(path))
}

impl StoreError {
    pub(crate) fn io(path: impl Into<PathBuf>, error: std::io::Error) -> StoreError {
        StoreError::Io { path: path.into(), source: error }
    }

    /// The operating system's error behind this one, if any (to tell a full disk or a
    /// read-only file system from other failures).
    pub fn io_error(&self) -> Option<&std::io::Error> {
        match self {
            StoreError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
