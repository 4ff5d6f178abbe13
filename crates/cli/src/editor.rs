//! Editing a value in the user's editor: a private 0700 folder holding a 0600 file, removed
//! afterwards whatever happens.

use std::process::Command;

use zeroize::Zeroizing;

use crate::failure::{CmdResult, Failure};

/// Opens `$SOPS_EDITOR`/`$EDITOR` (split on spaces; `vi` if unset) on `current`. Returns the new
/// content, or `None` when it was not changed.
pub fn edit(current: &[u8]) -> CmdResult<Option<Zeroizing<Vec<u8>>>> {
    let dir = crate::io::private_tempdir("secrets-edit-")?;
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
    let status = Command::new(program)
        .args(words)
        .arg(&path)
        .status()
        .map_err(|e| Failure::new(201, format!("cannot run the editor `{program}`: {e}")).hint("set EDITOR to your editor"))?;
    if !status.success() {
        return Err(Failure::msg(format!("the editor `{program}` failed; nothing was changed")));
    }
    let edited = Zeroizing::new(std::fs::read(&path).map_err(fail)?);
    // Overwrite before the folder goes, so the plaintext does not linger in freed blocks.
    let _ = std::fs::write(&path, vec![0u8; edited.len()]);
    drop(dir);
    Ok(if edited.as_slice() == current { None } else { Some(edited) })
}
