//! `secrets sops completion bash|zsh`: a completion script for the command word `sops`, as sops
//! 3.11's `completion` subcommand prints one (urfave/cli's bash and zsh scripts), so that a
//! `sops` wrapper or alias running `secrets sops` completes like the real one: installed where
//! sops's script would go, it completes `sops dec<Tab>` and `sops decrypt --ext<Tab>`.
//!
//! The script is the one `secrets completions` prints (clap_complete's dynamic engine), with two
//! differences: it registers the word `sops`, and it sets its own variable, so that
//! [`complete_if_asked`] answers from the `secrets sops` commands as if they were the whole
//! program. As in sops, no shell prints this command's help (exit 0) and a shell other than bash
//! or zsh is urfave/cli's "No help topic" (exit 3); words after the shell are ignored.

use clap::Args;
use clap_complete::env::CompleteEnv;

use super::SopsCli;
use crate::commands::completions::registration;
use crate::failure::{CmdResult, Failure};
use crate::output::write_stdout;

/// The variable the script sets to ask for completions of `sops …` words.
const VAR: &str = "SECRETS_COMPLETE_SOPS";

/// The exit status of urfave/cli (sops's command-line library) for a help topic it does not
/// know, which is what sops answers for a shell it has no script for.
const UNKNOWN_TOPIC: u8 = 3;

/// The command word the script completes: the name sops users type.
const WORD: &str = "sops";

pub const COMPLETION_ABOUT: &str = "Print a shell completion script for `sops` (bash or zsh)";
pub const COMPLETION_EXAMPLES: &str = "Completes the commands and flags of `secrets sops` for the word `sops`: for a `sops` wrapper or\nalias that runs `secrets sops`.\n\nExamples:\n  source <(secrets sops completion bash)\n  secrets sops completion bash > ~/.local/share/bash-completion/completions/sops\n  secrets sops completion zsh > \"${fpath[1]}/_sops\"";

/// `secrets sops completion`.
#[derive(Args, Debug)]
pub struct CompletionArgs {
    /// The shell: bash or zsh (none prints this help)
    #[arg(value_name = "SHELL")]
    pub shell: Option<String>,
    /// Ignored, as sops ignores them
    #[arg(hide = true, num_args = 0.., allow_hyphen_values = true)]
    pub rest: Vec<String>,
}

pub fn run(args: &CompletionArgs) -> CmdResult {
    match args.shell.as_deref() {
        None => {
            let mut help = crate::cli::defined::<SopsCli>();
            let text = help.find_subcommand_mut("completion").map(|c| c.render_help().to_string()).unwrap_or_default();
            write_stdout(text.as_bytes())?;
            Ok(0)
        }
        Some(shell @ ("bash" | "zsh")) => {
            write_stdout(&registration(shell, VAR, WORD)?)?;
            Ok(0)
        }
        Some(other) => Err(Failure::verbatim(UNKNOWN_TOPIC, format!("No help topic for '{other}'"))),
    }
}

/// Answers a Tab of the script and exits, when it asked; otherwise returns at once.
pub fn complete_if_asked() {
    CompleteEnv::with_factory(command).var(VAR).complete();
}

/// The `secrets sops` commands as a program of their own named `sops`: the words the shell
/// passes start with `sops`, which the completion engine skips as the program's name.
fn command() -> clap::Command {
    crate::cli::defined::<SopsCli>().name(WORD).bin_name(WORD)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_tree_builds_as_sops() {
        let command = super::command();
        command.clone().debug_assert();
        assert!(command.find_subcommand("decrypt").is_some());
        assert!(command.find_subcommand("completion").is_some());
    }
}
