//! `secrets`: a git-native secrets manager speaking the SOPS format with age keys.

mod cli;
mod commands;
mod context;
mod editor;
mod failure;
mod io;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            failure.print();
            ExitCode::from(failure.code)
        }
    }
}
