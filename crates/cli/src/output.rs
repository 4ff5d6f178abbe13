//! Every byte the CLI writes to its standard output and standard error goes through here, so
//! that a closed, broken or full stream is handled the same way by every command. The standard
//! print macros (`println!`, `eprintln!`, …) panic when a write fails; `clippy.toml` forbids
//! them in this crate, together with `std::io::stdout` and `std::io::stderr` outside this module.
//!
//! - Standard output ([`write_stdout`]) carries what the command was asked for. When its reader
//!   goes away (`secrets list | head -1`), the write fails with a broken pipe: the command stops
//!   there with [`Failure::broken_pipe`], its clean-up runs as the error returns, and `main`
//!   ends the process by `SIGPIPE` with nothing printed, as git does (`check_pipe`) and as
//!   every program does that leaves `SIGPIPE` at its default action: the shell sees status 141,
//!   `set -o pipefail` sees the truncated output. Any other failure (a full disk behind
//!   `> file`) is an error, exit 3, as sops reports a failed write of its output.
//! - Standard error ([`say!`], [`prompt`]) carries messages, warnings and questions. A write
//!   that fails (stderr closed, sent to a full disk or to a reader that left) is dropped: there
//!   is nowhere left to report it, and whether anyone reads the warnings must not change what
//!   a command does to the repository. Each line is shown as [`names::shown`] shows a name, so
//!   a committer-chosen name that a message quotes without escaping still cannot send a
//!   terminal escape or forge a line.
//!
//! How much is said on stderr is set once per run ([`set_verbosity`], from `-q`/`-v`):
//! [`say!`] is for what must reach the reader whatever they asked (warnings, errors, what
//! they must act on, such as whom to rotate a value for), [`note!`] for notes and progress
//! (`Committed 1 path to git: …`, `Re-encrypted 3 secrets`), which `--quiet` drops, as git's
//! and cargo's `-q` drop theirs. `--verbose` is clan's `--debug`: the `debug:` lines.
//!
//! A closed descriptor (`2>&-`, `>&-`) never reaches these writers: the Rust runtime opens
//! `/dev/null` on a standard descriptor that is closed at start, as git's `sanitize_stdfds`
//! does, so that no file the command opens can take its number.
//!
//! [`names::shown`]: secrets_store::names::shown

#![allow(clippy::disallowed_methods, reason = "the one module that holds the standard streams")]

use std::fmt;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use secrets_store::names::shown;

use crate::exit;
use crate::failure::{CmdResult, Failure};

/// Writes to stdout: the whole of `bytes`, flushed. A reader that went away is
/// [`Failure::broken_pipe`]; any other failure is an error to report.
pub fn write_stdout(bytes: &[u8]) -> CmdResult<()> {
    WROTE_STDOUT.store(true, Ordering::Relaxed);
    let mut out = std::io::stdout().lock();
    out.write_all(bytes).and_then(|()| out.flush()).map_err(|e| stdout_failure(&e))
}

/// Writes a report to stdout (a listing, a table, an explanation; not a value or a file a
/// script passes on): as [`write_stdout`], with each line that holds a control character
/// shown escaped. Commands escape the names they quote ([`names::shown`]); this catches a
/// name, key, commit author or link target that one of them quotes as it is.
///
/// [`names::shown`]: secrets_store::names::shown
pub fn write_text(text: &str) -> CmdResult<()> {
    write_stdout(printable(text).as_bytes())
}

/// What a failed write to stdout means for the command.
pub fn stdout_failure(error: &std::io::Error) -> Failure {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        Failure::broken_pipe()
    } else {
        Failure::new(exit::COULD_NOT_WRITE_OUTPUT_FILE, format!("cannot write to standard output: {error}"))
    }
}

/// Ends the process by `SIGPIPE`, its default action restored (Rust starts with it ignored):
/// how a run ends whose output's reader went away, once its clean-up is done.
pub fn die_of_broken_pipe() -> ! {
    crate::sys::signals::die(libc::SIGPIPE)
}

