//! Plaintext and keys do not outlive a run: the file of `set --edit` is removed when a signal
//! ends the run and its value never reaches the repository; private folders left by a killed
//! run are swept by the next one; core dumps are off; `exec` does not hand the private-key
//! variables to its command; `key generate` never writes a key through a link, into a file
//! others can read, or into folders others can enter.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::{clean_env, ok, secrets, secrets_process, stderr_of, stdout_of, vectors};

const ALICE: &str = "age1e9xplsq098whkdsvugpwhmh65hvjzend6kh3pcpuvsswew43jf6smxepjg";

/// A repository with user `admin` (the vectors' `keys.txt`) and the secret `note` = "first".
struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    fn new() -> Repo {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(".clan-flake"), "").unwrap();
        let repo = Repo { dir };
        ok(&repo.cmd().args(["users", "add", "admin", ALICE]).output().unwrap());
        ok(&repo.cmd().args(["set", "note"]).env("SOPS_NIX_SECRET", "first").output().unwrap());
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

    fn note(&self) -> String {
        stdout_of(ok(&self.cmd().args(["get", "note"]).output().unwrap()))
    }
}

fn executable(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// Waits until `marker` holds a line, and returns it.
fn wait_for_line(marker: &Path) -> String {
    let start = Instant::now();
    loop {
        if let Ok(text) = fs::read_to_string(marker) {
            if text.ends_with('\n') {
                return text.trim().to_string();
            }
        }
        assert!(start.elapsed() < Duration::from_secs(30), "the editor did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn send(signal: &str, pid: u32) {
    assert!(Command::new("kill").args([&format!("-{signal}"), &pid.to_string()]).status().unwrap().success());
}

/// An editor that writes a new value, says where the file is, and then blocks; asked to stop,
/// it exits 0 as if all went well, which must still not save anything.
fn blocking_editor(dir: &Path) -> (PathBuf, PathBuf) {
    let script = dir.join("editor.sh");
    let marker = dir.join("marker");
    executable(
        &script,
        &format!(
            "#!/bin/sh\ntrap 'exit 0' TERM HUP INT\nprintf leaked-value > \"$1\"\necho \"$1\" > {}\nwhile :; do sleep 0.05; done\n",
            marker.display()
        ),
    );
    (script, marker)
}

fn signal_during_edit(signal: &str, number: i32) {
    let repo = Repo::new();
    let scratch = tempfile::tempdir().unwrap();
    let (editor, marker) = blocking_editor(scratch.path());
    let mut run = secrets_process();
    run.current_dir(repo.path())
        .env("SOPS_AGE_KEY_FILE", vectors().join("keys.txt"))
        .env("EDITOR", &editor)
        .args(["set", "--edit", "note"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = run.spawn().unwrap();
    let file = PathBuf::from(wait_for_line(&marker));
    assert_eq!(fs::read_to_string(&file).unwrap(), "leaked-value");
    send(signal, child.id());
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(number), "the run ends by the signal it got ({status:?})");
    assert!(!file.exists(), "the edited file is removed");
    assert!(!file.parent().unwrap().exists(), "its private folder is removed");
    assert_eq!(repo.note(), "first", "the value being edited never reached the repository");
}

#[test]
fn sigterm_during_edit_removes_the_file_and_saves_nothing() {
    signal_during_edit("TERM", 15);
}

#[test]
fn sighup_during_edit_removes_the_file_and_saves_nothing() {
    signal_during_edit("HUP", 1);
}

#[test]
fn sigint_during_edit_removes_the_file_and_saves_nothing() {
    signal_during_edit("INT", 2);
}

/// Not only the usual four: every signal whose default action ends the process cleans up.
#[test]
fn other_terminating_signals_during_edit_remove_the_file_too() {
    for (signal, number) in [("USR1", libc::SIGUSR1), ("XCPU", libc::SIGXCPU), ("ALRM", libc::SIGALRM)] {
        signal_during_edit(signal, number);
    }
}

/// Where private folders go: in memory when the system has `/dev/shm`.
fn private_base() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// A pid that no process has now: one that just ended.
fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

fn leftover(name: &str, mode: u32) -> PathBuf {
    let path = private_base().join(name);
    fs::create_dir(&path).unwrap();
    fs::write(path.join("secret"), "left-behind").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    path
}

#[test]
fn folders_of_a_killed_run_are_swept_by_the_next() {
    let repo = Repo::new();
    let dead = dead_pid();
    let stale_edit = leftover(&format!("secrets-edit-{dead}-t3sTaa"), 0o700);
    let stale_exec = leftover(&format!("secrets-exec-{dead}-t3sTab"), 0o700);
    let not_ours = leftover(&format!("secrets-edit-{dead}-t3sTac"), 0o755);
    let running = leftover(&format!("secrets-edit-{}-t3sTad", std::process::id()), 0o700);

    // Any command sweeps, not only the next editor or `exec`.
    ok(&repo.cmd().args(["list"]).output().unwrap());
    assert!(!stale_edit.exists(), "the folder of a dead `set --edit` is removed");
    assert!(!stale_exec.exists(), "the folder of a dead `exec` is removed");
    assert!(not_ours.exists(), "a folder this program would not have made is left alone");
    assert!(running.exists(), "the folder of a live process is left alone");
    fs::remove_dir_all(not_ours).unwrap();
    fs::remove_dir_all(running).unwrap();
}

/// A line of /proc/<pid>/limits for the core file size: "soft hard".
fn core_limit(limits: &str) -> String {
    let line = limits.lines().find(|l| l.starts_with("Max core file size")).unwrap();
    line.split_whitespace().skip(4).take(2).collect::<Vec<_>>().join(" ")
}

#[test]
fn core_dumps_are_off_while_secrets_are_in_memory() {
    let repo = Repo::new();
    // `secrets exec` started with a soft core limit of 4096 blocks; its command reads the limits
    // of its parent (the running `secrets`) and its own.
    let script = "cat /proc/$PPID/limits; echo ---; cat /proc/self/limits";
    let run = |allow: bool| {
        let mut cmd = Command::new("sh");
        clean_env(&mut cmd);
        cmd.args(["-c", "ulimit -S -c 4096 && exec \"$0\" \"$@\"", env!("CARGO_BIN_EXE_secrets")])
            .args(["exec", "--env", "NOTE=note", "--", "sh", "-c", script])
            .current_dir(repo.path())
            .env("SOPS_AGE_KEY_FILE", vectors().join("keys.txt"));
        if allow {
            cmd.env("SECRETS_ALLOW_CORE_DUMPS", "1");
        }
        cmd.output().unwrap()
    };
    let expected = Command::new("sh").args(["-c", "ulimit -S -c 4096 && cat /proc/self/limits"]).output().unwrap();
    let expected = core_limit(&stdout_of(ok(&expected)));
    assert!(!expected.starts_with("0 "));
    let out = run(false);
    let text = stdout_of(ok(&out));
    let (parent, child) = text.split_once("---").unwrap();
    assert!(core_limit(parent).starts_with("0 "), "no core file while secrets are held: {}", core_limit(parent));
    assert_eq!(core_limit(child), expected, "the command gets the original limit back");

    let text = stdout_of(ok(&run(true)));
    let (parent, _) = text.split_once("---").unwrap();
    assert_eq!(core_limit(parent), expected, "SECRETS_ALLOW_CORE_DUMPS=1 keeps them for debugging");
}

#[test]
fn exec_command_does_not_get_the_key_variables() {
    let repo = Repo::new();
    let keys = vectors().join("keys.txt");
    let key_text = fs::read_to_string(&keys).unwrap();
    let key_line = key_text.lines().find(|l| l.starts_with("AGE-SECRET-KEY-1")).unwrap().to_string();
    let run = |extra: &[&str]| -> Output {
        let mut cmd = repo.cmd();
        cmd.arg("exec").args(extra).args([
            "--env",
            "NOTE=note",
            "--",
            "sh",
            "-c",
            "env | grep '^SOPS_AGE_' | cut -d= -f1 | sort; echo \"$NOTE\"",
        ]);
        cmd.env("SOPS_AGE_KEY", &key_line)
            .env("SOPS_AGE_KEY_CMD", format!("cat {}", keys.display()))
            .env("SOPS_AGE_SSH_PRIVATE_KEY_FILE", repo.path().join("no-such-key"));
        cmd.output().unwrap()
    };
    let out = run(&[]);
    assert_eq!(stdout_of(ok(&out)), "first\n", "only the value, no key variable: {}", stderr_of(&out));
    let out = run(&["--keep-key-env"]);
    assert_eq!(
        stdout_of(ok(&out)),
        "SOPS_AGE_KEY\nSOPS_AGE_KEY_CMD\nSOPS_AGE_KEY_FILE\nSOPS_AGE_SSH_PRIVATE_KEY_FILE\nfirst\n",
        "--keep-key-env passes them on"
    );
}

#[test]
fn credentials_exec_command_does_not_get_the_key_variables() {
    let repo = Repo::new();
    let store = repo
        .cmd()
        .args(["credentials", "store", "cloudflare", "--set", "api_token=cf-token-0123456789abcdef", "--set", "account_id=acc"])
        .write_stdin("")
        .output()
        .unwrap();
    ok(&store);
    let script = "env | grep -c '^SOPS_AGE_' || true";
    let out = repo.cmd().args(["credentials", "exec", "cloudflare", "--", "sh", "-c", script]).output().unwrap();
    assert_eq!(stdout_of(ok(&out)).trim(), "0");
    let out = repo.cmd().args(["credentials", "exec", "cloudflare", "--keep-key-env", "--", "sh", "-c", script]).output().unwrap();
    assert_eq!(stdout_of(ok(&out)).trim(), "1", "SOPS_AGE_KEY_FILE, kept on request");
}

/// `secrets key generate` under umask 000 with its own HOME.
fn generate_with_umask_000(home: &Path, key_file: Option<&Path>) -> Output {
    let mut cmd = Command::new("sh");
    clean_env(&mut cmd);
    cmd.args(["-c", "umask 000 && exec \"$0\" key generate", env!("CARGO_BIN_EXE_secrets")])
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .current_dir(home);
    if let Some(file) = key_file {
        cmd.env("SOPS_AGE_KEY_FILE", file);
    }
    cmd.output().unwrap()
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn key_generate_makes_private_folders_whatever_the_umask() {
    let home = tempfile::tempdir().unwrap();
    ok(&generate_with_umask_000(home.path(), None));
    let config = home.path().join(".config");
    for dir in [config.clone(), config.join("sops"), config.join("sops/age")] {
        assert_eq!(mode(&dir), 0o700, "{} is private", dir.display());
    }
    let key = config.join("sops/age/keys.txt");
    assert_eq!(mode(&key), 0o600);
    assert!(fs::read_to_string(&key).unwrap().contains("AGE-SECRET-KEY-1"));
}

#[test]
fn key_generate_never_writes_through_a_link() {
    let home = tempfile::tempdir().unwrap();
    let exposed = home.path().join("exposed");
    fs::write(&exposed, "").unwrap();
    fs::set_permissions(&exposed, fs::Permissions::from_mode(0o666)).unwrap();
    let key = home.path().join("keys.txt");
    std::os::unix::fs::symlink(&exposed, &key).unwrap();
    let out = generate_with_umask_000(home.path(), Some(&key));
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(err.contains("symbolic link") && err.contains("remove the link"), "{err}");
    assert_eq!(fs::read_to_string(&exposed).unwrap(), "", "nothing was written through the link");

    // A dangling link is refused as well, and nothing is created where it points.
    let target = home.path().join("created-through-link");
    let dangling = home.path().join("dangling.txt");
    std::os::unix::fs::symlink(&target, &dangling).unwrap();
    let out = generate_with_umask_000(home.path(), Some(&dangling));
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(!target.exists());
}

#[test]
fn key_generate_refuses_a_key_file_others_can_read() {
    let home = tempfile::tempdir().unwrap();
    let key = home.path().join("keys.txt");
    fs::write(&key, "").unwrap();
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    let out = generate_with_umask_000(home.path(), Some(&key));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains(&format!("chmod 600 {}", key.display())), "{}", stderr_of(&out));
    assert_eq!(fs::read_to_string(&key).unwrap(), "", "no key was added");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    ok(&generate_with_umask_000(home.path(), Some(&key)));
    assert!(fs::read_to_string(&key).unwrap().contains("AGE-SECRET-KEY-1"));
}

/// The raw X25519 key of the first identity in the vectors' `keys.txt` (its bech32 data).
const VECTORS_KEY_HEX: &str = "809f44a73ebf396f53dfd6886f49b1b9b4e2b28b3fd55a45d2200ba72e3c38b5";

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
}

/// How often 8-byte pieces of `needle` occur in `haystack`.
fn pieces_in(haystack: &[u8], needle: &[u8]) -> usize {
    needle.chunks_exact(8).map(|piece| haystack.windows(8).filter(|w| w == &piece).count()).sum()
}

/// Waits until process `pid` has been sleeping for a while: `exec` waiting for its command, done
/// with handing the values over (the command may start before that is finished).
fn wait_until_asleep(pid: u32) {
    let start = Instant::now();
    let mut asleep = 0;
    while asleep < 10 {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit_once(") ").map(|(_, rest)| rest.chars().next()).unwrap_or_default();
        asleep = if state == Some('S') { asleep + 1 } else { 0 };
        assert!(start.elapsed() < Duration::from_secs(30), "the run never waited");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_core_of_exec_holds_neither_the_value_nor_the_key() {
    // Where a crash dump lands depends on the system; only a plain file name can be checked.
    let pattern = fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap_or_default();
    if pattern.starts_with('|') || pattern.contains('/') {
        eprintln!("skipping: core dumps go to {}", pattern.trim());
        return;
    }
    let repo = Repo::new();
    let value = "vQ3x-Zr8p-Lm2K-7tYw-Hc5N-Pd4B";
    ok(&repo.cmd().args(["set", "token"]).env("SOPS_NIX_SECRET", value).output().unwrap());
    let scratch = tempfile::tempdir().unwrap();
    let marker = scratch.path().join("marker");
    let script = format!("echo $$ > {}; exec sleep 30", marker.display());
    let mut cmd = Command::new("sh");
    clean_env(&mut cmd);
    // Core dumps allowed for this run, so that the dump shows what memory still holds.
    cmd.args(["-c", "ulimit -c unlimited 2>/dev/null || exit 99; exec \"$0\" \"$@\"", env!("CARGO_BIN_EXE_secrets")])
        .arg("--repo")
        .arg(repo.path())
        .args(["exec", "--env", "TOKEN=token", "--file", "F=token", "--", "sh", "-c", &script])
        .env("SOPS_AGE_KEY_FILE", vectors().join("keys.txt"))
        .env("SECRETS_ALLOW_CORE_DUMPS", "1")
        .current_dir(scratch.path());
    let mut run = cmd.spawn().unwrap();
    let sleeper = wait_for_line(&marker);
    wait_until_asleep(run.id());
    send("ABRT", run.id());
    let status = run.wait().unwrap();
    send("KILL", sleeper.parse().unwrap());
    if status.code() == Some(99) {
        eprintln!("skipping: the core size limit cannot be raised");
        return;
    }
    assert_eq!(status.signal(), Some(6), "{status:?}");
    let core = fs::read_dir(scratch.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("core"));
    let Some(core) = core else {
        eprintln!("skipping: the system wrote no core file");
        return;
    };
    let dump = fs::read(core).unwrap();
    assert_eq!(pieces_in(&dump, value.as_bytes()), 0, "no piece of the value is left in memory");
    assert_eq!(pieces_in(&dump, &hex_bytes(VECTORS_KEY_HEX)), 0, "no piece of the private key is left in memory");
}

/// Runs `cmd` with its output thrown away; returns whether it succeeded and its peak resident
/// memory in bytes, as the kernel counted it for the finished child.
#[allow(clippy::zombie_processes, reason = "the child is reaped by wait4 below, which `Child::wait` cannot replace")]
fn run_for_peak_memory(cmd: &mut Command) -> (bool, u64) {
    let child = cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    let mut status = 0;
    #[allow(unsafe_code, reason = "wait4 is the call that reports a finished child's peak memory; both pointers are to locals")]
    let (waited, usage) = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        (libc::wait4(pid, &raw mut status, 0, &raw mut usage), usage)
    };
    assert_eq!(waited, pid, "{}", std::io::Error::last_os_error());
    let succeeded = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    // Linux counts it in kilobytes.
    (succeeded, u64::try_from(usage.ru_maxrss).unwrap() * 1024)
}

/// `sops decrypt` of `file` with the vectors' key: whether it succeeded, and its peak memory.
fn decrypt_peak(file: &Path) -> (bool, u64) {
    let mut cmd = secrets_process();
    cmd.args(["sops", "decrypt"]).arg(file).env("SOPS_AGE_KEY_FILE", vectors().join("keys.txt"));
    run_for_peak_memory(&mut cmd)
}

/// A committer controls the size of the files others decrypt, so memory must stay proportional
/// to it: a YAML file of many small entries, comments and nested mappings (the shapes whose tree
/// costs the most per byte of file) decrypts in less than three times its size, beyond what the
/// program takes for a small file.
#[test]
fn a_large_yaml_file_decrypts_in_less_than_three_times_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let mut plain = String::new();
    let mut i = 0;
    // About 6 MB once encrypted.
    while plain.len() < 1_500_000 {
        plain.push_str(&format!("# note {i}\nkey{i:07}:\n    a: v{i}\n    b:\n        c: {i}\n"));
        i += 1;
    }
    let (small, large) = (dir.path().join("small.yaml"), dir.path().join("large.yaml"));
    for (file, text) in [(&small, "a: b\n"), (&large, plain.as_str())] {
        let source = dir.path().join("plain.yaml");
        fs::write(&source, text).unwrap();
        let out = secrets().args(["sops", "encrypt", "--age", ALICE, "--output"]).arg(file).arg(&source).output().unwrap();
        ok(&out);
    }
    let size = fs::metadata(&large).unwrap().len();
    let (small_ok, baseline) = decrypt_peak(&small);
    let (large_ok, peak) = decrypt_peak(&large);
    assert!(small_ok && large_ok, "both files decrypt");
    let excess = peak.saturating_sub(baseline);
    assert!(
        excess < 3 * size,
        "{} kB file: peak {} kB beyond the {} kB of a small file, more than three times its size",
        size / 1024,
        excess / 1024,
        baseline / 1024
    );
}
