//! The operations of `secrets users|machines|groups|set|get|…` on a repository, each one a
//! transaction: validate, change keys or links, re-key exactly the affected secrets (in
//! parallel), write atomically, and report what changed for the commit.

use std::fs;
use std::path::{Path, PathBuf};

use rayon::iter::{IntoParallelIterator, ParallelIterator};
use secrets_sops::keys::Identities;
use secrets_sops::{DecryptOptions, EncryptOptions, EncryptedFile, Format, Value};
use zeroize::Zeroizing;

use crate::error::{Result, StoreError};
use crate::keyfile::{self, PublicKey};
use crate::links;
use crate::names::{self, Kind};
use crate::rekey::{self, RekeyOptions, Rekeyed};
use crate::repo::Repo;
use crate::secrets::SecretRef;
use crate::tx::Tx;
use crate::untrusted::{EntryKind, Folder};

/// Reports progress of a re-key over many secrets.
pub trait Progress: Sync {
    /// The re-key begins, over `_total` secrets.
    fn start(&self, _total: usize) {}
    /// One more secret is done (called from worker threads).
    fn tick(&self) {}
    /// The re-key is over.
    fn finish(&self) {}
}

/// No progress display.
pub struct Quiet;
impl Progress for Quiet {}

/// What an operation needs besides its arguments.
pub struct Ctx<'a> {
    /// The repository to change.
    pub repo: &'a Repo,
    /// The private keys to decrypt secrets with when re-keying.
    pub identities: &'a Identities,
    /// How to re-key.
    pub options: RekeyOptions,
    /// Where re-key progress is reported.
    pub progress: &'a dyn Progress,
}

/// What an operation changed.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Every path created, changed or removed (for the commit).
    pub paths: Vec<PathBuf>,
    /// The secrets whose files were re-keyed.
    pub rekeyed: Vec<RekeySummary>,
    /// After a removal: keys of the removed member that another user or machine also holds,
    /// so that they stay recipients of what that holder reads (the removal does not revoke
    /// them). Empty for every other operation.
    pub shared_keys: Vec<SharedKey>,
}

/// A public key of a removed member that another member holds too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedKey {
    /// The public key.
    pub key: String,
    /// The kind of the other holder.
    pub kind: Kind,
    /// The other holder's name (from the repository: print it escaped).
    pub holder: String,
}

/// One re-keyed secret, for the report.
#[derive(Debug, Clone)]
pub struct RekeySummary {
    /// The secret's name.
    pub secret: String,
    /// Recipients added.
    pub added: Vec<String>,
    /// Recipients removed.
    pub removed: Vec<String>,
    /// Whether the data key was replaced.
    pub rotated: bool,
    /// Whether the secret's file changed (not only its dangling links).
    pub file_changed: bool,
}

impl From<&Rekeyed> for RekeySummary {
    fn from(r: &Rekeyed) -> Self {
        RekeySummary {
            secret: r.secret.name.clone(),
            added: r.added.clone(),
            removed: r.removed.clone(),
            rotated: r.rotated,
            file_changed: r.bytes().is_some(),
        }
    }
}

impl Ctx<'_> {
    /// Re-keys `secrets` after the changes recorded in `tx`, then makes them final.
    fn rekey_and_finish(&self, tx: Tx<'_>, secrets: &[SecretRef]) -> Result<Outcome> {
        self.rekey_check_and_finish(tx, secrets, || Ok(()))
    }

    /// [`Ctx::rekey_and_finish`], with one more check once the re-key is computed (and its own
    /// refusals, such as the lock-out guard, have had their say): its error undoes the change.
    fn rekey_check_and_finish(&self, tx: Tx<'_>, secrets: &[SecretRef], check: impl FnOnce() -> Result<()>) -> Result<Outcome> {
        self.progress.start(secrets.len());
        let tick = || self.progress.tick();
        let planned = tx.plan_rekey(secrets, self.identities, self.options, &tick);
        self.progress.finish();
        let (tx, plan) = planned?;
        if let Err(e) = check() {
            tx.rollback();
            return Err(e);
        }
        let rekeyed = plan.iter().map(RekeySummary::from).collect();
        let paths = tx.finish(&plan)?;
        Ok(Outcome { paths, rekeyed, shared_keys: Vec::new() })
    }
}

