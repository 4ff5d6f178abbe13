//! `secrets completions`: a shell completion script for the whole command tree (clap_complete).

use clap::{Args, CommandFactory};

use crate::cli::Cli;
use crate::failure::CmdResult;

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
    clap_complete::generate(args.shell, &mut Cli::command(), "secrets", &mut std::io::stdout());
    Ok(0)
}
