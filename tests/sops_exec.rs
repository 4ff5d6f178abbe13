//! `secrets sops exec-env` and `secrets sops exec-file` next to the real sops: the same
//! variables and file contents, the command's exit code, sops's flags and errors, and the keys
//! kept from the command.

use std::path::PathBuf;
use std::process::{Command, Output};

use crate::common::{age_keygen, clean_env, secrets, sops_and_keygen, sops_bin, stderr_of, stdout_of};

struct Bench {
    dir: tempfile::TempDir,
    key: PathBuf,
}

impl Bench {
    /// A folder with a key and `name` encrypted for it by the real sops from `plain`.
    fn new(files: &[(&str, &str)]) -> Bench {
        let dir = tempfile::tempdir().unwrap();
        let (key, recipient) = age_keygen(dir.path(), "key");
        let b = Bench { dir, key };
        for (name, plain) in files {
            let plain_name = format!("plain.{name}");
            std::fs::write(b.dir.path().join(&plain_name), plain).unwrap();
            let out = b.real(&["encrypt", "--age", &recipient, "--output", name, &plain_name]);
            assert!(out.status.success(), "{}", stderr_of(&out));
        }
        b
    }

    fn real(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(sops_bin().unwrap());
        clean_env(&mut cmd);
        cmd.current_dir(self.dir.path()).env("SOPS_AGE_KEY_FILE", &self.key).args(args).output().unwrap()
    }

    fn ours(&self, args: &[&str]) -> Output {
        secrets().current_dir(self.dir.path()).env("SOPS_AGE_KEY_FILE", &self.key).arg("sops").args(args).output().unwrap()
    }

    /// Runs both; asserts the same exit code and standard output, returns ours.
    fn same(&self, args: &[&str]) -> Output {
        let real = self.real(args);
        let ours = self.ours(args);
        assert_eq!(ours.status.code(), real.status.code(), "{args:?}: sops said {} / we said {}", stderr_of(&real), stderr_of(&ours));
        assert_eq!(stdout_of(&ours), stdout_of(&real), "{args:?}");
        ours
    }
}

const ENV_FILE: (&str, &str) = ("s.env", "A=1\nB=two words\n# a comment\nC=x=y\n");
const YAML_FILE: (&str, &str) = ("s.yaml", "a: 1\nf: 1234567890.0\nb: true\ns: \"x y\"\nn: null\n");

#[test]
fn exec_env_gives_the_command_the_values_sops_gives_and_its_exit_code() {
    if !sops_and_keygen() {
        return;
    }
    let b = Bench::new(&[ENV_FILE, YAML_FILE]);
    b.same(&["exec-env", "s.env", "echo \"$A|$B|$C\""]);
    b.same(&["exec-env", "s.yaml", "echo \"$a|$f|$b|$s|$n\""]);
    let out = b.same(&["exec-env", "s.env", "exit 3"]);
    assert_eq!(out.status.code(), Some(3));
    // Only the values (and what the shell sets itself) with --pristine.
    b.same(&["exec-env", "--pristine", "s.yaml", "env | sort"]);
}

#[test]
fn exec_env_keeps_the_key_variables_from_the_command() {
    if !sops_and_keygen() {
        return;
    }
    let b = Bench::new(&[ENV_FILE]);
    let out = b.ours(&["exec-env", "s.env", "echo \"${SOPS_AGE_KEY_FILE:-unset}|$A\""]);
    assert_eq!(stdout_of(&out), "unset|1\n");
}

#[test]
fn exec_env_same_process_background_and_argument_errors_as_sops() {
    if !sops_and_keygen() {
        return;
    }
    let b = Bench::new(&[ENV_FILE, ("nested.yaml", "a:\n  b: c\n")]);
    b.same(&["exec-env", "--same-process", "s.env", "echo same $A; exit 5"]);
    b.same(&["exec-env", "--background", "--same-process", "s.env", "true"]);
    let out = b.same(&["exec-env", "s.env"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("missing file to decrypt"));
    // A nested value cannot be a variable.
    let out = b.same(&["exec-env", "nested.yaml", "true"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("offending key a"));
    // The background command runs on after we return.
    let marker = b.dir.path().join("ran");
    let out = b.ours(&["exec-env", "--background", "s.env", &format!("sleep 0.2; echo \"$A\" > '{}'", marker.display())]);
    assert_eq!(out.status.code(), Some(0));
    for _ in 0..50 {
        if std::fs::read_to_string(&marker).is_ok_and(|t| t == "1\n") {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("the background command did not run");
}

#[test]
fn exec_file_hands_over_the_file_sops_hands_over() {
    if !sops_and_keygen() {
        return;
    }
    let b = Bench::new(&[YAML_FILE]);
    // Through a named pipe (the default), or a regular file; the name and store as asked.
    b.same(&["exec-file", "s.yaml", "cat {}; ls -l {} | cut -c1-10; basename {}"]);
    b.same(&[
        "exec-file",
        "--no-fifo",
        "--filename",
        "app.conf",
        "--output-type",
        "json",
        "s.yaml",
        "cat {}; ls -l {} | cut -c1-10; basename {}; exit 4",
    ]);
    b.same(&["exec-file", "--no-fifo", "s.yaml", "ls -ld \"$(dirname {})\" | cut -c1-10; basename {} | cut -c1-8"]);
    // A command that never opens the pipe does not hang.
    b.same(&["exec-file", "s.yaml", "true"]);
}

#[test]
fn exec_file_removes_its_folder_and_keeps_the_key_variables_from_the_command() {
    if !sops_and_keygen() {
        return;
    }
    let b = Bench::new(&[YAML_FILE]);
    let out = b.ours(&["exec-file", "--no-fifo", "s.yaml", "echo {}; echo \"${SOPS_AGE_KEY_FILE:-unset}\""]);
    let text = stdout_of(&out);
    let mut lines = text.lines();
    let place = PathBuf::from(lines.next().unwrap());
    assert_eq!(lines.next(), Some("unset"));
    assert!(!place.exists() && !place.parent().unwrap().exists(), "{} removed", place.display());
    if std::path::Path::new("/dev/shm").is_dir() {
        assert!(place.starts_with("/dev/shm"), "{}", place.display());
    }
}

#[test]
fn user_runs_the_command_as_that_user() {
    if !sops_and_keygen() || rustix::process::geteuid().as_raw() != 0 {
        return;
    }
    let b = Bench::new(&[YAML_FILE]);
    // The folder must be reachable by `nobody`.
    std::fs::set_permissions(b.dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    b.same(&["exec-env", "--user", "nobody", "s.yaml", "id -un; echo $a"]);
    b.same(&["exec-file", "--user", "nobody", "s.yaml", "id -un; head -1 {}"]);
    b.same(&["exec-file", "--no-fifo", "--user", "nobody", "s.yaml", "id -un; head -1 {}"]);
    let out = b.same(&["exec-env", "--user", "no-such-user-here", "s.yaml", "true"]);
    assert_eq!(out.status.code(), Some(1));
}
