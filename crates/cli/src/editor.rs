//! Editing plaintext in the user's editor: a private 0700 folder holding a 0600 file, in memory
//! where the system allows it (`/dev/shm`, else `$XDG_RUNTIME_DIR`), wiped and removed afterwards
//! whatever happens, termination signals included (see [`crate::sys::signals`]). The editor is
//! chosen as sops chooses it: `$SOPS_EDITOR`, else `$EDITOR` (split into words like a shell
//! does), else the first of `vim`, `nano`, `vi` found on `PATH`. It does not inherit the
//! variables that locate private keys (`SOPS_AGE_KEY*`).

use std::path::{Path, PathBuf};
use std::process::Command;

use zeroize::Zeroizing;

use crate::exit;
use crate::failure::{CmdResult, Failure};
use crate::io::PrivateDir;

/// Opens the editor on `current` once. Returns the new content, or `None` when it was not
/// changed. A termination signal while the editor runs (passed on to it when it was sent to this
/// process alone) removes the file and ends the run by that signal: what was typed never reaches
/// the repository.
pub fn edit(current: &[u8]) -> CmdResult<Option<Zeroizing<Vec<u8>>>> {
    let mut session = Session::new("secret", current)?;
    session.run(exit::GENERIC)?;
    let edited = session.read()?;
    drop(session);
    Ok(if edited.as_slice() == current { None } else { Some(edited) })
}

/// One file being edited, possibly in several rounds (`sops edit` re-opens the editor when the
/// result does not parse). Dropping it wipes the file and removes its folder.
pub struct Session {
    dir: Option<PrivateDir>,
    path: PathBuf,
}

impl Session {
    /// Writes `content` to a new private file named `name` (the edited file's own name, so that
    /// the editor recognises its type, as sops does).
    pub fn new(name: &str, content: &[u8]) -> CmdResult<Session> {
        let dir = crate::io::private_tempdir("edit")?;
        let path = dir.path().join(name);
        crate::io::write_private(dir.path(), &path, content, 0o600)?;
        Ok(Session { dir: Some(dir), path })
    }

    /// Runs the editor on the file and waits for it; a failed start is sops's exit code 201,
    /// an editor that fails exits with `failed_code` (sops: 201 too; our own commands: 1).
    pub fn run(&mut self, failed_code: u8) -> CmdResult<()> {
        let (program, args) = editor_command()?;
        let mut command = Command::new(&program);
        command.args(&args).arg(&self.path);
        // The editor needs the value, not the keys that open every secret (as `secrets exec`).
        crate::commands::exec::remove_key_env(&mut command);
        let finished = crate::sys::signals::run(command).map_err(|e| {
            Failure::new(exit::NO_EDITOR_FOUND, format!("could not run the editor `{program}`: {e}"))
                .hint("set SOPS_EDITOR or EDITOR to your editor")
        })?;
        if let Some(signal) = finished.signal {
            wipe(&self.path);
            drop(self.dir.take());
            crate::sys::signals::die(signal);
        }
        if !finished.status.success() {
            return Err(Failure::new(failed_code, format!("the editor `{program}` failed ({}); nothing was changed", finished.status)));
        }
        Ok(())
    }

    /// The file's content now.
    pub fn read(&self) -> CmdResult<Zeroizing<Vec<u8>>> {
        std::fs::read(&self.path)
            .map(Zeroizing::new)
            .map_err(|e| Failure::new(exit::COULD_NOT_READ_INPUT_FILE, format!("could not read the edited file: {e}")))
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        wipe(&self.path);
    }
}

/// The editor's program and arguments, as sops finds them.
fn editor_command() -> CmdResult<(String, Vec<String>)> {
    for var in ["SOPS_EDITOR", "EDITOR"] {
        let Some(value) = std::env::var(var).ok().filter(|v| !v.is_empty()) else { continue };
        let words = shlex::split(&value).filter(|w| !w.is_empty());
        let Some(mut words) = words else {
            return Err(Failure::new(exit::NO_EDITOR_FOUND, format!("invalid ${var}: it does not split into words like a shell command")));
        };
        let program = words.remove(0);
        return Ok((program, words));
    }
    for name in ["vim", "nano", "vi"] {
        if on_path(name) {
            return Ok((name.to_string(), Vec::new()));
        }
    }
    Err(Failure::new(exit::NO_EDITOR_FOUND, "no editor available: none of SOPS_EDITOR, EDITOR, vim, nano or vi")
        .hint("set SOPS_EDITOR or EDITOR to your editor"))
}

fn on_path(name: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths)
            .any(|dir| std::fs::metadata(dir.join(name)).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
    })
}

/// Overwrites the file in place (no truncation, which would only free its pages) before its
/// folder goes, so the plaintext does not linger in freed memory of `/dev/shm`.
fn wipe(path: &Path) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    // Never through a link, and never blocking on a FIFO put there instead of the file.
    let opened = std::fs::OpenOptions::new().write(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(path);
    let Ok(mut file) = opened else { return };
    let Ok(meta) = file.metadata() else { return };
    if !meta.is_file() {
        return;
    }
    let zeros = [0u8; 8192];
    let mut left = meta.len();
    while left > 0 {
        let n = usize::try_from(left).unwrap_or(usize::MAX).min(zeros.len());
        if file.write_all(&zeros[..n]).is_err() {
            return;
        }
        left -= n as u64;
    }
    let _ = file.sync_data();
}
