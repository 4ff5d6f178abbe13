//! The five stores: how a document is parsed from and written to bytes, with and without the
//! `sops` metadata. Stores know nothing about encryption; they move [`Document`]s and metadata
//! trees in and out of their text layouts, byte-compatible with what sops writes.

pub mod binary;
pub mod dotenv;
pub mod flat;
pub mod ini;
pub mod json;
// docs pending: being rewritten (as are its sites of these pedantic lints).
#[allow(
    missing_docs,
    rustdoc::private_intra_doc_links,
    clippy::assigning_clones,
    clippy::cast_lossless,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_precision_loss,
    clippy::cast_sign_loss,
    clippy::checked_conversions,
    clippy::default_trait_access,
    clippy::format_collect,
    clippy::if_not_else,
    clippy::ignore_without_reason,
    clippy::manual_is_multiple_of,
    clippy::single_match_else,
    clippy::trivially_copy_pass_by_ref,
    clippy::unused_self
)]
pub mod yaml;

use crate::error::Result;
use crate::file::DecryptSession;
use crate::format::Format;
use crate::tree::{Document, Map};

/// A store's text layout.
pub trait Store {
    /// Parses a plaintext input file (`sops encrypt` input). Fails if the layout cannot hold a
    /// sops document (for example a YAML file whose top level is not a mapping).
    fn parse_plain(&self, input: &[u8]) -> Result<Document>;

    /// Parses an encrypted file: returns its data (without the metadata) and the metadata as a
    /// tree in its logical, unflattened shape (the `sops` mapping of YAML and JSON).
    fn parse_encrypted(&self, input: &[u8]) -> Result<(Document, Map)>;

    /// [`Store::parse_encrypted`], taking the input so that a store may free it as soon as it
    /// has been read, before it builds the tree: the input and the whole tree are then never
    /// held at the same time.
    fn parse_encrypted_owned(&self, input: Vec<u8>) -> Result<(Document, Map)> {
        self.parse_encrypted(&input)
    }

    /// Writes decrypted data the way `sops decrypt` prints it.
    fn emit_plain(&self, doc: &Document) -> Result<Vec<u8>>;

    /// Decrypts an encrypted file of `format` straight into what [`Store::emit_plain`] would
    /// write for it, in pieces to be written one after the other, without holding its whole
    /// tree, when this store can (the YAML store, for files laid out as sops writes them, of
    /// many top-level entries when they are large). `None` leaves it to the caller to parse the file
    /// and decrypt the tree: also what it does for any file it would refuse, so that every
    /// error comes from that path. [`crate::decrypt_to_plain`] calls this.
    fn decrypt_streaming(&self, input: &[u8], format: Format, session: &mut DecryptSession<'_>) -> Option<Vec<Vec<u8>>> {
        let _ = (input, format, session);
        None
    }

    /// Writes encrypted data plus metadata the way sops writes files. `metadata` is the logical
    /// tree from [`crate::metadata::Metadata::to_tree`].
    fn emit_encrypted(&self, doc: &Document, metadata: &Map) -> Result<Vec<u8>>;
}

/// The store for a format, with sops' default settings (YAML indent 4, JSON tab indent).
pub fn store(format: Format) -> Box<dyn Store + Send + Sync> {
    match format {
        Format::Yaml => Box::new(yaml::YamlStore::default()),
        Format::Json => Box::new(json::JsonStore::default()),
        Format::Dotenv => Box::new(dotenv::DotenvStore),
        Format::Ini => Box::new(ini::IniStore),
        Format::Binary => Box::new(binary::BinaryStore::default()),
    }
}
