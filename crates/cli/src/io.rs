//! Reading inputs and writing outputs: stdin as `-`, atomic replacement of files in place.

use std::fs;
use std::io::{Read, Write};
use std::path::Path;

use crate::failure::{CmdResult, Failure};

/// Reads a file, or stdin for `-`.
pub fn read_input(path: &Path) -> CmdResult<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut buffer = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buffer)
            .map_err(|e| Failure::new(2, format!("cannot read standard input: {e}")))?;
        return Ok(buffer);
    }
    fs::read(path).map_err(|e| {
        let failure = Failure::new(2, format!("{}: cannot read the file: {e}", path.display()));
        if e.kind() == std::io::ErrorKind::NotFound {
            failure.hint("check the path; `-` reads from standard input")
        } else {
            failure
        }
    })
}

/// Replaces `path` atomically: a temporary file in the same folder, flushed, then renamed over
/// the target, keeping the target's permissions. A crash leaves either the old or the new file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> CmdResult<()> {
    let fail = |e: std::io::Error| Failure::new(3, format!("{}: cannot write the file: {e}", path.display()));
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut temp = tempfile::Builder::new().prefix(".secrets-").tempfile_in(dir).map_err(fail)?;
    if let Ok(meta) = fs::metadata(path) {
        fs::set_permissions(temp.path(), meta.permissions()).map_err(fail)?;
    }
    temp.write_all(bytes).map_err(fail)?;
    temp.as_file().sync_all().map_err(fail)?;
    temp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

/// Writes to stdout.
pub fn write_stdout(bytes: &[u8]) -> CmdResult<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes).and_then(|_| out.flush()).map_err(|e| Failure::new(3, format!("cannot write to standard output: {e}")))
}

/// A new temporary folder only its owner can enter (0700), removed when dropped: the one place
/// plaintext may touch the disk.
pub fn private_tempdir(prefix: &str) -> CmdResult<tempfile::TempDir> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o700));
    }
    let dir = builder.tempdir().map_err(|e| Failure::msg(format!("cannot create a private temporary folder: {e}")))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path()).map(|m| m.permissions().mode() & 0o777).unwrap_or(0);
        if mode != 0o700 {
            return Err(Failure::msg(format!("{}: the temporary folder is not private", dir.path().display())));
        }
    }
    Ok(dir)
}
