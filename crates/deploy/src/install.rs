//! Installing a plan: decrypt everything in memory first, then write a new generation, switch
//! the target to it, link the extra paths and prune. Any failure before the switch leaves the
//! previous generation current and nothing of the new one behind.
//!
//! It runs as root, on paths a local user may share (`/tmp`) and on repository content
//! anyone with commit access wrote, so everything on disk is reached through checked, open
//! folders ([`crate::fsat`]): the target's folder and the generations folder are opened once
//! (refused when another user could control them), and the generation is written, switched
//! and pruned through their descriptors.

use std::collections::{BTreeSet, HashMap};
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use secrets_sops::keys::Identities;
use secrets_sops::{Format, PlainFile};
use zeroize::Zeroizing;

use crate::accounts::{Account, Accounts};
use crate::error::{DeployError, Result, SecretProblem};
use crate::extract;
use crate::fsat::{self, DirFd};
use crate::generations::{Generations, Staging, DIR_MODE};
use crate::mount::{mount_secret_fs, SecretFs};
use crate::plan::{Attrs, Plan, RENDERED_DIR};

/// How to install.
#[derive(Clone, Debug, Default)]
pub struct InstallOptions {
    /// Own every file by root (uid and gid 0) without looking names up (sops-nix's
    /// `-ignore-passwd`, for secrets needed before users exist).
    pub ignore_passwd: bool,
    /// Where `etc/passwd` and `etc/group` are looked up (default `/`).
    pub accounts_root: Option<PathBuf>,
    /// Decrypt and compare with the current generation, and change nothing: no folder, no
    /// generation, no switch, no link, no pruning (`nixos-rebuild dry-activate`). Owners are not
    /// looked up, as sops-install-secrets does not during a dry activation.
    pub dry_run: bool,
    /// Replace what stands in the way, as sops-install-secrets does: a folder or file at the
    /// target (removed when the new generation is switched in) and a regular file at a
    /// secret's extra path. Without it both are refused, since replacing them loses them.
    pub replace_in_the_way: bool,
    /// Mount this file system at the generations folder first, unless it is there already
    /// (sops-install-secrets' ramfs; see [`crate::mount`]). Not in user mode nor in a dry run.
    pub mount: Option<SecretFs>,
}

/// What an install did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// The generation current before the install (`None`: a first install, or a target that
    /// points elsewhere). sops-install-secrets reports changes and restarts units only when
    /// there was one: at first boot the services start with their secrets anyway.
    pub previous: Option<u64>,
    /// Whether this was a dry run: nothing was written, `generation` and `path` are unset.
    pub dry_run: bool,
    /// The number of the generation written, now the current one.
    pub generation: u64,
    /// Its folder, which the target symlink now points to.
    pub path: PathBuf,
    /// Every file written, relative to the target (templates under `rendered/`).
    pub installed: Vec<String>,
    /// Files not in the previous generation (every file on a first install).
    pub added: Vec<String>,
    /// Files whose content differs from the previous generation's.
    pub modified: Vec<String>,
    /// Files of the previous generation that this one no longer has, sorted.
    pub removed: Vec<String>,
    /// Units of added or changed files, sorted and de-duplicated.
    pub restart_units: Vec<String>,
    /// Units to reload for added or changed files, sorted and de-duplicated.
    pub reload_units: Vec<String>,
    /// The old generations removed (by number).
    pub pruned: Vec<u64>,
}

/// One file ready to be written.
struct Ready {
    name: String,
    bytes: Zeroizing<Vec<u8>>,
    mode: u32,
    /// uid and gid to set (`None`: leave as created).
    owner: (Option<u32>, Option<u32>),
    path: Option<PathBuf>,
    restart: Vec<String>,
    reload: Vec<String>,
}