impl Repo {
    /// Secrets whose links name this member, directly or through a group (dangling links count,
    /// so a removed member's secrets are found too). A link is found by its name
    /// ([`links::link_path`]): a link grants only the member it is named after
    /// (`links::member_of`), so this finds every secret the member can read by its links,
    /// and a removal re-keys each of them.
    pub fn secrets_referencing(&self, kind: Kind, name: &str) -> Result<Vec<SecretRef>> {
        let groups: Vec<String> = match kind {
            Kind::Group => vec![name.to_string()],
            _ => self
                .list(Kind::Group)?
                .into_iter()
                .filter(|g| is_link(&links::link_path(&self.member_dir(Kind::Group, g), kind, name)))
                .collect(),
        };
        let direct = kind != Kind::Group;
        // One look per secret, on every core; the secrets stay in their order.
        Ok(self
            .all_secrets()?
            .into_par_iter()
            .filter(|s| {
                (direct && is_link(&links::link_path(&s.dir, kind, name)))
                    || groups.iter().any(|g| is_link(&links::link_path(&s.dir, Kind::Group, g)))
            })
            .collect())
    }

    fn require(&self, kind: Kind, name: &str) -> Result<()> {
        names::validate_existing(kind, name)?;
        // A member folder that is a symlink is refused under its own name here, before a link
        // to it is made (and then refused as pointing outside the repository).
        let dir = self.member_dir(kind, name);
        if crate::untrusted::check_folders(self.root(), &dir)? && self.exists(kind, name) {
            Ok(())
        } else {
            Err(StoreError::NotFound { kind, name: name.to_string(), path: dir })
        }
    }

    /// As [`Repo::require`], for a member a secret is to be encrypted for.
    fn require_for(&self, secret: &str, kind: Kind, name: &str) -> Result<()> {
        self.require(kind, name).map_err(|e| match e {
            StoreError::NotFound { kind, name, path } => StoreError::MemberMissing { secret: secret.to_string(), kind, name, path },
            other => other,
        })
    }
}

