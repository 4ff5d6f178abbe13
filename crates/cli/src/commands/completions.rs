//! `secrets completions`: a shell completion script for the whole command tree (clap_complete).

use clap::Args;

use crate::cli::{defined, Cli};
use crate::failure::CmdResult;
use crate::output::write_stdout;

/// `secrets completions`.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  secrets completions bash > /etc/bash_completion.d/secrets\n  secrets completions zsh > ~/.zfunc/_secrets\n  secrets completions fish > ~/.config/fish/completions/secrets.fish"
)]
pub struct CompletionsArgs {
    /// The shell to complete for
    pub shell: clap_complete::Shell,
}

pub fn run(args: CompletionsArgs) -> CmdResult {
    // Written in one piece through the CLI's stdout writer: clap_complete's own writer panics
    // when the reader goes away (`secrets completions zsh | head`).
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut defined::<Cli>(), "secrets", &mut script);
    write_stdout(&script)?;
    Ok(0)
}
