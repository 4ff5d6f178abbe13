//! One module per command family; `run` dispatches.

mod access;
mod check;
mod credentials;
pub(crate) mod exec;
mod gitdrivers;
mod groups;
mod import;
mod install;
mod key;
mod log;
mod members;
mod secrets;
mod sops;

use clap::CommandFactory;
use secrets_store::Kind;

use crate::cli::{Cli, Command};
use crate::context::Context;
use crate::failure::CmdResult;

pub fn run(cli: Cli) -> CmdResult {
    let ctx = Context { global: cli.global };
    match cli.command {
        Command::Key(cmd) => key::run(&ctx, cmd),
        Command::Users(cmd) => members::run(&ctx, Kind::User, cmd),
        Command::Machines(cmd) => members::run(&ctx, Kind::Machine, cmd),
        Command::Groups(cmd) => groups::run(&ctx, cmd),
        Command::Set { secret, members, edit, force } => secrets::set(&ctx, &secret, &members, edit, force),
        Command::Get { secret } => secrets::get(&ctx, &secret),
        Command::List { pattern, long } => secrets::list(&ctx, pattern.as_deref(), long),
        Command::Remove { secret } => secrets::remove(&ctx, &secret),
        Command::Rename { secret, new_name } => secrets::rename(&ctx, &secret, &new_name),
        Command::ImportSops(args) => import::run(&ctx, args),
        Command::Credentials(cmd) => credentials::run(&ctx, cmd),
        Command::Resolve { service, purpose, field, dir } => credentials::resolve_cmd(&ctx, &service, &purpose, field.as_deref(), dir),
        Command::Export(cmd) => credentials::export_cmd(&ctx, cmd),
        Command::Sops(cmd) => sops::run(cmd),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "secrets", &mut std::io::stdout());
            Ok(0)
        }
        Command::Check(args) => check::run(&ctx, args),
        Command::Access(args) => access::run(&ctx, args),
        Command::Log(args) => log::run(&ctx, args),
        Command::Git(cmd) => gitdrivers::setup(&ctx, cmd),
        Command::GitDiff(args) => gitdrivers::diff(&ctx, args),
        Command::GitMerge(args) => gitdrivers::merge(&ctx, args),
        Command::Install(args) => install::run(&ctx, args),
        Command::Exec(args) => exec::run(&ctx, args),
    }
}
