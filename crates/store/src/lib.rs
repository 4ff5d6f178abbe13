//! The `sops/` repository model of `clan secrets`: users, machines and groups with age public
//! keys, secrets encrypted for exactly the members their links name, and re-keying when
//! membership changes. Built on [`secrets_sops`].

pub mod check;
pub mod credentials;
pub mod deploy;
pub mod error;
pub mod export;
pub mod fsutil;
pub mod git;
pub mod history;
pub mod identity;
pub mod journal;
pub mod keyfile;
pub mod keyinput;
pub mod links;
pub mod lock;
pub mod names;
pub mod ops;
pub mod rekey;
pub mod repo;
pub mod secrets;
pub mod tx;
pub mod untrusted;

pub use error::{Result, StoreError};
pub use keyfile::{KeyType, PublicKey};
pub use names::Kind;
pub use repo::Repo;
pub use secrets::{Access, Lookups, SecretRef, Via};
