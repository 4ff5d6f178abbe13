//! Editing a value in the user's editor: a private 0700 folder holding a 0600 file, removed
//! afterwards whatever happens, termination signals included (see [`crate::sys::signals`]). The
//! editor does not inherit the variables that locate private keys (`SOPS_AGE_KEY*`).

use std::process::Command;

use zeroize::Zeroizing;

use crate::exit;
use crate::failure::{CmdResult, Failure};

/// Opens `$SOPS_EDITOR`/`$EDITOR` (split on spaces; `vi` if unset) on `current`. Returns the new
/// content, or `None` when it was not changed. A termination signal while the editor runs (passed
/// on to it when it was sent to this process alone) removes the file and ends the run by that
/// signal: what was typed never reaches the repository.
pub fn edit(current: &[u8]) -> CmdResult<Option<Zeroizing<Vec<u8>>>> {
    let dir = crate::io::private_tempdir("edit")?;
    let path = dir.path().join("secret");
    let fail = |e: std::io::Error| Failure::msg(format!("cannot prepare the file to edit: {e}"));
    crate::io::write_private(dir.path(), &path, current, 0o600)?;
    let editor = std::env::var("SOPS_EDITOR")
        .ok()
        .filter(|e| !e.trim().is_empty())
        .or_else(|| std::env::var("EDITOR").ok().filter(|e| !e.trim().is_empty()))
        .unwrap_or_else(|| "vi".to_string());
    let mut words = editor.split_whitespace();
    let program = words.next().unwrap_or("vi");
    let mut command = Command::new(program);
    command.args(words).arg(&path);
    // The editor needs the value, not the keys that open every secret (as `secrets exec`).
    crate::commands::exec::remove_key_env(&mut command);
    let finished = crate::sys::signals::run(command).map_err(|e| {
        Failure::new(exit::NO_EDITOR_FOUND, format!("cannot run the editor `{program}`: {e}")).hint("set EDITOR to your editor")
    });
    let finished = match finished {
        Ok(finished) => finished,
        Err(failure) => {
            wipe(&path);
            return Err(failure);
        }
    };
    if let Some(signal) = finished.signal {
        wipe(&path);
        drop(dir);
        crate::sys::signals::die(signal);
    }
    if !finished.status.success() {
        wipe(&path);
        return Err(Failure::msg(format!("the editor `{program}` failed; nothing was changed")));
    }
    let edited = Zeroizing::new(std::fs::read(&path).map_err(fail)?);
    wipe(&path);
    drop(dir);
    Ok(if edited.as_slice() == current { None } else { Some(edited) })
}

/// Overwrites the file in place (no truncation, which would only free its pages) before its
/// folder goes, so the plaintext does not linger in freed memory of `/dev/shm`.
fn wipe(path: &std::path::Path) {
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
