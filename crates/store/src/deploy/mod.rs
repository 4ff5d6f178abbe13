//! The machine side: which secrets a machine gets, decrypting them with the machine's own
//! keys, and installing them the way sops-install-secrets does (generations, an atomic
//! switch, modes and owners, sops-nix manifests).
//!
//! ```
//! use secrets_store::deploy::{KeySources, Source};
//!
//! # fn main() -> Result<(), secrets_store::deploy::DeployError> {
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
//! Installing all of them into a folder, as `secrets install` does:
//!
//! ```no_run
//! use secrets_store::deploy::{install, InstallOptions, KeySources, Plan, Source};
//!
//! # fn main() -> Result<(), secrets_store::deploy::DeployError> {
//! let source = Source::open("/var/lib/secrets-repo")?;
//! let plan = Plan::for_machine(&source, "web1", "/run/secrets")?;
//! let report = install(&plan, &KeySources::defaults().load()?, &InstallOptions::default())?;
//! println!("generation {} at {}", report.generation, report.path.display());
//! # Ok(())
//! # }
//! ```

pub mod accounts;
pub mod check;
pub mod error;
pub mod extract;
pub mod fsat;
pub mod generations;
pub mod install;
pub mod keys;
pub mod manifest;
pub mod plan;
pub mod source;

pub use accounts::{Account, Accounts};
pub use check::check;
pub use error::DeployError;
pub use generations::Generations;
pub use install::{install, InstallOptions, Report};
pub use keys::KeySources;
pub use manifest::{Manifest, Overrides, SopsNixManifest};
pub use plan::{Attrs, Plan, PlannedFile, PlannedTemplate};
pub use source::{MachineSecret, Source, Via};
