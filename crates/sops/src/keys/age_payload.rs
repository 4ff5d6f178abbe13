//! The payload of an age v1 file: a 16-byte nonce, then the plaintext in ChaCha20-Poly1305
//! STREAM chunks of 64 KiB under a key derived from the file key (age-encryption.org/v1,
//! "Payload"), decrypted here because the age crate keeps its STREAM reader private.
//!
//! A data key or a Shamir share is 32 or 33 bytes, so [`MAX_CHUNKS`] keeps a hostile payload
//! from costing more than a few authenticated chunks.

use age::secrecy::ExposeSecret;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::ChaCha20Poly1305;
use zeroize::Zeroizing;

const NONCE_LEN: usize = 16;
const CHUNK_LEN: usize = 64 * 1024;
const TAG_LEN: usize = 16;
/// At most this many chunks (1 MiB of plaintext) are read.
pub const MAX_CHUNKS: usize = 16;

/// Why a payload cannot be decrypted. Holds no plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    #[error("the age payload is shorter than its nonce and one chunk")]
    Truncated,
    #[error("the age payload is larger than {limit} chunks; a data key fits in one")]
    TooLarge { limit: usize },
    #[error("chunk {chunk} of the age payload failed to authenticate (the file is corrupt or was tampered with)")]
    Corrupt { chunk: usize },
    #[error("the age payload ends with an empty chunk after a full one, which age never writes")]
    EmptyLastChunk,
}

/// Decrypts the payload that follows an age header whose file key is `file_key`.
pub fn decrypt(file_key: &age_core::format::FileKey, payload: &[u8]) -> Result<Zeroizing<Vec<u8>>, PayloadError> {
    let (nonce, chunks) = payload.split_at_checked(NONCE_LEN).ok_or(PayloadError::Truncated)?;
    if chunks.len() < TAG_LEN {
        return Err(PayloadError::Truncated);
    }
    let sealed_len = CHUNK_LEN + TAG_LEN;
    let count = chunks.len().div_ceil(sealed_len);
    if count > MAX_CHUNKS {
        return Err(PayloadError::TooLarge { limit: MAX_CHUNKS });
    }
    let key = Zeroizing::new(age_core::primitives::hkdf(nonce, b"payload", file_key.expose_secret()));
    let cipher = ChaCha20Poly1305::new((&*key).into());
    let mut plaintext = Zeroizing::new(Vec::with_capacity(chunks.len()));
    for (index, chunk) in chunks.chunks(sealed_len).enumerate() {
        let last = index + 1 == count;
        if chunk.len() < TAG_LEN {
            return Err(PayloadError::Truncated);
        }
        if last && index > 0 && chunk.len() == TAG_LEN {
            return Err(PayloadError::EmptyLastChunk);
        }
        // The STREAM nonce: an 11-byte big-endian chunk counter and a last-chunk flag.
        let mut chunk_nonce = [0u8; 12];
        chunk_nonce[3..11].copy_from_slice(&(index as u64).to_be_bytes());
        chunk_nonce[11] = u8::from(last);
        let opened = Zeroizing::new(cipher.decrypt((&chunk_nonce).into(), chunk).map_err(|_| PayloadError::Corrupt { chunk: index + 1 })?);
        plaintext.extend_from_slice(&opened);
    }
    Ok(plaintext)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A binary age file for `plaintext`, written by the age crate, and its file key's identity.
    fn encrypted(plaintext: &[u8]) -> (Vec<u8>, age::x25519::Identity) {
        let identity = age::x25519::Identity::generate();
        let recipient = identity.to_public();
        let encryptor = age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient)).unwrap();
        let mut out = Vec::new();
        let mut writer = encryptor.wrap_output(&mut out).unwrap();
        writer.write_all(plaintext).unwrap();
        writer.finish().unwrap();
        (out, identity)
    }

    fn open(binary: &[u8], identity: &age::x25519::Identity) -> Result<Zeroizing<Vec<u8>>, PayloadError> {
        use age::Identity as _;
        let file = super::super::age_header::AgeFile::parse(binary).unwrap();
        let key = identity.unwrap_stanzas(&file.stanzas).unwrap().unwrap();
        assert!(file.mac_matches(&key));
        decrypt(&key, file.payload)
    }

    #[test]
    fn decrypts_what_the_age_crate_writes_at_chunk_edges() {
        for len in [0, 1, 32, 33, CHUNK_LEN - 1, CHUNK_LEN, CHUNK_LEN + 1, 2 * CHUNK_LEN] {
            let plaintext: Vec<u8> = (0..=u8::MAX).cycle().take(len).collect();
            let (binary, identity) = encrypted(&plaintext);
            assert_eq!(&open(&binary, &identity).unwrap()[..], &plaintext[..], "{len}");
        }
    }

    #[test]
    fn refuses_damaged_payloads() {
        let (binary, identity) = encrypted(&[5u8; 32]);
        let mut flipped = binary.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(open(&flipped, &identity).unwrap_err(), PayloadError::Corrupt { chunk: 1 });
        assert_eq!(open(&binary[..binary.len() - 40], &identity).unwrap_err(), PayloadError::Truncated);
        let mut extended = binary.clone();
        extended.extend_from_slice(&[0u8; 16]);
        assert!(open(&extended, &identity).is_err());

        // A full chunk marked as not last, followed by an empty last chunk, is refused.
        let (binary, identity) = encrypted(&vec![1u8; CHUNK_LEN]);
        assert!(open(&binary, &identity).is_ok());
        let mut padded = binary.clone();
        padded.extend_from_slice(&[0u8; TAG_LEN]);
        assert!(open(&padded, &identity).is_err());
    }

    #[test]
    fn refuses_oversized_payloads_before_decrypting() {
        let (binary, identity) = encrypted(&[5u8; 32]);
        let mut huge = binary.clone();
        huge.resize(binary.len() + (MAX_CHUNKS + 1) * (CHUNK_LEN + TAG_LEN), 0);
        assert_eq!(open(&huge, &identity).unwrap_err(), PayloadError::TooLarge { limit: MAX_CHUNKS });
    }
}
