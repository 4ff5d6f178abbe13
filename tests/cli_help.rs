//! The help of every command as data: the command tree is walked from `secrets --help` down
//! (each `Commands:` section names the next level), and the `--help` text of each command is
//! compared with its snapshot in `tests/snapshots/`. A reworded help, a new flag or a new
//! command shows up as a diff to review; the list of commands is a snapshot of its own, so a
//! command that disappears shows too.

use crate::common::{normalize, secrets_bare, stderr_of, stdout_of};

/// The `--help` text of `secrets <path>`, run with no environment (clap wraps to `COLUMNS`).
fn help(path: &[String]) -> String {
    let out = secrets_bare().args(path).arg("--help").output().unwrap();
    assert!(out.status.success(), "secrets {} --help: {}", path.join(" "), stderr_of(&out));
    assert!(out.stderr.is_empty(), "secrets {} --help: {}", path.join(" "), stderr_of(&out));
    normalize(&stdout_of(&out), &[])
}

/// The subcommands a help text lists under `Commands:` (clap's own `help` left out: it only
/// repeats the others).
fn subcommands(help: &str) -> Vec<String> {
    let Some((_, section)) = help.split_once("\nCommands:\n") else { return Vec::new() };
    section
        .lines()
        .take_while(|line| !line.trim().is_empty())
        // A name starts two columns in; a wrapped description is indented further.
        .filter(|line| line.starts_with("  ") && !line.starts_with("   "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

/// Every command path under `secrets`, depth first, with the root (`[]`) first.
fn command_tree() -> Vec<(Vec<String>, String)> {
    let mut done = Vec::new();
    let mut todo = vec![Vec::new()];
    while let Some(path) = todo.pop() {
        let text = help(&path);
        for name in subcommands(&text).into_iter().rev() {
            let mut child = path.clone();
            child.push(name);
            todo.push(child);
        }
        done.push((path, text));
    }
    done
}

#[test]
fn help_of_every_command_is_as_recorded() {
    let tree = command_tree();
    assert!(tree.len() > 20, "the walk found the command tree: {:?}", tree.iter().map(|(p, _)| p.join(" ")).collect::<Vec<_>>());
    let listing: String = tree.iter().map(|(path, _)| format!("secrets {}\n", path.join(" ")).replace(" \n", "\n")).collect();
    insta::assert_snapshot!("commands", listing);
    for (path, text) in &tree {
        let name = if path.is_empty() { "help".to_string() } else { format!("help-{}", path.join("-")) };
        insta::assert_snapshot!(name, text, &format!("secrets {} --help", path.join(" ")));
    }
}

#[test]
fn help_subcommand_and_flag_print_the_same_text() {
    // `secrets help a b` is the same page as `secrets a b --help`: the snapshots cover both.
    // (Not under `sops`, whose help leaves out the global flags that the whole tree lists.)
    for path in [&["get"][..], &["users", "add"], &["groups", "add-user"]] {
        let flag = secrets_bare().args(path).arg("--help").output().unwrap();
        let sub = secrets_bare().arg("help").args(path).output().unwrap();
        assert_eq!(stdout_of(&flag), stdout_of(&sub), "{path:?}");
    }
}
