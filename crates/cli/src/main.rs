//! `secrets`: a git-native secrets manager speaking the SOPS format with age keys.

// `unsafe` is denied for the workspace (Cargo.toml) and allowed in one place only, the `sys`
// module (calls into the C library, the allocator), where each use is explained.

mod cli;
mod commands;
mod context;
mod editor;
mod exit;
mod failure;
mod io;
mod output;
mod passphrase;
mod sys;

use std::process::ExitCode;

/// Freed memory is wiped, so values and keys do not linger in the heap (see `wipe_alloc`).
#[global_allocator]
static ALLOCATOR: sys::wipe_alloc::Wiping = sys::wipe_alloc::Wiping;

fn main() -> ExitCode {
    // Before anything is read: no core dump of this process may hold a key or a value.
    sys::signals::harden();
    let cli = cli::Cli::from_args();
    if !matches!(cli.command, cli::Command::Sops(_)) {
        io::sweep_leftovers();
    }
    match commands::run(cli) {
        Ok(code) => ExitCode::from(code),
        // The command's clean-up has run as its error returned; the process ends as a program
        // with the default SIGPIPE action would have (see `output`).
        Err(failure) if failure.is_broken_pipe() => output::die_of_broken_pipe(),
        Err(failure) => {
            failure.print();
            ExitCode::from(failure.code)
        }
    }
}
