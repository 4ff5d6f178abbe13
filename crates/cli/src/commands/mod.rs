//! One module per command family; `run` dispatches.

mod sops;

use clap::CommandFactory;

use crate::cli::{Cli, Command};
use crate::failure::CmdResult;

pub fn run(cli: Cli) -> CmdResult {
    match cli.command {
        Command::Sops(cmd) => sops::run(cmd),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "secrets", &mut std::io::stdout());
            Ok(0)
        }
    }
}
