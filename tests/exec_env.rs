//! Names and files that whoever commits to the repository controls cannot steer what runs:
//! `exec --all-env` does not let secret names replace set variables or fill ones like PATH,
//! LD_PRELOAD or SOPS_AGE_KEY_CMD; the editor of `set --edit` gets no key variables;
//! `key generate` refuses folders others can write to; `users get` does not print a private
//! key committed by mistake.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::common::{clean_env, ok, secrets, stderr_of, stdout_of, vectors};

const ALICE: &str = "age1e9xplsq098whkdsvugpwhmh65hvjzend6kh3pcpuvsswew43jf6smxepjg";

/// A repository with user `admin` (the vectors' `keys.txt`) and the given secrets.
struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    fn new(secrets: &[(&str, &str)]) -> Repo {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(".clan-flake"), "").unwrap();
        let repo = Repo { dir };
        ok(&repo.cmd().args(["users", "add", "admin", ALICE]).output().unwrap());
        for (name, value) in secrets {
            ok(&repo.cmd().args(["set", name]).env("SOPS_NIX_SECRET", value).output().unwrap());
        }
        repo
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn cmd(&self) -> assert_cmd::Command {
        let mut cmd = secrets();
        cmd.current_dir(self.path()).env("SOPS_AGE_KEY_FILE", vectors().join("keys.txt"));
        cmd
    }
}

#[test]
fn all_env_secret_names_cannot_steer_the_command() {
    let repo = Repo::new(&[
        ("ld_preload", "/nowhere/evil.so"),
        ("path", "/nowhere/bin"),
        ("bash_env", "/nowhere/rc"),
        ("sops_age_key_cmd", "cat /etc/hostname"),
        ("git_ssh_command", "evil"),
        ("already_set", "theirs"),
        ("db", "s3cret"),
    ]);
    let script = r#"printf '%s|%s|%s|%s|%s|%s|%s\n' "${LD_PRELOAD-unset}" "$PATH" "${BASH_ENV-unset}" "${SOPS_AGE_KEY_CMD-unset}" "${GIT_SSH_COMMAND-unset}" "$ALREADY_SET" "$DB""#;
    // `sh` by name: it must be found on the caller's PATH, not on one a secret provides.
    let out = repo
        .cmd()
        .args(["exec", "--all-env", "--", "sh", "-c", script])
        .env("PATH", "/usr/bin:/bin")
        .env("ALREADY_SET", "mine")
        .output()
        .unwrap();
    assert_eq!(stdout_of(ok(&out)), "unset|/usr/bin:/bin|unset|unset|unset|mine|s3cret\n", "{}", stderr_of(&out));
    let err = stderr_of(&out);
    for name in ["ld_preload", "path", "bash_env", "sops_age_key_cmd", "git_ssh_command", "already_set"] {
        assert!(err.contains(&format!("warning: secret `{name}` is not passed")), "{name}: {err}");
    }
    assert!(!err.contains("`db`"), "{err}");

    // The user may still choose such a name explicitly...
    let out = repo.cmd().args(["exec", "--env", "PATH=path", "--", "/bin/sh", "-c", "echo \"$PATH\""]).output().unwrap();
    assert_eq!(stdout_of(ok(&out)), "/nowhere/bin\n");
    // ...but not a key variable, unless --keep-key-env says so.
    let out = repo.cmd().args(["exec", "--env", "SOPS_AGE_KEY_CMD=db", "--", "/bin/sh", "-c", "true"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("--keep-key-env"), "{}", stderr_of(&out));
    let script = "echo \"$SOPS_AGE_KEY_CMD\"";
    let out = repo.cmd().args(["exec", "--keep-key-env", "--env", "SOPS_AGE_KEY_CMD=db", "--", "/bin/sh", "-c", script]).output().unwrap();
    assert_eq!(stdout_of(ok(&out)), "s3cret\n");
}

#[test]
fn the_editor_does_not_get_the_key_variables() {
    let repo = Repo::new(&[("note", "first")]);
    let editor = repo.path().join("editor.sh");
    let seen = repo.path().join("seen");
    fs::write(&editor, format!("#!/bin/sh\nenv | grep -c '^SOPS_AGE_' > {} ; printf second > \"$1\"\n", seen.display())).unwrap();
    fs::set_permissions(&editor, fs::Permissions::from_mode(0o755)).unwrap();
    let out = repo.cmd().args(["set", "--edit", "note"]).env("EDITOR", &editor).env("SOPS_AGE_KEY_CMD", "true").output().unwrap();
    ok(&out);
    assert_eq!(fs::read_to_string(&seen).unwrap().trim(), "0", "no SOPS_AGE_* variable reached the editor");
    assert_eq!(stdout_of(ok(&repo.cmd().args(["get", "note"]).output().unwrap())), "second");
}

#[test]
fn key_generate_refuses_a_folder_anyone_can_write_to() {
    let home = tempfile::tempdir().unwrap();
    let open = home.path().join("open");
    fs::create_dir(&open).unwrap();
    fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
    fs::create_dir_all(home.path().join(".config/sops")).unwrap();
    std::os::unix::fs::symlink(&open, home.path().join(".config/sops/age")).unwrap();
    let generate = || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_secrets"));
        clean_env(&mut cmd);
        cmd.args(["key", "generate"])
            .env("HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path().join(".config"))
            .current_dir(home.path())
            .output()
            .unwrap()
    };
    let out = generate();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("not sticky"), "{}", stderr_of(&out));
    assert!(!open.join("keys.txt").exists(), "no key was written where anyone can swap it");

    // Sticky, like /tmp, is fine: others cannot remove or rename what is ours.
    fs::set_permissions(&open, fs::Permissions::from_mode(0o1777)).unwrap();
    ok(&generate());
    assert!(fs::read_to_string(open.join("keys.txt")).unwrap().contains("AGE-SECRET-KEY-1"));
}

#[test]
fn users_get_does_not_print_a_committed_private_key() {
    let repo = Repo::new(&[]);
    let private = "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ";
    let key_file = repo.path().join("sops/users/admin/key.json");
    let text = fs::read_to_string(&key_file).unwrap().replace(ALICE, private);
    assert!(text.contains(private));
    fs::write(&key_file, text).unwrap();
    for args in [&["users", "get", "admin"][..], &["--json", "users", "get", "admin"][..]] {
        let out = repo.cmd().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
        let all = format!("{}{}", stdout_of(&out), stderr_of(&out));
        assert!(!all.contains("AGE-SECRET-KEY-1Q"), "{all}");
        assert!(stderr_of(&out).contains("private key"), "{}", stderr_of(&out));
    }
}
