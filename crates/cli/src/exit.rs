//! Exit codes by name, so a number means one thing wherever it is returned.
//!
//! `secrets sops` exits as the real `sops` does: those codes come from the format library
//! (`secrets_sops::error::codes`, sops's `cmd/sops/codes`), which maps its own errors with the
//! same names. The rest are ours and follow the conventions scripts already know: 2 for a command
//! line that cannot be acted on (clap's number, and clan's), 127 for a program that cannot be run
//! (the shell's).

use secrets_sops::error::codes;

/// A sops code as a process exit status; a code out of range fails the build, not the run.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "the assert makes the cast exact")]
const fn sops(code: i32) -> u8 {
    assert!(code >= 0 && code <= u8::MAX as i32, "an exit status is 0 to 255");
    code as u8
}

/// Any failure without a more precise code.
pub const GENERIC: u8 = sops(codes::ERROR_GENERIC);
/// A missing, conflicting or malformed argument, or an invalid name.
pub const USAGE: u8 = 2;
/// The program given to run could not be started.
pub const CANNOT_RUN: u8 = 127;

/// sops: an input file (or standard input) could not be read.
pub const COULD_NOT_READ_INPUT_FILE: u8 = sops(codes::COULD_NOT_READ_INPUT_FILE);
/// sops: the output file (or standard output) could not be written.
pub const COULD_NOT_WRITE_OUTPUT_FILE: u8 = sops(codes::COULD_NOT_WRITE_OUTPUT_FILE);
/// sops: `set` got a path or a value it cannot use.
pub const INVALID_SET_FORMAT: u8 = sops(codes::ERROR_INVALID_SET_FORMAT);
/// sops: two options that exclude each other.
pub const CONFLICTING_PARAMETERS: u8 = sops(codes::ERROR_CONFLICTING_PARAMETERS);
/// sops: a tree path leads nowhere in the file.
pub const INVALID_TREE_PATH_FORMAT: u8 = sops(codes::INVALID_TREE_PATH_FORMAT);
/// sops: the input holds no document at all.
pub const NEED_AT_LEAST_ONE_DOCUMENT: u8 = sops(codes::NEED_AT_LEAST_ONE_DOCUMENT);
/// sops: the result could not be written in the output store's layout.
pub const ERROR_DUMPING_TREE: u8 = sops(codes::ERROR_DUMPING_TREE);
/// sops: the file is missing, or not given.
pub const NO_FILE_SPECIFIED: u8 = sops(codes::NO_FILE_SPECIFIED);
/// sops: `--decryption-order` names a kind of key twice.
pub const DUPLICATE_DECRYPTION_KEY_TYPE: u8 = sops(codes::DUPLICATE_DECRYPTION_KEY_TYPE);
/// sops: `edit` ended with the file as it was.
pub const FILE_HAS_NOT_BEEN_MODIFIED: u8 = sops(codes::FILE_HAS_NOT_BEEN_MODIFIED);
/// sops: the editor could not be started.
pub const NO_EDITOR_FOUND: u8 = sops(codes::NO_EDITOR_FOUND);

#[cfg(test)]
mod tests {
    use super::*;

    /// Scripts and the README rely on these numbers; a name may move, its number may not.
    #[test]
    fn the_numbers_stay_sops_numbers() {
        let pinned = [
            (GENERIC, 1),
            (USAGE, 2),
            (COULD_NOT_READ_INPUT_FILE, 2),
            (COULD_NOT_WRITE_OUTPUT_FILE, 3),
            (INVALID_SET_FORMAT, 7),
            (CONFLICTING_PARAMETERS, 8),
            (INVALID_TREE_PATH_FORMAT, 91),
            (NEED_AT_LEAST_ONE_DOCUMENT, 92),
            (ERROR_DUMPING_TREE, 4),
            (NO_FILE_SPECIFIED, 100),
            (FILE_HAS_NOT_BEEN_MODIFIED, 200),
            (CANNOT_RUN, 127),
            (NO_EDITOR_FOUND, 201),
            (DUPLICATE_DECRYPTION_KEY_TYPE, 112),
        ];
        for (code, number) in pinned {
            assert_eq!(code, number);
        }
    }
}
