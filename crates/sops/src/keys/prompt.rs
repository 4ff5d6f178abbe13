//! The user-interaction hook for identities that need a passphrase, a PIN or a touch
//! (passphrase-protected identity files and ssh keys, age plugins).
//!
//! The library never talks to a terminal itself; a front end installs a [`Prompter`].

use std::sync::Arc;

use age::secrecy::SecretString;

/// Asks the user for input on behalf of an identity. Every method may answer `None` when it
/// cannot ask.
pub trait Prompter: Send + Sync {
    /// A passphrase or PIN, not echoed.
    fn secret(&self, description: &str) -> Option<SecretString>;

    /// A message to show, e.g. "touch your YubiKey".
    fn message(&self, _message: &str) {}

    /// A yes/no question; `Some(true)` for `yes`.
    fn confirm(&self, _message: &str, _yes: &str, _no: Option<&str>) -> Option<bool> {
        None
    }

    /// A value that may be echoed.
    fn public_value(&self, _description: &str) -> Option<String> {
        None
    }
}

/// The age crate's callback type, backed by an optional [`Prompter`].
#[derive(Clone)]
pub(crate) struct Callbacks(Option<Arc<dyn Prompter>>);

impl Callbacks {
    pub(crate) fn none() -> Callbacks {
        Callbacks(None)
    }

    pub(crate) fn new(prompter: Option<Arc<dyn Prompter>>) -> Callbacks {
        Callbacks(prompter)
    }
}

impl age::Callbacks for Callbacks {
    fn display_message(&self, message: &str) {
        if let Some(p) = &self.0 {
            p.message(message);
        }
    }

    fn confirm(&self, message: &str, yes_string: &str, no_string: Option<&str>) -> Option<bool> {
        self.0.as_ref()?.confirm(message, yes_string, no_string)
    }

    fn request_public_string(&self, description: &str) -> Option<String> {
        self.0.as_ref()?.public_value(description)
    }

    fn request_passphrase(&self, description: &str) -> Option<SecretString> {
        self.0.as_ref()?.secret(description)
    }
}
