//! "Which user am I?": the public keys of the local age identities, found as clan finds them
//! (one source: `SOPS_AGE_KEY`, else `SOPS_AGE_KEY_FILE`, else the default `keys.txt`), and the
//! user of the repository that owns one of them. To tell who the caller is, where clan finds no
//! age key at all, the ssh keys sops decrypts with (`SOPS_AGE_SSH_PRIVATE_KEY_FILE`, else
//! `~/.ssh/id_ed25519` and `~/.ssh/id_rsa`) count too ([`caller_keys`]): a user registered with
//! an ssh key can then set what they can already read (clan stops there with "No SOPS key
//! found").

use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::{Result, StoreError};
use crate::keyfile::PublicKey;
use crate::names::Kind;
use crate::repo::Repo;

/// A local public key and where it was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalKey {
    /// The public key of a private key found locally.
    pub key: PublicKey,
    /// `SOPS_AGE_KEY`, or the path of the key file.
    pub source: String,
}

/// The default identity file: `$XDG_CONFIG_HOME/sops/age/keys.txt`, else
/// `~/.config/sops/age/keys.txt` (`~/Library/Application Support/…` on macOS).
pub fn default_key_file(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(xdg) = env("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        return Some(Path::new(&xdg).join("sops/age/keys.txt"));
    }
    let home = env("HOME").filter(|v| !v.is_empty())?;
    let base =
        if cfg!(target_os = "macos") { Path::new(&home).join("Library/Application Support") } else { Path::new(&home).join(".config") };
    Some(base.join("sops/age/keys.txt"))
}

/// The file `key generate` writes to: `SOPS_AGE_KEY_FILE` if set, else the default.
pub fn key_file_for_generation(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    env("SOPS_AGE_KEY_FILE").filter(|v| !v.is_empty()).map(PathBuf::from).or_else(|| default_key_file(env))
}

/// The local public keys: the age keys of exactly one source as clan chooses it, and the PGP
/// fingerprints of `SOPS_PGP_FP` (comma-separated), as clan adds them.
pub fn local_keys(env: &dyn Fn(&str) -> Option<String>) -> Result<Vec<LocalKey>> {
    let mut keys = age_keys(env)?;
    if let Some(fingerprints) = env("SOPS_PGP_FP").filter(|v| !v.trim().is_empty()) {
        for fingerprint in fingerprints.trim().split(',').map(str::trim).filter(|f| !f.is_empty()) {
            keys.push(LocalKey {
                key: PublicKey { key: fingerprint.to_string(), kind: crate::keyfile::KeyType::Pgp },
                source: "SOPS_PGP_FP".to_string(),
            });
        }
    }
    Ok(keys)
}

/// [`local_keys`], or when they hold no age key, also the ssh keys sops decrypts with: the
/// keys that say who the caller is (`set` links its caller; `key show` shows them). Not for
/// `key generate`, which must not take an ssh key for an age key already set.
pub fn caller_keys(env: &dyn Fn(&str) -> Option<String>) -> Result<Vec<LocalKey>> {
    let mut keys = local_keys(env)?;
    if !keys.iter().any(|k| k.key.kind == crate::keyfile::KeyType::Age) {
        keys.extend(ssh_keys(env));
    }
    Ok(keys)
}

/// The age keys of [`local_keys`].
fn age_keys(env: &dyn Fn(&str) -> Option<String>) -> Result<Vec<LocalKey>> {
    let (text, source) = if let Some(content) = env("SOPS_AGE_KEY").filter(|v| !v.is_empty()) {
        (zeroize::Zeroizing::new(content), "SOPS_AGE_KEY".to_string())
    } else {
        let Some(path) = key_file_for_generation(env) else { return Ok(Vec::new()) };
        // The same reader as decryption's: once, bounded, never blocking on a FIFO.
        match secrets_sops::keys::identities::read_key_file(&path) {
            Ok(Some(bytes)) => match std::str::from_utf8(&bytes) {
                Ok(text) => (zeroize::Zeroizing::new(text.to_string()), path.display().to_string()),
                Err(_) => return Ok(Vec::new()),
            },
            _ => return Ok(Vec::new()),
        }
    };
    let mut keys: Vec<LocalKey> = public_keys_in(&text)?.into_iter().map(|key| LocalKey { key, source: source.clone() }).collect();
    keys.sort_by(|a, b| a.key.cmp(&b.key));
    keys.dedup_by(|a, b| a.key == b.key);
    Ok(keys)
}

