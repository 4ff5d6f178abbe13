//! Passphrases asked on the terminal for protected identities: a passphrase-protected age
//! identity file or ssh key is opened when a file needs it, the way sops asks (its age key
//! source prompts through the terminal), once per source per process, never echoed. Without a
//! terminal nothing is asked and the source is reported as unusable here.

use std::sync::Arc;

use age::secrecy::SecretString;
use secrets_sops::keys::{Identities, Prompter};

/// Asks on the controlling terminal (`/dev/tty`), so that stdin and stdout stay the command's.
struct Terminal;

impl Prompter for Terminal {
    fn secret(&self, description: &str) -> Option<SecretString> {
        rpassword::prompt_password(format!("{description} ")).ok().map(SecretString::from)
    }
}

/// Whether there is a controlling terminal to ask on.
fn has_terminal() -> bool {
    std::fs::OpenOptions::new().read(true).write(true).open("/dev/tty").is_ok()
}

/// The identities of the environment (as sops finds them), able to ask for a passphrase when
/// there is a terminal.
pub fn local_identities() -> Identities {
    let mut identities = Identities::from_env();
    if has_terminal() {
        identities.set_prompter(Arc::new(Terminal));
    }
    identities
}
