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
    #[error("{path} ({source})")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },

    /// An installed file cannot be given its owner or group.
    #[error("{path} (cannot change the owner to {}:{}: {source})", show_id(*uid), show_id(*gid))]
    Chown {
        /// The file.
        path: PathBuf,
        /// The owner asked for (`None`: unchanged).
        uid: Option<u32>,
        /// The group asked for (`None`: unchanged).
        gid: Option<u32>,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },

    /// An owner or group of -1, which `chown` reads as "unchanged".
    #[error("{path} (4294967295 is not a valid uid or gid)")]
    InvalidId {
        /// The file it was to be given to.
        path: PathBuf,
    },

    /// An extra path of a secret holds something other than a symlink, which replacing it by
    /// the link to the secret would lose.
    #[error("{path} ({})", if *appeared { "appeared during the install and is not a symlink" } else { "exists and is not a symlink; move it away so that it can link to the secret" })]
    ExtraPathTaken {
        /// The extra path.
        path: PathBuf,
        /// Whether it appeared during the install (it was free or a symlink when first seen).
        appeared: bool,
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
    #[error("key {path}: {problem}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// Why it cannot be used.
        #[source]
        problem: KeyProblem,
    },

    /// A manifest is not valid or names something it cannot have.
    #[error("manifest {path}: {problem}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        problem: ManifestProblem,
    },

    /// A secret of the install cannot be installed as asked (a missing key, a clashing
    /// format or name…).
    #[error("secret `{name}`: {problem}")]
    Secret {
        /// The secret's name in the install.
        name: String,
        /// What is wrong.
        problem: SecretProblem,
    },

    /// A secret's owner or group cannot be found.
    #[error("secret `{name}`: {source}")]
    SecretAccount {
        /// The secret's name in the install.
        name: String,
        /// The failed look-up ([`DeployError::UnknownAccount`]).
        source: Box<DeployError>,
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
    #[error("{path} is not safe to install into: {exposure}")]
    Unsafe {
        /// The folder or entry.
        path: PathBuf,
        /// Who could control it, and how.
        exposure: Exposure,
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

    /// The file system for secrets cannot be mounted (it needs root in the mount namespace).
    #[error("{path}: cannot mount a {fs} for the secrets ({source})")]
    Mount {
        /// The generations folder.
        path: PathBuf,
        /// `ramfs` or `tmpfs`.
        fs: &'static str,
        /// The system's error.
        #[source]
        source: std::io::Error,
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

/// Why a key file cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyProblem {
    /// It cannot be read, is not a regular file, or is larger than a key file.
    #[error("{0}")]
    Unreadable(#[source] std::io::Error),

    /// It is not UTF-8 text.
    #[error("is not text")]
    NotText,

    /// An age key file without any `AGE-SECRET-KEY-` line.
    #[error("holds no age identity")]
    NoAgeIdentity,

    /// The format library refused the key.
    #[error("{0}")]
    Unusable(#[source] secrets_sops::Error),

    /// An SSH host key that cannot be converted to an age identity.
    #[error("{0} (only ed25519 host keys can be used)")]
    NotEd25519(#[source] secrets_sops::Error),
}

/// What is wrong with a manifest.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestProblem {
    /// It is not JSON.
    #[error("not valid JSON: {0}")]
    Json(#[source] serde_json::Error),

    /// It is JSON, but not of either manifest's shape.
    #[error("{0}")]
    Shape(#[source] serde_json::Error),

    /// A user-mode manifest installing without `$XDG_RUNTIME_DIR`, which `%r` stands for.
    #[error("cannot figure out the runtime directory: $XDG_RUNTIME_DIR is not set (user mode)")]
    NoRuntimeDir,

    /// A sops-nix manifest without the folders to install into.
    #[error("symlinkPath and secretsMountPoint are required (or pass --target)")]
    NoTarget,

    /// A secret in a format that sops has not.
    #[error("unsupported format {format} for secret {secret}")]
    UnsupportedFormat {
        /// The format as written.
        format: String,
        /// The secret.
        secret: String,
    },

    /// Templates are used, but a secret has no placeholder.
    #[error("placeholder for {secret} not found in manifest")]
    NoPlaceholder {
        /// The secret.
        secret: String,
    },

    /// A template's file cannot be read.
    #[error("cannot read {file}: {source}")]
    TemplateUnreadable {
        /// The template file, as written in the manifest.
        file: String,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },

    /// A template with neither content nor file.
    #[error("neither content nor file was specified for template {template}")]
    EmptyTemplate {
        /// The template.
        template: String,
    },

    /// A sops-nix mode that is not an octal number.
    #[error("invalid number in mode: {mode:?} (secret {secret})")]
    InvalidMode {
        /// The mode as written.
        mode: String,
        /// The secret or template.
        secret: String,
    },

    /// Settings for a secret the machine does not get.
    #[error("`{name}` is not one of the machine's secrets (see `secrets install --check`)")]
    UnknownSecret {
        /// The secret as named in the manifest.
        name: String,
    },

    /// A setting's mode that is not an octal number.
    #[error("`{name}`: invalid mode {mode:?} (octal, e.g. \"0440\")")]
    InvalidOverrideMode {
        /// The secret.
        name: String,
        /// The mode as written.
        mode: String,
    },
}

/// Why a secret cannot be installed as asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretProblem {
    /// The decrypted file holds no document.
    #[error("the file holds no document")]
    NoDocument,

    /// The key (`a/b/c`) leads nowhere (sops-nix's wording).
    #[error("the key '{key}' cannot be found")]
    KeyNotFound {
        /// The key as far as it was followed.
        key: String,
    },

    /// A part of the key names a value that is not a mapping (sops-nix's wording).
    #[error("key '{key}' does not refer to a dictionary")]
    NotADictionary {
        /// The key as far as it was followed.
        key: String,
    },

    /// The key leads to a value that is not a string.
    #[error("the value of key '{key}' is not a string")]
    NotAString {
        /// The key.
        key: String,
    },

    /// Two secrets of the install with one name.
    #[error("is listed twice")]
    ListedTwice,

    /// Two templates of the install with one name.
    #[error("template is listed twice")]
    TemplateListedTwice,

    /// A name that would leave the target folder.
    #[error("the name must be a relative path without `..` (it is a file inside the target folder)")]
    NameNotDownward,

    /// An extra path that is not absolute.
    #[error("path {} must be absolute", path.display())]
    PathNotAbsolute {
        /// The path.
        path: PathBuf,
    },

    /// One encrypted file read in two formats.
    #[error("defines the format of {} as {format}, but {first} gave {earlier} before", file.display())]
    FormatClash {
        /// The encrypted file.
        file: PathBuf,
        /// The format this secret gives it.
        format: secrets_sops::Format,
        /// The secret that named the file first.
        first: String,
        /// The format that secret gave it.
        earlier: secrets_sops::Format,
    },

    /// The folder of the secret's extra path was not opened before the install.
    #[error("its extra path was not opened")]
    ExtraPathNotOpened,

    /// The secret's file is outside the folders the install reads.
    #[error("{} is not in the repository's sops/ or vars/ folder", file.display())]
    OutsideRepository {
        /// The secret's file.
        file: PathBuf,
    },
}

/// Who could control a folder or entry on the way to an installed file, and how.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Exposure {
    /// A folder on the way that belongs to someone other than root and the installer.
    #[error("it belongs to uid {uid}, not to root or uid {me} who installs")]
    ForeignFolder {
        /// Its owner.
        uid: u32,
        /// The installer.
        me: u32,
    },

    /// A folder on the way that others can write to, and not sticky.
    #[error("others can write to it (mode {mode:04o}); remove group and other write access")]
    WritableFolder {
        /// Its permission bits.
        mode: u32,
    },

    /// A symlink met below a folder trusted only because the secret's owner owns it.
    #[error("it is a symlink in a folder of the secret's owner, which is not followed; give the real path")]
    LinkInOwnersFolder,

    /// A symlink of someone other than root and the installer.
    #[error("it is a symlink of uid {uid}, not of root or uid {me} who installs; it is not followed, give the real path")]
    ForeignLink {
        /// Its owner.
        uid: u32,
        /// The installer.
        me: u32,
    },

    /// A folder of the install itself that someone else owns.
    #[error("it belongs to uid {uid}, not to uid {me} who installs; someone else may have planted it")]
    ForeignOwned {
        /// Its owner.
        uid: u32,
        /// The installer.
        me: u32,
    },

    /// A folder of the install itself that others can write to.
    #[error("others can write to it (mode {mode:04o})")]
    WritableOwned {
        /// Its permission bits.
        mode: u32,
    },

    /// A symlink or a file where a folder of the install must be.
    #[error("it is a symlink or not a folder; remove it")]
    NotAFolder,

    /// A path that does not end in a file name.
    #[error("it must end in a file name, not `/`, `.` or `..`")]
    NoFileName,

    /// The walk down the path lost track of its folder (not expected to happen).
    #[error("the walk lost its folder")]
    WalkLost,

    /// More symlinks on the way than the kernel follows.
    #[error("it goes through too many symlinks")]
    TooManyLinks,

    /// A missing folder to be created named with `..`.
    #[error("a folder to be created must be named without `..`")]
    DotDotToCreate,

    /// Every random name tried was taken.
    #[error("no fresh name could be created in it")]
    NoFreshName,

    /// A folder to remove that nests deeper than the install goes.
    #[error("it nests too deep to be removed")]
    TooDeepToRemove,

    /// A folder that nests deeper than the install goes.
    #[error("it nests too deep")]
    TooDeep,

    /// The target symlink belongs to someone other than root and the installer.
    #[error("the symlink belongs to uid {uid}, not to root or uid {me} who installs; remove it")]
    ForeignTarget {
        /// Its owner.
        uid: u32,
        /// The installer.
        me: u32,
    },
}

/// A uid or gid to give, `-` for unchanged.
fn show_id(id: Option<u32>) -> String {
    id.map_or_else(|| "-".into(), |i| i.to_string())
}

impl DeployError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> DeployError {
        DeployError::Io { path: path.into(), source }
    }

    pub(crate) fn secret(name: impl Into<String>, problem: SecretProblem) -> DeployError {
        DeployError::Secret { name: name.into(), problem }
    }
}

/// A result of the machine side.
pub type Result<T, E = DeployError> = std::result::Result<T, E>;
