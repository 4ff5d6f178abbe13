//! `secrets sops groups add|delete`: a key group more or less, as sops 3.11's `groups`
//! subcommands (`cmd/sops/subcommand/groups`) do it. The file is named with `--file`/`-f`, the
//! data key is opened with the identities at hand and kept, and every group gets a new Shamir
//! share of it; the result goes to standard output, or back to the file with `-i`.
//!
//! sops also takes KMS, GCP KMS, Azure Key Vault and Vault keys for a new group; only age
//! recipients and PGP fingerprints can be wrapped here, so those flags are refused by clap.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use secrets_sops::Format;

use super::{display, identities, load, KeyFlags};
use crate::exit;
use crate::failure::{CmdResult, Failure};
use crate::io::write_atomic;
use crate::output::write_stdout;

pub const GROUPS_ABOUT: &str = "Add a key group to a file, or delete one";
pub const GROUPS_EXAMPLES: &str = "Examples:\n  secrets sops groups add -f secrets.yaml --age age1… --pgp 85D77543B3D624B63CEA9E6DBC17301B491B3F21\n  secrets sops groups delete -f secrets.yaml 1";

/// `secrets sops groups …`.
#[derive(Subcommand, Debug)]
pub enum GroupsCommand {
    /// Add a new key group to a file
    Add(AddArgs),
    /// Delete a key group from a file (groups are numbered from 0)
    Delete(DeleteArgs),
}

/// The file and the destination, shared by both subcommands.
#[derive(Args, Debug, Clone)]
pub struct FileArgs {
    /// The encrypted file
    #[arg(short = 'f', long, value_name = "FILE")]
    pub file: PathBuf,
    /// Write the result back to the file instead of standard output
    #[arg(short = 'i', long)]
    pub in_place: bool,
    /// The number of key groups needed to decrypt (default: as the file says)
    #[arg(long, value_name = "N")]
    pub shamir_secret_sharing_threshold: Option<usize>,
}

/// The arguments of `secrets sops groups add`.
#[derive(Args, Debug, Clone)]
pub struct AddArgs {
    #[command(flatten)]
    pub file: FileArgs,
    /// An age recipient of the new group (repeatable)
    #[arg(long, value_name = "RECIPIENT")]
    pub age: Vec<String>,
    /// A PGP fingerprint of the new group (repeatable)
    #[arg(long, value_name = "FINGERPRINT")]
    pub pgp: Vec<String>,
}

/// The arguments of `secrets sops groups delete`.
#[derive(Args, Debug, Clone)]
pub struct DeleteArgs {
    #[command(flatten)]
    pub file: FileArgs,
    /// The number of the group to delete, from 0 as sops counts
    pub index: usize,
}

pub fn run(command: GroupsCommand) -> CmdResult {
    match command {
        GroupsCommand::Add(args) => {
            let keys = KeyFlags { age: Some(args.age.join(",")), pgp: Some(args.pgp.join(",")) };
            // sops adds an empty group without complaint and then fails to wrap for it.
            let group = keys
                .recipients()?
                .ok_or_else(|| Failure::verbatim(exit::GENERIC, "Could not generate data key: [empty key group provided]"))?;
            change_groups(&args.file, |groups| {
                groups.push(group);
                Ok(())
            })
        }
        GroupsCommand::Delete(args) => {
            let index = args.index;
            change_groups(&args.file, |groups| {
                if index >= groups.len() {
                    return Err(Failure::msg(format!("there is no key group {index}: the file has {} (numbered from 0)", groups.len())));
                }
                groups.remove(index);
                Ok(())
            })
        }
    }
}

/// Opens the file's data key, changes its list of key groups with `change`, and wraps the same
/// key for the new groups (with a new Shamir split when there are several).
fn change_groups(args: &FileArgs, change: impl FnOnce(&mut Vec<Vec<String>>) -> CmdResult<()>) -> CmdResult {
    let file = args.file.as_path();
    let format = Format::from_path(file);
    let mut encrypted = load(file, format)?;
    let mut groups = encrypted.metadata.recipients();
    change(&mut groups)?;
    let threshold = args.shamir_secret_sharing_threshold.unwrap_or(encrypted.metadata.shamir_threshold);
    if threshold > groups.len() {
        return Err(Failure::msg(format!(
            "removing this key group will make the Shamir threshold impossible to satisfy: Shamir threshold is {threshold}, but we only have {} key groups",
            groups.len()
        )));
    }
    if groups.is_empty() {
        return Err(Failure::msg(format!("{}: the last key group cannot be deleted", display(file))));
    }
    encrypted.update_keys(&identities(), &groups, threshold).map_err(|e| Failure::sops(&display(file), e))?;
    let out = encrypted.to_bytes().map_err(|e| Failure::sops(&display(file), e))?;
    write_result(file, args.in_place, &out)?;
    Ok(0)
}

fn write_result(file: &Path, in_place: bool, bytes: &[u8]) -> CmdResult<()> {
    if in_place {
        write_atomic(file, bytes)
    } else {
        write_stdout(bytes)
    }
}
