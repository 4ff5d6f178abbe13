//! Which secrets a machine gets: the rules of clan's NixOS module (`clan-secrets.md` §9),
//! applied to a repository or to a deployed copy of its `sops/` folder.
//!
//! Membership is read from directory entries only, as the Nix evaluation does with
//! `builtins.readDir`: a `machines/<m>` or `groups/<g>` entry counts whether it is a symlink
//! (even a dangling one) or a directory. Links only choose which files to try; decryption with
//! the machine's own key is what grants access, so a link pointing elsewhere gains nothing.
//! Folders count only as real directories and `secret` only as a regular file, as
//! `builtins.readDir` types them. Folders are never followed through a symlink: the
//! repository is what its committers made it, and a symlinked secret, group, `machines/` or
//! `groups/` folder could make membership depend on folders outside it. Where the Nix module
//! would silently see no folder, an install refuses such a repository, naming the link
//! ([`secrets_store::untrusted::UntrustedError::FolderSymlink`]), as sops-nix fails an activation whose
//! secret it cannot read: a machine must not quietly go without a secret it should have.
//! `nix/lib.nix` implements the same rules; a test compares the
//! two on the same repositories.

use std::fs;
use std::path::{Path, PathBuf};

use secrets_sops::keys::Identities;
use zeroize::Zeroizing;

use crate::error::{DeployError, Result, SecretProblem};
use secrets_store::names::{self, Kind};
use secrets_store::ops;
use secrets_store::untrusted::{EntryKind, Folder, UntrustedError};
use secrets_store::StoreError;

/// How many machine names an unknown-machine error lists.
const MACHINES_SHOWN: usize = 20;

/// A repository (or a copy of its `sops/` and `vars/` folders) seen from a machine.
#[derive(Clone, Debug)]
pub struct Source {
    sops: PathBuf,
    vars: Option<PathBuf>,
}

/// How a secret reaches a machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Via {
    /// A `machines/<m>` link in the secret's folder.
    Direct,
    /// A `groups/<g>` link to a group the machine belongs to.
    Group(String),
}

/// One secret a machine can read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MachineSecret {
    /// The name it is installed under: `db-password` for `sops/secrets/db-password`, and the
    /// repository-relative folder for vars secrets (`vars/per-machine/web1/gen/file`), as clan's
    /// module names them.
    pub name: String,
    /// The encrypted `secret` file (sops binary store).
    pub file: PathBuf,
    /// How the machine is given access to it.
    pub via: Via,
}

impl Source {
    /// Opens a repository root (the folder holding `sops/`, and `vars/` if any), or a copy of
    /// the `sops/` folder itself (then a `vars/` beside it is used if present).
    pub fn open(path: impl AsRef<Path>) -> Result<Source> {
        let path = path.as_ref();
        if path.join("sops").is_dir() {
            let vars = Some(path.join("vars")).filter(|v| v.is_dir());
            return Ok(Source { sops: path.join("sops"), vars });
        }
        let looks_like_sops = ["secrets", "machines", "groups"].iter().any(|d| path.join(d).is_dir());
        if looks_like_sops {
            let vars = path.parent().map(|p| p.join("vars")).filter(|v| v.is_dir());
            return Ok(Source { sops: path.to_path_buf(), vars });
        }
        Err(DeployError::NotARepository { path: path.to_path_buf() })
    }

    /// The `sops/` folder read.
    pub fn sops_dir(&self) -> &Path {
        &self.sops
    }

    /// The machines of the repository: the folders of `sops/machines/`, sorted.
    pub fn machines(&self) -> Result<Vec<String>> {
        Ok(entries(&self.sops, &self.sops.join("machines"), Links::Skip)?
            .into_iter()
            .filter(|(_, is_dir)| *is_dir)
            .map(|(name, _)| name)
            .collect())
    }

    /// Checks that `machine` is a valid machine name and a machine of this repository (a
    /// folder in `sops/machines/`, or one in `vars/per-machine/` for a machine with vars
    /// only). A typo must not install an empty generation over the good one, and a name such as
    /// `..` or `/etc/passwd` must not select folders that are not a machine's.
    pub fn check_machine(&self, machine: &str) -> Result<()> {
        names::validate(Kind::Machine, machine)?;
        let known = self.machines()?;
        let has_vars =
            self.vars.as_ref().is_some_and(|v| fs::symlink_metadata(v.join("per-machine").join(machine)).is_ok_and(|m| m.is_dir()));
        if known.iter().any(|m| m == machine) || has_vars {
            return Ok(());
        }
        let mut shown = known.iter().take(MACHINES_SHOWN).cloned().collect::<Vec<_>>().join(", ");
        if known.is_empty() {
            shown = "none".into();
        } else if known.len() > MACHINES_SHOWN {
            shown.push_str(&format!(" and {} more", known.len() - MACHINES_SHOWN));
        }
        Err(DeployError::UnknownMachine { name: machine.to_string(), sops: self.sops.clone(), known: shown })
    }

