//! `secrets check`: validates a whole repository without any private key, for CI and pre-commit
//! hooks. Names, `key.json` files, membership links, the `secret` files themselves, and drift
//! (a file encrypted for other recipients than its links say) are checked; plaintext where only
//! ciphertext belongs is flagged. With keys at hand, the MAC of every secret they open is
//! verified. [`fix`] re-keys what drifted.
//!
//! The repository is hostile input, and a check runs in CI on whatever was pushed: every folder
//! is opened from the root without following a link and listed, and every file and link text
//! read, through its descriptor ([`crate::untrusted::Folder`]), as the rest of the store does. A
//! folder swapped for a symlink while the check runs is refused, never followed; a FIFO or a
//! link to `/dev/zero` is reported, never opened; and `--fix` goes through the store's own
//! transaction, which writes and deletes through the same descriptors.

mod files;
mod fix;
mod links;
mod members;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use secrets_sops::keys::Identities;

use crate::credentials::mask::redact;
use crate::error::Result;
use crate::history::KeyIndex;
use crate::keyfile::KeyType;
use crate::names::{self, Kind};
use crate::repo::Repo;
use crate::secrets::SecretRef;
use crate::untrusted::{self, EntryKind, Folder, UntrustedError};

pub use fix::fix;

/// How bad a finding is: errors fail the check, warnings do not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Worth a look; the repository still works as intended.
    Warning,
    /// The repository does not do what its links say (or cannot be read): the check fails.
    Error,
}

impl Severity {
    /// The word for it in the report and in the JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One problem found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Whether it fails the check.
    pub severity: Severity,
    /// A stable identifier of the kind of problem (`drift`, `dangling-link`, …).
    pub code: &'static str,
    /// The path concerned, relative to the repository root.
    pub path: PathBuf,
    /// What is wrong and what to do; never a secret value.
    pub message: String,
    /// Whether [`fix`] repairs it.
    pub fixable: bool,
}

/// The outcome of a check.
#[derive(Debug, Default)]
pub struct Report {
    /// Sorted by path, then code.
    pub findings: Vec<Finding>,
    /// How many secrets were checked.
    pub secrets: usize,
    /// Secrets decrypted with the keys at hand and whose MAC matched.
    pub verified: usize,
    /// Secrets the keys at hand could not open (not an error).
    pub unreadable: usize,
    /// Secrets that [`fix`] would re-key: their recipients differ from their links, or they
    /// have dangling or misnamed links.
    pub drifted: Vec<SecretRef>,
    /// Links of groups to users or machines that do not exist, which [`fix`] removes: clan's
    /// `machines remove` and `users remove` delete the member's folder and leave them.
    pub dangling_group_links: Vec<GroupLink>,
}

/// A group's link to one member (`sops/groups/<group>/<kind>s/<member>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupLink {
    /// The group's name.
    pub group: String,
    /// User or machine.
    pub kind: Kind,
    /// The name of the link, that is of the member it stands for.
    pub member: String,
}

impl Report {
    /// How many findings are errors.
    pub fn errors(&self) -> usize {
        self.findings.iter().filter(|f| f.severity == Severity::Error).count()
    }

    /// How many findings are warnings.
    pub fn warnings(&self) -> usize {
        self.findings.iter().filter(|f| f.severity == Severity::Warning).count()
    }

    /// Whether [`fix`] has anything to do: secrets to re-key or group links to remove.
    pub fn needs_fix(&self) -> bool {
        !self.drifted.is_empty() || !self.dangling_group_links.is_empty()
    }

    /// How many findings [`fix`] repairs.
    pub fn fixable(&self) -> usize {
        self.findings.iter().filter(|f| f.fixable).count()
    }

    /// Whether the check passed: no error (warnings allowed).
    pub fn is_ok(&self) -> bool {
        self.errors() == 0
    }
}

/// What the check may use.
#[derive(Default)]
pub struct Options<'a> {
    /// Keys to verify MACs with; `None` checks without decrypting anything.
    pub identities: Option<&'a Identities>,
}

/// Findings of one part of the check, with paths made relative to the repository.
pub(crate) struct Sink<'a> {
    root: &'a Path,
    pub findings: Vec<Finding>,
}

