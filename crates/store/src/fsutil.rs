//! Writing files so that a crash at any point leaves either the old or the new content, and
//! the new content, once written, survives a power cut (the file and then its folder are synced,
//! as a rename is only durable once the folder is).
//!
//! Repository content is written through open folders instead
//! ([`crate::untrusted::Folder::write_atomic`]); this path-based form is for files the user names.
//!
//! Testing aid: when the environment variable `SECRETS_FAIL_WRITE` is a number N, the Nth call
//! of [`write_atomic`] or [`crate::untrusted::Folder::write_atomic`] in the process (counting from 1) fails with "No space left on device"
//! without writing anything, so that tests can fail exactly the first, a middle or the last write
//! of a change. `SECRETS_FAIL_JOURNAL` does the same for the Nth record of undo steps, and
//! `SECRETS_KILL_AT_JOURNAL` ends the process by `SIGKILL` there instead, as a `kill -9` would,
//! before the record is written. Each is read once, and has no effect when unset.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use crate::error::{Result, StoreError};

/// Replaces `path` atomically: a temporary file in the same folder, synced, then renamed over
/// the target. The target's permissions are kept; a new file gets `new_mode` (unix).
pub fn write_atomic(path: &Path, bytes: &[u8], new_mode: u32) -> Result<()> {
    injected_failure().map_err(|e| StoreError::io(path, e))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
    let fail = |e: std::io::Error| StoreError::io(path, e);
    let mut temp = tempfile::Builder::new().prefix(".secrets-").tempfile_in(dir).map_err(fail)?;
    match fs::metadata(path) {
        Ok(meta) => fs::set_permissions(temp.path(), meta.permissions()).map_err(fail)?,
        Err(_) => set_mode(temp.path(), new_mode).map_err(fail)?,
    }
    temp.write_all(bytes).map_err(fail)?;
    temp.as_file().sync_all().map_err(fail)?;
    temp.persist(path).map_err(|e| fail(e.error))?;
    crate::journal::sync_dir(Some(dir));
    Ok(())
}

/// The failure `SECRETS_FAIL_WRITE` asks for, at the write it names.
pub(crate) fn injected_failure() -> std::io::Result<()> {
    static FAIL_AT: OnceLock<Option<usize>> = OnceLock::new();
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    nth_call_fails("SECRETS_FAIL_WRITE", &FAIL_AT, &CALLS)
}

/// The failure `SECRETS_FAIL_JOURNAL` asks for: the Nth record of undo steps in the process
/// fails with "No space left on device", as a journal meeting a full disk does.
pub(crate) fn injected_journal_failure() -> std::io::Result<()> {
    static FAIL_AT: OnceLock<Option<usize>> = OnceLock::new();
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    nth_call_fails("SECRETS_FAIL_JOURNAL", &FAIL_AT, &CALLS)
}

/// The kill `SECRETS_KILL_AT_JOURNAL` asks for: at the Nth record of undo steps in the process,
/// before it is written, the process ends by `SIGKILL` (no unwinding, no clean-up).
pub(crate) fn injected_journal_kill() {
    static KILL_AT: OnceLock<Option<usize>> = OnceLock::new();
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    if nth_call_fails("SECRETS_KILL_AT_JOURNAL", &KILL_AT, &CALLS).is_err() {
        let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
    }
}

fn nth_call_fails(var: &str, fail_at: &OnceLock<Option<usize>>, calls: &AtomicUsize) -> std::io::Result<()> {
    let Some(at) = *fail_at.get_or_init(|| std::env::var(var).ok().and_then(|v| v.trim().parse().ok())) else {
        return Ok(());
    };
    if calls.fetch_add(1, Ordering::SeqCst) + 1 == at {
        return Err(std::io::Error::from_raw_os_error(libc_enospc()));
    }
    Ok(())
}

#[cfg(unix)]
fn libc_enospc() -> i32 {
    libc::ENOSPC
}

#[cfg(not(unix))]
fn libc_enospc() -> i32 {
    28
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_keeps_mode() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        write_atomic(&file, b"one", 0o600).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
            set_mode(&file, 0o640).unwrap();
        }
        write_atomic(&file, b"two", 0o600).unwrap();
        assert_eq!(fs::read(&file).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o640);
        }
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
    }
}
