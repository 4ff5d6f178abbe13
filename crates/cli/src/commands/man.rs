//! `secrets man [--dir DIR]`: the manual pages, generated from the same clap definitions as
//! `--help` (clap_mangen), so that they never drift from it: `secrets(1)` on stdout, or one
//! page per command (`secrets-get.1`, `secrets-users-add.1`, …) written into DIR. Hidden from
//! the help: it is how the pages are installed, not something to run daily.

use std::path::PathBuf;

use clap::Args;

use crate::cli::Cli;
use crate::failure::{CmdResult, Failure};
use crate::output::{note, write_stdout};

/// `secrets man`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  secrets man | man -l -\n  secrets man --dir ~/.local/share/man/man1 && man secrets-get")]
pub struct ManArgs {
    /// Write a page per command into this folder (created if missing) instead of secrets(1) on stdout
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

pub fn run(args: &ManArgs) -> CmdResult {
    let command = crate::cli::defined::<Cli>();
    if let Some(dir) = &args.dir {
        std::fs::create_dir_all(dir).map_err(|e| Failure::msg(format!("{}: cannot create the folder: {e}", dir.display())))?;
        clap_mangen::generate_to(command, dir).map_err(|e| Failure::msg(format!("{}: cannot write the pages: {e}", dir.display())))?;
        note!("Wrote the manual pages to {}", dir.display());
    } else {
        let mut page = Vec::new();
        clap_mangen::Man::new(command).render(&mut page).map_err(|e| Failure::msg(format!("cannot render the page: {e}")))?;
        write_stdout(&page)?;
    }
    Ok(0)
}
