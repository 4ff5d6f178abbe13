//! From an encrypted file to the bytes of one installed secret, as sops-install-secrets takes
//! them: the whole plaintext for binary, dotenv and ini files and for an empty key, otherwise
//! the string found by descending the document with the `/`-separated key.

use secrets_store::StoreError;
use std::path::Path;

use secrets_sops::keys::Identities;
use secrets_sops::{DecryptOptions, EncryptedFile, Format, Map, PlainFile, Value};
use zeroize::Zeroizing;

use crate::error::{DeployError, Result, SecretProblem};

/// Whether a secret of this format takes one value by key (yaml and json) or the whole file.
pub fn uses_key(format: Format, key: &str) -> bool {
    matches!(format, Format::Yaml | Format::Json) && !key.is_empty()
}

/// The largest encrypted file an install reads: repository content is untrusted, and a huge
/// `secret` must not exhaust root's memory.
pub const MAX_SOPS_FILE: u64 = 64 << 20;

/// Reads and parses an encrypted file in the given store. A symlink in its place, a FIFO or a
/// file over [`MAX_SOPS_FILE`] is refused.
pub fn parse(path: &Path, format: Format) -> Result<EncryptedFile> {
    // The same reader as every other read of a repository file (never a link, a FIFO or too much).
    let bytes =
        secrets_store::untrusted::read_file(path, secrets_store::untrusted::Limit::Bytes(MAX_SOPS_FILE)).map_err(StoreError::from)?;
    EncryptedFile::parse(&bytes, format).map_err(|source| DeployError::Sops { path: path.to_path_buf(), source })
}

/// Decrypts a file; `name` is the secret reported if it fails.
pub fn decrypt(name: &str, path: &Path, format: Format, identities: &Identities) -> Result<PlainFile> {
    let file = parse(path, format)?;
    file.decrypt(identities, DecryptOptions::default()).map_err(|source| DeployError::Decrypt {
        name: name.to_string(),
        path: path.to_path_buf(),
        source,
    })
}

/// The bytes to install from a decrypted file.
pub fn value(name: &str, path: &Path, plain: &PlainFile, key: &str) -> Result<Zeroizing<Vec<u8>>> {
    let format = plain.format;
    if !uses_key(format, key) {
        let bytes = plain.to_plain_bytes(format).map_err(|source| DeployError::Decrypt {
            name: name.to_string(),
            path: path.to_path_buf(),
            source,
        })?;
        return Ok(Zeroizing::new(bytes));
    }
    let root = plain.data.branches.first().ok_or_else(|| DeployError::secret(name, SecretProblem::NoDocument))?;
    match lookup(root, key).map_err(|problem| DeployError::secret(name, problem))? {
        Value::Str(s) => Ok(Zeroizing::new(s.as_bytes().to_vec())),
        _ => Err(DeployError::secret(name, SecretProblem::NotAString { key: key.to_string() })),
    }
}

/// Checks, without decrypting, that a key leads to a string in the encrypted file (sops-nix's
/// build-time check, plus the value's type recorded in its `ENC[…]` marker).
pub fn check_key(name: &str, file: &EncryptedFile, key: &str) -> Result<()> {
    if !uses_key(file.format, key) {
        return Ok(());
    }
    let root = file.data.branches.first().ok_or_else(|| DeployError::secret(name, SecretProblem::NoDocument))?;
    let not_string = || DeployError::secret(name, SecretProblem::NotAString { key: key.to_string() });
    match lookup(root, key).map_err(|problem| DeployError::secret(name, problem))? {
        Value::Str(s) if s.starts_with("ENC[") => {
            if s.contains(",type:str]") {
                Ok(())
            } else {
                Err(not_string())
            }
        }
        Value::Str(_) => Ok(()),
        _ => Err(not_string()),
    }
}

/// Descends a document along `a/b/c`, with sops-nix's messages.
fn lookup<'a>(root: &'a Map, key: &str) -> std::result::Result<&'a Value, SecretProblem> {
    let mut map = root;
    let mut so_far = String::new();
    let mut parts = key.split('/').peekable();
    while let Some(part) = parts.next() {
        if !so_far.is_empty() {
            so_far.push('/');
        }
        so_far.push_str(part);
        let value = map.get(part).ok_or_else(|| SecretProblem::KeyNotFound { key: so_far.clone() })?;
        if parts.peek().is_none() {
            return Ok(value);
        }
        map = value.as_map().ok_or_else(|| SecretProblem::NotADictionary { key: so_far.clone() })?;
    }
    Err(SecretProblem::KeyNotFound { key: key.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: &[(&str, Value)]) -> Map {
        let mut m = Map::new();
        for (k, v) in entries {
            m.push(*k, v.clone());
        }
        m
    }

    #[test]
    fn nested_keys_descend_with_slashes() {
        let root = map(&[("db", Value::Map(map(&[("password", Value::str("pw")), ("port", Value::Int(5432))]))), ("top", Value::str("t"))]);
        assert_eq!(lookup(&root, "top").unwrap(), &Value::str("t"));
        assert_eq!(lookup(&root, "db/password").unwrap(), &Value::str("pw"));
        assert_eq!(lookup(&root, "db/nope").unwrap_err().to_string(), "the key 'db/nope' cannot be found");
        assert_eq!(lookup(&root, "top/x").unwrap_err().to_string(), "key 'top' does not refer to a dictionary");
        assert_eq!(lookup(&root, "nope/x").unwrap_err().to_string(), "the key 'nope' cannot be found");
    }

    #[test]
    fn only_yaml_and_json_use_keys() {
        assert!(uses_key(Format::Yaml, "a"));
        assert!(uses_key(Format::Json, "a/b"));
        assert!(!uses_key(Format::Yaml, ""));
        assert!(!uses_key(Format::Binary, "a"));
        assert!(!uses_key(Format::Dotenv, "a"));
        assert!(!uses_key(Format::Ini, "a"));
    }
}
