//! The age identities that can open data keys, found in every place sops looks and merged:
//! ssh keys (`SOPS_AGE_SSH_PRIVATE_KEY_FILE`, else `~/.ssh/id_ed25519` and `~/.ssh/id_rsa`),
//! `SOPS_AGE_KEY`, `SOPS_AGE_KEY_FILE`, `SOPS_AGE_KEY_CMD`, and the default `keys.txt`. Each
//! source is recorded with what it held, for the report when nothing opens a file; a source
//! with a bad line is skipped as a whole, as sops does. Reports never contain key material.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// What one key source held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceReport {
    pub source: String,
    pub outcome: String,
}

struct Entry {
    identity: Box<dyn age::Identity + Send + Sync>,
    /// The recipient this identity opens, when it is known (X25519 keys), so that the stanza
    /// meant for it is tried first.
    public: Option<String>,
}

/// The identities available to decrypt.
#[derive(Default)]
pub struct Identities {
    entries: Vec<Entry>,
    reports: Vec<SourceReport>,
}

impl std::fmt::Debug for Identities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identities").field("count", &self.entries.len()).field("sources", &self.reports).finish()
    }
}

impl Identities {
    pub fn empty() -> Identities {
        Identities::default()
    }

    /// Every identity sops would find from this process's environment.
    pub fn from_env() -> Identities {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        Identities::discover(&|name| std::env::var(name).ok(), home.as_deref())
    }

