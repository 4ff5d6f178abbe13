//! The command line's top: the program, its global flags and the list of commands. Each command's
//! arguments live next to the code that runs it (`commands/<name>.rs`), as jj lays its commands out.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::builder::{Resettable, StyledStr};
use clap::error::ErrorKind;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::commands::{
    access, check, completions, credentials, exec, export, gitdrivers, groups, import, install, key, log, man, members, secrets, sops,
    whoami,
};

const EXAMPLES: &str = "\
Examples:
  secrets key generate
  secrets users add alice --age-key age1…
  secrets machines add web1 age1…
  secrets groups add-user admins alice
  printf %s \"$DB_PASSWORD\" | secrets set db-password --machine web1 --group admins
  secrets get db-password
  secrets sops decrypt secrets.enc.yaml
  secrets completions bash > /etc/bash_completion.d/secrets";

#[derive(Parser, Debug)]
#[command(name = "secrets", version, about = "A git-native secrets manager speaking the SOPS format with age keys", after_help = EXAMPLES)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Args, Debug, Clone, Default)]
pub struct GlobalArgs {
    /// The repository holding sops/ (default: $CLAN_DIR, else found from the current directory like clan does)
    #[arg(long, global = true, value_name = "PATH", alias = "flake", env = "SECRETS_REPO")]
    pub repo: Option<PathBuf>,
    /// Do not commit changes; new files are marked intent-to-add, as clan does (also: CLAN_NO_COMMIT=1)
    #[arg(long, global = true)]
    pub no_commit: bool,
    /// Print machine-readable JSON
    #[arg(long, global = true)]
    pub json: bool,
    /// Say on stderr what is done and why (which repository, how the commit is made), as clan's --debug
    #[arg(long, global = true)]
    pub debug: bool,
    /// Say on stderr what is done and why: the same as --debug
    #[arg(short = 'v', long, global = true, conflicts_with = "quiet")]
    pub verbose: bool,
    /// Print results, warnings and errors only: no notes (`Committed …`) and no progress
    #[arg(short = 'q', long, global = true)]
    pub quiet: bool,
    /// Accepted as clan accepts it (a nix option); secrets evaluates no nix, so it changes nothing
    #[arg(long, global = true, num_args = 2, value_names = ["NAME", "VALUE"], action = clap::ArgAction::Append)]
    pub option: Vec<String>,
}

impl Cli {
    /// Parses the process arguments.
    pub fn from_args() -> Cli {
        // A Tab in a shell with `secrets completions` installed: answered, and the process ends.
        crate::commands::completions::complete_if_asked();
        let mut args: Vec<OsString> = std::env::args_os().collect();
        let sops_first = args.get(1).is_some_and(|a| a == "sops");
        if sops_first {
            sops::legacy_to_subcommand(&mut args, 1);
        }
        if sops_first && !takes_global_flag(&args, &global_flags::<GlobalArgs>()) {
            // `secrets sops …` alone: scripts run `secrets sops decrypt` once per file, and building
            // the whole command tree costs more than decrypting a small file.
            return Cli { global: GlobalArgs::default(), command: Command::Sops(sops::parse_alone(&args[1..])) };
        }
        if args.get(1).is_some_and(|a| a == "get") {
            // `secrets get NAME`, the commonest call after `sops decrypt` (a script reading its
            // secrets one by one), builds its own command only. Anything this parser refuses,
            // help included, is parsed again by the whole tree, which words it.
            if let Ok(GetAlone { global, command: OnlyGet::Get(args) }) = parse_keeping_parser::<GetAlone>(&args) {
                return Cli { global, command: Command::Get(args) };
            }
        }
        parse_keeping_parser::<Cli>(&args).unwrap_or_else(|e| help_or_exit::<Cli>(&args, &e))
    }
}

/// `secrets get …` alone: the global options and `get`, nothing else.
#[derive(Parser, Debug)]
#[command(name = "secrets")]
struct GetAlone {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: OnlyGet,
}

#[derive(Subcommand, Debug)]
enum OnlyGet {
    Get(secrets::GetArgs),
}

