//! A machine's identities, found the way sops-install-secrets finds them: an age key file and
//! ssh-ed25519 host keys converted to age keys the ssh-to-age way. Only the machine's own keys
//! are used, never the caller's `SOPS_AGE_*` environment: installing must not depend on who
//! runs it.

use std::path::{Path, PathBuf};

use secrets_sops::keys::ssh_to_age::ssh_ed25519_private_to_age;
use secrets_sops::keys::Identities;
use zeroize::Zeroizing;

use crate::error::{DeployError, KeyProblem, Result};
use crate::fsat::read_regular_following;

/// The largest key file read (an age key file with many keys is a few KiB).
pub const MAX_KEY_FILE: u64 = 1 << 20;

/// Where sops-nix machines keep a dedicated age key (clan uploads it there).
pub const DEFAULT_AGE_KEY_FILE: &str = "/var/lib/sops-nix/key.txt";
/// The ed25519 host key, sops-nix's default `sshKeyPaths`.
pub const DEFAULT_SSH_KEY: &str = "/etc/ssh/ssh_host_ed25519_key";

/// Where a machine's keys are.
#[derive(Clone, Debug, Default)]
pub struct KeySources {
    /// age key files (`AGE-SECRET-KEY-…` lines, as `age-keygen` writes them).
    pub age_key_files: Vec<PathBuf>,
    /// OpenSSH ed25519 private keys, used as age identities the ssh-to-age way.
    pub ssh_keys: Vec<PathBuf>,
}

impl KeySources {
    /// sops-nix's defaults: its key file if present, and the ed25519 host key if present.
    pub fn defaults() -> KeySources {
        KeySources::defaults_under(Path::new("/"))
    }

    /// The defaults below another root (for tests and chroots).
    pub fn defaults_under(root: &Path) -> KeySources {
        let present = |p: &str| Some(root.join(p.trim_start_matches('/'))).filter(|p| p.is_file());
        KeySources {
            age_key_files: present(DEFAULT_AGE_KEY_FILE).into_iter().collect(),
            ssh_keys: present(DEFAULT_SSH_KEY).into_iter().collect(),
        }
    }

    /// These key sources without the paths below any of `folders` (lexically, as given), and
    /// the paths left out. A key installed from the secrets it should open (clan's sshd key
    /// under `/run/secrets`) cannot open them at boot; sops-nix leaves such host keys out.
    pub fn outside(&self, folders: &[&Path]) -> (KeySources, Vec<PathBuf>) {
        let inside = |p: &PathBuf| folders.iter().any(|f| p.starts_with(f));
        let mut left_out: Vec<PathBuf> = self.age_key_files.iter().chain(&self.ssh_keys).filter(|p| inside(p)).cloned().collect();
        left_out.dedup();
        let keep = |paths: &[PathBuf]| paths.iter().filter(|p| !inside(p)).cloned().collect();
        (KeySources { age_key_files: keep(&self.age_key_files), ssh_keys: keep(&self.ssh_keys) }, left_out)
    }

    /// No key file named at all.
    pub fn is_empty(&self) -> bool {
        self.age_key_files.is_empty() && self.ssh_keys.is_empty()
    }

    /// Loads every key. A key that cannot be read or used fails the load: for keys given by
    /// hand, where a missing one is a mistake to report.
    ///
    /// An ssh-ed25519 key is added twice: converted to an age X25519 identity (what sops-nix
    /// does, for machines registered with the `age1…` form of their host key) and as an ssh
    /// identity (for machines registered with the raw `ssh-ed25519 …` key, which
    /// sops-install-secrets cannot open).
    pub fn load(&self) -> Result<Identities> {
        self.no_key_named()?;
        let mut ids = Identities::empty();
        for path in &self.age_key_files {
            add_age_key_file(&mut ids, path)?;
        }
        for path in &self.ssh_keys {
            add_ssh_key(&mut ids, path)?;
        }
        Ok(ids)
    }

