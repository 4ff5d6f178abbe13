//! The machine side of a `sops/` repository: which secrets a machine gets, decrypting them with
//! the machine's own keys, and installing them the way sops-install-secrets does (generations,
//! an atomic switch, modes and owners, sops-nix manifests).
//!
//! This code runs as root on the machine, over a repository copy whose content is untrusted.
//! It is built on the read side of `secrets-store` only: the repository reader
//! ([`secrets_store::untrusted`]: folders opened one descriptor at a time, no symlink, FIFO or
//! oversized file), the name rules ([`secrets_store::names`]) and the decryption of one `secret`
//! file ([`secrets_store::ops::decrypt_below`]). Nothing here changes a repository: no lock, no
//! journal, no git. Files are written through folder descriptors ([`fsat`]) with `rustix`, and
//! the crate has no `unsafe` code.
//!
//! ```
//! use secrets_deploy::{KeySources, Source};
//!
//! # fn main() -> Result<(), secrets_deploy::DeployError> {
//! # let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
//! # let repository = fixtures.join("clan-repo");
//! # let machine_key = fixtures.join("sops-vectors/keys-b.txt");
//! // A repository, or a copy of its sops/ folder deployed to the machine.
//! let source = Source::open(&repository)?;
//!
//! // What web1 can read: directly, through its groups, and its vars secrets.
//! let secrets = source.machine_secrets("web1")?;
//! let names: Vec<&str> = secrets.iter().map(|s| s.name.as_str()).collect();
//! assert_eq!(names, ["group-secret", "vars/per-machine/web1/gen/token"]);
//!
//! // The machine's identities: an age key file and/or ssh-ed25519 host keys.
//! let keys = KeySources { age_key_files: vec![machine_key], ssh_keys: vec![] };
//! let identities = keys.load()?;
//! let value = source.decrypt(&secrets[0], &identities)?;
//! assert_eq!(&value[..], b"group-value");
//! # Ok(())
//! # }
//! ```
//!
//! Installing all of them, as `secrets install` does: `target` becomes a symlink to a new
//! generation of files. On the machine itself the keys are [`KeySources::defaults`], its own.
//!
//! ```
//! use secrets_deploy::{install, InstallOptions, KeySources, Plan, Source};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
//! # let repository = fixtures.join("clan-repo");
//! # let keys = KeySources { age_key_files: vec![fixtures.join("sops-vectors/keys-b.txt")], ssh_keys: vec![] };
//! # let scratch = tempfile::tempdir()?;
//! let target = scratch.path().join("run-secrets");
//! let plan = Plan::for_machine(&Source::open(&repository)?, "web1", &target)?;
//! let report = install(&plan, &keys.load()?, &InstallOptions::default())?;
//! println!("generation {} at {}", report.generation, report.path.display());
//! assert_eq!(std::fs::read(target.join("group-secret"))?, b"group-value");
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod accounts;
pub mod check;
pub mod error;
pub mod extract;
pub mod fsat;
pub mod generations;
pub mod install;
pub mod keys;
pub mod manifest;
pub mod mount;
pub mod plan;
pub mod source;

pub use accounts::{Account, Accounts};
pub use check::check;
pub use error::DeployError;
pub use generations::Generations;
pub use install::{install, InstallOptions, Report};
pub use keys::{KeySources, Loaded};
pub use manifest::{Manifest, Overrides, SopsNixManifest};
pub use mount::{mount_secret_fs, SecretFs};
pub use plan::{Attrs, Plan, PlannedFile, PlannedTemplate};
pub use source::{MachineSecret, Source, Via};
