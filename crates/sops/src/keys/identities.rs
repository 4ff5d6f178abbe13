//! Finding and loading age identities from every place sops looks.

/// The identities available to decrypt.
#[derive(Default)]
pub struct Identities {}

/// What one key source held (for the report when nothing decrypts).
#[derive(Debug, Clone)]
pub struct SourceReport {
    pub source: String,
    pub outcome: String,
}
