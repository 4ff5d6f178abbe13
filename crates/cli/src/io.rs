//! Reading inputs and writing outputs: stdin as `-`, atomic replacement of files in place.

use std::fs;
use std::io::{Read, Write};
use std::path::Path;

use crate::failure::{CmdResult, Failure};

/// Reads a file, or stdin for `-`.
pub fn read_input(path: &Path) -> CmdResult<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut buffer = Vec::new();
        std::io::stdin().read_to_end(&mut buffer).map_err(|e| Failure::new(2, format!("cannot read standard input: {e}")))?;
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

/// Replaces `path` atomically (the store's `write_atomic`): a crash leaves either the old or
/// the new file, and the target's permissions are kept (a new file is 0600).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> CmdResult<()> {
    secrets_store::fsutil::write_atomic(path, bytes, 0o600).map_err(|e| Failure::new(3, format!("cannot write the file: {e}")))
}

/// Writes to stdout.
pub fn write_stdout(bytes: &[u8]) -> CmdResult<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes).and_then(|_| out.flush()).map_err(|e| Failure::new(3, format!("cannot write to standard output: {e}")))
}

/// A new temporary folder only its owner can enter (0700), in memory (`/dev/shm`) when the
/// system has it, removed when dropped: the one place plaintext may touch a file system.
pub fn private_tempdir(prefix: &str) -> CmdResult<tempfile::TempDir> {
    let shm = Path::new("/dev/shm");
    let bases = if shm.is_dir() { vec![shm.to_path_buf(), std::env::temp_dir()] } else { vec![std::env::temp_dir()] };
    let mut last = None;
    for base in bases {
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
                return Ok(dir);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(Failure::msg(format!("cannot create a private temporary folder: {}", last.map(|e| e.to_string()).unwrap_or_default())))
}

/// Refuses a folder that others could enter (a umask or file system that ignored the mode).
fn check_private(dir: &Path) -> CmdResult<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dir).map(|m| m.permissions().mode() & 0o777).unwrap_or(0);
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
