//! The ini store.

use crate::error::Result;
use crate::stores::Store;
use crate::tree::{Document, Map};

#[derive(Clone, Copy, Debug, Default)]
pub struct IniStore;

impl Store for IniStore {
    fn parse_plain(&self, _input: &[u8]) -> Result<Document> {
        todo!()
    }

    fn parse_encrypted(&self, _input: &[u8]) -> Result<(Document, Map)> {
        todo!()
    }

    fn emit_plain(&self, _doc: &Document) -> Result<Vec<u8>> {
        todo!()
    }

    fn emit_encrypted(&self, _doc: &Document, _metadata: &Map) -> Result<Vec<u8>> {
        todo!()
    }
}
