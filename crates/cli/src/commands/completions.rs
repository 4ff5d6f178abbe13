//! `secrets completions SHELL`: shell completion that asks `secrets` itself, so that it
//! completes the repository's user, machine, group and secret names as well as the commands
//! and flags (clap_complete's dynamic engine, as `clan` completes names from the flake).
//!
//! The script it prints registers `secrets` as its own completer: on each Tab the shell runs
//! `SECRETS_COMPLETE=<shell> secrets -- <words>`, and [`complete_if_asked`], called before
//! the command line is parsed, answers from the clap definitions ([`command`]) and from the
//! repository found as every command finds it (`--repo` aside: `SECRETS_REPO`, `CLAN_DIR`, the
//! current directory). A name that cannot be read is not offered; nothing is ever decrypted.

use std::ffi::OsStr;
use std::path::PathBuf;

use clap::Args;
use clap_complete::engine::{ArgValueCompleter, CompletionCandidate};
use clap_complete::env::{CompleteEnv, Shells};
use secrets_store::Kind;

use crate::cli::{Cli, GlobalArgs};
use crate::context::Context;
use crate::failure::{CmdResult, Failure};
use crate::output::write_stdout;

/// The variable the registered script sets to ask for completions. Not clap's default
/// (`COMPLETE`): a variable of that common name in someone's environment would turn every
/// `secrets` command into a completion request.
const VAR: &str = "SECRETS_COMPLETE";

/// `secrets completions`.
#[derive(Args, Debug)]
#[command(
    after_help = "Completes commands, flags, and the names of users, machines, groups and secrets of the repository you are in.\n\nExamples, to install it once (then open a new shell):\n  secrets completions bash > ~/.local/share/bash-completion/completions/secrets\n  secrets completions zsh > \"${fpath[1]}/_secrets\"\n  secrets completions fish > ~/.config/fish/completions/secrets.fish"
)]
pub struct CompletionsArgs {
    /// The shell to complete for
    pub shell: clap_complete::Shell,
}

pub fn run(args: &CompletionsArgs) -> CmdResult {
    let script = registration(&args.shell.to_string(), VAR, "secrets")?;
    // Written in one piece through the CLI's stdout writer, which ends quietly when the reader
    // goes away (`secrets completions zsh | head`).
    write_stdout(&script)?;
    Ok(0)
}

/// The script `shell` runs to register completion for the command word `name`: on each Tab it
/// runs this program with `var` set, which [`complete_if_asked`] answers. A shell clap_complete
/// has no script for is a failure.
pub fn registration(shell: &str, var: &str, name: &str) -> CmdResult<Vec<u8>> {
    let shells = Shells::builtins();
    let completer = shells.completer(shell).ok_or_else(|| Failure::msg(format!("no completion for {shell}")))?;
    let mut script = Vec::new();
    completer
        .write_registration(var, name, name, &completer_program(), &mut script)
        .map_err(|e| Failure::msg(format!("cannot write the completion script: {e}")))?;
    Ok(script)
}

/// Answers a completion request and exits, when a shell's script made one (`SECRETS_COMPLETE`
/// set, or the `secrets sops completion` script's variable); otherwise returns at once, having
/// built nothing.
pub fn complete_if_asked() {
    CompleteEnv::with_factory(command).var(VAR).complete();
    super::sops::complete_if_asked();
}

/// The program the script runs: `secrets` when that is this program on PATH, else this
/// program's path (a build run from its folder).
fn completer_program() -> String {
    let exe = std::env::current_exe().ok().and_then(|p| p.canonicalize().ok());
    let on_path = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|p| p.join("secrets")).find(|p| p.is_file()))
        .and_then(|p| p.canonicalize().ok());
    match exe {
        Some(exe) if on_path.as_ref() != Some(&exe) => exe.to_string_lossy().into_owned(),
        _ => "secrets".to_string(),
    }
}

/// The command tree with a completer of names on every argument that takes one.
pub fn command() -> clap::Command {
    with_names(crate::cli::defined::<Cli>(), &[])
}

