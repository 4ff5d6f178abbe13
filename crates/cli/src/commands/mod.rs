//! One module per command family; `run` dispatches.

mod credentials;
mod exec;
mod groups;
mod import;
mod install;
mod key;
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
        Command::Set { secret, users, machines, groups, edit, force } => secrets::set(&ctx, &secret, &users, &machines, &groups, edit, force),
        Command::Get { secret } => secrets::get(&ctx, &secret),
        Command::List { pattern } => secrets::list(&ctx, pattern.as_deref()),
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
        Command::Install(args) => install::run(&ctx, args),
        Command::Exec(args) => exec::run(&ctx, args),
    }
}
