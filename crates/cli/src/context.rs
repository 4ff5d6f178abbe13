//! What the repository commands share: finding the repository, the identities, committing,
//! progress on long re-keys, and turning store errors into messages with a next step.

use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};
use secrets_sops::keys::Identities;
use secrets_store::journal::{self, Recovered};
use secrets_store::lock::{self, RepoLock};
use secrets_store::names::{shown, shown_path};
use secrets_store::ops::{Outcome, Progress};
use secrets_store::uncommitted;
use secrets_store::{Kind, Repo, StoreError};

use crate::cli::GlobalArgs;
use crate::exit;
use crate::failure::Failure;
use crate::output::{note, say};

pub struct Context {
    pub global: GlobalArgs,
    /// What the command changed, for its `--json` result ([`Change`]).
    pub change: std::cell::RefCell<Change>,
}

/// What a command changed in the repository: with `--json`, a command that prints no result of
/// its own prints this one (`commands::run`), so that every command has one JSON result.
#[derive(Default, Debug)]
pub struct Change {
    /// Whether the command reached its commit (or the point where it would commit).
    pub recorded: bool,
    /// Paths changed, relative to the repository.
    pub paths: Vec<String>,
    /// Secrets whose files were encrypted again.
    pub reencrypted: Vec<String>,
    /// Secrets someone lost access to: their values should change.
    pub lost_access: Vec<String>,
    /// The commit's subject, when a commit was made.
    pub commit: Option<String>,
}

impl Change {
    /// The JSON result: `{"changed": [...], "reencrypted": [...], "lost_access": [...], "commit": …}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "changed": self.paths,
            "reencrypted": self.reencrypted,
            "lost_access": self.lost_access,
            "commit": self.commit,
        })
    }
}

impl Context {
    /// The repository: `--repo`/`SECRETS_REPO`, else found from the working directory.
    pub fn repo(&self) -> Result<Repo, Failure> {
        let repo = self.find_repo()?;
        if self.global.debug {
            say!("debug: repository {}", repo.root().display());
            if !self.global.option.is_empty() {
                say!("debug: --option is a nix option; secrets evaluates no nix, so it is ignored");
            }
        }
        Ok(repo)
    }

    /// `--repo`/`SECRETS_REPO`, else `CLAN_DIR` (clan's default for `--flake`; empty means
    /// unset, as in clan), else found from the working directory.
    fn find_repo(&self) -> Result<Repo, Failure> {
        if let Some(path) = &self.global.repo {
            if !path.is_dir() {
                return Err(Failure::msg(format!("{}: no such directory", path.display())).hint("--repo takes the folder that holds sops/"));
            }
            return Ok(Repo::at(path.canonicalize().unwrap_or_else(|_| path.clone())));
        }
        if let Some(dir) = std::env::var_os("CLAN_DIR").filter(|v| !v.is_empty()) {
            let path = PathBuf::from(dir);
            if !path.is_dir() {
                return Err(Failure::msg(format!("CLAN_DIR={}: no such directory", path.display()))
                    .hint("CLAN_DIR names the folder that holds sops/ (a local folder; secrets reads no remote flake)"));
            }
            return Ok(Repo::at(path.canonicalize().unwrap_or(path)));
        }
        let cwd = std::env::current_dir().map_err(|e| Failure::msg(format!("cannot read the working directory: {e}")))?;
        Repo::discover(&cwd).ok_or_else(|| {
            Failure::msg("no repository found in the current directory or its parents")
                .hint("run this inside a git repository, or pass --repo PATH (the folder that holds sops/)")
        })
    }

    /// Takes the repository lock, for a command about to change the repository: held from
    /// before it reads the membership until after its commit (drop the guard after
    /// [`Context::commit`]). Waits for another command to finish, saying so on stderr, for up to
    /// `SECRETS_LOCK_TIMEOUT` seconds (60 by default).
    pub fn lock(&self, repo: &Repo) -> Result<RepoLock, Failure> {
        let timeout = lock_timeout()?;
        let announce = |path: &std::path::Path| note!("waiting for another secrets command to finish (lock {})…", path.display());
        let lock = RepoLock::acquire(repo, timeout, &announce)?;
        match journal::recover(repo, &lock) {
            Ok(recovered) => report_recovered(recovered.as_ref()),
            Err(e) => return Err(recovery_failure(repo, e)),
        }
        self.finish_uncommitted(repo);
        Ok(lock)
    }

