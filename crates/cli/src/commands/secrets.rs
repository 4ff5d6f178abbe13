//! `secrets set|get|list|remove|rename`: the secrets themselves.

use base64::Engine as _;
use clap::Args;
use std::io::{IsTerminal, Read};

use secrets_store::identity;
use secrets_store::ops::{self, Ctx};
use secrets_store::rekey::RekeyOptions;
use secrets_store::{Kind, Repo, StoreError};
use zeroize::Zeroizing;

use crate::commands::members::print_names;
use crate::context::{store_failure, Context};
use crate::exit;
use crate::failure::{CmdResult, Failure};
use crate::output::{note, say, write_stdout};

/// Who a secret is (also) encrypted for.
#[derive(Args, Debug, Clone, Default)]
pub struct MemberArgs {
    /// Encrypt for this user too (repeatable)
    #[arg(long = "user", value_name = "USER")]
    pub users: Vec<String>,
    /// Encrypt for this machine too (repeatable)
    #[arg(long = "machine", value_name = "MACHINE")]
    pub machines: Vec<String>,
    /// Encrypt for this group too (repeatable)
    #[arg(long = "group", value_name = "GROUP")]
    pub groups: Vec<String>,
}

/// `secrets set`.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  printf %s \"$TOKEN\" | secrets set api-token --machine web1\n  secrets set db-password --group admins   # prompts for the value on a terminal\n  secrets set --edit db-password"
)]
pub struct SetArgs {
    /// The secret's name
    pub secret: String,
    #[command(flatten)]
    pub members: MemberArgs,
    /// Edit the value in $EDITOR (a private temporary file, removed afterwards)
    #[arg(short, long)]
    pub edit: bool,
    /// Allow a secret that no user can read (machines only)
    #[arg(short, long)]
    pub force: bool,
    /// Accept an empty value from standard input (refused otherwise: an unset variable piped in)
    #[arg(long)]
    pub allow_empty: bool,
}

/// `secrets edit`.
#[derive(Args, Debug)]
#[command(
    after_help = "The value is decrypted into a private in-memory file for $SOPS_EDITOR, else $EDITOR, else vi; it is encrypted again only when it changed, for the same readers.\n\nExamples:\n  secrets edit db-password\n  EDITOR=nano secrets edit api-token"
)]
pub struct EditArgs {
    /// The secret's name
    pub secret: String,
}

/// `secrets get`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  secrets get db-password\n  secrets get tls-key > key.pem")]
pub struct GetArgs {
    /// The secret's name
    pub secret: String,
}

/// `secrets list`.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  secrets list\n  secrets list db   # the names containing `db`\n  secrets list --long\n  secrets list --readable-by group:admins"
)]
pub struct ListArgs {
    /// A substring of the names to show
    pub pattern: Option<String>,
    /// Also show when each secret was created and last changed (from git history)
    #[arg(short, long)]
    pub long: bool,
    /// Only the secrets this member can read, directly or through a group: NAME, or
    /// user:NAME, machine:NAME, group:NAME when the name is not unique
    #[arg(long, value_name = "MEMBER")]
    pub readable_by: Option<String>,
}

/// `secrets remove`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  secrets remove db-password")]
pub struct RemoveArgs {
    /// The secret's name
    pub secret: String,
}

/// `secrets rename`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  secrets rename db-password postgres-password")]
pub struct RenameArgs {
    /// The current name
    pub secret: String,
    /// The new name
    pub new_name: String,
}

/// The members a new or updated secret is linked to: the ones named, plus the caller (clan
/// always links the user who sets a secret, so its creator can read it).
pub fn members_with_caller(repo: &Repo, given: &MemberArgs) -> CmdResult<Vec<(Kind, String)>> {
    let mut members: Vec<(Kind, String)> = Vec::new();
    members.extend(given.users.iter().map(|u| (Kind::User, u.clone())));
    members.extend(given.machines.iter().map(|m| (Kind::Machine, m.clone())));
    members.extend(given.groups.iter().map(|g| (Kind::Group, g.clone())));
    let caller = caller(repo)?;
    if !members.contains(&(Kind::User, caller.clone())) {
        members.push((Kind::User, caller));
    }
    Ok(members)
}

/// The user whose key is on this machine.
pub fn caller(repo: &Repo) -> CmdResult<String> {
    let local = identity::caller_keys(&|n| std::env::var(n).ok())?;
    if local.is_empty() {
        return Err(Failure::msg("No SOPS key found. Please generate one with `secrets key generate`."));
    }
    if let Some((user, _)) = identity::find_user(repo, &local)? {
        Ok(user)
    } else {
        let keys: Vec<String> = local.iter().map(|k| format!("- {}: {}", k.key.kind.as_str(), k.key)).collect();
        Err(Failure::msg(format!(
            "We could not figure out which Clan secrets user you are with the SOPS keys we found:\n{}",
            keys.join("\n")
        ))
        .hint("add yourself with `secrets users add NAME --age-key <your public key>`"))
    }
}

