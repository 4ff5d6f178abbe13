//! The SOPS encrypted-file format with age keys.
//!
//! Reads every file the real `sops` writes with age keys, in all five stores (YAML, JSON,
//! dotenv, INI, binary), and writes files the real `sops` reads, with the same layout.

#![forbid(unsafe_code)]

pub mod cipher;
pub mod config;
mod crypt;
pub mod error;
pub mod file;
pub mod format;
pub mod keys;
pub mod mac;
pub mod metadata;
mod selection;
pub mod stores;
pub mod timefmt;
pub mod tree;
pub mod treepath;
pub mod warning;

#[cfg(test)]
mod test_support;

pub use error::{Error, Result};
pub use file::{encrypt, parse_plain, DecryptOptions, EncryptOptions, EncryptedFile, PlainFile};
pub use format::Format;
pub use tree::{Document, Map, MapItem, Value};
pub use warning::Warning;

/// The README's examples are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