    fn no_key_named(&self) -> Result<()> {
        if self.is_empty() {
            return Err(DeployError::NoIdentity {
                tried: format!("{DEFAULT_AGE_KEY_FILE} and {DEFAULT_SSH_KEY} do not exist; pass --age-key-file or --ssh-key"),
            });
        }
        Ok(())
    }

    /// Loads the keys that can be read, as sops-install-secrets does on a machine: a key path
    /// that is missing, unreadable or of the wrong kind (an RSA host key among the ssh keys, a
    /// file without an age identity) is skipped and returned in [`Loaded::skipped`], so that a
    /// configuration listing a key that does not exist yet (clan's generated host key, at first
    /// boot) still installs with the others. Only when no key at all can be used does the load
    /// fail ([`DeployError::NoIdentity`], naming each path and why).
    pub fn load_available(&self) -> Result<Loaded> {
        self.no_key_named()?;
        let mut ids = Identities::empty();
        let mut skipped = Vec::new();
        for path in &self.age_key_files {
            if let Err(e) = add_age_key_file(&mut ids, path) {
                skipped.push(e);
            }
        }
        let mut imported = Vec::new();
        for path in &self.ssh_keys {
            match add_ssh_key(&mut ids, path) {
                Ok(recipient) => imported.push((path.clone(), recipient)),
                Err(e) => skipped.push(e),
            }
        }
        if ids.is_empty() {
            let tried = skipped.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
            return Err(DeployError::NoIdentity { tried });
        }
        Ok(Loaded { identities: ids, skipped, imported })
    }
}

/// The identities of [`KeySources::load_available`], and the key paths it had to skip.
pub struct Loaded {
    /// Every identity read.
    pub identities: Identities,
    /// Why each skipped key path could not be used ([`DeployError::Key`]).
    pub skipped: Vec<DeployError>,
    /// Each ssh host key used, with the `age1…` recipient it was converted to (what
    /// sops-install-secrets logs under `logging.keyImport`).
    pub imported: Vec<(PathBuf, String)>,
}

/// Adds the identities of an age key file, all or none.
fn add_age_key_file(ids: &mut Identities, path: &Path) -> Result<()> {
    let text = read_secret_text(path)?;
    let mut found = Identities::empty();
    found.add_age_key_text(&text, &path.display().to_string()).map_err(|e| key_error(path, KeyProblem::Unusable(e)))?;
    if found.is_empty() {
        return Err(key_error(path, KeyProblem::NoAgeIdentity));
    }
    ids.extend(found);
    Ok(())
}

/// Adds an ssh-ed25519 host key in both of its forms, or nothing; returns the `age1…`
/// recipient of its converted form.
fn add_ssh_key(ids: &mut Identities, path: &Path) -> Result<String> {
    let pem = read_key(path)?;
    let age_key = ssh_ed25519_private_to_age(&pem).map_err(|e| key_error(path, KeyProblem::NotEd25519(e)))?;
    let mut found = Identities::empty();
    found.add_age_key_text(&age_key, &format!("{} (as age key)", path.display())).map_err(|e| key_error(path, KeyProblem::Unusable(e)))?;
    let recipient = found.public_keys().first().cloned().unwrap_or_default();
    found.add_ssh_private_key_file(path).map_err(|e| key_error(path, KeyProblem::Unusable(e)))?;
    ids.extend(found);
    Ok(recipient)
}

/// A key file: a regular file (a FIFO or device in its place is refused, not waited on) of at
/// most [`MAX_KEY_FILE`] bytes. Unlike repository files it may be a symlink: its path comes
/// from the machine's own configuration, and persistence setups link host keys.
fn read_key(path: &Path) -> Result<Zeroizing<Vec<u8>>> {
    read_regular_following(path, MAX_KEY_FILE).map_err(|e| key_error(path, KeyProblem::Unreadable(e)))
}

fn read_secret_text(path: &Path) -> Result<Zeroizing<String>> {
    let bytes = read_key(path)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| key_error(path, KeyProblem::NotText))?;
    Ok(Zeroizing::new(text.to_string()))
}