    /// The repository, for a command that only reads it: a change an interrupted command left
    /// half done is undone first when no other command is running (otherwise that command is
    /// the one changing it); a failure to undo it is a warning.
    pub fn repo_for_reading(&self) -> Result<Repo, Failure> {
        let repo = self.repo()?;
        if journal::pending(&repo) || uncommitted::exists(&repo) {
            let settled = RepoLock::try_acquire(&repo).and_then(|lock| match lock {
                Some(lock) => journal::recover(&repo, &lock).map(|recovered| Some((lock, recovered))),
                None => Ok(None),
            });
            match settled {
                Ok(Some((_lock, recovered))) => {
                    report_recovered(recovered.as_ref());
                    self.finish_uncommitted(&repo);
                }
                Ok(None) => {}
                Err(e) => recovery_failure(&repo, e).print_as_warning(),
            }
        }
        Ok(repo)
    }

    /// The identities at hand (the environment's, as sops finds them; a passphrase is asked on
    /// the terminal when a protected one is needed).
    pub fn identities() -> Identities {
        crate::passphrase::local_identities()
    }

    fn commits(&self) -> bool {
        !self.global.no_commit && std::env::var_os("CLAN_NO_COMMIT").is_none_or(|v| v.is_empty())
    }

    /// Commits what an operation changed, when the repository is a git work tree; then drops
    /// the store's record that the change is uncommitted (also when told not to commit). A
    /// failed commit keeps the record, so the next command commits the change.
    pub fn commit(&self, repo: &Repo, paths: &[PathBuf], subject: &str) -> Result<(), Failure> {
        {
            let mut change = self.change.borrow_mut();
            change.recorded = true;
            change.paths.extend(paths.iter().map(|p| p.strip_prefix(repo.root()).unwrap_or(p).display().to_string()));
        }
        if paths.is_empty() {
            let _ = uncommitted::clear(repo);
            return Ok(());
        }
        if !self.commits() {
            let _ = uncommitted::clear(repo);
            // As clan: new files join git's tracked set (a flake sees them), nothing is staged.
            match secrets_store::git::intent_to_add(repo.root(), paths) {
                Ok(marked) if self.global.debug => say!("debug: not committing; {} marked intent-to-add", plural(marked, "new file")),
                Ok(_) => {}
                Err(e) => {
                    store_failure(e).hint("the change is on disk; add it to git by hand: git add --intent-to-add sops").print_as_warning();
                }
            }
            return Ok(());
        }
        kill_before_commit_if_asked();
        if self.global.debug {
            match secrets_store::git::commit_by_git(repo.root()) {
                Some(reason) => say!("debug: committing with `git commit` ({reason})"),
                None => say!("debug: committing in process, with the identity git commit would use"),
            }
        }
        let committed = secrets_store::git::commit_paths(repo.root(), paths, subject);
        if committed.is_ok() {
            let _ = uncommitted::clear(repo);
        }
        match committed {
            Ok(true) => {
                self.change.borrow_mut().commit = Some(subject.to_string());
                note!("Committed {} to git: {subject}", plural(paths.len(), "path"));
                Ok(())
            }
            Ok(false) => Ok(()),
            Err(e) => {
                // The change itself is final: running the command again would find nothing to
                // do, so the only next step is the commit.
                let full = e.io_error().is_some_and(|e| e.kind() == std::io::ErrorKind::StorageFull);
                let refused = matches!(e, StoreError::GitCommitRefused { .. });
                let mut failure = store_failure(e);
                failure.hints.clear();
                if refused {
                    return Err(failure.hint(format!(
                        "the change is written and staged but not committed; fix what git said, then commit it: git commit -m {}",
                        shell_quoted(subject)
                    )));
                }
                let first = if full { "free some space on the disk, then " } else { "" };
                Err(failure.hint(format!("the change is on disk but not committed; {first}commit it by hand (git add sops && git commit)")))
            }
        }
    }

