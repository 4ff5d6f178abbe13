//! Shell completion and the manual pages: `secrets completions SHELL` installs a script that
//! asks `secrets` on each Tab, which completes commands, flags and the repository's names
//! (checked through the real bash); `secrets man` renders the pages from the same definitions
//! as `--help`.

use std::process::Command;

use crate::common::clan::{Flake, K};
use crate::common::{clean_env, stderr_of, stdout_of};

fn team() -> Flake {
    let flake = Flake::new();
    flake.all(
        0,
        &[
            &["users", "add", "alice", K[0]],
            &["users", "add", "bob", K[1]],
            &["machines", "add", "web1", K[2]],
            &["groups", "add-user", "ops", "bob"],
        ],
    );
    flake.set(0, &["--user", "alice", "db-password"], "d");
    flake.set(0, &["--user", "alice", "api-token"], "t");
    flake
}

/// What `secrets` completes for `words` (the line so far, the last word being completed), as
/// fish asks for it: one candidate a line, its help after a tab.
fn complete(flake: &Flake, words: &[&str]) -> Vec<String> {
    let out = flake.cmd().env("SECRETS_COMPLETE", "fish").arg("--").arg("secrets").args(words).output().unwrap();
    assert!(out.status.success(), "{words:?}: {}", stderr_of(&out));
    stdout_of(&out).lines().map(|l| l.split('\t').next().unwrap_or("").to_string()).collect()
}

#[test]
fn names_are_completed_by_what_the_argument_takes() {
    let flake = team();
    assert_eq!(
        complete(&flake, &["get", ""]).into_iter().filter(|c| !c.starts_with('-')).collect::<Vec<_>>(),
        ["api-token", "db-password"]
    );
    assert_eq!(complete(&flake, &["edit", "db"]), ["db-password"]);
    assert_eq!(
        complete(&flake, &["users", "remove", ""]).into_iter().filter(|c| !c.starts_with('-')).collect::<Vec<_>>(),
        ["alice", "bob"]
    );
    assert_eq!(complete(&flake, &["machines", "get", "w"]), ["web1"]);
    assert_eq!(complete(&flake, &["groups", "add-user", "o"]), ["ops"]);
    assert_eq!(complete(&flake, &["groups", "add-user", "ops", "a"]), ["alice"]);
    assert_eq!(complete(&flake, &["set", "--machine", ""]), ["web1"]);
    assert_eq!(complete(&flake, &["users", "add-secret", "bob", "api"]), ["api-token"]);
    assert_eq!(complete(&flake, &["list", "--readable-by", "o"]), ["ops"]);
    // A new name is not completed; commands and flags are.
    assert_eq!(complete(&flake, &["users", "add", "a"]), Vec::<String>::new());
    assert!(complete(&flake, &["gr"]).contains(&"groups".to_string()));
    assert!(complete(&flake, &["get", "--j"]).contains(&"--json".to_string()));
}

/// The installed bash script, run by the real bash: Tab after `secrets get d` offers the secret.
#[test]
fn the_bash_script_completes_names_in_bash() {
    let flake = team();
    let script = stdout_of(flake.cmd().args(["completions", "bash"]).assert().success().get_output());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secrets.bash");
    std::fs::write(&file, script).unwrap();
    let mut bash = Command::new("bash");
    clean_env(&mut bash);
    let out = bash
        .current_dir(flake.path())
        .arg("-c")
        .arg(format!(
            "source '{}' && COMP_WORDS=(secrets get d) && COMP_CWORD=2 && COMP_TYPE=9 && _clap_complete_secrets secrets d get && printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            file.display()
        ))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out).split_whitespace().collect::<Vec<_>>(), ["db-password"]);
}

#[test]
fn every_shell_gets_a_script_that_asks_secrets() {
    for shell in ["bash", "zsh", "fish"] {
        let flake = Flake::new();
        let script = stdout_of(flake.cmd().args(["completions", shell]).assert().success().get_output());
        assert!(script.contains("SECRETS_COMPLETE"), "{shell}: {script}");
    }
}

#[test]
fn the_manual_pages_come_from_the_help() {
    let flake = Flake::new();
    let page = stdout_of(flake.cmd().arg("man").assert().success().get_output());
    assert!(page.contains(".TH secrets 1"), "{page}");
    assert!(page.contains("\\-\\-quiet") && page.contains("whoami"), "{page}");
    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("man1");
    flake.cmd().args(["man", "--dir"]).arg(&pages).assert().success();
    let get = std::fs::read_to_string(pages.join("secrets-get.1")).unwrap();
    assert!(get.contains("Print a secret"), "{get}");
    assert!(pages.join("secrets-users-add.1").is_file() && pages.join("secrets-whoami.1").is_file());
    // Hidden from the help: it installs the pages, it is not a daily command.
    let help = stdout_of(flake.cmd().arg("--help").assert().success().get_output());
    assert!(!help.contains("\n  man "), "{help}");
}