    /// Every identity sops would find, with the environment and home folder given.
    pub fn discover(env: &dyn Fn(&str) -> Option<String>, home: Option<&Path>) -> Identities {
        let mut ids = Identities::empty();
        let set = |name: &str| env(name).filter(|v| !v.is_empty());

        match set("SOPS_AGE_SSH_PRIVATE_KEY_FILE") {
            Some(path) => ids.add_source_file_ssh(Path::new(&path), "SOPS_AGE_SSH_PRIVATE_KEY_FILE"),
            None => {
                for name in ["id_ed25519", "id_rsa"] {
                    let path = home.map(|h| h.join(".ssh").join(name));
                    match path {
                        Some(p) if p.is_file() => ids.add_source_file_ssh(&p, &format!("~/.ssh/{name}")),
                        _ => ids.note(format!("~/.ssh/{name}"), "not found"),
                    }
                }
            }
        }

        match set("SOPS_AGE_KEY") {
            Some(text) => {
                let text = Zeroizing::new(text);
                let _ = ids.add_age_key_text(&text, "SOPS_AGE_KEY");
            }
            None => ids.note("SOPS_AGE_KEY", "not set"),
        }

        match set("SOPS_AGE_KEY_FILE") {
            Some(path) => ids.add_source_file_age(Path::new(&path), &format!("SOPS_AGE_KEY_FILE ({path})")),
            None => ids.note("SOPS_AGE_KEY_FILE", "not set"),
        }

        match set("SOPS_AGE_KEY_CMD") {
            Some(command) => ids.add_command_output(&command),
            None => ids.note("SOPS_AGE_KEY_CMD", "not set"),
        }

        let default = set("XDG_CONFIG_HOME")
            .map(|x| PathBuf::from(x).join("sops/age/keys.txt"))
            .or_else(|| home.map(|h| default_config_dir(h).join("sops/age/keys.txt")));
        match default {
            Some(path) if path.is_file() => ids.add_source_file_age(&path, &path.display().to_string()),
            Some(path) => ids.note(path.display().to_string(), "not found"),
            None => ids.note("~/.config/sops/age/keys.txt", "no home folder"),
        }
        ids
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Each source consulted and what it held.
    pub fn reports(&self) -> &[SourceReport] {
        &self.reports
    }

    fn note(&mut self, source: impl Into<String>, outcome: impl Into<String>) {
        self.reports.push(SourceReport { source: source.into(), outcome: outcome.into() });
    }

    /// Adds the identities of an age key file's text (sops' rules: empty and `#` lines
    /// skipped, no trimming, one bad line rejects the whole source). Returns how many.
    pub fn add_age_key_text(&mut self, text: &str, source: &str) -> Result<usize> {
        let mut found: Vec<Entry> = Vec::new();
        let mut plugins: Vec<age::plugin::Identity> = Vec::new();
        for (index, raw) in text.split('\n').enumerate() {
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |reason: &str| Error::Identity { source_name: source.to_string(), reason: format!("line {} {reason}", index + 1) };
            if line.starts_with("AGE-SECRET-KEY-PQ-1") {
                let err = bad("is a post-quantum identity, which is not supported yet");
                self.note(source, err.to_string());
                return Err(err);
            } else if line.starts_with("AGE-SECRET-KEY-1") {
                let Ok(identity) = age::x25519::Identity::from_str(line) else {
                    let err = bad("is not a valid age identity");
                    self.note(source, err.to_string());
                    return Err(err);
                };
                let public = identity.to_public().to_string();
                found.push(Entry { identity: Box::new(identity), public: Some(public) });
            } else if line.starts_with("AGE-PLUGIN-") {
                match age::plugin::Identity::from_str(line) {
                    Ok(identity) => plugins.push(identity),
                    Err(_) => {
                        let err = bad("is not a valid age plugin identity");
                        self.note(source, err.to_string());
                        return Err(err);
                    }
                }
            } else {
                let err = bad("is not an age identity (it must start with AGE-SECRET-KEY-1 or AGE-PLUGIN-)");
                self.note(source, err.to_string());
                return Err(err);
            }
        }
        let mut outcome = vec![plural(found.len(), "age identity", "age identities")];
        let mut names: Vec<String> = plugins.iter().map(|p| p.plugin().to_string()).collect();
        names.sort();
        names.dedup();
        for name in names {
            match age::plugin::IdentityPluginV1::new(&name, &plugins, age::NoCallbacks) {
                Ok(plugin) => {
                    found.push(Entry { identity: Box::new(plugin), public: None });
                    outcome.push(format!("plugin identities for age-plugin-{name}"));
                }
                Err(_) => outcome.push(format!("plugin identities for age-plugin-{name}, which is not on PATH")),
            }
        }
        let count = found.len();
        self.entries.extend(found);
        self.note(source, outcome.join(", "));
        Ok(count)
    }

    /// Adds an ssh private key (OpenSSH ed25519 or RSA) read from a file.
    pub fn add_ssh_private_key_file(&mut self, path: &Path) -> Result<()> {
        let source = path.display().to_string();
        let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| Error::Identity { source_name: source.clone(), reason: e.to_string() })?);
        self.add_ssh_private_key(&bytes, &source)
    }

    /// Adds an ssh private key given as bytes.
    pub fn add_ssh_private_key(&mut self, bytes: &[u8], source: &str) -> Result<()> {
        let fail = |reason: &str| Error::Identity { source_name: source.to_string(), reason: reason.to_string() };
        let identity = age::ssh::Identity::from_buffer(bytes, Some(source.to_string())).map_err(|_| fail("not an ssh private key"));
        let result = match identity {
            Ok(age::ssh::Identity::Unencrypted(key)) => {
                self.entries.push(Entry { identity: Box::new(age::ssh::Identity::Unencrypted(key)), public: None });
                Ok(())
            }
            Ok(age::ssh::Identity::Encrypted(_)) => Err(fail("the ssh key is protected by a passphrase, which cannot be asked for here")),
            Ok(age::ssh::Identity::Unsupported(_)) => Err(fail("this kind of ssh key is not supported (use ed25519 or RSA)")),
            Err(e) => Err(e),
        };
        match &result {
            Ok(()) => self.note(source, "an ssh identity"),
            Err(e) => self.note(source, e.to_string()),
        }
        result
    }

    fn add_source_file_age(&mut self, path: &Path, source: &str) {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let text = Zeroizing::new(text);
                if text.starts_with("age-encryption.org/") || text.starts_with("-----BEGIN AGE ENCRYPTED FILE-----") {
                    self.note(source, "a passphrase-protected identity file, which cannot be unlocked here");
                } else {
                    let _ = self.add_age_key_text(&text, source);
                }
            }
            Err(e) => self.note(source, format!("cannot read: {e}")),
        }
    }

    fn add_source_file_ssh(&mut self, path: &Path, source: &str) {
        let label = format!("{source} ({})", path.display());
        match std::fs::read(path) {
            Ok(bytes) => {
                let bytes = Zeroizing::new(bytes);
                let _ = self.add_ssh_private_key(&bytes, &label);
            }
            Err(e) => self.note(label, format!("cannot read: {e}")),
        }
    }

    fn add_command_output(&mut self, command: &str) {
        let source = "SOPS_AGE_KEY_CMD";
        let Some(words) = shlex::split(command).filter(|w| !w.is_empty()) else {
            self.note(source, "cannot split the command line");
            return;
        };
        let output = std::process::Command::new(&words[0]).args(&words[1..]).stdin(std::process::Stdio::null()).output();
        match output {
            Ok(out) if out.status.success() => {
                let text = Zeroizing::new(String::from_utf8_lossy(&out.stdout).into_owned());
                let _ = self.add_age_key_text(&text, source);
            }
            Ok(out) => self.note(source, format!("the command failed ({})", out.status)),
            Err(e) => self.note(source, format!("cannot run `{}`: {e}", words[0])),
        }
    }

    /// The identities, those whose recipient is `hint` first.
    pub(crate) fn ordered_for<'a>(&'a self, hint: Option<&'a str>) -> impl Iterator<Item = &'a dyn age::Identity> + 'a {
        let matches = move |e: &&Entry| hint.is_some() && e.public.as_deref() == hint;
        let first = self.entries.iter().filter(matches);
        let rest = self.entries.iter().filter(move |e| !matches(e));
        first.chain(rest).map(|e| e.identity.as_ref() as &dyn age::Identity)
    }

    /// Whether some identity is known to open `recipient` (X25519 keys only).
    pub(crate) fn knows(&self, recipient: &str) -> bool {
        self.entries.iter().any(|e| e.public.as_deref() == Some(recipient))
    }
}

