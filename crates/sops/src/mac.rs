//! The sops MAC: SHA-512 over the plaintext leaves in document order.
