//! The history of secrets from git: for each commit that touched a `secret` file, whether the
//! value changed, whether the recipients changed (who was added or removed, by name where the
//! `key.json` files of that commit tell), or both, with author and date.
//!
//! Without a key, "value unchanged" is certain when the ciphertext is identical; a new
//! ciphertext means the value changed or the data key was replaced (a revocation rotates it,
//! `set` always encrypts with a new one). With a key that could read both versions, both are
//! decrypted and compared, and the answer is exact.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use git2::{Commit, DiffOptions, Oid, Sort};
use secrets_sops::keys::Identities;
use secrets_sops::{DecryptOptions, EncryptedFile, Format};
use time::{OffsetDateTime, UtcOffset};

use crate::error::Result;

use super::keyindex::{KeyIndex, Owner};
use super::snapshot::{git_err, GitRepo, Snapshot};

/// Who made a commit, and when.
#[derive(Clone, Debug)]
pub struct CommitInfo {
    /// The full commit id, in hex.
    pub id: String,
    /// The author's name.
    pub author: String,
    /// The author's email address.
    pub email: String,
    /// Seconds since the epoch.
    pub time: i64,
    /// The author's UTC offset, in minutes.
    pub offset_minutes: i32,
    /// The first line of the commit message.
    pub subject: String,
}

impl CommitInfo {
    fn of(commit: &Commit<'_>) -> CommitInfo {
        let author = commit.author();
        CommitInfo {
            id: commit.id().to_string(),
            author: author.name().unwrap_or("").to_string(),
            email: author.email().unwrap_or("").to_string(),
            time: author.when().seconds(),
            offset_minutes: author.when().offset_minutes(),
            subject: commit.summary().ok().flatten().unwrap_or("").to_string(),
        }
    }

    fn datetime(&self) -> OffsetDateTime {
        let offset = UtcOffset::from_whole_seconds(self.offset_minutes * 60).unwrap_or(UtcOffset::UTC);
        OffsetDateTime::from_unix_timestamp(self.time).unwrap_or(OffsetDateTime::UNIX_EPOCH).to_offset(offset)
    }

    /// `2025-01-02 10:00:00 +01:00`, in the author's time zone.
    pub fn date(&self) -> String {
        let t = self.datetime();
        let offset = t.offset();
        let (h, m, _) = offset.as_hms();
        let sign = if offset.is_negative() { '-' } else { '+' };
        format!("{} {:02}:{:02}:{:02} {sign}{:02}:{:02}", self.day(), t.hour(), t.minute(), t.second(), h.abs(), m.abs())
    }

    /// `2025-01-02`.
    pub fn day(&self) -> String {
        let t = self.datetime();
        format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
    }

    /// The commit id shortened to nine digits, as `git log --oneline` shows it.
    pub fn short_id(&self) -> &str {
        &self.id[..self.id.len().min(9)]
    }
}

/// What happened to a secret's value in a commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueChange {
    /// The secret was created.
    Created,
    /// The secret was removed.
    Removed,
    /// The value changed (both versions were decrypted and compared).
    Changed,
    /// The value stayed the same (identical ciphertext, or decrypted and compared).
    Unchanged,
    /// The ciphertext changed and no key here could read both versions: the value changed, or
    /// only the data key did.
    ChangedOrRekeyed,
    /// A version is not a readable sops file.
    Unreadable,
}

impl ValueChange {
    /// The word for it in the log and in the JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            ValueChange::Created => "created",
            ValueChange::Removed => "removed",
            ValueChange::Changed => "changed",
            ValueChange::Unchanged => "unchanged",
            ValueChange::ChangedOrRekeyed => "changed-or-rekeyed",
            ValueChange::Unreadable => "unreadable",
        }
    }
}

/// A recipient added or removed, with who has that key.
#[derive(Clone, Debug)]
pub struct Recipient {
    /// The recipient key as written in the file.
    pub key: String,
    /// The members that have that key in the same commit; empty for an unknown key.
    pub owners: Vec<Owner>,
}

/// One secret's change in one commit.
#[derive(Clone, Debug)]
pub struct Change {
    /// The secret's name (`db-password`, or `vars/…` for vars secrets).
    pub secret: String,
    /// What happened to the value.
    pub value: ValueChange,
    /// Recipients the commit added.
    pub added: Vec<Recipient>,
    /// Recipients the commit removed.
    pub removed: Vec<Recipient>,
}

/// A commit and the secrets it changed.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The commit.
    pub commit: CommitInfo,
    /// The secrets it changed, by name.
    pub changes: Vec<Change>,
}

/// What to look at.
#[derive(Default)]
pub struct LogOptions<'a> {
    /// Only this secret's directory (relative to the repository root).
    pub only: Option<&'a Path>,
    /// Keys to decrypt with, to tell value changes for sure.
    pub identities: Option<&'a Identities>,
    /// Names for keys no commit's `key.json` knows (typically the work tree's).
    pub fallback_names: Option<&'a KeyIndex>,
    /// Stop after this many commits with changes.
    pub max_count: Option<usize>,
}