    /// Reports a finished operation: one line naming who lost access to which secrets (the
    /// reminder to change their values), and how many secret files were encrypted again (only
    /// files that changed count).
    pub fn report(&self, repo: &Repo, outcome: &Outcome, lost: Lost<'_>) {
        let revoked: Vec<&str> =
            outcome.rekeyed.iter().filter(|r| r.file_changed && !r.removed.is_empty()).map(|r| r.secret.as_str()).collect();
        {
            let mut change = self.change.borrow_mut();
            change.reencrypted.extend(outcome.rekeyed.iter().filter(|r| r.file_changed).map(|r| r.secret.clone()));
            change.lost_access.extend(revoked.iter().map(|s| (*s).to_string()));
        }
        if !revoked.is_empty() {
            let who = match lost {
                Lost::Member { kind, name } | Lost::ThroughGroup { kind, name, .. } => format!("{} ({})", shown(name), kind.noun()),
                Lost::KeysOf { kind, name } => format!("the removed key(s) of {} ({})", shown(name), kind.noun()),
                Lost::Unknown => {
                    let index = secrets_store::history::KeyIndex::from_repo(repo);
                    let mut holders: Vec<String> =
                        outcome.rekeyed.iter().flat_map(|r| r.removed.iter()).map(|k| shown(&index.describe(k)).into_owned()).collect();
                    holders.sort();
                    holders.dedup();
                    holders.join(", ")
                }
            };
            say!("{}", revocation_line(&who, &revoked, lost, self.commits()));
        }
        let count = outcome.rekeyed.iter().filter(|r| r.file_changed).count();
        if count > 0 {
            note!("Re-encrypted {}", plural(count, "secret"));
        }
    }

    /// The progress bar of a re-key (shown on a terminal only).
    pub fn progress() -> Bar {
        Bar(std::sync::OnceLock::new())
    }
}

/// Who lost access in a change, for its report ([`Context::report`]).
#[derive(Clone, Copy)]
pub enum Lost<'a> {
    /// Nobody in particular (a re-key): removed keys are named by their holders, if known.
    Unknown,
    /// A user, machine or group, removed or unlinked from secrets.
    Member {
        /// User, machine or group.
        kind: Kind,
        /// Its name.
        name: &'a str,
    },
    /// A user or machine removed from a group.
    ThroughGroup {
        /// User or machine.
        kind: Kind,
        /// Its name.
        name: &'a str,
        /// The group.
        group: &'a str,
    },
    /// Keys removed from a user or machine that stays.
    KeysOf {
        /// User or machine.
        kind: Kind,
        /// Its name.
        name: &'a str,
    },
}

/// Secrets named in a revocation line; more are summed up with a command that lists them.
const NAMED_SECRETS: usize = 10;

/// `bob (user) lost access to db, api; change their values …`: up to [`NAMED_SECRETS`] by
/// name, else their number and where to find them all.
fn revocation_line(who: &str, revoked: &[&str], lost: Lost<'_>, committed: bool) -> String {
    let advice = "change their values if the removed reader may have kept a copy";
    if revoked.len() <= NAMED_SECRETS {
        let listed: Vec<String> = revoked.iter().map(|s| shown(s).into_owned()).collect();
        return format!("{who} lost access to {}; {advice}", listed.join(", "));
    }
    let count = plural(revoked.len(), "secret");
    match lost {
        Lost::ThroughGroup { group, .. } => {
            format!("{who} lost access to {count}; {advice}: secrets list --readable-by group:{}", shown(group))
        }
        _ if committed => {
            format!("{who} lost access to {count}; {advice}: they are the secrets of the commit, git show --name-only HEAD -- sops/secrets")
        }
        _ => format!("{who} lost access to {count}; {advice}: they are the changed secrets, git status sops"),
    }
}