/// Parses `args` with the (deferred) command tree of `P`, as `P::try_parse_from` does, but
/// never frees the tree: the process is short-lived, the tree holds no secret, and freeing it
/// through the wiping allocator cost more than building the part of it a command needs.
pub fn parse_keeping_parser<P: CommandFactory + FromArgMatches>(args: &[OsString]) -> Result<P, clap::Error> {
    let mut parser = std::mem::ManuallyDrop::new(P::command());
    let mut matches = parser.try_get_matches_from_mut(args)?;
    // As clap's own `try_parse_from`: an error here is worded against the command tree.
    P::from_arg_matches_mut(&mut matches).map_err(|e| e.format(&mut P::command()))
}

/// After `error` from parsing `args` with the deferred tree of `P`: help is told through the
/// whole tree, each command in the words it was given (see [`defined`]); anything else ends the
/// process as clap words it.
pub fn help_or_exit<P: CommandFactory + FromArgMatches>(args: &[OsString], error: &clap::Error) -> P {
    if !shows_help(error) {
        crate::output::clap_exit(error);
    }
    let told = defined::<P>().try_get_matches_from(args).and_then(|matches| P::from_arg_matches(&matches));
    told.unwrap_or_else(|e| crate::output::clap_exit(&e))
}

/// Whether clap answers with a help text (asked for, or a command given without its
/// subcommand) rather than a usage error.
fn shows_help(error: &clap::Error) -> bool {
    matches!(error.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand)
}

/// The whole command tree of `P` with every command defined, for help texts and completion
/// scripts.
///
/// The commands are deferred (see [`Command`]): clap defines a command's arguments only when
/// it parses that command, so `secrets get` builds `get` alone. A deferred definition runs
/// after the command's own attributes, so the doc comment of its arguments' struct would
/// replace the command's about; each command's about is therefore read before its definition
/// runs, and put back once the tree is built.
pub fn defined<P: CommandFactory>() -> clap::Command {
    let mut told = Vec::new();
    told_abouts(&mut P::command(), &mut Vec::new(), &mut told);
    let mut full = P::command();
    full.build();
    for (path, about, long_about) in told {
        put_back(&mut full, &path, about, long_about);
    }
    full
}

/// Gives the command at `path` below `command` the about and long about it was told.
fn put_back(command: &mut clap::Command, path: &[String], about: Option<StyledStr>, long_about: Option<StyledStr>) {
    match path.split_first() {
        None => {
            let text = |text: Option<StyledStr>| text.map_or(Resettable::Reset, Resettable::Value);
            *command = std::mem::take(command).about(text(about)).long_about(text(long_about));
        }
        Some((name, rest)) => {
            if let Some(sub) = command.find_subcommand_mut(name) {
                put_back(sub, rest, about, long_about);
            }
        }
    }
}

/// The about and long about of every command below `command`, by path of names, each read
/// before the command's deferred definition runs: `command` is defined (which only places its
/// subcommands, deferred too), then its subcommands are read, then each is visited.
fn told_abouts(command: &mut clap::Command, path: &mut Vec<String>, told: &mut Vec<(Vec<String>, Option<StyledStr>, Option<StyledStr>)>) {
    // Rendering the usage defines this command alone; the text itself is not needed.
    let _ = command.render_usage();
    for sub in command.get_subcommands_mut() {
        path.push(sub.get_name().to_owned());
        told.push((path.clone(), sub.get_about().cloned(), sub.get_long_about().cloned()));
        told_abouts(sub, path, told);
        path.pop();
    }
}

/// The spellings of the flags `A` defines (`--long`, every alias, `-s`), read from its clap
/// definition: a global flag added to [`GlobalArgs`] sends `secrets sops` through the full parser
/// without anyone updating a list.
fn global_flags<A: Args>() -> Vec<String> {
    let command = A::augment_args(clap::Command::new("secrets"));
    let mut flags = Vec::new();
    for arg in command.get_arguments() {
        flags.extend(arg.get_long().into_iter().chain(arg.get_all_aliases().unwrap_or_default()).map(|long| format!("--{long}")));
        flags.extend(arg.get_short().into_iter().chain(arg.get_all_short_aliases().unwrap_or_default()).map(|short| format!("-{short}")));
    }
    flags
}

