//! `secrets key generate|show|update`.

use clap::Subcommand;
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use age::secrecy::ExposeSecret;
use secrets_store::identity::{self, LocalKey};
use secrets_store::keyfile::python_json_objects;
use secrets_store::ops::{self, Ctx};
use secrets_store::rekey::RekeyOptions;

use crate::context::Context;
use crate::failure::{CmdResult, Failure};
use crate::output::{say, write_stdout};

#[derive(Subcommand, Debug)]
#[command(defer = true)] // arguments defined only when this command is parsed: see `cli::Command`
pub enum KeyCommand {
    /// Generate an age key in your key file, unless you already have one
    #[command(after_help = "Examples:\n  secrets key generate\n  secrets key generate --new   # another key, appended to the key file")]
    Generate {
        /// Generate a new key even if one exists (it is appended, never overwritten)
        #[arg(long)]
        new: bool,
    },
    /// Show your public keys and where they come from
    #[command(after_help = "Examples:\n  secrets key show\n  SOPS_AGE_KEY_FILE=keys.txt secrets key show")]
    Show,
    /// Re-encrypt every secret for exactly the members its links name
    #[command(after_help = "Examples:\n  secrets key update")]
    Update,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

pub fn run(ctx: &Context, cmd: KeyCommand) -> CmdResult {
    match cmd {
        KeyCommand::Generate { new } => generate(ctx, new),
        KeyCommand::Show => show(ctx),
        KeyCommand::Update => {
            let repo = ctx.repo()?;
            let _lock = ctx.lock(&repo)?;
            let identities = Context::identities();
            let progress = Context::progress();
            let op = Ctx { repo: &repo, identities: &identities, options: RekeyOptions::default(), progress: &progress };
            let outcome = ops::update_all(&op)?;
            ctx.report(&repo, &outcome, crate::context::Lost::Unknown);
            ctx.commit(&repo, &outcome.paths, "secrets: update with new keys")?;
            Ok(0)
        }
    }
}

fn local_keys() -> CmdResult<Vec<LocalKey>> {
    Ok(identity::local_keys(&env)?)
}

/// How clan names a key's type in its messages (`AGE key …`, `--age-key`).
fn type_name(key: &LocalKey) -> (String, &'static str) {
    let kind = key.key.kind.as_str();
    (kind.to_uppercase(), kind)
}

fn generate(ctx: &Context, new: bool) -> CmdResult {
    let existing = local_keys()?;
    let user = env("USER").filter(|u| !u.is_empty()).unwrap_or_else(|| "<username>".into());
    if !existing.is_empty() && !new {
        let repo = ctx.repo().ok();
        for key in &existing {
            let owner = repo.as_ref().and_then(|r| identity::find_user(r, std::slice::from_ref(key)).ok().flatten());
            let (kind, flag) = type_name(key);
            if let Some((name, _)) = owner {
                say!("{kind} key {} is already set and registered as user '{name}'", key.key);
            } else {
                say!("{kind} key {} is already set", key.key);
                say!("Add your {flag} public key to the repository with:");
                say!("secrets users add {user} --{flag}-key {}", key.key);
            }
        }
        return Ok(0);
    }
    let path = identity::key_file_for_generation(&env)
        .ok_or_else(|| Failure::msg("cannot tell where to write the key").hint("set SOPS_AGE_KEY_FILE or HOME"))?;
    let identity = age::x25519::Identity::generate();
    let public = identity.to_public().to_string();
    let secret = identity.to_string();
    append_key(&path, &public, secret.expose_secret())?;
    say!("Generated age private key at '{}' for your user.", path.display());
    say!("Please back it up on a secure location or you will lose access to your secrets.");
    say!("Generated new AGE key {public}");
    say!("Add your age public key to the repository with:");
    say!("secrets users add {user} --age-key {public}");
    Ok(0)
}

/// Appends a key to the identity file, never overwriting. The file is created 0600 (O_EXCL, so
/// never through a link) and missing folders above it 0700, whatever the umask. An existing file
/// must be a regular file of ours that only we can read; a link or a file others can read is
/// refused rather than filled with a private key.
fn append_key(path: &Path, public: &str, secret: &str) -> CmdResult<()> {
    let fail = |e: std::io::Error| Failure::msg(format!("{}: cannot write the key: {e}", path.display()));
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_private_dirs(parent).map_err(|e| Failure::msg(format!("{}: cannot create the folder: {e}", parent.display())))?;
        check_key_folders(parent)?;
    }
    let mut file = open_key_file(path)?;
    let needs_newline = ends_without_newline(&mut file).map_err(fail)?;
    let created = secrets_sops::timefmt::now_last_modified();
    let text = zeroize::Zeroizing::new(format!(
        "{}# created: {created}\n# public key: {public}\n{secret}\n",
        if needs_newline { "\n" } else { "" }
    ));
    file.write_all(text.as_bytes()).and_then(|()| file.sync_all()).map_err(fail)
}

/// Opens the key file for appending: a new one created 0600, or an existing one that passes
/// [`check_key_file`]. Links are never followed.
fn open_key_file(path: &Path) -> CmdResult<File> {
    let fail = |e: std::io::Error| Failure::msg(format!("{}: cannot write the key: {e}", path.display()));
    let mut create = OpenOptions::new();
    create.read(true).append(true).create_new(true).mode(0o600).custom_flags(libc::O_NOFOLLOW);
    let file = match create.open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let mut existing = OpenOptions::new();
            existing.read(true).append(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
            existing.open(path).map_err(|e| if e.raw_os_error() == Some(libc::ELOOP) { link_refused(path) } else { fail(e) })?
        }
        Err(e) => return Err(fail(e)),
    };
    // Checked on the open file, so the file cannot be swapped between the check and the write.
    let meta = file.metadata().map_err(fail)?;
    check_key_file(path, &meta)?;
    Ok(file)
}

