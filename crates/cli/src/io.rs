//! Reading inputs and writing files: stdin as `-`, atomic replacement of files in place, and
//! the private folders that hold plaintext while a command runs. Standard output and standard
//! error are written by `crate::output`.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::exit;
use crate::failure::{CmdResult, Failure};

/// Reads a file, or stdin for `-`.
pub fn read_input(path: &Path) -> CmdResult<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut buffer = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buffer)
            .map_err(|e| Failure::new(exit::COULD_NOT_READ_INPUT_FILE, format!("cannot read standard input: {e}")))?;
        return Ok(buffer);
    }
    fs::read(path).map_err(|e| {
        let failure = Failure::new(exit::COULD_NOT_READ_INPUT_FILE, format!("{}: cannot read the file: {e}", path.display()));
        if e.kind() == std::io::ErrorKind::NotFound {
            failure.hint("check the path; `-` reads from standard input")
        } else {
            failure
        }
    })
}

/// Replaces `path` atomically (the store's `write_atomic`): a crash leaves either the old or
/// the new file, and the target's permissions are kept (a new file is 0600).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> CmdResult<()> {
    secrets_store::fsutil::write_atomic(path, bytes, 0o600)
        .map_err(|e| Failure::new(exit::COULD_NOT_WRITE_OUTPUT_FILE, format!("cannot write the file: {e}")))
}

/// A private folder (0700) that holds plaintext while a command runs: removed when dropped, and
/// removed by [`crate::sys::signals`] if a termination signal ends the run first.
pub struct PrivateDir {
    dir: Option<tempfile::TempDir>,
}

impl PrivateDir {
    pub fn path(&self) -> &Path {
        self.dir.as_ref().map_or(Path::new(""), tempfile::TempDir::path)
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            let path = dir.path().to_path_buf();
            drop(dir);
            crate::sys::signals::release(&path);
        }
    }
}

/// The kinds of private folder: `secrets-<kind>-<pid>-<random>`. The pid in the name lets a
/// later run remove the folder of a process that died without cleaning up (SIGKILL, power loss).
const SWEPT_KINDS: [&str; 3] = ["edit", "exec", "cred"];

/// A new private folder `secrets-<kind>-<pid>-…`, in memory (`/dev/shm`) when the system has it,
/// removed when dropped or when a signal ends the run: the one place plaintext may touch a file
/// system. Stale folders of dead processes are removed first (see [`sweep_stale`]).
pub fn private_tempdir(kind: &str) -> CmdResult<PrivateDir> {
    let prefix = format!("secrets-{kind}-{}-", std::process::id());
    let dir = create_private(&prefix, true)?;
    crate::sys::signals::protect(dir.path());
    Ok(PrivateDir { dir: Some(dir) })
}

/// Removes the private folders that runs killed outright (SIGKILL, a power cut) left behind, in
/// every place [`private_tempdir`] makes them: every command but the `sops` fast path calls it,
/// so plaintext left by a killed `set --edit` does not wait for the next editor or `exec`.
pub fn sweep_leftovers() {
    for base in private_bases() {
        sweep_stale(&base);
    }
}

/// A private folder meant to outlive the run (the user removes it): not registered, not swept.
pub fn lasting_private_dir(prefix: &str) -> CmdResult<PathBuf> {
    Ok(create_private(prefix, false)?.keep())
}

/// Where private folders go, best first: memory (`/dev/shm`, then the user's runtime folder,
/// itself in memory on most systems), then the temporary folder.
fn private_bases() -> Vec<PathBuf> {
    let mut bases = Vec::new();
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        bases.push(shm.to_path_buf());
    }
    if let Some(runtime) = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from).filter(|p| p.is_absolute() && p.is_dir()) {
        bases.push(runtime);
    }
    bases.push(std::env::temp_dir());
    bases
}

