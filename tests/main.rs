//! The end-to-end tests: one test binary (`e2e`) for every area of the CLI.
//!
//! Every area is a file `tests/<area>.rs`, declared below as `mod <area>;`; it takes its
//! helpers from `crate::common` (`use crate::common::{secrets, ok};`) and needs no attribute of
//! its own. One binary links the `secrets` test helpers once instead of once per area, and the
//! helpers of `common` that no area uses are reported as dead code.
//!
//! To add an area:
//! 1. write `tests/<area>.rs` (module doc first: what the area covers and why);
//! 2. add `mod <area>;` to the list below, in alphabetical order;
//! 3. nothing in `crates/cli/Cargo.toml`: its one `[[test]]` entry is this file.
//!
//! [`every_test_file_is_an_area`] fails the suite when a file of `tests/` is not declared here
//! (it would silently never run) or when `crates/cli/Cargo.toml` links a test file of its own.
//!
//! All areas share one process and run on parallel threads, so no test may change what is
//! process-wide (`std::env::set_var`, the current directory, the umask, signal handlers,
//! resource limits): a test gives such state to the child it starts instead (`Command::env`,
//! `Command::current_dir`, or `sh -c 'umask 000 && exec …'`).
//!
//! Transcripts of the CLI are data: `cli_help` and `error_catalogue` compare help texts and
//! error messages with the snapshots in `tests/snapshots/` (the `insta` crate). A changed
//! wording fails them with a diff; after reviewing it, accept it with `cargo insta review`
//! or by renaming the `.snap.new` files the failed run left next to the snapshots.

// `crates/cli/clippy.toml` keeps the CLI's writes to stdout and stderr in its output module;
// a test may print its notes (a skipped peer, a timing) and read its own standard streams.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods, reason = "tests may print")]

mod common;

mod clan_cli;
mod clan_messages;
mod cli_help;
mod closed_streams;
mod completions;
mod concurrency;
mod crash_safety;
mod credentials_cli;
mod deploy_cli;
mod docs;
mod error_catalogue;
mod exec_env;
mod git_cli;
mod git_commits;
mod hostile_links;
mod hostile_output;
mod hostile_repo;
mod hostile_sops;
mod hostile_writes;
mod install_as_sops_nix;
mod install_safety;
mod json_output;
mod key_files;
mod memory_cli;
mod repository_state;
mod revocation_report;
mod secrets_edit;
mod shared_keys;
mod sops_cli;
mod sops_completion;
mod sops_conventions;
mod sops_edit;
mod sops_exec;
mod sops_groups;
mod sops_interop;
mod sops_pgp;
mod sops_publish;
mod ssh_users;
mod store_cli;
mod store_interop;
mod transactions;
mod verbosity;
mod whoami;

use std::collections::BTreeSet;
use std::fs;

/// The names declared with `mod <name>;` in a Rust source.
fn declared_modules(source: &str) -> BTreeSet<String> {
    source.lines().filter_map(|line| line.trim().strip_prefix("mod ")?.strip_suffix(';')).map(|name| name.trim().to_string()).collect()
}

/// The `path = "…"` values of the `[[test]]` entries of a Cargo manifest.
fn test_targets(manifest: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut in_test = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_test = line == "[[test]]";
        } else if let (true, Some(value)) = (in_test, line.strip_prefix("path")) {
            targets.push(value.trim_start_matches([' ', '=']).trim_matches('"').to_string());
        }
    }
    targets
}

#[test]
fn every_test_file_is_an_area() {
    let tests = common::repo_root().join("tests");
    let declared = declared_modules(&fs::read_to_string(tests.join("main.rs")).unwrap());
    let mut files = BTreeSet::new();
    for entry in fs::read_dir(&tests).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") && path.file_name().is_some_and(|n| n != "main.rs") {
            files.insert(path.file_stem().unwrap().to_string_lossy().into_owned());
        }
    }
    let forgotten: Vec<String> = files.difference(&declared).map(|name| format!("tests/{name}.rs")).collect();
    assert!(forgotten.is_empty(), "{} never run: declare each as `mod <area>;` in tests/main.rs", forgotten.join(", "));

    let manifest = fs::read_to_string(common::repo_root().join("crates/cli/Cargo.toml")).unwrap();
    let targets: Vec<String> = test_targets(&manifest).into_iter().filter(|t| t.starts_with("../../tests/")).collect();
    assert_eq!(
        targets,
        ["../../tests/main.rs"],
        "crates/cli/Cargo.toml links test files of its own: remove their [[test]] entries and declare each as `mod <area>;` in tests/main.rs"
    );
}
