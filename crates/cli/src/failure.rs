//! How a failed command reports itself: one or two lines saying what is wrong and what to do,
//! and an exit code (the real sops's numbers for `secrets sops`).

use std::fmt::Display;

use secrets_sops::Error as SopsError;
use secrets_store::credentials::mask::redact;

use crate::exit;
use crate::output::{printable, say};

pub struct Failure {
    pub code: u8,
    pub message: String,
    pub hints: Vec<String>,
    /// Standard output's reader went away: the command stops quietly (see `crate::output`).
    broken_pipe: bool,
    /// The message is printed as it is, without `error: ` and hints: sops's own words that
    /// scripts written for sops compare byte for byte.
    verbatim: bool,
}

pub type CmdResult<T = u8> = Result<T, Failure>;

impl Failure {
    pub fn new(code: u8, message: impl Display) -> Failure {
        Failure { code, message: message.to_string(), hints: Vec::new(), broken_pipe: false, verbatim: false }
    }

    /// A failure printed exactly as sops prints it (one line, no prefix, no hint).
    pub fn verbatim(code: u8, message: impl Display) -> Failure {
        Failure { verbatim: true, ..Failure::new(code, message) }
    }

    /// Standard output's reader went away (`secrets list | head -1`): nothing is printed, and
    /// the process ends by `SIGPIPE` once the command has cleaned up.
    pub fn broken_pipe() -> Failure {
        Failure { broken_pipe: true, ..Failure::new(exit::GENERIC, "standard output was closed by its reader") }
    }

    pub fn is_broken_pipe(&self) -> bool {
        self.broken_pipe
    }

    /// A generic failure (exit 1).
    pub fn msg(message: impl Display) -> Failure {
        Failure::new(exit::GENERIC, message)
    }

    /// The same failure with another exit code (where sops uses another number for it).
    pub fn with_code(mut self, code: u8) -> Failure {
        self.code = code;
        self
    }

    pub fn hint(mut self, hint: impl Display) -> Failure {
        self.hints.push(hint.to_string());
        self
    }

    /// A library error about `file`, with sops' exit code and advice for the common cases.
    pub fn sops(file: &str, error: SopsError) -> Failure {
        let code = u8::try_from(error.sops_exit_code()).unwrap_or(exit::GENERIC);
        let hint = match &error {
            SopsError::MacMismatch | SopsError::MacMissing | SopsError::MacDecrypt => {
                Some("if you edited a value by hand, re-encrypt it with `secrets sops set`; to recover what is readable, pass --ignore-mac")
            }
            SopsError::MetadataNotFound => Some("encrypt it first with `secrets sops encrypt`"),
            SopsError::AlreadyEncrypted => Some("decrypt it first, or edit it with `secrets sops set`"),
            SopsError::Parse { .. } => Some("check the file's syntax, or pass --input-type if its extension does not match its content"),
            _ => None,
        };
        let failure = Failure::new(code, format!("{file}: {error}"));
        match hint {
            Some(h) => failure.hint(h),
            None => failure,
        }
    }

    /// Prints the failure as a warning (the command goes on).
    pub fn print_as_warning(&self) {
        say!("warning: {}", printable(&redact(&self.message)));
        for hint in &self.hints {
            say!("hint: {}", printable(&redact(hint)));
        }
    }

    /// Prints the failure, with anything that looks like a credential masked: a message may
    /// quote a path or a name, never a secret. Each line holding a control character (an
    /// escape sequence or carriage return from a committer-chosen name that an error quotes) is
    /// shown escaped, after its prefix: names are escaped where messages quote them
    /// (`names::shown`); this catches what slips through.
    ///
    /// With `--json` it is one line of JSON instead, `{"error": {"message", "hints",
    /// "exit_code"}}` (docs/json.md), masked the same way.
    pub fn print(&self) {
        if crate::output::json_errors() {
            let json = serde_json::json!({"error": {
                "message": redact(&self.message),
                "hints": self.hints.iter().map(|h| redact(h)).collect::<Vec<_>>(),
                "exit_code": self.code,
            }});
            say!("{json}");
            return;
        }
        if self.verbatim {
            say!("{}", printable(&redact(&self.message)));
            return;
        }
        say!("error: {}", printable(&redact(&self.message)));
        for hint in &self.hints {
            say!("hint: {}", printable(&redact(hint)));
        }
    }
}
