//! Converting ssh-ed25519 keys to age X25519 keys the way the Go `ssh-to-age` tool does
//! (sops-nix converts host keys with it).
//!
//! The public key is the Edwards point mapped to its Montgomery u-coordinate. The secret is the
//! first half of SHA-512 of the 32-byte ed25519 seed, encoded without clamping (X25519 clamps
//! when it uses the scalar), so both sides agree.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bech32::{Bech32, Hrp};
use curve25519_dalek::edwards::CompressedEdwardsY;
use sha2::{Digest, Sha512};
use zeroize::Zeroizing;

use super::openssh::{self, OpensshKey};
use super::ssh_wire::WireReader;
use crate::error::{Error, IdentityProblem, RecipientProblem, Result};

const ED25519: &str = "ssh-ed25519";
const PUBLIC_HRP: Hrp = Hrp::parse_unchecked("age");
const SECRET_HRP: Hrp = Hrp::parse_unchecked("AGE-SECRET-KEY-");

/// The `age1…` recipient of an ssh-ed25519 public key line (`ssh-ed25519 AAAA… comment`, an
/// `authorized_keys` line with options, or a `known_hosts` line).
pub fn ssh_ed25519_public_to_age(line: &str) -> Result<String> {
    let shown = line.trim();
    let bad = |problem: RecipientProblem| Error::Recipient { recipient: shown.to_string(), problem };

    let mut words = shown.split_ascii_whitespace();
    let Some(_) = words.by_ref().find(|w| *w == ED25519) else {
        return Err(if shown.contains("ssh-") { bad(RecipientProblem::NotConvertible) } else { bad(RecipientProblem::NotAnSshLine) });
    };
    let blob = words.next().and_then(|b64| STANDARD.decode(b64).ok()).ok_or_else(|| bad(RecipientProblem::InvalidBase64))?;
    let point = ed25519_public_from_blob(&blob).ok_or_else(|| bad(RecipientProblem::MalformedEd25519))?;
    montgomery_recipient(&point).ok_or_else(|| bad(RecipientProblem::NotACurvePoint))
}

/// The `AGE-SECRET-KEY-1…` identity of an unencrypted OpenSSH ed25519 private key file.
pub fn ssh_ed25519_private_to_age(openssh_pem: &[u8]) -> Result<Zeroizing<String>> {
    let bad = |problem: IdentityProblem| Error::Identity { source_name: "ssh private key".to_string(), problem };
    match openssh::parse(openssh_pem).map_err(|e| bad(e.into()))? {
        OpensshKey::Ed25519 { seed, .. } => age_secret_from_ed25519_seed(&seed[..]),
        OpensshKey::Encrypted => Err(bad(IdentityProblem::PassphraseProtected)),
        OpensshKey::Other(kind) => Err(bad(IdentityProblem::NotEd25519(kind))),
    }
}

/// The ed25519 public key inside an ssh wire blob: string "ssh-ed25519", string key(32).
pub(crate) fn ed25519_public_from_blob(blob: &[u8]) -> Option<[u8; 32]> {
    let mut input = WireReader::new(blob);
    if input.string()? != ED25519.as_bytes() {
        return None;
    }
    let key = input.fixed_string()?;
    input.is_empty().then_some(key)
}

/// The `age1…` string for an ed25519 public key.
pub(crate) fn montgomery_recipient(ed25519_public: &[u8; 32]) -> Option<String> {
    let point = CompressedEdwardsY(*ed25519_public).decompress()?;
    let u = point.to_montgomery().to_bytes();
    bech32::encode_lower::<Bech32>(PUBLIC_HRP, &u).ok()
}