/// The name of the secret whose `secret` file is at `rel` (relative to the repository root).
pub fn secret_name(rel: &Path) -> Option<String> {
    let parts: Vec<&str> = rel.iter().map(|p| p.to_str()).collect::<Option<_>>()?;
    match parts.as_slice() {
        ["sops", "secrets", name, "secret"] => Some(name.to_string()),
        ["vars", "shared", _, _, "secret"] | ["vars", "per-machine", _, _, _, "secret"] => Some(parts[..parts.len() - 1].join("/")),
        _ => None,
    }
}

/// A `secret` file's version in a commit: its path and blob.
struct Touched {
    secret: String,
    old: Option<Oid>,
    new: Option<Oid>,
}

/// Calls `visit` for every commit reachable from HEAD (newest first) that changed `secret`
/// files, with those files. A merge commit lists only what differs from every parent (what
/// the merge itself made), as `git log --cc` does.
fn walk(git: &GitRepo, only: Option<&Path>, visit: &mut dyn FnMut(&Commit<'_>, Vec<Touched>) -> Result<bool>) -> Result<()> {
    let repo = git.git();
    let mut revwalk = repo.revwalk().map_err(git_err)?;
    if revwalk.push_head().is_err() {
        return Ok(());
    }
    revwalk.set_sorting(Sort::TOPOLOGICAL | Sort::TIME).map_err(git_err)?;
    let specs: Vec<PathBuf> = match only {
        Some(dir) => vec![git.git_path(&dir.join("secret"))],
        None => vec![git.git_path(Path::new("sops/secrets")), git.git_path(Path::new("vars"))],
    };
    for oid in revwalk {
        let commit = repo.find_commit(oid.map_err(git_err)?).map_err(git_err)?;
        let tree = commit.tree().map_err(git_err)?;
        let parents: Vec<Commit<'_>> = commit.parents().collect();
        let parent_tree = parents.first().map(git2::Commit::tree).transpose().map_err(git_err)?;
        let mut options = DiffOptions::new();
        for spec in &specs {
            options.pathspec(spec);
        }
        let diff = repo.diff_tree_to_tree(parent_tree.as_ref(), Some(&tree), Some(&mut options)).map_err(git_err)?;
        let mut touched = Vec::new();
        for delta in diff.deltas() {
            let Some(path) = delta.new_file().path().or_else(|| delta.old_file().path()) else { continue };
            let Some(secret) = git.repo_path(path).as_deref().and_then(secret_name) else { continue };
            let id = |f: git2::DiffFile<'_>| (!f.id().is_zero()).then(|| f.id());
            let (old, new) = (id(delta.old_file()), id(delta.new_file()));
            if parents.len() > 1 {
                let from_a_parent = parents[1..].iter().any(|p| p.tree().ok().map(|t| t.get_path(path).ok().map(|e| e.id())) == Some(new));
                if from_a_parent {
                    continue;
                }
            }
            touched.push(Touched { secret, old, new });
        }
        if !touched.is_empty() && !visit(&commit, touched)? {
            break;
        }
    }
    Ok(())
}

fn blob(git: &GitRepo, id: Option<Oid>) -> Option<Vec<u8>> {
    id.and_then(|id| git.git().find_blob(id).ok()).map(|b| b.content().to_vec())
}

/// Names per set of `key.json` files, computed once per distinct `sops/users` + `sops/machines`.
struct Names<'g> {
    git: &'g GitRepo,
    cache: HashMap<(Option<Oid>, Option<Oid>), KeyIndex>,
    fallback: Option<&'g KeyIndex>,
}

impl Names<'_> {
    fn at(&mut self, commit: Option<&Commit<'_>>) -> Result<KeyIndex> {
        let Some(commit) = commit else { return Ok(self.fallback.cloned().unwrap_or_default()) };
        let snapshot: Snapshot<'_> = self.git.snapshot(commit)?;
        let key = (snapshot.id(Path::new("sops/users")), snapshot.id(Path::new("sops/machines")));
        if let Some(index) = self.cache.get(&key) {
            return Ok(index.clone());
        }
        let mut index = snapshot.key_index();
        if let Some(fallback) = self.fallback {
            index.fill_from(fallback);
        }
        self.cache.insert(key, index.clone());
        Ok(index)
    }
}

/// The history of the repository's secrets (or of one), newest first.
pub fn log(git: &GitRepo, options: &LogOptions<'_>) -> Result<Vec<Entry>> {
    let mut names = Names { git, cache: HashMap::new(), fallback: options.fallback_names };
    let mut entries = Vec::new();
    walk(git, options.only, &mut |commit, touched| {
        let parent = commit.parents().next();
        let now = names.at(Some(commit))?;
        let before = names.at(parent.as_ref())?;
        let changes = touched
            .into_iter()
            .map(|t| {
                let (old, new) = (blob(git, t.old), blob(git, t.new));
                describe(t.secret, old.as_deref(), new.as_deref(), options.identities, &before, &now)
            })
            .collect();
        entries.push(Entry { commit: CommitInfo::of(commit), changes });
        Ok(options.max_count.is_none_or(|max| entries.len() < max))
    })?;
    Ok(entries)
}

