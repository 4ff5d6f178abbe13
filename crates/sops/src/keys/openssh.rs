//! Reading the ed25519 seed out of an unencrypted OpenSSH private key file
//! (`-----BEGIN OPENSSH PRIVATE KEY-----`, format `openssh-key-v1` from OpenSSH's PROTOCOL.key).
//!
//! The age crate parses these files too, but does not expose the seed that the `ssh-to-age`
//! conversion needs.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use zeroize::Zeroizing;

use super::ssh_wire::WireReader;
use crate::error::OpensshError;

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
pub(crate) fn parse(file: &[u8]) -> Result<OpensshKey, OpensshError> {
    let text = std::str::from_utf8(file).map_err(|_| OpensshError::NotOpenssh)?;
    let start = text.find(BEGIN).ok_or(OpensshError::NotOpenssh)?;
    let body = &text[start + BEGIN.len()..];
    let end = body.find(END).ok_or(OpensshError::NoEnd)?;
    let base64: Zeroizing<String> = Zeroizing::new(body[..end].chars().filter(|c| !c.is_ascii_whitespace()).collect());
    let blob = Zeroizing::new(STANDARD.decode(base64.as_bytes()).map_err(|_| OpensshError::InvalidBase64)?);
    parse_blob(&blob)
}

fn parse_blob(blob: &[u8]) -> Result<OpensshKey, OpensshError> {
    let malformed = || OpensshError::Malformed;
    let mut input = WireReader::new(blob.strip_prefix(MAGIC).ok_or_else(malformed)?);
    let cipher = input.string().ok_or_else(malformed)?;
    let _kdf = input.string().ok_or_else(malformed)?;
    let _kdf_options = input.string().ok_or_else(malformed)?;
    if cipher != b"none" {
        return Ok(OpensshKey::Encrypted);
    }
    if input.u32() != Some(1) {
        return Err(OpensshError::NotOneKey);
    }
    let _public_blob = input.string().ok_or_else(malformed)?;
    let mut private = WireReader::new(input.string().ok_or_else(malformed)?);

    let check1 = private.u32().ok_or_else(malformed)?;
    let check2 = private.u32().ok_or_else(malformed)?;
    if check1 != check2 {
        return Err(malformed());
    }
    let kind = private.string().ok_or_else(malformed)?;
    if kind != b"ssh-ed25519" {
        return Ok(OpensshKey::Other(String::from_utf8_lossy(kind).into_owned()));
    }
    let public: [u8; 32] = private.fixed_string().ok_or_else(malformed)?;
    let keypair = private.string().ok_or_else(malformed)?;
    // The private part is seed || public key.
    let (seed_part, public_copy) = keypair.split_at_checked(32).ok_or_else(malformed)?;
    if public_copy != public {
        return Err(malformed());
    }
    let mut seed = Zeroizing::new([0u8; 32]);
    seed.copy_from_slice(seed_part);
    Ok(OpensshKey::Ed25519 { seed, public })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::ssh_wire::encode_string as string;

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

    /// An unencrypted openssh-key-v1 blob holding one ed25519 key (seed 1…, public 2…), and the
    /// offsets of the length fields the parser reads.
    fn blob() -> (Vec<u8>, Vec<usize>) {
        let mut lengths = Vec::new();
        let mut out = MAGIC.to_vec();
        let mut push = |out: &mut Vec<u8>, bytes: &[u8]| {
            lengths.push(out.len());
            out.extend(string(bytes));
        };
        push(&mut out, b"none");
        push(&mut out, b"none");
        push(&mut out, b"");
        out.extend(1u32.to_be_bytes());
        push(&mut out, &[string(b"ssh-ed25519"), string(&[2; 32])].concat());
        let mut keypair = vec![1; 32];
        keypair.extend([2; 32]);
        let private = [vec![0, 0, 0, 9, 0, 0, 0, 9], string(b"ssh-ed25519"), string(&[2; 32]), string(&keypair), string(b"c")].concat();
        let private_at = out.len() + 4;
        push(&mut out, &private);
        // The lengths inside the private section that are read: kind, public key, keypair (the
        // comment and padding after them are not).
        for inner in [8, 8 + 15, 8 + 15 + 36] {
            lengths.push(private_at + inner);
        }
        (out, lengths)
    }

    #[test]
    fn reads_a_built_key() {
        let (blob, _) = blob();
        match parse_blob(&blob).unwrap() {
            OpensshKey::Ed25519 { seed, public } => {
                assert_eq!(*seed, [1; 32]);
                assert_eq!(public, [2; 32]);
            }
            _ => panic!("expected an ed25519 key"),
        }
    }

    #[test]
    fn truncated_keys_are_refused() {
        let (blob, _) = blob();
        for cut in 0..blob.len() - 4 {
            assert!(parse_blob(&blob[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn oversized_lengths_are_refused() {
        let (blob, lengths) = blob();
        for at in lengths {
            for claimed in [u32::MAX, 0x7fff_ffff, u32::try_from(blob.len()).unwrap()] {
                let mut bad = blob.clone();
                bad[at..at + 4].copy_from_slice(&claimed.to_be_bytes());
                assert!(parse_blob(&bad).is_err(), "length at {at} set to {claimed}");
            }
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
