//! `secrets key generate|show|update`.

use std::io::Write;

use age::secrecy::ExposeSecret;
use secrets_store::identity::{self, LocalKey};
use secrets_store::keyfile::python_json_objects;
use secrets_store::ops::{self, Ctx};
use secrets_store::rekey::RekeyOptions;

use crate::cli::KeyCommand;
use crate::context::{store_failure, Context};
use crate::failure::{CmdResult, Failure};
use crate::io::write_stdout;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

pub fn run(ctx: &Context, cmd: KeyCommand) -> CmdResult {
    match cmd {
        KeyCommand::Generate { new } => generate(ctx, new),
        KeyCommand::Show => show(),
        KeyCommand::Update => {
            let repo = ctx.repo()?;
            let _lock = ctx.lock(&repo)?;
            let identities = ctx.identities();
            let progress = ctx.progress();
            let op = Ctx { repo: &repo, identities: &identities, options: RekeyOptions::default(), progress: &progress };
            let outcome = ops::update_all(&op).map_err(store_failure)?;
            ctx.report(&outcome);
            ctx.commit(&repo, &outcome.paths, "secrets: update with new keys")?;
            Ok(0)
        }
    }
}

fn local_keys() -> CmdResult<Vec<LocalKey>> {
    identity::local_keys(&env).map_err(store_failure)
}

fn generate(ctx: &Context, new: bool) -> CmdResult {
    let existing = local_keys()?;
    let user = env("USER").filter(|u| !u.is_empty()).unwrap_or_else(|| "<username>".into());
    if !existing.is_empty() && !new {
        let repo = ctx.repo().ok();
        for key in &existing {
            let owner = repo.as_ref().and_then(|r| identity::find_user(r, std::slice::from_ref(key)).ok().flatten());
            match owner {
                Some((name, _)) => eprintln!("AGE key {} is already set and registered as user '{name}'", key.key),
                None => {
                    eprintln!("AGE key {} is already set", key.key);
                    eprintln!("Add your age public key to the repository with:");
                    eprintln!("secrets users add {user} --age-key {}", key.key);
                }
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
    eprintln!("Generated age private key at '{}' for your user.", path.display());
    eprintln!("Please back it up on a secure location or you will lose access to your secrets.");
    eprintln!("Generated new AGE key {public}");
    eprintln!("Add your age public key to the repository with:");
    eprintln!("secrets users add {user} --age-key {public}");
    Ok(0)
}

/// Appends a key to the identity file (created 0600 in a 0700 folder), never overwriting.
fn append_key(path: &std::path::Path, public: &str, secret: &str) -> CmdResult<()> {
    let fail = |e: std::io::Error| Failure::msg(format!("{}: cannot write the key: {e}", path.display()));
    if let Some(parent) = path.parent() {
        if !parent.exists() {
            std::fs::create_dir_all(parent).map_err(fail)?;
            set_mode(parent, 0o700).map_err(fail)?;
        }
    }
    let needs_newline = std::fs::read(path).map(|b| !b.is_empty() && !b.ends_with(b"\n")).unwrap_or(false);
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(fail)?;
    let created = secrets_sops::timefmt::now_last_modified();
    let text = zeroize::Zeroizing::new(format!(
        "{}# created: {created}\n# public key: {public}\n{secret}\n",
        if needs_newline { "\n" } else { "" }
    ));
    file.write_all(text.as_bytes()).and_then(|_| file.sync_all()).map_err(fail)
}

#[cfg(unix)]
fn set_mode(path: &std::path::Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &std::path::Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

fn show() -> CmdResult {
    let keys = local_keys()?;
    if keys.is_empty() {
        return Err(Failure::msg("No public key found").hint("generate one with `secrets key generate`"));
    }
    let objects: Vec<Vec<(&str, &str)>> = keys
        .iter()
        .map(|k| vec![("publickey", k.key.key.as_str()), ("source", k.source.as_str()), ("type", k.key.kind.as_str()), ("username", "")])
        .collect();
    write_stdout(python_json_objects(&objects).as_bytes())?;
    Ok(0)
}