impl<'a> Sink<'a> {
    fn new(root: &'a Path) -> Sink<'a> {
        Sink { root, findings: Vec::new() }
    }

    fn push(&mut self, severity: Severity, code: &'static str, path: &Path, message: String, fixable: bool) {
        let path = path.strip_prefix(self.root).unwrap_or(path).to_path_buf();
        // A committed file may hold a private key where a public one belongs: never echo it.
        let message = redact(&message);
        self.findings.push(Finding { severity, code, path, message, fixable });
    }

    /// Reports what [`untrusted`] refused, under the refusal's own code (`symlink`,
    /// `folder-symlink`, `too-large`, …), at the path it names.
    pub fn refused(&mut self, error: &UntrustedError, fallback: &Path) {
        let path = error.path().unwrap_or(fallback).to_path_buf();
        let text = error.to_string();
        let message = text.strip_prefix(&format!("{}: ", path.display())).unwrap_or(&text).to_string();
        self.error(error.code(), &path, message);
    }

    pub fn error(&mut self, code: &'static str, path: &Path, message: impl Into<String>) {
        self.push(Severity::Error, code, path, message.into(), false);
    }

    pub fn fixable(&mut self, code: &'static str, path: &Path, message: impl Into<String>) {
        self.push(Severity::Error, code, path, message.into(), true);
    }

    pub fn warn(&mut self, code: &'static str, path: &Path, message: impl Into<String>) {
        self.push(Severity::Warning, code, path, message.into(), false);
    }
}

/// Checks the repository.
pub fn check(repo: &Repo, options: &Options<'_>) -> Result<Report> {
    let root = repo.root().to_path_buf();
    let mut sink = Sink::new(&root);
    let env = links::Env::new(repo);
    // A symlinked folder at the top would lead every read below it outside the repository:
    // report it once and look no further into it.
    for kind in [Kind::User, Kind::Machine, Kind::Group, Kind::Secret] {
        if let Err(e) = untrusted::check_folders(&root, &repo.sops_dir().join(kind.folder())) {
            sink.refused(&e, &repo.sops_dir());
        }
    }
    let members = members::check(repo, &env, &mut sink);
    let mut secrets = scan_secrets_folder(repo, &mut sink);
    for found in repo.vars_secrets() {
        match found {
            Ok(secret) => secrets.push(secret),
            Err(e) => sink.refused(&e, &root.join("vars")),
        }
    }

    let results: Vec<(Vec<Finding>, bool, Verification)> = secrets
        .par_iter()
        .map(|secret| {
            let mut sink = Sink::new(&root);
            let (drifted, verification) = check_secret(&env, &members, secret, options.identities, &mut sink);
            (sink.findings, drifted, verification)
        })
        .collect();

    let mut report = Report { secrets: secrets.len(), ..Report::default() };
    report.findings = sink.findings;
    report.dangling_group_links.clone_from(&members.dangling);
    for ((findings, drifted, verification), secret) in results.into_iter().zip(&secrets) {
        report.findings.extend(findings);
        if drifted {
            report.drifted.push(secret.clone());
        }
        match verification {
            Verification::Verified => report.verified += 1,
            Verification::NoKey => report.unreadable += 1,
            Verification::NotTried => {}
        }
    }
    report.findings.sort_by(|a, b| (&a.path, a.code).cmp(&(&b.path, b.code)));
    report.findings.dedup();
    Ok(report)
}

/// Whether a secret's MAC was verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verification {
    Verified,
    NoKey,
    NotTried,
}

