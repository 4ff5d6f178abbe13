//! Installing a plan: decrypt everything in memory first, then write a new generation, switch
//! the target to it, link the extra paths and prune. Any failure before the switch leaves the
//! previous generation current and nothing of the new one behind.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use secrets_sops::keys::Identities;
use secrets_sops::{Format, PlainFile};
use zeroize::Zeroizing;

use super::accounts::{Account, Accounts};
use super::error::{DeployError, Result};
use super::extract;
use super::generations::{self, Generations, DIR_MODE};
use super::plan::{Attrs, Plan, RENDERED_DIR};

/// How to install.
#[derive(Clone, Debug, Default)]
pub struct InstallOptions {
    /// Own every file by root (uid and gid 0) without looking names up (sops-nix's
    /// `-ignore-passwd`, for secrets needed before users exist).
    pub ignore_passwd: bool,
    /// Where `etc/passwd` and `etc/group` are looked up (default `/`).
    pub accounts_root: Option<PathBuf>,
}

/// What an install did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub generation: u64,
    pub path: PathBuf,
    /// Every file written, relative to the target (templates under `rendered/`).
    pub installed: Vec<String>,
    pub added: Vec<String>,
    pub modified: Vec<String>,
    pub removed: Vec<String>,
    /// Units of added or changed files, sorted and de-duplicated.
    pub restart_units: Vec<String>,
    pub reload_units: Vec<String>,
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
    let gens = Generations::new(&plan.target, &plan.generations);
    gens.check_target()?;
    let owners = Owners::new(plan, options)?;
    for attrs in plan.files.iter().map(|f| &f.attrs).chain(plan.templates.iter().map(|t| &t.attrs)) {
        if let Some(path) = &attrs.path {
            check_link_slot(path)?;
        }
    }

    let plain = decrypt_sources(plan, identities)?;
    let mut ready = Vec::with_capacity(plan.files.len() + plan.templates.len());
    let mut placeholders: Vec<(&str, usize)> = Vec::new();
    for file in &plan.files {
        let decrypted = &plain[&(file.source.clone(), file.format)];
        let bytes = extract::value(&file.name, &file.source, decrypted, &file.key)?;
        if let Some(p) = &file.placeholder {
            placeholders.push((p, ready.len()));
        }
        ready.push(Ready::new(file.name.clone(), bytes, &file.attrs, &owners)?);
    }
    drop(plain);
    placeholders.sort();
    let mut rendered = Vec::new();
    for template in &plan.templates {
        let mut bytes = Zeroizing::new(template.content.as_bytes().to_vec());
        for (placeholder, index) in &placeholders {
            bytes = replace(&bytes, placeholder.as_bytes(), &ready[*index].bytes);
        }
        rendered.push(Ready::new(format!("{RENDERED_DIR}/{}", template.name), bytes, &template.attrs, &owners)?);
    }
    ready.extend(rendered);

    let staging = gens.stage()?;
    let running_as_root = fs::metadata(staging.path()).map(|m| m.uid() == 0).unwrap_or(false);
    let dir_group = if running_as_root && !plan.user_mode { owners.keys_group() } else { None };
    for file in &ready {
        make_parents(staging.path(), &file.name, dir_group)?;
    }
    // In parallel: on a disk (not the usual tmpfs) each file's fsync is what costs.
    ready.par_iter().map(|file| write_file(staging.path(), file)).collect::<Result<Vec<()>>>()?;
    let mut report = changes(&gens, &ready)?;
    let (generation, path) = gens.commit(staging, dir_group)?;
    gens.switch(&path)?;
    for file in &ready {
        if let Some(extra) = &file.path {
            link(&plan.target.join(&file.name), extra, file.owner)?;
        }
    }
    report.pruned = gens.prune(generation, plan.keep)?;
    report.generation = generation;
    report.path = path;
    report.installed = ready.iter().map(|r| r.name.clone()).collect();
    Ok(report)
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
        let user = accounts.user(&attrs.owner).map_err(|e| DeployError::secret(name, e.to_string()))?;
        let group = accounts.group(&attrs.group).map_err(|e| DeployError::secret(name, e.to_string()))?;
        Ok((user.map(|(uid, _)| uid), group.or(user.and_then(|(_, primary)| primary))))
    }

    /// sops-nix's `keys` group, which owns the generation folders when it exists.
    fn keys_group(&self) -> Option<u32> {
        self.accounts.as_ref()?.group_id("keys")
    }
}