/// The subject of the commit of a change an interrupted command left uncommitted.
const UNCOMMITTED_SUBJECT: &str = "secrets: commit the change of an interrupted secrets command";

impl Context {
    /// Commits the change a command killed between making it final and committing it left
    /// behind ([`uncommitted`]), before anything else happens; told not to commit, says so and
    /// how to commit it. Never fails the command: a failure is a warning, and the record stays
    /// for the next command.
    fn finish_uncommitted(&self, repo: &Repo) {
        let paths = match uncommitted::pending(repo) {
            Ok(Some(paths)) if !paths.is_empty() => paths,
            Ok(_) => return,
            Err(e) => {
                let hint = "commit the changes under sops/ by hand if any (git status sops), then remove the record";
                return store_failure(e).hint(hint).print_as_warning();
            }
        };
        let shown: Vec<String> = paths.iter().take(5).map(|p| shown_path(p.strip_prefix(repo.root()).unwrap_or(p)).into_owned()).collect();
        let more = if paths.len() > 5 { format!(" and {} more", paths.len() - 5) } else { String::new() };
        let listed = format!("{}{more}", shown.join(", "));
        if std::env::var_os("GIT_INDEX_FILE").is_some() {
            // Run by git itself (a hook during `git commit`): committing now would race the
            // commit in progress. The record stays for the next command run outside git.
            say!(
                "warning: an interrupted secrets command left its change on disk but not committed ({listed}); the next secrets command run outside git commits it"
            );
            return;
        }
        if !self.commits() {
            say!(
                "warning: an interrupted secrets command left its change on disk but not committed ({listed}); commit it: git add sops && git commit"
            );
            let _ = uncommitted::clear(repo);
            return;
        }
        match secrets_store::git::commit_paths(repo.root(), &paths, UNCOMMITTED_SUBJECT) {
            Ok(committed) => {
                if committed {
                    say!("warning: an interrupted secrets command left its change uncommitted ({listed}); committed it now: {UNCOMMITTED_SUBJECT}");
                }
                let _ = uncommitted::clear(repo);
            }
            Err(e) => store_failure(e)
                .hint(format!(
                    "an interrupted secrets command left its change uncommitted ({listed}); commit it by hand: git add sops && git commit"
                ))
                .print_as_warning(),
        }
    }
}

/// Testing aid: with `SECRETS_KILL_BEFORE_COMMIT=1` the process ends by `SIGKILL` right before
/// it commits a change, as a `kill -9` or a power cut there would end it, so that tests can
/// check that the next command commits the change.
fn kill_before_commit_if_asked() {
    if std::env::var_os("SECRETS_KILL_BEFORE_COMMIT").is_some_and(|v| v == "1") {
        crate::sys::signals::die(libc::SIGKILL);
    }
}

fn report_recovered(recovered: Option<&Recovered>) {
    if let Some(r) = recovered {
        if r.completed {
            say!("warning: a secrets command was interrupted just after its change was complete; its clean-up is now finished");
            return;
        }
        if r.paths.is_empty() {
            say!("warning: a secrets command was interrupted before it changed anything; run it again if it did not finish");
            return;
        }
        let paths: Vec<String> = r.paths.iter().take(5).map(|p| shown_path(p).into_owned()).collect();
        let more = if r.paths.len() > 5 { format!(" and {} more", r.paths.len() - 5) } else { String::new() };
        say!(
            "warning: a secrets command was interrupted in the middle of a change; it has been undone ({}{more} put back as they were). Run that command again.",
            paths.join(", ")
        );
    }
}

fn recovery_failure(repo: &Repo, error: StoreError) -> Failure {
    // A journal that is not a regular file was never read: its message says what to do.
    if matches!(error, StoreError::StateFile { .. }) {
        return store_failure(error);
    }
    store_failure(error).hint(format!(
        "an interrupted change could not be undone; once the cause is fixed, any secrets command undoes it (journal {})",
        journal::path(repo).display()
    ))
}

