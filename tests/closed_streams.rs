//! What `secrets` does when its standard output or standard error cannot be written: a reader
//! that went away (`secrets list | head -1`), a stream sent to a full disk (`2>/dev/full`), a
//! closed descriptor (`2>&-`). A broken pipe on stdout ends the run quietly by `SIGPIPE` (as git
//! does: status 141 in the shell); a failed write of a message to stderr is dropped and changes
//! nothing else; nothing ever panics. And a name, key or link a committer planted is printed
//! escaped in every report, `access --explain` included.

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::symlink;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output, Stdio};

use crate::common::clan::{private_key, Flake, K};
use crate::common::{secrets_process, stderr_of};

/// alice (k0) and bob (k1), a secret `db` readable by both.
fn flake() -> Flake {
    let flake = Flake::new();
    flake.all(0, &[&["users", "add", "alice", K[0]], &["users", "add", "bob", K[1]]]);
    flake.set(0, &["db", "--user", "bob"], "db-value\nsecond line\n");
    flake
}

/// `secrets args…` in the flake as alice.
fn secrets_in(flake: &Flake, args: &[&str]) -> Command {
    let mut cmd = secrets_process();
    cmd.current_dir(flake.path()).env("SOPS_AGE_KEY", private_key(0)).args(args);
    cmd
}

/// Commands that print to stdout, each a sample of one kind of output (a report, a value, a
/// decrypted file, a script, clap's help).
const PRINTING: [&[&str]; 9] = [
    &["check", "--json"],
    &["access"],
    &["access", "db", "--member", "bob", "--explain"],
    &["list"],
    &["get", "db"],
    &["users", "list"],
    &["sops", "decrypt", "sops/secrets/db/secret"],
    &["completions", "zsh"],
    &["--help"],
];