/// An extra path may be created or replaced only if it is missing or already a symlink.
fn check_link_slot(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Ok(()),
        Ok(_) => Err(DeployError::Io {
            path: path.to_path_buf(),
            reason: "exists and is not a symlink; move it away so that it can link to the secret".into(),
        }),
        Err(_) => Ok(()),
    }
}

/// Creates the folders above a file inside a generation, as generation folders are.
fn make_parents(root: &Path, name: &str, dir_group: Option<u32>) -> Result<()> {
    let mut dir = root.to_path_buf();
    for part in Path::new(name).parent().into_iter().flat_map(|p| p.components()) {
        dir.push(part);
        if !dir.is_dir() {
            fs::DirBuilder::new().mode(DIR_MODE).create(&dir).map_err(|e| DeployError::io(&dir, e))?;
            fs::set_permissions(&dir, fs::Permissions::from_mode(DIR_MODE)).map_err(|e| DeployError::io(&dir, e))?;
            if let Some(gid) = dir_group {
                std::os::unix::fs::chown(&dir, Some(0), Some(gid)).map_err(|e| DeployError::io(&dir, e))?;
            }
        }
    }
    Ok(())
}

fn write_file(root: &Path, file: &Ready) -> Result<()> {
    let path = root.join(&file.name);
    let fail = |e: std::io::Error| DeployError::io(&path, e);
    let mut out = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).map_err(fail)?;
    out.write_all(&file.bytes).map_err(fail)?;
    out.set_permissions(fs::Permissions::from_mode(file.mode)).map_err(fail)?;
    let (uid, gid) = file.owner;
    if uid.is_some() || gid.is_some() {
        std::os::unix::fs::fchown(&out, uid, gid).map_err(|e| DeployError::Io {
            path: path.clone(),
            reason: format!("cannot change the owner to {}:{}: {e}", show_id(uid), show_id(gid)),
        })?;
    }
    out.sync_all().map_err(fail)
}

fn show_id(id: Option<u32>) -> String {
    id.map(|i| i.to_string()).unwrap_or_else(|| "-".into())
}

/// Which files are new, changed or gone compared with the current generation, and the units
/// to restart or reload for them.
fn changes(gens: &Generations, ready: &[Ready]) -> Result<Report> {
    let mut report = Report::default();
    let Some(current) = gens.current() else {
        report.added = ready.iter().map(|r| r.name.clone()).collect();
        return Ok(report);
    };
    let old_root = gens.dir.join(current.to_string());
    let mut restart = BTreeSet::new();
    let mut reload = BTreeSet::new();
    for file in ready {
        let changed = match fs::read(old_root.join(&file.name)) {
            Ok(old) => {
                let old = Zeroizing::new(old);
                if *old == *file.bytes {
                    continue;
                }
                report.modified.push(file.name.clone());
                true
            }
            Err(_) => {
                report.added.push(file.name.clone());
                true
            }
        };
        if changed {
            restart.extend(file.restart.iter().cloned());
            reload.extend(file.reload.iter().cloned());
        }
    }
    let new: BTreeSet<&str> = ready.iter().map(|r| r.name.as_str()).collect();
    for entry in walkdir::WalkDir::new(&old_root).min_depth(1).into_iter().flatten() {
        if entry.file_type().is_file() {
            let rel = entry.path().strip_prefix(&old_root).unwrap_or(entry.path()).to_string_lossy().into_owned();
            if !new.contains(rel.as_str()) {
                report.removed.push(rel);
            }
        }
    }
    report.removed.sort();
    report.restart_units = restart.into_iter().collect();
    report.reload_units = reload.into_iter().collect();
    Ok(report)
}

/// Links an extra path to the file through the target, so that it follows every switch.
fn link(through_target: &Path, extra: &Path, owner: (Option<u32>, Option<u32>)) -> Result<()> {
    if let Some(parent) = extra.parent() {
        fs::create_dir_all(parent).map_err(|e| DeployError::io(parent, e))?;
    }
    if fs::read_link(extra).ok().as_deref() != Some(through_target) {
        generations::replace_with_symlink(through_target, extra)?;
    }
    let (uid, gid) = owner;
    if uid.is_some() || gid.is_some() {
        std::os::unix::fs::lchown(extra, uid, gid).map_err(|e| DeployError::io(extra, e))?;
    }
    Ok(())
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