/// Looks at every entry of `sops/secrets/`: valid names, a `secret` file in each directory,
/// nothing else that could hold a value in plaintext, no symlink where a folder or file
/// belongs. Returns the secrets to check: every folder with a `secret` file, as the re-key
/// walks them. The folder is listed through its descriptor ([`Folder`]), and each entry is
/// looked at through it, never by path.
fn scan_secrets_folder(repo: &Repo, sink: &mut Sink<'_>) -> Vec<SecretRef> {
    let mut out = Vec::new();
    let Ok(Some(folder)) = Folder::open(repo.root(), &repo.sops_dir().join(Kind::Secret.folder())) else {
        return out; // refused ones are reported by `check`
    };
    for entry in listing(&folder, sink) {
        let path = &entry.path;
        if is_leftover_entry(&folder, &entry) {
            leftover(sink, &entry);
            continue;
        }
        match entry.kind {
            EntryKind::Folder => {}
            EntryKind::Symlink => {
                sink.refused(&UntrustedError::FolderSymlink { path: path.clone(), target: folder.read_link(&entry.name) }, path);
                continue;
            }
            EntryKind::File | EntryKind::Other => {
                sink.error("plaintext", path, "a file directly in sops/secrets/: secrets live in sops/secrets/<name>/secret, encrypted; if this holds a value, it is in plaintext in git");
                continue;
            }
        }
        let name = &entry.name;
        if names::is_hidden_secret(name) {
            sink.warn(
                "hidden-name",
                path,
                format!(
                    "a secret name starting with a dot: clan lists and re-keys it and so does secrets, but secrets does not create such names; consider `secrets rename {name} {}`",
                    name.trim_start_matches('.')
                ),
            );
        } else if let Err(e) = names::validate(Kind::Secret, name) {
            sink.error(
                "invalid-name",
                path,
                format!("{e}; `clan secrets` and `secrets` re-key it but cannot name it in a command: rename the folder"),
            );
        }
        match folder.open_dir(name).and_then(|dir| dir.map_or(Ok(false), |dir| dir.is_regular_file("secret"))) {
            Ok(true) => out.push(SecretRef { name: name.clone(), dir: path.clone() }),
            Ok(false) => {
                sink.warn("missing-secret-file", path, "a secret folder without a `secret` file (ignored by every command; a leftover?)");
            }
            Err(e) => sink.refused(&e, path),
        }
    }
    out
}

/// Whether `entry` of `folder` is the leftover of an interrupted command: a leftover name, and
/// not a folder holding a `secret` entry (that is a secret, as [`names::is_leftover_entry`]
/// says), looked at through the open folder.
pub(crate) fn is_leftover_entry(folder: &Folder, entry: &Entry) -> bool {
    if !names::is_leftover(&entry.name) {
        return false;
    }
    let holds_secret = entry.kind == EntryKind::Folder
        && matches!(folder.open_dir(&entry.name), Ok(Some(dir)) if matches!(dir.kind("secret"), Ok(Some(_))));
    !holds_secret
}

/// Reports the leftover of an interrupted command: a warning when it is what our code leaves (a
/// regular `.secrets-*` file, a `.<name>.removing-*` folder), an error otherwise — a symlink or
/// FIFO under such a name is planted, not left, and writing through it could reach any file.
pub(crate) fn leftover(sink: &mut Sink<'_>, entry: &Entry) {
    let expected = if entry.name.starts_with(".secrets-") { EntryKind::File } else { EntryKind::Folder };
    if entry.kind == expected {
        sink.warn("leftover", &entry.path, "left over by an interrupted command; `secrets key update` removes it");
    } else {
        let what = if entry.kind == EntryKind::Symlink { "a symlink" } else { "not a regular file or folder" };
        sink.error(
            "planted-leftover",
            &entry.path,
            format!("named like the leftover of an interrupted command but {what}: it was not left by secrets; remove it (`git rm`) and review who committed it"),
        );
    }
}

/// One entry of an open folder, as its listing shows it (a symlink not followed).
pub(crate) struct Entry {
    /// Its name (lossily converted for messages and member names).
    pub name: String,
    /// Its path, for findings only: it is never used to reach the entry.
    pub path: PathBuf,
    /// What it is.
    pub kind: EntryKind,
}

/// The entries of an open folder, sorted by name. A listing that fails is reported and empty.
pub(crate) fn listing(folder: &Folder, sink: &mut Sink<'_>) -> Vec<Entry> {
    match folder.entries() {
        Ok(entries) => entries
            .into_iter()
            .map(|(name, kind)| Entry { path: folder.path().join(&name), name: name.to_string_lossy().into_owned(), kind })
            .collect(),
        Err(e) => {
            sink.refused(&e, folder.path());
            Vec::new()
        }
    }
}

