//! Typed errors of the repository model. Each names the path or member concerned and, where it
//! helps, what to do; none carries a secret value.

use std::path::{Path, PathBuf};

use crate::names::{shown, shown_path, Kind};

/// Why an operation on the `sops/` repository failed. The CLI turns each into a message and an
/// exit status (`failure.rs`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A user, machine, group or secret name that is empty, hidden, or would escape its folder.
    #[error("invalid {} name `{}`: {rule}", kind.noun(), shown(name))]
    InvalidName {
        /// Whether it is a user, machine, group or secret.
        kind: Kind,
        /// The name as given.
        name: String,
        /// Which rule of names it breaks.
        #[source]
        rule: crate::names::NameRule,
    },

    /// The named member or secret does not exist.
    #[error("{}", not_found(*kind, name, path))]
    NotFound {
        /// Whether it is a user, machine, group or secret.
        kind: Kind,
        /// Its name.
        name: String,
        /// The member's (or secret's) directory that was looked for.
        path: PathBuf,
    },

    /// Adding a member or secret under a name that is taken, without `--force`.
    #[error("{}", already_exists(*kind, name, path))]
    AlreadyExists {
        /// Whether it is a user, machine, group or secret.
        kind: Kind,
        /// Its name.
        name: String,
        /// The existing directory.
        path: PathBuf,
    },

    /// A member to encrypt a secret for does not exist; `path` is the member's directory.
    #[error("Cannot encrypt {} for '{}'. '{}' does not exist in {}", shown(secret), shown(name), shown(name), parent(path))]
    MemberMissing {
        /// The secret being written.
        secret: String,
        /// Whether it is a user, machine, group or secret.
        kind: Kind,
        /// The missing member's name.
        name: String,
        /// The directory the member would have.
        path: PathBuf,
    },

    /// A member's `key.json` that does not parse or holds no usable public key.
    #[error("{}: {problem}", shown_path(path))]
    KeyFile {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        problem: crate::keyfile::KeyFileProblem,
    },

    #[error(
        "{}: the link points outside sops/ or at the wrong kind of member ({}); remove it or point it at sops/{expected}/<name>",
        shown_path(path),
        shown_path(target)
    )]
    /// A membership symlink pointing outside `sops/` or at another kind of member: followed, it
    /// would encrypt a secret for whoever planted it.
    UnsafeLink {
        /// The symlink.
        path: PathBuf,
        /// Where it points, as written.
        target: PathBuf,
        /// The folder of `sops/` it should point into (`users`, `machines`, `groups`).
        expected: &'static str,
    },

    /// A file system operation on `path` failed.
    #[error("{}: {source}", shown_path(path))]
    Io {
        /// The file or folder operated on.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// Another command held the repository lock for longer than the caller would wait.
    #[error(
        "another secrets command has held the repository lock {} for {} s; wait for it to finish (or set SECRETS_LOCK_TIMEOUT to wait longer), or find what holds it with `fuser {}`",
        path.display(), waited.as_secs(), path.display()
    )]
    LockTimeout {
        /// The lock file.
        path: PathBuf,
        /// How long the command waited.
        waited: std::time::Duration,
    },

    /// A repository file or folder refused by [`crate::untrusted`]: a symlink, not a regular
    /// file, too large, or a symlinked folder on the way.
    #[error(transparent)]
    Untrusted(#[from] crate::untrusted::UntrustedError),

    /// A secret file that does not parse, decrypt or encrypt as a sops file.
    #[error("{}: {source}", shown_path(path))]
    Sops {
        /// The secret file.
        path: PathBuf,
        /// What the format library reported.
        source: secrets_sops::Error,
    },

    #[error("refusing to leave {} with no user able to read it; add another user or group first, or pass --force", shown(secret))]
    /// A removal that would leave the secret with no user who can decrypt it (machines only),
    /// refused unless forced.
    LockOut {
        /// The secret that would be locked out.
        secret: String,
    },

    #[error(
        "Cannot remove the last recipient of {}. No keys left. Use 'secrets remove {}' to remove the secret.",
        shown(secret),
        shown(secret)
    )]
    /// Removing the last member a secret is encrypted for.
    NoRecipients {
        /// The secret that would be left without recipients.
        secret: String,
    },

    /// A public key argument that is not an age, ssh-ed25519 or ssh-rsa public key (or looks
    /// like a private key, which is refused without echoing it).
    #[error("{problem}: '{input}'")]
    InvalidKey {
        /// The argument, redacted if it looked private.
        input: String,
        /// Why it is refused.
        #[source]
        problem: crate::keyinput::KeyProblem,
    },

    /// A change failed and could not be undone completely; the journal stays and the next
    /// command finishes undoing it.
    #[error("{source}; undoing the change failed too ({undo}): the next secrets command finishes undoing it (journal {})", journal.display())]
    Unfinished {
        /// The journal the next command replays.
        journal: PathBuf,
        /// Why the change failed.
        #[source]
        source: Box<StoreError>,
        /// Why undoing it failed.
        undo: Box<StoreError>,
    },

    /// The repository's lock file or journal is a symbolic link, a FIFO, a folder or a
    /// device: it is neither followed nor opened.
    #[error(
        "{}: the {file} is {what}, not a regular file; nothing was read or written through it. No secrets command may be running: remove it, then run the command again",
        shown_path(path)
    )]
    StateFile {
        /// The file.
        path: PathBuf,
        /// Which file: `lock file` or `journal`.
        file: &'static str,
        /// What it is instead (`a symbolic link`, `a named pipe (FIFO)`, …).
        what: &'static str,
    },

    /// git's index is locked: another git process is writing it, or one was killed while it
    /// did (git says the same and leaves the lock to the user).
    #[error(
        "git: {} exists: another git process seems to be running in this repository; wait for it, or if none is, remove that file and run the command again",
        lock.display()
    )]
    GitIndexLocked {
        /// The index's lock file (`.git/index.lock`).
        lock: PathBuf,
    },

    /// A git operation (staging, committing, reading history) failed in libgit2.
    #[error("git: {}", git_message(source, git_dir.as_deref()))]
    Git {
        /// libgit2's error.
        #[source]
        source: git2::Error,
        /// The git folder, when known (named when libgit2 gives no message).
        git_dir: Option<PathBuf>,
        /// The operating system's error libgit2 reported (`class` [`git2::ErrorClass::Os`]: a
        /// full disk, a read-only file system), read right after the failing call; see
        /// [`StoreError::io_error`].
        os: Option<std::io::Error>,
    },

    /// The git repository around the secrets repository is bare: there is nothing to commit.
    #[error("git: {}: the repository has no work tree", git_dir.display())]
    NoWorkTree {
        /// The git folder.
        git_dir: PathBuf,
    },

    /// A path to commit that is not inside the git work tree.
    #[error("git: {} is not in the git repository {}", path.display(), workdir.display())]
    NotInWorkTree {
        /// The path.
        path: PathBuf,
        /// The git work tree.
        workdir: PathBuf,
    },

    /// A path to commit that names no file (the work tree itself, `..`).
    #[error("git: {}: not a path to commit", path.display())]
    NotAPathToCommit {
        /// The path, relative to the work tree.
        path: PathBuf,
    },

    /// `git commit` (run when signing, hooks or git's own identity rules apply) could not be
    /// started or given its paths.
    #[error("cannot run `git commit` ({reason}): {source}")]
    GitCommand {
        /// Why the commit was left to git.
        reason: crate::git::ByGitReason,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },

    /// `git commit` refused the commit: a hook failed, signing failed, or git knows no
    /// identity. The files are written and staged.
    #[error("`git commit` failed ({reason}; {status}): {said}")]
    GitCommitRefused {
        /// Why the commit was left to git.
        reason: crate::git::ByGitReason,
        /// git's exit status.
        status: String,
        /// What git (and its hooks) printed.
        said: String,
    },

    /// An AWS CLI credentials or config file that the AWS CLI would refuse too.
    #[error("{}: {source}; the AWS CLI cannot read this file either, fix that line", path.display())]
    AwsFile {
        /// The credentials or config file.
        path: PathBuf,
        /// The line and what is wrong with it.
        #[source]
        source: crate::credentials::aws_files::AwsIniError,
    },

    /// A credential given, or read back from its secret, that does not fit its provider.
    #[error(transparent)]
    Credential(#[from] crate::credentials::CredentialError),

    /// A key file refused by the key file reader that decryption uses too (an AWS CLI file is
    /// read by it): not a regular file, larger than a key file, or unreadable. The reader's
    /// error names the file.
    #[error(transparent)]
    KeyFileUnreadable(#[from] secrets_sops::keys::identities::KeyFileError),

    /// A member's `key.json` holds a `pgp` entry that is no fingerprint: nothing can be
    /// encrypted to it.
    #[error("{}: {name} has a PGP key that is not a fingerprint; give the key's hexadecimal fingerprint", path.display())]
    PgpMember {
        /// The member's key file.
        path: PathBuf,
        /// The member's name.
        name: String,
    },

    /// A secret's recipients include a `pgp` entry that is no fingerprint: nothing can be
    /// encrypted to it.
    #[error("{secret}: a member's PGP key ({key}) is not a fingerprint; give the key's hexadecimal fingerprint")]
    PgpRecipient {
        /// The secret being encrypted.
        secret: String,
        /// The PGP key (its fingerprint, public).
        key: String,
    },

    /// A member's key declared `age` that is a PGP fingerprint: encrypted to, it would go to
    /// GnuPG, not to the age recipient the declaration promises.
    #[error("{secret}: a member's key declared as age ({key}) is a PGP fingerprint; declare it `pgp` (`--pgp-key`) or give the age key")]
    AgeKeyLooksPgp {
        /// The secret being encrypted.
        secret: String,
        /// The key as written.
        key: String,
    },

    /// The record of uncommitted changes could not be written.
    #[error("cannot record the uncommitted paths: {source}")]
    RecordUncommitted {
        /// Why the record could not be serialized.
        #[source]
        source: serde_json::Error,
    },

    /// A record of uncommitted changes that is not one `secrets` writes (not the caller's,
    /// writable by others, unreadable, or naming a path outside `sops/` and `vars/`).
    #[error("{}: {problem}; this is not a record secrets writes. Commit the changes under sops/ by hand if any (git status sops), then remove it", path.display())]
    ForeignUncommittedRecord {
        /// The record file.
        path: PathBuf,
        /// What is wrong with it (no secret).
        #[source]
        problem: crate::uncommitted::ForeignRecord,
    },

    /// The journal of an interrupted change belongs to another user or is writable by others,
    /// so it is not replayed.
    #[error("{}: the journal of an interrupted change is not yours, or others may write it; nothing was undone. Check who wrote it, then remove it", journal.display())]
    JournalNotTrusted {
        /// The journal.
        journal: PathBuf,
    },

    /// A journal line that is not a step secrets records (a path outside its folder, a link to
    /// somewhere else): the journal is not replayed.
    #[error("{}: {step}; this is not a step secrets records, nothing was undone. Remove the journal", journal.display())]
    ForeignJournalStep {
        /// The journal.
        journal: PathBuf,
        /// What is wrong with the step, naming its paths.
        #[source]
        step: crate::journal::ForeignStep,
    },

    /// An interrupted change is still to be undone before this command can run.
    #[error("{}: an interrupted change is still to be undone; run the command again (it undoes it first)", journal.display())]
    Interrupted {
        /// The journal of the interrupted change.
        journal: PathBuf,
    },

    /// A step of a change could not be written as a line of its journal.
    #[error("cannot record a step: {source}")]
    JournalStep {
        /// Why it could not be serialized.
        #[source]
        source: serde_json::Error,
    },

    /// A path given to a change (or found in its journal) that is not inside the repository.
    #[error("{}: not a path inside {within}", path.display())]
    OutsideRepository {
        /// The path.
        path: PathBuf,
        /// Where it had to be (`the repository`, `sops/ or vars/ of the repository`).
        within: &'static str,
    },

    /// A folder a change was writing was replaced (moved away, another put at its path) while
    /// the command ran: nothing more is written through the path, and the change is undone.
    #[error(
        "{}: the folder was replaced while the command ran, so the change was undone; make sure nothing else moves folders of the repository, then run the command again",
        path.display()
    )]
    FolderReplaced {
        /// The folder.
        path: PathBuf,
    },

    /// Undoing a change would put a link back where a folder now is.
    #[error("{}: a folder is where a link must be put back; move it away and run the command again", path.display())]
    FolderInTheWay {
        /// The folder.
        path: PathBuf,
    },

    /// A membership link cannot be added: something that is not a symlink has its name.
    #[error("Cannot add {} {name}. {} exists but is not a symlink; move it away first", kind.noun(), path.display())]
    NotASymlink {
        /// Whether the member is a user, machine or group.
        kind: Kind,
        /// The member's name.
        name: String,
        /// The entry in the way.
        path: PathBuf,
    },

    /// Adding a user or machine without any key.
    #[error("{} `{name}` needs at least one key", kind.noun())]
    NoKeysGiven {
        /// Whether it is a user or a machine.
        kind: Kind,
        /// Its name.
        name: String,
    },

    /// Removing a member's keys would leave it with none.
    #[error("No keys would remain in {}. At least one key is required. Aborting.", path.display())]
    NoKeysLeft {
        /// The member's directory.
        path: PathBuf,
    },

    /// Removing a member from a secret or group it is not in.
    #[error("{name} does not exist in group in {}", path.display())]
    NotAMember {
        /// Whether it is a user, machine or group.
        kind: Kind,
        /// The member's name.
        name: String,
        /// The folder of such members the link was looked for in.
        path: PathBuf,
    },

    /// Removing the last member of a group that grants access to secrets, without `force`:
    /// the group would go (git keeps no empty folder) and its access with it.
    #[error(
        "{} `{}` is the last member of group `{}`: removing it removes the group and its access to {secrets} secret(s)",
        kind.noun(),
        shown(name),
        shown(group)
    )]
    LastGroupMember {
        /// The group.
        group: String,
        /// Whether the member is a user or a machine.
        kind: Kind,
        /// The member's name.
        name: String,
        /// How many secrets the group grants access to.
        secrets: usize,
    },

    /// A secret file that decrypts but holds no `data` value.
    #[error("{}: the file has no `data` value", path.display())]
    NoData {
        /// The secret file.
        path: PathBuf,
    },

    /// A line of an identity file that starts like an age private key but does not parse.
    #[error("line {line} of the identity file is a malformed age private key")]
    MalformedIdentity {
        /// The line's number, from 1.
        line: usize,
    },

    /// A plugin identity without the `# recipient:` line that names its public key.
    #[error("line {line} holds a plugin identity: precede it with its `# recipient: age1…` line")]
    PluginIdentityWithoutRecipient {
        /// The line's number, from 1.
        line: usize,
    },

    /// An exported manifest cannot be written or encrypted.
    #[error("cannot {action} the manifest: {source}")]
    Manifest {
        /// `write` or `encrypt`.
        action: &'static str,
        /// What the format library reported.
        #[source]
        source: secrets_sops::Error,
    },
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

/// libgit2's message, without the class and code `git2::Error` adds to it; when it has none
/// (some failed writes say "no error"), its class and code, and the git folder if known.
fn git_message(error: &git2::Error, git_dir: Option<&Path>) -> String {
    let message = error.message().trim();
    if message.is_empty() || message.eq_ignore_ascii_case("no error") {
        let within = git_dir.map(|dir| format!(" in {}", dir.display())).unwrap_or_default();
        format!("libgit2 failed without saying why ({:?}, {:?}){within}", error.class(), error.code())
    } else {
        message.to_string()
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
    /// read-only file system from other failures), including one libgit2 reported.
    pub fn io_error(&self) -> Option<&std::io::Error> {
        match self {
            StoreError::Io { source, .. } => Some(source),
            StoreError::Git { os, .. } => os.as_ref(),
            _ => None,
        }
    }
}

/// The result of every fallible function of the repository model.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
