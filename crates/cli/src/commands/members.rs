//! `secrets users …` and `secrets machines …`.

use clap::{Args, Subcommand};
use std::io::Read;

use secrets_store::keyfile::{python_json_objects, KeyType, PublicKey};
use secrets_store::keyinput::parse_key_argument;
use secrets_store::ops::{self, Ctx};
use secrets_store::rekey::RekeyOptions;
use secrets_store::{names, Kind, StoreError};

use crate::context::{store_failure, Context, Lost};
use crate::exit;
use crate::failure::{CmdResult, Failure};
use crate::output::{say, write_stdout, write_text};

/// How keys are given to `add`, `add-key` and `remove-key`.
#[derive(Args, Debug, Clone)]
pub struct KeyArgs {
    /// An age key (age1…), ssh public key, age private key, or a file holding one
    #[arg(conflicts_with = "age_keys")]
    pub key: Option<String>,
    /// The same, as an option (repeatable)
    #[arg(long = "age-key", value_name = "KEY")]
    pub age_keys: Vec<String>,
    /// Read ssh-ed25519 public keys (e.g. `ssh-keyscan HOST` output) from stdin, or convert the
    /// given one, and store the age1 form that sops-nix machines decrypt with their host key
    #[arg(long)]
    pub ssh_to_age: bool,
    /// A PGP key's fingerprint (repeatable); secrets are encrypted to it with gpg
    #[arg(long = "pgp-key", value_name = "FINGERPRINT", conflicts_with_all = ["key", "age_keys", "ssh_to_age"])]
    pub pgp_keys: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum MemberCommand {
    /// List names
    #[command(after_help = "Examples:\n  secrets users list\n  secrets machines list --json")]
    List,
    /// Add one, with its key(s)
    #[command(
        after_help = "Examples:\n  secrets users add alice --age-key age1…\n  secrets machines add web1 age1…\n  ssh-keyscan -t ed25519 web1 | secrets machines add web1 --ssh-to-age"
    )]
    Add {
        /// The name
        name: String,
        #[command(flatten)]
        keys: KeyArgs,
        /// Replace the keys of an existing one (and re-encrypt its secrets)
        #[arg(short, long)]
        force: bool,
    },
    /// Show the keys
    #[command(after_help = "Examples:\n  secrets users get alice\n  secrets machines get web1")]
    Get {
        /// The name
        name: String,
    },
    /// Remove one: it leaves its groups and its secrets get new data keys
    #[command(after_help = "Examples:\n  secrets users remove bob\n  secrets machines remove web1")]
    Remove {
        /// The name
        name: String,
        /// Allow leaving a secret that no user can read
        #[arg(short, long)]
        force: bool,
    },
    /// Add key(s)
    #[command(
        after_help = "Examples:\n  secrets users add-key alice --age-key age1…\n  secrets users add-key alice ~/.config/sops/age/keys.txt"
    )]
    AddKey {
        /// The name
        name: String,
        #[command(flatten)]
        keys: KeyArgs,
    },
    /// Remove key(s)
    #[command(after_help = "Examples:\n  secrets users remove-key alice age1…")]
    RemoveKey {
        /// The name
        name: String,
        #[command(flatten)]
        keys: KeyArgs,
        /// Allow leaving a secret that no user can read
        #[arg(short, long)]
        force: bool,
    },
    /// Give access to a secret
    #[command(after_help = "Examples:\n  secrets users add-secret alice db-password\n  secrets machines add-secret web1 db-password")]
    AddSecret {
        /// The name
        name: String,
        /// The secret
        secret: String,
    },
    /// Take access to a secret away (its data key is rotated)
    #[command(after_help = "Examples:\n  secrets users remove-secret bob db-password\n  secrets machines remove-secret web1 db-password")]
    RemoveSecret {
        /// The name
        name: String,
        /// The secret
        secret: String,
        /// Allow leaving the secret with no user able to read it
        #[arg(short, long)]
        force: bool,
    },
}