fn describe(
    secret: String,
    old: Option<&[u8]>,
    new: Option<&[u8]>,
    identities: Option<&Identities>,
    before: &KeyIndex,
    now: &KeyIndex,
) -> Change {
    let parse = |bytes: Option<&[u8]>| bytes.map(|b| EncryptedFile::parse(b, Format::Binary));
    let recipients = |file: &EncryptedFile| {
        let mut all: Vec<String> = file.metadata.recipients().into_iter().flatten().collect();
        all.sort();
        all.dedup();
        all
    };
    let named = |keys: Vec<String>, index: &KeyIndex| -> Vec<Recipient> {
        keys.into_iter().map(|key| Recipient { owners: index.owners(&key).to_vec(), key }).collect()
    };
    let (old, new) = (parse(old), parse(new));
    match (old, new) {
        (None, Some(Ok(new))) => Change { secret, value: ValueChange::Created, added: named(recipients(&new), now), removed: Vec::new() },
        (Some(Ok(old)), None) => {
            Change { secret, value: ValueChange::Removed, added: Vec::new(), removed: named(recipients(&old), before) }
        }
        (Some(Ok(old)), Some(Ok(new))) => {
            let (a, b) = (recipients(&old), recipients(&new));
            let added = b.iter().filter(|k| !a.contains(k)).cloned().collect();
            let removed = a.iter().filter(|k| !b.contains(k)).cloned().collect();
            Change { secret, value: compare_values(&old, &new, identities), added: named(added, now), removed: named(removed, before) }
        }
        (None, Some(Err(_))) => Change { secret, value: ValueChange::Created, added: Vec::new(), removed: Vec::new() },
        _ => Change { secret, value: ValueChange::Unreadable, added: Vec::new(), removed: Vec::new() },
    }
}

/// Whether two versions hold the same value: identical ciphertext says yes without a key;
/// otherwise both are decrypted when the keys here can.
pub fn compare_values(old: &EncryptedFile, new: &EncryptedFile, identities: Option<&Identities>) -> ValueChange {
    if old.data == new.data {
        return ValueChange::Unchanged;
    }
    let Some(identities) = identities else { return ValueChange::ChangedOrRekeyed };
    let options = DecryptOptions::default();
    match (old.decrypt(identities, options), new.decrypt(identities, options)) {
        (Ok(a), Ok(b)) if a.data == b.data => ValueChange::Unchanged,
        (Ok(_), Ok(_)) => ValueChange::Changed,
        _ => ValueChange::ChangedOrRekeyed,
    }
}

/// When a secret was created and when its value was last changed, from history.
#[derive(Clone, Debug, Default)]
pub struct Dates {
    /// The first commit that has the secret.
    pub created: Option<CommitInfo>,
    /// The last commit that created the secret or changed its ciphertext (without a key, a new
    /// data key counts as a change).
    pub updated: Option<CommitInfo>,
}

/// Created and updated dates of every secret that has history, by name (keyless and fast).
pub fn dates(git: &GitRepo) -> Result<HashMap<String, Dates>> {
    let mut out: HashMap<String, Dates> = HashMap::new();
    walk(git, None, &mut |commit, touched| {
        for t in touched {
            let entry = out.entry(t.secret).or_default();
            if entry.created.is_some() {
                // Older history belongs to an earlier secret of the same name.
                continue;
            }
            let value_changed = match (t.old, t.new) {
                (_, None) => {
                    // Removed here, and it exists again later: the later creation is the one.
                    entry.created = entry.updated.clone();
                    continue;
                }
                (None, Some(_)) => true,
                (Some(_), Some(_)) => {
                    let data = |id| blob(git, id).and_then(|b| EncryptedFile::parse(&b, Format::Binary).ok()).map(|f| f.data);
                    let (a, b) = (data(t.old), data(t.new));
                    a.is_none() || a != b
                }
            };
            if value_changed && entry.updated.is_none() {
                entry.updated = Some(CommitInfo::of(commit));
            }
            if t.old.is_none() {
                entry.created = Some(CommitInfo::of(commit));
            }
        }
        Ok(true)
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_from_paths() {
        assert_eq!(secret_name(Path::new("sops/secrets/db/secret")).as_deref(), Some("db"));
        assert_eq!(secret_name(Path::new("vars/shared/gen/file/secret")).as_deref(), Some("vars/shared/gen/file"));
        assert_eq!(secret_name(Path::new("vars/per-machine/m/gen/file/secret")).as_deref(), Some("vars/per-machine/m/gen/file"));
        assert_eq!(secret_name(Path::new("sops/secrets/db/users/alice")), None);
        assert_eq!(secret_name(Path::new("sops/secrets/db/secret/x")), None);
    }

    #[test]
    fn dates_are_in_the_authors_zone() {
        let info = CommitInfo {
            id: "0123456789abcdef".into(),
            author: "A".into(),
            email: "a@x".into(),
            time: 1_700_000_000,
            offset_minutes: 90,
            subject: String::new(),
        };
        assert_eq!(info.date(), "2023-11-14 23:43:20 +01:30");
        assert_eq!(info.day(), "2023-11-14");
        assert_eq!(info.short_id(), "012345678");
    }
}