fn default_config_dir(home: &Path) -> PathBuf {
    if cfg!(target_os = "macos") {
        home.join("Library/Application Support")
    } else {
        home.join(".config")
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vectors(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/sops-vectors").join(name)
    }

    #[test]
    fn discovery_merges_every_source_and_reports_each() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join(".config/sops/age")).unwrap();
        std::fs::copy(vectors("keys-c.txt"), home.path().join(".config/sops/age/keys.txt")).unwrap();
        let bob = std::fs::read_to_string(vectors("keys-b.txt")).unwrap();
        let alice_file = vectors("keys.txt").display().to_string();
        let ssh = vectors("ssh/id_ed25519").display().to_string();
        let env = |name: &str| match name {
            "SOPS_AGE_KEY" => Some(bob.clone()),
            "SOPS_AGE_KEY_FILE" => Some(alice_file.clone()),
            "SOPS_AGE_SSH_PRIVATE_KEY_FILE" => Some(ssh.clone()),
            _ => None,
        };
        let ids = Identities::discover(&env, Some(home.path()));
        assert_eq!(ids.len(), 4, "{:?}", ids.reports());
        let sources: Vec<&str> = ids.reports().iter().map(|r| r.source.as_str()).collect();
        assert!(sources.iter().any(|s| s.starts_with("SOPS_AGE_KEY_CMD")));
        assert!(ids.reports().iter().any(|r| r.outcome == "not set"));
    }

    #[test]
    fn a_bad_line_rejects_its_whole_source_only() {
        let mut ids = Identities::empty();
        let good = std::fs::read_to_string(vectors("keys.txt")).unwrap();
        assert!(ids.add_age_key_text(&format!("{good}\n AGE-SECRET-KEY-1XYZ\n"), "bad").is_err());
        assert!(ids.is_empty());
        assert_eq!(ids.add_age_key_text(&good.replace('\n', "\r\n"), "crlf").unwrap(), 1);
        let report = format!("{:?}", ids.reports());
        let secret = good.lines().find(|l| l.starts_with("AGE-SECRET-KEY-1")).unwrap();
        assert!(!report.contains(&secret[16..]), "no key material in reports: {report}");
    }

    #[test]
    fn the_key_command_is_run_without_a_shell() {
        let file = vectors("keys.txt").display().to_string();
        let env = |name: &str| (name == "SOPS_AGE_KEY_CMD").then(|| format!("cat '{file}'"));
        let home = tempfile::tempdir().unwrap();
        let ids = Identities::discover(&env, Some(home.path()));
        assert_eq!(ids.len(), 1, "{:?}", ids.reports());
    }

    #[test]
    fn ssh_keys_are_identities() {
        let mut ids = Identities::empty();
        ids.add_ssh_private_key_file(&vectors("ssh/id_ed25519")).unwrap();
        assert_eq!(ids.len(), 1);
        assert!(ids.add_ssh_private_key(b"garbage", "x").is_err());
    }
}