fn is_link(path: &std::path::Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

/// `users add` / `machines add`: writes the member's `key.json` and re-keys its secrets.
pub fn add_member(ctx: &Ctx<'_>, kind: Kind, name: &str, keys: &[PublicKey], force: bool) -> Result<Outcome> {
    names::validate(kind, name)?;
    if keys.is_empty() {
        return Err(StoreError::NoKeysGiven { kind, name: name.to_string() });
    }
    let path = ctx.repo.key_file(kind, name);
    if path.exists() && !force {
        return Err(StoreError::AlreadyExists { kind, name: name.to_string(), path: ctx.repo.member_dir(kind, name) });
    }
    let affected = ctx.repo.secrets_referencing(kind, name)?;
    let mut tx = Tx::new(ctx.repo);
    tx.write_file(&path, keyfile::render(keys).as_bytes(), 0o644)?;
    ctx.rekey_and_finish(tx, &affected)
}

/// `users add-key` / `users remove-key`: changes a user's keys and re-keys its secrets.
pub fn change_keys(ctx: &Ctx<'_>, kind: Kind, name: &str, add: &[PublicKey], remove: &[PublicKey]) -> Result<Outcome> {
    ctx.repo.require(kind, name)?;
    let mut keys = ctx.repo.read_keys(kind, name)?;
    keys.extend(add.iter().cloned());
    keys.retain(|k| !remove.contains(k));
    keys.sort();
    keys.dedup();
    if keys.is_empty() {
        return Err(StoreError::NoKeysLeft { path: ctx.repo.member_dir(kind, name) });
    }
    let affected = ctx.repo.secrets_referencing(kind, name)?;
    let mut tx = Tx::new(ctx.repo);
    tx.write_file(&ctx.repo.key_file(kind, name), keyfile::render(&keys).as_bytes(), 0o644)?;
    ctx.rekey_and_finish(tx, &affected)
}

/// `users remove` / `machines remove`: drops the member from every group and secret, deletes
/// it, and re-keys (rotating the data key) every secret it could read.
pub fn remove_member(ctx: &Ctx<'_>, kind: Kind, name: &str) -> Result<Outcome> {
    ctx.repo.require(kind, name)?;
    let shared_keys = shared_keys(ctx.repo, kind, name);
    let affected = ctx.repo.secrets_referencing(kind, name)?;
    let mut tx = Tx::new(ctx.repo);
    for group in ctx.repo.list(Kind::Group)? {
        let group_dir = ctx.repo.member_dir(Kind::Group, &group);
        if tx.remove_link(&group_dir, kind, name)? {
            remove_group_if_empty(&mut tx, &group_dir);
        }
    }
    for secret in &affected {
        tx.remove_link(&secret.dir, kind, name)?;
    }
    tx.remove_dir(&ctx.repo.member_dir(kind, name))?;
    let mut outcome = ctx.rekey_and_finish(tx, &affected)?;
    outcome.shared_keys = shared_keys;
    Ok(outcome)
}

/// The keys of member `name` that another user or machine holds too: a removal drops the
/// member's links, but every secret the other holder reads stays encrypted for the key. A
/// member whose `key.json` cannot be read is left out (`check` reports it).
fn shared_keys(repo: &Repo, kind: Kind, name: &str) -> Vec<SharedKey> {
    let Ok(own) = repo.read_keys(kind, name) else { return Vec::new() };
    let mut shared = Vec::new();
    for other_kind in [Kind::User, Kind::Machine] {
        for other in repo.list(other_kind).unwrap_or_default() {
            if other_kind == kind && other == name {
                continue;
            }
            let Ok(keys) = repo.read_keys(other_kind, &other) else { continue };
            for key in own.iter().filter(|k| keys.contains(k)) {
                shared.push(SharedKey { key: key.key.clone(), kind: other_kind, holder: other.clone() });
            }
        }
    }
    shared
}

/// Removes a group's member folders and the group itself when they are empty (git keeps no
/// empty folder).
pub(crate) fn remove_group_if_empty(tx: &mut Tx<'_>, group_dir: &std::path::Path) {
    for folder in ["users", "machines"] {
        tx.remove_empty_dir(&group_dir.join(folder));
    }
    if tx.remove_empty_dir(group_dir) {
        tx.touch(group_dir.to_path_buf());
    }
}

/// `<kind> add-secret`: links a member to an existing secret and re-keys it.
pub fn grant(ctx: &Ctx<'_>, secret: &str, kind: Kind, name: &str) -> Result<Outcome> {
    let secret = ctx.repo.secret(secret)?;
    names::validate(kind, name)?;
    ctx.repo.require(Kind::Secret, &secret.name)?;
    ctx.repo.require_for(&secret.name, kind, name)?;
    let mut tx = Tx::new(ctx.repo);
    tx.add_link(&secret.dir, kind, name)?;
    ctx.rekey_and_finish(tx, std::slice::from_ref(&secret))
}

/// `<kind> remove-secret`: unlinks a member from a secret and re-keys it with a new data key.
pub fn revoke(ctx: &Ctx<'_>, secret: &str, kind: Kind, name: &str) -> Result<Outcome> {
    let secret = ctx.repo.secret(secret)?;
    names::validate(kind, name)?;
    ctx.repo.require(Kind::Secret, &secret.name)?;
    let mut tx = Tx::new(ctx.repo);
    if !tx.remove_link(&secret.dir, kind, name)? {
        return Err(not_a_member(&secret.dir, kind, name));
    }
    ctx.rekey_and_finish(tx, std::slice::from_ref(&secret))
}

/// clan's message for removing a link that is not there.
fn not_a_member(container: &std::path::Path, kind: Kind, name: &str) -> StoreError {
    StoreError::NotAMember { kind, name: name.to_string(), path: container.join(kind.folder()) }
}

/// `groups add-user|add-machine`: adds a member to a group (creating it) and re-keys the
/// group's secrets.
pub fn group_add(ctx: &Ctx<'_>, group: &str, kind: Kind, name: &str) -> Result<Outcome> {
    names::validate(Kind::Group, group)?;
    ctx.repo.require(kind, name)?;
    let affected = ctx.repo.secrets_referencing(Kind::Group, group)?;
    let mut tx = Tx::new(ctx.repo);
    tx.add_link(&ctx.repo.member_dir(Kind::Group, group), kind, name)?;
    ctx.rekey_and_finish(tx, &affected)
}

/// `groups remove-user|remove-machine`: removes a member from a group (deleting the group when
/// it empties, as clan does) and re-keys the group's secrets. Removing the last member of a
/// group that grants access to a secret needs `force` ([`StoreError::LastGroupMember`]): git
/// keeps no empty folder, so the group cannot stay without members, and its grants go with it.
pub fn group_remove(ctx: &Ctx<'_>, group: &str, kind: Kind, name: &str) -> Result<Outcome> {
    names::validate(Kind::Group, group)?;
    names::validate(kind, name)?;
    let affected = ctx.repo.secrets_referencing(Kind::Group, group)?;
    let group_dir = ctx.repo.member_dir(Kind::Group, group);
    let users = links::members(ctx.repo, &group_dir, Kind::User)?;
    let machines = links::members(ctx.repo, &group_dir, Kind::Machine)?;
    let member = if kind == Kind::Machine { &machines } else { &users };
    let last = users.len() + machines.len() == 1 && member.iter().any(|m| m == name);
    let refuse_last = || {
        if last && !ctx.options.force && !affected.is_empty() {
            return Err(StoreError::LastGroupMember { group: group.to_string(), kind, name: name.to_string(), secrets: affected.len() });
        }
        Ok(())
    };
    let mut tx = Tx::new(ctx.repo);
    if !tx.remove_link(&group_dir, kind, name)? {
        return Err(not_a_member(&group_dir, kind, name));
    }
    remove_group_if_empty(&mut tx, &group_dir);
    ctx.rekey_check_and_finish(tx, &affected, refuse_last)
}

/// `key update`: re-keys every secret whose recipients differ from its links, and clears what
/// an interrupted run may have left (temporary files, directories moved aside for removal).
pub fn update_all(ctx: &Ctx<'_>) -> Result<Outcome> {
    // The old contents an interrupted change kept look like leftovers: undo it first.
    if crate::journal::pending(ctx.repo) {
        return Err(StoreError::Interrupted { journal: crate::journal::path(ctx.repo) });
    }
    remove_leftovers(ctx.repo)?;
    let all = ctx.repo.all_secrets()?;
    ctx.rekey_and_finish(Tx::new(ctx.repo), &all)
}

/// Removes what interrupted runs left in `sops/`: `.secrets-*` files and `.<name>.removing-*`
/// folders that hold no `secret` ([`names::is_leftover_entry`]). The walk goes down through
/// open folders and removes relative to them ([`Folder::remove_file`],
/// [`Folder::remove_dir_all`]): a folder swapped for a symlink during the walk is never entered
/// or deleted through, and a symlink found on the way is left alone (`check` reports it).
fn remove_leftovers(repo: &Repo) -> Result<()> {
    let Some(sops) = Folder::open(repo.root(), &repo.sops_dir())? else { return Ok(()) };
    let mut stack = vec![sops];
    while let Some(folder) = stack.pop() {
        for (name, kind) in folder.entries()? {
            let path = folder.path().join(&name);
            let text = name.to_string_lossy();
            let leftover = names::is_leftover(&text);
            if leftover && kind != EntryKind::Folder && text.starts_with(".secrets-") {
                folder.remove_file(&name).map_err(|e| StoreError::io(&path, e))?;
            } else if kind == EntryKind::Folder {
                let Some(inner) = folder.open_dir(&name)? else { continue };
                // A folder with a `secret` is a secret, whatever its name: never removed here.
                let holds_secret = inner.kind("secret")?.is_some();
                if leftover && text.contains(".removing-") && !holds_secret {
                    folder.remove_dir_all(&name)?;
                } else {
                    stack.push(inner);
                }
            }
        }
        folder.sync();
    }
    Ok(())
}

/// `set`: links the given members (and the caller) and encrypts `value` for everyone the
/// secret's links then name, with a fresh data key.
pub fn set_secret(ctx: &Ctx<'_>, name: &str, value: &[u8], members: &[(Kind, String)]) -> Result<Outcome> {
    let secret = ctx.repo.secret(name)?;
    for (kind, member) in members {
        ctx.repo.require_for(&secret.name, *kind, member)?;
    }
    let mut tx = Tx::new(ctx.repo);
    let encrypted = (|| {
        for (kind, member) in members {
            tx.add_link(&secret.dir, *kind, member)?;
        }
        let (recipients, _) = rekey::desired_recipients(ctx.repo, &secret, ctx.options)?;
        encrypt_value(&secret, value, recipients)
    })();
    match encrypted {
        Ok(bytes) => {
            tx.write_file(&secret.file(), &bytes, 0o600)?;
            tx.finish(&[]).map(|paths| Outcome { paths, ..Outcome::default() })
        }
        Err(e) => {
            tx.rollback();
            Err(e)
        }
    }
}

/// Encrypts a value into a `secret` file (the sops binary store).
pub fn encrypt_value(secret: &SecretRef, value: &[u8], recipients: Vec<String>) -> Result<Vec<u8>> {
    let data = secrets_sops::parse_plain(value, Format::Binary).map_err(|source| StoreError::Sops { path: secret.file(), source })?;
    // PGP members' fingerprints are wrapped by the GnuPG sops would run (`SOPS_GPG_EXEC`).
    let options =
        EncryptOptions { key_groups: vec![recipients], gnupg: secrets_sops::keys::GnuPg::from_env(), ..EncryptOptions::default() };
    let file = secrets_sops::encrypt(data, Format::Binary, &options).map_err(|source| StoreError::Sops { path: secret.file(), source })?;
    file.to_bytes().map_err(|source| StoreError::Sops { path: secret.file(), source })
}

/// `get`: the exact bytes of a secret.
pub fn get_secret(repo: &Repo, identities: &Identities, name: &str) -> Result<Zeroizing<Vec<u8>>> {
    let secret = repo.secret(name)?;
    repo.require(Kind::Secret, name)?;
    decrypt_secret(repo, &secret, identities)
}

/// Decrypts a secret of the repository to its exact bytes (`get`, `exec`, `set --edit`).
pub fn decrypt_secret(repo: &Repo, secret: &SecretRef, identities: &Identities) -> Result<Zeroizing<Vec<u8>>> {
    decrypt_below(repo.root(), &secret.file(), identities)
}

/// Decrypts the `secret` file `path` below `root` to its exact bytes. The file is read once,
/// through the store's reader of untrusted files ([`crate::untrusted::read`]: every folder from
/// `root` down opened without following a link, the file never a symlink, FIFO or device and
/// bounded in size), and the bytes read are what is parsed and decrypted.
pub fn decrypt_below(root: &Path, path: &Path, identities: &Identities) -> Result<Zeroizing<Vec<u8>>> {
    let sops_err = |source| StoreError::Sops { path: path.to_path_buf(), source };
    let bytes = crate::untrusted::read(root, path, crate::untrusted::Limit::Secret)?;
    let file = EncryptedFile::parse(&bytes, Format::Binary).map_err(sops_err)?;
    let plain = file.decrypt(identities, DecryptOptions::default()).map_err(sops_err)?;
    let value = match plain.data.branches.first().and_then(|b| b.get("data")) {
        Some(Value::Str(s)) => s.as_bytes().to_vec(),
        Some(Value::Bytes(b)) => b.clone(),
        _ => return Err(StoreError::NoData { path: path.to_path_buf() }),
    };
    Ok(Zeroizing::new(value))
}

/// `remove`: deletes a secret.
pub fn remove_secret(repo: &Repo, name: &str) -> Result<Outcome> {
    let secret = repo.secret(name)?;
    if !secret.dir.is_dir() {
        return Err(StoreError::NotFound { kind: Kind::Secret, name: name.to_string(), path: secret.dir });
    }
    let mut tx = Tx::new(repo);
    tx.remove_dir(&secret.dir)?;
    tx.finish(&[]).map(|paths| Outcome { paths, ..Outcome::default() })
}

/// `rename`: renames a secret (both names are checked).
pub fn rename_secret(repo: &Repo, old: &str, new: &str) -> Result<Outcome> {
    let from = repo.secret(old)?;
    let to = repo.secret(new)?;
    if !from.dir.is_dir() {
        return Err(StoreError::NotFound { kind: Kind::Secret, name: old.to_string(), path: from.dir });
    }
    if to.dir.exists() {
        return Err(StoreError::AlreadyExists { kind: Kind::Secret, name: new.to_string(), path: to.dir });
    }
    let mut tx = Tx::new(repo);
    tx.rename_dir(&from.dir, &to.dir)?;
    tx.finish(&[]).map(|paths| Outcome { paths, ..Outcome::default() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(rel: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures").join(rel)
    }

    /// `key update` clears leftovers while a local user swaps a secret folder for a symlink to
    /// a folder elsewhere, and back: listing a folder by path, then deleting by path, would
    /// sometimes delete over there (a `.secrets-*` file, a whole `.x.removing-*` tree);
    /// walking and deleting through open folders never does.
    #[cfg(unix)]
    #[test]
    fn leftovers_are_never_removed_through_a_folder_swapped_meanwhile() {
        use std::sync::atomic::Ordering;
        use std::time::{Duration, Instant};
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo::at(dir.path().canonicalize().unwrap());
        let outside = repo.root().join("outside");
        fs::create_dir_all(outside.join(".x.removing-1/deep")).unwrap();
        fs::write(outside.join(".x.removing-1/deep/precious"), "keep").unwrap();
        fs::write(outside.join(".secrets-precious"), "keep").unwrap();
        let real = repo.secret_dir("s");
        fs::create_dir_all(real.join("users")).unwrap();
        let spare = repo.root().join("spare");
        std::os::unix::fs::symlink(&outside, &spare).unwrap();
        let (stop, swapper) = crate::swap_race::swapping(real.clone(), spare.clone());
        let (mut runs, deadline) = (0u64, Instant::now() + Duration::from_millis(1500));
        while Instant::now() < deadline {
            runs += u64::from(remove_leftovers(&repo).is_ok());
        }
        stop.store(true, Ordering::Relaxed);
        let swaps = swapper.join().unwrap();
        assert!(runs > 0 && swaps > 0, "the race ran: {runs} runs, {swaps} swaps");
        assert_eq!(fs::read(outside.join(".secrets-precious")).unwrap(), b"keep", "nothing deleted outside");
        assert_eq!(fs::read(outside.join(".x.removing-1/deep/precious")).unwrap(), b"keep", "nothing deleted outside");
        // Without the race, the leftovers inside are removed and the secret is kept.
        let inside = repo.secret_dir("t");
        fs::create_dir_all(inside.join(".old.removing-7/users")).unwrap();
        fs::write(inside.join(".secrets-tmp"), "x").unwrap();
        fs::write(inside.join("secret"), "{}").unwrap();
        fs::create_dir_all(repo.secret_dir(".kept.removing-3")).unwrap();
        fs::write(repo.secret_dir(".kept.removing-3").join("secret"), "{}").unwrap();
        remove_leftovers(&repo).unwrap();
        let names: Vec<_> = fs::read_dir(&inside).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["secret"]);
        assert!(repo.secret_dir(".kept.removing-3").join("secret").exists(), "a folder with a secret is a secret");
    }

    /// `get`, `exec` and `set --edit` read a secret's file once, through its open folders: a
    /// secret folder that is (or was swapped for, after the secret was found) a symlink to a
    /// folder elsewhere is refused, never decrypted with the reader's key.
    #[test]
    fn a_secret_is_decrypted_only_from_inside_the_repository() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let elsewhere = root.join("elsewhere");
        fs::create_dir_all(&elsewhere).unwrap();
        fs::copy(fixture("clan-repo/sops/secrets/group-secret/secret"), elsewhere.join("secret")).unwrap();
        let repo = Repo::at(root.join("repo"));
        fs::create_dir_all(repo.sops_dir().join("secrets/real")).unwrap();
        fs::copy(fixture("clan-repo/sops/secrets/group-secret/secret"), repo.sops_dir().join("secrets/real/secret")).unwrap();
        std::os::unix::fs::symlink(&elsewhere, repo.sops_dir().join("secrets/linked")).unwrap();
        let text = fs::read_to_string(fixture("sops-vectors/keys-b.txt")).unwrap();
        let ids = Identities::from_age_key_text(&text, "keys-b.txt").unwrap();

        let real = SecretRef { name: "real".into(), dir: repo.sops_dir().join("secrets/real") };
        assert_eq!(&decrypt_secret(&repo, &real, &ids).unwrap()[..], b"group-value");
        let linked = SecretRef { name: "linked".into(), dir: repo.sops_dir().join("secrets/linked") };
        let err = decrypt_secret(&repo, &linked, &ids).unwrap_err();
        assert!(
            matches!(&err, StoreError::Untrusted(crate::untrusted::UntrustedError::FolderSymlink { path, .. }) if path.ends_with("secrets/linked")),
            "{err}"
        );
    }
}