/// Everything about one secret. Returns whether it needs re-keying, and its MAC verification.
fn check_secret(
    env: &links::Env,
    members: &members::Members,
    secret: &SecretRef,
    identities: Option<&Identities>,
    sink: &mut Sink<'_>,
) -> (bool, Verification) {
    // Opened again from the root without following a link (the walk found it, but one of its
    // folders may have been swapped for a symlink since), and everything below is read
    // through this descriptor.
    let folder = match Folder::open(env.root(), &secret.dir) {
        Ok(Some(folder)) => folder,
        Ok(None) => {
            let gone = UntrustedError::Io { path: secret.dir.clone(), source: std::io::ErrorKind::NotFound.into() };
            sink.refused(&gone, &secret.dir);
            return (false, Verification::NotTried);
        }
        Err(e) => {
            sink.refused(&e, &secret.dir);
            return (false, Verification::NotTried);
        }
    };
    for entry in listing(&folder, sink) {
        match entry.name.as_str() {
            "secret" | "users" | "machines" | "groups" => {}
            _ if is_leftover_entry(&folder, &entry) => leftover(sink, &entry),
            _ if secret.name.starts_with("vars/") => {}
            _ => sink.error("unexpected-file", &entry.path, "only `secret` and the users/, machines/, groups/ links belong in a secret folder; if this holds a value, it is in plaintext in git"),
        }
    }
    let users = links::inspect(env, members, &folder, Kind::User, sink);
    let machines = links::inspect(env, members, &folder, Kind::Machine, sink);
    let groups = links::inspect(env, members, &folder, Kind::Group, sink);
    let file = files::check_file(&folder, secret, identities, sink);

    let mut readers: BTreeSet<(Kind, String)> = BTreeSet::new();
    readers.extend(users.members.iter().map(|u| (Kind::User, u.clone())));
    readers.extend(machines.members.iter().map(|m| (Kind::Machine, m.clone())));
    for group in &groups.members {
        if let Some(g) = members.groups.get(group) {
            readers.extend(g.users.iter().map(|u| (Kind::User, u.clone())));
            readers.extend(g.machines.iter().map(|m| (Kind::Machine, m.clone())));
        }
    }
    let file_path = secret.file();
    if readers.is_empty() {
        sink.error("no-recipients", &secret.dir, "no user or machine is linked to this secret, so nobody is meant to read it");
    } else if !readers.iter().any(|(k, _)| *k == Kind::User) {
        sink.warn("no-user", &secret.dir, "no user can read this secret (only machines): nobody can change or re-key it");
    }

    let links_unsafe = users.unsafe_links || machines.unsafe_links || groups.unsafe_links;
    // Links re-keying drops: dangling ones and misnamed ones (which grant nothing).
    let dangling = !users.dangling.is_empty()
        || !machines.dangling.is_empty()
        || !groups.dangling.is_empty()
        || users.misnamed
        || machines.misnamed
        || groups.misnamed;
    let Some(file) = file else { return (false, Verification::NotTried) };
    if links_unsafe {
        // The store refuses to re-key through such links; the link errors say what to do.
        return (false, file.verification);
    }
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    for (kind, name) in &readers {
        for key in members.keys.get(&(*kind, name.clone())).map_or(&[][..], Vec::as_slice) {
            if key.kind == KeyType::Pgp {
                wanted.insert(secrets_sops::keys::normalize_pgp_fingerprint(&key.key));
                continue;
            }
            wanted.insert(key.key.clone());
        }
    }
    let current: BTreeSet<String> = file.recipients.iter().flatten().cloned().collect();
    let drift = !readers.is_empty() && (current != wanted || file.recipients.len() != 1);
    if drift {
        sink.fixable("drift", &file_path, drift_message(&members.index, &current, &wanted, file.recipients.len()));
    }
    (drift || (dangling && !readers.is_empty()), file.verification)
}

fn drift_message(index: &KeyIndex, current: &BTreeSet<String>, wanted: &BTreeSet<String>, groups: usize) -> String {
    let mut parts = Vec::new();
    let missing: Vec<String> = wanted.difference(current).map(|k| index.describe(k)).collect();
    let extra: Vec<String> = current.difference(wanted).map(|k| index.describe(k)).collect();
    if !missing.is_empty() {
        parts.push(format!("not encrypted for {}", missing.join(", ")));
    }
    if !extra.is_empty() {
        parts.push(format!("still encrypted for {}", extra.join(", ")));
    }
    if groups != 1 {
        parts.push(format!("{groups} key groups instead of one"));
    }
    format!("recipients differ from the links: {}; `secrets check --fix` re-keys it", parts.join("; "))
}

#[cfg(test)]
mod tests;