/// The public keys of the ssh keys sops decrypts with, each as its `ssh-… AAAA…` line and, for
/// ssh-ed25519, also as its `ssh-to-age` recipient (a user may be registered with either). The
/// public half is read from `<key>.pub`, else from the key itself when it has no passphrase.
fn ssh_keys(env: &dyn Fn(&str) -> Option<String>) -> Vec<LocalKey> {
    let paths: Vec<PathBuf> = match env("SOPS_AGE_SSH_PRIVATE_KEY_FILE").filter(|v| !v.is_empty()) {
        Some(path) => vec![PathBuf::from(path)],
        None => match env("HOME").filter(|v| !v.is_empty()) {
            Some(home) => ["id_ed25519", "id_rsa"].iter().map(|n| Path::new(&home).join(".ssh").join(n)).collect(),
            None => Vec::new(),
        },
    };
    let mut keys = Vec::new();
    for path in paths {
        let Some(line) = ssh_public_line(&path) else { continue };
        let source = path.display().to_string();
        if let Ok(converted) = secrets_sops::keys::ssh_to_age::ssh_ed25519_public_to_age(&line) {
            keys.push(LocalKey { key: PublicKey::age(converted), source: source.clone() });
        }
        keys.push(LocalKey { key: PublicKey::age(line), source });
    }
    keys
}

/// `ssh-ed25519 AAAA…` (type and key, no comment) of a private key file.
fn ssh_public_line(private: &Path) -> Option<String> {
    use secrets_sops::keys::identities::read_key_file;
    let mut public = private.as_os_str().to_owned();
    public.push(".pub");
    let text = if let Ok(Some(bytes)) = read_key_file(Path::new(&public)) {
        String::from_utf8(bytes.to_vec()).ok()?
    } else {
        let bytes = read_key_file(private).ok()??;
        let identity = age::ssh::Identity::from_buffer(&bytes[..], None).ok()?;
        age::ssh::Recipient::try_from(identity).ok()?.to_string()
    };
    recipient_token(text.lines().next()?).filter(|t| t.starts_with("ssh-"))
}

/// The public keys named or implied by an identity file: recipients in comments
/// (`# public key: age1…`), public keys of `AGE-SECRET-KEY-1…` lines.
fn public_keys_in(text: &str) -> Result<Vec<PublicKey>> {
    let mut keys = Vec::new();
    let mut previous_recipient = false;
    for (number, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if let Some(token) = recipient_token(line) {
            keys.push(PublicKey::age(token));
            previous_recipient = line.trim_start().starts_with("# recipient:");
            continue;
        }
        if line.starts_with("AGE-SECRET-KEY-") {
            let identity = age::x25519::Identity::from_str(line).map_err(|_| StoreError::MalformedIdentity { line: number + 1 })?;
            keys.push(PublicKey::age(identity.to_public().to_string()));
        } else if line.starts_with("AGE-PLUGIN-") && !previous_recipient {
            return Err(StoreError::PluginIdentityWithoutRecipient { line: number + 1 });
        }
        previous_recipient = false;
    }
    Ok(keys)
}

/// The first `age1…`, `ssh-ed25519 …` or `ssh-rsa …` token of a line, up to whitespace.
fn recipient_token(line: &str) -> Option<String> {
    let starts = ["age1", "ssh-ed25519 ", "ssh-rsa "];
    let at = starts.iter().filter_map(|s| line.find(s)).min()?;
    let rest = &line[at..];
    let token = if rest.starts_with("ssh-") {
        let mut parts = rest.split_whitespace();
        format!("{} {}", parts.next()?, parts.next()?)
    } else {
        rest.split_whitespace().next()?.to_string()
    };
    Some(token)
}