/// Whether one of `flags` is among `args`, alone or as `--flag=value`.
fn takes_global_flag(args: &[OsString], flags: &[String]) -> bool {
    args.iter().any(|a| {
        let a = a.to_string_lossy();
        flags.iter().any(|f| a == f.as_str() || a.strip_prefix(f.as_str()).is_some_and(|rest| rest.starts_with('=')))
    })
}

/// `defer`: each command's arguments are defined only when that command is parsed (or its help,
/// completions or a check asks for the whole tree), so a run of `secrets get` does not pay for
/// building the flags of thirty other commands.
#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum Command {
    /// Manage your local age key
    #[command(subcommand, after_help = "Examples:\n  secrets key generate\n  secrets key show\n  secrets key update")]
    Key(key::KeyCommand),
    /// Manage users (admins) and their keys
    #[command(
        subcommand,
        after_help = "Examples:\n  secrets users add alice --age-key age1…\n  secrets users list\n  secrets users add-secret alice db-password\n  secrets users remove bob"
    )]
    Users(members::MemberCommand),
    /// Manage machines and their keys
    #[command(
        subcommand,
        after_help = "Examples:\n  secrets machines add web1 age1…\n  ssh-keyscan -t ed25519 web1 | secrets machines add web1 --ssh-to-age\n  secrets machines add-secret web1 db-password\n  secrets machines list"
    )]
    Machines(members::MemberCommand),
    /// Manage groups of users and machines
    #[command(
        subcommand,
        after_help = "Examples:\n  secrets groups add-user admins alice\n  secrets groups add-machine servers web1\n  secrets groups add-secret admins db-password\n  secrets groups list"
    )]
    Groups(groups::GroupCommand),
    /// Set a secret's value (from stdin, a hidden prompt, or --edit) and who can read it
    Set(secrets::SetArgs),
    /// Edit a secret's value in $SOPS_EDITOR or $EDITOR (a private in-memory file)
    Edit(secrets::EditArgs),
    /// Print a secret's exact bytes
    Get(secrets::GetArgs),
    /// List secrets, optionally those whose name contains PATTERN
    List(secrets::ListArgs),
    /// Remove a secret
    Remove(secrets::RemoveArgs),
    /// Rename a secret
    Rename(secrets::RenameArgs),
    /// Import every string value of a sops file (yaml, json, dotenv, ini) as secrets
    #[command(name = "import-sops")]
    ImportSops(import::ImportArgs),
    /// Store cloud credentials (aws, gcp, azure, cloudflare, kubernetes) and run programs with them
    #[command(
        subcommand,
        after_help = "Examples:\n  secrets credentials store aws --profile prod --name prod --group ops\n  secrets credentials list\n  secrets credentials exec aws/prod -- aws s3 ls"
    )]
    Credentials(credentials::CredentialsCommand),
    /// Find a credential: $SERVICE_PURPOSE, then a file, then the secret SERVICE.PURPOSE
    Resolve(credentials::ResolveArgs),
    /// Export secrets for other systems
    #[command(subcommand, after_help = "Examples:\n  secrets export k8s --name app --namespace prod db-password | kubectl apply -f -")]
    Export(export::ExportCommand),
    /// Work on any sops file, like the real `sops` (same flags, environment and exit codes)
    #[command(after_help = sops::SOPS_EXAMPLES)]
    Sops(sops::SopsArgs),
    /// Print a shell completion script
    Completions(completions::CompletionsArgs),
    /// Validate the repository without any key: names, keys, links, files and drift (for CI)
    Check(check::CheckArgs),
    /// Who can read which secret, and how (directly or through which group)
    Access(access::AccessArgs),
    /// The history of secrets from git: value and recipient changes, by whom and when
    Log(log::LogArgs),
    /// Set git up for secrets: readable diffs, merges of encrypted files, a pre-commit check
    #[command(subcommand, after_help = "Examples:\n  secrets git setup --pre-commit")]
    Git(gitdrivers::GitCommand),
    /// git textconv driver: a sops file as reviewable text, values hidden (see `secrets git setup`)
    #[command(name = "git-diff")]
    GitDiff(gitdrivers::GitDiffArgs),
    /// git merge driver: decrypt, merge and re-encrypt sops files (see `secrets git setup`)
    #[command(name = "git-merge")]
    GitMerge(gitdrivers::GitMergeArgs),
    /// Install a machine's secrets into a folder, as sops-nix does (run on the machine)
    Install(install::InstallArgs),
    /// Run a command with secrets in its environment or in private files
    Exec(exec::ExecArgs),
    /// Your keys, who they make you here, what they open, and whether git is set up
    #[command(visible_alias = "doctor")]
    Whoami(whoami::WhoamiArgs),
    /// Print the manual page, or write one per command into a folder (for packagers)
    #[command(hide = true)]
    Man(man::ManArgs),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_global_flags_come_from_their_definition() {
        let mut flags = global_flags::<GlobalArgs>();
        flags.sort();
        assert_eq!(flags, ["--debug", "--flake", "--json", "--no-commit", "--option", "--quiet", "--repo", "--verbose", "-q", "-v"]);
    }

    /// A flag added next to the global ones is seen without touching the fast path.
    #[test]
    fn a_new_global_flag_is_seen() {
        #[derive(Args)]
        struct WithMore {
            #[command(flatten)]
            _global: GlobalArgs,
            #[arg(short = 'L', long, global = true, alias = "noisy")]
            _loud: bool,
        }
        let flags = global_flags::<WithMore>();
        for flag in ["--repo", "--flake", "--no-commit", "--json", "--quiet", "--loud", "--noisy", "-L"] {
            assert!(flags.iter().any(|f| f == flag), "{flag} missing from {flags:?}");
        }
        assert!(takes_global_flag(&args(&["secrets", "sops", "decrypt", "--loud", "f.yaml"]), &flags));
        assert!(!takes_global_flag(&args(&["secrets", "sops", "decrypt", "--loud", "f.yaml"]), &global_flags::<GlobalArgs>()));
    }

    #[test]
    fn a_global_flag_anywhere_takes_the_full_parser() {
        let flags = global_flags::<GlobalArgs>();
        assert!(takes_global_flag(&args(&["secrets", "sops", "decrypt", "--json", "f.yaml"]), &flags));
        assert!(takes_global_flag(&args(&["secrets", "sops", "--repo=/r", "decrypt", "f.yaml"]), &flags));
        assert!(takes_global_flag(&args(&["secrets", "sops", "decrypt", "--flake", "/r", "f.yaml"]), &flags));
        assert!(!takes_global_flag(&args(&["secrets", "sops", "decrypt", "--json-file", "f.yaml"]), &flags));
        assert!(!takes_global_flag(&args(&["secrets", "sops", "decrypt", "--ignore-mac", "f.yaml"]), &flags));
    }

    /// A deferred command's arguments struct may carry a doc comment of its own; help and
    /// completions still tell the command by the words its variant gives.
    #[test]
    fn the_whole_tree_tells_each_command_by_its_own_about() {
        let about = |command: &clap::Command, path: &[&str]| {
            let found = path.iter().fold(command.clone(), |c, name| c.find_subcommand(name).cloned().unwrap());
            found.get_about().map(ToString::to_string)
        };
        let full = defined::<Cli>();
        assert_eq!(about(&full, &["get"]).as_deref(), Some("Print a secret's exact bytes"));
        assert_eq!(about(&full, &["sops", "encrypt"]).as_deref(), Some("Encrypt a plaintext file for age recipients and PGP keys"));
        // Built as clap builds it, the arguments' own doc comment would win.
        let mut plain = Cli::command();
        plain.build();
        assert_ne!(about(&plain, &["get"]).as_deref(), Some("Print a secret's exact bytes"));
    }

    #[test]
    fn the_command_tree_is_valid() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