    /// The groups that list the machine in their `machines/` folder, sorted.
    pub fn machine_groups(&self, machine: &str) -> Result<Vec<String>> {
        let mut groups = Vec::new();
        let all = self.sops.join("groups");
        for (name, is_dir) in entries(&self.sops, &all, Links::Refuse)? {
            if is_dir && has_entry(&self.sops, &all.join(&name).join("machines"), machine)? {
                groups.push(name);
            }
        }
        Ok(groups)
    }

    /// Every secret the machine gets, sorted by name: `sops/secrets/*`, then the vars secrets
    /// of `vars/per-machine/<machine>/*/*` and `vars/shared/*/*`, each one linked to the machine
    /// directly or through one of its groups, and those of `vars/per-export/*/*/*` linked to
    /// it directly (clan's flake-level generators, deployed to the machines they are
    /// encrypted for).
    pub fn machine_secrets(&self, machine: &str) -> Result<Vec<MachineSecret>> {
        // The name becomes part of paths below: `..` or `a/b` would select other folders.
        names::validate(Kind::Machine, machine)?;
        let groups = self.machine_groups(machine)?;
        let mut out = Vec::new();
        let secrets = self.sops.join("secrets");
        for (name, is_dir) in entries(&self.sops, &secrets, Links::Refuse)? {
            if is_dir {
                Self::consider(&self.sops, &secrets.join(&name), name, machine, &groups, &mut out)?;
            }
        }
        if let Some(vars) = &self.vars {
            let per_machine = vars.join("per-machine").join(machine);
            for (generator, file, dir) in two_levels(vars, &per_machine)? {
                let name = format!("vars/per-machine/{machine}/{generator}/{file}");
                Self::consider(vars, &dir, name, machine, &groups, &mut out)?;
            }
            for (generator, file, dir) in two_levels(vars, &vars.join("shared"))? {
                let name = format!("vars/shared/{generator}/{file}");
                Self::consider(vars, &dir, name, machine, &groups, &mut out)?;
            }
            // An export's files are encrypted for the machines of its `deploy` list, each
            // linked directly; a group link there comes from clan's default groups, which say
            // who may read it, not where it is deployed.
            let per_export = vars.join("per-export");
            for (export, is_dir) in entries(vars, &per_export, Links::Refuse)? {
                if !is_dir {
                    continue;
                }
                for (generator, file, dir) in two_levels(vars, &per_export.join(&export))? {
                    let name = format!("vars/per-export/{export}/{generator}/{file}");
                    Self::consider(vars, &dir, name, machine, &[], &mut out)?;
                }
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Adds the secret in `dir` (below `root`, the source's `sops/` or `vars/`) if the machine
    /// is linked to it. The folder is opened once from `root` without following a link, and
    /// its links and `secret` file are looked at through it. The file is looked at only when
    /// the machine is linked: one that is a symlink, FIFO or device is refused by name; a
    /// missing one means the secret has no value yet and is left out.
    fn consider(root: &Path, dir: &Path, name: String, machine: &str, groups: &[String], out: &mut Vec<MachineSecret>) -> Result<()> {
        let Some(folder) = Folder::open(root, dir).map_err(StoreError::from)? else { return Ok(()) };
        // Both folders are opened whatever the machine's groups, so that a symlinked one is
        // reported the same way on every machine.
        let machines = folder.open_dir("machines").map_err(StoreError::from)?;
        let linked_groups = folder.open_dir("groups").map_err(StoreError::from)?;
        let has = |folder: &Option<Folder>, name: &str| -> Result<bool> {
            match folder {
                Some(folder) => Ok(folder.kind(name).map_err(StoreError::from)?.is_some()),
                None => Ok(false),
            }
        };
        let via = if has(&machines, machine)? {
            Via::Direct
        } else {
            let mut found = None;
            for g in groups {
                if has(&linked_groups, g)? {
                    found = Some(g.clone());
                    break;
                }
            }
            match found {
                Some(g) => Via::Group(g),
                None => return Ok(()),
            }
        };
        if folder.is_regular_file("secret").map_err(StoreError::from)? {
            out.push(MachineSecret { name, file: dir.join("secret"), via });
        }
        Ok(())
    }

    /// Decrypts one secret to its exact bytes. Its file is read once, from the folder of this
    /// source that holds it (`sops/` or `vars/`), every folder below that one opened without
    /// following a link: what was checked when the secret was found may have been swapped
    /// since, so it is checked again by the read itself.
    pub fn decrypt(&self, secret: &MachineSecret, identities: &Identities) -> Result<Zeroizing<Vec<u8>>> {
        let Some(root) = [Some(&self.sops), self.vars.as_ref()].into_iter().flatten().find(|root| secret.file.starts_with(root)) else {
            return Err(DeployError::secret(&secret.name, SecretProblem::OutsideRepository { file: secret.file.clone() }));
        };
        ops::decrypt_below(root, &secret.file, identities).map_err(|e| match e {
            secrets_store::StoreError::Sops { path, source } => DeployError::Decrypt { name: secret.name.clone(), path, source },
            other => DeployError::Store(other),
        })
    }
}

/// What [`entries`] does with a symlink among the entries.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Links {
    /// Not a folder: left out (a machine is a real folder; links to it live elsewhere).
    Skip,
    /// Only folders belong here: refused, naming it.
    Refuse,
}

/// The entries of `dir` with whether each is a directory, sorted; a missing folder has none.
/// `dir` is opened from `root` (which the caller chose) without following a link on the way
/// ([`Folder`]), and listed through that descriptor.
fn entries(root: &Path, dir: &Path, links: Links) -> Result<Vec<(String, bool)>> {
    let Some(folder) = Folder::open(root, dir).map_err(StoreError::from)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (name, kind) in folder.entries().map_err(StoreError::from)? {
        let Some(name) = name.to_str().map(str::to_string) else { continue };
        // Not followed through symlinks, as `builtins.readDir` reports them.
        if kind == EntryKind::Symlink && links == Links::Refuse {
            let target = folder.read_link(&name);
            return Err(StoreError::from(UntrustedError::FolderSymlink { path: dir.join(&name), target }).into());
        }
        out.push((name, kind == EntryKind::Folder));
    }
    Ok(out)
}

/// `(generator, file, folder)` for every `dir/<generator>/<file>/` folder.
fn two_levels(root: &Path, dir: &Path) -> Result<Vec<(String, String, PathBuf)>> {
    let mut out = Vec::new();
    for (generator, is_dir) in entries(root, dir, Links::Refuse)? {
        if !is_dir {
            continue;
        }
        for (file, is_dir) in entries(root, &dir.join(&generator), Links::Refuse)? {
            if is_dir {
                let path = dir.join(&generator).join(&file);
                out.push((generator.clone(), file, path));
            }
        }
    }
    Ok(out)
}

/// Whether `dir/name` exists as an entry of any type (a dangling symlink counts). `dir` (a
/// `machines/` or `groups/` folder) is opened from `root` without following a link: one that is
/// a symlink is refused.
fn has_entry(root: &Path, dir: &Path, name: &str) -> Result<bool> {
    match Folder::open(root, dir).map_err(StoreError::from)? {
        Some(folder) => Ok(folder.kind(name).map_err(StoreError::from)?.is_some()),
        None => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/clan-repo")
    }

    #[test]
    fn the_fixture_machine_gets_its_group_and_vars_secrets() {
        let source = Source::open(fixture()).unwrap();
        assert_eq!(source.machine_groups("web1").unwrap(), ["servers"]);
        let secrets = source.machine_secrets("web1").unwrap();
        let names: Vec<_> = secrets.iter().map(|s| (s.name.as_str(), s.via.clone())).collect();
        assert_eq!(names, [("group-secret", Via::Group("servers".into())), ("vars/per-machine/web1/gen/token", Via::Direct)]);
        assert!(source.machine_secrets("web2").unwrap().is_empty());
    }

    #[test]
    fn machines_are_checked_by_name_and_presence() {
        let source = Source::open(fixture()).unwrap();
        source.check_machine("web1").unwrap();
        for bad in ["..", ".", "", "/etc/passwd", "web1/..", "a_b"] {
            let err = source.check_machine(bad).unwrap_err();
            assert!(matches!(err, DeployError::Store(secrets_store::StoreError::InvalidName { .. })), "{bad:?}: {err}");
            assert!(source.machine_secrets(bad).is_err(), "{bad:?}");
        }
        let err = source.check_machine("webl").unwrap_err().to_string();
        assert!(err.contains("`webl`") && err.contains("web1"), "{err}");
    }

    #[test]
    fn a_copy_of_the_sops_folder_opens_too() {
        let source = Source::open(fixture().join("sops")).unwrap();
        assert_eq!(source.machine_secrets("web1").unwrap().len(), 2, "vars/ beside the copy is used");
        let elsewhere = tempfile::tempdir().unwrap();
        assert!(matches!(Source::open(elsewhere.path()), Err(DeployError::NotARepository { .. })));
    }

    /// A symlinked folder anywhere membership is read from is reported by name, never
    /// followed and never silently dropped.
    #[test]
    fn symlinked_folders_in_the_repository_are_refused_by_name() {
        let elsewhere = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(elsewhere.path().join("f/machines/m")).unwrap();
        let symlink = |at: &Path| std::os::unix::fs::symlink(elsewhere.path().join("f"), at).unwrap();
        // Where the link is planted, relative to the repository root.
        let cases = [
            ("secret folder", "sops/secrets/linked"),
            ("machines/ of a secret", "sops/secrets/a/machines"),
            ("groups/ of a secret", "sops/secrets/a/groups"),
            ("machines/ of a group", "sops/groups/g/machines"),
        ];
        for (what, place) in cases {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path();
            fs::create_dir_all(root.join("sops/machines/m")).unwrap();
            fs::create_dir_all(root.join("sops/secrets/a")).unwrap();
            fs::create_dir_all(root.join("sops/groups/g")).unwrap();
            let at = root.join(place);
            symlink(&at);
            let err = Source::open(root).unwrap().machine_secrets("m").unwrap_err().to_string();
            assert!(err.contains(&at.display().to_string()) && err.contains("symbolic link"), "{what}: {err}");
        }
    }

    fn identities(file: &str) -> Identities {
        let text = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/sops-vectors").join(file)).unwrap();
        Identities::from_age_key_text(&text, file).unwrap()
    }

    /// A secret is read again when it is decrypted, from the source's own folders: a secret
    /// folder swapped for a symlink after the listing (simulated by a listing that names one),
    /// or a file outside the source, is refused by name instead of decrypted.
    #[test]
    fn decrypting_reads_the_file_through_the_sources_folders_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let outside = root.join("outside");
        fs::create_dir_all(&outside).unwrap();
        fs::copy(fixture().join("sops/secrets/group-secret/secret"), outside.join("secret")).unwrap();
        let repo = root.join("repo");
        fs::create_dir_all(repo.join("sops/machines/web1")).unwrap();
        fs::create_dir_all(repo.join("sops/secrets/real")).unwrap();
        fs::copy(fixture().join("sops/secrets/group-secret/secret"), repo.join("sops/secrets/real/secret")).unwrap();
        std::os::unix::fs::symlink(&outside, repo.join("sops/secrets/swapped")).unwrap();
        let source = Source::open(&repo).unwrap();
        let ids = identities("keys-b.txt");
        let secret = |name: &str, file: PathBuf| MachineSecret { name: name.into(), file, via: Via::Direct };

        let value = source.decrypt(&secret("real", repo.join("sops/secrets/real/secret")), &ids).unwrap();
        assert_eq!(&value[..], b"group-value");

        let err = source.decrypt(&secret("swapped", repo.join("sops/secrets/swapped/secret")), &ids).unwrap_err().to_string();
        assert!(err.contains("sops/secrets/swapped") && err.contains("symbolic link"), "{err}");
        let err = source.decrypt(&secret("outside", outside.join("secret")), &ids).unwrap_err().to_string();
        assert!(err.contains("not in the repository"), "{err}");

        // A FIFO in place of the file neither blocks nor is read.
        let fifo = repo.join("sops/secrets/real/fifo");
        rustix::fs::mknodat(rustix::fs::CWD, &fifo, rustix::fs::FileType::Fifo, rustix::fs::Mode::from_raw_mode(0o600), 0).unwrap();
        let err = source.decrypt(&secret("fifo", fifo), &ids).unwrap_err().to_string();
        assert!(err.contains("named pipe"), "{err}");
    }

    #[test]
    fn shared_vars_and_secrets_without_a_file_or_link() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let link = |target: &str, at: &Path| {
            fs::create_dir_all(at.parent().unwrap()).unwrap();
            std::os::unix::fs::symlink(target, at).unwrap();
        };
        fs::create_dir_all(root.join("sops/machines/m")).unwrap();
        for s in ["a", "b", "c"] {
            fs::create_dir_all(root.join("sops/secrets").join(s)).unwrap();
        }
        fs::write(root.join("sops/secrets/a/secret"), "{}").unwrap();
        link("../../../machines/m", &root.join("sops/secrets/a/machines/m"));
        link("../../../machines/m", &root.join("sops/secrets/b/machines/m")); // no secret file
        fs::write(root.join("sops/secrets/c/secret"), "{}").unwrap(); // not linked
        let shared = root.join("vars/shared/gen/f");
        fs::create_dir_all(&shared).unwrap();
        fs::write(shared.join("secret"), "{}").unwrap();
        link("../../../../../sops/machines/m", &shared.join("machines/m"));
        let other = root.join("vars/per-machine/other/gen/f");
        fs::create_dir_all(&other).unwrap();
        fs::write(other.join("secret"), "{}").unwrap();
        link("../../../../../../sops/machines/m", &other.join("machines/m"));
        let names: Vec<_> = Source::open(root).unwrap().machine_secrets("m").unwrap().into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["a", "vars/shared/gen/f"]);
    }
}