fn link_refused(path: &Path) -> Failure {
    Failure::msg(format!("{}: the key file is a symbolic link; a private key is never written through a link", path.display()))
        .hint(format!("remove the link (`rm {}`) or point SOPS_AGE_KEY_FILE at the real file", path.display()))
}

/// A key file must be a regular file owned by this user that nobody else can read or write.
fn check_key_file(path: &Path, meta: &std::fs::Metadata) -> CmdResult<()> {
    if !meta.is_file() {
        return Err(Failure::msg(format!("{}: the key file is not a regular file", path.display()))
            .hint("point SOPS_AGE_KEY_FILE at a regular file, or remove what is there"));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(Failure::msg(format!(
            "{}: the key file can be read or written by others (mode {mode:04o}); a private key is never added to it",
            path.display()
        ))
        .hint(format!("make it private with `chmod 600 {}`, then run this again", path.display())));
    }
    if meta.uid() != crate::sys::signals::effective_uid() {
        return Err(Failure::msg(format!("{}: the key file belongs to another user", path.display()))
            .hint("use a key file of your own (set SOPS_AGE_KEY_FILE)"));
    }
    Ok(())
}

/// Every folder on the way to the key file, as written and with links resolved, must belong to
/// this user or root, and others must not be able to write to it unless it is sticky (`/tmp`):
/// otherwise another user could rename the key file away, or a link such as
/// `~/.config/sops/age` could steer the key into a folder anyone can read from.
fn check_key_folders(dir: &Path) -> CmdResult<()> {
    let fail = |e: std::io::Error| Failure::msg(format!("{}: cannot check the folder: {e}", dir.display()));
    let resolved = std::fs::canonicalize(dir).map_err(fail)?;
    let uid = crate::sys::signals::effective_uid();
    for folder in dir.ancestors().chain(resolved.ancestors()).filter(|p| !p.as_os_str().is_empty()) {
        let meta = std::fs::metadata(folder).map_err(fail)?;
        if let Some(why) = unsafe_folder(&meta, uid) {
            return Err(Failure::msg(format!("{}: {why}; a private key is never written below it", folder.display()))
                .hint("use a folder of your own that only you can write to (set SOPS_AGE_KEY_FILE)"));
        }
    }
    Ok(())
}

/// Why a folder on the way to a private key is unsafe, if it is.
fn unsafe_folder(meta: &std::fs::Metadata, uid: u32) -> Option<String> {
    let mode = meta.mode();
    if meta.uid() != uid && meta.uid() != 0 {
        Some(format!("the folder belongs to another user (uid {})", meta.uid()))
    } else if mode & 0o002 != 0 && mode & 0o1000 == 0 {
        Some(format!("anyone can write to the folder (mode {:04o}) and it is not sticky", mode & 0o7777))
    } else {
        None
    }
}

/// Whether the file has content whose last byte is not a newline.
fn ends_without_newline(file: &mut File) -> std::io::Result<bool> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(false);
    }
    file.seek(SeekFrom::Start(len - 1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}

/// Creates the missing folders of `dir`, each 0700 whatever the umask (clan's `~/.config/sops/age`
/// holds private keys; a 0777 `~/.config` would let anyone swap it). Existing folders are left
/// as they are.
fn create_private_dirs(dir: &Path) -> std::io::Result<()> {
    let mut missing = Vec::new();
    let mut current = Some(dir);
    while let Some(path) = current {
        if path.as_os_str().is_empty() || std::fs::symlink_metadata(path).is_ok() {
            break;
        }
        missing.push(path);
        current = path.parent();
    }
    for path in missing.into_iter().rev() {
        match DirBuilder::new().mode(0o700).create(path) {
            Ok(()) => std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// clan's `key show` output, with `username` the user of this repository whose `key.json` holds
/// the key (clan leaves it empty; outside a repository, or for a key nobody registered, it is).
fn show(ctx: &Context) -> CmdResult {
    let keys = identity::caller_keys(&env)?;
    if keys.is_empty() {
        return Err(Failure::msg("No public key found").hint("generate one with `secrets key generate`"));
    }
    let index = ctx.repo().ok().map(|repo| secrets_store::history::KeyIndex::from_repo(&repo));
    let users: Vec<String> = keys
        .iter()
        .map(|k| {
            let owners = index.as_ref().map_or(&[][..], |index| index.owners(&k.key.key));
            owners.iter().filter(|o| o.kind == secrets_store::Kind::User).map(|o| o.name.clone()).collect::<Vec<_>>().join(",")
        })
        .collect();
    let objects: Vec<Vec<(&str, &str)>> = keys
        .iter()
        .zip(&users)
        .map(|(k, user)| {
            vec![
                ("publickey", k.key.key.as_str()),
                ("source", k.source.as_str()),
                ("type", k.key.kind.as_str()),
                ("username", user.as_str()),
            ]
        })
        .collect();
    write_stdout(python_json_objects(&objects).as_bytes())?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_anyone_can_write_to_are_unsafe_unless_sticky() {
        let dir = tempfile::tempdir().unwrap();
        let uid = crate::sys::signals::effective_uid();
        for (mode, unsafe_) in [(0o700, false), (0o755, false), (0o777, true), (0o1777, false), (0o703, true)] {
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(mode)).unwrap();
            let meta = std::fs::metadata(dir.path()).unwrap();
            assert_eq!(unsafe_folder(&meta, uid).is_some(), unsafe_, "mode {mode:o}");
        }
        let meta = std::fs::metadata(dir.path()).unwrap();
        assert!(unsafe_folder(&meta, uid.wrapping_add(1)).is_some() || meta.uid() == 0, "another user's folder");
    }
}