pub fn set(ctx: &Context, args: &SetArgs) -> CmdResult {
    let (name, given, edit, force) = (args.secret.as_str(), &args.members, args.edit, args.force);
    let repo = ctx.repo()?;
    let secret = repo.secret(name)?;
    let members = members_with_caller(&repo, given)?;
    let value = if let Some(v) = read_value(edit, args.allow_empty)? {
        v
    } else {
        // The keys are not held while the editor runs: they are loaded again afterwards.
        let current =
            if repo.exists(Kind::Secret, name) { Some(ops::decrypt_secret(&repo, &secret, &Context::identities())?) } else { None };
        if let Some(v) = crate::editor::edit(current.as_ref().map_or(b"", |v| v.as_slice()))? {
            v
        } else {
            note!("{}: unchanged", secrets_store::names::shown(name));
            return Ok(0);
        }
    };
    let identities = Context::identities();
    let progress = Context::progress();
    let op = Ctx { repo: &repo, identities: &identities, options: RekeyOptions { force, no_rotate: false }, progress: &progress };
    let _lock = ctx.lock(&repo)?;
    let outcome = ops::set_secret(&op, name, &value, &members)?;
    ctx.commit(&repo, &outcome.paths, &format!("secrets: update {name}"))?;
    Ok(0)
}

/// `secrets edit`: the value of an existing secret in the editor, as `sops edit` opens a file;
/// encrypted again, for the readers its links name now, only when it changed.
pub fn edit(ctx: &Context, name: &str) -> CmdResult {
    let repo = ctx.repo()?;
    let secret = repo.secret(name)?;
    if !repo.exists(Kind::Secret, name) {
        return Err(Failure::msg(format!("Secret '{}' does not exist", secrets_store::names::shown(name)))
            .hint(format!("create it with `secrets set {}`", secrets_store::names::shown(name))));
    }
    let current = ops::decrypt_secret(&repo, &secret, &Context::identities())?;
    // The keys are not held while the editor runs: they are loaded again afterwards.
    let Some(value) = crate::editor::edit(&current)? else {
        note!("{}: unchanged", secrets_store::names::shown(name));
        return Ok(0);
    };
    drop(current);
    let identities = Context::identities();
    let progress = Context::progress();
    let op = Ctx { repo: &repo, identities: &identities, options: RekeyOptions::default(), progress: &progress };
    let _lock = ctx.lock(&repo)?;
    let outcome = ops::set_secret(&op, name, &value, &[])?;
    ctx.commit(&repo, &outcome.paths, &format!("secrets: update {name}"))?;
    Ok(0)
}

/// The value to set: `None` means "open the editor".
fn read_value(edit: bool, allow_empty: bool) -> CmdResult<Option<Zeroizing<Vec<u8>>>> {
    if edit {
        return Ok(None);
    }
    if let Some(value) = std::env::var_os("SOPS_NIX_SECRET").filter(|v| !v.is_empty()) {
        return Ok(Some(Zeroizing::new(value.into_encoded_bytes())));
    }
    if std::io::stdin().is_terminal() && crate::output::stdout_is_terminal() {
        let typed = Zeroizing::new(
            rpassword::prompt_password("Paste your secret: ").map_err(|e| Failure::msg(format!("cannot read the secret: {e}")))?,
        );
        return Ok(if typed.is_empty() { None } else { Some(Zeroizing::new(typed.as_bytes().to_vec())) });
    }
    let mut buffer = Zeroizing::new(Vec::new());
    std::io::stdin()
        .read_to_end(&mut buffer)
        .map_err(|e| Failure::new(exit::COULD_NOT_READ_INPUT_FILE, format!("cannot read standard input: {e}")))?;
    if buffer.is_empty() && !allow_empty {
        // `printf %s "$UNSET" | secrets set x` would store nothing, silently.
        return Err(Failure::msg("the value read from standard input is empty; nothing was changed")
            .hint("pipe the value in, or pass --allow-empty to store an empty secret"));
    }
    Ok(Some(buffer))
}

