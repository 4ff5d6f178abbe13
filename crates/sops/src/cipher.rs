//! AES-256-GCM value encryption: the `ENC[AES256_GCM,…]` syntax and the cipher.
