//! The five stores: how a document is parsed from and written to bytes, with and without the
//! `sops` metadata. Stores know nothing about encryption; they move [`Document`]s and metadata
//! trees in and out of their text layouts, byte-compatible with what sops writes.
//!
//! The dotenv and INI stores are the cargo features `dotenv` and `ini` (on by default), for
//! library users who need one format. YAML and JSON are always built: `.sops.yaml` is YAML,
//! and sops writes binary files as JSON. A store left out of the build answers every call with
//! [`Error::StoreNotBuilt`].

pub mod binary;
#[cfg(feature = "dotenv")]
pub mod dotenv;
#[cfg(any(feature = "dotenv", feature = "ini"))]
pub mod flat;
pub mod go_format;
#[cfg(feature = "ini")]
pub mod ini;
pub mod json;
pub mod yaml;

use crate::error::{Error, Result};
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
    /// many top-level entries when they are large; the dotenv store, a part of its lines at a
    /// time on every core). `None` leaves it to the caller to parse the file
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
        #[cfg(feature = "dotenv")]
        Format::Dotenv => Box::new(dotenv::DotenvStore),
        #[cfg(feature = "ini")]
        Format::Ini => Box::new(ini::IniStore),
        Format::Binary => Box::new(binary::BinaryStore::default()),
        #[cfg(not(all(feature = "dotenv", feature = "ini")))]
        left_out => Box::new(NotBuilt(left_out)),
    }
}

/// The stand-in for a store whose cargo feature is off: every call fails with
/// [`Error::StoreNotBuilt`], so a file of that format is refused by name instead of misread.
#[derive(Clone, Copy, Debug)]
pub struct NotBuilt(pub Format);

impl NotBuilt {
    fn refuse<T>(self) -> Result<T> {
        Err(Error::StoreNotBuilt { format: self.0 })
    }
}

impl Store for NotBuilt {
    fn parse_plain(&self, _: &[u8]) -> Result<Document> {
        self.refuse()
    }

    fn parse_encrypted(&self, _: &[u8]) -> Result<(Document, Map)> {
        self.refuse()
    }

    fn emit_plain(&self, _: &Document) -> Result<Vec<u8>> {
        self.refuse()
    }

    fn emit_encrypted(&self, _: &Document, _: &Map) -> Result<Vec<u8>> {
        self.refuse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_left_out_of_the_build_refuses_by_name() {
        let store = NotBuilt(Format::Ini);
        let refused = store.parse_plain(b"[a]\nb = c\n").unwrap_err();
        assert!(matches!(refused, Error::StoreNotBuilt { format: Format::Ini }));
        assert_eq!(refused.to_string(), "this build has no ini store: build secrets-sops with its `ini` feature");
        assert!(store.emit_plain(&Document { branches: vec![Map::new()] }).is_err());
    }
}
