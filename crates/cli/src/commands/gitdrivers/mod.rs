//! git integration: the textconv diff driver, the merge driver, and `secrets git setup` which
//! wires both into a clone.

mod diff;
mod merge;
mod setup;

use crate::cli::{GitCommand, GitDiffArgs, GitMergeArgs};
use crate::context::Context;
use crate::failure::CmdResult;

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
