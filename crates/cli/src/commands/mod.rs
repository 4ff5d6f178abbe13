//! One module per command family; `run` dispatches.

pub(crate) mod access;
pub(crate) mod check;
pub(crate) mod completions;
pub(crate) mod credentials;
pub(crate) mod exec;
pub(crate) mod export;
pub(crate) mod gitdrivers;
pub(crate) mod groups;
pub(crate) mod import;
pub(crate) mod install;
pub(crate) mod key;
pub(crate) mod log;
pub(crate) mod man;
pub(crate) mod members;
pub(crate) mod secrets;
pub(crate) mod sops;
pub(crate) mod whoami;

use secrets_store::Kind;

use crate::cli::{Cli, Command};
use crate::context::Context;
use crate::failure::CmdResult;

pub fn run(cli: Cli) -> CmdResult {
    let mut global = cli.global;
    // `-v` is `--debug` by another name; `-q` holds for every message of the run.
    global.debug |= global.verbose;
    crate::output::set_verbosity(global.quiet);
    crate::output::set_json_errors(global.json);
    let ctx = Context { global, change: std::cell::RefCell::default() };
    let code = dispatch(&ctx, cli.command)?;
    // With --json, a command that changed the repository and printed no result of its own
    // prints what it changed: every command has one JSON result (docs/json.md).
    let change = ctx.change.borrow();
    if ctx.global.json && change.recorded && !crate::output::wrote_stdout() {
        let text = serde_json::to_string_pretty(&change.to_json()).map_err(|e| crate::failure::Failure::msg(e.to_string()))?;
        crate::output::write_stdout(format!("{text}\n").as_bytes())?;
    }
    Ok(code)
}

fn dispatch(ctx: &Context, command: Command) -> CmdResult {
    match command {
        Command::Key(cmd) => key::run(ctx, cmd),
        Command::Users(cmd) => members::run(ctx, Kind::User, cmd),
        Command::Machines(cmd) => members::run(ctx, Kind::Machine, cmd),
        Command::Groups(cmd) => groups::run(ctx, cmd),
        Command::Set(args) => secrets::set(ctx, &args),
        Command::Edit(args) => secrets::edit(ctx, &args.secret),
        Command::Get(args) => secrets::get(ctx, &args.secret),
        Command::List(args) => secrets::list(ctx, &args),
        Command::Remove(args) => secrets::remove(ctx, &args.secret),
        Command::Rename(args) => secrets::rename(ctx, &args.secret, &args.new_name),
        Command::ImportSops(args) => import::run(ctx, args),
        Command::Credentials(cmd) => credentials::run(ctx, cmd),
        Command::Resolve(args) => credentials::resolve_cmd(ctx, &args.service, &args.purpose, args.field.as_deref(), args.dir),
        Command::Export(cmd) => export::run(ctx, cmd),
        Command::Sops(cmd) => sops::run(cmd),
        Command::Completions(args) => completions::run(&args),
        Command::Check(args) => check::run(ctx, args),
        Command::Access(args) => access::run(ctx, args),
        Command::Log(args) => log::run(ctx, args),
        Command::Git(cmd) => gitdrivers::setup(ctx, cmd),
        Command::GitDiff(args) => gitdrivers::diff(ctx, args),
        Command::GitMerge(args) => gitdrivers::merge(ctx, args),
        Command::Install(args) => install::run(ctx, args),
        Command::Exec(args) => exec::run(ctx, args),
        Command::Whoami(args) => whoami::run(ctx, &args),
        Command::Man(args) => man::run(&args),
    }
}
