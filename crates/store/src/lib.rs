//! The `sops/` repository model of `clan secrets`: users, machines and groups with age public
//! keys, secrets encrypted for exactly the members their links name, and re-keying when
//! membership changes. Built on [`secrets_sops`].
//!
//! The repository is a folder tree ([`repo`], [`names`], [`links`], [`keyfile`]): every member
//! has a `key.json`, every secret a `secret` file in the sops binary store and relative symlinks
//! naming who may read it. All of it is untrusted input, read through [`untrusted`] (no symlink,
//! FIFO or oversized file is followed or read). The operations in [`ops`] change it as one
//! transaction each ([`tx`], journaled by [`journal`], under the repository [`lock`]) and
//! re-key exactly the secrets whose readers changed ([`rekey`]). [`check`] audits a repository,
//! [`history`] reads its git log, and [`credentials`] stores cloud credentials as secrets. The
//! machine side (which secrets a machine gets, and installing them) is the `secrets-deploy`
//! crate, built on this one's read side only: [`untrusted`], [`names`] and
//! [`ops::decrypt_below`].
//!
//! # A repository from scratch
//!
//! The examples use the test keys in `fixtures/sops-vectors/`: `keys.txt` is alice's (a
//! user), `keys-b.txt` the machine web1's.
//!
//! ```
//! use secrets_sops::keys::Identities;
//! use secrets_store::lock::{self, RepoLock};
//! use secrets_store::ops::{self, Ctx, Quiet};
//! use secrets_store::rekey::RekeyOptions;
//! use secrets_store::{journal, Kind, PublicKey, Repo};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let keys = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/sops-vectors");
//! let alice = Identities::from_age_key_text(&std::fs::read_to_string(format!("{keys}/keys.txt"))?, "keys.txt")?;
//! let web1 = Identities::from_age_key_text(&std::fs::read_to_string(format!("{keys}/keys-b.txt"))?, "keys-b.txt")?;
//! let public = |ids: &Identities| vec![PublicKey::age(ids.public_keys()[0].clone())];
//!
//! // Open a repository: the folder that holds (or will hold) `sops/`.
//! let folder = tempfile::tempdir()?;
//! let repo = Repo::at(folder.path());
//!
//! // Changes take turns: hold the lock from reading the membership to the end of the change,
//! // and first undo whatever change an interrupted command left behind.
//! let lock = RepoLock::acquire(&repo, lock::DEFAULT_TIMEOUT, &|_| {})?;
//! journal::recover(&repo, &lock)?;
//!
//! // The caller's keys decrypt what a change must re-key.
//! let ctx = Ctx { repo: &repo, identities: &alice, options: RekeyOptions::default(), progress: &Quiet };
//!
//! // Add a user and a machine (`users add`, `machines add`).
//! ops::add_member(&ctx, Kind::User, "alice", &public(&alice), false)?;
//! ops::add_member(&ctx, Kind::Machine, "web1", &public(&web1), false)?;
//!
//! // Set a secret for alice and the group `servers` (`set db-password --group servers`);
//! // a group comes into being with its first member.
//! ops::group_add(&ctx, "servers", Kind::User, "alice")?;
//! let members = [(Kind::User, "alice".to_string()), (Kind::Group, "servers".to_string())];
//! let outcome = ops::set_secret(&ctx, "db-password", b"hunter2", &members)?;
//! assert!(outcome.paths.contains(&repo.secret_dir("db-password").join("secret")));
//! assert_eq!(&ops::get_secret(&repo, &alice, "db-password")?[..], b"hunter2");
//! assert!(ops::get_secret(&repo, &web1, "db-password").is_err());
//!
//! // A membership change re-keys exactly the secrets shared with the group: web1 joins
//! // `servers`, and db-password's data key is wrapped for it too.
//! let outcome = ops::group_add(&ctx, "servers", Kind::Machine, "web1")?;
//! assert_eq!(outcome.rekeyed.len(), 1);
//! assert_eq!(outcome.rekeyed[0].secret, "db-password");
//! assert_eq!(&ops::get_secret(&repo, &web1, "db-password")?[..], b"hunter2");
//! drop(lock);
//! # Ok(())
//! # }
//! ```

// No `unsafe`: system calls go through rustix's safe API.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod check;
pub mod credentials;
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
#[cfg(all(test, unix))]
mod swap_race;
pub mod tx;
pub mod uncommitted;
pub mod untrusted;

pub use error::{Result, StoreError};
pub use keyfile::{KeyType, PublicKey};
pub use names::Kind;
pub use repo::Repo;
pub use secrets::{Access, Lookups, SecretRef, Via};