fn create_private(prefix: &str, sweep: bool) -> CmdResult<tempfile::TempDir> {
    let mut last = None;
    for base in private_bases() {
        let mut builder = tempfile::Builder::new();
        builder.prefix(prefix);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(fs::Permissions::from_mode(0o700));
        }
        match builder.tempdir_in(&base) {
            Ok(dir) => {
                check_private(dir.path())?;
                if sweep {
                    sweep_stale(&base);
                }
                return Ok(dir);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(Failure::msg(format!("cannot create a private temporary folder: {}", last.map(|e| e.to_string()).unwrap_or_default())))
}

/// Removes the private folders in `base` left by processes that no longer exist: named
/// `secrets-<kind>-<pid>-…`, a real folder (not a link), owned by this user and mode 0700, as
/// this program makes them. Anything else is left alone.
#[cfg(unix)]
fn sweep_stale(base: &Path) {
    use std::os::unix::fs::MetadataExt;
    let owner = crate::sys::signals::effective_uid();
    let Ok(entries) = fs::read_dir(base) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(stale_pid) else { continue };
        if pid == std::process::id() || crate::sys::signals::alive(pid) {
            continue;
        }
        let path = entry.path();
        let Ok(meta) = fs::symlink_metadata(&path) else { continue };
        if meta.is_dir() && meta.uid() == owner && meta.mode() & 0o7777 == 0o700 {
            // remove_dir_all does not follow links inside the folder.
            let _ = fs::remove_dir_all(&path);
        }
    }
}

#[cfg(not(unix))]
fn sweep_stale(_base: &Path) {}

/// The pid in a name `secrets-<kind>-<pid>-<suffix>` of one of [`SWEPT_KINDS`].
fn stale_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("secrets-")?;
    let (kind, rest) = rest.split_once('-')?;
    if !SWEPT_KINDS.contains(&kind) {
        return None;
    }
    let (pid, suffix) = rest.split_once('-')?;
    if suffix.is_empty() || pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

/// Refuses a folder that others could enter (a umask or file system that ignored the mode).
fn check_private(dir: &Path) -> CmdResult<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dir).map_or(0, |m| m.permissions().mode() & 0o777);
        if mode != 0o700 {
            return Err(Failure::msg(format!("{}: the temporary folder is not private", dir.display())));
        }
    }
    Ok(())
}

/// Writes a new file only its owner can read (`mode`, e.g. 0400 or 0600) inside a private
/// folder `root`, creating private subfolders for names like `a/b`.
pub fn write_private(root: &Path, path: &Path, bytes: &[u8], mode: u32) -> CmdResult<()> {
    let fail = |e: std::io::Error| Failure::msg(format!("{}: cannot write a private file: {e}", path.display()));
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        if let Some(parent) = path.parent().filter(|p| *p != root) {
            fs::DirBuilder::new().recursive(true).mode(0o700).create(parent).map_err(fail)?;
        }
        options.mode(mode);
    }
    let mut file = options.open(path).map_err(fail)?;
    file.write_all(bytes).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_names_carry_a_pid() {
        assert_eq!(stale_pid("secrets-edit-123-AbC9xz"), Some(123));
        assert_eq!(stale_pid("secrets-exec-7-a"), Some(7));
        assert_eq!(stale_pid("secrets-cred-42-zz"), Some(42));
        assert_eq!(stale_pid("secrets-edit-123"), None, "no suffix");
        assert_eq!(stale_pid("secrets-edit-12a-x"), None);
        assert_eq!(stale_pid("secrets-credentials-x"), None, "kept credential folders are never swept");
        assert_eq!(stale_pid("secrets-tests-empty-home"), None);
        assert_eq!(stale_pid("other-edit-1-x"), None);
    }

    #[cfg(unix)]
    #[test]
    fn sweeping_removes_only_private_folders_of_dead_processes() {
        use std::os::unix::fs::PermissionsExt;
        let base = tempfile::tempdir().unwrap();
        let private = |name: &str, mode: u32| {
            let path = base.path().join(name);
            fs::create_dir(&path).unwrap();
            fs::write(path.join("secret"), "x").unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            path
        };
        // A pid above the kernel's maximum (4194304) never names a live process.
        let dead = private("secrets-edit-999999999-aaaaaa", 0o700);
        let open = private("secrets-exec-999999998-aaaaaa", 0o755);
        let alive = private(&format!("secrets-exec-{}-aaaaaa", std::process::id()), 0o700);
        let target = private("target", 0o700);
        std::os::unix::fs::symlink(&target, base.path().join("secrets-cred-999999997-aaaaaa")).unwrap();
        sweep_stale(base.path());
        assert!(!dead.exists(), "a dead process's folder is removed");
        assert!(open.exists(), "a folder with another mode is not ours");
        assert!(alive.exists(), "a live process's folder stays");
        assert!(target.join("secret").exists(), "a link is not followed");
    }
}
