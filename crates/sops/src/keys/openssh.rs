//! Reading the ed25519 seed out of an unencrypted OpenSSH private key file
//! (`-----BEGIN OPENSSH PRIVATE KEY-----`, format `openssh-key-v1` from OpenSSH's PROTOCOL.key).
//!
//! The age crate parses these files too, but does not expose the seed that the `ssh-to-age`
//! conversion needs.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use zeroize::Zeroizing;

const BEGIN: &str = "-----BEGIN OPENSSH PRIVATE KEY-----";
const END: &str = "-----END OPENSSH PRIVATE KEY-----";
const MAGIC: &[u8] = b"openssh-key-v1\0";

/// What an OpenSSH private key file holds.
pub(crate) enum OpensshKey {
    Ed25519 {
        seed: Zeroizing<[u8; 32]>,
        /// Checked against the seed's copy when parsing; read by tests.
        #[allow(dead_code)]
        public: [u8; 32],
    },
    /// Protected by a passphrase (cipher other than `none`).
    Encrypted,
    /// Another key type, e.g. `ssh-rsa`.
    Other(String),
}

/// Parses an OpenSSH private key file. Errors name what is wrong, never the content.
pub(crate) fn parse(file: &[u8]) -> Result<OpensshKey, String> {
    let text = std::str::from_utf8(file).map_err(|_| "not an OpenSSH private key".to_string())?;
    let start = text.find(BEGIN).ok_or_else(|| "not an OpenSSH private key".to_string())?;
    let body = &text[start + BEGIN.len()..];
    let end = body.find(END).ok_or_else(|| "the OpenSSH private key has no END line".to_string())?;
    let base64: Zeroizing<String> = Zeroizing::new(body[..end].chars().filter(|c| !c.is_ascii_whitespace()).collect());
    let blob = Zeroizing::new(STANDARD.decode(base64.as_bytes()).map_err(|_| "the OpenSSH private key is not valid base64".to_string())?);
    parse_blob(&blob)
}

fn parse_blob(blob: &[u8]) -> Result<OpensshKey, String> {
    let malformed = || "malformed OpenSSH private key".to_string();
    let mut input = blob.strip_prefix(MAGIC).ok_or_else(malformed)?;
    let cipher = take_string(&mut input).ok_or_else(malformed)?;
    let _kdf = take_string(&mut input).ok_or_else(malformed)?;
    let _kdf_options = take_string(&mut input).ok_or_else(malformed)?;
    if cipher != b"none" {
        return Ok(OpensshKey::Encrypted);
    }
    if take_u32(&mut input) != Some(1) {
        return Err("the OpenSSH file must hold exactly one key".to_string());
    }
    let _public_blob = take_string(&mut input).ok_or_else(malformed)?;
    let mut private = take_string(&mut input).ok_or_else(malformed)?;

    let check1 = take_u32(&mut private).ok_or_else(malformed)?;
    let check2 = take_u32(&mut private).ok_or_else(malformed)?;
    if check1 != check2 {
        return Err(malformed());
    }
    let kind = take_string(&mut private).ok_or_else(malformed)?;
    if kind != b"ssh-ed25519" {
        return Ok(OpensshKey::Other(String::from_utf8_lossy(kind).into_owned()));
    }
    let public: [u8; 32] = take_string(&mut private).and_then(|p| p.try_into().ok()).ok_or_else(malformed)?;
    let keypair = take_string(&mut private).ok_or_else(malformed)?;
    // The private part is seed || public key.
    let (seed_part, public_copy) = keypair.split_at_checked(32).ok_or_else(malformed)?;
    if public_copy != public {
        return Err(malformed());
    }
    let mut seed = Zeroizing::new([0u8; 32]);
    seed.copy_from_slice(seed_part);
    Ok(OpensshKey::Ed25519 { seed, public })
}

fn take_u32(input: &mut &[u8]) -> Option<u32> {
    let (bytes, rest) = input.split_first_chunk::<4>()?;
    *input = rest;
    Some(u32::from_be_bytes(*bytes))
}

fn take_string<'a>(input: &mut &'a [u8]) -> Option<&'a [u8]> {
    let len = usize::try_from(take_u32(input)?).ok()?;
    let (value, rest) = input.split_at_checked(len)?;
    *input = rest;
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_support::VECTORS;
    const CASES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/keys-cases/ssh-to-age");

    #[test]
    fn reads_the_seed_and_public_key() {
        let file = std::fs::read(format!("{VECTORS}/ssh/id_ed25519")).unwrap();
        let public_line = std::fs::read_to_string(format!("{VECTORS}/ssh/id_ed25519.pub")).unwrap();
        let blob = STANDARD.decode(public_line.split_whitespace().nth(1).unwrap()).unwrap();
        match parse(&file).unwrap() {
            OpensshKey::Ed25519 { public, seed } => {
                assert_eq!(&blob[blob.len() - 32..], &public);
                assert_ne!(*seed, [0u8; 32]);
            }
            _ => panic!("expected an ed25519 key"),
        }
    }

    #[test]
    fn recognises_encrypted_and_broken_files() {
        let encrypted = std::fs::read(format!("{CASES}/encrypted")).unwrap();
        assert!(matches!(parse(&encrypted), Ok(OpensshKey::Encrypted)));
        let good = std::fs::read_to_string(format!("{VECTORS}/ssh/id_ed25519")).unwrap();
        assert!(parse(b"nothing").is_err());
        assert!(parse(good.replace("-----END OPENSSH PRIVATE KEY-----", "").as_bytes()).is_err());
        // Truncate the body: every length check must hold without panicking.
        let lines: Vec<&str> = good.lines().collect();
        for keep in 1..lines.len() - 1 {
            let mut text = lines[..keep].join("\n");
            text.push_str("\n-----END OPENSSH PRIVATE KEY-----\n");
            let _ = parse(text.as_bytes());
        }
    }
}
