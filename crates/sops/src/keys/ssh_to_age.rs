//! Converting ssh-ed25519 keys to age X25519 keys the way the Go `ssh-to-age` tool does, which
//! is how sops-nix machines turn their host key into an age identity: the public key through
//! the Edwards-to-Montgomery map, the private key as the first half of SHA-512 of the seed
//! (not clamped: X25519 clamps when it uses the key).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use bech32::{Bech32, Hrp};
use curve25519_dalek::edwards::CompressedEdwardsY;
use sha2::{Digest, Sha512};
use zeroize::{Zeroize, Zeroizing};

/// Why a key could not be converted. Carries no key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    #[error("not an ssh-ed25519 public key")]
    NotEd25519Public,
    #[error("not an unencrypted OpenSSH ed25519 private key")]
    NotEd25519Private,
    #[error("the private key is protected by a passphrase; decrypt it first (ssh-keygen -p)")]
    Encrypted,
    #[error("the key is not a valid point on the curve")]
    InvalidPoint,
}

/// `ssh-ed25519 AAAA… [comment]` → `age1…`.
pub fn ssh_ed25519_public_to_age(line: &str) -> Result<String, ConvertError> {
    let mut parts = line.split_whitespace();
    if parts.next() != Some("ssh-ed25519") {
        return Err(ConvertError::NotEd25519Public);
    }
    let blob = B64.decode(parts.next().ok_or(ConvertError::NotEd25519Public)?).map_err(|_| ConvertError::NotEd25519Public)?;
    let mut reader = Reader(&blob);
    if reader.string()? != b"ssh-ed25519" {
        return Err(ConvertError::NotEd25519Public);
    }
    let point: [u8; 32] = reader.string()?.try_into().map_err(|_| ConvertError::NotEd25519Public)?;
    let montgomery = CompressedEdwardsY(point).decompress().ok_or(ConvertError::InvalidPoint)?.to_montgomery();
    Ok(bech32_encode("age", montgomery.as_bytes()))
}

/// An OpenSSH ed25519 private key file → `AGE-SECRET-KEY-1…`.
pub fn ssh_ed25519_private_to_age(pem: &[u8]) -> Result<Zeroizing<String>, ConvertError> {
    let seed = openssh_ed25519_seed(pem)?;
    let mut digest: [u8; 64] = Sha512::digest(seed.as_slice()).into();
    let encoded = bech32_encode("age-secret-key-", &digest[..32]).to_uppercase();
    digest.zeroize();
    Ok(Zeroizing::new(encoded))
}

fn bech32_encode(hrp: &str, data: &[u8]) -> String {
    let hrp = Hrp::parse(hrp).expect("a valid human-readable part");
    bech32::encode::<Bech32>(hrp, data).expect("32 bytes always fit")
}

/// The 32-byte seed of an unencrypted `openssh-key-v1` ed25519 key.
fn openssh_ed25519_seed(pem: &[u8]) -> Result<Zeroizing<Vec<u8>>, ConvertError> {
    let text = std::str::from_utf8(pem).map_err(|_| ConvertError::NotEd25519Private)?;
    let body: Zeroizing<String> = Zeroizing::new(
        text.lines()
            .skip_while(|l| l.trim() != "-----BEGIN OPENSSH PRIVATE KEY-----")
            .skip(1)
            .take_while(|l| l.trim() != "-----END OPENSSH PRIVATE KEY-----")
            .map(str::trim)
            .collect(),
    );
    let blob = Zeroizing::new(B64.decode(body.as_bytes()).map_err(|_| ConvertError::NotEd25519Private)?);
    let rest = blob.strip_prefix(b"openssh-key-v1\0".as_slice()).ok_or(ConvertError::NotEd25519Private)?;
    let mut reader = Reader(rest);
    let cipher = reader.string()?;
    let _kdf = reader.string()?;
    let _kdf_options = reader.string()?;
    if cipher != b"none" {
        return Err(ConvertError::Encrypted);
    }
    if reader.u32()? != 1 {
        return Err(ConvertError::NotEd25519Private);
    }
    let _public = reader.string()?;
    let mut private = Reader(reader.string()?);
    let (check1, check2) = (private.u32()?, private.u32()?);
    if check1 != check2 || private.string()? != b"ssh-ed25519" {
        return Err(ConvertError::NotEd25519Private);
    }
    let _public = private.string()?;
    let keypair = private.string()?;
    if keypair.len() != 64 {
        return Err(ConvertError::NotEd25519Private);
    }
    Ok(Zeroizing::new(keypair[..32].to_vec()))
}

/// Reads SSH wire-format fields.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn u32(&mut self) -> Result<u32, ConvertError> {
        let (head, rest) = self.0.split_at_checked(4).ok_or(ConvertError::NotEd25519Private)?;
        self.0 = rest;
        Ok(u32::from_be_bytes(head.try_into().map_err(|_| ConvertError::NotEd25519Private)?))
    }

    fn string(&mut self) -> Result<&'a [u8], ConvertError> {
        let len = self.u32()? as usize;
        let (head, rest) = self.0.split_at_checked(len).ok_or(ConvertError::NotEd25519Private)?;
        self.0 = rest;
        Ok(head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn vector(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/../../fixtures/sops-vectors/ssh/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    #[test]
    fn converted_private_key_matches_converted_public_key() {
        let public = ssh_ed25519_public_to_age(std::str::from_utf8(&vector("id_ed25519.pub")).unwrap()).unwrap();
        let secret = ssh_ed25519_private_to_age(&vector("id_ed25519")).unwrap();
        assert!(public.starts_with("age1") && secret.starts_with("AGE-SECRET-KEY-1"));
        let identity = age::x25519::Identity::from_str(&secret).unwrap();
        assert_eq!(identity.to_public().to_string(), public);
    }

    #[test]
    fn known_pairs_from_fixtures() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/keys-cases/ssh-to-age.txt")).unwrap();
        let mut checked = 0;
        for block in text.split("\n\n").filter(|b| b.contains("ssh: ")) {
            let get = |prefix: &str| block.lines().find_map(|l| l.strip_prefix(prefix)).unwrap().trim().to_string();
            assert_eq!(ssh_ed25519_public_to_age(&get("ssh: ")).unwrap(), get("age: "));
            let pem = std::fs::read(format!("{}/../../fixtures/keys-cases/{}", env!("CARGO_MANIFEST_DIR"), get("file: "))).unwrap();
            assert_eq!(ssh_ed25519_private_to_age(&pem).unwrap().as_str(), get("secret: "));
            checked += 1;
        }
        assert_eq!(checked, 3);
    }

    #[test]
    fn refuses_other_keys_without_showing_them() {
        assert_eq!(ssh_ed25519_public_to_age("ssh-rsa AAAAB3NzaC1yc2E"), Err(ConvertError::NotEd25519Public));
        assert_eq!(ssh_ed25519_public_to_age("ssh-ed25519 !!!"), Err(ConvertError::NotEd25519Public));
        assert_eq!(ssh_ed25519_private_to_age(b"garbage").unwrap_err(), ConvertError::NotEd25519Private);
    }
}
