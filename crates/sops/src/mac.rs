//! The sops MAC: SHA-512 over the canonical plaintext bytes of the leaves in document order,
//! stored encrypted under the data key with the re-formatted `lastmodified` as AAD.

use sha2::{Digest, Sha512};
use zeroize::Zeroizing;

use crate::cipher::{self, EncryptedValue, ValueType};
use crate::error::{Error, Result};
use crate::keys::DataKey;
use crate::timefmt;

/// SHA-256("sops"): fed first when `mac_only_encrypted` is set, so such a MAC never equals the
/// MAC of the same values without the option.
const MAC_ONLY_ENCRYPTED_PREFIX: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b, 0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f,
    0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

/// The MAC being summed; or, for a part of a document decrypted apart from the others, the
/// bytes it is to be given, kept until the part's turn comes ([`MacHasher::absorb`]).
pub(crate) enum MacHasher {
    Summing(Sha512),
    // Only the dotenv store decrypts in parts.
    #[cfg_attr(not(feature = "dotenv"), allow(dead_code))]
    Recording(Zeroizing<Vec<u8>>),
}

impl MacHasher {
    pub(crate) fn new(mac_only_encrypted: bool) -> MacHasher {
        let mut h = Sha512::new();
        if mac_only_encrypted {
            h.update(MAC_ONLY_ENCRYPTED_PREFIX);
        }
        MacHasher::Summing(h)
    }

    /// A hasher that only keeps what it is given, for [`MacHasher::absorb`].
    #[cfg_attr(not(feature = "dotenv"), allow(dead_code))]
    pub(crate) fn recording() -> MacHasher {
        // Grown as needed (each smaller buffer is wiped as it is let go, by the program's
        // allocator or by `Zeroizing` for the last): room made at once for a part's length
        // would be wiped whole, and a part's plaintext is a fraction of it.
        MacHasher::Recording(Zeroizing::new(Vec::new()))
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        match self {
            MacHasher::Summing(h) => h.update(bytes),
            MacHasher::Recording(kept) => kept.extend_from_slice(bytes),
        }
    }

    /// Gives this hasher what a recording one kept, as if it had been given it directly.
    #[cfg_attr(not(feature = "dotenv"), allow(dead_code))]
    pub(crate) fn absorb(&mut self, recorded: &MacHasher) {
        match recorded {
            MacHasher::Recording(kept) => self.update(kept),
            // A summing hasher cannot be replayed; no caller passes one.
            MacHasher::Summing(_) => debug_assert!(false, "only a recording hasher can be absorbed"),
        }
    }

    /// The MAC string: uppercase hex of the digest (for a recording hasher, of what it kept).
    pub(crate) fn finish(self) -> String {
        match self {
            MacHasher::Summing(h) => hex::encode_upper(h.finalize()),
            MacHasher::Recording(kept) => hex::encode_upper(Sha512::digest(&kept[..])),
        }
    }
}

/// Encrypts a MAC string for storage under `lastmodified`.
pub fn encrypt_mac(mac: &str, key: &DataKey, last_modified: &str) -> Result<String> {
    let aad = timefmt::mac_aad(last_modified).ok_or_else(|| Error::metadata("lastmodified is not an RFC 3339 time"))?;
    Ok(cipher::seal(key, &cipher::random_iv(), aad.as_bytes(), mac.as_bytes(), ValueType::Str).to_string())
}

/// Decrypts the stored MAC and compares it, as an exact string, with the computed one.
pub fn verify_mac(stored: Option<&str>, computed: &str, key: &DataKey, last_modified: &str) -> Result<()> {
    let stored = stored.filter(|m| !m.is_empty()).ok_or(Error::MacMissing)?;
    let aad = timefmt::mac_aad(last_modified).ok_or_else(|| Error::metadata("lastmodified is not an RFC 3339 time"))?;
    let parsed = EncryptedValue::parse(stored).map_err(|_| Error::MacDecrypt)?;
    let plain = cipher::open(key, &parsed, aad.as_bytes()).map_err(|_| Error::MacDecrypt)?;
    if &plain[..] == computed.as_bytes() {
        Ok(())
    } else {
        Err(Error::MacMismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_is_sha256_of_sops() {
        use sha2::Sha256;
        assert_eq!(Sha256::digest(b"sops").as_slice(), &MAC_ONLY_ENCRYPTED_PREFIX);
    }

    #[test]
    fn mac_is_uppercase_hex_of_concatenated_values() {
        let mut h = MacHasher::new(false);
        h.update(b"1");
        h.update(b"two");
        let expected = hex::encode_upper(Sha512::digest(b"1two"));
        assert_eq!(h.finish(), expected);
    }

    #[test]
    fn stored_mac_verifies_only_under_its_lastmodified() {
        let key = DataKey::from_bytes([9; 32]);
        let stored = encrypt_mac("ABC", &key, "2026-11-23T03:25:06Z").unwrap();
        verify_mac(Some(&stored), "ABC", &key, "2026-11-23T03:25:06Z").unwrap();
        verify_mac(Some(&stored), "ABC", &key, "2026-11-23T03:25:06+00:00").unwrap();
        assert!(matches!(verify_mac(Some(&stored), "abc", &key, "2026-11-23T03:25:06Z"), Err(Error::MacMismatch)));
        assert!(matches!(verify_mac(Some(&stored), "ABC", &key, "2026-11-23T03:25:07Z"), Err(Error::MacDecrypt)));
        assert!(matches!(verify_mac(None, "ABC", &key, "2026-11-23T03:25:06Z"), Err(Error::MacMissing)));
    }
}