pub fn run(ctx: &Context, kind: Kind, cmd: MemberCommand) -> CmdResult {
    let repo = ctx.repo_for_reading()?;
    let noun = kind.noun();
    let identities = Context::identities();
    let progress = Context::progress();
    let op =
        |force: bool| Ctx { repo: &repo, identities: &identities, options: RekeyOptions { force, no_rotate: false }, progress: &progress };
    let check = |name: &str| names::validate(kind, name).map_err(Failure::from);
    // The subcommands that change the repository hold the lock from before the membership is
    // read until after the commit (and not while their arguments or stdin are read).
    match cmd {
        MemberCommand::List => {
            let names = repo.list(kind)?;
            print_names(ctx, &names)?;
        }
        MemberCommand::Add { name, keys, force } => {
            check(&name)?;
            let keys = collect_keys(&keys, kind)?;
            warn_raw_ssh(kind, &name, &keys);
            let _lock = ctx.lock(&repo)?;
            let outcome = ops::add_member(&op(false), kind, &name, &keys, force)?;
            ctx.report(&repo, &outcome, Lost::KeysOf { kind, name: &name });
            ctx.commit(&repo, &outcome.paths, &format!("secrets: add {noun} {name}"))?;
        }
        MemberCommand::Get { name } => {
            check(&name)?;
            let keys = repo.read_keys(kind, &name)?;
            refuse_private_keys(&repo.key_file(kind, &name), &keys)?;
            if ctx.global.json || kind == Kind::User {
                let objects: Vec<Vec<(&str, &str)>> = keys
                    .iter()
                    .map(|k| {
                        vec![("publickey", k.key.as_str()), ("source", "key_file"), ("type", k.kind.as_str()), ("username", name.as_str())]
                    })
                    .collect();
                write_stdout(python_json_objects(&objects).as_bytes())?;
            } else {
                match keys.as_slice() {
                    [key] => write_stdout(format!("{}\n", names::shown(&key.key)).as_bytes())?,
                    _ => return Err(Failure::msg(format!("Expected exactly one key but {} were found", keys.len()))),
                }
            }
        }
        MemberCommand::Remove { name, force } => {
            check(&name)?;
            let _lock = ctx.lock(&repo)?;
            let outcome = ops::remove_member(&op(force), kind, &name).map_err(|e| match e {
                // clan's wording for removing someone unknown.
                StoreError::NotFound { path, .. } => {
                    Failure::msg(format!("{name} not found in {}", path.parent().unwrap_or(&path).display()))
                        .hint(format!("see `secrets {noun}s list`"))
                }
                other => store_failure(other),
            })?;
            ctx.report(&repo, &outcome, Lost::Member { kind, name: &name });
            warn_shared_keys(kind, &name, &outcome.shared_keys);
            ctx.commit(&repo, &outcome.paths, &format!("secrets: remove {noun} {name}"))?;
        }
        MemberCommand::AddKey { name, keys } => {
            check(&name)?;
            let keys = collect_keys(&keys, kind)?;
            warn_raw_ssh(kind, &name, &keys);
            let _lock = ctx.lock(&repo)?;
            let outcome = ops::change_keys(&op(false), kind, &name, &keys, &[])?;
            ctx.report(&repo, &outcome, Lost::Unknown);
            ctx.commit(&repo, &outcome.paths, &format!("secrets: add key(s) for {noun} {name}"))?;
        }
        MemberCommand::RemoveKey { name, keys, force } => {
            check(&name)?;
            let keys = collect_keys(&keys, kind)?;
            let _lock = ctx.lock(&repo)?;
            let outcome = ops::change_keys(&op(force), kind, &name, &[], &keys)?;
            ctx.report(&repo, &outcome, Lost::KeysOf { kind, name: &name });
            ctx.commit(&repo, &outcome.paths, &format!("secrets: remove key(s) for {noun} {name}"))?;
        }
        MemberCommand::AddSecret { name, secret } => {
            check(&name)?;
            let _lock = ctx.lock(&repo)?;
            let outcome = ops::grant(&op(false), &secret, kind, &name)?;
            ctx.report(&repo, &outcome, Lost::Unknown);
            let subject = match kind {
                Kind::Machine => format!("vars: add {name} to secret sops/secrets/{secret}"),
                _ => format!("secrets: add {noun} {name} to {secret}"),
            };
            ctx.commit(&repo, &outcome.paths, &subject)?;
        }
        MemberCommand::RemoveSecret { name, secret, force } => {
            check(&name)?;
            let _lock = ctx.lock(&repo)?;
            let outcome = ops::revoke(&op(force), &secret, kind, &name)?;
            ctx.report(&repo, &outcome, Lost::Member { kind, name: &name });
            let subject = match kind {
                Kind::Machine => format!("vars: remove {name} from secret {secret}"),
                _ => format!("secrets: remove {noun} {name} from {secret}"),
            };
            ctx.commit(&repo, &outcome.paths, &subject)?;
        }
    }
    Ok(0)
}

/// Prints names one per line, or as a JSON array.
pub fn print_names(ctx: &Context, names: &[String]) -> CmdResult<()> {
    if ctx.global.json {
        let json = serde_json::to_string(names).map_err(|e| Failure::msg(e.to_string()))?;
        write_stdout(format!("{json}\n").as_bytes())
    } else {
        let text: String = names.iter().flat_map(|n| [n.as_str(), "\n"]).collect();
        write_text(&text)
    }
}

