//! git integration: the textconv diff driver, the merge driver, and `secrets git setup` which
//! wires both into a clone.

mod diff;
mod merge;
mod setup;

use std::path::PathBuf;

use crate::context::Context;
use crate::failure::CmdResult;
use clap::{Args, Subcommand};

#[derive(Subcommand, Debug)]
#[command(defer = true)] // arguments defined only when this command is parsed: see `cli::Command`
pub enum GitCommand {
    /// Configure this clone: .gitattributes, the diff and merge drivers, optionally a pre-commit check
    #[command(
        after_help = "Idempotent. Writes .gitattributes lines for sops/secrets/*/secret and vars/**/secret, and local git config (diff.secrets.textconv, merge.secrets.driver, merge.secrets.name).\n\nExamples:\n  secrets git setup --pre-commit\n  secrets git setup --pattern 'deploy/*.sops.yaml'"
    )]
    Setup {
        /// Also install pre-commit and pre-merge-commit hooks running `secrets check`
        #[arg(long)]
        pre_commit: bool,
        /// Also use the drivers for other sops files matching this .gitattributes pattern (repeatable)
        #[arg(long = "pattern", value_name = "PATTERN")]
        patterns: Vec<String>,
        /// The command git runs (default: `secrets` when it is on PATH, else this program's path)
        #[arg(long, value_name = "COMMAND")]
        command: Option<String>,
    },
}

/// `secrets git-diff`. Values are never shown unless `git config secrets.diff.showValues true` or
/// SECRETS_DIFF_SHOW_VALUES=1, and a key can read them.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  git config diff.secrets.textconv 'secrets git-diff'   # what `secrets git setup` writes\n  secrets git-diff sops/secrets/db-password/secret"
)]
pub struct GitDiffArgs {
    /// The file git asks to convert
    pub file: PathBuf,
}

/// `secrets git-merge`, as git calls a merge driver.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  git config merge.secrets.driver 'secrets git-merge %O %A %B %P'   # what `secrets git setup` writes")]
pub struct GitMergeArgs {
    /// %O: the common ancestor's version
    pub base: PathBuf,
    /// %A: our version; the result is written here
    pub ours: PathBuf,
    /// %B: their version
    pub theirs: PathBuf,
    /// %P: the path of the file in the repository
    pub path: Option<PathBuf>,
}

pub fn diff(ctx: &Context, args: GitDiffArgs) -> CmdResult {
    diff::run(ctx, &args.file)
}

pub fn merge(ctx: &Context, args: GitMergeArgs) -> CmdResult {
    merge::run(ctx, &args)
}

pub fn setup(ctx: &Context, cmd: GitCommand) -> CmdResult {
    match cmd {
        GitCommand::Setup { pre_commit, patterns, command } => setup::run(ctx, pre_commit, &patterns, command),
    }
}

/// The git repository around the working directory (or `--repo`), when there is one.
fn git_here(ctx: &Context) -> Option<git2::Repository> {
    let start = match &ctx.global.repo {
        Some(path) => path.clone(),
        None => std::env::current_dir().ok()?,
    };
    git2::Repository::discover(start).ok()
}