/// The user whose `key.json` shares a key with `local`, and all of that user's keys. Users are
/// tried in sorted order, so the answer is deterministic.
pub fn find_user(repo: &Repo, local: &[LocalKey]) -> Result<Option<(String, Vec<PublicKey>)>> {
    for user in repo.list(Kind::User)? {
        let keys = repo.read_keys(Kind::User, &user)?;
        if keys.iter().any(|k| local.iter().any(|l| &l.key == k)) {
            return Ok(Some((user, keys)));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pgp_fingerprints_of_the_environment_count_as_clan_counts_them() {
        let env = |name: &str| (name == "SOPS_PGP_FP").then(|| " AAAA1111BBBB2222CCCC3333DDDD4444EEEE5555, 0123456789ABCDEF ".to_string());
        let keys = local_keys(&env).unwrap();
        let pgp: Vec<&str> = keys.iter().filter(|k| k.key.kind == crate::keyfile::KeyType::Pgp).map(|k| k.key.key.as_str()).collect();
        assert_eq!(pgp, ["AAAA1111BBBB2222CCCC3333DDDD4444EEEE5555", "0123456789ABCDEF"]);
        assert!(keys.iter().all(|k| k.source == "SOPS_PGP_FP"));
    }

    #[test]
    fn reads_comments_and_private_keys() {
        let vectors = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/sops-vectors/keys.txt");
        let text = std::fs::read_to_string(vectors).unwrap();
        let keys = public_keys_in(&text).unwrap();
        assert!(keys.iter().all(|k| k.key == "age1e9xplsq098whkdsvugpwhmh65hvjzend6kh3pcpuvsswew43jf6smxepjg"));
        assert!(!keys.is_empty());
        assert!(public_keys_in("AGE-PLUGIN-YUBIKEY-1X").is_err());
        assert_eq!(public_keys_in("# recipient: age1abc\nAGE-PLUGIN-YUBIKEY-1X").unwrap(), vec![PublicKey::age("age1abc")]);
    }

    #[test]
    fn one_source_is_used_in_clan_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("k.txt");
        std::fs::write(&file, "# public key: age1fromfile\n").unwrap();
        let file_str = file.display().to_string();
        let env = |name: &str| match name {
            "SOPS_AGE_KEY" => Some("# public key: age1fromenv".to_string()),
            "SOPS_AGE_KEY_FILE" => Some(file_str.clone()),
            _ => None,
        };
        assert_eq!(local_keys(&env).unwrap()[0].key, PublicKey::age("age1fromenv"));
        let env = |name: &str| if name == "SOPS_AGE_KEY_FILE" { Some(file_str.clone()) } else { None };
        assert_eq!(local_keys(&env).unwrap()[0].source, file_str);
        let env = |name: &str| if name == "SOPS_AGE_KEY_FILE" { Some("/nonexistent".to_string()) } else { None };
        assert!(local_keys(&env).unwrap().is_empty());
    }

    /// "Which user am I?" reads the key file as decryption does: a FIFO named by
    /// `SOPS_AGE_KEY_FILE` does not hang it.
    #[test]
    fn a_fifo_key_file_does_not_block() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("keys.txt");
        rustix::fs::mknodat(rustix::fs::CWD, &fifo, rustix::fs::FileType::Fifo, rustix::fs::Mode::from_raw_mode(0o600), 0).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let shown = fifo.display().to_string();
        std::thread::spawn(move || {
            let env = |name: &str| if name == "SOPS_AGE_KEY_FILE" { Some(shown.clone()) } else { None };
            tx.send(local_keys(&env).map(|keys| keys.len()).ok()).unwrap();
        });
        let found = rx.recv_timeout(std::time::Duration::from_secs(20)).expect("reading a FIFO key file blocked");
        assert_eq!(found, Some(0));
    }
}
