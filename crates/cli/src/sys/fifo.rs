//! Named pipes for `secrets sops exec-file`: sops hands the decrypted file to the command through
//! a FIFO by default, so the plaintext never sits in a file at all.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Creates a FIFO at `path` with `mode` (the process umask still applies, as with mkfifo(3)).
pub fn make(path: &Path, mode: libc::mode_t) -> std::io::Result<()> {
    let name = CString::new(path.as_os_str().as_bytes()).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    // SAFETY: mkfifo reads the NUL-terminated string we own for the duration of the call.
    let result = unsafe { libc::mkfifo(name.as_ptr(), mode) };
    if result == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