/// Installs a plan with the machine's identities.
pub fn install(plan: &Plan, identities: &Identities, options: &InstallOptions) -> Result<Report> {
    plan.validate()?;
    if options.dry_run {
        return dry_run(plan, identities, options);
    }
    let owners = Owners::new(plan, options)?;
    if let (Some(fs), false) = (options.mount, plan.user_mode) {
        let group = if options.ignore_passwd { Some(0) } else { owners.keys_group() };
        mount_secret_fs(&plan.generations, fs, group)?;
    }
    let gens = Generations::open_replacing(&plan.target, &plan.generations, options.replace_in_the_way)?;
    // Extra paths are opened (and refused) before anything is written, and used only through
    // the folders opened here.
    let mut slots: HashMap<&Path, LinkSlot> = HashMap::new();
    let named = plan.files.iter().map(|f| (f.name.as_str(), &f.attrs)).chain(plan.templates.iter().map(|t| (t.name.as_str(), &t.attrs)));
    for (name, attrs) in named {
        if let Some(path) = &attrs.path {
            let (uid, _) = owners.resolve(name, attrs)?;
            slots.insert(path, LinkSlot::open(path, uid, options.replace_in_the_way)?);
        }
    }

    let ready = prepare(plan, identities, &owners)?;
    let staging = gens.stage()?;
    let running_as_root = fsat::euid() == 0;
    let dir_group = if running_as_root && !plan.user_mode { owners.keys_group() } else { None };
    for file in &ready {
        make_parents(&staging, &file.name, dir_group)?;
    }
    // In parallel: on a disk (not the usual tmpfs) each file's fsync is what costs.
    ready.par_iter().map(|file| write_file(&staging, file, dir_group)).collect::<Result<Vec<()>>>()?;
    let mut report = changes(&gens, &ready)?;
    let (generation, path) = gens.commit(staging, dir_group)?;
    gens.switch(&path)?;
    for file in &ready {
        if let Some(extra) = &file.path {
            let slot = slots.get(extra.as_path()).ok_or_else(|| DeployError::secret(&file.name, SecretProblem::ExtraPathNotOpened))?;
            slot.link(&plan.target.join(&file.name), file.owner)?;
        }
    }
    report.pruned = gens.prune(generation, plan.keep)?;
    report.generation = generation;
    report.path = path;
    report.installed = ready.iter().map(|r| r.name.clone()).collect();
    Ok(report)
}

/// What an install would change, without changing anything: the secrets are decrypted and
/// compared with the current generation, read through the same checked folders. A target or
/// generations folder that does not exist yet is not created: everything would be added.
fn dry_run(plan: &Plan, identities: &Identities, options: &InstallOptions) -> Result<Report> {
    let owners = Owners::new(plan, &InstallOptions { ignore_passwd: true, ..options.clone() })?;
    let ready = prepare(plan, identities, &owners)?;
    let exists = |path: &Path| std::fs::symlink_metadata(path).is_ok();
    let mut report = if exists(&plan.target) && exists(&plan.generations) {
        changes(&Generations::open_replacing(&plan.target, &plan.generations, options.replace_in_the_way)?, &ready)?
    } else {
        Report { added: ready.iter().map(|r| r.name.clone()).collect(), ..Report::default() }
    };
    report.dry_run = true;
    report.installed = ready.iter().map(|r| r.name.clone()).collect();
    Ok(report)
}

/// Every file of the plan decrypted, rendered and given its owner, in memory.
fn prepare(plan: &Plan, identities: &Identities, owners: &Owners) -> Result<Vec<Ready>> {
    let plain = decrypt_sources(plan, identities)?;
    let mut ready = Vec::with_capacity(plan.files.len() + plan.templates.len());
    let mut placeholders: Vec<(&str, usize)> = Vec::new();
    for file in &plan.files {
        let decrypted = &plain[&(file.source.clone(), file.format)];
        let bytes = extract::value(&file.name, &file.source, decrypted, &file.key)?;
        if let Some(p) = &file.placeholder {
            placeholders.push((p, ready.len()));
        }
        ready.push(Ready::new(file.name.clone(), bytes, &file.attrs, owners)?);
    }
    drop(plain);
    placeholders.sort_unstable();
    let mut rendered = Vec::new();
    for template in &plan.templates {
        let mut bytes = Zeroizing::new(template.content.as_bytes().to_vec());
        for (placeholder, index) in &placeholders {
            bytes = replace(&bytes, placeholder.as_bytes(), &ready[*index].bytes);
        }
        rendered.push(Ready::new(format!("{RENDERED_DIR}/{}", template.name), bytes, &template.attrs, owners)?);
    }
    ready.extend(rendered);
    Ok(ready)
}