/// `SECRETS_LOCK_TIMEOUT`: seconds to wait for the repository lock.
fn lock_timeout() -> Result<std::time::Duration, Failure> {
    match std::env::var("SECRETS_LOCK_TIMEOUT") {
        Ok(text) if !text.trim().is_empty() => {
            text.trim().parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0).map(std::time::Duration::from_secs_f64).ok_or_else(
                || {
                    Failure::new(exit::USAGE, format!("SECRETS_LOCK_TIMEOUT={text}: not a number of seconds"))
                        .hint("for example SECRETS_LOCK_TIMEOUT=120")
                },
            )
        }
        _ => Ok(lock::DEFAULT_TIMEOUT),
    }
}

/// `text` quoted for a POSIX shell, for a command the user is told to run.
fn shell_quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

pub fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// A progress bar on stderr for re-keys of more than a few secrets on a terminal.
pub struct Bar(std::sync::OnceLock<ProgressBar>);

impl Progress for Bar {
    fn start(&self, total: usize) {
        if total > 8 && crate::output::stderr_is_terminal() && !crate::output::is_quiet() {
            let bar = ProgressBar::new(total as u64);
            if let Ok(style) = ProgressStyle::with_template("re-encrypting {bar:30} {pos}/{len} secrets") {
                bar.set_style(style);
            }
            let _ = self.0.set(bar);
        }
    }

    fn tick(&self) {
        if let Some(bar) = self.0.get() {
            bar.inc(1);
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.0.get() {
            bar.finish_and_clear();
        }
    }
}

/// The next step after a failed read or write, by what the system said.
fn io_hint(error: &std::io::Error) -> Option<String> {
    match error.kind() {
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
            Some("the disk is full: free some space on it, then run the command again (a failed change is undone)".to_string())
        }
        std::io::ErrorKind::ReadOnlyFilesystem => {
            Some("the file system is read-only: make it writable, then run the command again (a failed change is undone)".to_string())
        }
        _ => None,
    }
}

/// `?` on a store result: the error as [`store_failure`] words it. A call that adds context
/// (another hint, a different code) still maps the error itself.
impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Failure {
        store_failure(error)
    }
}

/// A store error as a message with a next step.
pub fn store_failure(error: StoreError) -> Failure {
    let hint = match &error {
        StoreError::LockOut { .. } => Some("every secret should stay readable by at least one user".to_string()),
        StoreError::NotFound { kind, .. } | StoreError::MemberMissing { kind, .. } => Some(
            match kind {
                secrets_store::Kind::User => "see `secrets users list`",
                secrets_store::Kind::Machine => "see `secrets machines list`",
                secrets_store::Kind::Group => "see `secrets groups list`",
                secrets_store::Kind::Secret => "see `secrets list`",
            }
            .to_string(),
        ),
        StoreError::Sops { source: secrets_sops::Error::NoKey(_), .. } => {
            Some("re-keying needs a key that can read the secret: set SOPS_AGE_KEY_FILE to one of its recipients' keys".to_string())
        }
        StoreError::UnsafeLink { .. } => Some("membership links must point into sops/; nothing was changed".to_string()),
        StoreError::Unfinished { .. } => {
            Some("fix the cause, then run any secrets command: it first undoes the rest of the interrupted change".to_string())
        }
        StoreError::LockTimeout { .. } => Some("nothing was changed".to_string()),
        StoreError::LastGroupMember { group, .. } => Some(format!(
            "nothing was changed; add another member first (secrets groups add-user {} USER), or pass --force to remove the group with its last member (git keeps no empty folder)",
            shown(group)
        )),
        other => other.io_error().and_then(io_hint),
    };
    // A bad name is a usage error, as clan's argument parser reports it.
    let code = if matches!(error, StoreError::InvalidName { .. }) { exit::USAGE } else { exit::GENERIC };
    let failure = Failure::new(code, &error);
    match hint {
        Some(h) => failure.hint(h),
        None => failure,
    }
}
