//! The SOPS encrypted-file format with age keys.
//!
//! Reads every file the real `sops` writes with age keys, in all five stores (YAML, JSON,
//! dotenv, INI, binary), and writes files the real `sops` reads, with the same layout.
//!
//! A file goes through three shapes: bytes, an [`EncryptedFile`] (the parsed tree with its
//! values still `ENC[…]`, plus the [`metadata`]), and a [`PlainFile`] (the decrypted tree, which
//! keeps the data key so that writing it back changes only what changed). [`stores`] turns bytes
//! into trees and back, byte for byte as sops does; [`keys`] wraps and unwraps the data key for
//! age recipients (native age keys, ssh-ed25519 and ssh-rsa keys, plugins, Shamir key groups);
//! [`cipher`] and [`mac`] are the per-value AES-GCM and the file's MAC.
//!
//! The dotenv and INI stores are the cargo features `dotenv` and `ini`, on by default; without
//! them a file of that store is refused by name ([`Error::StoreNotBuilt`]).
//!
//! The examples use the test keys in `fixtures/sops-vectors/` (`keys.txt` is alice's,
//! `keys-b.txt` bob's) and files the real sops 3.11 wrote with them.
//!
//! # Decrypt a file
//!
//! ```
//! use secrets_sops::keys::Identities;
//! use secrets_sops::{DecryptOptions, EncryptedFile, Format};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let vectors = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/sops-vectors");
//! let bytes = std::fs::read(format!("{vectors}/enc/basic.yaml"))?;
//! let file = EncryptedFile::parse(&bytes, Format::Yaml)?;
//!
//! // Keys from a file in age's format, as `SOPS_AGE_KEY_FILE` names it;
//! // `Identities::from_env()` looks where sops looks.
//! let identities = Identities::from_age_key_text(&std::fs::read_to_string(format!("{vectors}/keys.txt"))?, "keys.txt")?;
//!
//! let plain = file.decrypt(&identities, DecryptOptions::default())?;
//! let yaml = String::from_utf8(plain.to_plain_bytes(Format::Yaml)?)?;
//! assert!(yaml.contains("secret: s3cr3t"));
//! # Ok(())
//! # }
//! ```
//!
//! # Encrypt a new file
//!
//! ```
//! use secrets_sops::keys::Identities;
//! use secrets_sops::{DecryptOptions, EncryptOptions, EncryptedFile, Format};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let vectors = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/sops-vectors");
//! # let alice = Identities::from_age_key_text(&std::fs::read_to_string(format!("{vectors}/keys.txt"))?, "keys.txt")?;
//! let recipient = alice.public_keys()[0].clone(); // "age1…"
//! let data = secrets_sops::parse_plain(b"db:\n    password: hunter2\n", Format::Yaml)?;
//!
//! // One key group with one recipient; the default selection rule encrypts every value.
//! let options = EncryptOptions { key_groups: vec![vec![recipient]], ..EncryptOptions::default() };
//! let encrypted = secrets_sops::encrypt(data, Format::Yaml, &options)?.to_bytes()?;
//! assert!(String::from_utf8_lossy(&encrypted).contains("password: ENC[AES256_GCM,data:"));
//!
//! let plain = EncryptedFile::parse(&encrypted, Format::Yaml)?.decrypt(&alice, DecryptOptions::default())?;
//! assert_eq!(plain.to_plain_bytes(Format::Yaml)?, b"db:\n    password: hunter2\n");
//! # Ok(())
//! # }
//! ```
//!
//! # Set one value (`sops set`)
//!
//! The file keeps its data key, and every other value keeps its ciphertext, so a diff shows the
//! one changed line (and the new `lastmodified` and MAC).
//!
//! ```
//! use secrets_sops::keys::Identities;
//! use secrets_sops::{treepath, DecryptOptions, EncryptedFile, Format, Value};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let vectors = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/sops-vectors");
//! # let alice = Identities::from_age_key_text(&std::fs::read_to_string(format!("{vectors}/keys.txt"))?, "keys.txt")?;
//! let before = std::fs::read(format!("{vectors}/enc/basic.yaml"))?;
//! let mut plain = EncryptedFile::parse(&before, Format::Yaml)?.decrypt(&alice, DecryptOptions::default())?;
//!
//! let path = treepath::parse(r#"["app"]["port"]"#)?;
//! treepath::set(&mut plain.data.branches[0], &path, Value::Int(9090))?;
//! let after = plain.encrypt()?.to_bytes()?;
//!
//! let (before, after) = (String::from_utf8(before)?, String::from_utf8(after)?);
//! let changed = before.lines().zip(after.lines()).filter(|(b, a)| b != a).count();
//! assert_eq!(changed, 3); // port, lastmodified, mac
//! # Ok(())
//! # }
//! ```
//!
//! # Change the recipients (`sops updatekeys`)
//!
//! [`EncryptedFile::update_keys`] wraps the same data key for a new recipient list: the values
//! stay as they are. To shut a recipient out for good, [`PlainFile::rotate`] gives the file a
//! new data key instead (a removed recipient may have kept the old one).
//!
//! ```
//! use secrets_sops::keys::Identities;
//! use secrets_sops::{DecryptOptions, EncryptedFile, Format};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let vectors = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/sops-vectors");
//! # let read_keys = |name: &str| -> Result<Identities, Box<dyn std::error::Error>> {
//! #     Ok(Identities::from_age_key_text(&std::fs::read_to_string(format!("{vectors}/{name}"))?, name)?)
//! # };
//! let (alice, bob) = (read_keys("keys.txt")?, read_keys("keys-b.txt")?);
//! let mut file = EncryptedFile::parse(&std::fs::read(format!("{vectors}/enc/basic.json"))?, Format::Json)?;
//! assert!(file.decrypt(&bob, DecryptOptions::default()).is_err());
//!
//! // Alice (who can decrypt) adds bob: one key group, threshold unchanged.
//! let recipients = vec![vec![alice.public_keys()[0].clone(), bob.public_keys()[0].clone()]];
//! assert!(file.update_keys(&alice, &recipients, 0)?);
//!
//! let reread = EncryptedFile::parse(&file.to_bytes()?, Format::Json)?;
//! reread.decrypt(&bob, DecryptOptions::default())?;
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cipher;
pub mod config;
mod crypt;
pub mod error;
pub mod file;
pub mod format;
pub mod keys;
pub mod mac;
pub mod metadata;
mod rng;
mod selection;
pub mod stores;
pub mod timefmt;
pub mod tree;
pub mod treepath;
pub mod warning;

#[cfg(test)]
mod test_support;

pub use error::{Error, Result, ValueProblem};
pub use file::{
    decrypt_to_plain, encrypt, parse_plain, DecryptOptions, DecryptSession, EncryptOptions, EncryptedFile, PlainFile, PlainText,
};
pub use format::Format;
pub use tree::{Document, Map, MapItem, Value};
pub use warning::Warning;

/// The README's examples are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