/// Decrypts each distinct file once, in parallel. The first failure (in plan order) wins.
fn decrypt_sources(plan: &Plan, identities: &Identities) -> Result<HashMap<(PathBuf, Format), PlainFile>> {
    let mut sources: Vec<(PathBuf, Format, &str)> = Vec::new();
    for file in &plan.files {
        if !sources.iter().any(|(p, f, _)| p == &file.source && *f == file.format) {
            sources.push((file.source.clone(), file.format, &file.name));
        }
    }
    let results: Vec<Result<PlainFile>> =
        sources.par_iter().map(|(path, format, name)| extract::decrypt(name, path, *format, identities)).collect();
    let mut out = HashMap::new();
    for ((path, format, _), result) in sources.into_iter().zip(results) {
        out.insert((path, format), result?);
    }
    Ok(out)
}

impl Ready {
    fn new(name: String, bytes: Zeroizing<Vec<u8>>, attrs: &Attrs, owners: &Owners) -> Result<Ready> {
        Ok(Ready {
            owner: owners.resolve(&name, attrs)?,
            name,
            bytes,
            mode: attrs.mode,
            path: attrs.path.clone(),
            restart: attrs.restart_units.clone(),
            reload: attrs.reload_units.clone(),
        })
    }
}

/// Owner lookups for a plan.
struct Owners {
    /// `None` with `ignore_passwd`: every owner and group given becomes root.
    accounts: Option<Accounts>,
    user_mode: bool,
}

impl Owners {
    fn new(plan: &Plan, options: &InstallOptions) -> Result<Owners> {
        let wanted = !plan.user_mode && !options.ignore_passwd;
        let root = options.accounts_root.as_deref().unwrap_or(Path::new("/"));
        // Loaded even without names: the `keys` group owns generation folders.
        let accounts = if wanted { Some(Accounts::under(root)?) } else { None };
        Ok(Owners { accounts, user_mode: plan.user_mode })
    }

    /// The uid and gid to set; a named owner without a group brings its primary group.
    fn resolve(&self, name: &str, attrs: &Attrs) -> Result<(Option<u32>, Option<u32>)> {
        if self.user_mode {
            return Ok((None, None));
        }
        let Some(accounts) = &self.accounts else {
            let set = |a: &Account| (*a != Account::Unchanged).then_some(0);
            return Ok((set(&attrs.owner), set(&attrs.group)));
        };
        let account = |e| DeployError::SecretAccount { name: name.to_string(), source: Box::new(e) };
        let user = accounts.user(&attrs.owner).map_err(account)?;
        let group = accounts.group(&attrs.group).map_err(account)?;
        Ok((user.map(|(uid, _)| uid), group.or(user.and_then(|(_, primary)| primary))))
    }

    /// sops-nix's `keys` group, which owns the generation folders, or `nogroup` on a system
    /// without it (as sops-install-secrets falls back); neither: left as created.
    fn keys_group(&self) -> Option<u32> {
        let accounts = self.accounts.as_ref()?;
        accounts.group_id("keys").or_else(|| accounts.group_id("nogroup"))
    }
}

/// The folders of a file's name inside a generation (the name was checked to go down only).
fn folders_of(name: &str) -> Vec<&OsStr> {
    let mut parts: Vec<&OsStr> = name.split('/').map(OsStr::new).collect();
    parts.pop();
    parts
}

/// Creates the folders above a file inside a generation, as generation folders are.
fn make_parents(staging: &Staging<'_>, name: &str, dir_group: Option<u32>) -> Result<()> {
    staging.dir().descend(&folders_of(name), DIR_MODE, dir_group).map(|_| ())
}

fn write_file(staging: &Staging<'_>, file: &Ready, dir_group: Option<u32>) -> Result<()> {
    let folder = staging.dir().descend(&folders_of(&file.name), DIR_MODE, dir_group)?;
    let base = file.name.rsplit('/').next().unwrap_or(&file.name);
    folder.create_file(OsStr::new(base), &file.bytes, file.mode, file.owner)
}

