//! The `secret` files: well-formed sops binary-store files with encrypted data, a MAC, age
//! recipients and well-formed PGP entries; with keys at hand, decrypted to verify the MAC.

use secrets_sops::keys::Identities;
use secrets_sops::{DecryptOptions, EncryptedFile, Format, Value};

use crate::secrets::SecretRef;
use crate::untrusted::{Folder, Limit};

use super::{Sink, Verification};

/// What the secrets' checks need from a readable file.
pub(crate) struct FileState {
    /// Recipients per key group.
    pub recipients: Vec<Vec<String>>,
    pub verification: Verification,
}

/// Checks the `secret` file of `secret`, whose folder is open: it is read once, through that
/// descriptor, so a folder swapped for a symlink since it was opened is not followed.
pub(crate) fn check_file(folder: &Folder, secret: &SecretRef, identities: Option<&Identities>, sink: &mut Sink<'_>) -> Option<FileState> {
    let path = secret.file();
    let bytes = match folder.read("secret", Limit::Secret) {
        Ok(bytes) => bytes,
        Err(e) => {
            sink.refused(&e, &path);
            return None;
        }
    };
    let file = match EncryptedFile::parse(&bytes, Format::Binary) {
        Ok(file) => file,
        Err(e) => {
            if has_sops_metadata(&bytes) {
                sink.error("bad-secret-file", &path, format!("not a valid sops file: {e}"));
            } else {
                sink.error("plaintext", &path, "not encrypted (no sops metadata): if it holds a value, that value is in plaintext in git; remove it from history and change the value");
            }
            return None;
        }
    };
    // A `pgp` entry without a usable fingerprint is as malformed as an `age` entry without a
    // recipient, which parsing already refuses.
    if let Err(e) = file.metadata.check_pgp_entries() {
        sink.error("bad-secret-file", &path, format!("not a valid sops file: {e}"));
        return None;
    }
    let data = file.data.branches.first().and_then(|b| b.get("data"));
    match data {
        Some(Value::Str(s)) if s.is_empty() || s.starts_with("ENC[AES256_GCM,") => {}
        _ => {
            sink.error(
                "plaintext",
                &path,
                "the `data` value is not encrypted: it is in plaintext in git; remove it from history and change the value",
            );
            return None;
        }
    }
    if file.metadata.mac.as_deref().is_none_or(str::is_empty) {
        sink.error("no-mac", &path, "the file has no MAC: it was not written by sops, or was tampered with");
    }
    let recipients = file.metadata.recipients();
    if recipients.iter().all(Vec::is_empty) {
        sink.error("bad-secret-file", &path, "the file has no age recipients");
    }
    let verification = match identities {
        None => Verification::NotTried,
        Some(ids) if ids.is_empty() => Verification::NotTried,
        Some(ids) => match file.decrypt(ids, DecryptOptions::default()) {
            Ok(_) => Verification::Verified,
            Err(secrets_sops::Error::NoKey(_)) => Verification::NoKey,
            Err(e) => {
                sink.error("mac", &path, format!("decrypting it failed: {e}"));
                Verification::NotTried
            }
        },
    };
    Some(FileState { recipients, verification })
}

/// Whether the bytes look like a sops file at all (a JSON object with a `sops` key), to tell a
/// damaged sops file from plaintext.
fn has_sops_metadata(bytes: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(bytes).ok().is_some_and(|v| v.get("sops").is_some())
}