/// The `AGE-SECRET-KEY-1…` string for a 32-byte ed25519 seed.
pub(crate) fn age_secret_from_ed25519_seed(seed: &[u8]) -> Result<Zeroizing<String>> {
    let mut digest = Zeroizing::new([0u8; 64]);
    digest.copy_from_slice(&Sha512::digest(seed));
    // Reserve up front so the string never reallocates and leaves a copy behind.
    let mut encoded = Zeroizing::new(String::with_capacity(128));
    bech32::encode_upper_to_fmt::<Bech32, String>(&mut encoded, SECRET_HRP, &digest[..32])
        .map_err(|_| Error::Identity { source_name: "ssh private key".to_string(), problem: IdentityProblem::Encoding })?;
    Ok(encoded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

    const CASES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/keys-cases/ssh-to-age");
    use crate::test_support::VECTORS;

    struct Case {
        name: String,
        public: String,
        private: Vec<u8>,
        age_public: String,
        age_secret: String,
    }

    fn cases() -> Vec<Case> {
        let list: serde_json::Value = serde_json::from_slice(&std::fs::read(format!("{CASES}/cases.json")).unwrap()).unwrap();
        list.as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let name = c["name"].as_str().unwrap().to_string();
                Case {
                    public: std::fs::read_to_string(format!("{CASES}/{name}.pub")).unwrap(),
                    private: std::fs::read(format!("{CASES}/{name}")).unwrap(),
                    age_public: c["age_recipient"].as_str().unwrap().to_string(),
                    age_secret: c["age_identity"].as_str().unwrap().to_string(),
                    name,
                }
            })
            .collect()
    }

    #[test]
    fn known_pairs_convert_as_ssh_to_age_does() {
        let cases = cases();
        assert!(cases.len() >= 2);
        for case in cases {
            assert_eq!(ssh_ed25519_public_to_age(&case.public).unwrap(), case.age_public, "{}", case.name);
            let secret = ssh_ed25519_private_to_age(&case.private).unwrap();
            assert_eq!(secret.as_str(), case.age_secret, "{}", case.name);
        }
    }

    #[test]
    fn converted_secret_derives_the_converted_public_key() {
        let mut keys: Vec<(String, Vec<u8>)> = cases().into_iter().map(|c| (c.public, c.private)).collect();
        keys.push((
            std::fs::read_to_string(format!("{VECTORS}/ssh/id_ed25519.pub")).unwrap(),
            std::fs::read(format!("{VECTORS}/ssh/id_ed25519")).unwrap(),
        ));
        for (public, private) in keys {
            let secret = ssh_ed25519_private_to_age(&private).unwrap();
            let identity: age::x25519::Identity = secret.parse().unwrap();
            assert_eq!(identity.to_public().to_string(), ssh_ed25519_public_to_age(&public).unwrap());
            assert_eq!(identity.to_string().expose_secret(), secret.as_str());
        }
    }

    #[test]
    fn converted_identity_opens_files_for_the_converted_recipient() {
        let private = std::fs::read(format!("{VECTORS}/ssh/id_ed25519")).unwrap();
        let public = std::fs::read_to_string(format!("{VECTORS}/ssh/id_ed25519.pub")).unwrap();
        let recipient: age::x25519::Recipient = ssh_ed25519_public_to_age(&public).unwrap().parse().unwrap();
        let identity: age::x25519::Identity = ssh_ed25519_private_to_age(&private).unwrap().parse().unwrap();
        let ciphertext = age::encrypt(&recipient, b"payload").unwrap();
        assert_eq!(age::decrypt(&identity, &ciphertext).unwrap(), b"payload");
    }

    #[test]
    fn accepts_authorized_keys_and_known_hosts_forms() {
        let public = std::fs::read_to_string(format!("{VECTORS}/ssh/id_ed25519.pub")).unwrap();
        let expected = ssh_ed25519_public_to_age(&public).unwrap();
        let key = public.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
        for line in
            [key.clone(), format!("  {key}  \n"), format!("no-pty,command=\"x\" {key} comment"), format!("host.example,10.0.0.1 {key}")]
        {
            assert_eq!(ssh_ed25519_public_to_age(&line).unwrap(), expected, "{line}");
        }
    }

    #[test]
    fn rejects_other_keys_clearly() {
        let rsa = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 user@host";
        assert!(matches!(ssh_ed25519_public_to_age(rsa), Err(Error::Recipient { problem: RecipientProblem::NotConvertible, .. })));
        for bad in ["", "ssh-ed25519", "ssh-ed25519 !!!", "ssh-ed25519 AAAAC3NzaC1yc2EAAAADAQAB"] {
            assert!(ssh_ed25519_public_to_age(bad).is_err(), "{bad}");
        }
        assert!(ssh_ed25519_private_to_age(b"not a key").is_err());
        let age_key = std::fs::read(format!("{VECTORS}/keys.txt")).unwrap();
        assert!(ssh_ed25519_private_to_age(&age_key).is_err());
    }

    #[test]
    fn public_blobs_with_wrong_lengths_are_refused() {
        let blob =
            |kind_len: u32, key_len: u32, key: &[u8]| [&kind_len.to_be_bytes()[..], b"ssh-ed25519", &key_len.to_be_bytes(), key].concat();
        assert_eq!(ed25519_public_from_blob(&blob(11, 32, &[9; 32])), Some([9; 32]));
        let whole = blob(11, 32, &[9; 32]);
        for cut in 0..whole.len() {
            assert_eq!(ed25519_public_from_blob(&whole[..cut]), None, "cut at {cut}");
        }
        for (kind_len, key_len, key) in [
            (u32::MAX, 32, &[9; 32][..]),
            (12, 32, &[9; 32]),
            (11, u32::MAX, &[9; 32]),
            (11, 33, &[9; 32]),
            (11, 31, &[9; 31]),
            (11, 32, &[9; 33]),
        ] {
            assert_eq!(ed25519_public_from_blob(&blob(kind_len, key_len, key)), None, "{kind_len} {key_len} {}", key.len());
        }
    }

    #[test]
    fn encrypted_keys_are_refused_without_leaking() {
        let path = format!("{CASES}/encrypted");
        let Ok(private) = std::fs::read(&path) else { panic!("missing {path}") };
        match ssh_ed25519_private_to_age(&private) {
            Err(Error::Identity { problem, .. }) => {
                assert!(matches!(problem, IdentityProblem::PassphraseProtected), "{problem}");
            }
            other => panic!("{:?}", other.map(|_| "converted")),
        }
    }
}
