//! Turning what an admin types after `--age-key` into a public key, as clan accepts it: an
//! `age1…` recipient, an `ssh-ed25519`/`ssh-rsa` public key (stored without its comment), an
//! `AGE-SECRET-KEY-1…` private key (its public key is stored), or a path to a file holding one.
//! Error messages never repeat a private key.

use std::path::Path;
use std::str::FromStr;

use crate::error::{Result, StoreError};
use crate::keyfile::PublicKey;

/// Parses one key argument into exactly one public key.
///
/// # Panics
///
/// Never: the `expect` takes the only key of a list just checked to hold exactly one.
pub fn parse_key_argument(input: &str) -> Result<PublicKey> {
    let trimmed = input.trim();
    if trimmed.starts_with("AGE-PLUGIN-") {
        return Err(invalid(input, KeyProblem::PluginIdentity));
    }
    if let Some(key) = single_key(trimmed)? {
        return Ok(key);
    }
    // Not a key: perhaps a file holding one. Very long "paths" are just bad keys.
    let path = Path::new(trimmed);
    if trimmed.len() < 4096 && path.is_file() {
        let text = std::fs::read_to_string(path).map_err(|e| StoreError::io(path, e))?;
        let keys = keys_in_text(&text)?;
        return match keys.len() {
            1 => Ok(keys.into_iter().next().expect("one key")),
            0 => Err(invalid(input, KeyProblem::NoKey)),
            n => Err(invalid(input, KeyProblem::SeveralKeys { count: n })),
        };
    }
    Err(invalid(input, KeyProblem::NoKey))
}

/// Why a key argument is refused (clan's wording where clan has one; each message is followed
/// by the argument, redacted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyProblem {
    /// An `AGE-PLUGIN-…` identity where a recipient belongs.
    #[error(
        "AGE-PLUGIN keys cannot be used directly as they are plugin identifiers, not recipient keys. Please provide the corresponding age1 public key instead. Got"
    )]
    PluginIdentity,
    /// Neither a key nor a file holding one.
    #[error("Please provide an age public key starting with age1 or an age private key starting with AGE-SECRET-KEY- or AGE-PLUGIN-, got")]
    NoKey,
    /// A key file holding more than one key.
    #[error("{count} age keys were provided, please provide only 1")]
    SeveralKeys {
        /// How many keys it holds.
        count: usize,
    },
    /// Starts like an age recipient but is not one.
    #[error("not a valid age recipient")]
    BadAgeRecipient,
    /// An ssh key type without its base64 body.
    #[error("an ssh public key needs its type and base64 body")]
    SshWithoutBody,
    /// Starts like an ssh public key but does not parse.
    #[error("not a valid ssh public key")]
    BadSshKey,
    /// Starts like an age private key but does not parse.
    #[error("not a valid age private key")]
    BadAgePrivateKey,
}

/// A key written on one line, or `None` when the text is not a key.
fn single_key(line: &str) -> Result<Option<PublicKey>> {
    if line.starts_with("age1") {
        // X25519, then plugin recipients (`age1<plugin>1…`) and post-quantum ones, which are
        // stored as given.
        let valid =
            age::x25519::Recipient::from_str(line).is_ok() || age::plugin::Recipient::from_str(line).is_ok() || line.starts_with("age1pq1");
        if !valid {
            return Err(invalid(line, KeyProblem::BadAgeRecipient));
        }
        return Ok(Some(PublicKey::age(line)));
    }
    if line.starts_with("ssh-ed25519 ") || line.starts_with("ssh-rsa ") {
        let mut parts = line.split_whitespace();
        let (Some(kind), Some(body)) = (parts.next(), parts.next()) else {
            return Err(invalid(line, KeyProblem::SshWithoutBody));
        };
        let bare = format!("{kind} {body}");
        age::ssh::Recipient::from_str(&bare).map_err(|_| invalid(line, KeyProblem::BadSshKey))?;
        return Ok(Some(PublicKey::age(bare)));
    }
    if line.starts_with("AGE-SECRET-KEY-1") {
        let identity = age::x25519::Identity::from_str(line).map_err(|_| invalid(line, KeyProblem::BadAgePrivateKey))?;
        return Ok(Some(PublicKey::age(identity.to_public().to_string())));
    }
    Ok(None)
}

/// Every key in a key file's text (`# public key:` comments are not counted twice).
fn keys_in_text(text: &str) -> Result<Vec<PublicKey>> {
    let mut keys = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(key) = single_key(line)? {
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    Ok(keys)
}

fn invalid(input: &str, problem: KeyProblem) -> StoreError {
    StoreError::InvalidKey { input: redact(input), problem }
}

/// What an error may show of a key argument: never private key material.
pub fn redact(input: &str) -> String {
    let trimmed = input.trim();
    if trimmed.to_ascii_uppercase().contains("SECRET-KEY") || trimmed.contains("PRIVATE KEY") {
        "<private key>".to_string()
    } else if trimmed.chars().count() > 120 {
        format!("{}…", trimmed.chars().take(120).collect::<String>())
    } else {
        trimmed.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE_PUB: &str = "age1e9xplsq098whkdsvugpwhmh65hvjzend6kh3pcpuvsswew43jf6smxepjg";

    fn alice_secret() -> String {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/sops-vectors/keys.txt")).unwrap();
        text.lines().find(|l| l.starts_with("AGE-SECRET-KEY-")).unwrap().to_string()
    }

    #[test]
    fn accepts_public_private_ssh_and_files() {
        assert_eq!(parse_key_argument(ALICE_PUB).unwrap(), PublicKey::age(ALICE_PUB));
        assert_eq!(parse_key_argument(&alice_secret()).unwrap(), PublicKey::age(ALICE_PUB));
        let ssh = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/sops-vectors/ssh/id_ed25519.pub")).unwrap();
        let parsed = parse_key_argument(&ssh).unwrap();
        assert!(parsed.key.starts_with("ssh-ed25519 AAAA") && !parsed.key.contains("vectors@example"));
        let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/sops-vectors/keys.txt");
        assert_eq!(parse_key_argument(file).unwrap(), PublicKey::age(ALICE_PUB));
    }

    #[test]
    fn refuses_plugins_garbage_and_never_echoes_private_keys() {
        let err = parse_key_argument("AGE-PLUGIN-YUBIKEY-18P5XCQVZ5FE4WKCW3NJWP").unwrap_err().to_string();
        assert!(err.contains("plugin identifiers, not recipient keys"), "{err}");
        assert!(parse_key_argument("hello").is_err());
        assert!(parse_key_argument("age1notvalid").is_err());
        let broken = format!("{}X", alice_secret());
        let err = parse_key_argument(&broken).unwrap_err().to_string();
        assert!(!err.contains("AGE-SECRET-KEY"), "{err}");
    }
}
