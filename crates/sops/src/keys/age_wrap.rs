//! Wrapping a payload (the data key, or a group's Shamir share) for one age recipient as an
//! armored age file, laid out as Go age writes it, and unwrapping it with whatever identities
//! are at hand. The armor is normalized first the way Go age accepts it, since the Rust reader
//! is stricter.

use std::io::{Read, Write};
use std::str::FromStr;

use age::armor::{ArmoredReader, ArmoredWriter, Format as ArmorFormat};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::keys::identities::Identities;

/// A recipient string as sops accepts it.
pub fn parse_recipient(recipient: &str) -> Result<Box<dyn age::Recipient + Send + Sync>> {
    let recipient = recipient.trim();
    let fail = |reason: &str| Error::Recipient { recipient: recipient.to_string(), reason: reason.to_string() };
    if recipient.starts_with("age1pq1") {
        return Err(fail("post-quantum age recipients are not supported yet; use an X25519 (age1…) recipient"));
    }
    if recipient.starts_with("ssh-ed25519 ") || recipient.starts_with("ssh-rsa ") {
        return age::ssh::Recipient::from_str(recipient)
            .map(|r| Box::new(r) as Box<dyn age::Recipient + Send + Sync>)
            .map_err(|_| fail("not a valid ssh public key"));
    }
    if let Ok(r) = age::x25519::Recipient::from_str(recipient) {
        return Ok(Box::new(r));
    }
    if age::plugin::Recipient::from_str(recipient).is_ok() {
        return Err(fail("age plugin recipients cannot be encrypted to here yet; use the plugin's X25519 recipient or decrypt with the plugin"));
    }
    Err(fail("expected an age1… X25519 recipient or an ssh-ed25519/ssh-rsa public key"))
}

/// Encrypts `payload` to one recipient and armors it as Go age does (64-column base64, final
/// newline). The header also carries the random "grease" stanza the Rust age crate always adds;
/// age readers, Go's included, ignore it.
pub fn wrap(payload: &[u8], recipient: &str) -> Result<String> {
    let parsed = parse_recipient(recipient)?;
    wrap_for(payload, parsed.as_ref())
}

pub(crate) fn wrap_for(payload: &[u8], recipient: &dyn age::Recipient) -> Result<String> {
    let fail = |e: &dyn std::fmt::Display| Error::Wrap(e.to_string());
    let encryptor = age::Encryptor::with_recipients(std::iter::once(recipient)).map_err(|e| fail(&e))?;
    let mut out = Vec::with_capacity(400);
    let armored = ArmoredWriter::wrap_output(&mut out, ArmorFormat::AsciiArmor).map_err(|e| fail(&e))?;
    let mut writer = encryptor.wrap_output(armored).map_err(|e| fail(&e))?;
    writer.write_all(payload).map_err(|e| fail(&e))?;
    writer.finish().and_then(|armor| armor.finish()).map_err(|e| fail(&e))?;
    let mut text = String::from_utf8(out).map_err(|e| fail(&e))?.replace("\r\n", "\n");
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

/// Why an `enc` could not be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnwrapError {
    /// No identity at hand matches a stanza of this file.
    NoMatchingIdentity,
    /// The armored age file is malformed (not an instance of any key).
    Malformed(String),
}

/// Normalizes armor the way Go age's reader tolerates it: blank lines or whitespace around it,
/// CRLF line ends, a missing final newline, a blank line before the END line.
pub fn normalize_armor(enc: &str) -> String {
    let unix = enc.replace("\r\n", "\n");
    let lines: Vec<&str> = unix.trim().lines().map(str::trim_end).filter(|l| !l.is_empty()).collect();
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// Opens an armored age file with any of the identities.
pub fn unwrap(enc: &str, identities: &Identities) -> std::result::Result<Zeroizing<Vec<u8>>, UnwrapError> {
    unwrap_ordered(enc, identities.ordered_for(None))
}

pub(crate) fn unwrap_ordered<'a>(
    enc: &str,
    identities: impl Iterator<Item = &'a dyn age::Identity>,
) -> std::result::Result<Zeroizing<Vec<u8>>, UnwrapError> {
    let normalized = normalize_armor(enc);
    let reader = ArmoredReader::new(normalized.as_bytes());
    let decryptor = age::Decryptor::new_buffered(reader).map_err(|e| UnwrapError::Malformed(e.to_string()))?;
    let mut stream = decryptor.decrypt(identities).map_err(|e| match e {
        age::DecryptError::NoMatchingKeys => UnwrapError::NoMatchingIdentity,
        other => UnwrapError::Malformed(other.to_string()),
    })?;
    let mut payload = Zeroizing::new(Vec::with_capacity(33));
    stream.read_to_end(&mut payload).map_err(|e| UnwrapError::Malformed(e.to_string()))?;
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Identities {
        let mut ids = Identities::empty();
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/sops-vectors/keys.txt")).unwrap();
        ids.add_age_key_text(&text, "keys.txt").unwrap();
        ids
    }

    const ALICE: &str = "age1e9xplsq098whkdsvugpwhmh65hvjzend6kh3pcpuvsswew43jf6smxepjg";

    #[test]
    fn wraps_with_go_age_layout_and_unwraps() {
        let armored = wrap(&[7u8; 32], ALICE).unwrap();
        let lines: Vec<&str> = armored.lines().collect();
        assert_eq!(lines[0], "-----BEGIN AGE ENCRYPTED FILE-----");
        assert_eq!(*lines.last().unwrap(), "-----END AGE ENCRYPTED FILE-----");
        assert!(armored.ends_with("-----\n"));
        // Full 64-column lines and one shorter last line, as Go age writes. (The Rust age
        // crate adds a random "grease" stanza, which every age reader ignores.)
        assert!(lines[1..lines.len() - 2].iter().all(|l| l.len() == 64));
        assert!((1..=64).contains(&lines[lines.len() - 2].len()));
        assert_eq!(unwrap(&armored, &alice()).unwrap().to_vec(), vec![7u8; 32]);
        assert_eq!(unwrap(&armored, &Identities::empty()), Err(UnwrapError::NoMatchingIdentity));
    }

    #[test]
    fn tolerates_what_go_age_tolerates() {
        for name in ["armor-crlf-whitespace.json", "armor-no-final-newline.json"] {
            let text = std::fs::read_to_string(format!("{}/../../fixtures/sops-vectors/edge/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap();
            let json: serde_json::Value = serde_json::from_str(&text).unwrap();
            let enc = json["sops"]["age"][0]["enc"].as_str().unwrap();
            assert_eq!(unwrap(enc, &alice()).unwrap().len(), 32, "{name}");
        }
        assert!(matches!(unwrap("not armor", &alice()), Err(UnwrapError::Malformed(_))));
    }

    #[test]
    fn refuses_unsupported_recipients_clearly() {
        assert!(wrap(b"k", "age1pq1abc").unwrap_err().to_string().contains("post-quantum"));
        assert!(wrap(b"k", "nonsense").is_err());
        assert!(wrap(b"k", "age1yubikey1qwt50d05nh5vutpdzmlg5wn80xq5negm4uj9ghv0snvdd3yysf5yw3rhl3t").unwrap_err().to_string().contains("plugin"));
    }
}
