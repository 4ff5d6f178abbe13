//! `secrets`: a git-native secrets manager speaking the SOPS format with age keys.

mod cli;
mod commands;
mod context;
mod editor;
mod failure;
mod io;

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::from_args();
    match commands::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            failure.print();
            ExitCode::from(failure.code)
        }
    }
}