/// Prints clap's answer to a command line it did not run (help, version, or a usage error) and
/// ends the process, as `clap::Error::exit` does, except that a help text whose reader went
/// away ends by `SIGPIPE` like any other output, and one that could not be written is an error.
pub fn clap_exit(error: &clap::Error) -> ! {
    let printed = error.print();
    if error.use_stderr() {
        // A usage error on stderr: dropped on failure, like every message.
        std::process::exit(error.exit_code());
    }
    match printed {
        Ok(()) => std::process::exit(error.exit_code()),
        Err(e) => {
            let failure = stdout_failure(&e);
            if failure.is_broken_pipe() {
                die_of_broken_pipe();
            }
            failure.print();
            std::process::exit(i32::from(failure.code));
        }
    }
}

/// Whether anything was written to stdout: a command's own result (see `commands::run`).
static WROTE_STDOUT: AtomicBool = AtomicBool::new(false);

/// Whether the command wrote a result to stdout.
pub fn wrote_stdout() -> bool {
    WROTE_STDOUT.load(Ordering::Relaxed)
}

/// Whether errors are printed as JSON (`--json`): `{"error": {...}}` on stderr.
static JSON_ERRORS: AtomicBool = AtomicBool::new(false);

/// Sets whether errors are printed as JSON for the rest of the run.
pub fn set_json_errors(json: bool) {
    JSON_ERRORS.store(json, Ordering::Relaxed);
}

/// Whether errors are printed as JSON.
pub fn json_errors() -> bool {
    JSON_ERRORS.load(Ordering::Relaxed)
}

/// Whether `--quiet` was given: notes and progress are dropped (see the module docs).
static QUIET: AtomicBool = AtomicBool::new(false);

/// Sets how much is said for the rest of the run: `quiet` drops notes and progress.
pub fn set_verbosity(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Whether notes and progress are dropped (`--quiet`).
pub fn is_quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// Writes a note to stderr (what was done: a commit, a re-encryption, a wait), as [`say!`]
/// does, unless `--quiet` was given.
macro_rules! note {
    ($($arg:tt)*) => {
        if !$crate::output::is_quiet() {
            $crate::output::say_line(::std::format_args!($($arg)*))
        }
    };
}
pub(crate) use note;

/// Writes one line to stderr, like `eprintln!` but never failing: see the module docs.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::output::say_line(::std::format_args!($($arg)*))
    };
}
pub(crate) use say;

/// The body of [`say!`].
pub fn say_line(message: fmt::Arguments<'_>) {
    let mut text = printable(&message.to_string());
    text.push('\n');
    write_stderr(&text);
}

/// Asks a question on stderr (no line break; the answer follows on the same line).
pub fn prompt(question: &str) {
    write_stderr(&printable(question));
}

/// `text` with each line holding a control character shown escaped, line breaks kept.
pub fn printable(text: &str) -> String {
    text.split('\n').map(shown).collect::<Vec<_>>().join("\n")
}

fn write_stderr(text: &str) {
    let mut err = std::io::stderr().lock();
    // Dropped on failure: see the module docs.
    let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
}

/// Whether stdout is a terminal (a person reads it, rather than a file or a program).
pub fn stdout_is_terminal() -> bool {
    std::io::stdout().is_terminal()
}

/// Whether stderr is a terminal.
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_pipe_is_quiet_and_other_failures_are_errors() {
        let pipe = stdout_failure(&std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert!(pipe.is_broken_pipe());
        let full = stdout_failure(&std::io::Error::from(std::io::ErrorKind::StorageFull));
        assert!(!full.is_broken_pipe());
        assert_eq!(full.code, exit::COULD_NOT_WRITE_OUTPUT_FILE);
    }

    #[test]
    fn lines_with_control_characters_are_escaped_and_line_breaks_stay() {
        assert_eq!(printable("Committed 1 path\nhint: x"), "Committed 1 path\nhint: x");
        assert_eq!(printable("evil\u{1b}[2K: unchanged"), "\"evil\\u{1b}[2K: unchanged\"");
        assert_eq!(printable("a\rb\nok"), "\"a\\rb\"\nok");
    }
}