/// Which files are new, changed or gone compared with the current generation, and the units
/// to restart or reload for them.
fn changes(gens: &Generations, ready: &[Ready]) -> Result<Report> {
    let mut report = Report { previous: gens.current(), ..Report::default() };
    let Some(current) = report.previous else {
        report.added = ready.iter().map(|r| r.name.clone()).collect();
        return Ok(report);
    };
    // A current generation that cannot be opened (removed by hand) counts as empty.
    let old = gens.open_generation(current).ok();
    let old_files: BTreeSet<String> = old.as_ref().map(DirFd::files).transpose()?.unwrap_or_default().into_iter().collect();
    let mut restart = BTreeSet::new();
    let mut reload = BTreeSet::new();
    for file in ready {
        if old_files.contains(&file.name) {
            // Read no more than the new value: a longer old file differs anyway.
            let same = old.as_ref().and_then(|o| o.read_file(&file.name, file.bytes.len() as u64)).is_some_and(|b| *b == *file.bytes);
            if same {
                continue;
            }
            report.modified.push(file.name.clone());
        } else {
            report.added.push(file.name.clone());
        }
        restart.extend(file.restart.iter().cloned());
        reload.extend(file.reload.iter().cloned());
    }
    let new: BTreeSet<&str> = ready.iter().map(|r| r.name.as_str()).collect();
    report.removed = old_files.into_iter().filter(|rel| !new.contains(rel.as_str())).collect();
    report.removed.sort();
    report.restart_units = restart.into_iter().collect();
    report.reload_units = reload.into_iter().collect();
    Ok(report)
}

/// An extra path of a secret, opened: its folder as the target's is (root's, the caller's or
/// the secret owner's, not writable by others unless sticky), created if missing.
struct LinkSlot {
    folder: DirFd,
    name: OsString,
    path: PathBuf,
    /// A regular file there may be replaced by the link.
    replace_file: bool,
}

impl LinkSlot {
    /// Opens the folder of an extra path. The path may be missing or a symlink (replaced), or
    /// with `replace_file` a regular file (replaced, as sops-install-secrets does); anything
    /// else there is refused, since replacing it would lose it.
    fn open(path: &Path, owner: Option<u32>, replace_file: bool) -> Result<LinkSlot> {
        let (folder, name) = DirFd::open_parent_trusting(path, owner)?;
        let slot = LinkSlot { folder, name, path: path.to_path_buf(), replace_file };
        if !slot.replaceable()? {
            return Err(DeployError::ExtraPathTaken { path: path.to_path_buf(), appeared: false });
        }
        Ok(slot)
    }

    /// Whether what is at the path now may be replaced by the link.
    fn replaceable(&self) -> Result<bool> {
        use rustix::fs::FileType;
        Ok(match self.folder.stat_entry(&self.name)? {
            None => true,
            Some(stat) => {
                let kind = FileType::from_raw_mode(stat.st_mode as _);
                kind == FileType::Symlink || (self.replace_file && kind == FileType::RegularFile)
            }
        })
    }

    /// Links the extra path to the file through the target, so that it follows every switch,
    /// and gives the link the file's owner.
    fn link(&self, through_target: &Path, owner: (Option<u32>, Option<u32>)) -> Result<()> {
        if !self.replaceable()? {
            return Err(DeployError::ExtraPathTaken { path: self.path.clone(), appeared: true });
        }
        self.folder.replace_with_symlink(&self.name, through_target)?;
        let (uid, gid) = owner;
        if uid.is_some() || gid.is_some() {
            self.folder.chown_link(&self.name, uid, gid)?;
        }
        Ok(())
    }
}

/// `haystack` with every `needle` replaced (bytes: a secret need not be UTF-8).
fn replace(haystack: &[u8], needle: &[u8], with: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(haystack.len()));
    if needle.is_empty() {
        out.extend_from_slice(haystack);
        return out;
    }
    let mut rest = haystack;
    while let Some(at) = rest.windows(needle.len()).position(|w| w == needle) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(with);
        rest = &rest[at + needle.len()..];
    }
    out.extend_from_slice(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_replaced_as_bytes() {
        assert_eq!(&*replace(b"a=<P>;b=<P>", b"<P>", b"\xff"), b"a=\xff;b=\xff");
        assert_eq!(&*replace(b"none", b"<P>", b"x"), b"none");
        assert_eq!(&*replace(b"x", b"", b"y"), b"x");
    }
}