fn key_error(path: &Path, problem: KeyProblem) -> DeployError {
    DeployError::Key { path: path.to_path_buf(), problem }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vectors() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/sops-vectors")
    }

    #[test]
    fn defaults_are_only_the_files_present() {
        let root = tempfile::tempdir().unwrap();
        assert!(KeySources::defaults_under(root.path()).is_empty());
        std::fs::create_dir_all(root.path().join("etc/ssh")).unwrap();
        std::fs::copy(vectors().join("ssh/id_ed25519"), root.path().join("etc/ssh/ssh_host_ed25519_key")).unwrap();
        let found = KeySources::defaults_under(root.path());
        assert_eq!(found.ssh_keys, [root.path().join("etc/ssh/ssh_host_ed25519_key")]);
        assert!(found.age_key_files.is_empty());
        assert!(found.load().unwrap().len() >= 2, "converted X25519 plus native ssh identity");
        let imported = found.load_available().unwrap().imported;
        assert_eq!(imported.len(), 1);
        assert!(imported[0].1.starts_with("age1"), "{imported:?}");
    }

    #[test]
    fn no_key_or_a_bad_key_fails() {
        assert!(matches!(KeySources::default().load(), Err(DeployError::NoIdentity { .. })));
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("key.txt");
        std::fs::write(&bad, "not a key\n").unwrap();
        let sources = KeySources { age_key_files: vec![bad], ssh_keys: vec![] };
        assert!(matches!(sources.load(), Err(DeployError::Key { .. })));
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(rustix::fs::CWD, &fifo, rustix::fs::FileType::Fifo, rustix::fs::Mode::from_raw_mode(0o600), 0).unwrap();
        let fifo = KeySources { age_key_files: vec![fifo], ssh_keys: vec![] };
        assert!(fifo.load().unwrap_err().to_string().contains("not a regular file"), "refused without blocking");
        let missing = KeySources { age_key_files: vec![], ssh_keys: vec![dir.path().join("nope")] };
        let err = missing.load().unwrap_err();
        let DeployError::Key { problem: KeyProblem::Unreadable(source), .. } = &err else { panic!("{err:?}") };
        assert_eq!(source.kind(), std::io::ErrorKind::NotFound, "the system's error is kept");
        let age = KeySources { age_key_files: vec![vectors().join("keys-b.txt")], ssh_keys: vec![] };
        assert_eq!(age.load().unwrap().len(), 1);
    }

    /// On a machine, a missing or wrong-kind key path is skipped with its reason; the load fails
    /// only when nothing at all can be used, naming every path tried.
    #[test]
    fn unusable_key_paths_are_skipped_unless_none_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let rsa = dir.path().join("ssh_host_rsa_key");
        std::fs::write(&rsa, "-----BEGIN OPENSSH PRIVATE KEY-----\nnot ed25519\n-----END OPENSSH PRIVATE KEY-----\n").unwrap();
        let missing = dir.path().join("ssh.id_ed25519");
        let sources = KeySources { age_key_files: vec![vectors().join("keys-b.txt")], ssh_keys: vec![missing.clone(), rsa.clone()] };
        let loaded = sources.load_available().unwrap();
        assert_eq!(loaded.identities.len(), 1);
        let reasons: Vec<String> = loaded.skipped.iter().map(ToString::to_string).collect();
        assert_eq!(reasons.len(), 2, "{reasons:?}");
        assert!(reasons[0].contains("ssh.id_ed25519"), "{reasons:?}");
        assert!(sources.load().is_err(), "given by hand, every key must work");
        let (outside, left_out) = sources.outside(&[dir.path()]);
        assert_eq!(left_out, [missing.clone(), rsa.clone()]);
        assert_eq!(outside.age_key_files, sources.age_key_files);
        assert!(outside.ssh_keys.is_empty());
        let none = KeySources { age_key_files: vec![], ssh_keys: vec![missing, rsa] };
        let Err(DeployError::NoIdentity { tried }) = none.load_available() else { panic!("no key at all must fail") };
        assert!(tried.contains("ssh.id_ed25519") && tried.contains("ssh_host_rsa_key"), "{tried}");
    }
}