/// The keys given as arguments, or read as ssh public keys from stdin with `--ssh-to-age`.
/// A key.json is untrusted and may hold a private key committed by mistake (`secrets check`
/// reports it masked). `get` prints keys verbatim for scripts, so it refuses rather than
/// repeating the private key on a terminal, in a log or in a CI transcript.
fn refuse_private_keys(file: &std::path::Path, keys: &[PublicKey]) -> CmdResult<()> {
    if keys.iter().any(|k| secrets_store::keyfile::looks_private(&k.key)) {
        return Err(Failure::msg(format!("{}: holds a private key where a public key belongs; it is not shown", file.display()))
            .hint("replace it with the public key, treat the private key as leaked (generate a new one) and run `secrets check`"));
    }
    Ok(())
}

fn collect_keys(args: &KeyArgs, kind: Kind) -> CmdResult<Vec<PublicKey>> {
    if !args.pgp_keys.is_empty() {
        return pgp_keys(&args.pgp_keys, kind);
    }
    let mut inputs: Vec<String> = args.key.iter().chain(&args.age_keys).cloned().collect();
    if args.ssh_to_age && inputs.is_empty() {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Failure::new(exit::COULD_NOT_READ_INPUT_FILE, format!("cannot read standard input: {e}")))?;
        inputs = text.lines().filter(|l| l.contains("ssh-ed25519 ") && !l.trim_start().starts_with('#')).map(str::to_string).collect();
        if inputs.is_empty() {
            return Err(
                Failure::new(exit::USAGE, "no ssh-ed25519 public key on standard input").hint("pipe `ssh-keyscan -t ed25519 HOST` into it")
            );
        }
    }
    if inputs.is_empty() {
        return Err(Failure::new(
            exit::USAGE,
            format!("give the {}'s key: an age key (age1…), an ssh public key, an age private key or a file", kind.noun()),
        )
        .hint("for example: --age-key age1…"));
    }
    let mut keys = Vec::new();
    for input in &inputs {
        let key = if args.ssh_to_age {
            let line = input.trim();
            let at = line.find("ssh-ed25519 ").ok_or_else(|| Failure::msg("--ssh-to-age needs ssh-ed25519 public keys"))?;
            let age = secrets_sops::keys::ssh_to_age::ssh_ed25519_public_to_age(&line[at..]).map_err(|e| Failure::msg(e.to_string()))?;
            PublicKey::age(age)
        } else {
            parse_key_argument(input).map_err(|e| Failure::new(exit::USAGE, e))?
        };
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    if kind == Kind::Machine && keys.len() != 1 {
        return Err(Failure::new(exit::USAGE, format!("a machine has exactly one key; {} were given", keys.len())));
    }
    Ok(keys)
}

/// `--pgp-key`: fingerprints, stored without spaces as `type: pgp` entries (clan's `key.json`).
fn pgp_keys(fingerprints: &[String], kind: Kind) -> CmdResult<Vec<PublicKey>> {
    let mut keys = Vec::new();
    for given in fingerprints {
        if !secrets_sops::keys::is_pgp_fingerprint(given) {
            return Err(Failure::new(exit::USAGE, format!("{} is not a PGP fingerprint", names::shown(given)))
                .hint("give the key's fingerprint: `gpg -k --fingerprint --fingerprint`, spaces removed"));
        }
        let key = PublicKey { key: secrets_sops::keys::normalize_pgp_fingerprint(given), kind: KeyType::Pgp };
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    if kind == Kind::Machine && keys.len() != 1 {
        return Err(Failure::new(exit::USAGE, format!("a machine has exactly one key; {} were given", keys.len())));
    }
    Ok(keys)
}

fn warn_raw_ssh(kind: Kind, name: &str, keys: &[PublicKey]) {
    if kind == Kind::Machine && keys.iter().any(PublicKey::is_ssh) {
        say!(
            "warning: machine `{name}` has a raw ssh key; sops-nix cannot decrypt for it on the machine. \
             Store its age form instead: ssh-keyscan -t ed25519 HOST | secrets machines add -f {name} --ssh-to-age"
        );
    }
}

/// After a removal: a key the removed member shares with another user or machine is still a
/// recipient of everything that holder reads, so the removal did not revoke it there.
fn warn_shared_keys(kind: Kind, name: &str, shared: &[ops::SharedKey]) {
    for entry in shared {
        let (holder, key) = (names::shown(&entry.holder), names::shown(&entry.key));
        say!(
            "warning: the key {key} of removed {} {} is also the key of {} {holder}: it still decrypts every secret {holder} can read. If {} must lose access, give {holder} a key of its own (`secrets {}s add-key`, then `remove-key`)",
            kind.noun(),
            names::shown(name),
            entry.kind.noun(),
            names::shown(name),
            entry.kind.noun(),
        );
    }
}
