//! `secrets`: a git-native secrets manager speaking the SOPS format with age keys.

// Calls into the C library live in `signals` alone, where each is explained.
#![deny(unsafe_code)]

mod cli;
mod commands;
mod context;
mod editor;
mod failure;
mod io;
mod signals;

use std::process::ExitCode;

fn main() -> ExitCode {
    // Before anything is read: no core dump of this process may hold a key or a value.
    signals::harden();
    let cli = cli::Cli::from_args();
    match commands::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            failure.print();
            ExitCode::from(failure.code)
        }
    }
}