/// `command` and its subcommands (at `path`), their name arguments given completers.
fn with_names(mut command: clap::Command, path: &[&str]) -> clap::Command {
    // `mut_arg` puts the argument last: positional ones are given their place explicitly, all
    // of them in their order, so that none moves before another.
    let positionals: Vec<String> = command.get_positionals().map(|a| a.get_id().to_string()).collect();
    let ids: Vec<String> = command.get_arguments().filter(|a| !a.is_positional()).map(|a| a.get_id().to_string()).collect();
    for (index, id) in positionals.into_iter().enumerate() {
        let kinds = kinds_named(path, &id);
        command = command.mut_arg(id, |arg| {
            let arg = arg.index(index + 1);
            if kinds.is_empty() {
                arg
            } else {
                arg.add(ArgValueCompleter::new(move |current: &OsStr| names(&kinds, current)))
            }
        });
    }
    for id in ids {
        let kinds = kinds_named(path, &id);
        if !kinds.is_empty() {
            command = command.mut_arg(id, |arg| arg.add(ArgValueCompleter::new(move |current: &OsStr| names(&kinds, current))));
        }
    }
    let subcommands: Vec<String> = command.get_subcommands().map(|c| c.get_name().to_string()).collect();
    for name in subcommands {
        let mut inner = path.to_vec();
        inner.push(&name);
        let inner: Vec<&str> = inner;
        command = command.mut_subcommand(&name, |sub| with_names(sub, &inner));
    }
    command
}

/// Which names the argument `id` of the command at `path` takes: by the argument's name
/// (`secret`, `group`, `--user`, …), and for `users NAME`/`machines NAME` by the command. A
/// new name (`users add`, `rename`'s new name) is not completed; `set` completes existing
/// secrets, whose values it changes.
fn kinds_named(path: &[&str], id: &str) -> Vec<Kind> {
    let family = path.first().copied().unwrap_or("");
    let leaf = path.last().copied().unwrap_or("");
    match id {
        "secret" => vec![Kind::Secret],
        "group" | "groups" if family != "sops" => vec![Kind::Group],
        "user" | "users" => vec![Kind::User],
        "machine" | "machines" if family != "sops" => vec![Kind::Machine],
        "name" if family == "users" && leaf != "add" => vec![Kind::User],
        "name" if family == "machines" && leaf != "add" => vec![Kind::Machine],
        "member" => vec![Kind::User, Kind::Machine],
        "readable_by" => vec![Kind::User, Kind::Machine, Kind::Group],
        _ => Vec::new(),
    }
}

/// The names of `kinds` in the repository that start with `current`.
fn names(kinds: &[Kind], current: &OsStr) -> Vec<CompletionCandidate> {
    let current = current.to_string_lossy();
    let global =
        GlobalArgs { repo: std::env::var_os("SECRETS_REPO").filter(|v| !v.is_empty()).map(PathBuf::from), ..GlobalArgs::default() };
    let context = Context { global, change: std::cell::RefCell::default() };
    let Ok(repo) = context.repo() else { return Vec::new() };
    let mut found: Vec<CompletionCandidate> = Vec::new();
    for kind in kinds {
        for name in repo.list(*kind).unwrap_or_default() {
            if name.starts_with(current.as_ref()) {
                found.push(CompletionCandidate::new(name).help(Some(kind.noun().into())));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_arguments_are_found_by_command_and_name() {
        assert_eq!(kinds_named(&["get"], "secret"), [Kind::Secret]);
        assert_eq!(kinds_named(&["set"], "secret"), [Kind::Secret], "set also changes existing ones");
        assert_eq!(kinds_named(&["set"], "groups"), [Kind::Group]);
        assert_eq!(kinds_named(&["users", "remove"], "name"), [Kind::User]);
        assert_eq!(kinds_named(&["machines", "add-secret"], "name"), [Kind::Machine]);
        assert_eq!(kinds_named(&["users", "add"], "name"), Vec::<Kind>::new(), "a new user's name");
        assert_eq!(kinds_named(&["groups", "add-user"], "user"), [Kind::User]);
        assert_eq!(kinds_named(&["rename"], "new_name"), Vec::<Kind>::new());
    }

    #[test]
    fn the_tree_builds_with_completers() {
        command().debug_assert();
    }
}