pub fn get(ctx: &Context, name: &str) -> CmdResult {
    let repo = ctx.repo_for_reading()?;
    let value = ops::get_secret(&repo, &Context::identities(), name).map_err(|e| match e {
        // clan names the missing secret by its path here.
        StoreError::NotFound { path, .. } => Failure::msg(format!("Secret '{}' does not exist", path.display())).hint("see `secrets list`"),
        other => store_failure(other),
    })?;
    if ctx.global.json {
        // The value as a JSON string when it is text, else in base64: `get` is binary-safe.
        let json = match std::str::from_utf8(&value) {
            Ok(text) => serde_json::json!({"name": name, "value": text}),
            Err(_) => serde_json::json!({"name": name, "value_base64": base64::engine::general_purpose::STANDARD.encode(&value)}),
        };
        let text = zeroize::Zeroizing::new(serde_json::to_string_pretty(&json).map_err(|e| Failure::msg(e.to_string()))? + "\n");
        write_stdout(text.as_bytes())?;
        return Ok(0);
    }
    write_stdout(&value)?;
    Ok(0)
}

pub fn list(ctx: &Context, args: &ListArgs) -> CmdResult {
    let (pattern, long) = (args.pattern.as_deref(), args.long);
    let repo = ctx.repo_for_reading()?;
    let (all, unnamed) = repo.list_and_count_unnamed(Kind::Secret)?;
    let mut names: Vec<String> = all.into_iter().filter(|n| pattern.is_none_or(|p| n.contains(p))).collect();
    if let Some(member) = &args.readable_by {
        let (kind, name) = member_named(&repo, member)?;
        let readable: Vec<String> = repo.secrets_referencing(kind, &name)?.into_iter().map(|s| s.name).collect();
        names.retain(|n| readable.contains(n));
    }
    if long {
        return crate::commands::log::print_long(ctx, &repo, &names);
    }
    print_names(ctx, &names)?;
    // clan creates such names (`clan secrets rename x .hidden`) and re-keys them; so do we, but
    // a name that hides in `ls` deserves a word.
    for name in names.iter().filter(|n| secrets_store::names::is_hidden_secret(n)) {
        say!(
            "note: secret `{name}` starts with a dot: it is listed and re-keyed like the others, but secrets does not create such names; `secrets rename {name} {}` gives it a visible one",
            name.trim_start_matches('.')
        );
    }
    // clan leaves such folders out silently; they are still secrets that re-keys reach.
    if unnamed > 0 {
        let (count, noun) = if unnamed == 1 { ("one".to_string(), "folder") } else { (unnamed.to_string(), "folders") };
        say!("note: {count} {noun} under sops/secrets/ with a name no command can take not listed; `secrets check` names them");
    }
    Ok(0)
}

/// The member `--readable-by` names: `user:NAME`, `machine:NAME`, `group:NAME`, or a NAME
/// that exactly one kind of member has.
fn member_named(repo: &Repo, text: &str) -> CmdResult<(Kind, String)> {
    let kinds = [Kind::User, Kind::Machine, Kind::Group];
    if let Some((prefix, name)) = text.split_once(':') {
        if let Some(kind) = kinds.into_iter().find(|k| k.noun() == prefix) {
            secrets_store::names::validate(kind, name)?;
            if !repo.exists(kind, name) {
                return Err(store_failure(StoreError::NotFound { kind, name: name.to_string(), path: repo.member_dir(kind, name) }));
            }
            return Ok((kind, name.to_string()));
        }
    }
    let found: Vec<Kind> =
        kinds.into_iter().filter(|k| secrets_store::names::validate(*k, text).is_ok() && repo.exists(*k, text)).collect();
    match found.as_slice() {
        [kind] => Ok((*kind, text.to_string())),
        [] => Err(Failure::msg(format!("no user, machine or group named `{}`", secrets_store::names::shown(text)))
            .hint("see `secrets users list`, `secrets machines list` and `secrets groups list`")),
        several => {
            let choices: Vec<String> = several.iter().map(|k| format!("{}:{}", k.noun(), secrets_store::names::shown(text))).collect();
            Err(Failure::new(exit::USAGE, format!("`{}` names more than one member", secrets_store::names::shown(text)))
                .hint(format!("say which: {}", choices.join(", "))))
        }
    }
}

pub fn remove(ctx: &Context, name: &str) -> CmdResult {
    let repo = ctx.repo()?;
    let _lock = ctx.lock(&repo)?;
    let outcome = ops::remove_secret(&repo, name)?;
    ctx.commit(&repo, &outcome.paths, &format!("secrets: remove {name}"))?;
    Ok(0)
}

pub fn rename(ctx: &Context, old: &str, new: &str) -> CmdResult {
    let repo = ctx.repo()?;
    let _lock = ctx.lock(&repo)?;
    let outcome = ops::rename_secret(&repo, old, new)?;
    ctx.commit(&repo, &outcome.paths, &format!("secrets: rename {old} to {new}"))?;
    Ok(0)
}