#[track_caller]
fn no_panic(what: &str, out: &Output) {
    let stderr = stderr_of(out);
    assert!(!stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"), "secrets {what} panicked: {stderr}");
    assert!(!matches!(out.status.code(), Some(101 | 134)), "secrets {what}: {:?}", out.status);
    assert_ne!(out.status.signal(), Some(libc::SIGABRT), "secrets {what} aborted");
}

/// Whether the run ended as a program with the default SIGPIPE action does when its reader is
/// gone: killed by that signal.
fn ended_by_sigpipe(out: &Output) -> bool {
    out.status.signal() == Some(libc::SIGPIPE)
}

/// stdout is a pipe whose reader has already gone: the first write fails with EPIPE, every time.
#[test]
fn a_reader_that_left_ends_the_run_quietly_by_sigpipe() {
    let flake = flake();
    for args in PRINTING {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = secrets_in(&flake, args).stdout(writer).stderr(Stdio::piped()).output().unwrap();
        let what = format!("{args:?} >closed-pipe");
        no_panic(&what, &out);
        assert!(ended_by_sigpipe(&out), "secrets {what}: {:?}", out.status);
        assert_eq!(stderr_of(&out), "", "secrets {what} printed an error for a reader that left");
    }
}

/// `secrets … | head -1`: the reader takes one line and leaves. Output small enough for the
/// pipe's buffer may be written whole before it leaves (exit 0); otherwise the run ends by
/// SIGPIPE. Either way nothing is printed on stderr.
#[test]
fn a_reader_that_takes_one_line_and_leaves() {
    let flake = flake();
    for args in PRINTING {
        let mut child = secrets_in(&flake, args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
        let out = child.wait_with_output().unwrap();
        let what = format!("{args:?} | head -1");
        no_panic(&what, &out);
        assert!(out.status.success() || ended_by_sigpipe(&out), "secrets {what}: {:?}", out.status);
        assert_eq!(stderr_of(&out), "", "secrets {what}");
    }
}

/// A full disk behind `> file` is an error to report (exit 3), not a panic and not silence.
#[test]
fn stdout_on_a_full_disk_is_an_error() {
    let flake = flake();
    for args in PRINTING {
        let out = secrets_in(&flake, args).stdout(fs::File::create("/dev/full").unwrap()).stderr(Stdio::piped()).output().unwrap();
        let what = format!("{args:?} >/dev/full");
        no_panic(&what, &out);
        assert_eq!(out.status.code(), Some(3), "secrets {what}: {}", stderr_of(&out));
        assert!(stderr_of(&out).contains("cannot write to standard output"), "secrets {what}: {}", stderr_of(&out));
    }
}

/// `cmd` with stderr made unwritable: sent to a full disk, to a reader that left, or closed
/// (`2>&-`, through a shell: the test process keeps its own descriptors).
fn with_broken_stderr(cmd: Command, how: &str) -> Output {
    let mut cmd = match how {
        "2>/dev/full" => {
            let mut cmd = cmd;
            cmd.stderr(fs::File::create("/dev/full").unwrap());
            cmd
        }
        "2>closed-pipe" => {
            let (reader, writer) = std::io::pipe().unwrap();
            drop(reader);
            let mut cmd = cmd;
            cmd.stderr(writer);
            cmd
        }
        redirect => {
            let mut shell = through_shell(&cmd, redirect);
            shell.stderr(Stdio::piped());
            shell
        }
    };
    cmd.stdout(Stdio::piped()).output().unwrap()
}

/// `cmd` run by `sh -c 'exec … REDIRECT'`, with the same environment and folder.
fn through_shell(cmd: &Command, redirect: &str) -> Command {
    let mut shell = Command::new("sh");
    shell.arg("-c").arg(format!("exec \"$0\" \"$@\" {redirect}")).arg(cmd.get_program()).args(cmd.get_args());
    if let Some(dir) = cmd.get_current_dir() {
        shell.current_dir(dir);
    }
    for (name, value) in cmd.get_envs() {
        match value {
            Some(value) => shell.env(name, value),
            None => shell.env_remove(name),
        };
    }
    shell
}

/// A change whose messages cannot be written is still made whole and committed, and the exit
/// status is the command's own: 0 for a change, 1 for a failure that could not be reported.
#[test]
fn an_unwritable_stderr_changes_nothing_but_the_messages() {
    for how in ["2>/dev/full", "2>closed-pipe", "2>&-"] {
        let flake = flake();
        let mut set = secrets_in(&flake, &["set", "api", "--user", "bob"]);
        set.env("SOPS_NIX_SECRET", "api-value");
        let out = with_broken_stderr(set, how);
        let what = format!("set {how}");
        no_panic(&what, &out);
        assert_eq!(out.status.code(), Some(0), "secrets {what}: {:?}", out.status);
        assert_eq!(flake.ok(1, &["get", "api"]), "api-value", "secrets {what}: bob reads the new secret");
        assert_eq!(flake.last_commit(), "secrets: update api", "secrets {what}");
        assert_eq!(flake.uncommitted(), "", "secrets {what} left the repository half changed");

        let out = with_broken_stderr(secrets_in(&flake, &["get", "missing"]), how);
        no_panic(&format!("get missing {how}"), &out);
        assert_eq!(out.status.code(), Some(1), "get missing {how}: the failure keeps its exit status");
    }
}

/// `>&-` and `2>&-` on commands that print: no panic, no file of the run takes their number.
#[test]
fn closed_descriptors_are_not_fatal() {
    let flake = flake();
    for args in PRINTING {
        for redirect in [">&-", "2>&-", ">&- 2>&-"] {
            let out = through_shell(&secrets_in(&flake, args), redirect).stdout(Stdio::piped()).stderr(Stdio::piped()).output().unwrap();
            no_panic(&format!("{args:?} {redirect}"), &out);
            assert_eq!(out.status.code(), Some(0), "secrets {args:?} {redirect}: {}", stderr_of(&out));
        }
    }
    assert_eq!(flake.uncommitted(), "");
}

const ESC: char = '\u{1b}';

/// A key file whose "public key" carries a terminal escape, and a group with such a name linked
/// to `db`: the reports that quote them show them escaped, the `--explain` lines included.
#[test]
fn planted_escapes_never_reach_the_terminal() {
    let flake = flake();
    flake.ok(0, &["users", "add", "carol", K[2]]);
    let evil_key = format!("age1evil{ESC}]0;owned{ESC}\\{ESC}[2K");
    fs::create_dir_all(flake.sops("machines/web1")).unwrap();
    fs::write(flake.sops("machines/web1/key.json"), format!("[{{\"publickey\": {}, \"type\": \"age\"}}]", serde_json::json!(evil_key)))
        .unwrap();
    fs::create_dir_all(flake.sops("secrets/db/machines")).unwrap();
    symlink("../../../machines/web1", flake.sops("secrets/db/machines/web1")).unwrap();
    let group = format!("ops{ESC}[31m");
    fs::create_dir_all(flake.sops("groups").join(&group)).unwrap();
    fs::create_dir_all(flake.sops("secrets/db/groups")).unwrap();
    symlink(format!("../../../groups/{group}"), flake.sops("secrets/db/groups").join(&group)).unwrap();

    let mut leaks = Vec::new();
    for args in [
        &["access", "db", "--member", "web1", "--explain"][..],
        &["access", "db", "--member", "alice", "--explain"],
        &["access", "db", "--member", "bob", "--explain"],
        &["access", "db", "--member", "carol", "--explain"],
        &["access", "db"],
        &["access"],
        &["access", "--member", "web1"],
        &["machines", "get", "web1"],
        &["groups", "list"],
        &["check"],
        &["log"],
        &["list", "--long"],
    ] {
        let out = secrets_in(&flake, args).output().unwrap();
        no_panic(&format!("{args:?}"), &out);
        let text = format!("{}{}", crate::common::stdout_of(&out), stderr_of(&out));
        if text.contains(ESC) {
            leaks.push(format!("secrets {args:?} printed an escape sequence: {text:?}"));
        }
    }
    assert!(leaks.is_empty(), "{}", leaks.join("\n"));
}
